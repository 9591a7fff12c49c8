/*
 * test_mod_ratelimit.c: the module without a connection: the `limits`
 * directive (what it accepts and refuses), keys (address prefix, query
 * argument, consumer and its plan), the per-plan rate, and the limit phase
 * on allowed requests with injected clocks (a quota starting again at the
 * period boundary, several limits each counting once, dry run).
 */
#include "worker/mod/limit/ratelimit/mod_ratelimit.c"

#include "worker/core/conf.h"
#include "worker/mod/limit/ratelimit/limit_parse.h"
#include "test/unit/tap.h"

#include <arpa/inet.h>

static pt_arena_t *arena;
static pt_conf_ctx_t cf;
static pt_conf_t conf;
static pt_limit_main_t mconf;
static pt_limit_route_t dconf;

static uint64_t fake_ns;
static int64_t fake_wall;

static uint64_t test_now_ns(void)
{
    return fake_ns;
}

static int64_t test_now_wall(void)
{
    return fake_wall;
}

static void setup(void)
{
    arena = pt_arena_create(4096, 0);
    cf = (pt_conf_ctx_t) { .arena = arena, .file = "test.conf", .data = &conf };
    pt_module_setup();
    conf.mod_main[pt_ratelimit_module.index] = &mconf;
    conf.mod_defaults[pt_ratelimit_module.index] = &dconf;
    pt_conf_unset(pt_ratelimit_directives, PT_SCOPE_ROUTE, &dconf);
    pt_conf_defaults(&cf, pt_ratelimit_directives, PT_SCOPE_ROUTE, &dconf);
    pt_ratelimit_now_ns = test_now_ns;
    pt_ratelimit_now_wall = test_now_wall;
}

static int route_from(const char *text, pt_route_t *route, pt_limit_route_t *rc)
{
    config_t lc;
    int rv = PT_ERROR;

    memset(route, 0, sizeof(*route));
    route->name = "r";
    route->mod_conf[pt_ratelimit_module.index] = rc;
    pt_conf_unset(pt_ratelimit_directives, PT_SCOPE_ROUTE, rc);
    cf.nerrors = 0;
    config_init(&lc);
    if (config_read_string(&lc, text) == CONFIG_TRUE) {
        pt_conf_target_t t = { pt_ratelimit_directives, rc };
        if (pt_conf_walk(&cf, config_root_setting(&lc), PT_SCOPE_ROUTE, &t, 1, NULL) == PT_OK) {
            pt_conf_merge(pt_ratelimit_directives, PT_SCOPE_ROUTE, rc, &dconf);
            rv = pt_ratelimit_init_route(&cf, &conf, route, rc, &dconf);
        }
    }
    config_destroy(&lc);
    return rv;
}

/* Give every zone the config named a table in process memory, as
 * init_zone does in shared memory. */
static void zones_attach(void)
{
    for (pt_limit_zone_t *z = mconf.zones; z; z = z->next) {
        if (z->table)
            continue;
        size_t size = pt_limit_table_bytes(256);
        void *mem = aligned_alloc(64, pt_align(size, 64));
        z->table = pt_limit_table_init(mem, size, 7);
        z->cell = pt_limit_table_claim_cell(z->table, 4242, NULL);
    }
}

