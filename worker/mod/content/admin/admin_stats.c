/*
 * admin_stats.c: what the admin API reads from metrics (worker/core/
 * metrics.h). pt_admin_stats_routes is the one place that knows how the
 * metrics count by route: mod_metrics' per-route series, read with
 * pt_metrics_route_read (false when metrics = false).
 */
#include "common/pt.h"
#include "worker/core/metrics.h"
#include "worker/mod/content/admin/admin_int.h"
#include "worker/mod/log/metrics_route.h"

#include <stdlib.h>

bool pt_admin_stats_routes(const pt_conf_t *conf, pt_admin_route_stats_t *out)
{
    memset(out, 0, conf->nroutes * sizeof(*out));
    /* mod_metrics keeps each route's series (worker/mod/log/metrics_route.h) */
    for (size_t i = 0; i < conf->nroutes; i++) {
        pt_metrics_route_stats_t st;
        if (pt_metrics_route_read(conf, &conf->routes[i], &st) != PT_OK)
            return false;           /* metrics = false */
        out[i].requests = st.requests;
        out[i].errors = st.errors;
        out[i].bounds = pt_metrics_latency_us;
        out[i].nbounds = PT_METRICS_LATENCY_BUCKETS;
        memcpy(out[i].buckets, st.latency, sizeof(st.latency));
        out[i].sum_us = st.latency_sum_us;
    }
    return true;
}

static json_t *pt_admin_histogram(const uint64_t *bounds, unsigned nbounds,
                                  const uint64_t *v, uint64_t sum)
{
    json_t *o = json_object(), *b = json_array(), *c = json_array();
    uint64_t count = 0;

    for (unsigned i = 0; i <= nbounds; i++) {
        json_array_append_new(b, i < nbounds ? json_integer((json_int_t) bounds[i])
                                             : json_string("+Inf"));
        json_array_append_new(c, json_integer((json_int_t) v[i]));
        count += v[i];
    }
    json_object_set_new(o, "bounds", b);
    json_object_set_new(o, "buckets", c);
    json_object_set_new(o, "count", json_integer((json_int_t) count));
    json_object_set_new(o, "sum", json_integer((json_int_t) sum));
    return o;
}

json_t *pt_admin_read_stats(const pt_conf_t *conf)
{
    json_t *o = json_object(), *routes = json_array(), *all = json_object();
    uint64_t v[PT_METRICS_VALUES_MAX];
    pt_admin_route_stats_t *rs = calloc(conf->nroutes + 1, sizeof(*rs));
    bool by_route = rs && pt_admin_stats_routes(conf, rs);

    pt_metrics_read(PT_METRIC_REQUESTS, v, 1);
    json_object_set_new(o, "requests", json_integer((json_int_t) v[0]));
    pt_metrics_read(PT_METRIC_GATEWAY_ERRORS, v, 1);
    json_object_set_new(o, "gateway_errors", json_integer((json_int_t) v[0]));
    for (size_t i = 0; i < conf->nroutes; i++) {
        const pt_admin_route_stats_t *st = &rs[i];
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(conf->routes[i].name));
        if (by_route) {
            json_object_set_new(e, "requests", json_integer((json_int_t) st->requests));
            json_object_set_new(e, "errors", json_integer((json_int_t) st->errors));
            json_object_set_new(e, "latency_us", st->bounds
                                && st->nbounds < PT_ADMIN_BUCKETS_MAX
                                ? pt_admin_histogram(st->bounds, st->nbounds, st->buckets,
                                                     st->sum_us)
                                : json_null());
        } else {
            json_object_set_new(e, "requests", json_null());
        }
        json_array_append_new(routes, e);
    }
    free(rs);
    json_object_set_new(o, "routes", routes);
    /* Every registered metric, summed over the workers: what the status
     * page shows until (and besides) the per-route view. */
    for (size_t i = 0; i < pt_metrics_count(); i++) {
        unsigned id;
        const pt_metric_def_t *d = pt_metrics_get(i, &id);
        size_t n = pt_metrics_read(id, v, PT_METRICS_VALUES_MAX);
        /* a labeled family is many series: the walk (pt_metrics_each) has them */
        if (d == NULL || d->labels || n == 0 || n > PT_METRICS_VALUES_MAX)
            continue;
        if (d->type == PT_METRIC_HISTOGRAM && n == d->nbounds + 2u)
            json_object_set_new(all, d->name, pt_admin_histogram(d->bounds, d->nbounds, v,
                                                                 v[n - 1]));
        else
            json_object_set_new(all, d->name, json_integer((json_int_t) v[0]));
    }
    json_object_set_new(o, "metrics", all);
    return o;
}
