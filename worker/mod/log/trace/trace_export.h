/*
 * trace_export.h: spans sent as OTLP/HTTP JSON to a collector upstream,
 * batched per worker in a bounded queue and posted by a subrequest on a
 * timer; never on a request's path (a full queue drops the span and
 * counts it).
 */
#ifndef PT_TRACE_EXPORT_H
#define PT_TRACE_EXPORT_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/mod/log/trace/trace_context.h"

#define PT_TRACE_EXPORT_BATCH   512     /* spans in one POST at most */
#define PT_TRACE_PATH_MAX       128     /* bytes of url.path kept */

/* What is exported of one request. */
typedef struct {
    uint8_t trace_id[PT_TRACE_ID_LEN];
    uint8_t span_id[PT_TRACE_SPAN_LEN];
    uint8_t parent_id[PT_TRACE_SPAN_LEN];
    bool has_parent;
    uint16_t status;
    uint64_t start_ns, end_ns;  /* Unix time */
    char method[16];
    char path[PT_TRACE_PATH_MAX];
    const char *route;          /* the route's name (this generation's conf) */
} pt_trace_span_t;

typedef struct {
    pt_upstream_t *upstream;    /* NULL: no export */
    const char *path;
    pt_msec_t interval;
    size_t queue;
    const char *service;
} pt_trace_export_conf_t;

/* In the worker: start the timer (or nothing without an upstream). */
int pt_trace_export_start(const pt_trace_export_conf_t *ec);
/* Queue a span; false when the queue is full (the span is dropped). */
bool pt_trace_export_add(const pt_trace_span_t *span);
/* Send what is queued now (retiring), then stop the timer. */
void pt_trace_export_retire(void);
/* Cancel what is in flight, free the queue. */
void pt_trace_export_stop(void);

/* The OTLP/HTTP JSON body (ExportTraceServiceRequest) of n spans into out
 * (cap bytes); the length it needs (more than cap: out is cut). */
size_t pt_trace_export_json(char *out, size_t cap, const char *service,
                            const pt_trace_span_t *spans, size_t n);

/* Counters, read by mod_trace.c's metrics. */
extern unsigned pt_trace_metric_exported, pt_trace_metric_dropped, pt_trace_metric_failed;

#endif
