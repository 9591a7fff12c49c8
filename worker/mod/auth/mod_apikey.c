/*
 * mod_apikey.c: API keys (access phase).
 *
 *   portico = { consumers = ( { name = "alice"; api_keys = [ "sha256:HEX" ]; } );
 *               api_key_files = [ "/etc/portico/api-keys" ]; };
 *   routes = ( { api_key = { header = "X-API-Key"; query = "apikey"; strip = true;
 *                            realm = "api"; }; ... } );
 *
 * Keys are kept as SHA-256 digests only, in one open-addressing table per
 * config: the presented key is hashed, its digest picks the slot and is
 * compared with CRYPTO_memcmp, so the time taken does not depend on how
 * much of a stored key the presented one shares. A key file holds one
 * "consumer:HEX" per line and is read with the config (so again on every
 * reload, and checked by -t). A plain key in the config works but -t
 * warns. A missing or unknown key is a 401 with
 * WWW-Authenticate: ApiKey realm="...".
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/mod/auth/auth.h"
#include "worker/mod/auth/consumers.h"

#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define PT_APIKEY_MAX_KEYS      (1 << 20)
#define PT_APIKEY_MAX_LEN       4096    /* longer presented keys are unknown at once */
#define PT_APIKEY_LINE_MAX      4096

typedef struct {
    uint8_t digest[SHA256_DIGEST_LENGTH];
    const pt_consumer_t *consumer;      /* NULL: empty slot */
} pt_apikey_slot_t;

typedef struct {
    const char **files;         /* STRINGS, UNSET NULL */
    /* built by init_main */
    pt_apikey_slot_t *slots;
    size_t mask;
    size_t nkeys;
} pt_apikey_main_t;

/* api_key = { ... } (or true) of a route. */
typedef struct {
    bool off;                   /* api_key = false */
    const char *header;         /* NULL: not taken from a header */
    const char *query;          /* NULL: not taken from the query */
    bool strip;
    const char *realm;
    /* compiled */
    pt_str_t header_name, query_name;
    const char *challenge;
} pt_apikey_spec_t;

typedef struct {
    pt_apikey_spec_t *spec;     /* CUSTOM, UNSET NULL */
} pt_apikey_conf_t;

static int pt_apikey_spec_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d);
static void pt_apikey_spec_dump(FILE *out, const void *field, const pt_directive_t *d,
                                int indent);

/* A key file must be readable now: the error then names the line of the
 * setting (the file is read once every route is known, in init_main). */
static int pt_apikey_file_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    const char *path = pt_conf_path(cf, item);

    if (path && access(path, R_OK) != 0) {
        pt_conf_error(cf, s, "api_key_files: cannot read \"%s\": %s", path, strerror(errno));
        return PT_ERROR;
    }
    return PT_OK;
}

static const pt_conf_strings_arg_t pt_apikey_files_arg = { NULL, pt_apikey_file_check };

static const pt_directive_t pt_apikey_directives[] = {
    { "api_key_files", PT_CONF_STRINGS, PT_SCOPE_MAIN, offsetof(pt_apikey_main_t, files),
      NULL, &pt_apikey_files_arg, NULL, NULL,
      "files of \"consumer:SHA256-HEX\" lines, read on every load" },
    { "api_key", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, offsetof(pt_apikey_conf_t, spec), NULL, NULL,
      pt_apikey_spec_set, pt_apikey_spec_dump,
      "check an API key from a header or a query argument" },
    PT_DIRECTIVE_END
};

pt_module_t pt_apikey_module;

/* Per worker: SHA-256 fetched once (the one-shot SHA256() looks the
 * algorithm up on every call) and a context reused for every key. */
static EVP_MD *pt_apikey_md;
static EVP_MD_CTX *pt_apikey_ctx;

/* ---- load time ---------------------------------------------------------- */

static bool pt_apikey_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!pt_str_tchar[(unsigned char) *s])
            return false;
    return true;
}

