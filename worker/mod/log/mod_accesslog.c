/*
 * mod_accesslog.c: one line per request, in the log phase.
 *
 *   access_log = "/var/log/portico/access.log";                 combined
 *   access_log = { path = "..."; format = "json"; };
 *   access_log = { path = "..."; format = "$remote_addr $status $request_time"; };
 *   access_log = false;                                          off
 *
 * Files are opened by the master (asked for with pt_conf_file_add, so a
 * worker needs no right to the log directory) and written with O_APPEND
 * by every worker. Each worker buffers lines and writes them out when the
 * buffer fills, every second, and when it exits, so concurrent lines
 * never interleave.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "worker/core/file_conf.h"
#include "worker/core/module.h"
#include "common/syslog.h"
#include "worker/http/request.h"
#include "worker/core/timer.h"
#include "worker/core/var.h"

#include <inttypes.h>
#include <unistd.h>

#define PT_ACCESSLOG_BUF        (64 * 1024)
#define PT_ACCESSLOG_FLUSH_MS   1000
#define PT_ACCESSLOG_SYSLOG_LINE 8192   /* longer lines are cut for syslog */

enum { PT_ACCESSLOG_COMBINED = 0, PT_ACCESSLOG_JSON, PT_ACCESSLOG_CUSTOM };

/* A file this module writes: the master's handle, and the worker buffer
 * its lines collect in. Every access_log naming the path shares it. */
typedef struct pt_accesslog_file_s pt_accesslog_file_t;
struct pt_accesslog_file_s {
    const pt_conf_file_t *file;
    unsigned index;             /* into pt_accesslog_bufs */
    pt_accesslog_file_t *next;
};

/* The module's files in one conf. */
typedef struct {
    pt_accesslog_file_t *files;
    size_t nfiles;
    const char *syslogs[16];    /* syslog sockets, PT_ACCESSLOG_SYSLOGS */
    size_t nsyslogs;
} pt_accesslog_main_t;

/* A compiled format: which one, and its template. */
typedef struct {
    int kind;                   /* PT_ACCESSLOG_COMBINED, _JSON, _CUSTOM */
    pt_var_tpl_t *tpl;
} pt_accesslog_format_t;

/* One access_log setting: a file and the format its lines take there. */
typedef struct {
    bool off;
    pt_accesslog_file_t *file;
    const char *path;
    pt_conf_compiled_t format;  /* code: a pt_accesslog_format_t */
    int escape;                 /* ENUM: PT_ACCESSLOG_ESCAPE_* */
    const char *facility;       /* STRING: syslog targets only */
    int syslog;                 /* >= 0: index into pt_accesslog_syslogs; -1: a file */
    int facility_code;
} pt_accesslog_t;

/* A syslog socket access lines go to, one per distinct path in a conf;
 * each worker connects its own. */
#define PT_ACCESSLOG_SYSLOGS    16

typedef struct {
    char path[108];
    int fd;
    uint64_t dropped, reported;
} pt_accesslog_syslog_t;

static pt_accesslog_syslog_t pt_accesslog_syslogs[PT_ACCESSLOG_SYSLOGS];
static size_t pt_accesslog_nsyslogs;

/* How values are written into a line: "default" is the format's own (JSON
 * for "json", \xHH for the others), "json" makes any template a JSON
 * document's (strings escaped, bare values numbers or null). There is no
 * "as they are": a client's bytes must not split or forge log lines. */
enum { PT_ACCESSLOG_ESCAPE_DEFAULT = 0, PT_ACCESSLOG_ESCAPE_JSON };

typedef struct {
    pt_accesslog_t *log;
} pt_accesslog_conf_t;

typedef struct {
    char *data;
    size_t len;
} pt_accesslog_buf_t;

static const char pt_accesslog_combined[] =
    "$remote_addr - - [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" "
    "\"$http_user_agent\"";
