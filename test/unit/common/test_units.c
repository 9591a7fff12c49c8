/*
 * test_units.c: duration and size parsing and printing.
 */
#include "common/pt.h"

#include "common/units.h"
#include "test/unit/tap.h"

static const struct { const char *in; pt_msec_t want; } dur_good[] = {
    { "0", 0 },
    { "30", 30000 },
    { "250ms", 250 },
    { "0ms", 0 },
    { "30s", 30000 },
    { "5m", 300000 },
    { "2h", 7200000 },
    { "1d", 86400000 },
    { "1m30s", 90000 },
    { "1h 30m", 5400000 },
    { "1h   30m", 5400000 },
    { "1d2h3m4s5ms", 93784005 },
    { "1d 2h 3m 4s 5ms", 93784005 },
    { "1s500ms", 1500 },
    { "007s", 7000 },
    { "9223372036854775807ms", INT64_MAX },
    { "9223372036854775s", INT64_C(9223372036854775000) },
    { "9223372036854775", INT64_C(9223372036854775000) },
};

static const char *const dur_bad[] = {
    "", " ", "s", "ms", "-5s", "+5s", "1.5s", "5 s", " 5s", "5s ", "5S", "5sec",
    "5x", "1s1m", "5s5s", "1m30", "1m 30", "30ms1s", "1h,30m", "1h\t30m",
    "9223372036854775808ms", "9223372036854776s", "9223372036854776",
    "106751991167301d", "18446744073709551616ms", "99999999999999999999999s",
    "1d 9223372036854775807ms", "5mss", "5m s",
};

static const struct { const char *in; uint64_t want; } size_good[] = {
    { "0", 0 },
    { "512", 512 },
    { "64k", 65536 },
    { "64K", 65536 },
    { "16m", 16777216 },
    { "16M", 16777216 },
    { "1g", 1073741824 },
    { "1G", 1073741824 },
    { "18446744073709551615", UINT64_MAX },
    { "17179869183G", UINT64_C(17179869183) << 30 },
};

static const char *const size_bad[] = {
    "", "k", "-1", "+1", "1.5M", "1 M", " 1M", "1M ", "1MB", "1Mb", "1b", "1B",
    "1t", "1kk", "0x10", "18446744073709551616", "17179869184G", "18014398509481984k",
};

static const struct { pt_msec_t in; const char *want; } dur_fmt[] = {
    { 0, "0s" },
    { 1, "1ms" },
    { 999, "999ms" },
    { 1000, "1s" },
    { 1500, "1500ms" },
    { 30000, "30s" },
    { 90000, "90s" },
    { 300000, "5m" },
    { 5400000, "90m" },
    { 7200000, "2h" },
    { 86400000, "1d" },
    { 86400001, "1d1ms" },
    { 90061000, "90061s" },
    { -5000, "-5s" },
};

static const struct { uint64_t in; const char *want; } size_fmt[] = {
    { 0, "0" },
    { 1000, "1000" },
    { 1024, "1k" },
    { 65536, "64k" },
    { 1536, "1536" },
    { 16777216, "16M" },
    { 1073741824, "1G" },
    { 1572864, "1536k" },
    { UINT64_MAX, "18446744073709551615" },
};

int
main(void)
{
    char buf[64];

    for (size_t i = 0; i < pt_countof(dur_good); i++) {
        pt_msec_t v = -1;
        int rc = pt_parse_duration(dur_good[i].in, &v);
        ok(rc == PT_OK && v == dur_good[i].want, "duration \"%s\" = %" PRId64 " (got %" PRId64 ")",
           dur_good[i].in, dur_good[i].want, v);
    }
    for (size_t i = 0; i < pt_countof(dur_bad); i++) {
        pt_msec_t v = 42;
        int rc = pt_parse_duration(dur_bad[i], &v);
        ok(rc == PT_ERROR && v == 42, "duration \"%s\" rejected, out untouched", dur_bad[i]);
    }
    ok(pt_parse_duration(NULL, &(pt_msec_t) { 0 }) == PT_ERROR, "duration NULL rejected");

    for (size_t i = 0; i < pt_countof(size_good); i++) {
        uint64_t v = 1;
        int rc = pt_parse_size(size_good[i].in, &v);
        ok(rc == PT_OK && v == size_good[i].want, "size \"%s\" = %" PRIu64, size_good[i].in,
           size_good[i].want);
    }
    for (size_t i = 0; i < pt_countof(size_bad); i++) {
        uint64_t v = 42;
        int rc = pt_parse_size(size_bad[i], &v);
        ok(rc == PT_ERROR && v == 42, "size \"%s\" rejected", size_bad[i]);
    }

    for (size_t i = 0; i < pt_countof(dur_fmt); i++) {
        size_t n = pt_format_duration(buf, sizeof(buf), dur_fmt[i].in);
        is_str(buf, dur_fmt[i].want, "format_duration(%" PRId64 ")", dur_fmt[i].in);
        is(n, strlen(dur_fmt[i].want), "format_duration(%" PRId64 ") length", dur_fmt[i].in);
    }
    for (size_t i = 0; i < pt_countof(size_fmt); i++) {
        size_t n = pt_format_size(buf, sizeof(buf), size_fmt[i].in);
        is_str(buf, size_fmt[i].want, "format_size(%" PRIu64 ")", size_fmt[i].in);
        is(n, strlen(size_fmt[i].want), "format_size(%" PRIu64 ") length", size_fmt[i].in);
    }

    /* snprintf semantics: cut output is NUL-terminated, the length is the full one. */
    memset(buf, 'x', sizeof(buf));
    is(pt_format_duration(buf, 3, 1500), 6, "format_duration into 3 bytes returns 6");
    is_str(buf, "15", "format_duration into 3 bytes keeps 2 chars and a NUL");
    is(pt_format_size(NULL, 0, 16777216), 3, "format_size(NULL, 0) measures");
    is(pt_format_duration(NULL, 0, 0), 2, "format_duration(NULL, 0) measures");

    /* Round trips: every printed form parses back to the same value. */
    {
        int bad = 0;
        uint64_t x = 88172645463325252ull;
        for (int i = 0; i < 20000; i++) {
            pt_msec_t ms, back = -1;
            uint64_t sz, sback = 1;

            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            switch (i % 4) {   /* mix raw values and multiples of each unit */
            case 0:  ms = (pt_msec_t) (x >> 1); break;
            case 1:  ms = (pt_msec_t) (x % 1000000) * 1000; break;
            case 2:  ms = (pt_msec_t) (x % 10000) * 60000 + (pt_msec_t) (x % 3); break;
            default: ms = (pt_msec_t) (x % 100000) * 86400000; break;
            }
            pt_format_duration(buf, sizeof(buf), ms);
            if (pt_parse_duration(buf, &back) != PT_OK || back != ms) {
                if (bad++ < 5)
                    diag("duration %" PRId64 " -> \"%s\" -> %" PRId64, ms, buf, back);
            }

            sz = (i % 2) ? x : (x % 100000) << (10 * (i % 4));
            pt_format_size(buf, sizeof(buf), sz);
            if (pt_parse_size(buf, &sback) != PT_OK || sback != sz) {
                if (bad++ < 5)
                    diag("size %" PRIu64 " -> \"%s\" -> %" PRIu64, sz, buf, sback);
            }
        }
        is(bad, 0, "20000 random durations and sizes survive format -> parse");
    }

    return done_testing();
}
