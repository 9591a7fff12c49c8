/*
 * mod_admin.c: the admin API and the live status page. `admin = true;`
 * on a route (best of a listener of its own on a loopback address):
 *
 *   listen = ( { address = "127.0.0.1:9000"; name = "admin"; } );
 *   routes = ( { listeners = [ "admin" ]; path = "/admin/"; admin = true;
 *                admin_token_file = "/etc/portico/admin.token"; } );
 *
 * Below the route's path: "" (or "/") the status page, "api/..." the JSON
 * API (GET reads, POST acts; answers application/json, errors
 * problem+json). Access: the client address must be in admin_allow
 * (default: loopback only), then a verified client certificate when
 * admin_client_cert is set, then "Authorization: Bearer TOKEN" when a
 * token is configured (compared in constant time; never logged). Every
 * action is logged at notice level with the client and the token's label.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "worker/http/response.h"
#include "worker/net/conn.h"
#include "worker/tls/tls.h"
#include "worker/upstream/upstream_state.h"
#include "worker/mod/content/admin/admin_body.h"
#include "worker/mod/content/admin/admin_hooks.h"
#include "worker/mod/content/admin/admin_int.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

extern const char pt_admin_status_html[];
extern const size_t pt_admin_status_html_len;

static int pt_admin_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf);
static int pt_admin_content(pt_request_t *r);

#define PT_ADMIN_FIELD(f)   offsetof(pt_admin_conf_t, f)

static const pt_directive_t pt_admin_directives[] = {
    { "admin", PT_CONF_BOOL, PT_SCOPE_HANDLER, PT_ADMIN_FIELD(enabled), NULL, NULL, NULL, NULL,
      "answer with the admin API and the status page" },
    { "admin_allow", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_ADMIN_FIELD(allow), NULL, NULL,
      pt_cidr_list_conf_set, pt_cidr_list_conf_dump,
      "client networks the admin API answers (unset: loopback only)" },
    { "admin_token_file", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_ADMIN_FIELD(token_file), NULL, NULL,
      NULL, NULL, "a file holding the bearer token the admin API asks for" },
    { "admin_token_env", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_ADMIN_FIELD(token_env), NULL, NULL,
      NULL, NULL, "or an environment variable holding it" },
    { "admin_token_label", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_ADMIN_FIELD(token_label),
      "\"token\"", NULL, NULL, NULL, "what the logs call the token's holder" },
    { "admin_client_cert", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_ADMIN_FIELD(client_cert), "false",
      NULL, NULL, NULL, "ask for a verified TLS client certificate" },
    PT_DIRECTIVE_END
};

pt_module_t pt_admin_module = {
    .name = "admin",
    .directives = pt_admin_directives,
    .route_conf_size = sizeof(pt_admin_conf_t),
    .init_route = pt_admin_init_route,
    .content = pt_admin_content,
};

/* The token is the file's bytes, one final newline dropped. */
static int pt_admin_read_token(pt_conf_ctx_t *cf, pt_route_t *route, pt_admin_conf_t *ac)
{
    char buf[PT_ADMIN_TOKEN_MAX + 2];
    size_t n = 0;
    const char *what, *name;

    if (ac->token_file) {
        const char *path = pt_conf_path(cf, ac->token_file);
        FILE *f = path ? fopen(path, "re") : NULL;
        n = f ? fread(buf, 1, sizeof(buf), f) : 0;
        bool bad = f == NULL || ferror(f);
        if (f)
            fclose(f);
        what = "admin_token_file";
        name = ac->token_file;
        if (bad) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): %s \"%s\": %s", route->name,
                          route->line, what, name, strerror(errno ? errno : EIO));
            return PT_ERROR;
        }
        if (n && buf[n - 1] == '\n')
            n--;
        if (n && buf[n - 1] == '\r')
            n--;
    } else {
        const char *v = getenv(ac->token_env);
        what = "admin_token_env";
        name = ac->token_env;
        n = v ? strlen(v) : 0;
        if (n > PT_ADMIN_TOKEN_MAX)
            n = PT_ADMIN_TOKEN_MAX + 1;
        if (v)
            memcpy(buf, v, n);
    }
    bool printable = true;
    for (size_t i = 0; i < n; i++)
        if (buf[i] <= ' ' || buf[i] == 0x7f)
            printable = false;
    if (n == 0 || n > PT_ADMIN_TOKEN_MAX || !printable) {
        /* The message never quotes the token. */
        const char *why = n > PT_ADMIN_TOKEN_MAX ? "longer than 1024 bytes"
                          : n > 0 ? "the token must be printable ASCII without spaces"
                          : ac->token_file ? "the file is empty"
                          : "the environment variable is empty or unset";
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): %s \"%s\": %s", route->name,
                      route->line, what, name, why);
        memset(buf, 0, sizeof(buf));
        return PT_ERROR;
    }
    ac->token = pt_arena_strndup(cf->arena, buf, n);
    ac->token_len = n;
    memset(buf, 0, sizeof(buf));
    return ac->token ? PT_OK : PT_ERROR;
}

