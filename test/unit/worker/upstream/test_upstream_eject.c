/*
 * test_upstream_eject.c: outlier ejection (worker/upstream/upstream_eject.h):
 * the back-off arithmetic, the cap, consecutive errors, the return and the
 * multiplier that grows and starts over, and how the pick sees it.
 */
#include "common/pt.h"
#include "common/clock.h"

#include "worker/core/core.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_eject.h"
#include "worker/upstream/upstream_health.h"
#include "test/unit/tap.h"

static pt_upstream_t up;
static pt_server_t servers[3];
static pt_upstream_peer_t recs[3];
static pt_conf_t conf;
static pt_upstream_eject_conf_t ej = { .consecutive = 3, .base_time = 1000, .max_time = 2500,
                                       .max_percent = 50 };

int main(void)
{
    pt_upstream_eject_conf_t c = { .consecutive = 3, .base_time = 30000, .max_time = 300000,
                                   .max_percent = 50 };

    is(pt_upstream_eject_backoff(&c, 1), 30000, "first ejection: the base time");
    is(pt_upstream_eject_backoff(&c, 3), 90000, "third in a row: three times as long");
    is(pt_upstream_eject_backoff(&c, 11), 300000, "capped at max_ejection_time");
    is(pt_upstream_eject_backoff(&c, UINT32_MAX), 300000, "  without overflow");
    is(pt_upstream_eject_cap(3, 50), 1, "50 %% of 3 servers: 1");
    is(pt_upstream_eject_cap(4, 50), 2, "50 %% of 4 servers: 2");
    is(pt_upstream_eject_cap(1, 99), 0, "99 %% of one server: none");
    is(pt_upstream_eject_cap(10, 100), 10, "100 %%: all");
    ok(pt_upstream_eject_rate_reached(20, 10, 50, 20), "error_rate: 10 of 20 reach 50 %%");
    ok(!pt_upstream_eject_rate_reached(20, 9, 50, 20), "  9 of 20 do not");
    ok(!pt_upstream_eject_rate_reached(19, 19, 50, 20), "  too few answers");
    ok(!pt_upstream_eject_rate_reached(100, 100, 0, 1), "  0: off");

    up = (pt_upstream_t) { .name = "u", .servers = servers, .nservers = 3,
                           .outlier_ejection = &ej };
    for (unsigned i = 0; i < 3; i++)
        servers[i] = (pt_server_t) { .name = i == 0 ? "a" : i == 1 ? "b" : "c",
                                     .upstream = &up, .index = i, .weight = 1,
                                     .health = &recs[i] };
    conf.upstreams = &up;
    conf.nupstreams = 1;
    ok(pt_upstream_init_worker(&conf) == PT_OK, "init");
    pt_server_t *a = &servers[0], *b = &servers[1];

    pt_clock_now = 10000;
    pt_upstream_eject_error(a, "status 500", 10000);
    pt_upstream_eject_error(a, "status 500", 10000);
    pt_upstream_eject_success(a, 10000);
    pt_upstream_eject_error(a, "status 500", 10000);
    pt_upstream_eject_error(a, "status 500", 10000);
    ok(pt_upstream_health_up(a), "a success between errors starts the count again");
    pt_upstream_eject_error(a, "status 500", 10000);
    ok(!pt_upstream_health_up(a), "three errors in a row: ejected");
    ok(!pt_upstream_health_usable(a, 10500), "  and no trial while ejected");
    for (int i = 0; i < 6; i++)
        ok(pt_upstream_pick(&up, NULL) != a, "  the pick passes it over (%d)", i);

    for (int i = 0; i < 3; i++)
        pt_upstream_eject_error(b, "connect refused", 10100);
    ok(pt_upstream_health_up(b), "a second ejection of three would pass 50 %%: not made");

    ok(!pt_upstream_eject_in(a, 10999), "out until its time is over");
    ok(pt_upstream_eject_in(a, 11000), "then back");
    ok(pt_upstream_health_up(a), "  and up");
    for (int i = 0; i < 3; i++)
        pt_upstream_eject_error(a, "status 503", 11100);
    is(recs[0].ejected_until, 11100 + 2000, "ejected again in a row: twice as long");
    ok(pt_upstream_eject_in(a, 13100), "back");
    for (int i = 0; i < 3; i++)
        pt_upstream_eject_error(a, "status 503", 13200);
    is(recs[0].ejected_until, 13200 + 2500, "a third time: capped at max_ejection_time");
    ok(pt_upstream_eject_in(a, 15700), "back");
    for (int i = 0; i < 3; i++)
        pt_upstream_eject_error(a, "status 503", 15700 + 2500);
    is(recs[0].ejected_until, 18200 + 1000,
       "in for max_ejection_time without an ejection: the base time again");

    /* error_rate: alternating errors never make three in a row, but half
     * of at least ten answers within the window do. */
    pt_upstream_eject_conf_t rate = { .consecutive = 3, .base_time = 1000, .max_time = 5000,
                                      .max_percent = 50, .error_rate = 50,
                                      .rate_window = 10000, .rate_min = 10 };
    up.outlier_ejection = &rate;
    pt_server_t *cc = &servers[2];
    for (int i = 0; i < 4; i++) {
        pt_upstream_eject_success(cc, 30000);
        pt_upstream_eject_error(cc, "status 500", 30000);
    }
    ok(pt_upstream_health_up(cc), "error_rate: 4 of 8 answers, under the minimum");
    pt_upstream_eject_success(cc, 30000);
    pt_upstream_eject_error(cc, "status 500", 30000);
    ok(!pt_upstream_eject_in(cc, 30000), "  5 of 10: ejected");
    ok(pt_upstream_eject_in(cc, 31000), "  for the base time");
    for (int i = 0; i < 5; i++) {
        pt_upstream_eject_success(cc, 31000 + i);
        pt_upstream_eject_error(cc, "status 500", 45000 + i);
    }
    ok(pt_upstream_health_up(cc), "  a window that ended starts the count again");

    /* Answers through passive health: any 5xx is an error for ejection
     * (fail_statuses or not), anything else a success. */
    up.outlier_ejection = &ej;
    pt_server_t *bb = &servers[1];
    recs[1] = (pt_upstream_peer_t) { 0 };
    pt_upstream_health_status(bb, 500, 50000);
    pt_upstream_health_status(bb, 502, 50000);
    pt_upstream_health_status(bb, 404, 50000);
    pt_upstream_health_status(bb, 500, 50000);
    pt_upstream_health_status(bb, 503, 50000);
    ok(pt_upstream_health_up(bb), "a 404 between 5xx: no ejection");
    pt_upstream_health_status(bb, 504, 50000);
    ok(!pt_upstream_eject_in(bb, 50000), "three 5xx answers in a row: ejected");

    /* dns: a name with four slots, two of them empty. The cap is half of
     * the two servers there are: the second may not go out as well. */
    static pt_upstream_t du;
    static pt_server_t ds[4];
    static pt_upstream_peer_t dr[4];
    du = (pt_upstream_t) { .name = "d", .servers = ds, .nservers = 4, .outlier_ejection = &ej };
    for (unsigned i = 0; i < 4; i++)
        ds[i] = (pt_server_t) { .name = "backend.test:80", .upstream = &du, .index = i,
                                .weight = 1, .health = &dr[i], .dns_slot = i,
                                .absent = i >= 2 };
    for (int i = 0; i < 3; i++)
        pt_upstream_eject_error(&ds[0], "status 500", 60000);
    ok(!pt_upstream_eject_in(&ds[0], 60000), "dns: one of a name's two addresses ejected");
    for (int i = 0; i < 3; i++)
        pt_upstream_eject_error(&ds[1], "status 500", 60000);
    ok(pt_upstream_eject_in(&ds[1], 60000),
       "  not the other: 50 %% of two addresses is one (empty slots do not count)");

    up.outlier_ejection = NULL;
    for (int i = 0; i < 10; i++)
        pt_upstream_eject_error(&servers[2], "status 500", 20000);
    ok(pt_upstream_health_up(&servers[2]), "no outlier_ejection: never ejected");

    pt_upstream_exit_worker();
    return done_testing();
}
