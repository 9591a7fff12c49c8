/*
 * conf_load.c: read the libconfig file and run the core and module tables
 * over it, in this order: portico { } (process settings and connection
 * defaults), defaults { } (route defaults), listen ( ), upstreams { },
 * routes ( ); then compile the router. Every error names file and line;
 * names no table knows are errors, so typos do not pass silently.
 */
#include "common/pt.h"
#include <ctype.h>
#include "common/conf.h"
#include "common/log.h"
#include "master/conf_load.h"
#include "worker/core/conf.h"
#include "worker/core/file_conf.h"
#include "worker/core/metrics.h"
#include "worker/core/module.h"
#include "worker/router/router.h"
#include "worker/tls/tls.h"
#include "worker/upstream/upstream_dns.h"

#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#define PT_CONF_ARENA_BLOCK     (64 * 1024)
#define PT_MCONF_FIELD(f)       offsetof(pt_main_conf_t, f)

static int pt_conf_set_workers(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                               const pt_directive_t *d);
static void pt_conf_dump_workers(FILE *out, const void *field, const pt_directive_t *d,
                                 int indent);

static const pt_conf_enum_t pt_conf_log_levels[] = {
    { "emerg", PT_LOG_EMERG }, { "alert", PT_LOG_ALERT }, { "crit", PT_LOG_CRIT },
    { "error", PT_LOG_ERR }, { "warn", PT_LOG_WARN }, { "notice", PT_LOG_NOTICE },
    { "info", PT_LOG_INFO }, { "debug", PT_LOG_DEBUG }, { NULL, 0 }
};
static const pt_conf_bounds_t pt_conf_shm_bounds = { 1024 * 1024, INT64_C(64) << 30 };
static const pt_conf_bounds_t pt_conf_gen_bounds = { 1, 64 };
static const pt_conf_bounds_t pt_conf_conn_bounds = { 16, 1000000 };
static const pt_conf_bounds_t pt_conf_nofile_bounds = { 64, 16777216 };

/* The process settings of portico { }. */
const pt_directive_t pt_main_directives[] = {
    { "workers", PT_CONF_CUSTOM, PT_SCOPE_MAIN, PT_MCONF_FIELD(workers), NULL, NULL,
      pt_conf_set_workers, pt_conf_dump_workers, "worker processes, or \"auto\"" },
    { "user", PT_CONF_STRING, PT_SCOPE_MAIN, PT_MCONF_FIELD(user), NULL, NULL, NULL, NULL,
      "user the workers run as" },
    { "group", PT_CONF_STRING, PT_SCOPE_MAIN, PT_MCONF_FIELD(group), NULL, NULL, NULL, NULL,
      "group the workers run as" },
    { "pidfile", PT_CONF_STRING, PT_SCOPE_MAIN, PT_MCONF_FIELD(pidfile), "\"" PT_PID_PATH "\"",
      NULL, NULL, NULL, "the master's pid file" },
    { "error_log", PT_CONF_STRING, PT_SCOPE_MAIN, PT_MCONF_FIELD(error_log), NULL, NULL, NULL,
      NULL, "error log file, or \"stderr\"" },
    { "log_level", PT_CONF_ENUM, PT_SCOPE_MAIN, PT_MCONF_FIELD(log_level), "\"info\"",
      pt_conf_log_levels, NULL, NULL, "least severe level logged" },
    { "shm_size", PT_CONF_SIZE, PT_SCOPE_MAIN, PT_MCONF_FIELD(shm_size), "\"32M\"",
      &pt_conf_shm_bounds, NULL, NULL, "shared memory segment" },
    { "drain_timeout", PT_CONF_DURATION, PT_SCOPE_MAIN, PT_MCONF_FIELD(drain_timeout),
      "\"30s\"", NULL, NULL, NULL, "how long a retiring worker finishes requests" },
    { "max_generations", PT_CONF_UINT, PT_SCOPE_MAIN, PT_MCONF_FIELD(max_generations), "4",
      &pt_conf_gen_bounds, NULL, NULL, "old generations allowed to linger" },
    { "worker_connections", PT_CONF_UINT, PT_SCOPE_MAIN, PT_MCONF_FIELD(worker_connections),
      "10000", &pt_conf_conn_bounds, NULL, NULL, "client connections per worker" },
    { "worker_rlimit_nofile", PT_CONF_UINT, PT_SCOPE_MAIN,
      PT_MCONF_FIELD(worker_rlimit_nofile), NULL, &pt_conf_nofile_bounds, NULL, NULL,
      "open file limit of workers" },
    /* dns: the resolvers of upstream host names (worker/upstream/upstream_dns.h) */
    { "resolver", PT_CONF_CUSTOM, PT_SCOPE_MAIN, PT_MCONF_FIELD(resolver), NULL, NULL,
      pt_upstream_dns_conf_set_resolver, pt_upstream_dns_conf_dump_resolver,
      "DNS servers for upstream host names (default: /etc/resolv.conf's)" },
    { "resolver_timeout", PT_CONF_DURATION, PT_SCOPE_MAIN, PT_MCONF_FIELD(resolver_timeout),
      "\"2s\"", &pt_conf_positive, NULL, NULL, "how long a resolver has to answer a query" },
    /* end dns */
    PT_DIRECTIVE_END
};

