/*
 * cache_store.c: the index, LRU and fill markers of a cache zone (see
 * cache_store.h).
 */
#include "common/pt.h"
#include "common/shm.h"
#include "common/shmtx.h"
#include "worker/mod/cache/cache_store.h"

typedef struct {
    uint32_t magic;
    uint32_t nbuckets;          /* a power of two */
    pt_cache_obj_t *lru_head, *lru_tail;
    uint64_t objects, bytes, evictions, pinned_dead;
    pt_cache_obj_t *buckets[];
} pt_cache_root_t;

int pt_cache_store_init(pt_zone_t *zone, pt_zone_t *old)
{
    pt_cache_root_t *root = *pt_zone_root(zone);

    if (old && root && root->magic == PT_CACHE_ZONE_MAGIC)
        return PT_OK;
    /* One bucket per 4 KiB of zone: chains stay short for typical objects. */
    uint32_t n = 64;
    while ((size_t) n * 4096 < pt_zone_size(zone) && n < (1u << 22))
        n <<= 1;
    if (root == NULL
        && (root = pt_zone_calloc(zone, sizeof(*root) + n * sizeof(root->buckets[0]))) == NULL)
        return PT_ERROR;
    memset(root, 0, sizeof(*root) + n * sizeof(root->buckets[0]));
    root->magic = PT_CACHE_ZONE_MAGIC;
    root->nbuckets = n;
    *pt_zone_root(zone) = root;
    return PT_OK;
}

static pt_cache_root_t *pt_cache_lock(pt_zone_t *zone)
{
    pt_cache_root_t *root = *pt_zone_root(zone);

    if (root == NULL || pt_shmtx_lock(pt_zone_lock(zone)) != PT_OK)
        return NULL;
    return root;
}

static void pt_cache_unlock(pt_zone_t *zone)
{
    pt_shmtx_unlock(pt_zone_lock(zone));
}

static void pt_cache_lru_unlink(pt_cache_root_t *root, pt_cache_obj_t *o)
{
    if (o->lprev)
        o->lprev->lnext = o->lnext;
    else
        root->lru_head = o->lnext;
    if (o->lnext)
        o->lnext->lprev = o->lprev;
    else
        root->lru_tail = o->lprev;
    o->lprev = o->lnext = NULL;
}

static void pt_cache_lru_push(pt_cache_root_t *root, pt_cache_obj_t *o)
{
    o->lprev = NULL;
    o->lnext = root->lru_head;
    if (root->lru_head)
        root->lru_head->lprev = o;
    else
        root->lru_tail = o;
    root->lru_head = o;
}

/* Unlink o from its bucket and the LRU and free it. */
static void pt_cache_remove(pt_zone_t *zone, pt_cache_root_t *root, pt_cache_obj_t *o)
{
    pt_cache_obj_t **pp = &root->buckets[o->hash & (root->nbuckets - 1)];

    while (*pp && *pp != o)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = o->hnext;
    pt_cache_lru_unlink(root, o);
    o->hnext = NULL;
    root->objects--;
    root->bytes -= o->size;
    if (o->refs) {
        o->dead = 1;            /* the last release frees it */
        root->pinned_dead++;
        return;
    }
    pt_zone_free_locked(zone, o);
}

void pt_cache_release(pt_zone_t *zone, pt_cache_obj_t *o)
{
    pt_cache_root_t *root = pt_cache_lock(zone);

    if (root == NULL)
        return;
    if (o->refs && --o->refs == 0 && o->dead) {
        root->pinned_dead--;
        pt_zone_free_locked(zone, o);
    }
    pt_cache_unlock(zone);
}

static bool pt_cache_key_eq(const pt_cache_obj_t *o, const pt_cache_key_t *k)
{
    return o->hash == k->hash && o->len[PT_CACHE_KEY] == k->key.len
           && memcmp(o + 1, k->key.p, k->key.len) == 0;
}

