/*
 * Finding a keyed record of an upstream zone by key (upstream_record.h).
 * Runs in the master, before a generation forks, so nothing here races.
 */
#include "worker/upstream/upstream_record.h"

#include <string.h>

#include "common/hash.h"

#define PT_KEY_AFTER_TAG(tag) ((char *) (tag) + sizeof(pt_upstream_tag_t))

static pt_upstream_tag_t *pt_upstream_record_tag(const pt_upstream_table_t *t, uint32_t i)
{
    return (pt_upstream_tag_t *) ((char *) t->records + (size_t) i * t->size + t->tag_at);
}

static uint64_t pt_upstream_record_hash(const char *key)
{
    return pt_hash(key, strlen(key), 0) | 1;
}

void *pt_upstream_record_claim(const pt_upstream_table_t *t, const char *key,
                               unsigned generation, unsigned keep, bool *fresh)
{
    uint64_t h = pt_upstream_record_hash(key);
    pt_upstream_tag_t *free_tag = NULL, *stale = NULL;

    *fresh = false;
    for (uint32_t i = 0; i < t->n; i++) {
        pt_upstream_tag_t *tag = pt_upstream_record_tag(t, i);
        /* The stored key may be cut; the hash is of the whole one. */
        if (tag->hash == h && strncmp(PT_KEY_AFTER_TAG(tag), key, t->key_size - 1) == 0) {
            tag->generation = generation;
            return (char *) tag - t->tag_at;
        }
        if (tag->hash == 0 && free_tag == NULL)
            free_tag = tag;
        else if (tag->hash != 0 && stale == NULL && tag->generation + keep < generation)
            stale = tag;
    }
    pt_upstream_tag_t *tag = free_tag ? free_tag : stale;
    if (tag == NULL)
        return NULL;
    *fresh = true;
    return (char *) tag - t->tag_at;
}

void pt_upstream_record_name(const pt_upstream_table_t *t, void *rec, const char *key,
                             unsigned generation)
{
    pt_upstream_tag_t *tag = (pt_upstream_tag_t *) ((char *) rec + t->tag_at);
    tag->hash = pt_upstream_record_hash(key);
    tag->generation = generation;
    size_t n = strlen(key);
    if (n > t->key_size - 1)
        n = t->key_size - 1;
    memcpy(PT_KEY_AFTER_TAG(tag), key, n);
    PT_KEY_AFTER_TAG(tag)[n] = '\0';
}
