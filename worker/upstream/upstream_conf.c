/*
 * upstream_conf.c: upstreams { name = { servers = [...]; ... }; }.
 * Host names are resolved here, in the master at load or reload, so a
 * worker never blocks on DNS.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/sock.h"
#include "worker/core/conf.h"
#include "worker/tls/tls.h"
#include "worker/upstream/upstream_dns.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_eject.h"
#include "worker/upstream/upstream_probe.h"
#include "worker/upstream/upstream_retry.h"
#include "worker/core/var.h"
#include "worker/upstream/upstream_balance.h"

#define PT_UCONF_FIELD(f)   offsetof(pt_upstream_t, f)
#define PT_UPSTREAM_ADDRS_MAX   64      /* addresses one server name may resolve to */

static int pt_upstream_conf_set_servers(pt_conf_ctx_t *cf, const config_setting_t *s,
                                        void *field, const pt_directive_t *d);

static int pt_upstream_conf_set_statuses(pt_conf_ctx_t *cf, const config_setting_t *s,
                                         void *field, const pt_directive_t *d);
static void pt_upstream_conf_dump_statuses(FILE *out, const void *field,
                                           const pt_directive_t *d, int indent);

static const pt_conf_bounds_t pt_upstream_keepalive_bounds = { 0, 100000 };
static const pt_conf_bounds_t pt_upstream_requests_bounds = { 1, INT32_MAX };
static const pt_conf_bounds_t pt_upstream_head_bounds = { 1024, 1024 * 1024 };
static const pt_conf_bounds_t pt_upstream_weight_bounds = { 1, 1000 };
static const pt_conf_bounds_t pt_upstream_fails_bounds = { 0, 1000000 };
/* probes, retries, ejection */
static const pt_conf_bounds_t pt_upstream_retries_bounds = { 0, 100 };
static const pt_conf_bounds_t pt_upstream_percent_bounds = { 0, 100 };
static const pt_conf_bounds_t pt_upstream_floor_bounds = { 0, 1000000 };
static const pt_conf_strings_arg_t pt_upstream_retry_on_arg = { NULL, pt_upstream_retry_on_check };
static const pt_conf_bounds_t pt_upstream_conns_bounds = { 0, 1000000 };
static const pt_conf_bounds_t pt_upstream_bound_bounds = { 0, 10000 };

