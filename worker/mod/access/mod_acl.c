/*
 * mod_acl.c: allow and deny by consumer (post-access phase, once the
 * authentication mechanisms have said who is asking):
 *
 *   acl_allow = [ "group:staff", "alice" ];
 *   acl_deny = [ "group:suspended", "mallory" ];
 *
 * An entry is a consumer name, or "group:" and a group name. A consumer
 * that acl_deny names is refused; then, when acl_allow is set, only the
 * consumers it names pass, so an anonymous request fails it. Refusals
 * are 403 through the error renderer.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "worker/core/consumer.h"
#include "worker/core/module.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"

/* Most entries of one list. */
#define PT_ACL_MAX      1024

typedef struct {
    bool group;
    pt_str_t name;
} pt_acl_entry_t;

typedef struct {
    const char **allow;         /* STRINGS, UNSET NULL */
    const char **deny;
    /* compiled by init_route */
    pt_acl_entry_t *allow_v, *deny_v;
    size_t nallow, ndeny;
} pt_acl_conf_t;

static int pt_acl_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item);

static const pt_conf_strings_arg_t pt_acl_strings = { NULL, pt_acl_check };

static const pt_directive_t pt_acl_directives[] = {
    { "acl_allow", PT_CONF_STRINGS, PT_SCOPE_ROUTE, offsetof(pt_acl_conf_t, allow), NULL,
      &pt_acl_strings, NULL, NULL, "consumers (NAME or group:NAME) that alone may pass" },
    { "acl_deny", PT_CONF_STRINGS, PT_SCOPE_ROUTE, offsetof(pt_acl_conf_t, deny), NULL,
      &pt_acl_strings, NULL, NULL, "consumers (NAME or group:NAME) refused" },
    PT_DIRECTIVE_END
};

pt_module_t pt_acl_module;

static int pt_acl_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    const char *name = strncmp(item, "group:", 6) == 0 ? item + 6 : item;

    if (*name == '\0') {
        pt_conf_error(cf, s, "\"%s\": an entry needs a consumer or group name",
                      config_setting_name(s));
        return PT_ERROR;
    }
    return PT_OK;
}

static pt_acl_entry_t *pt_acl_compile(pt_conf_ctx_t *cf, const char *const *v, size_t *n)
{
    *n = pt_conf_strings_count(v);
    if (*n > PT_ACL_MAX) {
        pt_conf_error(cf, NULL, "an acl list has more than %d entries", PT_ACL_MAX);
        return NULL;
    }
    pt_acl_entry_t *e = pt_arena_calloc(cf->arena, (*n + 1) * sizeof(*e));
    for (size_t i = 0; e && i < *n; i++) {
        e[i].group = strncmp(v[i], "group:", 6) == 0;
        const char *name = e[i].group ? v[i] + 6 : v[i];
        e[i].name = (pt_str_t) { name, strlen(name) };
    }
    return e;
}

static int pt_acl_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                             void *rconf, const void *dconf)
{
    pt_acl_conf_t *ac = rconf;

    if (ac->allow == NULL && ac->deny == NULL) {
        pt_module_phase_skip(route, &pt_acl_module);
        return PT_OK;
    }
    if ((ac->allow_v = pt_acl_compile(cf, ac->allow, &ac->nallow)) == NULL
        || (ac->deny_v = pt_acl_compile(cf, ac->deny, &ac->ndeny)) == NULL)
        return PT_ERROR;
    return PT_OK;
}

static const pt_acl_entry_t *pt_acl_find(const pt_acl_entry_t *v, size_t n,
                                         const pt_consumer_t *c)
{
    if (c == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i].group ? pt_consumer_in_group(c, v[i].name)
                       : c->id.len == v[i].name.len
                         && memcmp(c->id.p, v[i].name.p, c->id.len) == 0)
            return &v[i];
    }
    return NULL;
}

static int pt_acl_refuse(pt_request_t *r, const char *why, const pt_acl_entry_t *e)
{
    const pt_consumer_t *c = r->consumer;

    pt_log(PT_LOG_INFO, "%s: acl of route \"%s\" refused %s%.*s%s: %s%s%.*s", pt_request_client_ip(r),
           r->route->name, c ? "consumer \"" : "an anonymous request", (int) (c ? c->id.len : 0),
           c ? c->id.p : "", c ? "\"" : "", why, e ? (e->group ? " group:" : " ") : "",
           (int) (e ? e->name.len : 0), e ? e->name.p : "");
    pt_http_error(r, 403, c ? "this consumer may not use this route"
                            : "this route needs an authenticated consumer");
    return PT_DONE;
}

static int pt_acl_post_access(pt_request_t *r)
{
    const pt_acl_conf_t *ac = pt_route_mod_conf(r->route, pt_acl_module);
    const pt_acl_entry_t *e = pt_acl_find(ac->deny_v, ac->ndeny, r->consumer);

    if (e)
        return pt_acl_refuse(r, "acl_deny names", e);
    if (ac->allow && pt_acl_find(ac->allow_v, ac->nallow, r->consumer) == NULL)
        return pt_acl_refuse(r, "not in acl_allow", NULL);
    return PT_DECLINED;
}

pt_module_t pt_acl_module = {
    .name = "acl",
    .directives = pt_acl_directives,
    .route_conf_size = sizeof(pt_acl_conf_t),
    .init_route = pt_acl_init_route,
    .phase = { [PT_PHASE_POST_ACCESS] = pt_acl_post_access },
};
