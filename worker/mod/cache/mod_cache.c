/*
 * mod_cache.c: the response cache (RFC 9111) of a route: cache_zone names
 * the shared-memory zone it stores in. The pre-content phase looks the
 * request up (serving hits, waiting for a concurrent fill, revalidating
 * stale responses through cache_revalidate.c); the header and body
 * filters store what the content handler (the proxy) answers on a miss,
 * invalidate after unsafe methods (§4.4) and add Cache-Status (RFC 9211)
 * to every response of the route. Hits go out through pt_response_send,
 * so the route's other filters (compression) apply to them as well.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/conf.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/str.h"
#include "common/units.h"
#include "worker/core/conf.h"
#include "worker/core/filter.h"
#include "worker/core/module.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "worker/http/response.h"
#include "worker/mod/cache/cache_module.h"
#include "worker/mod/content/admin/admin_hooks.h"
#include "worker/mod/cache/cache_serve.h"

/* How often a collapsed request looks whether the fill is done. */
#define PT_CACHE_POLL_MS        10

static int pt_cache_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf);
static void pt_cache_exit_worker(const pt_conf_t *conf);
static int pt_cache_pre_content(pt_request_t *r);
static int pt_cache_init_zone(pt_zone_t *zone, pt_zone_t *old, void *data);
static int pt_cache_header_filter(pt_request_t *r, pt_response_t *resp);
static int pt_cache_body_filter(pt_body_chain_t *bc, pt_span_t *in);

static unsigned pt_cache_metric_hits, pt_cache_metric_misses, pt_cache_metric_stores;

/* metrics: responses by cache name and result (named at run time, capped) */
static unsigned pt_cache_metric_results;
static const char *const pt_cache_metric_result_names[] = { "hit", "stale", "revalidated",
                                                            "miss", "bypass", NULL };
static const char *const pt_cache_metric_labels[] = { "cache", "result", NULL };
static const char *const *const pt_cache_metric_enums[] = { NULL, pt_cache_metric_result_names,
                                                            NULL };

/* The result Cache-Status tells, as an index of pt_cache_metric_result_names. */
static void pt_cache_count_result(const pt_cache_ctx_t *ctx, const pt_cache_conf_t *cc)
{
    unsigned k;

    if (!pt_metrics_live)
        return;
    /* fwd=bypass, method or request (RFC 9211): the request, not the
     * store, sent it on */
    if (ctx == NULL || (ctx->fwd && (strcmp(ctx->fwd, "bypass") == 0
                                     || strcmp(ctx->fwd, "method") == 0
                                     || strcmp(ctx->fwd, "request") == 0)))
        k = 4;
    else if (ctx->mode == PT_CACHE_MODE_SUBRESP)
        k = 2;
    else if (ctx->fwd == NULL)
        k = ctx->detail && strncmp(ctx->detail, "stale", 5) == 0 ? 1
            : ctx->detail && strcmp(ctx->detail, "max-stale") == 0 ? 1 : 0;
    else
        k = 3;
    unsigned id = pt_metric_find_id(pt_cache_metric_results, &cc->name_str);
    pt_metric_add(id ? id + k : 0, 1);
}
/* end metrics */

static const pt_metric_def_t pt_cache_metrics[] = {
    { "portico_cache_responses_total", "responses of cached routes by cache and result",
      PT_METRIC_COUNTER, NULL, 0, &pt_cache_metric_results, pt_cache_metric_labels,
      pt_cache_metric_enums, 64, 0 },
    { "portico_cache_hits_total", "responses served from a cache zone", PT_METRIC_COUNTER,
      NULL, 0, &pt_cache_metric_hits, NULL, NULL, 0, 0 },
    { "portico_cache_misses_total", "cacheable requests forwarded upstream", PT_METRIC_COUNTER,
      NULL, 0, &pt_cache_metric_misses, NULL, NULL, 0, 0 },
    { "portico_cache_stores_total", "responses stored in a cache zone", PT_METRIC_COUNTER,
      NULL, 0, &pt_cache_metric_stores, NULL, NULL, 0, 0 },
    PT_METRIC_END
};

static const pt_conf_bounds_t pt_cache_object_bounds = { 1, INT64_C(1) << 30 };
static const pt_conf_bounds_t pt_cache_zone_bounds = { 64 * 1024, INT64_C(64) << 30 };

#define PT_CACHE_FIELD(f)   offsetof(pt_cache_conf_t, f)

