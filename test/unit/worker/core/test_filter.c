/*
 * test_filter.c: the filter chains' mechanics with fake filters: arrays in
 * module-table order whoever registers first, header filters stopping at
 * the first status, body stages passing spans on (rewritten, held until
 * the last one, or let go on a flush) and the sink seeing what comes out.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "worker/core/filter.h"
#include "worker/core/module.h"
#include "test/unit/tap.h"

static pt_module_t mods[4] = {
    { .name = "m0", .index = 0 }, { .name = "m1", .index = 1 },
    { .name = "m2", .index = 2 }, { .name = "m3", .index = 3 },
};

static char trail[64];      /* which header filters ran, in order */

static void mark(char c)
{
    size_t n = strlen(trail);
    trail[n] = c;
    trail[n + 1] = '\0';
}

static int hf_a(pt_request_t *r, pt_response_t *resp) { mark('a'); return PT_OK; }
static int hf_b(pt_request_t *r, pt_response_t *resp) { mark('b'); return PT_OK; }
static int hf_c(pt_request_t *r, pt_response_t *resp) { mark('c'); return PT_OK; }
static int hf_stop(pt_request_t *r, pt_response_t *resp) { mark('!'); return 403; }

/* ---- body stages ---- */

static pt_arena_t *arena;

/* The sink: everything that reaches the wire, with "|" between calls and
 * "L"/"F" for the flags of each span. */
static char out[256];

static int sink(pt_body_chain_t *bc, pt_span_t *in)
{
    size_t n = strlen(out);

    for (pt_span_t *s = in; s; s = s->next) {
        memcpy(out + n, s->data.p, s->data.len);
        n += s->data.len;
        if (s->flags & PT_SPAN_LAST)
            out[n++] = 'L';
        if (s->flags & PT_SPAN_FLUSH)
            out[n++] = 'F';
    }
    out[n++] = '|';
    out[n] = '\0';
    (*(int *) bc->data)++;
    return PT_OK;
}

/* Rewrites every span into an upper-case copy. */
static int st_upper(pt_body_chain_t *bc, pt_span_t *in)
{
    pt_span_t head = { 0 }, *tail = &head;

    for (pt_span_t *s = in; s; s = s->next) {
        pt_span_t *o = pt_arena_calloc(arena, sizeof(*o));
        char *p = pt_arena_alloc(arena, s->data.len + 1);
        for (size_t i = 0; i < s->data.len; i++)
            p[i] = (char) (s->data.p[i] >= 'a' && s->data.p[i] <= 'z' ? s->data.p[i] - 32
                                                                    : s->data.p[i]);
        o->data = (pt_str_t) { p, s->data.len };
        o->flags = s->flags;
        tail->next = o;
        tail = o;
    }
    return pt_filter_body_next(bc, head.next);
}

/* Holds everything until the last span or a flush, then passes it on as
 * one span. */
static char held[256];
static size_t nheld;

static int st_hold(pt_body_chain_t *bc, pt_span_t *in)
{
    unsigned flags = 0;

    for (pt_span_t *s = in; s; s = s->next) {
        memcpy(held + nheld, s->data.p, s->data.len);
        nheld += s->data.len;
        flags |= s->flags;
    }
    if (!(flags & (PT_SPAN_LAST | PT_SPAN_FLUSH)))
        return PT_OK;
    char *p = pt_arena_alloc(arena, nheld);
    memcpy(p, held, nheld);
    pt_span_t o = { { p, nheld }, flags, NULL };
    nheld = 0;
    return pt_filter_body_next(bc, &o);
}

/* Passes each span on by itself, then a second copy: a stage may call the
 * next one any number of times. */
static int st_twice(pt_body_chain_t *bc, pt_span_t *in)
{
    for (pt_span_t *s = in; s; s = s->next) {
        pt_span_t one = { s->data, 0, NULL };
        if (pt_filter_body_next(bc, &one) != PT_OK)
            return PT_ERROR;
        one.flags = s->flags;
        if (pt_filter_body_next(bc, &one) != PT_OK)
            return PT_ERROR;
    }
    return PT_OK;
}

