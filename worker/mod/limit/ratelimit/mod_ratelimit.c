/*
 * mod_ratelimit.c: rate limits (GCRA), throttling (delay), concurrency
 * limits and calendar quotas, per key, in shared-memory zones that every
 * worker of every generation shares (limit phase).
 *
 * A route's `limits` are checked in order, each taking its share at once
 * with compare-and-swap; when one refuses, the shares the others took are
 * given back, so no limit counts a request that another refused. The
 * answer is the strictest: any refusal refuses (with the longest
 * Retry-After of the refusing limits), else the longest delay holds the
 * request in this worker on a timer before it goes on. A concurrency
 * share is given back when the request is logged, however it ended.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/str.h"
#include "worker/core/conf.h"
#include "worker/core/consumer.h"
#include "worker/core/filter.h"
#include "worker/core/metrics.h"
#include "worker/core/module.h"
#include "worker/core/timer.h"
#include "worker/core/var.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "worker/http/response.h"
#include "worker/net/conn.h"
#include "worker/net/io.h"
#include "worker/mod/content/admin/admin_hooks.h"
#include "worker/mod/limit/ratelimit/limit_conf.h"
#include "worker/mod/limit/ratelimit/limit_gcra.h"
#include "worker/mod/limit/ratelimit/limit_headers.h"
#include "worker/mod/limit/ratelimit/limit_key.h"
#include "worker/mod/limit/ratelimit/limit_state.h"
#include "worker/mod/limit/ratelimit/limit_table.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define PT_RATELIMIT_ZONE_MAGIC     0x524c4d31u     /* "RLM1": limit_table.h's layout */
#define PT_RATELIMIT_HEADERS_BUF    2048
#define PT_RATELIMIT_SWEEP_MS       1000

/* What one limit did for this request. */
typedef struct {
    const pt_limit_t *limit;
    pt_limit_entry_t *entry;    /* NULL: the limit did not apply (empty key, zone full) */
    pt_limit_key_t key;
    const pt_gcra_t *gcra;      /* a rate: the one chosen (by plan) */
    uint64_t q, w;              /* its policy */
    pt_limit_answer_t a;
    bool taken;                 /* its share is counted (to give back on refusal/abort) */
    int cell;                   /* a concurrency share: the cell counted in */
} pt_ratelimit_result_t;

typedef struct {
    pt_request_t *r;
    pt_timer_t timer;
    bool held;                  /* waiting for its turn (delay) */
    bool refused;
    bool released;
    bool cleanup;               /* the arena cleanup is registered */
    unsigned n;
    pt_ratelimit_result_t res[];    /* one per limit of the route */
} pt_ratelimit_ctx_t;

static int pt_ratelimit_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                   void *rconf, const void *dconf);
static int pt_ratelimit_init_worker(const pt_conf_t *conf);
static void pt_ratelimit_exit_worker(const pt_conf_t *conf);
static void pt_ratelimit_retire(void);
static int pt_ratelimit_limit(pt_request_t *r);
static void pt_ratelimit_log(pt_request_t *r);
static int pt_ratelimit_init_zone(pt_zone_t *zone, pt_zone_t *old, void *data);
static int pt_ratelimit_header_filter(pt_request_t *r, pt_response_t *resp);

static unsigned pt_ratelimit_metric_allowed, pt_ratelimit_metric_refused,
    pt_ratelimit_metric_delayed, pt_ratelimit_metric_dry_run, pt_ratelimit_metric_unlimited;

/* metrics: refusals by limit name (named at run time, capped; a limit
 * past the cap is "other") and mode: enforced, or dry run */
static unsigned pt_ratelimit_metric_by_limit;
static const char *const pt_ratelimit_metric_modes[] = { "enforce", "dry_run", NULL };
static const char *const pt_ratelimit_metric_labels[] = { "limit", "mode", NULL };
static const char *const *const pt_ratelimit_metric_enums[] = { NULL,
                                                                pt_ratelimit_metric_modes,
                                                                NULL };

static void pt_ratelimit_count_refusal(const pt_limit_t *l, bool dry_run)
{
    unsigned id = pt_metrics_live ? pt_metric_find_id(pt_ratelimit_metric_by_limit,
                                                      &l->name_str) : 0;
    pt_metric_add(id ? id + dry_run : 0, 1);
}

