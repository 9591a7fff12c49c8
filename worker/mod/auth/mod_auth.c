/*
 * mod_auth.c: the module that combines the authentication mechanisms of a
 * route (auth_satisfy) and hands the verified identity to the upstream
 * (auth.h says how). It holds no credential of its own.
 */
#include "common/pt.h"
#include "common/log.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/core/var.h"
#include "worker/http/request.h"
#include "worker/mod/auth/auth.h"
#include "worker/mod/auth/auth_int.h"

static const pt_conf_enum_t pt_auth_satisfy_names[] = {
    { "all", PT_AUTH_ALL }, { "any", PT_AUTH_ANY }, { NULL, 0 }
};

#define PT_AUTH_FIELD(f)    offsetof(pt_auth_conf_t, f)

static const pt_directive_t pt_auth_directives[] = {
    { "auth_satisfy", PT_CONF_ENUM, PT_SCOPE_ROUTE, PT_AUTH_FIELD(satisfy), "\"all\"",
      pt_auth_satisfy_names, NULL, NULL,
      "every configured authentication must accept (all), or one (any)" },
    { "consumer_header", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_AUTH_FIELD(consumer_header),
      "\"X-Consumer\"", NULL, NULL, NULL,
      "request field that carries the consumer's name to the upstream (\"\": none)" },
    { "consumer_groups_header", PT_CONF_STRING, PT_SCOPE_ROUTE,
      PT_AUTH_FIELD(groups_header), "\"X-Consumer-Groups\"", NULL, NULL, NULL,
      "request field that carries the consumer's groups, comma-separated (\"\": none)" },
    { "consumer_plan_header", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_AUTH_FIELD(plan_header),
      "\"\"", NULL, NULL, NULL,
      "request field that carries the consumer's plan (\"\": none)" },
    PT_DIRECTIVE_END
};

/* A field name an upstream can be sent: a token (RFC 9110 §5.1). */
static bool pt_auth_field_name_ok(const char *s)
{
    if (*s == '\0')
        return true;
    for (; *s; s++)
        if (!pt_str_tchar[(unsigned char) *s])
            return false;
    return true;
}

static int pt_auth_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                              void *rconf, const void *dconf)
{
    pt_auth_conf_t *ac = rconf;
    const char *names[3] = { ac->consumer_header, ac->groups_header, ac->plan_header };
    bool any = false;

    for (unsigned i = 0; i < 3; i++) {
        if (!pt_auth_field_name_ok(names[i])) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): \"%s\" is not a field name",
                          route->name, route->line, names[i]);
            return PT_ERROR;
        }
        ac->names[i] = (pt_str_t) { names[i], strlen(names[i]) };
        any |= ac->names[i].len > 0;
    }
    /* Nothing to hide and nothing to send: decisions still need the
     * post-access handler when mechanisms wait for one another. */
    if (!any && ac->satisfy == PT_AUTH_ALL)
        pt_module_phase_skip(route, &pt_auth_module);
    return PT_OK;
}

/* The consumer's groups as one field value; a group that holds a comma
 * is left out (pt_consumer_groups_join), and the operator told. */
static pt_str_t pt_auth_join_groups(pt_request_t *r, const pt_consumer_t *c)
{
    size_t left = 0;
    pt_str_t v = pt_consumer_groups_join(r->arena, c, &left);

    if (left)
        pt_log(PT_LOG_WARN, "route %s: a group holding a comma left out of the "
               "identity field", r->route->name);
    return v;
}

/* A value that may go into a field line: no CR, LF or other control (a
 * token claim "eve\r\nX-Admin: 1" would otherwise split the head). */
static bool pt_auth_value_ok(pt_str_t v)
{
    for (size_t i = 0; i < v.len; i++)
        if (((unsigned char) v.p[i] < 0x20 && v.p[i] != '\t') || v.p[i] == 0x7f)
            return false;
    return true;
}

/* One hidden, empty entry of each identity name, whether or not the
 * client sent it: the proxy refuses trailer fields named like a field it
 * hid, so a client cannot send X-Consumer in a trailer section either. */
static int pt_auth_own_names(pt_request_t *r, const pt_auth_conf_t *ac)
{
    if (!r->head.chunked)
        return PT_OK;           /* no trailer section can follow */
    for (unsigned i = 0; i < 3; i++) {
        if (ac->names[i].len == 0)
            continue;
        if (pt_request_field_add(r, ac->names[i], PT_STR("")) != PT_OK)
            return PT_ERROR;
        r->head.fields[r->head.nfields - 1].flags |= PT_FIELD_NOFORWARD;
    }
    return PT_OK;
}

/* After every mechanism had its say: an "any" route none accepted is
 * refused here; then the identity fields go to the upstream. */
static int pt_auth_post_access(pt_request_t *r)
{
    const pt_auth_conf_t *ac = pt_route_mod_conf(r->route, pt_auth_module);
    const pt_auth_state_t *st = r->ctx[pt_auth_module.index];

    if (st && !st->accepted && st->status) {
        pt_auth_answer(r, st);
        return PT_DONE;
    }
    for (unsigned i = 0; i < 3; i++)
        if (ac->names[i].len)
            pt_auth_strip_field(r, ac->names[i]);
    const pt_consumer_t *c = r->consumer;
    if (c == NULL)
        return pt_auth_own_names(r, ac) == PT_OK ? PT_DECLINED : 500;
    pt_str_t values[3] = { c->id, pt_auth_join_groups(r, c), c->plan };
    for (unsigned i = 0; i < 3; i++) {
        if (ac->names[i].len == 0 || values[i].len == 0)
            continue;
        if (!pt_auth_value_ok(values[i])) {
            pt_log(PT_LOG_WARN, "route %s: identity field \"%.*s\" dropped: the value holds "
                   "a control character", r->route->name, (int) ac->names[i].len,
                   ac->names[i].p);
            continue;
        }
        if (pt_request_field_add(r, ac->names[i], values[i]) != PT_OK)
            return 500;
    }
    /* After ours, so lookups find the real ones first. */
    return pt_auth_own_names(r, ac) == PT_OK ? PT_DECLINED : 500;
}

pt_module_t pt_auth_module = {
    .name = "auth",
    .directives = pt_auth_directives,
    .route_conf_size = sizeof(pt_auth_conf_t),
    .init_route = pt_auth_init_route,
    .phase = {
        [PT_PHASE_POST_ACCESS] = pt_auth_post_access,
    },
    .metrics = pt_auth_metrics,     /* auth.c */
};
