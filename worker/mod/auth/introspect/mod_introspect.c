/*
 * mod_introspect.c: OAuth2 token introspection (RFC 7662) in the access
 * phase. An opaque bearer token is POSTed to the route's introspection
 * endpoint (an upstream and a path) with the route's client credentials,
 * from the worker, without blocking (a subrequest; the request waits with
 * PT_AGAIN). Answers are cached in a shared zone by the SHA-256 of the
 * token (introspect_cache.c): active ones until the token's exp or the
 * configured cap, inactive ones briefly.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/conf.h"
#include "worker/core/consumer.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/mod/auth/auth.h"
#include "worker/mod/auth/introspect/introspect_cache.h"
#include "worker/mod/auth/introspect/introspect_parse.h"
#include "worker/upstream/subrequest.h"

#include <openssl/evp.h>

/* Longest token sent to the endpoint. */
#define PT_INTROSPECT_TOKEN_MAX     8192
/* Most scopes taken as the consumer's groups. */
#define PT_INTROSPECT_GROUPS_MAX    64
/* Longest answer read from the endpoint. */
#define PT_INTROSPECT_BODY_MAX      (64 * 1024)

enum { PT_INTROSPECT_FAIL_503 = 503, PT_INTROSPECT_FAIL_401 = 401 };

typedef struct {
    int enabled;
    const char *upstream_name;
    const char *path;
    const char *client_id;
    const char *client_secret;
    const char *client_secret_file;
    pt_conf_zone_t *zone;
    pt_msec_t cache_max;
    pt_msec_t negative_ttl;
    pt_msec_t timeout;
    const char **scopes;
    int failure;
    int skip_jwt;
    const char *realm;
    /* compiled by init_route */
    pt_upstream_t *upstream;
    pt_str_t authorization;         /* "Basic ..." */
    pt_str_t cache_scope;           /* upstream, path and client, hashed before the token */
    const char *challenge_none;
    const char *challenge_invalid;
    const char *challenge_scope;
} pt_introspect_conf_t;

enum { PT_INTROSPECT_START = 0, PT_INTROSPECT_WAITING, PT_INTROSPECT_ANSWERED,
       PT_INTROSPECT_FAILED };

typedef struct {
    int state;
    pt_subrequest_t *sr;
    pt_request_t *r;
    unsigned char key[32];
    pt_introspect_result_t res;
    const char *why;
    pt_consumer_t consumer;
} pt_introspect_ctx_t;

extern pt_module_t pt_introspect_module;

static const pt_conf_enum_t pt_introspect_failures[] = {
    { "503", PT_INTROSPECT_FAIL_503 }, { "401", PT_INTROSPECT_FAIL_401 }, { NULL, 0 }
};

#define PT_INTROSPECT_FIELD(f)  offsetof(pt_introspect_conf_t, f)

static const pt_directive_t pt_introspect_directives[] = {
    { "introspect", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(enabled), "false", NULL,
      NULL, NULL, "check bearer tokens at an OAuth2 introspection endpoint" },
    { "introspect_upstream", PT_CONF_STRING, PT_SCOPE_ROUTE,
      PT_INTROSPECT_FIELD(upstream_name), NULL, NULL, NULL, NULL,
      "the upstream of the introspection endpoint" },
    { "introspect_path", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(path),
      "\"/introspect\"", NULL, NULL, NULL, "the endpoint's path" },
    { "introspect_client_id", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(client_id),
      NULL, NULL, NULL, NULL, "portico's client id at the endpoint (HTTP Basic)" },
    { "introspect_client_secret", PT_CONF_STRING, PT_SCOPE_ROUTE,
      PT_INTROSPECT_FIELD(client_secret), NULL, NULL, NULL, NULL, "and its secret" },
    { "introspect_client_secret_file", PT_CONF_STRING, PT_SCOPE_ROUTE,
      PT_INTROSPECT_FIELD(client_secret_file), NULL, NULL, NULL, NULL,
      "or a file holding the secret" },
    { "introspect_zone", PT_CONF_ZONE, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(zone), NULL, NULL,
      NULL, NULL, "shared memory for cached answers (\"name:size\")" },
    { "introspect_cache_max", PT_CONF_DURATION, PT_SCOPE_ROUTE,
      PT_INTROSPECT_FIELD(cache_max), "\"5m\"", NULL, NULL, NULL,
      "an active answer is cached until the token's exp, at most this long" },
    { "introspect_negative_ttl", PT_CONF_DURATION, PT_SCOPE_ROUTE,
      PT_INTROSPECT_FIELD(negative_ttl), "\"10s\"", NULL, NULL, NULL,
      "how long an inactive answer is cached" },
    { "introspect_timeout", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(timeout),
      "\"5s\"", &pt_conf_positive, NULL, NULL, "an introspection call's time limit" },
    { "introspect_scopes", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(scopes), NULL,
      NULL, NULL, NULL, "scopes the token must all have (403 otherwise)" },
    { "introspect_failure", PT_CONF_ENUM, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(failure),
      "\"503\"", pt_introspect_failures, NULL, NULL,
      "the answer when the endpoint is down or errs: 503 or 401" },
    { "introspect_skip_jwt", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(skip_jwt),
      "false", NULL, NULL, NULL, "leave tokens shaped like a JWT to the jwt check" },
    { "introspect_realm", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_INTROSPECT_FIELD(realm), "\"api\"",
      NULL, NULL, NULL, "the realm of the Bearer challenge" },
    PT_DIRECTIVE_END
};