static bool pt_admin_same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool pt_admin_same_allow(const pt_cidr_list_t *a, const pt_cidr_list_t *b)
{
    if (a == NULL || b == NULL || a->n != b->n)
        return a == b || ((a ? a->n : 0) == 0 && (b ? b->n : 0) == 0);
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(&a->v[i].net, &b->v[i].net, sizeof(pt_addr_t)) != 0
            || a->v[i].bits != b->v[i].bits)
            return false;
    return true;
}

static int pt_admin_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    pt_admin_conf_t *ac = rconf;

    const pt_admin_conf_t *dc = dconf;

    (void) conf;
    if (ac->enabled != 1) {
        /* Set on this route itself, not inherited from defaults { }
         * (compared by value: -T writes inherited values into each
         * route and its output must load again): most likely a route
         * that was meant to be the admin one. */
        if (!pt_admin_same_allow(ac->allow, dc->allow)
            || !pt_admin_same_str(ac->token_file, dc->token_file)
            || !pt_admin_same_str(ac->token_env, dc->token_env)
            || (ac->client_cert == 1 && dc->client_cert != 1)) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): admin_* directives need "
                          "admin = true on the route", route->name, route->line);
            return PT_ERROR;
        }
        return PT_OK;
    }
    if (route->handler) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give a route one of proxy, return, "
                      "echo and admin", route->name, route->line);
        return PT_ERROR;
    }
    if (ac->token_file && ac->token_env) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give admin_token_file or "
                      "admin_token_env, not both", route->name, route->line);
        return PT_ERROR;
    }
    if ((ac->token_file || ac->token_env) && pt_admin_read_token(cf, route, ac) != PT_OK)
        return PT_ERROR;
    route->handler = &pt_admin_module;
    return PT_OK;
}

/* ---- access ---- */

static bool pt_admin_loopback(const pt_addr_t *a)
{
    static pt_cidr_t v4, v6;
    static bool ready;
    const char *why;

    if (!ready) {
        pt_cidr_parse("127.0.0.0/8", 11, &v4, &why);
        pt_cidr_parse("::1", 3, &v6, &why);
        ready = true;
    }
    return pt_cidr_match(&v4, a) || pt_cidr_match(&v6, a);
}

/* Constant time in the length of the expected token. */
static bool pt_admin_token_eq(const char *want, size_t want_len, pt_str_t got)
{
    unsigned char d = got.len != want_len;

    for (size_t i = 0; i < want_len; i++)
        d |= (unsigned char) want[i] ^ (unsigned char) (i < got.len ? got.p[i] : 0);
    return d == 0;
}

static const pt_http_field_t pt_admin_www_auth[] = {
    { PT_STR("WWW-Authenticate"), PT_STR("Bearer realm=\"portico admin\""), 0, 0 },
};

/* PT_OK, or PT_DONE with the refusal sent. The status page holds no
 * data (it reads the API), so it needs no token: a browser cannot send
 * one with the page's own request. */
