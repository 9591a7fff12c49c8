/*
 * buf.c: the buffer free list.
 */
#include "common/pt.h"
#include "common/buf.h"

static pt_buf_t *pt_buf_free;
static size_t pt_buf_nfree, pt_buf_max_free = 1024;

void pt_buf_pool_init(size_t max_free)
{
    pt_buf_max_free = max_free;
}

static pt_buf_t *pt_buf_alloc(size_t size)
{
    /* Header and data in one allocation. */
    pt_buf_t *b = malloc(sizeof(*b) + size);

    if (b == NULL)
        return NULL;
    b->start = (char *) (b + 1);
    b->end = b->start + size;
    b->pos = b->last = b->start;
    b->next = NULL;
    b->pooled = size == PT_BUF_SIZE;
    return b;
}

pt_buf_t *pt_buf_get(void)
{
    pt_buf_t *b = pt_buf_free;

    if (b == NULL)
        return pt_buf_alloc(PT_BUF_SIZE);
    pt_buf_free = b->next;
    pt_buf_nfree--;
    b->next = NULL;
    b->pos = b->last = b->start;
    return b;
}

pt_buf_t *pt_buf_get_size(size_t size)
{
    return size == PT_BUF_SIZE ? pt_buf_get() : pt_buf_alloc(size);
}

void pt_buf_put(pt_buf_t *b)
{
    if (b == NULL)
        return;
    if (!b->pooled || pt_buf_nfree >= pt_buf_max_free) {
        free(b);
        return;
    }
    b->next = pt_buf_free;
    pt_buf_free = b;
    pt_buf_nfree++;
}

void pt_buf_compact(pt_buf_t *b)
{
    size_t n = pt_buf_len(b);

    if (b->pos != b->start && n)
        memmove(b->start, b->pos, n);
    b->pos = b->start;
    b->last = b->start + n;
}
