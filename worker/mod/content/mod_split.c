/*
 * mod_split.c: canary releases and traffic splitting on a proxied route.
 *
 *     proxy = "v1";
 *     split = ( { upstream = "v2"; weight = 10; header = "X-Canary: 1";
 *                 cookie = "canary=1"; } );
 *     split_key = "$cookie_user";
 *
 * Each entry takes weight percent of the requests (the rest stay on the
 * route's proxy upstream); a request with the entry's header value or
 * cookie value goes there whatever the weights say. With split_key the
 * share is decided by a hash of the rendered key, so one client stays on
 * one upstream; without it (or when the key renders empty) by a random
 * draw. The choice is the per-request upstream override the proxy reads
 * (r->upstream_override); $split names the upstream that answers.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/hash.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/core/var.h"
#include "worker/http/http_cookie.h"
#include "worker/http/request.h"
#include "worker/proxy/proxy.h"

#include <sys/random.h>

#define PT_SPLIT_MAX        16      /* entries of a split list */
#define PT_SPLIT_KEY_MAX    256     /* bytes of a rendered key that are hashed */
#define PT_SPLIT_SEED       UINT64_C(0x9e3779b97f4a7c15)    /* fixed: every worker agrees */

typedef struct {
    const char *upstream_name;  /* STRING */
    int64_t weight;             /* UINT 0..100 */
    const char *header;         /* STRING "Name: value" */
    const char *cookie;         /* STRING "name=value" */
    /* compiled */
    pt_upstream_t *upstream;
    pt_str_t header_name, header_value, cookie_name, cookie_value;
} pt_split_entry_t;

typedef struct {
    pt_split_entry_t *v;
    size_t n;
} pt_split_list_t;

typedef struct {
    pt_split_list_t *list;      /* CUSTOM: UNSET NULL */
    pt_conf_compiled_t key;     /* template; UNSET .text NULL */
} pt_split_conf_t;

extern pt_module_t pt_split_module;
extern pt_module_t pt_proxy_module;

static int pt_split_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                             const pt_directive_t *d);
static void pt_split_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                               int indent);

static const pt_directive_t pt_split_directives[] = {
    { "split", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, offsetof(pt_split_conf_t, list), NULL, NULL,
      pt_split_conf_set, pt_split_conf_dump, "other upstreams that take a share of a route" },
    { "split_key", PT_CONF_COMPILED, PT_SCOPE_ROUTE, offsetof(pt_split_conf_t, key), NULL,
      &pt_var_compiler, NULL, NULL, "a template whose hash keeps a client on one upstream" },
    PT_DIRECTIVE_END
};

static const pt_conf_bounds_t pt_split_weight_bounds = { 0, 100 };

#define PT_SPLIT_FIELD(f)   offsetof(pt_split_entry_t, f)
/* The members of one entry of split = ( ... ). */
static const pt_directive_t pt_split_members[] = {
    { "upstream", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_SPLIT_FIELD(upstream_name), NULL, NULL,
      NULL, NULL, "the upstream of this share" },
    { "weight", PT_CONF_UINT, PT_SCOPE_ROUTE, PT_SPLIT_FIELD(weight), "0",
      &pt_split_weight_bounds, NULL, NULL, "percent of the requests" },
    { "header", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_SPLIT_FIELD(header), NULL, NULL, NULL,
      NULL, "\"Name: value\": a request with it goes here" },
    { "cookie", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_SPLIT_FIELD(cookie), NULL, NULL, NULL,
      NULL, "\"name=value\": a request with this cookie goes here" },
    PT_DIRECTIVE_END
};

static bool pt_split_token(pt_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!pt_str_tchar[(unsigned char) s.p[i]])
            return false;
    return s.len > 0;
}

