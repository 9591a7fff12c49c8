/*
 * clock.c: cached clocks and date strings.
 */
#include "common/pt.h"

#include <time.h>

#include "common/clock.h"

pt_msec_t pt_clock_now;
uint64_t pt_clock_now_us;
time_t pt_clock_wall;

static uint64_t pt_clock_wall_msec;
static bool pt_clock_ready;
static time_t pt_clock_formatted = (time_t) -1;   /* second the strings show */

static char pt_clock_http_buf[sizeof("Sun, 06 Nov 1994 08:49:37 GMT")];
static char pt_clock_log_buf[sizeof("27/Nov/2026:01:02:03 +0000")];
static char pt_clock_iso_buf[sizeof("2026-11-27T01:02:03Z")];
static size_t pt_clock_http_len, pt_clock_log_len, pt_clock_iso_len;

/* English names by hand: strftime would follow the locale. */
static const char pt_clock_days[7][4] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char pt_clock_months[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static void
pt_clock_format(time_t t)
{
    struct tm tm;
    int r;

    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    /* Years past 9999 would not fit the fixed formats; clamp, do not cut. */
    if (tm.tm_year + 1900 > 9999)
        tm.tm_year = 9999 - 1900;
    if (tm.tm_year < 0)
        tm.tm_year = 0;

    r = snprintf(pt_clock_http_buf, sizeof(pt_clock_http_buf),
                 "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 pt_clock_days[tm.tm_wday % 7], tm.tm_mday, pt_clock_months[tm.tm_mon % 12],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    pt_clock_http_len = pt_min((size_t) r, sizeof(pt_clock_http_buf) - 1);

    r = snprintf(pt_clock_log_buf, sizeof(pt_clock_log_buf),
                 "%02d/%s/%04d:%02d:%02d:%02d +0000",
                 tm.tm_mday, pt_clock_months[tm.tm_mon % 12], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    pt_clock_log_len = pt_min((size_t) r, sizeof(pt_clock_log_buf) - 1);

    r = snprintf(pt_clock_iso_buf, sizeof(pt_clock_iso_buf),
                 "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    pt_clock_iso_len = pt_min((size_t) r, sizeof(pt_clock_iso_buf) - 1);

    pt_clock_formatted = t;
}

void
pt_clock_update(void)
{
    struct timespec mono, wall;

    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);

    pt_clock_now = (pt_msec_t) mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
    pt_clock_now_us = (uint64_t) mono.tv_sec * 1000000 + (uint64_t) mono.tv_nsec / 1000;
    pt_clock_wall = wall.tv_sec;
    pt_clock_wall_msec = (uint64_t) wall.tv_sec * 1000 + (uint64_t) wall.tv_nsec / 1000000;
    pt_clock_ready = true;

    if (wall.tv_sec != pt_clock_formatted)
        pt_clock_format(wall.tv_sec);
}

static void
pt_clock_ensure(void)
{
    if (pt_unlikely(!pt_clock_ready))
        pt_clock_update();
}

pt_str_t
pt_clock_http_date(void)
{
    pt_clock_ensure();
    return (pt_str_t) { pt_clock_http_buf, pt_clock_http_len };
}

pt_str_t
pt_clock_log_time(void)
{
    pt_clock_ensure();
    return (pt_str_t) { pt_clock_log_buf, pt_clock_log_len };
}

pt_str_t
pt_clock_iso_time(void)
{
    pt_clock_ensure();
    return (pt_str_t) { pt_clock_iso_buf, pt_clock_iso_len };
}

uint64_t
pt_clock_wall_ms(void)
{
    pt_clock_ensure();
    return pt_clock_wall_msec;
}