static const char pt_accesslog_json[] =
    "{\"time\":\"$time_iso8601\",\"remote_addr\":\"$remote_addr\",\"method\":\"$method\","
    "\"uri\":\"$request_uri\",\"protocol\":\"$protocol\",\"status\":$status,"
    "\"bytes_sent\":$bytes_sent,\"request_time\":$request_time,"
    "\"upstream_addr\":\"$upstream_addr\",\"upstream_response_time\":$upstream_response_time,"
    "\"request_id\":\"$request_id\",\"route\":\"$route\",\"host\":\"$host\","
    "\"user_agent\":\"$http_user_agent\",\"referer\":\"$http_referer\"}";

static pt_accesslog_buf_t *pt_accesslog_bufs;
static size_t pt_accesslog_nbufs;
static const pt_accesslog_main_t *pt_accesslog_worker_main;
static pt_timer_t pt_accesslog_timer;

static int pt_accesslog_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                 const pt_directive_t *d);
static void pt_accesslog_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                   int indent);
static int pt_accesslog_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                   void *rconf, const void *dconf);
static int pt_accesslog_init_worker(const pt_conf_t *conf);
static void pt_accesslog_exit_worker(const pt_conf_t *conf);
static void pt_accesslog_log(pt_request_t *r);
static void pt_accesslog_flush_hook(void);

static const void *pt_accesslog_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                        const char *text);

static const pt_directive_t pt_accesslog_directives[] = {
    { "access_log", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, offsetof(pt_accesslog_conf_t, log), NULL,
      NULL, pt_accesslog_conf_set, pt_accesslog_conf_dump, "request log" },
    PT_DIRECTIVE_END
};

static const pt_conf_compiler_t pt_accesslog_compiler = { pt_accesslog_compile };

static const pt_conf_enum_t pt_accesslog_escapes[] = {
    { "default", PT_ACCESSLOG_ESCAPE_DEFAULT }, { "json", PT_ACCESSLOG_ESCAPE_JSON },
    { NULL, 0 }
};

/* The members of access_log = { }; walked by pt_accesslog_conf_set only. */
static const pt_directive_t pt_accesslog_fields[] = {
    { "path", PT_CONF_STRING, PT_SCOPE_ROUTE, offsetof(pt_accesslog_t, path), NULL, NULL,
      NULL, NULL, "the log file (relative: from the main configuration file's directory)" },
    { "format", PT_CONF_COMPILED, PT_SCOPE_ROUTE, offsetof(pt_accesslog_t, format),
      "\"combined\"", &pt_accesslog_compiler, NULL, NULL,
      "\"combined\", \"json\" or a template" },
    { "facility", PT_CONF_STRING, PT_SCOPE_ROUTE, offsetof(pt_accesslog_t, facility),
      "\"local7\"", NULL, NULL, NULL, "the syslog facility of a syslog target" },
    { "escape", PT_CONF_ENUM, PT_SCOPE_ROUTE, offsetof(pt_accesslog_t, escape),
      "\"default\"", pt_accesslog_escapes, NULL, NULL,
      "how values are written: the format's own way, or as JSON" },
    PT_DIRECTIVE_END
};

pt_module_t pt_accesslog_module = {
    .name = "accesslog",
    .directives = pt_accesslog_directives,
    .main_conf_size = sizeof(pt_accesslog_main_t),
    .route_conf_size = sizeof(pt_accesslog_conf_t),
    .init_route = pt_accesslog_init_route,
    .init_worker = pt_accesslog_init_worker,
    .exit_worker = pt_accesslog_exit_worker,
    .log = pt_accesslog_log,
    .flush = pt_accesslog_flush_hook,
};

