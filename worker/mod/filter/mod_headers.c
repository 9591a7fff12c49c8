/*
 * mod_headers.c: per-route header transforms, both ways:
 *
 *     request_headers = { set = [ "X-Env: prod", "X-User: $consumer" ];
 *                         remove = [ "X-Debug" ]; };
 *     response_headers = { add = [ "X-Served-By: portico" ]; remove = [ "Server" ]; };
 *
 * Values are variable templates. Request fields change in the pre-content
 * phase, after every access decision, so an upstream can trust identity
 * fields (a client's own X-User is hidden by set or remove). Response
 * fields change in a header filter, so gateway-made responses get them too.
 * Operations run in the order remove, set, add, append.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/core/module.h"
#include "worker/core/var.h"
#include "worker/http/request.h"
#include "worker/http/response.h"

#define PT_HEADERS_VALUE_MAX    4096    /* a longer rendered value is left out */

enum { PT_HEADERS_REMOVE = 0, PT_HEADERS_SET, PT_HEADERS_ADD, PT_HEADERS_APPEND, PT_HEADERS_OPS };

/* One compiled operation: a field name and, but for remove, its value. */
typedef struct {
    pt_str_t name;
    const pt_var_tpl_t *value;  /* NULL: literal holds the value (no variables) */
    pt_str_t literal;
} pt_headers_op_t;

/* request_headers = { } or response_headers = { }: the lists as written,
 * then what init_route compiled of them. */
typedef struct {
    const char **list[PT_HEADERS_OPS];
    pt_headers_op_t *ops[PT_HEADERS_OPS];
    size_t nops[PT_HEADERS_OPS];
} pt_headers_set_t;

typedef struct {
    pt_headers_set_t *request;      /* CUSTOM: UNSET NULL */
    pt_headers_set_t *response;
} pt_headers_conf_t;

extern pt_module_t pt_headers_module;

static int pt_headers_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                               const pt_directive_t *d);
static void pt_headers_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                 int indent);

static const pt_directive_t pt_headers_directives[] = {
    { "request_headers", PT_CONF_CUSTOM, PT_SCOPE_ROUTE,
      offsetof(pt_headers_conf_t, request), NULL, NULL, pt_headers_conf_set,
      pt_headers_conf_dump, "request fields to set, add, append or remove" },
    { "response_headers", PT_CONF_CUSTOM, PT_SCOPE_ROUTE,
      offsetof(pt_headers_conf_t, response), NULL, NULL, pt_headers_conf_set,
      pt_headers_conf_dump, "response fields to set, add, append or remove" },
    PT_DIRECTIVE_END
};

/* The members of request_headers = { } and response_headers = { }. */
#define PT_HEADERS_LIST(op)     offsetof(pt_headers_set_t, list[op])
static const pt_directive_t pt_headers_members[] = {
    { "remove", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_HEADERS_LIST(PT_HEADERS_REMOVE), NULL,
      NULL, NULL, NULL, "field names to remove" },
    { "set", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_HEADERS_LIST(PT_HEADERS_SET), NULL, NULL,
      NULL, NULL, "\"Name: value\": replace every field of that name" },
    { "append", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_HEADERS_LIST(PT_HEADERS_APPEND), NULL,
      NULL, NULL, NULL, "\"Name: value\": add to the field's list value after \", \"" },
    { "add", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_HEADERS_LIST(PT_HEADERS_ADD), NULL, NULL,
      NULL, NULL, "\"Name: value\": one more field line" },
    PT_DIRECTIVE_END
};

/* Fields portico frames or manages itself (RFC 9110 7.6.1 hop-by-hop and
 * the message framing): no transform may touch them. In a request the
 * proxy also drops X-Request-ID (it sends the gateway's id) and
 * Proxy-Authorization (for this hop only), so a transform would be lost. */
