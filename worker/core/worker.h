/*
 * worker.h: the worker process (its generation's conf, pt_worker_conf, is
 * declared in core.h for every layer).
 */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include "common/pt.h"
#include "worker/core/heritage.h"
#include "worker/core/core.h"

/* Run a worker: never returns. */
PT_NORETURN void pt_worker_main(const pt_heritage_t *h);

/* A module's work that a retiring worker finishes before it exits (a
 * last export in flight): hold, then release once it is done. The worker
 * still exits at drain_timeout. */
void pt_worker_hold(void);
void pt_worker_release(void);

#endif
