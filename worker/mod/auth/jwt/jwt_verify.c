/*
 * jwt_verify.c: JWS signature verification with OpenSSL 3 (jwt_verify.h).
 */
#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_verify.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

typedef struct {
    const char *name;
    int kty;
    unsigned hash_bytes;        /* 0: EdDSA hashes internally */
    unsigned coord_bytes;       /* ES*: the size of R and of S */
    const char *curve;          /* ES*: the OpenSSL group name */
    bool pss;
} pt_jwt_alg_t;

static const pt_jwt_alg_t pt_jwt_algs[PT_JWT_ALG_MAX] = {
    [PT_JWT_HS256] = { "HS256", PT_JWT_KTY_OCT, 32, 0, NULL, false },
    [PT_JWT_HS384] = { "HS384", PT_JWT_KTY_OCT, 48, 0, NULL, false },
    [PT_JWT_HS512] = { "HS512", PT_JWT_KTY_OCT, 64, 0, NULL, false },
    [PT_JWT_RS256] = { "RS256", PT_JWT_KTY_RSA, 32, 0, NULL, false },
    [PT_JWT_RS384] = { "RS384", PT_JWT_KTY_RSA, 48, 0, NULL, false },
    [PT_JWT_RS512] = { "RS512", PT_JWT_KTY_RSA, 64, 0, NULL, false },
    [PT_JWT_PS256] = { "PS256", PT_JWT_KTY_RSA, 32, 0, NULL, true },
    [PT_JWT_PS384] = { "PS384", PT_JWT_KTY_RSA, 48, 0, NULL, true },
    [PT_JWT_PS512] = { "PS512", PT_JWT_KTY_RSA, 64, 0, NULL, true },
    [PT_JWT_ES256] = { "ES256", PT_JWT_KTY_EC, 32, 32, "prime256v1", false },
    [PT_JWT_ES384] = { "ES384", PT_JWT_KTY_EC, 48, 48, "secp384r1", false },
    [PT_JWT_ES512] = { "ES512", PT_JWT_KTY_EC, 64, 66, "secp521r1", false },
    [PT_JWT_EDDSA] = { "EdDSA", PT_JWT_KTY_OKP, 0, 0, NULL, false },
};

int pt_jwt_alg_find(const char *name, size_t len)
{
    for (int a = 0; a < PT_JWT_ALG_MAX; a++)
        if (strlen(pt_jwt_algs[a].name) == len && memcmp(pt_jwt_algs[a].name, name, len) == 0)
            return a;
    return -1;
}

const char *pt_jwt_alg_name(int alg)
{
    return alg >= 0 && alg < PT_JWT_ALG_MAX ? pt_jwt_algs[alg].name : "?";
}

static const EVP_MD *pt_jwt_md(unsigned hash_bytes)
{
    return hash_bytes == 32 ? EVP_sha256() : hash_bytes == 48 ? EVP_sha384()
         : hash_bytes == 64 ? EVP_sha512() : NULL;
}

/* The curve group name of an EC key, into buf. */
static bool pt_jwt_ec_curve(EVP_PKEY *pkey, char *buf, size_t len)
{
    size_t n = 0;

    return EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, buf, len, &n) == 1;
}

uint32_t pt_jwt_key_family(const pt_jwt_key_t *k)
{
    uint32_t algs = 0;
    char curve[64];

    switch (k->kty) {
    case PT_JWT_KTY_OCT:
        for (int a = PT_JWT_HS256; a <= PT_JWT_HS512; a++)
            if (k->secret_len >= pt_jwt_algs[a].hash_bytes)
                algs |= PT_JWT_ALG_BIT(a);
        return algs;
    case PT_JWT_KTY_RSA:
        return PT_JWT_ALGS_RSA;
    case PT_JWT_KTY_EC:
        if (!pt_jwt_ec_curve(k->pkey, curve, sizeof(curve)))
            return 0;
        for (int a = PT_JWT_ES256; a <= PT_JWT_ES512; a++)
            if (strcmp(curve, pt_jwt_algs[a].curve) == 0)
                algs |= PT_JWT_ALG_BIT(a);
        return algs;
    case PT_JWT_KTY_OKP:
        return PT_JWT_ALG_BIT(PT_JWT_EDDSA);
    }
    return 0;
}