static int pt_apikey_spec_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d)
{
    pt_apikey_spec_t *sp = pt_arena_calloc(cf->arena, sizeof(*sp));
    int on = 1;

    if (sp == NULL)
        return PT_ERROR;
    sp->strip = true;
    sp->realm = "api";
    if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
        if (pt_conf_get_bool(cf, s, &on) != PT_OK)
            return PT_ERROR;
        sp->header = on ? "X-API-Key" : NULL;
    } else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
        for (int i = 0; i < config_setting_length(s); i++) {
            const config_setting_t *m = config_setting_get_elem(s, (unsigned) i);
            const char *k = config_setting_name(m);
            int b;
            if (strcmp(k, "header") == 0 || strcmp(k, "query") == 0 || strcmp(k, "realm") == 0) {
                const char *v = pt_conf_get_string(cf, m);
                if (v == NULL)
                    return PT_ERROR;
                if (k[0] == 'r') {
                    for (const char *p = v; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
                            pt_conf_error(cf, m, "\"realm\" may not hold quotes, backslashes "
                                          "or control characters");
                            return PT_ERROR;
                        }
                    sp->realm = v;
                    continue;
                }
                if (!pt_apikey_token(v)) {
                    pt_conf_error(cf, m, "\"%s\" must be a %s name", k,
                                  k[0] == 'h' ? "field" : "query argument");
                    return PT_ERROR;
                }
                if (k[0] == 'h')
                    sp->header = v;
                else
                    sp->query = v;
            } else if (strcmp(k, "strip") == 0) {
                if (pt_conf_get_bool(cf, m, &b) != PT_OK)
                    return PT_ERROR;
                sp->strip = b;
            } else {
                pt_conf_error(cf, m, "unknown api_key setting \"%s\" (it takes header, query, "
                              "strip and realm)", k);
                return PT_ERROR;
            }
        }
        if (sp->header == NULL && sp->query == NULL) {
            pt_conf_error(cf, s, "\"api_key\" needs a header or a query argument to read");
            return PT_ERROR;
        }
    } else {
        pt_conf_error(cf, s, "\"api_key\" must be true, false or a group { header = ...; }");
        return PT_ERROR;
    }
    if (sp->header)
        sp->header_name = (pt_str_t) { sp->header, strlen(sp->header) };
    if (sp->query)
        sp->query_name = (pt_str_t) { sp->query, strlen(sp->query) };
    sp->challenge = pt_arena_sprintf(cf->arena, "ApiKey realm=\"%s\"", sp->realm);
    if (sp->challenge == NULL)
        return PT_ERROR;
    /* api_key = false in a route turns off the defaults': a set value, off. */
    sp->off = !on;
    *(pt_apikey_spec_t **) field = sp;
    return PT_OK;
}

static void pt_apikey_spec_dump(FILE *out, const void *field, const pt_directive_t *d,
                                int indent)
{
    const pt_apikey_spec_t *sp = *(const pt_apikey_spec_t *const *) field;

    if (sp->off) {
        fputs("false", out);
        return;
    }
    fputs("{", out);
    if (sp->header) {
        fputs(" header = ", out);
        pt_conf_print_string(out, sp->header);
        fputs(";", out);
    }
    if (sp->query) {
        fputs(" query = ", out);
        pt_conf_print_string(out, sp->query);
        fputs(";", out);
    }
    fprintf(out, " strip = %s; realm = ", sp->strip ? "true" : "false");
    pt_conf_print_string(out, sp->realm);
    fputs("; }", out);
}

static int pt_apikey_hex(const char *s, size_t n, uint8_t out[SHA256_DIGEST_LENGTH])
{
    if (n != 2 * SHA256_DIGEST_LENGTH)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        int c = pt_str_lower((unsigned char) s[i]), v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else
            return PT_ERROR;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t) (v << 4);
        else
            out[i / 2] |= (uint8_t) v;
    }
    return PT_OK;
}

static size_t pt_apikey_slot_of(const uint8_t *digest, size_t mask)
{
    uint64_t h;

    memcpy(&h, digest, sizeof(h));
    return (size_t) h & mask;
}

/* A digest into the table; an error when the same key is there already
 * (two consumers with one key could not be told apart). */
static int pt_apikey_insert(pt_conf_ctx_t *cf, pt_apikey_main_t *mc, const uint8_t *digest,
                            const pt_consumer_t *c, const char *file, unsigned line)
{
    size_t i = pt_apikey_slot_of(digest, mc->mask);

    for (; mc->slots[i].consumer; i = (i + 1) & mc->mask) {
        if (memcmp(mc->slots[i].digest, digest, SHA256_DIGEST_LENGTH) == 0) {
            pt_conf_error_at(cf, file, line, "this API key is already given to consumer "
                             "\"%.*s\"", (int) mc->slots[i].consumer->id.len,
                             mc->slots[i].consumer->id.p);
            return PT_ERROR;
        }
    }
    memcpy(mc->slots[i].digest, digest, SHA256_DIGEST_LENGTH);
    mc->slots[i].consumer = c;
    mc->nkeys++;
    return PT_OK;
}

