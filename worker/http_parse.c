/*
 * http_parse.c: strict HTTP/1.1 head parser.
 *
 * One pass over the head does the syntax (table lookups, tight loops per token) and
 * records the request line and the fields; a second, short walk over the recorded
 * fields derives framing and routing facts. Only the resume offset survives between
 * calls, so a head that arrives in pieces is first validated from where the last
 * call stopped (the state there is re-derived from the bytes before it) and, once its
 * end is seen, parsed again from the start. Both walks run the same scanning code,
 * which is what makes the result independent of how the bytes were split.
 */
#include "common/pt.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "worker/http_parse.h"
#include "worker/uri.h"

/* tchar (RFC 9110 §5.6.2): field names, methods, tokens. */
static const uint8_t pt_http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* request-target bytes: VCHAR but '#'. */
static const uint8_t pt_http_target[256] = {
    ['!' ... '"'] = 1, ['$' ... '~'] = 1,
};

/* field-value and reason-phrase bytes: VCHAR, SP, HTAB, obs-text. */
static const uint8_t pt_http_value[256] = {
    ['\t'] = 1, [' ' ... '~'] = 1, [0x80 ... 0xff] = 1,
};

/* Where the scanner stands inside the start line or a field line. */
enum {
    PT_HS_METHOD, PT_HS_TARGET, PT_HS_VERSION,     /* request line */
    PT_HS_STATUS_LINE, PT_HS_REASON,               /* status line */
    PT_HS_LINE, PT_HS_NAME, PT_HS_VALUE            /* field lines */
};

typedef struct {
    const unsigned char *b;
    size_t end;             /* min(len, max_head) */
    size_t len;             /* the bytes there are: vector loads may look up to here */
    bool capped;            /* len >= max_head: running out of bytes means the head is too big */
    bool response;
    size_t max_line;
    unsigned max_fields;
    pt_http_head_t *h;      /* NULL: validate only, record nothing */
    unsigned nfields;       /* field lines seen (may exceed max_fields) */
    size_t stop;            /* resume offset on PT_AGAIN */
    size_t head_len;
    const char *error;
} pt_http_scan_t;

static inline unsigned
pt_http_lower(unsigned c)
{
    return c + ((c - 'A' < 26u) << 5);
}

static inline bool
pt_http_is_digit(unsigned c)
{
    return c - '0' < 10u;
}

/* First offset in [p, end) whose byte is not in table t; four bytes a step. */
static inline size_t
pt_http_span(const uint8_t *t, const unsigned char *b, size_t p, size_t end)
{
    for (; end - p >= 4; p += 4) {
        if (!t[b[p]])
            return p;
        if (!t[b[p + 1]])
            return p + 1;
        if (!t[b[p + 2]])
            return p + 2;
        if (!t[b[p + 3]])
            return p + 3;
    }
    while (p < end && t[b[p]])
        p++;
    return p;
}

/* pt_http_span() for field values and reason phrases (CTLs but HTAB, and DEL, stop it),
 * 16 bytes a step where SSE2 is there: long values (cookies, tokens, user agents) are most
 * of the bytes of a head. A step may look at bytes up to len, past end, but the answer is
 * clamped to end. */
static inline size_t
pt_http_span_value(const unsigned char *b, size_t p, size_t end, size_t len)
{
#if defined(__SSE2__)
    const __m128i c1f = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);
    const __m128i tab = _mm_set1_epi8('\t'), zero = _mm_setzero_si128();

    for (; p < end && len - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *) (const void *) (b + p));
        __m128i ctl = _mm_cmpeq_epi8(_mm_subs_epu8(x, c1f), zero);
        __m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(x, tab), ctl),
                                   _mm_cmpeq_epi8(x, del));
        unsigned m = (unsigned) _mm_movemask_epi8(bad);

        if (m != 0)
            return pt_min(p + (size_t) __builtin_ctz(m), end);
    }
    if (p >= end)
        return end;
#else
    (void) len;
#endif
    return pt_http_span(pt_http_value, b, p, end);
}

