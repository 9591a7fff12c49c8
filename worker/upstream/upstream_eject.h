/*
 * upstream_eject.h: outlier ejection (circuit breaking) of upstream
 * servers, on the shared records of upstream_health.h.
 *
 * A server whose consecutive errors (a 5xx answer, a connect that failed
 * or timed out, a read timeout) reach consecutive_failures, or whose
 * errors reach error_rate percent of at least error_rate_min_requests
 * answers within error_rate_window (when error_rate is set), is ejected for
 * ejection_time x n, n the number of times it was ejected in a row, at
 * most max_ejection_time. It returns by itself when that time is over
 * (whoever notices first logs it); a server that then stays in for
 * max_ejection_time without being ejected again starts over at n = 1.
 * At most max_ejection_percent of an upstream's servers are out at once:
 * an ejection that would pass the cap is not made (a bad deploy must not
 * empty the upstream), and the cap is checked after the CAS that ejects,
 * so two workers racing for the last allowed place cannot both win.
 */
#ifndef PT_UPSTREAM_EJECT_H
#define PT_UPSTREAM_EJECT_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

typedef struct pt_upstream_eject_conf_s {
    int64_t consecutive;        /* consecutive_failures */
    pt_msec_t base_time;        /* ejection_time */
    pt_msec_t max_time;         /* max_ejection_time */
    int64_t max_percent;        /* max_ejection_percent */
    int64_t error_rate;         /* percent of errors in the window that ejects; 0: off */
    pt_msec_t rate_window;      /* error_rate_window */
    int64_t rate_min;           /* error_rate_min_requests */
} pt_upstream_eject_conf_t;

/* The outlier_ejection = { ... } row's setter and dumper. */
int pt_upstream_eject_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                               const pt_directive_t *d);
void pt_upstream_eject_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                 int indent);

/* How long the n-th ejection in a row lasts: base x n, capped. */
pt_msec_t pt_upstream_eject_backoff(const pt_upstream_eject_conf_t *c, uint32_t n);

/* How many of nservers may be ejected at once under max_percent. */
unsigned pt_upstream_eject_cap(size_t nservers, int64_t max_percent);

/* An error of s (reason for the log line): counted, and s ejected when it
 * is the consecutive_failures-th and the cap allows. */
void pt_upstream_eject_error(const pt_server_t *s, const char *reason, pt_msec_t now);

/* A good answer from s: the count of consecutive errors starts over (and
 * the answer counts for error_rate). */
void pt_upstream_eject_success(const pt_server_t *s, pt_msec_t now);

/* error_rate's rule: whether errors of requests (at least min) reach
 * percent. */
bool pt_upstream_eject_rate_reached(uint64_t requests, uint64_t errors, int64_t percent,
                                    int64_t min);

/* Whether s is in (not ejected) at now; an ejection found over is ended
 * here (logged once, gateway-wide). */
bool pt_upstream_eject_in(const pt_server_t *s, pt_msec_t now);

#endif
