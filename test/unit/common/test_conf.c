/*
 * test_conf.c: the directive-table walker: typed setters, bounds, enums,
 * unknown names, merge and defaults, and that every error names the file
 * and line of the offending setting.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "test/unit/tap.h"

typedef struct {
    int flag;
    int64_t count;
    pt_msec_t timeout;
    int64_t size;
    const char *name;
    int level;
} test_conf_t;

static const pt_conf_bounds_t test_count_bounds = { 1, 100 };
static const pt_conf_enum_t test_levels[] = { { "low", 1 }, { "high", 2 }, { NULL, 0 } };

static const pt_directive_t test_table[] = {
    { "flag", PT_CONF_BOOL, PT_SCOPE_MAIN | PT_SCOPE_ROUTE, offsetof(test_conf_t, flag),
      "false", NULL, NULL, NULL, NULL },
    { "count", PT_CONF_UINT, PT_SCOPE_MAIN, offsetof(test_conf_t, count), "10",
      &test_count_bounds, NULL, NULL, NULL },
    { "timeout", PT_CONF_DURATION, PT_SCOPE_MAIN | PT_SCOPE_ROUTE,
      offsetof(test_conf_t, timeout), "\"30s\"", NULL, NULL, NULL, NULL },
    { "size", PT_CONF_SIZE, PT_SCOPE_MAIN, offsetof(test_conf_t, size), "\"1M\"", NULL, NULL,
      NULL, NULL },
    { "name", PT_CONF_STRING, PT_SCOPE_MAIN, offsetof(test_conf_t, name), NULL, NULL, NULL,
      NULL, NULL },
    { "level", PT_CONF_ENUM, PT_SCOPE_MAIN, offsetof(test_conf_t, level), "\"low\"",
      test_levels, NULL, NULL, NULL },
    PT_DIRECTIVE_END
};

/* Walk text's "main" group into c; returns the errors ("" if none). */
static const char *test_walk(const char *text, test_conf_t *c, unsigned *nerrors)
{
    static pt_arena_t *arena;
    config_t lc;
    pt_conf_ctx_t cf;

    pt_arena_destroy(arena);
    arena = pt_arena_create(4096, 0);
    memset(&cf, 0, sizeof(cf));
    cf.arena = arena;
    cf.file = "test.conf";
    config_init(&lc);
    pt_conf_unset(test_table, PT_SCOPE_MAIN, c);
    if (config_read_string(&lc, text) != CONFIG_TRUE) {
        pt_conf_error_at(&cf, "test.conf", (unsigned) config_error_line(&lc), "%s",
                         config_error_text(&lc));
    } else {
        pt_conf_target_t t = { test_table, c };
        const config_setting_t *g = config_lookup(&lc, "main");
        if (g)
            pt_conf_walk(&cf, g, PT_SCOPE_MAIN, &t, 1, NULL);
        pt_conf_defaults(&cf, test_table, PT_SCOPE_MAIN, c);
    }
    config_destroy(&lc);
    *nerrors = cf.nerrors;
    return cf.errors_len ? cf.errors : "";
}

static void test_values(void)
{
    test_conf_t c;
    unsigned n;
    const char *err = test_walk("main = { flag = true; count = 42; timeout = \"250ms\";\n"
                                "size = \"64k\"; name = \"x\"; level = \"high\"; };", &c, &n);

    is(n, 0, "a valid group has no errors (%s)", err);
    is(c.flag, 1, "bool");
    is(c.count, 42, "uint");
    is(c.timeout, 250, "duration");
    is(c.size, 65536, "size");
    is_str(c.name, "x", "string");
    is(c.level, 2, "enum");
}

static void test_defaults(void)
{
    test_conf_t c;
    unsigned n;

    test_walk("main = { };", &c, &n);
    is(n, 0, "an empty group is valid");
    is(c.flag, 0, "bool default");
    is(c.count, 10, "uint default");
    is(c.timeout, 30000, "duration default");
    is(c.size, 1024 * 1024, "size default");
    ok(c.name == NULL, "no default leaves a string unset");
    is(c.level, 1, "enum default");
}

