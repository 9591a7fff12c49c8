/*
 * clock.h: the time as seen by one event-loop tick. The loop calls
 * pt_clock_update() once per wake-up; everything else reads the cached
 * values, so timers and log lines of one tick agree and the date strings
 * are formatted once per second, not once per response.
 */
#ifndef PT_CLOCK_H
#define PT_CLOCK_H

#include <time.h>

/* CLOCK_MONOTONIC in ms at the last pt_clock_update(): for timers and
 * timeouts, never goes back. */
extern pt_msec_t pt_clock_now;

/* The same instant in microseconds: for latencies finer than a ms. */
extern uint64_t pt_clock_now_us;

/* Wall-clock seconds (CLOCK_REALTIME) at the last pt_clock_update(). */
extern time_t pt_clock_wall;

/* Reads both clocks (clock_gettime, served by the vDSO: no syscall) and
 * reformats the date strings when the wall-clock second changed. */
void pt_clock_update(void);

/* "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, for Date: headers) for the
 * cached second. The view stays valid until the next update changes it.
 * Each getter calls pt_clock_update() itself if it never ran. */
pt_str_t pt_clock_http_date(void);

/* "27/Nov/2026:01:02:03 +0000": combined log format, UTC. */
pt_str_t pt_clock_log_time(void);

/* "2026-11-27T01:02:03Z": ISO 8601 / RFC 3339, UTC. */
pt_str_t pt_clock_iso_time(void);

/* Wall clock in ms since the epoch at the last update. */
uint64_t pt_clock_wall_ms(void);

#endif