static const char *const pt_conf_top_names[] = {
    "portico", "defaults", "listen", "upstreams", "routes", NULL
};

static int pt_conf_set_workers(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                               const pt_directive_t *d)
{
    int64_t v;

    if (config_setting_type(s) == CONFIG_TYPE_STRING
        && strcmp(config_setting_get_string(s), "auto") == 0) {
        *(int64_t *) field = 0;
        return PT_OK;
    }
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        pt_conf_error(cf, s, "\"workers\" must be a number or \"auto\"");
        return PT_ERROR;
    }
    if (pt_conf_get_uint(cf, s, 1, 512, &v) != PT_OK)
        return PT_ERROR;
    *(int64_t *) field = v;
    return PT_OK;
}

static void pt_conf_dump_workers(FILE *out, const void *field, const pt_directive_t *d,
                                 int indent)
{
    int64_t v = *(const int64_t *) field;

    if (v == 0)
        fputs("\"auto\"", out);
    else
        fprintf(out, "%" PRId64, v);
}

static size_t pt_conf_targets(pt_conf_t *conf, unsigned scope, void **confs,
                              pt_conf_target_t *t, size_t n)
{
    return n + pt_conf_module_targets(conf, scope, confs, t + n, PT_MODULES_MAX);
}

/* Every module's route settings may be given in defaults { }. What answers
 * a request (proxy, return, echo: PT_SCOPE_HANDLER rows) is a route's own
 * choice: the walk at PT_SCOPE_ROUTE does not find those, so they are
 * unknown there. */
static size_t pt_conf_default_targets(pt_conf_t *conf, pt_conf_target_t *t, size_t n)
{
    return pt_conf_targets(conf, PT_SCOPE_ROUTE, conf->mod_defaults, t, n);
}

static int pt_conf_load_portico(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s)
{
    pt_conf_target_t t[2 + PT_MODULES_MAX] = {
        { pt_main_directives, &conf->main },
        { pt_listen_directives, &conf->listen_defaults },
    };

    if (s == NULL)
        return PT_OK;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"portico\" must be a group { ... }");
        return PT_ERROR;
    }
    size_t n = pt_conf_targets(conf, PT_SCOPE_MAIN, conf->mod_main, t, 2);
    int rc = pt_conf_walk(cf, s, PT_SCOPE_MAIN, t, n, NULL);
    /* Caught by -t rather than at the first start as root. */
    if (conf->main.user && getpwnam(conf->main.user) == NULL) {
        pt_conf_error(cf, config_setting_get_member(s, "user"), "no user named \"%s\"",
                      conf->main.user);
        rc = PT_ERROR;
    }
    if (conf->main.group && getgrnam(conf->main.group) == NULL) {
        pt_conf_error(cf, config_setting_get_member(s, "group"), "no group named \"%s\"",
                      conf->main.group);
        rc = PT_ERROR;
    }
    return rc;
}

static int pt_conf_load_defaults(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s)
{
    pt_conf_target_t t[1 + PT_MODULES_MAX] = { { pt_route_directives, &conf->route_defaults } };

    if (s == NULL)
        return PT_OK;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"defaults\" must be a group { ... }");
        return PT_ERROR;
    }
    size_t n = pt_conf_default_targets(conf, t, 1);
    return pt_conf_walk(cf, s, PT_SCOPE_ROUTE, t, n, NULL);
}

