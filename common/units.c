/*
 * units.c: duration and size values for the config file.
 */
#include "common/pt.h"

#include "common/units.h"

typedef struct {
    const char *name;
    size_t len;
    int64_t ms;
} pt_units_dur_t;

/* Largest first: a combination must name its units in this order, and the
 * printer tries the largest divisor first. */
static const pt_units_dur_t pt_units_dur[] = {
    { "d",  1, 86400000 },
    { "h",  1, 3600000 },
    { "m",  1, 60000 },
    { "s",  1, 1000 },
    { "ms", 2, 1 },
};

static bool
pt_units_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads 1+ digits at *p into *v; false on no digit or uint64 overflow. */
static bool
pt_units_number(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t n = 0;

    if (!pt_units_isdigit(*s))
        return false;
    while (pt_units_isdigit(*s)) {
        if (__builtin_mul_overflow(n, 10, &n)
            || __builtin_add_overflow(n, (uint64_t) (*s - '0'), &n))
            return false;
        s++;
    }
    *p = s;
    *v = n;
    return true;
}

int
pt_parse_duration(const char *s, pt_msec_t *out)
{
    const char *p = s;
    int64_t total = 0, prev_ms = INT64_MAX;
    uint64_t v;

    if (s == NULL || !pt_units_number(&p, &v))
        return PT_ERROR;
    if (*p == '\0') {
        /* A bare number is seconds, the unit most timeouts are thought in. */
        if (v > (uint64_t) (INT64_MAX / 1000))
            return PT_ERROR;
        *out = (pt_msec_t) v * 1000;
        return PT_OK;
    }

    for (;;) {
        const pt_units_dur_t *u = NULL;
        int64_t part;

        /* Longest match, so "ms" is not read as "m" followed by garbage. */
        for (size_t i = 0; i < pt_countof(pt_units_dur); i++) {
            if (strncmp(p, pt_units_dur[i].name, pt_units_dur[i].len) == 0
                && (u == NULL || pt_units_dur[i].len > u->len))
                u = &pt_units_dur[i];
        }
        /* Strictly decreasing units keep "1s1m" or "5s5s" from meaning something. */
        if (u == NULL || u->ms >= prev_ms)
            return PT_ERROR;
        p += u->len;
        prev_ms = u->ms;

        if (v > (uint64_t) INT64_MAX
            || __builtin_mul_overflow((int64_t) v, u->ms, &part)
            || __builtin_add_overflow(total, part, &total))
            return PT_ERROR;

        if (*p == '\0')
            break;
        while (*p == ' ')
            p++;
        if (!pt_units_number(&p, &v) || *p == '\0')
            return PT_ERROR;    /* trailing space, or a unitless number in a combination */
    }

    *out = total;
    return PT_OK;
}

int
pt_parse_size(const char *s, uint64_t *out)
{
    const char *p = s;
    uint64_t v;
    unsigned shift;

    if (s == NULL || !pt_units_number(&p, &v))
        return PT_ERROR;

    switch (*p) {
    case '\0':           shift = 0; break;
    case 'k': case 'K':  shift = 10; p++; break;
    case 'm': case 'M':  shift = 20; p++; break;
    case 'g': case 'G':  shift = 30; p++; break;
    default:             return PT_ERROR;
    }
    if (*p != '\0' || v > (UINT64_MAX >> shift))
        return PT_ERROR;

    *out = v << shift;
    return PT_OK;
}

size_t
pt_format_duration(char *buf, size_t n, pt_msec_t ms)
{
    char single[32], combo[64];
    const char *sign = "";
    uint64_t mag, rest;
    size_t len = 0;
    int r;

    if (ms == 0)
        return (size_t) snprintf(buf, n, "0s");
    if (ms < 0) {
        sign = "-";
        mag = (uint64_t) 0 - (uint64_t) ms;   /* well defined for INT64_MIN too */
    } else {
        mag = (uint64_t) ms;
    }

    /* Two candidates: the largest single unit that divides exactly, and the
     * full decomposition; the decomposition only wins when strictly shorter
     * ("1d1ms" rather than "86400001ms", but "90s" rather than "1m30s"). */
    for (size_t i = 0; i < pt_countof(pt_units_dur); i++) {
        const pt_units_dur_t *u = &pt_units_dur[i];
        if (mag % (uint64_t) u->ms == 0) {
            snprintf(single, sizeof(single), "%" PRIu64 "%s", mag / (uint64_t) u->ms, u->name);
            break;
        }
    }

    rest = mag;
    combo[0] = '\0';
    for (size_t i = 0; i < pt_countof(pt_units_dur); i++) {
        const pt_units_dur_t *u = &pt_units_dur[i];
        uint64_t q;

        q = rest / (uint64_t) u->ms;
        if (q != 0) {
            r = snprintf(combo + len, sizeof(combo) - len, "%" PRIu64 "%s", q, u->name);
            len += (size_t) r;
            rest -= q * (uint64_t) u->ms;
        }
    }

    r = snprintf(buf, n, "%s%s", sign, strlen(combo) < strlen(single) ? combo : single);
    return (size_t) r;
}

size_t
pt_format_size(char *buf, size_t n, uint64_t v)
{
    static const struct { unsigned shift; char suffix; } units[] = {
        { 30, 'G' }, { 20, 'M' }, { 10, 'k' },
    };

    if (v != 0) {
        for (size_t i = 0; i < pt_countof(units); i++) {
            uint64_t mask = ((uint64_t) 1 << units[i].shift) - 1;
            if ((v & mask) == 0)
                return (size_t) snprintf(buf, n, "%" PRIu64 "%c",
                                         v >> units[i].shift, units[i].suffix);
        }
    }
    return (size_t) snprintf(buf, n, "%" PRIu64, v);
}
