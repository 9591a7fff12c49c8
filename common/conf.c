/*
 * conf.c: the directive-table walker (see conf.h).
 */
#include "common/pt.h"

#include <limits.h>
#include "common/conf.h"
#include "common/shm.h"
#include "common/units.h"

#include <ctype.h>
#include <stdarg.h>

#define PT_CONF_ERRORS_MAX  (64 * 1024)
#define PT_CONF_ZONE_MIN    (16 * 1024)     /* a slab page and its descriptors, with room */

static int64_t *pt_conf_i64(void *base, const pt_directive_t *d)
{
    return (int64_t *) (void *) ((char *) base + d->offset);
}

static int *pt_conf_int(void *base, const pt_directive_t *d)
{
    return (int *) (void *) ((char *) base + d->offset);
}

static void **pt_conf_ptr(void *base, const pt_directive_t *d)
{
    return (void **) (void *) ((char *) base + d->offset);
}

static pt_conf_compiled_t *pt_conf_compiled(void *base, const pt_directive_t *d)
{
    return (pt_conf_compiled_t *) (void *) ((char *) base + d->offset);
}

/* Bytes of a field of type: what merge copies. */
static size_t pt_conf_field_size(int type)
{
    switch (type) {
    case PT_CONF_BOOL:
    case PT_CONF_ENUM:
        return sizeof(int);
    case PT_CONF_UINT:
    case PT_CONF_DURATION:
    case PT_CONF_SIZE:
        return sizeof(int64_t);
    case PT_CONF_COMPILED:
        return sizeof(pt_conf_compiled_t);
    default:
        return sizeof(void *);
    }
}

const char *pt_conf_copied(const pt_conf_ctx_t *cf, const char *file)
{
    int fd;
    char end;

    if (cf->copy_of && sscanf(file, "/proc/self/fd/%d%c", &fd, &end) == 1 && fd >= 0
        && fd < cf->ncopy_of && cf->copy_of[fd])
        return cf->copy_of[fd];
    return file;
}

/* file as libconfig names it, as a path usable from here. */
static const char *pt_conf_name(const pt_conf_ctx_t *cf, const char *file, char *buf,
                                size_t len)
{
    if (file == NULL)
        return cf->file;
    file = pt_conf_copied(cf, file);
    if (file[0] == '/' || cf->include_dir == NULL)
        return file;
    /* conf_load hands libconfig the main file by its base name, from
     * inside include_dir: name it as the operator did. */
    const char *base = strrchr(cf->file, '/');
    if (strcmp(file, base ? base + 1 : cf->file) == 0)
        return cf->file;
    snprintf(buf, len, "%s/%s", cf->include_dir, file);
    return buf;
}

const char *pt_conf_file(const pt_conf_ctx_t *cf, const config_setting_t *s, char *buf,
                         size_t len)
{
    return pt_conf_name(cf, s ? config_setting_source_file(s) : NULL, buf, len);
}

unsigned pt_conf_line(const pt_conf_ctx_t *cf, const config_setting_t *s)
{
    unsigned line = config_setting_source_line(s), n = 0, found = 0;
    char want[260], path[4096];

    if (config_setting_name(s) != NULL || config_setting_type(s) != CONFIG_TYPE_STRING
        || config_setting_source_file(s) == NULL || line < 2)
        return line;
    /* libconfig reads one token past a string to join "adjacent" "strings"
     * before it records the element, so the recorded line is that of the
     * next token. Between the two there is only blank space or comments:
     * the last line up to the recorded one holding the string is it. A
     * string written with escapes is not found and keeps libconfig's line. */
    const char *v = config_setting_get_string(s);
    if (strlen(v) > sizeof(want) - 3 || strpbrk(v, "\\\"") != NULL)
        return line;
    snprintf(want, sizeof(want), "\"%s\"", v);
    FILE *f = fopen(pt_conf_file(cf, s, path, sizeof(path)), "r");
    if (f == NULL)
        return line;
    char *text = NULL;
    size_t cap = 0;
    while (n < line && getline(&text, &cap, f) >= 0) {
        n++;
        if (strstr(text, want) != NULL)
            found = n;
    }
    free(text);
    fclose(f);
    return found ? found : line;
}

