/*
 * mod_return.c: answer with a fixed response: health endpoints,
 * maintenance pages, redirects.
 *
 *   return = { status = 301; location = "https://$host$request_uri"; };
 *   return = { status = 200; body = "ok\n"; content_type = "text/plain"; };
 *   return = 204;
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/core/var.h"

typedef struct {
    int64_t status;
    const char *content_type;
    pt_conf_compiled_t body;        /* templates (var.h) */
    pt_conf_compiled_t location;
    const char **header_list;       /* as written */
    pt_http_field_t *fields;        /* the headers, split at load time */
    unsigned nfields;
} pt_return_t;

typedef struct {
    pt_return_t *ret;
} pt_return_conf_t;

#define PT_RETURN_FIELD(f)  offsetof(pt_return_t, f)

static int pt_return_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d);
static void pt_return_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                int indent);
static int pt_return_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                void *rconf, const void *dconf);
static int pt_return_content(pt_request_t *r);
static int pt_return_header_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *h);

static const pt_directive_t pt_return_directives[] = {
    { "return", PT_CONF_CUSTOM, PT_SCOPE_HANDLER, offsetof(pt_return_conf_t, ret), NULL, NULL,
      pt_return_conf_set, pt_return_conf_dump, "a fixed response" },
    PT_DIRECTIVE_END
};

static const pt_conf_bounds_t pt_return_status_bounds = { 200, 599 };
static const pt_conf_strings_arg_t pt_return_headers_arg = { NULL, pt_return_header_check };

/* The members of return = { }; walked by pt_return_conf_set only. */
static const pt_directive_t pt_return_fields[] = {
    { "status", PT_CONF_UINT, PT_SCOPE_ROUTE, PT_RETURN_FIELD(status), "200",
      &pt_return_status_bounds, NULL, NULL, "the status" },
    { "body", PT_CONF_COMPILED, PT_SCOPE_ROUTE, PT_RETURN_FIELD(body), NULL, &pt_var_compiler,
      NULL, NULL, "the body, with variables" },
    { "location", PT_CONF_COMPILED, PT_SCOPE_ROUTE, PT_RETURN_FIELD(location), NULL,
      &pt_var_compiler, NULL, NULL, "Location of a redirect, with variables" },
    { "content_type", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_RETURN_FIELD(content_type), NULL,
      NULL, NULL, NULL, "Content-Type of the body" },
    { "headers", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_RETURN_FIELD(header_list), NULL,
      &pt_return_headers_arg, NULL, NULL, "extra header lines" },
    PT_DIRECTIVE_END
};

pt_module_t pt_return_module = {
    .name = "return",
    .directives = pt_return_directives,
    .route_conf_size = sizeof(pt_return_conf_t),
    .init_route = pt_return_init_route,
    .content = pt_return_content,
};

/* A header line must not smuggle a second line or an invalid name, nor
 * frame the message: portico writes Content-Length, Transfer-Encoding
 * and Connection itself, and a second copy would make two framings. */
static bool pt_return_header_valid(const char *h)
{
    static const char *const framing[] = { "content-length", "transfer-encoding",
                                           "connection" };
    const char *colon = strchr(h, ':');

    if (colon == NULL || colon == h)
        return false;
    for (size_t i = 0; i < sizeof(framing) / sizeof(framing[0]); i++)
        if (strlen(framing[i]) == (size_t) (colon - h)
            && strncasecmp(h, framing[i], (size_t) (colon - h)) == 0)
            return false;
    for (const char *p = h; p < colon; p++)
        if (!pt_str_tchar[(unsigned char) *p])
            return false;
    for (const char *p = colon + 1; *p; p++)
        if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

static int pt_return_header_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *h)
{
    if (pt_return_header_valid(h))
        return PT_OK;
    pt_conf_error(cf, s, "invalid header line \"%s\" (want \"Name: value\"; not a framing "
                  "field)", h);
    return PT_ERROR;
}

