/*
 * conf.h (worker): the core directive tables and the entry parsers the
 * master's loader calls for each listen, upstream and route entry.
 */
#ifndef PT_WORKER_CONF_H
#define PT_WORKER_CONF_H

#include "common/pt.h"
#include "common/conf.h"
#include "common/shm.h"
#include "worker/core/core.h"

/* The scopes of a route entry: the settings defaults { } may give too,
 * and what answers the route. */
#define PT_SCOPE_ROUTE_ENTRY    (PT_SCOPE_ROUTE | PT_SCOPE_HANDLER)

extern const pt_directive_t pt_listen_directives[];    /* base: pt_listen_conf_t */
extern const pt_directive_t pt_route_directives[];     /* base: pt_route_conf_t */

/* The parser of a listen entry's tls group (pt_tls_conf_listen): the
 * loader passes it, so the listen entry needs no knowledge of TLS. */
typedef int (*pt_listen_tls_pt)(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                                pt_listener_t *l);

/* Parse one listen entry into l (l->index set by the caller), its tls
 * group with tls; the listener speaks HTTP/1.1. */
int pt_listen_conf_parse(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                         pt_listener_t *l, pt_listen_tls_pt tls);
/* Parse one upstream entry (a member of upstreams { }). */
int pt_upstream_conf_parse(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                           pt_upstream_t *u);
/* Print an upstream entry with its resolved addresses (-T). */
void pt_upstream_conf_dump(FILE *out, const pt_upstream_t *u, int indent);
/* Parse one route entry; merging with the defaults happens in
 * pt_route_conf_finish once every route and upstream is known. */
int pt_route_conf_parse(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                        pt_route_t *r);
int pt_route_conf_finish(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *r,
                         const config_setting_t *s);

/* Module tables applied to a group: fills targets for modules that have
 * rows in scope; returns how many. */
size_t pt_conf_module_targets(pt_conf_t *conf, unsigned scope, void **confs,
                              pt_conf_target_t *targets, size_t max);

/* Print a route's match and rewrite settings (-T). */
void pt_route_conf_dump(FILE *out, const pt_route_t *r, int indent);

/* Ask for a shared-memory zone (load-time code). The same name again is
 * the same zone if owner, magic and size agree (the first init and data
 * stay); another owner is an error naming both, another magic or size an
 * error too. Returns the request (its zone is set by the master
 * before workers start), or NULL with an error in cf (at cf->where). */
pt_zone_req_t *pt_conf_zone_add(pt_conf_ctx_t *cf, pt_conf_t *conf, const char *name,
                                size_t size, const char *owner, uint32_t magic,
                                pt_zone_init_pt init, void *data);

/* The zones module m declares: each PT_CONF_ZONE row of its table that is
 * set in portico { }, defaults { } or a route becomes a zone owned by
 * m->name with m->zone_magic and m->init_zone (data: the pt_conf_zone_t);
 * the value's ref is then its pt_zone_req_t. Errors name the line the zone
 * was written on. pt_zone_conf_modules() does it for every module. */
int pt_zone_conf_module(pt_conf_ctx_t *cf, pt_conf_t *conf, const pt_module_t *m);
int pt_zone_conf_modules(pt_conf_ctx_t *cf, pt_conf_t *conf);

/* The zone of a PT_CONF_ZONE value once the master attached it, or NULL. */
static inline pt_zone_t *pt_zone_conf_zone(const pt_conf_zone_t *cz)
{
    return cz && cz->ref ? ((const pt_zone_req_t *) cz->ref)->zone : NULL;
}

/* Master only, before forking conf's generation: attach every zone conf
 * asks for in shm (adopting as pt_shm_zone_attach_owned() says) and run
 * its init. PT_ERROR with a message in err. */
int pt_zone_conf_attach(pt_shm_t *shm, pt_conf_t *conf, char *err, size_t len);

/* Release what a conf holds outside its arena (compiled regexes, fds). */
void pt_route_conf_free(pt_route_t *r);

#endif