/* This module's one file for path in the conf being loaded. */
static pt_accesslog_file_t *pt_accesslog_file(pt_conf_ctx_t *cf, const char *path)
{
    pt_conf_t *conf = cf->data;
    pt_accesslog_main_t *m = conf->mod_main[pt_accesslog_module.index];
    pt_accesslog_file_t **tail = &m->files;

    for (pt_accesslog_file_t *f = m->files; f; f = f->next) {
        if (strcmp(f->file->path, path) == 0)
            return f;
        tail = &f->next;
    }
    pt_accesslog_file_t *f = pt_arena_calloc(cf->arena, sizeof(*f));
    if (f == NULL)
        return NULL;
    if ((f->file = pt_conf_file_add(cf, conf, path, PT_CONF_FILE_APPEND, "access log")) == NULL)
        return NULL;
    f->index = (unsigned) m->nfiles++;
    *tail = f;
    return f;
}

/* A format: the name of a built-in one or a template of the operator's. */
static const void *pt_accesslog_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                        const char *text)
{
    pt_accesslog_format_t *f = pt_arena_calloc(cf->arena, sizeof(*f));

    if (f == NULL)
        return NULL;
    if (strcmp(text, "combined") == 0) {
        f->kind = PT_ACCESSLOG_COMBINED;
        text = pt_accesslog_combined;
    } else if (strcmp(text, "json") == 0) {
        f->kind = PT_ACCESSLOG_JSON;
        text = pt_accesslog_json;
    } else {
        f->kind = PT_ACCESSLOG_CUSTOM;
    }
    return (f->tpl = pt_var_compile(cf, s, text)) != NULL ? f : NULL;
}

/* A syslog target: the socket's index among this conf's, shared by every
 * access_log naming it. */
static int pt_accesslog_syslog_add(pt_conf_ctx_t *cf, const config_setting_t *s,
                                   pt_accesslog_t *al, const char *sock, void *field)
{
    pt_conf_t *conf = cf->data;
    pt_accesslog_main_t *m = conf->mod_main[pt_accesslog_module.index];
    size_t i = 0;

    while (i < m->nsyslogs && strcmp(m->syslogs[i], sock) != 0)
        i++;
    if (i == m->nsyslogs) {
        if (m->nsyslogs == PT_ACCESSLOG_SYSLOGS) {
            pt_conf_error(cf, s, "access_log: at most %d syslog sockets", PT_ACCESSLOG_SYSLOGS);
            return PT_ERROR;
        }
        if ((m->syslogs[m->nsyslogs++] = pt_arena_strndup(cf->arena, sock, strlen(sock))) == NULL)
            return PT_ERROR;
    }
    al->syslog = (int) i;
    *(pt_accesslog_t **) field = al;
    return PT_OK;
}

static int pt_accesslog_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                 const pt_directive_t *d)
{
    pt_accesslog_t *al = pt_arena_calloc(cf->arena, sizeof(*al));
    pt_conf_target_t t = { pt_accesslog_fields, al };

    if (al == NULL)
        return PT_ERROR;
    pt_conf_unset(pt_accesslog_fields, PT_SCOPE_ROUTE, al);
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_BOOL:
        if (config_setting_get_bool(s)) {
            pt_conf_error(cf, s, "access_log = true needs a file: give a path instead");
            return PT_ERROR;
        }
        al->off = true;
        *(pt_accesslog_t **) field = al;
        return PT_OK;
    case CONFIG_TYPE_STRING:
        if ((al->path = pt_conf_get_string(cf, s)) == NULL)
            return PT_ERROR;
        break;
    case CONFIG_TYPE_GROUP:
        if (pt_conf_walk(cf, s, PT_SCOPE_ROUTE, &t, 1, NULL) != PT_OK)
            return PT_ERROR;
        break;
    default:
        pt_conf_error(cf, s, "access_log is a path, false, or { path = ...; format = ...; }");
        return PT_ERROR;
    }
    if (al->path == NULL || al->path[0] == '\0') {
        pt_conf_error(cf, s, "access_log needs a \"path\"");
        return PT_ERROR;
    }
    if (pt_conf_defaults(cf, pt_accesslog_fields, PT_SCOPE_ROUTE, al) != PT_OK)
        return PT_ERROR;
    al->syslog = -1;
    if (pt_log_is_syslog(al->path)) {
        const char *sock = strcmp(al->path, "syslog") == 0 || al->path[7] == '\0'
                           ? PT_SYSLOG_DEFAULT : al->path + 7;
        if ((al->facility_code = pt_syslog_facility(al->facility)) < 0) {
            pt_conf_error(cf, s, "access_log: unknown syslog facility \"%s\" (user, daemon, "
                          "local0 to local7)", al->facility);
            return PT_ERROR;
        }
        if (sock[0] != '/' || strlen(sock) >= sizeof(pt_accesslog_syslogs[0].path)) {
            pt_conf_error(cf, s, "access_log: a syslog socket is an absolute path of at most "
                          "107 bytes");
            return PT_ERROR;
        }
        return pt_accesslog_syslog_add(cf, s, al, sock, field);
    }
    al->path = pt_conf_path(cf, al->path);      /* relative: from the config's directory */
    if ((al->file = pt_accesslog_file(cf, al->path)) == NULL)
        return PT_ERROR;
    *(pt_accesslog_t **) field = al;
    return PT_OK;
}

