/*
 * jwt_jwks.c: JWK Sets fetched from an upstream (jwt_jwks_upstream and
 * jwt_jwks_path) without blocking, shared by the workers.
 *
 * The zone holds the last good document and a generation counter. One
 * worker at a time fetches (it takes a lease in the zone): every
 * jwt_jwks_refresh, after a failure every jwt_jwks_min_refresh, and when
 * a token names an unknown kid at most once per jwt_jwks_min_refresh
 * across all workers (the request waits for that fetch, its own worker's
 * or another's). A document that is not a JWK Set with at least one
 * usable key is logged and dropped: the last good one stays. Each
 * worker reparses the document into its own key set when the generation
 * moved. Times are CLOCK_MONOTONIC ms, which all processes share.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/shmtx.h"
#include "worker/core/conf.h"
#include "worker/core/module.h"
#include "worker/core/timer.h"
#include "worker/http/request.h"
#include "worker/mod/auth/jwt/jwt_int.h"
#include "worker/upstream/subrequest.h"

#include <stdatomic.h>
#include <unistd.h>

/* The timer's period: how soon a worker notices it is its turn. */
#define PT_JWKS_TICK_MAX    1000
/* How often requests waiting for another worker's fetch look again. */
#define PT_JWKS_POLL        20

typedef struct {
    uint32_t magic;
    _Atomic uint64_t generation;    /* 0: no document yet */
    pt_msec_t next_due;             /* the next scheduled fetch */
    pt_msec_t last_kid_fetch;       /* the last fetch an unknown kid asked for */
    pid_t lease_pid;                /* the worker fetching now; 0: none */
    pt_msec_t lease_until;
    uint64_t fetches;
    uint64_t failures;
    size_t cap;
    size_t len;
    char *doc;                      /* cap bytes in the zone */
} pt_jwks_shm_t;

struct pt_jwt_jwks_s {
    const pt_jwt_conf_t *jc;
    pt_zone_t *zone;
    pt_jwt_keyset_t keys;
    uint64_t generation;
    pt_timer_t timer;
    pt_subrequest_t *sr;
    pt_request_t *waiters[PT_JWT_WAITERS_MAX];
    size_t nwaiters;
};

static pt_jwt_jwks_t **pt_jwks_by_route;
static size_t pt_jwks_nroutes;

int pt_jwt_jwks_conf(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route, pt_jwt_conf_t *jc)
{
    if (jc->jwks_upstream == NULL)
        return PT_OK;
    for (size_t i = 0; i < conf->nupstreams; i++)
        if (strcmp(conf->upstreams[i].name, jc->jwks_upstream) == 0)
            jc->upstream = &conf->upstreams[i];
    if (jc->upstream == NULL) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): jwt_jwks_upstream: no upstream "
                      "named \"%s\"", route->name, route->line, jc->jwks_upstream);
        return PT_ERROR;
    }
    if (jc->jwks_zone == NULL) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): jwt_jwks_upstream needs "
                      "jwt_jwks_zone (\"name:size\") to share the key set", route->name,
                      route->line);
        return PT_ERROR;
    }
    /* The zone holds one document: routes may share it only for one URL. */
    for (unsigned i = 0; i < route->index && i < conf->nroutes; i++) {
        const pt_jwt_conf_t *o = pt_route_mod_conf(&conf->routes[i], pt_jwt_module);
        if (o && o->enabled == 1 && o->upstream && o->jwks_zone
            && strcmp(o->jwks_zone->name, jc->jwks_zone->name) == 0
            && (o->upstream != jc->upstream || strcmp(o->jwks_path, jc->jwks_path) != 0)) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): jwt_jwks_zone \"%s\" already "
                          "holds the JWK Set of %s%s (route \"%s\"): give each JWKS URL its "
                          "own zone", route->name, route->line, jc->jwks_zone->name,
                          o->jwks_upstream, o->jwks_path, conf->routes[i].name);
            return PT_ERROR;
        }
    }
    if (jc->jwks_path[0] != '/') {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): jwt_jwks_path must start with /",
                      route->name, route->line);
        return PT_ERROR;
    }
    return PT_OK;
}

