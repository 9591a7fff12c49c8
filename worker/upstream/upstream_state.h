/*
 * upstream_state.h: a read-only view of every upstream server's shared
 * state (health, requests in flight, effective weight, drain, latency),
 * for metrics and the admin API, and the run-time drain switch.
 *
 * Everything is read from the shared records with relaxed atomic loads:
 * each value is current, the set of them is not one snapshot.
 */
#ifndef PT_UPSTREAM_STATE_H
#define PT_UPSTREAM_STATE_H

#include "common/pt.h"
#include "worker/core/core.h"

typedef struct {
    const pt_upstream_t *upstream;
    const pt_server_t *server;
    const char *health;         /* "up", "down" or "trial" */
    int64_t inflight;           /* requests in flight, all workers */
    int64_t weight;             /* as configured */
    int64_t effective_weight;   /* in 1/16ths of a weight: below weight x 16 in slow start */
    bool drain;                 /* takes no new requests (configured or at run time) */
    bool drain_runtime;         /* set by pt_upstream_server_set_drain */
    uint64_t ewma_us;           /* peak-EWMA latency, decayed to now (0: no sample) */
} pt_upstream_server_state_t;

typedef void (*pt_upstream_state_fn)(const pt_upstream_server_state_t *st, void *data);

/* Call fn for every server of every upstream of conf, in config order. */
void pt_upstream_state_each(const pt_conf_t *conf, pt_upstream_state_fn fn, void *data);

/* Drain s at run time (no new requests; those in flight finish) or stop
 * draining it, for every worker at once; logged at notice level with why
 * (NULL: "set at run time") when it changes. Kept across a reload while
 * the server stays. PT_OK, or PT_ERROR when s has no shared record. */
int pt_upstream_server_set_drain(const pt_server_t *s, bool drain, const char *why);

/* Start s's slow start now (its weight ramps up over its slow_start),
 * for every worker: a server that joins at run time (DNS). Logged with
 * why. PT_OK, or PT_ERROR when s has no shared record or no slow_start. */
int pt_upstream_server_start_ramp(const pt_server_t *s, const char *why);

#endif