static int pt_conf_load_listeners(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s)
{
    int rc = PT_OK;

    if (s == NULL) {
        pt_conf_error(cf, NULL, "no listen section: portico needs at least one address, "
                      "e.g. listen = ( \"127.0.0.1:8080\" );");
        return PT_ERROR;
    }
    if (config_setting_type(s) != CONFIG_TYPE_LIST && config_setting_type(s) != CONFIG_TYPE_ARRAY) {
        pt_conf_error(cf, s, "\"listen\" must be a list ( ... ) of addresses or groups");
        return PT_ERROR;
    }
    size_t n = (size_t) config_setting_length(s);
    if (n == 0 || n > PT_LISTENERS_MAX) {
        pt_conf_error(cf, s, "\"listen\" needs 1 to %d entries", PT_LISTENERS_MAX);
        return PT_ERROR;
    }
    conf->listeners = pt_arena_calloc(cf->arena, n * sizeof(*conf->listeners));
    if (conf->listeners == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        pt_listener_t *l = &conf->listeners[i];
        l->index = (unsigned) i;
        if (pt_listen_conf_parse(cf, conf, e, l, pt_tls_conf_listen) != PT_OK) {
            rc = PT_ERROR;
            continue;
        }
        for (size_t k = 0; k < i; k++) {
            const pt_listener_t *o = &conf->listeners[k];
            const config_setting_t *a = config_setting_get_member(e, "address");
            if (o->address && o->addr.len == l->addr.len
                && memcmp(&o->addr.ss, &l->addr.ss, l->addr.len) == 0) {
                pt_conf_error(cf, a ? a : e, "address %s is already listened on (line %u)",
                              l->address, o->line);
                rc = PT_ERROR;
            } else if (o->name && strcmp(o->name, l->name) == 0) {
                pt_conf_error(cf, e, "a listener named \"%s\" exists (line %u)", l->name,
                              o->line);
                rc = PT_ERROR;
            }
        }
    }
    conf->nlisteners = n;
    return rc;
}

/* A drop-in file's own list: "routes_billing" for base "routes". */
static bool pt_conf_drop_in(const char *name, const char *base)
{
    size_t n = strlen(base);

    return name && strncmp(name, base, n) == 0 && name[n] == '_' && name[n + 1] != '\0';
}

/* The top-level settings named base or base_NAME, in file order (the
 * order of the @includes); their count. At most PT_CONF_PARTS. */
#define PT_CONF_PARTS   256

static size_t pt_conf_parts(pt_conf_ctx_t *cf, const config_setting_t *root, const char *base,
                            const config_setting_t **parts)
{
    size_t n = 0;

    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned) i);
        const char *name = config_setting_name(s);
        if (strcmp(name, base) != 0 && !pt_conf_drop_in(name, base))
            continue;
        if (n == PT_CONF_PARTS) {
            pt_conf_error(cf, s, "at most %d %s lists", PT_CONF_PARTS, base);
            break;
        }
        parts[n++] = s;
    }
    return n;
}

static int pt_conf_load_upstreams(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *root)
{
    const config_setting_t *parts[PT_CONF_PARTS];
    size_t nparts = pt_conf_parts(cf, root, "upstreams", parts), n = 0;
    int rc = PT_OK;

    for (size_t k = 0; k < nparts; k++) {
        if (config_setting_type(parts[k]) != CONFIG_TYPE_GROUP) {
            pt_conf_error(cf, parts[k], "\"%s\" must be a group { name = { servers = [...]; }; }",
                          config_setting_name(parts[k]));
            return PT_ERROR;
        }
        n += (size_t) config_setting_length(parts[k]);
    }
    conf->upstreams = pt_arena_calloc(cf->arena, (n ? n : 1) * sizeof(*conf->upstreams));
    const config_setting_t **set = pt_arena_alloc(cf->arena, (n ? n : 1) * sizeof(*set));
    if (conf->upstreams == NULL || set == NULL)
        return PT_ERROR;
    size_t i = 0;
    for (size_t k = 0; k < nparts; k++)
        for (int e = 0; e < config_setting_length(parts[k]); e++, i++) {
            const config_setting_t *s = set[i] = config_setting_get_elem(parts[k], (unsigned) e);
            /* Names are unique within a group (libconfig) and across them. */
            for (size_t j = 0; j < i; j++)
                if (strcmp(config_setting_name(set[j]), config_setting_name(s)) == 0) {
                    char buf[4096];
                    pt_conf_error(cf, s, "upstream \"%s\" is already defined at %s:%u",
                                  config_setting_name(s), pt_conf_file(cf, set[j], buf, sizeof(buf)),
                                  pt_conf_line(cf, set[j]));
                    rc = PT_ERROR;
                }
            conf->upstreams[i].index = (unsigned) i;
            if (pt_upstream_conf_parse(cf, conf, s, &conf->upstreams[i]) != PT_OK)
                rc = PT_ERROR;
        }
    conf->nupstreams = n;
    return rc;
}