/* pt_http_span() for the request-target (VCHAR but '#'), as pt_http_span_value(). */
static inline size_t
pt_http_span_target(const unsigned char *b, size_t p, size_t end, size_t len)
{
#if defined(__SSE2__)
    const __m128i c20 = _mm_set1_epi8(0x20), c7e = _mm_set1_epi8(0x7e);
    const __m128i hash = _mm_set1_epi8('#'), zero = _mm_setzero_si128();

    for (; p < end && len - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *) (const void *) (b + p));
        __m128i low = _mm_cmpeq_epi8(_mm_subs_epu8(x, c20), zero);     /* <= 0x20 */
        __m128i high = _mm_cmpeq_epi8(_mm_subs_epu8(x, c7e), zero);    /* <= 0x7e */
        __m128i good = _mm_andnot_si128(_mm_or_si128(low, _mm_cmpeq_epi8(x, hash)), high);
        unsigned m = (unsigned) _mm_movemask_epi8(good) ^ 0xffffu;

        if (m != 0)
            return pt_min(p + (size_t) __builtin_ctz(m), end);
    }
    if (p >= end)
        return end;
#else
    (void) len;
#endif
    return pt_http_span(pt_http_target, b, p, end);
}

/* Case-insensitive compare of p[0..n) with a lowercase literal of the same length. */
static bool
pt_http_ieq(const char *p, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pt_http_lower((unsigned char) p[i]) != (unsigned char) lit[i])
            return false;
    }
    return true;
}

static int
pt_http_fail(pt_http_scan_t *x, int status, const char *why)
{
    x->error = why;
    return status;
}

/* Out of bytes at p: need more, unless a limit says the line or head is too long. */
static int
pt_http_out(pt_http_scan_t *x, size_t p, bool line_full, bool in_start_line)
{
    if (line_full || (x->capped && in_start_line))
        return pt_http_fail(x, 414, x->response ? "status line too long"
                                                 : "request line too long");
    if (x->capped)
        return pt_http_fail(x, 431, "header section too large");
    x->stop = p;
    return PT_AGAIN;
}

/* Why a byte that ended a token is wrong where it stands. */
static const char *
pt_http_bad_byte(unsigned c, const char *otherwise)
{
    if (c == '\n')
        return "bare LF";
    if (c == '\r')
        return "bare CR";
    if (c == 0)
        return "NUL byte";
    return otherwise;
}

/* "HTTP/" DIGIT "." DIGIT at p, followed by what the caller checks. Returns the major
 * version, -1 on a syntax error, -2 when the bytes end first. */
static int
pt_http_scan_version(const unsigned char *b, size_t p, size_t end, unsigned *minor)
{
    static const char name[] = "HTTP/";

    for (size_t i = 0; i < 5; i++, p++) {
        if (p == end)
            return -2;
        if (b[p] != (unsigned char) name[i])
            return -1;
    }
    if (p == end)
        return -2;
    if (!pt_http_is_digit(b[p]))
        return -1;
    if (p + 1 == end)
        return -2;
    if (b[p + 1] != '.')
        return -1;
    if (p + 2 == end)
        return -2;
    if (!pt_http_is_digit(b[p + 2]))
        return -1;
    *minor = b[p + 2] - '0';
    return b[p] - '0';
}

/* CRLF at p, then *next is past it. PT_OK, PT_AGAIN (bytes end) or 400. */
static int
pt_http_scan_crlf(pt_http_scan_t *x, size_t p, size_t end, const char *otherwise)
{
    if (p == end)
        return PT_AGAIN;
    if (x->b[p] != '\r')
        return pt_http_fail(x, 400, pt_http_bad_byte(x->b[p], otherwise));
    if (p + 1 == end)
        return PT_AGAIN;
    if (x->b[p + 1] != '\n')
        return pt_http_fail(x, 400, "bare CR");
    return PT_OK;
}

/* The request line from state st at p; tok is where the current token began. The line
 * with its CRLF must end by ls + max_line + 2. On PT_OK, *next is the first field line. */
