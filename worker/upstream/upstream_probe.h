/*
 * upstream_probe.h: active health checks of upstream servers.
 *
 * health_check = { ... } on an upstream probes each of its servers every
 * interval (plus up to jitter), with an HTTP request (method, path, Host,
 * expected statuses, a body substring; over TLS when the upstream uses
 * TLS) or a bare TCP connect (with the TLS handshake on a TLS upstream).
 *
 * One worker of the whole gateway probes a given upstream: the one that
 * holds the upstream's lease in the shared group record (the owner's pid
 * and an expiry of three intervals, renewed at each round). Every worker
 * looks at the lease once per interval; it takes it over when it is free,
 * expired, or held by a pid that no longer exists (a worker killed
 * outright), and a retiring worker hands its leases back at once. A new
 * owner waits for the interval since the last round (round_at), so a
 * handover makes no extra probes.
 *
 * Verdicts, per server (the record's probe block): a server starts
 * unknown (tried like an up one) unless initial_state is "down"; the first
 * probe decides it either way, then rise passed probes in a row turn it
 * up and fall failed ones turn it down. Each change is logged at notice.
 */
#ifndef PT_UPSTREAM_PROBE_H
#define PT_UPSTREAM_PROBE_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

enum { PT_PROBE_HTTP = 0, PT_PROBE_TCP };
enum { PT_PROBE_START_UNKNOWN = 0, PT_PROBE_START_DOWN };

typedef struct pt_upstream_probe_conf_s {
    int type;                   /* PT_PROBE_* */
    pt_msec_t interval;
    pt_msec_t timeout;
    pt_msec_t jitter;
    int64_t rise;
    int64_t fall;
    int initial_state;          /* PT_PROBE_START_* */
    const char *method;
    const char *path;
    const char *host;           /* NULL: the upstream's host, else the server's address */
    const uint8_t *statuses;    /* bitmap 0..599; NULL: any 2xx or 3xx */
    const char *body;           /* substring the answer's body must hold; NULL: any */
} pt_upstream_probe_conf_t;

/* The health_check = { ... } row's setter and dumper. */
int pt_upstream_probe_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                               const pt_directive_t *d);
void pt_upstream_probe_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                 int indent);

/* Whether status passes c's expected statuses. */
bool pt_upstream_probe_status_ok(const pt_upstream_probe_conf_t *c, unsigned status);

/* A probe of s ended: ok or not (why, for the log). Applies rise and
 * fall to the record; returns the new verdict (PT_UPSTREAM_PROBE_*). */
unsigned pt_upstream_probe_result(const pt_server_t *s, bool ok, const char *why,
                                  pt_msec_t now);

/* The lease word: pid and expiry packed; and whether pid may take a lease
 * word seen as old at now (free, expired, its own, or alive() false). */
uint64_t pt_upstream_probe_lease(unsigned pid, pt_msec_t until);
bool pt_upstream_probe_lease_free(uint64_t old, unsigned pid, pt_msec_t now,
                                  bool (*alive)(unsigned pid));

/* Worker start and stop (the proxy module's init_worker, retire and
 * exit_worker): timers for every upstream with a health_check; stop
 * cancels the probes in flight and hands the leases back. */
int pt_upstream_probe_start(const pt_conf_t *conf);
void pt_upstream_probe_stop(void);

#endif
