/*
 * filter.c: building a route's filter arrays at load time and running the
 * chains (see filter.h).
 */
#include "common/pt.h"
#include "common/arena.h"
#include "worker/core/filter.h"
#include "worker/core/module.h"

static pt_filters_t *pt_filter_route(pt_conf_ctx_t *cf, pt_route_t *route)
{
    if (route->filters == NULL)
        route->filters = pt_arena_calloc(cf->arena, sizeof(*route->filters));
    return route->filters;
}

/* Entries of a NULL-terminated array, the terminator excluded. */
static size_t pt_filter_count_header(const pt_header_filter_t *a)
{
    size_t n = 0;

    while (a && a[n].fn)
        n++;
    return n;
}

static size_t pt_filter_count_body(const pt_body_filter_t *a)
{
    size_t n = 0;

    while (a && a[n].fn)
        n++;
    return n;
}

/* Where an entry of module m goes: after every entry of a module at or
 * before m in the table, so the order never depends on who registered
 * first. */
#define PT_FILTER_SLOT(a, n, m, at) do {                                    \
    (at) = (n);                                                             \
    while ((at) > 0 && (a)[(at) - 1].module->index > (m)->index)            \
        (at)--;                                                             \
} while (0)

int pt_filter_add_header(pt_conf_ctx_t *cf, pt_route_t *route, const pt_module_t *m,
                         pt_header_filter_pt fn)
{
    pt_filters_t *f = pt_filter_route(cf, route);
    size_t n = pt_filter_count_header(f ? f->header : NULL), at;

    pt_header_filter_t *a = f ? pt_arena_calloc(cf->arena, (n + 2) * sizeof(*a)) : NULL;
    if (a == NULL)
        return PT_ERROR;
    if (n)
        memcpy(a, f->header, n * sizeof(*a));
    PT_FILTER_SLOT(a, n, m, at);
    memmove(a + at + 1, a + at, (n - at) * sizeof(*a));
    a[at] = (pt_header_filter_t) { fn, m };
    f->header = a;
    return PT_OK;
}

static int pt_filter_add_stage(pt_conf_ctx_t *cf, const pt_body_filter_t **slot,
                               const pt_module_t *m, pt_body_filter_pt fn)
{
    size_t n = pt_filter_count_body(*slot), at;
    pt_body_filter_t *a = pt_arena_calloc(cf->arena, (n + 2) * sizeof(*a));

    if (a == NULL)
        return PT_ERROR;
    if (n)
        memcpy(a, *slot, n * sizeof(*a));
    PT_FILTER_SLOT(a, n, m, at);
    memmove(a + at + 1, a + at, (n - at) * sizeof(*a));
    a[at] = (pt_body_filter_t) { fn, m };
    *slot = a;
    return PT_OK;
}

int pt_filter_add_body(pt_conf_ctx_t *cf, pt_route_t *route, const pt_module_t *m,
                       pt_body_filter_pt fn)
{
    pt_filters_t *f = pt_filter_route(cf, route);

    return f ? pt_filter_add_stage(cf, &f->body, m, fn) : PT_ERROR;
}

int pt_filter_add_request_body(pt_conf_ctx_t *cf, pt_route_t *route, const pt_module_t *m,
                               pt_request_body_filter_pt fn)
{
    pt_filters_t *f = pt_filter_route(cf, route);

    return f ? pt_filter_add_stage(cf, &f->request_body, m, fn) : PT_ERROR;
}

int pt_filter_run_header(pt_request_t *r, const pt_header_filter_t *f, pt_response_t *resp)
{
    for (; f->fn; f++) {
        int rc = f->fn(r, resp);
        if (rc != PT_OK)
            return rc;
    }
    return PT_OK;
}

int pt_filter_body_next(pt_body_chain_t *bc, pt_span_t *in)
{
    const pt_body_filter_t *stage = bc->at;

    if (stage == NULL || stage->fn == NULL)
        return bc->sink(bc, in);
    /* The stage may pass on several times; each call below starts at the
     * stage after it, and a later run starts at the top again. */
    bc->at = stage + 1;
    int rc = stage->fn(bc, in);
    bc->at = stage;
    return rc;
}

int pt_filter_body_run(pt_body_chain_t *bc, pt_span_t *in)
{
    bc->at = bc->stages;
    return pt_filter_body_next(bc, in);
}
