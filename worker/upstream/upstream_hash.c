/*
 * upstream_hash.c: consistent hashing (balance = "hash"). Each primary
 * server owns PT_HASH_VNODES points per unit of weight on a ring of 64-bit
 * hashes of its address; a key goes to the owner of the first point at or
 * after the key's hash. A point's place depends on its server's address
 * alone, so removing one of N servers moves only the keys it owned (about
 * 1/N) and adding one takes about 1/(N+1) from the others.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/hash.h"
#include "common/sock.h"
#include "worker/core/conf.h"
#include "worker/upstream/upstream_balance.h"
#include "worker/upstream/upstream_dns.h"

#define PT_HASH_VNODES      160         /* points per unit of weight */
#define PT_HASH_POINTS_MAX  (1u << 18)  /* the ring's cap: weights are scaled below it */

typedef struct {
    uint64_t h;
    uint32_t server;
} pt_hash_point_t;

struct pt_upstream_ring_s {
    pt_hash_point_t *points;
    size_t n;
    size_t nservers;            /* servers with points (the primaries): a walk's bound */
};

static int pt_hash_point_cmp(const void *a, const void *b)
{
    const pt_hash_point_t *x = a, *y = b;

    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->server < y->server ? -1 : x->server > y->server;
}

int pt_balance_hash_build(pt_conf_ctx_t *cf, const config_setting_t *s, pt_upstream_t *u)
{
    uint64_t want = 0;
    struct pt_upstream_ring_s *ring = pt_arena_calloc(cf->arena, sizeof(*ring));

    if (ring == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < u->nservers; i++)
        if (!u->servers[i].backup)
            want += (uint64_t) u->servers[i].weight * PT_HASH_VNODES;
    /* Scaled down when the weights ask for more than the cap (each server
     * keeps one point at least). */
    size_t cap = (size_t) pt_min(want, (uint64_t) PT_HASH_POINTS_MAX) + u->nservers;
    ring->points = pt_arena_alloc(cf->arena, cap * sizeof(*ring->points));
    if (ring->points == NULL) {
        pt_conf_error(cf, s, "upstream \"%s\": out of memory building the hash ring", u->name);
        return PT_ERROR;
    }
    for (size_t i = 0; i < u->nservers; i++) {
        const pt_server_t *srv = &u->servers[i];
        char addr[512];
        if (srv->backup)
            continue;
        uint64_t k = (uint64_t) srv->weight * PT_HASH_VNODES;
        if (want > PT_HASH_POINTS_MAX)
            k = pt_max(k * PT_HASH_POINTS_MAX / want, (uint64_t) 1);
        /* dns: a slot is placed by its name and number, not by the address
         * it holds at load: empty slots would all share the points of "no
         * address", and the one first in the list would shadow the others
         * once they fill; an address keeps its slot while it stays. */
        if (srv->dns)
            snprintf(addr, sizeof(addr), "%s#%u", srv->dns->name, srv->dns_slot);
        else
            pt_sock_ntop((const struct sockaddr *) &srv->addr.ss, addr, sizeof(addr));
        uint64_t base = pt_hash(addr, strlen(addr), 0x70744c42);
        ring->nservers++;
        for (uint64_t v = 0; v < k && ring->n < cap; v++)
            ring->points[ring->n++] = (pt_hash_point_t) { pt_hash(&v, sizeof(v), base),
                                                          (uint32_t) i };
    }
    qsort(ring->points, ring->n, sizeof(*ring->points), pt_hash_point_cmp);
    u->ring = ring;
    return PT_OK;
}

