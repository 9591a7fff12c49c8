/*
 * conf_load.h: building one generation's pt_conf_t from the config file.
 */
#ifndef PT_CONF_LOAD_H
#define PT_CONF_LOAD_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

/* Read, validate and compile path. On success the conf; on failure NULL
 * and *errors gets "file:line: message" lines (malloc'd, caller frees). */
pt_conf_t *pt_conf_load(const char *path, unsigned generation, char **errors);

/* config_read_file of file, with @include globs expanded in it and in
 * every file it includes (conf_include.c): libconfig's answer, or -1
 * when the expansion failed (reported). */
int pt_conf_include_read(pt_conf_ctx_t *cf, config_t *lc, const char *file);

/* Free a conf and what it holds (regexes, file fds). NULL is fine. */
void pt_conf_free(pt_conf_t *conf);

/* Create the missing directories above path (mkdir -p of its parent). */
int pt_conf_mkdir_parent(const char *path);

/* Open the files modules of conf asked for (conf->files), or reopen them
 * under the descriptor numbers they have; appended files are created and,
 * when chown_files is true, owned by uid/gid. PT_ERROR with a message in
 * err (err_len bytes); files opened before the failing one stay open. */
/* For -t: whether every registered file could be opened as the start
 * would open it (read, or append, creating it and its directories),
 * without creating anything. PT_OK, or PT_ERROR with the first failure in
 * err. */
/* Replace ${NAME} and ${NAME:-default} (NAME in capitals) by the
 * environment's value in every string under s (conf_env.c). PT_OK, or
 * PT_ERROR with each unset variable reported at its file:line. */
int pt_conf_expand_env(pt_conf_ctx_t *cf, config_setting_t *s);

int pt_conf_check_files(const pt_conf_t *conf, char *err, size_t err_len);

/* For -t: whether the pid file could be opened or created (its
 * directories too, as the start makes them). */
int pt_conf_check_pidfile(const char *path, char *err, size_t err_len);

int pt_conf_open_files(pt_conf_t *conf, bool chown_files, uid_t uid, gid_t gid, char *err,
                       size_t err_len);

/* Print the effective configuration, defaults included (-T). */
void pt_conf_dump_all(FILE *out, const pt_conf_t *conf);

#endif
