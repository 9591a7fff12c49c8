/*
 * mod_api_version.c: routes that serve one API version, and deprecation.
 *
 *     { path = "/"; proxy = "v2"; api_version = "2"; api_version_default = "1"; },
 *     { path = "/"; proxy = "v1"; api_version = "1"; api_version_default = "1";
 *       api_deprecation = "2025-01-01"; api_sunset = "2026-12-31";
 *       api_successor = "/v2/"; }
 *
 * A route with api_version matches only requests that name one of its
 * versions, read from the sources of api_version_from in order (the first
 * that names one wins), or that name none when api_version_default is one
 * of them. The route's match hook (route->match) is asked by the router
 * after the route's own path, method and header conditions, so the first
 * matching route wins as always.
 *
 * A deprecated version's responses carry Deprecation (RFC 9745: "@" Unix
 * seconds), Sunset (RFC 8594: an HTTP-date) and Link (RFC 8288) to the
 * successor (rel="successor-version") and the policy (rel="deprecation");
 * each use is counted, and logged at info at most once a second per route
 * and worker.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/core/metrics.h"
#include "worker/core/module.h"
#include "worker/core/var.h"
#include "worker/http/request.h"
#include "worker/http/response.h"
#include "worker/mod/access/version/version_parse.h"
#include "worker/router/router.h"

#include <time.h>

#define PT_API_SOURCES_MAX  8

enum { PT_API_FROM_PATH = 0, PT_API_FROM_HEADER, PT_API_FROM_ACCEPT, PT_API_FROM_QUERY };

typedef struct {
    int kind;
    pt_str_t name;              /* the header field, Accept parameter or query argument */
} pt_api_source_t;

typedef struct {
    const char **versions;      /* STRINGS: UNSET NULL */
    const char **from;
    const char *def;            /* STRING: UNSET NULL */
    const char *deprecation;
    const char *sunset;
    const char *successor;
    const char *policy;
    /* compiled */
    pt_api_source_t sources[PT_API_SOURCES_MAX];
    size_t nsources;
    pt_str_t deprecation_field, sunset_field, link_field;
    time_t last_log;            /* per worker: the second of the last use logged */
} pt_api_version_conf_t;

extern pt_module_t pt_api_version_module;

static int pt_api_version_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item);
static int pt_api_from_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item);
static const pt_conf_strings_arg_t pt_api_version_arg = { "api_version: an empty list",
                                                          pt_api_version_check };
static const pt_conf_strings_arg_t pt_api_from_arg = { "api_version_from: an empty list",
                                                       pt_api_from_check };

#define PT_API_FIELD(f)     offsetof(pt_api_version_conf_t, f)
static const pt_directive_t pt_api_version_directives[] = {
    { "api_version", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_API_FIELD(versions), NULL,
      &pt_api_version_arg, NULL, NULL, "the API versions the route serves" },
    { "api_version_from", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_API_FIELD(from),
      "[ \"path\", \"header:Accept-Version\", \"accept:version\", \"query:version\" ]",
      &pt_api_from_arg, NULL, NULL, "where a request names its version, in order" },
    { "api_version_default", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_API_FIELD(def), NULL, NULL,
      NULL, NULL, "the version of a request that names none" },
    { "api_deprecation", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_API_FIELD(deprecation), NULL,
      NULL, NULL, NULL, "when the route's version is (was) deprecated: a date" },
    { "api_sunset", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_API_FIELD(sunset), NULL, NULL, NULL,
      NULL, "when the route's version goes away: a date" },
    { "api_successor", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_API_FIELD(successor), NULL, NULL,
      NULL, NULL, "Link rel=\"successor-version\" of a deprecated version" },
    { "api_deprecation_link", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_API_FIELD(policy), NULL,
      NULL, NULL, NULL, "Link rel=\"deprecation\": the deprecation policy" },
    PT_DIRECTIVE_END
};

/* metrics: responses of deprecated versions by route (named at run time,
 * capped; past the cap "other") */
static unsigned pt_api_metric_deprecated;
static const char *const pt_api_metric_labels[] = { "route", NULL };

static const pt_metric_def_t pt_api_version_metrics[] = {
    { "portico_api_deprecated_requests_total", "responses of deprecated API versions, by "
      "route", PT_METRIC_COUNTER, NULL, 0, &pt_api_metric_deprecated, pt_api_metric_labels,
      NULL, 256, 0 },
    PT_METRIC_END
};

