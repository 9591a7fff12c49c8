/*
 * upstream_ewma.c: latency-aware choice (balance = "ewma"). Each server's
 * shared record keeps a peak-EWMA of how long its requests took: a sample
 * above the average replaces it at once (a server turning slow is seen on
 * its first slow answer), one below pulls it down by the weight of the
 * time since the last sample, e^(-dt/ewma_decay). Read, the value decays
 * toward zero the same way, so a server left alone because it was slow is
 * tried again after a while and measured anew. A request goes to the
 * server with the lowest latency x (in flight + 1) / weight.
 *
 * Workers update a record without a lock: two samples at the same moment
 * may keep only one, which an average can afford.
 */
#include "common/pt.h"
#include "worker/upstream/upstream_balance.h"

/* e^-x for x >= 0, to 1e-4 (no libm): 2^-(integer part) exactly, the
 * rest by its Taylor series. */
static double pt_ewma_exp_neg(double x)
{
    double y = x * 1.4426950408889634;      /* log2(e) */

    if (y >= 63)
        return 0;
    unsigned i = (unsigned) y;
    double t = (y - i) * 0.6931471805599453;
    double r = 1 - t * (1 - t / 2 * (1 - t / 3 * (1 - t / 4 * (1 - t / 5))));
    return r / (double) (UINT64_C(1) << i);
}

/* How much of the old average counts after the time since at. */
static double pt_ewma_keep(const pt_server_t *s, uint64_t at, uint64_t now_us)
{
    pt_msec_t tau = s->upstream->ewma_decay > 0 ? s->upstream->ewma_decay : 10000;

    if (at == 0 || now_us <= at)
        return 1.0;
    double x = (double) (now_us - at) / ((double) tau * 1000.0);
    /* A busy server is sampled often: 1 - x is within 1e-4 there. */
    return x < 1.0 / 64 ? 1.0 - x : pt_ewma_exp_neg(x);
}

void pt_balance_ewma_observe(const pt_server_t *s, uint64_t busy_us)
{
    pt_upstream_peer_t *rec = s->health;
    uint64_t now_us = pt_balance_now_us();

    if (rec == NULL)
        return;
    uint64_t old = atomic_load_explicit(&rec->lb_ewma_us, memory_order_relaxed);
    uint64_t at = (uint64_t) atomic_load_explicit(&rec->lb_ewma_at, memory_order_relaxed);
    uint64_t v;
    if (busy_us >= old || at == 0) {
        v = busy_us;                        /* the peak: at once */
    } else {
        double w = pt_ewma_keep(s, at, now_us);
        v = (uint64_t) ((double) old * w + (double) busy_us * (1.0 - w));
    }
    atomic_store_explicit(&rec->lb_ewma_us, v ? v : 1, memory_order_relaxed);
    atomic_store_explicit(&rec->lb_ewma_at, (int64_t) now_us, memory_order_relaxed);
}

uint64_t pt_balance_ewma_value(const pt_server_t *s, uint64_t now_us)
{
    const pt_upstream_peer_t *rec = s->health;

    if (rec == NULL)
        return 0;
    uint64_t v = atomic_load_explicit(&rec->lb_ewma_us, memory_order_relaxed);
    uint64_t at = (uint64_t) atomic_load_explicit(&rec->lb_ewma_at, memory_order_relaxed);
    return v ? (uint64_t) ((double) v * pt_ewma_keep(s, at, now_us)) : 0;
}

pt_server_t *pt_balance_ewma(const pt_upstream_t *u, pt_balance_state_t *st, bool backup,
                             pt_msec_t now)
{
    uint64_t now_us = pt_balance_now_us();
    double best_cost = 0;
    size_t best = SIZE_MAX;
    size_t n = u->nservers;

    /* Ties (no samples yet, or equal costs) start at a rotating server. */
    if (++st->rotate >= n)
        st->rotate = 0;
    for (size_t k = 0, i = st->rotate; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
        const pt_server_t *s = &u->servers[i];
        if (s->backup != backup || !pt_balance_ok(st, s, now))
            continue;
        double lat = (double) pt_balance_ewma_value(s, now_us) + 1.0;
        double cost = lat * (double) (pt_balance_inflight(s) + 1)
                      / (double) pt_balance_weight(s, now);
        if (best == SIZE_MAX || cost < best_cost) {
            best = i;
            best_cost = cost;
        }
    }
    return best == SIZE_MAX ? NULL : &u->servers[best];
}
