/*
 * test_metrics.c: declaring metrics, counting from several worker slots
 * and from a forked child through the shared segment, summing them,
 * histogram buckets, and the zone kept across a reload.
 */
#include "common/pt.h"

#include <sys/wait.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/shm.h"
#include "worker/core/metrics.c"    /* its statics: the module registration */
#include "worker/core/metrics_family.c"
#include "worker/core/module.h"
#include "test/unit/tap.h"

static unsigned test_hits, test_latency, test_bad;
static const uint64_t test_bounds[] = { 10, 100, 1000 };
static const uint64_t test_bad_bounds[] = { 10, 10 };

static const pt_metric_def_t test_defs[] = {
    { "test_hits_total", "hits", PT_METRIC_COUNTER, NULL, 0, &test_hits, NULL, NULL, 0, 0 },
    { "test_latency_ms", "latency", PT_METRIC_HISTOGRAM, test_bounds, 3, &test_latency, NULL, NULL, 0, 0 },
    PT_METRIC_END
};
static const pt_metric_def_t test_dup_defs[] = {
    { "test_new_total", "new", PT_METRIC_COUNTER, NULL, 0, &test_bad, NULL, NULL, 0, 0 },
    { "portico_requests_total", "taken", PT_METRIC_COUNTER, NULL, 0, &test_bad, NULL, NULL, 0, 0 },
    PT_METRIC_END
};
static const pt_metric_def_t test_unsorted_defs[] = {
    { "test_unsorted", "bounds", PT_METRIC_HISTOGRAM, test_bad_bounds, 2, &test_bad, NULL, NULL, 0, 0 },
    PT_METRIC_END
};

/* What the master does for a generation: load (the metrics part of it)
 * and attach its zones. */
/* Labeled families a generation may declare (labels > 0: that many routes). */
static const char *const test_codes[] = { "2xx", "5xx", NULL };
static const char *const test_rc[] = { "route", "code", NULL };
static const char *const *const test_rc_enums[] = { NULL, test_codes, NULL };
static const char *const test_who[] = { "who", NULL };
static const char *const test_route[] = { "route", NULL };
static const pt_metric_def_t test_req_def = {
    "test_requests_total", "by route and code", PT_METRIC_COUNTER, NULL, 0, NULL, test_rc,
    test_rc_enums, 0, 0 };
static const pt_metric_def_t test_lat_def = {
    "test_latency_seconds", "by route", PT_METRIC_HISTOGRAM, test_bounds, 3, NULL, test_route,
    NULL, 0, 1000 };
static const pt_metric_def_t test_who_def = {
    "test_who_total", "run-time names", PT_METRIC_COUNTER, NULL, 0, NULL, test_who, NULL, 0, 0 };
static unsigned test_route_ids[4];
static pt_metric_family_t *test_who_fam;
static const pt_metric_def_t test_dead_def = {
    "test_dead_total", "a claim whose writer died", PT_METRIC_COUNTER, NULL, 0, NULL, test_who,
    NULL, 0, 0 };
static pt_metric_family_t *test_dead_fam;

static void test_labels(pt_conf_ctx_t *cf, pt_conf_t *conf, unsigned routes)
{
    pt_metric_family_t *req = pt_metric_family_add(cf, conf, &test_req_def);
    pt_metric_family_t *lat = pt_metric_family_add(cf, conf, &test_lat_def);
    static const char *const names[] = { "a", "b\"q", "c", "d" };

    for (unsigned i = 0; i < routes; i++) {
        const char *v[] = { names[i] };
        test_route_ids[i] = pt_metric_series_add(cf, req, v);
        pt_metric_series_add(cf, lat, v);
    }
    test_who_fam = pt_metric_family_dynamic(cf, conf, &test_who_def, 2);
    test_dead_fam = pt_metric_family_dynamic(cf, conf, &test_dead_def, 1);
}

