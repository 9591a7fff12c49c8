/*
 * limit_table.c: the lock-free hash table of a rate-limit zone (see
 * limit_table.h for the layout and the rules of claiming an entry).
 */
#include "common/pt.h"
#include "common/hash.h"
#include "worker/mod/limit/ratelimit/limit_table.h"

#include <errno.h>
#include <signal.h>
#include <sched.h>

/* Spins a reader waits for another worker to publish the key it wants. */
#define PT_LIMIT_WAIT_SPINS     4096
#define PT_LIMIT_CLAIM_TRIES    8

/* A key longer than the entry holds is stored as this marker byte and a
 * digest (two hashes with other seeds): keys are compared, never shown. */
#define PT_LIMIT_KEY_DIGEST     0xff

size_t pt_limit_table_bytes(uint64_t nentries)
{
    return sizeof(pt_limit_table_t) + (size_t) nentries * sizeof(pt_limit_entry_t);
}

pt_limit_table_t *pt_limit_table_init(void *mem, size_t size, uint64_t seed)
{
    pt_limit_table_t *t = mem;

    if (size < pt_limit_table_bytes(PT_LIMIT_WINDOW))
        return NULL;
    memset(t, 0, sizeof(*t));
    t->nentries = (size - sizeof(*t)) / sizeof(pt_limit_entry_t);
    memset(t->entries, 0, (size_t) t->nentries * sizeof(pt_limit_entry_t));
    t->entry_size = sizeof(pt_limit_entry_t);
    t->seed = seed;
    t->magic = PT_LIMIT_TABLE_MAGIC;
    return t;
}

bool pt_limit_table_valid(const pt_limit_table_t *t, size_t size)
{
    return t && t->magic == PT_LIMIT_TABLE_MAGIC && t->entry_size == sizeof(pt_limit_entry_t)
           && t->nentries >= PT_LIMIT_WINDOW && pt_limit_table_bytes(t->nentries) <= size;
}

void pt_limit_table_key(const pt_limit_table_t *t, const void *p, size_t n, pt_limit_key_t *k)
{
    uint64_t h = pt_hash(p, n, t->seed);

    k->fp = (h | 1) & ~PT_LIMIT_TAG_BUSY;
    k->home = (k->fp >> 17) % t->nentries;     /* from fp alone: a state file keeps fp */
    if (n <= PT_LIMIT_KEY_MAX && !(n > 0 && ((const uint8_t *) p)[0] == PT_LIMIT_KEY_DIGEST)) {
        k->len = (uint8_t) n;
        if (n)
            memcpy(k->bytes, p, n);
        return;
    }
    uint64_t d[2] = { pt_hash(p, n, t->seed ^ UINT64_C(0x9e3779b97f4a7c15)),
                      pt_hash(p, n, t->seed + UINT64_C(0x632be59bd9b4e019)) };
    k->bytes[0] = PT_LIMIT_KEY_DIGEST;
    memcpy(k->bytes + 1, d, sizeof(d));
    k->len = 1 + sizeof(d);
}

void pt_limit_table_key_stored(const pt_limit_table_t *t, uint64_t fp, const void *p, size_t n,
                               pt_limit_key_t *k)
{
    k->fp = (fp | 1) & ~PT_LIMIT_TAG_BUSY;
    k->home = (k->fp >> 17) % t->nentries;
    k->len = (uint8_t) pt_min(n, (size_t) PT_LIMIT_KEY_MAX);
    memcpy(k->bytes, p, k->len);
}

static inline pt_limit_entry_t *pt_limit_slot(pt_limit_table_t *t, const pt_limit_key_t *k,
                                              unsigned i)
{
    return &t->entries[(k->home + i) % t->nentries];
}

bool pt_limit_table_holds(const pt_limit_entry_t *e, const pt_limit_key_t *k)
{
    return atomic_load_explicit(&e->tag, memory_order_acquire) == k->fp && e->keylen == k->len
           && memcmp(e->key, k->bytes, k->len) == 0
           && atomic_load_explicit(&e->tag, memory_order_acquire) == k->fp;
}

unsigned pt_limit_entry_inflight(pt_limit_entry_t *e)
{
    unsigned n = 0;

    for (unsigned i = 0; i < PT_LIMIT_CELLS; i++)
        n += atomic_load_explicit(&e->cells[i], memory_order_relaxed);
    return n;
}

/* Scan k's window: its entry, waiting a little for one another worker is
 * writing; NULL when it is not there. */
static pt_limit_entry_t *pt_limit_lookup(pt_limit_table_t *t, const pt_limit_key_t *k)
{
    for (unsigned i = 0; i < PT_LIMIT_WINDOW; i++) {
        pt_limit_entry_t *e = pt_limit_slot(t, k, i);
        uint64_t tag = atomic_load_explicit(&e->tag, memory_order_acquire);
        for (unsigned spin = 0; tag == (k->fp | PT_LIMIT_TAG_BUSY) && spin < PT_LIMIT_WAIT_SPINS;
             spin++) {
            if ((spin & 63) == 63)
                sched_yield();
            tag = atomic_load_explicit(&e->tag, memory_order_acquire);
        }
        if (tag == k->fp && pt_limit_table_holds(e, k))
            return e;
    }
    return NULL;
}

