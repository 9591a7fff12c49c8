/*
 * jwt_keys.c: key sets from PEM files, secrets and JWK Sets (jwt_keys.h).
 */
#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_b64.h"
#include "worker/mod/auth/jwt/jwt_keys.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

/* Longest JWK member we decode (an RSA modulus of 16384 bits is 2731). */
#define PT_JWT_JWK_FIELD_MAX    4096

static int pt_jwt_keys_push(pt_jwt_keyset_t *ks, pt_jwt_key_t *k, const char *kid,
                            uint32_t algs, char *err, size_t errlen)
{
    if (ks->n == PT_JWT_KEYS_MAX) {
        snprintf(err, errlen, "more than %d keys", PT_JWT_KEYS_MAX);
        return PT_ERROR;
    }
    if (algs) {
        uint32_t fam = k->algs;
        k->algs &= algs;
        if (k->algs == 0) {
            snprintf(err, errlen, "none of the algorithms given fits the key%s",
                     fam && k->kty == PT_JWT_KTY_OCT ? " (is the secret long enough for "
                     "the hash? RFC 7518 §3.2)" : "");
            return PT_ERROR;
        }
    }
    if (kid && (k->kid = strdup(kid)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return PT_ERROR;
    }
    ks->keys[ks->n++] = *k;
    return PT_OK;
}

int pt_jwt_keys_add_pem(pt_jwt_keyset_t *ks, const char *path, const char *kid, uint32_t algs,
                        char *err, size_t errlen)
{
    BIO *bio = BIO_new_file(path, "r");
    const char *why = NULL;

    if (bio == NULL) {
        snprintf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        ERR_clear_error();
        return PT_ERROR;
    }
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (pkey == NULL) {
        snprintf(err, errlen, "\"%s\" holds no PEM public key (\"BEGIN PUBLIC KEY\")", path);
        return PT_ERROR;
    }
    pt_jwt_key_t k = { 0 };
    if (pt_jwt_key_from_pkey(&k, pkey, &why) != PT_OK) {
        EVP_PKEY_free(pkey);
        snprintf(err, errlen, "\"%s\": %s", path, why);
        return PT_ERROR;
    }
    if (pt_jwt_keys_push(ks, &k, kid, algs, err, errlen) != PT_OK) {
        pt_jwt_key_clear(&k);
        return PT_ERROR;
    }
    return PT_OK;
}

int pt_jwt_keys_add_secret(pt_jwt_keyset_t *ks, const unsigned char *secret, size_t len,
                           const char *kid, uint32_t algs, char *err, size_t errlen)
{
    pt_jwt_key_t k = { .kty = PT_JWT_KTY_OCT };

    if (len == 0) {
        snprintf(err, errlen, "the secret is empty");
        return PT_ERROR;
    }
    if ((k.secret = malloc(len)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return PT_ERROR;
    }
    memcpy(k.secret, secret, len);
    k.secret_len = len;
    k.algs = pt_jwt_key_family(&k);
    if (k.algs == 0) {
        pt_jwt_key_clear(&k);
        snprintf(err, errlen, "an HMAC secret must be at least 32 bytes (RFC 7518 §3.2)");
        return PT_ERROR;
    }
    if (pt_jwt_keys_push(ks, &k, kid, algs, err, errlen) != PT_OK) {
        pt_jwt_key_clear(&k);
        return PT_ERROR;
    }
    return PT_OK;
}

/* A base64url member of a JWK, decoded into a malloc'd buffer; NULL if
 * absent, not a string or not strict base64url. */
static unsigned char *pt_jwt_jwk_bytes(const json_t *jwk, const char *name, size_t *len)
{
    const json_t *v = json_object_get(jwk, name);

    if (!json_is_string(v) || json_string_length(v) > PT_JWT_JWK_FIELD_MAX
        || json_string_length(v) == 0)
        return NULL;
    size_t n = json_string_length(v);
    unsigned char *out = malloc(PT_JWT_B64_DECODED_MAX(n));
    if (out == NULL)
        return NULL;
    ssize_t m = pt_jwt_b64_decode(json_string_value(v), n, out);
    if (m <= 0) {
        free(out);
        return NULL;
    }
    *len = (size_t) m;
    return out;
}

static EVP_PKEY *pt_jwt_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;

    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
            pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *pt_jwt_jwk_rsa(const json_t *jwk, const char **why)
{
    size_t nlen = 0, elen = 0;
    unsigned char *n = pt_jwt_jwk_bytes(jwk, "n", &nlen);
    unsigned char *e = pt_jwt_jwk_bytes(jwk, "e", &elen);
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;

    *why = "an RSA JWK needs \"n\" and \"e\" in base64url";
    if (n && e && bld && (bn = BN_bin2bn(n, (int) nlen, NULL)) != NULL
        && (be = BN_bin2bn(e, (int) elen, NULL)) != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        pkey = pt_jwt_pkey_fromdata("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

static EVP_PKEY *pt_jwt_jwk_ec(const json_t *jwk, const char **why)
{
    static const struct { const char *crv, *group; size_t len; } curves[] = {
        { "P-256", "prime256v1", 32 }, { "P-384", "secp384r1", 48 },
        { "P-521", "secp521r1", 66 },
    };
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t i, xlen = 0, ylen = 0;

    *why = "an EC JWK's \"crv\" must be P-256, P-384 or P-521";
    for (i = 0; crv && i < pt_countof(curves); i++)
        if (strcmp(crv, curves[i].crv) == 0)
            break;
    if (crv == NULL || i == pt_countof(curves))
        return NULL;
    unsigned char *x = pt_jwt_jwk_bytes(jwk, "x", &xlen);
    unsigned char *y = pt_jwt_jwk_bytes(jwk, "y", &ylen);
    unsigned char pt[1 + 2 * 66];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;

    /* RFC 7518 §6.2.1.2: x and y are the full coordinate size. */
    *why = "an EC JWK's \"x\" and \"y\" must be base64url of the curve's size";
    if (x && y && bld && xlen == curves[i].len && ylen == curves[i].len) {
        pt[0] = 0x04;
        memcpy(pt + 1, x, xlen);
        memcpy(pt + 1 + xlen, y, ylen);
        if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            curves[i].group, 0) == 1
            && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                                1 + 2 * xlen) == 1)
            pkey = pt_jwt_pkey_fromdata("EC", bld);
        if (pkey == NULL)
            *why = "an EC JWK's point is not on its curve";
    }
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return pkey;
}

static EVP_PKEY *pt_jwt_jwk_okp(const json_t *jwk, const char **why)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t xlen = 0;

    *why = "an OKP JWK must be crv Ed25519 with a 32-byte \"x\"";
    if (crv == NULL || strcmp(crv, "Ed25519") != 0)
        return NULL;
    unsigned char *x = pt_jwt_jwk_bytes(jwk, "x", &xlen);
    EVP_PKEY *pkey = NULL;
    if (x && xlen == 32)
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
    free(x);
    return pkey;
}

/* Whether the JWK may verify signatures: "use" is "sig" when present and
 * "key_ops" holds "verify" when present (RFC 7517 §4.2, §4.3). */
static bool pt_jwt_jwk_for_verify(const json_t *jwk, const char **why)
{
    const json_t *use = json_object_get(jwk, "use");
    const json_t *ops = json_object_get(jwk, "key_ops");

    if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
        *why = "its \"use\" is not \"sig\"";
        return false;
    }
    if (ops) {
        size_t i;
        const json_t *op;
        bool verify = false;
        if (!json_is_array(ops)) {
            *why = "its \"key_ops\" is not an array";
            return false;
        }
        json_array_foreach(ops, i, op)
            if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
                verify = true;
        if (!verify) {
            *why = "its \"key_ops\" lacks \"verify\"";
            return false;
        }
    }
    return true;
}

