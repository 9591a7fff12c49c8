/*
 * test_http_cookie.c: one cookie out of a Cookie field
 * (worker/http/http_cookie.h), as a table.
 */
#include "common/pt.h"

#include "worker/http/http_cookie.h"
#include "test/unit/tap.h"

static const struct {
    const char *field, *name, *want;    /* want NULL: not found */
} cases[] = {
    { "session=abc123", "session", "abc123" },
    { "theme=dark; session=abc123", "session", "abc123" },
    { "theme=dark;session=abc123;x=1", "session", "abc123" },
    { "  session = abc123  ; x=1", "session", "abc123" },
    { "Session=upper; session=lower", "session", "lower" },   /* names are case-sensitive */
    { "session=first; session=second", "session", "first" },
    { "session=\"quoted value\"", "session", "\"quoted value\"" },
    { "session=", "session", "" },
    { "sessionx=1; xsession=2", "session", NULL },
    { "session; other=1", "session", NULL },                   /* no "=": skipped */
    { "a=b=c", "a", "b=c" },
    { "", "session", NULL },
    { ";;; ;", "session", NULL },
};

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pt_str_t f = { cases[i].field, strlen(cases[i].field) };
        pt_str_t n = { cases[i].name, strlen(cases[i].name) };
        pt_str_t v = pt_http_cookie(f, n);
        if (cases[i].want == NULL) {
            ok(v.p == NULL, "%s in \"%s\": none", cases[i].name, cases[i].field);
        } else {
            char got[64];
            snprintf(got, sizeof(got), "%.*s", (int) v.len, v.p ? v.p : "");
            ok(v.p != NULL, "%s in \"%s\": found", cases[i].name, cases[i].field);
            is_str(got, cases[i].want, "  its value");
        }
    }
    return done_testing();
}
