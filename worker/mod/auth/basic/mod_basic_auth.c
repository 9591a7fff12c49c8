/*
 * mod_basic_auth.c: HTTP basic authentication (RFC 7617), access phase.
 *
 *   routes = ( { basic_auth = "/etc/portico/htpasswd"; basic_auth_realm = "staff"; ... } );
 *
 * The file (htpasswd.h: bcrypt, SHA-crypt or yescrypt hashes only) is read
 * with the config, so on every reload and by -t. The user becomes the
 * consumer, with the groups and plan of the declared consumer of that
 * name, if any; the Authorization field is not forwarded. Passwords are checked with crypt_r(); as bcrypt is slow
 * by design (tens of ms), each worker remembers the credentials it
 * verified for PT_BASIC_CACHE_TTL (keyed by a SHA-256 of the user, the
 * password and the stored hash, so a changed entry is checked anew), in
 * a table of PT_BASIC_CACHE_SLOTS entries where a new one replaces the
 * older in its slot. Failures are never remembered.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/mod/auth/auth.h"
#include "worker/mod/auth/consumers.h"
#include "worker/mod/auth/basic/htpasswd.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#define PT_BASIC_USERS_MAX      100000
#define PT_BASIC_LINE_MAX       1024
#define PT_BASIC_CRED_MAX       1024        /* decoded user:password */
#define PT_BASIC_CACHE_SLOTS    1024        /* a power of 2 */
#define PT_BASIC_CACHE_TTL      60000       /* ms */

typedef struct {
    pt_str_t user;
    const char *hash;           /* NUL-terminated, for crypt_r */
    const pt_consumer_t *consumer;
    unsigned line;
} pt_basic_user_t;

typedef struct {
    const char *file;           /* STRING, UNSET NULL; "": off */
    const char *realm;          /* STRING */
    /* compiled by init_route */
    pt_basic_user_t *users;     /* sorted by name */
    size_t nusers;
    const char *challenge;
} pt_basic_conf_t;

typedef struct {
    uint8_t key[SHA256_DIGEST_LENGTH];
    pt_msec_t expires;          /* 0: empty */
} pt_basic_cache_t;

static const pt_directive_t pt_basic_directives[] = {
    { "basic_auth", PT_CONF_STRING, PT_SCOPE_ROUTE, offsetof(pt_basic_conf_t, file), NULL,
      NULL, NULL, NULL, "htpasswd file of the users basic authentication accepts" },
    { "basic_auth_realm", PT_CONF_STRING, PT_SCOPE_ROUTE, offsetof(pt_basic_conf_t, realm),
      "\"portico\"", NULL, NULL, NULL, "the realm of the Basic challenge" },
    PT_DIRECTIVE_END
};

pt_module_t pt_basic_auth_module;

static struct crypt_data *pt_basic_crypt;
static pt_basic_cache_t *pt_basic_cache;

/* ---- load time ---------------------------------------------------------- */

static int pt_basic_user_cmp(const void *a, const void *b)
{
    const pt_basic_user_t *x = a, *y = b;
    int c = memcmp(x->user.p, y->user.p, pt_min(x->user.len, y->user.len));

    return c ? c : (x->user.len > y->user.len) - (x->user.len < y->user.len);
}

static int pt_basic_read(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_basic_conf_t *bc,
                         const char *path)
{
    FILE *f = fopen(path, "re");
    char line[PT_BASIC_LINE_MAX + 2];
    unsigned lineno = 0;
    size_t cap = 64;
    int rc = PT_OK;

    if (f == NULL) {
        pt_conf_error(cf, NULL, "basic_auth: cannot open \"%s\": %s", path, strerror(errno));
        return PT_ERROR;
    }
    bc->users = pt_arena_alloc(cf->arena, cap * sizeof(*bc->users));
    while (bc->users && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') {
            line[--n] = '\0';
        } else if (!feof(f)) {
            pt_conf_error_at(cf, path, lineno, "line longer than %d bytes", PT_BASIC_LINE_MAX);
            rc = PT_ERROR;
            break;
        }
        pt_str_t user, hash;
        const char *why = NULL;
        int k = pt_htpasswd_line((pt_str_t) { line, n }, &user, &hash, &why);
        if (k == PT_HTPASSWD_SKIP)
            continue;
        if (k == PT_HTPASSWD_BAD) {
            /* why never quotes the hash: the line holds a secret. */
            pt_conf_error_at(cf, path, lineno, "%s", why);
            rc = PT_ERROR;
            continue;
        }
        if (bc->nusers == PT_BASIC_USERS_MAX) {
            pt_conf_error_at(cf, path, lineno, "more than %d users", PT_BASIC_USERS_MAX);
            rc = PT_ERROR;
            break;
        }
        if (bc->nusers == cap) {
            pt_basic_user_t *nu = pt_arena_alloc(cf->arena, 2 * cap * sizeof(*nu));
            if (nu == NULL) {
                rc = PT_ERROR;
                break;
            }
            memcpy(nu, bc->users, cap * sizeof(*nu));
            bc->users = nu;
            cap *= 2;
        }
        pt_basic_user_t *u = &bc->users[bc->nusers];
        char *name = pt_arena_strndup(cf->arena, user.p, user.len);
        u->hash = pt_arena_strndup(cf->arena, hash.p, hash.len);
        if (name == NULL || u->hash == NULL
            || (u->consumer = pt_consumers_get(cf, conf, (pt_str_t) { name, user.len })) == NULL) {
            rc = PT_ERROR;
            break;
        }
        u->user = (pt_str_t) { name, user.len };
        u->line = lineno;
        bc->nusers++;
    }
    fclose(f);
    if (bc->users == NULL)
        return PT_ERROR;
    if (rc != PT_OK)
        return rc;
    qsort(bc->users, bc->nusers, sizeof(*bc->users), pt_basic_user_cmp);
    for (size_t i = 1; i < bc->nusers; i++) {
        if (pt_basic_user_cmp(&bc->users[i - 1], &bc->users[i]) == 0) {
            const pt_basic_user_t *a = &bc->users[i - 1], *b = &bc->users[i];
            pt_conf_error_at(cf, path, pt_max(a->line, b->line), "user \"%.*s\" is already "
                             "listed at line %u", (int) b->user.len, b->user.p,
                             pt_min(a->line, b->line));
            rc = PT_ERROR;
        }
    }
    return rc;
}

