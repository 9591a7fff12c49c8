/*
 * test_cache_store.c: a cache zone in a real shared-memory segment: insert
 * and lookup with Vary variants, replacement, fill markers (filler,
 * filling, expiry, pass), LRU eviction when full, invalidation by URI,
 * purge by prefix, the background-refresh claim, and adoption of the
 * contents by a later generation (a reload).
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/shm.h"

#include "worker/mod/cache/cache_store.h"
#include "test/unit/tap.h"

static pt_cache_key_t key_of(const char *uri)
{
    size_t n = strlen(uri);
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char) uri[i]) * 1099511628211ull;
    return (pt_cache_key_t) { { uri, n }, n, h };
}

/* The Vary key a "request" has: data is a NUL-terminated string. */
static bool match(const pt_cache_obj_t *o, void *data)
{
    pt_str_t vk = pt_cache_obj_part(o, PT_CACHE_VARY_KEY);
    return vk.len == strlen(data) && memcmp(vk.p, data, vk.len) == 0;
}

static int put(pt_zone_t *z, const char *uri, const char *vary, size_t body_len, int64_t now)
{
    static char body[200000];
    pt_cache_key_t k = key_of(uri);
    pt_cache_obj_t hdr = { .kind = PT_CACHE_OBJ_FULL, .status = 200 };
    pt_str_t parts[PT_CACHE_NPARTS] = { { 0 } };

    memset(body, 'b', sizeof(body));
    parts[PT_CACHE_KEY] = k.key;
    parts[PT_CACHE_VARY_NAMES] = *vary ? PT_STR("accept") : PT_STR("");
    parts[PT_CACHE_VARY_KEY] = (pt_str_t) { vary, strlen(vary) };
    parts[PT_CACHE_BODY] = (pt_str_t) { body, body_len };
    hdr.fresh.lifetime = 60;
    return pt_cache_insert(z, &k, &hdr, parts, now);
}

static enum pt_cache_found get(pt_zone_t *z, pt_arena_t *a, const char *uri, const char *vary,
                               int64_t now, int64_t fill_ms, pt_cache_obj_t **o)
{
    pt_cache_key_t k = key_of(uri);
    static pt_cache_obj_t *held;
    /* as a request would at its end: the previous hit goes back */
    if (held)
        pt_cache_release(z, held);
    held = NULL;
    (void) a;
    enum pt_cache_found f = pt_cache_lookup(z, &k, match, (void *) vary, now, fill_ms, o);
    if (f == PT_CACHE_FOUND_HIT)
        held = *o;
    return f;
}

