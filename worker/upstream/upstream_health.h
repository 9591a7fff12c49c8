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
 *
 * Two more verdicts sit beside that passive state, in the "probes,
 * ejection" block of the record, and a server takes new requests only
 * when all three allow it:
 *
 *   probe    unknown (no probe decided yet: tried), up, or down (never
 *            tried, not even for a passive trial), written only by the
 *            worker that holds the upstream's probe lease (upstream_probe.h).
 *            A probe that turns a server up also clears a passive down, so
 *            a recovered server is used at once.
 *   ejected  ejected_until in the future (upstream_eject.h); whoever sees
 *            it over first returns the server (CAS to 0, logged).
 *
 * Either verdict counts only where the reading generation configures it
 * (health_check, outlier_ejection), so one left by a generation that is
 * retiring cannot outlive the setting.
 *
 * Each upstream also has one group record (pt_upstream_group_t): the
 * probe lease and the retry budget's counters. pt_upstream_health_read
 * and pt_upstream_health_group_read give both to metrics and the admin API.
 */
#ifndef PT_UPSTREAM_HEALTH_H
#define PT_UPSTREAM_HEALTH_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"
#include "worker/upstream/upstream_record.h"

#define PT_UPSTREAM_HEALTH_UP       0u
#define PT_UPSTREAM_HEALTH_DOWN     1u
#define PT_UPSTREAM_HEALTH_TRIAL    2u

/* Records a zone holds: the gateway refuses a config with more servers. */
#define PT_UPSTREAM_HEALTH_RECORDS  4096
#define PT_UPSTREAM_HEALTH_KEY      96
#define PT_UPSTREAM_HEALTH_GROUPS   1024    /* upstreams a zone holds */
#define PT_UPSTREAM_GROUP_KEY       64

/* Probe verdicts (pt_upstream_peer_t.probe). */
#define PT_UPSTREAM_PROBE_UNKNOWN   0u
#define PT_UPSTREAM_PROBE_UP        1u
#define PT_UPSTREAM_PROBE_DOWN      2u

/* The retry budget counts requests and retries in one-second buckets over
 * the last PT_UPSTREAM_BUDGET_SECONDS seconds. */
#define PT_UPSTREAM_BUDGET_SECONDS  10

/* The probe lease word: owner pid << PT_UPSTREAM_LEASE_BITS | expiry. */
#define PT_UPSTREAM_LEASE_BITS      42

typedef struct pt_upstream_peer_s pt_upstream_peer_t;
typedef struct pt_upstream_group_s pt_upstream_group_t;