/* One JWK into k; PT_ERROR with why when it is not usable. */
static int pt_jwt_jwk_load(const json_t *jwk, uint32_t algs, pt_jwt_key_t *k,
                           const char **why)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const json_t *alg = json_object_get(jwk, "alg");
    const json_t *kid = json_object_get(jwk, "kid");
    EVP_PKEY *pkey = NULL;

    if (!json_is_object(jwk)) {
        *why = "not a JSON object";
        return PT_ERROR;
    }
    if (kid && (!json_is_string(kid) || json_string_length(kid) > PT_JWT_KID_MAX
                || strlen(json_string_value(kid)) != json_string_length(kid))) {
        *why = "its \"kid\" is not a string of at most 256 bytes";
        return PT_ERROR;
    }
    if (!pt_jwt_jwk_for_verify(jwk, why))
        return PT_ERROR;
    if (kty == NULL) {
        *why = "it has no \"kty\"";
        return PT_ERROR;
    }
    memset(k, 0, sizeof(*k));
    if (strcmp(kty, "oct") == 0) {
        k->kty = PT_JWT_KTY_OCT;
        if ((k->secret = pt_jwt_jwk_bytes(jwk, "k", &k->secret_len)) == NULL) {
            *why = "an oct JWK needs \"k\" in base64url";
            return PT_ERROR;
        }
        k->algs = pt_jwt_key_family(k);
        if (k->algs == 0) {
            *why = "an oct JWK's \"k\" must be at least 32 bytes";
            goto fail;
        }
    } else {
        if (strcmp(kty, "RSA") == 0)
            pkey = pt_jwt_jwk_rsa(jwk, why);
        else if (strcmp(kty, "EC") == 0)
            pkey = pt_jwt_jwk_ec(jwk, why);
        else if (strcmp(kty, "OKP") == 0)
            pkey = pt_jwt_jwk_okp(jwk, why);
        else
            *why = "its \"kty\" is not oct, RSA, EC or OKP";
        ERR_clear_error();
        if (pkey == NULL)
            return PT_ERROR;
        if (pt_jwt_key_from_pkey(k, pkey, why) != PT_OK) {
            EVP_PKEY_free(pkey);
            return PT_ERROR;
        }
    }
    /* RFC 7517 §4.4: a JWK's alg is the one algorithm it is for. */
    if (alg) {
        int a = json_is_string(alg) ? pt_jwt_alg_find(json_string_value(alg),
                                                      json_string_length(alg)) : -1;
        if (a < 0 || !(k->algs & PT_JWT_ALG_BIT(a))) {
            *why = "its \"alg\" is unknown or does not fit its key type";
            goto fail;
        }
        k->algs = PT_JWT_ALG_BIT(a);
    }
    if (algs && (k->algs &= algs) == 0) {
        *why = "none of the configured algorithms fits it";
        goto fail;
    }
    if (kid && (k->kid = strdup(json_string_value(kid))) == NULL) {
        *why = "out of memory";
        goto fail;
    }
    return PT_OK;