static int pt_conf_route_cmp(const void *a, const void *b)
{
    const pt_route_t *x = *(const pt_route_t *const *) a, *y = *(const pt_route_t *const *) b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Route names name routes in logs, $route and errors: one route each. */
static int pt_conf_route_names_unique(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                      const config_setting_t *const *set)
{
    const pt_route_t **v = pt_arena_alloc(cf->arena, (conf->nroutes + 1) * sizeof(*v));
    int rc = PT_OK;

    if (v == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < conf->nroutes; i++)
        v[i] = &conf->routes[i];
    qsort(v, conf->nroutes, sizeof(*v), pt_conf_route_cmp);
    for (size_t i = 1; i < conf->nroutes; i++) {
        if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
            char buf[4096];
            pt_conf_error(cf, set[v[i]->index],
                          "route name \"%s\" is already used by the route at %s:%u",
                          v[i]->name, pt_conf_file(cf, set[v[i - 1]->index], buf, sizeof(buf)),
                          v[i - 1]->line);
            rc = PT_ERROR;
        }
    }
    return rc;
}

/* "routes" and every "routes_NAME" of a drop-in file, in file order: one
 * route table, the main file's routes first where it lists them first. */
static int pt_conf_load_routes(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *root)
{
    const config_setting_t *parts[PT_CONF_PARTS];
    size_t nparts = pt_conf_parts(cf, root, "routes", parts), n = 0;
    int rc = PT_OK;

    if (nparts == 0) {
        pt_conf_error(cf, NULL, "no \"routes\": nothing would answer requests");
        return PT_ERROR;
    }
    for (size_t k = 0; k < nparts; k++) {
        if (config_setting_type(parts[k]) != CONFIG_TYPE_LIST) {
            pt_conf_error(cf, parts[k], "\"%s\" must be a list ( { ... }, { ... } )",
                          config_setting_name(parts[k]));
            return PT_ERROR;
        }
        n += (size_t) config_setting_length(parts[k]);
    }
    conf->routes = pt_arena_calloc(cf->arena, (n ? n : 1) * sizeof(*conf->routes));
    const config_setting_t **set = pt_arena_alloc(cf->arena, (n ? n : 1) * sizeof(*set));
    if (conf->routes == NULL || set == NULL)
        return PT_ERROR;
    conf->nroutes = n;
    size_t i = 0;
    for (size_t k = 0; k < nparts; k++)
        for (int e = 0; e < config_setting_length(parts[k]); e++, i++) {
            set[i] = config_setting_get_elem(parts[k], (unsigned) e);
            conf->routes[i].index = (unsigned) i;
            if (pt_route_conf_parse(cf, conf, set[i], &conf->routes[i]) != PT_OK)
                rc = PT_ERROR;
        }
    if (rc != PT_OK)
        return rc;
    for (i = 0; i < n; i++) {
        /* Module checks of a route that fail without a setting of their
         * own to blame (no such upstream, two handlers) point at it. */
        cf->where = set[i];
        if (pt_route_conf_finish(cf, conf, &conf->routes[i], cf->where) != PT_OK)
            rc = PT_ERROR;
    }
    cf->where = NULL;
    return rc == PT_OK ? pt_conf_route_names_unique(cf, conf, set) : rc;
}

static int pt_conf_modules_alloc(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    for (size_t i = 0; i < pt_nmodules; i++) {
        const pt_module_t *m = pt_modules[i];
        if (m->main_conf_size) {
            if ((conf->mod_main[i] = pt_arena_calloc(cf->arena, m->main_conf_size)) == NULL)
                return PT_ERROR;
            if (m->directives)
                pt_conf_unset(m->directives, PT_SCOPE_MAIN, conf->mod_main[i]);
        }
        if (m->route_conf_size) {
            if ((conf->mod_defaults[i] = pt_arena_calloc(cf->arena, m->route_conf_size)) == NULL)
                return PT_ERROR;
            if (m->directives)
                pt_conf_unset(m->directives, PT_SCOPE_ROUTE, conf->mod_defaults[i]);
        }
    }
    return PT_OK;
}

static char *pt_conf_take_errors(pt_conf_ctx_t *cf)
{
    const char *text = cf->errors_len ? cf->errors : "configuration failed\n";

    return strdup(text);
}

/* The file libconfig blames, opened from the include dir (where we are
 * while it reads): the main file when it read the main file's expanded
 * text, the copied file for a copy. */
static FILE *pt_conf_open_source(const pt_conf_ctx_t *cf, const char *file)
{
    if (file == NULL) {
        const char *base = strrchr(cf->file, '/');
        return fopen(cf->include_dir && base ? base + 1 : cf->file, "r");
    }
    return fopen(pt_conf_copied(cf, file), "r");
}

