/*
 * http_accept.c: weighted Accept* lists (see http_accept.h).
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/http/http_accept.h"

int pt_http_qvalue(pt_str_t s)
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

/* The weight in params (each starting at a ';'). */
static int pt_http_accept_weight(pt_str_t params)
{
    int q = 1000;

    while (params.len) {
        params.p++;
        params.len--;
        const char *semi = memchr(params.p, ';', params.len);
        size_t n = semi ? (size_t) (semi - params.p) : params.len;
        pt_str_t param = pt_str_trim_ows((pt_str_t) { params.p, n });
        params.p += n;
        params.len -= n;
        /* "q=0.5"; whitespace around the '=' is not in the grammar but
         * says the same, so it is read the same. */
        const char *eq = memchr(param.p, '=', param.len);
        if (eq == NULL)
            continue;
        pt_str_t name = pt_str_trim_ows((pt_str_t) { param.p, (size_t) (eq - param.p) });
        if (name.len == 1 && (name.p[0] == 'q' || name.p[0] == 'Q')) {
            size_t vn = param.len - (size_t) (eq + 1 - param.p);
            q = pt_http_qvalue(pt_str_trim_ows((pt_str_t) { eq + 1, vn }));
            if (q < 0)
                return -1;
        }
    }
    return q;
}

bool pt_http_accept_next(pt_str_t *list, pt_str_t *tok, int *q)
{
    pt_str_t member;

    if (!pt_str_next_token(list, &member))
        return false;
    const char *semi = memchr(member.p, ';', member.len);
    size_t n = semi ? (size_t) (semi - member.p) : member.len;
    *tok = pt_str_trim_ows((pt_str_t) { member.p, n });
    *q = pt_http_accept_weight((pt_str_t) { member.p + n, member.len - n });
    return true;
}