fail:
    pt_jwt_key_clear(k);
    return PT_ERROR;
}

int pt_jwt_keys_add_jwks(pt_jwt_keyset_t *ks, const char *doc, size_t len, uint32_t algs,
                         pt_jwt_keys_skip_pt skip, void *data, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *keys = root ? json_object_get(root, "keys") : NULL;
    int added = 0;

    if (root == NULL) {
        snprintf(err, errlen, "not JSON: %s (line %d)", jerr.text, jerr.line);
        return -1;
    }
    if (!json_is_object(root) || !json_is_array(keys)) {
        snprintf(err, errlen, "not a JWK Set (an object with a \"keys\" array)");
        json_decref(root);
        return -1;
    }
    size_t i;
    const json_t *jwk;
    json_array_foreach(keys, i, jwk) {
        pt_jwt_key_t k;
        const char *why = NULL;
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        if (ks->n == PT_JWT_KEYS_MAX) {
            if (skip)
                skip("the set holds more keys than portico keeps (64)", kid, data);
            break;
        }
        if (pt_jwt_jwk_load(jwk, algs, &k, &why) != PT_OK) {
            if (skip)
                skip(why, kid, data);
            continue;
        }
        ks->keys[ks->n++] = k;
        added++;
    }
    json_decref(root);
    return added;
}

void pt_jwt_keys_clear(pt_jwt_keyset_t *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        pt_jwt_key_clear(&ks->keys[i]);
    ks->n = 0;
}

static bool pt_jwt_kid_eq(const char *a, pt_str_t b)
{
    return strlen(a) == b.len && memcmp(a, b.p, b.len) == 0;
}

size_t pt_jwt_keys_find(const pt_jwt_keyset_t *ks, int alg, pt_str_t kid,
                        const pt_jwt_key_t **out, size_t max, bool *kid_known)
{
    size_t n = 0;
    uint32_t bit = PT_JWT_ALG_BIT(alg);

    *kid_known = kid.p == NULL;
    if (kid.p)
        for (size_t i = 0; i < ks->n; i++)
            if (ks->keys[i].kid && pt_jwt_kid_eq(ks->keys[i].kid, kid)) {
                *kid_known = true;
                if ((ks->keys[i].algs & bit) && n < max)
                    out[n++] = &ks->keys[i];
            }
    for (size_t i = 0; i < ks->n && n < max; i++)
        if ((kid.p == NULL || ks->keys[i].kid == NULL) && (ks->keys[i].algs & bit))
            out[n++] = &ks->keys[i];
    return n;
}

uint32_t pt_jwt_algs_parse(const char *const *names, const char **bad)
{
    uint32_t algs = 0;

    for (size_t i = 0; names && names[i]; i++) {
        int a = pt_jwt_alg_find(names[i], strlen(names[i]));
        if (a < 0) {
            *bad = names[i];
            return 0;
        }
        algs |= PT_JWT_ALG_BIT(a);
    }
    return algs;
}