static const pt_directive_t pt_upstream_directives[] = {
    { "servers", PT_CONF_CUSTOM, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(servers), NULL, NULL,
      pt_upstream_conf_set_servers, NULL, "the servers" },
    { "keepalive", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(keepalive), "32",
      &pt_upstream_keepalive_bounds, NULL, NULL, "idle connections kept per worker" },
    { "keepalive_timeout", PT_CONF_DURATION, PT_SCOPE_UPSTREAM,
      PT_UCONF_FIELD(keepalive_timeout), "\"60s\"", NULL, NULL, NULL,
      "how long an idle upstream connection is kept" },
    { "keepalive_requests", PT_CONF_UINT, PT_SCOPE_UPSTREAM,
      PT_UCONF_FIELD(keepalive_requests), "10000", &pt_upstream_requests_bounds, NULL, NULL,
      "requests per upstream connection" },
    { "connect_timeout", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(connect_timeout),
      "\"5s\"", &pt_conf_positive, NULL, NULL, "time to connect (504 beyond)" },
    { "send_timeout", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(send_timeout),
      "\"60s\"", &pt_conf_positive, NULL, NULL, "longest pause writing to the server" },
    { "read_timeout", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(read_timeout),
      "\"60s\"", &pt_conf_positive, NULL, NULL, "longest pause reading from the server (504 beyond)" },
    { "max_response_header_size", PT_CONF_SIZE, PT_SCOPE_UPSTREAM,
      PT_UCONF_FIELD(max_response_header_size), "\"32k\"", &pt_upstream_head_bounds, NULL,
      NULL, "largest response head (502 beyond)" },
    { "retry", PT_CONF_BOOL, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(retry), "true", NULL, NULL,
      NULL, "retry once when a reused connection was closed" },
    { "host", PT_CONF_STRING, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(host), NULL, NULL, NULL, NULL,
      "Host header to send instead of the client's" },
    { "tls", PT_CONF_CUSTOM, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(tls), NULL, NULL,
      pt_tls_conf_upstream, pt_tls_conf_dump, "TLS to the servers: true or { ... }" },
    { "max_fails", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(max_fails), "1",
      &pt_upstream_fails_bounds, NULL, NULL,
      "failures within fail_timeout that mark a server down for all workers (0: never)" },
    { "fail_timeout", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(fail_timeout),
      "\"10s\"", &pt_conf_positive, NULL, NULL,
      "window for counting failures, and how long a server stays down" },
    { "fail_statuses", PT_CONF_CUSTOM, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(fail_statuses), NULL,
      NULL, pt_upstream_conf_set_statuses, pt_upstream_conf_dump_statuses,
      "response statuses counted as failures, e.g. [502, 503, 504]" },
    /* probes, retries, ejection (upstream_probe.h, upstream_retry.h, upstream_eject.h) */
    { "health_check", PT_CONF_CUSTOM, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(health_check), NULL,
      NULL, pt_upstream_probe_conf_set, pt_upstream_probe_conf_dump,
      "active health checks: true or { ... }" },
    { "outlier_ejection", PT_CONF_CUSTOM, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(outlier_ejection),
      NULL, NULL, pt_upstream_eject_conf_set, pt_upstream_eject_conf_dump,
      "eject servers that keep failing: true or { ... }" },
    { "retries", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(retries), "2",
      &pt_upstream_retries_bounds, NULL, NULL, "other servers tried after a failed try" },
    { "retry_on", PT_CONF_STRINGS, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(retry_on),
      "[\"connect\"]", &pt_upstream_retry_on_arg, NULL, NULL,
      "failures that are retried: connect, timeout, reset, 502, 503, 504" },
    { "retry_timeout", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(retry_timeout),
      "\"10s\"", &pt_conf_positive, NULL, NULL, "no retry once a request is this old" },
    { "retry_budget", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(retry_budget), "20",
      &pt_upstream_percent_bounds, NULL, NULL,
      "retries as a percentage of the upstream's recent requests, at most" },
    { "retry_budget_floor", PT_CONF_UINT, PT_SCOPE_UPSTREAM,
      PT_UCONF_FIELD(retry_budget_floor), "3", &pt_upstream_floor_bounds, NULL, NULL,
      "retries per second allowed whatever the percentage" },
    /* balancing (upstream_balance.h) */
    { "balance", PT_CONF_ENUM, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(balance), "\"round_robin\"",
      pt_balance_names, NULL, NULL,
      "how a server is chosen: round_robin, least_conn, random, hash or ewma" },
    { "hash_key", PT_CONF_COMPILED, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(hash_key), NULL,
      &pt_var_compiler, NULL, NULL, "balance \"hash\": the key, e.g. \"$remote_addr\"" },
    { "hash_load_bound", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(hash_load_bound), "0",
      &pt_upstream_bound_bounds, NULL, NULL,
      "balance \"hash\": most in flight per server, in % of its fair share (0: no bound)" },
    { "ewma_decay", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(ewma_decay), "\"10s\"",
      &pt_conf_positive, NULL, NULL, "balance \"ewma\": how fast latency is forgotten" },
    { "max_conns", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(max_conns), "0",
      &pt_upstream_conns_bounds, NULL, NULL,
      "requests in flight per server, all workers (0: no cap); a server may set its own" },
    { "slow_start", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(slow_start), "\"0s\"",
      NULL, NULL, NULL, "a recovered or added server's weight ramps up over this" },
    { "queue", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(queue), "0",
      &pt_upstream_keepalive_bounds, NULL, NULL,
      "requests each worker holds while every server is at max_conns (0: 503 at once)" },
    { "queue_timeout", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_UCONF_FIELD(queue_timeout),
      "\"1s\"", &pt_conf_positive, NULL, NULL, "how long a request waits in the queue" },
    PT_DIRECTIVE_END
};

