/*
 * http_parse.c: strict HTTP/1.1 head parser: the byte tables, the scanner and the entry
 * points.
 *
 * One pass over the head does the syntax (table lookups, tight loops per token) and
 * records the request line and the fields; a second, short walk over the recorded
 * fields derives framing and routing facts (http_semantics.c). Only the resume offset
 * survives between calls, so a head that arrives in pieces is first validated from where
 * the last call stopped (the state there is re-derived from the bytes before it) and,
 * once its end is seen, parsed again from the start. Both walks run the same scanning
 * code, which is what makes the result independent of how the bytes were split. The
 * well-known field names the scanner looks up are in http_names.c.
 */
#include "common/pt.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "worker/http/http_parse.h"
#include "worker/http/http_parse_int.h"

const char pt_http_err_too_many_fields[] = "too many header fields";

/* tchar (RFC 9110 §5.6.2): field names, methods, tokens. Shared: http_parse_int.h. */
const uint8_t pt_http_tchar[256] = {
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
            rc = pt_http_fail(&x, 431, pt_http_err_too_many_fields);
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
