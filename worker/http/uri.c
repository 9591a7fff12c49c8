/*
 * uri.c: RFC 3986 path normalisation and authority validation.
 *
 * The router matches on the normalised path and the proxy forwards it, so both see the
 * same resource: "/api/%2e%2e/admin" cannot slip past a "/api/" prefix rule to reach
 * "/admin" upstream. What may change the meaning of a path is the caller's choice (a
 * listener's merge_slashes and escaped_slashes): "//" merged or kept, "%2F" and "%5C"
 * decoded into separators or kept encoded.
 */
#include "common/pt.h"

#include "worker/http/uri.h"

/* Bits of pt_uri_class. */
#define PT_URI_UNRESERVED   0x01    /* ALPHA DIGIT "-" "." "_" "~" */
#define PT_URI_SUBDELIM     0x02    /* "!" "$" "&" "'" "(" ")" "*" "+" "," ";" "=" */
#define PT_URI_HEX          0x04
#define PT_URI_PATH         0x08    /* also in a path: ":" "@" "/" and "%" (escapes) */

static const uint8_t pt_uri_class[256] = {
    ['-'] = PT_URI_UNRESERVED, ['.'] = PT_URI_UNRESERVED, ['_'] = PT_URI_UNRESERVED,
    ['~'] = PT_URI_UNRESERVED,
    ['0' ... '9'] = PT_URI_UNRESERVED | PT_URI_HEX,
    ['A' ... 'F'] = PT_URI_UNRESERVED | PT_URI_HEX,
    ['G' ... 'Z'] = PT_URI_UNRESERVED,
    ['a' ... 'f'] = PT_URI_UNRESERVED | PT_URI_HEX,
    ['g' ... 'z'] = PT_URI_UNRESERVED,
    ['!'] = PT_URI_SUBDELIM, ['$'] = PT_URI_SUBDELIM, ['&' ... ','] = PT_URI_SUBDELIM,
    [';'] = PT_URI_SUBDELIM, ['='] = PT_URI_SUBDELIM,
    [':'] = PT_URI_PATH, ['@'] = PT_URI_PATH, ['/'] = PT_URI_PATH, ['%'] = PT_URI_PATH,
};

bool
pt_uri_path_valid(const char *in, size_t n)
{
    const unsigned char *p = (const unsigned char *) in;

    for (size_t i = 0; i < n; i++)
        if (!(pt_uri_class[p[i]] & (PT_URI_UNRESERVED | PT_URI_SUBDELIM | PT_URI_PATH)))
            return false;
    return true;
}

static inline unsigned
pt_uri_hexval(unsigned c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

int
pt_uri_normalize(const char *in, size_t n, unsigned flags, char *out, size_t *outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *) in;
    size_t i = 1, w = 1, seg = 0;

    if (n == 0 || p[0] != '/')
        return PT_ERROR;
    out[0] = '/';
    /* One pass: copy a segment decoded, then look at what was written. w <= i always, so
     * out may be in itself. A segment ends at "/", at the end, and (PT_URI_DECODE_SLASHES)
     * at "%2F" or "%5C". */
    for (;;) {
        bool end = i == n, slash = false;
        if (!end) {
            unsigned c = p[i], v;
            if (c == '/') {
                slash = true;
                i++;
            } else if (c != '%') {
                out[w++] = (char) c;
                i++;
            } else {
                if (n - i < 3 || !(pt_uri_class[p[i + 1]] & PT_URI_HEX)
                    || !(pt_uri_class[p[i + 2]] & PT_URI_HEX))
                    return PT_ERROR;
                v = pt_uri_hexval(p[i + 1]) << 4 | pt_uri_hexval(p[i + 2]);
                if (v == 0)
                    return PT_ERROR;
                i += 3;
                if ((v == '/' || v == '\\') && (flags & PT_URI_DECODE_SLASHES)) {
                    slash = true;
                } else if (pt_uri_class[v] & PT_URI_UNRESERVED) {
                    out[w++] = (char) v;
                } else {
                    out[w++] = '%';
                    out[w++] = hex[v >> 4];
                    out[w++] = hex[v & 15];
                }
            }
            if (!slash)
                continue;
        }
        /* RFC 3986 §5.2.4: "." goes, ".." takes the segment before it along. A path that
         * ends in either keeps its trailing slash ("/a/b/.." is "/a/"). An empty segment
         * before another is dropped when merging ("//a" is "/a", "/a/" stays). */
        if (w - seg == 2 && out[seg + 1] == '.') {
            w = seg;
            if (end)
                out[w++] = '/';
        } else if (w - seg == 3 && out[seg + 1] == '.' && out[seg + 2] == '.') {
            w = seg;
            while (w > 0 && out[--w] != '/')
                ;
            if (end)
                out[w++] = '/';
        } else if (w - seg == 1 && slash && (flags & PT_URI_MERGE_SLASHES)) {
            w = seg;
        }
        if (end)
            break;
        seg = w;
        out[w++] = '/';
    }
    *outlen = w;
    return PT_OK;
}

bool
pt_uri_dot_params(const char *in, size_t n)
{
    /* At each segment's start: ".;" or "..;". One pass, whatever the path. */
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && in[i - 1] != '/')
            continue;
        if (in[i] == '.' && i + 1 < n
            && (in[i + 1] == ';' || (in[i + 1] == '.' && i + 2 < n && in[i + 2] == ';')))
            return true;
    }
    return false;
}