static void pt_accesslog_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                                   int indent)
{
    const pt_accesslog_t *al = *(pt_accesslog_t *const *) field;

    if (al->off) {
        fputs("false", out);
        return;
    }
    fputs("{\n", out);
    pt_conf_dump(out, pt_accesslog_fields, PT_SCOPE_ROUTE, al, indent + 1);
    pt_conf_indent(out, indent);
    fputc('}', out);
}

static int pt_accesslog_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                   void *rconf, const void *dconf)
{
    pt_accesslog_conf_t *c = rconf;
    const pt_accesslog_conf_t *def = dconf;

    if (c->log == NULL && def)
        c->log = def->log;
    if (c->log == NULL || c->log->off)
        pt_module_phase_skip(route, &pt_accesslog_module);
    return PT_OK;
}

static void pt_accesslog_flush(const pt_accesslog_file_t *f)
{
    pt_accesslog_buf_t *b = &pt_accesslog_bufs[f->index];
    size_t off = 0;

    while (off < b->len) {
        ssize_t n = write(f->file->fd, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            pt_log_errno(PT_LOG_ERR, errno, "writing access log %s", f->file->path);
            break;
        }
        off += (size_t) n;
    }
    b->len = 0;
}

static void pt_accesslog_flush_all(void)
{
    for (const pt_accesslog_file_t *f = pt_accesslog_worker_main->files; f; f = f->next)
        if (pt_accesslog_bufs[f->index].len)
            pt_accesslog_flush(f);
}

static void pt_accesslog_tick(pt_timer_t *t)
{
    pt_accesslog_flush_all();
    for (size_t i = 0; i < pt_accesslog_nsyslogs; i++) {
        pt_accesslog_syslog_t *sl = &pt_accesslog_syslogs[i];
        if (sl->dropped > sl->reported) {
            pt_log(PT_LOG_WARN, "%" PRIu64 " access log lines dropped: syslog socket %s full "
                   "or gone", sl->dropped - sl->reported, sl->path);
            sl->reported = sl->dropped;
        }
    }
    pt_timer_set(t, PT_ACCESSLOG_FLUSH_MS);
}

static int pt_accesslog_init_worker(const pt_conf_t *conf)
{
    const pt_accesslog_main_t *m = conf->mod_main[pt_accesslog_module.index];

    pt_accesslog_worker_main = m;
    pt_accesslog_nbufs = m->nfiles;
    pt_accesslog_nsyslogs = m->nsyslogs;
    for (size_t i = 0; i < m->nsyslogs; i++) {
        pt_accesslog_syslog_t *sl = &pt_accesslog_syslogs[i];
        strcpy(sl->path, m->syslogs[i]);
        sl->dropped = sl->reported = 0;
        /* Not there yet is fine: each send tries again. */
        sl->fd = pt_syslog_connect(sl->path);
    }
    if (m->nfiles == 0 && m->nsyslogs == 0)
        return PT_OK;
    pt_accesslog_bufs = calloc(m->nfiles ? m->nfiles : 1, sizeof(*pt_accesslog_bufs));
    if (pt_accesslog_bufs == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < m->nfiles; i++)
        if ((pt_accesslog_bufs[i].data = malloc(PT_ACCESSLOG_BUF)) == NULL)
            return PT_ERROR;
    pt_timer_prepare(&pt_accesslog_timer, pt_accesslog_tick, NULL);
    pt_timer_set(&pt_accesslog_timer, PT_ACCESSLOG_FLUSH_MS);
    return PT_OK;
}