static pt_conf_t *test_generation_labels(pt_shm_t *shm, unsigned gen, bool *adopted,
                                         unsigned routes)
{
    pt_arena_t *a = pt_arena_create(4096, 0);
    pt_conf_t *conf = pt_arena_calloc(a, sizeof(*conf));
    pt_conf_ctx_t cf = { .arena = a, .file = "test.conf", .data = conf };

    conf->arena = a;
    conf->generation = gen;
    conf->main.workers = 4;
    if (routes)
        test_labels(&cf, conf, routes);
    if (pt_metrics_conf(&cf, conf) != PT_OK || conf->zones == NULL)
        return NULL;
    pt_zone_req_t *z = conf->zones;
    z->zone = pt_shm_zone_attach_owned(shm, z->name, z->size, gen, z->owner, z->magic,
                                       adopted);
    if (z->zone == NULL || z->init(z->zone, *adopted ? z->zone : NULL, z->data) != PT_OK)
        return NULL;
    return conf;
}

static pt_conf_t *test_generation(pt_shm_t *shm, unsigned gen, bool *adopted)
{
    return test_generation_labels(shm, gen, adopted, 0);
}

/* The walk, as "name{v,v} x y ...\n" lines. */
static char test_walk_buf[8192];

static bool test_walk(void *arg, const pt_metric_sample_t *s, bool first)
{
    size_t *n = arg;

    if (first || s->nlabels == 0 || strncmp(s->def->name, "test_", 5) != 0)
        return true;
    *n += (size_t) snprintf(test_walk_buf + *n, sizeof(test_walk_buf) - *n, "%s{",
                            s->def->name);
    for (unsigned i = 0; i < s->nlabels; i++)
        *n += (size_t) snprintf(test_walk_buf + *n, sizeof(test_walk_buf) - *n, "%s%.*s",
                                i ? "," : "", (int) s->value_len[i], s->values[i]);
    *n += (size_t) snprintf(test_walk_buf + *n, sizeof(test_walk_buf) - *n, "}");
    for (size_t k = 0; k < s->nv; k++)
        *n += (size_t) snprintf(test_walk_buf + *n, sizeof(test_walk_buf) - *n, " %" PRIu64,
                                s->v[k]);
    *n += (size_t) snprintf(test_walk_buf + *n, sizeof(test_walk_buf) - *n, "\n");
    return true;
}

static const char *test_walk_text(void)
{
    size_t n = 0;

    test_walk_buf[0] = '\0';
    pt_metrics_each(test_walk, &n);
    return test_walk_buf;
}

static uint64_t test_read1(unsigned id)
{
    uint64_t v = 0;

    pt_metrics_read(id, &v, 1);
    return v;
}

