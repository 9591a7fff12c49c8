/*
 * http_parse.h: strict HTTP/1.1 request and response head parser (RFC 9110, RFC 9112).
 *
 * Pure functions: no I/O, no allocation, no state kept between calls except the
 * caller's resume offset. Every pt_str_t filled in points into the caller's buffer.
 *
 * Where the RFCs leave a choice, portico takes these (the conformance suites judge
 * us on the MUSTs, so we keep every one of them):
 *  - Line terminators are CRLF only. A bare LF or a bare CR anywhere in a head is
 *    rejected (400 for requests, 502 for responses).
 *  - Up to PT_HTTP_MAX_EMPTY_LINES empty lines (CRLF) before the start line are
 *    skipped (RFC 9112 §2.2), for responses too; they count in head_len.
 *  - request-target: any VCHAR except '#' (a fragment is never sent on the wire);
 *    CTL, SP, DEL, '#' and bytes >= 0x80 give 400. Percent-encoding is checked by
 *    pt_uri_normalize() on the path, not here.
 *  - HTTP/1.x with x >= 1 is treated as HTTP/1.1 (version_minor 1). A well-formed
 *    version with another major gives 505 (requests); anything else is 400.
 *  - Content-Length: several fields or a comma list all holding the same decimal
 *    value are accepted as one (RFC 9110 §8.6); empty elements are not. Values above
 *    PT_HTTP_MAX_CONTENT_LENGTH are rejected. Forward content_length, not the raw
 *    fields, which may be duplicated or a list.
 *  - Empty list elements are accepted in Transfer-Encoding, Connection and Expect
 *    (RFC 9110 §5.6.1 says recipients MUST); a value with no element at all is not
 *    accepted in Transfer-Encoding. Parameters on "chunked" are rejected. portico
 *    implements no transfer coding but chunked, so any other gives 501 (requests).
 *  - An empty Host value is accepted (RFC 9112 §3.2 has clients send one when the
 *    target has no authority); the router decides what it means. A port must be
 *    digits only and at most 65535; it may be empty after ':' as RFC 3986 allows,
 *    except in the authority-form of CONNECT, which needs one.
 *  - Responses: Transfer-Encoding wins over Content-Length (content_length is then
 *    -1) and framing_conflict is set; Transfer-Encoding in an HTTP/1.0 response sets
 *    framing_conflict too (RFC 9112 §6.1: faulty framing, close after the message).
 *    A final coding other than chunked means the body runs until close.
 *  - A 100-continue expectation in an HTTP/1.0 request is ignored (RFC 9110
 *    §10.1.1). A malformed Expect value counts as an unknown expectation.
 *  - Too many fields and every error that needs the whole head (framing, Host,
 *    target form) are reported only once the head is complete and its syntax is
 *    valid. Syntax errors and the size limits are found in byte order as the bytes
 *    arrive. The result therefore never depends on how the bytes were split.
 */
#ifndef PT_HTTP_PARSE_H
#define PT_HTTP_PARSE_H

#define PT_HTTP_MAX_EMPTY_LINES     4
#define PT_HTTP_MAX_CONTENT_LENGTH  ((int64_t) 1 << 53)
#define PT_HTTP_DEFAULT_MAX_LINE    8192    /* used when a limit is 0 */
#define PT_HTTP_DEFAULT_MAX_HEAD    32768

enum pt_http_method {
    PT_METHOD_OTHER = 0, PT_METHOD_GET, PT_METHOD_HEAD, PT_METHOD_POST, PT_METHOD_PUT,
    PT_METHOD_DELETE, PT_METHOD_CONNECT, PT_METHOD_OPTIONS, PT_METHOD_TRACE, PT_METHOD_PATCH,
    PT_METHOD__COUNT
};

/* Well-known field ids, found while parsing (case-insensitive). */
enum pt_http_hdr {
    PT_HDR_OTHER = 0, PT_HDR_HOST, PT_HDR_CONTENT_LENGTH, PT_HDR_TRANSFER_ENCODING,
    PT_HDR_CONNECTION, PT_HDR_KEEP_ALIVE, PT_HDR_PROXY_CONNECTION, PT_HDR_UPGRADE, PT_HDR_TE,
    PT_HDR_TRAILER, PT_HDR_PROXY_AUTHENTICATE, PT_HDR_PROXY_AUTHORIZATION, PT_HDR_EXPECT,
    PT_HDR_X_FORWARDED_FOR, PT_HDR_X_FORWARDED_PROTO, PT_HDR_X_FORWARDED_HOST, PT_HDR_FORWARDED,
    PT_HDR_VIA, PT_HDR_X_REQUEST_ID, PT_HDR_USER_AGENT, PT_HDR_REFERER, PT_HDR_CONTENT_TYPE,
    PT_HDR_DATE, PT_HDR_SERVER, PT_HDR_AUTHORIZATION, PT_HDR_COOKIE, PT_HDR_ACCEPT_ENCODING,
    PT_HDR_CONTENT_ENCODING, PT_HDR_LOCATION, PT_HDR__COUNT
};

typedef struct {
    pt_str_t name;          /* points into the caller's buffer */
    pt_str_t value;         /* OWS stripped at both ends */
    uint8_t id;             /* enum pt_http_hdr */
    uint8_t flags;          /* for the caller (e.g. "drop when forwarding"); the parser sets 0 */
} pt_http_field_t;

enum {
    PT_HTTP_FORM_ORIGIN = 0, PT_HTTP_FORM_ABSOLUTE, PT_HTTP_FORM_AUTHORITY, PT_HTTP_FORM_ASTERISK
};

