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
#include "worker/mod/cache/cache_store.h"

/* What a precondition evaluation decided. */
enum pt_cache_cond { PT_CACHE_COND_FULL = 0, PT_CACHE_COND_304, PT_CACHE_COND_412 };

/* Preconditions of request fields req against a stored ETag (empty: none)
 * and last-modified time (-1: none). */
enum pt_cache_cond pt_cache_preconditions(const pt_http_field_t *req, unsigned nreq,
                                          pt_str_t etag, int64_t last_modified);

/* Answer r from o (a copy in r's arena) at current age `age`. hide: field
 * names not to send (no-cache="..." of a response not revalidated now). */
void pt_cache_serve(pt_request_t *r, const pt_cache_obj_t *o, int64_t age, pt_str_t hide);

#endif
