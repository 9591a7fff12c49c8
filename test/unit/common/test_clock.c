/*
 * test_clock.c: cached clocks and the date strings.
 */
#include "common/pt.h"

#include <regex.h>
#include <time.h>

#include "common/clock.h"
#include "test/unit/tap.h"

static bool
matches(pt_str_t s, const char *re)
{
    char buf[128];
    regex_t rx;
    bool m;

    snprintf(buf, sizeof(buf), "%.*s", (int) s.len, s.p);
    if (regcomp(&rx, re, REG_EXTENDED) != 0)
        return false;
    m = regexec(&rx, buf, 0, NULL, 0) == 0;
    regfree(&rx);
    return m;
}

int
main(void)
{
    pt_str_t http, log, iso;
    struct tm tm;
    char want[64];
    time_t t;

    /* The getters update a clock that never ran. */
    http = pt_clock_http_date();
    ok(pt_clock_now > 0 && pt_clock_wall > 0, "getter before update initialised the clock");

    pt_clock_update();
    http = pt_clock_http_date();
    log = pt_clock_log_time();
    iso = pt_clock_iso_time();

    ok(matches(http, "^(Sun|Mon|Tue|Wed|Thu|Fri|Sat), [0-9]{2} "
               "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
               "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT$"), "http date shape: %.*s",
       (int) http.len, http.p);
    is(http.len, 29, "http date is 29 bytes");
    ok(matches(log, "^[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000$"),
       "log time shape: %.*s", (int) log.len, log.p);
    ok(matches(iso, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"),
       "iso time shape: %.*s", (int) iso.len, iso.p);

    /* The strings show the cached second, as strftime in UTC would. */
    t = pt_clock_wall;
    gmtime_r(&t, &tm);
    strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
    ok(iso.len == strlen(want) && memcmp(iso.p, want, iso.len) == 0, "iso time = strftime UTC");
    strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);   /* C locale */
    ok(http.len == strlen(want) && memcmp(http.p, want, http.len) == 0,
       "http date = strftime UTC");
    strftime(want, sizeof(want), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    ok(log.len == strlen(want) && memcmp(log.p, want, log.len) == 0, "log time = strftime UTC");

    {
        uint64_t ms = pt_clock_wall_ms();
        ok(ms / 1000 == (uint64_t) pt_clock_wall, "wall ms agrees with wall seconds");
    }

    /* Monotonic: never goes back, and moves. */
    {
        pt_msec_t before = pt_clock_now;
        struct timespec ts = { 0, 20 * 1000000 };
        bool back = false;

        for (int i = 0; i < 1000; i++) {
            pt_msec_t prev = pt_clock_now;
            pt_clock_update();
            back |= pt_clock_now < prev;
        }
        ok(!back, "monotonic clock never goes back");
        nanosleep(&ts, NULL);
        pt_clock_update();
        ok(pt_clock_now - before >= 20, "monotonic clock advanced after a 20 ms sleep");
    }

    return done_testing();
}
