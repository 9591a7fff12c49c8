/*
 * test_http_error.c: the error renderer (worker/http/http_error.h): the
 * RFC 9457 problem document and its fields, the default details, custom
 * pages per status and for any status (the route's before the defaults'),
 * the Allow of a 405, which errors end the connection, and an error after
 * the response started.
 *
 * Linked with -Wl,--wrap=pt_response_send,--wrap=pt_request_abort: what
 * the renderer would send is captured here instead of written to a
 * connection.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/str.h"

#include "worker/core/core.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "test/unit/tap.h"

static struct {
    unsigned calls, aborts;
    unsigned status;
    const char *content_type;
    char extra[256];
    char body[1024];
    const char *why;
} sent;

void __wrap_pt_response_send(pt_request_t *r, unsigned status, const char *content_type,
                             const pt_http_field_t *fields, unsigned nfields,
                             const char *body, size_t body_len);
void __wrap_pt_request_abort(pt_request_t *r, const char *why);

void __wrap_pt_response_send(pt_request_t *r, unsigned status, const char *content_type,
                             const pt_http_field_t *fields, unsigned nfields,
                             const char *body, size_t body_len)
{
    size_t n = 0;

    sent.calls++;
    sent.status = status;
    sent.content_type = content_type;
    sent.extra[0] = '\0';
    /* The fields as the HTTP/1.1 writer would put them, one line each. */
    for (unsigned i = 0; i < nfields && n < sizeof(sent.extra); i++)
        n += (size_t) snprintf(sent.extra + n, sizeof(sent.extra) - n, "%.*s: %.*s\r\n",
                               (int) fields[i].name.len, fields[i].name.p,
                               (int) fields[i].value.len,
                               fields[i].value.p ? fields[i].value.p : "");
    snprintf(sent.body, sizeof(sent.body), "%.*s", (int) body_len, body ? body : "");
}

void __wrap_pt_request_abort(pt_request_t *r, const char *why)
{
    sent.aborts++;
    sent.why = why;
}

static pt_arena_t *arena;
static pt_conf_t conf;
static pt_conn_t conn;
static pt_route_t route;
static pt_request_t req;

static pt_request_t *request(bool routed)
{
    memset(&sent, 0, sizeof(sent));
    memset(&req, 0, sizeof(req));
    req.arena = arena;
    req.conn = &conn;
    req.conf = &conf;
    req.route = routed ? &route : NULL;
    req.id = PT_STR("req-7");
    req.keepalive = true;
    req.head.method = PT_STR("GET");
    req.head.target = PT_STR("/x");
    return &req;
}

static pt_errpage_t *page(unsigned status, const char *type, const char *body,
                          pt_errpage_t *next)
{
    pt_errpage_t *p = pt_arena_calloc(arena, sizeof(*p));

    *p = (pt_errpage_t) { status, type, body, strlen(body), next };
    return p;
}

static void test_problem(void)
{
    static const struct {
        unsigned status;
        const char *detail;
        const char *body;
        bool keepalive;
    } cases[] = {
        { 404, "no route matches",
          "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
          "\"detail\":\"no route matches\",\"request_id\":\"req-7\"}\n", true },
        { 503, NULL,
          "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
          "\"detail\":\"no upstream server is available\",\"request_id\":\"req-7\"}\n", true },
        { 400, "bad \"quote\"\n",
          "{\"type\":\"about:blank\",\"title\":\"Bad Request\",\"status\":400,"
          "\"detail\":\"bad \\\"quote\\\"\\u000a\",\"request_id\":\"req-7\"}\n", false },
        { 431, NULL,
          "{\"type\":\"about:blank\",\"title\":\"Request Header Fields Too Large\","
          "\"status\":431,\"detail\":\"the request header fields are too large\","
          "\"request_id\":\"req-7\"}\n", false },
        { 429, NULL,
          "{\"type\":\"about:blank\",\"title\":\"Too Many Requests\",\"status\":429,"
          "\"detail\":\"the request cannot be handled\",\"request_id\":\"req-7\"}\n", true },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pt_request_t *r = request(true);
        pt_http_error(r, cases[i].status, cases[i].detail);
        ok(sent.calls == 1 && sent.status == cases[i].status, "%u: sent once",
           cases[i].status);
        is_str(sent.content_type, "application/problem+json", "  as application/problem+json");
        is_str(sent.body, cases[i].body, "  type, title, status, detail, request id");
        is_str(sent.extra, "", "  no extra fields");
        is(r->keepalive, cases[i].keepalive, "  the connection %s",
           cases[i].keepalive ? "stays" : "closes");
        ok(r->error_detail != NULL, "  the detail is kept for the log");
    }
}

