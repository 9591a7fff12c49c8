/*
 * slab.c: page runs and power-of-two size classes inside a zone.
 *
 * Page descriptor roles: the first and last page of each run (free or in
 * use) are marked, every page inside a run has kind 0. That is all the
 * merge needs: the page before a run being freed is the last page of its
 * left neighbour, the page after it the first page of its right one. A
 * free of a pointer into the middle of a run meets kind 0 and asserts.
 */
#include "common/pt.h"

#include "common/slab.h"

#define PT_SLAB_MAGIC       0x534c4142u     /* "SLAB" */
#define PT_SLAB_NONE        UINT32_MAX
#define PT_SLAB_MIN_SHIFT   4               /* 16 bytes */
#define PT_SLAB_CLASSES     8               /* 16 .. 2048 */
#define PT_SLAB_MAP_WORDS   (PT_SLAB_PAGE / PT_SLAB_MIN / 64)

enum {
    PT_SLAB_INNER = 0,      /* inside a run, or never a boundary */
    PT_SLAB_FREE,           /* first page of a free run */
    PT_SLAB_FREE_TAIL,      /* last page of a free run of 2+ pages */
    PT_SLAB_RUN,            /* first page of a run in use */
    PT_SLAB_RUN_TAIL,       /* last page of a run in use of 2+ pages */
    PT_SLAB_SMALL           /* a page of one size class */
};

typedef struct {
    uint8_t kind;
    uint8_t cls;                        /* SMALL: size class index */
    uint16_t nfree;                     /* SMALL: free chunks */
    uint32_t npages;                    /* FREE, RUN: pages in the run */
    uint32_t head;                      /* *_TAIL: index of the first page */
    uint32_t prev, next;                /* FREE: free runs; SMALL: class pages with room */
    uint64_t map[PT_SLAB_MAP_WORDS];    /* SMALL: bit set = chunk in use */
} pt_slab_page_t;

struct pt_slab_s {
    uint32_t magic;
    uint32_t npages;
    char *start;                        /* first page, PT_SLAB_PAGE-aligned */
    pt_slab_page_t *pages;
    uint32_t free_runs;                 /* list of free runs, any order */
    uint32_t partial[PT_SLAB_CLASSES];  /* per class: pages with a free chunk */
    pt_slab_stats_t stats;
};

pt_slab_t *
pt_slab_init(void *mem, size_t size)
{
    uintptr_t base = (uintptr_t) mem, end, descs;
    pt_slab_t *s;
    size_t n;

    if (size < sizeof(*s) + 64 || base > UINTPTR_MAX - size)
        return NULL;
    end = base + size;
    s = (pt_slab_t *) pt_align(base, _Alignof(pt_slab_t));
    descs = pt_align((uintptr_t) (s + 1), _Alignof(pt_slab_page_t));
    if (descs >= end)
        return NULL;

    /* Each page costs itself plus a descriptor; the alignment of the
     * first page may eat one page's worth, so step down until it fits. */
    n = (end - descs) / (PT_SLAB_PAGE + sizeof(pt_slab_page_t));
    while (n > 0 && pt_align(descs + n * sizeof(pt_slab_page_t), PT_SLAB_PAGE)
                    + n * (uintptr_t) PT_SLAB_PAGE > end)
        n--;
    if (n == 0 || n >= PT_SLAB_NONE)
        return NULL;

    s->npages = (uint32_t) n;
    s->pages = (pt_slab_page_t *) descs;
    s->start = (char *) pt_align(descs + n * sizeof(pt_slab_page_t), PT_SLAB_PAGE);
    memset(s->pages, 0, n * sizeof(pt_slab_page_t));
    s->free_runs = PT_SLAB_NONE;
    for (size_t c = 0; c < PT_SLAB_CLASSES; c++)
        s->partial[c] = PT_SLAB_NONE;
    memset(&s->stats, 0, sizeof(s->stats));
    s->stats.total = n * (size_t) PT_SLAB_PAGE;

    /* One free run over everything. */
    s->pages[0].kind = PT_SLAB_FREE;
    s->pages[0].npages = (uint32_t) n;
    if (n > 1) {
        s->pages[n - 1].kind = PT_SLAB_FREE_TAIL;
        s->pages[n - 1].head = 0;
    }
    s->pages[0].prev = s->pages[0].next = PT_SLAB_NONE;
    s->free_runs = 0;
    s->magic = PT_SLAB_MAGIC;
    return s;
}

