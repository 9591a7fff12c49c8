/*
 * mod_debug.c: tracing chosen requests in production. With
 *
 *     portico = { debug_clients = [ "10.1.2.3", "2001:db8::/64" ]; };
 *
 * requests from those client addresses (as mod_realip found them) write
 * debug lines, with their context, whatever log_level says: the request
 * as it came, each phase handler's answer, the routing decision, each
 * upstream try, and the outcome with its timings. log_level = "debug"
 * traces every request.
 */
#include "common/pt.h"
#include "common/cidr.h"
#include "common/clock.h"
#include "common/conf.h"
#include "common/log.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/http/request_log.h"

typedef struct {
    pt_cidr_list_t *clients;    /* CUSTOM: UNSET NULL */
} pt_debug_main_t;

extern pt_module_t pt_debug_module;

static const pt_directive_t pt_debug_directives[] = {
    { "debug_clients", PT_CONF_CUSTOM, PT_SCOPE_MAIN, offsetof(pt_debug_main_t, clients), NULL,
      NULL, pt_cidr_list_conf_set, pt_cidr_list_conf_dump,
      "client addresses whose requests are traced at debug level" },
    PT_DIRECTIVE_END
};

/* Post-read, after mod_realip: whether this request is traced. */
static int pt_debug_post_read(pt_request_t *r)
{
    const pt_debug_main_t *m = r->conf->mod_main[pt_debug_module.index];

    if (pt_log_level >= PT_LOG_DEBUG) {
        r->debug = true;
    } else if (m && m->clients) {
        pt_addr_t a;
        pt_addr_from_sa(pt_request_client_sa(r), &a);
        r->debug = pt_cidr_list_match(m->clients, &a);
    }
    if (r->debug)
        pt_request_debug(r, "request: %u fields, body %s", r->head.nfields,
                         r->body_kind == PT_BODY_CHUNKED ? "chunked"
                         : r->body_kind == PT_BODY_LENGTH ? "with a length" : "none");
    return PT_DECLINED;
}

/* The outcome, however the request ended. */
static void pt_debug_log(pt_request_t *r)
{
    if (!r->debug)
        return;
    pt_request_debug(r, "done: status %u, %" PRIu64 " bytes sent, %" PRId64 " ms, upstream %"
                     PRId64 " ms%s%s", r->status, pt_request_bytes_sent(r),
                     (int64_t) (pt_clock_now - r->start), (int64_t) r->upstream_ms,
                     r->error_detail ? ": " : "", r->error_detail ? r->error_detail : "");
}

/* Nothing to trace on any route: no log hook call per request. */
static int pt_debug_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    const pt_debug_main_t *m = conf->mod_main[pt_debug_module.index];

    if (conf->main.log_level < PT_LOG_DEBUG && (m == NULL || m->clients == NULL))
        pt_module_phase_skip(route, &pt_debug_module);
    return PT_OK;
}

pt_module_t pt_debug_module = {
    .name = "debug",
    .directives = pt_debug_directives,
    .main_conf_size = sizeof(pt_debug_main_t),
    .init_route = pt_debug_init_route,
    .phase = {
        [PT_PHASE_POST_READ] = pt_debug_post_read,
    },
    .log = pt_debug_log,
};