static void test_pages(void)
{
    pt_errpage_t *route_pages = page(404, "text/html", "<h1>not here</h1>", NULL);
    conf.route_defaults.errors = page(0, "text/plain", "oops",
                                      page(502, "text/plain", "bad gateway page", NULL));
    route.c.errors = route_pages;

    static const struct {
        bool routed;
        unsigned status;
        const char *type, *body, *what;
    } cases[] = {
        { true, 404, "text/html", "<h1>not here</h1>", "the route's page for 404" },
        { true, 502, "text/plain", "bad gateway page", "the defaults' page for 502" },
        { true, 500, "text/plain", "oops", "the defaults' page for any status" },
        { false, 404, "text/plain", "oops", "no route: the defaults' pages only" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pt_request_t *r = request(cases[i].routed);
        pt_http_error(r, cases[i].status, "why");
        is_str(sent.body, cases[i].body, "%u: %s", cases[i].status, cases[i].what);
        is_str(sent.content_type, cases[i].type, "  as %s", cases[i].type);
        ok(sent.status == cases[i].status, "  with status %u", cases[i].status);
    }

    /* A route's page for any status comes before the defaults' for 502. */
    route.c.errors = page(0, "text/plain", "route any", route_pages);
    pt_http_error(request(true), 502, NULL);
    is_str(sent.body, "route any", "502: the route's any-status page beats the defaults' 502");
    ok(pt_http_error_page(request(true), 404) == route_pages,
       "pt_http_error_page: the route's own 404");
    route.c.errors = NULL;
    conf.route_defaults.errors = NULL;
    ok(pt_http_error_page(request(true), 404) == NULL, "pt_http_error_page: none configured");
}

static void test_allow(void)
{
    pt_request_t *r = request(false);

    r->route_allow = "GET, HEAD, POST";
    pt_http_error(r, 405, NULL);
    is_str(sent.extra, "Allow: GET, HEAD, POST\r\n", "405 carries the router's Allow");
    ok(strstr(sent.body, "\"status\":405") && strstr(sent.body, "Method Not Allowed"),
       "  in a problem document");

    r = request(false);
    pt_http_error(r, 405, NULL);
    is_str(sent.extra, "Allow: \r\n", "405 with no method allowed: an empty Allow");

    conf.route_defaults.errors = page(405, "text/plain", "no", NULL);
    r = request(false);
    r->route_allow = "PURGE";
    pt_http_error(r, 405, NULL);
    is_str(sent.body, "no", "405 with a custom page");
    is_str(sent.extra, "Allow: PURGE\r\n", "  still carries Allow");
    conf.route_defaults.errors = NULL;

    r = request(false);
    r->route_allow = "GET";
    pt_http_error(r, 404, NULL);
    is_str(sent.extra, "", "only a 405 carries Allow");
}

static void test_started(void)
{
    pt_request_t *r = request(true);

    r->response_started = true;
    pt_http_error(r, 502, "upstream reset");
    ok(sent.calls == 0 && sent.aborts == 1, "after the response started: abort, not send");
    is_str(sent.why, "upstream reset", "  with the detail");
}

int main(void)
{
    arena = pt_arena_create(1 << 16, 0);
    snprintf(conn.peer_ip, sizeof(conn.peer_ip), "127.0.0.1");
    route.name = "r";
    test_problem();
    test_pages();
    test_allow();
    test_started();
    pt_arena_destroy(arena);
    return done_testing();
}
