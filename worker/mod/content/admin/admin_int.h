/*
 * admin_int.h: what the admin module's files share (mod_admin.c answers
 * and checks access; admin_read.c builds the read answers; admin_stats.c
 * is the one place that reads metrics).
 */
#ifndef PT_ADMIN_INT_H
#define PT_ADMIN_INT_H

#include "common/pt.h"
#include "common/cidr.h"
#include "worker/core/core.h"
#include "worker/mod/content/admin/admin_body.h"

#include <jansson.h>

/* Most buckets of a route's latency histogram the API shows. */
#define PT_ADMIN_BUCKETS_MAX    64
/* Longest bearer token. */
#define PT_ADMIN_TOKEN_MAX      1024

typedef struct {
    int enabled;                /* admin = true (PT_SCOPE_HANDLER) */
    pt_cidr_list_t *allow;      /* admin_allow; NULL: loopback only */
    const char *token_file;     /* admin_token_file */
    const char *token_env;      /* admin_token_env */
    const char *token_label;    /* admin_token_label, for the logs */
    int client_cert;            /* admin_client_cert */
    /* compiled by init_route */
    const char *token;          /* NULL: no token asked */
    size_t token_len;
} pt_admin_conf_t;

/* GET api/config, api/upstreams, api/stats: new JSON objects. */
json_t *pt_admin_read_config(const pt_conf_t *conf);
json_t *pt_admin_read_upstreams(const pt_conf_t *conf);
json_t *pt_admin_read_stats(const pt_conf_t *conf);

/* The request counters of each route (admin_stats.c), out[i] for
 * conf->routes[i]: false when the metrics of this build do not count by
 * route. One call for all routes, so a reader walks the metrics once. */
typedef struct {
    uint64_t requests;
    uint64_t errors;            /* 5xx answers */
    const uint64_t *bounds;     /* latency histogram, in microseconds; NULL: none */
    unsigned nbounds;
    uint64_t buckets[PT_ADMIN_BUCKETS_MAX];     /* nbounds + 1 counts, not cumulative */
    uint64_t sum_us;
} pt_admin_route_stats_t;

bool pt_admin_stats_routes(const pt_conf_t *conf, pt_admin_route_stats_t *out);

/* The workers of this generation (admin_workers.c). */
json_t *pt_admin_read_workers(const pt_conf_t *conf);

#endif
