/*
 * test_heap.c: the heap against a brute-force reference, with random
 * push, pop, remove and re-key under a fixed seed.
 */
#include "common/pt.h"

#include "common/heap.h"
#include "test/unit/tap.h"

#define N 512

typedef struct {
    int id;
    pt_heap_node_t node;
} item_t;

static item_t items[N];
/* The smallest key among linked items: the reference for pt_heap_top. */
static int64_t
ref_min(size_t *count)
{
    int64_t min = INT64_MAX;

    *count = 0;
    for (int i = 0; i < N; i++) {
        if (pt_heap_linked(&items[i].node)) {
            (*count)++;
            if (items[i].node.key < min)
                min = items[i].node.key;
        }
    }
    return min;
}

/* Every parent <= its children, and every back-index right. */
static bool
heap_valid(const pt_heap_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->a[i]->idx != i)
            return false;
        if (i > 0 && h->a[(i - 1) / 2]->key > h->a[i]->key)
            return false;
    }
    return true;
}

int
main(void)
{
    tap_srand(0x2545F4914F6CDD1D);
    pt_heap_t h;
    int errors = 0, invalid = 0;
    size_t max_n = 0;

    pt_heap_init(&h);
    ok(pt_heap_top(&h) == NULL && pt_heap_pop(&h) == NULL, "empty heap: no top, no pop");

    for (int i = 0; i < N; i++) {
        items[i].id = i;
        pt_heap_node_init(&items[i].node);
    }
    ok(!pt_heap_linked(&items[0].node), "a fresh node is unlinked");
    pt_heap_remove(&h, &items[0].node);
    ok(1, "removing an unlinked node is a no-op");

    /* Simple order. */
    {
        static const int64_t keys[] = { 5, 3, 8, 1, 9, 2, 7, 3, -4, 0 };
        static const int64_t sorted[] = { -4, 0, 1, 2, 3, 3, 5, 7, 8, 9 };
        int wrong = 0;
        for (size_t i = 0; i < pt_countof(keys); i++) {
            items[i].node.key = keys[i];
            pt_heap_push(&h, &items[i].node);
        }
        for (size_t i = 0; i < pt_countof(sorted); i++) {
            pt_heap_node_t *n = pt_heap_pop(&h);
            if (n == NULL || n->key != sorted[i] || pt_heap_linked(n))
                wrong++;
        }
        is(wrong, 0, "ten keys pop in sorted order and come out unlinked");
        is(h.n, 0, "heap empty again");
    }

    /* Random operations against the reference. */
    for (int step = 0; step < 200000; step++) {
        item_t *it = &items[tap_rand() % N];
        unsigned op = (unsigned) (tap_rand() % 10);
        size_t count;
        int64_t min;

        if (op < 4) {                           /* push, or re-key if linked */
            it->node.key = (int64_t) (tap_rand() % 1000) - 500;
            if (pt_heap_linked(&it->node))
                pt_heap_update(&h, &it->node);
            else if (pt_heap_push(&h, &it->node) != PT_OK)
                errors++;
        } else if (op < 6) {                    /* pop */
            min = ref_min(&count);
            pt_heap_node_t *n = pt_heap_pop(&h);
            if (count == 0 ? n != NULL : (n == NULL || n->key != min || pt_heap_linked(n)))
                errors++;
        } else if (op < 8) {                    /* remove (linked or not) */
            pt_heap_remove(&h, &it->node);
            if (pt_heap_linked(&it->node))
                errors++;
        } else if (pt_heap_linked(&it->node)) { /* move a key far up or down */
            it->node.key += (op == 8) ? -700 : 700;
            pt_heap_update(&h, &it->node);
        }

        if (step % 97 == 0 && !heap_valid(&h))
            invalid++;
        min = ref_min(&count);
        if (count != h.n || (count > 0 && pt_heap_top(&h)->key != min))
            errors++;
        if (h.n > max_n)
            max_n = h.n;
    }
    is(errors, 0, "200000 random operations agree with the brute-force reference");
    is(invalid, 0, "heap order and back-indices hold throughout");
    ok(max_n > 100, "the heap grew (to %zu nodes)", max_n);

    /* Draining yields a sorted sequence. */
    {
        int64_t prev = INT64_MIN;
        bool sorted = true;
        pt_heap_node_t *n;
        while ((n = pt_heap_pop(&h)) != NULL) {
            sorted &= n->key >= prev;
            prev = n->key;
        }
        ok(sorted, "draining pops non-decreasing keys");
    }

    /* free unlinks what is left. */
    for (int i = 0; i < 20; i++) {
        items[i].node.key = i;
        pt_heap_push(&h, &items[i].node);
    }
    pt_heap_free(&h);
    {
        int linked = 0;
        for (int i = 0; i < N; i++)
            linked += pt_heap_linked(&items[i].node);
        is(linked, 0, "pt_heap_free unlinks remaining nodes");
    }
    ok(h.n == 0 && h.a == NULL, "freed heap is empty and reusable");

    return done_testing();
}