/* and the requests each limit let through, at once or after a wait */
static unsigned pt_ratelimit_metric_passed;
static const char *const pt_ratelimit_metric_results[] = { "allowed", "delayed", NULL };
static const char *const pt_ratelimit_metric_passed_labels[] = { "limit", "result", NULL };
static const char *const *const pt_ratelimit_metric_passed_enums[] = {
    NULL, pt_ratelimit_metric_results, NULL };

static void pt_ratelimit_count_passed(const pt_ratelimit_ctx_t *ctx)
{
    if (!pt_metrics_live)
        return;
    for (unsigned i = 0; i < ctx->n; i++) {
        const pt_ratelimit_result_t *x = &ctx->res[i];
        if (!x->taken)
            continue;
        unsigned id = pt_metric_find_id(pt_ratelimit_metric_passed, &x->limit->name_str);
        pt_metric_add(id ? id + (x->a.wait > 0) : 0, 1);
    }
}
/* end metrics */

static const pt_metric_def_t pt_ratelimit_metrics[] = {
    { "portico_limit_refusals_total", "refusals by limit, enforced or in a dry run",
      PT_METRIC_COUNTER, NULL, 0, &pt_ratelimit_metric_by_limit, pt_ratelimit_metric_labels,
      pt_ratelimit_metric_enums, 256, 0 },
    { "portico_limit_requests_total", "requests each limit let through, allowed at once or "
      "delayed", PT_METRIC_COUNTER, NULL, 0, &pt_ratelimit_metric_passed,
      pt_ratelimit_metric_passed_labels, pt_ratelimit_metric_passed_enums, 256, 0 },
    { "portico_limit_allowed_total", "requests every limit of their route let through",
      PT_METRIC_COUNTER, NULL, 0, &pt_ratelimit_metric_allowed, NULL, NULL, 0, 0 },
    { "portico_limit_refused_total", "requests a limit refused", PT_METRIC_COUNTER, NULL, 0,
      &pt_ratelimit_metric_refused, NULL, NULL, 0, 0 },
    { "portico_limit_delayed_total", "requests held for their turn (delay)",
      PT_METRIC_COUNTER, NULL, 0, &pt_ratelimit_metric_delayed, NULL, NULL, 0, 0 },
    { "portico_limit_dry_run_total", "requests a dry-run limit would have refused",
      PT_METRIC_COUNTER, NULL, 0, &pt_ratelimit_metric_dry_run, NULL, NULL, 0, 0 },
    { "portico_limit_unlimited_total", "limit checks skipped: the zone's window was all in "
      "flight", PT_METRIC_COUNTER, NULL, 0, &pt_ratelimit_metric_unlimited, NULL, NULL, 0, 0 },
    PT_METRIC_END
};

#define PT_RATELIMIT_FIELD(f)   offsetof(pt_limit_route_t, f)

static const pt_directive_t pt_ratelimit_directives[] = {
    { "limit_state_file", PT_CONF_STRING, PT_SCOPE_MAIN, offsetof(pt_limit_main_t, state_file),
      NULL, NULL, NULL, NULL, "where quota counts are kept across a restart" },
    { "limits", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_RATELIMIT_FIELD(limits), NULL, NULL,
      pt_limit_conf_set, pt_limit_conf_dump, "the rate limits, concurrency limits and quotas" },
    { "limit_headers", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_RATELIMIT_FIELD(headers), "false",
      NULL, NULL, NULL, "RateLimit-Policy and RateLimit on allowed responses too" },
    PT_DIRECTIVE_END
};

pt_module_t pt_ratelimit_module = {
    .name = "ratelimit",
    .directives = pt_ratelimit_directives,
    .main_conf_size = sizeof(pt_limit_main_t),
    .route_conf_size = sizeof(pt_limit_route_t),
    .init_route = pt_ratelimit_init_route,
    .init_worker = pt_ratelimit_init_worker,
    .exit_worker = pt_ratelimit_exit_worker,
    .retire = pt_ratelimit_retire,
    .phase = { [PT_PHASE_LIMIT] = pt_ratelimit_limit },
    .log = pt_ratelimit_log,
    .metrics = pt_ratelimit_metrics,
    .vars = pt_limit_key_vars,
    .zone_magic = PT_RATELIMIT_ZONE_MAGIC,
    .init_zone = pt_ratelimit_init_zone,
};

