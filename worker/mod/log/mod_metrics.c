/*
 * mod_metrics.c: the HTTP metrics of every request (by route, status
 * class and method; latency; bytes), per-consumer analytics with a cap on
 * distinct consumers, and the Prometheus endpoint:
 *
 *   portico = { metrics = true; metrics_consumers = 100; };
 *   routes = ( { path = "/metrics"; metrics_endpoint = true; } );
 *
 * Counting is in the log hook: a few relaxed atomic adds into this
 * worker's slot of the metrics zone (worker/core/metrics.h), no lock. A
 * scrape sums the slots in one pass and writes the text into a buffer of
 * its own, so it holds nothing while the response goes out.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/core/core.h"
#include "worker/core/metrics.h"
#include "worker/core/module.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "worker/mod/content/admin/admin_hooks.h"
#include "worker/mod/log/metrics_expo.h"
#include "worker/mod/log/metrics_route.h"
#include "worker/net/conn_metrics.h"
#include "worker/upstream/upstream_metrics.h"

typedef struct {
    int enabled;
    int64_t consumers;              /* cap on distinct consumers counted */
    /* compiled */
    pt_metric_family_t *consumer_requests, *consumer_latency;
    unsigned unrouted;              /* the series of requests no route matched */
} pt_metrics_main_t;

typedef struct {
    int endpoint;                   /* metrics_endpoint: answer with the exposition */
    unsigned ids;                   /* first value of the route's series (below) */
} pt_metrics_conf_t;

const uint64_t pt_metrics_latency_us[PT_METRICS_LATENCY_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000
};

static const char *const pt_metrics_codes[] = { "1xx", "2xx", "3xx", "4xx", "5xx", "none",
                                                NULL };
#define PT_METRICS_NCODES   6
/* Methods by enum pt_http_method (http_parse.h), other first as there. */
static const char *const pt_metrics_methods[] = { "other", "GET", "HEAD", "POST", "PUT",
                                                  "DELETE", "CONNECT", "OPTIONS", "TRACE",
                                                  "PATCH", NULL };
#define PT_METRICS_NMETHODS 10

static const char *const pt_metrics_route_label[] = { "route", NULL };
static const char *const pt_metrics_rcm_labels[] = { "route", "code", "method", NULL };
static const char *const *const pt_metrics_rcm_enums[] = { NULL, pt_metrics_codes,
                                                           pt_metrics_methods, NULL };
static const char *const pt_metrics_cc_labels[] = { "consumer", "code", NULL };
static const char *const *const pt_metrics_cc_enums[] = { NULL, pt_metrics_codes, NULL };
static const char *const pt_metrics_consumer_label[] = { "consumer", NULL };

#define PT_METRICS_US   1000000

/* A route's series, declared in this order, take consecutive ids. */
static const pt_metric_def_t pt_metrics_requests = {
    "portico_http_requests_total", "HTTP requests by route, status class and method",
    PT_METRIC_COUNTER, NULL, 0, NULL, pt_metrics_rcm_labels, pt_metrics_rcm_enums, 0, 0 };
static const pt_metric_def_t pt_metrics_latency = {
    "portico_http_request_duration_seconds",
    "time from the request head to the end of the response, by route",
    PT_METRIC_HISTOGRAM, pt_metrics_latency_us, PT_METRICS_LATENCY_BUCKETS, NULL,
    pt_metrics_route_label, NULL, 0, PT_METRICS_US };
static const pt_metric_def_t pt_metrics_bytes_in = {
    "portico_http_request_body_bytes_total", "request body bytes received, by route",
    PT_METRIC_COUNTER, NULL, 0, NULL, pt_metrics_route_label, NULL, 0, 0 };
static const pt_metric_def_t pt_metrics_bytes_out = {
    "portico_http_response_bytes_total", "response bytes sent (heads and bodies), by route",
    PT_METRIC_COUNTER, NULL, 0, NULL, pt_metrics_route_label, NULL, 0, 0 };
#define PT_METRICS_AT_LATENCY   (PT_METRICS_NCODES * PT_METRICS_NMETHODS)
#define PT_METRICS_AT_IN        (PT_METRICS_AT_LATENCY + PT_METRICS_LATENCY_BUCKETS + 2)
#define PT_METRICS_AT_OUT       (PT_METRICS_AT_IN + 1)