/* Doubly linked lists of page indices, threaded through prev/next. */
static void
pt_slab_list_push(pt_slab_t *s, uint32_t *head, uint32_t i)
{
    pt_slab_page_t *pg = &s->pages[i];

    pg->prev = PT_SLAB_NONE;
    pg->next = *head;
    if (*head != PT_SLAB_NONE)
        s->pages[*head].prev = i;
    *head = i;
}

static void
pt_slab_list_unlink(pt_slab_t *s, uint32_t *head, uint32_t i)
{
    pt_slab_page_t *pg = &s->pages[i];

    if (pg->prev != PT_SLAB_NONE)
        s->pages[pg->prev].next = pg->next;
    else
        *head = pg->next;
    if (pg->next != PT_SLAB_NONE)
        s->pages[pg->next].prev = pg->prev;
    pg->prev = pg->next = PT_SLAB_NONE;
}

/* Marks [h, h + k) as one run of the given role (FREE or RUN). */
static void
pt_slab_mark(pt_slab_t *s, uint32_t h, uint32_t k, uint8_t kind)
{
    s->pages[h].kind = kind;
    s->pages[h].npages = k;
    if (k > 1) {
        s->pages[h + k - 1].kind = kind == PT_SLAB_FREE ? PT_SLAB_FREE_TAIL : PT_SLAB_RUN_TAIL;
        s->pages[h + k - 1].head = h;
    }
}

/* Takes k pages off the free runs (first fit); PT_SLAB_NONE if no run is
 * long enough. */
static uint32_t
pt_slab_pages_alloc(pt_slab_t *s, uint32_t k)
{
    for (uint32_t h = s->free_runs; h != PT_SLAB_NONE; h = s->pages[h].next) {
        uint32_t m = s->pages[h].npages;

        if (m < k)
            continue;
        pt_slab_list_unlink(s, &s->free_runs, h);
        if (m > k) {
            /* The remainder keeps the old tail and gets a head of its own. */
            pt_slab_mark(s, h + k, m - k, PT_SLAB_FREE);
            pt_slab_list_push(s, &s->free_runs, h + k);
        }
        pt_slab_mark(s, h, k, PT_SLAB_RUN);
        return h;
    }
    return PT_SLAB_NONE;
}

/* Returns the run [h, h + k) to the free runs, merged with free neighbours. */
static void
pt_slab_pages_free(pt_slab_t *s, uint32_t h, uint32_t k)
{
    uint32_t r = h + k, l;

    /* Forget the run's own boundaries before they become inner pages. */
    s->pages[h].kind = PT_SLAB_INNER;
    s->pages[h + k - 1].kind = PT_SLAB_INNER;

    if (r < s->npages && s->pages[r].kind == PT_SLAB_FREE) {
        uint32_t rk = s->pages[r].npages;
        pt_slab_list_unlink(s, &s->free_runs, r);
        s->pages[r].kind = PT_SLAB_INNER;
        k += rk;
    }
    if (h > 0) {
        l = h - 1;
        if (s->pages[l].kind == PT_SLAB_FREE_TAIL)
            l = s->pages[l].head;
        else if (s->pages[l].kind != PT_SLAB_FREE)
            l = PT_SLAB_NONE;
        if (l != PT_SLAB_NONE) {
            pt_slab_list_unlink(s, &s->free_runs, l);
            s->pages[h - 1].kind = PT_SLAB_INNER;
            k += h - l;
            h = l;
        }
    }
    pt_slab_mark(s, h, k, PT_SLAB_FREE);
    pt_slab_list_push(s, &s->free_runs, h);
}

static unsigned
pt_slab_class(size_t n)
{
    unsigned c = 0;

    while (((size_t) PT_SLAB_MIN << c) < n)
        c++;
    return c;
}