static void pt_conf_verror(pt_conf_ctx_t *cf, const char *file, unsigned line, const char *fmt,
                           va_list ap) PT_PRINTF(4, 0);

static void pt_conf_verror(pt_conf_ctx_t *cf, const char *file, unsigned line, const char *fmt,
                           va_list ap)
{
    char msg[512];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    cf->nerrors++;

    char *line_text = line ? pt_arena_sprintf(cf->arena, "%s:%u: %s\n", file, line, msg)
                           : pt_arena_sprintf(cf->arena, "%s: %s\n", file, msg);
    if (line_text == NULL || cf->errors_len > PT_CONF_ERRORS_MAX)
        return;
    size_t n = strlen(line_text);
    char *all = pt_arena_alloc(cf->arena, cf->errors_len + n + 1);
    if (all == NULL)
        return;
    if (cf->errors_len)
        memcpy(all, cf->errors, cf->errors_len);
    memcpy(all + cf->errors_len, line_text, n + 1);
    cf->errors = all;
    cf->errors_len += n;
}

void pt_conf_error_at(pt_conf_ctx_t *cf, const char *file, unsigned line, const char *fmt, ...)
{
    char path[4096];
    va_list ap;

    va_start(ap, fmt);
    pt_conf_verror(cf, pt_conf_name(cf, file, path, sizeof(path)), line, fmt, ap);
    va_end(ap);
}

void pt_conf_error(pt_conf_ctx_t *cf, const config_setting_t *s, const char *fmt, ...)
{
    char path[4096];
    const char *file = cf->file;
    unsigned line = 0;
    va_list ap;

    if (s == NULL)
        s = cf->where;
    if (s != NULL) {
        file = pt_conf_file(cf, s, path, sizeof(path));
        line = pt_conf_line(cf, s);
    }
    va_start(ap, fmt);
    pt_conf_verror(cf, file, line, fmt, ap);
    va_end(ap);
}

const char *pt_conf_type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP:  return "a group { }";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:  return "an integer";
    case CONFIG_TYPE_FLOAT:  return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL:   return "a boolean";
    case CONFIG_TYPE_ARRAY:  return "an array [ ]";
    case CONFIG_TYPE_LIST:   return "a list ( )";
    default:                 return "nothing";
    }
}

const char *pt_conf_path(pt_conf_ctx_t *cf, const char *path)
{
    const char *slash = cf->file ? strrchr(cf->file, '/') : NULL;

    if (path == NULL)
        return NULL;
    /* A copy either way: libconfig's strings go with its tree. */
    if (path[0] == '/' || slash == NULL)
        return pt_arena_strndup(cf->arena, path, strlen(path));
    return pt_arena_sprintf(cf->arena, "%.*s/%s", (int) (slash - cf->file), cf->file, path);
}

const char *pt_conf_get_string(pt_conf_ctx_t *cf, const config_setting_t *s)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        pt_conf_error(cf, s, "\"%s\" must be a string, not %s", config_setting_name(s),
                      pt_conf_type_name(config_setting_type(s)));
        return NULL;
    }
    const char *v = config_setting_get_string(s);
    return pt_arena_strndup(cf->arena, v, strlen(v));
}

int pt_conf_get_uint(pt_conf_ctx_t *cf, const config_setting_t *s, int64_t min, int64_t max,
                     int64_t *out)
{
    int type = config_setting_type(s);
    const char *name = config_setting_name(s) ? config_setting_name(s) : "value";

    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
        pt_conf_error(cf, s, "\"%s\" must be an integer, not %s", name,
                      pt_conf_type_name(type));
        return PT_ERROR;
    }
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        pt_conf_error(cf, s, "\"%s\" must be between %" PRId64 " and %" PRId64 ", not %lld",
                      name, min, max, v);
        return PT_ERROR;
    }
    *out = v;
    return PT_OK;
}

