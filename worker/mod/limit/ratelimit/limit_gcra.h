/*
 * limit_gcra.h: the arithmetic of the limits, on one 64-bit word each,
 * with the clock passed in (tests inject it).
 *
 * GCRA (the generic cell rate algorithm): the word is the theoretical
 * arrival time (TAT, ns on the monotonic clock) of the next request. With
 * emission interval T = period / rate and tolerance tau = burst x T, a
 * request at now is allowed when max(TAT, now) - now <= tau, and then
 * TAT becomes max(TAT, now) + T. An idle key (TAT <= now) may therefore
 * send burst + 1 requests at once; after that one every T.
 *
 * Delay (throttling): with delay = d, an allowed request whose position
 * max(TAT, now) - now exceeds d x T waits for the difference, so held
 * requests leave in arrival order spaced T apart.
 *
 * Quota: the word is period index (high 32 bits) | count (low 32 bits);
 * a request in a later period starts the count again.
 */
#ifndef PT_LIMIT_GCRA_H
#define PT_LIMIT_GCRA_H

#include "common/pt.h"

#include <stdatomic.h>

#define PT_LIMIT_NS     UINT64_C(1000000000)

typedef struct {
    uint64_t interval;          /* T, ns */
    uint64_t tolerance;         /* burst x T, ns */
    uint64_t delay;             /* d x T, ns; UINT64_MAX: never delay */
} pt_gcra_t;

/* The answer for one request. */
typedef struct {
    bool allowed;
    uint64_t wait;              /* allowed: ns to hold the request (0: go) */
    uint64_t retry;             /* refused: ns until a request would be allowed */
    uint64_t remaining;         /* requests the key may still send now */
    uint64_t reset;             /* ns until the key is idle again (its burst whole) */
    uint64_t old, new;          /* the word before and after (commit / rollback) */
} pt_limit_answer_t;

/* Set g from rate requests per period_ns with burst and delay (< 0: none).
 * PT_ERROR if the interval would round to 0 ns. */
int pt_gcra_setup(pt_gcra_t *g, uint64_t rate, uint64_t period_ns, uint64_t burst,
                  int64_t delay);

/* Decide for tat at now (no side effect). */
void pt_gcra_decide(const pt_gcra_t *g, uint64_t tat, uint64_t now, pt_limit_answer_t *a);

/* Decide and, when allowed, commit with compare-and-swap on word (retried
 * on contention); *a says what was done. */
void pt_gcra_take(const pt_gcra_t *g, _Atomic uint64_t *word, uint64_t now,
                  pt_limit_answer_t *a);

/* Undo a committed take (another limit refused the request). */
void pt_gcra_rollback(const pt_gcra_t *g, _Atomic uint64_t *word);

enum pt_limit_period {
    PT_LIMIT_MINUTE = 0, PT_LIMIT_HOUR, PT_LIMIT_DAY, PT_LIMIT_MONTH
};

/* The index of the calendar period (UTC) holding wall second t, and the
 * seconds from t until the next one starts (>= 1). */
uint32_t pt_limit_period_index(int period, int64_t t);
int64_t pt_limit_period_left(int period, int64_t t);
/* The length of the period holding t, in seconds (a month: its days). */
int64_t pt_limit_period_seconds(int period, int64_t t);

/* Quota: count one request of at most limit in the period holding t. */
void pt_quota_take(uint64_t limit, int period, _Atomic uint64_t *word, int64_t t,
                   pt_limit_answer_t *a);
void pt_quota_rollback(_Atomic uint64_t *word, const pt_limit_answer_t *a);

#endif