/* "a<sep>b" into two views, b with blanks trimmed. */
static bool pt_split_pair(const char *text, int sep, pt_str_t *a, pt_str_t *b)
{
    const char *at = strchr(text, sep);

    if (at == NULL)
        return false;
    *a = (pt_str_t) { text, (size_t) (at - text) };
    *b = pt_str_trim_ows((pt_str_t) { at + 1, strlen(at + 1) });
    return pt_split_token(*a) && b->len > 0;
}

static int pt_split_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                             const pt_directive_t *d)
{
    int n = config_setting_length(s);
    pt_split_list_t *l = pt_arena_calloc(cf->arena, sizeof(*l));

    if (l == NULL)
        return PT_ERROR;
    if (config_setting_type(s) != CONFIG_TYPE_LIST || n < 1 || n > PT_SPLIT_MAX) {
        pt_conf_error(cf, s, "\"split\" is a list of 1 to %d groups ( { upstream = \"...\"; "
                      "weight = 10; } )", PT_SPLIT_MAX);
        return PT_ERROR;
    }
    if ((l->v = pt_arena_calloc(cf->arena, (size_t) n * sizeof(*l->v))) == NULL)
        return PT_ERROR;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(s, (unsigned) i);
        pt_split_entry_t *e = &l->v[i];
        pt_conf_target_t t = { pt_split_members, e };
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            pt_conf_error(cf, g, "split: each entry is a group { upstream = ...; }");
            return PT_ERROR;
        }
        pt_conf_unset(pt_split_members, PT_SCOPE_ROUTE, e);
        if (pt_conf_walk(cf, g, PT_SCOPE_ROUTE, &t, 1, NULL) != PT_OK
            || pt_conf_defaults(cf, pt_split_members, PT_SCOPE_ROUTE, e) != PT_OK)
            return PT_ERROR;
        if (e->upstream_name == NULL) {
            pt_conf_error(cf, g, "split: an entry needs \"upstream\"");
            return PT_ERROR;
        }
        if (e->header && !pt_split_pair(e->header, ':', &e->header_name, &e->header_value)) {
            pt_conf_error(cf, g, "split: header \"%s\" is not \"Name: value\"", e->header);
            return PT_ERROR;
        }
        if (e->cookie && !pt_split_pair(e->cookie, '=', &e->cookie_name, &e->cookie_value)) {
            pt_conf_error(cf, g, "split: cookie \"%s\" is not \"name=value\"", e->cookie);
            return PT_ERROR;
        }
        total += e->weight;
    }
    if (total > 100) {
        pt_conf_error(cf, s, "split: the weights add up to %lld %%, more than 100",
                      (long long) total);
        return PT_ERROR;
    }
    l->n = (size_t) n;
    *(pt_split_list_t **) field = l;
    return PT_OK;
}

static void pt_split_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                               int indent)
{
    const pt_split_list_t *l = *(pt_split_list_t *const *) field;

    fputs("(", out);
    for (size_t i = 0; i < l->n; i++) {
        fputs(i ? ", {\n" : " {\n", out);
        pt_conf_dump(out, pt_split_members, PT_SCOPE_ROUTE, &l->v[i], indent + 1);
        pt_conf_indent(out, indent);
        fputc('}', out);
    }
    fputs(" )", out);
}

static int pt_split_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    pt_split_conf_t *sc = rconf;

    if (sc->list == NULL) {
        pt_module_phase_skip(route, &pt_split_module);
        return PT_OK;
    }
    if (route->handler != &pt_proxy_module) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): split needs a proxied route "
                      "(proxy = \"...\")", route->name, route->line);
        return PT_ERROR;
    }
    for (size_t i = 0; i < sc->list->n; i++) {
        pt_split_entry_t *e = &sc->list->v[i];
        for (size_t u = 0; u < conf->nupstreams && e->upstream == NULL; u++)
            if (strcmp(conf->upstreams[u].name, e->upstream_name) == 0)
                e->upstream = &conf->upstreams[u];
        if (e->upstream == NULL) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): split: no upstream named \"%s\"",
                          route->name, route->line, e->upstream_name);
            return PT_ERROR;
        }
    }
    return PT_OK;
}

