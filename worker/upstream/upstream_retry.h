/*
 * upstream_retry.h: when a failed try may go to another server (retry_on),
 * and the retry budget that keeps retries from multiplying an outage.
 *
 * The budget is per upstream and gateway-wide: the group record of the
 * shared zone counts requests (first tries) and retries in one-second
 * buckets over the last PT_UPSTREAM_BUDGET_SECONDS seconds. A retry is
 * allowed while the retries of that window stay under retry_budget percent
 * of its requests, or while this second has had fewer than
 * retry_budget_floor retries (so a quiet upstream can still retry). A
 * bucket is recycled by the first worker into a new second; increments
 * racing with that reset may be lost, which only makes the budget a little
 * more generous or strict for that second, never unbounded.
 */
#ifndef PT_UPSTREAM_RETRY_H
#define PT_UPSTREAM_RETRY_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

#define PT_RETRY_ON_CONNECT     0x01u   /* the connect failed or timed out */
#define PT_RETRY_ON_TIMEOUT     0x02u   /* no answer within read_timeout */
#define PT_RETRY_ON_RESET       0x04u   /* the connection closed before any answer */
#define PT_RETRY_ON_502         0x08u
#define PT_RETRY_ON_503         0x10u
#define PT_RETRY_ON_504         0x20u

/* retry_on's check of one name (PT_CONF_STRINGS). */
int pt_upstream_retry_on_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item);

/* The PT_RETRY_ON_* bits of a checked list. */
uint32_t pt_upstream_retry_on_mask(const char *const *list);

/* The bit of an answer's status (0 for statuses retry_on cannot name). */
uint32_t pt_upstream_retry_on_status(unsigned status);

/* The budget's rule: may one more retry go, with requests and retries
 * counted over the window and this_second retries in the current second. */
bool pt_upstream_retry_budget_allows(uint64_t requests, uint64_t retries, uint64_t this_second,
                                     int64_t percent, int64_t floor);

/* A request's first try on u (counted for the budget). */
void pt_upstream_retry_request(const pt_upstream_t *u, pt_msec_t now);

/* Take one retry from u's budget: true (counted), or false when it is
 * spent (logged at info, at most once a second per upstream). An
 * upstream without a record (unit tests) always allows. */
bool pt_upstream_retry_take(const pt_upstream_t *u, pt_msec_t now);

#endif
