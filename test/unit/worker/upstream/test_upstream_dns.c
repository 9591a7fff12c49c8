/*
 * test_upstream_dns.c: host-name servers (worker/upstream/upstream_dns.h):
 * merging answers into slots (staying addresses keep their slot, leavers
 * empty theirs, newcomers take the slot empty longest, max_addresses
 * bounds), the wait from a TTL, the record's lock and versions, a worker
 * copying a changed record into its slots (absent slots never picked), the
 * zone binding a conf's names on load and on reload, and which server
 * names are host names.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/shm.h"
#include "common/sock.h"

#include "worker/core/core.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_dns.h"
#include "worker/upstream/upstream_health.h"
#include "test/unit/tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <unistd.h>

static pt_upstream_dns_addr_t v4(const char *ip, uint16_t port)
{
    pt_upstream_dns_addr_t a = { .family = AF_INET, .port = port };
    inet_pton(AF_INET, ip, a.ip);
    return a;
}

static pt_upstream_dns_addr_t v6(const char *ip, uint16_t port)
{
    pt_upstream_dns_addr_t a = { .family = AF_INET6, .port = port };
    inet_pton(AF_INET6, ip, a.ip);
    return a;
}

static bool slot_is(const pt_upstream_dns_slot_t *s, pt_upstream_dns_addr_t a)
{
    return memcmp(&s->addr, &a, sizeof(a)) == 0;
}

static void test_merge(void)
{
    pt_upstream_dns_slot_t slots[PT_UPSTREAM_DNS_SLOTS_MAX];
    pt_upstream_dns_diff_t diff;
    pt_upstream_dns_addr_t a = v4("10.0.0.1", 80), b = v4("10.0.0.2", 80),
                           c = v6("2001:db8::3", 80), d = v4("10.0.0.4", 80);

    memset(slots, 0, sizeof(slots));
    pt_upstream_dns_addr_t first[] = { a, b, a };
    ok(pt_upstream_dns_merge(slots, 4, first, 3, 100, &diff), "a first answer changes the set");
    is(diff.nadded, 2, "  two addresses, the duplicate once");
    ok(slot_is(&slots[0], a) && slot_is(&slots[1], b), "  in the answer's order");
    is(slots[0].joined_at, 100, "  joined now");
    is(slots[2].addr.family, 0, "  the other slots are absent");

    pt_upstream_dns_addr_t same[] = { b, a };
    ok(!pt_upstream_dns_merge(slots, 4, same, 2, 200, &diff), "the same set in another order: no change");
    ok(slot_is(&slots[0], a) && slot_is(&slots[1], b), "  each address kept its slot");
    is(slots[0].joined_at, 100, "  and its joining time");

    pt_upstream_dns_addr_t next[] = { b, c };
    ok(pt_upstream_dns_merge(slots, 4, next, 2, 300, &diff), "a leaves, c joins");
    is(diff.nremoved, 1, "  one removed");
    ok(memcmp(&diff.removed[0], &a, sizeof(a)) == 0, "  it is a");
    is(slots[0].addr.family, 0, "  its slot is empty");
    is(slots[0].left_at, 300, "  since now");
    ok(slot_is(&slots[1], b), "  b stays where it was");
    is(diff.nadded, 1, "  one added");
    ok(diff.added[0] == 2 && slot_is(&slots[2], c), "  in a never-used slot, not a's");
    is(slots[2].joined_at, 300, "  joined now");

    pt_upstream_dns_addr_t more[] = { b, c, d, a };
    ok(pt_upstream_dns_merge(slots, 4, more, 4, 400, &diff), "two join");
    ok(slot_is(&slots[3], d), "  the never-used slot first");
    ok(slot_is(&slots[0], a), "  then the one empty longest");

    pt_upstream_dns_addr_t five[] = { a, b, c, d, v4("10.0.0.5", 80) };
    ok(!pt_upstream_dns_merge(slots, 4, five, 5, 500, &diff), "a fifth address with 4 slots");
    is(diff.dropped, 1, "  is left out and counted");

    ok(pt_upstream_dns_merge(slots, 2, five, 5, 600, &diff), "max_addresses shrinks to 2");
    ok(slots[2].addr.family == 0 && slots[3].addr.family == 0, "  the slots past it empty");
    ok(slot_is(&slots[0], a) && slot_is(&slots[1], b), "  the first two stay");

    pt_upstream_dns_addr_t ports[] = { v4("10.0.0.1", 81) };
    ok(pt_upstream_dns_merge(slots, 2, ports, 1, 700, &diff), "another port is another address");
    is(diff.nremoved, 2, "  both old ones leave");
}

static void test_wait(void)
{
    pt_upstream_t u = { .resolve_interval = 30000 };

    is(pt_upstream_dns_wait(&u, 0), 30000, "no TTL: resolve_interval");
    is(pt_upstream_dns_wait(&u, 5), 5000, "a TTL below it shortens the wait");
    is(pt_upstream_dns_wait(&u, 300), 30000, "a TTL above it does not lengthen it");
    u.resolve_interval = 300;
    is(pt_upstream_dns_wait(&u, 1), 300, "never more than resolve_interval");
    u.resolve_interval = 5000;
    is(pt_upstream_dns_wait(&u, 1), 1000, "at least 1 s when the interval allows");
}

static void test_record(void)
{
    static pt_upstream_dns_rec_t rec;
    pt_upstream_dns_slot_t copy[PT_UPSTREAM_DNS_SLOTS_MAX];
    uint32_t v;

    ok(pt_upstream_dns_lock(&rec), "the lock is free");
    ok(!pt_upstream_dns_lock(&rec), "  and then taken, even for its holder");
    pt_upstream_dns_unlock(&rec);
    atomic_store(&rec.writer, (int32_t) getppid());
    ok(!pt_upstream_dns_lock(&rec), "a live holder keeps it");
    atomic_store(&rec.writer, 999999999);
    ok(pt_upstream_dns_lock(&rec), "a dead holder's lock is taken over");
    pt_upstream_dns_write_begin(&rec);
    ok(!pt_upstream_dns_read(&rec, copy, &v), "no copy while the writer is in");
    rec.slots[0].addr = v4("10.1.1.1", 8080);
    pt_upstream_dns_write_end(&rec);
    pt_upstream_dns_unlock(&rec);
    ok(pt_upstream_dns_read(&rec, copy, &v), "a copy once it is out");
    is(v, 2, "  at version 2");
    ok(slot_is(&copy[0], v4("10.1.1.1", 8080)), "  with the new address");
    atomic_store(&rec.version, 3);      /* a writer died inside */
    pt_upstream_dns_write_begin(&rec);
    pt_upstream_dns_write_end(&rec);
    is(atomic_load(&rec.version), 4, "a writer after a dead one makes the version even again");
}

