/*
 * cache_key.c: what a stored response is found by and removed by: the key
 * of a request (cache_key's parts; its leading URI part is what the index
 * hashes), Vary matching, invalidation of a URI after an unsafe method
 * (RFC 9111 §4.4), and purge (PURGE or cache_purge_path) for the
 * addresses cache_purge_allow names.
 */
#include "common/pt.h"
#include "common/hash.h"
#include "common/str.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "worker/http/response.h"
#include "worker/mod/cache/cache_module.h"

#include <arpa/inet.h>
#include <netinet/in.h>

int pt_cache_parse_net(const char *s, pt_cache_net_t *n)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t) (slash - s) : strlen(s);

    if (len >= sizeof(buf))
        return PT_ERROR;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(n, 0, sizeof(*n));
    if (inet_pton(AF_INET, buf, n->addr) == 1) {
        n->family = AF_INET;
        n->bits = 32;
    } else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
        n->family = AF_INET6;
        n->bits = 128;
    } else {
        return PT_ERROR;
    }
    if (slash) {
        uint64_t b;
        if (pt_str_parse_uint(slash + 1, strlen(slash + 1), &b) != PT_OK || b > n->bits)
            return PT_ERROR;
        n->bits = (unsigned) b;
    }
    return PT_OK;
}

static bool pt_cache_net_match(const pt_cache_net_t *n, const struct sockaddr *sa)
{
    const uint8_t *a;
    uint8_t mapped[16];

    if (sa->sa_family == AF_INET && n->family == AF_INET) {
        a = (const uint8_t *) &((const struct sockaddr_in *) sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6 && n->family == AF_INET6) {
        a = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
    } else if (sa->sa_family == AF_INET6 && n->family == AF_INET
               && IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *) sa)->sin6_addr)) {
        memcpy(mapped, ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr + 12, 4);
        a = mapped;
    } else {
        return false;
    }
    unsigned full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(a, n->addr, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ n->addr[full]) & (0xff << (8 - rest))) == 0;
}

/* ---- keys ---------------------------------------------------------------- */

/* The URI part of a key: [scheme "://"] [host] path ["?" query]. */
pt_str_t pt_cache_uri(pt_arena_t *a, const pt_cache_conf_t *cc, bool tls, pt_str_t host,
                             pt_str_t path, pt_str_t query, size_t extra)
{
    char *out = pt_arena_alloc(a, host.len + path.len + query.len + 16 + extra);
    size_t n = 0;

    if (out == NULL)
        return PT_STR_NULL;
    if (cc->key_parts & PT_CACHE_K_SCHEME)
        n += pt_str_put(out + n, tls ? "https://" : "http://", tls ? 8 : 7);
    if (cc->key_parts & PT_CACHE_K_HOST)
        for (size_t i = 0; i < host.len; i++)
            out[n++] = (char) pt_str_lower((unsigned char) host.p[i]);
    memcpy(out + n, path.p, path.len);
    n += path.len;
    if ((cc->key_parts & PT_CACHE_K_QUERY) && query.p) {
        out[n++] = '?';
        memcpy(out + n, query.p, query.len);
        n += query.len;
    }
    return (pt_str_t) { out, n };
}

int pt_cache_make_key(pt_request_t *r, const pt_cache_conf_t *cc, pt_cache_key_t *k)
{
    size_t extra = 0;

    for (size_t i = 0; i < cc->nkey_headers; i++) {
        extra += cc->key_headers[i].len + 2;
        for (unsigned j = 0; j < r->head.nfields; j++)
            if (pt_str_caseeq(r->head.fields[j].name, cc->key_headers[i]))
                extra += r->head.fields[j].value.len + 1;
    }
    if (cc->key_parts & PT_CACHE_K_CONSUMER)
        extra += 4 + (r->consumer ? r->consumer->id.len : 0);
    pt_str_t uri = pt_cache_uri(r->arena, cc, r->listener->tls != NULL, r->head.host,
                                r->head.path, r->head.query, extra);
    if (uri.p == NULL)
        return PT_ERROR;
    char *out = (char *) uri.p;
    size_t n = uri.len;
    for (size_t i = 0; i < cc->nkey_headers; i++) {
        out[n++] = '\n';
        memcpy(out + n, cc->key_headers[i].p, cc->key_headers[i].len);
        n += cc->key_headers[i].len;
        out[n++] = '=';
        for (unsigned j = 0; j < r->head.nfields; j++) {
            if (!pt_str_caseeq(r->head.fields[j].name, cc->key_headers[i]))
                continue;
            memcpy(out + n, r->head.fields[j].value.p, r->head.fields[j].value.len);
            n += r->head.fields[j].value.len;
            out[n++] = ',';
        }
    }
    if (cc->key_parts & PT_CACHE_K_CONSUMER) {
        n += pt_str_put(out + n, "\nc=", 3);
        if (r->consumer) {
            memcpy(out + n, r->consumer->id.p, r->consumer->id.len);
            n += r->consumer->id.len;
        }
    }
    *k = (pt_cache_key_t) { { out, n }, uri.len, pt_hash(uri.p, uri.len, PT_CACHE_HASH_SEED) };
    return PT_OK;
}

