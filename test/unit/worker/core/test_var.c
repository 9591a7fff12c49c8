/*
 * test_var.c: request variables and their templates (worker/core/var.h):
 * what compiles and what is refused, the values of the core variables,
 * $http_NAME by field id or by name, the escaping modes, the dash for
 * empty values, the length limit cutting at escape edges, each value
 * evaluated once per render, and a module's own variables.
 *
 * Includes var.c to look at compiled segments. The module table is this
 * file's (pt_modules below), so the registry sees one test module.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/conf.h"

#include "worker/core/var.c"
#include "test/unit/tap.h"

/* ---- a module with variables ------------------------------------------ */

static unsigned counter_calls;

static pt_str_t test_var_counter(pt_request_t *r, const void *data, char *buf)
{
    int n = snprintf(buf, PT_VAR_BUF, "%u", ++counter_calls);
    return (pt_str_t) { buf, (size_t) n };
}

static pt_str_t test_var_const(pt_request_t *r, const void *data, char *buf)
{
    const char *s = data;
    return (pt_str_t) { s, strlen(s) };
}

static pt_str_t test_var_echo(pt_request_t *r, const void *data, char *buf)
{
    return *(const pt_str_t *) data;
}

/* $tm_NAME is NAME in capitals; $tm_bad is refused at compile. */
static const void *test_var_echo_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                         pt_str_t rest)
{
    if (rest.len == 3 && memcmp(rest.p, "bad", 3) == 0) {
        pt_conf_error(cf, s, "no $tm_bad");
        return NULL;
    }
    pt_str_t *v = pt_arena_alloc(cf->arena, sizeof(*v));
    char *p = pt_arena_strndup(cf->arena, rest.p, rest.len);
    for (size_t i = 0; i < rest.len; i++)
        p[i] = (char) (p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]);
    *v = (pt_str_t) { p, rest.len };
    return v;
}

static const pt_var_def_t test_var_defs[] = {
    { "tm_counter", test_var_counter, NULL, NULL },
    { "tm_owner", test_var_const, "alice", NULL },
    { "method", test_var_const, "shadowed", NULL },
    { "tm_NAME", test_var_echo, NULL, test_var_echo_compile },
    PT_VAR_DEF_END
};

static pt_module_t test_var_module = { .name = "test", .vars = test_var_defs };
static pt_module_t test_var_plain = { .name = "plain" };

const pt_module_t *const pt_modules[] = { &test_var_plain, &test_var_module, NULL };
size_t pt_nmodules = 2;

/* ---- a request ------------------------------------------------------------ */

static pt_arena_t *arena;
static pt_conf_ctx_t cf;
static pt_request_t req;
static pt_conn_t conn;
static pt_listener_t listener;
static pt_route_t route;
static pt_buf_t rbuf;
static pt_http_field_t fields[16];
static char wire[] = "GET /a/b?x=1 HTTP/1.1\r\nHost: api.test\r\n\r\n";

static void add_field(const char *name, const char *value, size_t vlen)
{
    pt_http_head_t *h = &req.head;

    if (h->nfields == sizeof(fields) / sizeof(fields[0])) {
        diag("test_var: more fields than the array holds");
        exit(1);
    }
    fields[h->nfields++] = (pt_http_field_t) {
        { name, strlen(name) }, { value, vlen }, (uint8_t) pt_http_hdr_id(name, strlen(name)), 0
    };
}

