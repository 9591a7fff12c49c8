/*
 * http_error.c: rendering gateway-made errors (see http_error.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/http/http_error.h"
#include "worker/http/request_log.h"
#include "worker/core/metrics.h"
#include "worker/http/http_parse.h"
#include "worker/http/request.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PT_ERRPAGE_FILE_MAX     (1024 * 1024)

static const char *pt_http_error_default_detail(unsigned status)
{
    switch (status) {
    case 400: return "the request is malformed";
    case 404: return "no route matches the request";
    case 405: return "the method is not allowed here";
    case 408: return "the request was not received in time";
    case 413: return "the request body is too large";
    case 414: return "the request target is too long";
    case 417: return "the expectation cannot be met";
    case 431: return "the request header fields are too large";
    case 501: return "the request uses something this gateway does not implement";
    case 502: return "the upstream server failed to answer properly";
    case 503: return "no upstream server is available";
    case 504: return "the upstream server did not answer in time";
    case 505: return "the HTTP version is not supported";
    default:  return status >= 500 ? "the gateway failed to handle the request"
                                   : "the request cannot be handled";
    }
}

static const pt_errpage_t *pt_http_error_find(const pt_errpage_t *list, unsigned status)
{
    const pt_errpage_t *any = NULL;

    for (; list; list = list->next) {
        if (list->status == status)
            return list;
        if (list->status == 0)
            any = list;
    }
    return any;
}

const pt_errpage_t *pt_http_error_page(const pt_request_t *r, unsigned status)
{
    const pt_errpage_t *p = NULL;

    if (r->route)
        p = pt_http_error_find(r->route->c.errors, status);
    if (p == NULL)
        p = pt_http_error_find(r->conf->route_defaults.errors, status);
    return p;
}

void pt_http_error(pt_request_t *r, unsigned status, const char *detail)
{
    pt_http_error_fields(r, status, detail, NULL, 0);
}

void pt_http_error_fields(pt_request_t *r, unsigned status, const char *detail,
                          const pt_http_field_t *fields, unsigned nfields)
{
    const char *why = detail ? detail : pt_http_error_default_detail(status);

    r->error_detail = why;
    pt_metric_inc(PT_METRIC_GATEWAY_ERRORS, 1);
    pt_request_log_line(r, status >= 500 ? PT_LOG_WARN : PT_LOG_INFO, "%u: %s", status, why);

    if (r->response_started) {
        pt_request_abort(r, why);
        return;
    }
    /* Errors that leave the framing in doubt end the connection. */
    if (status == 400 || status == 408 || status == 413 || status == 414 || status == 431
        || status == 501 || status == 505)
        r->keepalive = false;

    const pt_errpage_t *page = pt_http_error_page(r, status);
    pt_http_field_t allow = { PT_STR("Allow"), PT_STR_NULL, PT_HDR_OTHER, 0 };
    const pt_http_field_t *extra = fields;
    unsigned nextra = nfields;
    if (status == 405) {
        /* The router left it on the request when it chose no route. */
        const char *methods = r->route_allow ? r->route_allow : "";
        allow.value = (pt_str_t) { methods, strlen(methods) };
        extra = &allow;
        nextra = 1;
    }
    if (page) {
        pt_response_send(r, status, page->content_type, extra, nextra, page->body,
                         page->body_len);
        return;
    }

    char esc[512];
    size_t elen = pt_str_json_escape_cut(esc, sizeof(esc), why, strlen(why));
    char *body = pt_arena_sprintf(r->arena,
                                  "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%u,"
                                  "\"detail\":\"%.*s\",\"request_id\":\"%.*s\"}\n",
                                  pt_http_reason(status), status, (int) elen, esc,
                                  (int) r->id.len, r->id.p);
    if (body == NULL) {
        pt_request_abort(r, "out of memory rendering an error");
        return;
    }
    pt_response_send(r, status, "application/problem+json", extra, nextra, body,
                     strlen(body));
}

/* ---- configuration ----------------------------------------------------- */

