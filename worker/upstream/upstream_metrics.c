/*
 * upstream_metrics.c: the upstream servers' metric families and their
 * series (upstream_metrics.h).
 */
#include "common/pt.h"
#include "common/conf.h"
#include "worker/upstream/upstream_metrics.h"

static const char *const pt_upstream_metric_labels[] = { "upstream", "server", NULL };
static const uint64_t pt_upstream_metric_us[PT_UPSTREAM_METRIC_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000
};

static const pt_metric_def_t pt_upstream_metric_requests = {
    "portico_upstream_requests_total", "tries of requests on a server (retries included)",
    PT_METRIC_COUNTER, NULL, 0, NULL, pt_upstream_metric_labels, NULL, 0, 0 };
static const pt_metric_def_t pt_upstream_metric_retries = {
    "portico_upstream_retries_total", "tries that were retries of a request failed elsewhere",
    PT_METRIC_COUNTER, NULL, 0, NULL, pt_upstream_metric_labels, NULL, 0, 0 };
static const pt_metric_def_t pt_upstream_metric_errors = {
    "portico_upstream_errors_total",
    "failures of a server (connect errors, timeouts, failure statuses)",
    PT_METRIC_COUNTER, NULL, 0, NULL, pt_upstream_metric_labels, NULL, 0, 0 };
const pt_metric_def_t pt_upstream_metric_connect_def = {
    "portico_upstream_connect_duration_seconds", "time to connect to a server (TLS included)",
    PT_METRIC_HISTOGRAM, pt_upstream_metric_us, PT_UPSTREAM_METRIC_BUCKETS, NULL,
    pt_upstream_metric_labels, NULL, 0, 1000000 };
const pt_metric_def_t pt_upstream_metric_response_def = {
    "portico_upstream_response_duration_seconds",
    "time from a try's start to the end of the server's response",
    PT_METRIC_HISTOGRAM, pt_upstream_metric_us, PT_UPSTREAM_METRIC_BUCKETS, NULL,
    pt_upstream_metric_labels, NULL, 0, 1000000 };

/* A server's label: its name, with the address slot of a host name that
 * is re-resolved, and its position when the name is written twice. */
static const char *pt_upstream_metric_name(pt_conf_ctx_t *cf, const pt_upstream_t *u,
                                           const pt_server_t *s)
{
    const char *name = s->dns ? pt_arena_sprintf(cf->arena, "%s#%u", s->name, s->dns_slot)
                              : s->name;
    for (const pt_server_t *o = u->servers; o < s; o++)
        if (strcmp(o->name, s->name) == 0 && (s->dns == NULL || o->dns_slot == s->dns_slot))
            return pt_arena_sprintf(cf->arena, "%s#%u", s->name, s->index);
    return name;
}

int pt_upstream_metrics_conf(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    const pt_metric_def_t *const defs[] = {
        &pt_upstream_metric_requests, &pt_upstream_metric_retries, &pt_upstream_metric_errors,
        &pt_upstream_metric_connect_def, &pt_upstream_metric_response_def };
    pt_metric_family_t *fam[pt_countof(defs)];

    for (size_t i = 0; i < pt_countof(defs); i++)
        if ((fam[i] = pt_metric_family_add(cf, conf, defs[i])) == NULL)
            return PT_ERROR;
    for (size_t u = 0; u < conf->nupstreams; u++) {
        pt_upstream_t *up = &conf->upstreams[u];
        for (size_t k = 0; k < up->nservers; k++) {
            pt_server_t *s = &up->servers[k];
            const char *values[] = { up->name, pt_upstream_metric_name(cf, up, s) };
            if (values[1] == NULL)
                return PT_ERROR;
            /* Consecutive ids: the offsets of upstream_metrics.h. */
            for (size_t i = 0; i < pt_countof(defs); i++) {
                unsigned id = pt_metric_series_add(cf, fam[i], values);
                if (id == 0)
                    return PT_ERROR;
                if (i == 0)
                    s->metric_id = id;
            }
        }
    }
    return PT_OK;
}
