/*
 * mod_trace.c: W3C Trace Context propagation (tracing = true; on a route).
 *
 * A request that brings a valid traceparent continues that trace: portico
 * is a span of its own (a new random span id per request), sent on as the
 * parent-id of the traceparent the upstream gets, with the client's
 * tracestate checked and kept. Without one, or with an invalid one, a new
 * trace starts (random trace id) and tracestate is dropped (3.3.1: it
 * belongs to the trace that was refused). The sampled flag of a trace
 * that comes in is kept; a new trace is sampled at trace_sample percent.
 * $trace_id, $span_id and $parent_span_id show the ids in the access log.
 * With trace_export_upstream (portico { }), sampled spans are posted as
 * OTLP/HTTP JSON to that collector (trace_export.c).
 *
 * The access phase handler comes first in that phase (worker/modules.c),
 * so requests refused by authentication are traced and logged too.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "common/clock.h"
#include "worker/core/metrics.h"
#include "worker/core/module.h"
#include "worker/core/var.h"
#include "worker/http/request.h"
#include "worker/mod/log/trace/trace_context.h"
#include "worker/mod/log/trace/trace_export.h"

#include <sys/random.h>

#define PT_TRACE_POOL   4096        /* random bytes drawn at once, per worker */

typedef struct {
    int enabled;                /* BOOL: UNSET -1 */
    int64_t sample;             /* UINT percent: new traces that are sampled */
} pt_trace_conf_t;

typedef struct {
    uint8_t trace_id[PT_TRACE_ID_LEN];
    uint8_t span_id[PT_TRACE_SPAN_LEN];
    uint8_t parent_id[PT_TRACE_SPAN_LEN];
    uint8_t flags;
    bool has_parent;
} pt_trace_ctx_t;

typedef struct {
    const char *upstream_name;  /* STRING: UNSET NULL */
    const char *path;
    pt_msec_t interval;
    int64_t queue;
    const char *service;
    pt_trace_export_conf_t export;  /* compiled by init_main */
} pt_trace_main_t;

extern pt_module_t pt_trace_module;

static const pt_conf_bounds_t pt_trace_sample_bounds = { 0, 100 };
static const pt_conf_bounds_t pt_trace_queue_bounds = { 1, 65536 };
static const pt_conf_bounds_t pt_trace_interval_bounds = { 10, 3600000 };

static const pt_metric_def_t pt_trace_metrics[] = {
    { "portico_trace_spans_exported_total", "spans the collector accepted",
      PT_METRIC_COUNTER, NULL, 0, &pt_trace_metric_exported, NULL, NULL, 0, 0 },
    { "portico_trace_spans_dropped_total", "spans dropped: the export queue was full",
      PT_METRIC_COUNTER, NULL, 0, &pt_trace_metric_dropped, NULL, NULL, 0, 0 },
    { "portico_trace_spans_failed_total", "spans lost: the collector failed or refused",
      PT_METRIC_COUNTER, NULL, 0, &pt_trace_metric_failed, NULL, NULL, 0, 0 },
    PT_METRIC_END
};

static const pt_directive_t pt_trace_directives[] = {
    { "tracing", PT_CONF_BOOL, PT_SCOPE_ROUTE, offsetof(pt_trace_conf_t, enabled), "false",
      NULL, NULL, NULL, "W3C Trace Context: propagate traceparent and tracestate" },
    { "trace_sample", PT_CONF_UINT, PT_SCOPE_ROUTE, offsetof(pt_trace_conf_t, sample), "100",
      &pt_trace_sample_bounds, NULL, NULL, "percent of new traces marked sampled" },
    { "trace_export_upstream", PT_CONF_STRING, PT_SCOPE_MAIN,
      offsetof(pt_trace_main_t, upstream_name), NULL, NULL, NULL, NULL,
      "the OTLP/HTTP collector sampled spans are posted to" },
    { "trace_export_path", PT_CONF_STRING, PT_SCOPE_MAIN, offsetof(pt_trace_main_t, path),
      "\"/v1/traces\"", NULL, NULL, NULL, "the collector's path" },
    { "trace_export_interval", PT_CONF_DURATION, PT_SCOPE_MAIN,
      offsetof(pt_trace_main_t, interval), "\"1s\"", &pt_trace_interval_bounds, NULL, NULL,
      "how often each worker posts what it queued" },
    { "trace_export_queue", PT_CONF_UINT, PT_SCOPE_MAIN, offsetof(pt_trace_main_t, queue),
      "2048", &pt_trace_queue_bounds, NULL, NULL, "spans a worker holds; more are dropped" },
    { "trace_service_name", PT_CONF_STRING, PT_SCOPE_MAIN, offsetof(pt_trace_main_t, service),
      "\"portico\"", NULL, NULL, NULL, "service.name of the exported spans" },
    PT_DIRECTIVE_END
};