static int pt_admin_access(pt_request_t *r, const pt_admin_conf_t *ac, bool page)
{
    pt_addr_t a;

    pt_addr_from_sa(pt_request_client_sa(r), &a);
    if (ac->allow ? !pt_cidr_list_match(ac->allow, &a) : !pt_admin_loopback(&a)) {
        pt_log(PT_LOG_WARN, "admin: refused %s: address not in admin_allow",
               pt_request_client_ip(r));
        pt_http_error(r, 403, "this address may not use the admin API");
        return PT_DONE;
    }
    if (ac->client_cert == 1
        && (r->conn->io.ssl == NULL || pt_tls_peer(&r->conn->io) == NULL)) {
        pt_http_error(r, 403, "the admin API needs a verified client certificate");
        return PT_DONE;
    }
    if (ac->token == NULL || page)
        return PT_OK;
    const pt_http_field_t *f = pt_request_field(r, PT_HDR_AUTHORIZATION);
    pt_str_t v = f ? f->value : PT_STR("");
    if (v.len < 7 || strncasecmp(v.p, "Bearer ", 7) != 0) {
        pt_http_error_fields(r, 401, "the admin API needs a bearer token", pt_admin_www_auth,
                             1);
        return PT_DONE;
    }
    v.p += 7;
    v.len -= 7;
    while (v.len && v.p[0] == ' ') {
        v.p++;
        v.len--;
    }
    if (!pt_admin_token_eq(ac->token, ac->token_len, v)) {
        pt_log(PT_LOG_WARN, "admin: refused %s: wrong token", pt_request_client_ip(r));
        pt_http_error_fields(r, 401, "the bearer token is not the admin token",
                             pt_admin_www_auth, 1);
        return PT_DONE;
    }
    return PT_OK;
}

/* "127.0.0.1 (token \"ops\")": who asked, for the logs. */
static const char *pt_admin_who(pt_request_t *r, const pt_admin_conf_t *ac)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%s%s%s%s", pt_request_client_ip(r),
                     ac->token ? " (" : "", ac->token ? ac->token_label : "",
                     ac->token ? ")" : "");
    return pt_arena_strndup(r->arena, buf, n < 0 ? 0 : (size_t) n);
}

/* ---- answers ---- */

static void pt_admin_send_json(pt_request_t *r, unsigned status, json_t *v)
{
    static const pt_http_field_t nocache[] = {
        { PT_STR("Cache-Control"), PT_STR("no-store"), 0, 0 },
    };
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    size_t n = text ? strlen(text) : 0;
    char *body = text ? pt_arena_alloc(r->arena, n + 1) : NULL;

    json_decref(v);
    if (body == NULL) {
        free(text);
        pt_http_error(r, 500, "the admin answer could not be built");
        return;
    }
    memcpy(body, text, n);
    body[n] = '\n';
    free(text);
    pt_response_send(r, status, "application/json", nocache, 1, body, n + 1);
}

static json_t *pt_admin_read_all(const pt_conf_t *conf)
{
    json_t *o = json_object();
    json_object_set_new(o, "config", pt_admin_read_config(conf));
    json_object_set_new(o, "upstreams", pt_admin_read_upstreams(conf));
    json_object_set_new(o, "stats", pt_admin_read_stats(conf));
    json_object_set_new(o, "zones", pt_admin_zones_read());
    json_object_set_new(o, "actions", pt_admin_actions_list());
    return o;
}

/* The request body as a JSON object, or NULL with the 400/413 sent. */
static json_t *pt_admin_body(pt_request_t *r)
{
    pt_str_t b = pt_request_body(r);
    char detail[256];
    unsigned status;
    json_t *v = pt_admin_body_parse(b.p, b.len, &status, detail, sizeof(detail));

    if (v == NULL)
        pt_http_error(r, status, pt_arena_strndup(r->arena, detail, strlen(detail)));
    return v;
}

/* POST api/servers/drain|enable { "upstream": "u", "server": "host:port" } */
static void pt_admin_drain(pt_request_t *r, bool drain)
{
    const pt_admin_conf_t *ac = pt_route_mod_conf(r->route, pt_admin_module);
    json_t *body = pt_admin_body(r);
    char why[512];

    if (body == NULL)
        return;
    const char *un, *sn;
    if (!pt_admin_drain_args(body, &un, &sn)) {
        json_decref(body);
        pt_http_error(r, 400, "give \"upstream\" and \"server\" as strings");
        return;
    }
    const pt_conf_t *conf = r->conf;
    const pt_upstream_t *u = NULL;
    const pt_server_t *s = NULL;
    for (size_t i = 0; i < conf->nupstreams && u == NULL; i++)
        if (strcmp(conf->upstreams[i].name, un) == 0)
            u = &conf->upstreams[i];
    for (size_t i = 0; u && i < u->nservers && s == NULL; i++)
        if (strcmp(u->servers[i].name, sn) == 0)
            s = &u->servers[i];
    json_decref(body);
    if (s == NULL) {
        pt_http_error(r, 404, u ? "the upstream has no server of that name"
                                : "no upstream of that name");
        return;
    }
    snprintf(why, sizeof(why), "admin API, asked by %s", pt_admin_who(r, ac));
    /* A host name is several servers of the same name (its addresses, or
     * its slots): every one of them, not the first alone. */
    for (size_t i = s->index; i < u->nservers; i++) {
        if (strcmp(u->servers[i].name, s->name) != 0)   /* sn went with body */
            continue;
        if (pt_upstream_server_set_drain(&u->servers[i], drain, why) != PT_OK) {
            pt_http_error(r, 409, "this server has no shared state to change");
            return;
        }
    }
    pt_log(PT_LOG_NOTICE, "admin: %s server %s of upstream \"%s\", asked by %s",
           drain ? "drain" : "enable", s->name, u->name, pt_admin_who(r, ac));
    json_t *o = json_object();
    json_object_set_new(o, "upstream", json_string(u->name));
    json_object_set_new(o, "server", json_string(s->name));
    json_object_set_new(o, "drain", json_boolean(drain));
    pt_admin_send_json(r, 200, o);
}