/* ---- load time ---- */

static bool pt_introspect_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '-' || c == '.' || c == '_' || c == '~';
}

/* application/x-www-form-urlencoded (every byte but the unreserved ones
 * %-encoded), into out (3 * len bytes); returns the length. */
static size_t pt_introspect_form_encode(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (pt_introspect_unreserved(c)) {
            out[o++] = (char) c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}

static bool pt_introspect_quotable(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char) *s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* The secret is the file's bytes, one final newline dropped. */
static int pt_introspect_read_secret(pt_conf_ctx_t *cf, pt_route_t *route,
                                     pt_introspect_conf_t *ic)
{
    const char *path = pt_conf_path(cf, ic->client_secret_file);
    FILE *f = path ? fopen(path, "re") : NULL;
    char buf[1024];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

    if (f == NULL || ferror(f) || n == sizeof(buf) || memchr(buf, 0, n)) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): introspect_client_secret_file "
                      "\"%s\": %s", route->name, route->line, ic->client_secret_file,
                      f == NULL ? strerror(errno) : "unreadable, too long or binary");
        if (f)
            fclose(f);
        return PT_ERROR;
    }
    fclose(f);
    if (n && buf[n - 1] == '\n')
        n--;
    ic->client_secret = pt_arena_strndup(cf->arena, buf, n);
    memset(buf, 0, sizeof(buf));
    return ic->client_secret ? PT_OK : PT_ERROR;
}

