/*
 * test_introspect_parse.c: the introspection answer parser on bytes: the
 * claims taken, what is refused, nbf, and exp numbers out of int64_t's
 * range (a huge or negative real, an integer near 2^63), which were
 * converted unchecked before.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "worker/mod/auth/introspect/introspect_parse.h"
#include "test/unit/tap.h"

static const char *parse(pt_arena_t *a, const char *s, uint64_t now_ms,
                         pt_introspect_result_t *res)
{
    return pt_introspect_answer_parse(s, strlen(s), now_ms, a, res);
}

static int64_t exp_of(pt_arena_t *a, const char *num)
{
    pt_introspect_result_t res = { .exp = -42 };
    char doc[256];

    snprintf(doc, sizeof(doc), "{\"active\": true, \"exp\": %s}", num);
    if (parse(a, doc, 0, &res) != NULL)
        return -42;
    return res.exp;
}

int main(void)
{
    pt_arena_t *a = pt_arena_create(4096, 0);
    pt_introspect_result_t res, keep = { .exp = 7 };
    uint64_t now = 1800000000000ull;

    is_str(parse(a, "{\"active\": true, \"sub\": \"alice\", \"client_id\": \"app\", "
                 "\"scope\": \"read write\", \"exp\": 1800000100, \"username\": \"al\"}",
                 now, &res), NULL, "an active answer");
    ok(res.active && pt_str_eq_lit(res.sub, "alice") && pt_str_eq_lit(res.client_id, "app")
       && pt_str_eq_lit(res.scope, "read write") && res.exp == 1800000100,
       "its claims");
    is_str(parse(a, "{\"active\": false}", now, &res), NULL, "an inactive answer");
    ok(!res.active && res.sub.p == NULL && res.scope.p == NULL && res.exp == 0,
       "no claims in it");
    is_str(parse(a, "{\"active\": true, \"sub\": 5, \"scope\": [\"a\"]}", now, &res), NULL,
           "claims of the wrong type");
    ok(res.active && res.sub.p == NULL && res.scope.p == NULL, "are not taken");

    res = keep;
    ok(parse(a, "", now, &res) != NULL, "an empty body is refused");
    ok(parse(a, "[true]", now, &res) != NULL, "an array is refused");
    ok(parse(a, "{\"active\": \"true\"}", now, &res) != NULL, "a string active is refused");
    ok(parse(a, "{\"sub\": \"x\"}", now, &res) != NULL, "no active is refused");
    ok(parse(a, "{\"active\": true, \"active\": false}", now, &res) != NULL,
       "a duplicate key is refused");
    ok(parse(a, "{\"active\": true", now, &res) != NULL, "truncated JSON is refused");
    ok(pt_introspect_answer_parse(NULL, 0, now, a, &res) != NULL, "no body is refused");
    is(res.exp, 7, "a refusal leaves the result alone");

    is_str(parse(a, "{\"active\": true, \"nbf\": 1800000001}", now, &res), NULL, "nbf");
    ok(!res.active, "an active answer before its nbf is inactive");
    is_str(parse(a, "{\"active\": true, \"nbf\": 1799999999.5}", now, &res), NULL, "nbf");
    ok(res.active, "after its nbf it stays active");

    is(exp_of(a, "1800000100.9"), 1800000100, "a fractional exp is truncated");
    is(exp_of(a, "0"), 0, "exp 0 is none");
    is(exp_of(a, "0.5"), 0, "exp below 1 is none");
    is(exp_of(a, "-5"), 0, "a negative exp is none");
    is(exp_of(a, "-1e300"), 0, "a huge negative exp is none");
    is(exp_of(a, "1e300"), PT_INTROSPECT_EXP_MAX, "a huge exp is capped");
    is(exp_of(a, "9223372036854775807"), PT_INTROSPECT_EXP_MAX, "exp INT64_MAX is capped");
    is(exp_of(a, "-9223372036854775808"), 0, "exp INT64_MIN is none");
    is(exp_of(a, "18446744073709552"), PT_INTROSPECT_EXP_MAX,
       "an exp whose milliseconds wrap a uint64_t is capped");
    ok((uint64_t) PT_INTROSPECT_EXP_MAX * 1000 / 1000 == (uint64_t) PT_INTROSPECT_EXP_MAX,
       "the cap in milliseconds fits a uint64_t");
    is(exp_of(a, "\"1800000100\""), 0, "a string exp is none");

    pt_arena_destroy(a);
    return done_testing();
}