int pt_jwt_jwks_init_zone(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    pt_jwks_shm_t *sh = *pt_zone_root(zone);

    (void) data;
    if (old && sh && sh->magic == PT_JWT_ZONE_MAGIC)
        return PT_OK;
    if (sh == NULL && (sh = pt_zone_calloc(zone, sizeof(*sh))) == NULL)
        return PT_ERROR;
    memset(sh, 0, sizeof(*sh));
    /* The largest document room the zone gives. */
    for (size_t cap = pt_zone_size(zone) / 2; cap >= 4096 && sh->doc == NULL; cap /= 2)
        if ((sh->doc = pt_zone_alloc(zone, cap)) != NULL)
            sh->cap = cap;
    if (sh->doc == NULL)
        return PT_ERROR;
    sh->magic = PT_JWT_ZONE_MAGIC;
    *pt_zone_root(zone) = sh;
    return PT_OK;
}

static pt_jwks_shm_t *pt_jwks_shm(const pt_jwt_jwks_t *j)
{
    return *pt_zone_root(j->zone);
}

static void pt_jwks_skip(const char *why, const char *kid, void *data)
{
    const pt_jwt_jwks_t *j = data;

    pt_log(PT_LOG_WARN, "jwks %s%s: key \"%s\" skipped: %s", j->jc->jwks_upstream,
           j->jc->jwks_path, kid ? kid : "(no kid)", why);
}

/* Reparse the zone's document when its generation moved. */
static void pt_jwks_sync(pt_jwt_jwks_t *j)
{
    pt_jwks_shm_t *sh = pt_jwks_shm(j);
    uint64_t gen = atomic_load_explicit(&sh->generation, memory_order_acquire);
    char err[256];

    if (gen == j->generation)
        return;
    pt_shmtx_lock(pt_zone_lock(j->zone));
    gen = atomic_load_explicit(&sh->generation, memory_order_relaxed);
    size_t len = sh->len;
    char *doc = malloc(len + 1);
    if (doc)
        memcpy(doc, sh->doc, len);
    pt_shmtx_unlock(pt_zone_lock(j->zone));
    if (doc == NULL)
        return;
    pt_jwt_keyset_t ks = { .n = 0 };
    if (pt_jwt_keys_add_jwks(&ks, doc, len, 0, NULL, NULL, err, sizeof(err)) > 0) {
        pt_jwt_keys_clear(&j->keys);
        j->keys = ks;
    } else {
        pt_jwt_keys_clear(&ks);
    }
    free(doc);
    j->generation = gen;
}

const pt_jwt_keyset_t *pt_jwt_jwks_keys(pt_jwt_jwks_t *j)
{
    pt_jwks_sync(j);
    return &j->keys;
}

uint64_t pt_jwt_jwks_generation(pt_jwt_jwks_t *j)
{
    pt_jwks_sync(j);
    return j->generation;
}

pt_jwt_jwks_t *pt_jwt_jwks_of(unsigned route_index)
{
    return route_index < pt_jwks_nroutes ? pt_jwks_by_route[route_index] : NULL;
}

static void pt_jwks_wake(pt_jwt_jwks_t *j)
{
    size_t n = j->nwaiters;
    pt_request_t *w[PT_JWT_WAITERS_MAX];

    memcpy(w, j->waiters, n * sizeof(*w));
    j->nwaiters = 0;
    for (size_t i = 0; i < n; i++)
        pt_request_resume(w[i]);
}

static void pt_jwks_release(pt_jwt_jwks_t *j)
{
    pt_jwks_shm_t *sh = pt_jwks_shm(j);

    pt_shmtx_lock(pt_zone_lock(j->zone));
    if (sh->lease_pid == getpid())
        sh->lease_pid = 0;
    pt_shmtx_unlock(pt_zone_lock(j->zone));
}

