/*
 * test_upstream_probe.c: the probe verdicts (unknown, rise, fall, a
 * passive down cleared by a probe) and the lease arithmetic
 * (worker/upstream/upstream_probe.h), and how the pick sees a verdict.
 */
#include "common/pt.h"
#include "common/clock.h"

#include "worker/core/core.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_probe.h"
#include "test/unit/tap.h"

static pt_upstream_t up;
static pt_server_t servers[2];
static pt_upstream_peer_t recs[2];
static pt_conf_t conf;
static pt_upstream_probe_conf_t pc = { .type = PT_PROBE_HTTP, .interval = 1000, .timeout = 500,
                                       .rise = 2, .fall = 3 };

static bool dead(unsigned pid)
{
    (void) pid;
    return false;
}

static bool alive(unsigned pid)
{
    (void) pid;
    return true;
}

int main(void)
{
    up = (pt_upstream_t) { .name = "u", .servers = servers, .nservers = 2, .max_fails = 1,
                           .fail_timeout = 10000, .health_check = &pc };
    for (unsigned i = 0; i < 2; i++)
        servers[i] = (pt_server_t) { .name = i ? "b" : "a", .upstream = &up, .index = i,
                                     .weight = 1, .health = &recs[i] };
    conf.upstreams = &up;
    conf.nupstreams = 1;
    ok(pt_upstream_init_worker(&conf) == PT_OK, "init");
    pt_server_t *a = &servers[0];
    pt_clock_now = 1000;

    ok(pt_upstream_health_up(a), "unknown: tried");
    is(pt_upstream_probe_result(a, false, "status 500", 1000), PT_UPSTREAM_PROBE_DOWN,
       "the first probe decides: one failure turns unknown down");
    ok(!pt_upstream_health_up(a) && !pt_upstream_health_usable(a, 1000),
       "down by probe: not up, no trial");
    for (int i = 0; i < 4; i++)
        ok(pt_upstream_pick(&up, NULL) == &servers[1], "  the pick takes the other (%d)", i);
    is(pt_upstream_probe_result(a, true, "status 200", 2000), PT_UPSTREAM_PROBE_DOWN,
       "one pass of rise 2: still down");
    is(pt_upstream_probe_result(a, true, "status 200", 3000), PT_UPSTREAM_PROBE_UP,
       "two passes: up");
    is(pt_upstream_probe_result(a, false, "timed out", 4000), PT_UPSTREAM_PROBE_UP,
       "one failure of fall 3: still up");
    is(pt_upstream_probe_result(a, false, "timed out", 5000), PT_UPSTREAM_PROBE_UP,
       "  two");
    is(pt_upstream_probe_result(a, true, "status 200", 6000), PT_UPSTREAM_PROBE_UP,
       "a pass in between starts the count again");
    for (int i = 0; i < 2; i++)
        pt_upstream_probe_result(a, false, "timed out", 7000);
    is(pt_upstream_probe_result(a, false, "timed out", 8000), PT_UPSTREAM_PROBE_DOWN,
       "three failures in a row: down");
    is(pt_upstream_health_retry_after(&up, 8000), 1, "Retry-After: the next probe");

    pt_server_t *b = &servers[1];
    pt_upstream_health_fail(b, "connect refused", 9000);
    ok(!pt_upstream_health_up(b), "passive down");
    pt_upstream_probe_result(b, true, "status 200", 9100);
    ok(pt_upstream_health_up(b), "a probe that turns it up ends a passive down");

    pt_upstream_health_view_t v;
    pt_upstream_health_read(a, 9100, &v);
    ok(v.probe == PT_UPSTREAM_PROBE_DOWN && !v.usable && v.probe_at == 8000,
       "the read API shows the probe verdict");

    uint64_t l = pt_upstream_probe_lease(4242, 5000);
    ok(!pt_upstream_probe_lease_free(l, 7, 4999, alive), "held by a live worker: taken");
    ok(pt_upstream_probe_lease_free(l, 4242, 4999, alive), "its holder renews it");
    ok(pt_upstream_probe_lease_free(l, 7, 5000, alive), "expired: free");
    ok(pt_upstream_probe_lease_free(l, 7, 4000, dead), "its holder is gone: free");
    ok(pt_upstream_probe_lease_free(0, 7, 0, alive), "nobody: free");
    ok(pt_upstream_probe_lease(4194303, INT64_C(1) << 41) >> 42 == 4194303,
       "the largest pid survives the packing");

    ok(pt_upstream_probe_status_ok(&pc, 204) && pt_upstream_probe_status_ok(&pc, 302)
       && !pt_upstream_probe_status_ok(&pc, 404), "no expect_statuses: 2xx and 3xx");

    pt_upstream_exit_worker();
    return done_testing();
}