static void test_conf(void)
{
    pt_route_t route;
    pt_limit_route_t rc;

    is(route_from("", &route, &rc), PT_OK, "a route without limits");
    ok(route.phase_skip & (UINT32_C(1) << pt_ratelimit_module.index), "skips the module");
    is(route_from("limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"10r/s\"; "
                  "burst = 4; delay = 2; } );", &route, &rc), PT_OK, "a rate limit");
    ok(!(route.phase_skip & (UINT32_C(1) << pt_ratelimit_module.index)), "runs on the route");
    const pt_limit_t *l = &rc.limits->v[0];
    ok(l->kind == PT_LIMIT_RATE && l->count == 10 && l->window == 1, "10 requests a second");
    ok(l->gcra.tolerance == 4 * l->gcra.interval && l->gcra.delay == 2 * l->gcra.interval,
       "burst 4, delay 2");
    ok(l->zone && strcmp(l->zone->name, "z1") == 0 && l->zone->size == 65536, "zone z1 of 64k");
    ok(conf.zones && strcmp(conf.zones->name, "z1") == 0, "asked of the master");
    is(route_from("limits = { name = \"q\"; zone = \"z1:64k\"; quota = 5; period = \"hour\"; };",
                  &route, &rc), PT_OK, "one group: a quota");
    ok(rc.limits->n == 1 && rc.limits->v[0].kind == PT_LIMIT_QUOTA, "a quota");
    ok(rc.limits->v[0].zone == l->zone, "the same zone name is the same zone");

    static const char *bad[] = {
        "limits = ( { zone = \"z1:64k\"; rate = \"1r/s\"; } );",
        "limits = ( { name = \"a b\"; zone = \"z1:64k\"; rate = \"1r/s\"; } );",
        "limits = ( { name = \"a\"; rate = \"1r/s\"; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"1r/s\"; quota = 3; "
        "period = \"day\"; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"10 r/s\"; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"0r/s\"; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"10r/w\"; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"10r/s\"; burst = 2; "
        "delay = 3; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; quota = 3; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; concurrency = 3; burst = 1; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"1r/s\"; }, "
        "{ name = \"a\"; zone = \"z1:64k\"; rate = \"2r/s\"; } );",
        "limits = ( { name = \"a\"; zone = \"z1:128k\"; rate = \"1r/s\"; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"1r/s\"; "
        "plan_rates = { gold = \"fast\"; }; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"1r/s\"; status = 200; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; rate = \"1r/s\"; colour = 1; } );",
        "limits = ( { name = \"a\"; zone = \"z1:64k\"; key = \"$client_net_40\"; "
        "rate = \"1r/s\"; } );",
        "limit_headers = true;",
        "limits = ( {name=\"a1\";zone=\"z1:64k\";rate=\"1r/s\";}, {name=\"a2\";zone=\"z1:64k\";"
        "rate=\"1r/s\";}, {name=\"a3\";zone=\"z1:64k\";rate=\"1r/s\";}, {name=\"a4\";"
        "zone=\"z1:64k\";rate=\"1r/s\";}, {name=\"a5\";zone=\"z1:64k\";rate=\"1r/s\";}, "
        "{name=\"a6\";zone=\"z1:64k\";rate=\"1r/s\";}, {name=\"a7\";zone=\"z1:64k\";"
        "rate=\"1r/s\";}, {name=\"a8\";zone=\"z1:64k\";rate=\"1r/s\";}, {name=\"a9\";"
        "zone=\"z1:64k\";rate=\"1r/s\";} );",
    };
    for (size_t i = 0; i < pt_countof(bad); i++)
        is(route_from(bad[i], &route, &rc), PT_ERROR, "refused: %s", bad[i]);
    ok(cf.errors && strstr(cf.errors, "test.conf:"), "errors name the file");
}

