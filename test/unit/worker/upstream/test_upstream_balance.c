/*
 * test_upstream_balance.c: the balance algorithms (worker/upstream/
 * upstream_balance.h) on servers with shared records: the hash ring keeps
 * keys in place and moves about 1/N of them when one of N servers goes,
 * least_conn, random with two choices and ewma steer away from loaded or
 * slow servers, max_conns, drain, slow start and the in-flight counts.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/sock.h"

#include "worker/core/core.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_balance.h"
#include "worker/upstream/upstream_dns.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_state.h"
#include "test/unit/tap.h"

#define N       5
#define KEYS    1000

static pt_upstream_t ups[2];
static pt_server_t servers[2][N];
static pt_upstream_peer_t recs[2][N];
static pt_conf_t conf;
static pt_arena_t *arena;
static bool inited;

static void make(unsigned i, size_t n, int balance, const int64_t *weights)
{
    char addr[32];

    if (inited)                 /* the worker state is sized by the servers */
        pt_upstream_exit_worker();
    ups[i] = (pt_upstream_t) { .name = "u", .index = i, .servers = servers[i], .nservers = n,
                               .balance = balance, .ewma_decay = 10000, .max_fails = 1,
                               .fail_timeout = 1000 };
    for (size_t k = 0; k < n; k++) {
        servers[i][k] = (pt_server_t) { .name = "s", .upstream = &ups[i], .index = (unsigned) k,
                                        .weight = weights ? weights[k] : 1,
                                        .health = &recs[i][k] };
        memset(&recs[i][k], 0, sizeof(recs[i][k]));
        snprintf(addr, sizeof(addr), "127.0.0.1:%zu", 9001 + k);
        pt_sock_resolve(addr, &servers[i][k].addr, 1, &(size_t) { 0 });
    }
    if (inited)                 /* each case starts its rotations afresh */
        pt_upstream_init_worker(&conf);
}

static int build(unsigned i)
{
    pt_conf_ctx_t cf = { .arena = arena };

    return pt_balance_hash_build(&cf, NULL, &ups[i]);
}

static uint64_t key(unsigned k)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "client-%u", k);

    return pt_hash(buf, (size_t) n, 0);
}

/* The index of the server ring i gives key k (by address: rings of
 * different server lists are compared by port). */
static int owner_port(unsigned i, unsigned k)
{
    const pt_server_t *s = pt_balance_hash_owner(&ups[i], key(k));

    return s ? ntohs(((const struct sockaddr_in *) &s->addr.ss)->sin_port) : -1;
}

static unsigned count(const pt_upstream_t *u, size_t picks, size_t which)
{
    unsigned n = 0;

    for (size_t i = 0; i < picks; i++)
        n += pt_upstream_pick(u, NULL) == &u->servers[which];
    return n;
}

