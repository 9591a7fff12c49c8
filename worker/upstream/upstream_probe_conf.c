/*
 * upstream_probe_conf.c: health_check = { ... } of an upstream (see
 * upstream_probe.h), parsed in the master at load time.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/upstream/upstream_probe.h"

#define PT_PROBE_FIELD(f)   offsetof(pt_upstream_probe_conf_t, f)

static int pt_probe_conf_set_statuses(pt_conf_ctx_t *cf, const config_setting_t *s,
                                      void *field, const pt_directive_t *d);
static void pt_probe_conf_dump_statuses(FILE *out, const void *field, const pt_directive_t *d,
                                        int indent);

static const pt_conf_enum_t pt_probe_types[] = {
    { "http", PT_PROBE_HTTP }, { "tcp", PT_PROBE_TCP }, { NULL, 0 }
};
static const pt_conf_enum_t pt_probe_starts[] = {
    { "unknown", PT_PROBE_START_UNKNOWN }, { "down", PT_PROBE_START_DOWN }, { NULL, 0 }
};
static const pt_conf_bounds_t pt_probe_count_bounds = { 1, 1000 };
static const pt_conf_bounds_t pt_probe_jitter_bounds = { 0, INT64_C(3600000) };

static const pt_directive_t pt_upstream_probe_directives[] = {
    { "type", PT_CONF_ENUM, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(type), "\"http\"",
      pt_probe_types, NULL, NULL, "http (a request) or tcp (a connect)" },
    { "interval", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(interval), "\"5s\"",
      &pt_conf_positive, NULL, NULL, "time between two probes of a server" },
    { "timeout", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(timeout), "\"2s\"",
      &pt_conf_positive, NULL, NULL, "a probe not done by then failed" },
    { "jitter", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(jitter), "\"0s\"",
      &pt_probe_jitter_bounds, NULL, NULL, "random delay up to this added to each interval" },
    { "rise", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(rise), "2",
      &pt_probe_count_bounds, NULL, NULL, "passed probes in a row that turn a server up" },
    { "fall", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(fall), "3",
      &pt_probe_count_bounds, NULL, NULL, "failed probes in a row that turn a server down" },
    { "initial_state", PT_CONF_ENUM, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(initial_state),
      "\"unknown\"", pt_probe_starts, NULL, NULL,
      "a new server before its first probe: unknown (tried) or down" },
    { "method", PT_CONF_STRING, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(method), "\"GET\"", NULL,
      NULL, NULL, "method of an http probe" },
    { "path", PT_CONF_STRING, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(path), "\"/\"", NULL, NULL,
      NULL, "target of an http probe" },
    { "host", PT_CONF_STRING, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(host), NULL, NULL, NULL,
      NULL, "Host of an http probe" },
    { "expect_statuses", PT_CONF_CUSTOM, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(statuses), NULL,
      NULL, pt_probe_conf_set_statuses, pt_probe_conf_dump_statuses,
      "statuses that pass, e.g. [200, 204]" },
    { "expect_body", PT_CONF_STRING, PT_SCOPE_UPSTREAM, PT_PROBE_FIELD(body), NULL, NULL,
      NULL, NULL, "text the answer's body must contain" },
    PT_DIRECTIVE_END
};

static int pt_probe_conf_set_statuses(pt_conf_ctx_t *cf, const config_setting_t *s,
                                      void *field, const pt_directive_t *d)
{
    int type = config_setting_type(s);
    uint8_t *map;

    (void) d;
    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
        pt_conf_error(cf, s, "\"expect_statuses\" must be a list of statuses, e.g. [200]");
        return PT_ERROR;
    }
    if (config_setting_length(s) == 0) {
        pt_conf_error(cf, s, "\"expect_statuses\" is empty: no probe could pass");
        return PT_ERROR;
    }
    if ((map = pt_arena_calloc(cf->arena, 600 / 8)) == NULL)
        return PT_ERROR;
    for (int i = 0; i < config_setting_length(s); i++) {
        int64_t st;
        if (pt_conf_get_uint(cf, config_setting_get_elem(s, (unsigned) i), 200, 599, &st)
            != PT_OK)
            return PT_ERROR;
        map[st / 8] |= (uint8_t) (1u << (st % 8));
    }
    *(const uint8_t **) field = map;
    return PT_OK;
}

static void pt_probe_conf_dump_statuses(FILE *out, const void *field, const pt_directive_t *d,
                                        int indent)
{
    const uint8_t *map = *(const uint8_t *const *) field;
    bool first = true;

    (void) d;
    (void) indent;
    fputs("[", out);
    for (unsigned st = 200; map && st < 600; st++)
        if (map[st / 8] & (1u << (st % 8))) {
            fprintf(out, "%s%u", first ? " " : ", ", st);
            first = false;
        }
    fputs(first ? "]" : " ]", out);
}

/* What the probe sends must make a valid request line and Host. */
static int pt_probe_conf_check(pt_conf_ctx_t *cf, const config_setting_t *s,
                               const pt_upstream_probe_conf_t *c)
{
    if (c->timeout > c->interval) {
        pt_conf_error(cf, s, "health_check: timeout is longer than interval");
        return PT_ERROR;
    }
    for (const char *q = c->method; ; q++) {
        if (*q == '\0' && q > c->method)
            break;
        if (!pt_str_tchar[(unsigned char) *q]) {
            pt_conf_error(cf, s, "health_check: invalid method \"%s\"", c->method);
            return PT_ERROR;
        }
    }
    bool path_ok = c->path[0] == '/';
    for (const char *q = c->path; path_ok && *q; q++)
        path_ok = (unsigned char) *q > 0x20 && *q != 0x7f && *q != '#';
    if (!path_ok) {
        pt_conf_error(cf, s, "health_check: path \"%s\" is not an origin-form target "
                      "(\"/...\", no spaces)", c->path);
        return PT_ERROR;
    }
    for (const char *q = c->host; q && *q; q++) {
        if ((unsigned char) *q <= 0x20 || *q == 0x7f) {
            pt_conf_error(cf, s, "health_check: invalid host \"%s\"", c->host);
            return PT_ERROR;
        }
    }
    if (c->type == PT_PROBE_TCP && (c->statuses || c->body)) {
        pt_conf_error(cf, s, "health_check: expect_statuses and expect_body need "
                      "type = \"http\"");
        return PT_ERROR;
    }
    return PT_OK;
}

