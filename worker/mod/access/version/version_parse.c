/*
 * version_parse.c: reading an API version out of a path, Accept or a query.
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/mod/access/version/version_parse.h"

static bool pt_version_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '.' || c == '_' || c == '-';
}

bool pt_version_valid(pt_str_t v)
{
    if (v.len == 0 || v.len > PT_VERSION_MAX)
        return false;
    for (size_t i = 0; i < v.len; i++)
        if (!pt_version_char((unsigned char) v.p[i]))
            return false;
    return true;
}

static bool pt_version_ows(int c)
{
    return c == ' ' || c == '\t';
}

/* One parameter value at *p (token or quoted-string); advances *p past it.
 * A quoted value with escapes goes to buf when it fits; out is empty when
 * it does not (or is malformed). */
static pt_str_t pt_version_param_value(const char **p, const char *end, char *buf)
{
    const char *s = *p;

    if (s < end && *s == '"') {
        size_t n = 0;
        bool fits = true, escaped = false;
        const char *start = ++s;
        for (; s < end && *s != '"'; s++) {
            if (*s == '\\' && s + 1 < end) {
                escaped = true;
                s++;
            }
            if (n < PT_VERSION_MAX)
                buf[n++] = *s;
            else
                fits = false;
        }
        pt_str_t v = escaped ? (pt_str_t) { buf, fits ? n : 0 }
                             : (pt_str_t) { start, (size_t) (s - start) };
        *p = s < end ? s + 1 : s;           /* past the closing quote */
        return s < end ? v : PT_STR_NULL;   /* unterminated: nothing */
    }
    while (s < end && pt_str_tchar[(unsigned char) *s])
        s++;
    pt_str_t v = { *p, (size_t) (s - *p) };
    *p = s;
    return v;
}

pt_str_t pt_version_from_accept(pt_str_t accept, pt_str_t name, char *buf)
{
    const char *p = accept.p, *end = accept.p + accept.len;

    while (p < end) {
        /* media-range: up to ";" or "," */
        while (p < end && *p != ';' && *p != ',')
            p++;
        pt_str_t found = PT_STR_NULL;
        bool refused = false;
        while (p < end && *p == ';') {
            p++;
            while (p < end && pt_version_ows((unsigned char) *p))
                p++;
            const char *n = p;
            while (p < end && pt_str_tchar[(unsigned char) *p])
                p++;
            pt_str_t pname = { n, (size_t) (p - n) };
            if (p >= end || *p != '=') {
                while (p < end && *p != ';' && *p != ',')
                    p++;            /* not a parameter: skip it */
                continue;
            }
            p++;
            char scratch[PT_VERSION_MAX];
            pt_str_t v = pt_version_param_value(&p, end, scratch);
            while (p < end && pt_version_ows((unsigned char) *p))
                p++;
            if (p < end && *p != ';' && *p != ',')
                v = PT_STR_NULL;    /* "version=a b": not a parameter value */
            if (pname.len == 1 && (pname.p[0] == 'q' || pname.p[0] == 'Q')) {
                /* q=0, 0.0, 0.00, 0.000 */
                refused = v.len >= 1 && v.p[0] == '0';
                for (size_t i = 1; refused && i < v.len; i++)
                    refused = (i == 1 && v.p[i] == '.') || (i > 1 && v.p[i] == '0');
            } else if (found.p == NULL && pt_str_caseeq(pname, name) && pt_version_valid(v)) {
                /* An unescaped value lives in scratch, which the next
                 * parameter reuses: it goes to the caller's buffer. */
                if (v.p == scratch) {
                    memcpy(buf, scratch, v.len);
                    v.p = buf;
                }
                found = v;
            }
            while (p < end && pt_version_ows((unsigned char) *p))
                p++;
            while (p < end && *p != ';' && *p != ',')
                p++;                /* garbage after a value: up to the next one */
        }
        if (found.p && !refused)
            return found;
        if (p < end)
            p++;                    /* the "," */
    }
    return PT_STR_NULL;
}

pt_str_t pt_version_from_path(pt_str_t path)
{
    if (path.len < 3 || path.p[0] != '/' || (path.p[1] != 'v' && path.p[1] != 'V'))
        return PT_STR_NULL;
    const char *slash = memchr(path.p + 1, '/', path.len - 1);
    pt_str_t v = { path.p + 2, (slash ? (size_t) (slash - path.p) : path.len) - 2 };
    /* A digit first: "/v2beta/" is a version, "/videos/" is not. */
    return pt_version_valid(v) && v.p[0] >= '0' && v.p[0] <= '9' ? v : PT_STR_NULL;
}

pt_str_t pt_version_from_query(pt_str_t query, pt_str_t name)
{
    const char *p = query.p, *end = query.p + query.len;

    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t) (end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t) (e - p));
        if (eq && (size_t) (eq - p) == name.len && memcmp(p, name.p, name.len) == 0) {
            pt_str_t v = { eq + 1, (size_t) (e - eq - 1) };
            return pt_version_valid(v) ? v : PT_STR_NULL;
        }
        p = amp ? amp + 1 : NULL;
    }
    return PT_STR_NULL;
}