static void test_grammars(void)
{
    static const struct { const char *in; int rc; uint64_t count, period_s; } rates[] = {
        { "100r/s", PT_OK, 100, 1 }, { "6000r/m", PT_OK, 6000, 60 },
        { "20r/h", PT_OK, 20, 3600 }, { "500r/d", PT_OK, 500, 86400 },
        { "1000000000r/s", PT_OK, 1000000000, 1 }, { "007r/s", PT_OK, 7, 1 },
        { "1000000001r/s", PT_ERROR, 0, 0 }, { "99999999999r/s", PT_ERROR, 0, 0 },
        { "0r/s", PT_ERROR, 0, 0 }, { "r/s", PT_ERROR, 0, 0 }, { "10", PT_ERROR, 0, 0 },
        { "10r", PT_ERROR, 0, 0 }, { "10r/", PT_ERROR, 0, 0 }, { "10r/sec", PT_ERROR, 0, 0 },
        { "10 r/s", PT_ERROR, 0, 0 }, { "-1r/s", PT_ERROR, 0, 0 }, { "10R/s", PT_ERROR, 0, 0 },
        { "", PT_ERROR, 0, 0 }, { "10r/s ", PT_ERROR, 0, 0 },
    };
    for (size_t i = 0; i < pt_countof(rates); i++) {
        uint64_t count = 0, period = 0;
        const char *why = NULL;
        int rc = pt_limit_parse_rate(rates[i].in, strlen(rates[i].in), &count, &period, &why);
        ok(rc == rates[i].rc && (rc != PT_OK || (count == rates[i].count
                                                 && period == rates[i].period_s * PT_LIMIT_NS))
           && why && *why, "rate \"%s\"", rates[i].in);
    }
    static const struct { const char *in; int rc; unsigned v4, v6; } nets[] = {
        { "24", PT_OK, 24, 64 }, { "24_48", PT_OK, 24, 48 }, { "32_128", PT_OK, 32, 128 },
        { "0_0", PT_OK, 0, 0 }, { "33", PT_ERROR, 0, 0 }, { "24_129", PT_ERROR, 0, 0 },
        { "24_", PT_ERROR, 0, 0 }, { "_64", PT_ERROR, 0, 0 }, { "24x", PT_ERROR, 0, 0 },
        { "24_64_1", PT_ERROR, 0, 0 }, { "", PT_ERROR, 0, 0 },
    };
    for (size_t i = 0; i < pt_countof(nets); i++) {
        unsigned v4 = 99, v6 = 99;
        int rc = pt_limit_parse_prefixes(nets[i].in, strlen(nets[i].in), &v4, &v6);
        ok(rc == nets[i].rc && (rc != PT_OK || (v4 == nets[i].v4 && v6 == nets[i].v6)),
           "prefixes \"%s\"", nets[i].in);
    }
}

static void test_keys(void)
{
    char buf[PT_VAR_BUF];
    struct sockaddr_in in4 = { .sin_family = AF_INET };
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

    inet_pton(AF_INET, "192.0.2.77", &in4.sin_addr);
    inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", &in6.sin6_addr);
    pt_str_t v = pt_limit_client_net((struct sockaddr *) &in4, 24, 64, buf);
    ok(v.len == 12 && memcmp(v.p, "192.0.2.0/24", 12) == 0, "IPv4 /24: %.*s", (int) v.len, v.p);
    v = pt_limit_client_net((struct sockaddr *) &in6, 24, 64, buf);
    ok(v.len == 17 && memcmp(v.p, "2001:db8:1:2::/64", 17) == 0, "IPv6 /64: %.*s",
       (int) v.len, v.p);
    v = pt_limit_client_net((struct sockaddr *) &in6, 24, 48, buf);
    ok(strncmp(v.p, "2001:db8:1::/48", v.len) == 0, "IPv6 /48: %.*s", (int) v.len, v.p);
    v = pt_limit_client_net((struct sockaddr *) &in4, 20, 64, buf);
    ok(strncmp(v.p, "192.0.0.0/20", v.len) == 0, "IPv4 /20: %.*s", (int) v.len, v.p);

    pt_str_t q = PT_STR("a=1&key=abc&keyx=2&flag");
    v = pt_limit_query_arg(q, PT_STR("key"));
    ok(v.len == 3 && memcmp(v.p, "abc", 3) == 0, "argument key=abc");
    v = pt_limit_query_arg(q, PT_STR("keyx"));
    ok(v.len == 1 && v.p[0] == '2', "argument keyx, not a prefix match");
    ok(pt_limit_query_arg(q, PT_STR("flag")).len == 0, "an argument without value is empty");
    ok(pt_limit_query_arg(q, PT_STR("none")).len == 0, "a missing argument is empty");
    ok(pt_limit_query_arg(PT_STR_NULL, PT_STR("key")).len == 0, "no query: empty");
}

