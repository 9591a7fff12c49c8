/*
 * test_introspect_cache.c: the shared cache of introspection answers in a
 * real zone: hits until expiry, keys apart, what does not fit, adoption
 * on reload, and eviction that keeps the table consistent when full.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/shm.h"
#include "worker/mod/auth/introspect/introspect_cache.h"
#include "test/unit/tap.h"

static void key_of(unsigned char *k, unsigned i)
{
    memset(k, 0, 32);
    for (unsigned b = 0; b < 32; b++)
        k[b] = (unsigned char) (tap_rand() ^ i);
    memcpy(k + 28, &i, sizeof(i));
}

int main(void)
{
    size_t zsize = 64 * 1024;
    pt_shm_t *shm = pt_shm_create(pt_shm_overhead() + pt_shm_zone_footprint(zsize) * 2);
    bool adopted = false;
    pt_zone_t *z = pt_shm_zone_attach(shm, "tokens", zsize, 1, &adopted);
    pt_arena_t *a = pt_arena_create(4096, 0);
    pt_introspect_result_t res = { true, PT_STR("alice"), PT_STR("app"), PT_STR("read write"),
                                   2000 };
    pt_introspect_result_t out;
    unsigned char k1[32], k2[32];
    uint64_t now = 1000000;

    ok(z != NULL, "a zone");
    is(pt_introspect_cache_init(z, NULL), PT_OK, "laid out");
    key_of(k1, 1);
    key_of(k2, 2);
    ok(!pt_introspect_cache_get(z, k1, now, &out, a), "empty: a miss");
    pt_introspect_cache_put(z, k1, &res, now + 5000, now);
    ok(pt_introspect_cache_get(z, k1, now + 4999, &out, a), "a hit before expiry");
    ok(out.active && pt_str_eq_lit(out.sub, "alice") && pt_str_eq_lit(out.client_id, "app")
       && pt_str_eq_lit(out.scope, "read write") && out.exp == 2000, "the answer as stored");
    ok(!pt_introspect_cache_get(z, k1, now + 5000, &out, a), "gone at expiry");
    ok(!pt_introspect_cache_get(z, k2, now, &out, a), "another key misses");

    pt_introspect_result_t neg = { .active = false };
    pt_introspect_cache_put(z, k2, &neg, now + 100, now);
    ok(pt_introspect_cache_get(z, k2, now + 50, &out, a) && !out.active, "a negative answer");

    char big[PT_INTROSPECT_SCOPE_MAX + 1];
    memset(big, 's', sizeof(big));
    pt_introspect_result_t huge = { true, PT_STR("x"), PT_STR_NULL, { big, sizeof(big) }, 0 };
    unsigned char k3[32];
    key_of(k3, 3);
    pt_introspect_cache_put(z, k3, &huge, now + 100, now);
    ok(!pt_introspect_cache_get(z, k3, now, &out, a), "a scope too long is not kept");

    /* Adopted on reload: contents stay. */
    pt_introspect_cache_put(z, k1, &res, now + 5000, now);
    is(pt_introspect_cache_init(z, z), PT_OK, "adopted");
    ok(pt_introspect_cache_get(z, k1, now, &out, a), "kept across the reload");

    /* Far more keys than slots: every lookup still answers its own. */
    unsigned bad = 0, hits = 0;
    for (unsigned i = 10; i < 2000; i++) {
        unsigned char k[32];
        key_of(k, i);
        pt_introspect_result_t r = { true, { (const char *) &i, sizeof(i) }, PT_STR_NULL,
                                     PT_STR_NULL, 0 };
        pt_introspect_cache_put(z, k, &r, now + 1000 + i, now);
        if (pt_introspect_cache_get(z, k, now, &out, a)) {
            hits++;
            bad += out.sub.len != sizeof(i) || memcmp(out.sub.p, &i, sizeof(i)) != 0;
        }
        pt_arena_reset(a);
    }
    is(bad, 0, "no answer is another key's");
    is(hits, 1990, "each key is found right after it is stored");
    pt_arena_destroy(a);
    pt_shm_destroy(shm);
    return done_testing();
}
