/*
 * var.c: compiled templates over request variables (see var.h).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/str.h"
#include "worker/http/http_parse.h"
#include "worker/http/request.h"
#include "worker/core/var.h"

#include <stdarg.h>

#define PT_VAR_NAME_MAX     64

enum pt_var_id {
    PT_VAR_LITERAL = 0,
    PT_VAR_REMOTE_ADDR, PT_VAR_HOST, PT_VAR_METHOD, PT_VAR_REQUEST_URI, PT_VAR_URI,
    PT_VAR_QUERY, PT_VAR_REQUEST, PT_VAR_PROTOCOL, PT_VAR_SCHEME, PT_VAR_STATUS,
    PT_VAR_BYTES_SENT, PT_VAR_BODY_BYTES_SENT, PT_VAR_BODY_BYTES, PT_VAR_REQUEST_TIME, PT_VAR_UPSTREAM_ADDR,
    PT_VAR_UPSTREAM_TIME, PT_VAR_REQUEST_ID, PT_VAR_ROUTE, PT_VAR_TIME_LOCAL,
    PT_VAR_TIME_ISO8601, PT_VAR_MSEC, PT_VAR_CONNECTION, PT_VAR_CONNECTION_REQUESTS,
    PT_VAR_HTTP,            /* $http_<name>: a request header */
};

const char *const pt_var_names[] = {
    NULL, "remote_addr", "host", "method", "request_uri", "uri", "query", "request",
    "protocol", "scheme", "status", "bytes_sent", "body_bytes_sent", "body_bytes_received", "request_time",
    "upstream_addr", "upstream_response_time", "request_id", "route", "time_local",
    "time_iso8601", "msec", "connection", "connection_requests", "http_NAME", NULL
};

typedef struct {
    uint8_t id;
    pt_str_t text;          /* the literal, or for $http_x the header name */
} pt_var_seg_t;

struct pt_var_tpl_s {
    pt_var_seg_t *segs;
    size_t n;
    size_t literal_len;
};

static int pt_var_lookup(const char *name, size_t len)
{
    for (int i = 1; i < PT_VAR_HTTP; i++)
        if (strlen(pt_var_names[i]) == len && memcmp(pt_var_names[i], name, len) == 0)
            return i;
    if (len > 5 && memcmp(name, "http_", 5) == 0)
        return PT_VAR_HTTP;
    return -1;
}

pt_var_tpl_t *pt_var_compile(pt_conf_ctx_t *cf, const config_setting_t *s, const char *text)
{
    size_t len = strlen(text), cap = 4;
    pt_var_tpl_t *t = pt_arena_calloc(cf->arena, sizeof(*t));

    if (t == NULL || (t->segs = pt_arena_alloc(cf->arena, cap * sizeof(*t->segs))) == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        pt_var_seg_t seg = { PT_VAR_LITERAL, { text + i, 0 } };
        if (text[i] == '$' && i + 1 < len && text[i + 1] == '$') {
            seg.text.len = 1;
            i += 2;
        } else if (text[i] == '$') {
            bool brace = i + 1 < len && text[i + 1] == '{';
            size_t start = i + 1 + brace, end = start;
            while (end < len && (text[end] == '_' || (text[end] >= 'a' && text[end] <= 'z')
                                 || (text[end] >= 'A' && text[end] <= 'Z')
                                 || (text[end] >= '0' && text[end] <= '9')))
                end++;
            if (brace && (end >= len || text[end] != '}')) {
                pt_conf_error(cf, s, "unterminated ${ in \"%s\"", text);
                return NULL;
            }
            int id = pt_var_lookup(text + start, end - start);
            if (id < 0) {
                pt_conf_error(cf, s, "unknown variable \"$%.*s\"", (int) (end - start),
                              text + start);
                return NULL;
            }
            seg.id = (uint8_t) id;
            if (id == PT_VAR_HTTP) {
                /* $http_user_agent names the User-Agent field. */
                char *h = pt_arena_strndup(cf->arena, text + start + 5, end - start - 5);
                if (h == NULL)
                    return NULL;
                for (char *p = h; *p; p++)
                    if (*p == '_')
                        *p = '-';
                seg.text = (pt_str_t) { h, strlen(h) };
            }
            i = end + brace;
        } else {
            size_t end = i;
            while (end < len && text[end] != '$')
                end++;
            seg.text.len = end - i;
            i = end;
        }
        if (t->n == cap) {
            pt_var_seg_t *ns = pt_arena_alloc(cf->arena, 2 * cap * sizeof(*ns));
            if (ns == NULL)
                return NULL;
            memcpy(ns, t->segs, t->n * sizeof(*ns));
            t->segs = ns;
            cap *= 2;
        }
        if (seg.id == PT_VAR_LITERAL)
            t->literal_len += seg.text.len;
        t->segs[t->n++] = seg;
    }
    return t;
}