/* Resolve one "host:port" and append its addresses to u->servers. */
/* A server's own settings beside its address (balancing: -1 is "the
 * upstream's"). */
typedef struct {
    int64_t weight;
    bool backup;
    bool drain;
    int64_t max_conns;
    pt_msec_t slow_start;
} pt_upstream_srv_conf_t;

static int pt_upstream_conf_add(pt_conf_ctx_t *cf, const config_setting_t *s, pt_upstream_t *u,
                                const char *name, const pt_upstream_srv_conf_t *sc, size_t *cap)
{
    pt_sockaddr_t addrs[PT_UPSTREAM_ADDRS_MAX];
    size_t n;
    /* dns: a host name is one entry for now, resolved and expanded into
     * its slots once resolve and max_addresses are known (upstream_dns.h) */
    pt_upstream_dns_t *dns = NULL;
    if (pt_upstream_dns_is_name(name)) {
        if ((dns = pt_upstream_dns_conf_note(cf, s, u, name)) == NULL)
            return PT_ERROR;
        memset(&addrs[0], 0, sizeof(addrs[0]));
        n = 1;
    } else
    /* end dns */
    if (pt_sock_resolve(name, addrs, PT_UPSTREAM_ADDRS_MAX, &n) != PT_OK || n == 0) {
        pt_conf_error(cf, s, "upstream \"%s\": cannot resolve \"%s\": %s", u->name, name,
                      pt_sock_resolve_error());
        return PT_ERROR;
    }
    if (u->nservers + n > *cap) {
        size_t ncap = (*cap ? *cap * 2 : 8) + n;
        pt_server_t *ns = pt_arena_calloc(cf->arena, ncap * sizeof(*ns));
        if (ns == NULL)
            return PT_ERROR;
        if (u->nservers)
            memcpy(ns, u->servers, u->nservers * sizeof(*ns));
        u->servers = ns;
        *cap = ncap;
    }
    for (size_t i = 0; i < n; i++) {
        pt_server_t *srv = &u->servers[u->nservers];
        srv->name = name;
        srv->addr = addrs[i];
        srv->upstream = u;
        srv->index = (unsigned) u->nservers;
        srv->weight = sc->weight;
        srv->backup = sc->backup;
        srv->drain = sc->drain;
        srv->max_conns = sc->max_conns;
        srv->slow_start = sc->slow_start;
        srv->dns = dns;             /* dns */
        u->nservers++;
    }
    return PT_OK;
}