static const pt_directive_t pt_cache_directives[] = {
    { "cache_zone", PT_CONF_ZONE, PT_SCOPE_ROUTE, PT_CACHE_FIELD(zone), NULL,
      &pt_cache_zone_bounds, NULL, NULL, "the shared-memory zone the route caches in" },
    { "cache_name", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_CACHE_FIELD(name), "\"portico\"", NULL,
      NULL, NULL, "the cache's name in Cache-Status" },
    { "cache_max_object", PT_CONF_SIZE, PT_SCOPE_ROUTE, PT_CACHE_FIELD(max_object), "\"1m\"",
      &pt_cache_object_bounds, NULL, NULL, "the largest body stored" },
    { "cache_key", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_CACHE_FIELD(key),
      "[\"scheme\", \"host\", \"path\", \"query\"]", NULL, NULL, NULL,
      "what the key is made of" },
    { "cache_valid", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_CACHE_FIELD(valid), "[]", NULL, NULL,
      NULL, "freshness per status when the response gives none" },
    { "cache_valid_override", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_CACHE_FIELD(valid_override),
      "false", NULL, NULL, NULL, "cache_valid replaces the upstream's freshness too" },
    { "cache_heuristic", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_CACHE_FIELD(heuristic), "false",
      NULL, NULL, NULL, "heuristic freshness from Last-Modified" },
    { "cache_heuristic_max", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_CACHE_FIELD(heuristic_max),
      "\"1d\"", &pt_conf_positive, NULL, NULL, "the longest heuristic freshness" },
    { "cache_set_cookie", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_CACHE_FIELD(set_cookie), "false",
      NULL, NULL, NULL, "store responses with Set-Cookie (without the field)" },
    { "cache_stale_if_error", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_CACHE_FIELD(stale_if_error),
      "\"0s\"", NULL, NULL, NULL, "stale-if-error for responses that give none" },
    { "cache_lock", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_CACHE_FIELD(lock), "true", NULL, NULL,
      NULL, "collapse concurrent misses into one upstream request" },
    { "cache_lock_timeout", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_CACHE_FIELD(lock_timeout),
      "\"5s\"", &pt_conf_positive, NULL, NULL, "how long a collapsed request waits" },
    { "cache_purge", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_CACHE_FIELD(purge), "false", NULL, NULL,
      NULL, "accept the PURGE method" },
    { "cache_purge_allow", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_CACHE_FIELD(purge_allow),
      "[\"127.0.0.1\", \"::1\"]", NULL, NULL, NULL, "client addresses that may purge" },
    { "cache_purge_path", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_CACHE_FIELD(purge_path), NULL,
      NULL, NULL, NULL, "a path prefix whose requests purge what follows it" },
    { "cache_status_key", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_CACHE_FIELD(status_key), "false",
      NULL, NULL, NULL, "add the key to Cache-Status" },
    PT_DIRECTIVE_END
};

/* ---- the admin API (worker/mod/content/admin/admin_hooks.h) ---------------- */

static const pt_conf_t *pt_cache_admin_conf;   /* this worker's, for the action */

/* "cache": the counters the status page turns into a hit ratio. */
static json_t *pt_cache_admin_read(void *data)
{
    uint64_t hits = 0, misses = 0, stores = 0;

    pt_metrics_read(pt_cache_metric_hits, &hits, 1);
    pt_metrics_read(pt_cache_metric_misses, &misses, 1);
    pt_metrics_read(pt_cache_metric_stores, &stores, 1);
    return json_pack("{s:I,s:I,s:I}", "hits", (json_int_t) hits, "misses", (json_int_t) misses,
                     "stores", (json_int_t) stores);
}

/* "cache.purge" { "prefix": "..." }: every stored response whose key (as
 * cache_status_key shows it) starts with prefix, in every cache zone of
 * the running configuration; "" purges all. */
static unsigned pt_cache_admin_purge(const json_t *body, json_t **answer, const char **why,
                                     void *data)
{
    const json_t *p = json_object_get(body, "prefix");
    pt_zone_t *seen[64];
    size_t nseen = 0;
    unsigned n = 0;

    if (!json_is_string(p)) {
        *why = "cache.purge takes { \"prefix\": \"...\" } (\"\" for everything)";
        return 400;
    }
    pt_str_t prefix = { json_string_value(p), json_string_length(p) };
    for (size_t i = 0; pt_cache_admin_conf && i < pt_cache_admin_conf->nroutes; i++) {
        const pt_cache_conf_t *cc = pt_route_mod_conf(&pt_cache_admin_conf->routes[i],
                                                      pt_cache_module);
        pt_zone_t *z = cc && cc->zone ? pt_zone_conf_zone(cc->zone) : NULL;
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = seen[k] == z;
        if (z == NULL || dup || nseen == pt_countof(seen))
            continue;
        seen[nseen++] = z;
        n += pt_cache_purge_prefix(z, prefix);
    }
    *answer = json_pack("{s:I,s:I}", "purged", (json_int_t) n, "zones", (json_int_t) nseen);
    pt_log(PT_LOG_NOTICE, "cache: %u responses purged through the admin API (prefix \"%.*s\")",
           n, (int) pt_min(prefix.len, (size_t) 200), prefix.p);
    return 200;
}