static void setup_request(void)
{
    pt_http_head_t *h = &req.head;

    memset(&req, 0, sizeof(req));
    memset(&conn, 0, sizeof(conn));
    snprintf(conn.peer_ip, sizeof(conn.peer_ip), "127.0.0.1");
    conn.id = 42;
    conn.nrequests = 3;
    conn.io.sent = 1500;
    rbuf.start = rbuf.pos = wire;
    rbuf.last = rbuf.end = wire + strlen(wire);
    conn.rbuf = &rbuf;
    listener.c.max_request_line = 8192;
    route.name = "api";

    req.arena = arena;
    req.conn = &conn;
    req.listener = &listener;
    req.route = &route;
    req.status = 201;
    req.sent_base = 1000;
    req.head_bytes = 100;
    req.body_received = 7;
    req.upstream_ms = -1;
    req.id = PT_STR("req-1");
    pt_clock_update();
    req.start = pt_clock_now;
    h->method = (pt_str_t) { wire, 3 };
    h->method_id = PT_METHOD_GET;
    h->target = (pt_str_t) { wire + 4, 8 };
    h->path = (pt_str_t) { wire + 4, 4 };
    h->query = (pt_str_t) { wire + 9, 3 };
    h->host = PT_STR("api.test");
    h->version_minor = 1;
    h->fields = fields;
    h->nfields = 0;
    req.path = h->path;
    add_field("Host", "api.test", 8);
    add_field("User-Agent", "curl/8", 6);
    add_field("X-Env", "canary", 6);
    add_field("X-Quote", "a\"b\\c\x01\xff", 7);
    add_field("X-Long", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 50);
    add_field("X-Quotes", "\"\"\"\"\"\"", 6);
    add_field("X-Num", "-1.5e3", 6);
    add_field("X-Lead0", "007", 3);
}

static pt_var_tpl_t *compile(const char *text)
{
    cf.nerrors = 0;
    cf.errors = NULL;
    cf.errors_len = 0;
    return pt_var_compile(&cf, NULL, text);
}

/* Render text compiled afresh; "(null)" if it did not compile. */
static const char *render(const char *text, int escape, bool dash, size_t max)
{
    pt_var_tpl_t *t = compile(text);

    if (t == NULL)
        return "(null)";
    pt_str_t s = pt_var_render(t, &req, escape, dash, max);
    return pt_arena_strndup(arena, s.p, s.len);
}

/* ---- cases ------------------------------------------------------------ */

typedef struct {
    const char *tpl;
    int escape;
    bool dash;
    size_t max;
    const char *want;
} case_t;

