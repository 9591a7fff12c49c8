/*
 * subrequest.c: one internal HTTP/1.1 call over the upstream pools (see
 * subrequest.h): connect or reuse, send the whole request, read the whole
 * answer into the subrequest's arena, call done, free.
 *
 * Every step that may end the call is a tail call: once pt_subrequest_finish
 * ran, the subrequest is gone and no caller up the stack touches it.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/http/request.h"
#include "worker/upstream/subrequest.h"

/* Fields of an answer head to begin with (subrequest_response.c grows
 * the array for a head with more). */
#define PT_SUBREQUEST_FIELDS        32

static const char pt_subrequest_oom[] = "out of memory";

static void pt_subrequest_run(pt_subrequest_t *sr);

/* ---- setting up ---------------------------------------------------------- */

static unsigned pt_subrequest_method_id(pt_str_t m)
{
    for (unsigned id = PT_METHOD_OTHER + 1; id < PT_METHOD__COUNT; id++) {
        pt_str_t name = pt_http_method_name(id);
        if (name.len == m.len && memcmp(name.p, m.p, m.len) == 0)
            return id;
    }
    return PT_METHOD_OTHER;
}

/* Fields a caller may not set: the framing and connection management are
 * ours, and a second Host would make the request invalid. */
static bool pt_subrequest_reserved(pt_str_t name)
{
    switch (pt_http_hdr_id(name.p, name.len)) {
    case PT_HDR_HOST: case PT_HDR_CONTENT_LENGTH: case PT_HDR_TRANSFER_ENCODING:
    case PT_HDR_CONNECTION: case PT_HDR_KEEP_ALIVE: case PT_HDR_TE: case PT_HDR_UPGRADE:
        return true;
    default:
        return false;
    }
}

/* Bytes a head may carry from the caller: a field value's (VCHAR, SP,
 * HTAB, obs-text), or with space excluded as well, a target's or a
 * Host's. A CR or LF would let the caller's data write fields of its own. */
static bool pt_subrequest_clean(pt_str_t s, bool space)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char) s.p[i];
        if ((c < 0x20 && !(space && c == '\t')) || c == 0x7f || (c == ' ' && !space))
            return false;
    }
    return true;
}

static bool pt_subrequest_token(pt_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!pt_str_tchar[(unsigned char) s.p[i]])
            return false;
    return s.len > 0;
}

/* What is wrong with the spec, or NULL: reported through done like any
 * other failure. */
static const char *pt_subrequest_check(const pt_subrequest_spec_t *spec, pt_str_t method)
{
    if (!pt_subrequest_token(method))
        return "invalid request method";
    if (spec->path.len && (spec->path.p[0] != '/' || !pt_subrequest_clean(spec->path, false)
                           || memchr(spec->path.p, '#', spec->path.len)))
        return "invalid request target";
    if (!pt_subrequest_clean(spec->host, false))
        return "invalid Host";
    for (size_t i = 0; i < spec->nfields; i++)
        if (!pt_subrequest_token(spec->fields[2 * i])
            || !pt_subrequest_clean(spec->fields[2 * i + 1], true))
            return "invalid request field";
    return NULL;
}

static pt_str_t pt_subrequest_dup(pt_arena_t *a, pt_str_t s)
{
    char *p = pt_arena_strndup(a, s.p ? s.p : "", s.len);

    return p ? (pt_str_t) { p, s.len } : PT_STR_NULL;
}

/* The caller's fields as "Name: value" CRLF lines. */
static int pt_subrequest_copy_fields(pt_subrequest_t *sr, const pt_subrequest_spec_t *spec)
{
    size_t cap = 0, n = 0;

    for (size_t i = 0; i < spec->nfields; i++)
        cap += spec->fields[2 * i].len + spec->fields[2 * i + 1].len + 4;
    char *out = pt_arena_alloc(sr->arena, cap);
    if (out == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < spec->nfields; i++) {
        pt_str_t name = spec->fields[2 * i], value = spec->fields[2 * i + 1];
        if (pt_subrequest_reserved(name))
            continue;
        memcpy(out + n, name.p, name.len);
        n += name.len;
        memcpy(out + n, ": ", 2);
        n += 2;
        if (value.len)
            memcpy(out + n, value.p, value.len);
        n += value.len;
        memcpy(out + n, "\r\n", 2);
        n += 2;
    }
    sr->extra = (pt_str_t) { out, n };
    return PT_OK;
}