static bool pt_headers_managed(pt_str_t name, bool request)
{
    switch (pt_http_hdr_id(name.p, name.len)) {
    case PT_HDR_HOST: case PT_HDR_X_REQUEST_ID: case PT_HDR_PROXY_AUTHORIZATION:
        return request;
    case PT_HDR_CONTENT_LENGTH: case PT_HDR_TRANSFER_ENCODING: case PT_HDR_CONNECTION:
    case PT_HDR_KEEP_ALIVE: case PT_HDR_PROXY_CONNECTION: case PT_HDR_UPGRADE: case PT_HDR_TE:
    case PT_HDR_TRAILER:
        return true;
    default:
        return false;
    }
}

/* A rendered value is a valid field-value (RFC 9110 5.5): visible bytes,
 * obs-text, SP and HTAB inside, no CR, LF, NUL or other control. */
static bool pt_headers_value_ok(pt_str_t v)
{
    /* Eight bytes at a time: a word with no byte below 0x20 and none equal
     * to 0x7f is fine (HTAB, below 0x20, takes the byte loop below). */
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    size_t i = 0;
    for (; i + 8 <= v.len; i += 8) {
        uint64_t x, del;
        memcpy(&x, v.p + i, 8);
        del = x ^ (ones * 0x7f);
        if (((x - ones * 0x20) & ~x & highs) || ((del - ones) & ~del & highs))
            break;
    }
    for (; i < v.len; i++) {
        unsigned char c = (unsigned char) v.p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static int pt_headers_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                              pt_headers_set_t *hs, bool request)
{
    const char *what = request ? "request_headers" : "response_headers";

    for (int op = 0; op < PT_HEADERS_OPS; op++) {
        size_t n = hs->list[op] ? pt_conf_strings_count(hs->list[op]) : 0;
        if (n == 0)
            continue;
        if ((hs->ops[op] = pt_arena_calloc(cf->arena, n * sizeof(*hs->ops[op]))) == NULL)
            return PT_ERROR;
        hs->nops[op] = n;
        for (size_t k = 0; k < n; k++) {
            const char *item = hs->list[op][k];
            const char *colon = op == PT_HEADERS_REMOVE ? NULL : strchr(item, ':');
            pt_str_t name = { item, colon ? (size_t) (colon - item) : strlen(item) };
            if (op != PT_HEADERS_REMOVE && colon == NULL) {
                pt_conf_error(cf, s, "%s: \"%s\" is not \"Name: value\"", what, item);
                return PT_ERROR;
            }
            bool ok = name.len > 0;
            for (size_t i = 0; ok && i < name.len; i++)
                ok = pt_str_tchar[(unsigned char) name.p[i]];
            if (!ok) {
                pt_conf_error(cf, s, "%s: \"%.*s\" is not a field name", what,
                              (int) name.len, name.p);
                return PT_ERROR;
            }
            if (pt_headers_managed(name, request)) {
                pt_conf_error(cf, s, "%s: \"%.*s\" is managed by portico and cannot be "
                              "changed", what, (int) name.len, name.p);
                return PT_ERROR;
            }
            hs->ops[op][k].name = name;
            if (colon) {
                pt_str_t text = pt_str_trim_ows((pt_str_t) { colon + 1, strlen(colon + 1) });
                char *t = pt_arena_alloc(cf->arena, text.len + 1);
                if (t == NULL)
                    return PT_ERROR;
                memcpy(t, text.p, text.len);
                t[text.len] = '\0';
                /* The rule a rendered value meets (DEL included). */
                if (!pt_headers_value_ok((pt_str_t) { t, text.len })) {
                    pt_conf_error(cf, s, "%s: the value of \"%.*s\" holds a control "
                                  "character", what, (int) name.len, name.p);
                    return PT_ERROR;
                }
                if (strchr(t, '$') == NULL)     /* no variables: nothing to render */
                    hs->ops[op][k].literal = (pt_str_t) { t, text.len };
                else if ((hs->ops[op][k].value = pt_var_compile(cf, s, t)) == NULL)
                    return PT_ERROR;
            }
        }
    }
    return PT_OK;
}

static int pt_headers_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                               const pt_directive_t *d)
{
    pt_headers_set_t *hs = pt_arena_calloc(cf->arena, sizeof(*hs));
    pt_conf_target_t t = { pt_headers_members, hs };

    if (hs == NULL)
        return PT_ERROR;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"%s\" is a group { set = [ ... ]; remove = [ ... ]; }", d->name);
        return PT_ERROR;
    }
    pt_conf_unset(pt_headers_members, PT_SCOPE_ROUTE, hs);
    if (pt_conf_walk(cf, s, PT_SCOPE_ROUTE, &t, 1, NULL) != PT_OK
        || pt_headers_compile(cf, s, hs, strcmp(d->name, "request_headers") == 0) != PT_OK)
        return PT_ERROR;
    *(pt_headers_set_t **) field = hs;
    return PT_OK;
}

