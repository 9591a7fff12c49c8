/*
 * mod_skeleton.c: the module to copy when starting a feature. It is built
 * into libportico.a (so it keeps compiling as the interface changes, and
 * test/unit/worker/mod/test_mod_skeleton.c exercises its hooks) but is not
 * listed in worker/modules.c, so no config can name its directives.
 *
 * To start a feature from it:
 *   1. copy it to worker/mod/<family>/mod_<name>.c and rename skeleton to
 *      <name> everywhere (functions pt_<name>_<verb>, types pt_<name>_*_t);
 *   2. keep the hooks the feature needs, delete the rest (a NULL hook costs
 *      nothing: the phase engine has no entry for it);
 *   3. add it to worker/local.mk and one line to worker/modules.c (its
 *      place there is its order within each phase);
 *   4. document every directive row in man/portico.conf.5 (check_docs.sh
 *      fails otherwise) and copy the test skeleton next to its test.
 *
 * What it does when enabled (`skeleton = true;` in a route, were it
 * listed): counts requests per worker and, with skeleton_answer, answers
 * the route itself with a 204. Disabled, every handler declines.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/shm.h"
#include "common/str.h"
#include "worker/core/consumer.h"
#include "worker/core/filter.h"
#include "worker/core/metrics.h"
#include "worker/core/module.h"
#include "worker/core/var.h"
#include "worker/http/request.h"
#include "worker/http/response.h"
#include "worker/net/conn.h"

/* Process-wide settings, from portico { } (PT_SCOPE_MAIN rows). */
typedef struct {
    int64_t table_size;
    pt_conf_zone_t *zone;       /* ZONE: "name:size", UNSET NULL */
} pt_skeleton_main_t;

/* What the module keeps in its shared-memory zone (all workers see it). */
typedef struct {
    uint32_t magic;
    _Atomic uint64_t requests;
} pt_skeleton_shm_t;

#define PT_SKELETON_ZONE_MAGIC  0x534b4c31u     /* "SKL1": the layout above */

/* Per-route settings (PT_SCOPE_ROUTE rows): one struct for defaults { }
 * and one for each route, every field UNSET until set or merged. */
typedef struct {
    int enabled;                /* BOOL: UNSET -1 */
    int answer;
    int64_t limit;              /* UINT */
    pt_msec_t timeout;          /* DURATION */
    int64_t max_size;           /* SIZE */
    const char *group;          /* STRING: UNSET NULL */
    int mode;                   /* ENUM */
    /* compiled by init_route: what the request path reads, never a name */
    pt_str_t group_str;
} pt_skeleton_conf_t;

/* Per-request state, in r->ctx[index] (arena memory, gone with the request). */
typedef struct {
    unsigned seen;
} pt_skeleton_ctx_t;

enum { PT_SKELETON_OFF = 0, PT_SKELETON_LOG, PT_SKELETON_ENFORCE };

/* Per-worker state: set up by init_worker, after fork. */
static uint64_t pt_skeleton_requests;
static bool pt_skeleton_retiring;

static int pt_skeleton_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf);
static int pt_skeleton_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                  void *rconf, const void *dconf);
static int pt_skeleton_init_worker(const pt_conf_t *conf);
static void pt_skeleton_exit_worker(const pt_conf_t *conf);
static void pt_skeleton_flush(void);
static void pt_skeleton_retire(void);
static int pt_skeleton_post_read(pt_request_t *r);
static int pt_skeleton_access(pt_request_t *r);
static int pt_skeleton_post_access(pt_request_t *r);
static int pt_skeleton_limit(pt_request_t *r);
static int pt_skeleton_pre_content(pt_request_t *r);
static int pt_skeleton_content(pt_request_t *r);
static void pt_skeleton_log(pt_request_t *r);
static int pt_skeleton_init_zone(pt_zone_t *zone, pt_zone_t *old, void *data);
static int pt_skeleton_accept(pt_conn_t *c);
static int pt_skeleton_header_filter(pt_request_t *r, pt_response_t *resp);
static pt_str_t pt_skeleton_var_seen(pt_request_t *r, const void *data, char *buf);

static unsigned pt_skeleton_metric_requests;

