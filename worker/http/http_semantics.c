/*
 * http_semantics.c: the second, short walk of the HTTP/1.1 head parser. Once http_parse.c
 * has checked the syntax of a head and recorded its fields, this derives what the head
 * means: the request-target form, Content-Length, Transfer-Encoding, Host, Connection and
 * Expect, and from them the framing (pt_http_request_body, pt_http_response_body). The
 * field-value grammar it needs (OWS, token, quoted-string, #list) is here too.
 */
#include "common/pt.h"

#include "worker/http/http_parse.h"
#include "worker/http/http_parse_int.h"
#include "worker/http/uri.h"

static inline unsigned
pt_http_lower(unsigned c)
{
    return c + ((c - 'A' < 26u) << 5);
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

/* The facts of a scanned request; contract in http_parse_int.h. */
int
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

/* The facts of a scanned response; contract in http_parse_int.h. */
int
pt_http_response_semantics(pt_http_head_t *h)
{
    pt_http_te_t te = { 0 };
    int rc;

    if ((rc = pt_http_fields(h, &te, true)) != PT_OK)
        return rc;
    h->te_other = te.unknown;
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

/* ---- framing ----------------------------------------------------------------------- */

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
