/*
 * limit_parse.c: rates and address prefix lengths (limit_parse.h).
 */
#include "common/pt.h"
#include "worker/mod/limit/ratelimit/limit_parse.h"

/* Leading decimal digits of p[0..n) as a number no larger than max: the
 * digits used, 0 when there are none or the value is too large. */
static size_t pt_limit_parse_num(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;

    while (i < n && p[i] >= '0' && p[i] <= '9') {
        v = v * 10 + (uint64_t) (p[i] - '0');
        if (v > max || ++i > 10)
            return 0;
    }
    *out = v;
    return i;
}

int pt_limit_parse_rate(const char *p, size_t n, uint64_t *count, uint64_t *period_ns,
                        const char **why)
{
    size_t i = pt_limit_parse_num(p, n, PT_LIMIT_RATE_MAX, count);

    *why = "a rate is a number of requests per second, minute, hour or day "
           "(\"100r/s\", \"6000r/m\", \"20r/h\", \"500r/d\")";
    if (i == 0)
        return PT_ERROR;
    if (*count == 0) {
        *why = "a rate of 0 requests refuses everything: say so with a deny rule";
        return PT_ERROR;
    }
    if (n - i != 3 || p[i] != 'r' || p[i + 1] != '/')
        return PT_ERROR;
    switch (p[i + 2]) {
    case 's': *period_ns = UINT64_C(1000000000); break;
    case 'm': *period_ns = UINT64_C(60000000000); break;
    case 'h': *period_ns = UINT64_C(3600000000000); break;
    case 'd': *period_ns = UINT64_C(86400000000000); break;
    default:  return PT_ERROR;
    }
    return PT_OK;
}

int pt_limit_parse_prefixes(const char *p, size_t n, unsigned *v4, unsigned *v6)
{
    uint64_t a, b = 64;
    size_t i = pt_limit_parse_num(p, n, 32, &a);

    if (i == 0 || i > 2)
        return PT_ERROR;
    if (i < n) {
        if (p[i] != '_')
            return PT_ERROR;
        size_t j = pt_limit_parse_num(p + i + 1, n - i - 1, 128, &b);
        if (j == 0 || j > 3 || i + 1 + j != n)
            return PT_ERROR;
    }
    *v4 = (unsigned) a;
    *v6 = (unsigned) b;
    return PT_OK;
}
