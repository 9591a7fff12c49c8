/*
 * cache_control.h: the header fields HTTP caching reads, as plain values:
 * Cache-Control directives (RFC 9111 §5.2) of requests and responses, the
 * HTTP dates of Date, Expires and Last-Modified (RFC 9110 §5.6.7), the
 * delta-seconds of Age, byte ranges (RFC 9110 §14.1.2) and entity-tag
 * lists (§8.8.3). HTTP semantics, no allocation, no state: the response
 * cache (mod/cache/) uses it, the fuzzer and unit tests drive it directly.
 */
#ifndef PT_CACHE_CONTROL_H
#define PT_CACHE_CONTROL_H

#include "common/pt.h"

/* pt_cache_cc_t.flags */
#define PT_CC_NO_STORE          0x0001
#define PT_CC_NO_CACHE          0x0002  /* unqualified no-cache */
#define PT_CC_NO_CACHE_FIELDS   0x0004  /* no-cache="a, b": see no_cache_fields */
#define PT_CC_PRIVATE           0x0008  /* unqualified private */
#define PT_CC_PRIVATE_FIELDS    0x0010  /* private="a, b": see private_fields */
#define PT_CC_PUBLIC            0x0020
#define PT_CC_MUST_REVALIDATE   0x0040
#define PT_CC_PROXY_REVALIDATE  0x0080
#define PT_CC_NO_TRANSFORM      0x0100
#define PT_CC_ONLY_IF_CACHED    0x0200
#define PT_CC_MAX_STALE_ANY     0x0400  /* max-stale without a value */
#define PT_CC_IMMUTABLE         0x0800
#define PT_CC_MUST_UNDERSTAND   0x1000

/* delta-seconds past this are this (RFC 9111 §1.2.2). */
#define PT_CC_DELTA_MAX         INT64_C(2147483648)

typedef struct {
    unsigned flags;
    /* -1: absent. An invalid value of max-age or s-maxage is 0 (stale),
     * RFC 9111 §4.2.1 lets a cache take such a response as stale. */
    int64_t max_age;
    int64_t s_maxage;
    int64_t max_stale;
    int64_t min_fresh;
    int64_t stale_while_revalidate;     /* RFC 5861 */
    int64_t stale_if_error;
    pt_str_t no_cache_fields;           /* the quoted list, without quotes */
    pt_str_t private_fields;
} pt_cache_cc_t;

/* An empty result: every value absent. */
void pt_cache_cc_init(pt_cache_cc_t *cc);

/* Add the directives of one Cache-Control field line to cc (several
 * lines are one list, RFC 9110 §5.3). The first occurrence of a
 * directive with a value wins. Unknown directives are ignored (§5.2.3). */
void pt_cache_cc_parse(pt_cache_cc_t *cc, pt_str_t value);

/* An HTTP date in any of the three forms (IMF-fixdate, RFC 850, asctime)
 * as seconds since the epoch; -1 when it is not a valid date. */
int64_t pt_cache_parse_date(pt_str_t s);

/* A delta-seconds value (Age): -1 when invalid, capped at PT_CC_DELTA_MAX. */
int64_t pt_cache_parse_delta(pt_str_t s);

/* Whether the comma-separated field-name list holds name (case-insensitive). */
bool pt_cache_list_has(pt_str_t list, pt_str_t name);

/* A Range field against a body of len bytes: the number n of satisfiable
 * ranges, [first[i], last[i]] each, in the order asked (at most max); 0 to
 * send the whole body (not bytes, bad syntax, more than max ranges); -1
 * when none is satisfiable (416). */
int pt_cache_ranges(pt_str_t range, uint64_t len, uint64_t *first, uint64_t *last, int max);

/* pt_cache_ranges for one range: 1, 0 (also for several), or -1. */
int pt_cache_range(pt_str_t range, uint64_t len, uint64_t *first, uint64_t *last);

/* Whether ETag a weakly matches b (RFC 9110 §8.8.3.2). */
bool pt_cache_etag_weak_eq(pt_str_t a, pt_str_t b);

/* Whether ETag a matches b strongly (neither weak, same opaque tag). */
bool pt_cache_etag_strong_eq(pt_str_t a, pt_str_t b);

/* Whether an If-Match / If-None-Match list ("*", or entity-tags) matches
 * etag, by strong or weak comparison. */
bool pt_cache_etag_list_match(pt_str_t list, pt_str_t etag, bool strong);

#endif