int pt_conf_get_bool(pt_conf_ctx_t *cf, const config_setting_t *s, int *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        pt_conf_error(cf, s, "\"%s\" must be true or false, not %s", config_setting_name(s),
                      pt_conf_type_name(config_setting_type(s)));
        return PT_ERROR;
    }
    *out = config_setting_get_bool(s) ? 1 : 0;
    return PT_OK;
}

int pt_conf_get_duration(pt_conf_ctx_t *cf, const config_setting_t *s, pt_msec_t *out)
{
    const char *name = config_setting_name(s) ? config_setting_name(s) : "value";

    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        pt_conf_error(cf, s, "\"%s\" must be a duration string such as \"30s\" or \"250ms\"",
                      name);
        return PT_ERROR;
    }
    const char *v = config_setting_get_string(s);
    if (pt_parse_duration(v, out) != PT_OK) {
        pt_conf_error(cf, s, "\"%s\": invalid duration \"%s\" (use ms, s, m, h, d: \"30s\")",
                      name, v);
        return PT_ERROR;
    }
    return PT_OK;
}

int pt_conf_get_size(pt_conf_ctx_t *cf, const config_setting_t *s, int64_t *out)
{
    const char *name = config_setting_name(s) ? config_setting_name(s) : "value";
    uint64_t v;
    int type = config_setting_type(s);

    if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
        long long n = config_setting_get_int64(s);
        if (n < 0) {
            pt_conf_error(cf, s, "\"%s\" must not be negative", name);
            return PT_ERROR;
        }
        *out = n;
        return PT_OK;
    }
    if (type != CONFIG_TYPE_STRING) {
        pt_conf_error(cf, s, "\"%s\" must be a size such as \"64k\" or \"16M\"", name);
        return PT_ERROR;
    }
    const char *str = config_setting_get_string(s);
    if (pt_parse_size(str, &v) != PT_OK || v > (uint64_t) INT64_MAX) {
        pt_conf_error(cf, s, "\"%s\": invalid size \"%s\" (use k, M, G: \"64k\")", name, str);
        return PT_ERROR;
    }
    *out = (int64_t) v;
    return PT_OK;
}