static void test_ring(void)
{
    static int before[KEYS];
    unsigned per[N] = { 0 }, moved = 0, moved_other = 0;

    make(0, N, PT_BALANCE_HASH, NULL);
    ok(build(0) == PT_OK, "ring of 5 servers");
    for (unsigned k = 0; k < KEYS; k++) {
        before[k] = owner_port(0, k);
        per[before[k] - 9001]++;
    }
    unsigned lo = KEYS, hi = 0;
    for (int i = 0; i < N; i++) {
        lo = pt_min(lo, per[i]);
        hi = pt_max(hi, per[i]);
    }
    ok(lo >= 100 && hi <= 320, "1000 keys spread over 5 servers: %u to %u each", lo, hi);
    ok(owner_port(0, 7) == owner_port(0, 7), "a key has one owner");

    /* The same list without its third server (a reload with one fewer). */
    pt_server_t keep[N - 1];
    size_t nk = 0;
    for (int i = 0; i < N; i++)
        if (i != 2)
            keep[nk++] = servers[0][i];
    memcpy(servers[1], keep, sizeof(keep));
    ups[1] = ups[0];
    ups[1].index = 1;
    ups[1].servers = servers[1];
    ups[1].nservers = N - 1;
    for (size_t i = 0; i < nk; i++) {
        servers[1][i].upstream = &ups[1];
        servers[1][i].index = (unsigned) i;
    }
    ok(build(1) == PT_OK, "ring of the other 4");
    for (unsigned k = 0; k < KEYS; k++) {
        int now = owner_port(1, k);
        if (now != before[k]) {
            moved++;
            moved_other += before[k] != 9003;
        }
    }
    is(moved_other, 0, "no key of a remaining server moved");
    is(moved, per[2], "every key of the removed server moved (%u)", moved);
    ok(moved >= KEYS / N / 2 && moved <= KEYS * 2 / N, "about 1/5 of the keys moved: %u", moved);

    /* Weights: a server of weight 3 owns about three times the keys. */
    static const int64_t w[] = { 3, 1 };
    make(0, 2, PT_BALANCE_HASH, w);
    ok(build(0) == PT_OK, "weighted ring");
    unsigned heavy = 0;
    for (unsigned k = 0; k < KEYS; k++)
        heavy += owner_port(0, k) == 9001;
    ok(heavy > 650 && heavy < 850, "weight 3 of 4: %u of 1000 keys", heavy);
}

static void test_hash_failover(void)
{
    pt_balance_state_t st = { 0 };
    int32_t load[N];

    st.load = load;
    st.was_down = (uint8_t[N]) { 0 };
    make(0, N, PT_BALANCE_HASH, NULL);
    build(0);
    const pt_server_t *own = pt_balance_hash_owner(&ups[0], key(1));
    ok(pt_balance_hash(&ups[0], &st, key(1), NULL, 0) == own, "the key's owner while up");
    atomic_store(&recs[0][own->index].state, PT_UPSTREAM_HEALTH_DOWN);
    atomic_store(&recs[0][own->index].down_until, INT64_MAX);
    const pt_server_t *next = pt_balance_hash(&ups[0], &st, key(1), NULL, 0);
    ok(next && next != own, "owner down: another server");
    ok(pt_balance_hash(&ups[0], &st, key(1), NULL, 0) == next, "  and always the same one");
    ok(pt_balance_hash(&ups[0], &st, key(1), next, 0) != next, "after it fails: yet another");
    for (int i = 0; i < N; i++) {
        atomic_store(&recs[0][i].state, PT_UPSTREAM_HEALTH_DOWN);
        atomic_store(&recs[0][i].down_until, INT64_MAX);
    }
    ok(pt_balance_hash(&ups[0], &st, key(1), NULL, 0) == NULL, "all down: none on the ring");

    /* Bounded loads: the key's owner holding more than 125 % of its fair
     * share of what is in flight passes the key on, to the next on the ring. */
    make(0, 3, PT_BALANCE_HASH, NULL);
    build(0);
    own = pt_balance_hash_owner(&ups[0], key(2));
    ups[0].hash_load_bound = 125;
    ok(pt_balance_hash(&ups[0], &st, key(2), NULL, 0) == own, "bounded: the owner while idle");
    for (int i = 0; i < 3; i++)
        atomic_store(&recs[0][i].lb_inflight, 4);
    ok(pt_balance_hash(&ups[0], &st, key(2), NULL, 0) == own,
       "  4 in flight each: under the cap, ceil(13 x 1.25 / 3) = 6");
    atomic_store(&recs[0][own->index].lb_inflight, 10);
    next = pt_balance_hash(&ups[0], &st, key(2), NULL, 0);
    ok(next && next != own, "  the owner at 10 (cap ceil(19 x 1.25 / 3) = 8): the next server");
    atomic_store(&recs[0][own->index].lb_inflight, 1);
    for (int i = 0; i < 3; i++)
        if (&servers[0][i] != own)
            atomic_store(&recs[0][i].lb_inflight, 0);
    ok(pt_balance_hash(&ups[0], &st, key(2), NULL, 0) != own,
       "  at low load the cap is 1: one in flight already passes a key on");
    ups[0].hash_load_bound = 0;
    ok(pt_balance_hash(&ups[0], &st, key(2), NULL, 0) == own, "unbounded: the owner, loaded or not");
}

