/*
 * upstream_metrics.h: what the proxy counts per upstream server: tries,
 * retries, failures, connect and response times. The series are declared
 * at load time (pt_upstream_metrics_conf, called by mod_metrics when
 * metrics are on); each server keeps the id of its first value in
 * s->metric_id (0: not counted), the others follow at fixed offsets.
 */
#ifndef PT_UPSTREAM_METRICS_H
#define PT_UPSTREAM_METRICS_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/core/metrics.h"

enum {
    PT_UPSTREAM_METRIC_REQUESTS = 0,
    PT_UPSTREAM_METRIC_RETRIES,
    PT_UPSTREAM_METRIC_ERRORS,
    PT_UPSTREAM_METRIC_CONNECT,     /* histogram: bounds + 2 values */
};
#define PT_UPSTREAM_METRIC_BUCKETS  11
#define PT_UPSTREAM_METRIC_RESPONSE (PT_UPSTREAM_METRIC_CONNECT + PT_UPSTREAM_METRIC_BUCKETS + 2)

extern const pt_metric_def_t pt_upstream_metric_connect_def, pt_upstream_metric_response_def;

/* Load time: a series of each family for every server of conf. */
int pt_upstream_metrics_conf(pt_conf_ctx_t *cf, pt_conf_t *conf);

/* A try of a request on s (retry: not the request's first). */
static inline void pt_upstream_metric_try(const pt_server_t *s, bool retry)
{
    pt_metric_add(s->metric_id, 1);
    if (retry && s->metric_id)
        pt_metric_add(s->metric_id + PT_UPSTREAM_METRIC_RETRIES, 1);
}

/* A failure of s as passive health sees it (connect error, timeout, a
 * failure status). */
static inline void pt_upstream_metric_error(const pt_server_t *s)
{
    if (s->metric_id)
        pt_metric_add(s->metric_id + PT_UPSTREAM_METRIC_ERRORS, 1);
}

static inline void pt_upstream_metric_connect(const pt_server_t *s, pt_msec_t ms)
{
    if (s->metric_id)
        pt_metric_observe_in(&pt_upstream_metric_connect_def,
                             s->metric_id + PT_UPSTREAM_METRIC_CONNECT, (uint64_t) ms * 1000);
}

/* From the try's start to the end of the exchange with s. */
static inline void pt_upstream_metric_response(const pt_server_t *s, pt_msec_t ms)
{
    if (s->metric_id)
        pt_metric_observe_in(&pt_upstream_metric_response_def,
                             s->metric_id + PT_UPSTREAM_METRIC_RESPONSE, (uint64_t) ms * 1000);
}

#endif