const char **pt_conf_get_strings(pt_conf_ctx_t *cf, const config_setting_t *s, size_t *n)
{
    int type = config_setting_type(s);
    const char **v;

    if (type == CONFIG_TYPE_STRING) {
        v = pt_arena_alloc(cf->arena, 2 * sizeof(*v));
        if (v == NULL || (v[0] = pt_conf_get_string(cf, s)) == NULL)
            return NULL;
        v[1] = NULL;
        *n = 1;
        return v;
    }
    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
        pt_conf_error(cf, s, "\"%s\" must be a string or an array of strings",
                      config_setting_name(s));
        return NULL;
    }
    int len = config_setting_length(s);
    v = pt_arena_alloc(cf->arena, (size_t) (len + 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    for (int i = 0; i < len; i++) {
        v[i] = pt_conf_get_string(cf, config_setting_get_elem(s, (unsigned) i));
        if (v[i] == NULL)
            return NULL;
    }
    v[len] = NULL;
    *n = (size_t) len;
    return v;
}

size_t pt_conf_strings_count(const char *const *v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

pt_conf_zone_t *pt_conf_get_zone(pt_conf_ctx_t *cf, const config_setting_t *s,
                                 const pt_conf_bounds_t *b)
{
    static const pt_conf_bounds_t any = { PT_CONF_ZONE_MIN, INT64_C(64) << 30 };
    const char *name = config_setting_name(s) ? config_setting_name(s) : "value";
    uint64_t size;

    if (b == NULL)
        b = &any;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        pt_conf_error(cf, s, "\"%s\" must be a zone such as \"api_limits:16M\"", name);
        return NULL;
    }
    const char *v = config_setting_get_string(s), *colon = strrchr(v, ':');
    if (colon == NULL || colon == v || colon[1] == '\0') {
        pt_conf_error(cf, s, "\"%s\": \"%s\" is not name:size, such as \"api_limits:16M\"",
                      name, v);
        return NULL;
    }
    int len = (int) (colon - v);
    if (len > PT_ZONE_NAME_MAX) {
        pt_conf_error(cf, s, "\"%s\": zone name \"%.*s\" is longer than %d bytes", name, len,
                      v, PT_ZONE_NAME_MAX);
        return NULL;
    }
    for (const char *p = v; p < colon; p++) {
        if (!isalnum((unsigned char) *p) && !strchr("_-.", *p)) {
            pt_conf_error(cf, s, "\"%s\": zone name \"%.*s\" may hold letters, digits, "
                          "'_', '-' and '.'", name, len, v);
            return NULL;
        }
    }
    if (pt_parse_size(colon + 1, &size) != PT_OK || size > (uint64_t) INT64_MAX) {
        pt_conf_error(cf, s, "\"%s\": invalid size \"%s\" (use k, M, G: \"16M\")", name,
                      colon + 1);
        return NULL;
    }
    if ((int64_t) size < b->min || (int64_t) size > b->max) {
        char lo[32], hi[32];
        pt_format_size(lo, sizeof(lo), (uint64_t) b->min);
        pt_format_size(hi, sizeof(hi), (uint64_t) b->max);
        pt_conf_error(cf, s, "\"%s\": zone \"%.*s\" must be between %s and %s", name, len, v,
                      lo, hi);
        return NULL;
    }
    pt_conf_zone_t *z = pt_arena_calloc(cf->arena, sizeof(*z));
    const char *file = config_setting_source_file(s);
    if (z == NULL || (z->name = pt_arena_strndup(cf->arena, v, (size_t) len)) == NULL
        || (file && (z->file = pt_arena_strndup(cf->arena, file, strlen(file))) == NULL))
        return NULL;
    z->size = (int64_t) size;
    z->line = pt_conf_line(cf, s);
    return z;
}

/* A string list, each string checked as arg says. */
static int pt_conf_set_strings(pt_conf_ctx_t *cf, const config_setting_t *s, const char ***field,
                               const pt_conf_strings_arg_t *arg)
{
    size_t n;
    const char **v = pt_conf_get_strings(cf, s, &n);

    if (v == NULL)
        return PT_ERROR;
    if (n == 0 && arg && arg->empty) {
        pt_conf_error(cf, s, "%s", arg->empty);
        return PT_ERROR;
    }
    for (size_t i = 0; arg && arg->check && i < n; i++)
        if (arg->check(cf, s, (char *) v[i]) != PT_OK)
            return PT_ERROR;
    *field = v;
    return PT_OK;
}

static int pt_conf_set_enum(pt_conf_ctx_t *cf, const config_setting_t *s, int *field,
                            const pt_conf_enum_t *e)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        const char *v = config_setting_get_string(s);
        for (const pt_conf_enum_t *i = e; i->name; i++) {
            if (strcmp(i->name, v) == 0) {
                *field = i->value;
                return PT_OK;
            }
        }
    }
    char allowed[256];
    size_t off = 0;
    for (const pt_conf_enum_t *i = e; i->name && off < sizeof(allowed); i++)
        off += (size_t) snprintf(allowed + off, sizeof(allowed) - off, "%s\"%s\"",
                                 i == e ? "" : ", ", i->name);
    pt_conf_error(cf, s, "\"%s\" must be one of %s", config_setting_name(s), allowed);
    return PT_ERROR;
}