static void pt_headers_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                 int indent)
{
    const pt_headers_set_t *hs = *(pt_headers_set_t *const *) field;

    fputs("{\n", out);
    pt_conf_dump(out, pt_headers_members, PT_SCOPE_ROUTE, hs, indent + 1);
    pt_conf_indent(out, indent);
    fputc('}', out);
}

/* The rendered value of op for r, or PT_STR_NULL (logged) when it is not a
 * valid field value: the field is then left out. */
static pt_str_t pt_headers_render(pt_request_t *r, const pt_headers_op_t *op, bool request)
{
    if (op->value == NULL)
        return op->literal;     /* checked at load */
    pt_str_t v = pt_var_render(op->value, r, PT_VAR_RAW, false, 0);

    if (v.len > PT_HEADERS_VALUE_MAX) {
        pt_log(PT_LOG_WARN, "route %s: %s field \"%.*s\" dropped: its value is longer than "
               "%d bytes", r->route->name, request ? "request" : "response",
               (int) op->name.len, op->name.p, PT_HEADERS_VALUE_MAX);
        return PT_STR_NULL;
    }
    if (!pt_headers_value_ok(v)) {
        pt_log(PT_LOG_WARN, "route %s: %s field \"%.*s\" dropped: its value holds a control "
               "character", r->route->name, request ? "request" : "response",
               (int) op->name.len, op->name.p);
        return PT_STR_NULL;
    }
    return v;
}

/* Hide every client field called name from the upstream. */
static void pt_headers_hide(pt_request_t *r, pt_str_t name)
{
    for (unsigned i = 0; i < r->head.nfields; i++)
        if (pt_str_caseeq(r->head.fields[i].name, name))
            r->head.fields[i].flags |= PT_FIELD_NOFORWARD;
}

/* "old, new" for append: every forwarded field of that name joined. */
static pt_str_t pt_headers_join_request(pt_request_t *r, pt_str_t name, pt_str_t v)
{
    size_t len = v.len;

    for (unsigned i = 0; i < r->head.nfields; i++) {
        const pt_http_field_t *f = &r->head.fields[i];
        if (!(f->flags & PT_FIELD_NOFORWARD) && pt_str_caseeq(f->name, name))
            len += f->value.len + 2;
    }
    char *out = pt_arena_alloc(r->arena, len + 1), *p = out;
    if (out == NULL)
        return PT_STR_NULL;
    for (unsigned i = 0; i < r->head.nfields; i++) {
        pt_http_field_t *f = &r->head.fields[i];
        if ((f->flags & PT_FIELD_NOFORWARD) || !pt_str_caseeq(f->name, name))
            continue;
        memcpy(p, f->value.p, f->value.len);
        p += f->value.len;
        *p++ = ',';
        *p++ = ' ';
        f->flags |= PT_FIELD_NOFORWARD;
    }
    memcpy(p, v.p, v.len);
    return (pt_str_t) { out, len };
}

