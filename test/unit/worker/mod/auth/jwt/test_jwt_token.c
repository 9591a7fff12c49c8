/*
 * test_jwt_token.c: the JOSE header and JSON rules of jwt_token.c, and the
 * claim checks against a clock the test sets.
 */
#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_b64.h"
#include "worker/mod/auth/jwt/jwt_token.h"
#include "worker/mod/auth/jwt/jwt_verify.h"
#include "test/unit/tap.h"

/* header.payload.sig from JSON texts, into out. */
static size_t make(char *out, const char *h, const char *p, const char *sig)
{
    size_t n = pt_jwt_b64_encode((const unsigned char *) h, strlen(h), out);
    out[n++] = '.';
    n += pt_jwt_b64_encode((const unsigned char *) p, strlen(p), out + n);
    out[n++] = '.';
    n += pt_jwt_b64_encode((const unsigned char *) sig, strlen(sig), out + n);
    out[n] = '\0';
    return n;
}

static int parse(const char *h, const char *p, const char **why)
{
    char tok[2048];
    unsigned char buf[2048];
    pt_jwt_token_t t;
    size_t n = make(tok, h, p, "sig");
    int rc = pt_jwt_token_parse(&t, tok, n, buf, why);

    if (rc == PT_OK)
        pt_jwt_token_free(&t);
    return rc;
}

static void test_header(void)
{
    const char *why = NULL;
    const char *p = "{\"sub\":\"a\"}";
    char tok[256];
    unsigned char buf[256];
    pt_jwt_token_t t;

    size_t n = make(tok, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, "sig");
    is(pt_jwt_token_parse(&t, tok, n, buf, &why), PT_OK, "a plain RS256 header");
    is(t.alg, PT_JWT_RS256, "alg");
    ok(t.kid.len == 2 && memcmp(t.kid.p, "k1", 2) == 0, "kid");
    is(t.sig_len, 3, "signature decoded");
    ok(t.signing_input.len == (size_t) (strchr(strchr(tok, '.') + 1, '.') - tok),
       "the signing input ends at the second dot");
    pt_jwt_token_free(&t);

    static const struct { const char *h, *p, *why; } bad[] = {
        { "{\"alg\":\"none\"}", NULL, "never" },
        { "{\"alg\":\"HS256\",\"alg\":\"HS256\"}", NULL, "repeats" },
        { "{\"alg\":\"HS256\"}", "{\"a\":1,\"a\":2}", "repeats" },
        { "{\"alg\":\"HS256\"} x", NULL, NULL },
        { "{\"alg\":\"HS256\"}{}", NULL, "repeats" },
        { "[\"HS256\"]", NULL, "not a JSON object" },
        { "{\"alg\":\"HS256\"}", "[]", "not a JSON object" },
        { "{\"alg\":\"HS256\"}", "1", "not a JSON object" },
        { "{\"alg\":\"HS256\",\"kid\":1}", NULL, "\"kid\" is not a string" },
        { "{\"alg\":\"HS256\",\"kid\":\"a\\u0000b\"}", NULL, "not a JSON object" },
        { "{\"alg\":\"HS256\",\"crit\":[]}", NULL, "non-empty" },
        { "{\"alg\":\"HS256\",\"crit\":\"x\"}", NULL, "non-empty" },
        { "{\"alg\":\"HS256\",\"crit\":[1]}", NULL, "non-string" },
        { "{\"alg\":\"HS256\",\"crit\":[\"alg\"]}", NULL, "registered" },
        { "{\"alg\":\"HS256\",\"crit\":[\"ext\"]}", NULL, "lacks" },
        { "{\"alg\":\"HS256\",\"crit\":[\"ext\"],\"ext\":1}", NULL, "does not implement" },
        { "{\"alg\":\"HS256\",\"enc\":\"A128GCM\"}", NULL, "JWE" },
        { "{\"alg\":\"HS256\",\"cty\":\"jwt\"}", NULL, "nested" },
        { "{\"alg\":\"HS256\",\"typ\":1}", NULL, "not a string" },
        { "{\"alg\":\"HS256\",\"b64\":false}", NULL, "unencoded" },
        { "{\"alg\":1}", NULL, "no \"alg\"" },
    };
    for (size_t i = 0; i < pt_countof(bad); i++) {
        why = NULL;
        ok(parse(bad[i].h, bad[i].p ? bad[i].p : p, &why) == PT_ERROR
           && (bad[i].why == NULL || (why && strstr(why, bad[i].why))),
           "refused: %s %s (%s)", bad[i].h, bad[i].p ? bad[i].p : "", why ? why : "-");
    }
    ok(parse("{\"alg\":\"HS256\",\"jku\":\"http://x\",\"jwk\":{},\"x5u\":\"u\",\"x5c\":[]}", p,
             &why) == PT_OK, "jku, jwk, x5u, x5c are ignored");
    ok(parse("{\"alg\":\"HS256\"} ", p, &why) == PT_OK,
       "white space around a JSON text is JSON (RFC 8259 §2)");
    ok(parse("{\"alg\":\"HS256\",\"b64\":true}", p, &why) == PT_OK, "b64 true is the default");

    const char *shapes[] = { "a.b", "a.b.c.d", ".b.c", "a.b.", "a..c" };
    for (size_t i = 0; i < pt_countof(shapes); i++)
        ok(pt_jwt_token_parse(&t, shapes[i], strlen(shapes[i]), buf, &why) == PT_ERROR,
           "refused: shape \"%s\"", shapes[i]);
    ok(pt_jwt_token_looks_like(PT_STR("aa.bb.cc")), "looks like a JWT");
    ok(!pt_jwt_token_looks_like(PT_STR("opaque-token")), "an opaque token does not");
    ok(!pt_jwt_token_looks_like(PT_STR("a.b.c.d")), "nor four segments");
}

