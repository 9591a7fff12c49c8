/*
 * str.c: string view helpers.
 */
#include "common/pt.h"

#include "common/str.h"

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
const uint8_t pt_str_tchar[256] = {
    /* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,
    /*  !"#$%&'()*+,-./ */
    /* 0x20 */ 0, 1, 0, 1, 1, 1, 1, 1,  0, 0, 1, 1, 0, 1, 1, 0,
    /* 0123456789:;<=>? */
    /* 0x30 */ 1, 1, 1, 1, 1, 1, 1, 1,  1, 1, 0, 0, 0, 0, 0, 0,
    /* @ABCDEFGHIJKLMNO */
    /* 0x40 */ 0, 1, 1, 1, 1, 1, 1, 1,  1, 1, 1, 1, 1, 1, 1, 1,
    /* PQRSTUVWXYZ[\]^_ */
    /* 0x50 */ 1, 1, 1, 1, 1, 1, 1, 1,  1, 1, 1, 0, 0, 0, 1, 1,
    /* `abcdefghijklmno */
    /* 0x60 */ 1, 1, 1, 1, 1, 1, 1, 1,  1, 1, 1, 1, 1, 1, 1, 1,
    /* pqrstuvwxyz{|}~DEL */
    /* 0x70 */ 1, 1, 1, 1, 1, 1, 1, 1,  1, 1, 1, 0, 1, 0, 1, 0,
    /* 0x80..0xff: not tokens (the rest is zero-initialised) */
};

bool
pt_str_caseeq(pt_str_t a, pt_str_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        if (pt_str_lower((unsigned char) a.p[i]) != pt_str_lower((unsigned char) b.p[i]))
            return false;
    }
    return true;
}

bool
pt_str_field_alike(pt_str_t a, pt_str_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        int x = pt_str_lower((unsigned char) a.p[i]), y = pt_str_lower((unsigned char) b.p[i]);
        if (x != y && !((x == '_' || x == '-') && (y == '_' || y == '-')))
            return false;
    }
    return true;
}

bool
pt_str_caseeq_lit(pt_str_t a, const char *lit)
{
    pt_str_t b = { lit, strlen(lit) };

    return pt_str_caseeq(a, b);
}

int
pt_str_parse_uint(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char) p[i] - (unsigned) '0';
        if (d > 9
            || __builtin_mul_overflow(v, 10, &v)
            || __builtin_add_overflow(v, d, &v))
            return PT_ERROR;
    }
    *out = v;
    return PT_OK;
}

size_t
pt_str_utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Both answers: the length the whole result needs (returned) and how much
 * of it fitted in cap (*written: whole escapes only). */
static size_t
pt_str_json_escape_both(char *dst, size_t cap, const char *src, size_t n, size_t *written)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *) src;
    size_t need = 0;
    bool full = false;

    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        char esc[6];
        const char *out = esc;
        size_t k = c >= 0x80 ? pt_str_utf8_len(s + i, n - i) : 1;

        if (k > 1) {
            out = src + i;          /* a whole UTF-8 sequence, as is */
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char) c;
            k = 2;
        } else if (c < 0x20 || c >= 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            k = 6;
        } else {
            esc[0] = (char) c;
            k = 1;
        }
        i += out == esc ? 1 : k;

        /* Once one escape does not fit nothing after it is written, so the
         * output is always a prefix of the full result (and need <= cap
         * holds while !full). */
        if (!full && cap - need >= k)
            memcpy(dst + need, out, k);
        else if (!full) {
            full = true;
            *written = need;
        }
        need += k;
    }
    if (!full)
        *written = need;
    return need;
}

size_t
pt_str_json_escape(char *dst, size_t cap, const char *src, size_t n)
{
    size_t written;

    return pt_str_json_escape_both(dst, cap, src, n, &written);
}

size_t
pt_str_json_escape_cut(char *dst, size_t cap, const char *src, size_t n)
{
    size_t written;

    pt_str_json_escape_both(dst, cap, src, n, &written);
    return written;
}

static bool
pt_str_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

pt_str_t
pt_str_trim_ows(pt_str_t s)
{
    while (s.len > 0 && pt_str_is_ows(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && pt_str_is_ows(s.p[s.len - 1]))
        s.len--;
    return s;
}

bool
pt_str_next_token(pt_str_t *list, pt_str_t *tok)
{
    while (list->len > 0) {
        const char *comma = memchr(list->p, ',', list->len);
        size_t elen = comma ? (size_t) (comma - list->p) : list->len;
        pt_str_t e = { list->p, elen };

        list->p += elen;
        list->len -= elen;
        if (list->len > 0) {        /* step over the comma */
            list->p++;
            list->len--;
        }

        e = pt_str_trim_ows(e);
        if (e.len > 0) {
            *tok = e;
            return true;
        }
    }
    return false;
}

size_t pt_str_from_u64(char *out, uint64_t v)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char tmp[20], *end = tmp + sizeof(tmp), *p = end;

    /* From the end, two digits a step: this runs for every length the
     * gateway writes. */
    for (; v >= 100; v /= 100) {
        p -= 2;
        memcpy(p, pairs + (v % 100) * 2, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + v * 2, 2);
    } else {
        *--p = (char) ('0' + v);
    }
    return pt_str_put(out, p, (size_t) (end - p));
}