static int pt_cache_init_worker(const pt_conf_t *conf)
{
    bool used = false;

    pt_cache_admin_conf = conf;
    for (size_t i = 0; i < conf->nroutes && !used; i++) {
        const pt_cache_conf_t *cc = pt_route_mod_conf(&conf->routes[i], pt_cache_module);
        used = cc && cc->zone;
    }
    if (!used)
        return PT_OK;           /* nothing to show or purge */
    if (pt_admin_zone_reader_add("cache", pt_cache_admin_read, NULL) != PT_OK
        || pt_admin_action_add("cache.purge", pt_cache_admin_purge, NULL) != PT_OK)
        return PT_ERROR;
    return PT_OK;
}

pt_module_t pt_cache_module = {
    .name = "cache",
    .directives = pt_cache_directives,
    .route_conf_size = sizeof(pt_cache_conf_t),
    .init_route = pt_cache_init_route,
    .init_worker = pt_cache_init_worker,
    .exit_worker = pt_cache_exit_worker,
    .phase = {
        [PT_PHASE_PRE_CONTENT] = pt_cache_pre_content,
    },
    .metrics = pt_cache_metrics,
    .zone_magic = PT_CACHE_ZONE_MAGIC,
    .init_zone = pt_cache_init_zone,
};

/* ---- load time ---------------------------------------------------------- */

static int pt_cache_init_zone(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    return pt_cache_store_init(zone, old);
}

/* "200 301 10m", "any 1m": statuses, then the time they are fresh for. */
static int pt_cache_parse_valid(pt_conf_ctx_t *cf, pt_route_t *route, pt_cache_conf_t *cc)
{
    size_t n = 0, k = 0;

    for (size_t i = 0; cc->valid && cc->valid[i]; i++)
        for (const char *p = cc->valid[i]; *p; p++)
            n += *p == ' ';
    n += 1;
    pt_cache_valid_t *v = pt_arena_calloc(cf->arena, n * sizeof(*v) + 1);
    if (v == NULL)
        return PT_ERROR;
    for (size_t i = 0; cc->valid && cc->valid[i]; i++) {
        char *copy = pt_arena_strndup(cf->arena, cc->valid[i], strlen(cc->valid[i]));
        char *last = strrchr(copy, ' ');
        pt_msec_t ttl;
        if (last == NULL || pt_parse_duration(last + 1, &ttl) != PT_OK || ttl < 0) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): cache_valid \"%s\": give statuses "
                          "then a duration, as \"200 301 10m\"", route->name, route->line,
                          cc->valid[i]);
            return PT_ERROR;
        }
        *last = '\0';
        for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            uint64_t s = 0;
            if (strcmp(t, "any") != 0
                && (pt_str_parse_uint(t, strlen(t), &s) != PT_OK || s < 200 || s > 599)) {
                pt_conf_error(cf, NULL, "route \"%s\" (line %u): cache_valid \"%s\": \"%s\" is "
                              "not a status from 200 to 599 nor \"any\"", route->name,
                              route->line, cc->valid[i], t);
                return PT_ERROR;
            }
            v[k++] = (pt_cache_valid_t) { (unsigned) s, ttl / 1000 };
        }
    }
    cc->policy.valid = v;
    cc->policy.nvalid = k;
    return PT_OK;
}

static int pt_cache_parse_key(pt_conf_ctx_t *cf, pt_route_t *route, pt_cache_conf_t *cc)
{
    size_t n = 0;

    for (; cc->key && cc->key[n]; n++)
        ;
    cc->key_headers = pt_arena_calloc(cf->arena, (n + 1) * sizeof(pt_str_t));
    if (cc->key_headers == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        const char *k = cc->key[i];
        if (strcmp(k, "scheme") == 0)
            cc->key_parts |= PT_CACHE_K_SCHEME;
        else if (strcmp(k, "host") == 0)
            cc->key_parts |= PT_CACHE_K_HOST;
        else if (strcmp(k, "path") == 0)
            cc->key_parts |= PT_CACHE_K_PATH;
        else if (strcmp(k, "query") == 0)
            cc->key_parts |= PT_CACHE_K_QUERY;
        else if (strcmp(k, "consumer") == 0)
            cc->key_parts |= PT_CACHE_K_CONSUMER;
        else if (strncmp(k, "header:", 7) == 0 && k[7])
            cc->key_headers[cc->nkey_headers++] = (pt_str_t) { k + 7, strlen(k + 7) };
        else {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): cache_key \"%s\": use scheme, host, "
                          "path, query, consumer or header:NAME", route->name, route->line, k);
            return PT_ERROR;
        }
    }
    if (!(cc->key_parts & PT_CACHE_K_PATH)) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): cache_key must include \"path\"",
                      route->name, route->line);
        return PT_ERROR;
    }
    return PT_OK;
}

