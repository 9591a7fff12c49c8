/*
 * test_uri.c: path normalisation (RFC 3986 §2.3, §6.2.2, §5.2.4) and authority checks.
 */
#include "common/pt.h"

#include "worker/http/uri.h"
#include "test/unit/tap.h"

static const struct { const char *in, *want; } norm_good[] = {
    { "/", "/" },
    { "/a/b", "/a/b" },
    { "/a/../b", "/b" },
    { "/..", "/" },
    { "/.", "/" },
    { "/./a", "/a" },
    { "/../a", "/a" },
    { "/a/.", "/a/" },
    { "/a/./b", "/a/b" },
    { "/a/b/..", "/a/" },
    { "/a/b/../", "/a/" },
    { "/a/b/./", "/a/b/" },
    { "/a/b/../c", "/a/c" },
    { "/a/b/../../c", "/c" },
    { "/a/b/../../../../c", "/c" },
    { "/a/b/c/./../../g", "/a/g" },
    { "/api/%2e%2e/admin", "/admin" },
    { "/api/%2E%2e/admin", "/admin" },
    { "/api/.%2e/admin", "/admin" },
    { "/api/%2e/admin", "/api/admin" },
    { "/a/%2e", "/a/" },
    { "/a//b", "/a//b" },
    { "//a", "//a" },
    { "/a//../b", "/a/b" },
    { "/a/", "/a/" },
    { "/...", "/..." },
    { "/.a", "/.a" },
    { "/a.", "/a." },
    { "/a/..b", "/a/..b" },
    { "/a/b..", "/a/b.." },
    { "/%41%42c", "/ABc" },
    { "/%61%7A%30%39", "/az09" },
    { "/%7e%2d%5F%2E", "/~-_." },
    { "/a%2fb", "/a%2Fb" },
    { "/a%2Fb/../c", "/c" },
    { "/%2e%2e%2f", "/..%2F" },
    { "/%20", "/%20" },
    { "/%c3%a9", "/%C3%A9" },
    { "/%ff", "/%FF" },
    { "/a;b=c,d", "/a;b=c,d" },
    { "/a?b/../c", "/c" },
};

static const char *const norm_bad[] = {
    "", "a", "%2f", ".", "/%", "/%G1", "/%0", "/%1", "/a%", "/a%0g", "/%%41", "/%00",
    "/a/%00/b", "/%0G",
};

static const struct { const char *in; unsigned flags; } auth_good[] = {
    { "a", 0 }, { "a.b", 0 }, { "a:80", 0 }, { "a:", 0 }, { "", 0 }, { ":80", 0 },
    { "[::1]", 0 }, { "[::1]:443", 0 }, { "[v1.a:b]", 0 }, { "[V1F.x]", 0 },
    { "1.2.3.4:0", 0 }, { "%41", 0 }, { "a-b_c~d!$&'()*+,;=", 0 },
    { "[1:2:3:4:5:6:7:8]", 0 }, { "[::ffff:1.2.3.4]", 0 }, { "[1::]", 0 }, { "[::]", 0 },
    { "[1:2:3:4:5:6::8]", 0 }, { "[1:2:3:4:5:6:1.2.3.4]", 0 }, { "[::0.0.0.0]", 0 },
    { "[FEDC:BA98::3210]", 0 }, { "a:65535", PT_URI_NEED_HOST | PT_URI_NEED_PORT },
    { "a", PT_URI_NEED_HOST }, { "1.2.3.999", PT_URI_NEED_HOST },
};

static const struct { const char *in; unsigned flags; const char *why; } auth_bad[] = {
    { "a b", 0, "invalid host" }, { "a/b", 0, "invalid host" },
    { "u@a", 0, "userinfo in authority" }, { "u:p@a:80", 0, "userinfo in authority" },
    { "a:b", 0, "invalid port" }, { "a:65536", 0, "invalid port" },
    { "a:99999999999", 0, "invalid port" }, { "a:1:2", 0, "invalid port" },
    { "a: 1", 0, "invalid port" }, { "[::1", 0, "invalid IP literal" },
    { "[::1]x", 0, "invalid host" }, { "[:1]", 0, "invalid IP literal" },
    { "[1:]", 0, "invalid IP literal" }, { "[]", 0, "invalid IP literal" },
    { "[1:2:3:4:5:6:7:8:9]", 0, "invalid IP literal" },
    { "[1:2:3:4:5:6:7]", 0, "invalid IP literal" },
    { "[1:2:3:4:5:6:7:8::]", 0, "invalid IP literal" },
    { "[1::2::3]", 0, "invalid IP literal" }, { "[1:::2]", 0, "invalid IP literal" },
    { "[fe80::1%25eth0]", 0, "invalid IP literal" }, { "[v.a]", 0, "invalid IP literal" },
    { "[v1.]", 0, "invalid IP literal" }, { "[v1a]", 0, "invalid IP literal" },
    { "[v1./]", 0, "invalid IP literal" }, { "[::1.2.3]", 0, "invalid IP literal" },
    { "[::01.2.3.4]", 0, "invalid IP literal" }, { "[::1.2.3.256]", 0, "invalid IP literal" },
    { "[::1.2.3.4:5]", 0, "invalid IP literal" }, { "[12345::]", 0, "invalid IP literal" },
    { "[1.2.3.4]", 0, "invalid IP literal" }, { "[g::]", 0, "invalid IP literal" },
    { "a%4", 0, "invalid host" }, { "a%gg", 0, "invalid host" }, { "a%", 0, "invalid host" },
    { "caf\xc3\xa9", 0, "invalid host" }, { "a\"b", 0, "invalid host" },
    { "", PT_URI_NEED_HOST, "empty host" }, { ":80", PT_URI_NEED_HOST, "empty host" },
    { "a", PT_URI_NEED_PORT, "no port in authority" },
    { "a:", PT_URI_NEED_PORT, "no port in authority" },
    { "[::1]", PT_URI_NEED_PORT, "no port in authority" },
};

