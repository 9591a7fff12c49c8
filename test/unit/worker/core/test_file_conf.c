/*
 * test_file_conf.c: the registry of files the master opens for modules:
 * one handle per path, shared by whoever asks; a path asked for in two
 * ways is an error; and the most a conf may ask for.
 */
#include "common/pt.h"

#include "common/arena.h"
#include "worker/core/file_conf.h"
#include "test/unit/tap.h"

int main(void)
{
    pt_arena_t *a = pt_arena_create(4096, 0);
    pt_conf_t conf = { .arena = a };
    pt_conf_ctx_t cf = { .arena = a, .file = "test.conf", .data = &conf };
    char names[PT_CONF_FILES_MAX + 1][32];

    pt_conf_file_t *f = pt_conf_file_add(&cf, &conf, "/var/log/a.log", PT_CONF_FILE_APPEND,
                                         "access log");
    ok(f != NULL && f->fd == -1 && f->index == 0, "a first file: not open yet, index 0");
    ok(pt_conf_file_add(&cf, &conf, "/var/log/a.log", PT_CONF_FILE_APPEND, "audit log") == f,
       "the same path from another module: the same handle");
    pt_conf_file_t *k = pt_conf_file_add(&cf, &conf, "/etc/key", 0, "key");
    ok(k != NULL && k != f && k->index == 1 && f->next == k, "another path: the next handle");
    is(conf.nfiles, 2, "two files");
    is(cf.nerrors, 0, "no errors so far");

    ok(pt_conf_file_add(&cf, &conf, "/etc/key", PT_CONF_FILE_APPEND, "log") == NULL,
       "the same path opened another way: refused");
    ok(cf.nerrors == 1 && strstr(cf.errors, "\"/etc/key\" is used as a key and as a log"),
       "and said so: %s", cf.errors);

    for (size_t i = 2; i < PT_CONF_FILES_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "/var/log/%zu.log", i);
        pt_conf_file_add(&cf, &conf, names[i], PT_CONF_FILE_APPEND, "access log");
    }
    is(conf.nfiles, PT_CONF_FILES_MAX, "up to PT_CONF_FILES_MAX files");
    ok(pt_conf_file_add(&cf, &conf, "/var/log/more.log", PT_CONF_FILE_APPEND, "access log")
       == NULL && cf.nerrors == 2, "one more is refused");
    ok(pt_conf_file_add(&cf, &conf, "/var/log/a.log", PT_CONF_FILE_APPEND, "access log") == f,
       "a known path is still found");

    pt_arena_destroy(a);
    return done_testing();
}