static int pt_cache_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    pt_cache_conf_t *cc = rconf;

    if (cc->zone == NULL) {
        pt_module_phase_skip(route, &pt_cache_module);
        return PT_OK;
    }
    cc->name_str = (pt_str_t) { cc->name, strlen(cc->name) };
    for (const char *p = cc->name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              || strchr("_-.:/*", *p))) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): cache_name \"%s\" must be a "
                          "structured-field token (letters, digits, _-.:/*)", route->name,
                          route->line, cc->name);
            return PT_ERROR;
        }
    }
    if (!((cc->name[0] >= 'a' && cc->name[0] <= 'z') || (cc->name[0] >= 'A' && cc->name[0] <= 'Z')
          || cc->name[0] == '*')) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): cache_name must start with a letter",
                      route->name, route->line);
        return PT_ERROR;
    }
    if (pt_cache_parse_key(cf, route, cc) != PT_OK || pt_cache_parse_valid(cf, route, cc) != PT_OK)
        return PT_ERROR;
    size_t n = 0;
    for (; cc->purge_allow && cc->purge_allow[n]; n++)
        ;
    if ((cc->allow = pt_arena_calloc(cf->arena, (n + 1) * sizeof(*cc->allow))) == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        if (pt_cache_parse_net(cc->purge_allow[i], &cc->allow[i]) != PT_OK) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): cache_purge_allow \"%s\" is not an "
                          "address or address/prefix", route->name, route->line,
                          cc->purge_allow[i]);
            return PT_ERROR;
        }
    }
    cc->nallow = n;
    cc->policy.heuristic = cc->heuristic == 1;
    cc->policy.heuristic_max = cc->heuristic_max / 1000;
    cc->policy.set_cookie = cc->set_cookie == 1;
    cc->policy.valid_override = cc->valid_override == 1;
    if (cc->purge_path) {
        if (cc->purge_path[0] != '/' || cc->purge_path[strlen(cc->purge_path) - 1] != '/') {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): cache_purge_path \"%s\" must start "
                          "and end with \"/\"", route->name, route->line, cc->purge_path);
            return PT_ERROR;
        }
        cc->purge_path_str = (pt_str_t) { cc->purge_path, strlen(cc->purge_path) };
    }
    cc->policy.max_object = cc->max_object;
    if (pt_filter_add_header(cf, route, &pt_cache_module, pt_cache_header_filter) != PT_OK
        || pt_filter_add_body(cf, route, &pt_cache_module, pt_cache_body_filter) != PT_OK)
        return PT_ERROR;
    return PT_OK;
}

static void pt_cache_exit_worker(const pt_conf_t *conf)
{
    pt_cache_refresh_stop();
}

/* ---- storing --------------------------------------------------------------- */

pt_cache_obj_t *pt_cache_obj_build(pt_arena_t *arena, const pt_cache_obj_t *hdr,
                                   const pt_str_t parts[PT_CACHE_NPARTS])
{
    size_t size = sizeof(*hdr);

    for (unsigned i = 0; i < PT_CACHE_NPARTS; i++)
        size += parts[i].len;
    pt_cache_obj_t *o = pt_arena_alloc(arena, size);
    if (o == NULL)
        return NULL;
    *o = *hdr;
    o->size = size;
    char *p = (char *) (o + 1);
    for (unsigned i = 0; i < PT_CACHE_NPARTS; i++) {
        if (i == PT_CACHE_BODY)
            o->body_len = parts[i].len;
        else
            o->len[i] = (uint32_t) parts[i].len;
        if (parts[i].len)
            memcpy(p, parts[i].p, parts[i].len);
        p += parts[i].len;
    }
    return o;
}

bool pt_cache_store_response(pt_zone_t *zone, const pt_cache_key_t *k, pt_cache_obj_t *hdr,
                             pt_str_t parts[PT_CACHE_NPARTS], pt_str_t body)
{
    parts[PT_CACHE_KEY] = k->key;
    parts[PT_CACHE_BODY] = body;
    if (pt_cache_insert(zone, k, hdr, parts, (int64_t) pt_clock_wall_ms()) != PT_OK)
        return false;
    pt_metric_inc(pt_cache_metric_stores, 1);
    return true;
}