/* The clocks, replaceable by tests: monotonic ns (rates) and wall seconds
 * (calendar quotas). */
static uint64_t pt_ratelimit_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * PT_LIMIT_NS + (uint64_t) ts.tv_nsec;
}

static int64_t pt_ratelimit_wall_s(void)
{
    return (int64_t) time(NULL);
}

static uint64_t (*pt_ratelimit_now_ns)(void) = pt_ratelimit_mono_ns;
static int64_t (*pt_ratelimit_now_wall)(void) = pt_ratelimit_wall_s;

static const pt_conf_t *pt_ratelimit_conf_worker;
static pt_timer_t pt_ratelimit_sweep_timer;

/* ---- load time ----------------------------------------------------------- */

static int pt_ratelimit_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                   void *rconf, const void *dconf)
{
    pt_limit_route_t *rc = rconf;
    pt_limit_main_t *mc = conf->mod_main[pt_ratelimit_module.index];

    if (rc->limits == NULL || rc->limits->n == 0) {
        if (rc->headers == 1) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): limit_headers without limits",
                          route->name, route->line);
            return PT_ERROR;
        }
        pt_module_phase_skip(route, &pt_ratelimit_module);
        return PT_OK;
    }
    if (mc->state_file && mc->state_file[0] != '/'
        && (mc->state_file = pt_conf_path(cf, mc->state_file)) == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < rc->limits->n; i++) {
        pt_limit_t *l = &rc->limits->v[i];
        if ((l->zone = pt_limit_conf_zone(cf, mc, l)) == NULL)
            return PT_ERROR;
        l->zone->state_file = mc->state_file;
        if (pt_conf_zone_add(cf, conf, l->zone->name, l->zone->size, pt_ratelimit_module.name,
                             pt_ratelimit_module.zone_magic, pt_ratelimit_init_zone, l->zone)
            == NULL)
            return PT_ERROR;
    }
    if (rc->headers == 1
        && pt_filter_add_header(cf, route, &pt_ratelimit_module, pt_ratelimit_header_filter)
           != PT_OK)
        return PT_ERROR;
    return PT_OK;
}

/* In the master, before a generation forks: a zone adopted from the
 * previous generation (same name and size) keeps its table and counts;
 * a new one gets a table with a fresh random seed. */
static int pt_ratelimit_init_zone(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    pt_limit_zone_t *lz = data;
    pt_limit_table_t *t = *pt_zone_root(zone);
    size_t size = pt_zone_size(zone);
    void *mem = NULL;
    uint64_t seed;

    if (old && pt_limit_table_valid(t, size)) {
        lz->table = t;
        return PT_OK;
    }
    if (t && pt_limit_table_valid(t, size)) {
        mem = t;
        size = pt_limit_table_bytes(t->nentries);
    }
    /* The allocator keeps some of the zone for itself: take the largest
     * run it gives. */
    for (size_t n = size; mem == NULL && n >= size / 2 && n > 0; n -= pt_max(size / 64, 64))
        if ((mem = pt_zone_alloc(zone, n)) != NULL)
            size = n;
    if (mem == NULL)
        return PT_ERROR;
    /* Quotas kept by a state file go with the seed their keys were
     * hashed with. */
    if ((lz->state_file == NULL || !pt_limit_state_seed(lz->state_file, lz->name, &seed))
        && getrandom(&seed, sizeof(seed), 0) != (ssize_t) sizeof(seed))
        seed = (uint64_t) time(NULL) * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) getpid();
    if ((t = pt_limit_table_init(mem, size, seed)) == NULL)
        return PT_ERROR;
    if (lz->state_file) {
        size_t n = pt_limit_state_load(lz->state_file, lz->name, t, PT_LIMIT_QUOTA);
        if (n)
            pt_log(PT_LOG_INFO, "zone \"%s\": %zu quota counts from %s", lz->name, n,
                   lz->state_file);
    }
    *pt_zone_root(zone) = t;
    lz->table = t;
    return PT_OK;
}

/* ---- workers ------------------------------------------------------------- */

static pt_limit_main_t *pt_ratelimit_main(const pt_conf_t *conf)
{
    return conf ? conf->mod_main[pt_ratelimit_module.index] : NULL;
}