static void test_sync(void)
{
    static pt_upstream_dns_rec_t rec;
    static pt_upstream_dns_t d;
    static pt_server_t servers[3];
    static pt_upstream_t up;
    static pt_conf_t conf;
    pt_upstream_dns_diff_t diff;

    up = (pt_upstream_t) { .name = "u", .servers = servers, .nservers = 3,
                           .resolve_interval = 1000, .max_addresses = 2 };
    d = (pt_upstream_dns_t) { .name = "backend.test:80", .host = "backend.test", .port = 80,
                              .upstream = &up, .first = 1, .nslots = 2 };
    servers[0] = (pt_server_t) { .name = "10.9.9.9:80", .upstream = &up, .index = 0,
                                 .weight = 1 };
    pt_sock_resolve("10.9.9.9:80", &servers[0].addr, 1, &(size_t) { 0 });
    for (unsigned k = 0; k < 2; k++)
        servers[1 + k] = (pt_server_t) { .name = d.name, .upstream = &up, .index = 1 + k,
                                         .weight = 1, .dns = &d, .dns_slot = k,
                                         .absent = true };
    up.dns = &d;
    conf.upstreams = &up;
    conf.nupstreams = 1;
    ok(pt_upstream_init_worker(&conf) == PT_OK, "worker state");
    d.rec = &rec;                   /* bound after init: no resolver runs here */

    pt_clock_now = 5000;
    for (int i = 0; i < 6; i++)
        ok(pt_upstream_pick(&up, NULL) == &servers[0], "absent slots are never chosen (%d)", i);
    ok(!pt_upstream_health_usable(&servers[1], 5000), "  nor usable for a retry");

    pt_upstream_dns_addr_t answer[] = { v4("10.0.0.7", 80) };
    pt_upstream_dns_write_begin(&rec);
    pt_upstream_dns_merge(rec.slots, 2, answer, 1, 4000, &diff);
    pt_upstream_dns_write_end(&rec);
    pt_upstream_dns_sync(&d);
    ok(!servers[1].absent && servers[2].absent, "the record's address reaches slot 0");
    char text[PT_SOCK_ADDRSTRLEN];
    pt_sock_ntop((const struct sockaddr *) &servers[1].addr.ss, text, sizeof(text));
    is_str(text, "10.0.0.7:80", "  with its address and port");
    is(pt_upstream_dns_joined_at(&servers[1]), 4000, "  and when it joined");
    is(pt_upstream_dns_joined_at(&servers[0]), 0, "a fixed server never joined");
    unsigned picked = 0;
    for (int i = 0; i < 10; i++)
        picked += pt_upstream_pick(&up, NULL) == &servers[1];
    is(picked, 5, "the new address takes its share by weight");

    pt_upstream_dns_write_begin(&rec);
    pt_upstream_dns_merge(rec.slots, 2, NULL, 0, 6000, &diff);
    pt_upstream_dns_write_end(&rec);
    pt_upstream_dns_sync(&d);
    ok(servers[1].absent, "a removed address empties its slot");
    picked = 0;
    for (int i = 0; i < 10; i++)
        picked += pt_upstream_pick(&up, NULL) != &servers[0];
    is(picked, 0, "  which is no longer chosen");
    pt_upstream_exit_worker();
}