static void test_errors(void)
{
    static const struct {
        const char *text;
        const char *want;       /* substring of the error, with its line */
    } cases[] = {
        { "main = {\n  bogus = 1;\n};", "test.conf:2: unknown setting \"bogus\"" },
        { "main = {\n\n  count = 0;\n};", "test.conf:3: \"count\" must be between 1 and 100" },
        { "main = {\n  count = \"many\";\n};", "test.conf:2: \"count\" must be an integer" },
        { "main = {\n  timeout = \"10x\";\n};", "test.conf:2: \"timeout\": invalid duration" },
        { "main = {\n  timeout = 10;\n};", "test.conf:2: \"timeout\" must be a duration" },
        { "main = {\n  size = \"12q\";\n};", "test.conf:2: \"size\": invalid size" },
        { "main = {\n  flag = \"yes\";\n};", "test.conf:2: \"flag\" must be true or false" },
        { "main = {\n  level = \"medium\";\n};", "test.conf:2: \"level\" must be one of" },
        { "main = {\n  name = 3;\n};", "test.conf:2: \"name\" must be a string" },
        { "main = {\n  count = = 5;\n};", "test.conf:2: syntax error" },
    };

    for (size_t i = 0; i < pt_countof(cases); i++) {
        test_conf_t c;
        unsigned n;
        const char *err = test_walk(cases[i].text, &c, &n);
        ok(n >= 1 && strstr(err, cases[i].want) != NULL, "error %zu names file and line: %s",
           i, cases[i].want);
        if (strstr(err, cases[i].want) == NULL)
            diag("got: %s", err);
    }

    /* Every bad setting is reported, not only the first. */
    test_conf_t c;
    unsigned n;
    const char *err = test_walk("main = {\n  count = 0;\n  bogus = 1;\n  size = \"x\";\n};",
                                &c, &n);
    is(n, 3, "three errors reported");
    ok(strstr(err, ":2:") && strstr(err, ":3:") && strstr(err, ":4:"), "each with its line");
}

static void test_merge(void)
{
    test_conf_t parent, child;

    pt_conf_unset(test_table, PT_SCOPE_ROUTE, &parent);
    pt_conf_unset(test_table, PT_SCOPE_ROUTE, &child);
    parent.flag = 1;
    parent.timeout = 5000;
    child.timeout = 100;
    pt_conf_merge(test_table, PT_SCOPE_ROUTE, &child, &parent);
    is(child.flag, 1, "an unset field comes from the parent");
    is(child.timeout, 100, "a set field is kept");
}

static void test_dump(void)
{
    test_conf_t c;
    unsigned n;
    char *buf = NULL;
    size_t len = 0;

    test_walk("main = { timeout = \"5m\"; size = \"16M\"; name = \"a\\\"b\"; };", &c, &n);
    FILE *f = open_memstream(&buf, &len);
    pt_conf_dump(f, test_table, PT_SCOPE_MAIN, &c, 0);
    fclose(f);
    ok(strstr(buf, "timeout = \"5m\";") != NULL, "durations print in their shortest form");
    ok(strstr(buf, "size = \"16M\";") != NULL, "sizes print with a unit");
    ok(strstr(buf, "name = \"a\\\"b\";") != NULL, "strings are quoted and escaped");
    ok(strstr(buf, "level = \"low\";") != NULL, "enums print by name");
    free(buf);
}

/* ---- compound types: string lists, zones, compiled strings ---------------- */

typedef struct {
    const char **list;
    const char **nonempty;
    pt_conf_zone_t *zone;
    pt_conf_compiled_t word;
} test_types_t;

static int test_upper(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    for (char *p = item; *p; p++) {
        if (*p == '!') {
            pt_conf_error(cf, s, "no \"!\" in \"%s\"", item);
            return PT_ERROR;
        }
        if (*p >= 'a' && *p <= 'z')
            *p = (char) (*p - 'a' + 'A');
    }
    return PT_OK;
}

/* Compiles a word to its length; anything with a space is refused. */
static const void *test_compile(pt_conf_ctx_t *cf, const config_setting_t *s, const char *text)
{
    size_t *len = pt_arena_alloc(cf->arena, sizeof(*len));

    if (strchr(text, ' ')) {
        pt_conf_error(cf, s, "\"%s\" is not one word", text);
        return NULL;
    }
    if (len)
        *len = strlen(text);
    return len;
}

static const pt_conf_strings_arg_t test_upper_arg = { NULL, test_upper };
static const pt_conf_strings_arg_t test_nonempty_arg = { "\"nonempty\" needs a value", NULL };
static const pt_conf_compiler_t test_compiler = { test_compile };

static const pt_directive_t test_types[] = {
    { "list", PT_CONF_STRINGS, PT_SCOPE_MAIN, offsetof(test_types_t, list), NULL,
      &test_upper_arg, NULL, NULL, NULL },
    { "nonempty", PT_CONF_STRINGS, PT_SCOPE_MAIN, offsetof(test_types_t, nonempty), NULL,
      &test_nonempty_arg, NULL, NULL, NULL },
    { "zone", PT_CONF_ZONE, PT_SCOPE_MAIN, offsetof(test_types_t, zone), NULL, NULL, NULL,
      NULL, NULL },
    { "word", PT_CONF_COMPILED, PT_SCOPE_MAIN, offsetof(test_types_t, word), "\"abc\"",
      &test_compiler, NULL, NULL, NULL },
    PT_DIRECTIVE_END
};

static pt_arena_t *test_types_arena;

