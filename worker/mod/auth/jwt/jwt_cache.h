/*
 * jwt_cache.h: a worker's memory of tokens it verified, so that a client
 * sending the same token again costs a SHA-256 instead of a signature
 * check. Keyed by the SHA-256 of the token (the token is not kept), one
 * table per route (each route has its own keys and rules), bounded, each
 * entry dropped when the token expires, after PT_JWT_CACHE_TTL_MAX at
 * the latest, or when the route's fetched key set changes.
 */
#ifndef PT_JWT_CACHE_H
#define PT_JWT_CACHE_H

#include "common/pt.h"

#include <jansson.h>

/* The longest an entry lives, whatever the token's exp (ms). */
#define PT_JWT_CACHE_TTL_MAX    60000

typedef struct pt_jwt_cache_s pt_jwt_cache_t;

/* A table of n entries (rounded up to a power of two); NULL out of memory. */
pt_jwt_cache_t *pt_jwt_cache_new(size_t n);
void pt_jwt_cache_free(pt_jwt_cache_t *c);

/* The payload remembered for key (32 bytes) at now_ms with key-set
 * generation gen, with a reference for the caller; NULL: not there. */
json_t *pt_jwt_cache_get(pt_jwt_cache_t *c, const unsigned char *key, uint64_t now_ms,
                         uint64_t gen);

/* Remember payload (takes a reference of its own) until expires_ms. */
void pt_jwt_cache_put(pt_jwt_cache_t *c, const unsigned char *key, json_t *payload,
                      uint64_t expires_ms, uint64_t now_ms, uint64_t gen);

#endif
