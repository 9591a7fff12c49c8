/*
 * introspect_cache.c: the shared cache of introspection results
 * (introspect_cache.h).
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/shm.h"
#include "common/shmtx.h"
#include "worker/mod/auth/introspect/introspect_cache.h"

/* Slots a key may live in, from its hash on. */
#define PT_INTROSPECT_PROBES    8

typedef struct {
    unsigned char key[32];
    uint64_t expires_ms;            /* wall clock; 0: empty */
    int64_t exp;
    uint8_t active;
    uint16_t sub_len, client_len, scope_len;
    char sub[PT_INTROSPECT_SUB_MAX];
    char client[PT_INTROSPECT_CLIENT_MAX];
    char scope[PT_INTROSPECT_SCOPE_MAX];
} pt_introspect_entry_t;

typedef struct {
    uint32_t magic;
    size_t n;
    uint64_t hits, misses, stores, evictions;
    pt_introspect_entry_t *e;
} pt_introspect_shm_t;

int pt_introspect_cache_init(pt_zone_t *zone, pt_zone_t *old)
{
    pt_introspect_shm_t *sh = *pt_zone_root(zone);

    if (old && sh && sh->magic == PT_INTROSPECT_ZONE_MAGIC)
        return PT_OK;
    if (sh == NULL && (sh = pt_zone_calloc(zone, sizeof(*sh))) == NULL)
        return PT_ERROR;
    memset(sh, 0, sizeof(*sh));
    for (size_t n = pt_zone_size(zone) / 2 / sizeof(*sh->e); n >= 1 && sh->e == NULL; n /= 2)
        if ((sh->e = pt_zone_calloc(zone, n * sizeof(*sh->e))) != NULL)
            sh->n = n;
    if (sh->e == NULL)
        return PT_ERROR;
    sh->magic = PT_INTROSPECT_ZONE_MAGIC;
    *pt_zone_root(zone) = sh;
    return PT_OK;
}

static size_t pt_introspect_slot(const pt_introspect_shm_t *sh, const unsigned char *key)
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));     /* a SHA-256 is as uniform as any hash of it */
    return (size_t) (h % sh->n);
}

bool pt_introspect_cache_get(pt_zone_t *zone, const unsigned char *key, uint64_t now_ms,
                             pt_introspect_result_t *out, pt_arena_t *arena)
{
    pt_introspect_shm_t *sh = *pt_zone_root(zone);
    bool found = false;

    pt_shmtx_lock(pt_zone_lock(zone));
    size_t s = pt_introspect_slot(sh, key);
    for (size_t i = 0; i < PT_INTROSPECT_PROBES && i < sh->n; i++) {
        const pt_introspect_entry_t *e = &sh->e[(s + i) % sh->n];
        if (e->expires_ms <= now_ms || memcmp(e->key, key, 32) != 0)
            continue;
        char *sub = pt_arena_strndup(arena, e->sub, e->sub_len);
        char *client = pt_arena_strndup(arena, e->client, e->client_len);
        char *scope = pt_arena_strndup(arena, e->scope, e->scope_len);
        if (sub && client && scope) {
            *out = (pt_introspect_result_t) { e->active != 0, { sub, e->sub_len },
                                              { client, e->client_len },
                                              { scope, e->scope_len }, e->exp };
            found = true;
        }
        break;
    }
    if (found)
        sh->hits++;
    else
        sh->misses++;
    pt_shmtx_unlock(pt_zone_lock(zone));
    return found;
}

void pt_introspect_cache_put(pt_zone_t *zone, const unsigned char *key,
                             const pt_introspect_result_t *res, uint64_t expires_ms,
                             uint64_t now_ms)
{
    pt_introspect_shm_t *sh = *pt_zone_root(zone);

    if (res->sub.len > PT_INTROSPECT_SUB_MAX || res->client_id.len > PT_INTROSPECT_CLIENT_MAX
        || res->scope.len > PT_INTROSPECT_SCOPE_MAX || expires_ms <= now_ms)
        return;
    pt_shmtx_lock(pt_zone_lock(zone));
    size_t s = pt_introspect_slot(sh, key);
    pt_introspect_entry_t *victim = NULL;
    for (size_t i = 0; i < PT_INTROSPECT_PROBES && i < sh->n; i++) {
        pt_introspect_entry_t *e = &sh->e[(s + i) % sh->n];
        if (e->expires_ms <= now_ms || memcmp(e->key, key, 32) == 0) {
            victim = e;
            break;
        }
        if (victim == NULL || e->expires_ms < victim->expires_ms)
            victim = e;
    }
    if (victim->expires_ms > now_ms && memcmp(victim->key, key, 32) != 0)
        sh->evictions++;
    memcpy(victim->key, key, 32);
    victim->expires_ms = expires_ms;
    victim->exp = res->exp;
    victim->active = res->active;
    victim->sub_len = (uint16_t) res->sub.len;
    victim->client_len = (uint16_t) res->client_id.len;
    victim->scope_len = (uint16_t) res->scope.len;
    if (res->sub.len)
        memcpy(victim->sub, res->sub.p, res->sub.len);
    if (res->client_id.len)
        memcpy(victim->client, res->client_id.p, res->client_id.len);
    if (res->scope.len)
        memcpy(victim->scope, res->scope.p, res->scope.len);
    sh->stores++;
    pt_shmtx_unlock(pt_zone_lock(zone));
}
