/*
 * jwt_keys.h: key sets: keys from PEM files and secrets (config), and
 * from JWK Sets (RFC 7517), found by kid and alg.
 */
#ifndef PT_JWT_KEYS_H
#define PT_JWT_KEYS_H

#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_verify.h"

/* Keys one set may hold; a JWKS with more is cut there (logged). */
#define PT_JWT_KEYS_MAX     64

typedef struct {
    pt_jwt_key_t keys[PT_JWT_KEYS_MAX];
    size_t n;
} pt_jwt_keyset_t;

/* Add the public key in PEM file path to ks with kid (NULL: none) and
 * algs (0: all its family allows; else intersected with the family, and
 * none left is an error). PT_ERROR with why in err. */
int pt_jwt_keys_add_pem(pt_jwt_keyset_t *ks, const char *path, const char *kid, uint32_t algs,
                        char *err, size_t errlen);

/* Add an HMAC secret (copied). */
int pt_jwt_keys_add_secret(pt_jwt_keyset_t *ks, const unsigned char *secret, size_t len,
                           const char *kid, uint32_t algs, char *err, size_t errlen);

/* Add the usable keys of a JWK Set document (JSON text). Keys it cannot
 * use (unknown kty or curve, "use" other than "sig", "key_ops" without
 * "verify", an unknown "alg", RSA under 2048 bits) are skipped, each with
 * a line in err's log through the callback. Returns the number of keys
 * added, or -1 when the document is not a JWK Set (err says why). */
typedef void (*pt_jwt_keys_skip_pt)(const char *why, const char *kid, void *data);
int pt_jwt_keys_add_jwks(pt_jwt_keyset_t *ks, const char *doc, size_t len, uint32_t algs,
                         pt_jwt_keys_skip_pt skip, void *data, char *err, size_t errlen);

/* Free every key of ks (ks itself is the caller's). */
void pt_jwt_keys_clear(pt_jwt_keyset_t *ks);

/* The keys that may verify a token with alg and kid (kid.p NULL: the
 * token has none), into out (up to max), best first: keys with that kid,
 * then keys without one. Returns how many; *kid_known says whether any
 * key of the set carries that kid (or the token has none). */
size_t pt_jwt_keys_find(const pt_jwt_keyset_t *ks, int alg, pt_str_t kid,
                        const pt_jwt_key_t **out, size_t max, bool *kid_known);

/* An algorithm list as in config ("RS256", "ES256", ...) to a bit set;
 * 0 with the bad name in *bad. */
uint32_t pt_jwt_algs_parse(const char *const *names, const char **bad);

#endif
