/*
 * upstream_queue.h: requests waiting for a server when every server of an
 * upstream is at max_conns (queue, queue_timeout), one FIFO per upstream
 * in each worker.
 *
 * A waiter is woken when a request of this worker to a server of the
 * upstream ends, and otherwise every PT_UPSTREAM_QUEUE_POLL_MS (a slot
 * freed by another worker is seen that way). Woken, it tries to choose a
 * server again; if there is still none it calls pt_upstream_queue_wait
 * again and goes back to the head, its deadline unchanged. At the
 * deadline it is woken with timed_out.
 */
#ifndef PT_UPSTREAM_QUEUE_H
#define PT_UPSTREAM_QUEUE_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/core/timer.h"

#define PT_UPSTREAM_QUEUE_POLL_MS   10

typedef struct pt_upstream_waiter_s pt_upstream_waiter_t;

/* Called from a timer, never from inside pt_upstream_queue_wait; w is
 * off the queue then. */
typedef void (*pt_upstream_wake_pt)(pt_upstream_waiter_t *w, bool timed_out);

struct pt_upstream_waiter_s {
    const pt_upstream_t *upstream;
    pt_upstream_wake_pt wake;
    void *data;
    pt_timer_t timer;               /* queue_timeout */
    pt_msec_t deadline;             /* 0: never queued */
    bool queued;
    pt_upstream_waiter_t *prev, *next;
};

/* Queue w (zeroed by its owner before its first wait) on u: PT_OK,
 * PT_DECLINED when u has no queue or it is full, or PT_AGAIN when w was
 * queued before and its deadline has passed (it waited queue_timeout). */
int pt_upstream_queue_wait(pt_upstream_waiter_t *w, const pt_upstream_t *u,
                           pt_upstream_wake_pt wake, void *data);

/* Take w off its queue (its owner is going away); harmless when it is
 * not on one. */
void pt_upstream_queue_cancel(pt_upstream_waiter_t *w);

/* A request of this worker to a server of u ended: wake its waiters soon. */
void pt_upstream_queue_kick(const pt_upstream_t *u);

int pt_upstream_queue_init_worker(const pt_conf_t *conf);
void pt_upstream_queue_exit_worker(void);

#endif
