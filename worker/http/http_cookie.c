/*
 * http_cookie.c: one cookie out of a Cookie field (see http_cookie.h).
 */
#include "common/pt.h"
#include "worker/http/http_cookie.h"

static bool pt_cookie_blank(char c)
{
    return c == ' ' || c == '\t';
}

pt_str_t pt_http_cookie(pt_str_t field, pt_str_t name)
{
    const char *p = field.p, *end = field.p + field.len;

    while (p < end) {
        const char *semi = memchr(p, ';', (size_t) (end - p));
        const char *stop = semi ? semi : end;
        while (p < stop && pt_cookie_blank(*p))
            p++;
        const char *eq = memchr(p, '=', (size_t) (stop - p));
        if (eq) {
            const char *ne = eq;
            while (ne > p && pt_cookie_blank(ne[-1]))
                ne--;
            if ((size_t) (ne - p) == name.len && memcmp(p, name.p, name.len) == 0) {
                const char *v = eq + 1, *ve = stop;
                while (v < ve && pt_cookie_blank(*v))
                    v++;
                while (ve > v && pt_cookie_blank(ve[-1]))
                    ve--;
                return (pt_str_t) { v, (size_t) (ve - v) };
            }
        }
        p = semi ? semi + 1 : end;
    }
    return PT_STR_NULL;
}
