/*
 * trace_export.c: the per-worker span queue and its OTLP/HTTP JSON posts
 * (https://opentelemetry.io/docs/specs/otlp/: POST /v1/traces, JSON
 * encoding with hex trace and span ids and decimal strings for 64-bit
 * times).
 */
#include "common/pt.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/metrics.h"
#include "worker/core/timer.h"
#include "worker/core/worker.h"
#include "worker/mod/log/trace/trace_export.h"
#include "worker/upstream/subrequest.h"

unsigned pt_trace_metric_exported, pt_trace_metric_dropped, pt_trace_metric_failed;

static struct {
    const pt_trace_export_conf_t *ec;
    pt_trace_span_t *ring;      /* ec->queue entries */
    size_t head, n;             /* oldest, count */
    pt_timer_t timer;
    pt_subrequest_t *sr;        /* a POST in flight; one at a time */
    size_t sr_n;                /* its spans */
    uint64_t dropped;           /* since the last log line */
    bool retired;               /* the timer is off: spans are posted as they come */
    bool retiring;              /* posting the rest, the worker held */
} pt_tx;

typedef struct {
    char *p;
    size_t n, cap;
} pt_tx_buf_t;

static void pt_tx_put(pt_tx_buf_t *b, const char *s, size_t n)
{
    if (b->n < b->cap)
        memcpy(b->p + b->n, s, pt_min(n, b->cap - b->n));
    b->n += n;
}

static void pt_tx_puts(pt_tx_buf_t *b, const char *s)
{
    pt_tx_put(b, s, strlen(s));
}

static void pt_tx_json(pt_tx_buf_t *b, const char *s, size_t n)
{
    size_t room = b->n < b->cap ? b->cap - b->n : 0;

    b->n += pt_str_json_escape(room ? b->p + b->n : NULL, room, s, n);
}

static void pt_tx_hex(pt_tx_buf_t *b, const uint8_t *p, size_t n)
{
    char hex[2 * PT_TRACE_ID_LEN];

    pt_trace_hex(hex, p, n);
    pt_tx_put(b, hex, 2 * n);
}

static void pt_tx_u64(pt_tx_buf_t *b, uint64_t v)
{
    char num[24];

    pt_tx_put(b, num, pt_str_from_u64(num, v));
}

static void pt_tx_attr(pt_tx_buf_t *b, const char *key, const char *str, int64_t num, bool first)
{
    pt_tx_puts(b, first ? "{\"key\":\"" : ",{\"key\":\"");
    pt_tx_puts(b, key);
    if (str) {
        pt_tx_puts(b, "\",\"value\":{\"stringValue\":\"");
        pt_tx_json(b, str, strlen(str));
        pt_tx_puts(b, "\"}}");
    } else {
        pt_tx_puts(b, "\",\"value\":{\"intValue\":\"");
        pt_tx_u64(b, (uint64_t) num);
        pt_tx_puts(b, "\"}}");
    }
}

