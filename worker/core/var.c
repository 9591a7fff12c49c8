/*
 * var.c: compiled templates over request variables (see var.h), and the
 * core's variables: the plain ones by id through one getter, $http_NAME
 * as a family.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/http/http_cookie.h"
#include "worker/http/http_parse.h"
#include "worker/http/request.h"
#include "worker/core/var.h"

#include <stdarg.h>

#define PT_VAR_STACK        32      /* variables a render keeps on the stack */

enum pt_var_id {
    PT_VAR_REMOTE_ADDR = 1, PT_VAR_HOST, PT_VAR_METHOD, PT_VAR_REQUEST_URI, PT_VAR_URI,
    PT_VAR_QUERY, PT_VAR_REQUEST, PT_VAR_PROTOCOL, PT_VAR_SCHEME, PT_VAR_STATUS,
    PT_VAR_BYTES_SENT, PT_VAR_BODY_BYTES_SENT, PT_VAR_BODY_BYTES, PT_VAR_REQUEST_TIME, PT_VAR_UPSTREAM_ADDR,
    PT_VAR_UPSTREAM_TIME, PT_VAR_REQUEST_ID, PT_VAR_ROUTE, PT_VAR_TIME_LOCAL,
    PT_VAR_TIME_ISO8601, PT_VAR_MSEC, PT_VAR_CONNECTION, PT_VAR_CONNECTION_REQUESTS,
    PT_VAR_CONSUMER, PT_VAR_CONSUMER_PLAN, PT_VAR_CONSUMER_GROUPS,
};

const char *const pt_var_names[] = {
    NULL, "remote_addr", "host", "method", "request_uri", "uri", "query", "request",
    "protocol", "scheme", "status", "bytes_sent", "body_bytes_sent", "body_bytes_received", "request_time",
    "upstream_addr", "upstream_response_time", "request_id", "route", "time_local",
    "time_iso8601", "msec", "connection", "connection_requests",
    "consumer", "consumer_plan", "consumer_groups", NULL
};

typedef struct {
    pt_var_get_pt get;      /* NULL: the literal text */
    const void *data;
    pt_str_t text;
    bool bare;              /* a variable outside any "..." of the literal text */
} pt_var_seg_t;

struct pt_var_tpl_s {
    pt_var_seg_t *segs;
    size_t n;
    size_t nvars;
    size_t literal_len;
};

/* $http_NAME compiled: a well-known field by id, any other by its name. */
typedef struct {
    unsigned id;            /* enum pt_http_hdr */
    pt_str_t name;          /* lowercase, '-' for '_' */
} pt_var_http_t;

static pt_str_t pt_var_core(pt_request_t *r, const void *data, char *buf);
static pt_str_t pt_var_http(pt_request_t *r, const void *data, char *buf);
static const void *pt_var_http_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                       pt_str_t rest);

static pt_str_t pt_var_cookie(pt_request_t *r, const void *data, char *buf);
static const void *pt_var_cookie_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                         pt_str_t rest);

static const pt_var_def_t pt_var_families[] = {
    { "http_NAME", pt_var_http, NULL, pt_var_http_compile },
    { "cookie_NAME", pt_var_cookie, NULL, pt_var_cookie_compile },
    PT_VAR_DEF_END
};

/* The row of defs that name is, or whose family it belongs to. */
static const pt_var_def_t *pt_var_lookup_defs(const pt_var_def_t *defs, pt_str_t name)
{
    for (; defs && defs->name; defs++) {
        size_t len = strlen(defs->name);
        if (defs->compile == NULL) {
            if (len == name.len && memcmp(defs->name, name.p, len) == 0)
                return defs;
            continue;
        }
        len -= sizeof("NAME") - 1;      /* the family's prefix, "http_" */
        if (name.len > len && memcmp(defs->name, name.p, len) == 0)
            return defs;
    }
    return NULL;
}

