/*
 * mod_proxy.c: the proxy content module: the "proxy" directive names the
 * upstream that answers a route, and the rows of pt_proxy_conf_t say how
 * requests are forwarded (X-Forwarded-*, Forwarded, Via, X-Request-ID,
 * WebSocket). The proxying itself is worker/proxy/.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/proxy/proxy.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_probe.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#define PT_PROXY_FIELD(f)   offsetof(pt_proxy_conf_t, f)

static int pt_proxy_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf);
static int pt_proxy_init_worker(const pt_conf_t *conf);
static void pt_proxy_exit_worker(const pt_conf_t *conf);
static void pt_proxy_retire(void);
static int pt_proxy_content(pt_request_t *r);
static int pt_proxy_check_upgrade(pt_conf_ctx_t *cf, const config_setting_t *s, char *item);

/* RFC 9113 3.1 removed the h2c upgrade: forwarded, it would let a client
 * switch its connection to HTTP/2 with the backend past every route rule,
 * so no list may name it. */
static const pt_conf_strings_arg_t pt_proxy_upgrade_arg = { NULL, pt_proxy_check_upgrade };
/* Memory for one request's body: at most 1 GiB (a size of 0 sends all of
 * a buffered body through the file). */
static const pt_conf_bounds_t pt_proxy_buffer_bounds = { 0, INT64_C(1) << 30 };
static const pt_conf_bounds_t pt_proxy_buffer_max_bounds = { 0, INT64_MAX };

/* "proxy" chooses the handler, so only a route names it; the others are
 * how the proxy forwards and may be given in defaults { } too. */
static const pt_directive_t pt_proxy_directives[] = {
    { "proxy", PT_CONF_STRING, PT_SCOPE_HANDLER, PT_PROXY_FIELD(upstream_name), NULL, NULL,
      NULL, NULL, "the upstream that answers" },
    { "x_forwarded", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_PROXY_FIELD(xff), "true", NULL, NULL,
      NULL, "set X-Forwarded-For/-Proto/-Host" },
    { "forwarded", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_PROXY_FIELD(forwarded), "false", NULL,
      NULL, NULL, "set RFC 7239 Forwarded" },
    { "via", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_PROXY_FIELD(via), "true", NULL, NULL, NULL,
      "add Via both ways" },
    { "request_id", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_PROXY_FIELD(request_id), "true", NULL,
      NULL, NULL, "generate X-Request-ID" },
    { "websocket", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_PROXY_FIELD(websocket), "false", NULL,
      NULL, NULL, "forward Upgrade (to the protocols in upgrade)" },
    { "upgrade", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_PROXY_FIELD(upgrade), "[\"websocket\"]",
      &pt_proxy_upgrade_arg, NULL, NULL, "protocols an Upgrade may switch to" },
    { "tunnel_timeout", PT_CONF_DURATION, PT_SCOPE_ROUTE, PT_PROXY_FIELD(tunnel_timeout),
      "\"5m\"", &pt_conf_positive, NULL, NULL, "idle timeout of an upgraded connection" },
    { "replace_upstream_errors", PT_CONF_BOOL, PT_SCOPE_ROUTE,
      PT_PROXY_FIELD(replace_upstream_errors), "false", NULL, NULL, NULL,
      "render upstream 5xx with the error pages" },
    { "request_buffering", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_PROXY_FIELD(request_buffering),
      "true", NULL, NULL, NULL, "collect the request body before connecting upstream" },
    { "request_buffer_size", PT_CONF_SIZE, PT_SCOPE_ROUTE,
      PT_PROXY_FIELD(request_buffer_size), "\"1m\"", &pt_proxy_buffer_bounds, NULL, NULL,
      "of a buffered body, what is held in memory" },
    { "request_buffer_max", PT_CONF_SIZE, PT_SCOPE_ROUTE, PT_PROXY_FIELD(request_buffer_max),
      "\"64m\"", &pt_proxy_buffer_max_bounds, NULL, NULL,
      "the largest body buffered (memory and file); larger ones stream" },
    { "request_buffer_path", PT_CONF_STRING, PT_SCOPE_ROUTE,
      PT_PROXY_FIELD(request_buffer_path), "\"/tmp\"", NULL, NULL, NULL,
      "directory of the unlinked files of buffered bodies" },
    { "retry_non_idempotent", PT_CONF_BOOL, PT_SCOPE_ROUTE,
      PT_PROXY_FIELD(retry_non_idempotent), "false", NULL, NULL, NULL,
      "the upstream's retry_on applies to non-idempotent requests too" },
    { "retry_sent_body", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_PROXY_FIELD(retry_sent_body),
      "false", NULL, NULL, NULL,
      "retry_on applies to requests whose body went out, when it is held whole" },
    PT_DIRECTIVE_END
};