static void pt_accesslog_exit_worker(const pt_conf_t *conf)
{
    for (size_t i = 0; i < pt_accesslog_nsyslogs; i++)
        if (pt_accesslog_syslogs[i].fd >= 0) {
            close(pt_accesslog_syslogs[i].fd);
            pt_accesslog_syslogs[i].fd = -1;
        }
    pt_accesslog_nsyslogs = 0;
    if (pt_accesslog_bufs == NULL)
        return;
    pt_accesslog_flush_all();
    pt_timer_del(&pt_accesslog_timer);
    for (size_t i = 0; i < pt_accesslog_nbufs; i++)
        free(pt_accesslog_bufs[i].data);
    free(pt_accesslog_bufs);
    pt_accesslog_bufs = NULL;
}

/* One line as one RFC 5424 message (MSGID "access"), never waiting. */
static void pt_accesslog_syslog_send(const pt_accesslog_t *al, pt_str_t line)
{
    pt_accesslog_syslog_t *sl = &pt_accesslog_syslogs[al->syslog];
    char msg[256 + PT_ACCESSLOG_SYSLOG_LINE];
    size_t n = pt_syslog_header(msg, al->facility_code, PT_LOG_INFO, "portico",
                                (long) getpid(), "access");
    size_t len = pt_min(line.len, (size_t) PT_ACCESSLOG_SYSLOG_LINE);

    memcpy(msg + n, line.p, len);
    pt_syslog_send(&sl->fd, sl->path, msg, n + len, &sl->dropped);
}

static void pt_accesslog_log(pt_request_t *r)
{
    const pt_accesslog_t *al;

    if (r->route)
        al = ((pt_accesslog_conf_t *) r->route->mod_conf[pt_accesslog_module.index])->log;
    else
        al = ((pt_accesslog_conf_t *) r->conf->mod_defaults[pt_accesslog_module.index])->log;
    if (al == NULL || al->off || pt_accesslog_bufs == NULL)
        return;
    /* A line fits the buffer, its longest values cut to make it fit. */
    const pt_accesslog_format_t *f = al->format.code;
    bool json = al->escape == PT_ACCESSLOG_ESCAPE_JSON
                || (al->escape == PT_ACCESSLOG_ESCAPE_DEFAULT && f->kind == PT_ACCESSLOG_JSON);
    pt_str_t line = pt_var_render(f->tpl, r, json ? PT_VAR_JSON_DOC : PT_VAR_LOG, !json,
                                  PT_ACCESSLOG_BUF - 1);
    if (line.p == NULL)
        return;
    if (al->syslog >= 0) {
        pt_accesslog_syslog_send(al, line);
        return;
    }
    pt_accesslog_buf_t *b = &pt_accesslog_bufs[al->file->index];
    if (b->len + line.len + 1 > PT_ACCESSLOG_BUF)
        pt_accesslog_flush(al->file);
    if (line.len + 1 > PT_ACCESSLOG_BUF)
        line.len = PT_ACCESSLOG_BUF - 1;    /* a format longer than the buffer */
    memcpy(b->data + b->len, line.p, line.len);
    b->len += line.len;
    b->data[b->len++] = '\n';
}

/* Before the master's new log fds replace the old (reopen): write what is
 * buffered into the file it was meant for. */
static void pt_accesslog_flush_hook(void)
{
    if (pt_accesslog_bufs)
        pt_accesslog_flush_all();
}