static int pt_basic_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    pt_basic_conf_t *bc = rconf;

    if (bc->file == NULL || bc->file[0] == '\0') {
        pt_module_phase_skip(route, &pt_basic_auth_module);
        return PT_OK;
    }
    for (const char *p = bc->realm; *p; p++) {
        if ((unsigned char) *p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): \"basic_auth_realm\" may not hold "
                          "quotes, backslashes or control characters", route->name, route->line);
            return PT_ERROR;
        }
    }
    bc->challenge = pt_arena_sprintf(cf->arena, "Basic realm=\"%s\", charset=\"UTF-8\"",
                                     bc->realm);
    const char *path = pt_conf_path(cf, bc->file);
    if (bc->challenge == NULL || path == NULL)
        return PT_ERROR;
    return pt_basic_read(cf, conf, bc, path);
}

static int pt_basic_init_worker(const pt_conf_t *conf)
{
    pt_basic_crypt = calloc(1, sizeof(*pt_basic_crypt));
    pt_basic_cache = calloc(PT_BASIC_CACHE_SLOTS, sizeof(*pt_basic_cache));
    return pt_basic_crypt && pt_basic_cache ? PT_OK : PT_ERROR;
}

static void pt_basic_exit_worker(const pt_conf_t *conf)
{
    free(pt_basic_crypt);
    free(pt_basic_cache);
    pt_basic_crypt = NULL;
    pt_basic_cache = NULL;
}

/* ---- request time ------------------------------------------------------- */

static int pt_basic_b64(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
           : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict base64 (RFC 4648 §4, padded) of in into out (room for
 * in.len * 3 / 4); the decoded length, or -1. */
static ssize_t pt_basic_decode(pt_str_t in, char *out)
{
    size_t n = 0;

    if (in.len == 0 || in.len % 4)
        return -1;
    for (size_t i = 0; i < in.len; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char c = (unsigned char) in.p[i + k];
            if (c == '=' && i + 4 == in.len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = pt_basic_b64(c)) < 0) {
                return -1;
            }
        }
        uint32_t w = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 | (uint32_t) v[2] << 6
                     | (uint32_t) v[3];
        out[n++] = (char) (w >> 16);
        if (pad < 2)
            out[n++] = (char) (w >> 8);
        if (pad < 1)
            out[n++] = (char) w;
    }
    return (ssize_t) n;
}

static const pt_basic_user_t *pt_basic_find(const pt_basic_conf_t *bc, pt_str_t user)
{
    pt_basic_user_t key = { .user = user };

    return bsearch(&key, bc->users, bc->nusers, sizeof(key), pt_basic_user_cmp);
}

static void pt_basic_cache_key(const pt_basic_user_t *u, pt_str_t pass, uint8_t *key)
{
    size_t hl = strlen(u->hash);
    char buf[PT_HTPASSWD_USER_MAX + PT_BASIC_CRED_MAX + PT_HTPASSWD_HASH_MAX + 2];
    size_t n = 0;
    memcpy(buf + n, u->user.p, u->user.len);
    n += u->user.len;
    buf[n++] = '\0';
    memcpy(buf + n, pass.p, pass.len);
    n += pass.len;
    buf[n++] = '\0';
    memcpy(buf + n, u->hash, hl);
    n += hl;
    SHA256((const unsigned char *) buf, n, key);
    OPENSSL_cleanse(buf, n);
}