static int pt_headers_request(pt_request_t *r)
{
    const pt_headers_conf_t *hc = pt_route_mod_conf(r->route, pt_headers_module);
    const pt_headers_set_t *hs = hc->request;

    if (hs == NULL)
        return PT_DECLINED;
    for (size_t k = 0; k < hs->nops[PT_HEADERS_REMOVE]; k++)
        pt_headers_hide(r, hs->ops[PT_HEADERS_REMOVE][k].name);
    for (int op = PT_HEADERS_SET; op < PT_HEADERS_OPS; op++) {
        for (size_t k = 0; k < hs->nops[op]; k++) {
            const pt_headers_op_t *o = &hs->ops[op][k];
            pt_str_t v = pt_headers_render(r, o, true);
            if (op == PT_HEADERS_SET)
                pt_headers_hide(r, o->name);    /* set: replaced even by nothing */
            if (v.p == NULL || (v.len == 0 && op != PT_HEADERS_ADD))
                continue;
            if (op == PT_HEADERS_APPEND && (v = pt_headers_join_request(r, o->name, v)).p == NULL)
                return 500;
            if (pt_request_field_add(r, o->name, v) != PT_OK)
                return 500;
        }
    }
    return PT_DECLINED;
}

/* Every response field called name joined, then v: one line for append. */
static pt_str_t pt_headers_join_response(pt_request_t *r, pt_response_t *resp, pt_str_t name,
                                         pt_str_t v)
{
    size_t len = v.len;

    for (unsigned i = 0; i < resp->nfields; i++)
        if (pt_str_caseeq(resp->fields[i].name, name) && resp->fields[i].value.len)
            len += resp->fields[i].value.len + 2;
    char *out = pt_arena_alloc(r->arena, len + 1), *p = out;
    if (out == NULL)
        return PT_STR_NULL;
    for (unsigned i = 0; i < resp->nfields; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        if (!pt_str_caseeq(f->name, name) || f->value.len == 0)
            continue;
        memcpy(p, f->value.p, f->value.len);
        p += f->value.len;
        *p++ = ',';
        *p++ = ' ';
    }
    memcpy(p, v.p, v.len);
    return (pt_str_t) { out, len };
}

static int pt_headers_response(pt_request_t *r, pt_response_t *resp)
{
    const pt_headers_conf_t *hc = pt_route_mod_conf(r->route, pt_headers_module);
    const pt_headers_set_t *hs = hc->response;

    for (size_t k = 0; k < hs->nops[PT_HEADERS_REMOVE]; k++)
        pt_response_remove(resp, hs->ops[PT_HEADERS_REMOVE][k].name);
    for (int op = PT_HEADERS_SET; op < PT_HEADERS_OPS; op++) {
        for (size_t k = 0; k < hs->nops[op]; k++) {
            const pt_headers_op_t *o = &hs->ops[op][k];
            pt_str_t v = pt_headers_render(r, o, false);
            if (v.p == NULL) {
                if (op == PT_HEADERS_SET)
                    pt_response_remove(resp, o->name);
                continue;
            }
            if (op == PT_HEADERS_SET) {
                if (v.len == 0)
                    pt_response_remove(resp, o->name);
                else if (pt_response_set(r, resp, o->name, v) != PT_OK)
                    return 500;
                continue;
            }
            if (op == PT_HEADERS_APPEND) {
                if (v.len == 0)
                    continue;
                if ((v = pt_headers_join_response(r, resp, o->name, v)).p == NULL
                    || pt_response_set(r, resp, o->name, v) != PT_OK)
                    return 500;
                continue;
            }
            if (pt_response_add(r, resp, o->name, v) != PT_OK)
                return 500;
        }
    }
    return PT_OK;
}

static int pt_headers_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                 void *rconf, const void *dconf)
{
    const pt_headers_conf_t *hc = rconf;

    if (hc->request == NULL)
        pt_module_phase_skip(route, &pt_headers_module);
    if (hc->response == NULL)
        return PT_OK;
    return pt_filter_add_header(cf, route, &pt_headers_module, pt_headers_response);
}

pt_module_t pt_headers_module = {
    .name = "headers",
    .directives = pt_headers_directives,
    .route_conf_size = sizeof(pt_headers_conf_t),
    .init_route = pt_headers_init_route,
    .phase = {
        [PT_PHASE_PRE_CONTENT] = pt_headers_request,
    },
};
