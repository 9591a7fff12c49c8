/*
 * upstream_balance.h: choosing a server of an upstream (balance = ...),
 * and the per-server state every algorithm reads: requests in flight
 * across all workers, drain, slow start.
 *
 * The algorithms, one file each where they need more than a loop:
 *
 *   round_robin   smooth weighted round-robin, each worker its own rotation
 *                 (upstream_balance.c)
 *   least_conn    fewest requests in flight per weight, gateway-wide counts;
 *                 ties by the rotation (upstream_balance.c)
 *   random        two servers drawn by weight, the one with fewer in flight
 *                 per weight goes (upstream_balance.c)
 *   hash          consistent hashing of a key template on a ring of virtual
 *                 nodes (upstream_hash.c)
 *   ewma          lowest peak-EWMA latency x (in flight + 1) / weight
 *                 (upstream_ewma.c)
 *
 * In-flight counts: a server's total lives in its shared record
 * (upstream_health.h, lb_inflight); each worker also keeps its own share
 * in a cell of the zone "portico.balance", written only by it. A worker
 * that retires gives back what its cell still holds; one that crashed is
 * found dead by the next worker that starts (or by the master on reload),
 * which subtracts the dead cell from the totals. A count is taken when a
 * connection to the server is handed out for a request (pt_upstream_get)
 * and given back when it is released, however the request ended.
 */
#ifndef PT_UPSTREAM_BALANCE_H
#define PT_UPSTREAM_BALANCE_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"
#include "worker/upstream/upstream_health.h"

#include <stdatomic.h>

enum {
    PT_BALANCE_ROUND_ROBIN = 0,
    PT_BALANCE_LEAST_CONN,
    PT_BALANCE_RANDOM,
    PT_BALANCE_HASH,
    PT_BALANCE_EWMA
};

/* Weights are used in 1/16ths, so slow start can ramp a weight of 1. */
#define PT_BALANCE_SCALE    16

/* Worker cells of the in-flight ledger: live workers of all generations
 * together. A worker beyond them counts without crash recovery (logged). */
#define PT_BALANCE_CELLS    128

/* One worker's view of an upstream. */
typedef struct {
    int64_t *current;           /* smooth WRR current weights */
    int32_t *load;              /* scratch: in flight, -1: not eligible */
    uint8_t *was_down;          /* slow start: this worker saw it down */
    uint64_t rand;              /* xorshift64 state (random) */
    unsigned rotate;            /* ewma: where ties start */
} pt_balance_state_t;

extern const pt_conf_enum_t pt_balance_names[];

/* Load time (upstream_conf.c), after u's directives: server defaults,
 * checks, the hash ring, the ledger zone. PT_OK or PT_ERROR (reported). */
int pt_balance_conf(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                    pt_upstream_t *u);

/* Worker start and end (called from pt_upstream_init/exit_worker). */
int pt_balance_init_worker(const pt_conf_t *conf);
void pt_balance_exit_worker(void);

/* The server for a request of r (NULL: none, e.g. a subrequest: a hash
 * upstream then goes round-robin) after failed (NULL: first try). */
pt_server_t *pt_balance_choose(const pt_upstream_t *u, const pt_server_t *failed,
                               pt_request_t *r);

/* Why the last choose of u in this worker found nothing: the detail of
 * the 503. */
const char *pt_balance_none_reason(const pt_upstream_t *u);
bool pt_balance_saturated(const pt_upstream_t *u);

/* A request to s starts / ends; busy_us: how long it took (0: no sample). */
void pt_balance_acquire(const pt_server_t *s);
void pt_balance_release(const pt_server_t *s, uint64_t busy_us);

/* CLOCK_MONOTONIC in microseconds at this event-loop tick (ewma samples:
 * from the tick a request got its connection to the tick it gave it back). */
uint64_t pt_balance_now_us(void);

/* ---- for the algorithm files ------------------------------------------- */

static inline int32_t pt_balance_inflight(const pt_server_t *s)
{
    int32_t n = s->health ? atomic_load_explicit(&s->health->lb_inflight,
                                                 memory_order_relaxed) : 0;
    return n > 0 ? n : 0;
}

static inline bool pt_balance_draining(const pt_server_t *s)
{
    return s->drain || (s->health && atomic_load_explicit(&s->health->lb_drain,
                                                          memory_order_relaxed));
}

/* Whether s takes a new request, health aside: not draining, under
 * max_conns. */
static inline bool pt_balance_takes(const pt_server_t *s)
{
    return !pt_balance_draining(s)
           && (s->max_conns <= 0 || pt_balance_inflight(s) < s->max_conns);
}

/* Slow start: note whether s is up (a server this worker saw down and now
 * sees up starts its ramp); s's weight w during the ramp. */
void pt_balance_note(pt_balance_state_t *st, const pt_server_t *s, bool up, pt_msec_t now);
int64_t pt_balance_ramp(const pt_server_t *s, int64_t w, pt_msec_t now);

/* Whether s is up and takes a request now; notes a recovery for slow
 * start on the way. Inline: every algorithm asks it of every server. */
static inline bool pt_balance_ok(pt_balance_state_t *st, const pt_server_t *s, pt_msec_t now)
{
    if (s->absent)                  /* dns: an empty slot, never a candidate */
        return false;
    bool up = pt_upstream_health_up(s);

    if (s->slow_start > 0 && s->health)
        pt_balance_note(st, s, up, now);
    return up && pt_balance_takes(s);
}

/* s's weight now, in 1/PT_BALANCE_SCALE (slow start ramps it). */
static inline int64_t pt_balance_weight(const pt_server_t *s, pt_msec_t now)
{
    int64_t w = s->weight * PT_BALANCE_SCALE;

    return s->slow_start > 0 && s->health ? pt_balance_ramp(s, w, now) : w;
}

/* Smooth WRR among the servers of group backup that are ok (also the
 * tie-break of least_conn: only == load[i] >= 0 servers take part when
 * only is true). */
pt_server_t *pt_balance_wrr(const pt_upstream_t *u, pt_balance_state_t *st, bool backup,
                            pt_msec_t now);

/* upstream_hash.c */
int pt_balance_hash_build(pt_conf_ctx_t *cf, const config_setting_t *s, pt_upstream_t *u);
pt_server_t *pt_balance_hash(const pt_upstream_t *u, pt_balance_state_t *st, uint64_t key,
                             const pt_server_t *skip, pt_msec_t now);
/* The ring's owner of key, health and drain aside (unit tests). */
const pt_server_t *pt_balance_hash_owner(const pt_upstream_t *u, uint64_t key);

/* upstream_ewma.c */
pt_server_t *pt_balance_ewma(const pt_upstream_t *u, pt_balance_state_t *st, bool backup,
                             pt_msec_t now);
void pt_balance_ewma_observe(const pt_server_t *s, uint64_t busy_us);
/* s's latency estimate now, decayed (microseconds). */
uint64_t pt_balance_ewma_value(const pt_server_t *s, uint64_t now_us);

#endif