static void *
pt_slab_small_alloc(pt_slab_t *s, unsigned c)
{
    size_t csize = (size_t) PT_SLAB_MIN << c;
    unsigned nchunks = PT_SLAB_PAGE / (unsigned) csize;
    pt_slab_page_t *pg;
    uint32_t p = s->partial[c];

    if (p == PT_SLAB_NONE) {
        p = pt_slab_pages_alloc(s, 1);
        if (p == PT_SLAB_NONE)
            return NULL;
        pg = &s->pages[p];
        pg->kind = PT_SLAB_SMALL;
        pg->cls = (uint8_t) c;
        pg->nfree = (uint16_t) nchunks;
        /* Chunks that do not exist in this class are marked in use. */
        for (unsigned w = 0; w < PT_SLAB_MAP_WORDS; w++) {
            unsigned first = w * 64;
            if (first >= nchunks)
                pg->map[w] = ~(uint64_t) 0;
            else if (nchunks - first >= 64)
                pg->map[w] = 0;
            else
                pg->map[w] = ~(uint64_t) 0 << (nchunks - first);
        }
        pt_slab_list_push(s, &s->partial[c], p);
    }

    pg = &s->pages[p];
    for (unsigned w = 0; w < PT_SLAB_MAP_WORDS; w++) {
        if (pg->map[w] != ~(uint64_t) 0) {
            unsigned bit = (unsigned) __builtin_ctzll(~pg->map[w]);
            pg->map[w] |= (uint64_t) 1 << bit;
            if (--pg->nfree == 0)
                pt_slab_list_unlink(s, &s->partial[c], p);
            s->stats.used += csize;
            return s->start + (size_t) p * PT_SLAB_PAGE + (w * 64 + bit) * csize;
        }
    }
    PT_ASSERT(!"size-class page on the partial list has no free chunk");
    return NULL;
}

void *
pt_slab_alloc_locked(pt_slab_t *s, size_t n)
{
    void *p;

    PT_ASSERT(s->magic == PT_SLAB_MAGIC);
    if (n <= PT_SLAB_PAGE / 2) {
        p = pt_slab_small_alloc(s, pt_slab_class(n == 0 ? 1 : n));
    } else {
        size_t k = n / PT_SLAB_PAGE + (n % PT_SLAB_PAGE != 0);
        uint32_t h = k <= s->npages ? pt_slab_pages_alloc(s, (uint32_t) k) : PT_SLAB_NONE;

        p = NULL;
        if (h != PT_SLAB_NONE) {
            s->stats.used += k * PT_SLAB_PAGE;
            p = s->start + (size_t) h * PT_SLAB_PAGE;
        }
    }
    if (p == NULL) {
        s->stats.fails++;
        return NULL;
    }
    s->stats.allocs++;
    return p;
}

void *
pt_slab_calloc_locked(pt_slab_t *s, size_t n)
{
    void *p = pt_slab_alloc_locked(s, n);

    if (p != NULL)
        memset(p, 0, n);
    return p;
}

void
pt_slab_free_locked(pt_slab_t *s, void *p)
{
    size_t off, in_page, csize;
    pt_slab_page_t *pg;
    uint32_t i;

    if (p == NULL)
        return;
    PT_ASSERT(s->magic == PT_SLAB_MAGIC);
    PT_ASSERT((char *) p >= s->start
              && (char *) p < s->start + (size_t) s->npages * PT_SLAB_PAGE);

    off = (size_t) ((char *) p - s->start);
    i = (uint32_t) (off / PT_SLAB_PAGE);
    in_page = off % PT_SLAB_PAGE;
    pg = &s->pages[i];

    if (pg->kind == PT_SLAB_RUN) {
        PT_ASSERT(in_page == 0);
        s->stats.used -= (size_t) pg->npages * PT_SLAB_PAGE;
        pt_slab_pages_free(s, i, pg->npages);
        return;
    }

    PT_ASSERT(pg->kind == PT_SLAB_SMALL);
    csize = (size_t) PT_SLAB_MIN << pg->cls;
    PT_ASSERT(in_page % csize == 0);
    {
        size_t chunk = in_page / csize;
        uint64_t bit = (uint64_t) 1 << (chunk % 64);
        unsigned nchunks = PT_SLAB_PAGE / (unsigned) csize;

        PT_ASSERT(pg->map[chunk / 64] & bit);   /* double free otherwise */
        pg->map[chunk / 64] &= ~bit;
        s->stats.used -= csize;
        if (pg->nfree++ == 0)
            pt_slab_list_push(s, &s->partial[pg->cls], i);
        if (pg->nfree == nchunks) {
            pt_slab_list_unlink(s, &s->partial[pg->cls], i);
            pt_slab_mark(s, i, 1, PT_SLAB_RUN);
            pt_slab_pages_free(s, i, 1);
        }
    }
}

void
pt_slab_stats(pt_slab_t *s, pt_slab_stats_t *st)
{
    PT_ASSERT(s->magic == PT_SLAB_MAGIC);
    *st = s->stats;
}