static const case_t cases[] = {
    /* syntax */
    { "plain text", PT_VAR_RAW, false, 0, "plain text" },
    { "", PT_VAR_RAW, false, 0, "" },
    { "$method $uri", PT_VAR_RAW, false, 0, "GET /a/b" },
    { "${method}x", PT_VAR_RAW, false, 0, "GETx" },
    { "$methodx", PT_VAR_RAW, false, 0, "(null)" },
    { "$$5 $$", PT_VAR_RAW, false, 0, "$5 $" },
    { "cost: $$$status", PT_VAR_RAW, false, 0, "cost: $201" },
    { "a-$status.", PT_VAR_RAW, false, 0, "a-201." },
    /* the core's variables */
    { "$remote_addr", PT_VAR_RAW, false, 0, "127.0.0.1" },
    { "$host", PT_VAR_RAW, false, 0, "api.test" },
    { "$request_uri|$query", PT_VAR_RAW, false, 0, "/a/b?x=1|x=1" },
    { "$request", PT_VAR_RAW, false, 0, "GET /a/b?x=1 HTTP/1.1" },
    { "$protocol $scheme", PT_VAR_RAW, false, 0, "HTTP/1.1 http" },
    { "$bytes_sent $body_bytes_sent $body_bytes_received", PT_VAR_RAW, false, 0, "500 400 7" },
    { "$request_id $route", PT_VAR_RAW, false, 0, "req-1 api" },
    { "$connection/$connection_requests", PT_VAR_RAW, false, 0, "42/3" },
    { "$request_time", PT_VAR_RAW, false, 0, "0.000" },
    /* a module's variables; the core's names come first */
    { "${tm_owner}", PT_VAR_RAW, false, 0, "alice" },
    { "$tm_hello-$tm_x_y", PT_VAR_RAW, false, 0, "HELLO-X_Y" },
    { "$tm_bad", PT_VAR_RAW, false, 0, "(null)" },
    { "$method", PT_VAR_RAW, false, 0, "GET" },
    /* $http_NAME */
    { "$http_user_agent", PT_VAR_RAW, false, 0, "curl/8" },
    { "$http_x_env ${http_X_ENV}", PT_VAR_RAW, false, 0, "canary canary" },
    { "[$http_x_absent]", PT_VAR_RAW, false, 0, "[]" },
    { "$http_", PT_VAR_RAW, false, 0, "(null)" },
    /* empty values: a dash in logs */
    { "$upstream_addr|$upstream_response_time|$http_referer", PT_VAR_LOG, true, 0, "-|-|-" },
    { "$upstream_addr|$upstream_response_time", PT_VAR_LOG, false, 0, "|" },
    /* escaping */
    { "$http_x_quote", PT_VAR_RAW, false, 0, "a\"b\\c\x01\xff" },
    { "$http_x_quote", PT_VAR_LOG, false, 0, "a\\x22b\\x5Cc\\x01\\xFF" },
    { "$http_x_quote", PT_VAR_JSON, false, 0, "a\\\"b\\\\c\\u0001\\u00ff" },
    { "\"q\": \"$http_x_quote\"", PT_VAR_JSON, false, 0, "\"q\": \"a\\\"b\\\\c\\u0001\\u00ff\"" },
    /* the length limit: the short value whole, the long one cut to fit */
    { "[$http_x_long][$http_x_env]", PT_VAR_RAW, false, 20, "[aaaaaaaaaa][canary]" },
    { "[$http_x_long][$http_x_env]", PT_VAR_RAW, false, 200,
      "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa][canary]" },
    /* ...at the edge of an escape, never inside one */
    { "$http_x_quotes", PT_VAR_LOG, false, 10, "\\x22\\x22" },
    { "$http_x_quotes", PT_VAR_JSON, false, 5, "\\\"\\\"" },
    { "$http_x_quote", PT_VAR_JSON, false, 12, "a\\\"b\\\\c" },
    /* a JSON document's template: bare variables are values */
    { "{\"s\":$http_x_env,\"n\":$http_x_num,\"z\":$http_x_absent,\"q\":\"$http_x_quote\"}",
      PT_VAR_JSON_DOC, false, 0,
      "{\"s\":\"canary\",\"n\":-1.5e3,\"z\":null,\"q\":\"a\\\"b\\\\c\\u0001\\u00ff\"}" },
    { "[$http_x_quote]", PT_VAR_JSON_DOC, false, 0, "[\"a\\\"b\\\\c\\u0001\\u00ff\"]" },
    { "[$http_x_lead0]", PT_VAR_JSON_DOC, false, 0, "[\"007\"]" },
    /* the template's own text is never cut */
    { "a long literal $http_x_env", PT_VAR_RAW, false, 5, "a long literal " },
};

static void test_cases(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const case_t *c = &cases[i];
        static const char *const esc[] = { "raw", "log", "json", "json document" };
        const char *got = render(c->tpl, c->escape, c->dash, c->max);
        is_str(got, c->want, "\"%s\" (%s%s, max %zu)", c->tpl, esc[c->escape],
               c->dash ? ", dash" : "", c->max);
        if (c->max && strcmp(got, "(null)") != 0)
            ok(strlen(got) <= pt_max(c->max, compile(c->tpl)->literal_len),
               "  %zu bytes, within the limit", strlen(got));
    }
}

static void test_errors(void)
{
    static const struct { const char *tpl, *error; } errs[] = {
        { "$nosuch", "unknown variable \"$nosuch\"" },
        { "x ${method", "unterminated ${ in \"x ${method\"" },
        { "$", "unknown variable \"$\"" },
        { "$http_", "unknown variable \"$http_\"" },
        { "${tm_bad}", "no $tm_bad" },
    };

    cf.file = "test.conf";
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        pt_var_tpl_t *t = compile(errs[i].tpl);
        ok(t == NULL && cf.nerrors == 1, "\"%s\" is refused", errs[i].tpl);
        ok(cf.errors && strstr(cf.errors, errs[i].error) != NULL, "  with: %s",
           errs[i].error);
    }
}