bool pt_cache_vary_matches(const pt_cache_obj_t *o, void *data)
{
    pt_request_t *r = data;
    pt_str_t names = pt_cache_obj_part(o, PT_CACHE_VARY_NAMES);

    if (names.len == 0)
        return true;
    pt_str_t want = pt_cache_obj_part(o, PT_CACHE_VARY_KEY);
    pt_str_t have = pt_cache_vary_key(r->arena, names, r->head.fields, r->head.nfields);
    return have.p && have.len == want.len && memcmp(have.p, want.p, want.len) == 0;
}

/* RFC 3986 §5.2.4: path (starting with '/') without its "." and ".."
 * segments, into out (path.len + 1 bytes). */
static size_t pt_cache_remove_dots(char *out, pt_str_t path)
{
    size_t n = 0, i = 0;

    while (i < path.len) {
        size_t j = i + 1;
        while (j < path.len && path.p[j] != '/')
            j++;
        size_t seg = j - i - 1;
        const char *sp = path.p + i + 1;
        if (seg == 1 && sp[0] == '.') {
            if (j == path.len)
                out[n++] = '/';
        } else if (seg == 2 && sp[0] == '.' && sp[1] == '.') {
            while (n > 0 && out[--n] != '/')
                ;
            if (j == path.len)
                out[n++] = '/';
        } else {
            memcpy(out + n, path.p + i, j - i);
            n += j - i;
        }
        i = j;
    }
    if (n == 0)
        out[n++] = '/';
    return n;
}

/* §4.4: after an unsafe method succeeded, the target URI and the URIs of
 * Location and Content-Location on the same origin are invalid. ref is
 * resolved against the request's target (RFC 3986 §5.2): an absolute URI
 * counts only with the request's scheme and host. */
