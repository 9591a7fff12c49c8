/*
 * route_conf.c: route entries: what they match, how they rewrite the
 * forwarded path, and the per-request settings a route inherits from
 * defaults { }.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/core/conf.h"
#include "worker/http/http_error.h"
#include "worker/http/http_parse.h"
#include "worker/core/module.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <ctype.h>

#define PT_ROUTE_FIELD(f)   offsetof(pt_route_t, f)
#define PT_RCONF_FIELD(f)   offsetof(pt_route_conf_t, f)

static int pt_route_conf_check_host(pt_conf_ctx_t *cf, const config_setting_t *s, char *h);
static int pt_route_conf_check_method(pt_conf_ctx_t *cf, const config_setting_t *s, char *m);
static int pt_route_conf_set_path(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                  const pt_directive_t *d);
static int pt_route_conf_set_headers(pt_conf_ctx_t *cf, const config_setting_t *s,
                                     void *field, const pt_directive_t *d);
static int pt_route_conf_set_listen(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                    const pt_directive_t *d);

static const pt_conf_bounds_t pt_route_body_bounds = { 0, INT64_MAX };
static const pt_conf_strings_arg_t pt_route_hosts_arg = { NULL, pt_route_conf_check_host };
static const pt_conf_strings_arg_t pt_route_methods_arg = {
    "\"methods\" must name at least one method", pt_route_conf_check_method
};

/* What a route entry matches and how it rewrites; only in routes ( ). The
 * path rows share one field, so at most one of them may be given. */
static const pt_conf_enum_t pt_route_rewrite_query_names[] = {
    { "append", PT_REWRITE_QUERY_APPEND }, { "replace", PT_REWRITE_QUERY_REPLACE }, { NULL, 0 }
};

static const pt_directive_t pt_route_match_directives[] = {
    { "name", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(name), NULL, NULL, NULL, NULL,
      "name shown in logs" },
    { "host", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(hosts), NULL,
      &pt_route_hosts_arg, NULL, NULL, "host names, exact or *.suffix" },
    { "path", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(path), NULL,
      (void *) (intptr_t) PT_PATH_PREFIX, pt_route_conf_set_path, NULL, "path prefix" },
    { "path_exact", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(path), NULL,
      (void *) (intptr_t) PT_PATH_EXACT, pt_route_conf_set_path, NULL, "exact path" },
    { "path_regex", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(path), NULL,
      (void *) (intptr_t) PT_PATH_REGEX, pt_route_conf_set_path, NULL, "PCRE2 regex" },
    { "methods", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(method_list), NULL,
      &pt_route_methods_arg, NULL, NULL, "allowed methods" },
    { "headers", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(headers), NULL, NULL,
      pt_route_conf_set_headers, NULL, "required request headers" },
    { "listen", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(listeners), NULL, NULL,
      pt_route_conf_set_listen, NULL, "listener names" },
    { "strip_prefix", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(strip_prefix), "false",
      NULL, NULL, NULL, "remove the matched prefix" },
    { "replace_prefix", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(replace_prefix), NULL,
      NULL, NULL, NULL, "replace the matched prefix" },
    { "rewrite", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(rewrite), NULL, NULL, NULL,
      NULL, "new path from regex captures" },
    { "rewrite_query", PT_CONF_ENUM, PT_SCOPE_ROUTE, PT_ROUTE_FIELD(rewrite_query),
      "\"append\"", pt_route_rewrite_query_names, NULL, NULL,
      "the client's query after a rewrite that has one: appended with &, or dropped" },
    PT_DIRECTIVE_END
};

const pt_directive_t pt_route_directives[] = {
    { "client_max_body_size", PT_CONF_SIZE, PT_SCOPE_ROUTE,
      PT_RCONF_FIELD(client_max_body_size), "\"1M\"", &pt_route_body_bounds, NULL, NULL,
      "largest request body" },
    { "server_header", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_RCONF_FIELD(server_header),
      "\"portico\"", NULL, NULL, NULL, "Server on gateway-made responses" },
    { "errors", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, PT_RCONF_FIELD(errors), NULL, NULL,
      pt_http_error_conf_set, pt_http_error_conf_dump, "custom error responses" },
    PT_DIRECTIVE_END
};

static pt_route_t *pt_route_of(void *field, size_t offset)
{
    return (pt_route_t *) (void *) ((char *) field - offset);
}

/* A host pattern: lowercase letters, digits, '-', '_', '.', optionally
 * starting with "*." for any subdomain, or an IPv6 literal in brackets.
 * No port: the router compares host names, whatever port was asked for. */
