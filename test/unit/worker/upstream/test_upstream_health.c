/*
 * test_upstream_health.c: the passive health states
 * (worker/upstream/upstream_health.h): max_fails within the window, the
 * single trial after fail_timeout, recovery, max_fails = 0, backups in the
 * pick, Retry-After, and records kept by a zone adopted on reload.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/shm.h"
#include "common/sock.h"

#include "worker/core/core.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_health.h"
#include "test/unit/tap.h"

static pt_upstream_t up;
static pt_server_t servers[2];
static pt_upstream_peer_t recs[2];
static pt_conf_t conf;

static void make_upstream(void)
{
    up = (pt_upstream_t) { .name = "u", .servers = servers, .nservers = 2, .max_fails = 2,
                           .fail_timeout = 1000 };
    servers[0] = (pt_server_t) { .name = "a", .upstream = &up, .index = 0, .weight = 1,
                                 .health = &recs[0] };
    servers[1] = (pt_server_t) { .name = "k", .upstream = &up, .index = 1, .weight = 1,
                                 .backup = true, .health = &recs[1] };
    pt_sock_resolve("127.0.0.1:9001", &servers[0].addr, 1, &(size_t) { 0 });
    pt_sock_resolve("127.0.0.1:9002", &servers[1].addr, 1, &(size_t) { 0 });
    conf.upstreams = &up;
    conf.nupstreams = 1;
}

int main(void)
{
    pt_server_t *a = &servers[0], *k = &servers[1];

    make_upstream();
    ok(pt_upstream_init_worker(&conf) == PT_OK, "init");

    pt_clock_now = 10000;
    ok(pt_upstream_pick(&up, NULL) == a, "the primary while it is up");
    pt_upstream_health_fail(a, "connect refused", 10000);
    ok(pt_upstream_health_up(a), "one failure of two: still up");
    pt_upstream_health_ok(a);
    pt_upstream_health_fail(a, "connect refused", 10100);
    ok(pt_upstream_health_up(a), "a success in between starts the count again");
    pt_upstream_health_fail(a, "connect refused", 12000);
    ok(pt_upstream_health_up(a), "a failure past the window opens a new one");
    pt_upstream_health_fail(a, "connect refused", 12500);
    ok(!pt_upstream_health_up(a), "two failures within fail_timeout: down");

    /* After a success the count starts again, and so does its window: two
     * failures 200 ms apart, the first 900 ms after the window before the
     * success opened, are two within fail_timeout. */
    pt_upstream_peer_t saved = recs[0];
    memset(&recs[0], 0, sizeof(recs[0]));
    pt_upstream_health_fail(a, "connect refused", 20000);
    pt_upstream_health_ok(a);
    pt_upstream_health_fail(a, "connect refused", 20900);
    pt_upstream_health_fail(a, "connect refused", 21100);
    ok(!pt_upstream_health_up(a), "two failures within fail_timeout after a success: down");
    memcpy(&recs[0], &saved, sizeof(saved));

    pt_clock_now = 12600;
    ok(pt_upstream_pick(&up, NULL) == k, "the backup while the primary is down");
    ok(pt_upstream_pick(&up, k) == k, "  and as the retry after itself");
    is(pt_upstream_health_retry_after(&up, 12600), 1, "Retry-After rounds 900 ms up to 1");
    is(pt_upstream_health_retry_after(&up, 10000), 4, "  and 3.5 s up to 4");

    ok(!pt_upstream_health_usable(a, 13499), "no trial before fail_timeout");
    ok(pt_upstream_health_usable(a, 13500), "one trial after it");
    ok(!pt_upstream_health_usable(a, 13500), "  only one");
    pt_upstream_health_fail(a, "connect refused", 13600);
    ok(!pt_upstream_health_usable(a, 14000), "a failed trial: down again");
    ok(!pt_upstream_health_usable(a, 14599), "  for another fail_timeout");
    pt_clock_now = 14600;
    ok(pt_upstream_pick(&up, NULL) == a, "the pick hands out the trial first");
    ok(!pt_upstream_health_usable(a, 15000), "a trial in flight blocks others");
    ok(pt_upstream_health_usable(a, 15600), "a trial that never reports is granted again");
    pt_upstream_health_ok(a);
    ok(pt_upstream_health_up(a), "a successful trial: up");

    up.max_fails = 0;
    for (int i = 0; i < 5; i++)
        pt_upstream_health_fail(a, "connect refused", 20000);
    ok(pt_upstream_health_up(a), "max_fails = 0: never down");
    up.max_fails = 1;

    static const uint8_t map[75] = { [503 / 8] = 1u << (503 % 8) };
    up.fail_statuses = map;
    ok(pt_upstream_health_status_fails(&up, 503) && !pt_upstream_health_status_fails(&up, 502),
       "fail_statuses");

    /* A zone adopted on reload keeps the record of a server that stays. */
    pt_shm_t *shm = pt_shm_create(4 * 1024 * 1024);
    bool adopted;
    pt_zone_t *z = pt_shm_zone_attach(shm, "h", 2 * 1024 * 1024, 1, &adopted);
    conf.generation = 1;
    conf.main.max_generations = 4;
    ok(z && pt_upstream_health_zone_init(z, NULL, &conf) == PT_OK, "zone init");
    pt_upstream_peer_t *ra = a->health, *rk = k->health;
    ok(ra != &recs[0] && ra != rk, "one record per server");
    pt_upstream_health_fail(a, "connect refused", 30000);
    a->health = k->health = NULL;
    conf.generation = 2;
    servers[1].addr = servers[0].addr;
    pt_sock_resolve("127.0.0.1:9003", &servers[0].addr, 1, &(size_t) { 0 });
    ok(pt_upstream_health_zone_init(z, z, &conf) == PT_OK, "zone init on reload");
    ok(k->health == ra && !pt_upstream_health_up(k), "the server that stays keeps its state");
    ok(a->health != ra && a->health != rk && pt_upstream_health_up(a),
       "a new server gets a fresh record");

    /* Keys longer than a record holds are told apart by their whole hash. */
    char longname[PT_UPSTREAM_HEALTH_KEY + 20];
    memset(longname, 'u', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    up.name = longname;
    conf.generation = 3;
    ok(pt_upstream_health_zone_init(z, z, &conf) == PT_OK && a->health != k->health,
       "two servers of a long upstream name get two records");
    pt_upstream_peer_t *la = a->health;
    conf.generation = 4;
    ok(pt_upstream_health_zone_init(z, z, &conf) == PT_OK && a->health == la,
       "  and keep them on reload");

    pt_shm_destroy(shm);
    pt_upstream_exit_worker();
    return done_testing();
}
