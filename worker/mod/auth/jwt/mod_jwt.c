/*
 * mod_jwt.c: JWT bearer tokens (RFC 7519, RFC 7515, RFC 6750) verified in
 * the access phase with keys from config (PEM files, HMAC secrets), a
 * JWKS file or a JWKS URL (jwt_jwks.c). The strict parsing is
 * jwt_token.c, the signatures jwt_verify.c, the key sets jwt_keys.c.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/consumer.h"
#include "worker/core/module.h"
#include "worker/core/var.h"
#include "worker/http/request.h"
#include "worker/mod/auth/auth.h"
#include "worker/mod/auth/jwt/jwt_cache.h"
#include "worker/mod/auth/jwt/jwt_int.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

/* Most groups taken from the groups claim. */
#define PT_JWT_GROUPS_MAX   64
/* Keys tried for one token without a kid. */
#define PT_JWT_TRIES_MAX    8
/* Longest HMAC secret file. */
#define PT_JWT_SECRET_MAX   4096

/* What a verified token left for the variables and the consumer. */
typedef struct {
    json_t *payload;            /* freed with the request's arena */
    pt_consumer_t consumer;
    bool waited;                /* a JWKS fetch was waited for once already */
    bool verified;
} pt_jwt_ctx_t;

static int pt_jwt_keys_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                           const pt_directive_t *d);
static void pt_jwt_keys_dump(FILE *out, const void *field, const pt_directive_t *d,
                             int indent);
static pt_str_t pt_jwt_var_sub(pt_request_t *r, const void *data, char *buf);
static pt_str_t pt_jwt_var_claim(pt_request_t *r, const void *data, char *buf);
static const void *pt_jwt_var_claim_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                            pt_str_t rest);

static const pt_var_def_t pt_jwt_vars[] = {
    { "jwt_sub", pt_jwt_var_sub, NULL, NULL },
    { "jwt_claim_NAME", pt_jwt_var_claim, NULL, pt_jwt_var_claim_compile },
    PT_VAR_DEF_END
};

static const pt_conf_bounds_t pt_jwt_token_bounds = { 64, 1024 * 1024 };
static const pt_conf_bounds_t pt_jwt_cache_bounds = { 0, 65536 };

/* Per worker: the verified-token cache of each route that has one, and
 * SHA-256 fetched once (OpenSSL 3's one-shot SHA256() looks the algorithm
 * up on every call, which costs more than hashing a token). */
static pt_jwt_cache_t **pt_jwt_caches;
static size_t pt_jwt_ncaches;
static EVP_MD *pt_jwt_sha256;
static EVP_MD_CTX *pt_jwt_md_ctx;

#define PT_JWT_FIELD(f)     offsetof(pt_jwt_conf_t, f)