/* Resolve name into seg: the core's names, then its families, then each
 * module's variables in module order. PT_DECLINED: no such variable. */
static int pt_var_lookup(pt_conf_ctx_t *cf, const config_setting_t *s, pt_str_t name,
                         pt_var_seg_t *seg)
{
    const pt_var_def_t *def;

    for (uintptr_t i = 1; pt_var_names[i]; i++) {
        if (strlen(pt_var_names[i]) == name.len
            && memcmp(pt_var_names[i], name.p, name.len) == 0) {
            seg->get = pt_var_core;
            seg->data = (const void *) i;
            return PT_OK;
        }
    }
    def = pt_var_lookup_defs(pt_var_families, name);
    for (size_t m = 0; def == NULL && pt_modules[m]; m++)
        def = pt_var_lookup_defs(pt_modules[m]->vars, name);
    if (def == NULL)
        return PT_DECLINED;
    seg->get = def->get;
    seg->data = def->data;
    if (def->compile) {
        size_t plen = strlen(def->name) - (sizeof("NAME") - 1);
        pt_str_t rest = { name.p + plen, name.len - plen };
        if ((seg->data = def->compile(cf, s, rest)) == NULL)
            return PT_ERROR;
    }
    return PT_OK;
}

pt_var_tpl_t *pt_var_compile(pt_conf_ctx_t *cf, const config_setting_t *s, const char *text)
{
    size_t len = strlen(text), cap = 4;
    pt_var_tpl_t *t = pt_arena_calloc(cf->arena, sizeof(*t));

    if (t == NULL || (t->segs = pt_arena_alloc(cf->arena, cap * sizeof(*t->segs))) == NULL)
        return NULL;
    bool quoted = false;        /* inside a "..." of the literal text so far */
    for (size_t i = 0; i < len;) {
        pt_var_seg_t seg = { NULL, NULL, { text + i, 0 }, false };
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
            int rc = pt_var_lookup(cf, s, (pt_str_t) { text + start, end - start }, &seg);
            if (rc == PT_DECLINED)
                pt_conf_error(cf, s, "unknown variable \"$%.*s\"", (int) (end - start),
                              text + start);
            if (rc != PT_OK)
                return NULL;
            seg.bare = !quoted;
            i = end + brace;
        } else {
            size_t end = i;
            while (end < len && text[end] != '$')
                end++;
            seg.text.len = end - i;
            for (size_t k = i; k < end; k++)
                if (text[k] == '"' && (k == 0 || text[k - 1] != '\\'))
                    quoted = !quoted;
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
        if (seg.get == NULL)
            t->literal_len += seg.text.len;
        else
            t->nvars++;
        t->segs[t->n++] = seg;
    }
    return t;
}

