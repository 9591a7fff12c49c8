/*
 * cache_serve.h: answering a request from a stored response: Age, the
 * client's preconditions (RFC 9110 §13.2.2 order: If-Match,
 * If-Unmodified-Since, If-None-Match, If-Modified-Since, then Range with
 * If-Range), 304 with the fields §15.4.5 lists, 206 and 416 for one byte
 * range, HEAD from a stored GET. The answer goes out through
 * pt_response_send, so the route's header and body filters (compression,
 * say) apply to hits as to any response.
 */
#ifndef PT_CACHE_SERVE_H
#define PT_CACHE_SERVE_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/http/cache_control.h"
#include "worker/mod/cache/cache_store.h"

/* What a precondition evaluation decided. */
enum pt_cache_cond { PT_CACHE_COND_FULL = 0, PT_CACHE_COND_304, PT_CACHE_COND_412 };

/* Preconditions of request fields req against a stored ETag (empty: none),
 * last-modified time (-1: none) and Date (-1: none), which stands in for
 * Last-Modified in If-Modified-Since only (RFC 9111 §4.3.2). */
enum pt_cache_cond pt_cache_preconditions(const pt_http_field_t *req, unsigned nreq,
                                          pt_str_t etag, int64_t last_modified, int64_t date);

/* The request fields serving looks at, found in one pass over the head
 * (pt_cache_req_scan), so a plain hit scans nothing again. */
#define PT_CACHE_RQ_PRECOND     0x01    /* If-Match, If-None-Match, If-(Un)Modified-Since */
#define PT_CACHE_RQ_NOCACHE     0x02    /* Pragma: no-cache */
#define PT_CACHE_RQ_CC          0x04    /* a Cache-Control field */
#define PT_CACHE_RQ_AUTH        0x08    /* Authorization */
#define PT_CACHE_RQ_VALIDATOR   0x10    /* If-None-Match or If-Modified-Since */

typedef struct {
    unsigned flags;
    const pt_http_field_t *range;
    const pt_http_field_t *if_range;
} pt_cache_req_t;

/* Scan the request's fields into rq, and its Cache-Control lines into cc. */
void pt_cache_req_scan(const pt_request_t *r, pt_cache_req_t *rq, pt_cache_cc_t *cc);

/* Answer r from o at current age `age`. hide: field names not to send
 * (no-cache="..." of a response not revalidated now). */
void pt_cache_serve(pt_request_t *r, const pt_cache_obj_t *o, int64_t age, pt_str_t hide,
                    const pt_cache_req_t *rq);

#endif
