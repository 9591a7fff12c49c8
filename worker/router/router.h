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
 * number of routes.
 */
#ifndef PT_ROUTER_H
#define PT_ROUTER_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

/* Build the router over conf->routes (master, at load). NULL on error
 * (reported in cf). */
pt_router_t *pt_router_build(pt_conf_ctx_t *cf, pt_conf_t *conf);
void pt_router_free(pt_router_t *rt);

/* The route for r (sets r->upstream_path from the route's rewrite), or
 * NULL with *status 404 (nothing matches) or 405 (the path matches but not
 * the method; pt_router_allow then lists the methods that would). */
pt_route_t *pt_router_match(const pt_router_t *rt, pt_request_t *r, unsigned *status);

/* The Allow value ("GET, HEAD, POST") of a 405 from pt_router_match. */
const char *pt_router_allow(pt_request_t *r);

/* Host part of a Host header or authority, lowercased, without port or a
 * trailing dot, into out (cap bytes). Returns its length (0: none/invalid). */
size_t pt_router_host_key(pt_str_t host, char *out, size_t cap);

#endif