static int claims(const char *json, const pt_jwt_rules_t *rules, int64_t now, const char **why)
{
    json_error_t e;
    json_t *p = json_loads(json, JSON_REJECT_DUPLICATES, &e);
    int rc = p ? pt_jwt_claims_check(p, rules, now, why) : -99;

    json_decref(p);
    return rc;
}

static void test_claims(void)
{
    const char *iss[] = { "https://i", NULL };
    const char *aud[] = { "api", "web", NULL };
    pt_jwt_required_t req[] = { { "role", "admin" }, { "tenant", NULL } };
    pt_jwt_rules_t none = { .leeway = 0 };
    pt_jwt_rules_t r = { .leeway = 10, .issuers = iss, .audiences = aud };
    pt_jwt_rules_t rq = { .leeway = 0, .required = req, .nrequired = 2 };
    const char *why = NULL;
    int64_t now = 1000000;

    is(claims("{}", &none, now, &why), PT_OK, "no claims, no rules");
    is(claims("{\"exp\":1000001}", &none, now, &why), PT_OK, "exp one second ahead");
    is(claims("{\"exp\":1000000}", &none, now, &why), PT_ERROR, "exp now: expired");
    is(claims("{\"exp\":999999.5}", &none, now, &why), PT_ERROR, "fractional exp past");
    is(claims("{\"exp\":\"2000000\"}", &none, now, &why), PT_ERROR, "exp a string");
    is(claims("{\"nbf\":true}", &none, now, &why), PT_ERROR, "nbf a boolean");
    is(claims("{\"nbf\":1000000}", &none, now, &why), PT_OK, "nbf now");
    is(claims("{\"nbf\":1000001}", &none, now, &why), PT_ERROR, "nbf a second ahead");
    is(claims("{\"iat\":1000001}", &none, now, &why), PT_ERROR, "iat in the future");
    is(claims("{\"iat\":1}", &none, now, &why), PT_OK, "iat in the past");
    is(claims("{\"aud\":\"api\"}", &none, now, &why), PT_ERROR,
       "an aud with no audience configured (RFC 7519 §4.1.3)");
    is(claims("{\"sub\":1}", &none, now, &why), PT_ERROR, "sub not a string");

    const char *base = "\"iss\":\"https://i\",\"aud\":\"api\"";
    char buf[256];
    snprintf(buf, sizeof(buf), "{%s,\"exp\":999995,\"nbf\":1000005,\"iat\":1000005}", base);
    is(claims(buf, &r, now, &why), PT_OK, "within the leeway");
    snprintf(buf, sizeof(buf), "{%s,\"exp\":999990}", base);
    is(claims(buf, &r, now, &why), PT_ERROR, "at the edge of the leeway: expired");
    is(claims("{\"iss\":\"https://i\",\"aud\":[\"x\",\"web\"]}", &r, now, &why), PT_OK,
       "aud array naming us");
    is(claims("{\"iss\":\"https://i\",\"aud\":[\"x\"]}", &r, now, &why), PT_ERROR,
       "aud array not naming us");
    is(claims("{\"iss\":\"https://i\",\"aud\":[\"api\",1]}", &r, now, &why), PT_ERROR,
       "aud array with a number");
    is(claims("{\"iss\":\"https://i\",\"aud\":{}}", &r, now, &why), PT_ERROR, "aud an object");
    is(claims("{\"iss\":\"https://i\"}", &r, now, &why), PT_ERROR, "no aud");
    is(claims("{\"iss\":\"https://j\",\"aud\":\"api\"}", &r, now, &why), PT_ERROR,
       "another issuer");
    is(claims("{\"aud\":\"api\"}", &r, now, &why), PT_ERROR, "no issuer");
    is(claims("{\"iss\":\"https://iX\",\"aud\":\"api\"}", &r, now, &why), PT_ERROR,
       "issuer is compared whole");

    is(claims("{\"role\":\"admin\",\"tenant\":7}", &rq, now, &why), PT_OK, "required claims");
    is(claims("{\"role\":[\"u\",\"admin\"],\"tenant\":\"t\"}", &rq, now, &why), PT_OK,
       "required value in an array");
    is(claims("{\"role\":\"user\",\"tenant\":\"t\"}", &rq, now, &why), PT_ERROR,
       "required claim with another value");
    is(claims("{\"role\":\"admin\"}", &rq, now, &why), PT_ERROR, "required claim missing");
    is(claims("{\"role\":\"admin\",\"tenant\":null}", &rq, now, &why), PT_ERROR,
       "a null claim is missing");
}

