/*
 * compress_accept.c: reading Accept-Encoding and choosing a coding (see
 * compress_accept.h).
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/http/http_accept.h"
#include "worker/mod/filter/compress/compress_accept.h"

void pt_compress_accept_init(pt_compress_accept_t *a)
{
    for (unsigned i = 0; i < PT_CODING__COUNT; i++)
        a->q[i] = -1;
    a->star = -1;
}

void pt_compress_accept_parse(pt_compress_accept_t *a, pt_str_t value)
{
    pt_str_t coding;
    int q;

    while (pt_http_accept_next(&value, &coding, &q)) {
        int *slot;

        if (q < 0)
            continue;
        if (pt_str_caseeq_lit(coding, "gzip") || pt_str_caseeq_lit(coding, "x-gzip"))
            slot = &a->q[PT_CODING_GZIP];
        else if (pt_str_caseeq_lit(coding, "br"))
            slot = &a->q[PT_CODING_BR];
        else if (pt_str_caseeq_lit(coding, "identity"))
            slot = &a->q[PT_CODING_IDENTITY];
        else if (coding.len == 1 && coding.p[0] == '*')
            slot = &a->star;
        else
            continue;
        if (*slot < 0)
            *slot = q;
    }
}

int pt_compress_accept_weight(const pt_compress_accept_t *a, unsigned c)
{
    if (c >= PT_CODING__COUNT)
        return 0;
    if (a->q[c] >= 0)
        return a->q[c];
    return a->star >= 0 ? a->star : 0;
}

unsigned pt_compress_accept_choose(const pt_compress_accept_t *a, const uint8_t *prefer,
                                   unsigned n)
{
    unsigned best = PT_CODING_IDENTITY;
    int best_q = 0;

    for (unsigned i = 0; i < n; i++) {
        int q = pt_compress_accept_weight(a, prefer[i]);
        if (prefer[i] != PT_CODING_IDENTITY && q > best_q) {
            best = prefer[i];
            best_q = q;
        }
    }
    /* A client that ranks identity above every coding gets identity. */
    if (best != PT_CODING_IDENTITY && best_q < pt_compress_accept_weight(a, PT_CODING_IDENTITY))
        return PT_CODING_IDENTITY;
    return best;
}
