/*
 * jwt_token.c: strict compact JWS parsing and claim checks (jwt_token.h).
 */
#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_b64.h"
#include "worker/mod/auth/jwt/jwt_token.h"
#include "worker/mod/auth/jwt/jwt_verify.h"

/* Header parameters registered for JWS and JWE (RFC 7515 §4.1, RFC 7516
 * §4.1, RFC 7518 §4.6 to 4.8): crit may not list them (RFC 7515 §4.1.11). */
static const char *const pt_jwt_registered[] = {
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
    "enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c", NULL
};

static bool pt_jwt_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '-' || c == '_';
}

bool pt_jwt_token_looks_like(pt_str_t s)
{
    unsigned dots = 0;
    size_t seg = 0;

    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] == '.') {
            if (dots == 0 && seg == 0)
                return false;
            dots++;
            seg = 0;
        } else if (!pt_jwt_b64_char((unsigned char) s.p[i])) {
            return false;
        } else {
            seg++;
        }
    }
    return dots == 2;
}

/* Decode one segment and load it as a JSON object with no repeated
 * member and nothing after it. */
static json_t *pt_jwt_segment_json(const char *p, size_t n, unsigned char *buf,
                                   const char **why, const char *which)
{
    ssize_t m = pt_jwt_b64_decode(p, n, buf);
    json_error_t jerr;

    if (m < 0) {
        *why = which[0] == 'h' ? "the header is not strict base64url"
                               : "the payload is not strict base64url";
        return NULL;
    }
    json_t *v = json_loadb((const char *) buf, (size_t) m, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL || !json_is_object(v)) {
        json_decref(v);
        *why = which[0] == 'h' ? "the header is not a JSON object (or repeats a member)"
                               : "the payload is not a JSON object (or repeats a member)";
        return NULL;
    }
    return v;
}

static bool pt_jwt_is_registered(const char *name)
{
    for (size_t i = 0; pt_jwt_registered[i]; i++)
        if (strcmp(pt_jwt_registered[i], name) == 0)
            return true;
    return false;
}

/* RFC 7515 §4.1.11: crit, if present, is a non-empty array of names of
 * extensions present in the header, none of them registered; we
 * implement none, so any valid crit still refuses the token. */
static int pt_jwt_check_crit(const json_t *h, const char **why)
{
    const json_t *crit = json_object_get(h, "crit");
    size_t i;
    const json_t *name;

    if (crit == NULL)
        return PT_OK;
    if (!json_is_array(crit) || json_array_size(crit) == 0) {
        *why = "\"crit\" is not a non-empty array";
        return PT_ERROR;
    }
    json_array_foreach(crit, i, name) {
        if (!json_is_string(name)) {
            *why = "\"crit\" lists a non-string";
            return PT_ERROR;
        }
        if (pt_jwt_is_registered(json_string_value(name))) {
            *why = "\"crit\" lists a registered header parameter";
            return PT_ERROR;
        }
        if (json_object_get(h, json_string_value(name)) == NULL) {
            *why = "\"crit\" lists a parameter the header lacks";
            return PT_ERROR;
        }
    }
    *why = "\"crit\" names an extension portico does not implement";
    return PT_ERROR;
}

static int pt_jwt_check_header(pt_jwt_token_t *t, const char **why)
{
    const json_t *h = t->header;
    const json_t *alg = json_object_get(h, "alg");
    const json_t *kid = json_object_get(h, "kid");
    const json_t *v;

    if (!json_is_string(alg)) {
        *why = "the header has no \"alg\" string";
        return PT_ERROR;
    }
    if ((t->alg = pt_jwt_alg_find(json_string_value(alg), json_string_length(alg))) < 0) {
        *why = "the \"alg\" is not one portico verifies (never \"none\")";
        return PT_ERROR;
    }
    if (json_object_get(h, "enc")) {
        *why = "the token is a JWE (\"enc\"), not a JWS";
        return PT_ERROR;
    }
    if (kid) {
        if (!json_is_string(kid)) {
            *why = "\"kid\" is not a string";
            return PT_ERROR;
        }
        t->kid = (pt_str_t) { json_string_value(kid), json_string_length(kid) };
    }
    if (((v = json_object_get(h, "typ")) && !json_is_string(v))
        || ((v = json_object_get(h, "cty")) && !json_is_string(v))) {
        *why = "\"typ\" or \"cty\" is not a string";
        return PT_ERROR;
    }
    /* A nested JWT (RFC 7519 §5.2) would need the inner one verified too. */
    if (v && json_is_string(v) && strcasecmp(json_string_value(v), "JWT") == 0) {
        *why = "nested JWTs (\"cty\": \"JWT\") are not accepted";
        return PT_ERROR;
    }
    /* RFC 7797: an unencoded payload changes the signing input. */
    if ((v = json_object_get(h, "b64")) && !json_is_true(v)) {
        *why = "unencoded payloads (\"b64\") are not accepted";
        return PT_ERROR;
    }
    return pt_jwt_check_crit(h, why);
}