static int pt_introspect_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                    void *rconf, const void *dconf)
{
    pt_introspect_conf_t *ic = rconf;

    (void) dconf;
    if (ic->enabled != 1) {
        pt_module_phase_skip(route, &pt_introspect_module);
        return PT_OK;
    }
    if (ic->upstream_name == NULL || ic->zone == NULL) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): introspect needs introspect_upstream "
                      "and introspect_zone", route->name, route->line);
        return PT_ERROR;
    }
    for (size_t i = 0; i < conf->nupstreams; i++)
        if (strcmp(conf->upstreams[i].name, ic->upstream_name) == 0)
            ic->upstream = &conf->upstreams[i];
    if (ic->upstream == NULL) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): introspect_upstream: no upstream "
                      "named \"%s\"", route->name, route->line, ic->upstream_name);
        return PT_ERROR;
    }
    if (ic->path[0] != '/') {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): introspect_path must start with /",
                      route->name, route->line);
        return PT_ERROR;
    }
    if (!pt_introspect_quotable(ic->realm)) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): introspect_realm may not hold "
                      "quotes, backslashes or control characters", route->name, route->line);
        return PT_ERROR;
    }
    if (ic->client_secret_file && ic->client_secret) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give one of introspect_client_secret "
                      "and introspect_client_secret_file", route->name, route->line);
        return PT_ERROR;
    }
    if (ic->client_secret && ic->client_secret_file == NULL)
        /* A secret in the config travels wherever the config does. */
        pt_log(PT_LOG_WARN, "route \"%s\" (line %u): introspect_client_secret is written in "
               "the config; prefer introspect_client_secret_file", route->name, route->line);
    if (ic->client_secret_file && pt_introspect_read_secret(cf, route, ic) != PT_OK)
        return PT_ERROR;
    if ((ic->client_id == NULL) != (ic->client_secret == NULL)) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give introspect_client_id and "
                      "introspect_client_secret together", route->name, route->line);
        return PT_ERROR;
    }
    if (ic->client_id) {
        /* RFC 6749 §2.3.1: id and secret are form-encoded, then joined
         * with ':' and base64-encoded. */
        size_t il = strlen(ic->client_id), sl = strlen(ic->client_secret);
        char *raw = pt_arena_alloc(cf->arena, 3 * (il + sl) + 1);
        if (raw == NULL)
            return PT_ERROR;
        size_t n = pt_introspect_form_encode(raw, ic->client_id, il);
        raw[n++] = ':';
        n += pt_introspect_form_encode(raw + n, ic->client_secret, sl);
        char *auth = pt_arena_alloc(cf->arena, 6 + 4 * ((n + 2) / 3) + 1);
        if (auth == NULL)
            return PT_ERROR;
        memcpy(auth, "Basic ", 6);
        int m = EVP_EncodeBlock((unsigned char *) auth + 6, (const unsigned char *) raw,
                                (int) n);
        ic->authorization = (pt_str_t) { auth, 6 + (size_t) m };
    }
    /* "upstream\0path\0client\0": NULs keep the parts apart. */
    const char *parts[3] = { ic->upstream_name, ic->path, ic->client_id ? ic->client_id : "" };
    size_t klen = 0;
    for (unsigned i = 0; i < 3; i++)
        klen += strlen(parts[i]) + 1;
    char *scope_key = pt_arena_alloc(cf->arena, klen);
    if (scope_key == NULL)
        return PT_ERROR;
    klen = 0;
    for (unsigned i = 0; i < 3; i++) {
        size_t l = strlen(parts[i]) + 1;
        memcpy(scope_key + klen, parts[i], l);
        klen += l;
    }
    ic->cache_scope = (pt_str_t) { scope_key, klen };
    ic->challenge_none = pt_arena_sprintf(cf->arena, "Bearer realm=\"%s\"", ic->realm);
    ic->challenge_invalid = pt_arena_sprintf(cf->arena, "Bearer realm=\"%s\", "
                                             "error=\"invalid_token\"", ic->realm);
    size_t slen = 0;
    for (size_t i = 0; ic->scopes && ic->scopes[i]; i++)
        slen += strlen(ic->scopes[i]) + 1;
    char *scope = pt_arena_alloc(cf->arena, slen + 1);
    if (scope == NULL)
        return PT_ERROR;
    scope[0] = '\0';
    for (size_t i = 0; ic->scopes && ic->scopes[i]; i++) {
        if (!pt_introspect_quotable(ic->scopes[i]) || strchr(ic->scopes[i], ' ')
            || ic->scopes[i][0] == '\0') {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): introspect_scopes: \"%s\" is not "
                          "a scope token (RFC 6749 §3.3)", route->name, route->line,
                          ic->scopes[i]);
            return PT_ERROR;
        }
        if (i)
            strcat(scope, " ");
        strcat(scope, ic->scopes[i]);
    }
    ic->challenge_scope = pt_arena_sprintf(cf->arena, "Bearer realm=\"%s\", "
                                           "error=\"insufficient_scope\", scope=\"%s\"",
                                           ic->realm, scope);
    if (ic->challenge_none == NULL || ic->challenge_invalid == NULL
        || ic->challenge_scope == NULL)
        return PT_ERROR;
    return PT_OK;
}

static int pt_introspect_init_zone(struct pt_zone_s *zone, struct pt_zone_s *old, void *data)
{
    (void) data;
    return pt_introspect_cache_init(zone, old);
}

/* ---- per request ---- */

static bool pt_introspect_jwt_shaped(pt_str_t s)
{
    unsigned dots = 0;

    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char) s.p[i];
        if (c == '.')
            dots++;
        else if (!(pt_introspect_unreserved(c) && c != '~'))
            return false;
    }
    return dots == 2;
}

/* RFC 7662 §2.2: a 200 whose body introspect_parse.c accepts. */
static const char *pt_introspect_parse(pt_introspect_ctx_t *ctx, const pt_subrequest_t *sr)
{
    if (sr->status != 200)
        return "the introspection endpoint answered with an error status";
    return pt_introspect_answer_parse(sr->body.p, sr->body.len, pt_clock_wall_ms(),
                                      ctx->r->arena, &ctx->res);
}

