/*
 * upstream_retry.c: retry_on names and the shared retry budget (see
 * upstream_retry.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_retry.h"

#include <stdatomic.h>

static const struct {
    const char *name;
    uint32_t bit;
} pt_retry_on_names[] = {
    { "connect", PT_RETRY_ON_CONNECT }, { "timeout", PT_RETRY_ON_TIMEOUT },
    { "reset", PT_RETRY_ON_RESET }, { "502", PT_RETRY_ON_502 },
    { "503", PT_RETRY_ON_503 }, { "504", PT_RETRY_ON_504 },
};

static uint32_t pt_retry_on_bit(const char *name)
{
    for (size_t i = 0; i < sizeof(pt_retry_on_names) / sizeof(pt_retry_on_names[0]); i++)
        if (strcmp(pt_retry_on_names[i].name, name) == 0)
            return pt_retry_on_names[i].bit;
    return 0;
}

int pt_upstream_retry_on_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    if (pt_retry_on_bit(item) == 0) {
        pt_conf_error(cf, s, "retry_on: unknown failure \"%s\" (connect, timeout, reset, 502, "
                      "503, 504)", item);
        return PT_ERROR;
    }
    return PT_OK;
}

uint32_t pt_upstream_retry_on_mask(const char *const *list)
{
    uint32_t mask = 0;

    for (size_t i = 0; list && list[i]; i++)
        mask |= pt_retry_on_bit(list[i]);
    return mask;
}

uint32_t pt_upstream_retry_on_status(unsigned status)
{
    return status == 502 ? PT_RETRY_ON_502 : status == 503 ? PT_RETRY_ON_503
           : status == 504 ? PT_RETRY_ON_504 : 0;
}

bool pt_upstream_retry_budget_allows(uint64_t requests, uint64_t retries, uint64_t this_second,
                                     int64_t percent, int64_t floor)
{
    if (this_second < (uint64_t) floor)
        return true;
    /* retries + 1 <= requests x percent / 100, without the division */
    return (retries + 1) * 100 <= requests * (uint64_t) percent;
}

/* The bucket of second sec, recycled if it still holds an older second. */
static unsigned pt_retry_bucket(pt_upstream_group_t *g, int64_t sec)
{
    unsigned i = (unsigned) (sec % PT_UPSTREAM_BUDGET_SECONDS);
    int64_t old = atomic_load(&g->sec[i]);

    if (old != sec && atomic_compare_exchange_strong(&g->sec[i], &old, sec)) {
        atomic_store(&g->requests[i], 0);
        atomic_store(&g->retried[i], 0);
    }
    return i;
}

void pt_upstream_retry_request(const pt_upstream_t *u, pt_msec_t now)
{
    pt_upstream_group_t *g = u->group;

    if (g == NULL || u->retries == 0)
        return;
    atomic_fetch_add(&g->requests[pt_retry_bucket(g, now / 1000)], 1);
}

bool pt_upstream_retry_take(const pt_upstream_t *u, pt_msec_t now)
{
    pt_upstream_group_t *g = u->group;
    int64_t sec = now / 1000;

    if (g == NULL)
        return true;
    unsigned cur = pt_retry_bucket(g, sec);
    uint64_t requests = 0, retries = 0;
    for (unsigned i = 0; i < PT_UPSTREAM_BUDGET_SECONDS; i++) {
        if (sec - atomic_load(&g->sec[i]) >= PT_UPSTREAM_BUDGET_SECONDS)
            continue;               /* an old second nobody recycled yet */
        requests += atomic_load(&g->requests[i]);
        retries += atomic_load(&g->retried[i]);
    }
    if (pt_upstream_retry_budget_allows(requests, retries, atomic_load(&g->retried[cur]),
                                        u->retry_budget, u->retry_budget_floor)) {
        atomic_fetch_add(&g->retried[cur], 1);
        return true;
    }
    int64_t logged = atomic_load(&g->budget_logged);
    if (logged != sec && atomic_compare_exchange_strong(&g->budget_logged, &logged, sec))
        pt_log(PT_LOG_INFO, "upstream %s: retry budget exhausted (%llu retries for %llu "
               "requests in %ds; retry_budget %lld%%, retry_budget_floor %lld/s)", u->name,
               (unsigned long long) retries, (unsigned long long) requests,
               PT_UPSTREAM_BUDGET_SECONDS, (long long) u->retry_budget,
               (long long) u->retry_budget_floor);
    return false;
}