/* ---- Cache-Status ---------------------------------------------------------- */

/* Append a literal. */
#define PT_CACHE_PUT(lit)   (n += pt_str_put(out + n, (lit), sizeof(lit) - 1))

static int pt_cache_status_field(pt_request_t *r, pt_response_t *resp, pt_cache_ctx_t *ctx,
                                 const pt_cache_conf_t *cc)
{
    size_t cap = cc->name_str.len + 160 + (ctx && cc->status_key ? ctx->key.key.len * 2 : 0)
                 + (ctx && ctx->detail ? strlen(ctx->detail) : 0);
    const pt_http_field_t *prior = pt_response_find(resp, PT_STR("Cache-Status"));
    if (prior)
        cap += prior->value.len + 2;
    char *out = pt_arena_alloc(r->arena, cap);
    if (out == NULL)
        return PT_ERROR;
    size_t n = 0;
    if (prior) {
        /* RFC 9211 §2: keep the caches nearer the origin, ours last */
        memcpy(out, prior->value.p, prior->value.len);
        n = prior->value.len;
        PT_CACHE_PUT(", ");
    }
    memcpy(out + n, cc->name_str.p, cc->name_str.len);
    n += cc->name_str.len;
    if (ctx == NULL) {
        PT_CACHE_PUT("; fwd=bypass");
    } else if (ctx->fwd == NULL) {
        PT_CACHE_PUT("; hit");
    } else {
        PT_CACHE_PUT("; fwd=");
        n += pt_str_put(out + n, ctx->fwd, strlen(ctx->fwd));
        if (ctx->fwd_status) {
            PT_CACHE_PUT("; fwd-status=");
            n += pt_str_from_u64(out + n, ctx->fwd_status);
        }
        if (ctx->stored)
            PT_CACHE_PUT("; stored");
        if (ctx->collapsed)
            PT_CACHE_PUT("; collapsed");
    }
    if (ctx && ctx->has_ttl) {
        PT_CACHE_PUT("; ttl=");
        if (ctx->ttl < 0)
            out[n++] = '-';
        n += pt_str_from_u64(out + n, (uint64_t) (ctx->ttl < 0 ? -ctx->ttl : ctx->ttl));
    }
    if (ctx && cc->status_key && ctx->key.key.len) {
        PT_CACHE_PUT("; key=\"");
        for (size_t i = 0; i < ctx->key.key.len; i++) {
            unsigned char c = (unsigned char) ctx->key.key.p[i];
            if (c == '"' || c == '\\')
                out[n++] = '\\';
            out[n++] = c < 0x20 || c > 0x7e ? ' ' : (char) c;
        }
        out[n++] = '"';
    }
    if (ctx && ctx->detail) {
        PT_CACHE_PUT("; detail=\"");
        for (const char *p = ctx->detail; *p && n + 2 < cap; p++)
            if (*p != '"' && *p != '\\')
                out[n++] = *p;
        out[n++] = '"';
    }
    pt_str_t v = { out, n };
    return prior ? pt_response_set(r, resp, PT_STR("Cache-Status"), v)
                 : pt_response_add(r, resp, PT_STR("Cache-Status"), v);
}

/* ---- filters ------------------------------------------------------------- */

/* A served copy brings its own Date and Server: the gateway's go. */
static void pt_cache_hide_own(pt_response_t *resp, const pt_cache_ctx_t *ctx)
{
    bool has_date = false, has_server = false;

    for (unsigned i = 0; i < resp->nfields; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        bool own = f->value.p >= ctx->own_lo && f->value.p < ctx->own_hi;
        if (own && !(f->flags & PT_FIELD_HIDDEN)) {
            has_date |= f->id == PT_HDR_DATE;
            has_server |= f->id == PT_HDR_SERVER;
        }
    }
    for (unsigned i = 0; i < resp->nfields; i++) {
        pt_http_field_t *f = &resp->fields[i];
        bool own = f->value.p >= ctx->own_lo && f->value.p < ctx->own_hi;
        if (!own && ((has_date && f->id == PT_HDR_DATE) || (has_server && f->id == PT_HDR_SERVER)))
            f->flags |= PT_FIELD_HIDDEN;
    }
}

static void pt_cache_capture_end(pt_cache_ctx_t *ctx);