static const pt_directive_t pt_jwt_directives[] = {
    { "jwt", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_JWT_FIELD(enabled), "false", NULL, NULL, NULL,
      "require a JWT bearer token on the route" },
    { "jwt_keys", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_JWT_FIELD(keys), NULL, NULL,
      pt_jwt_keys_set, pt_jwt_keys_dump,
      "keys: ( { file | secret | secret_file = \"...\"; kid = \"...\"; algorithms = [...]; } )" },
    { "jwt_jwks_file", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_JWT_FIELD(jwks_file), NULL, NULL,
      NULL, NULL, "a JWK Set file (read at load and on reload)" },
    { "jwt_jwks_upstream", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_JWT_FIELD(jwks_upstream), NULL,
      NULL, NULL, NULL, "the upstream that serves the JWK Set" },
    { "jwt_jwks_path", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_JWT_FIELD(jwks_path),
      "\"/.well-known/jwks.json\"", NULL, NULL, NULL, "the JWK Set's path on that upstream" },
    { "jwt_jwks_refresh", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_JWT_FIELD(jwks_refresh),
      "\"5m\"", &pt_conf_positive, NULL, NULL, "how often the JWK Set is fetched" },
    { "jwt_jwks_min_refresh", PT_CONF_DURATION, PT_SCOPE_ROUTE,
      PT_JWT_FIELD(jwks_min_refresh), "\"30s\"", &pt_conf_positive, NULL, NULL,
      "at most one extra fetch per this period for unknown kids, and the retry delay" },
    { "jwt_jwks_timeout", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_JWT_FIELD(jwks_timeout),
      "\"5s\"", &pt_conf_positive, NULL, NULL, "a JWK Set fetch's time limit" },
    { "jwt_jwks_zone", PT_CONF_ZONE, PT_SCOPE_ROUTE, PT_JWT_FIELD(jwks_zone), NULL, NULL,
      NULL, NULL, "shared memory for the fetched JWK Set (\"name:size\")" },
    { "jwt_algorithms", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_JWT_FIELD(algorithms), NULL,
      NULL, NULL, NULL, "algorithms the route accepts (default: what its keys allow)" },
    { "jwt_leeway", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_JWT_FIELD(leeway), "\"60s\"", NULL,
      NULL, NULL, "clock skew allowed on exp, nbf and iat" },
    { "jwt_issuer", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_JWT_FIELD(issuers), NULL, NULL, NULL,
      NULL, "iss must be one of these" },
    { "jwt_audience", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_JWT_FIELD(audiences), NULL, NULL,
      NULL, NULL, "aud must name one of these" },
    { "jwt_require_claims", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_JWT_FIELD(require), NULL,
      NULL, NULL, NULL, "claims that must be present (\"name\") or equal (\"name=value\")" },
    { "jwt_consumer_claim", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_JWT_FIELD(consumer_claim),
      "\"sub\"", NULL, NULL, NULL, "the claim that names the consumer" },
    { "jwt_groups_claim", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_JWT_FIELD(groups_claim), "\"\"",
      NULL, NULL, NULL, "the claim with the consumer's groups (array, or string split on "
      "spaces)" },
    { "jwt_cookie", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_JWT_FIELD(cookie), "\"\"", NULL, NULL,
      NULL, "a cookie that may carry the token when there is no Authorization" },
    { "jwt_max_token_size", PT_CONF_SIZE, PT_SCOPE_ROUTE, PT_JWT_FIELD(max_token_size),
      "\"8k\"", &pt_jwt_token_bounds, NULL, NULL, "longer tokens are refused undecoded" },
    { "jwt_strip_credential", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_JWT_FIELD(strip), "true", NULL,
      NULL, NULL, "hide the Authorization field that carried the token from the upstream" },
    { "jwt_realm", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_JWT_FIELD(realm), "\"api\"", NULL,
      NULL, NULL, "the realm of the Bearer challenge" },
    { "jwt_cache_size", PT_CONF_UINT, PT_SCOPE_ROUTE, PT_JWT_FIELD(cache_size), "0",
      &pt_jwt_cache_bounds, NULL, NULL, "verified tokens a worker remembers (0: none)" },
    PT_DIRECTIVE_END
};

/* ---- jwt_keys: a list of groups ---- */

