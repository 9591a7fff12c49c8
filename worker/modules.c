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
extern pt_module_t pt_tls_route_module;
extern pt_module_t pt_accesslog_module;
extern pt_module_t pt_cache_module;

const pt_module_t *const pt_modules[] = {
    &pt_proxy_module,
    &pt_return_module,
    &pt_echo_module,
    &pt_cache_module,           /* its filters see (and store) what the handler made before
                                 * any other module's filters change it: keep it first after
                                 * the handlers (compression and per-request fields later) */
    &pt_tls_route_module,       /* access phase: redirect to https before any other check */
    &pt_accesslog_module,
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