/* Every second: clear the concurrency records of processes that died (a
 * crash, or a retiring worker killed at its drain timeout), so their
 * in-flight counts do not hold keys forever. */
static void pt_ratelimit_sweep(pt_timer_t *tm)
{
    pt_limit_main_t *mc = pt_ratelimit_main(pt_ratelimit_conf_worker);

    for (pt_limit_zone_t *z = mc ? mc->zones : NULL; z; z = z->next) {
        if (z->table == NULL)
            continue;
        /* A worker that found every record held takes the first that
         * frees, and counts in it from then on. */
        int cell = pt_limit_table_claim_cell(z->table, (int32_t) getpid(), NULL);
        if (z->cell < 0 && cell >= 0)
            pt_log(PT_LOG_NOTICE, "zone \"%s\": a concurrency record is free again; this "
                   "worker enforces its concurrency limits", z->name);
        z->cell = cell;
    }
    pt_timer_set(tm, PT_RATELIMIT_SWEEP_MS);
}

/* "ratelimit" in the admin API: what the limits decided, gateway-wide. */
static json_t *pt_ratelimit_admin_read(void *data)
{
    uint64_t v[4] = { 0 };

    pt_metrics_read(pt_ratelimit_metric_allowed, &v[0], 1);
    pt_metrics_read(pt_ratelimit_metric_refused, &v[1], 1);
    pt_metrics_read(pt_ratelimit_metric_delayed, &v[2], 1);
    pt_metrics_read(pt_ratelimit_metric_dry_run, &v[3], 1);
    return json_pack("{s:I,s:I,s:I,s:I}", "allowed", (json_int_t) v[0], "refused",
                     (json_int_t) v[1], "delayed", (json_int_t) v[2], "dry_run",
                     (json_int_t) v[3]);
}

/* "ratelimit.reset" { "limit": NAME, "key": VALUE }: the key's state of
 * that limit starts over (a rate's allowance and a quota's count back to
 * full); requests in flight keep their concurrency places. VALUE is the
 * key as the limit's template renders it for a request. */
static unsigned pt_ratelimit_admin_reset(const json_t *body, json_t **answer, const char **why,
                                         void *data)
{
    const char *name = json_string_value(json_object_get(body, "limit"));
    const json_t *key = json_object_get(body, "key");
    const pt_conf_t *conf = pt_ratelimit_conf_worker;

    if (name == NULL || !json_is_string(key) || json_string_length(key) == 0
        || json_string_length(key) > PT_LIMIT_KEY_RENDER_MAX) {
        *why = "ratelimit.reset takes { \"limit\": \"name\", \"key\": \"value\" }";
        return 400;
    }
    for (size_t i = 0; conf && i < conf->nroutes; i++) {
        const pt_limit_route_t *rc = pt_route_mod_conf(&conf->routes[i], pt_ratelimit_module);
        for (size_t k = 0; rc && rc->limits && k < rc->limits->n; k++) {
            const pt_limit_t *l = &rc->limits->v[k];
            if (strcmp(l->name, name) != 0 || l->zone->table == NULL)
                continue;
            char buf[8 + PT_LIMIT_KEY_RENDER_MAX];
            pt_limit_key_t lk;
            size_t n = json_string_length(key);
            memcpy(buf, &l->name_hash, 8);
            memcpy(buf + 8, json_string_value(key), n);
            pt_limit_table_key(l->zone->table, buf, 8 + n, &lk);
            pt_limit_entry_t *e = pt_limit_table_find(l->zone->table, &lk);
            if (e)
                atomic_store(&e->word, 0);
            pt_log(PT_LOG_NOTICE, "limit \"%s\": a key %s through the admin API", name,
                   e ? "reset" : "asked to be reset had no state");
            *answer = json_pack("{s:s,s:b}", "limit", name, "reset", e != NULL);
            return 200;
        }
    }
    *why = "no limit of that name";
    return 404;
}