enum pt_cache_found pt_cache_lookup(pt_zone_t *zone, const pt_cache_key_t *k,
                                    pt_cache_vary_match_pt match, void *data, int64_t now_ms,
                                    int64_t fill_ms, pt_cache_obj_t **copy)
{
    pt_cache_root_t *root = pt_cache_lock(zone);
    enum pt_cache_found found = PT_CACHE_FOUND_MISS;
    pt_cache_obj_t *fill = NULL, *o;

    *copy = NULL;
    if (root == NULL)
        return PT_CACHE_FOUND_MISS;
    pt_cache_obj_t **bucket = &root->buckets[k->hash & (root->nbuckets - 1)];
    for (o = *bucket; o; o = o->hnext) {
        if (!pt_cache_key_eq(o, k))
            continue;
        if (o->kind != PT_CACHE_OBJ_FULL) {
            fill = o;
            continue;
        }
        if (match(o, data))
            break;
        found = PT_CACHE_FOUND_VARY_MISS;
    }
    if (o) {
        o->refs++;
        if (root->lru_head != o) {
            pt_cache_lru_unlink(root, o);
            pt_cache_lru_push(root, o);
        }
        *copy = o;
        found = PT_CACHE_FOUND_HIT;
    } else if (fill && fill->deadline_ms > now_ms) {
        if (fill->kind == PT_CACHE_OBJ_FILL)
            found = PT_CACHE_FOUND_FILLING;
    } else if (fill_ms > 0) {
        if (fill == NULL) {
            size_t size = sizeof(*fill) + k->key.len;
            if ((fill = pt_zone_alloc_locked(zone, size)) != NULL) {
                memset(fill, 0, sizeof(*fill));
                fill->hash = k->hash;
                fill->size = size;
                fill->uri_len = (uint32_t) k->uri_len;
                fill->len[PT_CACHE_KEY] = (uint32_t) k->key.len;
                memcpy(fill + 1, k->key.p, k->key.len);
                fill->hnext = *bucket;
                *bucket = fill;
                pt_cache_lru_push(root, fill);
                root->objects++;
                root->bytes += size;
            }
        }
        if (fill) {
            fill->kind = PT_CACHE_OBJ_FILL;
            fill->deadline_ms = now_ms + fill_ms;
            found = found == PT_CACHE_FOUND_VARY_MISS ? PT_CACHE_FOUND_VARY_FILLER
                                                      : PT_CACHE_FOUND_FILLER;
        }
    }
    pt_cache_unlock(zone);
    return found;
}

/* Whether stored o (of the same key) gives way to the response in parts:
 * the same variant, or one of a Vary the resource no longer sends (the
 * newest response's Vary says what the variants are). */
static bool pt_cache_same_variant(const pt_cache_obj_t *o, const pt_str_t parts[])
{
    pt_str_t vk = pt_cache_obj_part(o, PT_CACHE_VARY_KEY);
    pt_str_t vn = pt_cache_obj_part(o, PT_CACHE_VARY_NAMES);

    if (vn.len != parts[PT_CACHE_VARY_NAMES].len
        || memcmp(vn.p, parts[PT_CACHE_VARY_NAMES].p, vn.len) != 0)
        return true;
    return vk.len == parts[PT_CACHE_VARY_KEY].len
           && memcmp(vk.p, parts[PT_CACHE_VARY_KEY].p, vk.len) == 0;
}

int pt_cache_insert(pt_zone_t *zone, const pt_cache_key_t *k, const pt_cache_obj_t *hdr,
                    const pt_str_t parts[PT_CACHE_NPARTS], int64_t now_ms)
{
    size_t size = sizeof(*hdr);

    for (unsigned i = 0; i < PT_CACHE_NPARTS; i++) {
        if (i != PT_CACHE_BODY && parts[i].len > UINT32_MAX)
            return PT_ERROR;
        size += parts[i].len;
    }
    /* An object over half the zone would flush everything else for
     * nothing it could keep for long: refused. */
    if (size > pt_zone_size(zone) / 2)
        return PT_ERROR;
    pt_cache_root_t *root = pt_cache_lock(zone);
    if (root == NULL)
        return PT_ERROR;
    pt_cache_obj_t *o;
    while ((o = pt_zone_alloc_locked(zone, size)) == NULL && root->lru_tail) {
        pt_cache_remove(zone, root, root->lru_tail);
        root->evictions++;
    }
    pt_cache_unlock(zone);
    if (o == NULL)
        return PT_ERROR;

    /* Filled outside the lock: nobody sees it before it is linked. */
    *o = *hdr;
    o->hash = k->hash;
    o->size = size;
    o->uri_len = (uint32_t) k->uri_len;
    o->stored_ms = now_ms;
    o->refresh_until_ms = 0;
    o->refs = 0;
    o->dead = 0;
    char *p = (char *) (o + 1);
    for (unsigned i = 0; i < PT_CACHE_NPARTS; i++) {
        if (i == PT_CACHE_BODY)
            o->body_len = parts[i].len;
        else
            o->len[i] = (uint32_t) parts[i].len;
        if (parts[i].len)
            memcpy(p, parts[i].p, parts[i].len);
        p += parts[i].len;
    }

    if ((root = pt_cache_lock(zone)) == NULL) {
        pt_zone_free(zone, o);
        return PT_ERROR;
    }
    pt_cache_obj_t **bucket = &root->buckets[k->hash & (root->nbuckets - 1)];
    for (pt_cache_obj_t *x = *bucket, *next; x; x = next) {
        next = x->hnext;
        if (pt_cache_key_eq(x, k) && (x->kind != PT_CACHE_OBJ_FULL || pt_cache_same_variant(x, parts)))
            pt_cache_remove(zone, root, x);
    }
    o->hnext = *bucket;
    *bucket = o;
    pt_cache_lru_push(root, o);
    root->objects++;
    root->bytes += size;
    pt_cache_unlock(zone);
    return PT_OK;
}

