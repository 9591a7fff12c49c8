/*
 * test_limit_gcra.c: GCRA arithmetic (burst exactness, spacing, delay,
 * retry, rollback), quotas and calendar periods with an injected clock.
 */
#include "worker/mod/limit/ratelimit/limit_gcra.c"

#include "test/unit/tap.h"

#define MS  UINT64_C(1000000)
#define S   PT_LIMIT_NS

static void test_burst_exact(void)
{
    pt_gcra_t g;
    _Atomic uint64_t tat = 0;
    pt_limit_answer_t a;
    uint64_t now = 1000 * S;

    is(pt_gcra_setup(&g, 10, S, 5, -1), PT_OK, "10r/s burst 5");
    is((long long) g.interval, (long long) (100 * MS), "interval 100 ms");
    unsigned allowed = 0;
    for (unsigned i = 0; i < 20; i++) {
        pt_gcra_take(&g, &tat, now, &a);
        if (!a.allowed)
            break;
        ok(a.wait == 0, "no delay configured: request %u goes at once", i);
        is((long long) a.remaining, (long long) (5 - i), "remaining after request %u", i);
        allowed++;
    }
    is(allowed, 6, "an idle key sends exactly burst + 1 at once");
    ok(!a.allowed, "the next is refused");
    is((long long) a.retry, (long long) (100 * MS), "retry after one interval");
    pt_gcra_take(&g, &tat, now + 99 * MS, &a);
    ok(!a.allowed, "still refused 1 ms early");
    pt_gcra_take(&g, &tat, now + 100 * MS, &a);
    ok(a.allowed, "allowed one interval later");
    pt_gcra_take(&g, &tat, now + 100 * MS, &a);
    ok(!a.allowed, "and only one");

    _Atomic uint64_t t2 = 0;
    pt_gcra_setup(&g, 10, S, 0, -1);
    pt_gcra_take(&g, &t2, now, &a);
    ok(a.allowed && a.remaining == 0, "burst 0: one request");
    pt_gcra_take(&g, &t2, now, &a);
    ok(!a.allowed, "burst 0: the second at the same instant is refused");

    /* A long run at full speed: rate x time + burst + 1. */
    _Atomic uint64_t t3 = 0;
    pt_gcra_setup(&g, 100, S, 20, -1);
    unsigned got = 0;
    for (uint64_t t = 0; t <= 10 * S; t += MS) {
        pt_gcra_take(&g, &t3, now + t, &a);
        got += a.allowed;
    }
    is(got, 100 * 10 + 20 + 1, "10 s at 100r/s burst 20: 1021 allowed");
}

static void test_rates(void)
{
    pt_gcra_t g;

    is(pt_gcra_setup(&g, 6000, 60 * S, 0, -1), PT_OK, "6000r/m");
    is((long long) g.interval, (long long) (10 * MS), "one every 10 ms");
    is(pt_gcra_setup(&g, 3, 3600 * S, 0, -1), PT_OK, "3r/h");
    is((long long) g.interval, (long long) (1200 * S), "one every 20 minutes");
    is(pt_gcra_setup(&g, 0, S, 0, -1), PT_ERROR, "rate 0 refused");
}

static void test_delay(void)
{
    pt_gcra_t g;
    _Atomic uint64_t tat = 0;
    pt_limit_answer_t a;
    uint64_t now = 50 * S;

    pt_gcra_setup(&g, 10, S, 5, 2);
    uint64_t waits[8];
    unsigned n = 0;
    for (; n < 8; n++) {
        pt_gcra_take(&g, &tat, now, &a);
        if (!a.allowed)
            break;
        waits[n] = a.wait;
    }
    is(n, 6, "delay 2 burst 5: 6 accepted");
    ok(waits[0] == 0 && waits[1] == 0 && waits[2] == 0, "the first delay + 1 go at once");
    is((long long) waits[3], (long long) (100 * MS), "the next waits one interval");
    is((long long) waits[4], (long long) (200 * MS), "then two");
    is((long long) waits[5], (long long) (300 * MS), "then three: in order, spaced");
    ok(!a.allowed, "past the burst: refused");

    _Atomic uint64_t t0 = 0;
    pt_gcra_setup(&g, 10, S, 3, 0);
    pt_gcra_take(&g, &t0, now, &a);
    is((long long) a.wait, 0, "delay 0: the first goes");
    pt_gcra_take(&g, &t0, now, &a);
    is((long long) a.wait, (long long) (100 * MS), "delay 0: the second waits");
}

