/*
 * limit_table.h: the per-key state of a rate-limit zone, a fixed-size
 * open-addressing hash table in shared memory that every worker of every
 * generation updates without a lock.
 *
 * Layout: a header (magic, geometry, the hash seed, the process records of
 * the concurrency cells) and an array of 128-byte entries. A key hashes
 * (keyed, the zone's random seed) to a window of PT_LIMIT_WINDOW
 * consecutive entries; it lives in one of them, identified by a 64-bit
 * fingerprint and its bytes (at most PT_LIMIT_KEY_MAX; a longer key is
 * stored as a second, independent hash of it).
 *
 * Concurrency: an entry is claimed by a compare-and-swap of its tag to
 * fingerprint|BUSY, written, then published with the plain fingerprint.
 * Readers skip a BUSY entry of another key and wait (bounded) for one of
 * their own. A claim older than PT_LIMIT_BUSY_STALE_MS belongs to a
 * worker that died mid-insert and may be taken over, so a crash leaves at
 * most one entry unusable for that long.
 *
 * Full: when no entry of the window is free, the least recently used one
 * of the window (approximate LRU) that holds no in-flight count is reused
 * and the eviction counted. Never a bigger table, never a failure unless
 * every entry of the window holds in-flight requests.
 *
 * Concurrency cells: each entry has PT_LIMIT_CELLS in-flight counters, one
 * per process record of the zone header. A worker claims a record at
 * start (pt_limit_table_claim_cell); a record whose pid is dead is
 * cleared (its counts in every entry zeroed) by the next worker that
 * starts, so a crashed worker's counts go when the master respawns one.
 */
#ifndef PT_LIMIT_TABLE_H
#define PT_LIMIT_TABLE_H

#include "common/pt.h"

#include <stdatomic.h>

#define PT_LIMIT_TABLE_MAGIC    0x524c5431u     /* "RLT1": this layout */
#define PT_LIMIT_KEY_MAX        64
#define PT_LIMIT_CELLS          16
#define PT_LIMIT_WINDOW         8
#define PT_LIMIT_BUSY_STALE_MS  2000
#define PT_LIMIT_TAG_BUSY       (UINT64_C(1) << 63)

typedef struct {
    _Atomic uint64_t tag;       /* 0: free; fingerprint; fingerprint|BUSY while written */
    _Atomic uint64_t used;      /* monotonic ms of the last use (LRU), or of the claim */
    _Atomic uint64_t word;      /* the limit's state: GCRA TAT (ns), quota period|count */
    _Atomic uint16_t cells[PT_LIMIT_CELLS];     /* in-flight requests per process record */
    uint8_t keylen;
    uint8_t kind;               /* the owner's tag of what word holds (a state file keeps quotas) */
    uint8_t key[PT_LIMIT_KEY_MAX];
} __attribute__((aligned(64))) pt_limit_entry_t;

typedef struct {
    uint32_t magic;
    uint32_t entry_size;
    uint64_t nentries;
    uint64_t seed;
    _Atomic int32_t procs[PT_LIMIT_CELLS];      /* pid owning each cell; 0 free; < 0 being cleared */
    _Atomic uint64_t evictions;
    _Atomic uint64_t full;                      /* inserts refused: window all in flight */
    pt_limit_entry_t entries[];
} pt_limit_table_t;

/* A key as the table stores it: the bytes (or their digest) and hashes. */
typedef struct {
    uint64_t fp;                /* published tag: never 0, never BUSY */
    uint64_t home;              /* first entry of the window */
    uint8_t len;
    uint8_t bytes[PT_LIMIT_KEY_MAX];
} pt_limit_key_t;

/* Bytes a table of nentries takes. */
size_t pt_limit_table_bytes(uint64_t nentries);

/* Lay out a table in mem of size bytes (at least one window); NULL if it
 * does not fit. seed keys the hash. */
pt_limit_table_t *pt_limit_table_init(void *mem, size_t size, uint64_t seed);

/* Whether t is a table this code laid out (adopted across a reload). */
bool pt_limit_table_valid(const pt_limit_table_t *t, size_t size);

/* Hash and store key bytes p[0..n) into k for table t. */
void pt_limit_table_key(const pt_limit_table_t *t, const void *p, size_t n, pt_limit_key_t *k);

/* The entry of k, inserted (evicting in its window) when missing, with
 * its use time set to now_ms; NULL only when every entry of the window
 * holds in-flight requests. *created tells a new entry (word 0). */
pt_limit_entry_t *pt_limit_table_get(pt_limit_table_t *t, const pt_limit_key_t *k,
                                     uint64_t now_ms, bool *created);

/* A key as a state file kept it: its fingerprint and stored bytes (the
 * table's seed must be the one they were made with). */
void pt_limit_table_key_stored(const pt_limit_table_t *t, uint64_t fp, const void *p, size_t n,
                               pt_limit_key_t *k);

/* The entry of k if present, else NULL (no insert). */
pt_limit_entry_t *pt_limit_table_find(pt_limit_table_t *t, const pt_limit_key_t *k);

/* Whether e still holds k (it may have been evicted and reused). */
bool pt_limit_table_holds(const pt_limit_entry_t *e, const pt_limit_key_t *k);

/* Claim a process record for pid (clearing dead ones first, which is
 * what frees a crashed worker's counts); returns the cell index or -1
 * when all PT_LIMIT_CELLS records are held by live processes. alive(pid)
 * is injectable for tests (NULL: kill(pid, 0)). */
int pt_limit_table_claim_cell(pt_limit_table_t *t, int32_t pid, bool (*alive)(int32_t));

/* Give back a record at exit (counts are cleared with it). */
void pt_limit_table_release_cell(pt_limit_table_t *t, int cell, int32_t pid);

/* In-flight requests on e over every cell. */
unsigned pt_limit_entry_inflight(pt_limit_entry_t *e);

#endif
