/*
 * test_jwt_b64.c: strict base64url (RFC 7515 §2, RFC 4648 §5): round trips
 * for every length, and every non-canonical spelling refused.
 */
#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_b64.h"
#include "test/unit/tap.h"

static ssize_t dec(const char *s, unsigned char *out)
{
    return pt_jwt_b64_decode(s, strlen(s), out);
}

int main(void)
{
    unsigned char in[64], out[128];
    char enc[128];

    memset(in, 0, sizeof(in));

    /* Round trips of random bytes, lengths 0 to 63. */
    for (size_t n = 0; n < sizeof(in); n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char) tap_rand();
        size_t e = pt_jwt_b64_encode(in, n, enc);
        ssize_t d = pt_jwt_b64_decode(enc, e, out);
        if (d != (ssize_t) n || memcmp(in, out, n) != 0 || e != (n * 4 + 2) / 3)
            ok(0, "round trip of %zu bytes", n);
    }
    ok(1, "round trips of 0..63 bytes");

    /* RFC 7515 Appendix C's example. */
    is(dec("A-z_4ME", out), 5, "RFC 7515 C: 5 bytes");
    ok(memcmp(out, "\x03\xec\xff\xe0\xc1", 5) == 0, "RFC 7515 C: the bytes");
    is(dec("", out), 0, "empty is zero bytes");
    is(dec("Zm9v", out), 3, "foo");
    is(dec("Zm8", out), 2, "fo, unpadded");

    /* Refused: padding, the other alphabet, whitespace, bad length, bits
     * past the last byte. */
    const char *bad[] = { "Zm8=", "Zm9v====", "Zg==", "a+b/", "ab/c", "Zm 9v", "Zm9v\n",
                          "\tZm9v", "Z", "Zm9vY", "Zh", "Zm9", "Zm+", "A-z_4MF", "ab.c",
                          "A", "Zm9vA", "AAAAA",  /* 1 mod 4, its 6 bits zero (issue 17) */
                          "Zm\x009v" };
    for (size_t i = 0; i < pt_countof(bad); i++)
        is(pt_jwt_b64_decode(bad[i], i == pt_countof(bad) - 1 ? 6 : strlen(bad[i]), out), -1,
           "refused: bad[%zu]", i);
    return done_testing();
}
