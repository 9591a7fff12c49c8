/*
 * test_limit_state.c: the quota state file: what is saved comes back
 * into a table of another size with the same seed (short and digested
 * keys alike), other kinds are left out, and a damaged file loads what
 * parses and nothing else.
 */
#include "worker/mod/limit/ratelimit/limit_state.c"

#include "test/unit/tap.h"

#include <stdlib.h>
#include <sys/stat.h>

static pt_limit_table_t *table_new(uint64_t n, uint64_t seed)
{
    size_t size = pt_limit_table_bytes(n);

    return pt_limit_table_init(aligned_alloc(64, pt_align(size, 64)), size, seed);
}

static pt_limit_entry_t *put(pt_limit_table_t *t, const char *key, size_t n, uint64_t word,
                             uint8_t kind)
{
    pt_limit_key_t k;
    bool created;

    pt_limit_table_key(t, key, n, &k);
    pt_limit_entry_t *e = pt_limit_table_get(t, &k, 1, &created);
    atomic_store(&e->word, word);
    e->kind = kind;
    return e;
}

static uint64_t word_of(pt_limit_table_t *t, const char *key, size_t n)
{
    pt_limit_key_t k;

    pt_limit_table_key(t, key, n, &k);
    pt_limit_entry_t *e = pt_limit_table_find(t, &k);
    return e ? atomic_load(&e->word) : UINT64_MAX;
}

int main(void)
{
    char path[] = "/tmp/test_limit_state.XXXXXX";
    int fd = mkstemp(path);
    char longkey[200];
    uint64_t seed;

    close(fd);
    memset(longkey, 'k', sizeof(longkey));
    pt_limit_zone_t z2 = { .name = "other", .table = table_new(64, 99) };
    pt_limit_zone_t z1 = { .name = "q", .table = table_new(128, 1234), .next = &z2 };
    put(z1.table, "alice", 5, UINT64_C(0x0000abcd00000007), 3);
    put(z1.table, longkey, sizeof(longkey), 42, 3);
    put(z1.table, "rate", 4, 99, 1);
    put(z2.table, "bob", 3, 5, 3);
    umask(022);
    is(pt_limit_state_save(path, &z1, 3), PT_OK, "saved");
    struct stat st;
    /* It holds keys as rendered (an API key, say): the workers' user's. */
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "readable by its owner alone");

    ok(pt_limit_state_seed(path, "q", &seed) && seed == 1234, "zone q's seed comes back");
    ok(!pt_limit_state_seed(path, "none", &seed), "a zone not in the file has none");
    pt_limit_table_t *t = table_new(512, 1234);
    is((int) pt_limit_state_load(path, "q", t, 3), 2, "two quota entries of zone q loaded");
    ok(word_of(t, "alice", 5) == UINT64_C(0x0000abcd00000007), "alice's count is back");
    is((long long) word_of(t, longkey, sizeof(longkey)), 42, "a digested key too");
    ok(word_of(t, "rate", 4) == UINT64_MAX, "another kind is not kept");
    ok(word_of(t, "bob", 3) == UINT64_MAX, "another zone's entries stay there");

    FILE *f = fopen(path, "a");
    fputs("zone q 00000000000004d2\nq zz 1\nq 0123456789abcdef 0000000000000001 6\n", f);
    fclose(f);
    pt_limit_table_t *t2 = table_new(64, 1234);
    is((int) pt_limit_state_load(path, "q", t2, 3), 2, "damaged lines are skipped");
    f = fopen(path, "w");
    fputs("not a state file\n", f);
    fclose(f);
    ok(!pt_limit_state_seed(path, "q", &seed), "a file of something else holds nothing");
    unlink(path);
    ok(!pt_limit_state_seed(path, "q", &seed), "no file, no seed");
    free(z1.table);
    free(z2.table);
    free(t);
    free(t2);
    return done_testing();
}
