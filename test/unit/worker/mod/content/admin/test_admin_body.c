/*
 * test_admin_body.c: an admin action's body on bytes: objects taken,
 * everything else refused with the status and detail mod_admin.c sends,
 * and the drain/enable arguments.
 */
#include "common/pt.h"
#include "worker/mod/content/admin/admin_body.h"
#include "test/unit/tap.h"

static json_t *parse(const char *s, unsigned *status, char *detail)
{
    *status = 0;
    detail[0] = '\0';
    return pt_admin_body_parse(s, s ? strlen(s) : 0, status, detail, 256);
}

int main(void)
{
    char detail[256];
    unsigned status;
    const char *un, *sn;
    json_t *v;

    v = parse("{\"upstream\": \"u\", \"server\": \"10.0.0.1:80\"}", &status, detail);
    ok(json_is_object(v), "an object is taken");
    ok(pt_admin_drain_args(v, &un, &sn) && strcmp(un, "u") == 0
       && strcmp(sn, "10.0.0.1:80") == 0, "its drain arguments");
    json_decref(v);
    v = parse("{\"upstream\": \"u\", \"server\": 80}", &status, detail);
    ok(v && !pt_admin_drain_args(v, &un, &sn) && sn == NULL, "a number is no server");
    json_decref(v);
    v = parse("{\"server\": \"s\"}", &status, detail);
    ok(v && !pt_admin_drain_args(v, &un, &sn) && un == NULL, "no upstream");
    json_decref(v);

    ok(parse("[1]", &status, detail) == NULL, "an array is refused");
    is(status, 400, "with 400");
    is_str(detail, "the body must be a JSON object", "and why");
    ok(parse("{\"a\": 1, \"a\": 2}", &status, detail) == NULL && status == 400,
       "a duplicate key is refused");
    ok(strncmp(detail, "the body is not JSON: ", 22) == 0 && strstr(detail, "(at byte "),
       "with jansson's reason and where: %s", detail);
    ok(parse(NULL, &status, detail) == NULL && status == 400, "no body is refused");
    ok(parse("", &status, detail) == NULL && status == 400, "an empty body is refused");

    size_t big = PT_ADMIN_BODY_MAX + 1;
    char *b = malloc(big);
    memset(b, ' ', big);
    b[0] = '{';
    b[PT_ADMIN_BODY_MAX - 1] = '}';
    v = pt_admin_body_parse(b, PT_ADMIN_BODY_MAX, &status, detail, sizeof(detail));
    ok(json_is_object(v), "a body of PT_ADMIN_BODY_MAX bytes is taken");
    json_decref(v);
    ok(pt_admin_body_parse(b, big, &status, detail, sizeof(detail)) == NULL, "one more byte");
    is(status, 413, "is refused with 413");
    is_str(detail, "admin request bodies are limited to 64 KiB", "and why");
    free(b);

    ok(parse("{\"a\": tru", &status, detail) == NULL, "a cut body is refused");
    char small[8];
    ok(pt_admin_body_parse("[", 1, &status, small, sizeof(small)) == NULL
       && strlen(small) == sizeof(small) - 1, "the detail is cut to its buffer");
    return done_testing();
}
