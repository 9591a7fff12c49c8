/*
 * arena.c: capped bump allocator with a large-block list and cleanup hooks.
 */
#include "common/pt.h"

#include <stdarg.h>

#include "common/arena.h"

typedef struct pt_arena_block_s pt_arena_block_t;

/* Padded to the alignment so a block's data starts aligned. */
struct pt_arena_block_s {
    pt_arena_block_t *next;
    char *pos;
    char *end;
    size_t size;
} __attribute__((aligned(PT_ARENA_ALIGN)));

typedef struct pt_arena_cleanup_s pt_arena_cleanup_t;

struct pt_arena_cleanup_s {
    pt_arena_cleanup_t *next;
    pt_arena_cleanup_pt fn;
    void *data;
};

struct pt_arena_s {
    pt_arena_block_t *current;   /* small allocations come from here */
    pt_arena_block_t *blocks;    /* small blocks after the first, newest first */
    pt_arena_block_t *large;     /* one block per large request */
    pt_arena_cleanup_t *cleanups;
    size_t block_size;
    size_t large_min;            /* requests above this get their own block */
    size_t cap;
    size_t footprint;
    size_t used;
    pt_arena_block_t first;      /* its data follows the struct */
} __attribute__((aligned(PT_ARENA_ALIGN)));

pt_arena_t *
pt_arena_create(size_t block_size, size_t cap)
{
    pt_arena_t *a;

    if (block_size == 0)
        block_size = 4096;
    block_size = pt_align(block_size, PT_ARENA_ALIGN);
    if (block_size > SIZE_MAX / 2)
        return NULL;
    if (cap != 0 && cap < block_size)
        cap = block_size;

    a = aligned_alloc(PT_ARENA_ALIGN, sizeof(*a) + block_size);
    if (a == NULL)
        return NULL;
    a->first.next = NULL;
    a->first.pos = (char *) (a + 1);
    a->first.end = a->first.pos + block_size;
    a->first.size = block_size;
    a->current = &a->first;
    a->blocks = NULL;
    a->large = NULL;
    a->cleanups = NULL;
    a->block_size = block_size;
    a->large_min = block_size / 4;
    a->cap = cap;
    a->footprint = block_size;
    a->used = 0;
    return a;
}

/* A new block with size data bytes, charged against the cap. */
static pt_arena_block_t *
pt_arena_block_new(pt_arena_t *a, size_t size)
{
    pt_arena_block_t *b;

    if (size > SIZE_MAX - sizeof(*b)
        || (a->cap != 0 && (size > a->cap || a->footprint > a->cap - size)))
        return NULL;
    b = aligned_alloc(PT_ARENA_ALIGN, pt_align(sizeof(*b) + size, PT_ARENA_ALIGN));
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->pos = (char *) (b + 1);
    b->end = b->pos + size;
    b->size = size;
    a->footprint += size;
    return b;
}

void *
pt_arena_alloc(pt_arena_t *a, size_t n)
{
    pt_arena_block_t *b;
    void *p;

    if (n > SIZE_MAX / 2)
        return NULL;
    n = pt_align(n == 0 ? 1 : n, PT_ARENA_ALIGN);

    if (n > a->large_min) {
        b = pt_arena_block_new(a, n);
        if (b == NULL)
            return NULL;
        b->next = a->large;
        a->large = b;
        b->pos = b->end;
        a->used += n;
        return b + 1;
    }

    b = a->current;
    if ((size_t) (b->end - b->pos) < n) {
        /* The tail of the old block is given up: with requests capped at a
         * quarter block, at most a quarter of each block goes to waste. */
        b = pt_arena_block_new(a, a->block_size);
        if (b == NULL)
            return NULL;
        b->next = a->blocks;
        a->blocks = b;
        a->current = b;
    }
    p = b->pos;
    b->pos += n;
    a->used += n;
    return p;
}

void *
pt_arena_calloc(pt_arena_t *a, size_t n)
{
    void *p = pt_arena_alloc(a, n);

    if (p != NULL)
        memset(p, 0, n);
    return p;
}

char *
pt_arena_strndup(pt_arena_t *a, const char *s, size_t n)
{
    char *p;

    if (n == SIZE_MAX)
        return NULL;
    p = pt_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
pt_arena_sprintf(pt_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    char *p;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return NULL;

    p = pt_arena_alloc(a, (size_t) len + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t) len + 1, fmt, ap);
    va_end(ap);
    return p;
}

int
pt_arena_cleanup_add(pt_arena_t *a, pt_arena_cleanup_pt fn, void *data)
{
    pt_arena_cleanup_t *c = pt_arena_alloc(a, sizeof(*c));

    if (c == NULL)
        return PT_ERROR;
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
    return PT_OK;
}

/* The list is detached first: a hook may allocate from the arena or even
 * register another hook, which then runs in the same pass. */
static void
pt_arena_run_cleanups(pt_arena_t *a)
{
    while (a->cleanups != NULL) {
        pt_arena_cleanup_t *c = a->cleanups;
        a->cleanups = NULL;
        while (c != NULL) {
            pt_arena_cleanup_t *next = c->next;
            c->fn(c->data);
            c = next;
        }
    }
}

static void
pt_arena_free_list(pt_arena_block_t *b)
{
    while (b != NULL) {
        pt_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
}

void
pt_arena_reset(pt_arena_t *a)
{
    pt_arena_run_cleanups(a);
    pt_arena_free_list(a->blocks);
    pt_arena_free_list(a->large);
    a->blocks = NULL;
    a->large = NULL;
    a->first.pos = (char *) (a + 1);
    a->current = &a->first;
    a->footprint = a->block_size;
    a->used = 0;
}

void
pt_arena_destroy(pt_arena_t *a)
{
    if (a == NULL)
        return;
    pt_arena_run_cleanups(a);
    pt_arena_free_list(a->blocks);
    pt_arena_free_list(a->large);
    free(a);
}

size_t
pt_arena_used(const pt_arena_t *a)
{
    return a->used;
}

size_t
pt_arena_footprint(const pt_arena_t *a)
{
    return a->footprint;
}
