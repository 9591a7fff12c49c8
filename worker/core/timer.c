/*
 * timer.c: lazily re-armed heap timers (see timer.h).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "worker/core/timer.h"

static pt_heap_t pt_timer_heap;

int pt_timer_init(void)
{
    pt_heap_init(&pt_timer_heap);
    return PT_OK;
}

void pt_timer_exit(void)
{
    pt_heap_free(&pt_timer_heap);
}

void pt_timer_set(pt_timer_t *t, pt_msec_t ms)
{
    pt_msec_t deadline = pt_clock_now + ms;

    if (deadline == 0)
        deadline = 1;
    t->deadline = deadline;
    if (pt_heap_linked(&t->node)) {
        if (t->node.key <= deadline)
            return;             /* fires early, sees the later deadline, re-queues */
        t->node.key = deadline;
        pt_heap_update(&pt_timer_heap, &t->node);
        return;
    }
    t->node.key = deadline;
    if (pt_heap_push(&pt_timer_heap, &t->node) != PT_OK) {
        /* Without the heap entry the timeout would never fire: better to
         * fail loudly than to keep a connection forever. */
        pt_log(PT_LOG_CRIT, "out of memory arming a timer");
        abort();
    }
}

void pt_timer_del(pt_timer_t *t)
{
    t->deadline = 0;
    pt_heap_remove(&pt_timer_heap, &t->node);
}

pt_msec_t pt_timer_next(void)
{
    pt_heap_node_t *n = pt_heap_top(&pt_timer_heap);

    if (n == NULL)
        return -1;
    return n->key > pt_clock_now ? n->key - pt_clock_now : 0;
}

void pt_timer_run(void)
{
    pt_heap_node_t *n;

    while ((n = pt_heap_top(&pt_timer_heap)) != NULL && n->key <= pt_clock_now) {
        pt_timer_t *t = pt_container_of(n, pt_timer_t, node);
        pt_heap_pop(&pt_timer_heap);
        if (t->deadline > pt_clock_now) {
            t->node.key = t->deadline;
            pt_heap_push(&pt_timer_heap, &t->node);     /* cannot fail: we just popped */
            continue;
        }
        t->deadline = 0;
        t->handler(t);
    }
}

size_t pt_timer_count(void)
{
    return pt_timer_heap.n;
}