static int
pt_http_scan_request_line(pt_http_scan_t *x, size_t ls, size_t p, int st, size_t tok,
                          size_t *next)
{
    const unsigned char *b = x->b;
    size_t lim = ls + x->max_line + 2;
    size_t end = pt_min(x->end, lim);
    unsigned minor = 0;
    int major, rc;

    switch (st) {
    case PT_HS_METHOD:
        p = pt_http_span(pt_http_tchar, b, p, end);
        if (p == end)
            return pt_http_out(x, p, end == lim, true);
        if (p == ls)
            return pt_http_fail(x, 400, b[p] == '\n' ? "bare LF" : "invalid request line");
        if (b[p] != ' ')
            return pt_http_fail(x, 400, pt_http_bad_byte(b[p], "invalid character in method"));
        if (x->h)
            x->h->method = (pt_str_t) { (const char *) b + ls, p - ls };
        tok = ++p;
        /* fallthrough */
    case PT_HS_TARGET:
        p = pt_http_span_target(b, p, end, x->len);
        if (p == end)
            return pt_http_out(x, p, end == lim, true);
        if (b[p] != ' ' || p == tok) {
            if (p == tok)
                return pt_http_fail(x, 400, "empty request-target");
            if (b[p] == '#')
                return pt_http_fail(x, 400, "fragment in request-target");
            if (b[p] >= 0x80)
                return pt_http_fail(x, 400, "8-bit byte in request-target");
            if (b[p] == '\r' || b[p] == '\n')
                return pt_http_fail(x, 400, "no HTTP version in request line");
            return pt_http_fail(x, 400, "invalid character in request-target");
        }
        if (x->h)
            x->h->target = (pt_str_t) { (const char *) b + tok, p - tok };
        tok = ++p;
        /* fallthrough */
    case PT_HS_VERSION:
        p = tok;
        major = pt_http_scan_version(b, p, end, &minor);
        if (major == -2)
            return pt_http_out(x, p, end == lim, true);
        if (major < 0)
            return pt_http_fail(x, 400, "invalid HTTP version");
        p += 8;
        rc = pt_http_scan_crlf(x, p, end, "invalid HTTP version");
        if (rc == PT_AGAIN)
            return pt_http_out(x, p, end == lim, true);
        if (rc != PT_OK)
            return rc;
        if (major != 1)
            return pt_http_fail(x, 505, "unsupported HTTP version");
        if (x->h)
            x->h->version_minor = minor > 0;
        *next = p + 2;
        return PT_OK;
    }
    return pt_http_fail(x, 400, "invalid request line");
}

/* The status line "HTTP/1.x SP 3DIGIT [SP reason] CRLF" from state st at p. */
static int
pt_http_scan_status_line(pt_http_scan_t *x, size_t ls, size_t p, int st, size_t tok,
                         size_t *next)
{
    const unsigned char *b = x->b;
    size_t lim = ls + x->max_line + 2;
    size_t end = pt_min(x->end, lim);
    unsigned minor = 0, status;
    int major, rc;

    if (st == PT_HS_STATUS_LINE) {
        p = ls;
        major = pt_http_scan_version(b, p, end, &minor);
        if (major == -2)
            return pt_http_out(x, p, end == lim, true);
        if (major < 0)
            return pt_http_fail(x, 400, "invalid HTTP version");
        if (major != 1)
            return pt_http_fail(x, 400, "unsupported HTTP version");
        p += 8;
        for (size_t i = 0; i < 4; i++) {
            if (p + i == end)
                return pt_http_out(x, p, end == lim, true);
            if (i == 0 ? b[p] != ' ' : !pt_http_is_digit(b[p + i]))
                return pt_http_fail(x, 400, "invalid status code");
        }
        status = (b[p + 1] - '0') * 100u + (b[p + 2] - '0') * 10u + (b[p + 3] - '0');
        if (status < 100)
            return pt_http_fail(x, 400, "invalid status code");
        p += 4;
        if (p == end)
            return pt_http_out(x, p, end == lim, true);
        if (x->h) {
            x->h->version_minor = minor > 0;
            x->h->status = status;
            x->h->reason = (pt_str_t) { (const char *) b + p, 0 };
        }
        /* RFC 9112 §4: recipients SHOULD accept a status line without SP and reason. */
        if (b[p] != '\r') {
            if (b[p] != ' ')
                return pt_http_fail(x, 400, pt_http_bad_byte(b[p], "invalid status code"));
            p++;
        }
        tok = p;
    }
    p = pt_http_span_value(b, p, end, x->len);
    if (p == end)
        return pt_http_out(x, p, end == lim, true);
    rc = pt_http_scan_crlf(x, p, end, "invalid character in reason phrase");
    if (rc == PT_AGAIN)
        return pt_http_out(x, p, end == lim, true);
    if (rc != PT_OK)
        return rc;
    if (x->h)
        x->h->reason = (pt_str_t) { (const char *) b + tok, p - tok };
    *next = p + 2;
    return PT_OK;
}

static unsigned pt_http_lookup(const char *p, size_t n);

/* Field lines from state st at p until the empty line that ends the head. ls is where the
 * current line began, colon where its name ended (both only needed when recording). */
