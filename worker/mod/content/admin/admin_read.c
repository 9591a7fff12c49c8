/*
 * admin_read.c: the read answers of the admin API: the effective config
 * summary and every upstream server's shared state.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "worker/core/core.h"
#include "worker/core/module.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_state.h"
#include "worker/mod/content/admin/admin_int.h"

static json_t *pt_admin_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

static const char *const pt_admin_path_kinds[] = { "prefix", "exact", "regex" };

static json_t *pt_admin_route(const pt_conf_t *conf, const pt_route_t *rt)
{
    json_t *o = json_object();
    json_t *hosts = json_array();

    json_object_set_new(o, "name", pt_admin_str(rt->name));
    json_object_set_new(o, "line", json_integer(rt->line));
    for (size_t i = 0; i < rt->nhosts; i++)
        json_array_append_new(hosts, json_string(rt->hosts[i]));
    json_object_set_new(o, "hosts", hosts);
    json_object_set_new(o, "path", pt_admin_str(rt->path));
    json_object_set_new(o, "match", json_string(pt_admin_path_kinds[rt->path_kind % 3]));
    json_t *methods = json_array();
    for (size_t i = 0; rt->method_list && rt->method_list[i]; i++)
        json_array_append_new(methods, json_string(rt->method_list[i]));
    json_object_set_new(o, "methods", methods);
    json_t *ls = json_array();
    for (size_t i = 0; i < conf->nlisteners && i < 64; i++)
        if (rt->listeners == 0 || (rt->listeners & (UINT64_C(1) << i)))
            json_array_append_new(ls, json_string(conf->listeners[i].name
                                                  ? conf->listeners[i].name
                                                  : conf->listeners[i].address));
    json_object_set_new(o, "listeners", ls);
    json_object_set_new(o, "handler", pt_admin_str(rt->handler ? rt->handler->name : NULL));
    return o;
}

json_t *pt_admin_read_config(const pt_conf_t *conf)
{
    json_t *o = json_object();
    json_t *ls = json_array(), *rs = json_array(), *us = json_array();

    json_object_set_new(o, "generation", json_integer(conf->generation));
    json_object_set_new(o, "config_file", pt_admin_str(conf->path));
    json_object_set_new(o, "workers", pt_admin_read_workers(conf));
    for (size_t i = 0; i < conf->nlisteners; i++) {
        const pt_listener_t *l = &conf->listeners[i];
        json_t *e = json_object();
        json_object_set_new(e, "name", pt_admin_str(l->name));
        json_object_set_new(e, "address", pt_admin_str(l->address));
        json_object_set_new(e, "tls", json_boolean(l->tls != NULL));
        json_object_set_new(e, "line", json_integer(l->line));
        json_array_append_new(ls, e);
    }
    for (size_t i = 0; i < conf->nroutes; i++)
        json_array_append_new(rs, pt_admin_route(conf, &conf->routes[i]));
    for (size_t i = 0; i < conf->nupstreams; i++) {
        const pt_upstream_t *u = &conf->upstreams[i];
        json_t *e = json_object(), *ss = json_array();
        json_object_set_new(e, "name", pt_admin_str(u->name));
        json_object_set_new(e, "line", json_integer(u->line));
        for (size_t k = 0; k < u->nservers; k++)
            json_array_append_new(ss, json_string(u->servers[k].name));
        json_object_set_new(e, "servers", ss);
        json_array_append_new(us, e);
    }
    json_object_set_new(o, "listeners", ls);
    json_object_set_new(o, "routes", rs);
    json_object_set_new(o, "upstreams", us);
    return o;
}

static void pt_admin_server(const pt_upstream_server_state_t *st, void *data)
{
    json_t *byname = data;
    json_t *u = json_object_get(byname, st->upstream->name);
    pt_upstream_health_view_t hv;

    if (u == NULL) {
        u = json_object();
        json_object_set_new(u, "name", json_string(st->upstream->name));
        json_object_set_new(u, "servers", json_array());
        json_object_set_new(byname, st->upstream->name, u);
    }
    pt_upstream_health_read(st->server, pt_clock_now, &hv);
    json_t *s = json_object();
    json_object_set_new(s, "name", json_string(st->server->name));
    json_object_set_new(s, "health", json_string(st->health));
    json_object_set_new(s, "usable", json_boolean(hv.usable));
    json_object_set_new(s, "ejected", json_boolean(hv.ejected));
    json_object_set_new(s, "fails", json_integer(hv.fails));
    json_object_set_new(s, "ejections", json_integer(hv.ejections));
    json_object_set_new(s, "inflight", json_integer(st->inflight));
    json_object_set_new(s, "weight", json_integer(st->weight));
    json_object_set_new(s, "effective_weight", json_real((double) st->effective_weight / 16.0));
    json_object_set_new(s, "backup", json_boolean(st->server->backup));
    json_object_set_new(s, "drain", json_boolean(st->drain));
    json_object_set_new(s, "drain_runtime", json_boolean(st->drain_runtime));
    json_object_set_new(s, "ewma_us", json_integer((json_int_t) st->ewma_us));
    json_array_append_new(json_object_get(u, "servers"), s);
}

json_t *pt_admin_read_upstreams(const pt_conf_t *conf)
{
    json_t *byname = json_object();
    json_t *list = json_array();

    pt_upstream_state_each(conf, pt_admin_server, byname);
    /* In config order, not the object's. */
    for (size_t i = 0; i < conf->nupstreams; i++) {
        json_t *u = json_object_get(byname, conf->upstreams[i].name);
        if (u)
            json_array_append(list, u);
    }
    json_decref(byname);
    return list;
}