static void pt_introspect_done(pt_subrequest_t *sr, int rc, void *data)
{
    pt_introspect_ctx_t *ctx = data;
    pt_request_t *r = ctx->r;
    const pt_introspect_conf_t *ic = pt_route_mod_conf(r->route, pt_introspect_module);

    ctx->sr = NULL;
    ctx->why = rc == PT_OK ? pt_introspect_parse(ctx, sr) : "the introspection endpoint "
               "cannot be reached";
    if (ctx->why) {
        pt_log(PT_LOG_ERR, "introspection at %s%s failed: %s%s%s", ic->upstream_name, ic->path,
               ctx->why, rc == PT_OK ? "" : ": ", rc == PT_OK ? "" : sr->error);
        ctx->state = PT_INTROSPECT_FAILED;
    } else {
        uint64_t now = pt_clock_wall_ms();
        uint64_t until = ctx->res.active ? now + (uint64_t) ic->cache_max
                                         : now + (uint64_t) ic->negative_ttl;
        if (ctx->res.active && ctx->res.exp > 0 && (uint64_t) ctx->res.exp * 1000 < until)
            until = (uint64_t) ctx->res.exp * 1000;
        pt_introspect_cache_put(pt_zone_conf_zone(ic->zone), ctx->key, &ctx->res, until, now);
        ctx->state = PT_INTROSPECT_ANSWERED;
    }
    pt_request_resume(r);
}

static int pt_introspect_call(pt_request_t *r, const pt_introspect_conf_t *ic,
                              pt_introspect_ctx_t *ctx, pt_str_t tok)
{
    static const char hint[] = "&token_type_hint=access_token";
    char *body = pt_arena_alloc(r->arena, 6 + 3 * tok.len + sizeof(hint));
    if (body == NULL)
        return 500;
    size_t n = 6;
    memcpy(body, "token=", 6);
    n += pt_introspect_form_encode(body + n, tok.p, tok.len);
    memcpy(body + n, hint, sizeof(hint) - 1);
    n += sizeof(hint) - 1;

    pt_str_t fields[6] = {
        PT_STR("Content-Type"), PT_STR("application/x-www-form-urlencoded"),
        PT_STR("Accept"), PT_STR("application/json"),
        PT_STR("Authorization"), ic->authorization,
    };
    pt_subrequest_spec_t spec = {
        .method = "POST",
        .path = { ic->path, strlen(ic->path) },
        .fields = fields,
        .nfields = ic->authorization.len ? 3 : 2,
        .body = { body, n },
        .max_body = PT_INTROSPECT_BODY_MAX,
        .timeout = ic->timeout,
        .idempotent = true,     /* asking twice changes nothing at the endpoint */
    };
    ctx->r = r;
    ctx->sr = pt_subrequest_start(ic->upstream, &spec, pt_introspect_done, ctx);
    if (ctx->sr == NULL)
        return 500;
    if (pt_subrequest_bind(ctx->sr, r) != PT_OK) {
        pt_subrequest_cancel(ctx->sr);
        ctx->sr = NULL;
        return 500;
    }
    ctx->state = PT_INTROSPECT_WAITING;
    return PT_AGAIN;
}

/* Whether every scope the route wants is in the space-separated list. */
static bool pt_introspect_has_scopes(const pt_introspect_conf_t *ic, pt_str_t have)
{
    for (size_t i = 0; ic->scopes && ic->scopes[i]; i++) {
        size_t wl = strlen(ic->scopes[i]), p = 0;
        bool found = false;
        while (p < have.len && !found) {
            while (p < have.len && have.p[p] == ' ')
                p++;
            size_t start = p;
            while (p < have.len && have.p[p] != ' ')
                p++;
            found = p - start == wl && memcmp(have.p + start, ic->scopes[i], wl) == 0;
        }
        if (!found)
            return false;
    }
    return true;
}