/* "%2F" or "%5C" (any case) at p, with at least 3 bytes there. */
static bool
pt_uri_is_escaped_slash(const char *p)
{
    return p[0] == '%' && ((p[1] == '2' && (p[2] | 0x20) == 'f')
                           || (p[1] == '5' && (p[2] | 0x20) == 'c'));
}

bool
pt_uri_has_escaped_slash(const char *in, size_t n)
{
    for (const char *p = in, *end = in + n; (p = memchr(p, '%', (size_t) (end - p))) != NULL;
         p++)
        if (end - p >= 3 && pt_uri_is_escaped_slash(p))
            return true;
    return false;
}

bool
pt_uri_hides_dot_segment(const char *in, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i <= n; i++) {
        bool cut = i == n || in[i] == '/';
        size_t skip = 1;
        if (!cut && i + 3 <= n && pt_uri_is_escaped_slash(in + i)) {
            cut = true;
            skip = 3;
        }
        if (!cut)
            continue;
        size_t len = i - start;
        if ((len == 1 && in[start] == '.') || (len == 2 && in[start] == '.' && in[start + 1] == '.'))
            return true;
        start = i + skip;
        i += skip - 1;
    }
    return false;
}

bool
pt_uri_is_normal(const char *in, size_t n, unsigned flags)
{
    const char *p = in, *end = in + n;

    if (n == 0 || in[0] != '/' || memchr(in, '%', n) != NULL)
        return false;
    while ((p = memchr(p, '/', (size_t) (end - p))) != NULL) {
        if (++p < end && (*p == '.' || (*p == '/' && (flags & PT_URI_MERGE_SLASHES))))
            return false;
    }
    return true;
}

/* dec-octet "." dec-octet "." dec-octet "." dec-octet, no leading zeros. */
static bool
pt_uri_ipv4(const unsigned char *p, size_t n)
{
    size_t i = 0;

    for (unsigned part = 0; part < 4; part++) {
        unsigned val = 0, digits = 0;

        if (part > 0) {
            if (i == n || p[i] != '.')
                return false;
            i++;
        }
        while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 4) {
            val = val * 10 + (p[i++] - '0');
            digits++;
        }
        if (digits == 0 || val > 255 || (digits > 1 && p[i - digits] == '0'))
            return false;
    }
    return i == n;
}

/* IPv6address: h16 groups, one "::" at most, an IPv4 tail counting as two groups. */
static bool
pt_uri_ipv6(const unsigned char *p, size_t n)
{
    size_t i = 0, j;
    unsigned groups = 0;
    bool elided = false;

    if (n >= 2 && p[0] == ':' && p[1] == ':') {
        elided = true;
        i = 2;
    }
    while (i < n) {
        for (j = i; j < n && (pt_uri_class[p[j]] & PT_URI_HEX); j++)
            ;
        if (j < n && p[j] == '.') {
            if (!pt_uri_ipv4(p + i, n - i))
                return false;
            groups += 2;
            break;
        }
        if (j == i || j - i > 4)
            return false;
        groups++;
        i = j;
        if (i == n)
            break;
        if (p[i] != ':' || ++i == n)
            return false;
        if (p[i] == ':') {
            if (elided)
                return false;
            elided = true;
            i++;
        }
    }
    return elided ? groups <= 7 : groups == 8;
}

/* What is between the brackets of an IP-literal: IPv6address / IPvFuture. */
static bool
pt_uri_ip_literal(const unsigned char *p, size_t n)
{
    size_t i = 1;

    if (n == 0 || (p[0] != 'v' && p[0] != 'V'))
        return pt_uri_ipv6(p, n);
    while (i < n && (pt_uri_class[p[i]] & PT_URI_HEX))
        i++;
    if (i == 1 || i == n || p[i] != '.' || ++i == n)
        return false;
    for (; i < n; i++) {
        if (!(pt_uri_class[p[i]] & (PT_URI_UNRESERVED | PT_URI_SUBDELIM)) && p[i] != ':')
            return false;
    }
    return true;
}

const char *
pt_uri_check_authority(const char *s, size_t n, unsigned flags)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0, port;
    unsigned val = 0;

    if (n > 0 && memchr(p, '@', n) != NULL)
        return "userinfo in authority";
    if (n > 0 && p[0] == '[') {
        const unsigned char *rb = memchr(p, ']', n);

        if (rb == NULL || !pt_uri_ip_literal(p + 1, (size_t) (rb - p) - 1))
            return "invalid IP literal";
        i = (size_t) (rb - p) + 1;
    } else {
        for (; i < n && p[i] != ':'; i++) {
            if (pt_uri_class[p[i]] & (PT_URI_UNRESERVED | PT_URI_SUBDELIM))
                continue;
            if (p[i] != '%' || n - i < 3 || !(pt_uri_class[p[i + 1]] & PT_URI_HEX)
                || !(pt_uri_class[p[i + 2]] & PT_URI_HEX))
                return "invalid host";
            i += 2;
        }
        if (i == 0 && (flags & PT_URI_NEED_HOST))
            return "empty host";
    }
    if (i == n)
        return (flags & PT_URI_NEED_PORT) ? "no port in authority" : NULL;
    if (p[i] != ':')
        return "invalid host";
    for (port = ++i; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || (val = val * 10 + (p[i] - '0')) > 65535)
            return "invalid port";
    }
    if (port == n && (flags & PT_URI_NEED_PORT))
        return "no port in authority";
    return NULL;
}