static int pt_ratelimit_init_worker(const pt_conf_t *conf)
{
    pt_limit_main_t *mc = pt_ratelimit_main(conf);

    pt_ratelimit_conf_worker = conf;
    if (mc && mc->zones
        && (pt_admin_zone_reader_add("ratelimit", pt_ratelimit_admin_read, NULL) != PT_OK
            || pt_admin_action_add("ratelimit.reset", pt_ratelimit_admin_reset, NULL) != PT_OK))
        return PT_ERROR;
    for (pt_limit_zone_t *z = mc ? mc->zones : NULL; z; z = z->next) {
        if (z->table == NULL)
            continue;
        if ((z->cell = pt_limit_table_claim_cell(z->table, (int32_t) getpid(), NULL)) < 0)
            pt_log(PT_LOG_WARN, "zone \"%s\": all %d concurrency records are held by live "
                   "processes; this worker does not enforce its concurrency limits", z->name,
                   PT_LIMIT_CELLS);
    }
    if (mc && mc->zones) {
        pt_timer_prepare(&pt_ratelimit_sweep_timer, pt_ratelimit_sweep, NULL);
        pt_timer_set(&pt_ratelimit_sweep_timer, PT_RATELIMIT_SWEEP_MS);
    }
    return PT_OK;
}

static void pt_ratelimit_retire(void)
{
    if (pt_timer_armed(&pt_ratelimit_sweep_timer))
        pt_timer_del(&pt_ratelimit_sweep_timer);
}

static void pt_ratelimit_exit_worker(const pt_conf_t *conf)
{
    pt_limit_main_t *mc = pt_ratelimit_main(conf);

    pt_ratelimit_retire();
    if (mc && mc->state_file && mc->zones
        && pt_limit_state_save(mc->state_file, mc->zones, PT_LIMIT_QUOTA) != PT_OK)
        pt_log(PT_LOG_ERR, "cannot write limit_state_file %s: %s", mc->state_file,
               strerror(errno));
    for (pt_limit_zone_t *z = mc ? mc->zones : NULL; z; z = z->next) {
        if (z->table && z->cell >= 0)
            pt_limit_table_release_cell(z->table, z->cell, (int32_t) getpid());
        z->cell = -1;
    }
}

/* ---- per request --------------------------------------------------------- */

static const pt_limit_route_t *pt_ratelimit_conf(const pt_request_t *r)
{
    return r->route ? pt_route_mod_conf(r->route, pt_ratelimit_module) : NULL;
}

/* The rate of l for r's consumer: its plan's when plan_rates names it. */
static const pt_gcra_t *pt_ratelimit_gcra(const pt_limit_t *l, const pt_request_t *r,
                                          uint64_t *q, uint64_t *w)
{
    const pt_consumer_t *c = r->consumer;

    for (size_t i = 0; c && c->plan.len && l->plans && i < l->plans->n; i++) {
        const pt_limit_plan_t *p = &l->plans->v[i];
        if (p->plan.len == c->plan.len && memcmp(p->plan.p, c->plan.p, c->plan.len) == 0) {
            *q = p->count;
            *w = p->window;
            return &p->gcra;
        }
    }
    *q = l->count;
    *w = l->window;
    return &l->gcra;
}

/* The key of l for r into k: false when it renders empty (not limited). */
static bool pt_ratelimit_key(pt_request_t *r, const pt_limit_t *l, pt_limit_key_t *k)
{
    pt_str_t v = pt_var_render(l->key.code, r, PT_VAR_RAW, false, PT_LIMIT_KEY_RENDER_MAX);
    char buf[8 + PT_LIMIT_KEY_RENDER_MAX + 64];

    if (v.len == 0)
        return false;
    v.len = pt_min(v.len, sizeof(buf) - 8);
    memcpy(buf, &l->name_hash, 8);
    memcpy(buf + 8, v.p, v.len);
    pt_limit_table_key(l->zone->table, buf, 8 + v.len, k);
    return true;
}

/* One off a concurrency cell, never below zero (the cell may have been
 * cleared meanwhile: its entry given to another key). */
static void pt_ratelimit_cell_down(_Atomic uint16_t *cell)
{
    uint16_t v = atomic_load_explicit(cell, memory_order_relaxed);

    while (v > 0 && !atomic_compare_exchange_weak_explicit(cell, &v, (uint16_t) (v - 1),
                                                           memory_order_acq_rel,
                                                           memory_order_relaxed))
        ;
}

/* Take l's share for r into x: x->a says whether it allows; x->entry is
 * NULL after when the limit did not apply after all. */