/* Retries of a key follow its walk of the ring: after the key's server
 * and the next one fail, the third try is the one after those, not the
 * key's server again. */
static void test_hash_retry(void)
{
    pt_balance_state_t st = { 0 };
    int32_t load[N];

    st.load = load;
    st.was_down = (uint8_t[N]) { 0 };
    for (unsigned bound = 0; bound <= 125; bound += 125) {
        make(0, 3, PT_BALANCE_HASH, NULL);
        build(0);
        ups[0].hash_load_bound = bound;
        const pt_server_t *a = pt_balance_hash(&ups[0], &st, key(3), NULL, 0);
        const pt_server_t *b = pt_balance_hash(&ups[0], &st, key(3), a, 0);
        const pt_server_t *c = pt_balance_hash(&ups[0], &st, key(3), b, 0);
        ok(a && b && b != a, "bound %u: after the key's server fails, the next", bound);
        ok(c && c != a && c != b, "  after that one fails too, the third server, not the "
           "key's again");
        ok(pt_balance_hash(&ups[0], &st, key(3), c, 0) == a,
           "  after all three, round again from the key's server");
        ups[0].hash_load_bound = 0;
    }
    make(0, 2, PT_BALANCE_HASH, NULL);
    build(0);
    const pt_server_t *a = pt_balance_hash(&ups[0], &st, key(4), NULL, 0);
    const pt_server_t *b = pt_balance_hash(&ups[0], &st, key(4), a, 0);
    ok(b && b != a && pt_balance_hash(&ups[0], &st, key(4), b, 0) == a,
       "two servers: the other one, then back");
}

/* dns: slots of a host name on the ring. Empty at load (no address yet),
 * they must not all take the same points: filled later, each gets its
 * share of the keys. */
static void test_hash_dns_slots(void)
{
    static pt_upstream_dns_t d = { .name = "backend.test:80", .host = "backend.test",
                                   .port = 80 };
    unsigned per[4] = { 0 };

    make(0, 4, PT_BALANCE_HASH, NULL);
    d.upstream = &ups[0];
    d.nslots = 4;
    for (unsigned k = 0; k < 4; k++) {
        servers[0][k].dns = &d;
        servers[0][k].dns_slot = k;
        if (k >= 1) {               /* one address at load, three empty slots */
            servers[0][k].absent = true;
            memset(&servers[0][k].addr, 0, sizeof(servers[0][k].addr));
        }
    }
    ok(build(0) == PT_OK, "ring of a name's 4 slots, 3 of them empty");
    for (unsigned k = 1; k < 4; k++) {  /* DNS fills them */
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", 9001 + k);
        pt_sock_resolve(addr, &servers[0][k].addr, 1, &(size_t) { 0 });
        servers[0][k].absent = false;
    }
    for (unsigned k = 0; k < KEYS; k++)
        per[pt_balance_hash_owner(&ups[0], key(k))->index]++;
    for (unsigned k = 0; k < 4; k++)
        ok(per[k] >= KEYS / 4 / 2, "slot %u owns its share of the keys: %u of %u", k, per[k],
           KEYS);
    for (unsigned k = 0; k < 4; k++) {
        servers[0][k].dns = NULL;
        servers[0][k].absent = false;
    }
}