/* A request with no connection: route, arena, an address, a consumer. */
static void request_init(pt_request_t *r, pt_route_t *route, struct sockaddr_in *sa)
{
    memset(r, 0, sizeof(*r));
    r->arena = pt_arena_create(4096, 0);
    r->conf = &conf;
    r->route = route;
    r->id = PT_STR("test-request");
    r->client_sa = (struct sockaddr *) sa;
    r->client_ip = "192.0.2.77";
}

static void request_done(pt_request_t *r)
{
    pt_ratelimit_log(r);
    pt_arena_destroy(r->arena);
}

static void test_consumer_keys(void)
{
    pt_route_t route;
    pt_limit_route_t rc;
    pt_request_t r;
    struct sockaddr_in sa = { .sin_family = AF_INET };

    is(route_from("limits = ( { name = \"plan\"; zone = \"z2:64k\"; key = \"$consumer\"; "
                  "rate = \"1r/s\"; plan_rates = { gold = \"100r/s\"; }; },"
                  "{ name = \"mix\"; zone = \"z2:64k\"; key = \"$consumer_plan|$client_net_16|"
                  "$limit_arg_k\"; rate = \"1r/s\"; } );", &route, &rc), PT_OK,
       "limits keyed by consumer, plan, prefix and argument");
    zones_attach();
    inet_pton(AF_INET, "192.0.2.77", &sa.sin_addr);
    request_init(&r, &route, &sa);
    const pt_limit_t *plan = &rc.limits->v[0], *mix = &rc.limits->v[1];
    pt_limit_key_t k1, k2;
    ok(!pt_ratelimit_key(&r, plan, &k1), "an anonymous request has no $consumer key");
    pt_consumer_t alice = { .id = PT_STR("alice"), .plan = PT_STR("gold") };
    pt_consumer_t bob = { .id = PT_STR("bob"), .plan = PT_STR("free") };
    r.consumer = &alice;
    ok(pt_ratelimit_key(&r, plan, &k1), "alice has a key");
    r.consumer = &bob;
    pt_ratelimit_key(&r, plan, &k2);
    ok(k1.fp != k2.fp, "bob's is another");
    uint64_t q, w;
    r.consumer = &alice;
    ok(pt_ratelimit_gcra(plan, &r, &q, &w) == &plan->plans->v[0].gcra && q == 100,
       "gold gets its plan's rate");
    r.consumer = &bob;
    ok(pt_ratelimit_gcra(plan, &r, &q, &w) == &plan->gcra && q == 1,
       "a plan not named gets the rate");
    r.consumer = NULL;
    ok(pt_ratelimit_gcra(plan, &r, &q, &w) == &plan->gcra, "anonymous gets the rate");

    r.consumer = &alice;
    r.head.query = PT_STR("k=1");
    pt_ratelimit_key(&r, mix, &k1);
    r.head.query = PT_STR("k=2");
    pt_ratelimit_key(&r, mix, &k2);
    ok(k1.fp != k2.fp, "the argument is part of the key");
    inet_pton(AF_INET, "192.0.99.1", &sa.sin_addr);     /* same /16 */
    pt_ratelimit_key(&r, mix, &k1);
    ok(k1.fp == k2.fp, "an address in the same /16 is the same key");
    ok(k1.len < PT_LIMIT_KEY_MAX && memmem(k1.bytes, k1.len, "gold|192.0.0.0/16|2", 19),
       "the key holds plan, prefix and argument");

    /* The plan's rate applies through the phase: gold sends 100 at once
     * within a fresh window (burst 0 -> 1 at the same instant). */
    r.consumer = &alice;
    fake_ns = 1000 * PT_LIMIT_NS;
    is(pt_ratelimit_limit(&r), PT_DECLINED, "gold: the first goes");
    request_done(&r);
    request_init(&r, &route, &sa);
    r.consumer = &alice;
    fake_ns += PT_LIMIT_NS / 100;
    r.head.query = PT_STR("k=3");           /* another mix key */
    is(pt_ratelimit_limit(&r), PT_DECLINED, "gold: 10 ms later the next goes (100r/s)");
    request_done(&r);
}

