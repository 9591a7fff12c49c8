/*
 * limit_gcra.c: GCRA, quota and calendar arithmetic on shared words (see
 * limit_gcra.h). Every update is a compare-and-swap loop: no lock, and a
 * worker that dies between load and swap has changed nothing.
 */
#include "common/pt.h"
#include "worker/mod/limit/ratelimit/limit_gcra.h"

#include <time.h>

int pt_gcra_setup(pt_gcra_t *g, uint64_t rate, uint64_t period_ns, uint64_t burst,
                  int64_t delay)
{
    if (rate == 0 || period_ns / rate == 0)
        return PT_ERROR;
    g->interval = period_ns / rate;
    if (burst > UINT64_MAX / 4 / g->interval)
        return PT_ERROR;
    g->tolerance = burst * g->interval;
    g->delay = delay < 0 ? UINT64_MAX : (uint64_t) delay * g->interval;
    return PT_OK;
}

void pt_gcra_decide(const pt_gcra_t *g, uint64_t tat, uint64_t now, pt_limit_answer_t *a)
{
    uint64_t base = tat > now ? tat : now;
    uint64_t ahead = base - now;        /* how far the key is ahead of its rate */

    a->old = tat;
    if (ahead > g->tolerance) {
        a->allowed = false;
        a->new = tat;
        a->wait = 0;
        a->retry = ahead - g->tolerance;
        a->remaining = 0;
        a->reset = ahead;
        return;
    }
    a->allowed = true;
    a->new = base + g->interval;
    a->wait = g->delay != UINT64_MAX && ahead > g->delay ? ahead - g->delay : 0;
    a->retry = 0;
    uint64_t after = ahead + g->interval;
    a->remaining = after <= g->tolerance ? (g->tolerance - after) / g->interval + 1 : 0;
    a->reset = after;
}

void pt_gcra_take(const pt_gcra_t *g, _Atomic uint64_t *word, uint64_t now,
                  pt_limit_answer_t *a)
{
    uint64_t tat = atomic_load_explicit(word, memory_order_relaxed);

    for (;;) {
        pt_gcra_decide(g, tat, now, a);
        if (!a->allowed
            || atomic_compare_exchange_weak_explicit(word, &tat, a->new, memory_order_acq_rel,
                                                     memory_order_relaxed))
            return;
    }
}

void pt_gcra_rollback(const pt_gcra_t *g, _Atomic uint64_t *word)
{
    uint64_t tat = atomic_load_explicit(word, memory_order_relaxed);

    /* TAT is additive: taking T back undoes this request's share whatever
     * others added since (a TAT that was in the past comes back to now). */
    while (!atomic_compare_exchange_weak_explicit(word, &tat,
                                                  tat > g->interval ? tat - g->interval : 0,
                                                  memory_order_acq_rel, memory_order_relaxed))
        ;
}

/* ---- calendar periods (UTC) -------------------------------------------- */

static int64_t pt_limit_month_start(int64_t t, int months_ahead, uint32_t *index)
{
    time_t tt = (time_t) t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    int64_t m = (int64_t) (tm.tm_year - 70) * 12 + tm.tm_mon + months_ahead;
    if (index)
        *index = (uint32_t) m;
    struct tm s = { .tm_year = (int) (m / 12) + 70, .tm_mon = (int) (m % 12), .tm_mday = 1 };
    return (int64_t) timegm(&s);
}

uint32_t pt_limit_period_index(int period, int64_t t)
{
    uint32_t idx = 0;

    switch (period) {
    case PT_LIMIT_MINUTE: return (uint32_t) (t / 60);
    case PT_LIMIT_HOUR:   return (uint32_t) (t / 3600);
    case PT_LIMIT_DAY:    return (uint32_t) (t / 86400);
    default:
        pt_limit_month_start(t, 0, &idx);
        return idx;
    }
}

int64_t pt_limit_period_left(int period, int64_t t)
{
    switch (period) {
    case PT_LIMIT_MINUTE: return 60 - t % 60;
    case PT_LIMIT_HOUR:   return 3600 - t % 3600;
    case PT_LIMIT_DAY:    return 86400 - t % 86400;
    default:              return pt_limit_month_start(t, 1, NULL) - t;
    }
}

int64_t pt_limit_period_seconds(int period, int64_t t)
{
    switch (period) {
    case PT_LIMIT_MINUTE: return 60;
    case PT_LIMIT_HOUR:   return 3600;
    case PT_LIMIT_DAY:    return 86400;
    default:              return pt_limit_month_start(t, 1, NULL)
                                 - pt_limit_month_start(t, 0, NULL);
    }
}

void pt_quota_take(uint64_t limit, int period, _Atomic uint64_t *word, int64_t t,
                   pt_limit_answer_t *a)
{
    uint64_t cur = atomic_load_explicit(word, memory_order_relaxed);
    uint64_t idx = pt_limit_period_index(period, t);
    uint64_t left_ns = (uint64_t) pt_limit_period_left(period, t) * PT_LIMIT_NS;

    for (;;) {
        uint64_t count = (cur >> 32) == idx ? (cur & UINT32_MAX) : 0;
        a->old = cur;
        a->wait = 0;
        a->reset = left_ns;
        if (count >= limit) {
            a->allowed = false;
            a->new = cur;
            a->retry = left_ns;
            a->remaining = 0;
            return;
        }
        a->allowed = true;
        a->retry = 0;
        a->new = idx << 32 | (count + 1);
        a->remaining = limit - count - 1;
        if (atomic_compare_exchange_weak_explicit(word, &cur, a->new, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return;
    }
}

void pt_quota_rollback(_Atomic uint64_t *word, const pt_limit_answer_t *a)
{
    uint64_t cur = atomic_load_explicit(word, memory_order_relaxed);

    /* Only within the period that counted it, and never below zero. */
    while ((cur >> 32) == (a->new >> 32) && (cur & UINT32_MAX) > 0
           && !atomic_compare_exchange_weak_explicit(word, &cur, cur - 1, memory_order_acq_rel,
                                                     memory_order_relaxed))
        ;
}
