/*
 * heap.h: binary min-heap of nodes embedded in their owners (timers,
 * balancer entries). The heap holds pointers and writes each node's index
 * back into it, so removing or re-keying a node is O(log n) without a
 * search. No allocation happens except when the pointer array grows.
 */
#ifndef PT_HEAP_H
#define PT_HEAP_H

/* key orders the heap (smallest on top); idx belongs to the heap and is
 * SIZE_MAX while the node is in none. Equal keys come out in no set order. */
typedef struct {
    int64_t key;
    size_t idx;
} pt_heap_node_t;

typedef struct {
    pt_heap_node_t **a;
    size_t n, cap;
} pt_heap_t;

/* Marks a node as in no heap; call once before its first push. */
static inline void
pt_heap_node_init(pt_heap_node_t *node)
{
    node->idx = SIZE_MAX;
}

/* True while node is in a heap. */
static inline bool
pt_heap_linked(const pt_heap_node_t *n)
{
    return n->idx != SIZE_MAX;
}

/* An empty heap; allocates nothing. */
void pt_heap_init(pt_heap_t *h);

/* Frees the array; nodes still in the heap are marked unlinked. */
void pt_heap_free(pt_heap_t *h);

/* Inserts an unlinked node with its current key. PT_ERROR on OOM (the
 * node is then still unlinked). */
int pt_heap_push(pt_heap_t *h, pt_heap_node_t *node);

/* The node with the smallest key, NULL if the heap is empty. */
pt_heap_node_t *pt_heap_top(const pt_heap_t *h);

/* Removes and returns the top node (now unlinked), NULL if empty. */
pt_heap_node_t *pt_heap_pop(pt_heap_t *h);

/* Removes node from h and unlinks it; no-op if it is in no heap. */
void pt_heap_remove(pt_heap_t *h, pt_heap_node_t *node);

/* Restores order after node->key changed; node must be in h. */
void pt_heap_update(pt_heap_t *h, pt_heap_node_t *node);

#endif
