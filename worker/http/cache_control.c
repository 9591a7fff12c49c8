/*
 * cache_control.c: Cache-Control directives, HTTP dates and delta-seconds
 * (see cache_control.h).
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/http/cache_control.h"

void pt_cache_cc_init(pt_cache_cc_t *cc)
{
    *cc = (pt_cache_cc_t) { .max_age = -1, .s_maxage = -1, .max_stale = -1, .min_fresh = -1,
                            .stale_while_revalidate = -1, .stale_if_error = -1 };
}

static bool pt_cache_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int64_t pt_cache_parse_delta(pt_str_t s)
{
    int64_t v = 0;

    if (s.len == 0)
        return -1;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        if (v < PT_CC_DELTA_MAX)
            v = v * 10 + (s.p[i] - '0');
    }
    return v > PT_CC_DELTA_MAX ? PT_CC_DELTA_MAX : v;
}

/* Set *slot from a directive's value unless an earlier one set it. */
static void pt_cache_cc_delta(int64_t *slot, pt_str_t v, bool has_value, int64_t invalid)
{
    if (*slot >= 0)
        return;
    int64_t d = has_value ? pt_cache_parse_delta(v) : -1;
    *slot = d >= 0 ? d : invalid;
}

void pt_cache_cc_parse(pt_cache_cc_t *cc, pt_str_t value)
{
    const char *p = value.p, *end = value.p + value.len;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *n = p;
        while (p < end && pt_cache_tchar((unsigned char) *p))
            p++;
        pt_str_t name = { n, (size_t) (p - n) };
        pt_str_t v = PT_STR_NULL;
        bool has_value = false;
        /* RFC 9110 §5.6.2 has no whitespace around '=': "max-age = 5" is
         * a directive without a valid value (for max-age: stale). */
        if (p < end && *p == '=') {
            has_value = true;
            p++;
            if (p < end && *p == '"') {
                /* quoted-string: the value is its inside (escapes kept as
                 * written; field names and numbers have none) */
                const char *q = ++p;
                while (p < end && *p != '"') {
                    if (*p == '\\' && p + 1 < end)
                        p++;
                    p++;
                }
                v = (pt_str_t) { q, (size_t) (p - q) };
                if (p < end)
                    p++;
            } else {
                const char *q = p;
                while (p < end && pt_cache_tchar((unsigned char) *p))
                    p++;
                v = (pt_str_t) { q, (size_t) (p - q) };
            }
        }
        /* skip whatever is left of a malformed element up to the next comma */
        while (p < end && *p != ',')
            p++;
        if (name.len == 0)
            continue;
        if (pt_str_caseeq_lit(name, "max-age")) {
            pt_cache_cc_delta(&cc->max_age, v, has_value, 0);
        } else if (pt_str_caseeq_lit(name, "s-maxage")) {
            pt_cache_cc_delta(&cc->s_maxage, v, has_value, 0);
        } else if (pt_str_caseeq_lit(name, "no-store")) {
            cc->flags |= PT_CC_NO_STORE;
        } else if (pt_str_caseeq_lit(name, "no-cache")) {
            if (has_value && v.len) {
                cc->flags |= PT_CC_NO_CACHE_FIELDS;
                if (cc->no_cache_fields.len == 0)
                    cc->no_cache_fields = v;
            } else {
                cc->flags |= PT_CC_NO_CACHE;
            }
        } else if (pt_str_caseeq_lit(name, "private")) {
            if (has_value && v.len) {
                cc->flags |= PT_CC_PRIVATE_FIELDS;
                if (cc->private_fields.len == 0)
                    cc->private_fields = v;
            } else {
                cc->flags |= PT_CC_PRIVATE;
            }
        } else if (pt_str_caseeq_lit(name, "public")) {
            cc->flags |= PT_CC_PUBLIC;
        } else if (pt_str_caseeq_lit(name, "must-revalidate")) {
            cc->flags |= PT_CC_MUST_REVALIDATE;
        } else if (pt_str_caseeq_lit(name, "proxy-revalidate")) {
            cc->flags |= PT_CC_PROXY_REVALIDATE;
        } else if (pt_str_caseeq_lit(name, "no-transform")) {
            cc->flags |= PT_CC_NO_TRANSFORM;
        } else if (pt_str_caseeq_lit(name, "only-if-cached")) {
            cc->flags |= PT_CC_ONLY_IF_CACHED;
        } else if (pt_str_caseeq_lit(name, "immutable")) {
            cc->flags |= PT_CC_IMMUTABLE;
        } else if (pt_str_caseeq_lit(name, "must-understand")) {
            cc->flags |= PT_CC_MUST_UNDERSTAND;
        } else if (pt_str_caseeq_lit(name, "max-stale")) {
            /* §5.2.1.2: without a value, any staleness is accepted */
            if (!has_value)
                cc->flags |= PT_CC_MAX_STALE_ANY;
            else
                pt_cache_cc_delta(&cc->max_stale, v, true, 0);
        } else if (pt_str_caseeq_lit(name, "min-fresh")) {
            pt_cache_cc_delta(&cc->min_fresh, v, has_value, 0);
        } else if (pt_str_caseeq_lit(name, "stale-while-revalidate")) {
            pt_cache_cc_delta(&cc->stale_while_revalidate, v, has_value, 0);
        } else if (pt_str_caseeq_lit(name, "stale-if-error")) {
            pt_cache_cc_delta(&cc->stale_if_error, v, has_value, 0);
        }
    }
}

