/*
 * limit_conf.c: the `limits` list of a route: each group through the
 * entry table below, checked and compiled into a pt_limit_t; the zones the
 * limits name.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/hash.h"
#include "common/str.h"
#include "worker/core/var.h"
#include "worker/mod/limit/ratelimit/limit_conf.h"
#include "worker/mod/limit/ratelimit/limit_parse.h"

static int pt_limit_plans_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d);
static void pt_limit_plans_dump(FILE *out, const void *field, const pt_directive_t *d,
                                int indent);

static const pt_conf_bounds_t pt_limit_status_bounds = { 400, 599 };
static const pt_conf_bounds_t pt_limit_burst_bounds = { 0, 1000000 };
static const pt_conf_bounds_t pt_limit_concurrency_bounds = { 1, 65535 };
static const pt_conf_bounds_t pt_limit_quota_bounds = { 1, UINT32_MAX - 1 };
static const pt_conf_bounds_t pt_limit_zone_bounds = { 16 * 1024, INT64_C(64) << 30 };

static const pt_conf_enum_t pt_limit_periods[] = {
    { "minute", PT_LIMIT_MINUTE }, { "hour", PT_LIMIT_HOUR }, { "day", PT_LIMIT_DAY },
    { "month", PT_LIMIT_MONTH }, { NULL, 0 }
};

#define PT_LIMIT_FIELD(f)   offsetof(pt_limit_t, f)

const pt_directive_t pt_limit_entry_directives[] = {
    { "name", PT_CONF_STRING, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(name), NULL, NULL, NULL, NULL,
      "the limit's name: in logs, metrics and the RateLimit fields" },
    { "zone", PT_CONF_ZONE, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(zone_conf), NULL,
      &pt_limit_zone_bounds, NULL, NULL, "the shared-memory zone of its counters" },
    { "key", PT_CONF_COMPILED, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(key), "\"$remote_addr\"",
      &pt_var_compiler, NULL, NULL, "what is counted apart (a template)" },
    { "rate", PT_CONF_STRING, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(rate), NULL, NULL, NULL, NULL,
      "a rate limit: requests per second, minute, hour or day" },
    { "burst", PT_CONF_UINT, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(burst), "0",
      &pt_limit_burst_bounds, NULL, NULL, "requests beyond the rate an idle key may send" },
    { "delay", PT_CONF_UINT, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(delay), NULL,
      &pt_limit_burst_bounds, NULL, NULL, "excess requests past this many are held, not sent" },
    { "plan_rates", PT_CONF_CUSTOM, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(plans), NULL, NULL,
      pt_limit_plans_set, pt_limit_plans_dump, "a rate per consumer plan" },
    { "concurrency", PT_CONF_UINT, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(concurrency), NULL,
      &pt_limit_concurrency_bounds, NULL, NULL, "a concurrency limit: requests in flight" },
    { "quota", PT_CONF_UINT, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(quota), NULL,
      &pt_limit_quota_bounds, NULL, NULL, "a quota: requests per calendar period" },
    { "period", PT_CONF_ENUM, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(period), NULL, pt_limit_periods,
      NULL, NULL, "the calendar period of a quota (UTC)" },
    { "status", PT_CONF_UINT, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(status), "429",
      &pt_limit_status_bounds, NULL, NULL, "the status of a refusal" },
    { "dry_run", PT_CONF_BOOL, PT_SCOPE_LIMIT, PT_LIMIT_FIELD(dry_run), "false", NULL, NULL,
      NULL, "log and count what would be refused, refuse nothing" },
    PT_DIRECTIVE_END
};

static bool pt_limit_name_valid(const char *n)
{
    size_t len = strlen(n);

    if (len == 0 || len > PT_LIMIT_NAME_MAX)
        return false;
    for (; *n; n++)
        if (!(*n >= 'a' && *n <= 'z') && !(*n >= 'A' && *n <= 'Z') && !(*n >= '0' && *n <= '9')
            && !strchr("_-.", *n))
            return false;
    return true;
}

/* A rate as written into g and the q/w of its policy item. */
static int pt_limit_rate_compile(pt_conf_ctx_t *cf, const config_setting_t *s, const char *text,
                                 const pt_limit_t *l, pt_gcra_t *g, uint64_t *count,
                                 uint64_t *window)
{
    uint64_t period;
    const char *why;

    if (pt_limit_parse_rate(text, strlen(text), count, &period, &why) != PT_OK) {
        pt_conf_error(cf, s, "limit \"%s\": rate \"%s\": %s", l->name ? l->name : "?", text, why);
        return PT_ERROR;
    }
    if (pt_gcra_setup(g, *count, period, (uint64_t) l->burst, l->delay) != PT_OK) {
        pt_conf_error(cf, s, "limit \"%s\": rate \"%s\" is faster than one request a "
                      "nanosecond", l->name, text);
        return PT_ERROR;
    }
    *window = period / PT_LIMIT_NS;
    return PT_OK;
}

