/*
 * http_names.c: the names the HTTP/1.1 head parser knows: the well-known field names
 * (the table, the word-at-a-time case folding and compare, the lookup the scanner calls
 * once per field, pt_http_hdr_id and pt_http_hdr_name), the methods (the table, names and
 * ids) and the standard reason phrases.
 */
#include "common/pt.h"

#include "worker/http/http_parse.h"
#include "worker/http/http_parse_int.h"

/* ---- well-known names ---------------------------------------------------------------- */

static const pt_str_t pt_http_hdr_names[PT_HDR__COUNT] = {
    [PT_HDR_HOST] = PT_STR("Host"),
    [PT_HDR_CONTENT_LENGTH] = PT_STR("Content-Length"),
    [PT_HDR_TRANSFER_ENCODING] = PT_STR("Transfer-Encoding"),
    [PT_HDR_CONNECTION] = PT_STR("Connection"),
    [PT_HDR_KEEP_ALIVE] = PT_STR("Keep-Alive"),
    [PT_HDR_PROXY_CONNECTION] = PT_STR("Proxy-Connection"),
    [PT_HDR_UPGRADE] = PT_STR("Upgrade"),
    [PT_HDR_TE] = PT_STR("TE"),
    [PT_HDR_TRAILER] = PT_STR("Trailer"),
    [PT_HDR_PROXY_AUTHENTICATE] = PT_STR("Proxy-Authenticate"),
    [PT_HDR_PROXY_AUTHORIZATION] = PT_STR("Proxy-Authorization"),
    [PT_HDR_EXPECT] = PT_STR("Expect"),
    [PT_HDR_X_FORWARDED_FOR] = PT_STR("X-Forwarded-For"),
    [PT_HDR_X_FORWARDED_PROTO] = PT_STR("X-Forwarded-Proto"),
    [PT_HDR_X_FORWARDED_HOST] = PT_STR("X-Forwarded-Host"),
    [PT_HDR_FORWARDED] = PT_STR("Forwarded"),
    [PT_HDR_VIA] = PT_STR("Via"),
    [PT_HDR_X_REQUEST_ID] = PT_STR("X-Request-Id"),
    [PT_HDR_USER_AGENT] = PT_STR("User-Agent"),
    [PT_HDR_REFERER] = PT_STR("Referer"),
    [PT_HDR_CONTENT_TYPE] = PT_STR("Content-Type"),
    [PT_HDR_DATE] = PT_STR("Date"),
    [PT_HDR_SERVER] = PT_STR("Server"),
    [PT_HDR_AUTHORIZATION] = PT_STR("Authorization"),
    [PT_HDR_COOKIE] = PT_STR("Cookie"),
    [PT_HDR_ACCEPT_ENCODING] = PT_STR("Accept-Encoding"),
    [PT_HDR_CONTENT_ENCODING] = PT_STR("Content-Encoding"),
    [PT_HDR_LOCATION] = PT_STR("Location"),
};

/* n bytes (1..8) of a name as one word, each byte ORed with 0x20. Two loads that overlap
 * rather than one past p + n. For a tchar name against a name of letters and '-', equal
 * words mean equal names but for the case of letters: no other tchar folds onto those. */
static inline uint64_t
pt_http_fold(const char *p, size_t n)
{
    uint32_t a, b;
    uint16_t c, d;

    if (n >= 4) {
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return (a | (uint64_t) b << 32) | 0x2020202020202020u;
    }
    if (n >= 2) {
        memcpy(&c, p, 2);
        memcpy(&d, p + n - 2, 2);
        return (c | (uint64_t) d << 16) | 0x20202020u;
    }
    return (unsigned char) p[0] | 0x20u;
}

static bool
pt_http_name_eq(const char *p, const char *k, size_t n)
{
    uint64_t a, b;

    for (; n > 8; p += 8, k += 8, n -= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, k, 8);
        if ((a | 0x2020202020202020u) != (b | 0x2020202020202020u))
            return false;
    }
    return pt_http_fold(p, n) == pt_http_fold(k, n);
}

/* By length, then a word compare per candidate (three at most): a field costs a few tens
 * of instructions whether it is well known or not. */
unsigned
pt_http_lookup(const char *p, size_t n)
{
    static const uint8_t by_len[20][3] = {
        [2] = { PT_HDR_TE },
        [3] = { PT_HDR_VIA },
        [4] = { PT_HDR_HOST, PT_HDR_DATE },
        [6] = { PT_HDR_EXPECT, PT_HDR_SERVER, PT_HDR_COOKIE },
        [7] = { PT_HDR_UPGRADE, PT_HDR_TRAILER, PT_HDR_REFERER },
        [8] = { PT_HDR_LOCATION },
        [9] = { PT_HDR_FORWARDED },
        [10] = { PT_HDR_CONNECTION, PT_HDR_KEEP_ALIVE, PT_HDR_USER_AGENT },
        [12] = { PT_HDR_X_REQUEST_ID, PT_HDR_CONTENT_TYPE },
        [13] = { PT_HDR_AUTHORIZATION },
        [14] = { PT_HDR_CONTENT_LENGTH },
        [15] = { PT_HDR_X_FORWARDED_FOR, PT_HDR_ACCEPT_ENCODING },
        [16] = { PT_HDR_PROXY_CONNECTION, PT_HDR_X_FORWARDED_HOST, PT_HDR_CONTENT_ENCODING },
        [17] = { PT_HDR_TRANSFER_ENCODING, PT_HDR_X_FORWARDED_PROTO },
        [18] = { PT_HDR_PROXY_AUTHENTICATE },
        [19] = { PT_HDR_PROXY_AUTHORIZATION },
    };

    if (n >= pt_countof(by_len))
        return PT_HDR_OTHER;
    for (size_t i = 0; i < 3 && by_len[n][i] != PT_HDR_OTHER; i++) {
        const char *k = pt_http_hdr_names[by_len[n][i]].p;

        if (((p[0] ^ k[0]) | 0x20) == 0x20 && pt_http_name_eq(p, k, n))
            return by_len[n][i];
    }
    return PT_HDR_OTHER;
}

