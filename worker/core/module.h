/*
 * module.h: how a feature plugs into portico.
 *
 * A module is one pt_module_t: its directive table (rows in PT_SCOPE_MAIN
 * point into a struct of main_conf_size bytes, rows in PT_SCOPE_ROUTE into
 * one of route_conf_size bytes, the same struct serving defaults { } and
 * each route), load-time hooks that validate and compile, per-worker hooks,
 * and what it does per request: phase handlers, or a content handler that
 * a route selects (init_route claims the route by setting route->handler).
 *
 * Phase handlers run in the order of the phases below and, within a
 * phase, in the order of worker/modules.c. A handler returns:
 *
 *   PT_OK        done with this phase: the phase's remaining handlers are
 *                skipped, the next phase starts;
 *   PT_DECLINED  not mine: the next handler of this phase runs;
 *   PT_AGAIN     suspended: the module later calls pt_request_resume(r),
 *                which re-enters this same handler (never an earlier one,
 *                so what earlier handlers did is done once);
 *   PT_DONE      the module answered the request itself (a redirect, or
 *                an error it sent through pt_http_error()): nothing more
 *                runs;
 *   >= 400       an HTTP status: the request is finished through the
 *                error renderer (pt_http_error); any other value is a 500.
 *
 * After PT_PHASE_PRE_CONTENT the route's content handler (route->handler->
 * content) answers; the log hooks run once the response is done or aborted.
 */
#ifndef PT_MODULE_H
#define PT_MODULE_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"
#include "worker/core/metrics.h"
#include "worker/core/var.h"

enum pt_phase {
    PT_PHASE_POST_READ = 0, /* the head is parsed, no route yet (r->route is NULL):
                             * the real client address, address rules */
    PT_PHASE_ACCESS,        /* who is asking: authentication, sets r->consumer */
    PT_PHASE_POST_ACCESS,   /* whether that consumer may: ACLs */
    PT_PHASE_LIMIT,         /* how often: rate and concurrency limits */
    PT_PHASE_PRE_CONTENT,   /* after the Expect and body size checks: cache lookup */
    PT_PHASE_MAX
};

struct pt_module_s {
    const char *name;
    const pt_directive_t *directives;
    size_t main_conf_size;
    size_t route_conf_size;

    /* Load time, in the master. mconf was filled from portico { }. */
    int (*init_main)(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf);
    /* Merge rconf with dconf (the defaults { } struct), validate, compile;
     * claim the route (route->handler = module) if this module answers it. */
    int (*init_route)(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route, void *rconf,
                      const void *dconf);

    /* In each worker, after fork; and before it exits. */
    int (*init_worker)(const pt_conf_t *conf);
    void (*exit_worker)(const pt_conf_t *conf);
    /* Write out buffered output (before log files are swapped on reopen). */
    void (*flush)(void);
    /* The worker starts retiring: let go of what only keeps it alive
     * (idle upstream connections, say) so it can exit once clients are done. */
    void (*retire)(void);

    int (*phase[PT_PHASE_MAX])(pt_request_t *r);
    int (*content)(pt_request_t *r);
    void (*log)(pt_request_t *r);

    unsigned index;         /* slot in route->mod_conf and r->ctx, set at startup */

    /* Counters and histograms the module counts (PT_METRIC_END-terminated;
     * metrics.h), registered at the first conf load. */
    const pt_metric_def_t *metrics;
    /* Each new client connection, after accept and before TLS or HTTP
     * (an address deny list, say). PT_OK goes on, PT_ERROR closes it. Only
     * modules that set it are called (pt_conn_accept_setup). */
    int (*accept)(pt_conn_t *c);
    /* Request variables the module provides (PT_VAR_DEF_END-terminated;
     * worker/core/var.h), found by name only when a template is compiled. */
    const pt_var_def_t *vars;
    /* Shared memory (worker/core/zone_conf.c): every PT_CONF_ZONE row the
     * config sets is a zone this module owns, tagged with its name and
     * zone_magic (its layout of the contents). In the master, before the
     * generation forks, init_zone gets the zone, old (the previous
     * generation's zone of that name when its size, owner and magic match:
     * the same memory, contents kept; else NULL) and data (the
     * pt_conf_zone_t). A name two modules claim is a config error. */
    uint32_t zone_magic;
    int (*init_zone)(struct pt_zone_s *zone, struct pt_zone_s *old, void *data);
};

extern const pt_module_t *const pt_modules[];   /* NULL-terminated, in order (modules.c) */
extern size_t pt_nmodules;

/* Assign module indexes and build the phase engine (pt_phase_engine) from
 * pt_modules; call once per process at startup, before any request. */
void pt_module_setup(void);

/* From init_route: module m has nothing to do on route in any phase nor
 * in the log, so its phase handlers and log hook are not even called for
 * requests on it (post-read, before routing, still runs them). */
static inline void pt_module_phase_skip(pt_route_t *route, const pt_module_t *m)
{
    route->phase_skip |= UINT32_C(1) << m->index;
}

#define pt_route_mod_conf(route, mod)   ((route)->mod_conf[(mod).index])

#endif