static const char *test_walk_types(const char *text, test_types_t *c, unsigned *nerrors)
{
    config_t lc;
    pt_conf_ctx_t cf;

    pt_arena_destroy(test_types_arena);
    test_types_arena = pt_arena_create(4096, 0);
    memset(&cf, 0, sizeof(cf));
    cf.arena = test_types_arena;
    cf.file = "test.conf";
    config_init(&lc);
    pt_conf_unset(test_types, PT_SCOPE_MAIN, c);
    if (config_read_string(&lc, text) == CONFIG_TRUE) {
        pt_conf_target_t t = { test_types, c };
        pt_conf_walk(&cf, config_lookup(&lc, "main"), PT_SCOPE_MAIN, &t, 1, NULL);
        pt_conf_defaults(&cf, test_types, PT_SCOPE_MAIN, c);
    } else {
        cf.nerrors++;
    }
    config_destroy(&lc);
    *nerrors = cf.nerrors;
    return cf.errors_len ? cf.errors : "";
}

static void test_compound(void)
{
    test_types_t c, d;
    unsigned n;
    const char *err;

    err = test_walk_types("main = { list = \"ab\"; };", &c, &n);
    is(n, 0, "a string is a list of one (%s)", err);
    is(pt_conf_strings_count(c.list), 1, "of one");
    is_str(c.list[0], "AB", "each item went through the check, which may rewrite it");
    ok(c.list[1] == NULL, "the list ends with NULL");
    err = test_walk_types("main = { list = ( \"a\", \"b\" ); zone = \"api_limits:16M\"; };",
                          &c, &n);
    is(n, 0, "a list ( ) of strings and a zone (%s)", err);
    is(pt_conf_strings_count(c.list), 2, "two items");
    is_str(c.list[1], "B", "in order");
    is_str(c.zone->name, "api_limits", "zone name");
    is(c.zone->size, 16 << 20, "zone size with units");
    is(c.zone->line, 1, "zone declared at line 1");
    is_str(c.word.text, "abc", "a compiled string's default is compiled too");
    is(*(const size_t *) c.word.code, 3, "by the row's compiler");

    err = test_walk_types("main = {\n list = [ \"a\", \"b!\" ]; };", &c, &n);
    ok(n == 1 && strstr(err, "test.conf:2: no \"!\" in") != NULL,
       "a check's error names the list's line (%s)", err);
    err = test_walk_types("main = {\n\n nonempty = [ ]; };", &c, &n);
    ok(n == 1 && strstr(err, "test.conf:3: \"nonempty\" needs a value") != NULL,
       "an empty list is refused with the row's message (%s)", err);
    err = test_walk_types("main = { list = [ 1 ]; };", &c, &n);
    is(n, 1, "a list of integers is refused (%s)", err);
    err = test_walk_types("main = {\n word = \"two words\"; };", &c, &n);
    ok(n == 1 && strstr(err, "test.conf:2: \"two words\" is not one word") != NULL,
       "a compiler's error names the line (%s)", err);

    static const struct { const char *value, *want; } bad[] = {
        { "\"api\"", "is not name:size" },
        { "\":16M\"", "is not name:size" },
        { "\"api:\"", "is not name:size" },
        { "\"a b:16M\"", "may hold letters, digits" },
        { "\"api:16Q\"", "invalid size \"16Q\"" },
        { "\"api:1k\"", "must be between 16k and 64G" },
        { "16", "must be a zone such as" },
        { "\"0123456789012345678901234567890123456789012345678901234567890123:1M\"",
          "is longer than 63 bytes" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "main = {\n zone = %s; };", bad[i].value);
        err = test_walk_types(text, &c, &n);
        ok(n == 1 && strstr(err, "test.conf:2: ") && strstr(err, bad[i].want),
           "zone %s: %s (%s)", bad[i].value, bad[i].want, err);
    }

    test_walk_types("main = { list = [ \"x\", \"y\" ]; zone = \"z.1-a:64k\"; word = \"w\"; };",
                    &c, &n);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pt_conf_dump(f, test_types, PT_SCOPE_MAIN, &c, 0);
    fclose(f);
    ok(strstr(buf, "list = [ \"X\", \"Y\" ];") != NULL, "lists print as arrays (%s)", buf);
    ok(strstr(buf, "zone = \"z.1-a:64k\";") != NULL, "zones print as name:size");
    ok(strstr(buf, "word = \"w\";") != NULL, "compiled strings print as written");
    ok(strstr(buf, "nonempty") == NULL, "unset lists are not printed");
    free(buf);

    pt_conf_unset(test_types, PT_SCOPE_MAIN, &d);
    pt_conf_merge(test_types, PT_SCOPE_MAIN, &d, &c);
    ok(d.list == c.list && d.zone == c.zone, "merge copies lists and zones");
    ok(d.word.text == c.word.text && d.word.code == c.word.code,
       "and both halves of a compiled string");
    pt_arena_destroy(test_types_arena);
    test_types_arena = NULL;
}

int main(void)
{
    test_values();
    test_defaults();
    test_errors();
    test_merge();
    test_dump();
    test_compound();
    return done_testing();
}
