/*
 * test_str.c: string view helpers.
 */
#include "common/pt.h"

#include "common/str.h"
#include "test/unit/tap.h"

static pt_str_t
S(const char *s)
{
    return (pt_str_t) { s, strlen(s) };
}

/* Joins the tokens of list with '|' into a static buffer. */
static const char *
tokens(const char *list)
{
    static char out[256];
    pt_str_t l = S(list), t;
    size_t n = 0;

    out[0] = '\0';
    while (pt_str_next_token(&l, &t)) {
        n += (size_t) snprintf(out + n, sizeof(out) - n, "%s%.*s", n ? "|" : "",
                               (int) t.len, t.p);
    }
    return out;
}

int
main(void)
{
    /* tchar against the RFC 9110 definition written out. */
    {
        const char *special = "!#$%&'*+-.^_`|~";
        int wrong = 0;
        for (int c = 0; c < 256; c++) {
            bool want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                        || (c >= 'A' && c <= 'Z') || (c != 0 && strchr(special, c) != NULL);
            if (pt_str_tchar[c] != want) {
                wrong++;
                diag("tchar[0x%02x] = %d", c, pt_str_tchar[c]);
            }
        }
        is(wrong, 0, "pt_str_tchar matches RFC 9110 tchar for all 256 bytes");
    }

    is(pt_str_lower('A'), 'a', "lower A");
    is(pt_str_lower('Z'), 'z', "lower Z");
    is(pt_str_lower('a'), 'a', "lower a");
    is(pt_str_lower('@'), '@', "lower @ (just before A)");
    is(pt_str_lower('['), '[', "lower [ (just after Z)");
    is(pt_str_lower(0xC0), 0xC0, "lower leaves bytes >= 0x80 alone");

    ok(pt_str_caseeq(S("Content-Length"), S("content-length")), "caseeq mixed case");
    ok(pt_str_caseeq(S(""), S("")), "caseeq empty");
    ok(!pt_str_caseeq(S("abc"), S("abd")), "caseeq different");
    ok(!pt_str_caseeq(S("abc"), S("abcd")), "caseeq different length");
    ok(!pt_str_caseeq(S("@"), S("`")), "caseeq does not fold @ and `");
    ok(!pt_str_caseeq(S("\xc3\xa9"), S("\xc3\x89")), "caseeq is ASCII only");
    ok(pt_str_caseeq_lit(S("KEEP-ALIVE"), "keep-alive"), "caseeq_lit");
    ok(!pt_str_caseeq_lit(S("close"), "keep-alive"), "caseeq_lit different");
    ok(pt_str_caseeq_lit((pt_str_t) { "chunkedXX", 7 }, "chunked"), "caseeq_lit on a view");

    /* parse_uint */
    {
        static const struct { const char *in; int rc; uint64_t v; } t[] = {
            { "0", PT_OK, 0 }, { "42", PT_OK, 42 }, { "007", PT_OK, 7 },
            { "18446744073709551615", PT_OK, UINT64_MAX },
            { "18446744073709551616", PT_ERROR, 0 }, { "99999999999999999999", PT_ERROR, 0 },
            { "", PT_ERROR, 0 }, { "-1", PT_ERROR, 0 }, { "+1", PT_ERROR, 0 },
            { " 1", PT_ERROR, 0 }, { "1 ", PT_ERROR, 0 }, { "1a", PT_ERROR, 0 },
            { "0x1", PT_ERROR, 0 }, { "1.0", PT_ERROR, 0 },
        };
        for (size_t i = 0; i < pt_countof(t); i++) {
            uint64_t v = 12345;
            int rc = pt_str_parse_uint(t[i].in, strlen(t[i].in), &v);
            ok(rc == t[i].rc && v == (rc == PT_OK ? t[i].v : 12345),
               "parse_uint \"%s\"", t[i].in);
        }
        uint64_t v = 0;
        ok(pt_str_parse_uint("123abc", 3, &v) == PT_OK && v == 123, "parse_uint stops at n");
    }

    /* json_escape */
    {
        static const struct { const char *in; size_t n; const char *want; } t[] = {
            { "plain", 5, "plain" },
            { "a\"b\\c", 5, "a\\\"b\\\\c" },
            { "\n\r\t\x01\x1f", 5, "\\u000a\\u000d\\u0009\\u0001\\u001f" },
            { "nul\0x", 5, "nul\\u0000x" },
            { "caf\xc3\xa9\x7f", 6, "caf\xc3\xa9\\u007f" },
            { "a\xff\xc3(", 4, "a\\u00ff\\u00c3(" },
            { "\xed\xa0\x80", 3, "\\u00ed\\u00a0\\u0080" },
            { "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80" },
            { "/</", 3, "/</" },
        };
        char buf[128];
        for (size_t i = 0; i < pt_countof(t); i++) {
            size_t n = pt_str_json_escape(buf, sizeof(buf), t[i].in, t[i].n);
            buf[pt_min(n, sizeof(buf) - 1)] = '\0';
            is_str(buf, t[i].want, "json_escape case %zu", i);
            is(n, strlen(t[i].want), "json_escape case %zu length", i);
        }

        /* Truncation: never half an escape, return value is the full need. */
        memset(buf, '#', sizeof(buf));
        is(pt_str_json_escape(buf, 4, "ab\ncd", 5), 10, "json_escape reports the full length");
        ok(memcmp(buf, "ab##", 4) == 0, "a cut falls before the escape, not inside it");
        is(pt_str_json_escape(NULL, 0, "\"", 1), 2, "json_escape(NULL, 0) measures");
        memset(buf, '#', sizeof(buf));
        is(pt_str_json_escape(buf, 8, "\x01\x02", 2), 12, "two escapes need 12");
        ok(memcmp(buf, "\\u0001##", 8) == 0, "only the whole first escape is written");
        /* _cut says how much was written: never bytes past the last whole escape. */
        is(pt_str_json_escape_cut(buf, 8, "\x01\x02", 2), 6, "json_escape_cut: one escape");
        is(pt_str_json_escape_cut(buf, 4, "ab\ncd", 5), 2, "json_escape_cut stops before \\n");
        is(pt_str_json_escape_cut(buf, 64, "ab\ncd", 5), 10, "json_escape_cut: all of it");
        is(pt_str_json_escape_cut(buf, 3, "\xc3\xa9xyz", 5), 3, "json_escape_cut keeps UTF-8 whole");
        is(pt_str_json_escape_cut(buf, 1, "\xc3\xa9", 2), 0, "and cuts before a sequence");
    }

    /* trim_ows */
    {
        pt_str_t s = pt_str_trim_ows(S(" \t value \t "));
        ok(s.len == 5 && memcmp(s.p, "value", 5) == 0, "trim both ends");
        s = pt_str_trim_ows(S(" \t "));
        is(s.len, 0, "trim all-space");
        s = pt_str_trim_ows(S("a b"));
        is(s.len, 3, "inner space kept");
        s = pt_str_trim_ows(S("\na\n"));
        is(s.len, 3, "only SP and HTAB are OWS");
    }

    /* next_token */
    is_str(tokens("a, b ,c"), "a|b|c", "token list \"a, b ,c\"");
    is_str(tokens("keep-alive"), "keep-alive", "one token");
    is_str(tokens(""), "", "empty list");
    is_str(tokens(" , ,, "), "", "only separators");
    is_str(tokens(",a,,b,"), "a|b", "empty elements skipped");
    is_str(tokens("\tgzip ,\tchunked\t"), "gzip|chunked", "HTAB is OWS");
    is_str(tokens("Upgrade, close"), "Upgrade|close", "case kept");
    is_str(tokens("a b, c"), "a b|c", "inner space stays in the element");
    {
        pt_str_t l = S("x"), t;
        ok(pt_str_next_token(&l, &t) && !pt_str_next_token(&l, &t) && l.len == 0,
           "iteration ends and stays ended");
    }

    /* pt_str_put: every length through each of its copy paths. */
    {
        char src[48], dst[48];
        bool all = true;
        for (int i = 0; i < 48; i++)
            src[i] = (char) ('A' + i);
        for (size_t n = 0; n <= 40; n++) {
            memset(dst, '.', sizeof(dst));
            all &= pt_str_put(dst, src, n) == n && memcmp(dst, src, n) == 0
                   && dst[n] == '.';
        }
        ok(all, "str_put copies 0 to 40 bytes exactly, and nothing past them");
    }

    /* pt_str_from_u64: every digit count, both sides of each power of ten. */
    {
        char out[24], want[24];
        bool all = true;
        uint64_t p = 1;
        for (int d = 0; d < 20; d++, p *= 10) {
            uint64_t vs[] = { p - 1, p, p + 1, p * 9 + (p - 1) };
            for (size_t k = 0; k < 4; k++) {
                size_t n = pt_str_from_u64(out, vs[k]);
                out[n] = '\0';
                snprintf(want, sizeof(want), "%" PRIu64, vs[k]);
                all &= strcmp(out, want) == 0;
            }
            if (d == 19)
                break;
        }
        size_t n = pt_str_from_u64(out, UINT64_MAX);
        out[n] = '\0';
        ok(all, "from_u64 writes every power of ten and its neighbours");
        is_str(out, "18446744073709551615", "from_u64 of UINT64_MAX");
    }

    return done_testing();
}