static int pt_upstream_conf_set_servers(pt_conf_ctx_t *cf, const config_setting_t *s,
                                        void *field, const pt_directive_t *d)
{
    pt_upstream_t *u = (pt_upstream_t *) (void *) ((char *) field - PT_UCONF_FIELD(servers));
    int type = config_setting_type(s);
    size_t cap = 0;

    const pt_upstream_srv_conf_t plain = { 1, false, false, -1, -1 };

    if (type == CONFIG_TYPE_STRING)
        return pt_upstream_conf_add(cf, s, u, pt_conf_get_string(cf, s), &plain, &cap);
    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
        pt_conf_error(cf, s, "\"servers\" must be a list of \"host:port\" or "
                      "{ address = \"host:port\"; weight = N; }");
        return PT_ERROR;
    }
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        const char *name = NULL;
        pt_upstream_srv_conf_t sc = plain;

        if (config_setting_type(e) == CONFIG_TYPE_STRING) {
            name = pt_conf_get_string(cf, e);
        } else if (config_setting_type(e) == CONFIG_TYPE_GROUP) {
            for (int k = 0; k < config_setting_length(e); k++) {
                const config_setting_t *m = config_setting_get_elem(e, (unsigned) k);
                if (strcmp(config_setting_name(m), "address") == 0) {
                    name = pt_conf_get_string(cf, m);
                } else if (strcmp(config_setting_name(m), "weight") == 0) {
                    if (pt_conf_get_uint(cf, m, pt_upstream_weight_bounds.min,
                                         pt_upstream_weight_bounds.max, &sc.weight) != PT_OK)
                        return PT_ERROR;
                } else if (strcmp(config_setting_name(m), "backup") == 0
                           || strcmp(config_setting_name(m), "drain") == 0) {
                    if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
                        pt_conf_error(cf, m, "\"%s\" is true or false", config_setting_name(m));
                        return PT_ERROR;
                    }
                    *(config_setting_name(m)[0] == 'b' ? &sc.backup : &sc.drain)
                        = config_setting_get_bool(m) != 0;
                } else if (strcmp(config_setting_name(m), "max_conns") == 0) {
                    if (pt_conf_get_uint(cf, m, pt_upstream_conns_bounds.min,
                                         pt_upstream_conns_bounds.max, &sc.max_conns) != PT_OK)
                        return PT_ERROR;
                } else if (strcmp(config_setting_name(m), "slow_start") == 0) {
                    if (pt_conf_get_duration(cf, m, &sc.slow_start) != PT_OK)
                        return PT_ERROR;
                } else {
                    pt_conf_error(cf, m, "unknown setting \"%s\" in a server",
                                  config_setting_name(m));
                    return PT_ERROR;
                }
            }
            if (name == NULL)
                pt_conf_error(cf, e, "server without \"address\"");
        } else {
            pt_conf_error(cf, e, "a server is \"host:port\" or a group { address = ...; }");
        }
        if (name == NULL || pt_upstream_conf_add(cf, e, u, name, &sc, &cap) != PT_OK)
            return PT_ERROR;
    }
    if (u->nservers == 0) {
        pt_conf_error(cf, s, "upstream \"%s\" has no servers", u->name);
        return PT_ERROR;
    }
    size_t nbackup = 0;
    for (size_t i = 0; i < u->nservers; i++)
        nbackup += u->servers[i].backup;
    if (nbackup == u->nservers) {
        pt_conf_error(cf, s, "upstream \"%s\": every server is a backup", u->name);
        return PT_ERROR;
    }
    return PT_OK;
}

/* fail_statuses = [502, 503, 504]: a bitmap of 600 bits in the arena. */
static int pt_upstream_conf_set_statuses(pt_conf_ctx_t *cf, const config_setting_t *s,
                                         void *field, const pt_directive_t *d)
{
    int type = config_setting_type(s);
    uint8_t *map;

    (void) d;
    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
        pt_conf_error(cf, s, "\"fail_statuses\" must be a list of statuses, e.g. [502, 503]");
        return PT_ERROR;
    }
    if ((map = pt_arena_calloc(cf->arena, 600 / 8)) == NULL)
        return PT_ERROR;
    for (int i = 0; i < config_setting_length(s); i++) {
        int64_t st;
        if (pt_conf_get_uint(cf, config_setting_get_elem(s, (unsigned) i), 100, 599, &st)
            != PT_OK)
            return PT_ERROR;
        map[st / 8] |= (uint8_t) (1u << (st % 8));
    }
    *(const uint8_t **) field = map;
    return PT_OK;
}

static void pt_upstream_conf_dump_statuses(FILE *out, const void *field,
                                           const pt_directive_t *d, int indent)
{
    const uint8_t *map = *(const uint8_t *const *) field;
    bool first = true;

    (void) d;
    (void) indent;
    fputs("[", out);
    for (unsigned st = 100; map && st < 600; st++)
        if (map[st / 8] & (1u << (st % 8))) {
            fprintf(out, "%s%u", first ? " " : ", ", st);
            first = false;
        }
    fputs(first ? "]" : " ]", out);
}