static const pt_metric_def_t pt_metrics_consumer_requests = {
    "portico_consumer_requests_total",
    "requests by authenticated consumer and status class (past metrics_consumers: \"other\")",
    PT_METRIC_COUNTER, NULL, 0, NULL, pt_metrics_cc_labels, pt_metrics_cc_enums, 0, 0 };
static const pt_metric_def_t pt_metrics_consumer_latency = {
    "portico_consumer_request_duration_seconds", "request latency by authenticated consumer",
    PT_METRIC_HISTOGRAM, pt_metrics_latency_us, PT_METRICS_LATENCY_BUCKETS, NULL,
    pt_metrics_consumer_label, NULL, 0, PT_METRICS_US };

static int pt_metrics_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf);
static int pt_metrics_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                 void *rconf, const void *dconf);
static int pt_metrics_content(pt_request_t *r);
static void pt_metrics_log(pt_request_t *r);

static const pt_conf_bounds_t pt_metrics_consumers_bounds = { 0, 10000 };

static const pt_directive_t pt_metrics_directives[] = {
    { "metrics", PT_CONF_BOOL, PT_SCOPE_MAIN, offsetof(pt_metrics_main_t, enabled), "true",
      NULL, NULL, NULL, "count metrics (false: not, to measure their cost)" },
    { "metrics_consumers", PT_CONF_UINT, PT_SCOPE_MAIN, offsetof(pt_metrics_main_t, consumers),
      "100", &pt_metrics_consumers_bounds, NULL, NULL,
      "distinct consumers with series of their own; the rest are \"other\"" },
    { "metrics_endpoint", PT_CONF_BOOL, PT_SCOPE_HANDLER, offsetof(pt_metrics_conf_t, endpoint),
      NULL, NULL, NULL, NULL, "answer with the metrics in the Prometheus text format" },
    PT_DIRECTIVE_END
};

pt_module_t pt_metrics_module = {
    .name = "metrics",
    .directives = pt_metrics_directives,
    .main_conf_size = sizeof(pt_metrics_main_t),
    .route_conf_size = sizeof(pt_metrics_conf_t),
    .init_main = pt_metrics_init_main,
    .init_route = pt_metrics_init_route,
    .content = pt_metrics_content,
    .log = pt_metrics_log,
};

static pt_metrics_main_t *pt_metrics_main(const pt_conf_t *conf)
{
    return conf->mod_main[pt_metrics_module.index];
}

/* The series of one route (name: its label), in the order of the ids. */
static unsigned pt_metrics_declare(pt_conf_ctx_t *cf, pt_conf_t *conf, const char *name)
{
    const pt_metric_def_t *const defs[] = { &pt_metrics_requests, &pt_metrics_latency,
                                            &pt_metrics_bytes_in, &pt_metrics_bytes_out };
    const char *values[] = { name };
    unsigned first = 0;

    for (size_t i = 0; i < pt_countof(defs); i++) {
        pt_metric_family_t *f = pt_metric_family_add(cf, conf, defs[i]);
        unsigned id = f ? pt_metric_series_add(cf, f, values) : 0;
        if (id == 0)
            return 0;
        if (i == 0)
            first = id;
    }
    return first;
}

static int pt_metrics_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                 void *rconf, const void *dconf)
{
    pt_metrics_conf_t *mc = rconf;
    const pt_metrics_main_t *main = pt_metrics_main(conf);

    /* The series are declared in init_main, once route names are known
     * to be unique. */
    if (main->enabled != 1)
        pt_module_phase_skip(route, &pt_metrics_module);
    if (mc->endpoint != 1)
        return PT_OK;
    if (route->handler) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give a route one of proxy, return, "
                      "echo and metrics_endpoint", route->name, route->line);
        return PT_ERROR;
    }
    route->handler = &pt_metrics_module;
    return PT_OK;
}

/* ---- the admin API: the busiest consumers ------------------------------- */

#define PT_METRICS_TOP  10

