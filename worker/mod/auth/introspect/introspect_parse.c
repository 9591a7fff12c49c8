/*
 * introspect_parse.c: the introspection answer's JSON into a result
 * (introspect_parse.h).
 */
#include "common/pt.h"
#include "common/arena.h"
#include "worker/mod/auth/introspect/introspect_parse.h"

#include <jansson.h>

static pt_str_t pt_introspect_json_str(pt_arena_t *a, const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);

    if (!json_is_string(v))
        return PT_STR_NULL;
    char *p = pt_arena_strndup(a, json_string_value(v), json_string_length(v));
    return p ? (pt_str_t) { p, json_string_length(v) } : PT_STR_NULL;
}

/* exp as whole seconds: the endpoint's number may be any double (or an
 * integer past 2^53), whose conversion to int64_t is undefined out of
 * range; below 1 is "none" (0), as every reader of exp takes <= 0. */
static int64_t pt_introspect_exp(const json_t *exp)
{
    if (!json_is_number(exp))
        return 0;
    double v = json_number_value(exp);
    if (!(v >= 1.0))
        return 0;
    if (v >= (double) PT_INTROSPECT_EXP_MAX)
        return PT_INTROSPECT_EXP_MAX;
    return (int64_t) v;
}

/* RFC 7662 §2.2: a JSON object whose "active" is a boolean. */
const char *pt_introspect_answer_parse(const char *body, size_t len, uint64_t now_ms,
                                       pt_arena_t *a, pt_introspect_result_t *res)
{
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return "the introspection answer is not a JSON object";
    }
    const json_t *active = json_object_get(o, "active");
    const json_t *nbf = json_object_get(o, "nbf");
    if (!json_is_boolean(active)) {
        json_decref(o);
        return "the introspection answer has no boolean \"active\"";
    }
    *res = (pt_introspect_result_t) {
        .active = json_is_true(active),
        .sub = pt_introspect_json_str(a, o, "sub"),
        .client_id = pt_introspect_json_str(a, o, "client_id"),
        .scope = pt_introspect_json_str(a, o, "scope"),
        .exp = pt_introspect_exp(json_object_get(o, "exp")),
    };
    /* RFC 7662 §2.2: not to be used before nbf; answered (and cached) as
     * inactive meanwhile. */
    if (res->active && json_is_number(nbf) && json_number_value(nbf) * 1000.0 > (double) now_ms)
        res->active = false;
    json_decref(o);
    return NULL;
}