static void pt_ratelimit_take(pt_request_t *r, pt_ratelimit_result_t *x, uint64_t now_ns,
                              int64_t wall)
{
    const pt_limit_t *l = x->limit;
    _Atomic uint64_t *word = &x->entry->word;

    switch (l->kind) {
    case PT_LIMIT_RATE:
        x->gcra = pt_ratelimit_gcra(l, r, &x->q, &x->w);
        pt_gcra_take(x->gcra, word, now_ns, &x->a);
        break;
    case PT_LIMIT_QUOTA:
        x->q = (uint64_t) l->quota;
        x->w = (uint64_t) pt_limit_period_seconds(l->period, wall);
        pt_quota_take((uint64_t) l->quota, l->period, word, wall, &x->a);
        x->entry->kind = PT_LIMIT_QUOTA;        /* what a state file keeps */
        break;
    default: {
        /* Count first, then look: two workers racing for the last place
         * may both be refused, never both let in. */
        x->q = (uint64_t) l->concurrency;
        x->w = 0;
        x->cell = l->zone->cell;
        memset(&x->a, 0, sizeof(x->a));
        atomic_fetch_add_explicit(&x->entry->cells[x->cell], 1, memory_order_acq_rel);
        /* Another worker may have given the entry to a new key between the
         * lookup and the count: the count would stay on that key (give
         * back finds the entry not ours), so take it off again. */
        if (!pt_limit_table_holds(x->entry, &x->key)) {
            pt_ratelimit_cell_down(&x->entry->cells[x->cell]);
            x->entry = NULL;
            return;
        }
        unsigned n = pt_limit_entry_inflight(x->entry);
        x->a.allowed = n <= (uint64_t) l->concurrency;
        if (!x->a.allowed) {
            atomic_fetch_sub_explicit(&x->entry->cells[x->cell], 1, memory_order_acq_rel);
            x->a.retry = PT_LIMIT_NS;
        } else {
            x->a.remaining = (uint64_t) l->concurrency - n;
        }
    }
    }
}

/* Give back what x counted. */
static void pt_ratelimit_give_back(pt_ratelimit_result_t *x)
{
    if (!x->taken)
        return;
    x->taken = false;
    /* A refused request's RateLimit field shows the share as returned. */
    if (x->a.allowed && x->a.remaining < x->q)
        x->a.remaining++;
    /* The entry may have been given to another key since (a request held
     * for its turn, evicted meanwhile): only if it still holds ours, or
     * the other key would get our share as a gift. */
    if (!pt_limit_table_holds(x->entry, &x->key))
        return;
    switch (x->limit->kind) {
    case PT_LIMIT_RATE:
        pt_gcra_rollback(x->gcra, &x->entry->word);
        break;
    case PT_LIMIT_QUOTA:
        pt_quota_rollback(&x->entry->word, &x->a);
        break;
    default:
        pt_ratelimit_cell_down(&x->entry->cells[x->cell]);
    }
}

/* The two RateLimit values for what ctx found; false when none applied. */
static bool pt_ratelimit_render(pt_request_t *r, const pt_ratelimit_ctx_t *ctx,
                                pt_str_t *policy, pt_str_t *state)
{
    pt_limit_report_t rep[PT_LIMIT_PER_ROUTE_MAX];
    size_t n = 0;
    char *buf;

    for (unsigned i = 0; i < ctx->n; i++) {
        const pt_ratelimit_result_t *x = &ctx->res[i];
        if (x->entry == NULL)
            continue;
        pt_limit_report_t *p = &rep[n++];
        p->name = x->limit->name_str;
        p->q = x->q;
        p->w = x->w;
        p->concurrent = x->limit->kind == PT_LIMIT_CONCURRENCY;
        p->r = x->a.allowed ? x->a.remaining : 0;
        if (p->concurrent)
            p->t = -1;
        else if (!x->a.allowed)
            p->t = (int64_t) pt_limit_seconds_up(x->a.retry);
        else
            p->t = (int64_t) (x->a.reset / PT_LIMIT_NS + (x->a.reset % PT_LIMIT_NS != 0));
    }
    if (n == 0 || (buf = pt_arena_alloc(r->arena, PT_RATELIMIT_HEADERS_BUF)) == NULL)
        return false;
    return pt_limit_headers_render(rep, n, buf, PT_RATELIMIT_HEADERS_BUF, policy, state)
           == PT_OK;
}

