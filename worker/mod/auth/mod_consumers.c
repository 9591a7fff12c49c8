/*
 * mod_consumers.c: the module that holds the declared consumers
 * (consumers.h); it has no request-time work of its own.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/module.h"
#include "worker/mod/auth/consumers.h"

typedef struct {
    pt_consumers_t *consumers;  /* CUSTOM, UNSET NULL */
} pt_consumers_main_t;

static int pt_consumers_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                            const pt_directive_t *d);
static void pt_consumers_dump(FILE *out, const void *field, const pt_directive_t *d,
                              int indent);

static const pt_directive_t pt_consumers_directives[] = {
    { "consumers", PT_CONF_CUSTOM, PT_SCOPE_MAIN, offsetof(pt_consumers_main_t, consumers),
      NULL, NULL, pt_consumers_set, pt_consumers_dump,
      "the consumers: name, groups, plan and API keys of each" },
    PT_DIRECTIVE_END
};

pt_module_t pt_consumers_module = {
    .name = "consumers",
    .directives = pt_consumers_directives,
    .main_conf_size = sizeof(pt_consumers_main_t),
};

static const pt_consumers_t pt_consumers_none;

const pt_consumers_t *pt_consumers_of(const pt_conf_t *conf)
{
    const pt_consumers_main_t *mc = conf->mod_main[pt_consumers_module.index];

    return mc && mc->consumers ? mc->consumers : &pt_consumers_none;
}

const pt_consumer_decl_t *pt_consumers_find(const pt_consumers_t *cs, pt_str_t name)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->v[i].c.id.len == name.len && memcmp(cs->v[i].c.id.p, name.p, name.len) == 0)
            return &cs->v[i];
    return NULL;
}

const pt_consumer_t *pt_consumers_get(pt_conf_ctx_t *cf, const pt_conf_t *conf, pt_str_t name)
{
    const pt_consumer_decl_t *d = pt_consumers_find(pt_consumers_of(conf), name);

    if (d)
        return &d->c;
    pt_consumer_t *c = pt_arena_calloc(cf->arena, sizeof(*c));
    char *p = pt_arena_strndup(cf->arena, name.p, name.len);
    if (c == NULL || p == NULL)
        return NULL;
    c->id = (pt_str_t) { p, name.len };
    return c;
}

/* A name as it will travel in X-Consumer and logs: printable, no comma
 * (groups are joined with commas). */
static bool pt_consumers_name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char) *s < 0x21 || *s == 0x7f || *s == ',')
            return false;
    return true;
}

static int pt_consumers_entry(pt_conf_ctx_t *cf, const config_setting_t *e,
                              pt_consumer_decl_t *d)
{
    const config_setting_t *m;
    size_t n;

    if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, e, "a consumer must be a group { name = \"...\"; ... }");
        return PT_ERROR;
    }
    d->line = pt_conf_line(cf, e);
    const char *file = config_setting_source_file(e);
    d->file = file ? pt_arena_strndup(cf->arena, file, strlen(file)) : NULL;
    for (int i = 0; i < config_setting_length(e); i++) {
        m = config_setting_get_elem(e, (unsigned) i);
        const char *k = config_setting_name(m);
        if (strcmp(k, "name") == 0) {
            const char *v = pt_conf_get_string(cf, m);
            if (v == NULL)
                return PT_ERROR;
            if (!pt_consumers_name_ok(v)) {
                pt_conf_error(cf, m, "consumer name \"%s\" must be printable, without spaces "
                              "or commas", v);
                return PT_ERROR;
            }
            d->c.id = (pt_str_t) { v, strlen(v) };
        } else if (strcmp(k, "groups") == 0) {
            const char **g = pt_conf_get_strings(cf, m, &n);
            if (g == NULL)
                return PT_ERROR;
            if (n > PT_CONSUMER_GROUPS_MAX) {
                pt_conf_error(cf, m, "a consumer has at most %d groups", PT_CONSUMER_GROUPS_MAX);
                return PT_ERROR;
            }
            pt_str_t *gv = pt_arena_calloc(cf->arena, (n + 1) * sizeof(*gv));
            if (gv == NULL)
                return PT_ERROR;
            for (size_t k2 = 0; k2 < n; k2++) {
                if (!pt_consumers_name_ok(g[k2])) {
                    pt_conf_error(cf, m, "group name \"%s\" must be printable, without spaces "
                                  "or commas", g[k2]);
                    return PT_ERROR;
                }
                gv[k2] = (pt_str_t) { g[k2], strlen(g[k2]) };
            }
            d->c.groups = gv;
            d->c.ngroups = n;
        } else if (strcmp(k, "plan") == 0) {
            const char *v = pt_conf_get_string(cf, m);
            if (v == NULL)
                return PT_ERROR;
            d->c.plan = (pt_str_t) { v, strlen(v) };
        } else if (strcmp(k, "api_keys") == 0) {
            if ((d->api_keys = pt_conf_get_strings(cf, m, &n)) == NULL)
                return PT_ERROR;
            if ((d->key_lines = pt_arena_calloc(cf->arena, (n + 1) * sizeof(unsigned))) == NULL)
                return PT_ERROR;
            for (size_t k2 = 0; k2 < n; k2++)
                d->key_lines[k2] = pt_conf_line(cf, config_setting_type(m) == CONFIG_TYPE_STRING
                                                ? m : config_setting_get_elem(m, (unsigned) k2));
        } else {
            pt_conf_error(cf, m, "unknown consumer setting \"%s\" (a consumer takes name, "
                          "groups, plan and api_keys)", k);
            return PT_ERROR;
        }
    }
    if (d->c.id.len == 0) {
        pt_conf_error(cf, e, "a consumer needs a name");
        return PT_ERROR;
    }
    return PT_OK;
}

