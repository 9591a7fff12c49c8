/*
 * router.h: choosing the route for a request.
 *
 * Compiled once per generation. Routes are grouped by host: an exact host
 * first, then "*.suffix" wildcards from the longest suffix, then routes
 * for any host. Within a host group a path is matched in this order:
 * exact paths, then regexes in config order, then prefixes from the
 * longest. Among routes with the same host and path, those with more
 * conditions (methods, headers) come first, then config order. The first
 * route whose listener, methods and headers also fit wins. Exact and
 * prefix lookups walk a radix tree, so the cost does not grow with the
 * number of routes. A header predicate on a well-known field compares the
 * parser's field id; one on any other name compares names only with the
 * fields that have no id.
 */
#ifndef PT_ROUTER_H
#define PT_ROUTER_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"
#include "worker/http/http_parse.h"

/* What a request is matched on. The caller builds it from its request
 * object (the router knows none); every view stays the caller's. */
typedef struct pt_router_key_s {
    pt_str_t host;                  /* the target's authority, else the Host value, as sent */
    pt_str_t path;                  /* normalised */
    pt_str_t method;
    unsigned method_id;             /* enum pt_http_method */
    const pt_http_field_t *fields;  /* the head's fields */
    unsigned nfields;
    unsigned listener;              /* index of the listener the request came on */
    pt_str_t query;                 /* [traffic steering] the raw query, for route->match */
} pt_router_key_t;

/* What a match yields besides the route. */
typedef struct {
    unsigned status;                /* no route: 404, 405, or 500 (out of memory) */
    pt_str_t upstream_path;         /* the path after the route's rewrite */
    const char *allow;              /* 405: the Allow value ("GET, HEAD, POST") */
} pt_router_result_t;

/* Build the router over conf->routes (master, at load): it also compiles
 * each route's header predicates (field ids, lengths). NULL on error
 * (reported in cf). */
pt_router_t *pt_router_build(pt_conf_ctx_t *cf, pt_conf_t *conf);
void pt_router_free(pt_router_t *rt);

/* The route for key, or NULL with res->status 404 (nothing matches) or
 * 405 (the path matches but not the method; res->allow then lists the
 * methods that would). res->upstream_path is key->path unless the route
 * rewrites it; a rewrite and the Allow value are allocated in a. */
pt_route_t *pt_router_match(const pt_router_t *rt, const pt_router_key_t *key, pt_arena_t *a,
                            pt_router_result_t *res);

/* Host part of a Host header or authority, lowercased, without port or a
 * trailing dot, into out (cap bytes). Returns its length (0: none/invalid). */
size_t pt_router_host_key(pt_str_t host, char *out, size_t cap);

#endif