static void
test_normalize(void)
{
    char out[256];
    size_t n;

    for (size_t i = 0; i < pt_countof(norm_good); i++) {
        const char *in = norm_good[i].in;
        int rc;

        memset(out, 'X', sizeof(out));
        n = 0;
        rc = pt_uri_normalize(in, strlen(in), 0, out, &n);
        ok(rc == PT_OK && n == strlen(norm_good[i].want) && memcmp(out, norm_good[i].want, n) == 0
           && n <= strlen(in), "normalize %s -> %s", in, norm_good[i].want);
        if (rc != PT_OK || n != strlen(norm_good[i].want))
            diag("rc %d, got \"%.*s\"", rc, (int) n, out);

        /* In place gives the same. */
        snprintf(out, sizeof(out), "%s", in);
        rc = pt_uri_normalize(out, strlen(in), 0, out, &n);
        ok(rc == PT_OK && n == strlen(norm_good[i].want)
           && memcmp(out, norm_good[i].want, n) == 0, "normalize %s in place", in);
    }
    for (size_t i = 0; i < pt_countof(norm_bad); i++) {
        const char *in = norm_bad[i];

        is(pt_uri_normalize(in, strlen(in), 0, out, &n), PT_ERROR, "normalize refuses \"%s\"", in);
    }
    /* A length that stops before a valid %XX makes it invalid. */
    is(pt_uri_normalize("/%41", 3, 0, out, &n), PT_ERROR, "%%XX cut by the length");
}

/* merge_slashes and escaped_slashes = "decode" (issue 10): "//admin" and
 * "/api/..%2Fadmin" must not route past an "/admin/" rule. */
static const struct { const char *in; unsigned flags; const char *want; } norm_flags[] = {
    { "//admin/secret", PT_URI_MERGE_SLASHES, "/admin/secret" },
    { "///admin//x//", PT_URI_MERGE_SLASHES, "/admin/x/" },
    { "/a/", PT_URI_MERGE_SLASHES, "/a/" },
    { "//", PT_URI_MERGE_SLASHES, "/" },
    { "/a/.//b", PT_URI_MERGE_SLASHES, "/a/b" },
    { "/..//a", PT_URI_MERGE_SLASHES, "/a" },
    { "//a", 0, "//a" },
    { "/admin%2fsecret", PT_URI_DECODE_SLASHES, "/admin/secret" },
    { "/api/..%2Fadmin", PT_URI_DECODE_SLASHES, "/admin" },
    { "/api/..%5cadmin", PT_URI_DECODE_SLASHES, "/admin" },
    { "/api/%2e%2e%2F%2e%2e%2Fadmin", PT_URI_DECODE_SLASHES, "/admin" },
    { "/a%2F%2Fb", PT_URI_DECODE_SLASHES | PT_URI_MERGE_SLASHES, "/a/b" },
    { "/a%2F%2Fb", PT_URI_DECODE_SLASHES, "/a//b" },
    { "/api/..%2Fadmin", PT_URI_MERGE_SLASHES, "/api/..%2Fadmin" },
};