/* Lines of a key file that hold a key (for sizing the table first). */
static int pt_apikey_file_read(pt_conf_ctx_t *cf, const pt_conf_t *conf, pt_apikey_main_t *mc,
                               const char *path, bool insert, size_t *count)
{
    FILE *f = fopen(path, "re");
    char line[PT_APIKEY_LINE_MAX + 2];
    unsigned lineno = 0;
    int rc = PT_OK;

    if (f == NULL) {
        pt_conf_error(cf, NULL, "api_key_files: cannot open \"%s\": %s", path, strerror(errno));
        return PT_ERROR;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        else if (!feof(f)) {
            pt_conf_error_at(cf, path, lineno, "line longer than %d bytes", PT_APIKEY_LINE_MAX);
            rc = PT_ERROR;
            break;
        }
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        pt_str_t t = pt_str_trim_ows((pt_str_t) { line, n });
        if (t.len == 0 || t.p[0] == '#')
            continue;
        const char *colon = memchr(t.p, ':', t.len);
        if (colon == NULL || colon == t.p) {
            pt_conf_error_at(cf, path, lineno, "expected \"consumer:SHA256-HEX\"");
            rc = PT_ERROR;
            continue;
        }
        pt_str_t name = { t.p, (size_t) (colon - t.p) };
        pt_str_t hex = { colon + 1, t.len - name.len - 1 };
        if (hex.len > 7 && memcmp(hex.p, "sha256:", 7) == 0)
            hex = (pt_str_t) { hex.p + 7, hex.len - 7 };
        uint8_t digest[SHA256_DIGEST_LENGTH];
        if (pt_apikey_hex(hex.p, hex.len, digest) != PT_OK) {
            pt_conf_error_at(cf, path, lineno, "the key of \"%.*s\" is not 64 hex digits "
                             "(a key file holds SHA-256 digests, never plain keys)",
                             (int) name.len, name.p);
            rc = PT_ERROR;
            continue;
        }
        if (++*count > PT_APIKEY_MAX_KEYS) {
            pt_conf_error_at(cf, path, lineno, "more than %d API keys", PT_APIKEY_MAX_KEYS);
            rc = PT_ERROR;
            break;
        }
        if (!insert)
            continue;
        const pt_consumer_t *c = pt_consumers_get(cf, conf, name);
        if (c == NULL || pt_apikey_insert(cf, mc, digest, c, path, lineno) != PT_OK)
            rc = PT_ERROR;
    }
    fclose(f);
    return rc;
}

static int pt_apikey_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf)
{
    pt_apikey_main_t *mc = mconf;
    const pt_consumers_t *cs = pt_consumers_of(conf);
    size_t count = 0;
    int rc = PT_OK;

    for (size_t i = 0; i < cs->n; i++)
        count += pt_conf_strings_count(cs->v[i].api_keys);
    for (size_t i = 0; mc->files && mc->files[i]; i++) {
        mc->files[i] = pt_conf_path(cf, mc->files[i]);
        if (pt_apikey_file_read(cf, conf, mc, mc->files[i], false, &count) != PT_OK)
            return PT_ERROR;
    }
    if (count > PT_APIKEY_MAX_KEYS) {
        pt_conf_error(cf, NULL, "more than %d API keys", PT_APIKEY_MAX_KEYS);
        return PT_ERROR;
    }
    size_t size = 16;
    while (size < 2 * count)
        size <<= 1;
    if ((mc->slots = pt_arena_calloc(cf->arena, size * sizeof(*mc->slots))) == NULL)
        return PT_ERROR;
    mc->mask = size - 1;

    for (size_t i = 0; i < cs->n; i++) {
        const pt_consumer_decl_t *d = &cs->v[i];
        for (size_t k = 0; d->api_keys && d->api_keys[k]; k++) {
            const char *key = d->api_keys[k];
            uint8_t digest[SHA256_DIGEST_LENGTH];
            if (strncmp(key, "sha256:", 7) == 0) {
                if (pt_apikey_hex(key + 7, strlen(key + 7), digest) != PT_OK) {
                    pt_conf_error_at(cf, d->file, d->key_lines[k], "consumer \"%s\": "
                                     "\"sha256:\" must be followed by 64 hex digits",
                                     d->c.id.p);
                    rc = PT_ERROR;
                    continue;
                }
            } else if (*key == '\0') {
                pt_conf_error_at(cf, d->file, d->key_lines[k], "consumer \"%s\": an empty "
                                 "API key", d->c.id.p);
                rc = PT_ERROR;
                continue;
            } else {
                /* Works, but the secret sits in the config in the clear. */
                pt_log(PT_LOG_WARN, "%s:%u: consumer \"%s\" has a plain API key: write "
                       "\"sha256:\" and its SHA-256 in hex instead",
                       d->file ? d->file : cf->file, d->key_lines[k], d->c.id.p);
                SHA256((const unsigned char *) key, strlen(key), digest);
            }
            if (pt_apikey_insert(cf, mc, digest, &d->c, d->file, d->key_lines[k]) != PT_OK)
                rc = PT_ERROR;
        }
    }
    count = 0;
    for (size_t i = 0; rc == PT_OK && mc->files && mc->files[i]; i++)
        rc = pt_apikey_file_read(cf, conf, mc, mc->files[i], true, &count);
    return rc;
}