static void test_algs(void)
{
    is(pt_jwt_alg_find("HS256", 5), PT_JWT_HS256, "HS256");
    is(pt_jwt_alg_find("EdDSA", 5), PT_JWT_EDDSA, "EdDSA");
    is(pt_jwt_alg_find("none", 4), -1, "none");
    is(pt_jwt_alg_find("hs256", 5), -1, "names are case-sensitive");
    is(pt_jwt_alg_find("HS2560", 6), -1, "no prefix match");

    pt_jwt_key_t k = { .kty = PT_JWT_KTY_OCT, .secret_len = 48 };
    is(pt_jwt_key_family(&k), PT_JWT_ALG_BIT(PT_JWT_HS256) | PT_JWT_ALG_BIT(PT_JWT_HS384),
       "a 48-byte secret does HS256 and HS384");
    unsigned char secret[32] = { 0 };
    k.secret = secret;
    k.secret_len = 32;
    k.algs = pt_jwt_key_family(&k);
    unsigned char sig[32] = { 0 };
    ok(!pt_jwt_verify(&k, PT_JWT_RS256, (const unsigned char *) "x", 1, sig, 32),
       "an oct key never verifies RS256");
    ok(!pt_jwt_verify(&k, PT_JWT_HS384, (const unsigned char *) "x", 1, sig, 32),
       "nor an algorithm outside its set");
}

int main(void)
{
    test_header();
    test_claims();
    test_algs();
    return done_testing();
}