/* libconfig says "cannot open include file" without naming it: find the
 * @include on the line it blames (we are in the include dir) and say
 * which file and why. */
static void pt_conf_include_error(pt_conf_ctx_t *cf, const config_t *lc)
{
    const char *file = config_error_file(lc), *name = NULL;
    unsigned line = (unsigned) config_error_line(lc), n = 0;
    char *text = NULL, *end = NULL;
    size_t cap = 0;
    FILE *f = pt_conf_open_source(cf, file);

    while (f && n < line && getline(&text, &cap, f) >= 0) {
        if (++n < line || (name = strstr(text, "@include")) == NULL)
            continue;
        if ((name = strchr(name, '"')) != NULL && (end = strchr(++name, '"')) != NULL)
            *end = '\0';
        else
            name = NULL;
    }
    if (f)
        fclose(f);
    if (name && access(name, R_OK) != 0)
        pt_conf_error_at(cf, file, line, "cannot open include file \"%s\": %s", name,
                         strerror(errno));
    else
        pt_conf_error_at(cf, file, line, "%s", config_error_text(lc));
    free(text);
}

/* libconfig's bare "syntax error" at the end of a file is nearly always a
 * group or list left open, and "duplicate setting name" names no setting:
 * read the file and say which. Quoted strings and comments are skipped. */
static void pt_conf_syntax_error(pt_conf_ctx_t *cf, const config_t *lc)
{
    const char *file = config_error_file(lc), *text = config_error_text(lc);
    unsigned line = (unsigned) config_error_line(lc);
    FILE *f = pt_conf_open_source(cf, file);
    char *buf = NULL;
    size_t len = 0;

    if (f) {
        char chunk[4096];
        size_t n;
        while (len < (1u << 24) && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
            char *nb = realloc(buf, len + n + 1);
            if (nb == NULL)
                break;
            buf = nb;
            memcpy(buf + len, chunk, n);
            len += n;
        }
        fclose(f);
    }
    if (buf == NULL) {
        pt_conf_error_at(cf, file, line, "%s", text);
        return;
    }
    buf[len] = '\0';
    if (strcmp(text, "duplicate setting name") == 0) {
        /* The name that starts the blamed line, and where it was first set. */
        const char *p = buf;
        for (unsigned l = 1; l < line && (p = strchr(p, '\n')) != NULL; l++)
            p++;
        char name[64] = "";
        if (p) {
            while (*p == ' ' || *p == '\t')
                p++;
            size_t k = 0;
            while (k < sizeof(name) - 1 && (isalnum((unsigned char) p[k]) || p[k] == '_'
                                            || p[k] == '-' || p[k] == '*'))
                k++;
            memcpy(name, p, k);
            name[k] = '\0';
        }
        if (name[0])
            pt_conf_error_at(cf, file, line, "duplicate setting \"%s\": it is set twice in "
                             "the same group", name);
        else
            pt_conf_error_at(cf, file, line, "%s", text);
        free(buf);
        return;
    }
    /* Track opening brackets; the innermost one still open at the end. */
    unsigned open_line[256], depth = 0, l = 1;
    char open_ch[256];
    bool unbalanced = false;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\n') {
            l++;
        } else if (c == '"') {
            for (i++; i < len && buf[i] != '"'; i++) {
                if (buf[i] == '\\' && i + 1 < len)
                    i++;
                else if (buf[i] == '\n')
                    l++;
            }
        } else if (c == '#' || (c == '/' && i + 1 < len && buf[i + 1] == '/')) {
            while (i < len && buf[i] != '\n')
                i++;
            l++;
        } else if (c == '/' && i + 1 < len && buf[i + 1] == '*') {
            for (i += 2; i + 1 < len && !(buf[i] == '*' && buf[i + 1] == '/'); i++)
                if (buf[i] == '\n')
                    l++;
            i++;
        } else if (c == '{' || c == '(' || c == '[') {
            if (depth < 256) {
                open_line[depth] = l;
                open_ch[depth] = c;
            }
            depth++;
        } else if (c == '}' || c == ')' || c == ']') {
            if (depth == 0)
                unbalanced = true;
            else
                depth--;
        }
    }
    if (depth > 0 && depth <= 256 && !unbalanced)
        pt_conf_error_at(cf, file, line, "%s: the \"%c\" opened at line %u is never closed",
                         text, open_ch[depth - 1], open_line[depth - 1]);
    else
        pt_conf_error_at(cf, file, line, "%s", text);
    free(buf);
}