static int pt_introspect_decide(pt_request_t *r, const pt_introspect_conf_t *ic,
                                pt_introspect_ctx_t *ctx)
{
    const pt_introspect_result_t *res = &ctx->res;

    if (!res->active)
        return pt_auth_refuse(r, 401, ic->challenge_invalid, "introspect",
                              "the token is not active");
    if (res->exp > 0 && (uint64_t) res->exp * 1000 <= pt_clock_wall_ms())
        return pt_auth_refuse(r, 401, ic->challenge_invalid, "introspect",
                              "the token has expired");
    if (!pt_introspect_has_scopes(ic, res->scope))
        return pt_auth_refuse(r, 403, ic->challenge_scope, "introspect",
                              "the token lacks a required scope");
    pt_consumer_t *c = &ctx->consumer;
    c->id = res->sub.len ? res->sub : res->client_id;
    c->claims = res;
    pt_str_t *groups = pt_arena_alloc(r->arena, PT_INTROSPECT_GROUPS_MAX * sizeof(*groups));
    if (groups == NULL)
        return 500;
    size_t n = 0, p = 0;
    while (p < res->scope.len && n < PT_INTROSPECT_GROUPS_MAX) {
        while (p < res->scope.len && res->scope.p[p] == ' ')
            p++;
        size_t start = p;
        while (p < res->scope.len && res->scope.p[p] != ' ')
            p++;
        if (p > start)
            groups[n++] = (pt_str_t) { res->scope.p + start, p - start };
    }
    c->groups = groups;
    c->ngroups = n;
    pt_auth_strip_field(r, PT_STR("Authorization"));
    return pt_auth_accept(r, c, "introspect");
}

static int pt_introspect_access(pt_request_t *r)
{
    const pt_introspect_conf_t *ic = pt_route_mod_conf(r->route, pt_introspect_module);
    pt_introspect_ctx_t *ctx = r->ctx[pt_introspect_module.index];
    pt_str_t tok = PT_STR_NULL;

    if (ic->enabled != 1 || pt_auth_satisfied(r))
        return PT_DECLINED;
    if (ctx == NULL) {
        if ((ctx = pt_arena_calloc(r->arena, sizeof(*ctx))) == NULL)
            return 500;
        r->ctx[pt_introspect_module.index] = ctx;
    }
    switch (ctx->state) {
    case PT_INTROSPECT_WAITING:
        return PT_AGAIN;
    case PT_INTROSPECT_ANSWERED:
        return pt_introspect_decide(r, ic, ctx);
    case PT_INTROSPECT_FAILED:
        return pt_auth_refuse(r, (unsigned) ic->failure, ic->failure == 401
                              ? ic->challenge_none : NULL, "introspect", ctx->why);
    }
    pt_auth_bearer_t found = pt_auth_bearer(r, &tok);
    if (found == PT_AUTH_BEARER_NONE)
        return pt_auth_refuse(r, 401, ic->challenge_none, "introspect", "no bearer token");
    if (found == PT_AUTH_BEARER_MALFORMED)
        return pt_auth_refuse(r, 401, ic->challenge_invalid, "introspect",
                              "the Authorization field is not \"Bearer\" and one token");
    if (tok.len > PT_INTROSPECT_TOKEN_MAX)
        return pt_auth_refuse(r, 401, ic->challenge_invalid, "introspect",
                              "the token is too long");
    if (ic->skip_jwt == 1 && pt_introspect_jwt_shaped(tok))
        return pt_auth_refuse(r, 401, ic->challenge_invalid, "introspect",
                              "a JWT, left to the jwt check");
    /* The endpoint and the client are part of the key: routes that share a
     * zone but ask different servers never see each other's answers. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, ic->cache_scope.p, ic->cache_scope.len) != 1
        || EVP_DigestUpdate(md, tok.p, tok.len) != 1
        || EVP_DigestFinal_ex(md, ctx->key, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return 500;
    }
    EVP_MD_CTX_free(md);
    if (pt_introspect_cache_get(pt_zone_conf_zone(ic->zone), ctx->key, pt_clock_wall_ms(),
                                &ctx->res, r->arena)) {
        ctx->state = PT_INTROSPECT_ANSWERED;
        return pt_introspect_decide(r, ic, ctx);
    }
    return pt_introspect_call(r, ic, ctx, tok);
}

pt_module_t pt_introspect_module = {
    .name = "introspect",
    .directives = pt_introspect_directives,
    .route_conf_size = sizeof(pt_introspect_conf_t),
    .init_route = pt_introspect_init_route,
    .phase = {
        [PT_PHASE_ACCESS] = pt_introspect_access,
    },
    .zone_magic = PT_INTROSPECT_ZONE_MAGIC,
    .init_zone = pt_introspect_init_zone,
};