static bool pt_split_has_header(pt_request_t *r, const pt_split_entry_t *e)
{
    for (unsigned i = 0; i < r->head.nfields; i++) {
        const pt_http_field_t *f = &r->head.fields[i];
        if (pt_str_caseeq(f->name, e->header_name) && f->value.len == e->header_value.len
            && memcmp(f->value.p, e->header_value.p, f->value.len) == 0)
            return true;
    }
    return false;
}

static bool pt_split_has_cookie(pt_request_t *r, const pt_split_entry_t *e)
{
    for (unsigned i = 0; i < r->head.nfields; i++) {
        const pt_http_field_t *f = &r->head.fields[i];
        if (f->id != PT_HDR_COOKIE)
            continue;
        pt_str_t v = pt_http_cookie(f->value, e->cookie_name);
        if (v.len == e->cookie_value.len && v.p && memcmp(v.p, e->cookie_value.p, v.len) == 0)
            return true;
    }
    return false;
}

/* 0..99: where the request falls in the shares. */
static unsigned pt_split_bucket(pt_request_t *r, const pt_split_conf_t *sc)
{
    if (sc->key.code) {
        char key[PT_SPLIT_KEY_MAX];
        size_t n = pt_var_render_to(sc->key.code, r, key, sizeof(key));
        if (n)
            return (unsigned) (pt_hash(key, n < sizeof(key) ? n : sizeof(key), PT_SPLIT_SEED)
                               % 100);
    }
    static uint8_t pool[1024];
    static size_t used = sizeof(pool);
    if (used == sizeof(pool)) {
        if (getrandom(pool, sizeof(pool), 0) != (ssize_t) sizeof(pool))
            for (size_t i = 0; i < sizeof(pool); i++)      /* cannot happen on Linux */
                pool[i] = (uint8_t) pt_hash(&i, sizeof(i), (uint64_t) r->start);
        used = 0;
    }
    uint16_t v = (uint16_t) (pool[used] << 8 | pool[used + 1]);
    used += 2;
    return v % 100;
}

static int pt_split_pre_content(pt_request_t *r)
{
    const pt_split_conf_t *sc = pt_route_mod_conf(r->route, pt_split_module);
    const pt_split_list_t *l = sc->list;

    for (size_t i = 0; i < l->n; i++) {
        const pt_split_entry_t *e = &l->v[i];
        if ((e->header && pt_split_has_header(r, e)) || (e->cookie && pt_split_has_cookie(r, e))) {
            r->upstream_override = e->upstream;
            return PT_DECLINED;
        }
    }
    unsigned b = pt_split_bucket(r, sc), at = 0;
    for (size_t i = 0; i < l->n; i++) {
        at += (unsigned) l->v[i].weight;
        if (b < at) {
            r->upstream_override = l->v[i].upstream;
            break;
        }
    }
    return PT_DECLINED;
}

/* $split: the upstream that answers a proxied route. */
static pt_str_t pt_split_var(pt_request_t *r, const void *data, char *buf)
{
    const pt_upstream_t *u = r->upstream_override;

    if (u == NULL && r->route && r->route->handler == &pt_proxy_module) {
        const pt_proxy_conf_t *pc = pt_route_mod_conf(r->route, pt_proxy_module);
        u = pc->upstream;
    }
    return u ? (pt_str_t) { u->name, strlen(u->name) } : PT_STR_NULL;
}

static const pt_var_def_t pt_split_vars[] = {
    { "split", pt_split_var, NULL, NULL },
    PT_VAR_DEF_END
};

pt_module_t pt_split_module = {
    .name = "split",
    .directives = pt_split_directives,
    .route_conf_size = sizeof(pt_split_conf_t),
    .init_route = pt_split_init_route,
    .phase = {
        [PT_PHASE_PRE_CONTENT] = pt_split_pre_content,
    },
    .vars = pt_split_vars,
};