/* Parse path into lc. libconfig 1.5 puts its include dir in front of every
 * @include name, absolute ones too, so instead of setting one we read from
 * inside the main file's directory: relative names resolve there, absolute
 * ones stay as they are. Errors name files as seen from our own directory
 * (cf->include_dir). */
static int pt_conf_read(pt_conf_ctx_t *cf, config_t *lc, const char *path)
{
    char *dir = pt_arena_strndup(cf->arena, path, strlen(path));
    char *base = pt_arena_strndup(cf->arena, path, strlen(path));
    int rc = PT_OK;

    if (dir == NULL || base == NULL)
        return PT_ERROR;
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cf->include_dir = dirname(dir);
    bool moved = cwd >= 0 && chdir(cf->include_dir) == 0;
    if (!moved)
        cf->include_dir = NULL;
    struct stat st;
    int read;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        pt_conf_error(cf, NULL, "is a directory, not a configuration file");
        rc = PT_ERROR;
    } else if ((read = pt_conf_include_read(cf, lc, moved ? basename(base) : path)) == -1) {
        rc = PT_ERROR;
    } else if (read != CONFIG_TRUE) {
        if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
            pt_conf_error(cf, NULL, "cannot read: %s", strerror(errno));
        else if (strcmp(config_error_text(lc), "cannot open include file") == 0)
            pt_conf_include_error(cf, lc);
        else if (strcmp(config_error_text(lc), "syntax error") == 0
                 || strcmp(config_error_text(lc), "duplicate setting name") == 0)
            pt_conf_syntax_error(cf, lc);
        else
            pt_conf_error_at(cf, config_error_file(lc), (unsigned) config_error_line(lc),
                             "%s", config_error_text(lc));
        rc = PT_ERROR;
    }
    if (moved && fchdir(cwd) != 0) {
        pt_conf_error(cf, NULL, "cannot return to the working directory: %s",
                      strerror(errno));
        rc = PT_ERROR;
    }
    if (cwd >= 0)
        close(cwd);
    return rc;
}

pt_conf_t *pt_conf_load(const char *path, unsigned generation, char **errors)
{
    pt_arena_t *arena = pt_arena_create(PT_CONF_ARENA_BLOCK, 0);
    pt_conf_t *conf = arena ? pt_arena_calloc(arena, sizeof(*conf)) : NULL;
    pt_conf_ctx_t cf = { .arena = arena, .file = path, .data = conf };
    config_t lc;

    *errors = NULL;
    if (conf == NULL) {
        pt_arena_destroy(arena);
        *errors = strdup("out of memory\n");
        return NULL;
    }
    conf->arena = arena;
    conf->path = pt_arena_strndup(arena, path, strlen(path));
    conf->generation = generation;

    config_init(&lc);
    if (pt_conf_read(&cf, &lc, path) != PT_OK
        || pt_conf_expand_env(&cf, config_root_setting(&lc)) != PT_OK)
        goto failed;
    if (cf.nerrors == 0 && pt_conf_modules_alloc(&cf, conf) != PT_OK)
        goto failed;

    const config_setting_t *root = config_root_setting(&lc);
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned) i);
        bool known = pt_conf_drop_in(config_setting_name(s), "routes")
                     || pt_conf_drop_in(config_setting_name(s), "upstreams");
        for (const char *const *n = pt_conf_top_names; *n; n++)
            known |= strcmp(*n, config_setting_name(s)) == 0;
        if (!known) {
            const char *hint = pt_conf_suggest(config_setting_name(s), pt_conf_top_names);
            if (hint)
                pt_conf_error(&cf, s, "unknown setting \"%s\" (did you mean \"%s\"?)",
                              config_setting_name(s), hint);
            else
                pt_conf_error(&cf, s, "unknown setting \"%s\" (the top level takes portico, "
                              "defaults, listen, upstreams and routes)", config_setting_name(s));
        }
    }

    pt_conf_unset(pt_main_directives, PT_SCOPE_MAIN, &conf->main);
    pt_conf_unset(pt_listen_directives, PT_SCOPE_MAIN, &conf->listen_defaults);
    pt_conf_unset(pt_route_directives, PT_SCOPE_ROUTE, &conf->route_defaults);
    pt_conf_load_portico(&cf, conf, config_setting_get_member(root, "portico"));
    pt_conf_load_defaults(&cf, conf, config_setting_get_member(root, "defaults"));
    pt_conf_defaults(&cf, pt_main_directives, PT_SCOPE_MAIN, &conf->main);
    /* One rule for every relative path: from the main file's directory,
     * as certificates, error pages and access logs are. */
    if (conf->main.pidfile)
        conf->main.pidfile = pt_conf_path(&cf, conf->main.pidfile);
    if (conf->main.error_log && strcmp(conf->main.error_log, "stderr") != 0
        && !pt_log_is_syslog(conf->main.error_log))
        conf->main.error_log = pt_conf_path(&cf, conf->main.error_log);
    pt_conf_defaults(&cf, pt_listen_directives, PT_SCOPE_MAIN, &conf->listen_defaults);
    pt_conf_defaults(&cf, pt_route_directives, PT_SCOPE_ROUTE, &conf->route_defaults);
    for (size_t i = 0; i < pt_nmodules; i++) {
        const pt_module_t *m = pt_modules[i];
        if (m->directives && conf->mod_main[i])
            pt_conf_defaults(&cf, m->directives, PT_SCOPE_MAIN, conf->mod_main[i]);
        if (m->directives && conf->mod_defaults[i])
            pt_conf_defaults(&cf, m->directives, PT_SCOPE_ROUTE, conf->mod_defaults[i]);
    }
    if (pt_conf_load_listeners(&cf, conf, config_setting_get_member(root, "listen")) != PT_OK
        || pt_conf_load_upstreams(&cf, conf, root)
           != PT_OK
        || cf.nerrors
        || pt_conf_load_routes(&cf, conf, root) != PT_OK
        || cf.nerrors)
        goto failed;
    if (pt_zone_conf_modules(&cf, conf) != PT_OK)
        goto failed;
    for (size_t i = 0; i < pt_nmodules; i++) {
        const pt_module_t *m = pt_modules[i];
        if (m->init_main && m->init_main(&cf, conf, conf->mod_main[i]) != PT_OK)
            goto failed;
    }
    if (pt_metrics_conf(&cf, conf) != PT_OK)
        goto failed;
    if ((conf->router = pt_router_build(&cf, conf)) == NULL || cf.nerrors)
        goto failed;

    config_destroy(&lc);
    return conf;

