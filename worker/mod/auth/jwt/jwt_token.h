/*
 * jwt_token.h: a compact JWS (RFC 7515 §7.1) taken apart strictly, its
 * JOSE header checked (RFC 7515 §4, RFC 7519 §5) and its claims checked
 * against a route's rules (RFC 7519 §4.1) at a given time.
 */
#ifndef PT_JWT_TOKEN_H
#define PT_JWT_TOKEN_H

#include "common/pt.h"

#include <jansson.h>

typedef struct {
    json_t *header;             /* owned: pt_jwt_token_free */
    json_t *payload;            /* owned */
    int alg;                    /* enum pt_jwt_alg */
    pt_str_t kid;               /* into header; .p NULL: no kid */
    pt_str_t signing_input;     /* into the token: header "." payload */
    unsigned char *sig;         /* into the caller's buffer */
    size_t sig_len;
} pt_jwt_token_t;

/* Whether s has the shape of a compact JWS: three non-empty-header
 * segments of the base64url alphabet and two dots (for routing a token
 * between JWT and introspection; no decoding). */
bool pt_jwt_token_looks_like(pt_str_t s);

/* Take token (len bytes) apart into t. buf has room for len bytes (the
 * decoded segments go there, t->sig points into it). PT_OK, or PT_ERROR
 * with the reason in *why (a static sentence, never token bytes). */
int pt_jwt_token_parse(pt_jwt_token_t *t, const char *token, size_t len, unsigned char *buf,
                       const char **why);

void pt_jwt_token_free(pt_jwt_token_t *t);

/* A required claim: present and, when value is set, equal to it (a
 * string claim; or an array claim that holds it). */
typedef struct {
    const char *name;
    const char *value;          /* NULL: only present */
} pt_jwt_required_t;

typedef struct {
    int64_t leeway;             /* seconds */
    const char *const *issuers;     /* NULL: any; else iss must be one of them */
    const char *const *audiences;   /* NULL: a token with aud is refused (RFC 7519 §4.1.3) */
    const pt_jwt_required_t *required;
    size_t nrequired;
} pt_jwt_rules_t;

/* Check the registered claims of payload (exp, nbf, iat numbers; iss,
 * sub, jti strings; aud a string or an array of strings) and the rules,
 * at now (seconds since the epoch). PT_OK or PT_ERROR with *why. */
int pt_jwt_claims_check(const json_t *payload, const pt_jwt_rules_t *rules, int64_t now,
                        const char **why);

#endif
