/*
 * mod_hide_fields.c: response fields that would tell clients what runs
 * behind the gateway (Server, X-Powered-By, X-AspNet-Version ...) are
 * removed on the routes that list them:
 *
 *     defaults = { hide_fields = [ "Server", "X-Powered-By" ]; };
 *
 * A header filter, so it sees relayed and gateway-made responses alike.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/http/response.h"

typedef struct {
    const char **names;         /* STRINGS: UNSET NULL */
    pt_str_t *hide;             /* compiled by init_route */
    size_t nhide;
} pt_hide_fields_conf_t;

extern pt_module_t pt_hide_fields_module;

static int pt_hide_fields_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    if (*item == '\0') {
        pt_conf_error(cf, s, "hide_fields: an empty field name");
        return PT_ERROR;
    }
    for (const char *p = item; *p; p++)
        if (!pt_str_tchar[(unsigned char) *p]) {
            pt_conf_error(cf, s, "hide_fields: \"%s\" is not a field name", item);
            return PT_ERROR;
        }
    return PT_OK;
}

static const pt_conf_strings_arg_t pt_hide_fields_arg = { NULL, pt_hide_fields_check };

static const pt_directive_t pt_hide_fields_directives[] = {
    { "hide_fields", PT_CONF_STRINGS, PT_SCOPE_ROUTE,
      offsetof(pt_hide_fields_conf_t, names), "[]", &pt_hide_fields_arg, NULL, NULL,
      "response fields removed before the client sees the response" },
    PT_DIRECTIVE_END
};

static int pt_hide_fields_filter(pt_request_t *r, pt_response_t *resp)
{
    const pt_hide_fields_conf_t *hc = pt_route_mod_conf(r->route, pt_hide_fields_module);

    for (size_t i = 0; i < hc->nhide; i++)
        pt_response_remove(resp, hc->hide[i]);
    return PT_OK;
}

static int pt_hide_fields_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                     void *rconf, const void *dconf)
{
    pt_hide_fields_conf_t *hc = rconf;

    for (const char **n = hc->names; n && *n; n++)
        hc->nhide++;
    if (hc->nhide == 0)
        return PT_OK;
    if ((hc->hide = pt_arena_alloc(cf->arena, hc->nhide * sizeof(*hc->hide))) == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < hc->nhide; i++)
        hc->hide[i] = (pt_str_t) { hc->names[i], strlen(hc->names[i]) };
    return pt_filter_add_header(cf, route, &pt_hide_fields_module, pt_hide_fields_filter);
}

pt_module_t pt_hide_fields_module = {
    .name = "hide_fields",
    .directives = pt_hide_fields_directives,
    .route_conf_size = sizeof(pt_hide_fields_conf_t),
    .init_route = pt_hide_fields_init_route,
};