struct pt_upstream_peer_s {
    _Atomic uint32_t state;
    _Atomic uint32_t fails;         /* consecutive failures in the window */
    _Atomic int64_t window_start;   /* CLOCK_MONOTONIC ms (system-wide) */
    _Atomic int64_t down_until;     /* CLOCK_MONOTONIC ms; trial re-granted after it */
    pt_upstream_tag_t tag;
    char key[PT_UPSTREAM_HEALTH_KEY];   /* "upstream/address", possibly cut */
    /* probes, ejection */
    _Atomic uint32_t probe;         /* PT_UPSTREAM_PROBE_*; written by the lease holder */
    _Atomic uint32_t probe_ok;      /* consecutive passed probes (against rise) */
    _Atomic uint32_t probe_failed;  /* consecutive failed probes (against fall) */
    _Atomic int64_t probe_at;       /* CLOCK_MONOTONIC ms of the last probe result */
    _Atomic uint32_t errors;        /* consecutive 5xx/connect failures (ejection) */
    _Atomic uint32_t ejections;     /* times ejected in a row: the back-off multiplier */
    _Atomic int64_t ejected_until;  /* CLOCK_MONOTONIC ms; 0: not ejected */
    _Atomic int64_t returned_at;    /* when it last came back from an ejection */
    _Atomic int64_t rate_start;     /* error_rate: when the current window began */
    _Atomic uint32_t rate_requests; /* error_rate: answers and failures in the window */
    _Atomic uint32_t rate_errors;   /* error_rate: errors among them */
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
PT_UPSTREAM_KEY_AFTER_TAG(pt_upstream_peer_t);

/* One per upstream, keyed by its name. */
struct pt_upstream_group_s {
    pt_upstream_tag_t tag;
    char key[PT_UPSTREAM_GROUP_KEY];    /* the upstream's name, possibly cut */
    /* Probe lease: owner pid << 42 | expiry (CLOCK_MONOTONIC ms, 42 bits);
     * 0: nobody. One CAS takes, renews or hands it back. */
    _Atomic uint64_t lease;
    _Atomic int64_t round_at;       /* when the last round of probes started */
    /* Retry budget: bucket i counts second sec[i] (ms / 1000). */
    _Atomic int64_t sec[PT_UPSTREAM_BUDGET_SECONDS];
    _Atomic uint32_t requests[PT_UPSTREAM_BUDGET_SECONDS];
    _Atomic uint32_t retried[PT_UPSTREAM_BUDGET_SECONDS];
    _Atomic int64_t budget_logged;  /* the second the last "budget exhausted" was logged */
};
PT_UPSTREAM_KEY_AFTER_TAG(pt_upstream_group_t);

/* What the record says of a server now, for metrics and the admin API. */
typedef struct {
    unsigned passive;               /* PT_UPSTREAM_HEALTH_UP, _DOWN, _TRIAL */
    unsigned probe;                 /* PT_UPSTREAM_PROBE_* */
    bool ejected;
    bool usable;                    /* up for new requests (pt_upstream_health_up) */
    uint32_t fails;                 /* passive failures in the current window */
    uint32_t errors;                /* consecutive errors (ejection) */
    uint32_t ejections;
    int64_t down_until, ejected_until, probe_at;    /* CLOCK_MONOTONIC ms; 0: none */
} pt_upstream_health_view_t;

/* Load time, from the upstream parser: ask for the zone once per config
 * (the master attaches it and the init hook binds every server of conf to
 * its record). PT_OK or PT_ERROR (error reported in cf). */
int pt_upstream_health_conf(pt_conf_ctx_t *cf, pt_conf_t *conf);

/* Load time, after u's directives: compile retry_on, check the
 * health_check and outlier_ejection groups against u, ask for the zone.
 * PT_OK or PT_ERROR (reported in cf, at s, the upstream's group). */
int pt_upstream_health_conf_upstream(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                     const config_setting_t *s, pt_upstream_t *u);

/* The state of s as pt_upstream_health_view_t (a server without a record
 * reads as up). */
void pt_upstream_health_read(const pt_server_t *s, pt_msec_t now,
                             pt_upstream_health_view_t *out);

/* What the group record says of an upstream now, for metrics and the
 * admin API. */
typedef struct {
    unsigned prober_pid;            /* the worker holding the probe lease; 0: none */
    int64_t lease_until;            /* CLOCK_MONOTONIC ms */
    int64_t round_at;               /* when the last round of probes started */
    uint64_t requests, retries;     /* counted over the budget's window */
} pt_upstream_group_view_t;

void pt_upstream_health_group_read(const pt_upstream_t *u, pt_msec_t now,
                                   pt_upstream_group_view_t *out);

/* Passive health and ejection together, for an answer of status from s:
 * a fail_status is a failure; any other status a success for passive
 * health, and a 5xx an error for ejection. */
void pt_upstream_health_status(const pt_server_t *s, unsigned status, pt_msec_t now);

/* Whether s may take a new request now: up, or down with its timeout over
 * and this caller the one that won the trial (the record is then in
 * trial). A server without a record (no zone: unit tests) is always up. */
bool pt_upstream_health_usable(const pt_server_t *s, pt_msec_t now);

/* Whether s is up (passively up, not down by probe, not ejected), without
 * claiming anything; returns a server whose ejection is over (logged). */
bool pt_upstream_health_up(const pt_server_t *s);

/* A request to s failed for reason ("connect refused", "status 503"):
 * counts it and marks s down for every worker when it is the max_fails-th
 * failure within fail_timeout (or when s was on trial). Logs the change.
 * Counts it for outlier ejection too. */
void pt_upstream_health_fail(const pt_server_t *s, const char *reason, pt_msec_t now);

/* A request to s succeeded: clears the failure count (and the error
 * count of ejection), and a server on trial is up again (logged). */
void pt_upstream_health_ok(const pt_server_t *s);

/* Whether status is one of u's fail_statuses. */
bool pt_upstream_health_status_fails(const pt_upstream_t *u, unsigned status);

/* Seconds (at least 1) until the earliest down-until among u's servers:
 * the Retry-After of the 503 given when none can be tried. */
int64_t pt_upstream_health_retry_after(const pt_upstream_t *u, pt_msec_t now);

/* dns: a slot of a host name got a new address; its record starts over
 * as up with no failures (upstream_dns.h). */
void pt_upstream_health_reset_server(const pt_server_t *s);

/* The zone init hook (exposed for unit tests): binds every server of the
 * pt_conf_t data to a record of zone, keeping the records of servers that
 * a previous generation had. */
int pt_upstream_health_zone_init(struct pt_zone_s *zone, struct pt_zone_s *old, void *data);

#endif
