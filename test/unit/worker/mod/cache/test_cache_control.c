/*
 * test_cache_control.c: Cache-Control directives, HTTP dates, delta-seconds,
 * and the freshness and age arithmetic of RFC 9111 §4.2 with a clock the
 * test moves.
 */
#include "common/pt.h"

#include "worker/http/cache_control.h"
#include "worker/mod/cache/cache_fresh.h"
#include "test/unit/tap.h"

static pt_cache_cc_t cc_of(const char *s)
{
    pt_cache_cc_t cc;

    pt_cache_cc_init(&cc);
    pt_cache_cc_parse(&cc, (pt_str_t) { s, strlen(s) });
    return cc;
}

static void test_directives(void)
{
    pt_cache_cc_t cc = cc_of("max-age=60, s-maxage=30, public");
    is(cc.max_age, 60, "max-age");
    is(cc.s_maxage, 30, "s-maxage");
    ok(cc.flags & PT_CC_PUBLIC, "public");
    cc = cc_of("MAX-AGE=\"120\"");
    is(cc.max_age, 120, "quoted and upper-case max-age");
    cc = cc_of("max-age=10, max-age=99");
    is(cc.max_age, 10, "the first of two max-age wins");
    cc = cc_of("max-age=abc");
    is(cc.max_age, 0, "an invalid max-age is stale");
    cc = cc_of("max-age=-5");
    is(cc.max_age, 0, "a negative max-age is stale");
    cc = cc_of("max-age=99999999999999999999");
    is(cc.max_age, PT_CC_DELTA_MAX, "max-age overflow is 2^31");
    cc = cc_of("no-cache=\"set-cookie, x-a\", private");
    ok(cc.flags & PT_CC_NO_CACHE_FIELDS, "qualified no-cache");
    ok(!(cc.flags & PT_CC_NO_CACHE), "qualified no-cache is not unqualified");
    ok(cc.flags & PT_CC_PRIVATE, "private");
    ok(cc.no_cache_fields.len == 15 && memcmp(cc.no_cache_fields.p, "set-cookie, x-a", 15) == 0,
       "no-cache field list");
    cc = cc_of("private=\"x-b\"");
    ok((cc.flags & PT_CC_PRIVATE_FIELDS) && !(cc.flags & PT_CC_PRIVATE), "qualified private");
    cc = cc_of("no-store,no-cache,must-revalidate,proxy-revalidate,no-transform,only-if-cached");
    is(cc.flags & (PT_CC_NO_STORE | PT_CC_NO_CACHE | PT_CC_MUST_REVALIDATE
                   | PT_CC_PROXY_REVALIDATE | PT_CC_NO_TRANSFORM | PT_CC_ONLY_IF_CACHED),
       PT_CC_NO_STORE | PT_CC_NO_CACHE | PT_CC_MUST_REVALIDATE | PT_CC_PROXY_REVALIDATE
       | PT_CC_NO_TRANSFORM | PT_CC_ONLY_IF_CACHED, "every flag");
    cc = cc_of("max-stale");
    ok(cc.flags & PT_CC_MAX_STALE_ANY, "max-stale without a value");
    cc = cc_of("max-stale=5, min-fresh=7, stale-while-revalidate=8, stale-if-error=9");
    ok(cc.max_stale == 5 && cc.min_fresh == 7 && cc.stale_while_revalidate == 8
       && cc.stale_if_error == 9, "numeric request and RFC 5861 directives");
    cc = cc_of(" , ,foo=\"a,b\", max-age=5 ,, bar");
    is(cc.max_age, 5, "unknown directives and a quoted comma skipped");
    cc = cc_of("max-age =60");
    is(cc.max_age, 0, "space before '=': no valid value, stale");
    cc = cc_of("max-age= 60");
    is(cc.max_age, 0, "space after '=': no valid value, stale");
    cc = cc_of("");
    ok(cc.flags == 0 && cc.max_age == -1, "empty");
}

