/*
 * fuzz_introspect.c: libFuzzer target for the parser of an OAuth2
 * introspection endpoint's answer (RFC 7662 §2.2, introspect_parse.c),
 * the body a configured, but remote, endpoint sends back.
 *
 * Invariants, any breach aborts: a refused answer leaves the result
 * alone and says why; an accepted one has each string claim either
 * absent or a NUL-terminated copy of its stated length, exp within
 * [0, PT_INTROSPECT_EXP_MAX], and parsing the same bytes again, with a
 * clock far past any nbf, gives the same claims.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "worker/mod/auth/introspect/introspect_parse.h"

static void check_str(pt_str_t s)
{
    if (s.p == NULL) {
        if (s.len != 0)
            abort();
        return;
    }
    /* jansson refuses \u0000 without JSON_ALLOW_NUL: no NUL inside. */
    if (s.p[s.len] != '\0' || strlen(s.p) != s.len)
        abort();
}

static bool same_str(pt_str_t a, pt_str_t b)
{
    return (a.p == NULL) == (b.p == NULL) && a.len == b.len
           && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pt_arena_t *a;
    pt_introspect_result_t res = { .active = true, .exp = -1 }, again;

    if (size > 65536)
        return 0;
    if (a == NULL && (a = pt_arena_create(4096, 0)) == NULL)
        abort();
    /* A heap copy of exactly size bytes, so reads past the end are caught. */
    char *doc = malloc(size ? size : 1);
    memcpy(doc, data, size);
    const char *why = pt_introspect_answer_parse(doc, size, 1800000000000ull, a, &res);
    if (why != NULL) {
        if (!res.active || res.exp != -1 || res.sub.p || res.client_id.p || res.scope.p)
            abort();
    } else {
        check_str(res.sub);
        check_str(res.client_id);
        check_str(res.scope);
        if (res.exp < 0 || res.exp > PT_INTROSPECT_EXP_MAX)
            abort();
        if (pt_introspect_answer_parse(doc, size, UINT64_MAX, a, &again) != NULL)
            abort();
        if ((res.active && !again.active) || res.exp != again.exp
            || !same_str(res.sub, again.sub) || !same_str(res.client_id, again.client_id)
            || !same_str(res.scope, again.scope))
            abort();
    }
    free(doc);
    pt_arena_reset(a);
    return 0;
}