/* Counters and histograms, summed over the workers' shared-memory slots;
 * pt_metric_inc(id, n) in a worker is one relaxed atomic add.
 *
 * Labeled families (worker/core/metrics.h):
 *  - named at run time, with a cap, declared here: add labels and a cap,
 *      static const char *const by_zone[] = { "zone", NULL };
 *      { "portico_skeleton_hits_total", "hits by zone", PT_METRIC_COUNTER, NULL, 0,
 *        &hits_id, by_zone, NULL, 64, 0 },
 *    and count with pt_metric_add(pt_metric_find_id(hits_id, &zone_name), 1);
 *  - known at load time (one series per limit, per zone): in init_main,
 *      f = pt_metric_family_add(cf, conf, &def);
 *      id = pt_metric_series_add(cf, f, (const char *[]) { name });
 *    keep id in the main or route conf, and count with pt_metric_add(id, 1).
 * pt_metric_add counts nothing when metrics = false. */
static const pt_metric_def_t pt_skeleton_metrics[] = {
    { "portico_skeleton_requests_total", "requests the skeleton saw", PT_METRIC_COUNTER,
      NULL, 0, &pt_skeleton_metric_requests, NULL, NULL, 0, 0 },
    PT_METRIC_END
};

/* Variables for templates ($skeleton_seen): names are resolved when a
 * template is compiled, never per request. */
static const pt_var_def_t pt_skeleton_vars[] = {
    { "skeleton_seen", pt_skeleton_var_seen, NULL, NULL },
    PT_VAR_DEF_END
};

static const pt_conf_bounds_t pt_skeleton_limit_bounds = { 1, 1000 };
static const pt_conf_enum_t pt_skeleton_modes[] = {
    { "off", PT_SKELETON_OFF }, { "log", PT_SKELETON_LOG }, { "enforce", PT_SKELETON_ENFORCE },
    { NULL, 0 }
};

#define PT_SKELETON_FIELD(f)    offsetof(pt_skeleton_conf_t, f)

/* One row per directive: {name, type, scope, offset, default as written
 * in a config (NULL: none), bounds or enum table, custom setter and
 * dumper (PT_CONF_CUSTOM only), a line of help}. common/conf.c parses,
 * bounds-checks and reports file:line; a compound value takes a
 * PT_CONF_CUSTOM row with its own setter (see mod_return.c). */
static const pt_directive_t pt_skeleton_directives[] = {
    { "skeleton_table_size", PT_CONF_SIZE, PT_SCOPE_MAIN,
      offsetof(pt_skeleton_main_t, table_size), "\"64k\"", NULL, NULL, NULL,
      "an example process-wide size" },
    { "skeleton_zone", PT_CONF_ZONE, PT_SCOPE_MAIN, offsetof(pt_skeleton_main_t, zone), NULL,
      NULL, NULL, NULL, "an example shared-memory zone: its init_zone runs in the master" },
    { "skeleton", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_SKELETON_FIELD(enabled), "false", NULL,
      NULL, NULL, "turn the skeleton on for a route" },
    { "skeleton_answer", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_SKELETON_FIELD(answer), "false",
      NULL, NULL, NULL, "answer the route with a 204" },
    { "skeleton_limit", PT_CONF_UINT, PT_SCOPE_ROUTE, PT_SKELETON_FIELD(limit), "10",
      &pt_skeleton_limit_bounds, NULL, NULL, "an example bounded number" },
    { "skeleton_timeout", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_SKELETON_FIELD(timeout),
      "\"5s\"", &pt_conf_positive, NULL, NULL, "an example duration" },
    { "skeleton_max_size", PT_CONF_SIZE, PT_SCOPE_ROUTE, PT_SKELETON_FIELD(max_size),
      "\"1M\"", NULL, NULL, NULL, "an example size" },
    { "skeleton_group", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_SKELETON_FIELD(group), NULL, NULL,
      NULL, NULL, "an example string: a consumer group" },
    { "skeleton_mode", PT_CONF_ENUM, PT_SCOPE_ROUTE, PT_SKELETON_FIELD(mode), "\"off\"",
      pt_skeleton_modes, NULL, NULL, "an example choice" },
    PT_DIRECTIVE_END
};

