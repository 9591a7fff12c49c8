/*
 * test_arena.c: alignment, cap, large blocks, cleanup order, reset.
 */
#include "common/pt.h"

#include "common/arena.h"
#include "test/unit/tap.h"

static char order[16];
static size_t norder;

static void
record(void *data)
{
    if (norder < sizeof(order) - 1)
        order[norder++] = *(const char *) data;
}

static pt_arena_t *late_arena;

/* A hook that registers another one while the hooks run. */
static void
record_and_add(void *data)
{
    record(data);
    pt_arena_cleanup_add(late_arena, record, "z");
}

static bool
aligned16(const void *p)
{
    return ((uintptr_t) p & 15) == 0;
}

int
main(void)
{
    pt_arena_t *a;
    char *p, *q;
    int misaligned = 0;

    a = pt_arena_create(1024, 0);
    ok(a != NULL, "create 1024-byte blocks, no cap");
    is(pt_arena_used(a), 0, "nothing used yet");
    is(pt_arena_footprint(a), 1024, "the first block counts in the footprint");

    /* Alignment over odd sizes, across block boundaries. */
    for (size_t n = 0; n < 600; n++) {
        p = pt_arena_alloc(a, n % 300);
        if (p == NULL || !aligned16(p))
            misaligned++;
        else
            memset(p, 0xab, n % 300);
    }
    is(misaligned, 0, "600 allocations of 0..299 bytes are non-NULL and 16-byte aligned");
    ok(pt_arena_footprint(a) > 1024, "more blocks were added");

    /* Zero-size allocations are distinct valid pointers. */
    p = pt_arena_alloc(a, 0);
    q = pt_arena_alloc(a, 0);
    ok(p != NULL && q != NULL && p != q, "alloc(0) gives distinct pointers");

    /* calloc, strndup, sprintf. */
    {
        unsigned char *z = pt_arena_calloc(a, 100);
        int nonzero = 0;
        for (int i = 0; z && i < 100; i++)
            nonzero += z[i] != 0;
        ok(z != NULL && nonzero == 0, "calloc zero-fills");

        p = pt_arena_strndup(a, "hello, world", 5);
        is_str(p, "hello", "strndup copies n bytes and terminates");
        p = pt_arena_strndup(a, "", 0);
        is_str(p, "", "strndup of nothing");
        p = pt_arena_sprintf(a, "%s:%d/%05.1f", "host", 8080, 3.14159);
        is_str(p, "host:8080/003.1", "sprintf");
        ok(aligned16(p), "sprintf result is aligned");
    }
    pt_arena_destroy(a);

    /* Large requests get their own block, and bump allocation continues in
     * the current block afterwards. */
    a = pt_arena_create(4096, 0);
    p = pt_arena_alloc(a, 64);
    q = pt_arena_alloc(a, 1025);            /* > block_size / 4 */
    ok(q != NULL && aligned16(q), "large allocation");
    is(pt_arena_footprint(a), 4096 + 1040, "large allocation took a block of its own size");
    memset(q, 0x5a, 1025);
    {
        char *r = pt_arena_alloc(a, 64);
        ok(r == p + 64, "small allocations continue in the first block");
    }
    q = pt_arena_alloc(a, 1024);            /* == block_size / 4: still small */
    is(pt_arena_footprint(a), 4096 + 1040, "a quarter block is still small");
    q = pt_arena_alloc(a, 100000);
    ok(q != NULL, "100000-byte allocation");
    memset(q, 1, 100000);
    is(pt_arena_used(a), 64 + 1040 + 64 + 1024 + 100000, "used counts every allocation");
    pt_arena_destroy(a);

    /* Cap. */
    a = pt_arena_create(1024, 4096);
    {
        size_t got = 0;
        while (pt_arena_alloc(a, 200) != NULL)
            got++;
        ok(got >= 12 && got <= 20, "capped arena gave %zu allocations of 200 bytes", got);
        ok(pt_arena_footprint(a) <= 4096, "footprint %zu within the 4096 cap",
           pt_arena_footprint(a));
        ok(pt_arena_alloc(a, 5000) == NULL, "a large request over the cap fails");
        ok(pt_arena_alloc(a, SIZE_MAX) == NULL, "SIZE_MAX fails");
        ok(pt_arena_alloc(a, SIZE_MAX - 8) == NULL, "SIZE_MAX - 8 fails");
        ok(pt_arena_sprintf(a, "%0300d", 1) == NULL, "sprintf over the cap fails");
        ok(pt_arena_strndup(a, "x", SIZE_MAX) == NULL, "strndup of SIZE_MAX fails");
        while (pt_arena_alloc(a, 16) != NULL)
            ;
        is(pt_arena_cleanup_add(a, record, "x"), PT_ERROR, "cleanup_add on a full arena fails");

        pt_arena_reset(a);
        is(pt_arena_footprint(a), 1024, "reset returns to the first block");
        is(pt_arena_used(a), 0, "reset clears used");
        got = 0;
        while (pt_arena_alloc(a, 200) != NULL)
            got++;
        ok(got >= 12, "after reset the cap allows as much again (%zu)", got);
    }
    pt_arena_destroy(a);

    a = pt_arena_create(4096, 1000);
    ok(a != NULL && pt_arena_alloc(a, 1000) != NULL, "a cap below block_size is raised to it");
    ok(pt_arena_alloc(a, 4000) == NULL, "and still enforced");
    pt_arena_destroy(a);

    a = pt_arena_create(0, 0);
    ok(a != NULL && pt_arena_footprint(a) == 4096, "block_size 0 means 4096");
    pt_arena_destroy(a);

    /* Cleanups: reverse order, at reset and destroy, once. */
    a = pt_arena_create(256, 0);
    late_arena = a;
    is(pt_arena_cleanup_add(a, record, "a"), PT_OK, "add cleanup a");
    is(pt_arena_cleanup_add(a, record, "b"), PT_OK, "add cleanup b");
    is(pt_arena_cleanup_add(a, record, "c"), PT_OK, "add cleanup c");
    pt_arena_reset(a);
    order[norder] = '\0';
    is_str(order, "cba", "reset runs cleanups last-in first-out");
    norder = 0;
    pt_arena_reset(a);
    is(norder, 0, "a second reset runs nothing");

    /* The first block is reused after reset: same address again. */
    p = pt_arena_alloc(a, 16);
    pt_arena_reset(a);
    q = pt_arena_alloc(a, 16);
    ok(p == q, "reset rewinds the first block");

    pt_arena_cleanup_add(a, record, "1");
    pt_arena_cleanup_add(a, record_and_add, "2");
    pt_arena_cleanup_add(a, record, "3");
    for (int i = 0; i < 50; i++)
        pt_arena_alloc(a, 100);             /* many blocks, freed at destroy */
    pt_arena_destroy(a);
    order[norder] = '\0';
    is_str(order, "321z", "destroy runs cleanups in reverse, and one added meanwhile");

    pt_arena_destroy(NULL);
    ok(1, "destroy(NULL) is a no-op");

    return done_testing();
}
