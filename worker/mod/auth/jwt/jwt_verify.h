/*
 * jwt_verify.h: the JWS algorithms of RFC 7518 §3 and RFC 8037 §3.1, the
 * keys that verify them, and signature verification with OpenSSL.
 *
 * A key's type fixes the family of algorithms it may verify (an "oct"
 * secret only HS*, an RSA key only RS* and PS*, an EC key only the ES*
 * of its curve, an Ed25519 key only EdDSA), so one key can never serve
 * two families: there is no HS/RS confusion and no "none".
 */
#ifndef PT_JWT_VERIFY_H
#define PT_JWT_VERIFY_H

#include "common/pt.h"

#include <openssl/evp.h>

enum pt_jwt_alg {
    PT_JWT_HS256 = 0, PT_JWT_HS384, PT_JWT_HS512,
    PT_JWT_RS256, PT_JWT_RS384, PT_JWT_RS512,
    PT_JWT_PS256, PT_JWT_PS384, PT_JWT_PS512,
    PT_JWT_ES256, PT_JWT_ES384, PT_JWT_ES512,
    PT_JWT_EDDSA,
    PT_JWT_ALG_MAX
};

#define PT_JWT_ALG_BIT(a)   (UINT32_C(1) << (a))
#define PT_JWT_ALGS_HMAC    (PT_JWT_ALG_BIT(PT_JWT_HS256) | PT_JWT_ALG_BIT(PT_JWT_HS384) \
                             | PT_JWT_ALG_BIT(PT_JWT_HS512))
#define PT_JWT_ALGS_RSA     (PT_JWT_ALG_BIT(PT_JWT_RS256) | PT_JWT_ALG_BIT(PT_JWT_RS384) \
                             | PT_JWT_ALG_BIT(PT_JWT_RS512) | PT_JWT_ALG_BIT(PT_JWT_PS256) \
                             | PT_JWT_ALG_BIT(PT_JWT_PS384) | PT_JWT_ALG_BIT(PT_JWT_PS512))

enum pt_jwt_kty { PT_JWT_KTY_OCT = 1, PT_JWT_KTY_RSA, PT_JWT_KTY_EC, PT_JWT_KTY_OKP };

/* Smallest RSA modulus a key may have (RFC 7518 §3.3 says 2048 bits). */
#define PT_JWT_RSA_MIN_BITS     2048
/* Longest kid kept; a longer one in a token matches no key. */
#define PT_JWT_KID_MAX          256

typedef struct {
    char *kid;                  /* NULL: none (serves tokens whatever their kid) */
    int kty;                    /* enum pt_jwt_kty */
    uint32_t algs;              /* PT_JWT_ALG_BIT set of what it may verify */
    EVP_PKEY *pkey;             /* RSA, EC, OKP */
    unsigned char *secret;      /* oct */
    size_t secret_len;
} pt_jwt_key_t;

/* The algorithm named name (a JOSE "alg" value, case-sensitive), or -1
 * ("none" and every name not in the table). */
int pt_jwt_alg_find(const char *name, size_t len);
const char *pt_jwt_alg_name(int alg);

/* What the family of the key allows: for oct, every HS* whose hash is no
 * longer than the secret (RFC 7518 §3.2); for RSA, RS* and PS*; for EC,
 * the ES* of its curve; for Ed25519, EdDSA. 0 when nothing fits. */
uint32_t pt_jwt_key_family(const pt_jwt_key_t *k);

/* Classify pkey (a public key from PEM or a JWK) into k (kty, pkey,
 * algs = its family); why says what is wrong when PT_ERROR (an RSA key
 * under 2048 bits, an unsupported curve or type). k takes the reference
 * on success. */
int pt_jwt_key_from_pkey(pt_jwt_key_t *k, EVP_PKEY *pkey, const char **why);

/* Free what k holds (not k itself). */
void pt_jwt_key_clear(pt_jwt_key_t *k);

/* Whether sig over msg verifies under key k with alg; alg must be in
 * k->algs (checked again here). */
bool pt_jwt_verify(const pt_jwt_key_t *k, int alg, const unsigned char *msg, size_t mlen,
                   const unsigned char *sig, size_t slen);

#endif