static int pt_jwt_keys_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                           const pt_directive_t *d)
{
    (void) d;
    if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
        pt_conf_error(cf, s, "jwt_keys must be a list of groups: ( { file = \"k.pem\"; } )");
        return PT_ERROR;
    }
    unsigned n = (unsigned) config_setting_length(s);
    pt_jwt_keyspecs_t *ks = pt_arena_calloc(cf->arena, sizeof(*ks));
    if (ks == NULL || (n && (ks->v = pt_arena_calloc(cf->arena, n * sizeof(*ks->v))) == NULL))
        return PT_ERROR;
    for (unsigned i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(s, i);
        pt_jwt_keyspec_t *k = &ks->v[i];
        if (!config_setting_is_group(g)) {
            pt_conf_error(cf, g, "a jwt_keys entry must be a group { ... }");
            return PT_ERROR;
        }
        k->line = (unsigned) config_setting_source_line(g);
        unsigned sources = 0;
        for (unsigned j = 0; j < (unsigned) config_setting_length(g); j++) {
            const config_setting_t *m = config_setting_get_elem(g, j);
            const char *name = config_setting_name(m);
            const char **slot = strcmp(name, "file") == 0 ? &k->file
                              : strcmp(name, "secret") == 0 ? &k->secret
                              : strcmp(name, "secret_file") == 0 ? &k->secret_file
                              : strcmp(name, "kid") == 0 ? &k->kid : NULL;
            if (slot) {
                if ((*slot = pt_conf_get_string(cf, m)) == NULL)
                    return PT_ERROR;
                sources += slot != &k->kid;
            } else if (strcmp(name, "algorithms") == 0) {
                size_t na = 0;
                if ((k->algorithms = pt_conf_get_strings(cf, m, &na)) == NULL)
                    return PT_ERROR;
            } else {
                pt_conf_error(cf, m, "unknown jwt_keys member \"%s\" (file, secret, "
                              "secret_file, kid, algorithms)", name);
                return PT_ERROR;
            }
        }
        if (sources != 1) {
            pt_conf_error(cf, g, "a jwt_keys entry needs one of file, secret and secret_file");
            return PT_ERROR;
        }
        if (k->file)
            k->file = pt_conf_path(cf, k->file);
        if (k->secret_file)
            k->secret_file = pt_conf_path(cf, k->secret_file);
        if (k->secret) {
            char buf[512];
            /* A secret in the config travels wherever the config does. */
            pt_log(PT_LOG_WARN, "%s:%u: jwt_keys: an HMAC secret is written in the config; "
                   "prefer secret_file", pt_conf_file(cf, g, buf, sizeof(buf)), k->line);
        }
    }
    ks->n = n;
    *(pt_jwt_keyspecs_t **) field = ks;
    return PT_OK;
}

static void pt_jwt_keys_dump(FILE *out, const void *field, const pt_directive_t *d,
                             int indent)
{
    const pt_jwt_keyspecs_t *ks = *(pt_jwt_keyspecs_t *const *) field;

    (void) indent;
    fprintf(out, "%s = (", d->name);
    for (size_t i = 0; ks && i < ks->n; i++) {
        const pt_jwt_keyspec_t *k = &ks->v[i];
        fputs(i ? ", { " : " { ", out);
        if (k->file) {
            fputs("file = ", out);
            pt_conf_print_string(out, k->file);
        } else if (k->secret_file) {
            fputs("secret_file = ", out);
            pt_conf_print_string(out, k->secret_file);
        } else {
            fputs("secret = \"(hidden)\"", out);
        }
        fputs("; ", out);
        if (k->kid) {
            fputs("kid = ", out);
            pt_conf_print_string(out, k->kid);
            fputs("; ", out);
        }
        if (k->algorithms) {
            fputs("algorithms = [ ", out);
            for (size_t j = 0; k->algorithms[j]; j++) {
                if (j)
                    fputs(", ", out);
                pt_conf_print_string(out, k->algorithms[j]);
            }
            fputs(" ]; ", out);
        }
        fputs("}", out);
    }
    fputs(" );\n", out);
}

/* ---- load time ---- */

static void pt_jwt_keyset_free(void *data)
{
    pt_jwt_keyset_t *ks = data;

    pt_jwt_keys_clear(ks);
    free(ks);
}

static int pt_jwt_read_file(const char *path, char **out, size_t *len, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;

    if (fd < 0)
        return PT_ERROR;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t) sb.st_size > max) {
        close(fd);
        errno = EFBIG;
        return PT_ERROR;
    }
    char *buf = malloc((size_t) sb.st_size + 1);
    ssize_t n = buf ? read(fd, buf, (size_t) sb.st_size) : -1;
    close(fd);
    if (n != sb.st_size) {
        free(buf);
        errno = EIO;
        return PT_ERROR;
    }
    buf[n] = '\0';
    *out = buf;
    *len = (size_t) n;
    return PT_OK;
}

typedef struct {
    pt_conf_ctx_t *cf;
    const char *path;
} pt_jwt_skip_ctx_t;