/* The request head for server s (Host may name it). */
static int pt_subrequest_build_head(pt_subrequest_t *sr, const pt_server_t *s)
{
    const pt_upstream_t *u = sr->upstream;
    pt_str_t host = sr->host.len ? sr->host
                    : u->host ? (pt_str_t) { u->host, strlen(u->host) }
                    : (pt_str_t) { s->name, strlen(s->name) };
    size_t cap = sr->method.len + sr->path.len + host.len + sr->extra.len + 128;
    char *out = pt_arena_alloc(sr->arena, cap);
    size_t n = 0;

    if (out == NULL)
        return PT_ERROR;
    n += (size_t) snprintf(out, cap, "%.*s %.*s HTTP/1.1\r\nHost: %.*s\r\n",
                           (int) sr->method.len, sr->method.p, (int) sr->path.len, sr->path.p,
                           (int) host.len, host.p);
    memcpy(out + n, sr->extra.p, sr->extra.len);
    n += sr->extra.len;
    /* RFC 9110 8.6: a body is framed by its length; a method that expects
     * one says so even when it is empty. */
    if (sr->req_body.len || sr->method_id == PT_METHOD_POST || sr->method_id == PT_METHOD_PUT
        || sr->method_id == PT_METHOD_PATCH) {
        memcpy(out + n, "Content-Length: ", 16);
        n += 16;
        n += pt_str_from_u64(out + n, sr->req_body.len);
        memcpy(out + n, "\r\n", 2);
        n += 2;
    }
    /* RFC 9112 9.3: HTTP/1.1 is persistent unless one side says close; we
     * say it when the pool would not keep the connection anyway. */
    if (u->keepalive == 0) {
        memcpy(out + n, "Connection: close\r\n", 19);
        n += 19;
    }
    memcpy(out + n, "\r\n", 2);
    n += 2;
    PT_ASSERT(n <= cap);
    sr->req_head = (pt_str_t) { out, n };
    return PT_OK;
}

/* ---- the end ------------------------------------------------------------- */

static void pt_subrequest_release(pt_subrequest_t *sr, bool keep)
{
    pt_upconn_t *up = sr->up;

    if (up == NULL)
        return;
    sr->up = NULL;
    if (keep)
        up->nrequests++;
    pt_upstream_release(up, keep);
}

static void pt_subrequest_free(pt_subrequest_t *sr)
{
    pt_subrequest_release(sr, false);
    pt_timer_del(&sr->timer);
    pt_event_unpost(&sr->post);
    if (sr->bound)
        *sr->bound = NULL;
    pt_arena_destroy(sr->arena);
}

/* Report rc to the owner and free everything. */
static void pt_subrequest_finish(pt_subrequest_t *sr, int rc, const char *error)
{
    sr->error = error;
    if (rc != PT_OK) {
        pt_log(sr->target ? PT_LOG_DEBUG : PT_LOG_INFO,
               "upstream %s: subrequest %.*s %.*s%s%s failed: %s",
               sr->upstream->name, (int) sr->method.len, sr->method.p, (int) sr->path.len,
               sr->path.p, sr->server ? " to " : "", sr->server ? sr->server->name : "",
               error);
    }
    pt_subrequest_release(sr, rc == PT_OK && sr->keep && sr->target == NULL);
    pt_timer_del(&sr->timer);
    /* A request ended from inside done must not cancel us through its
     * cleanup, nor may our free write into its arena afterwards. */
    if (sr->bound) {
        *sr->bound = NULL;
        sr->bound = NULL;
    }
    sr->in_done = true;
    sr->done(sr, rc, sr->data);
    pt_subrequest_free(sr);
}

/* ---- connecting ---------------------------------------------------------- */

static void pt_subrequest_up_event(pt_upconn_t *up)
{
    pt_subrequest_run(up->owner);
}

static void pt_subrequest_connect_timeout(pt_timer_t *t);

static int pt_subrequest_take(pt_subrequest_t *sr, pt_server_t *s, pt_upconn_t *up)
{
    if (sr->target)                 /* a probe (see pt_subrequest_spec_t.server) */
        pt_upstream_uncount(up);
    sr->up = up;
    sr->server = s;
    up->owner = sr;
    up->handler = pt_subrequest_up_event;
    up->timer.handler = pt_subrequest_connect_timeout;
    if (!up->connected)
        pt_timer_set(&up->timer, sr->upstream->connect_timeout);
    return pt_subrequest_build_head(sr, s);
}

/* Take a connection to the next server that can be tried: PT_OK with
 * sr->up set, or PT_ERROR when none is left (or out of memory: error). */
