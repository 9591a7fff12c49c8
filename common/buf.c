/*
 * buf.c: the buffer free lists, one per pooled size.
 */
#include "common/pt.h"
#include "common/buf.h"

static const size_t pt_buf_sizes[PT_BUF_POOLS] = { PT_BUF_SIZE, PT_BUF_LARGE };
static pt_buf_t *pt_buf_free[PT_BUF_POOLS];
static size_t pt_buf_nfree[PT_BUF_POOLS];
static size_t pt_buf_low[PT_BUF_POOLS];        /* least nfree since the last trim */
static size_t pt_buf_max_free[PT_BUF_POOLS] = { 256, 128 };

void pt_buf_pool_init(size_t max_free_bytes)
{
    for (int i = 0; i < PT_BUF_POOLS; i++)
        pt_buf_max_free[i] = max_free_bytes / PT_BUF_POOLS / pt_buf_sizes[i];
}

static int pt_buf_pool_of(size_t size)
{
    for (int i = 0; i < PT_BUF_POOLS; i++)
        if (pt_buf_sizes[i] == size)
            return i;
    return -1;
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
    b->pool = (int8_t) pt_buf_pool_of(size);
    return b;
}

pt_buf_t *pt_buf_get_size(size_t size)
{
    int i = pt_buf_pool_of(size);
    pt_buf_t *b = i >= 0 ? pt_buf_free[i] : NULL;

    if (b == NULL)
        return pt_buf_alloc(size);
    pt_buf_free[i] = b->next;
    if (--pt_buf_nfree[i] < pt_buf_low[i])
        pt_buf_low[i] = pt_buf_nfree[i];
    b->next = NULL;
    b->pos = b->last = b->start;
    return b;
}

pt_buf_t *pt_buf_get(void)
{
    return pt_buf_get_size(PT_BUF_SIZE);
}

void pt_buf_put(pt_buf_t *b)
{
    if (b == NULL)
        return;
    if (b->pool < 0 || pt_buf_nfree[b->pool] >= pt_buf_max_free[b->pool]) {
        free(b);
        return;
    }
    b->next = pt_buf_free[b->pool];
    pt_buf_free[b->pool] = b;
    pt_buf_nfree[b->pool]++;
}

size_t pt_buf_trim(void)
{
    size_t freed = 0;

    for (int i = 0; i < PT_BUF_POOLS; i++) {
        for (size_t n = (pt_buf_low[i] + 1) / 2; n && pt_buf_free[i]; n--) {
            pt_buf_t *b = pt_buf_free[i];
            pt_buf_free[i] = b->next;
            pt_buf_nfree[i]--;
            free(b);
            freed += pt_buf_sizes[i];
        }
        pt_buf_low[i] = pt_buf_nfree[i];
    }
    return freed;
}

void pt_buf_compact(pt_buf_t *b)
{
    size_t n = pt_buf_len(b);

    if (b->pos != b->start && n)
        memmove(b->start, b->pos, n);
    b->pos = b->start;
    b->last = b->start + n;
}
