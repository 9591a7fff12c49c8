/*
 * filter.h: response header filters, response body filters and request
 * body filters, chained per route.
 *
 * A module that transforms messages registers its filters for a route in
 * its init_route (pt_filter_add_*). Each route then holds NULL-terminated
 * arrays in module-table order, or no pt_filters_t at all: a route nobody
 * filters runs no filter code, only a NULL test.
 *
 * Header filters see the final response (gateway-made or proxied; interim
 * 1xx answers excepted) before the serializer of the protocol writes it,
 * and change it through the pt_response_*() field functions
 * (worker/http/response.h). They return PT_OK, or an HTTP status >= 400
 * (the response is replaced by that error when nothing has gone out yet).
 *
 * Body filters follow the nginx next-filter pattern: a stage is handed a
 * list of spans, does its work and passes what it produces on with
 * pt_filter_body_next() (any number of times, or not at all while it holds
 * data); after the last stage the chain's sink writes to the wire. The
 * span structs live only for the call; the bytes they point at must stay
 * valid until the output is flushed (the request arena, the config, or the
 * input's own bytes, which the caller keeps until then). A stage that
 * holds input for later copies it. Per-request state goes in
 * r->ctx[module index].
 */
#ifndef PT_FILTER_H
#define PT_FILTER_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

/* pt_span_t.flags */
#define PT_SPAN_LAST    0x01    /* the body ends with this span */
#define PT_SPAN_FLUSH   0x02    /* send what is produced so far, do not hold it */

typedef struct pt_span_s pt_span_t;
struct pt_span_s {
    pt_str_t data;              /* may be empty (a bare LAST or FLUSH) */
    unsigned flags;
    pt_span_t *next;
};

typedef struct pt_body_chain_s pt_body_chain_t;

/* A response header filter. */
typedef int (*pt_header_filter_pt)(pt_request_t *r, pt_response_t *resp);
/* A body stage (response bodies and request bodies alike): consume in,
 * pass output on with pt_filter_body_next(bc, ...). PT_OK or PT_ERROR
 * (the message is cut off: the request is aborted). */
typedef int (*pt_body_filter_pt)(pt_body_chain_t *bc, pt_span_t *in);
/* A request body transformation, run before the proxy sends the body on. */
typedef pt_body_filter_pt pt_request_body_filter_pt;

typedef struct {
    pt_header_filter_pt fn;     /* NULL ends the array */
    const pt_module_t *module;
} pt_header_filter_t;

typedef struct {
    pt_body_filter_pt fn;       /* NULL ends the array */
    const pt_module_t *module;
} pt_body_filter_t;

/* A route's filters; route->filters is NULL when it has none. Each array
 * is NULL when empty. */
struct pt_filters_s {
    const pt_header_filter_t *header;
    const pt_body_filter_t *body;
    const pt_body_filter_t *request_body;
};

/* One run of a body chain: the caller fills r, stages, sink and data,
 * then feeds it with pt_filter_body_run() as spans arrive. */
struct pt_body_chain_s {
    pt_request_t *r;
    const pt_body_filter_t *stages;     /* the route's array */
    const pt_body_filter_t *at;         /* the stage pt_filter_body_next calls */
    int (*sink)(pt_body_chain_t *bc, pt_span_t *in);   /* after the last stage */
    void *data;                         /* the sink's */
};

/* Load time, from a module's init_route: add fn to route's header (body,
 * request body) filters, in module-table order (a module's own filters in
 * the order it adds them). Memory from cf->arena. PT_OK or PT_ERROR. */
int pt_filter_add_header(pt_conf_ctx_t *cf, pt_route_t *route, const pt_module_t *m,
                         pt_header_filter_pt fn);
int pt_filter_add_body(pt_conf_ctx_t *cf, pt_route_t *route, const pt_module_t *m,
                       pt_body_filter_pt fn);
int pt_filter_add_request_body(pt_conf_ctx_t *cf, pt_route_t *route, const pt_module_t *m,
                               pt_request_body_filter_pt fn);

/* Run the header filters of an array that is not NULL: the first result
 * other than PT_OK, else PT_OK. */
int pt_filter_run_header(pt_request_t *r, const pt_header_filter_t *f, pt_response_t *resp);

/* Feed in to the first stage of bc (or straight to the sink if bc has no
 * stages). The sink's or a stage's result. */
int pt_filter_body_run(pt_body_chain_t *bc, pt_span_t *in);

/* From inside a stage: hand in to the stage after the calling one (the
 * sink after the last). */
int pt_filter_body_next(pt_body_chain_t *bc, pt_span_t *in);

/* The route's filters, or NULL (no route, or none). */
static inline const pt_filters_t *pt_filter_of(const pt_route_t *route)
{
    return route ? route->filters : NULL;
}

#endif