bool pt_cache_list_has(pt_str_t list, pt_str_t name)
{
    pt_str_t tok;

    while (pt_str_next_token(&list, &tok))
        if (pt_str_caseeq(tok, name))
            return true;
    return false;
}

/* ---- HTTP dates (RFC 9110 §5.6.7) ---------------------------------------- */

static int pt_cache_month(const char *p)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

    for (int i = 0; i < 12; i++)
        if (memcmp(p, months + 3 * i, 3) == 0)
            return i;
    return -1;
}

static bool pt_cache_digits(const char *p, size_t n, int *out)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 0-11). */
static int64_t pt_cache_days(int64_t y, int m, int d)
{
    y -= m < 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int mp = (m + 10) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool pt_cache_time(const char *p, int *h, int *mi, int *s)
{
    return p[2] == ':' && p[5] == ':' && pt_cache_digits(p, 2, h) && pt_cache_digits(p + 3, 2, mi)
           && pt_cache_digits(p + 6, 2, s) && *h < 24 && *mi < 60 && *s < 61;
}

int64_t pt_cache_parse_date(pt_str_t s)
{
    const char *p = s.p;
    size_t n = s.len;
    int d, m, y, h, mi, sec;

    if (n == 29 && p[3] == ',' && p[4] == ' ' && p[7] == ' ' && p[11] == ' ' && p[16] == ' '
        && p[25] == ' ' && memcmp(p + 26, "GMT", 3) == 0) {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (!pt_cache_digits(p + 5, 2, &d) || (m = pt_cache_month(p + 8)) < 0
            || !pt_cache_digits(p + 12, 4, &y) || !pt_cache_time(p + 17, &h, &mi, &sec))
            return -1;
    } else if (n == 24 && p[3] == ' ' && p[7] == ' ' && p[10] == ' ' && p[19] == ' ') {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        char dd[2] = { p[8] == ' ' ? '0' : p[8], p[9] };
        if ((m = pt_cache_month(p + 4)) < 0 || !pt_cache_digits(dd, 2, &d)
            || !pt_cache_time(p + 11, &h, &mi, &sec) || !pt_cache_digits(p + 20, 4, &y))
            return -1;
    } else {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        const char *c = memchr(p, ',', n);
        if (c == NULL || (size_t) (p + n - c) != 24 || c[1] != ' ' || c[4] != '-' || c[8] != '-'
            || c[11] != ' ' || c[20] != ' ' || memcmp(c + 21, "GMT", 3) != 0)
            return -1;
        if (!pt_cache_digits(c + 2, 2, &d) || (m = pt_cache_month(c + 5)) < 0
            || !pt_cache_digits(c + 9, 2, &y) || !pt_cache_time(c + 12, &h, &mi, &sec))
            return -1;
        /* RFC 9110: a two-digit year more than 50 years ahead is in the past
         * century; with no clock here, 70-99 are 19xx, the rest 20xx. */
        y += y >= 70 ? 1900 : 2000;
    }
    if (d < 1 || d > 31 || y < 1900)
        return -1;
    return pt_cache_days(y, m, d) * 86400 + h * 3600 + mi * 60 + sec;
}

/* ---- entity-tags (RFC 9110 §8.8.3) ---------------------------------------- */

/* The next entity-tag of an If-Match / If-None-Match list, "W/" kept. */
static bool pt_cache_next_etag(pt_str_t *list, pt_str_t *tag)
{
    const char *p = list->p, *end = list->p + list->len;

    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
    if (p == end)
        return false;
    const char *s = p;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
        p += 2;
    if (p < end && *p == '"') {
        p++;
        while (p < end && *p != '"')
            p++;
        if (p < end)
            p++;
    } else {
        while (p < end && *p != ',')
            p++;
    }
    *tag = (pt_str_t) { s, (size_t) (p - s) };
    list->p = p;
    list->len = (size_t) (end - p);
    return true;
}

static pt_str_t pt_cache_opaque(pt_str_t t, bool *weak)
{
    *weak = t.len >= 2 && t.p[0] == 'W' && t.p[1] == '/';
    if (*weak) {
        t.p += 2;
        t.len -= 2;
    }
    return t;
}

bool pt_cache_etag_weak_eq(pt_str_t a, pt_str_t b)
{
    bool wa, wb;

    a = pt_cache_opaque(a, &wa);
    b = pt_cache_opaque(b, &wb);
    return a.len >= 2 && a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

bool pt_cache_etag_strong_eq(pt_str_t a, pt_str_t b)
{
    bool wa, wb;

    a = pt_cache_opaque(a, &wa);
    b = pt_cache_opaque(b, &wb);
    return !wa && !wb && a.len >= 2 && a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/* Whether any tag of the list matches etag (weak or strong comparison). */
bool pt_cache_etag_list_match(pt_str_t list, pt_str_t etag, bool strong)
{
    pt_str_t t = pt_str_trim_ows(list), tag;

    if (t.len == 1 && t.p[0] == '*')
        return true;
    while (pt_cache_next_etag(&list, &tag))
        if (etag.len && (strong ? pt_cache_etag_strong_eq(tag, etag)
                                : pt_cache_etag_weak_eq(tag, etag)))
            return true;
    return false;
}

/* ---- byte ranges (RFC 9110 §14.1.2) -------------------------------------- */

static bool pt_cache_u64(const char *p, const char *end, uint64_t *v)
{
    uint64_t x = 0;

    if (p == end)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || x > UINT64_MAX / 10 - 1)
            return false;
        x = x * 10 + (uint64_t) (*p - '0');
    }
    *v = x;
    return true;
}

/* One range-spec of a bytes= set: 1 with [*first, *last], -1 when it
 * cannot be satisfied, 0 when it is not valid syntax. */
static int pt_cache_range_spec(pt_str_t s, uint64_t len, uint64_t *first, uint64_t *last)
{
    const char *dash = memchr(s.p, '-', s.len), *end = s.p + s.len;
    uint64_t a, b;

    if (dash == NULL)
        return 0;
    if (dash == s.p) {
        if (!pt_cache_u64(dash + 1, end, &b))
            return 0;
        if (b == 0 || len == 0)
            return -1;
        *first = b >= len ? 0 : len - b;
        *last = len - 1;
        return 1;
    }
    if (!pt_cache_u64(s.p, dash, &a))
        return 0;
    if (dash + 1 == end) {
        b = UINT64_MAX;
    } else if (!pt_cache_u64(dash + 1, end, &b) || b < a) {
        return 0;
    }
    if (a >= len)
        return -1;
    *first = a;
    *last = b >= len ? len - 1 : b;
    return 1;
}

int pt_cache_ranges(pt_str_t range, uint64_t len, uint64_t *first, uint64_t *last, int max)
{
    pt_str_t s = pt_str_trim_ows(range), spec;
    int n = 0;
    bool any = false;

    if (s.len < 6 || strncasecmp(s.p, "bytes=", 6) != 0)
        return 0;
    s.p += 6;
    s.len -= 6;
    while (pt_str_next_token(&s, &spec)) {
        uint64_t a, b;
        int k = pt_cache_range_spec(spec, len, &a, &b);
        if (k == 0)
            return 0;           /* RFC 9110 §14.2: an invalid set is ignored */
        any = true;
        if (k < 0)
            continue;           /* unsatisfiable members drop out */
        if (n == max)
            return 0;           /* more than we serve as parts: the whole body */
        first[n] = a;
        last[n] = b;
        n++;
    }
    if (!any)
        return 0;
    return n ? n : -1;
}

int pt_cache_range(pt_str_t range, uint64_t len, uint64_t *first, uint64_t *last)
{
    uint64_t f[1], l[1];
    int n = pt_cache_ranges(range, len, f, l, 1);

    if (n == 1) {
        *first = f[0];
        *last = l[0];
    }
    return n;
}
