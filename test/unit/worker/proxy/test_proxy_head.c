/*
 * test_proxy_head.c: the heads the proxy builds, byte for byte, from a
 * parsed request and a parsed upstream response: hop-by-hop fields and
 * those named in Connection dropped, X-Forwarded-* and Via added, a field
 * a module added present and the client's copy it hid absent; on the way
 * back the framing rewritten by the HTTP/1.1 serializer, Date, Via and the
 * request id added, and a header filter's replacement there exactly once.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/core/module.h"
#include "worker/http/h1/h1_write.h"
#include "worker/proxy/proxy.h"
#include "test/unit/tap.h"

static pt_arena_t *arena;
static pt_conn_t conn;
static pt_listener_t listener;
static pt_route_t route;
static pt_upstream_t upstream;
static pt_server_t server = { .name = "127.0.0.1:9" };
static pt_request_t req;
static pt_proxy_t proxy;
static pt_proxy_conf_t pconf;      /* the proxy module's settings of the route */

static void setup(const char *request, unsigned fields_room)
{
    size_t scanned = 0;
    pt_http_limits_t lim = { 0, 0, fields_room };

    memset(&req, 0, sizeof(req));
    memset(&proxy, 0, sizeof(proxy));
    strcpy(conn.peer_ip, "127.0.0.1");
    listener.c.max_header_count = fields_room;
    req.arena = arena;
    req.conn = &conn;
    req.listener = &listener;
    req.route = &route;
    req.keepalive = true;
    req.head.fields = pt_arena_alloc(arena, fields_room * sizeof(pt_http_field_t));
    int rc = pt_http_parse_request(&req.head, request, strlen(request), &lim, &scanned);
    if (rc != PT_OK)
        diag("request did not parse: %d %s", rc, req.head.error);
    req.path = req.upstream_path = req.head.path;
    req.id = PT_STR("rid-1");
    proxy.r = &req;
    proxy.server = &server;
    proxy.conf = &pconf;
    proxy.max_forwards = -1;
}

static void parse_response(const char *response)
{
    size_t scanned = 0;
    pt_http_limits_t lim = { 0, 0, 32 };

    proxy.resp.fields = pt_arena_alloc(arena, 32 * sizeof(pt_http_field_t));
    proxy.resp_fields_cap = 32;
    int rc = pt_http_parse_response(&proxy.resp, response, strlen(response), &lim, &scanned);
    if (rc != PT_OK)
        diag("response did not parse: %d %s", rc, proxy.resp.error);
    proxy.body = pt_http_response_body(&proxy.resp, req.head.method_id);
}

static const char *z(pt_str_t s)
{
    char *p = pt_arena_alloc(arena, s.len + 1);

    memcpy(p, s.p, s.len);
    p[s.len] = '\0';
    return p;
}

/* The client head through the route's header filters and the serializer,
 * as proxy_response.c does it. */
static const char *client_head(bool chunked)
{
    pt_response_t resp;

    if (pt_proxy_head_response(&proxy, &resp, chunked, false) != PT_OK)
        return "(error)";
    if (pt_response_filter(&req, &resp) != PT_OK)
        return "(filter)";
    return z(pt_h1_write_head(arena, &resp));
}

static int hsts_filter(pt_request_t *r, pt_response_t *resp)
{
    return pt_response_set(r, resp, PT_STR("Strict-Transport-Security"), PT_STR("max-age=2"));
}

static const pt_module_t fake_module = { .name = "fake", .index = 3 };
static const pt_header_filter_t hsts_filters[] = { { hsts_filter, &fake_module }, { NULL } };

