/*
 * str.h: helpers over pt_str_t views (pt.h): ASCII case folding, token
 * lists, number parsing and JSON escaping. Nothing here allocates or
 * depends on the locale.
 */
#ifndef PT_STR_H
#define PT_STR_H

/* 1 for the bytes RFC 9110 allows in a token (tchar), 0 otherwise. */
extern const uint8_t pt_str_tchar[256];

/* ASCII lowercase of c; every other value, bytes >= 0x80 included, is
 * returned unchanged. */
static inline int
pt_str_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Copy n bytes to out and return n. Field names and values are mostly
 * short: up to 32 bytes they move as overlapping words from both ends,
 * without the cost of a call; longer ones go to memcpy. Head serializers
 * use it. */
static inline size_t
pt_str_put(char *out, const char *s, size_t n)
{
    uint64_t a, b, c, d;
    uint32_t x, y;

    if (n > 32) {
        memcpy(out, s, n);
    } else if (n >= 16) {
        memcpy(&a, s, 8);
        memcpy(&b, s + 8, 8);
        memcpy(&c, s + n - 16, 8);
        memcpy(&d, s + n - 8, 8);
        memcpy(out, &a, 8);
        memcpy(out + 8, &b, 8);
        memcpy(out + n - 16, &c, 8);
        memcpy(out + n - 8, &d, 8);
    } else if (n >= 8) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(out, &a, 8);
        memcpy(out + n - 8, &b, 8);
    } else if (n >= 4) {
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(out, &x, 4);
        memcpy(out + n - 4, &y, 4);
    } else if (n) {
        char first = s[0], mid = s[n / 2], last = s[n - 1];
        out[0] = first;
        out[n / 2] = mid;
        out[n - 1] = last;
    }
    return n;
}

/* True when a and b are equal ignoring ASCII case. */
bool pt_str_caseeq(pt_str_t a, pt_str_t b);

/* Field names alike to an upstream that maps them to variables (CGI,
 * WSGI, PHP: X-Consumer and X_Consumer are both HTTP_X_CONSUMER): equal in
 * any case, '_' and '-' the same. */
bool pt_str_field_alike(pt_str_t a, pt_str_t b);

/* pt_str_caseeq against a NUL-terminated string. */
bool pt_str_caseeq_lit(pt_str_t a, const char *lit);

/* Parses the n bytes at p as a decimal number: one digit or more and
 * nothing else (no sign, no space). PT_OK, or PT_ERROR on anything else or
 * uint64 overflow (*out untouched). */
int pt_str_parse_uint(const char *p, size_t n, uint64_t *out);

/* Length of the valid UTF-8 sequence at p (1 to 4 bytes, at most left),
 * or 0 when the bytes there are not one (stray, overlong, surrogate). */
size_t pt_str_utf8_len(const unsigned char *p, size_t left);

/* Escapes n bytes for the inside of a JSON string: '\\' and '"' get a
 * backslash; control characters, DEL and every byte that is not part of
 * valid UTF-8 become \u00XX (so the output is valid JSON whatever the
 * input: a header with obs-text, a binary body); valid UTF-8 is copied.
 * Writes at most cap bytes and no NUL, never half an escape; returns the
 * length the whole output needs, so a result > cap means dst holds a cut
 * (but still valid) prefix. */
size_t pt_str_json_escape(char *dst, size_t cap, const char *src, size_t n);
/* The same, returning the bytes written: all of it, or the longest prefix
 * of whole escapes that fits cap. */
size_t pt_str_json_escape_cut(char *dst, size_t cap, const char *src, size_t n);

/* s without leading and trailing SP and HTAB (optional whitespace). */
pt_str_t pt_str_trim_ows(pt_str_t s);

/* Decimal digits of v at out (room for 20), no NUL; returns how many. The
 * hot path's replacement for printf("%" PRIu64). */
size_t pt_str_from_u64(char *out, uint64_t v);

/* Iterates a comma-separated header list ("a, b ,c" -> "a", "b", "c"):
 * stores the next element, trimmed of OWS, in *tok and advances *list past
 * it. Empty elements (",,", trailing ",") are skipped. Returns false when
 * no element is left. */
bool pt_str_next_token(pt_str_t *list, pt_str_t *tok);

#endif
