/*
 * The keyed records of the upstream zones (servers, upstream groups, DNS
 * names). The master binds each new generation's conf to them by key, so a
 * server that stays across a reload keeps its state.
 */
#ifndef PT_UPSTREAM_RECORD_H
#define PT_UPSTREAM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every keyed record holds this tag, and its key right after it. */
typedef struct {
    uint64_t hash;          /* of the whole key, never 0; 0: a free record */
    unsigned generation;    /* newest generation using it (master only) */
} pt_upstream_tag_t;

/* A table of n records of size bytes, the tag at tag_at in each and the
 * key (key_size bytes, cut if longer) right after it. */
typedef struct {
    void *records;
    uint32_t n;
    size_t size;
    size_t tag_at;
    size_t key_size;
} pt_upstream_table_t;

#define PT_UPSTREAM_TABLE(recs, count, type, tag_field, key_field)             \
    ((pt_upstream_table_t) {                                                \
        .records = (recs), .n = (count), .size = sizeof(type),              \
        .tag_at = offsetof(type, tag_field),                                \
        .key_size = sizeof(((type *) 0)->key_field) })

/* Each record type states that its key follows its tag. */
#define PT_UPSTREAM_KEY_AFTER_TAG(type)                                       \
    _Static_assert(offsetof(type, key) == offsetof(type, tag) + sizeof(pt_upstream_tag_t), \
                   #type ": the key follows the tag")

/* The record of key: the one a previous generation had (*fresh false),
 * else a free one, else one no live generation can still use (older than
 * keep generations), which the caller must reset (*fresh true). Either way
 * it is marked as used by generation. NULL when every record is taken. */
void *pt_upstream_record_claim(const pt_upstream_table_t *t, const char *key,
                               unsigned generation, unsigned keep, bool *fresh);

/* After the caller's reset of a fresh record: write its tag and key. */
void pt_upstream_record_name(const pt_upstream_table_t *t, void *rec, const char *key,
                             unsigned generation);

#endif