static char *pt_http_error_read_file(pt_conf_ctx_t *cf, const config_setting_t *s,
                                     const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *data = NULL;

    if (fd < 0) {
        pt_conf_error(cf, s, "cannot open error page \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > PT_ERRPAGE_FILE_MAX) {
        pt_conf_error(cf, s, "error page \"%s\" must be a regular file of at most 1M", path);
    } else if ((data = pt_arena_alloc(cf->arena, (size_t) st.st_size + 1)) != NULL) {
        ssize_t n = read(fd, data, (size_t) st.st_size);
        if (n != st.st_size) {
            pt_conf_error(cf, s, "cannot read error page \"%s\"", path);
            data = NULL;
        } else {
            data[n] = '\0';
            *len = (size_t) n;
        }
    }
    close(fd);
    return data;
}

static int pt_http_error_conf_entry(pt_conf_ctx_t *cf, const config_setting_t *e,
                                    pt_errpage_t *p)
{
    const char *file = NULL;

    if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, e, "an error page is a group { status = 404; body = \"...\"; }");
        return PT_ERROR;
    }
    p->status = 1000;
    for (int i = 0; i < config_setting_length(e); i++) {
        const config_setting_t *m = config_setting_get_elem(e, (unsigned) i);
        const char *name = config_setting_name(m);
        int64_t v;
        if (strcmp(name, "status") == 0) {
            if (config_setting_type(m) == CONFIG_TYPE_STRING
                && strcmp(config_setting_get_string(m), "default") == 0) {
                p->status = 0;
            } else if (pt_conf_get_uint(cf, m, 400, 599, &v) == PT_OK) {
                p->status = (unsigned) v;
            } else {
                return PT_ERROR;
            }
        } else if (strcmp(name, "body") == 0) {
            if ((p->body = pt_conf_get_string(cf, m)) == NULL)
                return PT_ERROR;
            p->body_len = strlen(p->body);
        } else if (strcmp(name, "file") == 0) {
            if ((file = pt_conf_path(cf, pt_conf_get_string(cf, m))) == NULL)
                return PT_ERROR;
            if ((p->body = pt_http_error_read_file(cf, m, file, &p->body_len)) == NULL)
                return PT_ERROR;
        } else if (strcmp(name, "content_type") == 0) {
            if ((p->content_type = pt_conf_get_string(cf, m)) == NULL)
                return PT_ERROR;
        } else {
            pt_conf_error(cf, m, "unknown setting \"%s\" in an error page", name);
            return PT_ERROR;
        }
    }
    if (p->status == 1000) {
        pt_conf_error(cf, e, "error page without \"status\" (a number 400-599 or "
                      "\"default\")");
        return PT_ERROR;
    }
    if (p->body == NULL) {
        pt_conf_error(cf, e, "error page for %u needs \"body\" or \"file\"", p->status);
        return PT_ERROR;
    }
    if (file && config_setting_get_member(e, "body")) {
        pt_conf_error(cf, e, "error page for %u: use \"body\" or \"file\", not both",
                      p->status);
        return PT_ERROR;
    }
    if (p->content_type == NULL)
        p->content_type = "text/plain; charset=utf-8";
    return PT_OK;
}

int pt_http_error_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                           const pt_directive_t *d)
{
    pt_errpage_t **head = field, **tail = head;

    if (config_setting_type(s) != CONFIG_TYPE_LIST) {
        pt_conf_error(cf, s, "\"errors\" must be a list ( { status = ...; body = ...; } )");
        return PT_ERROR;
    }
    for (int i = 0; i < config_setting_length(s); i++) {
        pt_errpage_t *p = pt_arena_calloc(cf->arena, sizeof(*p));
        if (p == NULL || pt_http_error_conf_entry(cf, config_setting_get_elem(s, (unsigned) i),
                                                   p) != PT_OK)
            return PT_ERROR;
        for (pt_errpage_t *q = *head; q; q = q->next) {
            if (q->status == p->status) {
                pt_conf_error(cf, config_setting_get_elem(s, (unsigned) i),
                              "two error pages for status %u", p->status);
                return PT_ERROR;
            }
        }
        *tail = p;
        tail = &p->next;
    }
    return PT_OK;
}

void pt_http_error_conf_dump(FILE *out, const void *field, const pt_directive_t *d, int indent)
{
    const pt_errpage_t *p = *(pt_errpage_t *const *) field;

    fputs("(", out);
    for (; p; p = p->next) {
        fputc('\n', out);
        pt_conf_indent(out, indent + 1);
        if (p->status)
            fprintf(out, "{ status = %u; content_type = ", p->status);
        else
            fputs("{ status = \"default\"; content_type = ", out);
        pt_conf_print_string(out, p->content_type);
        fputs("; body = ", out);
        pt_conf_print_string(out, p->body);
        fputs("; }", out);
        if (p->next)
            fputc(',', out);
    }
    fputc('\n', out);
    pt_conf_indent(out, indent);
    fputc(')', out);
}
