/*
 * upstream_health.h: passive health of upstream servers, shared by every
 * worker of every generation through one shared-memory zone.
 *
 * Each server of each upstream has one fixed-size record in the zone
 * "portico.upstreams", keyed by upstream name and server address, so a
 * reload keeps the state of the servers that remain. A record is a small
 * state machine (up, down, trial) updated with atomics only: no lock is
 * ever held across I/O, and a worker that dies mid-update leaves a record
 * that is still one of the states below.
 *
 *   up     --max_fails failures within fail_timeout-->  down (for fail_timeout)
 *   down   --fail_timeout over, one picker wins a CAS--> trial (one request)
 *   trial  --success-->  up          trial --failure--> down (another fail_timeout)
 *
 * A trial whose request never reports back (its worker died) is granted
 * again once another fail_timeout has passed, so a record cannot stay in
 * trial for ever.
 */
#ifndef PT_UPSTREAM_HEALTH_H
#define PT_UPSTREAM_HEALTH_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

#define PT_UPSTREAM_HEALTH_UP       0u
#define PT_UPSTREAM_HEALTH_DOWN     1u
#define PT_UPSTREAM_HEALTH_TRIAL    2u

/* Records a zone holds: the gateway refuses a config with more servers. */
#define PT_UPSTREAM_HEALTH_RECORDS  4096
#define PT_UPSTREAM_HEALTH_KEY      96

typedef struct pt_upstream_peer_s pt_upstream_peer_t;

struct pt_upstream_peer_s {
    _Atomic uint32_t state;
    _Atomic uint32_t fails;         /* consecutive failures in the window */
    _Atomic int64_t window_start;   /* CLOCK_MONOTONIC ms (system-wide) */
    _Atomic int64_t down_until;     /* CLOCK_MONOTONIC ms; trial re-granted after it */
    uint64_t hash;                  /* of key; 0: a free record */
    unsigned generation;            /* newest generation using it (master only) */
    char key[PT_UPSTREAM_HEALTH_KEY];   /* "upstream/address", possibly cut */
    /* balancing (upstream_balance.c): written by the workers with atomics;
     * reset by the master when the record changes hands (lb_owner). */
    _Atomic int32_t lb_inflight;    /* requests in flight to it, all workers */
    _Atomic uint32_t lb_drain;      /* drained at run time (pt_upstream_server_set_drain) */
    _Atomic int64_t lb_since;       /* slow start began, CLOCK_MONOTONIC ms; 0: none */
    _Atomic uint64_t lb_ewma_us;    /* peak-EWMA latency, microseconds */
    _Atomic int64_t lb_ewma_at;     /* when it was last updated, CLOCK_MONOTONIC us */
    uint64_t lb_owner;              /* the hash the fields above belong to (master) */
    uint32_t lb_column;             /* its column in the in-flight ledger, + 1 (master) */
};

/* Load time, from the upstream parser: ask for the zone once per config
 * (the master attaches it and the init hook binds every server of conf to
 * its record). PT_OK or PT_ERROR (error reported in cf). */
int pt_upstream_health_conf(pt_conf_ctx_t *cf, pt_conf_t *conf);

/* Whether s may take a new request now: up, or down with its timeout over
 * and this caller the one that won the trial (the record is then in
 * trial). A server without a record (no zone: unit tests) is always up. */
bool pt_upstream_health_usable(const pt_server_t *s, pt_msec_t now);

/* Whether s is up (not down, not in trial), without claiming anything. */
bool pt_upstream_health_up(const pt_server_t *s);

/* A request to s failed for reason ("connect refused", "status 503"):
 * counts it and marks s down for every worker when it is the max_fails-th
 * failure within fail_timeout (or when s was on trial). Logs the change. */
void pt_upstream_health_fail(const pt_server_t *s, const char *reason, pt_msec_t now);

/* A request to s succeeded: clears the failure count, and a server on
 * trial is up again (logged). */
void pt_upstream_health_ok(const pt_server_t *s);

/* Whether status is one of u's fail_statuses. */
bool pt_upstream_health_status_fails(const pt_upstream_t *u, unsigned status);

/* Seconds (at least 1) until the earliest down-until among u's servers:
 * the Retry-After of the 503 given when none can be tried. */
int64_t pt_upstream_health_retry_after(const pt_upstream_t *u, pt_msec_t now);

/* The zone init hook (exposed for unit tests): binds every server of the
 * pt_conf_t data to a record of zone, keeping the records of servers that
 * a previous generation had. */
int pt_upstream_health_zone_init(struct pt_zone_s *zone, struct pt_zone_s *old, void *data);

#endif