static int pt_apikey_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                void *rconf, const void *dconf)
{
    const pt_apikey_conf_t *ac = rconf;

    if (ac->spec == NULL || ac->spec->off)
        pt_module_phase_skip(route, &pt_apikey_module);
    return PT_OK;
}

static int pt_apikey_init_worker(const pt_conf_t *conf)
{
    pt_apikey_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    pt_apikey_ctx = EVP_MD_CTX_new();
    return pt_apikey_md && pt_apikey_ctx ? PT_OK : PT_ERROR;
}

static void pt_apikey_exit_worker(const pt_conf_t *conf)
{
    EVP_MD_CTX_free(pt_apikey_ctx);
    EVP_MD_free(pt_apikey_md);
    pt_apikey_ctx = NULL;
    pt_apikey_md = NULL;
}

/* ---- request time ------------------------------------------------------- */

static int pt_apikey_unhex(int c)
{
    c = pt_str_lower(c);
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The value of argument name in query, percent-decoded into the arena;
 * *count says how many times it appeared. */
static pt_str_t pt_apikey_query_arg(pt_request_t *r, pt_str_t query, pt_str_t name,
                                    unsigned *count)
{
    pt_str_t found = PT_STR_NULL;
    const char *p = query.p, *end = query.p + query.len;

    *count = 0;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t) (end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t) (stop - p));
        size_t nlen = (size_t) ((eq ? eq : stop) - p);
        if (nlen == name.len && memcmp(p, name.p, nlen) == 0) {
            (*count)++;
            if (eq)
                found = (pt_str_t) { eq + 1, (size_t) (stop - eq - 1) };
        }
        p = amp ? amp + 1 : end;
    }
    if (found.len == 0 || found.len > PT_APIKEY_MAX_LEN)
        return found;
    char *out = pt_arena_alloc(r->arena, found.len);
    size_t n = 0;
    if (out == NULL)
        return PT_STR_NULL;
    for (size_t i = 0; i < found.len; i++) {
        int hi, lo;
        if (found.p[i] == '%' && i + 2 < found.len
            && (hi = pt_apikey_unhex((unsigned char) found.p[i + 1])) >= 0
            && (lo = pt_apikey_unhex((unsigned char) found.p[i + 2])) >= 0) {
            out[n++] = (char) (hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = found.p[i];
        }
    }
    return (pt_str_t) { out, n };
}

/* The query without any name=... argument (the key must not travel on). */
static int pt_apikey_strip_query(pt_request_t *r, pt_str_t name)
{
    pt_str_t q = r->head.query;
    char *out = pt_arena_alloc(r->arena, q.len + 1);
    const char *p = q.p, *end = q.p + q.len;
    size_t n = 0;

    if (out == NULL)
        return PT_ERROR;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t) (end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t) (stop - p));
        size_t nlen = (size_t) ((eq ? eq : stop) - p);
        if (!(nlen == name.len && memcmp(p, name.p, nlen) == 0)) {
            if (n)
                out[n++] = '&';
            memcpy(out + n, p, (size_t) (stop - p));
            n += (size_t) (stop - p);
        }
        p = amp ? amp + 1 : end;
    }
    r->head.query = n ? (pt_str_t) { out, n } : PT_STR_NULL;
    return PT_OK;
}

/* strip = false: the query as sent goes on, from a copy (the target's
 * bytes are masked for the logs). */
static int pt_apikey_copy_query(pt_request_t *r)
{
    char *out = pt_arena_alloc(r->arena, r->head.query.len + 1);

    if (out == NULL)
        return PT_ERROR;
    memcpy(out, r->head.query.p, r->head.query.len);
    r->head.query.p = out;
    return PT_OK;
}

