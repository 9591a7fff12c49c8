/*
 * introspect_cache.h: introspection results shared by the workers, in a
 * zone, keyed by the SHA-256 of the token (never the token itself).
 *
 * A fixed table of fixed-size entries; a lookup probes a few slots from
 * the key's hash, and a store takes the first empty or expired one of
 * them, else the one that expires first (evictions are counted).
 */
#ifndef PT_INTROSPECT_CACHE_H
#define PT_INTROSPECT_CACHE_H

#include "common/pt.h"

struct pt_zone_s;

#define PT_INTROSPECT_SUB_MAX       128
#define PT_INTROSPECT_CLIENT_MAX    128
#define PT_INTROSPECT_SCOPE_MAX     512
#define PT_INTROSPECT_ZONE_MAGIC    0x494e5431u     /* "INT1" */

/* An introspection answer, as the request sees it (strings in the
 * request arena or the entry it was copied from). */
typedef struct {
    bool active;
    pt_str_t sub;
    pt_str_t client_id;
    pt_str_t scope;
    int64_t exp;                    /* seconds since the epoch; 0: none */
} pt_introspect_result_t;

/* Lay out zone on first use (the module's init_zone). */
int pt_introspect_cache_init(struct pt_zone_s *zone, struct pt_zone_s *old);

/* Find key (32 bytes) unexpired at now_ms (wall clock); copy the result
 * into out with strings in arena. */
bool pt_introspect_cache_get(struct pt_zone_s *zone, const unsigned char *key,
                             uint64_t now_ms, pt_introspect_result_t *out,
                             pt_arena_t *arena);

/* Remember res for key until expires_ms; a result whose strings do not
 * fit an entry is not kept. */
void pt_introspect_cache_put(struct pt_zone_s *zone, const unsigned char *key,
                             const pt_introspect_result_t *res, uint64_t expires_ms,
                             uint64_t now_ms);

#endif