unsigned
pt_http_hdr_id(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!pt_http_tchar[(unsigned char) name[i]])
            return PT_HDR_OTHER;
    }
    return len ? pt_http_lookup(name, len) : PT_HDR_OTHER;
}

pt_str_t
pt_http_hdr_name(unsigned hdr_id)
{
    if (hdr_id == PT_HDR_OTHER || hdr_id >= PT_HDR__COUNT)
        return PT_STR("");
    return pt_http_hdr_names[hdr_id];
}

/* ---- methods ----------------------------------------------------------------------- */

static const pt_str_t pt_http_methods[PT_METHOD__COUNT] = {
    [PT_METHOD_OTHER] = PT_STR(""),
    [PT_METHOD_GET] = PT_STR("GET"),
    [PT_METHOD_HEAD] = PT_STR("HEAD"),
    [PT_METHOD_POST] = PT_STR("POST"),
    [PT_METHOD_PUT] = PT_STR("PUT"),
    [PT_METHOD_DELETE] = PT_STR("DELETE"),
    [PT_METHOD_CONNECT] = PT_STR("CONNECT"),
    [PT_METHOD_OPTIONS] = PT_STR("OPTIONS"),
    [PT_METHOD_TRACE] = PT_STR("TRACE"),
    [PT_METHOD_PATCH] = PT_STR("PATCH"),
};

pt_str_t
pt_http_method_name(unsigned method_id)
{
    return method_id < PT_METHOD__COUNT ? pt_http_methods[method_id] : PT_STR("");
}

bool
pt_http_method_idempotent(unsigned method_id)
{
    switch (method_id) {
    case PT_METHOD_GET: case PT_METHOD_HEAD: case PT_METHOD_PUT: case PT_METHOD_DELETE:
    case PT_METHOD_OPTIONS: case PT_METHOD_TRACE:
        return true;
    default:
        return false;
    }
}

/* Methods are case-sensitive (RFC 9110 §9.1). Contract: http_parse_int.h. */
unsigned
pt_http_method_id(pt_str_t m)
{
    for (unsigned id = PT_METHOD_GET; id < PT_METHOD__COUNT; id++) {
        if (pt_http_methods[id].len == m.len && memcmp(pt_http_methods[id].p, m.p, m.len) == 0)
            return id;
    }
    return PT_METHOD_OTHER;
}

/* ---- reason phrases ---------------------------------------------------------------- */

const char *
pt_http_reason(unsigned status)
{
    static const char *const r1[] = { "Continue", "Switching Protocols", NULL, "Early Hints" };
    static const char *const r2[] = {
        "OK", "Created", "Accepted", "Non-Authoritative Information", "No Content",
        "Reset Content", "Partial Content",
    };
    static const char *const r3[] = {
        "Multiple Choices", "Moved Permanently", "Found", "See Other", "Not Modified",
        "Use Proxy", NULL, "Temporary Redirect", "Permanent Redirect",
    };
    static const char *const r4[] = {
        "Bad Request", "Unauthorized", "Payment Required", "Forbidden", "Not Found",
        "Method Not Allowed", "Not Acceptable", "Proxy Authentication Required",
        "Request Timeout", "Conflict", "Gone", "Length Required", "Precondition Failed",
        "Content Too Large", "URI Too Long", "Unsupported Media Type", "Range Not Satisfiable",
        "Expectation Failed", NULL, NULL, NULL, "Misdirected Request", "Unprocessable Content",
        NULL, NULL, "Too Early", "Upgrade Required", NULL, "Precondition Required",
        "Too Many Requests", NULL, "Request Header Fields Too Large",
    };
    static const char *const r5[] = {
        "Internal Server Error", "Not Implemented", "Bad Gateway", "Service Unavailable",
        "Gateway Timeout", "HTTP Version Not Supported", NULL, "Insufficient Storage", NULL,
        NULL, NULL, "Network Authentication Required",
    };
    static const struct { const char *const *r; unsigned n; } classes[] = {
        { r1, pt_countof(r1) }, { r2, pt_countof(r2) }, { r3, pt_countof(r3) },
        { r4, pt_countof(r4) }, { r5, pt_countof(r5) },
    };
    unsigned c = status / 100 - 1, i = status % 100;

    if (status == 451)
        return "Unavailable For Legal Reasons";
    if (status < 100 || c >= pt_countof(classes) || i >= classes[c].n || !classes[c].r[i])
        return "Unknown";
    return classes[c].r[i];
}