int pt_upstream_probe_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                               const pt_directive_t *d)
{
    pt_upstream_probe_conf_t *c;
    pt_conf_target_t t;

    (void) d;
    if (config_setting_type(s) == CONFIG_TYPE_BOOL && !config_setting_get_bool(s))
        return PT_OK;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL && config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"health_check\" is true, false or a group { ... }");
        return PT_ERROR;
    }
    if ((c = pt_arena_calloc(cf->arena, sizeof(*c))) == NULL)
        return PT_ERROR;
    t = (pt_conf_target_t) { pt_upstream_probe_directives, c };
    pt_conf_unset(pt_upstream_probe_directives, PT_SCOPE_UPSTREAM, c);
    if ((config_setting_type(s) == CONFIG_TYPE_GROUP
         && pt_conf_walk(cf, s, PT_SCOPE_UPSTREAM, &t, 1, NULL) != PT_OK)
        || pt_conf_defaults(cf, pt_upstream_probe_directives, PT_SCOPE_UPSTREAM, c) != PT_OK
        || pt_probe_conf_check(cf, s, c) != PT_OK)
        return PT_ERROR;
    *(pt_upstream_probe_conf_t **) field = c;
    return PT_OK;
}

void pt_upstream_probe_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                 int indent)
{
    const pt_upstream_probe_conf_t *c = *(pt_upstream_probe_conf_t *const *) field;

    (void) d;
    fputs("{\n", out);
    pt_conf_dump(out, pt_upstream_probe_directives, PT_SCOPE_UPSTREAM, c, indent + 1);
    pt_conf_indent(out, indent);
    fputc('}', out);
}

bool pt_upstream_probe_status_ok(const pt_upstream_probe_conf_t *c, unsigned status)
{
    if (status >= 600)
        return false;
    if (c->statuses == NULL)
        return status >= 200 && status < 400;
    return (c->statuses[status / 8] & (1u << (status % 8))) != 0;
}