static int
pt_http_scan_fields(pt_http_scan_t *x, size_t p, int st, size_t ls, size_t colon)
{
    const unsigned char *b = x->b;
    size_t end = x->end;
    unsigned c;

    for (;;) {
        switch (st) {
        case PT_HS_LINE:
            ls = p;
            if (p == end)
                return pt_http_out(x, p, false, false);
            c = b[p];
            if (!pt_http_tchar[c]) {
                if (c == '\r') {
                    if (p + 1 == end)
                        return pt_http_out(x, p, false, false);
                    if (b[p + 1] != '\n')
                        return pt_http_fail(x, 400, "bare CR");
                    x->head_len = p + 2;
                    return PT_OK;
                }
                if (c == ' ' || c == '\t')
                    return pt_http_fail(x, 400, "obs-fold or whitespace at start of field line");
                if (c == ':')
                    return pt_http_fail(x, 400, "empty field name");
                return pt_http_fail(x, 400,
                                    pt_http_bad_byte(c, "invalid character in field name"));
            }
            p++;
            /* fallthrough */
        case PT_HS_NAME:
            p = pt_http_span(pt_http_tchar, b, p, end);
            if (p == end)
                return pt_http_out(x, p, false, false);
            if (b[p] != ':') {
                c = b[p];
                if (c == ' ' || c == '\t')
                    return pt_http_fail(x, 400, "whitespace between field name and colon");
                if (c == '\r' || c == '\n')
                    return pt_http_fail(x, 400, "field line without colon");
                return pt_http_fail(x, 400,
                                    pt_http_bad_byte(c, "invalid character in field name"));
            }
            colon = p++;
            /* fallthrough */
        case PT_HS_VALUE:
            p = pt_http_span_value(b, p, end, x->len);
            if (p == end)
                return pt_http_out(x, p, false, false);
            if (b[p] != '\r')
                return pt_http_fail(x, 400,
                                    pt_http_bad_byte(b[p], "invalid character in field value"));
            if (p + 1 == end)
                return pt_http_out(x, p, false, false);
            if (b[p + 1] != '\n')
                return pt_http_fail(x, 400, "bare CR");
            if (x->h != NULL && x->nfields < x->max_fields) {
                pt_http_field_t *f = &x->h->fields[x->nfields];
                size_t v = colon + 1, e = p;

                while (v < e && (b[v] == ' ' || b[v] == '\t'))
                    v++;
                while (e > v && (b[e - 1] == ' ' || b[e - 1] == '\t'))
                    e--;
                f->name = (pt_str_t) { (const char *) b + ls, colon - ls };
                f->value = (pt_str_t) { (const char *) b + v, e - v };
                f->id = (uint8_t) pt_http_lookup(f->name.p, f->name.len);
                f->flags = 0;
            }
            x->nfields++;
            p += 2;
            st = PT_HS_LINE;
            break;
        default:
            return pt_http_fail(x, 400, "invalid field line");
        }
    }
}

/* Scan the head from offset s, which is 0 or an offset a previous call stopped at: every
 * byte before it was valid then. The state at s is re-derived from those bytes, cheaply:
 * memrchr to the line start, memchr for the separators on it. */
static int
pt_http_scan_head(pt_http_scan_t *x, size_t s)
{
    const unsigned char *b = x->b, *lf, *sp;
    size_t ls = 0, tok, colon = 0, p;
    unsigned n = 0;
    int st, rc;

    /* RFC 9112 §2.2: a few empty lines before the start line are ignored. */
    while (n < PT_HTTP_MAX_EMPTY_LINES && ls < x->end && b[ls] == '\r') {
        if (ls + 1 == x->end)
            return pt_http_out(x, ls, false, true);
        if (b[ls + 1] != '\n')
            break;
        ls += 2;
        n++;
    }

    p = pt_max(s, ls);
    tok = ls;
    st = x->response ? PT_HS_STATUS_LINE : PT_HS_METHOD;
    lf = p > ls ? memrchr(b + ls, '\n', p - ls) : NULL;
    if (lf == NULL && p > ls) {
        /* Inside the start line: the SPs before p say which token we are in. */
        sp = memchr(b + ls, ' ', p - ls);
        if (sp != NULL) {
            tok = (size_t) (sp - b) + 1;
            sp = memchr(b + tok, ' ', p - tok);
            if (!x->response)
                st = sp ? PT_HS_VERSION : PT_HS_TARGET;
            else if (sp != NULL)
                st = PT_HS_REASON;
            if (sp != NULL)
                tok = (size_t) (sp - b) + 1;
        }
    }
    if (lf == NULL) {
        rc = x->response ? pt_http_scan_status_line(x, ls, p, st, tok, &p)
                         : pt_http_scan_request_line(x, ls, p, st, tok, &p);
        if (rc != PT_OK)
            return rc;
        return pt_http_scan_fields(x, p, PT_HS_LINE, p, 0);
    }

    /* Inside the field lines: a colon before p means we are in the value. */
    ls = (size_t) (lf - b) + 1;
    st = PT_HS_LINE;
    if (p > ls) {
        const unsigned char *c = memchr(b + ls, ':', p - ls);

        st = c ? PT_HS_VALUE : PT_HS_NAME;
        colon = c ? (size_t) (c - b) : 0;
    }
    return pt_http_scan_fields(x, p, st, ls, colon);
}

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
static unsigned
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