static int pt_return_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d)
{
    pt_return_t *ret = pt_arena_calloc(cf->arena, sizeof(*ret));
    pt_conf_target_t t = { pt_return_fields, ret };

    if (ret == NULL)
        return PT_ERROR;
    pt_conf_unset(pt_return_fields, PT_SCOPE_ROUTE, ret);
    if (config_setting_type(s) == CONFIG_TYPE_INT) {
        if (pt_conf_get_uint(cf, s, pt_return_status_bounds.min, pt_return_status_bounds.max,
                             &ret->status) != PT_OK)
            return PT_ERROR;
        *(pt_return_t **) field = ret;
        return PT_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"return\" is a status or a group { status = ...; body = ...; }");
        return PT_ERROR;
    }
    if (pt_conf_walk(cf, s, PT_SCOPE_ROUTE, &t, 1, NULL) != PT_OK
        || pt_conf_defaults(cf, pt_return_fields, PT_SCOPE_ROUTE, ret) != PT_OK)
        return PT_ERROR;
    if (ret->location.code && !(ret->status >= 300 && ret->status < 400)) {
        pt_conf_error(cf, s, "return: \"location\" goes with a 3xx status");
        return PT_ERROR;
    }
    if (ret->body.code && (ret->status == 204 || ret->status == 304)) {
        pt_conf_error(cf, s, "return: a %u response has no body", (unsigned) ret->status);
        return PT_ERROR;
    }
    size_t n = ret->header_list ? pt_conf_strings_count(ret->header_list) : 0;
    if (n) {
        if ((ret->fields = pt_arena_calloc(cf->arena, n * sizeof(*ret->fields))) == NULL)
            return PT_ERROR;
        for (size_t k = 0; k < n; k++) {
            const char *h = ret->header_list[k], *colon = strchr(h, ':');
            pt_str_t fname = { h, (size_t) (colon - h) };
            pt_str_t fvalue = pt_str_trim_ows((pt_str_t) { colon + 1, strlen(colon + 1) });
            ret->fields[k] = (pt_http_field_t) {
                fname, fvalue, (uint8_t) pt_http_hdr_id(fname.p, fname.len), 0 };
        }
        ret->nfields = (unsigned) n;
    }
    *(pt_return_t **) field = ret;
    return PT_OK;
}

static void pt_return_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                int indent)
{
    const pt_return_t *ret = *(pt_return_t *const *) field;

    fputs("{\n", out);
    pt_conf_dump(out, pt_return_fields, PT_SCOPE_ROUTE, ret, indent + 1);
    pt_conf_indent(out, indent);
    fputc('}', out);
}

static int pt_return_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                void *rconf, const void *dconf)
{
    pt_return_conf_t *rc = rconf;

    if (rc->ret == NULL)
        return PT_OK;
    if (route->handler) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give a route one of proxy, return "
                      "and echo", route->name, route->line);
        return PT_ERROR;
    }
    route->handler = &pt_return_module;
    return PT_OK;
}

static int pt_return_content(pt_request_t *r)
{
    const pt_return_t *ret = ((pt_return_conf_t *) r->route->mod_conf[pt_return_module.index])->ret;
    pt_str_t body = ret->body.code ? pt_var_render(ret->body.code, r, PT_VAR_RAW, false, 0)
                                   : PT_STR_NULL;
    const pt_http_field_t *fields = ret->fields;
    unsigned nfields = ret->nfields;

    if (ret->location.code) {
        pt_str_t loc = pt_var_render(ret->location.code, r, PT_VAR_RAW, false, 0);
        /* A value from the request (Host, target) must not end the line. */
        for (size_t i = 0; i < loc.len; i++)
            if ((unsigned char) loc.p[i] < 0x20 || loc.p[i] == 0x7f)
                return 400;
        /* Location first, then the configured headers. */
        pt_http_field_t *all = pt_arena_alloc(r->arena, (nfields + 1) * sizeof(*all));
        if (all == NULL)
            return 500;
        all[0] = (pt_http_field_t) { PT_STR("Location"), loc, PT_HDR_LOCATION, 0 };
        if (nfields)
            memcpy(all + 1, fields, nfields * sizeof(*all));
        fields = all;
        nfields++;
    }
    const char *type = ret->content_type;
    if (type == NULL && body.len)
        type = "text/plain; charset=utf-8";
    pt_response_send(r, (unsigned) ret->status, type, fields, nfields, body.p, body.len);
    return PT_OK;
}