static void test_dates(void)
{
    is(pt_cache_parse_date(PT_STR("Sun, 06 Nov 1994 08:49:37 GMT")), 784111777, "IMF-fixdate");
    is(pt_cache_parse_date(PT_STR("Sunday, 06-Nov-94 08:49:37 GMT")), 784111777, "RFC 850");
    is(pt_cache_parse_date(PT_STR("Sun Nov  6 08:49:37 1994")), 784111777, "asctime");
    is(pt_cache_parse_date(PT_STR("Thu, 01 Jan 1970 00:00:00 GMT")), 0, "the epoch");
    is(pt_cache_parse_date(PT_STR("0")), -1, "Expires: 0 is invalid");
    is(pt_cache_parse_date(PT_STR("Sun, 06 Nov 1994 08:49:37 UTC")), -1, "not GMT");
    is(pt_cache_parse_date(PT_STR("Sun, 06 Foo 1994 08:49:37 GMT")), -1, "no such month");
    is(pt_cache_parse_date(PT_STR("Sun, 06 Nov 1994 25:49:37 GMT")), -1, "no such hour");
    is(pt_cache_parse_delta(PT_STR("42")), 42, "delta");
    is(pt_cache_parse_delta(PT_STR("4 2")), -1, "bad delta");
    is(pt_cache_parse_delta(PT_STR("")), -1, "empty delta");
}

static void test_ranges(void)
{
    uint64_t f[4], l[4];

    is(pt_cache_ranges(PT_STR("bytes=0-9"), 100, f, l, 4), 1, "one range");
    ok(f[0] == 0 && l[0] == 9, "its bounds");
    is(pt_cache_ranges(PT_STR("bytes=-10"), 100, f, l, 4), 1, "a suffix");
    ok(f[0] == 90 && l[0] == 99, "the last ten");
    is(pt_cache_ranges(PT_STR("bytes=50-"), 100, f, l, 4), 1, "open-ended");
    ok(f[0] == 50 && l[0] == 99, "to the end");
    is(pt_cache_ranges(PT_STR("bytes=0-1, 5-6,200-"), 100, f, l, 4), 2,
       "two satisfiable of three");
    ok(f[1] == 5 && l[1] == 6, "the second");
    is(pt_cache_ranges(PT_STR("bytes=200-"), 100, f, l, 4), -1, "unsatisfiable");
    is(pt_cache_ranges(PT_STR("bytes=-0"), 100, f, l, 4), -1, "an empty suffix");
    is(pt_cache_ranges(PT_STR("bytes=5-1"), 100, f, l, 4), 0, "last before first: ignored");
    is(pt_cache_ranges(PT_STR("items=0-1"), 100, f, l, 4), 0, "another unit: ignored");
    is(pt_cache_ranges(PT_STR("bytes=0-1,2-3,4-5,6-7,8-9"), 100, f, l, 4), 0,
       "more than max: the whole body");
    is(pt_cache_range(PT_STR("bytes=0-1,2-3"), 100, f, l), 0, "one only: several ignored");
    ok(pt_cache_etag_list_match(PT_STR("W/\"a\", \"b\""), PT_STR("\"b\""), true),
       "strong match in a list");
    ok(!pt_cache_etag_list_match(PT_STR("W/\"a\""), PT_STR("\"a\""), true),
       "a weak tag never matches strongly");
    ok(pt_cache_etag_list_match(PT_STR("W/\"a\""), PT_STR("\"a\""), false), "but weakly");
    ok(!pt_cache_etag_list_match(PT_STR("a"), PT_STR("\"a\""), false), "unquoted is not a tag");
}