static void test_phase(void)
{
    pt_route_t route;
    pt_limit_route_t rc;
    pt_request_t r;
    struct sockaddr_in sa = { .sin_family = AF_INET };

    inet_pton(AF_INET, "198.51.100.9", &sa.sin_addr);
    is(route_from("limits = ( { name = \"q\"; zone = \"z3:64k\"; quota = 2; period = \"minute\"; },"
                  "{ name = \"r\"; zone = \"z3:64k\"; rate = \"1000r/s\"; burst = 10; },"
                  "{ name = \"c\"; zone = \"z3:64k\"; concurrency = 5; },"
                  "{ name = \"dry\"; zone = \"z3:64k\"; rate = \"1r/m\"; dry_run = true; } );",
                  &route, &rc), PT_OK, "a quota, a rate, a concurrency limit, a dry run");
    zones_attach();
    fake_ns = 5000 * PT_LIMIT_NS;
    fake_wall = 1769903940 + 58;            /* 23:59:58 */
    pt_limit_entry_t *centry = NULL;
    for (unsigned i = 0; i < 2; i++) {
        request_init(&r, &route, &sa);
        is(pt_ratelimit_limit(&r), PT_DECLINED, "request %u in the minute: allowed", i);
        pt_ratelimit_ctx_t *ctx = r.ctx[pt_ratelimit_module.index];
        centry = ctx->res[2].entry;
        is(pt_limit_entry_inflight(centry), 1, "one in flight while it runs");
        if (i == 1)
            ok(!ctx->res[3].a.allowed, "the dry run would have refused the second");
        request_done(&r);
        is(pt_limit_entry_inflight(centry), 0, "none once logged");
    }
    pt_limit_entry_t *qe = NULL;
    {
        pt_limit_key_t k;
        request_init(&r, &route, &sa);
        pt_ratelimit_key(&r, &rc.limits->v[0], &k);
        qe = pt_limit_table_find(rc.limits->v[0].zone->table, &k);
        pt_arena_destroy(r.arena);
    }
    ok(qe && (atomic_load(&qe->word) & UINT32_MAX) == 2, "the quota counted 2");
    fake_wall += 2;                         /* 00:00:00: a new minute */
    request_init(&r, &route, &sa);
    is(pt_ratelimit_limit(&r), PT_DECLINED, "the next minute: the quota starts again");
    request_done(&r);
    ok((atomic_load(&qe->word) & UINT32_MAX) == 1, "counted 1 in the new minute");
}

/* A request held for its turn whose entry went to another key meanwhile
 * (evicted) gives nothing back to that key when its client leaves. */
static void test_held_evicted(void)
{
    pt_route_t route;
    pt_limit_route_t rc;
    pt_request_t r;
    struct sockaddr_in sa = { .sin_family = AF_INET };

    inet_pton(AF_INET, "198.51.100.10", &sa.sin_addr);
    is(route_from("limits = { name = \"d\"; zone = \"z4:64k\"; rate = \"1r/s\"; burst = 5; "
                  "delay = 0; };", &route, &rc), PT_OK, "a rate that holds what exceeds it");
    zones_attach();
    fake_ns = 9000 * PT_LIMIT_NS;
    request_init(&r, &route, &sa);
    is(pt_ratelimit_limit(&r), PT_DECLINED, "the first goes at once");
    request_done(&r);
    request_init(&r, &route, &sa);
    is(pt_ratelimit_limit(&r), PT_AGAIN, "the second is held for its turn");
    pt_ratelimit_ctx_t *ctx = r.ctx[pt_ratelimit_module.index];
    pt_limit_entry_t *e = ctx->res[0].entry;
    pt_limit_key_t other;
    pt_limit_table_key(rc.limits->v[0].zone->table, "another key", 11, &other);
    /* What an eviction does, with the other key's state. */
    atomic_store(&e->tag, other.fp | PT_LIMIT_TAG_BUSY);
    e->keylen = other.len;
    memcpy(e->key, other.bytes, other.len);
    atomic_store(&e->word, 12345 * PT_LIMIT_NS);
    atomic_store(&e->tag, other.fp);
    request_done(&r);                       /* its client left */
    ok(atomic_load(&e->word) == 12345 * PT_LIMIT_NS, "the other key's state is untouched");
    ok(pt_limit_table_holds(e, &other), "and the entry is still the other key's");
}