static int pt_api_version_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    if (!pt_version_valid((pt_str_t) { item, strlen(item) })) {
        pt_conf_error(cf, s, "api_version: \"%s\" is not a version (1 to %d letters, digits, "
                      "\".\", \"_\" or \"-\")", item, PT_VERSION_MAX);
        return PT_ERROR;
    }
    return PT_OK;
}

/* "path", "header:NAME", "accept" or "accept:PARAM", "query:NAME". */
static int pt_api_source_parse(const char *item, pt_api_source_t *src)
{
    const char *colon = strchr(item, ':');
    size_t klen = colon ? (size_t) (colon - item) : strlen(item);
    const char *name = colon ? colon + 1 : "";

    if (klen == 4 && strncmp(item, "path", 4) == 0 && colon == NULL)
        src->kind = PT_API_FROM_PATH;
    else if (klen == 6 && strncmp(item, "header", 6) == 0 && *name)
        src->kind = PT_API_FROM_HEADER;
    else if (klen == 6 && strncmp(item, "accept", 6) == 0)
        src->kind = PT_API_FROM_ACCEPT, name = *name ? name : "version";
    else if (klen == 5 && strncmp(item, "query", 5) == 0 && *name)
        src->kind = PT_API_FROM_QUERY;
    else
        return PT_ERROR;
    src->name = (pt_str_t) { name, strlen(name) };
    for (size_t i = 0; i < src->name.len; i++)
        if (!pt_str_tchar[(unsigned char) name[i]])
            return PT_ERROR;
    return PT_OK;
}

static int pt_api_from_check(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    pt_api_source_t src;

    if (pt_api_source_parse(item, &src) != PT_OK) {
        pt_conf_error(cf, s, "api_version_from: \"%s\" is not \"path\", \"header:NAME\", "
                      "\"accept\", \"accept:PARAM\" or \"query:NAME\"", item);
        return PT_ERROR;
    }
    return PT_OK;
}

/* The version a request names through the route's sources, else
 * PT_STR_NULL. buf: PT_VERSION_MAX bytes for an unescaped Accept value. */
static pt_str_t pt_api_version_of(const pt_api_version_conf_t *vc, pt_str_t path,
                                  pt_str_t query, const pt_http_field_t *fields,
                                  unsigned nfields, char *buf)
{
    for (size_t s = 0; s < vc->nsources; s++) {
        const pt_api_source_t *src = &vc->sources[s];
        pt_str_t v = PT_STR_NULL;
        switch (src->kind) {
        case PT_API_FROM_PATH:
            v = pt_version_from_path(path);
            break;
        case PT_API_FROM_QUERY:
            v = pt_version_from_query(query, src->name);
            break;
        case PT_API_FROM_HEADER:
        case PT_API_FROM_ACCEPT:
            for (unsigned i = 0; i < nfields && v.p == NULL; i++) {
                const pt_http_field_t *f = &fields[i];
                if (src->kind == PT_API_FROM_HEADER && pt_str_caseeq(f->name, src->name))
                    v = pt_version_valid(f->value) ? f->value : PT_STR_NULL;
                else if (src->kind == PT_API_FROM_ACCEPT && pt_str_caseeq_lit(f->name, "accept"))
                    v = pt_version_from_accept(f->value, src->name, buf);
            }
            break;
        }
        if (v.p)
            return v;
    }
    return vc->def ? (pt_str_t) { vc->def, strlen(vc->def) } : PT_STR_NULL;
}

static bool pt_api_version_serves(const pt_api_version_conf_t *vc, pt_str_t v)
{
    for (const char **s = vc->versions; v.p && *s; s++)
        if (strlen(*s) == v.len && memcmp(*s, v.p, v.len) == 0)
            return true;
    return false;
}

static bool pt_api_version_match(const pt_route_t *route, const pt_router_key_t *k)
{
    const pt_api_version_conf_t *vc = route->mod_conf[pt_api_version_module.index];
    char buf[PT_VERSION_MAX];

    return pt_api_version_serves(vc, pt_api_version_of(vc, k->path, k->query, k->fields,
                                                       k->nfields, buf));
}

