/*
 * test_version_parse.c: API versions out of Accept parameters, paths and
 * queries (worker/mod/access/version/version_parse.h), as tables.
 */
#include "common/pt.h"

#include "worker/mod/access/version/version_parse.h"
#include "test/unit/tap.h"

static const struct {
    const char *accept, *want;          /* want NULL: none */
} accepts[] = {
    { "application/vnd.api+json; version=2", "2" },
    { "application/vnd.api+json;version=2", "2" },
    { "application/json ; Version = 2", NULL },             /* no blanks around "=" */
    { "application/json; VERSION=2.1", "2.1" },              /* names are case-insensitive */
    { "application/json; version=\"3\"", "3" },
    { "application/json; version=\"3\\.1\"", "3.1" },        /* quoted-pair */
    { "application/json; version=\"3", NULL },               /* unterminated */
    { "text/html, application/json;q=0.9;version=4", "4" },
    { "application/json;version=5;q=0, */*;version=6", "6" }, /* q=0 refuses a range */
    { "application/json;version=5;q=0.000", NULL },
    { "application/json;version=5;q=0.001", "5" },
    { "application/json;charset=utf-8;version=7", "7" },
    { "application/json;version=a b", NULL },
    { "application/json;version=", NULL },
    { "application/json;version=two words", NULL },
    { "application/json;versions=1", NULL },
    { "application/json", NULL },
    { "", NULL },
    { ";;;,,,=;=", NULL },
    { "a/b;version=1;version=2", "1" },
    { "a/b;version=\"2\\.1\";v=\"x\\y\";q=\"1\\0\"", "2.1" },   /* later escapes keep it */
};

static const struct {
    const char *path, *want;
} paths[] = {
    { "/v2/users", "2" }, { "/V2/users", "2" }, { "/v2", "2" }, { "/v2.1/x", "2.1" },
    { "/v/x", NULL }, { "/version/x", NULL }, { "/videos", NULL }, { "/v2beta/x", "2beta" }, { "/x/v2", NULL }, { "/", NULL },
    { "", NULL }, { "/v2%20/x", NULL },
};

static const struct {
    const char *query, *want;
} queries[] = {
    { "version=2", "2" }, { "a=1&version=2&b=3", "2" }, { "xversion=1&version=3", "3" },
    { "version=", NULL }, { "version", NULL }, { "", NULL }, { "version=%32", NULL },
    { "&&version=4&", "4" },
};

static void check(const char *what, const char *in, pt_str_t v, const char *want)
{
    char got[64];

    if (want == NULL) {
        ok(v.p == NULL, "%s \"%s\": none", what, in);
        return;
    }
    snprintf(got, sizeof(got), "%.*s", (int) v.len, v.p ? v.p : "(none)");
    is_str(got, want, "%s \"%s\"", what, in);
}

int main(void)
{
    char buf[PT_VERSION_MAX];

    for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++)
        check("Accept", accepts[i].accept,
              pt_version_from_accept((pt_str_t) { accepts[i].accept, strlen(accepts[i].accept) },
                                     PT_STR("version"), buf), accepts[i].want);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        check("path", paths[i].path,
              pt_version_from_path((pt_str_t) { paths[i].path, strlen(paths[i].path) }),
              paths[i].want);
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
        check("query", queries[i].query,
              pt_version_from_query((pt_str_t) { queries[i].query, strlen(queries[i].query) },
                                    PT_STR("version")), queries[i].want);
    ok(pt_version_valid(PT_STR("1.2-beta_3")), "a version");
    ok(!pt_version_valid(PT_STR("")), "empty is not");
    ok(!pt_version_valid(PT_STR("123456789012345678901234567890123")), "33 bytes is not");
    return done_testing();
}