typedef struct {
    const char *name;           /* in the metrics zone's label table */
    size_t len;
    uint64_t requests;
} pt_metrics_top_t;

typedef struct {
    pt_metrics_top_t *v;
    size_t n, cap;
} pt_metrics_tops_t;

/* Each consumer's series per status class, added up into one entry; the
 * walk gives a series' classes one after another. */
static bool pt_metrics_top_each(void *arg, const pt_metric_sample_t *s, bool first)
{
    pt_metrics_tops_t *t = arg;

    if (first || s->def != &pt_metrics_consumer_requests)
        return true;
    pt_metrics_top_t *last = t->n ? &t->v[t->n - 1] : NULL;
    if (last && last->len == s->value_len[0]
        && memcmp(last->name, s->values[0], last->len) == 0) {
        last->requests += s->v[0];
        return true;
    }
    if (t->n == t->cap)
        return false;           /* every series is in: the cap is the family's */
    t->v[t->n++] = (pt_metrics_top_t) { s->values[0], s->value_len[0], s->v[0] };
    return true;
}

static int pt_metrics_top_cmp(const void *a, const void *b)
{
    const pt_metrics_top_t *x = a, *y = b;

    return x->requests < y->requests ? 1 : x->requests > y->requests ? -1 : 0;
}

/* "metrics": { "top_consumers": [ { "name", "requests" }, ... ] }, the
 * PT_METRICS_TOP consumers with the most requests (the status page's
 * panel); NULL when this worker's conf counts no consumers (a reload may
 * have turned them off since the master registered this). */
static json_t *pt_metrics_admin_read(void *data)
{
    const pt_metrics_main_t *mc = pt_worker_conf ? pt_metrics_main(pt_worker_conf) : NULL;
    (void) data;

    if (mc == NULL || mc->enabled != 1 || mc->consumer_requests == NULL)
        return NULL;
    /* The family holds up to metrics_consumers series and "other". */
    pt_metrics_tops_t t = { .cap = (size_t) mc->consumers + 1 };
    if ((t.v = calloc(t.cap, sizeof(*t.v))) == NULL)
        return NULL;
    pt_metrics_each(pt_metrics_top_each, &t);
    qsort(t.v, t.n, sizeof(*t.v), pt_metrics_top_cmp);
    json_t *top = json_array();
    for (size_t i = 0; top && i < t.n && json_array_size(top) < PT_METRICS_TOP; i++) {
        json_t *name = json_stringn(t.v[i].name, t.v[i].len);   /* NULL: not UTF-8 */
        if (name)
            json_array_append_new(top, json_pack("{s:o,s:I}", "name", name, "requests",
                                                 (json_int_t) t.v[i].requests));
    }
    free(t.v);
    return top ? json_pack("{s:o}", "top_consumers", top) : NULL;
}

static int pt_metrics_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf)
{
    pt_metrics_main_t *mc = mconf;

    if (mc->enabled != 1) {
        pt_metrics_disable(cf, conf);
        return PT_OK;
    }
    for (size_t i = 0; i < conf->nroutes; i++) {
        pt_route_t *route = &conf->routes[i];
        pt_metrics_conf_t *rc = pt_route_mod_conf(route, pt_metrics_module);
        if ((rc->ids = pt_metrics_declare(cf, conf, route->name)) == 0)
            return PT_ERROR;
    }
    /* route="" for requests no route matched (404s, refused heads) */
    if ((mc->unrouted = pt_metrics_declare(cf, conf, "")) == 0
        || pt_upstream_metrics_conf(cf, conf) != PT_OK
        || pt_conn_metrics_conf(cf, conf) != PT_OK)
        return PT_ERROR;
    if (mc->consumers == 0)
        return PT_OK;
    mc->consumer_requests = pt_metric_family_dynamic(cf, conf, &pt_metrics_consumer_requests,
                                                     (unsigned) mc->consumers);
    mc->consumer_latency = pt_metric_family_dynamic(cf, conf, &pt_metrics_consumer_latency,
                                                    (unsigned) mc->consumers);
    if (mc->consumer_requests == NULL || mc->consumer_latency == NULL)
        return PT_ERROR;
    return pt_admin_zone_reader_add("metrics", pt_metrics_admin_read, NULL);
}