static void pt_ratelimit_release(pt_ratelimit_ctx_t *ctx)
{
    if (ctx->released)
        return;
    ctx->released = true;
    if (pt_timer_armed(&ctx->timer))
        pt_timer_del(&ctx->timer);
    for (unsigned i = 0; i < ctx->n; i++) {
        pt_ratelimit_result_t *x = &ctx->res[i];
        /* A request held and never let go gives back its rate share too:
         * a client that left frees its place in the queue. */
        if (x->limit->kind == PT_LIMIT_CONCURRENCY || ctx->held)
            pt_ratelimit_give_back(x);
    }
}

/* The request arena goes (the request is over, or the worker is closing
 * connections): what was counted for it is given back. */
static void pt_ratelimit_cleanup(void *data)
{
    pt_ratelimit_release(data);
}

/* What a request holds past the phase (a concurrency share, a place in
 * the delay queue) is given back when its arena goes, however it goes:
 * registered only then, so a plain rate check costs no cleanup. */
static int pt_ratelimit_guard(pt_ratelimit_ctx_t *ctx)
{
    if (ctx->cleanup)
        return PT_OK;
    if (pt_arena_cleanup_add(ctx->r->arena, pt_ratelimit_cleanup, ctx) != PT_OK)
        return PT_ERROR;
    ctx->cleanup = true;
    return PT_OK;
}

/* Out of memory mid-check: give back what was taken. */
static int pt_ratelimit_fail(pt_ratelimit_ctx_t *ctx)
{
    for (unsigned i = 0; i < ctx->n; i++)
        pt_ratelimit_give_back(&ctx->res[i]);
    ctx->released = true;
    return 500;
}

static void pt_ratelimit_wake(pt_timer_t *t)
{
    pt_ratelimit_ctx_t *ctx = t->data;
    pt_request_t *r = ctx->r;

    ctx->held = false;
    r->on_event = NULL;
    pt_request_resume(r);
}

/* A client event while held: a closed or failed connection gives up its
 * place; data (a body) waits in the socket for the content handler. */
static void pt_ratelimit_held_event(pt_request_t *r)
{
    pt_ratelimit_ctx_t *ctx = r->ctx[pt_ratelimit_module.index];

    if (r->conn->io.flags & (PT_IO_ERROR | PT_IO_HUP)) {
        r->on_event = NULL;
        pt_ratelimit_release(ctx);
        pt_request_abort(r, "client closed the connection while held by a rate limit");
    }
}

static int pt_ratelimit_refuse(pt_request_t *r, pt_ratelimit_ctx_t *ctx, const pt_limit_t *by,
                               uint64_t retry)
{
    unsigned status = (unsigned) by->status;
    const char *detail = pt_arena_sprintf(r->arena, "limit \"%s\" exceeded", by->name);
    pt_http_field_t f[3];
    unsigned nf = 0;
    char *ra = pt_arena_alloc(r->arena, 24);
    pt_str_t policy, state;

    ctx->refused = true;
    for (unsigned i = 0; i < ctx->n; i++)
        pt_ratelimit_give_back(&ctx->res[i]);
    pt_metric_inc(pt_ratelimit_metric_refused, 1);
    pt_ratelimit_count_refusal(by, false);
    if (ra) {
        size_t n = pt_str_from_u64(ra, pt_limit_seconds_up(retry));
        f[nf++] = (pt_http_field_t) { PT_STR("Retry-After"), { ra, n }, 0, 0 };
    }
    if (pt_ratelimit_render(r, ctx, &policy, &state)) {
        f[nf++] = (pt_http_field_t) { PT_STR("RateLimit-Policy"), policy, 0, 0 };
        f[nf++] = (pt_http_field_t) { PT_STR("RateLimit"), state, 0, 0 };
    }
    pt_http_error_fields(r, status, detail ? detail : "rate limit exceeded", f, nf);
    return PT_DONE;
}