pt_module_t pt_skeleton_module = {
    .name = "skeleton",
    .directives = pt_skeleton_directives,
    .main_conf_size = sizeof(pt_skeleton_main_t),
    .route_conf_size = sizeof(pt_skeleton_conf_t),
    .init_main = pt_skeleton_init_main,
    .init_route = pt_skeleton_init_route,
    .init_worker = pt_skeleton_init_worker,
    .exit_worker = pt_skeleton_exit_worker,
    .flush = pt_skeleton_flush,
    .retire = pt_skeleton_retire,
    .phase = {
        [PT_PHASE_POST_READ] = pt_skeleton_post_read,
        [PT_PHASE_ACCESS] = pt_skeleton_access,
        [PT_PHASE_POST_ACCESS] = pt_skeleton_post_access,
        [PT_PHASE_LIMIT] = pt_skeleton_limit,
        [PT_PHASE_PRE_CONTENT] = pt_skeleton_pre_content,
    },
    /* The content handler of routes init_route claims. The row that makes
     * a route answer is PT_SCOPE_HANDLER (never in defaults { }); the
     * module's other route rows may be set in defaults { } and are merged
     * into each route before init_route. */
    .content = pt_skeleton_content,
    .log = pt_skeleton_log,
    .metrics = pt_skeleton_metrics,
    .accept = pt_skeleton_accept,
    .vars = pt_skeleton_vars,
    .zone_magic = PT_SKELETON_ZONE_MAGIC,
    .init_zone = pt_skeleton_init_zone,
};

/* Load time, in the master, once per config generation, after every
 * route's init_route: mconf was filled from portico { } with defaults
 * applied. Validate and compile here (shm zones: pt_conf_zone_add);
 * errors go through pt_conf_error and fail the load, not the process. */
static int pt_skeleton_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf)
{
    pt_skeleton_main_t *mc = mconf;

    if (mc->table_size < 4096) {
        pt_conf_error(cf, NULL, "\"skeleton_table_size\" must be at least 4k");
        return PT_ERROR;
    }
    return PT_OK;
}

/* Load time, per route: rconf holds what the route set, merged with
 * defaults { } already (dconf is that struct). Validate, precompute,
 * register the route's filters, say when the module has nothing to do on
 * the route (its phase and log hooks are then not called there), and
 * claim the route only if this module answers it. */
static int pt_skeleton_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                  void *rconf, const void *dconf)
{
    pt_skeleton_conf_t *sc = rconf;

    if (sc->enabled != 1) {
        pt_module_phase_skip(route, &pt_skeleton_module);
    } else if (pt_filter_add_header(cf, route, &pt_skeleton_module,
                                    pt_skeleton_header_filter) != PT_OK) {
        return PT_ERROR;
    }
    if (sc->group)
        sc->group_str = (pt_str_t) { sc->group, strlen(sc->group) };
    if (sc->answer != 1)
        return PT_OK;
    if (sc->enabled != 1) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): skeleton_answer needs skeleton = true",
                      route->name, route->line);
        return PT_ERROR;
    }
    if (route->handler) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give a route one of proxy, return, "
                      "echo and skeleton_answer", route->name, route->line);
        return PT_ERROR;
    }
    route->handler = &pt_skeleton_module;
    return PT_OK;
}

/* In each worker, after fork: per-worker state (timers, buffers, shm
 * pointers). PT_ERROR stops the worker. */
static int pt_skeleton_init_worker(const pt_conf_t *conf)
{
    pt_skeleton_requests = 0;
    pt_skeleton_retiring = false;
    return PT_OK;
}

/* The worker exits (modules are stopped in reverse order): release what
 * init_worker took, write out what is buffered. */
static void pt_skeleton_exit_worker(const pt_conf_t *conf)
{
    pt_skeleton_flush();
}

/* Write out buffered output; called before log files are reopened. */
static void pt_skeleton_flush(void)
{
}

/* The worker starts retiring: drop what only keeps it alive (idle
 * connections, periodic timers) so it can exit once its clients are done. */
static void pt_skeleton_retire(void)
{
    pt_skeleton_retiring = true;
}

/* The route conf, or NULL outside a route (post-read has none yet). */
static const pt_skeleton_conf_t *pt_skeleton_conf(const pt_request_t *r)
{
    return r->route ? pt_route_mod_conf(r->route, pt_skeleton_module) : NULL;
}

/* Post-read: before routing, r->route is NULL; only process settings
 * (r->conf->mod_main) and the head apply. For the real client address
 * and address rules. */
static int pt_skeleton_post_read(pt_request_t *r)
{
    return PT_DECLINED;
}