static void test_rollback(void)
{
    pt_gcra_t g;
    _Atomic uint64_t tat = 0;
    pt_limit_answer_t a;
    uint64_t now = 10 * S;

    pt_gcra_setup(&g, 10, S, 1, -1);
    pt_gcra_take(&g, &tat, now, &a);
    pt_gcra_take(&g, &tat, now, &a);
    ok(a.allowed, "two allowed (burst 1)");
    pt_gcra_rollback(&g, &tat);
    pt_gcra_take(&g, &tat, now, &a);
    ok(a.allowed, "after a rollback the share is back");
    pt_gcra_take(&g, &tat, now, &a);
    ok(!a.allowed, "and no more");
}

static void test_periods(void)
{
    /* 2026-01-31 23:59:59 UTC */
    int64_t t = 1769903999;

    is((long long) pt_limit_period_left(PT_LIMIT_MINUTE, t), 1, "minute: 1 s left");
    is((long long) pt_limit_period_left(PT_LIMIT_DAY, t), 1, "day: 1 s left");
    is((long long) pt_limit_period_left(PT_LIMIT_MONTH, t), 1, "month: 1 s left");
    ok(pt_limit_period_index(PT_LIMIT_MONTH, t) + 1 == pt_limit_period_index(PT_LIMIT_MONTH, t + 1),
       "the next second is the next month");
    is((long long) pt_limit_period_seconds(PT_LIMIT_MONTH, t + 1), 28 * 86400,
       "February 2026 has 28 days");
    /* 2028-02-15: a leap year */
    is((long long) pt_limit_period_seconds(PT_LIMIT_MONTH, 1834185600), 29 * 86400,
       "February 2028 has 29 days");
    is((long long) pt_limit_period_left(PT_LIMIT_HOUR, 3600 * 5), 3600,
       "an hour starting now: all of it left");
    is((long long) pt_limit_period_left(PT_LIMIT_MONTH, 1769904000), 28 * 86400,
       "at the start of February: the whole month left");
}

static void test_quota(void)
{
    _Atomic uint64_t w = 0;
    pt_limit_answer_t a;
    int64_t t = 1769903940;     /* 2026-01-31 23:59:00 */

    for (unsigned i = 0; i < 3; i++) {
        pt_quota_take(3, PT_LIMIT_MINUTE, &w, t + i, &a);
        ok(a.allowed && a.remaining == 2 - i, "quota 3/minute: request %u allowed", i);
    }
    pt_quota_take(3, PT_LIMIT_MINUTE, &w, t + 59, &a);
    ok(!a.allowed, "the fourth in the minute is refused");
    is((long long) a.retry, (long long) (1 * S), "retry at the boundary: 1 s");
    is((long long) a.reset, (long long) (1 * S), "reset at the boundary");
    pt_quota_take(3, PT_LIMIT_MINUTE, &w, t + 60, &a);
    ok(a.allowed && a.remaining == 2, "the next minute starts again");
    pt_quota_rollback(&w, &a);
    pt_quota_take(3, PT_LIMIT_MINUTE, &w, t + 61, &a);
    ok(a.allowed && a.remaining == 2, "a rollback gives the request back");

    _Atomic uint64_t m = 0;
    pt_quota_take(1, PT_LIMIT_MONTH, &m, t, &a);
    ok(a.allowed, "monthly quota 1: January allowed");
    pt_quota_take(1, PT_LIMIT_MONTH, &m, t + 59, &a);
    ok(!a.allowed, "January again: refused");
    is((long long) a.retry, (long long) (1 * S), "until February starts");
    pt_quota_take(1, PT_LIMIT_MONTH, &m, t + 60, &a);
    ok(a.allowed, "February: allowed again");
}

int main(void)
{
    test_burst_exact();
    test_rates();
    test_delay();
    test_rollback();
    test_periods();
    test_quota();
    return done_testing();
}