static int pt_subrequest_connect(pt_subrequest_t *sr, const pt_server_t *failed,
                                 const char **error)
{
    const pt_upstream_t *u = sr->upstream;

    *error = NULL;
    while (sr->tries < u->nservers) {
        pt_server_t *s = sr->target == NULL ? pt_upstream_pick(u, failed)
                         : sr->tries == 0 ? sr->target : NULL;
        if (s == NULL)
            break;                  /* every server is down (or the target failed) */
        sr->tries++;
        pt_upconn_t *up = pt_upstream_get(s, sr->target != NULL);
        if (up == NULL) {
            pt_log_errno(sr->target ? PT_LOG_DEBUG : PT_LOG_ERR, errno,
                         "upstream %s: connect to %s failed", u->name, s->name);
            sr->server = failed = s;
            continue;
        }
        if (pt_subrequest_take(sr, s, up) != PT_OK) {
            *error = pt_subrequest_oom;
            return PT_ERROR;
        }
        return PT_OK;
    }
    *error = sr->connect_timed_out ? "connect timed out" : "connect failed";
    return PT_ERROR;
}

/* The current server could not be reached: on to the next, or give up. */
static void pt_subrequest_next_server(pt_subrequest_t *sr)
{
    const pt_server_t *failed = sr->server;
    const char *error;

    pt_subrequest_release(sr, false);
    if (pt_subrequest_connect(sr, failed, &error) != PT_OK) {
        pt_subrequest_finish(sr, PT_ERROR, error);
        return;
    }
    /* A pooled connection gets no new edge: look at it now. */
    pt_subrequest_run(sr);
}

static void pt_subrequest_connect_timeout(pt_timer_t *t)
{
    pt_upconn_t *up = t->data;
    pt_subrequest_t *sr = up->owner;

    pt_log(sr->target ? PT_LOG_DEBUG : PT_LOG_ERR, "upstream %s: connect to %s timed out",
           sr->upstream->name, sr->server->name);
    sr->connect_timed_out = true;
    pt_subrequest_next_server(sr);
}

static void pt_subrequest_deadline(pt_timer_t *t)
{
    pt_subrequest_finish(t->data, PT_ERROR, "timed out");
}

/* A reused pooled connection died before any byte of the answer: the
 * server closed it while it idled. Send again on a fresh one, once. */
static void pt_subrequest_dead(pt_subrequest_t *sr, const char *why)
{
    pt_upconn_t *up = sr->up;
    pt_server_t *s = (pt_server_t *) sr->server;

    if (!up->reused || sr->got_bytes || !sr->replayable || sr->retried) {
        pt_subrequest_finish(sr, PT_ERROR, why);
        return;
    }
    pt_log(PT_LOG_INFO, "upstream %s: reused connection to %s was dead (%s), retrying",
           sr->upstream->name, s->name, why);
    pt_subrequest_release(sr, false);
    sr->error = NULL;
    sr->retried = true;
    sr->head_queued = sr->write_failed = false;
    sr->resp_scanned = 0;
    up = pt_upstream_get(s, true);
    if (up == NULL) {
        pt_subrequest_finish(sr, PT_ERROR, "connect failed");
        return;
    }
    if (pt_subrequest_take(sr, s, up) != PT_OK) {
        pt_subrequest_finish(sr, PT_ERROR, pt_subrequest_oom);
        return;
    }
}

/* ---- sending ------------------------------------------------------------- */

static void pt_subrequest_send(pt_subrequest_t *sr)
{
    pt_upconn_t *up = sr->up;

    if (!sr->head_queued) {
        struct iovec iov[2] = { { (void *) sr->req_head.p, sr->req_head.len },
                                { (void *) sr->req_body.p, sr->req_body.len } };
        sr->head_queued = true;
        pt_io_send(&up->io, iov, sr->req_body.len ? 2 : 1);
    } else if (pt_io_pending(&up->io)) {
        pt_io_flush(&up->io);
    }
    if (up->io.flags & PT_IO_ERROR) {
        /* The server may have answered and closed (an early error): read
         * what it said; the connection cannot be reused. */
        sr->write_failed = true;
    }
}

/* ---- driving ------------------------------------------------------------- */

static void pt_subrequest_run(pt_subrequest_t *sr)
{
    pt_upconn_t *up = sr->up;

    if (!up->connected) {
        int rc = pt_upstream_connected(up);
        if (rc == PT_AGAIN)
            return;
        if (rc == PT_ERROR) {
            pt_log_errno(sr->target ? PT_LOG_DEBUG : PT_LOG_ERR, errno,
                         "upstream %s: connect to %s failed", sr->upstream->name,
                         sr->server->name);
            pt_subrequest_next_server(sr);
            return;
        }
        pt_timer_del(&up->timer);
    }
    pt_subrequest_send(sr);
    switch (pt_subrequest_read(sr)) {
    case PT_AGAIN:
        return;
    case PT_DONE:
        pt_subrequest_finish(sr, PT_OK, NULL);
        return;
    case PT_DECLINED:
        pt_subrequest_dead(sr, sr->error);
        return;
    default:
        pt_subrequest_finish(sr, PT_ERROR, sr->error);
        return;
    }
}