static int pt_limit_check(pt_conf_ctx_t *cf, const config_setting_t *s, pt_limit_t *l)
{
    if (l->name == NULL || !pt_limit_name_valid(l->name)) {
        pt_conf_error(cf, s, "a limit needs a name of 1 to %d letters, digits, '_', '-' or '.'",
                      PT_LIMIT_NAME_MAX);
        return PT_ERROR;
    }
    if (l->zone_conf == NULL) {
        pt_conf_error(cf, s, "limit \"%s\": no zone (zone = \"name:size\")", l->name);
        return PT_ERROR;
    }
    int kinds = (l->rate != NULL) + (l->concurrency >= 0) + (l->quota >= 0);
    if (kinds != 1) {
        pt_conf_error(cf, s, "limit \"%s\": give exactly one of rate, concurrency and quota",
                      l->name);
        return PT_ERROR;
    }
    if (l->rate == NULL && (l->burst > 0 || l->delay >= 0 || l->plans)) {
        pt_conf_error(cf, s, "limit \"%s\": burst, delay and plan_rates go with a rate",
                      l->name);
        return PT_ERROR;
    }
    if (l->delay > l->burst) {
        pt_conf_error(cf, s, "limit \"%s\": delay (%lld) is more than burst (%lld): requests "
                      "past the burst are refused, not held", l->name, (long long) l->delay,
                      (long long) l->burst);
        return PT_ERROR;
    }
    if ((l->quota >= 0) != (l->period >= 0)) {
        pt_conf_error(cf, s, "limit \"%s\": a quota and its period go together", l->name);
        return PT_ERROR;
    }
    l->name_str = (pt_str_t) { l->name, strlen(l->name) };
    l->name_hash = pt_hash(l->name, l->name_str.len, UINT64_C(0x6c696d6974));
    l->file = l->zone_conf->file;
    l->line = pt_conf_line(cf, s);
    if (l->rate) {
        l->kind = PT_LIMIT_RATE;
        if (pt_limit_rate_compile(cf, s, l->rate, l, &l->gcra, &l->count, &l->window) != PT_OK)
            return PT_ERROR;
        for (size_t i = 0; l->plans && i < l->plans->n; i++) {
            pt_limit_plan_t *p = &l->plans->v[i];
            if (pt_limit_rate_compile(cf, s, p->text, l, &p->gcra, &p->count, &p->window)
                != PT_OK)
                return PT_ERROR;
        }
    } else {
        l->kind = l->concurrency >= 0 ? PT_LIMIT_CONCURRENCY : PT_LIMIT_QUOTA;
    }
    return PT_OK;
}

int pt_limit_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                      const pt_directive_t *d)
{
    bool one = config_setting_type(s) == CONFIG_TYPE_GROUP;
    unsigned n = one ? 1 : (unsigned) config_setting_length(s);
    pt_limit_list_t *list = pt_arena_calloc(cf->arena, sizeof(*list));

    if (!one && config_setting_type(s) != CONFIG_TYPE_LIST) {
        pt_conf_error(cf, s, "\"limits\" is a list of groups: ( { name = ...; zone = ...; "
                      "rate = ...; }, ... )");
        return PT_ERROR;
    }
    if (n > PT_LIMIT_PER_ROUTE_MAX) {
        pt_conf_error(cf, s, "at most %d limits apply to a route", PT_LIMIT_PER_ROUTE_MAX);
        return PT_ERROR;
    }
    if (list == NULL || (n && (list->v = pt_arena_calloc(cf->arena, n * sizeof(*list->v)))
                             == NULL))
        return PT_ERROR;
    for (unsigned i = 0; i < n; i++) {
        const config_setting_t *e = one ? s : config_setting_get_elem(s, i);
        pt_limit_t *l = &list->v[i];
        pt_conf_target_t t = { pt_limit_entry_directives, l };
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            pt_conf_error(cf, e, "a limit is a group { name = ...; zone = ...; ... }");
            return PT_ERROR;
        }
        pt_conf_unset(pt_limit_entry_directives, PT_SCOPE_LIMIT, l);
        if (pt_conf_walk(cf, e, PT_SCOPE_LIMIT, &t, 1, NULL) != PT_OK
            || pt_conf_defaults(cf, pt_limit_entry_directives, PT_SCOPE_LIMIT, l) != PT_OK
            || pt_limit_check(cf, e, l) != PT_OK)
            return PT_ERROR;
        for (unsigned k = 0; k < i; k++) {
            if (strcmp(list->v[k].name, l->name) == 0) {
                pt_conf_error(cf, e, "two limits named \"%s\" on one route", l->name);
                return PT_ERROR;
            }
        }
        list->n++;
    }
    *(const pt_limit_list_t **) field = list;
    return PT_OK;
}

