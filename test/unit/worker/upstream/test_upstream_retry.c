/*
 * test_upstream_retry.c: retry_on names and the retry budget's arithmetic
 * and counting (worker/upstream/upstream_retry.h).
 */
#include "common/pt.h"

#include "worker/core/core.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_retry.h"
#include "test/unit/tap.h"

static pt_upstream_group_t group;

int main(void)
{
    const char *names[] = { "connect", "503", "reset", NULL };

    is(pt_upstream_retry_on_mask(names), PT_RETRY_ON_CONNECT | PT_RETRY_ON_503 | PT_RETRY_ON_RESET,
       "retry_on names to bits");
    is(pt_upstream_retry_on_mask(NULL), 0, "no list: nothing");
    is(pt_upstream_retry_on_status(502), PT_RETRY_ON_502, "502");
    is(pt_upstream_retry_on_status(504), PT_RETRY_ON_504, "504");
    is(pt_upstream_retry_on_status(500), 0, "500 cannot be named");

    ok(pt_upstream_retry_budget_allows(0, 0, 0, 20, 3), "the floor allows the first retries");
    ok(!pt_upstream_retry_budget_allows(0, 3, 3, 20, 3), "  up to the floor a second");
    ok(pt_upstream_retry_budget_allows(100, 19, 5, 20, 3), "20 %% of 100: the 20th");
    ok(!pt_upstream_retry_budget_allows(100, 20, 5, 20, 3), "  not the 21st");
    ok(!pt_upstream_retry_budget_allows(1000, 0, 0, 0, 0), "0 %% and no floor: none");
    ok(pt_upstream_retry_budget_allows(UINT32_MAX, UINT32_MAX - 1, 9, 100, 0),
       "100 %%: as many retries as requests, without overflow");

    pt_upstream_t u = { .name = "u", .retries = 2, .retry_budget = 10, .retry_budget_floor = 2,
                        .group = &group };
    int64_t t = 5000000;        /* ms */
    for (int i = 0; i < 50; i++)
        pt_upstream_retry_request(&u, t);
    int granted = 0;
    for (int i = 0; i < 20; i++)
        granted += pt_upstream_retry_take(&u, t);
    is(granted, 5, "50 requests at 10 %%: 5 retries in their second");
    int later = 0;
    for (int i = 0; i < 20; i++)
        later += pt_upstream_retry_take(&u, t + 1000);
    is(later, 2, "the next second without requests: the floor of 2");
    for (int i = 0; i < 100; i++)
        pt_upstream_retry_request(&u, t + 11000);
    int fresh = 0;
    for (int i = 0; i < 40; i++)
        fresh += pt_upstream_retry_take(&u, t + 11000);
    is(fresh, 10, "past the window the old seconds no longer count");

    pt_upstream_group_view_t gv;
    pt_upstream_health_group_read(&u, t + 11000, &gv);
    ok(gv.requests == 100 && gv.retries == 10 && gv.prober_pid == 0,
       "the read API shows the window's counts");

    pt_upstream_t none = { .name = "n", .retries = 2 };
    ok(pt_upstream_retry_take(&none, t), "no shared record: allowed");
    return done_testing();
}