failed:
    *errors = pt_conf_take_errors(&cf);
    config_destroy(&lc);
    pt_conf_free(conf);
    return NULL;
}

void pt_conf_free(pt_conf_t *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; i < conf->nroutes; i++)
        pt_route_conf_free(&conf->routes[i]);
    for (pt_conf_file_t *f = conf->files; f; f = f->next) {
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
    }
    pt_router_free(conf->router);
    pt_arena_destroy(conf->arena);
}

int pt_conf_mkdir_parent(const char *path)
{
    char dir[4096];
    size_t n = strlen(path);

    if (n >= sizeof(dir))
        return PT_ERROR;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return PT_OK;
    *slash = '\0';
    /* Create each missing level, like mkdir -p. */
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return PT_ERROR;
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return PT_OK;
}

/* Whether a file could be created at path (its directories made as
 * pt_conf_mkdir_parent would): a scratch file is made and removed in the
 * nearest directory that exists. errno set when not. */
static bool pt_conf_creatable(const char *path)
{
    char dir[4096];
    size_t n = strlen(path);
    struct stat st;

    if (n + 32 >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return false;
    }
    memcpy(dir, path, n + 1);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL) {
            strcpy(dir, ".");
        } else if (slash == dir) {
            dir[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (stat(dir, &st) == 0)
            break;
        if (errno != ENOENT || slash == NULL || slash == dir)
            return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    size_t d = strlen(dir);
    snprintf(dir + d, sizeof(dir) - d, "/.portico-t.%ld", (long) getpid());
    int fd = open(dir, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    close(fd);
    unlink(dir);
    return true;
}

int pt_conf_check_files(const pt_conf_t *conf, char *err, size_t err_len)
{
    for (const pt_conf_file_t *f = conf->files; f; f = f->next) {
        bool ok;
        if (!(f->flags & PT_CONF_FILE_APPEND)) {
            int fd = open(f->path, O_RDONLY | O_CLOEXEC);
            ok = fd >= 0;
            if (ok)
                close(fd);
        } else if (access(f->path, F_OK) == 0) {
            int fd = open(f->path, O_WRONLY | O_APPEND | O_CLOEXEC);
            ok = fd >= 0;
            if (ok)
                close(fd);
        } else {
            ok = errno == ENOENT && pt_conf_creatable(f->path);
        }
        if (!ok) {
            snprintf(err, err_len, "cannot open %s %s: %s", f->what, f->path, strerror(errno));
            return PT_ERROR;
        }
    }
    return PT_OK;
}

int pt_conf_check_pidfile(const char *path, char *err, size_t err_len)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
        return PT_OK;
    }
    if (errno == ENOENT && pt_conf_creatable(path))
        return PT_OK;
    snprintf(err, err_len, "cannot open pid file %s: %s", path, strerror(errno));
    return PT_ERROR;
}