static void reset(void)
{
    out[0] = '\0';
    nheld = 0;
}

static int feed(pt_body_chain_t *bc, const char *s, unsigned flags)
{
    pt_span_t sp = { { s, strlen(s) }, flags, NULL };

    return pt_filter_body_run(bc, &sp);
}

int main(void)
{
    arena = pt_arena_create(4096, 1 << 20);
    pt_conf_ctx_t cf = { .arena = arena };
    pt_route_t route = { 0 };

    /* ---- registration order ---- */
    ok(route.filters == NULL, "a route starts with no filters at all");
    ok(pt_filter_add_header(&cf, &route, &mods[3], hf_c) == PT_OK, "add m3's");
    ok(pt_filter_add_header(&cf, &route, &mods[1], hf_a) == PT_OK, "add m1's");
    ok(pt_filter_add_header(&cf, &route, &mods[2], hf_b) == PT_OK, "add m2's");
    ok(route.filters && route.filters->body == NULL && route.filters->request_body == NULL,
       "header filters only: no body arrays");
    trail[0] = '\0';
    is(pt_filter_run_header(NULL, route.filters->header, NULL), PT_OK, "all pass");
    is_str(trail, "abc", "header filters run in module-table order, not registration order");

    ok(pt_filter_add_header(&cf, &route, &mods[1], hf_stop) == PT_OK, "m1 adds a second");
    trail[0] = '\0';
    is(pt_filter_run_header(NULL, route.filters->header, NULL), 403, "a status stops the chain");
    is_str(trail, "a!", "a module's own filters keep their order; nothing after the status");

    /* ---- body chains ---- */
    int calls = 0;
    pt_body_chain_t bc = { .sink = sink, .data = &calls };

    reset();
    is(feed(&bc, "plain", PT_SPAN_LAST), PT_OK, "no stages");
    is_str(out, "plainL|", "no stages: the sink gets the span as is");

    pt_route_t r2 = { 0 };
    ok(pt_filter_add_body(&cf, &r2, &mods[2], st_hold) == PT_OK
       && pt_filter_add_body(&cf, &r2, &mods[0], st_upper) == PT_OK, "upper then hold");
    ok(r2.filters->header == NULL, "body filters only: no header array");
    bc.stages = r2.filters->body;
    reset();
    calls = 0;
    feed(&bc, "ab", 0);
    feed(&bc, "cd", 0);
    is_str(out, "", "held: nothing reaches the sink before the last span");
    feed(&bc, "e", PT_SPAN_LAST);
    is_str(out, "ABCDEL|", "the rewrite reaches the held data; one span at the end");
    is(calls, 1, "the sink ran once");

    reset();
    feed(&bc, "x", 0);
    feed(&bc, "y", PT_SPAN_FLUSH);
    is_str(out, "XYF|", "a flush lets held data go with the flag");
    feed(&bc, "", PT_SPAN_LAST);
    is_str(out, "XYF|L|", "a bare last span still ends the body");

    pt_route_t r3 = { 0 };
    ok(pt_filter_add_body(&cf, &r3, &mods[1], st_twice) == PT_OK
       && pt_filter_add_body(&cf, &r3, &mods[2], st_upper) == PT_OK, "twice then upper");
    bc.stages = r3.filters->body;
    reset();
    calls = 0;
    pt_span_t s2 = { PT_STR("b"), PT_SPAN_LAST, NULL }, s1 = { PT_STR("a"), 0, &s2 };
    is(pt_filter_body_run(&bc, &s1), PT_OK, "a list of two spans");
    is_str(out, "A|A|B|BL|", "each call of next goes on to the following stage");
    is(calls, 4, "the sink ran once per pass");
    ok(bc.at == bc.stages, "after a run the chain points at its first stage again");

    ok(pt_filter_add_request_body(&cf, &r3, &mods[0], st_upper) == PT_OK
       && r3.filters->request_body && r3.filters->request_body[1].fn == NULL,
       "request body stages are an array of their own");

    pt_arena_destroy(arena);
    printf("1..%d\n", tap_n);
    return tap_failed != 0;
}