pt_module_t pt_proxy_module = {
    .name = "proxy",
    .directives = pt_proxy_directives,
    .route_conf_size = sizeof(pt_proxy_conf_t),
    .init_route = pt_proxy_init_route,
    .init_worker = pt_proxy_init_worker,
    .exit_worker = pt_proxy_exit_worker,
    .retire = pt_proxy_retire,
    .content = pt_proxy_content,
};

/* Whether the workers can create files in the directory sb describes: a
 * master started as root runs them as user (nobody by default) with group
 * and no supplementary groups. Unknown users are the loader's error. */
static bool pt_proxy_dir_writable(const pt_conf_t *conf, const char *path,
                                  const struct stat *sb)
{
    if (geteuid() != 0)
        return access(path, W_OK | X_OK) == 0;     /* the workers run as we do */
    struct passwd *pw = getpwnam(conf->main.user ? conf->main.user : "nobody");
    if (pw == NULL || pw->pw_uid == 0)
        return true;
    gid_t gid = pw->pw_gid;
    if (conf->main.group) {
        struct group *gr = getgrnam(conf->main.group);
        if (gr)
            gid = gr->gr_gid;
    }
    mode_t need = sb->st_uid == pw->pw_uid ? (S_IWUSR | S_IXUSR)
                  : sb->st_gid == gid ? (S_IWGRP | S_IXGRP) : (S_IWOTH | S_IXOTH);
    return (sb->st_mode & need) == need;
}

static int pt_proxy_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    pt_proxy_conf_t *pc = rconf;

    if (pc->upstream_name == NULL)
        return PT_OK;
    /* Relative: from the main configuration file's directory. */
    if (pc->request_buffer_path && pc->request_buffer_path[0] != '/')
        pc->request_buffer_path = pt_conf_path(cf, pc->request_buffer_path);
    struct stat sb;
    if (pc->request_buffering == 1 && pc->request_buffer_max > pc->request_buffer_size
        && (stat(pc->request_buffer_path, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): request_buffer_path \"%s\" is not a "
                      "directory", route->name, route->line, pc->request_buffer_path);
        return PT_ERROR;
    }
    if (pc->request_buffering == 1 && pc->request_buffer_max > pc->request_buffer_size
        && !pt_proxy_dir_writable(conf, pc->request_buffer_path, &sb)) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): request_buffer_path \"%s\" is not "
                      "writable by the workers' user", route->name, route->line,
                      pc->request_buffer_path);
        return PT_ERROR;
    }
    for (size_t i = 0; i < conf->nupstreams; i++) {
        if (strcmp(conf->upstreams[i].name, pc->upstream_name) == 0) {
            pc->upstream = &conf->upstreams[i];
            break;
        }
    }
    if (pc->upstream == NULL) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): no upstream named \"%s\"",
                      route->name, route->line, pc->upstream_name);
        return PT_ERROR;
    }
    if (route->handler) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): give a route one of proxy, return "
                      "and echo", route->name, route->line);
        return PT_ERROR;
    }
    route->handler = &pt_proxy_module;
    return PT_OK;
}

/* An Upgrade protocol: token [ "/" token ] (RFC 9110 7.8), never h2c. */
static int pt_proxy_check_upgrade(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    const char *slash = strchr(item, '/');
    size_t name_len = slash ? (size_t) (slash - item) : strlen(item);
    bool ok = name_len > 0 && (slash == NULL || slash[1] != '\0');

    for (const char *q = item; ok && *q; q++)
        ok = pt_str_tchar[(unsigned char) *q] || (q == slash);
    if (!ok) {
        pt_conf_error(cf, s, "invalid upgrade protocol \"%s\"", item);
        return PT_ERROR;
    }
    if (name_len == 3 && strncasecmp(item, "h2c", 3) == 0) {
        pt_conf_error(cf, s, "\"%s\" cannot be forwarded: HTTP/2 has no upgrade "
                      "(RFC 9113 3.1)", item);
        return PT_ERROR;
    }
    return PT_OK;
}

static int pt_proxy_content(pt_request_t *r)
{
    const pt_proxy_conf_t *pc = r->route->mod_conf[pt_proxy_module.index];

    /* [traffic steering] a module chose another upstream (mod_split.c): the
     * route's settings with that upstream, whose own rules then apply. */
    if (r->upstream_override && r->upstream_override != pc->upstream) {
        pt_proxy_conf_t *o = pt_arena_alloc(r->arena, sizeof(*o));
        if (o == NULL)
            return 500;
        *o = *pc;
        o->upstream = r->upstream_override;
        pc = o;
    }
    return pt_proxy_start(r, pc);
}

static int pt_proxy_init_worker(const pt_conf_t *conf)
{
    if (pt_upstream_init_worker(conf) != PT_OK)
        return PT_ERROR;
    return pt_upstream_probe_start(conf);
}

static void pt_proxy_retire(void)
{
    pt_upstream_probe_stop();       /* another worker takes the probing over */
    pt_upstream_close_idle();
}

static void pt_proxy_exit_worker(const pt_conf_t *conf)
{
    (void) conf;
    pt_upstream_probe_stop();
    pt_upstream_exit_worker();
}