/* The values of argument name in the request target as received become
 * '*' in place: $request and $request_uri, which the access log writes,
 * show the target, and a key must never reach a log. What goes upstream
 * is r->head.query, a copy by then. */
static void pt_apikey_mask_target(pt_request_t *r, pt_str_t name)
{
    const pt_http_head_t *h = &r->head;
    const char *q = h->target.p ? memchr(h->target.p, '?', h->target.len) : NULL;

    if (q == NULL)
        return;
    /* The target lies in the connection's read buffer, which is ours. */
    char *p = (char *) q + 1, *end = (char *) h->target.p + h->target.len;
    while (p < end) {
        char *amp = memchr(p, '&', (size_t) (end - p));
        char *stop = amp ? amp : end;
        char *eq = memchr(p, '=', (size_t) (stop - p));
        size_t nlen = (size_t) ((eq ? eq : stop) - p);
        if (eq && nlen == name.len && memcmp(p, name.p, nlen) == 0)
            memset(eq + 1, '*', (size_t) (stop - eq - 1));
        p = amp ? amp + 1 : end;
    }
}

static const pt_consumer_t *pt_apikey_lookup(const pt_apikey_main_t *mc, pt_str_t key)
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    const pt_consumer_t *found = NULL;

    if (mc->slots == NULL || EVP_DigestInit_ex2(pt_apikey_ctx, pt_apikey_md, NULL) != 1
        || EVP_DigestUpdate(pt_apikey_ctx, key.p, key.len) != 1
        || EVP_DigestFinal_ex(pt_apikey_ctx, digest, NULL) != 1)
        return NULL;
    for (size_t i = pt_apikey_slot_of(digest, mc->mask); mc->slots[i].consumer;
         i = (i + 1) & mc->mask)
        if (CRYPTO_memcmp(mc->slots[i].digest, digest, SHA256_DIGEST_LENGTH) == 0)
            found = mc->slots[i].consumer;
    return found;
}

static int pt_apikey_access(pt_request_t *r)
{
    const pt_apikey_spec_t *sp = ((const pt_apikey_conf_t *)
                                  pt_route_mod_conf(r->route, pt_apikey_module))->spec;
    const pt_apikey_main_t *mc = r->conf->mod_main[pt_apikey_module.index];
    pt_str_t key = PT_STR_NULL;
    unsigned count = 0;

    if (sp->header) {
        for (unsigned i = 0; i < r->head.nfields; i++) {
            if (pt_str_caseeq(r->head.fields[i].name, sp->header_name)) {
                key = r->head.fields[i].value;
                count++;
            }
        }
        if (count && sp->strip)
            pt_auth_strip_field(r, sp->header_name);
    }
    if (sp->query && r->head.query.p) {
        unsigned in_query = 0;
        pt_str_t arg = pt_apikey_query_arg(r, r->head.query, sp->query_name, &in_query);
        if (count == 0) {
            key = arg;
            count = in_query;
        }
        /* Whichever was read, neither copy travels on; the upstream's
         * query is a copy either way, and the target keeps no key. */
        if (in_query) {
            if (sp->strip ? pt_apikey_strip_query(r, sp->query_name) != PT_OK
                          : pt_apikey_copy_query(r) != PT_OK)
                return 500;
            pt_apikey_mask_target(r, sp->query_name);
        }
    }
    /* Stripped above even then: the key must not reach the upstream. */
    if (pt_auth_satisfied(r))
        return PT_DECLINED;
    if (count == 0)
        return pt_auth_refuse(r, 401, sp->challenge, "api_key", "no API key");
    if (count > 1)
        return pt_auth_refuse(r, 401, sp->challenge, "api_key", "more than one API key");
    const pt_consumer_t *c = key.len && key.len <= PT_APIKEY_MAX_LEN
                             ? pt_apikey_lookup(mc, key) : NULL;
    if (c == NULL)
        return pt_auth_refuse(r, 401, sp->challenge, "api_key", "unknown API key");
    return pt_auth_accept(r, c, "api_key");
}

pt_module_t pt_apikey_module = {
    .name = "apikey",
    .directives = pt_apikey_directives,
    .main_conf_size = sizeof(pt_apikey_main_t),
    .route_conf_size = sizeof(pt_apikey_conf_t),
    .init_main = pt_apikey_init_main,
    .init_route = pt_apikey_init_route,
    .init_worker = pt_apikey_init_worker,
    .exit_worker = pt_apikey_exit_worker,
    .phase = { [PT_PHASE_ACCESS] = pt_apikey_access },
};