/* n decimal digits at s (no sign, no blank: sscanf took both). */
static bool pt_api_digits(const char *s, size_t n, long long *out)
{
    long long v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return n > 0;
}

/* "@1735689600", "2025-01-01" or "2025-01-01T00:00:00Z" into Unix seconds;
 * a day the month does not have is an error (timegm would roll it over). */
static int pt_api_date(const char *s, time_t *out)
{
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    size_t len = strlen(s);
    long long y, mo, d, h = 0, mi = 0, sec = 0, at;

    if (s[0] == '@') {
        if (len > 14 || !pt_api_digits(s + 1, len - 1, &at) || at > (1ll << 40))
            return PT_ERROR;
        *out = (time_t) at;
        return PT_OK;
    }
    if ((len != 10 && len != 20) || s[4] != '-' || s[7] != '-' || !pt_api_digits(s, 4, &y)
        || !pt_api_digits(s + 5, 2, &mo) || !pt_api_digits(s + 8, 2, &d))
        return PT_ERROR;
    if (len == 20
        && (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z'
            || !pt_api_digits(s + 11, 2, &h) || !pt_api_digits(s + 14, 2, &mi)
            || !pt_api_digits(s + 17, 2, &sec)))
        return PT_ERROR;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]
        || (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60)
        return PT_ERROR;
    struct tm tm = { .tm_year = (int) y - 1900, .tm_mon = (int) mo - 1, .tm_mday = (int) d,
                     .tm_hour = (int) h, .tm_min = (int) mi, .tm_sec = (int) sec };
    *out = timegm(&tm);
    return PT_OK;
}

/* A URI-reference for Link: no blanks, controls, "<", ">" or quotes. */
static bool pt_api_link_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char) *s <= 0x20 || *s == 0x7f || *s == '<' || *s == '>' || *s == '"')
            return false;
    return true;
}

static pt_str_t pt_api_strdup(pt_conf_ctx_t *cf, const char *text)
{
    size_t n = strlen(text);
    char *p = pt_arena_alloc(cf->arena, n + 1);

    if (p)
        memcpy(p, text, n + 1);
    return (pt_str_t) { p, p ? n : 0 };
}

static int pt_api_version_filter(pt_request_t *r, pt_response_t *resp);

static int pt_api_version_deprecation(pt_conf_ctx_t *cf, pt_route_t *route,
                                      pt_api_version_conf_t *vc)
{
    char buf[1024];
    time_t t;

    if (vc->deprecation == NULL) {
        if (vc->sunset || vc->successor || vc->policy) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): api_sunset, api_successor and "
                          "api_deprecation_link go with api_deprecation", route->name,
                          route->line);
            return PT_ERROR;
        }
        return PT_OK;
    }
    if (pt_api_date(vc->deprecation, &t) != PT_OK) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): api_deprecation \"%s\" is not a date "
                      "(\"2025-01-01\", \"2025-01-01T12:00:00Z\" or \"@1735689600\")",
                      route->name, route->line, vc->deprecation);
        return PT_ERROR;
    }
    snprintf(buf, sizeof(buf), "@%lld", (long long) t);
    vc->deprecation_field = pt_api_strdup(cf, buf);
    if (vc->sunset) {
        time_t st;
        struct tm tm;
        if (pt_api_date(vc->sunset, &st) != PT_OK) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): api_sunset \"%s\" is not a date",
                          route->name, route->line, vc->sunset);
            return PT_ERROR;
        }
        if (st < t) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): api_sunset is before "
                          "api_deprecation (RFC 9745 5)", route->name, route->line);
            return PT_ERROR;
        }
        static const char wd[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char mn[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                        "Aug", "Sep", "Oct", "Nov", "Dec" };
        gmtime_r(&st, &tm);
        snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday],
                 tm.tm_mday, mn[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        vc->sunset_field = pt_api_strdup(cf, buf);
    }
    if ((vc->successor && !pt_api_link_ok(vc->successor))
        || (vc->policy && !pt_api_link_ok(vc->policy))) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): api_successor and "
                      "api_deprecation_link are URI references (no blanks, quotes, \"<\" or "
                      "\">\")", route->name, route->line);
        return PT_ERROR;
    }
    if (vc->successor || vc->policy) {
        if ((vc->successor ? strlen(vc->successor) : 0) + (vc->policy ? strlen(vc->policy) : 0)
            > sizeof(buf) - 64) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): the Link targets are too long",
                          route->name, route->line);
            return PT_ERROR;
        }
        int n = 0;
        if (vc->successor)
            n = snprintf(buf, sizeof(buf), "<%s>; rel=\"successor-version\"", vc->successor);
        if (vc->policy)
            snprintf(buf + n, sizeof(buf) - (size_t) n, "%s<%s>; rel=\"deprecation\"",
                     n ? ", " : "", vc->policy);
        vc->link_field = pt_api_strdup(cf, buf);
    }
    return pt_filter_add_header(cf, route, &pt_api_version_module, pt_api_version_filter);
}

