/*
 * heritage.h: everything a worker receives from the master when it is
 * forked. The memory is the master's, inherited through fork; the worker
 * treats it as read-only. It lives with the worker, which says what it
 * needs; the master (which may include worker/ headers) fills it.
 */
#ifndef PT_HERITAGE_H
#define PT_HERITAGE_H

#include "common/pt.h"
#include "common/shm.h"
#include "worker/core/core.h"

typedef struct {
    unsigned listener;      /* index into conf->listeners */
    int fd;                 /* a listening socket of one of this worker's slots */
} pt_heritage_listen_t;

typedef struct {
    unsigned slot;
    unsigned generation;
    const pt_conf_t *conf;
    pt_shm_t *shm;
    const pt_heritage_listen_t *listen;
    size_t nlisten;
    int ctl_fd;             /* control channel to the master (log fds on reopen) */
    uid_t uid;              /* drop to these when started as root */
    gid_t gid;
    bool drop_privileges;
} pt_heritage_t;

#endif
