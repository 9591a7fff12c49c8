/*
 * master.h: the master process: start-up, generations of workers,
 * supervision, reload, stop.
 */
#ifndef PT_MASTER_H
#define PT_MASTER_H

#include "common/pt.h"
#include "worker/core/core.h"

typedef struct {
    const char *conf_path;
    bool foreground;
    int64_t workers;        /* -w, or -1 */
    const char *pidfile;    /* -p, or NULL */
    const char *args;       /* the command line after argv[0], each with a space before */
} pt_master_opts_t;

/* Run the master with the first generation's conf (ownership passes).
 * Returns the process exit status. */
int pt_master_run(const pt_master_opts_t *o, pt_conf_t *conf);

#endif