int pt_upstream_conf_parse(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                           pt_upstream_t *u)
{
    pt_conf_target_t t[] = { { pt_upstream_directives, u },
                             { pt_upstream_dns_directives, u } };     /* dns */

    u->name = pt_arena_strndup(cf->arena, config_setting_name(s),
                               strlen(config_setting_name(s)));
    u->line = config_setting_source_line(s);
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "upstream \"%s\" must be a group { servers = [...]; }", u->name);
        return PT_ERROR;
    }
    pt_conf_unset(pt_upstream_directives, PT_SCOPE_UPSTREAM, u);
    pt_conf_unset(pt_upstream_dns_directives, PT_SCOPE_UPSTREAM, u);   /* dns */
    int rc = pt_conf_walk(cf, s, PT_SCOPE_UPSTREAM, t, sizeof(t) / sizeof(t[0]), NULL);
    if (rc == PT_OK && u->servers == NULL) {
        pt_conf_error(cf, s, "upstream \"%s\" needs \"servers\"", u->name);
        rc = PT_ERROR;
    }
    if (pt_conf_defaults(cf, pt_upstream_directives, PT_SCOPE_UPSTREAM, u) != PT_OK)
        rc = PT_ERROR;
    if (pt_conf_defaults(cf, pt_upstream_dns_directives, PT_SCOPE_UPSTREAM, u) != PT_OK)
        rc = PT_ERROR;                                  /* dns */
    if (rc == PT_OK)
        rc = pt_upstream_health_conf_upstream(cf, conf, s, u);
    /* dns: host names resolved, expanded into slots, the zone asked for
     * (after the health zone, whose records it may reset) */
    if (rc == PT_OK)
        rc = pt_upstream_dns_conf_expand(cf, conf, u);
    /* end dns */
    if (rc == PT_OK)
        rc = pt_balance_conf(cf, conf, s, u);
    return rc;
}

void pt_upstream_conf_dump(FILE *out, const pt_upstream_t *u, int indent)
{
    pt_conf_indent(out, indent);
    fprintf(out, "%s = {\n", u->name);
    pt_conf_indent(out, indent + 1);
    fputs("servers = (", out);
    for (size_t i = 0; i < u->nservers; i++) {
        char addr[80];
        /* dns: a host name once, with what it resolves to */
        if (u->servers[i].dns) {
            if (u->servers[i].dns_slot == 0) {
                fputs(i ? ", " : " ", out);
                pt_upstream_dns_conf_dump_server(out, &u->servers[i]);
            }
            continue;
        }
        /* end dns */
        pt_sock_ntop((const struct sockaddr *) &u->servers[i].addr.ss, addr, sizeof(addr));
        const pt_server_t *srv = &u->servers[i];
        fprintf(out, "%s{ address = \"%s\"; weight = %" PRId64 ";%s", i ? ", " : " ", addr,
                srv->weight, srv->backup ? " backup = true;" : "");
        /* balancing: a server's own values, where they differ from the upstream's */
        if (srv->max_conns != u->max_conns)
            fprintf(out, " max_conns = %" PRId64 ";", srv->max_conns);
        if (srv->slow_start != u->slow_start)
            fprintf(out, " slow_start = \"%" PRId64 "ms\";", (int64_t) srv->slow_start);
        fprintf(out, "%s }", srv->drain ? " drain = true;" : "");
    }
    fputs(" );\n", out);
    pt_conf_dump(out, pt_upstream_directives, PT_SCOPE_UPSTREAM, u, indent + 1);
    pt_conf_dump(out, pt_upstream_dns_directives, PT_SCOPE_UPSTREAM, u, indent + 1); /* dns */
    pt_conf_indent(out, indent);
    fputs("};\n", out);
}
