/*
 * request_log.c: error log lines with a request's context (request_log.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "worker/http/request_log.h"

#include <stdarg.h>

#define PT_REQUEST_LOG_FIELD    256     /* client text (host, target) is cut here */

static void pt_request_log_v(pt_request_t *r, int level, int err, const char *fmt, va_list ap)
    PT_PRINTF(4, 0);

/* A head refused half-read may have no method or target yet. */
static const char *pt_request_log_nz(const char *p)
{
    return p ? p : "";
}

static void pt_request_log_v(pt_request_t *r, int level, int err, const char *fmt, va_list ap)
{
    char msg[PT_LOG_MSG_MAX];
    const pt_http_head_t *h = &r->head;
    pt_str_t host = h->authority.len ? h->authority : h->host;

    if (level > pt_log_level && !(level == PT_LOG_DEBUG && r->debug))
        return;
    /* The path only: a query may hold an API key or a token, which must
     * never reach a log. */
    pt_str_t target = h->target;
    const char *q = target.p ? memchr(target.p, '?', target.len) : NULL;
    if (q)
        target.len = (size_t) (q - target.p);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t off = n < 0 ? 0 : pt_min((size_t) n, sizeof(msg) - 1);
    if (err)
        off += (size_t) snprintf(msg + off, sizeof(msg) - off, ": %s", strerror(err));
    off = pt_min(off, sizeof(msg) - 1);
    off += (size_t) snprintf(msg + off, sizeof(msg) - off,
                             ", client: %s, host: \"%.*s\", request: \"%.*s %.*s%s HTTP/1.%u\", "
                             "id: %.*s", pt_request_client_ip(r),
                             (int) pt_min(host.len, PT_REQUEST_LOG_FIELD),
                             pt_request_log_nz(host.p), (int) pt_min(h->method.len, 32),
                             pt_request_log_nz(h->method.p),
                             (int) pt_min(target.len, PT_REQUEST_LOG_FIELD),
                             pt_request_log_nz(target.p), q ? "?..." : "",
                             h->version_minor, (int) r->id.len, r->id.p);
    off = pt_min(off, sizeof(msg) - 1);
    if (r->upstream_addr && off < sizeof(msg) - 1)
        snprintf(msg + off, sizeof(msg) - off, ", upstream: \"%s\"", r->upstream_addr);
    pt_log_always(level, "%s", msg);
}

void pt_request_log_line(pt_request_t *r, int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pt_request_log_v(r, level, 0, fmt, ap);
    va_end(ap);
}

void pt_request_log_errno(pt_request_t *r, int level, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pt_request_log_v(r, level, err, fmt, ap);
    va_end(ap);
}

void pt_request_debug(pt_request_t *r, const char *fmt, ...)
{
    va_list ap;

    if (!r->debug)
        return;
    va_start(ap, fmt);
    pt_request_log_v(r, PT_LOG_DEBUG, 0, fmt, ap);
    va_end(ap);
}
