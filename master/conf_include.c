/*
 * conf_include.c: @include with globs (libconfig 1.5 has none), in the
 * main file and in every file it includes, at any depth.
 *
 * A file that holds an @include glob, or includes one that does, is read
 * from an in-memory copy where each glob line became one @include of an
 * in-memory index listing its matches in sorted order (each match itself
 * a copy when it holds globs in turn). Every line keeps its number, and
 * errors name the copied file, never the memory file: cf->copy_of maps
 * the copies' /proc/self/fd names back. A glob that matches nothing
 * includes nothing.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "master/conf_load.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Memory files of one load: copies and glob indexes. */
#define PT_CONF_MEMFILES_MAX    64
/* Nesting of files, as libconfig's own limit: a file that includes
 * itself stops here. */
#define PT_CONF_INCLUDE_DEPTH   10

typedef struct {
    int fd[PT_CONF_MEMFILES_MAX];
    size_t n;
} pt_conf_memfiles_t;

static char *pt_conf_expand(pt_conf_ctx_t *cf, pt_conf_memfiles_t *mf, const char *file,
                            const char *from, unsigned line, unsigned depth, bool *failed);

/* A memory file holding text (len bytes); its fd, or -1 (reported). */
static int pt_conf_memfile(pt_conf_ctx_t *cf, pt_conf_memfiles_t *mf, const char *text,
                           size_t len, const char *from, unsigned line)
{
    if (mf->n == PT_CONF_MEMFILES_MAX) {
        pt_conf_error_at(cf, from, line, "more than %d included files hold @include globs",
                         PT_CONF_MEMFILES_MAX / 2);
        return -1;
    }
    int fd = memfd_create("portico-include", MFD_CLOEXEC);
    if (fd < 0 || write(fd, text, len) != (ssize_t) len) {
        pt_conf_error_at(cf, from, line, "@include: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    mf->fd[mf->n++] = fd;
    return fd;
}

/* Remember that memory file fd stands for file, for error messages. */
static void pt_conf_name_copy(pt_conf_ctx_t *cf, int fd, const char *file)
{
    if (fd >= cf->ncopy_of) {
        int n = pt_max(fd + 1, 2 * cf->ncopy_of);
        const char **t = pt_arena_calloc(cf->arena, (size_t) n * sizeof(*t));
        if (t == NULL)
            return;
        if (cf->ncopy_of)
            memcpy(t, cf->copy_of, (size_t) cf->ncopy_of * sizeof(*t));
        cf->copy_of = t;
        cf->ncopy_of = n;
    }
    cf->copy_of[fd] = pt_arena_strndup(cf->arena, file, strlen(file));
}

/* The name to @include for file: itself, or its copy when it holds globs
 * (or includes a file that does). NULL on an error (reported). */
static const char *pt_conf_target(pt_conf_ctx_t *cf, pt_conf_memfiles_t *mf, const char *file,
                                  const char *from, unsigned line, unsigned depth, char *buf,
                                  size_t len, bool *changed)
{
    bool failed = false;
    char *text = pt_conf_expand(cf, mf, file, from, line, depth + 1, &failed);

    if (failed)
        return NULL;
    if (text == NULL)
        return file;
    int fd = pt_conf_memfile(cf, mf, text, strlen(text), from, line);
    free(text);
    if (fd < 0)
        return NULL;
    pt_conf_name_copy(cf, fd, file);
    snprintf(buf, len, "/proc/self/fd/%d", fd);
    *changed = true;
    return buf;
}

/* One @include line of from (at line), naming name: what to write in its
 * place into out, *changed when it differs. false on an error (reported). */
static bool pt_conf_include_line(pt_conf_ctx_t *cf, pt_conf_memfiles_t *mf, const char *name,
                                 const char *from, unsigned line, unsigned depth, FILE *out,
                                 bool *changed)
{
    char buf[64];

    if (strpbrk(name, "*?[") == NULL) {
        const char *t = pt_conf_target(cf, mf, name, from, line, depth, buf, sizeof(buf),
                                       changed);
        if (t == NULL)
            return false;
        fprintf(out, "@include \"%s\"\n", t);
        return true;
    }
    glob_t g;
    int rc = glob(name, GLOB_ERR, NULL, &g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
        pt_conf_error_at(cf, from, line, "@include \"%s\": cannot read the directory: %s",
                         name, strerror(errno));
        return false;
    }
    char *idx = NULL;
    size_t idxlen = 0;
    FILE *f = open_memstream(&idx, &idxlen);
    bool ok = f != NULL;
    for (size_t i = 0; ok && rc == 0 && i < g.gl_pathc; i++) {
        const char *t = pt_conf_target(cf, mf, g.gl_pathv[i], from, line, depth, buf,
                                       sizeof(buf), changed);
        if (t == NULL)
            ok = false;
        else
            fprintf(f, "@include \"%s\"\n", t);
    }
    if (rc == 0)
        globfree(&g);
    if (f)
        fclose(f);
    int fd = ok ? pt_conf_memfile(cf, mf, idx ? idx : "", idxlen, from, line) : -1;
    free(idx);
    if (fd < 0)
        return false;
    fprintf(out, "@include \"/proc/self/fd/%d\"\n", fd);
    *changed = true;
    return true;
}

/* The text of file with its @include globs expanded, and its includes'
 * (malloc'd); NULL when nothing in it needs that, or on an error
 * (*failed, reported at from:line, where file is included). A file that
 * cannot be read is left for libconfig to report. */
static char *pt_conf_expand(pt_conf_ctx_t *cf, pt_conf_memfiles_t *mf, const char *file,
                            const char *from, unsigned line, unsigned depth, bool *failed)
{
    if (depth > PT_CONF_INCLUDE_DEPTH) {
        pt_conf_error_at(cf, from, line, "@include \"%s\": files include each other more "
                         "than %d deep", file, PT_CONF_INCLUDE_DEPTH);
        *failed = true;
        return NULL;
    }
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return NULL;
    char *out = NULL, *text = NULL;
    size_t outlen = 0, cap = 0;
    FILE *mem = open_memstream(&out, &outlen);
    bool changed = false;
    unsigned lineno = 0;
    ssize_t n;
    if (mem == NULL) {
        fclose(f);
        return NULL;
    }
    while (!*failed && (n = getline(&text, &cap, f)) >= 0) {
        lineno++;
        const char *p = text, *q, *e;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "@include", 8) != 0 || (q = strchr(p + 8, '"')) == NULL
            || (e = strchr(q + 1, '"')) == NULL) {
            fwrite(text, 1, (size_t) n, mem);
            continue;
        }
        char *name = strndup(q + 1, (size_t) (e - q - 1));
        if (name == NULL || !pt_conf_include_line(cf, mf, name, file, lineno, depth, mem,
                                                  &changed))
            *failed = true;
        free(name);
    }
    free(text);
    fclose(f);
    fclose(mem);
    if (!changed || *failed) {
        free(out);
        return NULL;
    }
    return out;
}

int pt_conf_include_read(pt_conf_ctx_t *cf, config_t *lc, const char *file)
{
    pt_conf_memfiles_t mf = { .n = 0 };
    bool failed = false;
    char *text = pt_conf_expand(cf, &mf, file, file, 0, 0, &failed);
    int rc = -1;

    if (!failed)
        rc = text ? config_read_string(lc, text) : config_read_file(lc, file);
    free(text);
    for (size_t i = 0; i < mf.n; i++)
        close(mf.fd[i]);
    return rc;
}