/* The first point at or after h (wrapping to 0). */
static size_t pt_hash_find(const struct pt_upstream_ring_s *ring, uint64_t h)
{
    size_t lo = 0, hi = ring->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->points[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == ring->n ? 0 : lo;
}

const pt_server_t *pt_balance_hash_owner(const pt_upstream_t *u, uint64_t key)
{
    const struct pt_upstream_ring_s *ring = u->ring;

    if (ring == NULL || ring->n == 0)
        return NULL;
    return &u->servers[ring->points[pt_hash_find(ring, key)].server];
}

/* The walk from a key's point meets each server of the ring once, in an
 * order that is the key's own; its tries follow that order. After skip
 * fails, the next try is the first server after skip on the walk that
 * takes the request: the ones before it were tried already (or could not
 * be then), so they come back only when none after it can (wrapping, as
 * a lone server is its own retry). Without skip, the first that takes it.
 * With hash_load_bound, taking it also needs the server under its bound. */

/* With hash_load_bound: a server that is ok holds less than bound % of
 * its weighted share of all in flight, this request included (consistent
 * hashing with bounded loads): load < bound x total x w / W, compared
 * without dividing. Each server looked at once. */
static pt_server_t *pt_hash_bounded(const pt_upstream_t *u, pt_balance_state_t *st, size_t at,
                                    const pt_server_t *skip, pt_msec_t now)
{
    const struct pt_upstream_ring_s *ring = u->ring;
    int64_t total = 1, weights = 0;
    size_t seen = 0;
    pt_server_t *before = NULL;     /* fits, but ahead of skip on the walk */
    bool past = skip == NULL;

    for (size_t i = 0; i < u->nservers; i++) {
        const pt_server_t *s = &u->servers[i];
        st->load[i] = -1;
        if (s->backup || !pt_balance_ok(st, s, now))
            continue;
        st->load[i] = pt_balance_inflight(s);
        total += st->load[i];
        weights += pt_balance_weight(s, now);
    }
    for (size_t k = 0; k < ring->n && seen < ring->nservers;
         k++, at = at + 1 == ring->n ? 0 : at + 1) {
        uint32_t i = ring->points[at].server;
        if (st->load[i] == -2)
            continue;               /* looked at */
        seen++;
        pt_server_t *s = &u->servers[i];
        bool fits = st->load[i] >= 0
                    && (int64_t) st->load[i] * 100 * weights
                       < total * u->hash_load_bound * pt_balance_weight(s, now);
        st->load[i] = -2;
        if (s == skip)
            past = true;
        else if (fits && past)
            return s;
        else if (fits && before == NULL)
            before = s;
    }
    return before;
}

/* Walk the ring from key's point to the first server that is up and
 * takes requests (after skip, the one that just failed: see above). NULL:
 * none of the primaries. */
pt_server_t *pt_balance_hash(const pt_upstream_t *u, pt_balance_state_t *st, uint64_t key,
                             const pt_server_t *skip, pt_msec_t now)
{
    const struct pt_upstream_ring_s *ring = u->ring;
    size_t seen = 0;
    pt_server_t *before = NULL;     /* takes it, but ahead of skip on the walk */
    bool past = skip == NULL;

    if (ring == NULL || ring->n == 0)
        return NULL;
    size_t at = pt_hash_find(ring, key);
    if (u->hash_load_bound > 0)
        return pt_hash_bounded(u, st, at, skip, now);
    pt_server_t *first = &u->servers[ring->points[at].server];
    if (skip == NULL && pt_balance_ok(st, first, now))
        return first;               /* the usual case: the key's own server */
    for (size_t i = 0; i < u->nservers; i++)
        st->load[i] = 0;            /* 1: looked at */
    for (size_t k = 0; k < ring->n && seen < ring->nservers;
         k++, at = at + 1 == ring->n ? 0 : at + 1) {
        uint32_t i = ring->points[at].server;
        if (st->load[i])
            continue;
        st->load[i] = 1;
        seen++;
        pt_server_t *s = &u->servers[i];
        if (s == skip) {
            past = true;
            continue;
        }
        if (!pt_balance_ok(st, s, now))
            continue;
        if (past)
            return s;
        if (before == NULL)
            before = s;
    }
    return before;
}