size_t pt_trace_export_json(char *out, size_t cap, const char *service,
                            const pt_trace_span_t *spans, size_t n)
{
    pt_tx_buf_t b = { out, 0, cap };

    pt_tx_puts(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    pt_tx_attr(&b, "service.name", service, 0, true);
    pt_tx_puts(&b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"portico\",\"version\":\""
               PACKAGE_VERSION "\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        const pt_trace_span_t *s = &spans[i];
        pt_tx_puts(&b, i ? ",{\"traceId\":\"" : "{\"traceId\":\"");
        pt_tx_hex(&b, s->trace_id, PT_TRACE_ID_LEN);
        pt_tx_puts(&b, "\",\"spanId\":\"");
        pt_tx_hex(&b, s->span_id, PT_TRACE_SPAN_LEN);
        if (s->has_parent) {
            pt_tx_puts(&b, "\",\"parentSpanId\":\"");
            pt_tx_hex(&b, s->parent_id, PT_TRACE_SPAN_LEN);
        }
        pt_tx_puts(&b, "\",\"name\":\"");
        pt_tx_json(&b, s->method, strlen(s->method));
        if (s->route) {
            pt_tx_puts(&b, " ");
            pt_tx_json(&b, s->route, strlen(s->route));
        }
        pt_tx_puts(&b, "\",\"kind\":2,\"startTimeUnixNano\":\"");
        pt_tx_u64(&b, s->start_ns);
        pt_tx_puts(&b, "\",\"endTimeUnixNano\":\"");
        pt_tx_u64(&b, s->end_ns);
        pt_tx_puts(&b, "\",\"attributes\":[");
        pt_tx_attr(&b, "http.request.method", s->method, 0, true);
        pt_tx_attr(&b, "url.path", s->path, 0, false);
        pt_tx_attr(&b, "http.response.status_code", NULL, s->status, false);
        if (s->route)
            pt_tx_attr(&b, "http.route", s->route, 0, false);
        /* OTLP status: 2 (error) for a server error, else unset. */
        pt_tx_puts(&b, s->status >= 500 ? "],\"status\":{\"code\":2}}" : "],\"status\":{}}");
    }
    pt_tx_puts(&b, "]}]}]}");
    return b.n;
}

static void pt_tx_send(void);
static void pt_tx_post_rest(void);

/* Retiring: post batch after batch until the queue is empty, then let
 * the worker go. */
static void pt_tx_flush(void)
{
    while (pt_tx.n && pt_tx.sr == NULL) {
        size_t before = pt_tx.n;
        pt_tx_send();           /* a batch that cannot start is counted lost */
        if (pt_tx.n == before)
            break;              /* out of memory: pt_trace_export_stop counts them */
    }
    if (pt_tx.sr == NULL) {
        pt_tx.retiring = false;
        pt_worker_release();
    }
}

static void pt_tx_done(pt_subrequest_t *sr, int rc, void *data)
{
    size_t n = (size_t) (uintptr_t) data;

    pt_tx.sr = NULL;
    pt_tx.sr_n = 0;
    if (rc == PT_OK && sr->status >= 200 && sr->status < 300) {
        pt_metric_inc(pt_trace_metric_exported, n);
    } else {
        pt_metric_inc(pt_trace_metric_failed, n);
        pt_log(PT_LOG_WARN, "trace export: %zu spans lost: %s", n,
               rc == PT_OK ? "the collector refused them" : sr->error);
    }
    if (pt_tx.retiring)
        pt_tx_flush();
}

static void pt_tx_send(void)
{
    const pt_trace_export_conf_t *ec = pt_tx.ec;
    size_t n = pt_min(pt_tx.n, (size_t) PT_TRACE_EXPORT_BATCH);
    pt_trace_span_t *batch;

    if (pt_tx.dropped) {
        pt_log(PT_LOG_WARN, "trace export: queue full, %llu spans dropped",
               (unsigned long long) pt_tx.dropped);
        pt_tx.dropped = 0;
    }
    if (n == 0 || pt_tx.sr || (batch = malloc(n * sizeof(*batch))) == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        batch[i] = pt_tx.ring[(pt_tx.head + i) % ec->queue];
    pt_tx.head = (pt_tx.head + n) % ec->queue;
    pt_tx.n -= n;
    size_t need = pt_trace_export_json(NULL, 0, ec->service, batch, n);
    char *body = malloc(need);
    if (body) {
        pt_trace_export_json(body, need, ec->service, batch, n);
        pt_subrequest_spec_t spec = {
            .method = "POST",
            .path = { ec->path, strlen(ec->path) },
            .fields = (const pt_str_t[]) { PT_STR("Content-Type"), PT_STR("application/json") },
            .nfields = 1,
            .body = { body, need },
            .max_body = 64 * 1024,
        };
        pt_tx.sr = pt_subrequest_start(ec->upstream, &spec, pt_tx_done, (void *) (uintptr_t) n);
        pt_tx.sr_n = pt_tx.sr ? n : 0;
    }
    if (pt_tx.sr == NULL)
        pt_metric_inc(pt_trace_metric_failed, n);
    free(body);
    free(batch);
}

static void pt_tx_timer(pt_timer_t *t)
{
    pt_tx_send();
    pt_timer_set(&pt_tx.timer, pt_tx.ec->interval);
}

int pt_trace_export_start(const pt_trace_export_conf_t *ec)
{
    if (ec->upstream == NULL)
        return PT_OK;
    if ((pt_tx.ring = calloc(ec->queue, sizeof(*pt_tx.ring))) == NULL)
        return PT_ERROR;
    pt_tx.ec = ec;
    pt_tx.head = pt_tx.n = 0;
    pt_tx.retired = pt_tx.retiring = false;
    pt_timer_prepare(&pt_tx.timer, pt_tx_timer, NULL);
    pt_timer_set(&pt_tx.timer, ec->interval);
    return PT_OK;
}

bool pt_trace_export_add(const pt_trace_span_t *span)
{
    if (pt_tx.ring == NULL)
        return true;
    if (pt_tx.n == pt_tx.ec->queue) {
        pt_tx.dropped++;
        pt_metric_inc(pt_trace_metric_dropped, 1);
        return false;
    }
    pt_tx.ring[(pt_tx.head + pt_tx.n++) % pt_tx.ec->queue] = *span;
    if (pt_tx.retired)
        pt_tx_post_rest();      /* a request that finished while draining */
    return true;
}

/* Retired: post what is queued now. A worker with no connection left
 * would exit before a POST got out: it is held until the queue is posted
 * (or drain_timeout). */
static void pt_tx_post_rest(void)
{
    if (pt_tx.retiring || (pt_tx.n == 0 && pt_tx.sr == NULL))
        return;
    pt_tx.retiring = true;
    pt_worker_hold();
    if (pt_tx.sr == NULL)
        pt_tx_flush();          /* else pt_tx_done goes on */
}

void pt_trace_export_retire(void)
{
    if (pt_tx.ring == NULL)
        return;
    pt_timer_del(&pt_tx.timer);
    pt_tx.retired = true;
    pt_tx_post_rest();
}

void pt_trace_export_stop(void)
{
    if (pt_tx.ring == NULL)
        return;
    pt_timer_del(&pt_tx.timer);
    pt_subrequest_cancel(pt_tx.sr);
    /* What never reached the collector is lost: say so in the counter. */
    pt_metric_inc(pt_trace_metric_failed, pt_tx.sr_n + pt_tx.n);
    pt_tx.sr = NULL;
    pt_tx.sr_n = pt_tx.n = 0;
    free(pt_tx.ring);
    pt_tx.ring = NULL;
}
