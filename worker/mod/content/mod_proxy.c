/*
 * mod_proxy.c: the proxy content module: the "proxy" directive names the
 * upstream that answers a route. The proxying itself is worker/proxy/.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/module.h"
#include "worker/proxy/proxy.h"
#include "worker/upstream/upstream.h"

typedef struct {
    const char *upstream;       /* "proxy" directive: the upstream's name */
} pt_proxy_conf_t;

static int pt_proxy_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf);
static int pt_proxy_init_worker(const pt_conf_t *conf);
static void pt_proxy_exit_worker(const pt_conf_t *conf);
static void pt_proxy_retire(void);

static const pt_directive_t pt_proxy_directives[] = {
    { "proxy", PT_CONF_STRING, PT_SCOPE_ROUTE, offsetof(pt_proxy_conf_t, upstream), NULL,
      NULL, NULL, NULL, "the upstream that answers" },
    PT_DIRECTIVE_END
};

pt_module_t pt_proxy_module = {
    .name = "proxy",
    .directives = pt_proxy_directives,
    .route_conf_size = sizeof(pt_proxy_conf_t),
    .init_route = pt_proxy_init_route,
    .init_worker = pt_proxy_init_worker,
    .exit_worker = pt_proxy_exit_worker,
    .retire = pt_proxy_retire,
    .content = pt_proxy_content,
};

static int pt_proxy_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    pt_proxy_conf_t *pc = rconf;

    if (pc->upstream == NULL)
        return PT_OK;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        if (strcmp(conf->upstreams[i].name, pc->upstream) == 0) {
            route->upstream = &conf->upstreams[i];
            break;
        }
    }
    if (route->upstream == NULL) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): no upstream named \"%s\"",
                      route->name, route->line, pc->upstream);
        return PT_ERROR;
    }
    if (route->handler) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give a route one of proxy, return "
                      "and echo", route->name, route->line);
        return PT_ERROR;
    }
    route->handler = &pt_proxy_module;
    route->proxy_name = pc->upstream;
    return PT_OK;
}

static int pt_proxy_init_worker(const pt_conf_t *conf)
{
    return pt_upstream_init_worker(conf);
}

static void pt_proxy_retire(void)
{
    pt_upstream_close_idle();
}

static void pt_proxy_exit_worker(const pt_conf_t *conf)
{
    (void) conf;
    pt_upstream_exit_worker();
}