static void pt_cache_decide_store(pt_request_t *r, pt_response_t *resp, pt_cache_ctx_t *ctx)
{
    const pt_cache_conf_t *cc = ctx->conf;
    pt_cache_resp_t in = {
        .status = resp->status, .fields = resp->fields, .nfields = resp->nfields,
        .request_ms = ctx->request_ms, .response_ms = (int64_t) pt_clock_wall_ms(),
        .request_authorized = ctx->authorized, .request_no_store = false,
        .req_fields = r->head.fields, .req_nfields = r->head.nfields,
    };
    const char *why = pt_cache_storable(&cc->policy, &in, r->arena, &ctx->hdr, ctx->parts);

    if (why == NULL && resp->content_length > cc->policy.max_object)
        why = "larger than cache_max_object";
    if (why) {
        ctx->detail = why;
        if (ctx->filler) {
            pt_cache_fill_end(ctx->zone, &ctx->key, (int64_t) pt_clock_wall_ms(),
                              cc->lock_timeout);
            ctx->filler = false;
        }
        return;
    }
    ctx->capturing = true;
    ctx->stored = true;
    ctx->expect = resp->content_length;
    ctx->len = 0;
    ctx->has_ttl = true;
    ctx->ttl = ctx->hdr.fresh.lifetime - ctx->hdr.fresh.corrected_initial_age;
    if (resp->content_length == 0 || resp->status == 204)
        pt_cache_capture_end(ctx);      /* no body will pass the body filter */
}

static int pt_cache_header_filter(pt_request_t *r, pt_response_t *resp)
{
    const pt_cache_conf_t *cc = pt_route_mod_conf(r->route, pt_cache_module);
    pt_cache_ctx_t *ctx = r->ctx[pt_cache_module.index];

    if (ctx) {
        switch (ctx->mode) {
        case PT_CACHE_MODE_HIT:
        case PT_CACHE_MODE_SUBRESP:
            pt_cache_hide_own(resp, ctx);
            break;
        default:
            ctx->capturing = false;
            ctx->stored = false;
            ctx->fwd_status = resp->status;
            if (ctx->invalidate && resp->status >= 200 && resp->status < 400) {
                const pt_http_field_t *f;
                pt_cache_invalidate_uri(r, ctx, r->head.target);
                if ((f = pt_response_find(resp, PT_STR("Location"))))
                    pt_cache_invalidate_uri(r, ctx, f->value);
                if ((f = pt_response_find(resp, PT_STR("Content-Location"))))
                    pt_cache_invalidate_uri(r, ctx, f->value);
            }
            if (ctx->may_store)
                pt_cache_decide_store(r, resp, ctx);
            else if (ctx->req_cc.flags & PT_CC_NO_STORE)
                ctx->detail = "request no-store";
            break;
        }
    }
    pt_cache_count_result(ctx, cc);
    return pt_cache_status_field(r, resp, ctx, cc) == PT_OK ? PT_OK : 500;
}

static void pt_cache_capture_end(pt_cache_ctx_t *ctx)
{
    ctx->capturing = false;
    if (ctx->expect >= 0 && (int64_t) ctx->len != ctx->expect)
        return;                 /* incomplete: never stored as complete */
    if (pt_cache_store_response(ctx->zone, &ctx->key, &ctx->hdr, ctx->parts,
                                (pt_str_t) { ctx->buf, ctx->len }))
        ctx->filler = false;    /* the insert replaced the marker */
}

static int pt_cache_body_filter(pt_body_chain_t *bc, pt_span_t *in)
{
    pt_request_t *r = bc->r;
    pt_cache_ctx_t *ctx = r->ctx[pt_cache_module.index];

    if (ctx && ctx->capturing) {
        for (pt_span_t *s = in; s && ctx->capturing; s = s->next) {
            size_t need = ctx->len + s->data.len;
            if ((int64_t) need > ctx->conf->policy.max_object) {
                ctx->capturing = false;
                ctx->detail = "larger than cache_max_object";
                break;
            }
            if (need > ctx->cap) {
                size_t cap = ctx->cap ? ctx->cap * 2 : (ctx->expect > 0 ? (size_t) ctx->expect
                                                                        : 16384);
                while (cap < need)
                    cap *= 2;
                if ((int64_t) cap > ctx->conf->policy.max_object)
                    cap = (size_t) ctx->conf->policy.max_object;
                char *nb = pt_arena_alloc(r->arena, cap);
                if (nb == NULL) {
                    ctx->capturing = false;
                    break;
                }
                if (ctx->len)
                    memcpy(nb, ctx->buf, ctx->len);
                ctx->buf = nb;
                ctx->cap = cap;
            }
            if (s->data.len)
                memcpy(ctx->buf + ctx->len, s->data.p, s->data.len);
            ctx->len = need;
            if (s->flags & PT_SPAN_LAST)
                pt_cache_capture_end(ctx);
        }
    }
    return pt_filter_body_next(bc, in);
}

/* ---- the request's end ------------------------------------------------- */