/* Bytes the log escaping writes as \xHH: what would break a quoted field. */
static inline bool pt_var_log_escaped(unsigned char c)
{
    return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

/* Whether v is a JSON number (RFC 8259 §6) as it stands. */
static bool pt_var_json_number(pt_str_t v)
{
    size_t i = 0, n = v.len;
    const char *p = v.p;

    if (i < n && p[i] == '-')
        i++;
    if (i < n && p[i] == '0')
        i++;
    else if (i < n && p[i] >= '1' && p[i] <= '9')
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    else
        return false;
    if (i < n && p[i] == '.') {
        size_t d = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

/* A JSON template's bare variable (outside quotes) keeps the document
 * valid whatever its value: a number as it is, empty as null, anything
 * else as a string. PT_VAR_JSON_BARE is that as an escape mode. */
#define PT_VAR_JSON_BARE    100

static int pt_var_seg_escape(const pt_var_seg_t *seg, int escape)
{
    if (escape == PT_VAR_JSON_DOC)
        return seg->bare ? PT_VAR_JSON_BARE : PT_VAR_JSON;
    return escape;
}

size_t pt_var_escape_into(char *out, size_t cap, pt_str_t v, int escape)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    if (escape == PT_VAR_JSON_BARE) {
        if (v.len == 0 || pt_var_json_number(v)) {
            pt_str_t w = v.len ? v : PT_STR("null");
            if (w.len > cap)
                return 0;       /* a number is not cut: it would be another number */
            memcpy(out, w.p, w.len);
            return w.len;
        }
        if (cap < 2)
            return 0;
        out[0] = '"';
        n = 1 + pt_str_json_escape_cut(out + 1, cap - 2, v.p, v.len);
        out[n++] = '"';
        return n;
    }

    if (escape == PT_VAR_JSON) {
        /* Valid JSON whatever a client sent (8-bit obs-text included). */
        return pt_str_json_escape_cut(out, cap, v.p, v.len);
    }
    if (escape == PT_VAR_RAW) {
        /* As is: one copy, not a byte loop (header transforms render
         * with it per request). */
        n = pt_min(v.len, cap);
        if (n)
            memcpy(out, v.p, n);
        return n;
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

/* The core's plain variables; data is the id. */
static pt_str_t pt_var_core(pt_request_t *r, const void *data, char *buf)
{
    const pt_http_head_t *h = &r->head;
    pt_msec_t elapsed = pt_clock_now - r->start;
    size_t cap = PT_VAR_BUF;

    switch ((uintptr_t) data) {
    case PT_VAR_REMOTE_ADDR: {
        const char *ip = pt_request_client_ip(r);
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
    case PT_VAR_CONSUMER:
        return r->consumer ? r->consumer->id : PT_STR_NULL;
    case PT_VAR_CONSUMER_PLAN:
        return r->consumer ? r->consumer->plan : PT_STR_NULL;
    case PT_VAR_CONSUMER_GROUPS:
        return r->consumer ? pt_consumer_groups_join(r->arena, r->consumer, NULL)
                          : PT_STR_NULL;
    }
    return PT_STR_NULL;
}

/* $http_user_agent names the User-Agent field: resolved to the parser's
 * id when the field is well known, so a request costs a byte compare per
 * field; any other name is compared only with fields that have no id. */
static const void *pt_var_http_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                       pt_str_t rest)
{
    pt_var_http_t *v = pt_arena_calloc(cf->arena, sizeof(*v));
    char *name = v ? pt_arena_strndup(cf->arena, rest.p, rest.len) : NULL;

    if (name == NULL)
        return NULL;
    for (char *p = name; *p; p++)
        *p = *p == '_' ? '-' : (char) pt_str_lower((unsigned char) *p);
    v->name = (pt_str_t) { name, rest.len };
    v->id = pt_http_hdr_id(name, rest.len);
    return v;
}

static pt_str_t pt_var_http(pt_request_t *r, const void *data, char *buf)
{
    const pt_var_http_t *v = data;
    const pt_http_head_t *h = &r->head;

    if (v->id != PT_HDR_OTHER) {
        const pt_http_field_t *f = pt_request_field(r, v->id);
        return f ? f->value : PT_STR_NULL;
    }
    for (unsigned i = 0; i < h->nfields; i++)
        if (h->fields[i].id == PT_HDR_OTHER && pt_str_caseeq(h->fields[i].name, v->name))
            return h->fields[i].value;
    return PT_STR_NULL;
}

/* $cookie_NAME: the cookie NAME as written (cookie names are
 * case-sensitive), from the first Cookie field that has it. */
static const void *pt_var_cookie_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                         pt_str_t rest)
{
    pt_str_t *v = pt_arena_calloc(cf->arena, sizeof(*v));

    (void) s;
    if (v == NULL || (v->p = pt_arena_strndup(cf->arena, rest.p, rest.len)) == NULL)
        return NULL;
    v->len = rest.len;
    return v;
}

static pt_str_t pt_var_cookie(pt_request_t *r, const void *data, char *buf)
{
    const pt_http_head_t *h = &r->head;

    (void) buf;
    for (unsigned i = 0; i < h->nfields; i++) {
        if (h->fields[i].id != PT_HDR_COOKIE)
            continue;
        pt_str_t v = pt_http_cookie(h->fields[i].value, *(const pt_str_t *) data);
        if (v.p)
            return v;
    }
    return PT_STR_NULL;
}

/* The length v takes once escaped. */
static size_t pt_var_escaped_len(pt_str_t v, int escape)
{
    if (escape == PT_VAR_JSON_BARE) {
        if (v.len == 0)
            return 4;
        if (pt_var_json_number(v))
            return v.len;
        return pt_str_json_escape(NULL, 0, v.p, v.len) + 2;
    }

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
    pt_str_t vstack[PT_VAR_STACK];
    size_t lstack[PT_VAR_STACK];
    char bstack[PT_VAR_STACK][PT_VAR_BUF];
    pt_str_t *vals = vstack;
    size_t *lens = lstack;
    char (*bufs)[PT_VAR_BUF] = bstack;
    size_t nv = 0, total = tpl->literal_len, limit = SIZE_MAX;

    if (tpl->nvars > PT_VAR_STACK) {
        vals = pt_arena_alloc(r->arena, tpl->nvars * sizeof(*vals));
        lens = pt_arena_alloc(r->arena, tpl->nvars * sizeof(*lens));
        bufs = pt_arena_alloc(r->arena, tpl->nvars * sizeof(*bufs));
        if (vals == NULL || lens == NULL || bufs == NULL)
            return PT_STR_NULL;
    }
    /* Each value once, kept for sizing, cutting and writing: a getter may
     * search the fields or read a clock, and two reads could disagree. */
    for (size_t i = 0; i < tpl->n; i++) {
        const pt_var_seg_t *seg = &tpl->segs[i];
        if (seg->get == NULL)
            continue;
        pt_str_t v = seg->get(r, seg->data, bufs[nv]);
        if (v.len == 0 && dash)
            v = PT_STR("-");
        vals[nv] = v;
        lens[nv] = pt_var_escaped_len(v, pt_var_seg_escape(seg, escape));
        total += lens[nv++];
    }
    if (max && total > max) {
        /* Cut the longest values, each at an escape's edge, so that the
         * line keeps its shape (valid JSON, balanced quotes). This sorts
         * lens, which the writing below no longer needs. */
        limit = pt_var_fair_share(lens, nv, max > tpl->literal_len ? max - tpl->literal_len : 0);
        total = pt_max(max, tpl->literal_len);
    }
    char *out = pt_arena_alloc(r->arena, total + 1);
    size_t n = 0;
    if (out == NULL)
        return PT_STR_NULL;
    nv = 0;
    for (size_t i = 0; i < tpl->n; i++) {
        const pt_var_seg_t *seg = &tpl->segs[i];
        if (seg->get == NULL) {
            memcpy(out + n, seg->text.p, seg->text.len);
            n += seg->text.len;
            continue;
        }
        n += pt_var_escape_into(out + n, pt_min(limit, total - n), vals[nv++],
                                pt_var_seg_escape(seg, escape));
    }
    return (pt_str_t) { out, n };
}

size_t pt_var_render_to(const pt_var_tpl_t *tpl, pt_request_t *r, char *out, size_t cap)
{
    char buf[PT_VAR_BUF];
    size_t n = 0;

    for (size_t i = 0; i < tpl->n; i++) {
        const pt_var_seg_t *seg = &tpl->segs[i];
        pt_str_t v = seg->get ? seg->get(r, seg->data, buf) : seg->text;
        if (v.len && n < cap)
            memcpy(out + n, v.p, pt_min(v.len, cap - n));
        n += v.len;
    }
    return n;
}

static const void *pt_var_compile_row(pt_conf_ctx_t *cf, const config_setting_t *s,
                                      const char *text)
{
    return pt_var_compile(cf, s, text);
}

const pt_conf_compiler_t pt_var_compiler = { pt_var_compile_row };