static void
test_normalize_flags(void)
{
    char out[256];
    size_t n;

    for (size_t i = 0; i < pt_countof(norm_flags); i++) {
        const char *in = norm_flags[i].in;
        int rc = pt_uri_normalize(in, strlen(in), norm_flags[i].flags, out, &n);
        ok(rc == PT_OK && n == strlen(norm_flags[i].want) && memcmp(out, norm_flags[i].want, n) == 0,
           "normalize %s (flags %u) -> %s", in, norm_flags[i].flags, norm_flags[i].want);
        if (rc != PT_OK || n != strlen(norm_flags[i].want))
            diag("rc %d, got \"%.*s\"", rc, (int) n, out);
    }
    ok(!pt_uri_is_normal("/a//b", 4, PT_URI_MERGE_SLASHES), "\"//\" is not normal when merging");
    ok(pt_uri_is_normal("/a//b", 4, 0), "but is when not");
    ok(pt_uri_has_escaped_slash("/a%2fb", 6), "%%2f is an escaped slash");
    ok(pt_uri_has_escaped_slash("/a%5C", 5), "%%5C is an escaped slash");
    ok(!pt_uri_has_escaped_slash("/a%2", 4), "a cut %%2 is not");
    ok(!pt_uri_has_escaped_slash("/a%25f", 6), "%%25 is not");
    ok(pt_uri_hides_dot_segment("/api/..%2Fadmin", 15), "\"..%%2F\" hides a dot-segment");
    ok(pt_uri_hides_dot_segment("/api%2F..", 9), "so does \"%%2F..\" at the end");
    ok(pt_uri_hides_dot_segment("/a%5C.%5Cb", 10), "and \"%%5C.%%5C\"");
    ok(!pt_uri_hides_dot_segment("/a%2F...%2Fb", 12), "\"...\" is a name");
    ok(!pt_uri_hides_dot_segment("/a%2Fb", 6), "a plain encoded slash hides nothing");
    ok(pt_uri_dot_params("/a/..;/admin", 12), "\"..;\" is a dot-segment with parameters");
    ok(pt_uri_dot_params("/.;/admin", 9), "so is \".;\"");
    ok(pt_uri_dot_params("/..;x", 5), "\"..;x\" too");
    ok(!pt_uri_dot_params("/a..;/b", 7), "\"a..;\" is a name");
    ok(!pt_uri_dot_params("/a;/b.;", 7), "\"b.;\" is a name");
    ok(!pt_uri_dot_params("/..", 3), "a plain \"..\" is not this check's");
}

static void
test_path_valid(void)
{
    static const char ok[] = "/AZaz09-._~!$&'()*+,;=:@/%2F";

    ok(pt_uri_path_valid(ok, sizeof(ok) - 1), "every pchar and \"/\" is valid in a path");
    /* RFC 3986 allows none of these unencoded (a backslash is a separator
     * to some servers). */
    for (const char *c = "\\\"<>^`{|}[] #"; *c; c++) {
        char in[] = { '/', 'a', *c, 'b' };
        ok(!pt_uri_path_valid(in, sizeof(in)), "'%c' is not valid in a path", *c);
    }
    char ctl[] = { '/', 0x01 }, high[] = { '/', (char) 0xc3, (char) 0xa9 };
    ok(!pt_uri_path_valid(ctl, sizeof(ctl)), "a control byte is not valid in a path");
    ok(!pt_uri_path_valid(high, sizeof(high)), "raw UTF-8 is not valid in a path");
}

static void
test_is_normal(void)
{
    static const struct { const char *in; bool want; } cases[] = {
        { "/", true }, { "/a/b", true }, { "/a.", true }, { "/a..b/c", true },
        { "/a//b", true }, { "/a%20", false }, { "/.", false }, { "/.well-known", false },
        { "/a/./b", false }, { "/a/..", false }, { "", false }, { "a", false },
    };
    static const char alphabet[] = "//..a%2eF0";
    char in[16], out[16];
    bool all = true;
    uint32_t seed = 12345;

    for (size_t i = 0; i < pt_countof(cases); i++)
        is(pt_uri_is_normal(cases[i].in, strlen(cases[i].in), 0), cases[i].want,
           "is_normal \"%s\"", cases[i].in);

    /* Whenever the cheap check says normal, normalising must change nothing. */
    for (int round = 0; round < 200000; round++) {
        size_t n = 1 + round % 12, m;

        in[0] = '/';
        for (size_t i = 1; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        for (unsigned flags = 0; flags < 4; flags++) {
            if (pt_uri_is_normal(in, n, flags))
                all &= pt_uri_normalize(in, n, flags, out, &m) == PT_OK && m == n
                       && !memcmp(in, out, n);
            else if (pt_uri_normalize(in, n, flags, out, &m) == PT_OK)
                all &= m <= n && out[0] == '/';
        }
    }
    ok(all, "is_normal never says normal for a path that normalising changes");
}

static void
test_authority(void)
{
    for (size_t i = 0; i < pt_countof(auth_good); i++) {
        const char *a = auth_good[i].in;
        const char *why = pt_uri_check_authority(a, strlen(a), auth_good[i].flags);

        ok(why == NULL, "authority \"%s\" valid (flags %u)", a, auth_good[i].flags);
        if (why)
            diag("refused: %s", why);
    }
    for (size_t i = 0; i < pt_countof(auth_bad); i++) {
        const char *a = auth_bad[i].in;

        is_str(pt_uri_check_authority(a, strlen(a), auth_bad[i].flags), auth_bad[i].why,
               "authority \"%s\" refused (flags %u)", a, auth_bad[i].flags);
    }
    /* The length bounds the check, not a NUL. */
    ok(pt_uri_check_authority("a:80 junk", 4, 0) == NULL, "only n bytes are looked at");
}

int
main(void)
{
    test_normalize();
    test_normalize_flags();
    test_path_valid();
    test_is_normal();
    test_authority();
    return done_testing();
}