/* Methods are case-sensitive (RFC 9110 §9.1). */
static unsigned
pt_http_method_id(pt_str_t m)
{
    for (unsigned id = PT_METHOD_GET; id < PT_METHOD__COUNT; id++) {
        if (pt_http_methods[id].len == m.len && memcmp(pt_http_methods[id].p, m.p, m.len) == 0)
            return id;
    }
    return PT_METHOD_OTHER;
}

/* ---- field values ------------------------------------------------------------------ */

static size_t
pt_http_skip_ows(const unsigned char *v, size_t i, size_t n)
{
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    return i;
}

static size_t
pt_http_skip_token(const unsigned char *v, size_t i, size_t n)
{
    while (i < n && pt_http_tchar[v[i]])
        i++;
    return i;
}

/* quoted-string at v[i] == '"'; returns the offset after it, or 0 if malformed. */
static size_t
pt_http_skip_quoted(const unsigned char *v, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (v[i] == '"')
            return i + 1;
        if (v[i] == '\\' && ++i == n)
            return 0;
    }
    return 0;   /* field values hold no CTL but HTAB, so the bytes inside are all valid */
}

/* token / quoted-string at v[i]; returns the offset after it, or 0 if absent or bad. */
static size_t
pt_http_skip_word(const unsigned char *v, size_t i, size_t n)
{
    size_t e;

    if (i < n && v[i] == '"')
        return pt_http_skip_quoted(v, i, n);
    e = pt_http_skip_token(v, i, n);
    return e > i ? e : 0;
}

#define PT_LIST_PARAMS  0x01    /* element = token *( OWS ";" OWS token BWS "=" BWS word ) */
#define PT_LIST_VALUE   0x02    /* element = token [ "=" word ] then parameters */

/* Next element of a #list from v[*i]; empty elements are skipped (RFC 9110 §5.6.1).
 * Returns 1 with tok set (*has_extra when it had a value or parameters), 0 at the end,
 * -1 on a syntax error. */
static int
pt_http_list_next(const unsigned char *v, size_t n, size_t *i, unsigned flags, pt_str_t *tok,
                  bool *has_extra)
{
    size_t p = *i, e;

    while (p < n && (v[p] == ' ' || v[p] == '\t' || v[p] == ','))
        p++;
    if (p == n) {
        *i = p;
        return 0;
    }
    e = pt_http_skip_token(v, p, n);
    if (e == p)
        return -1;
    *tok = (pt_str_t) { (const char *) v + p, e - p };
    *has_extra = false;
    p = e;
    if ((flags & PT_LIST_VALUE) && p < n && v[p] == '=') {
        if ((p = pt_http_skip_word(v, p + 1, n)) == 0)
            return -1;
        *has_extra = true;
    }
    p = pt_http_skip_ows(v, p, n);
    while ((flags & (PT_LIST_PARAMS | PT_LIST_VALUE)) && p < n && v[p] == ';') {
        p = pt_http_skip_ows(v, p + 1, n);
        e = pt_http_skip_token(v, p, n);
        if (e == p)
            return -1;
        p = pt_http_skip_ows(v, e, n);
        if (p == n || v[p] != '=')
            return -1;
        p = pt_http_skip_ows(v, p + 1, n);
        if ((p = pt_http_skip_word(v, p, n)) == 0)
            return -1;
        p = pt_http_skip_ows(v, p, n);
        *has_extra = true;
    }
    if (p < n && v[p] != ',')
        return -1;
    *i = p;
    return 1;
}