static void pt_admin_drain_done(pt_request_t *r)
{
    pt_admin_drain(r, true);
}

static void pt_admin_enable_done(pt_request_t *r)
{
    pt_admin_drain(r, false);
}

/* POST api/actions/NAME { ... }: a module's action (admin_hooks.h). */
static void pt_admin_action_done(pt_request_t *r)
{
    const pt_admin_conf_t *ac = pt_route_mod_conf(r->route, pt_admin_module);
    const char *name = r->ctx[pt_admin_module.index];
    pt_admin_action_pt fn;
    void *data;

    if (!pt_admin_action_find(name, &fn, &data)) {
        pt_http_error(r, 404, "no such action (its module is not built or not configured)");
        return;
    }
    json_t *body = pt_admin_body(r);
    if (body == NULL)
        return;
    json_t *answer = NULL;
    const char *why = NULL;
    unsigned status = fn(body, &answer, &why, data);
    json_decref(body);
    pt_log(PT_LOG_NOTICE, "admin: action \"%s\" asked by %s: %u", name, pt_admin_who(r, ac),
           status);
    if (status < 200 || status > 299) {
        json_decref(answer);
        pt_http_error(r, status >= 400 && status <= 599 ? status : 500,
                      why ? pt_arena_strndup(r->arena, why, strlen(why)) : NULL);
        return;
    }
    if (answer == NULL)
        answer = json_pack("{s:b}", "ok", 1);
    pt_admin_send_json(r, status, answer);
}

/* Read the body for done; one announced past PT_ADMIN_BODY_MAX is refused
 * before it is read (the route's client_max_body_size may be far larger). */
static void pt_admin_read_body(pt_request_t *r, pt_request_handler_pt done)
{
    if (r->body_kind == PT_BODY_LENGTH && r->head.content_length > PT_ADMIN_BODY_MAX) {
        r->keepalive = false;
        pt_http_error(r, 413, "admin request bodies are limited to 64 KiB");
        return;
    }
    pt_request_read_body(r, done);
}

/* What follows the route's path: "", "api/config", ... */
static pt_str_t pt_admin_rest(const pt_request_t *r)
{
    pt_str_t p = r->path;
    const pt_route_t *rt = r->route;

    if (rt->path_kind == PT_PATH_PREFIX && rt->path && p.len >= rt->path_len) {
        p.p += rt->path_len;
        p.len -= rt->path_len;
    } else {
        const char *api = NULL;
        for (size_t i = 0; i + 5 <= p.len; i++)
            if (memcmp(p.p + i, "/api/", 5) == 0)
                api = p.p + i;
        p = api ? (pt_str_t) { api, (size_t) (p.p + p.len - api) } : PT_STR("");
    }
    while (p.len && p.p[0] == '/') {
        p.p++;
        p.len--;
    }
    return p;
}

