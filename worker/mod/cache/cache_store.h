/*
 * cache_store.h: a cache zone's contents in shared memory: a hash index of
 * objects by URI, each object one block from the zone's slab (its key,
 * Vary data, header fields and body together), an LRU list across all of
 * them, and fill markers that make concurrent misses for one key wait for
 * a single upstream request, in any worker.
 *
 * Every call takes the zone's robust lock and holds it only for the index
 * work and the copy of one object in: never across I/O. A worker that
 * dies holding it leaves the lock to be recovered by the next taker
 * (common/shmtx.c), and a fill marker of a dead filler expires.
 *
 * A hit is not copied out: the object is pinned (a count under the lock)
 * and served from the zone until the request ends. An object removed
 * while pinned leaves the index at once and is freed by its last
 * release. (Objects pinned by a worker that crashed are never freed: the
 * memory of its in-flight hits stays lost to the zone until a restart.)
 */
#ifndef PT_CACHE_STORE_H
#define PT_CACHE_STORE_H

#include "common/pt.h"
#include "common/arena.h"
#include "common/shm.h"
#include "worker/mod/cache/cache_fresh.h"

#define PT_CACHE_ZONE_MAGIC     0x43414333u     /* "CAC3": the layout below */

enum pt_cache_kind {
    PT_CACHE_OBJ_FULL = 0,      /* a complete stored response */
    PT_CACHE_OBJ_FILL,          /* a request for this key is on its way upstream */
    PT_CACHE_OBJ_PASS           /* the last fill was not storable: do not wait */
};

/* The parts of an object, in this order after its header. */
enum { PT_CACHE_KEY = 0, PT_CACHE_VARY_NAMES, PT_CACHE_VARY_KEY, PT_CACHE_NOCACHE_FIELDS,
       PT_CACHE_FIELDS, PT_CACHE_BODY, PT_CACHE_NPARTS };

typedef struct pt_cache_obj_s pt_cache_obj_t;
struct pt_cache_obj_s {
    pt_cache_obj_t *hnext;          /* bucket chain */
    pt_cache_obj_t *lprev, *lnext;  /* LRU list, most recent first */
    uint64_t hash;                  /* of the URI part of the key */
    size_t size;                    /* bytes of this block */
    uint8_t kind;
    uint8_t dead;                   /* out of the index, freed by the last release */
    uint16_t status;
    uint32_t refs;                  /* requests serving it now (pt_cache_release) */
    uint32_t uri_len;               /* the key's leading URI part */
    uint32_t nfields;
    uint32_t len[PT_CACHE_NPARTS];  /* the parts' lengths (the body: below) */
    uint64_t body_len;
    int64_t deadline_ms;            /* FILL, PASS: wall ms the marker lasts until */
    int64_t refresh_until_ms;       /* a background refresh runs until then */
    int64_t stored_ms;              /* wall ms it was stored (for ttl reporting) */
    pt_cache_fresh_t fresh;
    /* then the parts */
};

/* A part of an object. */
static inline pt_str_t pt_cache_obj_part(const pt_cache_obj_t *o, unsigned part)
{
    const char *p = (const char *) (o + 1);

    for (unsigned i = 0; i < part; i++)
        p += o->len[i];
    return (pt_str_t) { p, part == PT_CACHE_BODY ? (size_t) o->body_len : o->len[part] };
}

/* Lay the zone out when it is new, keep its contents when adopted. */
int pt_cache_store_init(pt_zone_t *zone, pt_zone_t *old);

/* What a lookup found. */
enum pt_cache_found {
    PT_CACHE_FOUND_MISS = 0,    /* nothing for the URI */
    PT_CACHE_FOUND_VARY_MISS,   /* responses for the key, none for these request fields */
    PT_CACHE_FOUND_HIT,         /* *obj is set, pinned */
    PT_CACHE_FOUND_FILLING,     /* another request is fetching it: wait */
    PT_CACHE_FOUND_FILLER,      /* a miss, and this request is now the filler */
    PT_CACHE_FOUND_VARY_FILLER  /* a Vary miss, and this request is now the filler */
};

/* Whether stored object o (its Vary names) matches the request in data. */
typedef bool (*pt_cache_vary_match_pt)(const pt_cache_obj_t *o, void *data);

typedef struct {
    pt_str_t key;               /* the whole key; its first uri_len bytes are the URI */
    size_t uri_len;
    uint64_t hash;
} pt_cache_key_t;

/* Look key up: a matching full object is pinned (*obj, read-only for the
 * caller, who gives it back with pt_cache_release) and made most recent.
 * With fill_ms > 0 and no usable object, a fill marker lasting fill_ms is
 * set (FILLER) unless a live one exists (FILLING). */
enum pt_cache_found pt_cache_lookup(pt_zone_t *zone, const pt_cache_key_t *k,
                                    pt_cache_vary_match_pt match, void *data, int64_t now_ms,
                                    int64_t fill_ms, pt_cache_obj_t **obj);

/* Unpin an object pt_cache_lookup returned. */
void pt_cache_release(pt_zone_t *zone, pt_cache_obj_t *obj);

/* Store a response: hdr (kind, status, fresh, nfields, uri_len, ...) and
 * its parts (parts[PT_CACHE_KEY] is k->key). Replaces an object of the
 * same key and Vary key and the key's fill marker; evicts least recently
 * used objects for room. PT_OK, or PT_ERROR when it cannot fit (an object
 * over half the zone never does). */
int pt_cache_insert(pt_zone_t *zone, const pt_cache_key_t *k, const pt_cache_obj_t *hdr,
                    const pt_str_t parts[PT_CACHE_NPARTS], int64_t now_ms);

/* This request's fill is over without storing: drop the key's marker, or
 * with pass_ms > 0 turn it into a PASS marker for that long. */
void pt_cache_fill_end(pt_zone_t *zone, const pt_cache_key_t *k, int64_t now_ms,
                       int64_t pass_ms);

/* Claim the background refresh of the object of key and Vary key
 * vary_key: true for one caller until until_ms. */
bool pt_cache_refresh_claim(pt_zone_t *zone, const pt_cache_key_t *k, pt_str_t vary_key,
                            int64_t now_ms, int64_t until_ms);

/* Remove every object whose URI part is uri (all variants and keys). */
unsigned pt_cache_invalidate(pt_zone_t *zone, pt_str_t uri, uint64_t hash);

/* Remove every object whose key starts with prefix (empty: all). */
unsigned pt_cache_purge_prefix(pt_zone_t *zone, pt_str_t prefix);

/* Counts, for tests and metrics. */
typedef struct {
    uint64_t objects, bytes, evictions;
    uint64_t pinned_dead;           /* removed, still being served */
} pt_cache_stats_t;
void pt_cache_store_stats(pt_zone_t *zone, pt_cache_stats_t *st);

#endif