const pt_conf_bounds_t pt_conf_positive = { 1, INT64_MAX };

int pt_conf_apply(pt_conf_ctx_t *cf, const config_setting_t *s, const pt_directive_t *d,
                  void *base)
{
    const pt_conf_bounds_t *b = d->arg;
    int64_t v;

    switch (d->type) {
    case PT_CONF_BOOL:
        return pt_conf_get_bool(cf, s, pt_conf_int(base, d));
    case PT_CONF_UINT:
        if (pt_conf_get_uint(cf, s, b ? b->min : 0, b ? b->max : INT64_MAX, &v) != PT_OK)
            return PT_ERROR;
        *pt_conf_i64(base, d) = v;
        return PT_OK;
    case PT_CONF_DURATION:
        if (pt_conf_get_duration(cf, s, &v) != PT_OK)
            return PT_ERROR;
        if (b && (v < b->min || v > b->max)) {
            char lo[32];
            pt_format_duration(lo, sizeof(lo), b->min);
            pt_conf_error(cf, s, "\"%s\" must be at least %s", d->name, lo);
            return PT_ERROR;
        }
        *pt_conf_i64(base, d) = v;
        return PT_OK;
    case PT_CONF_SIZE:
        if (pt_conf_get_size(cf, s, &v) != PT_OK)
            return PT_ERROR;
        if (b && (v < b->min || v > b->max)) {
            char lo[32], hi[32];
            pt_format_size(lo, sizeof(lo), (uint64_t) b->min);
            pt_format_size(hi, sizeof(hi), (uint64_t) b->max);
            pt_conf_error(cf, s, "\"%s\" must be between %s and %s", d->name, lo, hi);
            return PT_ERROR;
        }
        *pt_conf_i64(base, d) = v;
        return PT_OK;
    case PT_CONF_STRING: {
        const char *str = pt_conf_get_string(cf, s);
        if (str == NULL)
            return PT_ERROR;
        *pt_conf_ptr(base, d) = (void *) str;
        return PT_OK;
    }
    case PT_CONF_ENUM:
        return pt_conf_set_enum(cf, s, pt_conf_int(base, d), d->arg);
    case PT_CONF_CUSTOM:
        return d->set(cf, s, (char *) base + d->offset, d);
    case PT_CONF_STRINGS:
        return pt_conf_set_strings(cf, s, (const char ***) pt_conf_ptr(base, d), d->arg);
    case PT_CONF_ZONE: {
        pt_conf_zone_t *z = pt_conf_get_zone(cf, s, d->arg);
        if (z == NULL)
            return PT_ERROR;
        *pt_conf_ptr(base, d) = z;
        return PT_OK;
    }
    case PT_CONF_COMPILED: {
        const pt_conf_compiler_t *c = d->arg;
        const char *str = pt_conf_get_string(cf, s);
        const void *code = str ? c->compile(cf, s, str) : NULL;
        if (code == NULL)
            return PT_ERROR;
        *pt_conf_compiled(base, d) = (pt_conf_compiled_t) { str, code };
        return PT_OK;
    }
    }
    PT_ASSERT(!"unknown directive type");
    return PT_ERROR;
}

