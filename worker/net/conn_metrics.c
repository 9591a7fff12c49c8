/*
 * conn_metrics.c: the listeners' metric families and their series
 * (conn_metrics.h).
 */
#include "common/pt.h"
#include "common/conf.h"
#include "worker/net/conn_metrics.h"

static const char *const pt_conn_metric_state[] = { "active", "idle", NULL };
static const char *const pt_conn_metric_ls[] = { "listener", "state", NULL };
static const char *const *const pt_conn_metric_ls_enums[] = { NULL, pt_conn_metric_state,
                                                              NULL };
static const char *const pt_conn_metric_l[] = { "listener", NULL };

static const pt_metric_def_t pt_conn_metric_defs[] = {
    { "portico_connections", "open client connections by listener and state (active: a "
      "request in progress or awaited first; idle: keep-alive between requests)",
      PT_METRIC_GAUGE, NULL, 0, NULL, pt_conn_metric_ls, pt_conn_metric_ls_enums, 0, 0 },
    { "portico_connections_accepted_total", "client connections accepted, by listener",
      PT_METRIC_COUNTER, NULL, 0, NULL, pt_conn_metric_l, NULL, 0, 0 },
    { "portico_tls_handshakes_total", "TLS handshakes completed, by listener",
      PT_METRIC_COUNTER, NULL, 0, NULL, pt_conn_metric_l, NULL, 0, 0 },
    { "portico_tls_resumptions_total", "TLS handshakes that resumed a session, by listener",
      PT_METRIC_COUNTER, NULL, 0, NULL, pt_conn_metric_l, NULL, 0, 0 },
};

int pt_conn_metrics_conf(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    pt_metric_family_t *fam[pt_countof(pt_conn_metric_defs)];

    for (size_t i = 0; i < pt_countof(fam); i++)
        if ((fam[i] = pt_metric_family_add(cf, conf, &pt_conn_metric_defs[i])) == NULL)
            return PT_ERROR;
    for (size_t k = 0; k < conf->nlisteners; k++) {
        pt_listener_t *l = &conf->listeners[k];
        const char *values[] = { l->name ? l->name : l->address };
        /* Consecutive ids: the offsets of conn_metrics.h. */
        for (size_t i = 0; i < pt_countof(fam); i++) {
            unsigned id = pt_metric_series_add(cf, fam[i], values);
            if (id == 0)
                return PT_ERROR;
            if (i == 0)
                l->metric_id = id;
        }
    }
    return PT_OK;
}