/* Connection tokens seen */
#define PT_HTTP_CONN_CLOSE      0x01
#define PT_HTTP_CONN_KEEPALIVE  0x02
#define PT_HTTP_CONN_UPGRADE    0x04
#define PT_HTTP_CONN_OTHER      0x08   /* another token: the caller must drop the fields it names */

typedef struct {
    size_t max_line;        /* request line / status line cap, CRLF excluded -> 414 or 502 */
    size_t max_head;        /* whole head cap, leading empty lines and final CRLF included -> 431 */
    unsigned max_fields;    /* field count cap -> 431; also the capacity of the fields array */
} pt_http_limits_t;

typedef struct {
    /* request line (requests only) */
    pt_str_t method;
    uint8_t method_id;      /* enum pt_http_method; methods are case-sensitive */
    uint8_t target_form;    /* PT_HTTP_FORM_* */
    pt_str_t target;        /* raw request-target */
    pt_str_t path;          /* origin-form path, or the path of an absolute-form target ("/" if it
                             * has none); "*" for asterisk-form; empty for authority-form */
    pt_str_t query;         /* without '?'; .p == NULL when there is no '?' */
    pt_str_t authority;     /* host[:port] from an absolute-form or authority-form target */
    /* status line (responses only) */
    unsigned status;
    pt_str_t reason;
    /* both */
    uint8_t version_minor;  /* HTTP/1.x: 0, or 1 for any x >= 1 */
    pt_http_field_t *fields;/* caller-provided array of limits->max_fields entries */
    unsigned nfields;
    /* framing and routing facts derived from the fields */
    int64_t content_length; /* -1 when absent (or overridden by Transfer-Encoding) */
    bool chunked;           /* Transfer-Encoding present and its final coding is chunked */
    bool has_te;            /* a Transfer-Encoding field was present */
    bool te_other;          /* response: a transfer coding other than chunked */
    unsigned conn;          /* PT_HTTP_CONN_* */
    bool expect_continue;   /* Expect: 100-continue (HTTP/1.1 requests) */
    bool expect_other;      /* another expectation: the caller answers 417 */
    bool framing_conflict;  /* response framed by TE despite CL, or TE in HTTP/1.0: the caller
                             * must close the upstream connection after this response */
    pt_str_t host;          /* the Host field value (requests), or the authority of an
                             * absolute-form target; empty if absent */
    int host_field;         /* index into fields of Host, -1 if none */
    pt_str_t upgrade;       /* first Upgrade field value, empty if absent */
    const char *error;      /* on failure: a short static reason for logs and problem details */
    size_t head_len;        /* bytes of the head including the final CRLF */
} pt_http_head_t;

/* Parse a request head from buf[0..len). The caller calls again with the same buffer start
 * and a larger len as bytes arrive (the buffer may have moved between calls; nothing in *h
 * is kept between calls except via *scanned). *scanned is the caller's resume offset: 0 for
 * a new head, then whatever the previous PT_AGAIN left in it; it is meaningful only for the
 * same bytes. h->fields must point at lim->max_fields entries (it may be NULL if that is 0);
 * every other member of *h is overwritten. lim must not be NULL; a max_line or max_head of 0
 * means PT_HTTP_DEFAULT_MAX_LINE / _HEAD.
 * Returns PT_OK when the whole head is parsed (h->head_len set), PT_AGAIN when more bytes are
 * needed, or an HTTP status (400, 414, 431, 501, 505) for a request that must be rejected,
 * with h->error saying why. The result does not depend on how the bytes were split. */
int pt_http_parse_request(pt_http_head_t *h, const char *buf, size_t len,
                          const pt_http_limits_t *lim, size_t *scanned);

/* Same for a response head. Every error is returned as 502 (a malformed upstream response),
 * with h->error saying why. 1xx responses parse normally (the caller loops). */
/* h->error when the head had more fields than lim->max_fields (compare the pointer): a
 * caller may parse again with a larger array. */
extern const char pt_http_err_too_many_fields[];
int pt_http_parse_response(pt_http_head_t *h, const char *buf, size_t len,
                           const pt_http_limits_t *lim, size_t *scanned);

enum { PT_HTTP_BODY_NONE = 0, PT_HTTP_BODY_LENGTH, PT_HTTP_BODY_CHUNKED, PT_HTTP_BODY_CLOSE };

/* RFC 9112 §6.3 for a parsed response to a request of method request_method (enum
 * pt_http_method): HEAD, 1xx, 204, 304 and 2xx-to-CONNECT have no body; then chunked;
 * then Content-Length; else the body runs until the connection closes. */
int pt_http_response_body(const pt_http_head_t *resp, unsigned request_method);

/* RFC 9112 §6.3 for a parsed request: chunked, Content-Length, or no body (never CLOSE). */
int pt_http_request_body(const pt_http_head_t *req);

/* Standard reason phrase of status, "Unknown" otherwise. Never NULL. */
const char *pt_http_reason(unsigned status);

/* RFC 9110 9.2.2: whether a method is idempotent, so that a request a dead connection may
 * still have delivered can be sent again; methods not known are taken as not. */
bool pt_http_method_idempotent(unsigned method_id);

/* The name of a known method id; an empty string for PT_METHOD_OTHER or out of range. */
pt_str_t pt_http_method_name(unsigned method_id);

/* The canonical name of a well-known field id ("Content-Length"); empty for PT_HDR_OTHER
 * or out of range. */
pt_str_t pt_http_hdr_name(unsigned hdr_id);

/* The id of a field name (case-insensitive), PT_HDR_OTHER if it is not well known. */
unsigned pt_http_hdr_id(const char *name, size_t len);

#endif
