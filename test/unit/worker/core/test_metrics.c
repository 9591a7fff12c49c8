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
#include "worker/core/module.h"
#include "test/unit/tap.h"

static unsigned test_hits, test_latency, test_bad;
static const uint64_t test_bounds[] = { 10, 100, 1000 };
static const uint64_t test_bad_bounds[] = { 10, 10 };

static const pt_metric_def_t test_defs[] = {
    { "test_hits_total", "hits", PT_METRIC_COUNTER, NULL, 0, &test_hits },
    { "test_latency_ms", "latency", PT_METRIC_HISTOGRAM, test_bounds, 3, &test_latency },
    PT_METRIC_END
};
static const pt_metric_def_t test_dup_defs[] = {
    { "test_new_total", "new", PT_METRIC_COUNTER, NULL, 0, &test_bad },
    { "portico_requests_total", "taken", PT_METRIC_COUNTER, NULL, 0, &test_bad },
    PT_METRIC_END
};
static const pt_metric_def_t test_unsorted_defs[] = {
    { "test_unsorted", "bounds", PT_METRIC_HISTOGRAM, test_bad_bounds, 2, &test_bad },
    PT_METRIC_END
};

/* What the master does for a generation: load (the metrics part of it)
 * and attach its zones. */
static pt_conf_t *test_generation(pt_shm_t *shm, unsigned gen, bool *adopted)
{
    pt_arena_t *a = pt_arena_create(4096, 0);
    pt_conf_t *conf = pt_arena_calloc(a, sizeof(*conf));
    pt_conf_ctx_t cf = { .arena = a, .file = "test.conf", .data = conf };

    conf->arena = a;
    conf->generation = gen;
    if (pt_metrics_conf(&cf, conf) != PT_OK || conf->zones == NULL)
        return NULL;
    pt_zone_req_t *z = conf->zones;
    z->zone = pt_shm_zone_attach_owned(shm, z->name, z->size, gen, z->owner, z->magic,
                                       adopted);
    if (z->zone == NULL || z->init(z->zone, *adopted ? z->zone : NULL, z->data) != PT_OK)
        return NULL;
    return conf;
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

    pt_metrics_setup();
    /* The core's three first, then what the modules declare (counters;
     * the next free id follows the last one's values). */
    size_t base = pt_metrics_count();
    unsigned next = PT_METRIC_CORE_MAX;
    for (size_t i = 0; i < base; i++) {
        const pt_metric_def_t *d = pt_metrics_get(i, &id);
        next = id + (d->type == PT_METRIC_HISTOGRAM ? d->nbounds + 2 : 1);
    }
    ok(base >= 3, "the core's three metrics, then the modules' (%zu)", base);
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
            { "portico_requests_total", "taken", PT_METRIC_COUNTER, NULL, 0, &bad_id },
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
    ok(pt_metrics_register(test_defs) == PT_OK, "declare a counter and a histogram");
    is(test_hits, next, "the counter's id follows the core's and the modules'");
    is(test_latency, test_hits + 1, "the histogram's id follows the counter");
    is(pt_metrics_count(), base + 2, "two metrics more");

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

    pt_arena_destroy(g1->arena);
    pt_arena_destroy(g2->arena);
    pt_shm_destroy(shm);
    return done_testing();
}