/* Random bytes from a per-worker pool: drawn after fork on first use, so
 * no two workers share them. */
static uint8_t pt_trace_pool[PT_TRACE_POOL];
static size_t pt_trace_pool_used = PT_TRACE_POOL;

static void pt_trace_pool_take(uint8_t *out, size_t n)
{
    if (pt_trace_pool_used + n > PT_TRACE_POOL) {
        size_t got = 0;
        while (got < PT_TRACE_POOL) {
            ssize_t k = getrandom(pt_trace_pool + got, PT_TRACE_POOL - got, 0);
            if (k > 0)
                got += (size_t) k;
            else if (errno != EINTR)
                break;
        }
        pt_trace_pool_used = 0;
    }
    memcpy(out, pt_trace_pool + pt_trace_pool_used, n);
    pt_trace_pool_used += n;
}

/* A trace or span id: all zeros is invalid, so such a draw is redrawn. */
static void pt_trace_random(uint8_t *out, size_t n)
{
    do {
        pt_trace_pool_take(out, n);
        for (size_t i = 0; i < n; i++)
            if (out[i])
                return;
    } while (1);
}

/* Whether a new trace is sampled at percent: a uniform draw, unlike one
 * byte % 100 (which sampled 58% at 50). */
static bool pt_trace_sampled(unsigned percent)
{
    int pick;

    do {
        uint8_t d[2];
        pt_trace_pool_take(d, sizeof(d));
        pick = pt_trace_sample_pick((uint16_t) (d[0] << 8 | d[1]), percent);
    } while (pick < 0);
    return pick == 1;
}

/* The one traceparent of the request, or NULL (none, or more than one:
 * the value would be ambiguous, so the trace restarts). */
static const pt_http_field_t *pt_trace_field(pt_request_t *r, const char *name, unsigned *count)
{
    const pt_http_field_t *found = NULL;
    pt_str_t n = { name, strlen(name) };

    *count = 0;
    for (unsigned i = 0; i < r->head.nfields; i++) {
        pt_http_field_t *f = &r->head.fields[i];
        if (f->id == PT_HDR_OTHER && pt_str_caseeq(f->name, n)) {
            f->flags |= PT_FIELD_NOFORWARD;     /* we send our own */
            found = f;
            (*count)++;
        }
    }
    return found;
}

/* The tracestate fields joined (3.3.1.1 allows several), checked and cut;
 * PT_STR_NULL when there is none or it is invalid. */
static pt_str_t pt_trace_state(pt_request_t *r)
{
    pt_str_t n = PT_STR("tracestate");
    size_t total = 0, nf = 0;

    for (unsigned i = 0; i < r->head.nfields; i++) {
        pt_http_field_t *f = &r->head.fields[i];
        if (f->id == PT_HDR_OTHER && pt_str_caseeq(f->name, n)) {
            f->flags |= PT_FIELD_NOFORWARD;
            total += f->value.len + 1;
            nf++;
        }
    }
    if (nf == 0 || total > 8192)
        return PT_STR_NULL;
    char *joined = pt_arena_alloc(r->arena, total + 1);
    char *out = pt_arena_alloc(r->arena, PT_TRACESTATE_MAX);
    size_t len = 0;
    if (joined == NULL || out == NULL)
        return PT_STR_NULL;
    for (unsigned i = 0; i < r->head.nfields; i++) {
        const pt_http_field_t *f = &r->head.fields[i];
        if (f->id == PT_HDR_OTHER && pt_str_caseeq(f->name, n)) {
            if (len)
                joined[len++] = ',';
            memcpy(joined + len, f->value.p, f->value.len);
            len += f->value.len;
        }
    }
    ssize_t k = pt_tracestate_parse((pt_str_t) { joined, len }, out, PT_TRACESTATE_MAX);
    return k > 0 ? (pt_str_t) { out, (size_t) k } : PT_STR_NULL;
}