/* Bytes the log escaping writes as \xHH: what would break a quoted field. */
static inline bool pt_var_log_escaped(unsigned char c)
{
    return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

size_t pt_var_escape_into(char *out, size_t cap, pt_str_t v, int escape)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    if (escape == PT_VAR_JSON) {
        /* Valid JSON whatever a client sent (8-bit obs-text included). */
        return pt_str_json_escape_cut(out, cap, v.p, v.len);
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char) v.p[i];
        if (escape == PT_VAR_LOG && pt_var_log_escaped(c)) {
            if (n + 4 > cap)
                break;
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
            continue;
        }
        if (n + 1 > cap)
            break;
        out[n++] = (char) c;
    }
    return n;
}

static pt_str_t pt_var_num(char *buf, size_t cap, const char *fmt, ...) PT_PRINTF(3, 4);

static pt_str_t pt_var_num(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return (pt_str_t) { buf, n > 0 ? (size_t) n : 0 };
}

static pt_str_t pt_var_value(const pt_var_seg_t *seg, pt_request_t *r, char *buf, size_t cap)
{
    const pt_http_head_t *h = &r->head;
    pt_msec_t elapsed = pt_clock_now - r->start;

    switch (seg->id) {
    case PT_VAR_LITERAL:
        return seg->text;
    case PT_VAR_REMOTE_ADDR: {
        const char *ip = pt_conn_peer_ip(r->conn);
        return (pt_str_t) { ip, strlen(ip) };
    }
    case PT_VAR_HOST:
        return h->authority.len ? h->authority : h->host;
    case PT_VAR_METHOD:
        return h->method;
    case PT_VAR_REQUEST_URI:
        if (h->target_form == PT_HTTP_FORM_ABSOLUTE) {
            /* Its origin form: the host is $host's. */
            const char *rest = h->authority.p + h->authority.len;
            pt_str_t v = { rest, (size_t) (h->target.p + h->target.len - rest) };
            if (v.len && v.p[0] == '/')
                return v;
            char *p = pt_arena_alloc(r->arena, v.len + 1);
            if (p == NULL)
                return PT_STR_NULL;
            p[0] = '/';
            memcpy(p + 1, v.p, v.len);
            return (pt_str_t) { p, v.len + 1 };
        }
        return h->target;
    case PT_VAR_URI:
        return r->path;
    case PT_VAR_QUERY:
        return h->query.p ? h->query : PT_STR_NULL;
    case PT_VAR_REQUEST: {
        /* The request line as received, up to its CR or LF: it is where
         * the method starts in the read buffer, even in a refused head
         * whose later parts were never parsed. */
        const pt_buf_t *b = r->conn->rbuf;
        if (h->method.len == 0 || b == NULL || h->method.p < b->start || h->method.p >= b->last)
            return PT_STR_NULL;
        const char *end = h->method.p;
        const char *stop = h->method.p + pt_min((size_t) (b->last - h->method.p),
                                                (size_t) r->listener->c.max_request_line);
        while (end < stop && *end != '\r' && *end != '\n')
            end++;
        return (pt_str_t) { h->method.p, (size_t) (end - h->method.p) };
    }
    case PT_VAR_PROTOCOL:
        return h->method.len == 0 ? PT_STR_NULL
               : h->version_minor ? PT_STR("HTTP/1.1") : PT_STR("HTTP/1.0");
    case PT_VAR_SCHEME:
        return r->listener->tls ? PT_STR("https") : PT_STR("http");
    case PT_VAR_STATUS:
        return pt_var_num(buf, cap, "%03u", r->status);
    case PT_VAR_BYTES_SENT:
        return pt_var_num(buf, cap, "%" PRIu64, pt_request_bytes_sent(r));
    case PT_VAR_BODY_BYTES_SENT:
        return pt_var_num(buf, cap, "%" PRIu64, pt_request_body_bytes_sent(r));
    case PT_VAR_BODY_BYTES:
        return pt_var_num(buf, cap, "%" PRIu64, r->body_received);
    case PT_VAR_REQUEST_TIME:
        return pt_var_num(buf, cap, "%" PRId64 ".%03" PRId64, elapsed / 1000, elapsed % 1000);
    case PT_VAR_UPSTREAM_ADDR:
        return r->upstream_addr ? (pt_str_t) { r->upstream_addr, strlen(r->upstream_addr) }
                                : PT_STR_NULL;
    case PT_VAR_UPSTREAM_TIME:
        if (r->upstream_ms < 0)
            return PT_STR_NULL;
        return pt_var_num(buf, cap, "%" PRId64 ".%03" PRId64, r->upstream_ms / 1000,
                          r->upstream_ms % 1000);
    case PT_VAR_REQUEST_ID:
        return r->id;
    case PT_VAR_ROUTE:
        return r->route ? (pt_str_t) { r->route->name, strlen(r->route->name) } : PT_STR_NULL;
    case PT_VAR_TIME_LOCAL:
        return pt_clock_log_time();
    case PT_VAR_TIME_ISO8601:
        return pt_clock_iso_time();
    case PT_VAR_MSEC: {
        uint64_t ms = pt_clock_wall_ms();
        return pt_var_num(buf, cap, "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
    }
    case PT_VAR_CONNECTION:
        return pt_var_num(buf, cap, "%" PRIu64, r->conn->id);
    case PT_VAR_CONNECTION_REQUESTS:
        return pt_var_num(buf, cap, "%u", r->conn->nrequests);
    case PT_VAR_HTTP:
        for (unsigned i = 0; i < h->nfields; i++)
            if (pt_str_caseeq(h->fields[i].name, seg->text))
                return h->fields[i].value;
        return PT_STR_NULL;
    }
    return PT_STR_NULL;
}

/* The length v takes once escaped. */
static size_t pt_var_escaped_len(pt_str_t v, int escape)
{
    size_t n = v.len;

    if (escape == PT_VAR_JSON)
        return pt_str_json_escape(NULL, 0, v.p, v.len);
    if (escape == PT_VAR_LOG)
        for (size_t i = 0; i < v.len; i++)
            n += pt_var_log_escaped((unsigned char) v.p[i]) ? 3 : 0;
    return n;
}

static int pt_var_size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *) a, y = *(const size_t *) b;

    return (x > y) - (x < y);
}