static void pt_subrequest_posted(pt_event_t *ev, uint32_t events)
{
    pt_subrequest_t *sr = ev->data;

    (void) events;
    if (sr->up == NULL) {
        pt_subrequest_finish(sr, PT_ERROR, sr->error);
        return;
    }
    pt_subrequest_run(sr);
}

/* ---- the API ------------------------------------------------------------- */

pt_subrequest_t *pt_subrequest_start(pt_upstream_t *u, const pt_subrequest_spec_t *spec,
                             pt_subrequest_done_pt done, void *data)
{
    size_t max_body = spec->max_body ? spec->max_body : PT_SUBREQUEST_MAX_BODY;
    size_t head = (size_t) u->max_response_header_size;
    /* What an answer can take: the body and the old room of a growing one,
     * the head and its field arrays (40 bytes a field, one per 4 bytes at
     * most), the request, and some slack for the small things. */
    size_t cap = 2 * max_body + 12 * head + 2 * (spec->path.len + spec->host.len
                                                 + spec->body.len) + 65536;
    for (size_t i = 0; i < 2 * spec->nfields; i++)
        cap += spec->fields[i].len + 4;

    pt_arena_t *a = pt_arena_create(0, cap);
    if (a == NULL)
        return NULL;
    pt_subrequest_t *sr = pt_arena_calloc(a, sizeof(*sr));
    if (sr == NULL) {
        pt_arena_destroy(a);
        return NULL;
    }
    sr->arena = a;
    sr->upstream = u;
    sr->target = spec->server;
    sr->done = done;
    sr->data = data;
    sr->max_body = max_body;
    pt_timer_prepare(&sr->timer, pt_subrequest_deadline, sr);
    sr->post.fd = -1;
    sr->post.handler = pt_subrequest_posted;
    sr->post.data = sr;

    sr->method = spec->method ? (pt_str_t) { spec->method, strlen(spec->method) } : PT_STR("GET");
    const char *invalid = pt_subrequest_check(spec, sr->method);
    sr->method_id = pt_subrequest_method_id(sr->method);
    sr->method = pt_subrequest_dup(a, sr->method);
    sr->path = pt_subrequest_dup(a, spec->path.len ? spec->path : PT_STR("/"));
    sr->host = pt_subrequest_dup(a, spec->host);
    sr->req_body = pt_subrequest_dup(a, spec->body);
    sr->resp.fields = pt_arena_alloc(a, PT_SUBREQUEST_FIELDS * sizeof(*sr->resp.fields));
    sr->resp_fields_cap = PT_SUBREQUEST_FIELDS;
    if (sr->method.p == NULL || sr->path.p == NULL || sr->host.p == NULL
        || sr->req_body.p == NULL || sr->resp.fields == NULL
        || pt_subrequest_copy_fields(sr, spec) != PT_OK) {
        pt_arena_destroy(a);
        return NULL;
    }
    sr->replayable = u->retry && (spec->idempotent || pt_http_method_idempotent(sr->method_id));

    /* Taking the connection now (nothing here calls done) means a pooled
     * one is looked at before the loop handles its events. Everything
     * else, a failure to connect included, happens from the loop. */
    const char *error = invalid;
    if (invalid == NULL && pt_subrequest_connect(sr, NULL, &error) != PT_OK) {
        pt_subrequest_release(sr, false);
        if (error == pt_subrequest_oom) {
            pt_arena_destroy(a);
            return NULL;
        }
    }
    sr->error = error;
    pt_timer_set(&sr->timer, spec->timeout > 0 ? spec->timeout : u->read_timeout);
    pt_event_post(&sr->post);
    return sr;
}

void pt_subrequest_cancel(pt_subrequest_t *sr)
{
    if (sr == NULL || sr->in_done)
        return;
    pt_subrequest_free(sr);
}

static void pt_subrequest_unbind(void *data)
{
    pt_subrequest_t **slot = data, *sr = *slot;

    if (sr == NULL)
        return;
    *slot = NULL;
    sr->bound = NULL;
    pt_subrequest_cancel(sr);
}

int pt_subrequest_bind(pt_subrequest_t *sr, pt_request_t *r)
{
    PT_ASSERT(sr->bound == NULL);
    pt_subrequest_t **slot = pt_arena_alloc(r->arena, sizeof(*slot));

    if (slot == NULL)
        return PT_ERROR;
    *slot = sr;
    if (pt_arena_cleanup_add(r->arena, pt_subrequest_unbind, slot) != PT_OK)
        return PT_ERROR;
    sr->bound = slot;
    return PT_OK;
}

pt_str_t pt_subrequest_field(const pt_subrequest_t *sr, const char *name)
{
    for (unsigned i = 0; i < sr->nfields; i++)
        if (pt_str_caseeq_lit(sr->fields[i].name, name))
            return sr->fields[i].value;
    return PT_STR_NULL;
}