/* Access: authentication. A module that verifies a credential sets
 * r->consumer (its own memory, see consumer.h) and returns PT_OK so that
 * no other authentication runs; a bad credential is a 401. To wait (an
 * introspection subrequest, say), keep progress in r->ctx, return
 * PT_AGAIN and call pt_request_resume(r) when done: this same handler
 * runs again and must pick up from that state. */
static int pt_skeleton_access(pt_request_t *r)
{
    const pt_skeleton_conf_t *sc = pt_skeleton_conf(r);

    if (sc == NULL || sc->enabled != 1)
        return PT_DECLINED;
    pt_skeleton_ctx_t *ctx = r->ctx[pt_skeleton_module.index];
    if (ctx == NULL) {
        if ((ctx = pt_arena_calloc(r->arena, sizeof(*ctx))) == NULL)
            return 500;
        r->ctx[pt_skeleton_module.index] = ctx;
    }
    ctx->seen++;
    return PT_DECLINED;
}

/* Post-access: decisions on who is asking (ACLs). */
static int pt_skeleton_post_access(pt_request_t *r)
{
    const pt_skeleton_conf_t *sc = pt_skeleton_conf(r);

    if (sc == NULL || sc->enabled != 1 || sc->mode != PT_SKELETON_ENFORCE
        || sc->group_str.len == 0)
        return PT_DECLINED;
    return pt_consumer_in_group(r->consumer, sc->group_str) ? PT_DECLINED : 403;
}

/* Limit: rate and concurrency limits (a status 429 or 503 refuses). */
static int pt_skeleton_limit(pt_request_t *r)
{
    return PT_DECLINED;
}

/* Pre-content: after the Expect and body size checks; a cache answers
 * here with PT_DONE. */
static int pt_skeleton_pre_content(pt_request_t *r)
{
    return PT_DECLINED;
}

/* Content: runs only on routes init_route claimed. Answer through
 * pt_response_send() (or start work that will) and return PT_OK; a
 * status >= 400 is rendered by the error renderer instead. */
static int pt_skeleton_content(pt_request_t *r)
{
    pt_response_send(r, 204, NULL, NULL, 0, NULL, 0);
    return PT_OK;
}

/* Log: after every request, answered or aborted, on any route or none
 * (r->route may be NULL); must not fail or answer. */
static void pt_skeleton_log(pt_request_t *r)
{
    const pt_skeleton_conf_t *sc = pt_skeleton_conf(r);

    if (sc && sc->enabled == 1) {
        pt_skeleton_requests++;
        pt_metric_inc(pt_skeleton_metric_requests, 1);
    }
}

/* In the master, before a generation forks, for each skeleton_zone: old
 * is the previous generation's zone of that name when its size, owner and
 * magic match (the same memory, contents kept), else NULL. Lay the zone
 * out when it is new; keep its contents when adopted. */
static int pt_skeleton_init_zone(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    pt_skeleton_shm_t *sh = *pt_zone_root(zone);

    if (old && sh && sh->magic == PT_SKELETON_ZONE_MAGIC)
        return PT_OK;
    if (sh == NULL && (sh = pt_zone_alloc(zone, sizeof(*sh))) == NULL)
        return PT_ERROR;
    memset(sh, 0, sizeof(*sh));
    sh->magic = PT_SKELETON_ZONE_MAGIC;
    *pt_zone_root(zone) = sh;
    return PT_OK;
}

/* Each new client connection, before TLS or HTTP (an address deny list,
 * say): PT_OK goes on, PT_ERROR closes it. */
static int pt_skeleton_accept(pt_conn_t *c)
{
    return PT_OK;
}

/* A header filter, on the routes init_route registered it for: every
 * response (proxied or made here) passes it before the serializer. Set,
 * add or remove fields (response.h); a status >= 400 replaces the
 * response with that error. */
static int pt_skeleton_header_filter(pt_request_t *r, pt_response_t *resp)
{
    return pt_response_set(r, resp, PT_STR("X-Skeleton"), PT_STR("1"));
}

/* $skeleton_seen: how often the access handler saw this request. */
static pt_str_t pt_skeleton_var_seen(pt_request_t *r, const void *data, char *buf)
{
    const pt_skeleton_ctx_t *ctx = r->ctx[pt_skeleton_module.index];
    size_t n = pt_str_from_u64(buf, ctx ? ctx->seen : 0);

    return (pt_str_t) { buf, n };
}