static const pt_directive_t *pt_conf_find(const pt_directive_t *t, unsigned scope,
                                          const char *name)
{
    for (; t->name; t++)
        if ((t->scope & scope) && strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

void pt_conf_unset(const pt_directive_t *t, unsigned scope, void *base)
{
    for (; t->name; t++) {
        if (!(t->scope & scope))
            continue;
        switch (t->type) {
        case PT_CONF_BOOL:
        case PT_CONF_ENUM:
            *pt_conf_int(base, t) = PT_CONF_UNSET;
            break;
        case PT_CONF_UINT:
        case PT_CONF_DURATION:
        case PT_CONF_SIZE:
            *pt_conf_i64(base, t) = PT_CONF_UNSET;
            break;
        case PT_CONF_COMPILED:
            *pt_conf_compiled(base, t) = (pt_conf_compiled_t) { NULL, NULL };
            break;
        default:
            *pt_conf_ptr(base, t) = NULL;
        }
    }
}

static bool pt_conf_is_unset(const pt_directive_t *t, const void *base)
{
    void *b = (void *) base;

    switch (t->type) {
    case PT_CONF_BOOL:
    case PT_CONF_ENUM:
        return *pt_conf_int(b, t) == PT_CONF_UNSET;
    case PT_CONF_UINT:
    case PT_CONF_DURATION:
    case PT_CONF_SIZE:
        return *pt_conf_i64(b, t) == PT_CONF_UNSET;
    case PT_CONF_COMPILED:
        return pt_conf_compiled(b, t)->text == NULL;
    default:
        return *pt_conf_ptr(b, t) == NULL;
    }
}

/* Edit distance with adjacent transpositions (optimal string alignment),
 * for names up to 63 bytes; anything longer is "far". */
static unsigned pt_conf_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    unsigned d[64][64];

    if (n >= 64 || m >= 64)
        return UINT_MAX;
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (unsigned) i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (unsigned) j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = pt_min(d[i - 1][j] + 1, d[i][j - 1] + 1);
            v = pt_min(v, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                v = pt_min(v, d[i - 2][j - 2] + 1);
            d[i][j] = v;
        }
    return d[n][m];
}

const char *pt_conf_suggest(const char *name, const char *const *names)
{
    const char *best = NULL;
    unsigned best_d = UINT_MAX, limit = strlen(name) <= 4 ? 1 : strlen(name) <= 10 ? 2 : 3;

    for (; names && *names; names++) {
        unsigned dist = pt_conf_distance(name, *names);
        if (dist > 0 && dist <= limit && dist < best_d) {
            best = *names;
            best_d = dist;
        }
    }
    return best;
}

/* The closest directive name to name in the tables for scope, or NULL. */
static const char *pt_conf_suggest_directive(const char *name, unsigned scope,
                                             const pt_conf_target_t *targets, size_t ntargets)
{
    const char *best = NULL;
    unsigned best_d = UINT_MAX;

    for (size_t k = 0; k < ntargets; k++)
        for (const pt_directive_t *t = targets[k].table; t->name; t++) {
            const char *one[2] = { t->name, NULL };
            if ((t->scope & scope) && pt_conf_suggest(name, one)) {
                unsigned dist = pt_conf_distance(name, t->name);
                if (dist < best_d) {
                    best = t->name;
                    best_d = dist;
                }
            }
        }
    return best;
}

int pt_conf_walk(pt_conf_ctx_t *cf, const config_setting_t *group, unsigned scope,
                 const pt_conf_target_t *targets, size_t ntargets, const char *const *skip)
{
    int rc = PT_OK;
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned) i);
        const char *name = config_setting_name(s);
        const pt_directive_t *d = NULL;
        size_t k;
        bool skipped = false;

        for (const char *const *sk = skip; sk && *sk; sk++)
            if (strcmp(*sk, name) == 0)
                skipped = true;
        if (skipped)
            continue;
        for (k = 0; k < ntargets; k++)
            if ((d = pt_conf_find(targets[k].table, scope, name)) != NULL)
                break;
        if (d == NULL) {
            const char *where = config_setting_name(group);
            const char *hint = pt_conf_suggest_directive(name, scope, targets, ntargets);
            pt_conf_error(cf, s, "unknown setting \"%s\"%s%s%s%s%s", name,
                          where ? " in " : "", where ? where : "",
                          hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
            rc = PT_ERROR;
            continue;
        }
        if (pt_conf_apply(cf, s, d, targets[k].base) != PT_OK)
            rc = PT_ERROR;
    }
    return rc;
}

