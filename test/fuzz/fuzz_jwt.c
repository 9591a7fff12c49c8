/*
 * fuzz_jwt.c: libFuzzer target for the JWT token parser, the JOSE header
 * and JSON rules, the claim checks and (HS*) the signature check with a
 * fixed key; an input starting with '{' goes to the JWK Set parser
 * instead.
 *
 * Invariants, any breach aborts: a parsed token's signing input is the
 * token up to its second dot; each of its three segments decodes and
 * re-encodes to exactly itself (strict base64url has one spelling); the
 * signature is no longer than its text; alg is in the table; claim checks
 * and verification return one of their two answers. A JWK Set never
 * yields more than PT_JWT_KEYS_MAX keys, and each key's algorithms are
 * within its type's family.
 */
#include "common/pt.h"

#include "worker/mod/auth/jwt/jwt_b64.h"
#include "worker/mod/auth/jwt/jwt_keys.h"
#include "worker/mod/auth/jwt/jwt_token.h"
#include "worker/mod/auth/jwt/jwt_verify.h"

static void check_canonical(const char *seg, size_t n)
{
    unsigned char *dec = malloc(PT_JWT_B64_DECODED_MAX(n) + 1);
    char *enc = malloc(n + 4);
    ssize_t m = pt_jwt_b64_decode(seg, n, dec);

    if (m < 0)
        abort();
    size_t e = pt_jwt_b64_encode(dec, (size_t) m, enc);
    if (e != n || memcmp(enc, seg, n) != 0)
        abort();
    free(dec);
    free(enc);
}

static void fuzz_jwks(const uint8_t *data, size_t size)
{
    pt_jwt_keyset_t ks = { .n = 0 };
    char err[256];
    int n = pt_jwt_keys_add_jwks(&ks, (const char *) data, size, 0, NULL, NULL, err,
                                 sizeof(err));

    if (n > PT_JWT_KEYS_MAX || (n >= 0 && (size_t) n != ks.n))
        abort();
    for (size_t i = 0; i < ks.n; i++)
        if ((ks.keys[i].algs & ~pt_jwt_key_family(&ks.keys[i])) != 0)
            abort();
    pt_jwt_keys_clear(&ks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char secret[64] = "fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-fuzz!!!";
    static const char *const iss[] = { "https://issuer.test", NULL };
    static const char *const aud[] = { "api", NULL };
    static const pt_jwt_required_t req[] = { { "role", "admin" }, { "sub", NULL } };
    const pt_jwt_rules_t rules = { .leeway = 30, .issuers = iss, .audiences = aud,
                                   .required = req, .nrequired = 2 };
    pt_jwt_key_t key = { .kty = PT_JWT_KTY_OCT, .secret = secret, .secret_len = 64 };
    const char *why = NULL;
    pt_jwt_token_t t;

    if (size > 16384)
        return 0;
    if (size && data[0] == '{') {
        fuzz_jwks(data, size);
        return 0;
    }
    /* A heap copy of exactly size bytes, so reads past the end are caught. */
    char *tok = malloc(size ? size : 1);
    unsigned char *buf = malloc(size ? size : 1);
    memcpy(tok, data, size);
    if (pt_jwt_token_parse(&t, tok, size, buf, &why) == PT_OK) {
        const char *d1 = memchr(tok, '.', size);
        const char *d2 = memchr(d1 + 1, '.', size - (size_t) (d1 + 1 - tok));
        if (t.signing_input.p != tok || t.signing_input.len != (size_t) (d2 - tok))
            abort();
        if (t.alg < 0 || t.alg >= PT_JWT_ALG_MAX || t.sig_len > size)
            abort();
        check_canonical(tok, (size_t) (d1 - tok));
        check_canonical(d1 + 1, (size_t) (d2 - d1 - 1));
        check_canonical(d2 + 1, size - (size_t) (d2 + 1 - tok));
        int rc = pt_jwt_claims_check(t.payload, &rules, 1800000000, &why);
        if (rc != PT_OK && rc != PT_ERROR)
            abort();
        key.algs = pt_jwt_key_family(&key);
        (void) pt_jwt_verify(&key, t.alg, (const unsigned char *) t.signing_input.p,
                             t.signing_input.len, t.sig, t.sig_len);
        pt_jwt_token_free(&t);
    } else if (why == NULL) {
        abort();
    }
    (void) pt_jwt_token_looks_like((pt_str_t) { tok, size });
    free(tok);
    free(buf);
    return 0;
}
