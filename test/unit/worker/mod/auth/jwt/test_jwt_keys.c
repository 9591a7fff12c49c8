/*
 * test_jwt_keys.c: JWK Sets into key sets (jwt_keys.c) and signatures
 * over them (jwt_verify.c): usable keys kept, unusable ones skipped with
 * their reason, the key type fixing the algorithms, kid lookup order.
 * The fixtures were made with python3-cryptography (test/integration/
 * jwtmake.py): public keys and signatures over "msg".
 */
#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_b64.h"
#include "worker/mod/auth/jwt/jwt_keys.h"
#include "test/unit/tap.h"

static const char JWK_EC[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"YVc72qeDCyT9HMpf7CRaxKj8H9fXgEGRjQOzrGVbnSY\",\"y\":\"gzzFtVbF7Zm2jglmunGTkQlA5pSbOO1vCSjPx056Pf0\",\"kid\":\"ec1\"}";
static const char JWK_EC384[] = "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"ubMFnwlW4yGIlBjk0s-0ZGLGNRwd0vEHOUuMt81BpNe-HEJQ7ZqnmQm_yPbGVWNr\",\"y\":\"_PCV-cds8G26nK8XNVPaEZgaAyxEfUshxjVcvZ4lIZNccvTq4ESnXDXaG1HssVSU\",\"kid\":\"ec3\"}";
static const char JWK_RSA[] = "{\"kty\":\"RSA\",\"n\":\"zaQWT8p1bIqJOZbwvVCee7HDEGp5SOhxrsVeTx1U-DE9N5tK04S3j9TsQq-cMZ0i0fDCmwl07kim4xQwd_cBLzvxOncwOuPcXzeV8XJsvrUF_mhNvNUisQZAfgR2r7-etgnzgfQFFfbs3vfHFBRfw9VCME7yD6TvJn01j3Uct7fCMiywxsDZ7MMwVI5h1s2-R8sZoXRmuhyvDimHixIADg3-QToA-ipuHt3IZngQ-hoO0rzzs5mSf5T1VsFCzazUEqghDjJ19gBP9vUik4kVgVIjx1Xw1jnO2DMhZ6R603K1HT5bRk6Vlbnpojmwt-OjS3h4e_gvBLZZ9zqe_ddLcQ\",\"e\":\"AQAB\",\"kid\":\"r1\"}";
static const char JWK_RSA_SMALL[] = "{\"kty\":\"RSA\",\"n\":\"p-cmt1UIHvwIC0LIF2yNcqYGTFxck_HCgJDRI-tODfoN4GdN7jg9OZn9Hp2oCLbFyfKJItQa81IlrO7wMqT29P9YVMHUJYHxA483sC_EvIWuhe522Chk2kyQIfv-MnQe9tUT9EBtRq9KdP-iW_UExioVUawmcaLTUnvon8_HMSk\",\"e\":\"AQAB\",\"kid\":\"small\"}";
static const char JWK_ED[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"vm7MxvH1UP-KtqX73eZJWcxdKcm3eHuU70FasLC3Mak\",\"kid\":\"d1\"}";
static const char JWK_EC_OFFCURVE[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\",\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\",\"kid\":\"offcurve\"}";
static const char JWK_EC_SHORT[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"YVc72qeDCyT9HMpf7CRaxKj8H9fXgEGRjQOzrGVbn\",\"y\":\"gzzFtVbF7Zm2jglmunGTkQlA5pSbOO1vCSjPx056Pf0\",\"kid\":\"shortx\"}";
static const char SIG_EC_MSG[] = "XTmcnx_CiYegxVk5h93sbgh4bPOz7ogbGmbyDzy5FyGeT7UFTY2NBdne-ZtZe9jFEuYuVVtzUswtQv1DPbidTA";
static const char SIG_RSA_MSG[] = "cfPo_CamJ7-XVwfcT0ZuQO3GfDpZFzsn6cglRSbj11mbkh7s2JUCNGzaDwZN_-h-DE7H7V-B6QYKy-3YE_zZeVIRdpMR6rdw_zxVAhBhLyHM3yg0_YZe32uPifb4U4iJzofGhP8oDOxBVpw9GPzhqzQq9xE1Rq-2bWhxAQ6kbCnupZNJ57YGLDxPJ2Gj5PZRP5H5cX69dV8Nn2Oa2gThBkX47SDT3TKq3jGPFkhCQ0qeCXH__PGIgWjrZBOrcCgTLe-EX7cE8IoCh1hYP7tj3LcHbL0atv0LdoiQNNeqwgLMeevSLQFGStsWVozK168uuxnf94KEa2SGB7j7FSTVpg";
static const char SIG_ED_MSG[] = "owNIsRk6TGHQGXC9cgfj3syDioVpAk2_sqm2S_zmUqloC404u2JIcUPxIbf7uZDefO2J4F1TcPlnv94vxefTAA";

static unsigned skipped;
static char last_skip[256];

static void on_skip(const char *why, const char *kid, void *data)
{
    (void) data;
    skipped++;
    snprintf(last_skip, sizeof(last_skip), "%s: %s", kid ? kid : "-", why);
}

static int load(pt_jwt_keyset_t *ks, const char *jwk_or_set, bool set)
{
    char doc[8192], err[256];

    if (set)
        snprintf(doc, sizeof(doc), "%s", jwk_or_set);
    else
        snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", jwk_or_set);
    skipped = 0;
    return pt_jwt_keys_add_jwks(ks, doc, strlen(doc), 0, on_skip, NULL, err, sizeof(err));
}

static bool verifies(const pt_jwt_key_t *k, int alg, const char *sig_b64)
{
    unsigned char sig[1024];
    ssize_t n = pt_jwt_b64_decode(sig_b64, strlen(sig_b64), sig);

    return n > 0 && pt_jwt_verify(k, alg, (const unsigned char *) "msg", 3, sig, (size_t) n);
}

int main(void)
{
    pt_jwt_keyset_t ks = { .n = 0 };
    char buf[8192];

    is(load(&ks, JWK_EC, false), 1, "an EC P-256 JWK");
    is(ks.keys[0].algs, PT_JWT_ALG_BIT(PT_JWT_ES256), "P-256 verifies ES256 only");
    ok(verifies(&ks.keys[0], PT_JWT_ES256, SIG_EC_MSG), "its signature verifies");
    ok(!verifies(&ks.keys[0], PT_JWT_ES384, SIG_EC_MSG), "not as ES384");
    ok(!verifies(&ks.keys[0], PT_JWT_HS256, SIG_EC_MSG), "never as an HMAC");
    pt_jwt_keys_clear(&ks);

    is(load(&ks, JWK_EC384, false), 1, "an EC P-384 JWK");
    is(ks.keys[0].algs, PT_JWT_ALG_BIT(PT_JWT_ES384), "P-384 verifies ES384 only");
    pt_jwt_keys_clear(&ks);

    is(load(&ks, JWK_RSA, false), 1, "an RSA JWK");
    is(ks.keys[0].algs, PT_JWT_ALGS_RSA, "RSA verifies RS* and PS*");
    ok(verifies(&ks.keys[0], PT_JWT_RS256, SIG_RSA_MSG), "RS256 verifies");
    ok(!verifies(&ks.keys[0], PT_JWT_PS256, SIG_RSA_MSG), "the same bytes are no PS256");
    pt_jwt_keys_clear(&ks);

    is(load(&ks, JWK_ED, false), 1, "an Ed25519 JWK");
    ok(verifies(&ks.keys[0], PT_JWT_EDDSA, SIG_ED_MSG), "EdDSA verifies");
    pt_jwt_keys_clear(&ks);

    /* A JWK's alg narrows it to one algorithm, and must fit its type. */
    snprintf(buf, sizeof(buf), "%.*s,\"alg\":\"PS256\"}", (int) strlen(JWK_RSA) - 1, JWK_RSA);
    is(load(&ks, buf, false), 1, "RSA with alg PS256");
    is(ks.keys[0].algs, PT_JWT_ALG_BIT(PT_JWT_PS256), "only PS256");
    pt_jwt_keys_clear(&ks);
    snprintf(buf, sizeof(buf), "%.*s,\"alg\":\"HS256\"}", (int) strlen(JWK_RSA) - 1, JWK_RSA);
    is(load(&ks, buf, false), 0, "RSA with alg HS256: skipped");
    ok(strstr(last_skip, "does not fit") != NULL, "because of its alg (%s)", last_skip);
    snprintf(buf, sizeof(buf), "%.*s,\"alg\":\"ES384\"}", (int) strlen(JWK_EC) - 1, JWK_EC);
    is(load(&ks, buf, false), 0, "P-256 with alg ES384: skipped");

    /* use and key_ops. */
    snprintf(buf, sizeof(buf), "%.*s,\"use\":\"enc\"}", (int) strlen(JWK_EC) - 1, JWK_EC);
    is(load(&ks, buf, false), 0, "use enc: skipped");
    snprintf(buf, sizeof(buf), "%.*s,\"key_ops\":[\"sign\"]}", (int) strlen(JWK_EC) - 1, JWK_EC);
    is(load(&ks, buf, false), 0, "key_ops without verify: skipped");
    snprintf(buf, sizeof(buf), "%.*s,\"key_ops\":[\"verify\"],\"use\":\"sig\"}",
             (int) strlen(JWK_EC) - 1, JWK_EC);
    is(load(&ks, buf, false), 1, "use sig and key_ops verify: kept");
    pt_jwt_keys_clear(&ks);

    /* Keys that are no keys. */
    is(load(&ks, JWK_RSA_SMALL, false), 0, "RSA 1024: skipped");
    ok(strstr(last_skip, "2048") != NULL, "for its size (%s)", last_skip);
    is(load(&ks, JWK_EC_OFFCURVE, false), 0, "a point not on the curve: skipped");
    is(load(&ks, JWK_EC_SHORT, false), 0, "a short coordinate: skipped");
    is(load(&ks, "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}", false), 0, "a 5-byte secret: skipped");
    is(load(&ks, "{\"kty\":\"oct\",\"k\":\"AAAA=\"}", false), 0, "padded base64: skipped");
    is(load(&ks, "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"kid\":5}", false), 0,
       "a number for kid: skipped");
    is(load(&ks, "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}", false), 0,
       "an X25519 key (not for signatures): skipped");
    is(load(&ks, "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}", false), 0,
       "an unsupported curve: skipped");
    is(load(&ks, "{\"keys\":[]}", true), 0, "an empty set");
    is(load(&ks, "{\"keys\":{}}", true), -1, "keys not an array: not a JWK Set");
    is(load(&ks, "[]", true), -1, "an array: not a JWK Set");
    is(load(&ks, "{\"keys\":[],\"keys\":[]}", true), -1, "a repeated member: not a JWK Set");

    /* kid lookup: the keys with the kid first, then those without one. */
    ok(strstr(JWK_EC, "\"kid\":\"ec1\"") != NULL, "the fixture has kid ec1");
    char nokid[2048];
    snprintf(nokid, sizeof(nokid), "{\"kty\":\"EC\",\"crv\":\"P-256\",%s", strstr(JWK_EC, "\"x\""));
    char *k = strstr(nokid, ",\"kid\"");
    if (k)
        strcpy(k, "}");
    snprintf(buf, sizeof(buf), "{\"keys\":[%s,%s]}", JWK_EC, nokid);
    is(load(&ks, buf, true), 2, "one key with kid ec1, one without");
    const pt_jwt_key_t *found[4];
    bool known = false;
    is(pt_jwt_keys_find(&ks, PT_JWT_ES256, PT_STR("ec1"), found, 4, &known), 2, "ec1: both");
    ok(known && found[0]->kid && strcmp(found[0]->kid, "ec1") == 0, "the kid's key first");
    is(pt_jwt_keys_find(&ks, PT_JWT_ES256, PT_STR("zz"), found, 4, &known), 1,
       "another kid: the key without one");
    ok(!known, "and the kid is unknown");
    is(pt_jwt_keys_find(&ks, PT_JWT_ES256, PT_STR_NULL, found, 4, &known), 2, "no kid: both");
    is(pt_jwt_keys_find(&ks, PT_JWT_RS256, PT_STR("ec1"), found, 4, &known), 0,
       "RS256 with an EC kid: none");
    pt_jwt_keys_clear(&ks);
    return done_testing();
}
