/*
 * test_slab.c: size classes, page runs, fill to exhaustion and reuse,
 * merging of freed runs, stats, and a random workload checked for
 * overlaps and corruption.
 */
#include "common/pt.h"

#include "common/slab.h"
#include "test/unit/tap.h"

#define MEM_SIZE (1024 * 1024)

typedef struct {
    unsigned char *p;
    size_t n;
    unsigned char tag;
} live_t;

int
main(void)
{
    tap_srand(0xDEADBEEFCAFEF00D);
    static unsigned char mem[MEM_SIZE] __attribute__((aligned(4096)));
    pt_slab_stats_t st;
    pt_slab_t *s;
    size_t pages;

    ok(pt_slab_init(mem, 64) == NULL, "too small for a page: NULL");

    s = pt_slab_init(mem, MEM_SIZE);
    ok(s != NULL, "init over 1 MiB");
    pt_slab_stats(s, &st);
    pages = st.total / PT_SLAB_PAGE;
    ok(st.total >= MEM_SIZE / 100 * 97 && st.total % PT_SLAB_PAGE == 0,
       "total %zu bytes = %zu pages (descriptors live inside)", st.total, pages);
    ok(st.used == 0 && st.allocs == 0 && st.fails == 0, "fresh counters are zero");

    /* Size classes: alignment and rounding. */
    {
        static const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 1000, 2048 };
        static const size_t charged[] = { 16, 16, 16, 16, 32, 128, 1024, 2048 };
        void *p[pt_countof(sizes)];
        size_t used = 0;
        int misaligned = 0;

        for (size_t i = 0; i < pt_countof(sizes); i++) {
            p[i] = pt_slab_alloc_locked(s, sizes[i]);
            misaligned += p[i] == NULL || ((uintptr_t) p[i] & 15) != 0;
            used += charged[i];
        }
        is(misaligned, 0, "small allocations are non-NULL and 16-byte aligned");
        pt_slab_stats(s, &st);
        is(st.used, used, "used counts size classes");
        is(st.allocs, pt_countof(sizes), "allocs counted");
        for (size_t i = 0; i < pt_countof(sizes); i++)
            pt_slab_free_locked(s, p[i]);
        pt_slab_stats(s, &st);
        is(st.used, 0, "all freed: used back to 0");
    }

    /* Page runs. */
    {
        void *a = pt_slab_alloc_locked(s, 2049);
        void *b = pt_slab_alloc_locked(s, 3 * PT_SLAB_PAGE + 1);
        ok(a && ((uintptr_t) a % PT_SLAB_PAGE) == 0, "2049 bytes: a page, page-aligned");
        ok(b && ((uintptr_t) b % PT_SLAB_PAGE) == 0, "3 pages + 1: a run, page-aligned");
        pt_slab_stats(s, &st);
        is(st.used, 5 * PT_SLAB_PAGE, "used counts whole pages");
        memset(a, 1, 2049);
        memset(b, 2, 3 * PT_SLAB_PAGE + 1);
        pt_slab_free_locked(s, a);
        pt_slab_free_locked(s, b);
        ok(pt_slab_alloc_locked(s, pages * PT_SLAB_PAGE) != NULL,
           "after freeing, the runs merged back: one run of every page fits");
        pt_slab_stats(s, &st);
        is(st.used, pages * PT_SLAB_PAGE, "the whole zone is used");
        ok(pt_slab_alloc_locked(s, 16) == NULL, "nothing left for 16 bytes");
        pt_slab_stats(s, &st);
        is(st.fails, 1, "the failure is counted");
        ok(pt_slab_alloc_locked(s, (pages + 1) * PT_SLAB_PAGE) == NULL, "more than total fails");
        ok(pt_slab_alloc_locked(s, SIZE_MAX) == NULL, "SIZE_MAX fails");
        s = pt_slab_init(mem, MEM_SIZE);    /* start over */
    }

    /* Fill with 64-byte chunks until NULL, free all, fill again. */
    {
        static void *ptrs[MEM_SIZE / 64];
        size_t n = 0, again = 0;
        int dup = 0;

        while (n < pt_countof(ptrs) && (ptrs[n] = pt_slab_alloc_locked(s, 64)) != NULL) {
            memset(ptrs[n], (int) (n & 0xff), 64);
            n++;
        }
        is(n, pages * (PT_SLAB_PAGE / 64), "64-byte chunks fill every page (%zu)", n);
        pt_slab_stats(s, &st);
        ok(st.fails == 1 && st.used == st.total, "full: one failure, used == total");
        for (size_t i = 0; i < n; i++) {
            const unsigned char *c = ptrs[i];
            dup += c[0] != (unsigned char) (i & 0xff) || c[63] != (unsigned char) (i & 0xff);
        }
        is(dup, 0, "no chunk was handed out twice (contents intact)");

        for (size_t i = 0; i < n; i += 2)       /* free every other chunk */
            pt_slab_free_locked(s, ptrs[i]);
        ok(pt_slab_alloc_locked(s, 4096) == NULL, "half-empty pages are not a free page");
        for (size_t i = 0; i < n; i += 2)
            again += (ptrs[i] = pt_slab_alloc_locked(s, 64)) != NULL;
        is(again, (n + 1) / 2, "the freed halves are reused");
        ok(pt_slab_alloc_locked(s, 64) == NULL, "and then the zone is full again");
        for (size_t i = 0; i < n; i++)
            pt_slab_free_locked(s, ptrs[i]);
        pt_slab_stats(s, &st);
        is(st.used, 0, "everything freed");
        ok(pt_slab_alloc_locked(s, pages * PT_SLAB_PAGE) != NULL,
           "emptied size-class pages went back to the page runs");
        s = pt_slab_init(mem, MEM_SIZE);
    }

    /* Mixed classes fill until NULL, then free all and the zone is whole. */
    {
        static void *ptrs[MEM_SIZE / 16];
        size_t n = 0;
        while (n < pt_countof(ptrs)) {
            size_t sz = (size_t) 1 << (4 + tap_rand() % 9);   /* 16 .. 4096 */
            if ((ptrs[n] = pt_slab_alloc_locked(s, sz)) == NULL)
                break;
            n++;
        }
        ok(n > 100, "mixed sizes: %zu allocations before full", n);
        for (size_t i = 0; i < n; i++)
            pt_slab_free_locked(s, ptrs[n - 1 - i]);
        pt_slab_stats(s, &st);
        is(st.used, 0, "used back to 0");
        ok(pt_slab_alloc_locked(s, pages * PT_SLAB_PAGE) != NULL, "one full run again");
        s = pt_slab_init(mem, MEM_SIZE);
    }

    /* Random workload: every live block tagged; check no overlap. */
    {
        static live_t live[2000];
        size_t nlive = 0;
        int corrupt = 0, fails = 0;

        for (int step = 0; step < 100000; step++) {
            if (nlive < pt_countof(live) && (nlive == 0 || tap_rand() % 3 != 0)) {
                size_t n = (tap_rand() % 4 == 0) ? 1 + tap_rand() % 20000
                                                  : 1 + tap_rand() % 600;
                unsigned char *p = pt_slab_alloc_locked(s, n);
                if (p == NULL) {
                    fails++;
                    continue;
                }
                live[nlive] = (live_t) { p, n, (unsigned char) step };
                memset(p, live[nlive].tag, n);
                nlive++;
            } else {
                size_t i = tap_rand() % nlive;
                for (size_t k = 0; k < live[i].n; k++) {
                    if (live[i].p[k] != live[i].tag) {
                        corrupt++;
                        break;
                    }
                }
                pt_slab_free_locked(s, live[i].p);
                live[i] = live[--nlive];
            }
        }
        is(corrupt, 0, "100000 random operations: no block overwritten by another");
        diag("random workload: %d allocation failures, %zu live at the end", fails, nlive);
        while (nlive > 0)
            pt_slab_free_locked(s, live[--nlive].p);
        pt_slab_stats(s, &st);
        is(st.used, 0, "all freed");
        ok(pt_slab_alloc_locked(s, pages * PT_SLAB_PAGE) != NULL,
           "after all that, free space merged into one run");
    }

    /* calloc zeroes even reused memory. */
    s = pt_slab_init(mem, MEM_SIZE);
    {
        unsigned char *p = pt_slab_alloc_locked(s, 100);
        memset(p, 0xff, 100);
        pt_slab_free_locked(s, p);
        p = pt_slab_calloc_locked(s, 100);
        int nz = 0;
        for (int i = 0; i < 100; i++)
            nz += p[i] != 0;
        is(nz, 0, "calloc zero-fills reused memory");
        pt_slab_free_locked(s, NULL);
        ok(1, "free(NULL) is a no-op");
    }

    /* An unaligned region still works (header and pages get aligned). */
    s = pt_slab_init(mem + 3, 64 * 1024);
    ok(s != NULL, "init over an unaligned region");
    {
        void *p = pt_slab_alloc_locked(s, 5000);
        ok(p && (uint8_t *) p >= mem + 3 && (uint8_t *) p + 5000 <= mem + 3 + 64 * 1024,
           "allocations stay inside the region");
    }

    return done_testing();
}