static int pt_api_version_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                     void *rconf, const void *dconf)
{
    pt_api_version_conf_t *vc = rconf;

    pt_module_phase_skip(route, &pt_api_version_module);
    if (vc->versions == NULL) {
        if (vc->deprecation || vc->sunset || vc->successor || vc->policy) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): api_deprecation, api_sunset, "
                          "api_successor and api_deprecation_link need api_version",
                          route->name, route->line);
            return PT_ERROR;
        }
        return PT_OK;
    }
    if (vc->def && !pt_version_valid((pt_str_t) { vc->def, strlen(vc->def) })) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): api_version_default \"%s\" is not a "
                      "version", route->name, route->line, vc->def);
        return PT_ERROR;
    }
    for (const char **f = vc->from; f && *f; f++) {
        if (vc->nsources == PT_API_SOURCES_MAX) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): api_version_from has more than %d "
                          "sources", route->name, route->line, PT_API_SOURCES_MAX);
            return PT_ERROR;
        }
        (void) pt_api_source_parse(*f, &vc->sources[vc->nsources++]);  /* checked at set */
    }
    route->match = pt_api_version_match;
    return pt_api_version_deprecation(cf, route, vc);
}

static int pt_api_version_filter(pt_request_t *r, pt_response_t *resp)
{
    pt_api_version_conf_t *vc = pt_route_mod_conf(r->route, pt_api_version_module);

    if (pt_response_set(r, resp, PT_STR("Deprecation"), vc->deprecation_field) != PT_OK
        || (vc->sunset_field.len
            && pt_response_set(r, resp, PT_STR("Sunset"), vc->sunset_field) != PT_OK)
        || (vc->link_field.len
            && pt_response_add(r, resp, PT_STR("Link"), vc->link_field) != PT_OK))
        return 500;
    if (pt_metrics_live) {
        pt_str_t route = { r->route->name, strlen(r->route->name) };
        pt_metric_add(pt_metric_find_id(pt_api_metric_deprecated, &route), 1);
    }
    time_t now = time(NULL);
    if (now != vc->last_log) {
        vc->last_log = now;
        char buf[PT_VERSION_MAX];
        pt_str_t v = pt_api_version_of(vc, r->path, r->head.query, r->head.fields,
                                       r->head.nfields, buf);
        pt_log(PT_LOG_INFO, "route %s: deprecated API version %.*s used by %s (sunset %s)",
               r->route->name, (int) v.len, v.p, pt_request_client_ip(r),
               vc->sunset ? vc->sunset : "none");
    }
    return PT_OK;
}

/* $api_version: the version the request asked for on a versioned route
 * (or the route's default); empty elsewhere. */
static pt_str_t pt_api_version_var(pt_request_t *r, const void *data, char *buf)
{
    if (r->route == NULL)
        return PT_STR_NULL;
    const pt_api_version_conf_t *vc = pt_route_mod_conf(r->route, pt_api_version_module);
    if (vc->versions == NULL)
        return PT_STR_NULL;
    pt_str_t v = pt_api_version_of(vc, r->path, r->head.query, r->head.fields, r->head.nfields,
                                   buf);
    return v;
}

static const pt_var_def_t pt_api_version_vars[] = {
    { "api_version", pt_api_version_var, NULL, NULL },
    PT_VAR_DEF_END
};

pt_module_t pt_api_version_module = {
    .name = "api_version",
    .directives = pt_api_version_directives,
    .route_conf_size = sizeof(pt_api_version_conf_t),
    .init_route = pt_api_version_init_route,
    .metrics = pt_api_version_metrics,
    .vars = pt_api_version_vars,
};