/* The most bytes any one value may take so that all of them fit budget,
 * the short ones whole: what the line's length limit leaves each. */
static size_t pt_var_fair_share(size_t *lens, size_t n, size_t budget)
{
    qsort(lens, n, sizeof(*lens), pt_var_size_cmp);
    for (size_t i = 0; i < n; i++) {
        size_t share = budget / (n - i);
        if (lens[i] > share)
            return share;
        budget -= lens[i];
    }
    return SIZE_MAX;
}

pt_str_t pt_var_render(const pt_var_tpl_t *tpl, pt_request_t *r, int escape, bool dash,
                       size_t max)
{
    char num[64];
    size_t *lens = pt_arena_alloc(r->arena, (tpl->n + 1) * sizeof(*lens));
    size_t nv = 0, total = tpl->literal_len, limit = SIZE_MAX;

    if (lens == NULL)
        return PT_STR_NULL;
    /* Size first, then write: values are views, computing them is cheap. */
    for (size_t i = 0; i < tpl->n; i++) {
        if (tpl->segs[i].id == PT_VAR_LITERAL)
            continue;
        pt_str_t v = pt_var_value(&tpl->segs[i], r, num, sizeof(num));
        if (v.len == 0 && dash)
            v = PT_STR("-");
        lens[nv] = pt_var_escaped_len(v, escape);
        total += lens[nv++];
    }
    if (max && total > max) {
        /* Cut the longest values, each at an escape's edge, so that the
         * line keeps its shape (valid JSON, balanced quotes). */
        limit = pt_var_fair_share(lens, nv, max > tpl->literal_len ? max - tpl->literal_len : 0);
        total = pt_max(max, tpl->literal_len);
    }
    char *out = pt_arena_alloc(r->arena, total + 1);
    size_t n = 0;
    if (out == NULL)
        return PT_STR_NULL;
    for (size_t i = 0; i < tpl->n; i++) {
        const pt_var_seg_t *seg = &tpl->segs[i];
        if (seg->id == PT_VAR_LITERAL) {
            memcpy(out + n, seg->text.p, seg->text.len);
            n += seg->text.len;
            continue;
        }
        pt_str_t v = pt_var_value(seg, r, num, sizeof(num));
        if (v.len == 0 && dash)
            v = PT_STR("-");
        n += pt_var_escape_into(out + n, pt_min(limit, total - n), v, escape);
    }
    return (pt_str_t) { out, n };
}

static const void *pt_var_compile_row(pt_conf_ctx_t *cf, const config_setting_t *s,
                                      const char *text)
{
    return pt_var_compile(cf, s, text);
}

const pt_conf_compiler_t pt_var_compiler = { pt_var_compile_row };