/* $http_NAME of a well-known field is resolved to the parser's id at
 * compile time, and the request is searched by id: a field that carries
 * the name but not the id is not it. Other names match by name, only
 * among the fields without an id. */
static void test_http_resolution(void)
{
    pt_var_tpl_t *t = compile("$http_user_agent$http_X_Env");
    const pt_var_http_t *ua = t->segs[0].data, *env = t->segs[1].data;

    ok(t->n == 2 && t->nvars == 2, "two variables, no literal");
    is(ua->id, PT_HDR_USER_AGENT, "$http_user_agent is field id %u", PT_HDR_USER_AGENT);
    is(env->id, PT_HDR_OTHER, "$http_X_Env has no id");
    is_str(pt_arena_strndup(arena, env->name.p, env->name.len), "x-env",
           "  and is matched as \"x-env\"");

    fields[1].id = PT_HDR_OTHER;
    is_str(render("[$http_user_agent]", PT_VAR_RAW, false, 0), "[]",
           "a User-Agent field without the id is not $http_user_agent");
    fields[1].id = PT_HDR_USER_AGENT;
    fields[2].id = PT_HDR_VIA;
    is_str(render("[$http_x_env]", PT_VAR_RAW, false, 0), "[]",
           "a field with an id is not compared by name");
    fields[2].id = PT_HDR_OTHER;
}

/* Sizing, cutting and writing share one evaluation per variable. */
static void test_once(void)
{
    pt_var_tpl_t *t = compile("$tm_counter $tm_counter $http_x_long");

    counter_calls = 0;
    pt_str_t s = pt_var_render(t, &req, PT_VAR_LOG, true, 0);
    is(counter_calls, 2, "two variables, two calls (no limit)");
    is_str(pt_arena_strndup(arena, s.p, 4), "1 2 ", "  each written as evaluated");
    counter_calls = 0;
    pt_var_render(t, &req, PT_VAR_JSON, true, 10);
    is(counter_calls, 2, "two calls when the limit cuts too");
}

/* More variables than the renderer keeps on its stack. */
static void test_many(void)
{
    char text[64 * 4 + 1] = "";
    char want[64 * 7 + 1] = "";

    for (int i = 0; i < 64; i++) {
        strcat(text, "$uri");
        strcat(want, "/a/b");
    }
    is_str(render(text, PT_VAR_LOG, true, 0), want, "64 variables in one template");
    const char *cut = render(text, PT_VAR_LOG, true, 128);
    is(strlen(cut), 128, "  and cut to 128 bytes, 2 of each value");
}

/* pt_var_render_to: as is, on the caller's buffer, the whole length
 * returned even when it is cut; $cookie_NAME. */
static void test_render_to(void)
{
    char buf[8];
    pt_var_tpl_t *t = compile("$http_x_env:$uri");

    size_t n = pt_var_render_to(t, &req, buf, sizeof(buf));
    is(n, 11, "render_to: the whole length, 11");
    ok(memcmp(buf, "canary:/", 8) == 0, "  its first 8 bytes in a buffer of 8");
    add_field("Cookie", "theme=dark; session=s3cr3t", 26);
    is_str(render("[$cookie_session][$cookie_Session][$cookie_theme]", PT_VAR_RAW, false, 0),
           "[s3cr3t][][dark]", "$cookie_NAME: by exact name");
}

int main(void)
{
    arena = pt_arena_create(1 << 16, 0);
    cf.arena = arena;
    cf.file = "test.conf";
    setup_request();
    test_cases();
    test_errors();
    test_http_resolution();
    test_once();
    test_many();
    test_render_to();
    pt_arena_destroy(arena);
    return done_testing();
}