static void pt_jwt_skip_load(const char *why, const char *kid, void *data)
{
    const pt_jwt_skip_ctx_t *sc = data;

    pt_log(PT_LOG_WARN, "%s: key \"%s\" skipped: %s", sc->path, kid ? kid : "(no kid)", why);
}

static int pt_jwt_load_keys(pt_conf_ctx_t *cf, pt_route_t *route, pt_jwt_conf_t *jc)
{
    char err[512];
    const char *bad = NULL;

    pt_jwt_keyset_t *ks = calloc(1, sizeof(*ks));
    if (ks == NULL || pt_arena_cleanup_add(cf->arena, pt_jwt_keyset_free, ks) != PT_OK) {
        free(ks);
        return PT_ERROR;
    }
    jc->static_keys = ks;
    for (size_t i = 0; jc->keys && i < jc->keys->n; i++) {
        const pt_jwt_keyspec_t *k = &jc->keys->v[i];
        uint32_t algs = 0;
        if (k->algorithms && (algs = pt_jwt_algs_parse(k->algorithms, &bad)) == 0) {
            pt_conf_error(cf, NULL, "route \"%s\": jwt_keys (line %u): unknown algorithm "
                          "\"%s\"", route->name, k->line, bad);
            return PT_ERROR;
        }
        int rc;
        if (k->file) {
            rc = pt_jwt_keys_add_pem(ks, k->file, k->kid, algs, err, sizeof(err));
        } else if (k->secret) {
            rc = pt_jwt_keys_add_secret(ks, (const unsigned char *) k->secret,
                                        strlen(k->secret), k->kid, algs, err, sizeof(err));
        } else {
            char *buf = NULL;
            size_t len = 0;
            if (pt_jwt_read_file(k->secret_file, &buf, &len, PT_JWT_SECRET_MAX) != PT_OK) {
                pt_conf_error(cf, NULL, "route \"%s\": jwt_keys (line %u): cannot read "
                              "\"%s\": %s", route->name, k->line, k->secret_file,
                              strerror(errno));
                return PT_ERROR;
            }
            /* A secret file ends with at most one newline, not part of it. */
            if (len && buf[len - 1] == '\n')
                len--;
            rc = pt_jwt_keys_add_secret(ks, (const unsigned char *) buf, len, k->kid, algs,
                                        err, sizeof(err));
            memset(buf, 0, len);
            free(buf);
        }
        if (rc != PT_OK) {
            pt_conf_error(cf, NULL, "route \"%s\": jwt_keys (line %u): %s", route->name,
                          k->line, err);
            return PT_ERROR;
        }
    }
    if (jc->jwks_file) {
        char *doc = NULL;
        size_t len = 0;
        const char *path = pt_conf_path(cf, jc->jwks_file);
        pt_jwt_skip_ctx_t sc = { cf, path };
        if (pt_jwt_read_file(path, &doc, &len, 1024 * 1024) != PT_OK) {
            pt_conf_error(cf, NULL, "route \"%s\": jwt_jwks_file \"%s\": %s", route->name,
                          path, strerror(errno));
            return PT_ERROR;
        }
        int n = pt_jwt_keys_add_jwks(ks, doc, len, 0, pt_jwt_skip_load, &sc, err, sizeof(err));
        free(doc);
        if (n <= 0) {
            pt_conf_error(cf, NULL, "route \"%s\": jwt_jwks_file \"%s\": %s", route->name,
                          path, n < 0 ? err : "no usable key");
            return PT_ERROR;
        }
    }
    return PT_OK;
}

/* "name" or "name=value" of jwt_require_claims. */
static int pt_jwt_compile_required(pt_conf_ctx_t *cf, pt_jwt_conf_t *jc)
{
    size_t n = pt_conf_strings_count(jc->require);
    pt_jwt_required_t *rq = n ? pt_arena_calloc(cf->arena, n * sizeof(*rq)) : NULL;

    if (n && rq == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(jc->require[i], '=');
        rq[i].name = eq ? pt_arena_strndup(cf->arena, jc->require[i],
                                           (size_t) (eq - jc->require[i])) : jc->require[i];
        rq[i].value = eq ? eq + 1 : NULL;
        if (rq[i].name == NULL)
            return PT_ERROR;
    }
    jc->rules.required = rq;
    jc->rules.nrequired = n;
    return PT_OK;
}

