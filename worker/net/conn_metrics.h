/*
 * conn_metrics.h: connections by listener: open ones active (reading or
 * answering a request, or waiting for a first head) or idle (keep-alive,
 * between requests), accepted ones, TLS handshakes and resumptions. The
 * series are declared at load time (pt_conn_metrics_conf, called by
 * mod_metrics when metrics are on); a listener keeps the id of its first
 * value in l->metric_id (0: not counted), the others follow.
 */
#ifndef PT_CONN_METRICS_H
#define PT_CONN_METRICS_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/core/metrics.h"
#include "worker/net/conn.h"

enum {
    PT_CONN_METRIC_ACTIVE = 0,      /* the gauge, state="active" */
    PT_CONN_METRIC_IDLE,            /* state="idle" */
    PT_CONN_METRIC_ACCEPTED,
    PT_CONN_METRIC_TLS,
    PT_CONN_METRIC_RESUMED,
};

/* Load time: the series of every listener of conf. */
int pt_conn_metrics_conf(pt_conf_ctx_t *cf, pt_conf_t *conf);

static inline void pt_conn_metric_open(pt_conn_t *c)
{
    unsigned id = c->listener->metric_id;

    c->metric_idle = false;
    if (id) {
        pt_metric_add(id + PT_CONN_METRIC_ACCEPTED, 1);
        pt_metric_add(id + PT_CONN_METRIC_ACTIVE, 1);
    }
}

/* c waits for the next request (idle true) or has its first byte. */
static inline void pt_conn_metric_idle(pt_conn_t *c, bool idle)
{
    unsigned id = c->listener->metric_id;

    if (id == 0 || c->metric_idle == idle)
        return;
    c->metric_idle = idle;
    pt_metric_sub(id + (idle ? PT_CONN_METRIC_ACTIVE : PT_CONN_METRIC_IDLE), 1);
    pt_metric_add(id + (idle ? PT_CONN_METRIC_IDLE : PT_CONN_METRIC_ACTIVE), 1);
}

static inline void pt_conn_metric_close(pt_conn_t *c)
{
    unsigned id = c->listener->metric_id;

    if (id)
        pt_metric_sub(id + (c->metric_idle ? PT_CONN_METRIC_IDLE : PT_CONN_METRIC_ACTIVE), 1);
}

/* A TLS handshake completed; resumed: from a session ticket or the cache. */
static inline void pt_conn_metric_tls(pt_conn_t *c, bool resumed)
{
    unsigned id = c->listener->metric_id;

    if (id) {
        pt_metric_add(id + PT_CONN_METRIC_TLS, 1);
        if (resumed)
            pt_metric_add(id + PT_CONN_METRIC_RESUMED, 1);
    }
}

#endif
