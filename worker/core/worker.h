/*
 * worker.h: the worker process: its generation's conf, accept control and
 * the retirement state that connections consult.
 */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include "common/pt.h"
#include "worker/core/heritage.h"
#include "worker/core/core.h"

extern const pt_conf_t *pt_worker_conf;

/* Run a worker: never returns. */
PT_NORETURN void pt_worker_main(const pt_heritage_t *h);

/* Stop accepting: at_limit, at worker_connections (resumes when closes
 * take it below 90%); else out of descriptors (retries every second). */
void pt_worker_accept_pause(bool at_limit);
/* A connection closed: resume accepting, or exit when retiring and idle. */
void pt_worker_conn_closed(void);

#endif
