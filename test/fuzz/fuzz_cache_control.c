/*
 * fuzz_cache_control.c: libFuzzer target for the cache's header parsers:
 * Cache-Control directives, HTTP dates, delta-seconds, byte ranges and
 * entity-tag lists (worker/mod/cache/cache_control.c).
 *
 * The input is parsed as each of them, whole and split at a point the
 * first byte picks (two Cache-Control lines). Breaches abort: a field list
 * that does not lie inside the input, a delta above 2^31, a date that does
 * not survive formatting and parsing again, a range outside the body, a
 * tag list that fails to match "*" or itself.
 */
#include "common/pt.h"

#include <stdlib.h>
#include <time.h>

#include "worker/http/cache_control.h"

static void check_view(pt_str_t v, const uint8_t *p, size_t n)
{
    if (v.len && ((const uint8_t *) v.p < p || (const uint8_t *) v.p + v.len > p + n))
        abort();
}

static void check_cc(const pt_cache_cc_t *cc, const uint8_t *p, size_t n)
{
    const int64_t *vals[] = { &cc->max_age, &cc->s_maxage, &cc->max_stale, &cc->min_fresh,
                              &cc->stale_while_revalidate, &cc->stale_if_error };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        if (*vals[i] < -1 || *vals[i] > PT_CC_DELTA_MAX)
            abort();
    check_view(cc->no_cache_fields, p, n);
    check_view(cc->private_fields, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t cut = data[0] % size;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    /* a heap copy of exactly n bytes, so reads past the end are caught */
    uint8_t *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, p, n);
    pt_str_t s = { (const char *) copy, n };

    pt_cache_cc_t cc;
    pt_cache_cc_init(&cc);
    pt_cache_cc_parse(&cc, s);
    check_cc(&cc, copy, n);
    pt_cache_cc_init(&cc);
    if (cut > n)
        cut = n;
    pt_cache_cc_parse(&cc, (pt_str_t) { s.p, cut });
    pt_cache_cc_parse(&cc, (pt_str_t) { s.p + cut, n - cut });
    check_cc(&cc, copy, n);

    int64_t d = pt_cache_parse_delta(s);
    if (d < -1 || d > PT_CC_DELTA_MAX)
        abort();

    int64_t t = pt_cache_parse_date(s);
    if (t >= 0 && t < INT64_C(253402300800)) {      /* up to year 9999 */
        time_t tt = (time_t) t;
        struct tm tm;
        char buf[64];
        if (gmtime_r(&tt, &tm) == NULL)
            abort();
        size_t k = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (tm.tm_sec < 60 && pt_cache_parse_date((pt_str_t) { buf, k }) != t)
            abort();
    }

    uint64_t first, last, len = (uint64_t) data[0] * 7;
    int r = pt_cache_range(s, len, &first, &last);
    if (r == 1 && (first > last || last >= len))
        abort();

    if (!pt_cache_etag_list_match(PT_STR("*"), s, false))
        abort();
    if (n >= 2 && copy[0] == '"' && copy[n - 1] == '"' && memchr(copy + 1, '"', n - 2) == NULL
        && memchr(copy, ',', n) == NULL && !pt_cache_etag_list_match(s, s, true))
        abort();
    free(copy);
    return 0;
}