/* Content-Length = 1*DIGIT, or a list of one repeated value. -1 if malformed. */
static int64_t
pt_http_content_length(pt_str_t s)
{
    const unsigned char *v = (const unsigned char *) s.p;
    size_t i = 0, n = s.len, d;
    int64_t first = -1, val;

    for (;;) {
        for (d = i, val = 0; i < n && pt_http_is_digit(v[i]); i++) {
            val = val * 10 + (v[i] - '0');
            if (val > PT_HTTP_MAX_CONTENT_LENGTH)
                return -1;
        }
        if (i == d || (first >= 0 && val != first))
            return -1;
        first = val;
        i = pt_http_skip_ows(v, i, n);
        if (i == n)
            return first;
        if (v[i] != ',')
            return -1;
        i = pt_http_skip_ows(v, i + 1, n);
    }
}

/* ---- request and response semantics ------------------------------------------------ */

static int
pt_http_reject(pt_http_head_t *h, int status, const char *why)
{
    h->error = why;
    return status;
}

/* Split the request-target by form (RFC 9112 §3.2) and check that it fits the method. */
static int
pt_http_request_target(pt_http_head_t *h)
{
    const char *t = h->target.p, *q, *why;
    size_t n = h->target.len, ps = 0, a;

    if (h->method_id == PT_METHOD_CONNECT) {
        /* RFC 9110 §9.3.6: authority-form only, and the port is not optional. */
        h->target_form = PT_HTTP_FORM_AUTHORITY;
        if (t[0] == '/' || t[0] == '*' || memchr(t, '/', n) != NULL)
            return pt_http_reject(h, 400, "CONNECT needs an authority-form target");
        if ((why = pt_uri_check_authority(t, n, PT_URI_NEED_HOST | PT_URI_NEED_PORT)))
            return pt_http_reject(h, 400, why);
        h->authority = h->target;
        h->path = (pt_str_t) { t, 0 };
        return PT_OK;
    }
    if (t[0] == '*' && n == 1) {
        if (h->method_id != PT_METHOD_OPTIONS)
            return pt_http_reject(h, 400, "asterisk-form target without OPTIONS");
        h->target_form = PT_HTTP_FORM_ASTERISK;
        h->path = h->target;
        return PT_OK;
    }
    if (t[0] != '/') {
        /* absolute-form: "http" / "https" "://" authority path-abempty [ "?" query ] */
        h->target_form = PT_HTTP_FORM_ABSOLUTE;
        if (n >= 7 && pt_http_ieq(t, "http://", 7))
            a = 7;
        else if (n >= 8 && pt_http_ieq(t, "https://", 8))
            a = 8;
        else
            return pt_http_reject(h, 400, "invalid request-target");
        for (ps = a; ps < n && t[ps] != '/' && t[ps] != '?'; ps++)
            ;
        h->authority = (pt_str_t) { t + a, ps - a };
        if ((why = pt_uri_check_authority(t + a, ps - a, PT_URI_NEED_HOST)))
            return pt_http_reject(h, 400, why);
    }
    q = memchr(t + ps, '?', n - ps);
    h->path = (pt_str_t) { t + ps, (q ? (size_t) (q - t) : n) - ps };
    if (q != NULL)
        h->query = (pt_str_t) { q + 1, n - (size_t) (q - t) - 1 };
    if (h->path.len == 0)
        h->path = PT_STR("/");
    return PT_OK;
}

/* Transfer-Encoding, accumulated over every such field in order. */
typedef struct {
    unsigned codings;       /* non-empty elements */
    unsigned chunked;       /* how many of them were chunked */
    bool last_chunked;
    bool unknown;           /* a coding portico does not implement */
    bool bad;               /* syntax, or parameters on chunked */
} pt_http_te_t;

static void
pt_http_te_add(pt_http_te_t *te, pt_str_t v)
{
    size_t i = 0;
    pt_str_t tok;
    bool extra;
    int rc;

    while ((rc = pt_http_list_next((const unsigned char *) v.p, v.len, &i, PT_LIST_PARAMS,
                                   &tok, &extra)) > 0) {
        te->codings++;
        te->last_chunked = tok.len == 7 && pt_http_ieq(tok.p, "chunked", 7);
        if (te->last_chunked) {
            te->chunked++;
            te->bad |= extra;
        } else {
            te->unknown = true;
        }
    }
    te->bad |= rc < 0;
}

/* The framing and routing facts common to requests and responses. Returns PT_OK or
 * 400 with h->error set; te is filled for the caller's framing rules. */
