/*
 * file_conf.c: load-time requests for files the master opens (see
 * file_conf.h; the opening is master/conf_load.c's pt_conf_open_files).
 */
#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/file_conf.h"

pt_conf_file_t *pt_conf_file_add(pt_conf_ctx_t *cf, pt_conf_t *conf, const char *path,
                                 unsigned flags, const char *what)
{
    pt_conf_file_t **tail = &conf->files;

    for (pt_conf_file_t *f = conf->files; f; f = f->next) {
        if (strcmp(f->path, path) == 0) {
            if (f->flags != flags) {
                pt_conf_error(cf, NULL, "\"%s\" is used as a %s and as a %s, opened in "
                              "two ways", path, f->what, what);
                return NULL;
            }
            return f;
        }
        tail = &f->next;
    }
    if (conf->nfiles >= PT_CONF_FILES_MAX) {
        pt_conf_error(cf, NULL, "more than %d files to open: \"%s\" is one too many",
                      PT_CONF_FILES_MAX, path);
        return NULL;
    }
    pt_conf_file_t *f = pt_arena_calloc(cf->arena, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->path = path;
    f->what = what;
    f->flags = flags;
    f->fd = -1;
    f->index = (unsigned) conf->nfiles++;
    *tail = f;
    return f;
}