/* A concurrency entry given to another key by another worker between the
 * lookup and the count: the count does not stay on that key. */
static void test_concurrency_evicted(void)
{
    pt_route_t route;
    pt_limit_route_t rc;
    pt_request_t r;
    struct sockaddr_in sa = { .sin_family = AF_INET };
    bool created;

    inet_pton(AF_INET, "198.51.100.11", &sa.sin_addr);
    is(route_from("limits = { name = \"c\"; zone = \"z5:64k\"; concurrency = 2; };", &route,
                  &rc), PT_OK, "a concurrency limit");
    zones_attach();
    const pt_limit_t *l = &rc.limits->v[0];
    request_init(&r, &route, &sa);
    pt_ratelimit_result_t x = { .limit = l };
    ok(pt_ratelimit_key(&r, l, &x.key), "the request has a key");
    pt_limit_entry_t *e = x.entry = pt_limit_table_get(l->zone->table, &x.key, 1, &created);
    pt_limit_key_t other;
    pt_limit_table_key(l->zone->table, "another key", 11, &other);
    /* Another worker's eviction, after our lookup. */
    atomic_store(&e->tag, other.fp | PT_LIMIT_TAG_BUSY);
    e->keylen = other.len;
    memcpy(e->key, other.bytes, other.len);
    atomic_store(&e->tag, other.fp);
    pt_ratelimit_take(&r, &x, fake_ns, fake_wall);
    is(pt_limit_entry_inflight(e), 0, "nothing counted on the other key");
    ok(x.entry == NULL, "the limit did not apply to this request");
    pt_arena_destroy(r.arena);
}

/* A worker that started with every concurrency record held (z->cell -1)
 * takes the first one that frees at its next sweep and enforces again. */
static void test_sweep(void)
{
    pt_limit_zone_t *z = mconf.zones;
    int32_t live = (int32_t) getppid();

    pt_ratelimit_conf_worker = &conf;
    pt_timer_prepare(&pt_ratelimit_sweep_timer, pt_ratelimit_sweep, NULL);
    for (unsigned i = 0; i < PT_LIMIT_CELLS; i++)
        atomic_store(&z->table->procs[i], live);
    z->cell = -1;
    pt_ratelimit_sweep(&pt_ratelimit_sweep_timer);
    is(z->cell, -1, "every record held by a live process: still none");
    atomic_store(&z->table->procs[5], 0);
    pt_ratelimit_sweep(&pt_ratelimit_sweep_timer);
    is(z->cell, 5, "one frees: the sweep takes it for this worker");
    is((int) atomic_load(&z->table->procs[5]), (int) getpid(), "recorded as this process's");
    atomic_store(&z->table->procs[2], 0);
    pt_ratelimit_sweep(&pt_ratelimit_sweep_timer);
    is(z->cell, 5, "the next sweep keeps it");
    is((int) atomic_load(&z->table->procs[2]), 0, "and leaves another free record free");
    pt_timer_del(&pt_ratelimit_sweep_timer);
}

int main(void)
{
    setup();
    test_conf();
    test_grammars();
    test_keys();
    test_consumer_keys();
    test_phase();
    test_held_evicted();
    test_concurrency_evicted();
    test_sweep();
    return done_testing();
}
