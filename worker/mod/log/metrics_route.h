/*
 * metrics_route.h: one route's HTTP metrics, for readers such as the
 * admin API and the status page (mod_metrics.c keeps them). The whole
 * set is walked with pt_metrics_each (worker/core/metrics.h).
 */
#ifndef PT_METRICS_ROUTE_H
#define PT_METRICS_ROUTE_H

#include "common/pt.h"
#include "worker/core/core.h"

/* Request latency buckets, microseconds (seconds in the exposition:
 * Prometheus' default buckets). */
#define PT_METRICS_LATENCY_BUCKETS  11
extern const uint64_t pt_metrics_latency_us[PT_METRICS_LATENCY_BUCKETS];

typedef struct {
    uint64_t requests;              /* every request logged on the route */
    uint64_t by_class[6];           /* 1xx, 2xx, 3xx, 4xx, 5xx, none (no response) */
    uint64_t errors;                /* 5xx */
    uint64_t latency[PT_METRICS_LATENCY_BUCKETS + 1];   /* per bucket, +Inf last; not
                                                         * cumulative */
    uint64_t latency_sum_us;
    uint64_t body_bytes_in, bytes_out;
} pt_metrics_route_stats_t;

/* route's figures summed over every worker; route NULL: requests that
 * matched no route. PT_ERROR when metrics are off or the route has none. */
int pt_metrics_route_read(const pt_conf_t *conf, const pt_route_t *route,
                          pt_metrics_route_stats_t *out);

#endif