static void pt_jwks_done(pt_subrequest_t *sr, int rc, void *data)
{
    pt_jwt_jwks_t *j = data;
    pt_jwks_shm_t *sh = pt_jwks_shm(j);
    const pt_jwt_conf_t *jc = j->jc;
    char err[256];
    const char *fail = NULL;

    j->sr = NULL;
    if (rc != PT_OK) {
        fail = sr->error ? sr->error : "no answer";
    } else if (sr->status != 200) {
        snprintf(err, sizeof(err), "status %u", sr->status);
        fail = err;
    } else {
        pt_jwt_keyset_t ks = { .n = 0 };
        int n = pt_jwt_keys_add_jwks(&ks, sr->body.p, sr->body.len, 0, pt_jwks_skip, j, err,
                                     sizeof(err));
        pt_jwt_keys_clear(&ks);
        if (n == 0)
            fail = "no usable key in the set";
        else if (n < 0)
            fail = err;
        else if (sr->body.len > sh->cap)
            fail = "the set is larger than its zone can hold";
    }
    pt_shmtx_lock(pt_zone_lock(j->zone));
    sh->fetches++;
    if (fail) {
        sh->failures++;
        sh->next_due = pt_clock_now + pt_min(jc->jwks_min_refresh, jc->jwks_refresh);
    } else {
        memcpy(sh->doc, sr->body.p, sr->body.len);
        sh->len = sr->body.len;
        atomic_fetch_add_explicit(&sh->generation, 1, memory_order_release);
        sh->next_due = pt_clock_now + jc->jwks_refresh;
    }
    if (sh->lease_pid == getpid())
        sh->lease_pid = 0;
    pt_shmtx_unlock(pt_zone_lock(j->zone));
    if (fail)
        pt_log(PT_LOG_ERR, "jwks %s%s: fetch failed (%s); the last good key set stays",
               jc->jwks_upstream, jc->jwks_path, fail);
    pt_jwks_sync(j);
    pt_jwks_wake(j);
}

/* Take the lease and start a fetch; false when another worker holds it
 * (or this one already fetches). */
static bool pt_jwks_fetch(pt_jwt_jwks_t *j, bool for_kid)
{
    pt_jwks_shm_t *sh = pt_jwks_shm(j);
    const pt_jwt_conf_t *jc = j->jc;
    bool mine = false;

    if (j->sr)
        return false;
    pt_shmtx_lock(pt_zone_lock(j->zone));
    bool due = for_kid ? (sh->last_kid_fetch == 0
                          || pt_clock_now >= sh->last_kid_fetch + jc->jwks_min_refresh)
                       : pt_clock_now >= sh->next_due;
    if (due && (sh->lease_pid == 0 || pt_clock_now >= sh->lease_until)) {
        sh->lease_pid = getpid();
        sh->lease_until = pt_clock_now + jc->jwks_timeout + 1000;
        if (for_kid)
            sh->last_kid_fetch = pt_clock_now;
        mine = true;
    }
    pt_shmtx_unlock(pt_zone_lock(j->zone));
    if (!mine)
        return false;
    pt_subrequest_spec_t spec = {
        .method = "GET",
        .path = { jc->jwks_path, strlen(jc->jwks_path) },
        .fields = (const pt_str_t[]) { PT_STR("Accept"),
                                        PT_STR("application/jwk-set+json, application/json") },
        .nfields = 1,
        .max_body = sh->cap,
        .timeout = jc->jwks_timeout,
    };
    if ((j->sr = pt_subrequest_start(jc->upstream, &spec, pt_jwks_done, j)) == NULL) {
        pt_jwks_release(j);
        return false;
    }
    return true;
}

static pt_msec_t pt_jwks_tick(const pt_jwt_conf_t *jc)
{
    return pt_min(jc->jwks_refresh, (pt_msec_t) PT_JWKS_TICK_MAX);
}

/* Another worker holds the lease: its fetch is under way. */
static bool pt_jwks_fetching_elsewhere(pt_jwt_jwks_t *j)
{
    pt_jwks_shm_t *sh = pt_jwks_shm(j);

    pt_shmtx_lock(pt_zone_lock(j->zone));
    bool busy = sh->lease_pid != 0 && sh->lease_pid != getpid()
                && pt_clock_now < sh->lease_until;
    pt_shmtx_unlock(pt_zone_lock(j->zone));
    return busy;
}

static void pt_jwks_timer(pt_timer_t *t)
{
    pt_jwt_jwks_t *j = t->data;

    /* Requests that wait for another worker's fetch: wake them once it
     * ended (whatever its outcome: the zone says), else look again soon. */
    if (j->nwaiters && j->sr == NULL) {
        if (pt_jwks_fetching_elsewhere(j)) {
            pt_timer_set(&j->timer, PT_JWKS_POLL);
            return;
        }
        pt_jwks_sync(j);
        pt_jwks_wake(j);
    }
    pt_jwks_fetch(j, false);
    pt_jwks_sync(j);
    pt_timer_set(&j->timer, pt_jwks_tick(j->jc));
}