void pt_limit_conf_dump(FILE *out, const void *field, const pt_directive_t *d, int indent)
{
    const pt_limit_list_t *list = *(const pt_limit_list_t *const *) field;

    fputs("(\n", out);
    for (size_t i = 0; list && i < list->n; i++) {
        pt_conf_indent(out, indent + 1);
        fputs("{\n", out);
        pt_conf_dump(out, pt_limit_entry_directives, PT_SCOPE_LIMIT, &list->v[i], indent + 2);
        pt_conf_indent(out, indent + 1);
        fputs(i + 1 < list->n ? "},\n" : "}\n", out);
    }
    pt_conf_indent(out, indent);
    fputs(")", out);
}

static int pt_limit_plans_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d)
{
    pt_limit_plans_t *plans = pt_arena_calloc(cf->arena, sizeof(*plans));
    unsigned n = (unsigned) config_setting_length(s);

    if (config_setting_type(s) != CONFIG_TYPE_GROUP || n == 0) {
        pt_conf_error(cf, s, "\"plan_rates\" is a group of plan = \"rate\"; "
                      "{ gold = \"1000r/s\"; free = \"10r/s\"; }");
        return PT_ERROR;
    }
    if (n > PT_LIMIT_PLANS_MAX) {
        pt_conf_error(cf, s, "at most %d plan_rates", PT_LIMIT_PLANS_MAX);
        return PT_ERROR;
    }
    if (plans == NULL || (plans->v = pt_arena_calloc(cf->arena, n * sizeof(*plans->v))) == NULL)
        return PT_ERROR;
    for (unsigned i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(s, i);
        const char *name = config_setting_name(m), *text = pt_conf_get_string(cf, m);
        /* libconfig's names go with its tree: keep a copy. */
        if (text == NULL || (name = pt_arena_strndup(cf->arena, name, strlen(name))) == NULL)
            return PT_ERROR;
        plans->v[i].plan = (pt_str_t) { name, strlen(name) };
        plans->v[i].text = text;
    }
    plans->n = n;
    *(const pt_limit_plans_t **) field = plans;
    return PT_OK;
}

static void pt_limit_plans_dump(FILE *out, const void *field, const pt_directive_t *d,
                                int indent)
{
    const pt_limit_plans_t *plans = *(const pt_limit_plans_t *const *) field;

    fputs("{ ", out);
    for (size_t i = 0; plans && i < plans->n; i++) {
        fprintf(out, "%.*s = ", (int) plans->v[i].plan.len, plans->v[i].plan.p);
        pt_conf_print_string(out, plans->v[i].text);
        fputs("; ", out);
    }
    fputs("}", out);
}

pt_limit_zone_t *pt_limit_conf_zone(pt_conf_ctx_t *cf, pt_limit_main_t *mc, const pt_limit_t *l)
{
    const pt_conf_zone_t *cz = l->zone_conf;
    pt_limit_zone_t *z;

    for (z = mc->zones; z; z = z->next) {
        if (strcmp(z->name, cz->name) != 0)
            continue;
        if (z->size != (size_t) cz->size) {
            pt_conf_error_at(cf, cz->file, cz->line, "zone \"%s\" declared with two sizes",
                             cz->name);
            return NULL;
        }
        return z;
    }
    if ((z = pt_arena_calloc(cf->arena, sizeof(*z))) == NULL)
        return NULL;
    z->name = cz->name;
    z->size = (size_t) cz->size;
    z->cell = -1;
    z->next = mc->zones;
    mc->zones = z;
    return z;
}