static int pt_trace_access(pt_request_t *r)
{
    const pt_trace_conf_t *tc = pt_route_mod_conf(r->route, pt_trace_module);
    pt_trace_ctx_t *ctx = r->ctx[pt_trace_module.index];
    pt_traceparent_t tp;
    unsigned count;

    if (ctx)
        return PT_DECLINED;     /* resumed: done already */
    if ((ctx = pt_arena_calloc(r->arena, sizeof(*ctx))) == NULL)
        return 500;
    r->ctx[pt_trace_module.index] = ctx;
    const pt_http_field_t *f = pt_trace_field(r, "traceparent", &count);
    pt_str_t state = PT_STR_NULL;
    if (count == 1 && pt_traceparent_parse(f->value, &tp) == PT_OK) {
        memcpy(ctx->trace_id, tp.trace_id, sizeof(ctx->trace_id));
        memcpy(ctx->parent_id, tp.parent_id, sizeof(ctx->parent_id));
        ctx->has_parent = true;
        ctx->flags = tp.flags & PT_TRACE_FLAG_SAMPLED;  /* other bits: unknown to 00 */
        state = pt_trace_state(r);
    } else {
        pt_trace_random(ctx->trace_id, sizeof(ctx->trace_id));
        if (pt_trace_sampled((unsigned) tc->sample))
            ctx->flags = PT_TRACE_FLAG_SAMPLED;
        (void) pt_trace_state(r);       /* hidden: it belongs to a refused trace */
    }
    pt_trace_random(ctx->span_id, sizeof(ctx->span_id));

    char *tpv = pt_arena_alloc(r->arena, PT_TRACEPARENT_LEN);
    if (tpv == NULL)
        return 500;
    pt_traceparent_write(tpv, ctx->trace_id, ctx->span_id, ctx->flags);
    if (pt_request_field_add(r, PT_STR("traceparent"),
                             (pt_str_t) { tpv, PT_TRACEPARENT_LEN }) != PT_OK
        || (state.len && pt_request_field_add(r, PT_STR("tracestate"), state) != PT_OK))
        return 500;
    return PT_DECLINED;
}

static pt_str_t pt_trace_var_hex(pt_request_t *r, const uint8_t *p, size_t n, char *buf)
{
    pt_trace_hex(buf, p, n);
    return (pt_str_t) { buf, 2 * n };
}

static pt_str_t pt_trace_var_trace_id(pt_request_t *r, const void *data, char *buf)
{
    const pt_trace_ctx_t *ctx = r->ctx[pt_trace_module.index];

    return ctx ? pt_trace_var_hex(r, ctx->trace_id, PT_TRACE_ID_LEN, buf) : PT_STR_NULL;
}

static pt_str_t pt_trace_var_span_id(pt_request_t *r, const void *data, char *buf)
{
    const pt_trace_ctx_t *ctx = r->ctx[pt_trace_module.index];

    return ctx ? pt_trace_var_hex(r, ctx->span_id, PT_TRACE_SPAN_LEN, buf) : PT_STR_NULL;
}

static pt_str_t pt_trace_var_parent(pt_request_t *r, const void *data, char *buf)
{
    const pt_trace_ctx_t *ctx = r->ctx[pt_trace_module.index];

    return ctx && ctx->has_parent ? pt_trace_var_hex(r, ctx->parent_id, PT_TRACE_SPAN_LEN, buf)
                                  : PT_STR_NULL;
}

static pt_str_t pt_trace_var_sampled(pt_request_t *r, const void *data, char *buf)
{
    const pt_trace_ctx_t *ctx = r->ctx[pt_trace_module.index];

    if (ctx == NULL)
        return PT_STR_NULL;
    return (ctx->flags & PT_TRACE_FLAG_SAMPLED) ? PT_STR("1") : PT_STR("0");
}