static bool pt_route_host_valid(const char *h)
{
    size_t n = strlen(h);

    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return false;
        for (size_t i = 1; i < n - 1; i++)
            if (!isxdigit((unsigned char) h[i]) && h[i] != ':' && h[i] != '.')
                return false;
        return true;
    }
    if (h[0] == '*') {
        if (h[1] != '.' || h[2] == '\0')
            return false;
        h += 2;
    }
    if (*h == '\0')
        return false;
    for (; *h; h++) {
        unsigned char c = (unsigned char) *h;
        if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && !strchr("-._", c))
            return false;
    }
    return true;
}

/* Host names compare in lower case; a pattern is checked once, here. */
static int pt_route_conf_check_host(pt_conf_ctx_t *cf, const config_setting_t *s, char *h)
{
    for (char *p = h; *p; p++)
        *p = (char) pt_str_lower((unsigned char) *p);
    if (pt_route_host_valid(h))
        return PT_OK;
    pt_conf_error(cf, s, "invalid host \"%s\" (a name, \"*.\" and a name, or an address; "
                  "without a port)", h);
    return PT_ERROR;
}

static int pt_route_conf_set_path(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                  const pt_directive_t *d)
{
    pt_route_t *r = pt_route_of(field, PT_ROUTE_FIELD(path));
    const char *v = pt_conf_get_string(cf, s);

    if (v == NULL)
        return PT_ERROR;
    if (r->path != NULL) {
        pt_conf_error(cf, s, "a route takes one of path, path_exact and path_regex");
        return PT_ERROR;
    }
    r->path_kind = (int) (intptr_t) d->arg;
    r->path = v;
    r->path_len = strlen(v);
    if (r->path_kind != PT_PATH_REGEX) {
        if (v[0] != '/') {
            pt_conf_error(cf, s, "\"%s\" must start with \"/\"", d->name);
            return PT_ERROR;
        }
        for (const char *p = v; *p; p++) {
            if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#') {
                pt_conf_error(cf, s, "\"%s\" has a character not allowed in a path",
                              d->name);
                return PT_ERROR;
            }
        }
        return PT_OK;
    }
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR) v, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        pt_conf_error(cf, s, "path_regex: %s at offset %zu", (char *) msg, (size_t) off);
        return PT_ERROR;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);     /* best effort: the interpreter also works */
    r->regex = re;
    return PT_OK;
}

static int pt_route_conf_check_method(pt_conf_ctx_t *cf, const config_setting_t *s, char *m)
{
    for (const char *p = m; *p; p++) {
        if (!pt_str_tchar[(unsigned char) *p]) {
            pt_conf_error(cf, s, "invalid method \"%s\"", m);
            return PT_ERROR;
        }
    }
    if (*m == '\0') {
        pt_conf_error(cf, s, "empty method name");
        return PT_ERROR;
    }
    return PT_OK;
}

/* The methods bits the router tests, and the names outside the
 * well-known set it compares, from the list as written. */
static int pt_route_conf_methods(pt_conf_ctx_t *cf, pt_route_t *r)
{
    size_t n = pt_conf_strings_count(r->method_list), nother = 0;
    const char **other = pt_arena_calloc(cf->arena, (n + 1) * sizeof(*other));

    if (other == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        const char *m = r->method_list[i];
        bool known = false;
        for (unsigned id = 1; id <= PT_METHOD_PATCH; id++) {
            pt_str_t name = pt_http_method_name(id);
            if (name.len == strlen(m) && memcmp(name.p, m, name.len) == 0) {
                r->methods |= 1u << id;
                known = true;
            }
        }
        if (!known) {
            /* Methods are case-sensitive (RFC 9110 9.1): "get" is not GET. */
            other[nother++] = m;
            r->methods |= 1u << PT_METHOD_OTHER;
        }
    }
    r->method_names = other;
    return PT_OK;
}

static int pt_route_conf_set_headers(pt_conf_ctx_t *cf, const config_setting_t *s,
                                     void *field, const pt_directive_t *d)
{
    pt_route_t *r = pt_route_of(field, PT_ROUTE_FIELD(headers));

    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"headers\" must be a group such as { X-Env = \"canary\"; }");
        return PT_ERROR;
    }
    int n = config_setting_length(s);
    pt_route_header_t *h = pt_arena_calloc(cf->arena, (size_t) (n ? n : 1) * sizeof(*h));
    if (h == NULL)
        return PT_ERROR;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        const char *name = config_setting_name(e);
        char *lname = pt_arena_strndup(cf->arena, name, strlen(name));
        if (lname == NULL)
            return PT_ERROR;
        for (char *p = lname; *p; p++)
            *p = (char) pt_str_lower((unsigned char) *p);
        h[i].name = lname;
        if (config_setting_type(e) == CONFIG_TYPE_BOOL) {
            h[i].negate = !config_setting_get_bool(e);
        } else if ((h[i].value = pt_conf_get_string(cf, e)) == NULL) {
            return PT_ERROR;
        }
    }
    r->headers = h;
    r->nheaders = (size_t) n;
    return PT_OK;
}