static int pt_consumers_cmp(const void *a, const void *b)
{
    const pt_consumer_decl_t *x = *(const pt_consumer_decl_t *const *) a;
    const pt_consumer_decl_t *y = *(const pt_consumer_decl_t *const *) b;
    int c = strcmp(x->c.id.p, y->c.id.p);

    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int pt_consumers_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                            const pt_directive_t *d)
{
    pt_consumers_t *cs = pt_arena_calloc(cf->arena, sizeof(*cs));
    int rc = PT_OK;

    if (cs == NULL)
        return PT_ERROR;
    if (config_setting_type(s) != CONFIG_TYPE_LIST) {
        pt_conf_error(cf, s, "\"consumers\" must be a list ( { name = \"...\"; }, ... )");
        return PT_ERROR;
    }
    size_t n = (size_t) config_setting_length(s);
    if (n > PT_CONSUMERS_MAX) {
        pt_conf_error(cf, s, "more than %d consumers", PT_CONSUMERS_MAX);
        return PT_ERROR;
    }
    cs->v = pt_arena_calloc(cf->arena, (n + 1) * sizeof(*cs->v));
    const pt_consumer_decl_t **sorted = pt_arena_alloc(cf->arena, (n + 1) * sizeof(*sorted));
    if (cs->v == NULL || sorted == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        if (pt_consumers_entry(cf, config_setting_get_elem(s, (unsigned) i), &cs->v[i]) != PT_OK)
            rc = PT_ERROR;
        sorted[i] = &cs->v[i];
    }
    if (rc != PT_OK)
        return rc;
    cs->n = n;
    qsort(sorted, n, sizeof(*sorted), pt_consumers_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1]->c.id.p, sorted[i]->c.id.p) == 0) {
            pt_conf_error_at(cf, config_setting_source_file(s), sorted[i]->line,
                             "consumer \"%s\" is already declared at line %u",
                             sorted[i]->c.id.p, sorted[i - 1]->line);
            rc = PT_ERROR;
        }
    }
    *(pt_consumers_t **) field = cs;
    return rc;
}

/* -T: the consumers without their API keys (no secret is printed). */
static void pt_consumers_dump(FILE *out, const void *field, const pt_directive_t *d,
                              int indent)
{
    const pt_consumers_t *cs = *(const pt_consumers_t *const *) field;

    fputs("(", out);
    for (size_t i = 0; cs && i < cs->n; i++) {
        const pt_consumer_t *c = &cs->v[i].c;
        fprintf(out, "%s\n", i ? "," : "");
        pt_conf_indent(out, indent + 1);
        fputs("{ name = ", out);
        pt_conf_print_string(out, c->id.p);
        fputs("; groups = [", out);
        for (size_t k = 0; k < c->ngroups; k++) {
            fputs(k ? ", " : " ", out);
            pt_conf_print_string(out, c->groups[k].p);
        }
        fputs(" ];", out);
        if (c->plan.len) {
            fputs(" plan = ", out);
            pt_conf_print_string(out, c->plan.p);
            fputs(";", out);
        }
        fputs(" }", out);
    }
    fputs(" )", out);
}