static const pt_var_def_t pt_trace_vars[] = {
    { "trace_id", pt_trace_var_trace_id, NULL, NULL },
    { "span_id", pt_trace_var_span_id, NULL, NULL },
    { "parent_span_id", pt_trace_var_parent, NULL, NULL },
    { "trace_sampled", pt_trace_var_sampled, NULL, NULL },
    PT_VAR_DEF_END
};

static int pt_trace_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    const pt_trace_conf_t *tc = rconf;

    if (tc->enabled != 1)
        pt_module_phase_skip(route, &pt_trace_module);
    return PT_OK;
}

static int pt_trace_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf)
{
    pt_trace_main_t *mc = mconf;

    mc->export = (pt_trace_export_conf_t) { NULL, mc->path, mc->interval, (size_t) mc->queue,
                                            mc->service };
    if (mc->upstream_name == NULL)
        return PT_OK;
    for (size_t i = 0; i < conf->nupstreams && mc->export.upstream == NULL; i++)
        if (strcmp(conf->upstreams[i].name, mc->upstream_name) == 0)
            mc->export.upstream = &conf->upstreams[i];
    if (mc->export.upstream == NULL) {
        pt_conf_error(cf, NULL, "trace_export_upstream: no upstream named \"%s\"",
                      mc->upstream_name);
        return PT_ERROR;
    }
    if (mc->path[0] != '/') {
        pt_conf_error(cf, NULL, "trace_export_path \"%s\" must start with \"/\"", mc->path);
        return PT_ERROR;
    }
    return PT_OK;
}

static int pt_trace_init_worker(const pt_conf_t *conf)
{
    const pt_trace_main_t *mc = conf->mod_main[pt_trace_module.index];

    return pt_trace_export_start(&mc->export);
}

static void pt_trace_exit_worker(const pt_conf_t *conf)
{
    pt_trace_export_stop();
}

/* A sampled span goes to the export queue (when there is a collector). */
static void pt_trace_log(pt_request_t *r)
{
    const pt_trace_ctx_t *ctx = r->ctx[pt_trace_module.index];
    const pt_trace_main_t *mc = r->conf->mod_main[pt_trace_module.index];
    pt_trace_span_t span;
    struct timespec now;

    if (ctx == NULL || !(ctx->flags & PT_TRACE_FLAG_SAMPLED) || mc->export.upstream == NULL)
        return;
    memcpy(span.trace_id, ctx->trace_id, sizeof(span.trace_id));
    memcpy(span.span_id, ctx->span_id, sizeof(span.span_id));
    memcpy(span.parent_id, ctx->parent_id, sizeof(span.parent_id));
    span.has_parent = ctx->has_parent;
    span.status = (uint16_t) r->status;
    span.start_ns = r->start_wall_ms * UINT64_C(1000000);
    clock_gettime(CLOCK_REALTIME, &now);
    span.end_ns = (uint64_t) now.tv_sec * UINT64_C(1000000000) + (uint64_t) now.tv_nsec;
    if (span.end_ns < span.start_ns)
        span.end_ns = span.start_ns;
    snprintf(span.method, sizeof(span.method), "%.*s", (int) r->head.method.len,
             r->head.method.p);
    snprintf(span.path, sizeof(span.path), "%.*s", (int) r->head.path.len, r->head.path.p);
    span.route = r->route ? r->route->name : NULL;
    (void) pt_trace_export_add(&span);
}

pt_module_t pt_trace_module = {
    .name = "trace",
    .directives = pt_trace_directives,
    .main_conf_size = sizeof(pt_trace_main_t),
    .route_conf_size = sizeof(pt_trace_conf_t),
    .init_main = pt_trace_init_main,
    .init_route = pt_trace_init_route,
    .init_worker = pt_trace_init_worker,
    .exit_worker = pt_trace_exit_worker,
    .retire = pt_trace_export_retire,
    .phase = {
        [PT_PHASE_ACCESS] = pt_trace_access,
    },
    .log = pt_trace_log,
    .metrics = pt_trace_metrics,
    .vars = pt_trace_vars,
};