int pt_jwt_token_parse(pt_jwt_token_t *t, const char *token, size_t len, unsigned char *buf,
                       const char **why)
{
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t) (d1 + 1 - token)) : NULL;

    memset(t, 0, sizeof(*t));
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t) (d2 + 1 - token))) {
        *why = "the token is not three segments separated by two dots";
        return PT_ERROR;
    }
    size_t hlen = (size_t) (d1 - token), plen = (size_t) (d2 - d1 - 1);
    size_t slen = len - (size_t) (d2 + 1 - token);
    if (hlen == 0 || slen == 0) {
        *why = "the token has an empty header or signature";
        return PT_ERROR;
    }
    /* Each decoded segment is shorter than its text, so the three fit in
     * len bytes, one after the other. */
    if ((t->header = pt_jwt_segment_json(token, hlen, buf, why, "header")) == NULL)
        return PT_ERROR;
    if (pt_jwt_check_header(t, why) != PT_OK)
        goto fail;
    if ((t->payload = pt_jwt_segment_json(d1 + 1, plen, buf, why, "payload")) == NULL)
        goto fail;
    ssize_t m = pt_jwt_b64_decode(d2 + 1, slen, buf);
    if (m <= 0) {
        *why = "the signature is not strict base64url";
        goto fail;
    }
    t->sig = buf;
    t->sig_len = (size_t) m;
    t->signing_input = (pt_str_t) { token, (size_t) (d2 - token) };
    return PT_OK;
fail:
    pt_jwt_token_free(t);
    return PT_ERROR;
}

void pt_jwt_token_free(pt_jwt_token_t *t)
{
    json_decref(t->header);
    json_decref(t->payload);
    t->header = t->payload = NULL;
}

static bool pt_jwt_in_list(const char *const *list, const char *s, size_t len)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return true;
    return false;
}

/* RFC 7519 §4.1.3: aud is a string or an array of strings, and must
 * name us when present. */
static int pt_jwt_check_aud(const json_t *aud, const pt_jwt_rules_t *rules, const char **why)
{
    bool ours = false;
    size_t i;
    const json_t *v;

    if (aud == NULL) {
        if (rules->audiences == NULL)
            return PT_OK;
        *why = "the token has no \"aud\"";
        return PT_ERROR;
    }
    if (json_is_string(aud)) {
        ours = rules->audiences && pt_jwt_in_list(rules->audiences, json_string_value(aud),
                                                  json_string_length(aud));
    } else if (json_is_array(aud)) {
        json_array_foreach(aud, i, v) {
            if (!json_is_string(v)) {
                *why = "\"aud\" holds a non-string";
                return PT_ERROR;
            }
            ours |= rules->audiences && pt_jwt_in_list(rules->audiences, json_string_value(v),
                                                       json_string_length(v));
        }
    } else {
        *why = "\"aud\" is neither a string nor an array";
        return PT_ERROR;
    }
    if (!ours) {
        *why = rules->audiences ? "the token is for another audience"
                                : "the token has an \"aud\" and the route names none";
        return PT_ERROR;
    }
    return PT_OK;
}

static bool pt_jwt_claim_equals(const json_t *v, const char *want)
{
    size_t i;
    const json_t *e;

    if (json_is_string(v))
        return strlen(want) == json_string_length(v)
            && memcmp(want, json_string_value(v), json_string_length(v)) == 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
            if (json_is_string(e) && pt_jwt_claim_equals(e, want))
                return true;
        return false;
    }
    if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strcmp(buf, want) == 0;
    }
    if (json_is_boolean(v))
        return strcmp(want, json_is_true(v) ? "true" : "false") == 0;
    return false;
}

int pt_jwt_claims_check(const json_t *p, const pt_jwt_rules_t *rules, int64_t now,
                        const char **why)
{
    const json_t *exp = json_object_get(p, "exp");
    const json_t *nbf = json_object_get(p, "nbf");
    const json_t *iat = json_object_get(p, "iat");
    const json_t *iss = json_object_get(p, "iss");
    const json_t *v;
    double t = (double) now, leeway = (double) rules->leeway;

    /* RFC 7519 §2: NumericDate is a JSON number (seconds, maybe fractional). */
    if ((exp && !json_is_number(exp)) || (nbf && !json_is_number(nbf))
        || (iat && !json_is_number(iat))) {
        *why = "\"exp\", \"nbf\" or \"iat\" is not a number";
        return PT_ERROR;
    }
    if (exp && t >= json_number_value(exp) + leeway) {
        *why = "the token has expired";
        return PT_ERROR;
    }
    if (nbf && t + leeway < json_number_value(nbf)) {
        *why = "the token is not valid yet (\"nbf\")";
        return PT_ERROR;
    }
    if (iat && json_number_value(iat) > t + leeway) {
        *why = "the token was issued in the future (\"iat\")";
        return PT_ERROR;
    }
    if ((iss && !json_is_string(iss))
        || ((v = json_object_get(p, "sub")) && !json_is_string(v))
        || ((v = json_object_get(p, "jti")) && !json_is_string(v))) {
        *why = "\"iss\", \"sub\" or \"jti\" is not a string";
        return PT_ERROR;
    }
    if (rules->issuers && (iss == NULL || !pt_jwt_in_list(rules->issuers, json_string_value(iss),
                                                          json_string_length(iss)))) {
        *why = "the token is from another issuer";
        return PT_ERROR;
    }
    if (pt_jwt_check_aud(json_object_get(p, "aud"), rules, why) != PT_OK)
        return PT_ERROR;
    for (size_t i = 0; i < rules->nrequired; i++) {
        const pt_jwt_required_t *rq = &rules->required[i];
        v = json_object_get(p, rq->name);
        if (v == NULL || json_is_null(v)) {
            *why = "a required claim is missing";
            return PT_ERROR;
        }
        if (rq->value && !pt_jwt_claim_equals(v, rq->value)) {
            *why = "a required claim has another value";
            return PT_ERROR;
        }
    }
    return PT_OK;
}