static bool pt_admin_is(pt_str_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* The methods an admin API endpoint takes (NULL: no such endpoint). */
static const char *pt_admin_allow(pt_str_t rest)
{
    static const char *const reads[] = { "api", "api/", "api/status", "api/config",
                                         "api/upstreams", "api/stats", "api/zones",
                                         "api/actions", NULL };

    for (const char *const *p = reads; *p; p++)
        if (pt_admin_is(rest, *p))
            return "GET, HEAD";
    if (pt_admin_is(rest, "api/servers/drain"))
        return "POST, DELETE";
    if (pt_admin_is(rest, "api/servers/enable"))
        return "POST";
    if (rest.len > 12 && memcmp(rest.p, "api/actions/", 12) == 0
        && rest.len - 12 <= PT_ADMIN_HOOK_NAME_MAX)
        return "POST";
    return NULL;
}

static int pt_admin_content(pt_request_t *r)
{
    const pt_admin_conf_t *ac = pt_route_mod_conf(r->route, pt_admin_module);
    unsigned m = r->head.method_id;
    bool get = m == PT_METHOD_GET || m == PT_METHOD_HEAD;
    bool post = m == PT_METHOD_POST, del = m == PT_METHOD_DELETE;

    pt_str_t rest = pt_admin_rest(r);
    bool page = rest.len == 0 || pt_admin_is(rest, "index.html");

    if (pt_admin_access(r, ac, page) != PT_OK)
        return PT_OK;
    if (page) {
        if (!get) {
            /* RFC 9110 15.5.6: a 405 lists what the resource takes. */
            r->route_allow = "GET, HEAD";
            pt_http_error(r, 405, "the status page is read with GET");
            return PT_OK;
        }
        static const pt_http_field_t fields[] = {
            { PT_STR("Cache-Control"), PT_STR("no-store"), 0, 0 },
            { PT_STR("Content-Security-Policy"),
              PT_STR("default-src 'none'; script-src 'unsafe-inline'; style-src "
                     "'unsafe-inline'; connect-src 'self'; img-src data:"), 0, 0 },
        };
        pt_response_send(r, 200, "text/html; charset=utf-8", fields, 2, pt_admin_status_html,
                         pt_admin_status_html_len);
        return PT_OK;
    }
    const pt_conf_t *conf = r->conf;
    if (get) {
        json_t *v = NULL;
        if (pt_admin_is(rest, "api") || pt_admin_is(rest, "api/"))
            v = json_pack("{s:[s,s,s,s,s,s],s:[s,s,s,s]}", "get", "api/status",
                          "api/config", "api/upstreams", "api/stats", "api/zones",
                          "api/actions", "post", "api/servers/drain", "api/servers/enable",
                          "api/actions/NAME", "DELETE api/servers/drain");
        else if (pt_admin_is(rest, "api/status"))
            v = pt_admin_read_all(conf);
        else if (pt_admin_is(rest, "api/config"))
            v = pt_admin_read_config(conf);
        else if (pt_admin_is(rest, "api/upstreams"))
            v = pt_admin_read_upstreams(conf);
        else if (pt_admin_is(rest, "api/stats"))
            v = pt_admin_read_stats(conf);
        else if (pt_admin_is(rest, "api/zones"))
            v = pt_admin_zones_read();
        else if (pt_admin_is(rest, "api/actions"))
            v = pt_admin_actions_list();
        /* v is NULL for a read endpoint only out of memory: a 500 then */
        const char *takes = pt_admin_allow(rest);
        if (v || (takes && strcmp(takes, "GET, HEAD") == 0)) {
            pt_admin_send_json(r, 200, v);
            return PT_OK;
        }
    } else if (post || del) {
        /* DELETE api/servers/drain undoes the drain, like POST .../enable. */
        if (pt_admin_is(rest, "api/servers/drain")) {
            pt_admin_read_body(r, post ? pt_admin_drain_done : pt_admin_enable_done);
            return PT_OK;
        }
        if (post && pt_admin_is(rest, "api/servers/enable")) {
            pt_admin_read_body(r, pt_admin_enable_done);
            return PT_OK;
        }
        if (rest.len > 12 && memcmp(rest.p, "api/actions/", 12) == 0
            && rest.len - 12 <= PT_ADMIN_HOOK_NAME_MAX) {
            r->ctx[pt_admin_module.index] = pt_arena_strndup(r->arena, rest.p + 12,
                                                             rest.len - 12);
            pt_admin_read_body(r, pt_admin_action_done);
            return PT_OK;
        }
    }
    /* RFC 9110 15.5.6: an endpoint asked with a method it does not take
     * is a 405 that lists the ones it does, not a 404. */
    const char *allow = pt_admin_allow(rest);
    if (!get && !post && !del) {
        r->route_allow = allow ? allow : "GET, HEAD, POST, DELETE";
        pt_http_error(r, 405, "the admin API takes GET, POST and DELETE");
        return PT_OK;
    }
    if (allow) {
        r->route_allow = allow;
        pt_http_error(r, 405, "this admin endpoint does not take the method");
        return PT_OK;
    }
    pt_http_error(r, 404, "no such admin endpoint");
    return PT_OK;
}