pt_limit_entry_t *pt_limit_table_find(pt_limit_table_t *t, const pt_limit_key_t *k)
{
    return pt_limit_lookup(t, k);
}

/* The entry of the window to reuse for a new key: a free one, one a dead
 * writer left BUSY, else the least recently used with nothing in flight. */
static pt_limit_entry_t *pt_limit_victim(pt_limit_table_t *t, const pt_limit_key_t *k,
                                         uint64_t now_ms, uint64_t *tag_out)
{
    pt_limit_entry_t *lru = NULL;
    uint64_t lru_used = UINT64_MAX, lru_tag = 0;

    for (unsigned i = 0; i < PT_LIMIT_WINDOW; i++) {
        pt_limit_entry_t *e = pt_limit_slot(t, k, i);
        uint64_t tag = atomic_load_explicit(&e->tag, memory_order_acquire);
        uint64_t used = atomic_load_explicit(&e->used, memory_order_relaxed);
        if (tag == 0) {
            *tag_out = 0;
            return e;
        }
        if (tag & PT_LIMIT_TAG_BUSY) {
            if (used + PT_LIMIT_BUSY_STALE_MS < now_ms) {
                *tag_out = tag;
                return e;
            }
            continue;
        }
        if (used < lru_used && pt_limit_entry_inflight(e) == 0) {
            lru = e;
            lru_used = used;
            lru_tag = tag;
        }
    }
    *tag_out = lru_tag;
    return lru;
}

pt_limit_entry_t *pt_limit_table_get(pt_limit_table_t *t, const pt_limit_key_t *k,
                                     uint64_t now_ms, bool *created)
{
    *created = false;
    for (unsigned tries = 0; tries < PT_LIMIT_CLAIM_TRIES; tries++) {
        pt_limit_entry_t *e = pt_limit_lookup(t, k);
        if (e) {
            atomic_store_explicit(&e->used, now_ms, memory_order_relaxed);
            return e;
        }
        uint64_t old;
        if ((e = pt_limit_victim(t, k, now_ms, &old)) == NULL)
            break;
        if (!atomic_compare_exchange_strong_explicit(&e->tag, &old, k->fp | PT_LIMIT_TAG_BUSY,
                                                     memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue;           /* another worker took it: look again */
        /* Ours while BUSY: nobody else writes it. */
        atomic_store_explicit(&e->used, now_ms, memory_order_relaxed);
        atomic_store_explicit(&e->word, 0, memory_order_relaxed);
        for (unsigned i = 0; i < PT_LIMIT_CELLS; i++)
            atomic_store_explicit(&e->cells[i], 0, memory_order_relaxed);
        e->keylen = k->len;
        e->kind = 0;
        memcpy(e->key, k->bytes, k->len);
        if (old && !(old & PT_LIMIT_TAG_BUSY))
            atomic_fetch_add_explicit(&t->evictions, 1, memory_order_relaxed);
        atomic_store_explicit(&e->tag, k->fp, memory_order_release);
        *created = true;
        return e;
    }
    atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
    return NULL;
}

static bool pt_limit_pid_alive(int32_t pid)
{
    return kill((pid_t) pid, 0) == 0 || errno != ESRCH;
}

static void pt_limit_clear_cell(pt_limit_table_t *t, unsigned cell)
{
    for (uint64_t i = 0; i < t->nentries; i++)
        atomic_store_explicit(&t->entries[i].cells[cell], 0, memory_order_relaxed);
}

int pt_limit_table_claim_cell(pt_limit_table_t *t, int32_t pid, bool (*alive)(int32_t))
{
    int mine = -1;

    if (alive == NULL)
        alive = pt_limit_pid_alive;
    /* First clear every record a dead process left (a crash), so its
     * in-flight counts stop counting; then take a free one. */
    for (unsigned i = 0; i < PT_LIMIT_CELLS; i++) {
        int32_t owner = atomic_load(&t->procs[i]);
        if (owner <= 0 || owner == pid || alive(owner))
            continue;
        if (atomic_compare_exchange_strong(&t->procs[i], &owner, -pid)) {
            pt_limit_clear_cell(t, i);
            atomic_store(&t->procs[i], 0);
        }
    }
    /* A record of its own first: the sweep asks again every second, and a
     * free record before its own must stay free for the next generation. */
    for (unsigned i = 0; i < PT_LIMIT_CELLS; i++)
        if (atomic_load(&t->procs[i]) == pid)
            return (int) i;
    for (unsigned i = 0; i < PT_LIMIT_CELLS && mine < 0; i++) {
        int32_t owner = atomic_load(&t->procs[i]);
        if (owner == 0 && atomic_compare_exchange_strong(&t->procs[i], &owner, pid)) {
            pt_limit_clear_cell(t, i);
            mine = (int) i;
        }
    }
    return mine;
}

void pt_limit_table_release_cell(pt_limit_table_t *t, int cell, int32_t pid)
{
    int32_t owner = pid;

    if (cell < 0 || cell >= PT_LIMIT_CELLS)
        return;
    if (atomic_compare_exchange_strong(&t->procs[cell], &owner, -pid)) {
        pt_limit_clear_cell(t, (unsigned) cell);
        atomic_store(&t->procs[cell], 0);
    }
}
