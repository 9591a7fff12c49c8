/*
 * http_forwarded.c: walking X-Forwarded-For and Forwarded from the right
 * (http_forwarded.h says the rule).
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/http/http_forwarded.h"

/* ":PORT" (1 to 5 digits) or nothing at all. */
static bool pt_http_forwarded_port_ok(const char *p, size_t n)
{
    if (n == 0)
        return true;
    if (p[0] != ':' || n < 2 || n > 6)
        return false;
    for (size_t i = 1; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* A node: "[v6]", "[v6]:port", "v4", "v4:port"; bare_v6 also lets a
 * plain IPv6 address through (X-Forwarded-For writes them so). */
static int pt_http_forwarded_node(pt_str_t e, bool bare_v6, pt_addr_t *out)
{
    if (e.len == 0)
        return PT_ERROR;
    if (e.p[0] == '[') {
        const char *end = memchr(e.p, ']', e.len);
        if (end == NULL || end == e.p + 1)
            return PT_ERROR;
        size_t alen = (size_t) (end - e.p - 1);
        if (memchr(e.p + 1, ':', alen) == NULL
            || !pt_http_forwarded_port_ok(end + 1, e.len - alen - 2))
            return PT_ERROR;
        return pt_addr_parse(e.p + 1, alen, out);
    }
    const char *colon = memchr(e.p, ':', e.len);
    if (colon == NULL)
        return pt_addr_parse(e.p, e.len, out);
    if (memchr(colon + 1, ':', e.len - (size_t) (colon + 1 - e.p)))
        return bare_v6 ? pt_addr_parse(e.p, e.len, out) : PT_ERROR;
    /* One colon: an IPv4 address and a port. */
    if (!pt_http_forwarded_port_ok(colon, e.len - (size_t) (colon - e.p)))
        return PT_ERROR;
    size_t alen = (size_t) (colon - e.p);
    if (pt_addr_parse(e.p, alen, out) != PT_OK || !pt_addr_is_v4(out))
        return PT_ERROR;
    return PT_OK;
}

int pt_http_forwarded_xff_elem(pt_str_t e, pt_addr_t *out)
{
    return pt_http_forwarded_node(pt_str_trim_ows(e), true, out);
}

/* Unquote a quoted-string (RFC 9110 §5.6.4) of at most cap bytes into buf. */
static int pt_http_forwarded_unquote(pt_str_t v, char *buf, size_t cap, pt_str_t *out)
{
    size_t n = 0;

    if (v.len < 2 || v.p[v.len - 1] != '"')
        return PT_ERROR;
    for (size_t i = 1; i + 1 < v.len; i++) {
        char c = v.p[i];
        if (c == '\\') {
            if (++i + 1 >= v.len)
                return PT_ERROR;
            c = v.p[i];
        } else if (c == '"') {
            return PT_ERROR;
        }
        if (n == cap)
            return PT_ERROR;
        buf[n++] = c;
    }
    *out = (pt_str_t) { buf, n };
    return PT_OK;
}

int pt_http_forwarded_elem(pt_str_t e, pt_addr_t *out)
{
    char buf[64];
    bool found = false;
    pt_str_t node = PT_STR_NULL;

    /* forwarded-pair *( ";" forwarded-pair ), each token=value; the value
     * a token or a quoted-string, where ';' may be quoted. */
    size_t i = 0;
    while (i <= e.len) {
        size_t start = i;
        bool quoted = false;
        for (; i < e.len; i++) {
            if (e.p[i] == '\\' && quoted)
                i++;
            else if (e.p[i] == '"')
                quoted = !quoted;
            else if (e.p[i] == ';' && !quoted)
                break;
        }
        if (quoted)
            return PT_ERROR;
        pt_str_t pair = pt_str_trim_ows((pt_str_t) { e.p + start, pt_min(i, e.len) - start });
        i++;
        if (pair.len == 0)
            continue;
        const char *eq = memchr(pair.p, '=', pair.len);
        if (eq == NULL)
            return PT_ERROR;
        pt_str_t name = { pair.p, (size_t) (eq - pair.p) };
        pt_str_t value = { eq + 1, pair.len - name.len - 1 };
        if (!pt_str_caseeq_lit(name, "for"))
            continue;
        if (found)
            return PT_ERROR;        /* a parameter at most once per element */
        found = true;
        if (value.len && value.p[0] == '"') {
            if (pt_http_forwarded_unquote(value, buf, sizeof(buf), &node) != PT_OK)
                return PT_ERROR;
        } else {
            node = value;
        }
    }
    if (!found)
        return PT_ERROR;
    return pt_http_forwarded_node(node, false, out);
}

/* The elements of one field value, split on commas outside quoted
 * strings (only Forwarded quotes), into the ring of the last hops. */
static void pt_http_forwarded_split(pt_str_t v, bool quotes, pt_str_t *ring, size_t *count)
{
    size_t i = 0;

    while (i <= v.len) {
        size_t start = i;
        bool quoted = false;
        for (; i < v.len; i++) {
            if (quotes && quoted && v.p[i] == '\\')
                i++;
            else if (quotes && v.p[i] == '"')
                quoted = !quoted;
            else if (v.p[i] == ',' && !quoted)
                break;
        }
        pt_str_t e = pt_str_trim_ows((pt_str_t) { v.p + start, pt_min(i, v.len) - start });
        i++;
        /* RFC 9110 §5.6.1: empty list elements do not count. */
        if (e.len)
            ring[(*count)++ % PT_HTTP_FORWARDED_HOPS_MAX] = e;
    }
}

bool pt_http_forwarded_walk(int kind, const pt_str_t *values, size_t n, const pt_cidr_list_t *trusted,
                    const pt_addr_t *peer, pt_addr_t *client)
{
    pt_str_t ring[PT_HTTP_FORWARDED_HOPS_MAX];
    size_t count = 0;

    for (size_t i = 0; i < n; i++)
        pt_http_forwarded_split(values[i], kind == PT_HTTP_FORWARDED_RFC7239, ring, &count);

    *client = *peer;
    bool moved = false;
    size_t hops = pt_min(count, (size_t) PT_HTTP_FORWARDED_HOPS_MAX);
    for (size_t k = 0; k < hops; k++) {
        pt_str_t e = ring[(count - 1 - k) % PT_HTTP_FORWARDED_HOPS_MAX];
        pt_addr_t a;
        int rc = kind == PT_HTTP_FORWARDED_RFC7239 ? pt_http_forwarded_elem(e, &a)
                                             : pt_http_forwarded_xff_elem(e, &a);
        if (rc != PT_OK)
            break;
        *client = a;
        moved = true;
        if (!pt_cidr_list_match(trusted, &a))
            break;
    }
    return moved && (client->w[0] != peer->w[0] || client->w[1] != peer->w[1]);
}