static int
pt_http_fields(pt_http_head_t *h, pt_http_te_t *te, bool response)
{
    for (unsigned k = 0; k < h->nfields; k++) {
        pt_http_field_t *f = &h->fields[k];
        const unsigned char *v = (const unsigned char *) f->value.p;
        size_t i = 0;
        pt_str_t tok;
        bool extra;
        int64_t cl;
        int rc;

        switch (f->id) {
        case PT_HDR_HOST:
            if (response)
                break;
            if (h->host_field >= 0)
                return pt_http_reject(h, 400, "more than one Host field");
            h->host_field = (int) k;
            h->host = f->value;
            if (pt_uri_check_authority(f->value.p, f->value.len, 0) != NULL)
                return pt_http_reject(h, 400, "invalid Host field");
            break;
        case PT_HDR_CONTENT_LENGTH:
            if ((cl = pt_http_content_length(f->value)) < 0)
                return pt_http_reject(h, 400, "invalid Content-Length");
            if (h->content_length >= 0 && h->content_length != cl)
                return pt_http_reject(h, 400, "conflicting Content-Length values");
            h->content_length = cl;
            break;
        case PT_HDR_TRANSFER_ENCODING:
            h->has_te = true;
            pt_http_te_add(te, f->value);
            if (te->bad)
                return pt_http_reject(h, 400, "invalid Transfer-Encoding");
            break;
        case PT_HDR_CONNECTION:
            while ((rc = pt_http_list_next(v, f->value.len, &i, 0, &tok, &extra)) > 0) {
                if (tok.len == 5 && pt_http_ieq(tok.p, "close", 5))
                    h->conn |= PT_HTTP_CONN_CLOSE;
                else if (tok.len == 10 && pt_http_ieq(tok.p, "keep-alive", 10))
                    h->conn |= PT_HTTP_CONN_KEEPALIVE;
                else if (tok.len == 7 && pt_http_ieq(tok.p, "upgrade", 7))
                    h->conn |= PT_HTTP_CONN_UPGRADE;
                else
                    h->conn |= PT_HTTP_CONN_OTHER;
            }
            if (rc < 0)
                return pt_http_reject(h, 400, "invalid Connection");
            break;
        case PT_HDR_EXPECT:
            if (response)
                break;
            while ((rc = pt_http_list_next(v, f->value.len, &i, PT_LIST_VALUE, &tok,
                                           &extra)) > 0) {
                if (!extra && tok.len == 12 && pt_http_ieq(tok.p, "100-continue", 12))
                    h->expect_continue = true;
                else
                    h->expect_other = true;
            }
            if (rc < 0)
                h->expect_other = true;
            break;
        case PT_HDR_UPGRADE:
            if (h->upgrade.p == NULL)
                h->upgrade = f->value;
            break;
        default:
            break;
        }
    }
    return PT_OK;
}

static int
pt_http_request_semantics(pt_http_head_t *h)
{
    pt_http_te_t te = { 0 };
    int rc;

    h->method_id = (uint8_t) pt_http_method_id(h->method);
    if ((rc = pt_http_request_target(h)) != PT_OK)
        return rc;
    if ((rc = pt_http_fields(h, &te, false)) != PT_OK)
        return rc;
    if (h->version_minor == 1 && h->host_field < 0)
        return pt_http_reject(h, 400, "no Host field in HTTP/1.1 request");
    if (h->target_form == PT_HTTP_FORM_ABSOLUTE)
        h->host = h->authority;    /* RFC 9112 §3.2.2: the target wins over Host */
    if (h->version_minor == 0)
        h->expect_continue = false;
    if (!h->has_te)
        return PT_OK;
    if (h->version_minor == 0)
        return pt_http_reject(h, 400, "Transfer-Encoding in HTTP/1.0 request");
    if (h->content_length >= 0)
        return pt_http_reject(h, 400, "both Transfer-Encoding and Content-Length");
    if (te.codings == 0)
        return pt_http_reject(h, 400, "empty Transfer-Encoding");
    if (!te.last_chunked)
        return pt_http_reject(h, 400, "final transfer coding is not chunked");
    if (te.chunked > 1)
        return pt_http_reject(h, 400, "chunked applied more than once");
    if (te.unknown)
        return pt_http_reject(h, 501, "unsupported transfer coding");
    h->chunked = true;
    return PT_OK;
}