static bool pt_jwt_realm_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char) *s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static int pt_jwt_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                             void *rconf, const void *dconf)
{
    pt_jwt_conf_t *jc = rconf;
    const char *bad = NULL;

    (void) dconf;
    jc->route_index = route->index;
    if (jc->enabled != 1) {
        pt_module_phase_skip(route, &pt_jwt_module);
        return PT_OK;
    }
    if (jc->keys == NULL && jc->jwks_file == NULL && jc->jwks_upstream == NULL) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): jwt needs jwt_keys, jwt_jwks_file or "
                      "jwt_jwks_upstream", route->name, route->line);
        return PT_ERROR;
    }
    if (!pt_jwt_realm_ok(jc->realm)) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): jwt_realm may not hold quotes, "
                      "backslashes or control characters", route->name, route->line);
        return PT_ERROR;
    }
    if (jc->algorithms && (jc->allowed = pt_jwt_algs_parse(jc->algorithms, &bad)) == 0) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): jwt_algorithms: unknown algorithm "
                      "\"%s\"", route->name, route->line, bad);
        return PT_ERROR;
    }
    if (jc->algorithms == NULL)
        jc->allowed = (UINT32_C(1) << PT_JWT_ALG_MAX) - 1;
    if (pt_jwt_load_keys(cf, route, jc) != PT_OK)
        return PT_ERROR;
    if (pt_jwt_jwks_conf(cf, conf, route, jc) != PT_OK)
        return PT_ERROR;
    if (pt_jwt_compile_required(cf, jc) != PT_OK)
        return PT_ERROR;
    jc->rules.leeway = jc->leeway / 1000;
    jc->rules.issuers = jc->issuers;
    jc->rules.audiences = jc->audiences;
    jc->challenge_none = pt_arena_sprintf(cf->arena, "Bearer realm=\"%s\"", jc->realm);
    jc->challenge_invalid = pt_arena_sprintf(cf->arena, "Bearer realm=\"%s\", "
                                             "error=\"invalid_token\"", jc->realm);
    if (jc->challenge_none == NULL || jc->challenge_invalid == NULL)
        return PT_ERROR;
    return PT_OK;
}

