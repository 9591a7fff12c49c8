/*
 * http_parse_int.h: private to the HTTP/1.1 head parser. Included only by
 * worker/http_parse.c, worker/http_names.c and worker/http_semantics.c; every other
 * file uses worker/http_parse.h. Include it after common/pt.h and worker/http_parse.h.
 *
 * The parser is three files along two seams: http_parse.c scans the bytes (syntax, the
 * hot path), http_semantics.c derives framing and routing facts from what was recorded,
 * http_names.c knows the well-known field names, the methods and the reason phrases.
 * These are the calls and the table that cross between them.
 */
#ifndef PT_HTTP_PARSE_INT_H
#define PT_HTTP_PARSE_INT_H

/* tchar (RFC 9110 §5.6.2): field names, methods, tokens. Defined in http_parse.c, whose
 * scanner is its main reader. */
extern const uint8_t pt_http_tchar[256];

static inline bool
pt_http_is_digit(unsigned c)
{
    return c - '0' < 10u;
}

/* http_names.c: the id of the tchar name p[0..n), PT_HDR_OTHER if it is not well
 * known. Called by the scanner once per recorded field. */
unsigned pt_http_lookup(const char *p, size_t n);

/* http_names.c: the id of a method name (case-sensitive), PT_METHOD_OTHER if unknown. */
unsigned pt_http_method_id(pt_str_t m);

/* http_semantics.c: once the head is scanned and its fields recorded, the method id, the
 * target form and the framing and routing facts of a request or a response. Return PT_OK,
 * or an HTTP status with h->error set (requests: 400 or 501; responses: 400, which the
 * caller turns into 502). */
int pt_http_request_semantics(pt_http_head_t *h);
int pt_http_response_semantics(pt_http_head_t *h);

#endif
