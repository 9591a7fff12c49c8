/*
 * heap.c: binary min-heap with back-indices.
 */
#include "common/pt.h"

#include "common/heap.h"

void
pt_heap_init(pt_heap_t *h)
{
    h->a = NULL;
    h->n = 0;
    h->cap = 0;
}

void
pt_heap_free(pt_heap_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->a[i]->idx = SIZE_MAX;
    free(h->a);
    pt_heap_init(h);
}

static void
pt_heap_place(pt_heap_t *h, size_t i, pt_heap_node_t *node)
{
    h->a[i] = node;
    node->idx = i;
}

/* Moves node up from slot i until its parent is not larger. */
static void
pt_heap_sift_up(pt_heap_t *h, size_t i, pt_heap_node_t *node)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->a[parent]->key <= node->key)
            break;
        pt_heap_place(h, i, h->a[parent]);
        i = parent;
    }
    pt_heap_place(h, i, node);
}

/* Moves node down from slot i until no child is smaller. */
static void
pt_heap_sift_down(pt_heap_t *h, size_t i, pt_heap_node_t *node)
{
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && h->a[child + 1]->key < h->a[child]->key)
            child++;
        if (node->key <= h->a[child]->key)
            break;
        pt_heap_place(h, i, h->a[child]);
        i = child;
    }
    pt_heap_place(h, i, node);
}

int
pt_heap_push(pt_heap_t *h, pt_heap_node_t *node)
{
    PT_ASSERT(!pt_heap_linked(node));

    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        pt_heap_node_t **a;

        if (cap > SIZE_MAX / sizeof(*a))
            return PT_ERROR;
        a = realloc(h->a, cap * sizeof(*a));
        if (a == NULL)
            return PT_ERROR;
        h->a = a;
        h->cap = cap;
    }
    h->n++;
    pt_heap_sift_up(h, h->n - 1, node);
    return PT_OK;
}

pt_heap_node_t *
pt_heap_top(const pt_heap_t *h)
{
    return h->n ? h->a[0] : NULL;
}

/* Takes slot i out: the last node fills the hole and goes whichever way
 * its key says. */
static void
pt_heap_delete(pt_heap_t *h, size_t i)
{
    pt_heap_node_t *node = h->a[i], *last;

    h->n--;
    node->idx = SIZE_MAX;
    if (i == h->n)
        return;

    last = h->a[h->n];
    if (i > 0 && last->key < h->a[(i - 1) / 2]->key)
        pt_heap_sift_up(h, i, last);
    else
        pt_heap_sift_down(h, i, last);
}

pt_heap_node_t *
pt_heap_pop(pt_heap_t *h)
{
    pt_heap_node_t *top;

    if (h->n == 0)
        return NULL;
    top = h->a[0];
    pt_heap_delete(h, 0);
    return top;
}

void
pt_heap_remove(pt_heap_t *h, pt_heap_node_t *node)
{
    if (!pt_heap_linked(node))
        return;
    PT_ASSERT(node->idx < h->n && h->a[node->idx] == node);
    pt_heap_delete(h, node->idx);
}

void
pt_heap_update(pt_heap_t *h, pt_heap_node_t *node)
{
    size_t i = node->idx;

    PT_ASSERT(i < h->n && h->a[i] == node);
    if (i > 0 && node->key < h->a[(i - 1) / 2]->key)
        pt_heap_sift_up(h, i, node);
    else
        pt_heap_sift_down(h, i, node);
}