static int pt_jwt_init_worker(const pt_conf_t *conf)
{
    pt_jwt_caches = calloc(conf->nroutes ? conf->nroutes : 1, sizeof(*pt_jwt_caches));
    if (pt_jwt_caches == NULL)
        return PT_ERROR;
    pt_jwt_ncaches = conf->nroutes;
    if ((pt_jwt_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL
        || (pt_jwt_md_ctx = EVP_MD_CTX_new()) == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < conf->nroutes; i++) {
        const pt_jwt_conf_t *jc = pt_route_mod_conf(&conf->routes[i], pt_jwt_module);
        if (jc && jc->enabled == 1 && jc->cache_size > 0
            && (pt_jwt_caches[i] = pt_jwt_cache_new((size_t) jc->cache_size)) == NULL)
            return PT_ERROR;
    }
    return pt_jwt_jwks_init_worker(conf);
}

static void pt_jwt_exit_worker(const pt_conf_t *conf)
{
    (void) conf;
    pt_jwt_jwks_exit_worker();
    for (size_t i = 0; i < pt_jwt_ncaches; i++)
        pt_jwt_cache_free(pt_jwt_caches[i]);
    free(pt_jwt_caches);
    pt_jwt_caches = NULL;
    pt_jwt_ncaches = 0;
    EVP_MD_CTX_free(pt_jwt_md_ctx);
    EVP_MD_free(pt_jwt_sha256);
    pt_jwt_md_ctx = NULL;
    pt_jwt_sha256 = NULL;
}

/* ---- per request ---- */

enum { PT_JWT_NONE = 0, PT_JWT_FOUND, PT_JWT_MALFORMED };

/* The bearer token of r: from Authorization (pt_auth_bearer), else from
 * the route's cookie. */
static int pt_jwt_find_token(pt_request_t *r, const pt_jwt_conf_t *jc, pt_str_t *tok,
                             bool *from_header)
{
    switch (pt_auth_bearer(r, tok)) {
    case PT_AUTH_BEARER_FOUND:
        *from_header = true;
        return PT_JWT_FOUND;
    case PT_AUTH_BEARER_MALFORMED:
        return PT_JWT_MALFORMED;
    case PT_AUTH_BEARER_NONE:
        break;
    }
    if (jc->cookie[0] == '\0')
        return PT_JWT_NONE;
    size_t clen = strlen(jc->cookie);
    for (unsigned i = 0; i < r->head.nfields; i++) {
        if (r->head.fields[i].id != PT_HDR_COOKIE)
            continue;
        /* RFC 6265 §4.2.1: cookie-pair *( ";" SP cookie-pair ) */
        pt_str_t v = r->head.fields[i].value;
        size_t p = 0;
        while (p < v.len) {
            while (p < v.len && (v.p[p] == ' ' || v.p[p] == ';'))
                p++;
            size_t start = p;
            while (p < v.len && v.p[p] != ';')
                p++;
            pt_str_t pair = { v.p + start, p - start };
            if (pair.len > clen && pair.p[clen] == '=' && memcmp(pair.p, jc->cookie, clen) == 0) {
                *tok = (pt_str_t) { pair.p + clen + 1, pair.len - clen - 1 };
                /* cookie-value may be wrapped in DQUOTEs (RFC 6265 §4.1.1). */
                if (tok->len >= 2 && tok->p[0] == '"' && tok->p[tok->len - 1] == '"')
                    *tok = (pt_str_t) { tok->p + 1, tok->len - 2 };
                *from_header = false;
                return tok->len ? PT_JWT_FOUND : PT_JWT_MALFORMED;
            }
        }
    }
    return PT_JWT_NONE;
}

static void pt_jwt_payload_free(void *data)
{
    json_decref(data);
}

/* The consumer's name and groups from the verified payload. */
static int pt_jwt_consumer(pt_request_t *r, const pt_jwt_conf_t *jc, pt_jwt_ctx_t *ctx)
{
    const json_t *p = ctx->payload;
    const json_t *name = json_object_get(p, jc->consumer_claim);
    pt_consumer_t *c = &ctx->consumer;

    if (json_is_string(name))
        c->id = (pt_str_t) { json_string_value(name), json_string_length(name) };
    c->claims = p;
    if (jc->groups_claim[0] == '\0')
        return PT_OK;
    const json_t *g = json_object_get(p, jc->groups_claim);
    pt_str_t *groups = pt_arena_alloc(r->arena, PT_JWT_GROUPS_MAX * sizeof(*groups));
    size_t n = 0;
    if (groups == NULL)
        return PT_ERROR;
    if (json_is_string(g)) {
        pt_str_t s = { json_string_value(g), json_string_length(g) };
        size_t i = 0;
        while (i < s.len && n < PT_JWT_GROUPS_MAX) {
            while (i < s.len && s.p[i] == ' ')
                i++;
            size_t start = i;
            while (i < s.len && s.p[i] != ' ')
                i++;
            if (i > start)
                groups[n++] = (pt_str_t) { s.p + start, i - start };
        }
    } else if (json_is_array(g)) {
        size_t i;
        const json_t *e;
        json_array_foreach(g, i, e)
            if (json_is_string(e) && json_string_length(e) && n < PT_JWT_GROUPS_MAX)
                groups[n++] = (pt_str_t) { json_string_value(e), json_string_length(e) };
    }
    c->groups = groups;
    c->ngroups = n;
    return PT_OK;
}

/* A verified payload (a reference the request now owns) makes the consumer. */
static int pt_jwt_accept(pt_request_t *r, const pt_jwt_conf_t *jc, pt_jwt_ctx_t *ctx,
                         json_t *payload, bool from_header)
{
    if (pt_arena_cleanup_add(r->arena, pt_jwt_payload_free, payload) != PT_OK) {
        json_decref(payload);
        return 500;
    }
    ctx->payload = payload;
    ctx->verified = true;
    if (pt_jwt_consumer(r, jc, ctx) != PT_OK)
        return 500;
    if (from_header && jc->strip == 1)
        pt_auth_strip_field(r, PT_STR("Authorization"));
    return pt_auth_accept(r, &ctx->consumer, "jwt");
}

static int pt_jwt_refuse(pt_request_t *r, const pt_jwt_conf_t *jc, const char *why)
{
    return pt_auth_refuse(r, 401, jc->challenge_invalid, "jwt", why);
}

static int pt_jwt_access(pt_request_t *r)
{
    const pt_jwt_conf_t *jc = pt_route_mod_conf(r->route, pt_jwt_module);
    pt_str_t tok = PT_STR_NULL;
    bool from_header = false;
    const char *why = NULL;

    if (jc->enabled != 1 || pt_auth_satisfied(r))
        return PT_DECLINED;
    pt_jwt_ctx_t *ctx = r->ctx[pt_jwt_module.index];
    if (ctx == NULL) {
        if ((ctx = pt_arena_calloc(r->arena, sizeof(*ctx))) == NULL)
            return 500;
        r->ctx[pt_jwt_module.index] = ctx;
    }
    switch (pt_jwt_find_token(r, jc, &tok, &from_header)) {
    case PT_JWT_NONE:
        return pt_auth_refuse(r, 401, jc->challenge_none, "jwt", "no bearer token");
    case PT_JWT_MALFORMED:
        return pt_auth_refuse(r, 401, jc->challenge_invalid, "jwt",
                              "the Authorization field is not \"Bearer\" and one token");
    }
    if (tok.len > (size_t) jc->max_token_size)
        return pt_jwt_refuse(r, jc, "the token is larger than jwt_max_token_size");

    pt_jwt_jwks_t *jw = pt_jwt_jwks_of(jc->route_index);
    pt_jwt_cache_t *cache = jc->route_index < pt_jwt_ncaches ? pt_jwt_caches[jc->route_index]
                                                             : NULL;
    unsigned char key[SHA256_DIGEST_LENGTH];
    uint64_t gen = jw ? pt_jwt_jwks_generation(jw) : 0;
    if (cache && (EVP_DigestInit_ex2(pt_jwt_md_ctx, pt_jwt_sha256, NULL) != 1
                  || EVP_DigestUpdate(pt_jwt_md_ctx, tok.p, tok.len) != 1
                  || EVP_DigestFinal_ex(pt_jwt_md_ctx, key, NULL) != 1))
        cache = NULL;
    if (cache) {
        json_t *payload = pt_jwt_cache_get(cache, key, pt_clock_wall_ms(), gen);
        if (payload)
            return pt_jwt_accept(r, jc, ctx, payload, from_header);
    }

    unsigned char *buf = pt_arena_alloc(r->arena, tok.len);
    pt_jwt_token_t t;
    if (buf == NULL)
        return 500;
    if (pt_jwt_token_parse(&t, tok.p, tok.len, buf, &why) != PT_OK)
        return pt_jwt_refuse(r, jc, why);
    if (!(jc->allowed & PT_JWT_ALG_BIT(t.alg))) {
        pt_jwt_token_free(&t);
        return pt_jwt_refuse(r, jc, "the token's alg is not allowed on this route");
    }

    const pt_jwt_key_t *cand[PT_JWT_TRIES_MAX];
    bool known = false, known_jwks = false;
    size_t n = pt_jwt_keys_find(jc->static_keys, t.alg, t.kid, cand, PT_JWT_TRIES_MAX, &known);
    if (jw && n < PT_JWT_TRIES_MAX) {
        n += pt_jwt_keys_find(pt_jwt_jwks_keys(jw), t.alg, t.kid, cand + n,
                              PT_JWT_TRIES_MAX - n, &known_jwks);
        known |= known_jwks;
    }
    if (n == 0 || (!known && t.kid.p)) {
        /* A kid no key has may be a key the issuer rotated in; with no
         * set fetched yet (a worker just started), any token waits. */
        if (jw && !ctx->waited && ((t.kid.p && !known) || pt_jwt_jwks_generation(jw) == 0)) {
            ctx->waited = true;
            if (pt_jwt_jwks_unknown_kid(jw, r) == PT_AGAIN) {
                pt_jwt_token_free(&t);
                return PT_AGAIN;
            }
        }
        if (n == 0) {
            pt_jwt_token_free(&t);
            return pt_jwt_refuse(r, jc, t.kid.p && !known ? "no key has the token's kid"
                                                         : "no key for the token's alg");
        }
    }
    bool ok = false;
    for (size_t i = 0; i < n && !ok; i++)
        ok = pt_jwt_verify(cand[i], t.alg, (const unsigned char *) t.signing_input.p,
                           t.signing_input.len, t.sig, t.sig_len);
    if (!ok) {
        pt_jwt_token_free(&t);
        return pt_jwt_refuse(r, jc, "the signature does not verify");
    }
    int64_t now = (int64_t) (pt_clock_wall_ms() / 1000);
    if (pt_jwt_claims_check(t.payload, &jc->rules, now, &why) != PT_OK) {
        pt_jwt_token_free(&t);
        return pt_jwt_refuse(r, jc, why);
    }
    if (cache) {
        /* Until the token would be refused as expired, and not for long. */
        uint64_t now_ms = pt_clock_wall_ms(), until = now_ms + PT_JWT_CACHE_TTL_MAX;
        const json_t *exp = json_object_get(t.payload, "exp");
        if (exp) {
            double e = (json_number_value(exp) + (double) jc->rules.leeway) * 1000.0;
            if (e < (double) until)
                until = e > 0 ? (uint64_t) e : 0;
        }
        pt_jwt_cache_put(cache, key, t.payload, until, now_ms, gen);
    }
    json_t *payload = json_incref(t.payload);
    pt_jwt_token_free(&t);
    return pt_jwt_accept(r, jc, ctx, payload, from_header);
}

/* ---- variables ---- */

static const json_t *pt_jwt_payload(pt_request_t *r)
{
    const pt_jwt_ctx_t *ctx = r->route ? r->ctx[pt_jwt_module.index] : NULL;

    return ctx && ctx->verified ? ctx->payload : NULL;
}

static pt_str_t pt_jwt_var_string(const json_t *v, char *buf)
{
    if (json_is_string(v))
        return (pt_str_t) { json_string_value(v), json_string_length(v) };
    if (json_is_integer(v)) {
        int n = snprintf(buf, PT_VAR_BUF, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return (pt_str_t) { buf, n > 0 ? (size_t) n : 0 };
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? PT_STR("true") : PT_STR("false");
    return PT_STR_NULL;
}

static pt_str_t pt_jwt_var_sub(pt_request_t *r, const void *data, char *buf)
{
    (void) data;
    return pt_jwt_var_string(json_object_get(pt_jwt_payload(r), "sub"), buf);
}

static pt_str_t pt_jwt_var_claim(pt_request_t *r, const void *data, char *buf)
{
    return pt_jwt_var_string(json_object_get(pt_jwt_payload(r), data), buf);
}

static const void *pt_jwt_var_claim_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                            pt_str_t rest)
{
    (void) s;
    return pt_arena_strndup(cf->arena, rest.p, rest.len);
}

pt_module_t pt_jwt_module = {
    .name = "jwt",
    .directives = pt_jwt_directives,
    .route_conf_size = sizeof(pt_jwt_conf_t),
    .init_route = pt_jwt_init_route,
    .init_worker = pt_jwt_init_worker,
    .exit_worker = pt_jwt_exit_worker,
    .retire = pt_jwt_jwks_retire,
    .phase = {
        [PT_PHASE_ACCESS] = pt_jwt_access,
    },
    .vars = pt_jwt_vars,
    .zone_magic = PT_JWT_ZONE_MAGIC,
    .init_zone = pt_jwt_jwks_init_zone,
};