static void test_least_conn(void)
{
    make(0, 3, PT_BALANCE_LEAST_CONN, NULL);
    atomic_store(&recs[0][0].lb_inflight, 3);
    atomic_store(&recs[0][1].lb_inflight, 0);
    atomic_store(&recs[0][2].lb_inflight, 1);
    is(count(&ups[0], 10, 1), 10, "least_conn: the idle server every time");
    atomic_store(&recs[0][1].lb_inflight, 1);
    unsigned b = count(&ups[0], 10, 1);
    is(b, 5, "b and c tied at 1: half each (%u)", b);
    static const int64_t w[] = { 2, 1, 1 };
    make(0, 3, PT_BALANCE_LEAST_CONN, w);
    atomic_store(&recs[0][0].lb_inflight, 3);
    atomic_store(&recs[0][1].lb_inflight, 2);
    atomic_store(&recs[0][2].lb_inflight, 2);
    is(count(&ups[0], 6, 0), 6, "3 in flight at weight 2 is less than 2 at weight 1");
}

static void test_random(void)
{
    make(0, 3, PT_BALANCE_RANDOM, NULL);
    atomic_store(&recs[0][0].lb_inflight, 10);
    unsigned a = count(&ups[0], 300, 0), b = count(&ups[0], 300, 1);
    is(a, 0, "two choices: never the loaded server (two distinct are compared)");
    ok(b > 100 && b < 200, "  the others share the rest (%u of 300)", b);
}

static void test_ewma(void)
{
    uint64_t now = pt_balance_now_us();

    make(0, 3, PT_BALANCE_EWMA, NULL);
    for (int i = 0; i < 3; i++)
        atomic_store(&recs[0][i].lb_ewma_at, (int64_t) now);
    atomic_store(&recs[0][0].lb_ewma_us, 100000);
    atomic_store(&recs[0][1].lb_ewma_us, 1000);
    atomic_store(&recs[0][2].lb_ewma_us, 1000);
    is(count(&ups[0], 20, 0), 0, "ewma: never the slow server");
    atomic_store(&recs[0][1].lb_inflight, 1);
    is(count(&ups[0], 10, 2), 10, "  and the fast one without a request in flight");

    /* Peak: a slow answer counts at once; a fast one pulls it down slowly. */
    make(0, 1, PT_BALANCE_EWMA, NULL);
    pt_balance_ewma_observe(&servers[0][0], 1000);
    is(atomic_load(&recs[0][0].lb_ewma_us), 1000, "first sample");
    pt_balance_ewma_observe(&servers[0][0], 50000);
    is(atomic_load(&recs[0][0].lb_ewma_us), 50000, "a slower one replaces it");
    pt_balance_ewma_observe(&servers[0][0], 1000);
    ok(atomic_load(&recs[0][0].lb_ewma_us) > 45000, "a fast one right after barely moves it");
    atomic_store(&recs[0][0].lb_ewma_at, (int64_t) (pt_balance_now_us() - 20000000));
    uint64_t v = pt_balance_ewma_value(&servers[0][0], pt_balance_now_us());
    ok(v < 50000 / 5 && v > 0, "20 s later (decay 10 s) it has decayed: %llu us",
       (unsigned long long) v);
}

static void test_caps(void)
{
    make(0, 2, PT_BALANCE_ROUND_ROBIN, NULL);
    servers[0][0].max_conns = 1;
    atomic_store(&recs[0][0].lb_inflight, 1);
    is(count(&ups[0], 6, 1), 6, "max_conns reached: the other server");
    servers[0][1].max_conns = 2;
    atomic_store(&recs[0][1].lb_inflight, 2);
    ok(pt_upstream_pick(&ups[0], NULL) == NULL, "both at max_conns: none");
    ok(strstr(pt_upstream_none_reason(&ups[0]), "max_conns") != NULL, "  because of max_conns");

    make(0, 2, PT_BALANCE_LEAST_CONN, NULL);
    servers[0][1].backup = true;
    servers[0][0].max_conns = 1;
    ok(pt_upstream_pick(&ups[0], NULL) == &servers[0][0], "the primary under its cap");
    atomic_store(&recs[0][0].lb_inflight, 1);
    ok(pt_upstream_pick(&ups[0], NULL) == &servers[0][1], "the backup takes the overflow");

    make(0, 2, PT_BALANCE_ROUND_ROBIN, NULL);
    ok(pt_upstream_server_set_drain(&servers[0][0], true, NULL) == PT_OK, "drain at run time");
    is(count(&ups[0], 6, 1), 6, "a draining server gets nothing");
    servers[0][1].drain = true;
    ok(pt_upstream_pick(&ups[0], NULL) == NULL, "both draining: none");
    ok(strstr(pt_upstream_none_reason(&ups[0]), "draining") != NULL, "  because of drain");
    pt_upstream_server_set_drain(&servers[0][0], false, NULL);
    is(count(&ups[0], 4, 0), 4, "drain lifted: it takes requests again");
}