int main(void)
{
    uint64_t h[8];
    unsigned id;
    bool adopted;

    /* The core's three, then what the compiled-in modules declare. */
    size_t modules = 0;
    for (size_t i = 0; pt_modules[i]; i++)
        for (const pt_metric_def_t *d = pt_modules[i]->metrics; d && d->name; d++)
            modules++;
    pt_metrics_setup();
    size_t base = pt_metrics_count();
    is(base, 3 + modules, "the core's three metrics, then the modules'");
    ok(strcmp(pt_metrics_get(0, &id)->name, "portico_requests_total") == 0
       && id == PT_METRIC_REQUESTS, "requests counter at its fixed id");
    ok(strcmp(pt_metrics_get(1, &id)->name, "portico_gateway_errors_total") == 0
       && id == PT_METRIC_GATEWAY_ERRORS, "gateway errors counter at its fixed id");

    ok(pt_metrics_register(test_dup_defs) == PT_ERROR, "a taken name is refused");
    ok(pt_metrics_register(test_unsorted_defs) == PT_ERROR, "bounds not ascending: refused");
    is(pt_metrics_count(), base, "a refused table registers nothing");
    {
        /* A module whose table is refused counts into the discard counter,
         * never into a metric of someone else's (its ids were 0). */
        static unsigned bad_id;
        static const pt_metric_def_t bad[] = {
            { "portico_requests_total", "taken", PT_METRIC_COUNTER, NULL, 0, &bad_id, NULL, NULL, 0, 0 },
            PT_METRIC_END
        };
        pt_module_t m = { .name = "bad", .metrics = bad };
        pt_metrics_register_module(&m);
        is(bad_id, PT_METRIC_DISCARDED, "a refused module's id is the discard counter");
        pt_metric_inc(bad_id, 3);
        pt_metric_observe(bad_id, 7);
        is(test_read1(PT_METRIC_DISCARDED), 4, "its counts land there, a histogram's too");
        is(test_read1(PT_METRIC_REQUESTS), 0, "and not in requests");
    }
    size_t first = pt_metrics_nvalues;
    ok(pt_metrics_register(test_defs) == PT_OK, "declare a counter and a histogram");
    is(test_hits, first, "the counter's id follows the values already declared");
    ok(first >= PT_METRIC_CORE_MAX, "which come after the core's");
    is(test_latency, test_hits + 1, "the histogram's id follows the counter");
    is(pt_metrics_count(), base + 2, "two more metrics");

    /* Before a slot is adopted, counts go to the process's own block. */
    pt_metric_inc(test_hits, 5);
    is(test_read1(test_hits), 5, "private block: counted and read");
    is(pt_metrics_read(test_hits + 100, h, 1), 0, "read of an unknown id: 0 values");

    pt_shm_t *shm = pt_shm_create(4 << 20);
    ok(shm != NULL, "a 4M segment");
    pt_conf_t *g1 = test_generation(shm, 1, &adopted);
    ok(g1 != NULL && !adopted, "generation 1: a fresh metrics zone");
    ok(pt_metrics_register(test_defs) == PT_ERROR, "the set is closed once a conf is loaded");
    ok(strncmp(g1->zones->name, "portico.metrics.", 16) == 0, "zone named after the set: %s",
       g1->zones->name);

    ok(pt_metrics_worker_init(g1, PT_METRICS_SLOTS) == PT_ERROR, "slot out of range refused");
    ok(pt_metrics_worker_init(g1, 0) == PT_OK, "worker 0 adopts its slot");
    is(test_read1(test_hits), 0, "the zone starts at zero");
    pt_metric_inc(test_hits, 3);
    pt_metric_inc(PT_METRIC_REQUESTS, 1);
    ok(pt_metrics_attach(g1->zones->zone, 1) == PT_OK, "worker 1 adopts its slot");
    pt_metric_inc(test_hits, 4);
    pt_metric_inc(PT_METRIC_REQUESTS, 2);
    is(test_read1(test_hits), 7, "the counter summed over slots 0 and 1");
    is(test_read1(PT_METRIC_REQUESTS), 3, "the core counter summed too");
    is(test_read1(PT_METRIC_GATEWAY_ERRORS), 0, "an untouched counter reads 0");

    const uint64_t seen[] = { 5, 10, 11, 100, 5000 };
    for (size_t i = 0; i < pt_countof(seen); i++)
        pt_metric_observe(test_latency, seen[i]);
    is(pt_metrics_read(test_latency, h, pt_countof(h)), 5, "a histogram: 4 buckets and a sum");
    ok(h[0] == 2 && h[1] == 2 && h[2] == 0 && h[3] == 1,
       "buckets <=10, <=100, <=1000, +Inf: %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
       h[0], h[1], h[2], h[3]);
    is(h[4], 5126, "the sum of the observed values");

    /* A forked worker counts into its slot of the same segment. */
    pid_t pid = fork();
    if (pid == 0) {
        if (pt_metrics_attach(g1->zones->zone, 2) != PT_OK)
            _exit(1);
        for (int i = 0; i < 1000; i++)
            pt_metric_inc(test_hits, 1);
        pt_metric_observe(test_latency, 50);
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child counted in slot 2");
    is(test_read1(test_hits), 1007, "the parent reads the child's counts in the sum");
    pt_metrics_read(test_latency, h, pt_countof(h));
    ok(h[1] == 3 && h[4] == 5176, "and its observation: bucket <=100 %" PRIu64 ", sum %"
       PRIu64, h[1], h[4]);

    /* Reload with the same set: the zone and every slot's values stay. */
    pt_conf_t *g2 = test_generation(shm, 2, &adopted);
    ok(g2 != NULL && adopted, "generation 2: the metrics zone is adopted");
    ok(g2->zones->zone == g1->zones->zone, "the very same zone");
    ok(pt_metrics_worker_init(g2, 0) == PT_OK, "generation 2's worker 0 adopts slot 0");
    is(test_read1(test_hits), 1007, "counts survive the reload");
    pt_metric_inc(test_hits, 1);
    is(test_read1(test_hits), 1008, "and go on from there");

    /* Labeled families: generation 3 declares 2 routes. */
    pt_conf_t *g3 = test_generation_labels(shm, 3, &adopted, 2);
    ok(g3 != NULL && !adopted, "generation 3 (labeled families): a new zone");
    ok(test_route_ids[1] == test_route_ids[0] + 2 * 1 + 5,
       "series take consecutive ids (2 codes, then the histogram's 5 values)");
    ok(pt_metrics_worker_init(g3, 1) == PT_OK && pt_metrics_live, "a worker counts labeled");
    pt_metric_add(test_route_ids[0] + 1, 3);            /* a, 5xx */
    pt_metric_add(test_route_ids[1], 2);                /* b"q, 2xx */
    pt_metric_observe_in(&test_lat_def, test_route_ids[0] + 2, 50);
    pt_metric_observe_in(&test_lat_def, test_route_ids[0] + 2, 5000);
    pt_str_t wa = PT_STR("alice"), wb = PT_STR("bob"), wc = PT_STR("carol"), wo = PT_STR("other");
    unsigned ia = pt_metric_find(test_who_fam, &wa), ib = pt_metric_find(test_who_fam, &wb);
    unsigned ic = pt_metric_find(test_who_fam, &wc);
    ok(ia && ib && ia != ib && ic != ia && ic != ib, "two names get series, a third does not");
    ok(pt_metric_find(test_who_fam, &wo) == ic, "past the cap, and \"other\" itself: other");
    ok(pt_metric_find(test_who_fam, &wa) == ia, "a name keeps its series");
    /* A claim left half-made: by a live worker it is waited for, then
     * "other"; by a dead one it is freed and claimed again. */
    pt_metric_entry_t *dt = pt_metric_table(test_dead_fam);
    unsigned dother = test_dead_fam->dyn_id + test_dead_fam->cap * test_dead_fam->ncombo
                      * test_dead_fam->width;
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, &status, 0);
    pt_str_t wx = PT_STR("x");
    atomic_store(&dt[0].state, PT_METRIC_ENTRY_BUSY + (uint32_t) getpid());
    ok(pt_metric_find(test_dead_fam, &wx) == dother
       && atomic_load(&dt[0].state) == PT_METRIC_ENTRY_BUSY + (uint32_t) getpid(),
       "a claim being written by a live worker: other, and it stays");
    atomic_store(&dt[0].state, PT_METRIC_ENTRY_BUSY + (uint32_t) dead);
    ok(pt_metric_find(test_dead_fam, &wx) == dother, "a dead writer's claim: other once");
    ok(pt_metric_find(test_dead_fam, &wx) == test_dead_fam->dyn_id,
       "  then the slot is claimed again");
    pt_metric_add(ia, 1);
    pt_metric_add(ic, 4);
    pid = fork();
    if (pid == 0) {
        /* Another worker finds the names the first one claimed. */
        if (pt_metrics_worker_init(g3, 2) != PT_OK || pt_metric_find(test_who_fam, &wb) != ib)
            _exit(1);
        pt_metric_add(ib, 7);
        pt_metric_add(test_route_ids[1], 1);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child worker shares the name table");
    is_str(test_walk_text(),
           "test_requests_total{a,5xx} 3\n"
           "test_requests_total{b\"q,2xx} 3\n"
           "test_latency_seconds{a} 0 1 0 1 5050\n"
           "test_who_total{alice} 1\n"
           "test_who_total{bob} 7\n"
           "test_who_total{other} 4\n",
           "the walk: labels, enumerated ones, sums over slots; untouched series left out");

    /* The same labels again: the zone and its values stay. */
    pt_conf_t *g4 = test_generation_labels(shm, 4, &adopted, 2);
    ok(g4 && adopted && g4->zones->zone == g3->zones->zone, "same labels: the zone is adopted");
    ok(pt_metrics_worker_init(g4, 0) == PT_OK, "generation 4's worker");
    ok(strstr(test_walk_text(), "test_who_total{bob} 7\n") != NULL,
       "values and run-time names survive the reload");
    /* A route more: another layout, another zone from zero. */
    pt_conf_t *g5 = test_generation_labels(shm, 5, &adopted, 3);
    ok(g5 && !adopted && g5->zones->zone != g3->zones->zone, "other labels: a new zone");
    ok(pt_metrics_worker_init(g5, 0) == PT_OK && strcmp(test_walk_text(), "") == 0,
       "which starts at zero");
    {
        pt_arena_t *a = pt_arena_create(4096, 0);
        pt_conf_t *conf = pt_arena_calloc(a, sizeof(*conf));
        pt_conf_ctx_t cf = { .arena = a, .file = "test.conf", .data = conf };
        conf->arena = a;
        pt_metrics_disable(&cf, conf);
        ok(pt_metrics_conf(&cf, conf) == PT_OK, "a conf with metrics = false");
        bool ad;
        pt_zone_req_t *z = conf->zones;
        z->zone = pt_shm_zone_attach_owned(shm, z->name, z->size, 6, z->owner, z->magic, &ad);
        ok(z->zone && z->init(z->zone, ad ? z->zone : NULL, z->data) == PT_OK
           && pt_metrics_worker_init(conf, 0) == PT_OK && !pt_metrics_live,
           "its workers do not count labeled series");
        pt_arena_destroy(a);
    }
    {
        /* Two series of the same labels: refused when the conf is closed. */
        pt_arena_t *a = pt_arena_create(4096, 0);
        pt_conf_t *conf = pt_arena_calloc(a, sizeof(*conf));
        pt_conf_ctx_t cf = { .arena = a, .file = "test.conf", .data = conf };
        conf->arena = a;
        test_labels(&cf, conf, 2);
        pt_metric_family_t *req = pt_metric_family_add(&cf, conf, &test_req_def);
        const char *again[] = { "a" };
        ok(pt_metric_series_add(&cf, req, again) != 0, "a second series \"a\" is taken...");
        ok(pt_metrics_conf(&cf, conf) == PT_ERROR && cf.nerrors == 1,
           "...and refused when the conf is closed");
        pt_arena_destroy(a);
    }
    {
        /* Series for more workers than shm_size can hold: a clear error. */
        pt_arena_t *a = pt_arena_create(4096, 0);
        pt_conf_t *conf = pt_arena_calloc(a, sizeof(*conf));
        pt_conf_ctx_t cf = { .arena = a, .file = "test.conf", .data = conf };
        conf->arena = a;
        conf->main.workers = 512;
        conf->main.shm_size = 64 << 10;
        test_labels(&cf, conf, 4);
        ok(pt_metrics_conf(&cf, conf) == PT_ERROR && cf.nerrors == 1,
           "metrics larger than half of shm_size: a config error");
        pt_arena_destroy(a);
    }

    pt_arena_destroy(g1->arena);
    pt_arena_destroy(g2->arena);
    pt_arena_destroy(g3->arena);
    pt_arena_destroy(g4->arena);
    pt_arena_destroy(g5->arena);
    pt_shm_destroy(shm);
    return done_testing();
}
