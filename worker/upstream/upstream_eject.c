/*
 * upstream_eject.c: outlier ejection on the shared server records (see
 * upstream_eject.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "worker/upstream/upstream_eject.h"
#include "worker/upstream/upstream_health.h"

#include <stdatomic.h>

#define PT_EJECT_FIELD(f)   offsetof(pt_upstream_eject_conf_t, f)

static const pt_conf_bounds_t pt_eject_count_bounds = { 1, 1000000 };
static const pt_conf_bounds_t pt_eject_percent_bounds = { 0, 100 };

static const pt_directive_t pt_upstream_eject_directives[] = {
    { "consecutive_failures", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_EJECT_FIELD(consecutive),
      "5", &pt_eject_count_bounds, NULL, NULL,
      "consecutive 5xx or connect failures that eject a server" },
    { "ejection_time", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_EJECT_FIELD(base_time),
      "\"30s\"", &pt_conf_positive, NULL, NULL,
      "first ejection's length; the n-th in a row lasts n times as long" },
    { "max_ejection_time", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_EJECT_FIELD(max_time),
      "\"5m\"", &pt_conf_positive, NULL, NULL, "longest ejection" },
    { "max_ejection_percent", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_EJECT_FIELD(max_percent),
      "50", &pt_eject_percent_bounds, NULL, NULL,
      "share of the upstream's servers that may be ejected at once" },
    { "error_rate", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_EJECT_FIELD(error_rate), "0",
      &pt_eject_percent_bounds, NULL, NULL,
      "percent of errors within error_rate_window that ejects (0: off)" },
    { "error_rate_window", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_EJECT_FIELD(rate_window),
      "\"10s\"", &pt_conf_positive, NULL, NULL, "the window error_rate is measured over" },
    { "error_rate_min_requests", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_EJECT_FIELD(rate_min),
      "20", &pt_eject_count_bounds, NULL, NULL,
      "answers a window needs before error_rate applies" },
    PT_DIRECTIVE_END
};

/* ---- load time ----------------------------------------------------------- */

int pt_upstream_eject_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                               const pt_directive_t *d)
{
    pt_upstream_eject_conf_t *c;
    pt_conf_target_t t;

    (void) d;
    if (config_setting_type(s) == CONFIG_TYPE_BOOL && !config_setting_get_bool(s))
        return PT_OK;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL && config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"outlier_ejection\" is true, false or a group { ... }");
        return PT_ERROR;
    }
    if ((c = pt_arena_calloc(cf->arena, sizeof(*c))) == NULL)
        return PT_ERROR;
    t = (pt_conf_target_t) { pt_upstream_eject_directives, c };
    pt_conf_unset(pt_upstream_eject_directives, PT_SCOPE_UPSTREAM, c);
    if ((config_setting_type(s) == CONFIG_TYPE_GROUP
         && pt_conf_walk(cf, s, PT_SCOPE_UPSTREAM, &t, 1, NULL) != PT_OK)
        || pt_conf_defaults(cf, pt_upstream_eject_directives, PT_SCOPE_UPSTREAM, c) != PT_OK)
        return PT_ERROR;
    if (c->max_time < c->base_time) {
        pt_conf_error(cf, s, "max_ejection_time is shorter than ejection_time");
        return PT_ERROR;
    }
    *(pt_upstream_eject_conf_t **) field = c;
    return PT_OK;
}

void pt_upstream_eject_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                 int indent)
{
    const pt_upstream_eject_conf_t *c = *(pt_upstream_eject_conf_t *const *) field;

    (void) d;
    fputs("{\n", out);
    pt_conf_dump(out, pt_upstream_eject_directives, PT_SCOPE_UPSTREAM, c, indent + 1);
    pt_conf_indent(out, indent);
    fputc('}', out);
}

/* ---- arithmetic ---------------------------------------------------------- */

pt_msec_t pt_upstream_eject_backoff(const pt_upstream_eject_conf_t *c, uint32_t n)
{
    if (n == 0)
        n = 1;
    if (c->base_time > 0 && (pt_msec_t) n > c->max_time / c->base_time)
        return c->max_time;
    return pt_min(c->base_time * (pt_msec_t) n, c->max_time);
}

unsigned pt_upstream_eject_cap(size_t nservers, int64_t max_percent)
{
    return (unsigned) ((uint64_t) nservers * (uint64_t) max_percent / 100);
}

/* ---- in the workers ------------------------------------------------------ */

/* The servers of u that are out now, and (*present) those that exist:
 * dns: an empty slot is no server, so it cannot make room under the cap. */
static unsigned pt_upstream_eject_count(const pt_upstream_t *u, pt_msec_t now, size_t *present)
{
    unsigned n = 0;

    *present = 0;
    for (size_t i = 0; i < u->nservers; i++) {
        const pt_upstream_peer_t *rec = u->servers[i].health;
        if (u->servers[i].absent)
            continue;
        (*present)++;
        if (rec && atomic_load(&rec->ejected_until) > now)
            n++;
    }
    return n;
}

