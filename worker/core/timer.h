/*
 * timer.h: one-shot timers on a min-heap keyed by the cached monotonic
 * clock. Moving a timer later (the common case: a keep-alive or read
 * timeout pushed back after each request) only stores the new deadline;
 * the heap is touched when the old position comes due.
 */
#ifndef PT_TIMER_H
#define PT_TIMER_H

#include "common/pt.h"
#include "common/heap.h"

typedef struct pt_timer_s pt_timer_t;
typedef void (*pt_timer_handler_pt)(pt_timer_t *t);

struct pt_timer_s {
    pt_heap_node_t node;        /* node.key: when the heap will look at it */
    pt_msec_t deadline;         /* when it really fires; 0: not armed */
    pt_timer_handler_pt handler;
    void *data;
};

int pt_timer_init(void);
void pt_timer_exit(void);

static inline void pt_timer_prepare(pt_timer_t *t, pt_timer_handler_pt h, void *data)
{
    t->node.idx = SIZE_MAX;
    t->deadline = 0;
    t->handler = h;
    t->data = data;
}

/* Fire t->handler after ms milliseconds (replacing an earlier setting). */
void pt_timer_set(pt_timer_t *t, pt_msec_t ms);
void pt_timer_del(pt_timer_t *t);

static inline bool pt_timer_armed(const pt_timer_t *t)
{
    return t->deadline != 0;
}

/* Milliseconds until the next timer may fire, -1 when none. */
pt_msec_t pt_timer_next(void);

/* Run every handler whose deadline has passed. */
void pt_timer_run(void);

size_t pt_timer_count(void);

#endif