static int pt_route_conf_set_listen(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                    const pt_directive_t *d)
{
    pt_route_t *r = pt_route_of(field, PT_ROUTE_FIELD(listeners));
    pt_conf_t *conf = cf->data;
    size_t n;
    const char **v = pt_conf_get_strings(cf, s, &n);

    if (v == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < conf->nlisteners; k++)
            if (strcmp(conf->listeners[k].name, v[i]) == 0)
                break;
        if (k == conf->nlisteners) {
            pt_conf_error(cf, s, "no listener named \"%s\"", v[i]);
            return PT_ERROR;
        }
        r->listeners |= UINT64_C(1) << k;
    }
    return PT_OK;
}

size_t pt_conf_module_targets(pt_conf_t *conf, unsigned scope, void **confs,
                              pt_conf_target_t *targets, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < pt_nmodules && n < max; i++) {
        const pt_module_t *m = pt_modules[i];
        if (m->directives == NULL || confs[m->index] == NULL)
            continue;
        targets[n++] = (pt_conf_target_t) { m->directives, confs[m->index] };
    }
    return n;
}

int pt_route_conf_parse(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                        pt_route_t *r)
{
    pt_conf_target_t targets[2 + PT_MODULES_MAX];
    size_t n = 0;

    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "each route must be a group { ... }");
        return PT_ERROR;
    }
    r->line = config_setting_source_line(s);
    pt_conf_unset(pt_route_match_directives, PT_SCOPE_ROUTE, r);
    r->hosts = NULL;
    r->listeners = 0;
    pt_conf_unset(pt_route_directives, PT_SCOPE_ROUTE, &r->c);
    for (size_t i = 0; i < pt_nmodules; i++) {
        const pt_module_t *m = pt_modules[i];
        if (m->route_conf_size == 0)
            continue;
        r->mod_conf[m->index] = pt_arena_calloc(cf->arena, m->route_conf_size);
        if (r->mod_conf[m->index] == NULL)
            return PT_ERROR;
        if (m->directives)
            pt_conf_unset(m->directives, PT_SCOPE_ROUTE_ENTRY, r->mod_conf[m->index]);
    }
    targets[n++] = (pt_conf_target_t) { pt_route_match_directives, r };
    targets[n++] = (pt_conf_target_t) { pt_route_directives, &r->c };
    n += pt_conf_module_targets(conf, PT_SCOPE_ROUTE, r->mod_conf, targets + n,
                                PT_MODULES_MAX);
    return pt_conf_walk(cf, s, PT_SCOPE_ROUTE_ENTRY, targets, n, NULL);
}