typedef struct {
    pt_jwt_jwks_t *j;
    pt_request_t *r;
} pt_jwks_waiter_t;

/* The request ended (its arena goes) while it waited: forget it. */
static void pt_jwks_waiter_gone(void *data)
{
    const pt_jwks_waiter_t *w = data;
    pt_jwt_jwks_t *j = w->j;

    for (size_t i = 0; i < j->nwaiters; i++)
        if (j->waiters[i] == w->r) {
            j->waiters[i] = j->waiters[--j->nwaiters];
            break;
        }
}

int pt_jwt_jwks_unknown_kid(pt_jwt_jwks_t *j, pt_request_t *r)
{
    bool elsewhere = false;

    if (j->nwaiters == PT_JWT_WAITERS_MAX)
        return PT_DECLINED;
    if (j->sr == NULL && !pt_jwks_fetch(j, true)) {
        /* Not this worker's turn: wait only if another one is fetching. */
        if (!pt_jwks_fetching_elsewhere(j))
            return PT_DECLINED;
        elsewhere = true;
    }
    pt_jwks_waiter_t *w = pt_arena_alloc(r->arena, sizeof(*w));
    if (w == NULL)
        return PT_DECLINED;
    *w = (pt_jwks_waiter_t) { j, r };
    if (pt_arena_cleanup_add(r->arena, pt_jwks_waiter_gone, w) != PT_OK)
        return PT_DECLINED;
    j->waiters[j->nwaiters++] = r;
    if (elsewhere)
        pt_timer_set(&j->timer, PT_JWKS_POLL);
    return PT_AGAIN;
}

int pt_jwt_jwks_init_worker(const pt_conf_t *conf)
{
    pt_jwks_nroutes = 0;
    pt_jwks_by_route = calloc(conf->nroutes ? conf->nroutes : 1, sizeof(*pt_jwks_by_route));
    if (pt_jwks_by_route == NULL)
        return PT_ERROR;
    pt_jwks_nroutes = conf->nroutes;
    for (size_t i = 0; i < conf->nroutes; i++) {
        const pt_jwt_conf_t *jc = pt_route_mod_conf(&conf->routes[i], pt_jwt_module);
        pt_zone_t *zone = jc && jc->enabled == 1 && jc->upstream
                          ? pt_zone_conf_zone(jc->jwks_zone) : NULL;
        if (zone == NULL)
            continue;
        pt_jwt_jwks_t *j = calloc(1, sizeof(*j));
        if (j == NULL)
            return PT_ERROR;
        j->jc = jc;
        j->zone = zone;
        pt_timer_prepare(&j->timer, pt_jwks_timer, j);
        pt_jwks_by_route[i] = j;
        pt_jwks_sync(j);
        /* Start at once: the first worker to look takes the lease. */
        pt_timer_set(&j->timer, 1);
    }
    return PT_OK;
}

void pt_jwt_jwks_retire(void)
{
    for (size_t i = 0; i < pt_jwks_nroutes; i++) {
        pt_jwt_jwks_t *j = pt_jwks_by_route[i];
        if (j == NULL)
            continue;
        pt_timer_del(&j->timer);
        if (j->sr) {
            pt_subrequest_cancel(j->sr);
            j->sr = NULL;
            pt_jwks_release(j);
        }
        pt_jwks_wake(j);
    }
}

void pt_jwt_jwks_exit_worker(void)
{
    for (size_t i = 0; i < pt_jwks_nroutes; i++) {
        pt_jwt_jwks_t *j = pt_jwks_by_route[i];
        if (j == NULL)
            continue;
        pt_timer_del(&j->timer);
        if (j->sr) {
            pt_subrequest_cancel(j->sr);
            j->sr = NULL;
            pt_jwks_release(j);
        }
        j->nwaiters = 0;
        pt_jwt_keys_clear(&j->keys);
        free(j);
    }
    free(pt_jwks_by_route);
    pt_jwks_by_route = NULL;
    pt_jwks_nroutes = 0;
}
