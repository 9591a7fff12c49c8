/*
 * daemon.h: becoming a daemon, the pid file, and -s NAME.
 */
#ifndef PT_DAEMON_H
#define PT_DAEMON_H

#include "common/pt.h"

/* Fork into the background. The parent waits for pt_daemon_ready() from
 * the child and exits with 0, or prints the child's error and exits 1; the
 * child returns the fd to report on. */
int pt_daemon_start(void);

/* Tell the waiting parent that start-up finished (error NULL) or failed. */
void pt_daemon_ready(int fd, const char *error);

/* Create and lock the pid file, write our pid. Returns its fd (kept open:
 * the lock says "running"), or -1 with a message in err. */
int pt_pidfile_create(const char *path, char *err, size_t err_len);
void pt_pidfile_remove(const char *path, int fd);

/* The pid of the running master from path, or -1 with a message. */
pid_t pt_pidfile_read(const char *path, char *err, size_t err_len);

/* -s NAME: signal the running master. 0 on success, else a message. */
int pt_signal_master(const char *pidfile, const char *name, char *err, size_t err_len);

#endif