static void test_slow_start(void)
{
    make(0, 2, PT_BALANCE_ROUND_ROBIN, NULL);
    servers[0][0].slow_start = 10000;
    pt_clock_now = 100000;
    atomic_store(&recs[0][0].lb_since, 95000);
    is(pt_balance_weight(&servers[0][0], pt_clock_now), PT_BALANCE_SCALE / 2,
       "half way through slow start: half the weight");
    unsigned a = count(&ups[0], 30, 0);
    is(a, 10, "  a third of the requests against a full server (%u of 30)", a);
    pt_clock_now = 106000;
    is(pt_balance_weight(&servers[0][0], pt_clock_now), PT_BALANCE_SCALE, "over: the full weight");

    /* A recovery seen by a worker starts the ramp. */
    atomic_store(&recs[0][0].lb_since, 0);
    atomic_store(&recs[0][0].state, PT_UPSTREAM_HEALTH_DOWN);
    atomic_store(&recs[0][0].down_until, INT64_MAX);
    pt_upstream_pick(&ups[0], NULL);
    atomic_store(&recs[0][0].state, PT_UPSTREAM_HEALTH_UP);
    pt_upstream_pick(&ups[0], NULL);
    is(atomic_load(&recs[0][0].lb_since), 106000, "down then up: the ramp starts");

    /* Started at run time (a server DNS adds). */
    pt_clock_update();
    ok(pt_upstream_server_start_ramp(&servers[0][0], "resolved") == PT_OK, "ramp at run time");
    ok(pt_balance_weight(&servers[0][0], pt_clock_now) < PT_BALANCE_SCALE, "  weight below full");
    ok(pt_upstream_server_start_ramp(&servers[0][1], NULL) == PT_ERROR,
       "  not for a server without slow_start");
}

static void state_cb(const pt_upstream_server_state_t *st, void *data)
{
    int64_t *sum = data;

    *sum += st->inflight;
}

static void test_counts(void)
{
    make(0, 2, PT_BALANCE_ROUND_ROBIN, NULL);
    pt_balance_acquire(&servers[0][0]);
    pt_balance_acquire(&servers[0][0]);
    pt_balance_acquire(&servers[0][1]);
    pt_balance_release(&servers[0][0], 0);
    is(atomic_load(&recs[0][0].lb_inflight), 1, "two taken, one given back");
    int64_t sum = 0;
    conf.nupstreams = 1;
    pt_upstream_state_each(&conf, state_cb, &sum);
    is(sum, 2, "the state view sums 2 in flight");
    conf.nupstreams = 2;
}

int main(void)
{
    pt_clock_update();
    arena = pt_arena_create(4096, 64 << 20);
    make(0, N, PT_BALANCE_ROUND_ROBIN, NULL);
    make(1, N, PT_BALANCE_ROUND_ROBIN, NULL);
    conf.upstreams = ups;
    conf.nupstreams = 2;
    ok(pt_upstream_init_worker(&conf) == PT_OK, "worker state");
    inited = true;
    test_ring();
    test_hash_failover();
    test_hash_retry();
    test_hash_dns_slots();
    test_least_conn();
    test_random();
    test_ewma();
    test_caps();
    test_slow_start();
    test_counts();
    pt_upstream_exit_worker();
    pt_arena_destroy(arena);
    return done_testing();
}