void pt_cache_fill_end(pt_zone_t *zone, const pt_cache_key_t *k, int64_t now_ms,
                       int64_t pass_ms)
{
    pt_cache_root_t *root = pt_cache_lock(zone);

    if (root == NULL)
        return;
    for (pt_cache_obj_t *x = root->buckets[k->hash & (root->nbuckets - 1)]; x; x = x->hnext) {
        if (x->kind == PT_CACHE_OBJ_FILL && pt_cache_key_eq(x, k)) {
            if (pass_ms > 0) {
                x->kind = PT_CACHE_OBJ_PASS;
                x->deadline_ms = now_ms + pass_ms;
            } else {
                pt_cache_remove(zone, root, x);
            }
            break;
        }
    }
    pt_cache_unlock(zone);
}

bool pt_cache_refresh_claim(pt_zone_t *zone, const pt_cache_key_t *k, pt_str_t vary_key,
                            int64_t now_ms, int64_t until_ms)
{
    pt_cache_root_t *root = pt_cache_lock(zone);
    bool claimed = false;

    if (root == NULL)
        return false;
    for (pt_cache_obj_t *x = root->buckets[k->hash & (root->nbuckets - 1)]; x; x = x->hnext) {
        if (x->kind != PT_CACHE_OBJ_FULL || !pt_cache_key_eq(x, k))
            continue;
        pt_str_t vk = pt_cache_obj_part(x, PT_CACHE_VARY_KEY);
        if (vk.len != vary_key.len || memcmp(vk.p, vary_key.p, vk.len) != 0)
            continue;
        if (x->refresh_until_ms <= now_ms) {
            x->refresh_until_ms = until_ms;
            claimed = true;
        }
        break;
    }
    pt_cache_unlock(zone);
    return claimed;
}

unsigned pt_cache_invalidate(pt_zone_t *zone, pt_str_t uri, uint64_t hash)
{
    pt_cache_root_t *root = pt_cache_lock(zone);
    unsigned n = 0;

    if (root == NULL)
        return 0;
    pt_cache_obj_t *x = root->buckets[hash & (root->nbuckets - 1)], *next;
    for (; x; x = next) {
        next = x->hnext;
        if (x->kind == PT_CACHE_OBJ_FULL && x->hash == hash && x->uri_len == uri.len
            && memcmp(x + 1, uri.p, uri.len) == 0) {
            pt_cache_remove(zone, root, x);
            n++;
        }
    }
    pt_cache_unlock(zone);
    return n;
}

unsigned pt_cache_purge_prefix(pt_zone_t *zone, pt_str_t prefix)
{
    pt_cache_root_t *root = pt_cache_lock(zone);
    unsigned n = 0;

    if (root == NULL)
        return 0;
    for (pt_cache_obj_t *x = root->lru_head, *next; x; x = next) {
        next = x->lnext;
        if (x->kind == PT_CACHE_OBJ_FULL && x->len[PT_CACHE_KEY] >= prefix.len
            && memcmp(x + 1, prefix.p, prefix.len) == 0) {
            pt_cache_remove(zone, root, x);
            n++;
        }
    }
    pt_cache_unlock(zone);
    return n;
}

void pt_cache_store_stats(pt_zone_t *zone, pt_cache_stats_t *st)
{
    pt_cache_root_t *root = pt_cache_lock(zone);

    *st = (pt_cache_stats_t) { 0 };
    if (root == NULL)
        return;
    st->objects = root->objects;
    st->bytes = root->bytes;
    st->evictions = root->evictions;
    st->pinned_dead = root->pinned_dead;
    pt_cache_unlock(zone);
}