int main(void)
{
    arena = pt_arena_create(16384, 1 << 22);
    pconf.upstream = &upstream;
    pconf.xff = 1;
    pconf.via = 1;
    char date[64];
    pt_str_t d = pt_clock_http_date();
    snprintf(date, sizeof(date), "%.*s", (int) d.len, d.p);
    char want[1024];

    /* ---- the request head for the upstream ---- */
    setup("GET /a?x=1 HTTP/1.1\r\nHost: h.test\r\nConnection: keep-alive, X-Hop\r\n"
          "X-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Cert: CN=evil\r\nAccept: */*\r\n"
          "Proxy-Authorization: secret\r\nX-Request-ID: theirs\r\n\r\n", 9);
    is(req.head.nfields, 9, "the request parsed into an array with no room left");
    for (unsigned i = 0; i < req.head.nfields; i++)
        if (pt_str_caseeq_lit(req.head.fields[i].name, "x-cert"))
            req.head.fields[i].flags |= PT_FIELD_NOFORWARD;
    is(pt_request_field_add(&req, PT_STR("X-Cert"), PT_STR("CN=good")), PT_OK,
       "a module adds a field to a full array");
    is(req.head.nfields, 10, "the array grew");
    ok(pt_request_field(&req, PT_HDR_ACCEPT_ENCODING) == NULL
       && req.head.fields[req.head.host_field].value.len == 6,
       "the grown array keeps the parsed fields");
    is_str(z(pt_proxy_head_request(&proxy)),
           "GET /a?x=1 HTTP/1.1\r\nHost: h.test\r\n"
           "Accept: */*\r\n"
           "X-Cert: CN=good\r\n"
           "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
           "X-Forwarded-Host: h.test\r\n"
           "Via: 1.1 portico\r\n"
           "X-Request-ID: rid-1\r\n\r\n",
           "upstream head: hop-by-hop and Connection-named gone, the hidden copy gone, "
           "the added field and X-Forwarded-*/Via there");

    pconf.xff = 0;
    pconf.via = 0;
    setup("POST /p HTTP/1.0\r\nContent-Length: 3\r\nVia: 1.0 edge\r\n"
          "X-Forwarded-For: 10.0.0.1\r\n\r\n", 8);
    req.id = (pt_str_t) { req.id_buf, 0 };
    is_str(z(pt_proxy_head_request(&proxy)),
           "POST /p HTTP/1.1\r\nHost: 127.0.0.1:9\r\nVia: 1.0 edge\r\n"
           "X-Forwarded-For: 10.0.0.1\r\nContent-Length: 3\r\n\r\n",
           "xff and via off: the client's kept, the length rewritten, the server as Host");
    pconf.xff = 1;
    pconf.via = 1;

    /* ---- the response head for the client ---- */
    setup("GET / HTTP/1.1\r\nHost: h.test\r\n\r\n", 8);
    parse_response("HTTP/1.1 200 Fine\r\nConnection: X-Up\r\nX-Up: 1\r\nKeep-Alive: t\r\n"
                   "Content-Length: 05\r\nContent-Length: 5\r\nVia: 1.0 a\r\n"
                   "Strict-Transport-Security: max-age=1\r\nServer: s\r\n\r\n");
    snprintf(want, sizeof(want),
             "HTTP/1.1 200 Fine\r\nContent-Length: 5\r\nServer: s\r\nDate: %s\r\n"
             "Via: 1.0 a, 1.1 portico\r\nX-Request-ID: rid-1\r\n\r\n", date);
    is_str(client_head(false), want,
           "plain connection: hop-by-hop gone, one Content-Length as parsed, the upstream's "
           "HSTS dropped (RFC 6797 7.2), Date/Via/id added");

    setup("GET / HTTP/1.1\r\nHost: h.test\r\n\r\n", 8);
    conn.io.ssl = &conn;            /* only tested for NULL */
    route.filters = &(pt_filters_t) { .header = hsts_filters };
    parse_response("HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=1\r\n"
                   "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nX-Request-ID: up\r\n"
                   "strict-transport-security: max-age=3\r\nContent-Length: 0\r\n\r\n");
    is_str(client_head(false),
           "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nX-Request-ID: up\r\n"
           "Content-Length: 0\r\nVia: 1.1 portico\r\n"
           "Strict-Transport-Security: max-age=2\r\n\r\n",
           "TLS: the filter's Strict-Transport-Security replaces both of the upstream's, once");
    route.filters = NULL;
    conn.io.ssl = NULL;

    setup("GET / HTTP/1.0\r\n\r\n", 8);
    parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: x\r\n\r\n");
    is_str(client_head(true),
           "HTTP/1.1 200 OK\r\nDate: x\r\nVia: 1.1 portico\r\nX-Request-ID: rid-1\r\n"
           "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
           "chunked relay: the serializer writes the coding; an HTTP/1.0 client kept alive");

    setup("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 8);
    req.keepalive = false;
    parse_response("HTTP/1.1 103 Early Hints\r\nLink: </s>\r\nConnection: close\r\n\r\n");
    is_str(client_head(false), "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\nVia: 1.1 portico\r\n"
           "\r\n", "interim: no Date, id or Connection of ours");
    parse_response("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
    snprintf(want, sizeof(want), "HTTP/1.1 204 No Content\r\nDate: %s\r\n"
             "Via: 1.1 portico\r\nX-Request-ID: rid-1\r\nConnection: close\r\n\r\n", date);
    is_str(client_head(false), want, "204: no framing fields; the connection closes");

    /* ---- the serializer on its own ---- */
    pt_http_field_t f[3] = {
        { PT_STR("Content-Length"), PT_STR_NULL, PT_HDR_CONTENT_LENGTH, 0 },
        { PT_STR("X-Gone"), PT_STR("1"), PT_HDR_OTHER, 0 },
        { PT_STR("X-Kept"), PT_STR("2"), PT_HDR_OTHER, 0 },
    };
    pt_response_t resp = { .status = 404, .fields = f, .nfields = 3, .cap = 3,
                           .content_length = 12 };
    is(pt_response_remove(&resp, PT_STR("x-gone")), 1, "remove hides one field");
    ok(pt_response_find(&resp, PT_STR("X-GONE")) == NULL
       && pt_response_find(&resp, PT_STR("x-kept")) == &f[2], "find sees visible fields only");
    is_str(z(pt_h1_write_head(arena, &resp)),
           "HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\nX-Kept: 2\r\n\r\n",
           "the standard reason; the length where its field stands");
    pt_response_unknown_length(&resp);
    resp.flags = PT_RESP_CHUNKED | PT_RESP_CLOSE;
    ok(pt_response_add(&req, &resp, PT_STR("X-New"), PT_STR("3")) == PT_OK && resp.cap > 3
       && resp.fields != f, "add grows a full array in the arena");
    is_str(z(pt_h1_write_head(arena, &resp)),
           "HTTP/1.1 404 Not Found\r\nX-Kept: 2\r\nX-New: 3\r\n"
           "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
           "unknown length: no Content-Length; the flags' framing fields last");
    char ch[PT_H1_CHUNK_HEAD_MAX];
    size_t n = pt_h1_write_chunk_head(ch, 0x1a2f);
    is_str(z((pt_str_t) { ch, n }), "1a2f\r\n", "a chunk size line in hex");

    /* ---- the sink of a body chain the gateway frames ---- */
    pt_h1_out_t o = { .arena = arena, .chunked = true };
    pt_body_chain_t bc = { .r = &req, .sink = pt_h1_write_sink, .data = &o };
    pt_span_t s2 = { PT_STR(""), PT_SPAN_FLUSH, NULL }, s1 = { PT_STR("hello"), 0, &s2 };
    is(pt_filter_body_run(&bc, &s1), PT_OK, "no stages: straight to the sink");
    is_str(z((pt_str_t) { o.p, o.len }), "5\r\nhello\r\n", "a span becomes a chunk; "
           "an empty one none");
    o.len = 0;
    pt_span_t s3 = { PT_STR("!"), PT_SPAN_LAST, NULL };
    pt_filter_body_run(&bc, &s3);
    is_str(z((pt_str_t) { o.p, o.len }), "1\r\n!\r\n0\r\n\r\n", "the last span ends the body");
    o = (pt_h1_out_t) { .arena = arena };
    pt_filter_body_run(&bc, &s1);
    is_str(z((pt_str_t) { o.p, o.len }), "hello", "unchunked: the bytes as they come");

    pt_arena_destroy(arena);
    printf("1..%d\n", tap_n);
    return tap_failed != 0;
}
