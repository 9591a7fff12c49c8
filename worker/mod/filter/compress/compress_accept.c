/*
 * compress_accept.c: reading Accept-Encoding and choosing a coding (see
 * compress_accept.h).
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/mod/filter/compress/compress_accept.h"

void pt_compress_accept_init(pt_compress_accept_t *a)
{
    for (unsigned i = 0; i < PT_CODING__COUNT; i++)
        a->q[i] = -1;
    a->star = -1;
}

/* RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ),
 * in thousandths; -1 when s is not one. */
static int pt_compress_qvalue(pt_str_t s)
{
    if (s.len == 0 || (s.p[0] != '0' && s.p[0] != '1'))
        return -1;
    int q = (s.p[0] - '0') * 1000;
    if (s.len == 1)
        return q;
    if (s.p[1] != '.' || s.len > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < s.len; i++, scale /= 10) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        q += (s.p[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The weight of one member "coding *( OWS ; OWS param )": its q
 * parameter, 1000 without one, -1 when a q does not parse. */
static int pt_compress_member_weight(pt_str_t params)
{
    int q = 1000;

    while (params.len) {
        /* params starts at a ';' */
        params.p++;
        params.len--;
        const char *semi = memchr(params.p, ';', params.len);
        size_t n = semi ? (size_t) (semi - params.p) : params.len;
        pt_str_t param = pt_str_trim_ows((pt_str_t) { params.p, n });
        params.p += n;
        params.len -= n;
        if (param.len >= 2 && (param.p[0] == 'q' || param.p[0] == 'Q') && param.p[1] == '=') {
            q = pt_compress_qvalue(pt_str_trim_ows((pt_str_t) { param.p + 2, param.len - 2 }));
            if (q < 0)
                return -1;
        }
    }
    return q;
}

void pt_compress_accept_parse(pt_compress_accept_t *a, pt_str_t value)
{
    pt_str_t member;

    while (pt_str_next_token(&value, &member)) {
        const char *semi = memchr(member.p, ';', member.len);
        size_t n = semi ? (size_t) (semi - member.p) : member.len;
        pt_str_t coding = pt_str_trim_ows((pt_str_t) { member.p, n });
        int q = pt_compress_member_weight((pt_str_t) { member.p + n, member.len - n });
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