static void test_age(void)
{
    /* §4.2.3: request sent at 100, response at 102 with Date 90 and Age 5 */
    int64_t a = pt_cache_initial_age(100, 102, 90, 5);
    is(a, 12, "apparent age (12) beats corrected age value (5 + 2)");
    is(pt_cache_initial_age(100, 102, 101, 30), 32, "corrected age value (30 + 2) wins");
    is(pt_cache_initial_age(100, 102, 200, -1), 2, "a Date in the future: response delay");
    is(pt_cache_initial_age(100, 100, -1, -1), 0, "no Date, no Age");
    pt_cache_fresh_t f = { .corrected_initial_age = a, .response_time = 102, .lifetime = 60,
                           .swr = -1, .sie = -1 };
    is(pt_cache_current_age(&f, 102), 12, "current age at arrival");
    is(pt_cache_current_age(&f, 150), 60, "plus resident time");

    pt_cache_cc_t none;
    pt_cache_cc_init(&none);
    int64_t age;
    is(pt_cache_usable(&f, &none, 149, &age), PT_CACHE_USE_FRESH, "fresh at 59");
    is(age, 59, "age reported");
    is(pt_cache_usable(&f, &none, 150, &age), PT_CACHE_USE_VALIDATE, "stale at 60");
    pt_cache_cc_t rq = cc_of("max-stale=10");
    is(pt_cache_usable(&f, &rq, 155, &age), PT_CACHE_USE_STALE, "max-stale covers 5");
    is(pt_cache_usable(&f, &rq, 165, &age), PT_CACHE_USE_VALIDATE, "but not 15");
    f.must_revalidate = true;
    is(pt_cache_usable(&f, &rq, 155, &age), PT_CACHE_USE_VALIDATE,
       "must-revalidate overrides max-stale");
    f.must_revalidate = false;
    rq = cc_of("max-age=20");
    is(pt_cache_usable(&f, &rq, 120, &age), PT_CACHE_USE_VALIDATE, "request max-age");
    rq = cc_of("max-age=0");
    is(pt_cache_usable(&f, &rq, 90, &age), PT_CACHE_USE_VALIDATE, "request max-age=0");
    rq = cc_of("min-fresh=30");
    is(pt_cache_usable(&f, &rq, 125, &age), PT_CACHE_USE_VALIDATE, "min-fresh");
    is(pt_cache_usable(&f, &rq, 110, &age), PT_CACHE_USE_FRESH, "min-fresh met");
    rq = cc_of("no-cache");
    is(pt_cache_usable(&f, &rq, 110, &age), PT_CACHE_USE_VALIDATE, "request no-cache");
    f.swr = 10;
    is(pt_cache_usable(&f, &none, 155, &age), PT_CACHE_USE_SWR, "stale-while-revalidate");
    is(pt_cache_usable(&f, &none, 175, &age), PT_CACHE_USE_VALIDATE, "past it");
    f.sie = 30;
    ok(pt_cache_stale_if_error(&f, &none, 170), "stale-if-error within");
    ok(!pt_cache_stale_if_error(&f, &none, 200), "stale-if-error past");
    rq = cc_of("stale-if-error=100");
    ok(pt_cache_stale_if_error(&f, &rq, 200), "the request's stale-if-error");
}

static void test_lifetime(void)
{
    pt_cache_cc_t cc = cc_of("max-age=10, s-maxage=20");
    is(pt_cache_explicit_lifetime(&cc, 0, 1000, 0), 20, "s-maxage first");
    cc = cc_of("max-age=10");
    is(pt_cache_explicit_lifetime(&cc, 0, 1000, 0), 10, "then max-age");
    cc = cc_of("");
    is(pt_cache_explicit_lifetime(&cc, 100, 160, 0), 60, "then Expires - Date");
    is(pt_cache_explicit_lifetime(&cc, -1, 160, 100), 60, "Expires - response time without Date");
    is(pt_cache_explicit_lifetime(&cc, 100, -1, 0), 0, "an invalid Expires is expired");
    is(pt_cache_explicit_lifetime(&cc, 100, -2, 0), -1, "nothing explicit");
    is(pt_cache_heuristic_lifetime(1000, 0, 86400), 100, "a tenth since Last-Modified");
    is(pt_cache_heuristic_lifetime(1000000, 0, 3600), 3600, "capped");
    ok(pt_cache_status_heuristic(404) && !pt_cache_status_heuristic(302), "default statuses");
}

int main(void)
{
    test_directives();
    test_dates();
    test_ranges();
    test_age();
    test_lifetime();
    return done_testing();
}