void pt_conf_merge(const pt_directive_t *t, unsigned scope, void *child, const void *parent)
{
    for (; t->name; t++) {
        if (!(t->scope & scope) || !pt_conf_is_unset(t, child))
            continue;
        memcpy((char *) child + t->offset, (const char *) parent + t->offset,
               pt_conf_field_size(t->type));
    }
}

int pt_conf_defaults(pt_conf_ctx_t *cf, const pt_directive_t *t, unsigned scope, void *base)
{
    int rc = PT_OK;

    for (; t->name; t++) {
        if (!(t->scope & scope) || t->def == NULL || !pt_conf_is_unset(t, base))
            continue;
        /* Parse the default exactly as a config value, so the table, the
         * man page and the parser can never disagree on its meaning. */
        config_t c;
        char text[512];
        config_init(&c);
        snprintf(text, sizeof(text), "%s = %s;", t->name, t->def);
        if (config_read_string(&c, text) != CONFIG_TRUE) {
            pt_conf_error(cf, NULL, "built-in default of \"%s\" does not parse", t->name);
            rc = PT_ERROR;
        } else if (pt_conf_apply(cf, config_setting_get_elem(config_root_setting(&c), 0), t,
                                 base) != PT_OK) {
            rc = PT_ERROR;
        }
        config_destroy(&c);
    }
    return rc;
}

void pt_conf_indent(FILE *out, int indent)
{
    fprintf(out, "%*s", indent * 2, "");
}

void pt_conf_print_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

void pt_conf_dump(FILE *out, const pt_directive_t *t, unsigned scope, const void *base,
                  int indent)
{
    void *b = (void *) base;
    char buf[64];

    for (; t->name; t++) {
        if (!(t->scope & scope) || pt_conf_is_unset(t, base))
            continue;
        if (t->type == PT_CONF_CUSTOM && t->dump == NULL)
            continue;
        pt_conf_indent(out, indent);
        fprintf(out, "%s = ", t->name);
        switch (t->type) {
        case PT_CONF_BOOL:
            fputs(*pt_conf_int(b, t) ? "true" : "false", out);
            break;
        case PT_CONF_UINT:
            fprintf(out, "%" PRId64, *pt_conf_i64(b, t));
            break;
        case PT_CONF_DURATION:
            pt_format_duration(buf, sizeof(buf), *pt_conf_i64(b, t));
            fprintf(out, "\"%s\"", buf);
            break;
        case PT_CONF_SIZE:
            pt_format_size(buf, sizeof(buf), (uint64_t) *pt_conf_i64(b, t));
            fprintf(out, "\"%s\"", buf);
            break;
        case PT_CONF_STRING:
            pt_conf_print_string(out, *pt_conf_ptr(b, t));
            break;
        case PT_CONF_ENUM: {
            const pt_conf_enum_t *e = t->arg;
            while (e->name && e->value != *pt_conf_int(b, t))
                e++;
            fprintf(out, "\"%s\"", e->name ? e->name : "?");
            break;
        }
        case PT_CONF_CUSTOM:
            t->dump(out, (const char *) base + t->offset, t, indent);
            break;
        case PT_CONF_STRINGS: {
            const char *const *v = *pt_conf_ptr(b, t);
            fputc('[', out);
            for (size_t i = 0; v[i]; i++) {
                fputs(i ? ", " : " ", out);
                pt_conf_print_string(out, v[i]);
            }
            fputs(" ]", out);
            break;
        }
        case PT_CONF_ZONE: {
            const pt_conf_zone_t *z = *pt_conf_ptr(b, t);
            pt_format_size(buf, sizeof(buf), (uint64_t) z->size);
            fprintf(out, "\"%s:%s\"", z->name, buf);
            break;
        }
        case PT_CONF_COMPILED:
            pt_conf_print_string(out, pt_conf_compiled(b, t)->text);
            break;
        }
        fputs(";\n", out);
    }
}