static int pt_ratelimit_limit(pt_request_t *r)
{
    const pt_limit_route_t *rc = pt_ratelimit_conf(r);
    pt_ratelimit_ctx_t *ctx = r->ctx[pt_ratelimit_module.index];

    if (ctx)                    /* resumed after a delay: decided already */
        return PT_DECLINED;
    if (rc == NULL || rc->limits == NULL)
        return PT_DECLINED;
    /* Sized for the route's limits, and only the head cleared: each
     * result is set as its limit is checked. */
    size_t head = offsetof(pt_ratelimit_ctx_t, res);
    if ((ctx = pt_arena_alloc(r->arena, head + rc->limits->n * sizeof(ctx->res[0]))) == NULL)
        return 500;
    memset(ctx, 0, head);
    r->ctx[pt_ratelimit_module.index] = ctx;
    ctx->r = r;

    uint64_t now_ns = pt_ratelimit_now_ns(), wait = 0, retry = 0;
    int64_t wall = pt_ratelimit_now_wall();
    const pt_limit_t *by = NULL;       /* the refusal that asks to wait longest */

    for (size_t i = 0; i < rc->limits->n; i++) {
        const pt_limit_t *l = &rc->limits->v[i];
        pt_ratelimit_result_t *x = &ctx->res[ctx->n++];
        bool created;
        x->limit = l;
        x->entry = NULL;
        x->taken = false;
        if (l->zone->table == NULL || !pt_ratelimit_key(r, l, &x->key))
            continue;           /* an empty key is not limited */
        if (l->kind == PT_LIMIT_CONCURRENCY && l->zone->cell < 0)
            continue;
        if ((x->entry = pt_limit_table_get(l->zone->table, &x->key, (uint64_t) pt_clock_now,
                                           &created)) == NULL) {
            pt_metric_inc(pt_ratelimit_metric_unlimited, 1);
            continue;
        }
        pt_ratelimit_take(r, x, now_ns, wall);
        if (x->entry == NULL) {
            pt_metric_inc(pt_ratelimit_metric_unlimited, 1);
            continue;
        }
        if (x->a.allowed) {
            x->taken = true;
            wait = pt_max(wait, x->a.wait);
            if (l->kind == PT_LIMIT_CONCURRENCY && pt_ratelimit_guard(ctx) != PT_OK)
                return pt_ratelimit_fail(ctx);
            continue;
        }
        if (l->dry_run == 1) {
            pt_metric_inc(pt_ratelimit_metric_dry_run, 1);
            pt_ratelimit_count_refusal(l, true);
            pt_log(PT_LOG_INFO, "limit \"%s\" would refuse request %.*s (dry run), "
                   "key #%016llx", l->name, (int) r->id.len, r->id.p,
                   (unsigned long long) x->key.fp);
            continue;
        }
        if (by == NULL || x->a.retry > retry) {
            by = l;
            retry = x->a.retry;
        }
    }
    if (by)
        return pt_ratelimit_refuse(r, ctx, by, retry);
    if (wait) {
        if (pt_ratelimit_guard(ctx) != PT_OK)
            return pt_ratelimit_fail(ctx);
        ctx->held = true;
        pt_metric_inc(pt_ratelimit_metric_delayed, 1);
        pt_ratelimit_count_passed(ctx);
        pt_timer_prepare(&ctx->timer, pt_ratelimit_wake, ctx);
        pt_timer_set(&ctx->timer, (pt_msec_t) ((wait + 999999) / 1000000));
        r->on_event = pt_ratelimit_held_event;
        return PT_AGAIN;
    }
    pt_metric_inc(pt_ratelimit_metric_allowed, 1);
    pt_ratelimit_count_passed(ctx);
    return PT_DECLINED;
}

/* Every request, however it ended: concurrency shares go back. */
static void pt_ratelimit_log(pt_request_t *r)
{
    pt_ratelimit_ctx_t *ctx = r->ctx[pt_ratelimit_module.index];

    if (ctx)
        pt_ratelimit_release(ctx);
}

/* limit_headers = true: the fields on allowed responses (a refusal has
 * them already). */
static int pt_ratelimit_header_filter(pt_request_t *r, pt_response_t *resp)
{
    const pt_ratelimit_ctx_t *ctx = r->ctx[pt_ratelimit_module.index];
    pt_str_t policy, state;

    if (ctx == NULL || ctx->refused || !pt_ratelimit_render(r, ctx, &policy, &state))
        return PT_OK;
    if (pt_response_set(r, resp, PT_STR("RateLimit-Policy"), policy) != PT_OK
        || pt_response_set(r, resp, PT_STR("RateLimit"), state) != PT_OK)
        return 500;
    return PT_OK;
}