static void pt_cache_cleanup(void *data)
{
    pt_cache_ctx_t *ctx = data;

    pt_timer_del(&ctx->timer);
    if (ctx->pinned) {
        pt_cache_release(ctx->zone, ctx->pinned);
        ctx->pinned = NULL;
    }
    if (ctx->filler) {
        pt_cache_fill_end(ctx->zone, &ctx->key, (int64_t) pt_clock_wall_ms(), 0);
        ctx->filler = false;
    }
}

static void pt_cache_wake(pt_timer_t *t)
{
    pt_request_resume(t->data);
}

/* ---- pre-content ----------------------------------------------------------- */

static int pt_cache_start(pt_request_t *r, const pt_cache_conf_t *cc, pt_cache_ctx_t **out)
{
    pt_cache_ctx_t *ctx = pt_arena_calloc(r->arena, sizeof(*ctx));

    if (ctx == NULL)
        return 500;
    r->ctx[pt_cache_module.index] = ctx;
    ctx->conf = cc;
    ctx->zone = pt_zone_conf_zone(cc->zone);
    ctx->request_ms = (int64_t) pt_clock_wall_ms();
    ctx->expect = -1;
    pt_timer_prepare(&ctx->timer, pt_cache_wake, r);
    if (pt_arena_cleanup_add(r->arena, pt_cache_cleanup, ctx) != PT_OK)
        return 500;
    pt_cache_req_scan(r, &ctx->rq, &ctx->req_cc);
    /* RFC 9111 §5.4: Pragma: no-cache only counts without Cache-Control */
    if ((ctx->rq.flags & (PT_CACHE_RQ_CC | PT_CACHE_RQ_NOCACHE)) == PT_CACHE_RQ_NOCACHE)
        ctx->req_cc.flags |= PT_CC_NO_CACHE;
    ctx->authorized = (ctx->rq.flags & PT_CACHE_RQ_AUTH) != 0;
    if (pt_cache_make_key(r, cc, &ctx->key) != PT_OK)
        return 500;
    *out = ctx;
    return PT_OK;
}

/* Serve the copy ctx->obj found (or refreshed). */
static int pt_cache_serve_obj(pt_request_t *r, pt_cache_ctx_t *ctx)
{
    ctx->mode = PT_CACHE_MODE_HIT;
    ctx->own_lo = (const char *) ctx->obj;
    ctx->own_hi = (const char *) ctx->obj + ctx->obj->size;
    ctx->has_ttl = true;
    ctx->ttl = ctx->obj->fresh.lifetime - ctx->age;
    if (ctx->fwd == NULL)
        pt_metric_inc(pt_cache_metric_hits, 1);
    if (ctx->collapsed && ctx->detail == NULL)
        ctx->detail = "collapsed";
    pt_cache_serve(r, ctx->obj, ctx->age, ctx->hide, &ctx->rq);
    return PT_DONE;
}

static int pt_cache_resumed(pt_request_t *r, pt_cache_ctx_t *ctx)
{
    enum pt_cache_next next = ctx->next;

    ctx->next = PT_CACHE_NEXT_NONE;
    switch (next) {
    case PT_CACHE_NEXT_SERVE_OBJ:
        return pt_cache_serve_obj(r, ctx);
    case PT_CACHE_NEXT_SERVE_SR:
        ctx->mode = PT_CACHE_MODE_SUBRESP;
        pt_response_send(r, ctx->sr_status, NULL, ctx->sr_fields, ctx->sr_nfields,
                         ctx->sr_body.p, ctx->sr_body.len);
        return PT_DONE;
    default:
        ctx->mode = PT_CACHE_MODE_FETCH;
        pt_http_error(r, ctx->err_status, ctx->err_detail);
        return PT_DONE;
    }
}