int pt_conf_open_files(pt_conf_t *conf, bool chown_files, uid_t uid, gid_t gid, char *err,
                       size_t err_len)
{
    for (pt_conf_file_t *f = conf->files; f; f = f->next) {
        bool append = f->flags & PT_CONF_FILE_APPEND;
        if (append)
            pt_conf_mkdir_parent(f->path);
        int fd = append ? open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)
                        : open(f->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, err_len, "cannot open %s %s: %s", f->what, f->path, strerror(errno));
            return PT_ERROR;
        }
        if (append && chown_files && fchown(fd, uid, gid) != 0)
            pt_log_errno(PT_LOG_WARN, errno, "chown of %s", f->path);
        if (f->fd >= 0) {
            /* Reopen: keep the descriptor number the workers know. */
            dup3(fd, f->fd, O_CLOEXEC);
            close(fd);
        } else {
            f->fd = fd;
        }
    }
    return PT_OK;
}

void pt_conf_dump_all(FILE *out, const pt_conf_t *conf)
{
    fprintf(out, "# effective configuration of %s\nportico = {\n", conf->path);
    pt_conf_dump(out, pt_main_directives, PT_SCOPE_MAIN, &conf->main, 1);
    pt_conf_dump(out, pt_listen_directives, PT_SCOPE_MAIN, &conf->listen_defaults, 1);
    for (size_t i = 0; i < pt_nmodules; i++)
        if (pt_modules[i]->directives && conf->mod_main[i])
            pt_conf_dump(out, pt_modules[i]->directives, PT_SCOPE_MAIN, conf->mod_main[i], 1);
    fputs("};\ndefaults = {\n", out);
    pt_conf_dump(out, pt_route_directives, PT_SCOPE_ROUTE, &conf->route_defaults, 1);
    for (size_t i = 0; i < pt_nmodules; i++)
        if (pt_modules[i]->directives && conf->mod_defaults[i])
            pt_conf_dump(out, pt_modules[i]->directives, PT_SCOPE_ROUTE, conf->mod_defaults[i],
                         1);
    fputs("};\nlisten = (\n", out);
    for (size_t i = 0; i < conf->nlisteners; i++) {
        const pt_listener_t *l = &conf->listeners[i];
        fputs("  {\n    address = ", out);
        pt_conf_print_string(out, l->address);
        fputs(";\n    name = ", out);
        pt_conf_print_string(out, l->name);
        fputs(";\n", out);
        pt_conf_dump(out, pt_listen_directives, PT_SCOPE_LISTEN, &l->c, 2);
        if (l->tls) {
            fputs("    tls = ", out);
            pt_tls_conf_dump(out, &l->tls, NULL, 2);
            fputs(";\n", out);
        }
        fprintf(out, "  }%s\n", i + 1 < conf->nlisteners ? "," : "");
    }
    fputs(");\nupstreams = {\n", out);
    for (size_t i = 0; i < conf->nupstreams; i++)
        pt_upstream_conf_dump(out, &conf->upstreams[i], 1);
    fputs("};\nroutes = (\n", out);
    for (size_t i = 0; i < conf->nroutes; i++) {
        const pt_route_t *r = &conf->routes[i];
        fputs("  {\n", out);
        pt_route_conf_dump(out, r, 2);
        if (r->listeners) {
            /* The route keeps listener indexes; their names live here. */
            fputs("    listen = [", out);
            for (size_t k = 0, n = 0; k < conf->nlisteners; k++) {
                if (!(r->listeners & (UINT64_C(1) << k)))
                    continue;
                fputs(n++ ? ", " : " ", out);
                pt_conf_print_string(out, conf->listeners[k].name);
            }
            fputs(" ];\n", out);
        }
        pt_conf_dump(out, pt_route_directives, PT_SCOPE_ROUTE, &r->c, 2);
        for (size_t k = 0; k < pt_nmodules; k++)
            if (pt_modules[k]->directives && r->mod_conf[k])
                pt_conf_dump(out, pt_modules[k]->directives, PT_SCOPE_ROUTE_ENTRY,
                             r->mod_conf[k], 2);
        fprintf(out, "  }%s\n", i + 1 < conf->nroutes ? "," : "");
    }
    fputs(");\n", out);
}