bool pt_upstream_eject_rate_reached(uint64_t requests, uint64_t errors, int64_t percent,
                                    int64_t min)
{
    return percent > 0 && requests >= (uint64_t) min
           && errors * 100 >= requests * (uint64_t) percent;
}

/* Count one answer (error or not) in s's error_rate window, opening a new
 * window when the current one is over; returns the errors and requests
 * counted so far. */
static void pt_upstream_eject_rate(pt_upstream_peer_t *rec, const pt_upstream_eject_conf_t *c,
                                   bool error, pt_msec_t now, uint32_t *requests,
                                   uint32_t *errors)
{
    int64_t start = atomic_load(&rec->rate_start);

    if (now - start >= c->rate_window
        && atomic_compare_exchange_strong(&rec->rate_start, &start, now)) {
        atomic_store(&rec->rate_requests, 0);
        atomic_store(&rec->rate_errors, 0);
    }
    *requests = atomic_fetch_add(&rec->rate_requests, 1) + 1;
    *errors = error ? atomic_fetch_add(&rec->rate_errors, 1) + 1
                    : atomic_load(&rec->rate_errors);
}

void pt_upstream_eject_error(const pt_server_t *s, const char *reason, pt_msec_t now)
{
    pt_upstream_peer_t *rec = s->health;
    const pt_upstream_eject_conf_t *c = s->upstream->outlier_ejection;
    uint32_t requests = 0, rate_errors = 0;
    char why[96];

    if (rec == NULL || c == NULL)
        return;
    uint32_t errors = atomic_fetch_add(&rec->errors, 1) + 1;
    if (c->error_rate > 0)
        pt_upstream_eject_rate(rec, c, true, now, &requests, &rate_errors);
    bool by_rate = pt_upstream_eject_rate_reached(requests, rate_errors, c->error_rate,
                                                  c->rate_min);
    if ((errors < (uint64_t) c->consecutive && !by_rate)
        || atomic_load(&rec->ejected_until) != 0)
        return;
    if (errors >= (uint64_t) c->consecutive)
        snprintf(why, sizeof(why), "%s, %u errors in a row", reason, errors);
    else
        snprintf(why, sizeof(why), "%s, %u errors in %u answers", reason, rate_errors,
                 requests);
    /* Back long enough without another ejection: the back-off starts over. */
    int64_t back = atomic_load(&rec->returned_at);
    uint32_t n = atomic_load(&rec->ejections);
    if (back != 0 && now - back >= c->max_time)
        n = 0;
    n++;
    pt_msec_t len = pt_upstream_eject_backoff(c, n);
    int64_t zero = 0;
    if (!atomic_compare_exchange_strong(&rec->ejected_until, &zero, now + len))
        return;                     /* another worker ejected it just now */
    size_t present;
    unsigned out = pt_upstream_eject_count(s->upstream, now, &present);
    unsigned cap = pt_upstream_eject_cap(present, c->max_percent);
    if (out > cap) {
        atomic_store(&rec->ejected_until, 0);
        /* Counted afresh: the next attempt (and log line) comes after as many errors. */
        atomic_store(&rec->errors, 0);
        atomic_store(&rec->rate_start, 0);
        pt_log(PT_LOG_INFO, "upstream %s: server %s not ejected (%s): max_ejection_percent "
               "%lld reached", s->upstream->name, s->name, why, (long long) c->max_percent);
        return;
    }
    atomic_store(&rec->ejections, n);
    atomic_store(&rec->errors, 0);
    atomic_store(&rec->rate_start, 0);
    pt_log(PT_LOG_NOTICE, "upstream %s: server %s ejected for %lldms: %s (ejection %u)",
           s->upstream->name, s->name, (long long) len, why, n);
}

void pt_upstream_eject_success(const pt_server_t *s, pt_msec_t now)
{
    pt_upstream_peer_t *rec = s->health;
    const pt_upstream_eject_conf_t *c = s->upstream->outlier_ejection;

    if (rec == NULL)
        return;
    /* Only written when set: a busy server's line stays shared-clean. */
    if (atomic_load(&rec->errors) != 0)
        atomic_store(&rec->errors, 0);
    if (c && c->error_rate > 0) {
        uint32_t requests, errors;
        pt_upstream_eject_rate(rec, c, false, now, &requests, &errors);
    }
}

bool pt_upstream_eject_in(const pt_server_t *s, pt_msec_t now)
{
    pt_upstream_peer_t *rec = s->health;
    int64_t until;

    /* Without outlier_ejection in this generation, a mark left by the one
     * before does not count. */
    if (rec == NULL || s->upstream->outlier_ejection == NULL
        || (until = atomic_load(&rec->ejected_until)) == 0)
        return true;
    if (now < until)
        return false;
    if (atomic_compare_exchange_strong(&rec->ejected_until, &until, 0)) {
        atomic_store(&rec->returned_at, now);
        atomic_store(&rec->errors, 0);
        pt_log(PT_LOG_NOTICE, "upstream %s: server %s returned: ejection over",
               s->upstream->name, s->name);
    }
    return true;
}