int pt_route_conf_finish(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *r,
                         const config_setting_t *s)
{
    int rc = PT_OK;

    if (r->name == NULL)
        r->name = pt_arena_sprintf(cf->arena, "route%u", r->index + 1);
    if (r->path == NULL) {
        r->path = "/";
        r->path_len = 1;
        r->path_kind = PT_PATH_PREFIX;
    }
    pt_conf_defaults(cf, pt_route_match_directives, PT_SCOPE_ROUTE, r);
    r->nhosts = pt_conf_strings_count(r->hosts);
    if (r->method_list && pt_route_conf_methods(cf, r) != PT_OK)
        rc = PT_ERROR;
    pt_conf_merge(pt_route_directives, PT_SCOPE_ROUTE, &r->c, &conf->route_defaults);

    if ((r->strip_prefix || r->replace_prefix) && r->path_kind != PT_PATH_PREFIX) {
        pt_conf_error(cf, s, "route \"%s\": strip_prefix and replace_prefix need a \"path\" "
                      "prefix", r->name);
        rc = PT_ERROR;
    }
    if (r->strip_prefix && r->replace_prefix) {
        pt_conf_error(cf, s, "route \"%s\": use strip_prefix or replace_prefix, not both",
                      r->name);
        rc = PT_ERROR;
    }
    if (r->replace_prefix && r->replace_prefix[0] != '/') {
        pt_conf_error(cf, s, "route \"%s\": replace_prefix must start with \"/\"", r->name);
        rc = PT_ERROR;
    }
    if (r->rewrite && r->path_kind != PT_PATH_REGEX) {
        pt_conf_error(cf, s, "route \"%s\": rewrite needs a path_regex", r->name);
        rc = PT_ERROR;
    }
    if (r->rewrite && r->rewrite[0] != '/') {
        pt_conf_error(cf, s, "route \"%s\": rewrite must produce a path starting with \"/\"",
                      r->name);
        rc = PT_ERROR;
    }
    if (r->rewrite) {
        const char *q = strchr(r->rewrite, '?');
        if (q && strchr(q + 1, '?')) {
            pt_conf_error(cf, s, "route \"%s\": rewrite has more than one \"?\"", r->name);
            rc = PT_ERROR;
        }
        for (const char *c = r->rewrite; *c; c++)
            if (*c == '#' || (unsigned char) *c <= ' ' || (unsigned char) *c >= 0x7f) {
                pt_conf_error(cf, s, "route \"%s\": rewrite may not hold a fragment, spaces "
                              "or control bytes", r->name);
                rc = PT_ERROR;
                break;
            }
    }
    for (size_t i = 0; i < pt_nmodules; i++) {
        const pt_module_t *m = pt_modules[i];
        /* Every module's rows inherit from defaults { } the way the core's
         * do, before its init_route sees them. */
        if (m->directives && r->mod_conf[m->index] && conf->mod_defaults[m->index])
            pt_conf_merge(m->directives, PT_SCOPE_ROUTE, r->mod_conf[m->index],
                          conf->mod_defaults[m->index]);
        if (m->init_route && m->init_route(cf, conf, r, r->mod_conf[m->index],
                                           conf->mod_defaults[m->index]) != PT_OK)
            rc = PT_ERROR;
    }
    if (rc == PT_OK && r->handler == NULL) {
        pt_conf_error(cf, s, "route \"%s\" has nothing to answer with: give it proxy, "
                      "return or echo", r->name);
        rc = PT_ERROR;
    }
    return rc;
}

void pt_route_conf_free(pt_route_t *r)
{
    if (r->regex)
        pcre2_code_free(r->regex);
    r->regex = NULL;
}

void pt_route_conf_dump(FILE *out, const pt_route_t *r, int indent)
{
    static const char *const kinds[] = { "path", "path_exact", "path_regex" };

    pt_conf_indent(out, indent);
    fputs("name = ", out);
    pt_conf_print_string(out, r->name);
    fputs(";\n", out);
    if (r->nhosts) {
        pt_conf_indent(out, indent);
        fputs("host = [", out);
        for (size_t i = 0; i < r->nhosts; i++) {
            fputs(i ? ", " : " ", out);
            pt_conf_print_string(out, r->hosts[i]);
        }
        fputs(" ];\n", out);
    }
    pt_conf_indent(out, indent);
    fprintf(out, "%s = ", kinds[r->path_kind]);
    pt_conf_print_string(out, r->path);
    fputs(";\n", out);
    if (r->methods) {
        pt_conf_indent(out, indent);
        fputs("methods = [", out);
        const char *sep = " ";
        for (unsigned id = 1; id <= PT_METHOD_PATCH; id++) {
            if (!(r->methods & (1u << id)))
                continue;
            pt_str_t m = pt_http_method_name(id);
            fprintf(out, "%s\"%.*s\"", sep, (int) m.len, m.p);
            sep = ", ";
        }
        for (const char **m = r->method_names; m && *m; m++) {
            fputs(sep, out);
            pt_conf_print_string(out, *m);
            sep = ", ";
        }
        fputs(" ];\n", out);
    }
    if (r->nheaders) {
        pt_conf_indent(out, indent);
        fputs("headers = {", out);
        for (size_t i = 0; i < r->nheaders; i++) {
            fprintf(out, " %s = ", r->headers[i].name);
            if (r->headers[i].value)
                pt_conf_print_string(out, r->headers[i].value);
            else
                fputs(r->headers[i].negate ? "false" : "true", out);
            fputc(';', out);
        }
        fputs(" };\n", out);
    }
    if (r->strip_prefix) {
        pt_conf_indent(out, indent);
        fputs("strip_prefix = true;\n", out);
    }
    if (r->replace_prefix) {
        pt_conf_indent(out, indent);
        fputs("replace_prefix = ", out);
        pt_conf_print_string(out, r->replace_prefix);
        fputs(";\n", out);
    }
    if (r->rewrite) {
        pt_conf_indent(out, indent);
        fputs("rewrite = ", out);
        pt_conf_print_string(out, r->rewrite);
        fputs(";\n", out);
    }
}
