/*
 * test_limit_table.c: the zone table: insert and find, long keys, a full
 * window evicting its least recently used key (never one in flight), an
 * entry a dead writer left BUSY, and the concurrency records of dead
 * processes cleared.
 */
#include "worker/mod/limit/ratelimit/limit_table.c"

#include "test/unit/tap.h"

static pt_limit_table_t *table_new(uint64_t nentries, void **mem)
{
    size_t size = pt_limit_table_bytes(nentries);

    *mem = aligned_alloc(64, pt_align(size, 64));
    return pt_limit_table_init(*mem, size, 42);
}

static pt_limit_entry_t *get(pt_limit_table_t *t, const char *s, uint64_t now, bool *created)
{
    pt_limit_key_t k;

    pt_limit_table_key(t, s, strlen(s), &k);
    return pt_limit_table_get(t, &k, now, created);
}

static void test_basic(void)
{
    void *mem;
    pt_limit_table_t *t = table_new(1024, &mem);
    bool created;

    ok(t && pt_limit_table_valid(t, pt_limit_table_bytes(1024)), "a table of 1024 entries");
    ok(!pt_limit_table_valid(t, pt_limit_table_bytes(512)), "not valid for a smaller zone");
    is((int) sizeof(pt_limit_entry_t), 128, "entries are 128 bytes");
    pt_limit_entry_t *a = get(t, "alpha", 1, &created);
    ok(a && created, "a new key is inserted");
    atomic_store(&a->word, 7);
    pt_limit_entry_t *a2 = get(t, "alpha", 2, &created);
    ok(a2 == a && !created && atomic_load(&a2->word) == 7, "found again with its state");
    pt_limit_entry_t *b = get(t, "beta", 3, &created);
    ok(b && b != a && created, "another key, another entry");

    char long1[300], long2[300];
    memset(long1, 'x', sizeof(long1));
    memcpy(long2, long1, sizeof(long2));
    long2[299] = 'y';
    pt_limit_key_t k1, k2;
    pt_limit_table_key(t, long1, sizeof(long1), &k1);
    pt_limit_table_key(t, long2, sizeof(long2), &k2);
    ok(k1.len <= PT_LIMIT_KEY_MAX && k1.bytes[0] == PT_LIMIT_KEY_DIGEST, "a long key is digested");
    pt_limit_entry_t *l1 = pt_limit_table_get(t, &k1, 4, &created);
    pt_limit_entry_t *l2 = pt_limit_table_get(t, &k2, 4, &created);
    ok(l1 && l2 && l1 != l2, "long keys differing in the last byte stay apart");
    ok(pt_limit_table_find(t, &k1) == l1, "and are found again");
    free(mem);
}

static void test_eviction(void)
{
    void *mem;
    pt_limit_table_t *t = table_new(PT_LIMIT_WINDOW, &mem);    /* one window: full fast */
    bool created;
    char name[32];

    for (unsigned i = 0; i < PT_LIMIT_WINDOW; i++) {
        snprintf(name, sizeof(name), "k%u", i);
        ok(get(t, name, 100 + i, &created) && created, "key %u fits", i);
    }
    is((long long) atomic_load(&t->evictions), 0, "no eviction while there is room");
    get(t, "k0", 200, &created);           /* k1 is now the least recently used */
    pt_limit_entry_t *n = get(t, "new", 300, &created);
    ok(n && created, "a full table takes a new key");
    is((long long) atomic_load(&t->evictions), 1, "by evicting one");
    pt_limit_key_t k;
    pt_limit_table_key(t, "k1", 2, &k);
    ok(pt_limit_table_find(t, &k) == NULL, "the least recently used (k1) went");
    pt_limit_table_key(t, "k0", 2, &k);
    ok(pt_limit_table_find(t, &k) != NULL, "the recently used k0 stayed");

    /* Keys in flight are never evicted; when all are, the insert fails. */
    for (unsigned i = 0; i < PT_LIMIT_WINDOW; i++)
        atomic_store(&t->entries[i].cells[0], 1);
    ok(get(t, "other", 400, &created) == NULL, "every entry in flight: no room, no eviction");
    is((long long) atomic_load(&t->full), 1, "counted as full");
    atomic_store(&t->entries[3].cells[0], 0);
    ok(get(t, "other", 500, &created) != NULL, "one free of requests: reused");

    /* A writer that died mid-insert leaves BUSY: taken over once stale. */
    pt_limit_entry_t *e = &t->entries[5];
    atomic_store(&e->tag, UINT64_C(12345) | PT_LIMIT_TAG_BUSY);
    atomic_store(&e->used, 1000);
    atomic_store(&e->cells[0], 0);
    for (unsigned i = 0; i < PT_LIMIT_WINDOW; i++)
        if (i != 5)
            atomic_store(&t->entries[i].cells[0], 1);
    ok(get(t, "late", 1000 + PT_LIMIT_BUSY_STALE_MS / 2, &created) == NULL,
       "a fresh BUSY entry is left alone");
    ok(get(t, "late", 1000 + PT_LIMIT_BUSY_STALE_MS + 1, &created) == e,
       "a stale BUSY entry is taken over");
    free(mem);
}

static int32_t dead_pid;

static bool fake_alive(int32_t pid)
{
    return pid != dead_pid;
}

static void test_cells(void)
{
    void *mem;
    pt_limit_table_t *t = table_new(64, &mem);
    bool created;

    dead_pid = 0;
    int c1 = pt_limit_table_claim_cell(t, 101, fake_alive);
    int c2 = pt_limit_table_claim_cell(t, 102, fake_alive);
    ok(c1 >= 0 && c2 >= 0 && c1 != c2, "two workers, two records");
    is(pt_limit_table_claim_cell(t, 101, fake_alive), c1, "claiming again keeps the record");
    pt_limit_entry_t *e = get(t, "busy", 1, &created);
    atomic_store(&e->cells[c1], 3);
    atomic_store(&e->cells[c2], 2);
    is(pt_limit_entry_inflight(e), 5, "in flight: the sum of the cells");
    dead_pid = 101;         /* worker 101 crashed */
    int c3 = pt_limit_table_claim_cell(t, 103, fake_alive);
    ok(c3 >= 0, "its respawned successor gets a record");
    is(pt_limit_entry_inflight(e), 2, "and the dead worker's counts are gone");
    is((int) atomic_load(&t->procs[c2]), 102, "a live worker keeps its record");
    pt_limit_table_release_cell(t, c2, 102);
    is(pt_limit_entry_inflight(e), 0, "a record given back at exit is cleared");
    /* The sweep claims again every second: a free record before its own
     * is not taken too (it would be gone for the next generation). */
    int c4 = pt_limit_table_claim_cell(t, 104, fake_alive);
    pt_limit_table_release_cell(t, c3, 103);
    ok(c3 < c4 && atomic_load(&t->procs[c3]) == 0, "a record is free before 104's");
    is(pt_limit_table_claim_cell(t, 104, fake_alive), c4, "104 claiming again keeps its own");
    is((int) atomic_load(&t->procs[c3]), 0, "and leaves the free one free");
    dead_pid = 0;
    for (int32_t pid = 200; pid < 200 + PT_LIMIT_CELLS; pid++)
        pt_limit_table_claim_cell(t, pid, fake_alive);
    is(pt_limit_table_claim_cell(t, 999, fake_alive), -1, "no record left: -1");
    free(mem);
}

int main(void)
{
    test_basic();
    test_eviction();
    test_cells();
    return done_testing();
}
