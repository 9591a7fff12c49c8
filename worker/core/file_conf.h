/*
 * file_conf.h: files the master opens for modules.
 *
 * A module that needs a file a worker may have no right to open (a log
 * under /var/log, say) asks for it at load time; the master opens it
 * before forking the generation, as root if it runs as root, and hands
 * the descriptor down. The same path asked twice in a conf, by one module
 * or several, is one file and one descriptor.
 */
#ifndef PT_FILE_CONF_H
#define PT_FILE_CONF_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

/* Written by appending (O_WRONLY | O_APPEND | O_CREAT, mode 0644), its
 * directory created if missing, owned by the workers' user: a log. Without
 * it the file is opened read-only and must exist. */
#define PT_CONF_FILE_APPEND     0x01

/* Most files a conf may ask for: a reopen hands them to each worker in
 * one message, after the error log. */
#define PT_CONF_FILES_MAX       63

/* Ask for path (absolute; kept, not copied) with PT_CONF_FILE_* flags;
 * what names it in errors ("access log"). Module load-time code only.
 * Returns the conf's one handle for path, whose fd the workers read, or
 * NULL with an error in cf (out of memory, path asked for with other
 * flags, or PT_CONF_FILES_MAX files already). */
pt_conf_file_t *pt_conf_file_add(pt_conf_ctx_t *cf, pt_conf_t *conf, const char *path,
                                 unsigned flags, const char *what);

#endif