void pt_cache_invalidate_uri(pt_request_t *r, pt_cache_ctx_t *ctx, pt_str_t ref)
{
    const pt_cache_conf_t *cc = ctx->conf;
    pt_str_t host = r->head.host, rest;
    bool tls = r->listener->tls != NULL;

    ref = pt_str_trim_ows(ref);
    const char *hash = memchr(ref.p, '#', ref.len);
    if (hash)
        ref.len = (size_t) (hash - ref.p);
    size_t sl = 0;
    for (; sl < ref.len; sl++) {
        char c = ref.p[sl];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (sl && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))))
            break;
    }
    bool scheme = sl > 0 && sl < ref.len && ref.p[sl] == ':';
    if (scheme || (ref.len >= 2 && ref.p[0] == '/' && ref.p[1] == '/')) {
        if (scheme && !pt_str_caseeq((pt_str_t) { ref.p, sl },
                                     tls ? PT_STR("https") : PT_STR("http")))
            return;             /* another scheme is another origin */
        const char *h = ref.p + (scheme ? sl + 1 : 0), *end = ref.p + ref.len;
        if (end - h < 2 || h[0] != '/' || h[1] != '/')
            return;
        h += 2;
        const char *slash = h;
        while (slash < end && *slash != '/' && *slash != '?')
            slash++;
        if (!pt_str_caseeq((pt_str_t) { h, (size_t) (slash - h) }, host))
            return;             /* another origin: not ours to drop */
        rest = (pt_str_t) { slash, (size_t) (end - slash) };
        if (rest.len == 0 || rest.p[0] == '?') {
            char *t = pt_arena_alloc(r->arena, rest.len + 1);
            if (t == NULL)
                return;
            t[0] = '/';
            memcpy(t + 1, rest.p, rest.len);
            rest = (pt_str_t) { t, rest.len + 1 };
        }
    } else if (ref.len && ref.p[0] == '/') {
        rest = ref;
    } else {
        /* a relative reference: merged with the target's path (§5.2.3) */
        pt_str_t base = r->head.path;
        size_t dir = base.len;
        while (dir > 0 && base.p[dir - 1] != '/')
            dir--;
        bool query_only = ref.len == 0 || ref.p[0] == '?';
        size_t keep = query_only ? base.len : dir;
        char *m = pt_arena_alloc(r->arena, 2 * (keep + ref.len) + 4);
        if (m == NULL)
            return;
        char *joined = m + keep + ref.len + 2;
        if (keep == 0)
            joined[keep++] = '/';
        else
            memcpy(joined, base.p, keep);
        memcpy(joined + keep, ref.p, ref.len);
        pt_str_t all = { joined, keep + ref.len };
        const char *q = memchr(all.p, '?', all.len);
        size_t plen = q ? (size_t) (q - all.p) : all.len;
        size_t n = pt_cache_remove_dots(m, (pt_str_t) { all.p, plen });
        memmove(m + n, all.p + plen, all.len - plen);
        rest = (pt_str_t) { m, n + all.len - plen };
    }
    const char *q = memchr(rest.p, '?', rest.len);
    pt_str_t path = { rest.p, q ? (size_t) (q - rest.p) : rest.len };
    pt_str_t query = q ? (pt_str_t) { q + 1, (size_t) (rest.p + rest.len - q - 1) } : PT_STR_NULL;
    pt_str_t uri = pt_cache_uri(r->arena, cc, tls, host, path, query, 0);
    if (uri.p)
        pt_cache_invalidate(ctx->zone, uri, pt_hash(uri.p, uri.len, PT_CACHE_HASH_SEED));
}

/* ---- purge --------------------------------------------------------------- */

int pt_cache_purge(pt_request_t *r, pt_cache_ctx_t *ctx, pt_str_t path, pt_str_t query)
{
    const pt_cache_conf_t *cc = ctx->conf;
    const struct sockaddr *sa = pt_request_client_sa(r);
    bool allowed = false;

    for (size_t i = 0; i < cc->nallow && !allowed; i++)
        allowed = pt_cache_net_match(&cc->allow[i], sa);
    ctx->fwd = "request";
    ctx->detail = "purge";
    if (!allowed) {
        pt_http_error(r, 403, "this client may not purge the cache");
        return PT_DONE;
    }
    unsigned n;
    pt_str_t what;
    bool prefix = path.len && path.p[path.len - 1] == '*';
    if (prefix) {
        path.len--;
        what = pt_cache_uri(r->arena, cc, r->listener->tls != NULL, r->head.host, path,
                            PT_STR_NULL, 0);
        if (what.p == NULL)
            return 500;
        n = pt_cache_purge_prefix(ctx->zone, what);
    } else {
        what = pt_cache_uri(r->arena, cc, r->listener->tls != NULL, r->head.host, path,
                            query, 0);
        if (what.p == NULL)
            return 500;
        n = pt_cache_invalidate(ctx->zone, what, pt_hash(what.p, what.len, PT_CACHE_HASH_SEED));
        if (n == 0) {
            pt_http_error(r, 404, "nothing is stored for this key");
            return PT_DONE;
        }
    }
    size_t cap = what.len * 6 + 64;
    char *body = pt_arena_alloc(r->arena, cap);
    if (body == NULL)
        return 500;
    size_t k = (size_t) snprintf(body, cap, "{\"purged\":%u,\"%s\":\"", n,
                                 prefix ? "prefix" : "key");
    k += pt_str_json_escape_cut(body + k, cap - k - 3, what.p, what.len);
    k += pt_str_put(body + k, "\"}\n", 3);
    pt_response_send(r, 200, "application/json", NULL, 0, body, k);
    return PT_DONE;
}