int pt_jwt_key_from_pkey(pt_jwt_key_t *k, EVP_PKEY *pkey, const char **why)
{
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey) < PT_JWT_RSA_MIN_BITS) {
            *why = "an RSA key must have at least 2048 bits";
            return PT_ERROR;
        }
        k->kty = PT_JWT_KTY_RSA;
        break;
    case EVP_PKEY_EC:
        k->kty = PT_JWT_KTY_EC;
        break;
    case EVP_PKEY_ED25519:
        k->kty = PT_JWT_KTY_OKP;
        break;
    default:
        *why = "the key is not RSA, EC (P-256, P-384, P-521) or Ed25519";
        return PT_ERROR;
    }
    k->pkey = pkey;
    k->algs = pt_jwt_key_family(k);
    if (k->algs == 0) {
        k->pkey = NULL;
        *why = "the EC key's curve is not P-256, P-384 or P-521";
        return PT_ERROR;
    }
    return PT_OK;
}

void pt_jwt_key_clear(pt_jwt_key_t *k)
{
    EVP_PKEY_free(k->pkey);
    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    free(k->kid);
    memset(k, 0, sizeof(*k));
}

static bool pt_jwt_verify_hmac(const pt_jwt_key_t *k, const pt_jwt_alg_t *a,
                               const unsigned char *msg, size_t mlen,
                               const unsigned char *sig, size_t slen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;

    if (slen != a->hash_bytes)
        return false;
    if (HMAC(pt_jwt_md(a->hash_bytes), k->secret, (int) k->secret_len, msg, mlen, mac,
             &maclen) == NULL || maclen != slen)
        return false;
    return CRYPTO_memcmp(mac, sig, slen) == 0;
}

/* JWS ECDSA signatures are R || S, each exactly coord bytes (RFC 7518
 * §3.4); OpenSSL verifies DER, so rebuild one. */
static unsigned char *pt_jwt_ecdsa_der(const pt_jwt_alg_t *a, const unsigned char *sig,
                                       size_t slen, int *derlen)
{
    if (slen != 2 * (size_t) a->coord_bytes)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int) a->coord_bytes, NULL);
    BIGNUM *s = BN_bin2bn(sig + a->coord_bytes, (int) a->coord_bytes, NULL);
    unsigned char *der = NULL;

    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }
    *derlen = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    return *derlen > 0 ? der : NULL;
}

bool pt_jwt_verify(const pt_jwt_key_t *k, int alg, const unsigned char *msg, size_t mlen,
                   const unsigned char *sig, size_t slen)
{
    if (alg < 0 || alg >= PT_JWT_ALG_MAX || !(k->algs & PT_JWT_ALG_BIT(alg)))
        return false;
    const pt_jwt_alg_t *a = &pt_jwt_algs[alg];
    if (a->kty != k->kty)
        return false;
    if (a->kty == PT_JWT_KTY_OCT)
        return pt_jwt_verify_hmac(k, a, msg, mlen, sig, slen);
    if (k->pkey == NULL)
        return false;

    unsigned char *der = NULL;
    int derlen = 0;
    if (a->kty == PT_JWT_KTY_EC) {
        if ((der = pt_jwt_ecdsa_der(a, sig, slen, &derlen)) == NULL)
            return false;
        sig = der;
        slen = (size_t) derlen;
    } else if (a->kty == PT_JWT_KTY_RSA && slen != (size_t) EVP_PKEY_get_size(k->pkey)) {
        return false;
    } else if (a->kty == PT_JWT_KTY_OKP && slen != 64) {
        return false;
    }

    bool ok = false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (ctx == NULL)
        goto done;
    if (EVP_DigestVerifyInit(ctx, &pctx, a->hash_bytes ? pt_jwt_md(a->hash_bytes) : NULL,
                             NULL, k->pkey) != 1)
        goto done;
    if (a->kty == PT_JWT_KTY_RSA) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, a->pss ? RSA_PKCS1_PSS_PADDING
                                                       : RSA_PKCS1_PADDING) != 1)
            goto done;
        /* RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash. */
        if (a->pss && (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int) a->hash_bytes) != 1
                       || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, pt_jwt_md(a->hash_bytes)) != 1))
            goto done;
    }
    ok = EVP_DigestVerify(ctx, sig, slen, msg, mlen) == 1;
done:
    if (!ok)
        ERR_clear_error();      /* a bad signature is no error for the TLS code after us */
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}
