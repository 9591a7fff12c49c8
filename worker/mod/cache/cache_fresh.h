/*
 * cache_fresh.h: freshness and age (RFC 9111 §4.2) as pure arithmetic on
 * seconds, with the clock passed in, so tests can move time at will.
 */
#ifndef PT_CACHE_FRESH_H
#define PT_CACHE_FRESH_H

#include "common/pt.h"
#include "worker/http/cache_control.h"

/* What a stored response's freshness rests on, fixed when it is stored. */
typedef struct {
    int64_t corrected_initial_age;  /* §4.2.3 */
    int64_t response_time;          /* when the response arrived (s) */
    int64_t lifetime;               /* freshness_lifetime (s) */
    int64_t swr;                    /* stale-while-revalidate window, -1: none */
    int64_t sie;                    /* stale-if-error window, -1: none */
    bool no_cache;                  /* must be validated before every use */
    bool must_revalidate;           /* must-revalidate, proxy-revalidate or s-maxage */
} pt_cache_fresh_t;

/* §4.2.3: corrected_initial_age from the times the request went out and
 * the response came in, the response's Date (-1: none, taken as
 * response_time) and Age (-1: none). */
int64_t pt_cache_initial_age(int64_t request_time, int64_t response_time, int64_t date_value,
                             int64_t age_value);

/* §4.2.3: current_age at now. */
int64_t pt_cache_current_age(const pt_cache_fresh_t *f, int64_t now);

/* §4.2.1 for a shared cache: s-maxage, max-age, Expires - Date; -1 when
 * the response gives no explicit lifetime. expires is -2 when the field
 * is absent, -1 when invalid (already expired). */
int64_t pt_cache_explicit_lifetime(const pt_cache_cc_t *cc, int64_t date_value,
                                   int64_t expires, int64_t response_time);

/* §4.2.2: a tenth of the time since Last-Modified, at most max; 0 when
 * there is no usable Last-Modified. */
int64_t pt_cache_heuristic_lifetime(int64_t date_value, int64_t last_modified, int64_t max);

/* §15.1 of RFC 9110: statuses cacheable by default (heuristically). */
bool pt_cache_status_heuristic(unsigned status);

enum pt_cache_use {
    PT_CACHE_USE_FRESH = 0,     /* serve it */
    PT_CACHE_USE_STALE,         /* stale, but the request's max-stale allows it */
    PT_CACHE_USE_SWR,           /* stale: serve and refresh in the background */
    PT_CACHE_USE_VALIDATE       /* validate (or fetch) first */
};

/* What a request with directives req (Pragma: no-cache folded in as
 * no-cache) may do with a stored response at now; *age gets current_age. */
enum pt_cache_use pt_cache_usable(const pt_cache_fresh_t *f, const pt_cache_cc_t *req,
                                  int64_t now, int64_t *age);

/* Whether a stale response may answer for a failed upstream (stale-if-error
 * of the response or of the request, RFC 5861 §4; never under
 * must-revalidate). */
bool pt_cache_stale_if_error(const pt_cache_fresh_t *f, const pt_cache_cc_t *req, int64_t now);

#endif
