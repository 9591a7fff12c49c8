/*
 * trace_context.c: traceparent and tracestate (W3C Trace Context, level 1).
 */
#include "common/pt.h"
#include "worker/mod/log/trace/trace_context.h"

static int pt_trace_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;                  /* uppercase hex is invalid too (3.2.2.1) */
}

/* n bytes from 2n lowercase hex digits at p; false on a bad digit. */
static bool pt_trace_unhex(const char *p, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = pt_trace_hexval((unsigned char) p[2 * i]);
        int lo = pt_trace_hexval((unsigned char) p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t) (hi << 4 | lo);
    }
    return true;
}

static bool pt_trace_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int pt_traceparent_parse(pt_str_t v, pt_traceparent_t *out)
{
    const char *p = v.p;

    if (v.len < PT_TRACEPARENT_LEN || p[2] != '-' || p[35] != '-' || p[52] != '-')
        return PT_ERROR;
    if (!pt_trace_unhex(p, &out->version, 1) || out->version == 0xff)
        return PT_ERROR;
    /* Version 00 is exactly this long; a later one may carry more after a
     * "-", which a parser of 00 ignores (3.2.4). */
    if (out->version == 0 ? v.len != PT_TRACEPARENT_LEN
                          : v.len > PT_TRACEPARENT_LEN && p[PT_TRACEPARENT_LEN] != '-')
        return PT_ERROR;
    if (!pt_trace_unhex(p + 3, out->trace_id, PT_TRACE_ID_LEN)
        || !pt_trace_unhex(p + 36, out->parent_id, PT_TRACE_SPAN_LEN)
        || !pt_trace_unhex(p + 53, &out->flags, 1))
        return PT_ERROR;
    if (pt_trace_zero(out->trace_id, PT_TRACE_ID_LEN)
        || pt_trace_zero(out->parent_id, PT_TRACE_SPAN_LEN))
        return PT_ERROR;
    return PT_OK;
}

int pt_trace_sample_pick(uint16_t draw, unsigned percent)
{
    if (draw >= PT_TRACE_SAMPLE_DRAWS)
        return -1;              /* past a whole number of hundreds */
    return draw % 100 < percent ? 1 : 0;
}

void pt_trace_hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
}

void pt_traceparent_write(char *out, const uint8_t trace_id[PT_TRACE_ID_LEN],
                          const uint8_t span_id[PT_TRACE_SPAN_LEN], uint8_t flags)
{
    memcpy(out, "00-", 3);
    pt_trace_hex(out + 3, trace_id, PT_TRACE_ID_LEN);
    out[35] = '-';
    pt_trace_hex(out + 36, span_id, PT_TRACE_SPAN_LEN);
    out[52] = '-';
    pt_trace_hex(out + 53, &flags, 1);
}

static bool pt_trace_keychar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
           || c == '*' || c == '/';
}

/* simple-key, or tenant-id "@" system-id (3.3.1.3.1). */
static bool pt_tracestate_key_ok(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);

    if (n == 0)
        return false;
    if (at == NULL) {
        if (n > 256 || !(k[0] >= 'a' && k[0] <= 'z'))
            return false;
        for (size_t i = 1; i < n; i++)
            if (!pt_trace_keychar((unsigned char) k[i]))
                return false;
        return true;
    }
    size_t tn = (size_t) (at - k), sn = n - tn - 1;
    if (tn == 0 || tn > 241 || sn == 0 || sn > 14 || !(at[1] >= 'a' && at[1] <= 'z')
        || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')))
        return false;
    for (size_t i = 1; i < tn; i++)
        if (!pt_trace_keychar((unsigned char) k[i]))
            return false;
    for (size_t i = 2; i <= sn; i++)
        if (!pt_trace_keychar((unsigned char) at[i]))
            return false;
    return true;
}

/* 0*255(chr) nblk-chr: printable ASCII but "," and "=", spaces inside only. */
static bool pt_tracestate_value_ok(const char *v, size_t n)
{
    if (n == 0 || n > 256 || v[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
            return false;
    }
    return true;
}

ssize_t pt_tracestate_parse(pt_str_t v, char *out, size_t cap)
{
    pt_str_t m[PT_TRACESTATE_MEMBERS];
    size_t keylen[PT_TRACESTATE_MEMBERS];
    size_t n = 0;
    const char *p = v.p, *end = v.p + v.len;

    while (p <= end && v.len) {
        const char *comma = memchr(p, ',', (size_t) (end - p));
        const char *b = p, *e = comma ? comma : end;
        p = e + 1;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (b < e) {
            const char *eq = memchr(b, '=', (size_t) (e - b));
            if (n == PT_TRACESTATE_MEMBERS || eq == NULL
                || !pt_tracestate_key_ok(b, (size_t) (eq - b))
                || !pt_tracestate_value_ok(eq + 1, (size_t) (e - eq - 1)))
                return -1;
            keylen[n] = (size_t) (eq - b);
            for (size_t i = 0; i < n; i++)
                if (keylen[i] == keylen[n] && memcmp(m[i].p, b, keylen[n]) == 0)
                    return -1;      /* keys are unique (3.3.1.1) */
            m[n++] = (pt_str_t) { b, (size_t) (e - b) };
        }
        if (comma == NULL)
            break;
    }
    /* Too long to propagate: members over 128 bytes go first, then the
     * last ones (3.3.1.5). */
    size_t total = n ? n - 1 : 0;
    for (size_t i = 0; i < n; i++)
        total += m[i].len;
    while (n && total > PT_TRACESTATE_MAX) {
        size_t drop = n - 1;
        for (size_t i = 0; i < n; i++)
            if (m[i].len > 128) {
                drop = i;
                break;
            }
        total -= m[drop].len + (n > 1 ? 1 : 0);
        memmove(&m[drop], &m[drop + 1], (n - drop - 1) * sizeof(m[0]));
        n--;
    }
    if (total > cap)
        return -1;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[len++] = ',';
        memcpy(out + len, m[i].p, m[i].len);
        len += m[i].len;
    }
    return (ssize_t) len;
}