/* One upstream with one name of 3 slots whose load-time answer is
 * loaded[0..n). */
static pt_upstream_dns_t zd;
static pt_server_t zservers[3];
static pt_upstream_t zup;
static pt_conf_t zconf;

static void zone_conf(unsigned generation, const pt_upstream_dns_addr_t *loaded, unsigned n)
{
    zup = (pt_upstream_t) { .name = "u", .servers = zservers, .nservers = 3,
                            .resolve_interval = 10000, .max_addresses = 3, .resolve = 1 };
    zd = (pt_upstream_dns_t) { .name = "backend.test:80", .host = "backend.test", .port = 80,
                               .upstream = &zup, .first = 0, .nslots = 3, .nloaded = n };
    if (n)
        memcpy(zd.loaded, loaded, n * sizeof(*loaded));
    for (unsigned k = 0; k < 3; k++)
        zservers[k] = (pt_server_t) { .name = zd.name, .upstream = &zup, .index = k,
                                      .weight = 1, .dns = &zd, .dns_slot = k };
    zup.dns = &zd;
    zconf = (pt_conf_t) { .upstreams = &zup, .nupstreams = 1, .generation = generation };
    zconf.main.max_generations = 4;
}

static bool server_is(const pt_server_t *s, const char *text)
{
    char buf[PT_SOCK_ADDRSTRLEN];

    if (s->absent)
        return text == NULL;
    pt_sock_ntop((const struct sockaddr *) &s->addr.ss, buf, sizeof(buf));
    return text && strcmp(buf, text) == 0;
}

static void test_zone(void)
{
    pt_shm_t *shm = pt_shm_create(4 * 1024 * 1024);
    bool adopted;
    pt_zone_t *z = pt_shm_zone_attach(shm, "d", 2 * 1024 * 1024, 1, &adopted);
    pt_upstream_dns_addr_t first[] = { v4("10.0.0.1", 80), v4("10.0.0.2", 80) };
    pt_upstream_dns_addr_t second[] = { v4("10.0.0.2", 80), v6("2001:db8::3", 80) };

    pt_clock_update();
    zone_conf(1, first, 2);
    ok(z && pt_upstream_dns_zone_init(z, NULL, &zconf) == PT_OK, "zone init");
    ok(zd.rec != NULL && zd.rec->naddrs == 2, "the name has a record with its 2 addresses");
    ok(server_is(&zservers[0], "10.0.0.1:80") && server_is(&zservers[1], "10.0.0.2:80")
       && server_is(&zservers[2], NULL), "  shown in the slots");
    pt_upstream_dns_rec_t *rec = zd.rec;
    ok(atomic_load(&rec->next_at) > pt_clock_now, "  due after an interval");

    zone_conf(2, second, 2);
    ok(pt_upstream_dns_zone_init(z, z, &zconf) == PT_OK, "zone init on reload");
    ok(zd.rec == rec, "the same record for the same name");
    ok(server_is(&zservers[1], "10.0.0.2:80"), "the address that stays keeps its slot");
    ok(server_is(&zservers[0], NULL), "the one that left empties its slot");
    ok(server_is(&zservers[2], "[2001:db8::3]:80"), "the new one takes the never-used slot");

    zone_conf(3, NULL, 0);
    ok(pt_upstream_dns_zone_init(z, z, &zconf) == PT_OK, "a reload without an answer");
    ok(server_is(&zservers[0], NULL) && server_is(&zservers[1], "10.0.0.2:80")
       && server_is(&zservers[2], "[2001:db8::3]:80"), "  keeps the set");
    ok(atomic_load(&rec->next_at) <= pt_clock_now, "  and makes the name due at once");
    pt_shm_destroy(shm);
}

static void test_names(void)
{
    ok(pt_upstream_dns_is_name("backend.internal:8080"), "a host name");
    ok(pt_upstream_dns_is_name("localhost:80"), "localhost is a name too");
    ok(!pt_upstream_dns_is_name("127.0.0.1:80"), "an IPv4 literal is not");
    ok(!pt_upstream_dns_is_name("[::1]:80"), "an IPv6 literal is not");
    ok(!pt_upstream_dns_is_name("backend"), "no port: left to the address parser");
    ok(!pt_upstream_dns_is_name("backend:http"), "a port by name: the same");
}

int main(void)
{
    test_merge();
    test_wait();
    test_record();
    test_sync();
    test_zone();
    test_names();
    return done_testing();
}
