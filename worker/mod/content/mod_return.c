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
    unsigned status;
    const char *content_type;
    pt_var_tpl_t *body;
    pt_var_tpl_t *location;
    const char *headers;        /* "Name: value\r\n" lines */
    size_t headers_len;
    const char *body_text;      /* body, location and headers as written, for -T */
    const char *location_text;
    const char **header_list;
} pt_return_t;

typedef struct {
    pt_return_t *ret;
} pt_return_conf_t;

static int pt_return_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d);
static void pt_return_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                int indent);
static int pt_return_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                void *rconf, const void *dconf);
static int pt_return_content(pt_request_t *r);

static const pt_directive_t pt_return_directives[] = {
    { "return", PT_CONF_CUSTOM, PT_SCOPE_HANDLER, offsetof(pt_return_conf_t, ret), NULL, NULL,
      pt_return_conf_set, pt_return_conf_dump, "a fixed response" },
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

static int pt_return_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d)
{
    pt_return_t *ret = pt_arena_calloc(cf->arena, sizeof(*ret));
    int64_t v;

    if (ret == NULL)
        return PT_ERROR;
    if (config_setting_type(s) == CONFIG_TYPE_INT) {
        if (pt_conf_get_uint(cf, s, 200, 599, &v) != PT_OK)
            return PT_ERROR;
        ret->status = (unsigned) v;
        *(pt_return_t **) field = ret;
        return PT_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"return\" is a status or a group { status = ...; body = ...; }");
        return PT_ERROR;
    }
    ret->status = 200;
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned) i);
        const char *name = config_setting_name(m), *str;
        if (strcmp(name, "status") == 0) {
            if (pt_conf_get_uint(cf, m, 200, 599, &v) != PT_OK)
                return PT_ERROR;
            ret->status = (unsigned) v;
        } else if (strcmp(name, "body") == 0) {
            if ((str = pt_conf_get_string(cf, m)) == NULL
                || (ret->body = pt_var_compile(cf, m, str)) == NULL)
                return PT_ERROR;
            ret->body_text = str;
        } else if (strcmp(name, "location") == 0) {
            if ((str = pt_conf_get_string(cf, m)) == NULL
                || (ret->location = pt_var_compile(cf, m, str)) == NULL)
                return PT_ERROR;
            ret->location_text = str;
        } else if (strcmp(name, "content_type") == 0) {
            if ((ret->content_type = pt_conf_get_string(cf, m)) == NULL)
                return PT_ERROR;
        } else if (strcmp(name, "headers") == 0) {
            size_t n, len = 0;
            const char **h = pt_conf_get_strings(cf, m, &n);
            if (h == NULL)
                return PT_ERROR;
            for (size_t k = 0; k < n; k++) {
                if (!pt_return_header_valid(h[k])) {
                    pt_conf_error(cf, m, "invalid header line \"%s\" (want \"Name: value\"; "
                                  "not a framing field)", h[k]);
                    return PT_ERROR;
                }
                len += strlen(h[k]) + 2;
            }
            char *all = pt_arena_alloc(cf->arena, len + 1);
            if (all == NULL)
                return PT_ERROR;
            ret->headers = all;
            ret->header_list = h;
            for (size_t k = 0; k < n; k++)
                all += sprintf(all, "%s\r\n", h[k]);
            ret->headers_len = len;
        } else {
            pt_conf_error(cf, m, "unknown setting \"%s\" in return", name);
            return PT_ERROR;
        }
    }
    if (ret->location && !(ret->status >= 300 && ret->status < 400)) {
        pt_conf_error(cf, s, "return: \"location\" goes with a 3xx status");
        return PT_ERROR;
    }
    if (ret->body && (ret->status == 204 || ret->status == 304)) {
        pt_conf_error(cf, s, "return: a %u response has no body", ret->status);
        return PT_ERROR;
    }
    *(pt_return_t **) field = ret;
    return PT_OK;
}

static void pt_return_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                int indent)
{
    const pt_return_t *ret = *(pt_return_t *const *) field;

    const char *const strs[][2] = {
        { "body", ret->body_text }, { "location", ret->location_text },
        { "content_type", ret->content_type },
    };

    fprintf(out, "{ status = %u;", ret->status);
    for (size_t i = 0; i < pt_countof(strs); i++) {
        if (strs[i][1] == NULL)
            continue;
        fprintf(out, " %s = ", strs[i][0]);
        pt_conf_print_string(out, strs[i][1]);
        fputc(';', out);
    }
    if (ret->header_list) {
        fputs(" headers = [", out);
        for (const char **h = ret->header_list; *h; h++) {
            fputs(h == ret->header_list ? " " : ", ", out);
            pt_conf_print_string(out, *h);
        }
        fputs(" ];", out);
    }
    fputs(" }", out);
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
    pt_str_t body = ret->body ? pt_var_render(ret->body, r, PT_VAR_RAW, false, 0) : PT_STR_NULL;
    pt_str_t extra = { ret->headers, ret->headers_len };

    if (ret->location) {
        pt_str_t loc = pt_var_render(ret->location, r, PT_VAR_RAW, false, 0);
        /* A value from the request (Host, target) must not end the line. */
        for (size_t i = 0; i < loc.len; i++)
            if ((unsigned char) loc.p[i] < 0x20 || loc.p[i] == 0x7f)
                return 400;
        char *h = pt_arena_sprintf(r->arena, "Location: %.*s\r\n%.*s", (int) loc.len, loc.p,
                                   (int) extra.len, extra.p ? extra.p : "");
        if (h == NULL)
            return 500;
        extra = (pt_str_t) { h, strlen(h) };
    }
    const char *type = ret->content_type;
    if (type == NULL && body.len)
        type = "text/plain; charset=utf-8";
    pt_response_send(r, ret->status, type, extra, body.p, body.len);
    return PT_OK;
}
