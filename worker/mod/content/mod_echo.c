/*
 * mod_echo.c: answer with the request as JSON: method, target, version,
 * headers in order, the client address, the request id and the body.
 * Handy for demos and tests. `echo = true;` in a route.
 *
 * The body is read whole (up to client_max_body_size). Text that is not
 * valid UTF-8 has each stray byte written as \u00XX so the answer is
 * always valid JSON; "body_length" gives the exact byte count.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/http/http_error.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/core/var.h"

typedef struct {
    int enabled;
} pt_echo_conf_t;

static int pt_echo_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                              void *rconf, const void *dconf);
static int pt_echo_content(pt_request_t *r);

static const pt_directive_t pt_echo_directives[] = {
    { "echo", PT_CONF_BOOL, PT_SCOPE_HANDLER, offsetof(pt_echo_conf_t, enabled), NULL, NULL,
      NULL, NULL, "answer with the request as JSON" },
    PT_DIRECTIVE_END
};

pt_module_t pt_echo_module = {
    .name = "echo",
    .directives = pt_echo_directives,
    .route_conf_size = sizeof(pt_echo_conf_t),
    .init_route = pt_echo_init_route,
    .content = pt_echo_content,
};

static int pt_echo_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                              void *rconf, const void *dconf)
{
    pt_echo_conf_t *ec = rconf;

    if (ec->enabled != 1)
        return PT_OK;
    if (route->handler) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give a route one of proxy, return "
                      "and echo", route->name, route->line);
        return PT_ERROR;
    }
    route->handler = &pt_echo_module;
    return PT_OK;
}

/* Write s as a JSON string (with quotes); returns bytes written. out must
 * have room for its escaped length (at most 6 * len) + 2 bytes. */
static size_t pt_echo_json(char *out, pt_str_t s)
{
    out[0] = '"';
    size_t n = 1 + pt_str_json_escape(out + 1, 6 * s.len, s.p, s.len);
    out[n++] = '"';
    return n;
}

#define PT_ECHO_KEY(k)  (memcpy(out + n, k, sizeof(k) - 1), n += sizeof(k) - 1)

static void pt_echo_respond(pt_request_t *r)
{
    const pt_http_head_t *h = &r->head;
    pt_str_t body = pt_request_body(r);
    const char *ip = pt_conn_peer_ip(r->conn);
    /* The head's parts at their worst (6 bytes an escape); the body, up to
     * client_max_body_size, at its exact escaped length. */
    size_t cap = 256 + 6 * (h->method.len + h->target.len + r->path.len + h->query.len
                            + r->id.len + strlen(ip) + 16)
                 + pt_str_json_escape(NULL, 0, body.p, body.len);

    for (unsigned i = 0; i < h->nfields; i++)
        cap += 6 * (h->fields[i].name.len + h->fields[i].value.len) + 8;
    char *out = pt_arena_alloc(r->arena, cap);
    size_t n = 0;
    if (out == NULL) {
        /* Past the request arena's cap: a body of control bytes escapes to
         * six times its size. */
        r->keepalive = false;
        pt_http_error(r, 413, "the echo of this request is larger than portico holds");
        return;
    }
    PT_ECHO_KEY("{\"method\":");
    n += pt_echo_json(out + n, h->method);
    PT_ECHO_KEY(",\"target\":");
    n += pt_echo_json(out + n, h->target);
    PT_ECHO_KEY(",\"path\":");
    n += pt_echo_json(out + n, r->path);
    PT_ECHO_KEY(",\"query\":");
    n += pt_echo_json(out + n, h->query);
    PT_ECHO_KEY(",\"version\":");
    n += pt_echo_json(out + n, h->version_minor ? PT_STR("HTTP/1.1") : PT_STR("HTTP/1.0"));
    PT_ECHO_KEY(",\"headers\":[");
    for (unsigned i = 0; i < h->nfields; i++) {
        if (i)
            out[n++] = ',';
        out[n++] = '[';
        n += pt_echo_json(out + n, h->fields[i].name);
        out[n++] = ',';
        n += pt_echo_json(out + n, h->fields[i].value);
        out[n++] = ']';
    }
    PT_ECHO_KEY("],\"client\":");
    n += pt_echo_json(out + n, (pt_str_t) { ip, strlen(ip) });
    PT_ECHO_KEY(",\"request_id\":");
    n += pt_echo_json(out + n, r->id);
    n += (size_t) sprintf(out + n, ",\"body_length\":%zu,\"body\":", body.len);
    n += pt_echo_json(out + n, body);
    PT_ECHO_KEY("}\n");
    PT_ASSERT(n <= cap);
    pt_response_send(r, 200, "application/json", NULL, 0, out, n);
}

static int pt_echo_content(pt_request_t *r)
{
    pt_request_read_body(r, pt_echo_respond);
    return PT_OK;
}