static bool pt_basic_verify(const pt_basic_user_t *u, pt_str_t pass)
{
    uint8_t key[SHA256_DIGEST_LENGTH];
    char pw[PT_BASIC_CRED_MAX + 1];

    pt_basic_cache_key(u, pass, key);
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    pt_basic_cache_t *slot = &pt_basic_cache[h & (PT_BASIC_CACHE_SLOTS - 1)];
    if (slot->expires > pt_clock_now && CRYPTO_memcmp(slot->key, key, sizeof(key)) == 0)
        return true;

    /* crypt_r wants a C string: a password with a NUL in it cannot match. */
    if (memchr(pass.p, '\0', pass.len))
        return false;
    memcpy(pw, pass.p, pass.len);
    pw[pass.len] = '\0';
    const char *out = crypt_r(pw, u->hash, pt_basic_crypt);
    OPENSSL_cleanse(pw, pass.len);
    size_t hl = strlen(u->hash);
    bool ok = out && out[0] != '*' && strlen(out) == hl && CRYPTO_memcmp(out, u->hash, hl) == 0;
    if (ok) {
        memcpy(slot->key, key, sizeof(key));
        slot->expires = pt_clock_now + PT_BASIC_CACHE_TTL;
    }
    return ok;
}

static int pt_basic_access(pt_request_t *r)
{
    const pt_basic_conf_t *bc = pt_route_mod_conf(r->route, pt_basic_auth_module);
    const pt_http_field_t *f = NULL;
    unsigned nfields = 0;
    char cred[PT_BASIC_CRED_MAX + 3];

    for (unsigned i = 0; i < r->head.nfields; i++) {
        if (r->head.fields[i].id != PT_HDR_AUTHORIZATION)
            continue;
        if (nfields++ == 0)
            f = &r->head.fields[i];
    }
    /* The scheme is case-insensitive (RFC 9110 §11.1), one space or more
     * before the token68. */
    pt_str_t v = f ? f->value : PT_STR_NULL;
    bool is_basic = v.len >= 6 && pt_str_caseeq((pt_str_t) { v.p, 5 }, PT_STR("basic"))
                    && v.p[5] == ' ';
    /* Basic credentials never travel on, whoever accepts the request; a
     * bearer token is another mechanism's to handle. */
    if (is_basic)
        pt_auth_strip_field(r, PT_STR("Authorization"));
    if (pt_auth_satisfied(r))
        return PT_DECLINED;
    if (nfields > 1)
        return pt_auth_refuse(r, 401, bc->challenge, "basic", "more than one Authorization");
    if (!is_basic)
        return pt_auth_refuse(r, 401, bc->challenge, "basic", "no basic credentials");
    pt_str_t token = pt_str_trim_ows((pt_str_t) { v.p + 6, v.len - 6 });
    if (token.len > (PT_BASIC_CRED_MAX / 3 + 1) * 4)
        return pt_auth_refuse(r, 401, bc->challenge, "basic", "credentials too long");
    ssize_t n = pt_basic_decode(token, cred);
    if (n < 0)
        return pt_auth_refuse(r, 401, bc->challenge, "basic", "credentials are not base64");
    const char *colon = memchr(cred, ':', (size_t) n);
    if (colon == NULL || n > PT_BASIC_CRED_MAX) {
        OPENSSL_cleanse(cred, (size_t) n);
        return pt_auth_refuse(r, 401, bc->challenge, "basic", "malformed credentials");
    }
    pt_str_t user = { cred, (size_t) (colon - cred) };
    pt_str_t pass = { colon + 1, (size_t) n - user.len - 1 };
    const pt_basic_user_t *u = pt_basic_find(bc, user);
    bool ok = u && pt_basic_verify(u, pass);
    OPENSSL_cleanse(cred, (size_t) n);
    if (!ok) {
        /* The client learns nothing of which was wrong; the log does (an
         * unknown name is not logged: it may be a password typed there). */
        if (u)
            pt_log(PT_LOG_INFO, "%s: basic: wrong password for user \"%.*s\"",
                   pt_request_client_ip(r), (int) u->user.len, u->user.p);
        else
            pt_log(PT_LOG_INFO, "%s: basic: unknown user", pt_request_client_ip(r));
        return pt_auth_refuse(r, 401, bc->challenge, "basic", "invalid user or password");
    }
    return pt_auth_accept(r, u->consumer, "basic");
}

pt_module_t pt_basic_auth_module = {
    .name = "basic_auth",
    .directives = pt_basic_directives,
    .route_conf_size = sizeof(pt_basic_conf_t),
    .init_route = pt_basic_init_route,
    .init_worker = pt_basic_init_worker,
    .exit_worker = pt_basic_exit_worker,
    .phase = { [PT_PHASE_ACCESS] = pt_basic_access },
};