static int pt_cache_pre_content(pt_request_t *r)
{
    const pt_cache_conf_t *cc = pt_route_mod_conf(r->route, pt_cache_module);
    pt_cache_ctx_t *ctx = r->ctx[pt_cache_module.index];
    unsigned method = r->head.method_id;

    if (ctx && ctx->mode == PT_CACHE_MODE_WAIT && ctx->next != PT_CACHE_NEXT_NONE)
        return pt_cache_resumed(r, ctx);
    if (ctx == NULL) {
        int rc = pt_cache_start(r, cc, &ctx);
        if (rc != PT_OK)
            return rc;
        if (ctx->zone == NULL) {
            ctx->fwd = "bypass";
            return PT_DECLINED;
        }
        pt_str_t pp = cc->purge_path_str;
        if (pp.len && r->head.path.len >= pp.len && memcmp(r->head.path.p, pp.p, pp.len) == 0
            && (method == PT_METHOD_POST || method == PT_METHOD_DELETE
                || (r->head.method.len == 5 && memcmp(r->head.method.p, "PURGE", 5) == 0))) {
            /* POST /_purge/api/items purges /api/items (the slash stays) */
            pt_str_t rest = { r->head.path.p + pp.len - 1, r->head.path.len - pp.len + 1 };
            return pt_cache_purge(r, ctx, rest, r->head.query);
        }
        if (method != PT_METHOD_GET && method != PT_METHOD_HEAD) {
            if (cc->purge == 1 && r->head.method.len == 5
                && memcmp(r->head.method.p, "PURGE", 5) == 0)
                return pt_cache_purge(r, ctx, r->head.path, r->head.query);
            ctx->fwd = "request";
            ctx->invalidate = method != PT_METHOD_OPTIONS && method != PT_METHOD_TRACE;
            return PT_DECLINED;
        }
        ctx->may_store = method == PT_METHOD_GET && !(ctx->req_cc.flags & PT_CC_NO_STORE);
    }

    bool plain = ctx->may_store && !ctx->authorized && ctx->rq.range == NULL
                 && !(ctx->rq.flags & PT_CACHE_RQ_VALIDATOR);
    int64_t now_ms = (int64_t) pt_clock_wall_ms();
    int64_t fill_ms = cc->lock == 1 && plain ? cc->lock_timeout : 0;
    pt_cache_obj_t *obj;
    enum pt_cache_found found = pt_cache_lookup(ctx->zone, &ctx->key, pt_cache_vary_matches, r,
                                                now_ms, fill_ms, &obj);
    ctx->mode = PT_CACHE_MODE_FETCH;
    switch (found) {
    case PT_CACHE_FOUND_HIT: {
        if (ctx->pinned)
            pt_cache_release(ctx->zone, ctx->pinned);
        ctx->obj = ctx->pinned = obj;
        enum pt_cache_use use = pt_cache_usable(&obj->fresh, &ctx->req_cc, now_ms / 1000,
                                                &ctx->age);
        pt_str_t nc = pt_cache_obj_part(obj, PT_CACHE_NOCACHE_FIELDS);
        if (use != PT_CACHE_USE_VALIDATE) {
            ctx->hide = nc;
            if (use == PT_CACHE_USE_SWR) {
                ctx->detail = "stale-while-revalidate";
                pt_cache_refresh_background(r, ctx);
            } else if (use == PT_CACHE_USE_STALE) {
                ctx->detail = "max-stale";
            }
            return pt_cache_serve_obj(r, ctx);
        }
        if (ctx->req_cc.flags & PT_CC_ONLY_IF_CACHED) {
            ctx->fwd = "request";
            pt_http_error(r, 504, "only-if-cached: the stored response is stale");
            return PT_DONE;
        }
        /* fresh by its own lights: the request's directives send it on */
        ctx->fwd = obj->fresh.lifetime > ctx->age && !obj->fresh.no_cache ? "request" : "stale";
        int rc = pt_cache_revalidate(r, ctx);
        if (rc == PT_AGAIN)
            ctx->mode = PT_CACHE_MODE_WAIT;
        if (rc != PT_DECLINED)
            return rc;
        pt_metric_inc(pt_cache_metric_misses, 1);
        return PT_DECLINED;
    }
    case PT_CACHE_FOUND_FILLING:
        if (ctx->wait_until == 0)
            ctx->wait_until = pt_clock_now + cc->lock_timeout;
        if (pt_clock_now < ctx->wait_until) {
            ctx->collapsed = true;
            ctx->mode = PT_CACHE_MODE_WAIT;
            pt_timer_set(&ctx->timer, PT_CACHE_POLL_MS);
            return PT_AGAIN;
        }
        ctx->fwd = "miss";
        ctx->detail = "cache_lock_timeout passed";
        break;
    case PT_CACHE_FOUND_FILLER:
    case PT_CACHE_FOUND_VARY_FILLER:
        ctx->filler = true;
        ctx->fwd = found == PT_CACHE_FOUND_FILLER ? "uri-miss" : "vary-miss";
        break;
    case PT_CACHE_FOUND_VARY_MISS:
        ctx->fwd = "vary-miss";
        break;
    default:
        ctx->fwd = "uri-miss";
        break;
    }
    if (ctx->req_cc.flags & PT_CC_ONLY_IF_CACHED) {
        ctx->fwd = "request";
        pt_http_error(r, 504, "only-if-cached: nothing is stored for this request");
        return PT_DONE;
    }
    pt_metric_inc(pt_cache_metric_misses, 1);
    return PT_DECLINED;
}