static unsigned pt_metrics_code(unsigned status)
{
    return status >= 100 && status < 600 ? status / 100 - 1 : PT_METRICS_NCODES - 1;
}

static void pt_metrics_log(pt_request_t *r)
{
    const pt_metrics_main_t *mc = pt_metrics_main(r->conf);
    unsigned ids = r->route ? ((pt_metrics_conf_t *) pt_route_mod_conf(r->route,
                                                                       pt_metrics_module))->ids
                            : mc->unrouted;

    if (!pt_metrics_live || ids == 0)
        return;
    unsigned code = pt_metrics_code(r->status);
    unsigned method = r->head.method_id < PT_METRICS_NMETHODS ? r->head.method_id : 0;
    /* The loop's cached clock, in ms: the bucket bounds start at 5 ms. */
    uint64_t us = (uint64_t) (pt_clock_now - r->start) * 1000;

    pt_metric_add(ids + code * PT_METRICS_NMETHODS + method, 1);
    pt_metric_observe_in(&pt_metrics_latency, ids + PT_METRICS_AT_LATENCY, us);
    pt_metric_add(ids + PT_METRICS_AT_IN, r->body_received);
    pt_metric_add(ids + PT_METRICS_AT_OUT, pt_request_bytes_sent(r));
    if (r->consumer && mc->consumer_requests) {
        unsigned c = pt_metric_find(mc->consumer_requests, &r->consumer->id);
        pt_metric_add(c ? c + code : 0, 1);
        pt_metric_observe_in(&pt_metrics_consumer_latency,
                             pt_metric_find(mc->consumer_latency, &r->consumer->id), us);
    }
}

static void pt_metrics_free(void *p)
{
    free(p);
}

static int pt_metrics_content(pt_request_t *r)
{
    pt_metrics_text_t t = { 0 };

    /* RFC 9110 9.1, 15.5.6: the figures are only read; a PUT or DELETE
     * answered 200 would say it was done. */
    if (r->head.method_id != PT_METHOD_GET && r->head.method_id != PT_METHOD_HEAD) {
        r->route_allow = "GET, HEAD";
        pt_http_error(r, 405, "the metrics are read with GET");
        return PT_DONE;
    }
    pt_metrics_expo_write(&t);
    if (t.failed || pt_arena_cleanup_add(r->arena, pt_metrics_free, t.p) != PT_OK) {
        free(t.p);
        pt_http_error(r, 500, "the metrics could not be written (out of memory, or past 64M)");
        return PT_DONE;
    }
    pt_response_send(r, 200, PT_METRICS_EXPO_TYPE, NULL, 0, t.p, t.len);
    return PT_OK;
}

int pt_metrics_route_read(const pt_conf_t *conf, const pt_route_t *route,
                          pt_metrics_route_stats_t *out)
{
    const pt_metrics_main_t *mc = pt_metrics_main(conf);
    unsigned ids = route ? ((pt_metrics_conf_t *) pt_route_mod_conf(route,
                                                                    pt_metrics_module))->ids
                         : mc->unrouted;
    uint64_t v[PT_METRICS_NCODES * PT_METRICS_NMETHODS];

    memset(out, 0, sizeof(*out));
    if (ids == 0)
        return PT_ERROR;
    pt_metrics_sum(ids, pt_countof(v), v);
    for (unsigned k = 0; k < pt_countof(v); k++) {
        out->by_class[k / PT_METRICS_NMETHODS] += v[k];
        out->requests += v[k];
    }
    out->errors = out->by_class[4];
    pt_metrics_sum(ids + PT_METRICS_AT_LATENCY, PT_METRICS_LATENCY_BUCKETS + 1, out->latency);
    pt_metrics_sum(ids + PT_METRICS_AT_LATENCY + PT_METRICS_LATENCY_BUCKETS + 1, 1,
                   &out->latency_sum_us);
    pt_metrics_sum(ids + PT_METRICS_AT_IN, 1, &out->body_bytes_in);
    pt_metrics_sum(ids + PT_METRICS_AT_OUT, 1, &out->bytes_out);
    return PT_OK;
}
