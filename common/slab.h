/*
 * slab.h: the allocator inside one shared-memory zone.
 *
 * The zone's memory is cut into 4 KiB pages. A request above half a page
 * takes a run of whole pages (first fit; freed runs merge with free
 * neighbours). Smaller requests are rounded up to a power of two from 16
 * to 2048 bytes and served from pages dedicated to that size, each with an
 * in-use bitmap; a page whose chunks are all free goes back to the runs.
 *
 * All state, the page descriptors included, lives inside the zone memory;
 * pointers in it are absolute, valid because every process maps the
 * segment at the same address. Callers serialise access (the zone lock);
 * nothing here locks. When the memory is full an allocation fails (NULL,
 * counted in fails): callers evict and retry, or refuse.
 */
#ifndef PT_SLAB_H
#define PT_SLAB_H

typedef struct pt_slab_s pt_slab_t;

/* Smallest allocation unit and alignment of every pointer returned. */
#define PT_SLAB_MIN     16
/* Size of a page; allocations above half of it are page runs. */
#define PT_SLAB_PAGE    4096

typedef struct {
    size_t total;   /* bytes of pages the allocator manages */
    size_t used;    /* bytes handed out, rounded to size class or pages */
    size_t allocs;  /* successful allocations since init (cumulative) */
    size_t fails;   /* allocations refused for lack of room (cumulative) */
} pt_slab_stats_t;

/* Lays the allocator over [mem, mem + size) and returns it (it sits at the
 * start of that memory). NULL if size cannot hold the header and one page. */
pt_slab_t *pt_slab_init(void *mem, size_t size);

/* n bytes (n = 0 counts as 1), aligned to PT_SLAB_MIN, or to PT_SLAB_PAGE
 * for page runs; NULL when there is no room (counted in stats.fails). */
void *pt_slab_alloc_locked(pt_slab_t *s, size_t n);

/* pt_slab_alloc_locked, zero-filled. */
void *pt_slab_calloc_locked(pt_slab_t *s, size_t n);

/* Returns p, which pt_slab_alloc_locked gave, to s. NULL is a no-op.
 * Freeing anything else, or twice, is a bug and fails an assertion. */
void pt_slab_free_locked(pt_slab_t *s, void *p);

/* Copies the counters into *st. Unlocked reads: each word is exact, the
 * set may be a moment apart unless the caller holds the zone lock. */
void pt_slab_stats(pt_slab_t *s, pt_slab_stats_t *st);

#endif
