/*
 * test_tls_sni.c: server name to certificate lookup (exact names first,
 * then a wildcard covering exactly one label; case and a trailing dot do
 * not matter).
 */
#include "common/pt.h"
#include "common/arena.h"

#include "worker/tls/tls_sni.h"
#include "test/unit/tap.h"

#define B(i)    (UINT64_C(1) << (i))

/* Certificates: 0 default.test, 1 api.test + www.api.test, 2 *.wild.test,
 * 3 and 4 the RSA and ECDSA twins for dual.test, 5 *.api.test. */
static const pt_tls_sni_input_t names[] = {
    { "default.test", 0 },
    { "api.test", 1 }, { "WWW.api.test", 1 },
    { "*.wild.test", 2 },
    { "dual.test", 3 }, { "dual.test", 4 },
    { "*.api.test", 5 },
    { "*", 6 }, { "a.*.test", 6 }, { "", 6 },       /* never match anything */
};

static const struct { const char *host; uint64_t want; } cases[] = {
    { "default.test", B(0) },
    { "api.test", B(1) },
    { "API.TEST", B(1) },
    { "api.test.", B(1) },
    { "www.api.test", B(1) },           /* exact wins over *.api.test */
    { "v2.api.test", B(5) },
    { "a.wild.test", B(2) },
    { "A-1.Wild.Test", B(2) },
    { "a.b.wild.test", 0 },             /* one label only */
    { "wild.test", 0 },
    { ".wild.test", 0 },                /* empty first label */
    { "dual.test", B(3) | B(4) },       /* twins come back together */
    { "other.test", 0 },
    { "test", 0 },
    { "", 0 },
    { "*", 0 },
    { "x.test", 0 },
};

int main(void)
{
    pt_arena_t *a = pt_arena_create(0, 0);
    pt_tls_sni_t *t = pt_tls_sni_build(a, names, pt_countof(names));

    ok(t != NULL, "table built");
    is(t->nexact, 4, "exact names merged (dual.test once)");
    is(t->nwild, 2, "wildcards kept, bad patterns skipped");
    for (size_t i = 0; i < pt_countof(cases); i++)
        is(pt_tls_sni_find(t, cases[i].host, strlen(cases[i].host)), cases[i].want,
           "find \"%s\"", cases[i].host);

    char big[300];
    memset(big, 'a', sizeof(big));
    is(pt_tls_sni_find(t, big, sizeof(big)), 0, "a name over 253 bytes matches nothing");
    is(pt_tls_sni_find(NULL, "api.test", 8), 0, "no table, no match");

    pt_tls_sni_t *empty = pt_tls_sni_build(a, NULL, 0);
    ok(empty != NULL, "an empty table builds");
    is(pt_tls_sni_find(empty, "api.test", 8), 0, "and matches nothing");
    pt_arena_destroy(a);
    return done_testing();
}