int main(void)
{
    size_t zsize = 1024 * 1024;
    pt_shm_t *shm = pt_shm_create(pt_shm_overhead() + pt_shm_zone_footprint(zsize) * 2);
    bool adopted;
    pt_zone_t *z = pt_shm_zone_attach_owned(shm, "c", zsize, 1, "cache", PT_CACHE_ZONE_MAGIC,
                                            &adopted);
    pt_arena_t *a = pt_arena_create(0, 0);
    pt_cache_obj_t *o;

    ok(shm && z && a, "a zone");
    is(pt_cache_store_init(z, NULL), PT_OK, "laid out");
    is(get(z, a, "/a", "", 1000, 0, &o), PT_CACHE_FOUND_MISS, "empty: a miss");
    is(put(z, "/a", "", 100, 1000), PT_OK, "stored");
    is(get(z, a, "/a", "", 1000, 0, &o), PT_CACHE_FOUND_HIT, "a hit");
    ok(o && o->body_len == 100 && pt_cache_obj_part(o, PT_CACHE_BODY).p[99] == 'b',
       "the copy has the body");
    is(put(z, "/a", "", 50, 1001), PT_OK, "stored again");
    get(z, a, "/a", "", 1001, 0, &o);
    ok(o && o->body_len == 50, "the same variant was replaced");

    /* Vary variants */
    put(z, "/v", "en\n", 10, 1000);
    put(z, "/v", "de\n", 20, 1000);
    get(z, a, "/v", "de\n", 1000, 0, &o);
    ok(o && o->body_len == 20, "variant de");
    get(z, a, "/v", "en\n", 1000, 0, &o);
    ok(o && o->body_len == 10, "variant en");
    is(get(z, a, "/v", "fr\n", 1000, 0, &o), PT_CACHE_FOUND_VARY_MISS, "no variant fr");
    is(get(z, a, "/v", "fr\n", 1000, 500, &o), PT_CACHE_FOUND_VARY_FILLER,
       "a vary miss that fills");
    pt_cache_key_t kv = key_of("/v");
    pt_cache_fill_end(z, &kv, 1000, 0);

    /* a response with another Vary replaces the variants of the old one */
    put(z, "/v3", "", 10, 1000);
    put(z, "/v3", "en\n", 30, 1000);
    is(get(z, a, "/v3", "", 1000, 0, &o), PT_CACHE_FOUND_VARY_MISS,
       "the response without Vary went");

    /* fill markers */
    is(get(z, a, "/f", "", 1000, 500, &o), PT_CACHE_FOUND_FILLER, "the first miss fills");
    is(get(z, a, "/f", "", 1100, 500, &o), PT_CACHE_FOUND_FILLING, "the next one waits");
    is(get(z, a, "/f", "", 1600, 500, &o), PT_CACHE_FOUND_FILLER,
       "an expired marker (a dead filler) is taken over");
    put(z, "/f", "", 5, 1700);
    is(get(z, a, "/f", "", 1700, 500, &o), PT_CACHE_FOUND_HIT, "the fill replaced the marker");
    is(get(z, a, "/p", "", 1000, 500, &o), PT_CACHE_FOUND_FILLER, "fill /p");
    pt_cache_key_t kp = key_of("/p");
    pt_cache_fill_end(z, &kp, 1000, 300);
    is(get(z, a, "/p", "", 1100, 500, &o), PT_CACHE_FOUND_MISS, "a pass marker: no waiting");
    is(get(z, a, "/p", "", 1400, 500, &o), PT_CACHE_FOUND_FILLER, "after it, fill again");

    /* background refresh claim */
    pt_cache_key_t ka = key_of("/a");
    ok(pt_cache_refresh_claim(z, &ka, PT_STR(""), 1000, 2000), "the first claim");
    ok(!pt_cache_refresh_claim(z, &ka, PT_STR(""), 1500, 2500), "not a second one");
    ok(pt_cache_refresh_claim(z, &ka, PT_STR(""), 2001, 3000), "once it lapsed");

    /* invalidation and purge */
    is(pt_cache_invalidate(z, PT_STR("/v"), kv.hash), 2u, "both variants invalidated");
    is(get(z, a, "/v", "en\n", 1000, 0, &o), PT_CACHE_FOUND_MISS, "gone");
    put(z, "/x/1", "", 1, 1000);
    put(z, "/x/2", "", 1, 1000);
    put(z, "/y", "", 1, 1000);
    is(pt_cache_purge_prefix(z, PT_STR("/x/")), 2u, "purge a prefix");
    is(get(z, a, "/y", "", 1000, 0, &o), PT_CACHE_FOUND_HIT, "others stay");

    /* eviction: 30 objects of 100k in a 1M zone */
    for (int i = 0; i < 30; i++) {
        char *uri = pt_arena_sprintf(a, "/e%d", i);
        if (put(z, uri, "", 100000, 1000) != PT_OK)
            ok(0, "insert %d", i);
        if (i == 2)
            get(z, a, "/e0", "", 1000, 0, &o);      /* /e0 used: /e1 is older */
    }
    pt_cache_stats_t st;
    pt_cache_store_stats(z, &st);
    ok(st.evictions > 0 && st.bytes <= zsize, "evicted to fit (%lu evictions)",
       (unsigned long) st.evictions);
    is(get(z, a, "/e29", "", 1000, 0, &o), PT_CACHE_FOUND_HIT, "the newest stays");
    is(get(z, a, "/e1", "", 1000, 0, &o), PT_CACHE_FOUND_MISS, "the least recently used went");
    ok(put(z, "/huge", "", 2 * zsize, 1000) == PT_ERROR, "larger than the zone: refused");

    /* a pinned object removed stays readable until released */
    put(z, "/pin", "", 1000, 1000);
    pt_cache_obj_t *pin = NULL;
    pt_cache_key_t kpin = key_of("/pin");
    is(pt_cache_lookup(z, &kpin, match, (void *) "", 1000, 0, &pin), PT_CACHE_FOUND_HIT, "pinned");
    is(pt_cache_invalidate(z, PT_STR("/pin"), kpin.hash), 1u, "removed while pinned");
    pt_cache_store_stats(z, &st);
    is(st.pinned_dead, 1u, "kept until released");
    ok(pin->body_len == 1000 && pt_cache_obj_part(pin, PT_CACHE_BODY).p[999] == 'b',
       "still readable");
    pt_cache_release(z, pin);
    pt_cache_store_stats(z, &st);
    is(st.pinned_dead, 0u, "freed by the release");

    /* a reload adopts the zone with its contents */
    pt_zone_t *z2 = pt_shm_zone_attach_owned(shm, "c", zsize, 2, "cache", PT_CACHE_ZONE_MAGIC,
                                             &adopted);
    ok(z2 == z && adopted, "adopted");
    is(pt_cache_store_init(z2, z), PT_OK, "kept");
    is(get(z2, a, "/e29", "", 1000, 0, &o), PT_CACHE_FOUND_HIT, "contents survive");

    pt_arena_destroy(a);
    pt_shm_destroy(shm);
    return done_testing();
}