static int
pt_http_response_semantics(pt_http_head_t *h)
{
    pt_http_te_t te = { 0 };
    int rc;

    if ((rc = pt_http_fields(h, &te, true)) != PT_OK)
        return rc;
    if (!h->has_te)
        return PT_OK;
    if (te.codings == 0)
        return pt_http_reject(h, 400, "empty Transfer-Encoding");
    if (te.chunked > 1)
        return pt_http_reject(h, 400, "chunked applied more than once");
    /* RFC 9112 §6.3: TE overrides CL; a final coding other than chunked reads until close.
     * Either conflict means the upstream connection cannot be trusted for another message. */
    h->chunked = te.last_chunked;
    if (h->content_length >= 0 || h->version_minor == 0)
        h->framing_conflict = true;
    h->content_length = -1;
    return PT_OK;
}

/* ---- entry points ------------------------------------------------------------------ */

static int
pt_http_parse(pt_http_head_t *h, const char *buf, size_t len, const pt_http_limits_t *lim,
              size_t *scanned, bool response)
{
    pt_http_field_t *fields = h->fields;
    size_t max_head = lim->max_head ? pt_min(lim->max_head, SIZE_MAX / 4)
                                    : PT_HTTP_DEFAULT_MAX_HEAD;
    size_t max_line = lim->max_line ? lim->max_line : PT_HTTP_DEFAULT_MAX_LINE;
    size_t s = *scanned;
    pt_http_scan_t x;
    int rc;

    memset(h, 0, sizeof(*h));
    h->fields = fields;
    h->content_length = -1;
    h->host_field = -1;

    x.b = (const unsigned char *) buf;
    x.end = pt_min(len, max_head);
    x.len = len;
    x.capped = len >= max_head;
    x.response = response;
    x.max_line = pt_min(max_line, max_head);   /* a longer line hits max_head first anyway */
    x.max_fields = fields != NULL ? lim->max_fields : 0;
    x.nfields = 0;
    x.stop = 0;
    x.head_len = 0;
    x.error = NULL;

    /* Resuming: validate only the new bytes; parse from the start once the end shows. */
    if (s > 0 && s <= x.end) {
        x.h = NULL;
        rc = pt_http_scan_head(&x, s);
        if (rc == PT_OK) {
            x.nfields = 0;
            x.h = h;
            rc = pt_http_scan_head(&x, 0);
        }
    } else {
        x.h = h;
        rc = pt_http_scan_head(&x, 0);
    }

    if (rc == PT_AGAIN) {
        *scanned = x.stop;
        return PT_AGAIN;
    }
    if (rc == PT_OK) {
        h->head_len = x.head_len;
        h->nfields = pt_min(x.nfields, x.max_fields);
        if (x.nfields > x.max_fields)
            rc = pt_http_fail(&x, 431, "too many header fields");
        else
            rc = response ? pt_http_response_semantics(h) : pt_http_request_semantics(h);
        if (rc == PT_OK)
            return PT_OK;
        if (x.error != NULL)
            h->error = x.error;
    } else {
        h->error = x.error;
    }
    return response ? 502 : rc;
}

int
pt_http_parse_request(pt_http_head_t *h, const char *buf, size_t len,
                      const pt_http_limits_t *lim, size_t *scanned)
{
    return pt_http_parse(h, buf, len, lim, scanned, false);
}

int
pt_http_parse_response(pt_http_head_t *h, const char *buf, size_t len,
                       const pt_http_limits_t *lim, size_t *scanned)
{
    return pt_http_parse(h, buf, len, lim, scanned, true);
}

int
pt_http_response_body(const pt_http_head_t *resp, unsigned request_method)
{
    unsigned s = resp->status;

    if (request_method == PT_METHOD_HEAD || s < 200 || s == 204 || s == 304
        || (request_method == PT_METHOD_CONNECT && s < 300))
        return PT_HTTP_BODY_NONE;
    if (resp->has_te)
        return resp->chunked ? PT_HTTP_BODY_CHUNKED : PT_HTTP_BODY_CLOSE;
    if (resp->content_length >= 0)
        return PT_HTTP_BODY_LENGTH;
    return PT_HTTP_BODY_CLOSE;
}

int
pt_http_request_body(const pt_http_head_t *req)
{
    if (req->chunked)
        return PT_HTTP_BODY_CHUNKED;
    if (req->content_length >= 0)
        return PT_HTTP_BODY_LENGTH;
    return PT_HTTP_BODY_NONE;
}

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
