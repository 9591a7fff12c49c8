/*
 * upstream_queue.c: the per-worker wait queues of upstreams whose servers
 * are all at max_conns (see upstream_queue.h).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "worker/upstream/upstream_queue.h"

typedef struct {
    pt_upstream_waiter_t *head, *tail;
    size_t n;
    pt_timer_t poll;
} pt_upstream_queue_t;

static pt_upstream_queue_t *pt_upstream_queues;
static size_t pt_upstream_nqueues;

static void pt_upstream_queue_unlink(pt_upstream_queue_t *q, pt_upstream_waiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = false;
    q->n--;
    pt_timer_del(&w->timer);
}

static void pt_upstream_queue_expired(pt_timer_t *t)
{
    pt_upstream_waiter_t *w = t->data;

    pt_upstream_queue_unlink(&pt_upstream_queues[w->upstream->index], w);
    w->wake(w, true);
}

/* Wake from the head: each woken waiter takes a server or comes back to
 * the head, which ends the round (the others would find none either). */
static void pt_upstream_queue_poll(pt_timer_t *t)
{
    pt_upstream_queue_t *q = t->data;

    for (size_t round = q->n; round > 0 && q->head; round--) {
        pt_upstream_waiter_t *w = q->head;
        pt_upstream_queue_unlink(q, w);
        w->wake(w, false);
        if (q->head == w)
            break;
    }
    if (q->n)
        pt_timer_set(&q->poll, PT_UPSTREAM_QUEUE_POLL_MS);
}

int pt_upstream_queue_wait(pt_upstream_waiter_t *w, const pt_upstream_t *u,
                           pt_upstream_wake_pt wake, void *data)
{
    if (pt_upstream_queues == NULL || u->queue <= 0)
        return PT_DECLINED;
    pt_upstream_queue_t *q = &pt_upstream_queues[u->index];
    pt_msec_t now = pt_clock_now;
    bool again = w->deadline != 0;

    PT_ASSERT(!w->queued);
    if (again && now >= w->deadline)
        return PT_AGAIN;
    if (!again && q->n >= (size_t) u->queue)
        return PT_DECLINED;
    if (!again) {
        w->deadline = now + u->queue_timeout;
        pt_timer_prepare(&w->timer, pt_upstream_queue_expired, w);
    }
    w->upstream = u;
    w->wake = wake;
    w->data = data;
    w->queued = true;
    if (again) {                    /* back to the head it came from */
        w->next = q->head;
        if (q->head)
            q->head->prev = w;
        q->head = w;
        if (q->tail == NULL)
            q->tail = w;
    } else {
        w->prev = q->tail;
        if (q->tail)
            q->tail->next = w;
        q->tail = w;
        if (q->head == NULL)
            q->head = w;
    }
    q->n++;
    pt_timer_set(&w->timer, w->deadline - now);
    if (!pt_timer_armed(&q->poll))
        pt_timer_set(&q->poll, PT_UPSTREAM_QUEUE_POLL_MS);
    return PT_OK;
}

void pt_upstream_queue_cancel(pt_upstream_waiter_t *w)
{
    if (w->queued)
        pt_upstream_queue_unlink(&pt_upstream_queues[w->upstream->index], w);
}

void pt_upstream_queue_kick(const pt_upstream_t *u)
{
    pt_upstream_queue_t *q;

    if (pt_upstream_queues == NULL || u->index >= pt_upstream_nqueues)
        return;
    q = &pt_upstream_queues[u->index];
    if (q->n)
        pt_timer_set(&q->poll, 0);
}

int pt_upstream_queue_init_worker(const pt_conf_t *conf)
{
    pt_upstream_nqueues = conf->nupstreams;
    pt_upstream_queues = calloc(conf->nupstreams ? conf->nupstreams : 1,
                                sizeof(*pt_upstream_queues));
    if (pt_upstream_queues == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < conf->nupstreams; i++)
        pt_timer_prepare(&pt_upstream_queues[i].poll, pt_upstream_queue_poll,
                         &pt_upstream_queues[i]);
    return PT_OK;
}

void pt_upstream_queue_exit_worker(void)
{
    if (pt_upstream_queues == NULL)
        return;
    for (size_t i = 0; i < pt_upstream_nqueues; i++) {
        pt_upstream_queue_t *q = &pt_upstream_queues[i];
        while (q->head)
            pt_upstream_queue_unlink(q, q->head);
        pt_timer_del(&q->poll);
    }
    free(pt_upstream_queues);
    pt_upstream_queues = NULL;
}
