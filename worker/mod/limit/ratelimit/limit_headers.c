/*
 * limit_headers.c: RateLimit-Policy and RateLimit values (limit_headers.h).
 */
#include "common/pt.h"
#include "worker/mod/limit/ratelimit/limit_headers.h"
#include "worker/mod/limit/ratelimit/limit_gcra.h"

#include <stdarg.h>
#include <stdio.h>

uint64_t pt_limit_seconds_up(uint64_t ns)
{
    uint64_t s = ns / PT_LIMIT_NS + (ns % PT_LIMIT_NS != 0);

    return s ? s : 1;
}

/* Append to b (at *len of cap); false once it does not fit. */
static bool pt_limit_put(char *b, size_t cap, size_t *len, const char *fmt, ...)
    PT_PRINTF(4, 5);

static bool pt_limit_put(char *b, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;

    if (*len >= cap)
        return false;
    va_start(ap, fmt);
    int n = vsnprintf(b + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= cap - *len)
        return false;
    *len += (size_t) n;
    return true;
}

int pt_limit_headers_render(const pt_limit_report_t *v, size_t n, char *buf, size_t cap,
                            pt_str_t *policy, pt_str_t *state)
{
    size_t half = cap / 2, plen = 0, slen = 0;
    char *p = buf, *s = buf + half;

    for (size_t i = 0; i < n; i++) {
        const pt_limit_report_t *x = &v[i];
        const char *sep = i ? ", " : "";
        bool ok = pt_limit_put(p, half, &plen, "%s\"%.*s\";q=%llu", sep, (int) x->name.len,
                               x->name.p, (unsigned long long) x->q);
        if (ok && x->concurrent)
            ok = pt_limit_put(p, half, &plen, ";qu=\"concurrent-requests\"");
        if (ok && x->w)
            ok = pt_limit_put(p, half, &plen, ";w=%llu", (unsigned long long) x->w);
        if (ok)
            ok = pt_limit_put(s, cap - half, &slen, "%s\"%.*s\";r=%llu", sep, (int) x->name.len,
                              x->name.p, (unsigned long long) x->r);
        if (ok && x->t >= 0)
            ok = pt_limit_put(s, cap - half, &slen, ";t=%lld", (long long) x->t);
        if (!ok)
            return PT_ERROR;
    }
    *policy = (pt_str_t) { p, plen };
    *state = (pt_str_t) { s, slen };
    return PT_OK;
}
