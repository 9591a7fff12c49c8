/*
 * modules.c: the one ordered list of compiled-in modules. Order matters:
 * phase handlers run in this order within a phase.
 */
#include "common/pt.h"
#include "worker/core/module.h"
#include "worker/core/phase.h"

extern pt_module_t pt_proxy_module;
extern pt_module_t pt_return_module;
extern pt_module_t pt_echo_module;
extern pt_module_t pt_admin_module;
extern pt_module_t pt_tls_route_module;
extern pt_module_t pt_jwt_module;
extern pt_module_t pt_introspect_module;
extern pt_module_t pt_auth_module;
extern pt_module_t pt_realip_module;
extern pt_module_t pt_address_module;
extern pt_module_t pt_geoip_module;
extern pt_module_t pt_consumers_module;
extern pt_module_t pt_apikey_module;
extern pt_module_t pt_basic_auth_module;
extern pt_module_t pt_acl_module;
extern pt_module_t pt_accesslog_module;
extern pt_module_t pt_metrics_module;
extern pt_module_t pt_debug_module;
extern pt_module_t pt_hide_fields_module;
extern pt_module_t pt_compress_module;
extern pt_module_t pt_ratelimit_module;
extern pt_module_t pt_cache_module;
/* traffic steering (issue 16) */
extern pt_module_t pt_trace_module;
extern pt_module_t pt_headers_module;
extern pt_module_t pt_split_module;
extern pt_module_t pt_api_version_module;

const pt_module_t *const pt_modules[] = {
    &pt_proxy_module,
    &pt_return_module,
    &pt_echo_module,
    &pt_cache_module,           /* its filters see (and store) what the handler made before
                                 * any other module's filters change it: keep it first after
                                 * the handlers (compression and per-request fields later) */
    &pt_admin_module,           /* content: the admin API and status page (issue 16) */
    &pt_trace_module,           /* access, first: every request gets its trace ids */
    &pt_tls_route_module,       /* access phase: redirect to https before any other check */
    &pt_realip_module,          /* post-read: the client behind trusted proxies */
    &pt_debug_module,           /* post-read: trace debug_clients' requests (after realip) */
    &pt_address_module,         /* access: address rules, before any credential is read */
    &pt_geoip_module,           /* post-read: country field; access: country rules */
    &pt_consumers_module,       /* the declared consumers (no phase) */
    &pt_apikey_module,
    &pt_basic_auth_module,
    &pt_jwt_module,             /* access: JWT bearer tokens */
    &pt_introspect_module,      /* access: OAuth2 introspection (after jwt, for "any") */
    /* authentication mechanisms (access phase) go above this line */
    &pt_auth_module,            /* post-access: any/all decision, identity fields */
    /* access rules by consumer (post-access, after the decision) below it */
    &pt_acl_module,
    &pt_ratelimit_module,       /* limit phase: rate, concurrency, quotas */
    &pt_accesslog_module,
    &pt_metrics_module,         /* log: counts every request; metrics_endpoint answers */
    &pt_api_version_module,     /* a route match hook, Deprecation fields (header filter) */
    &pt_split_module,           /* pre-content: the upstream of a canary share */
    &pt_headers_module,         /* pre-content: request fields, after every access decision;
                                 * header filter: response fields */
    &pt_hide_fields_module,     /* header filter: fields that reveal the backend */
    &pt_compress_module,        /* filters: after any filter that must see what the upstream sent */
    NULL
};

size_t pt_nmodules;

void pt_module_setup(void)
{
    for (pt_nmodules = 0; pt_modules[pt_nmodules]; pt_nmodules++)
        ((pt_module_t *) pt_modules[pt_nmodules])->index = (unsigned) pt_nmodules;
    PT_ASSERT(pt_nmodules <= PT_MODULES_MAX);
    /* Before fork: every worker inherits the same flat handler arrays. */
    pt_phase_build(&pt_phase_engine, pt_modules);
}
