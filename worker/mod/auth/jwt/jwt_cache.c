/*
 * jwt_cache.c: the per-worker cache of verified tokens (jwt_cache.h).
 */
#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_cache.h"

#include <openssl/crypto.h>

/* Slots a key may live in. */
#define PT_JWT_CACHE_WAYS   4

typedef struct {
    unsigned char key[32];
    uint64_t expires_ms;        /* 0: empty */
    uint64_t gen;
    json_t *payload;
} pt_jwt_cache_entry_t;

struct pt_jwt_cache_s {
    size_t mask;
    pt_jwt_cache_entry_t e[];
};

pt_jwt_cache_t *pt_jwt_cache_new(size_t n)
{
    size_t size = PT_JWT_CACHE_WAYS;

    while (size < n)
        size <<= 1;
    pt_jwt_cache_t *c = calloc(1, sizeof(*c) + size * sizeof(c->e[0]));
    if (c)
        c->mask = size - 1;
    return c;
}

void pt_jwt_cache_free(pt_jwt_cache_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i <= c->mask; i++)
        json_decref(c->e[i].payload);
    free(c);
}

static size_t pt_jwt_cache_slot(const pt_jwt_cache_t *c, const unsigned char *key)
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return (size_t) h & c->mask & ~(size_t) (PT_JWT_CACHE_WAYS - 1);
}

json_t *pt_jwt_cache_get(pt_jwt_cache_t *c, const unsigned char *key, uint64_t now_ms,
                         uint64_t gen)
{
    pt_jwt_cache_entry_t *set = &c->e[pt_jwt_cache_slot(c, key)];

    for (unsigned i = 0; i < PT_JWT_CACHE_WAYS; i++) {
        pt_jwt_cache_entry_t *e = &set[i];
        if (e->expires_ms == 0 || CRYPTO_memcmp(e->key, key, 32) != 0)
            continue;
        if (e->expires_ms <= now_ms || e->gen != gen) {
            json_decref(e->payload);
            memset(e, 0, sizeof(*e));
            return NULL;
        }
        return json_incref(e->payload);
    }
    return NULL;
}

void pt_jwt_cache_put(pt_jwt_cache_t *c, const unsigned char *key, json_t *payload,
                      uint64_t expires_ms, uint64_t now_ms, uint64_t gen)
{
    pt_jwt_cache_entry_t *set = &c->e[pt_jwt_cache_slot(c, key)];
    pt_jwt_cache_entry_t *victim = &set[0];

    if (expires_ms <= now_ms)
        return;
    for (unsigned i = 0; i < PT_JWT_CACHE_WAYS; i++) {
        pt_jwt_cache_entry_t *e = &set[i];
        if (e->expires_ms <= now_ms || memcmp(e->key, key, 32) == 0) {
            victim = e;
            break;
        }
        if (e->expires_ms < victim->expires_ms)
            victim = e;
    }
    json_decref(victim->payload);
    memcpy(victim->key, key, 32);
    victim->expires_ms = expires_ms;
    victim->gen = gen;
    victim->payload = json_incref(payload);
}
