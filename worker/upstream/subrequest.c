/*
 * subrequest.c: one internal HTTP/1.1 call over the upstream pools (see
 * subrequest.h): connect or reuse, send the whole request, read the whole
 * answer into the subrequest's arena, call done, free.
 *
 * Every step that may end the call is a tail call: once pt_subreq_finish
 * ran, the subrequest is gone and no caller up the stack touches it.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/http/request.h"
#include "worker/upstream/subrequest.h"

/* Fields of an answer head to begin with; a head with more is parsed
 * again with four times the room, up to one per 4 bytes of
 * max_response_header_size (as the proxy does) and this many. */
#define PT_SUBREQ_FIELDS        32
#define PT_SUBREQ_FIELDS_MAX    16384
/* First room for a body of unknown length (chunked or close-delimited). */
#define PT_SUBREQ_BODY_FIRST    4096

static const char pt_subreq_oom[] = "out of memory";

static void pt_subreq_run(pt_subreq_t *sr);

/* ---- setting up ---------------------------------------------------------- */

static unsigned pt_subreq_method_id(pt_str_t m)
{
    for (unsigned id = PT_METHOD_OTHER + 1; id < PT_METHOD__COUNT; id++) {
        pt_str_t name = pt_http_method_name(id);
        if (name.len == m.len && memcmp(name.p, m.p, m.len) == 0)
            return id;
    }
    return PT_METHOD_OTHER;
}

/* RFC 9110 9.2.2: only these may be repeated on our own after a dead
 * connection, which may still have delivered the first copy. */
static bool pt_subreq_idempotent(unsigned method)
{
    switch (method) {
    case PT_METHOD_GET: case PT_METHOD_HEAD: case PT_METHOD_PUT: case PT_METHOD_DELETE:
    case PT_METHOD_OPTIONS: case PT_METHOD_TRACE:
        return true;
    default:
        return false;
    }
}

/* Fields a caller may not set: the framing and connection management are
 * ours, and a second Host would make the request invalid. */
static bool pt_subreq_reserved(pt_str_t name)
{
    switch (pt_http_hdr_id(name.p, name.len)) {
    case PT_HDR_HOST: case PT_HDR_CONTENT_LENGTH: case PT_HDR_TRANSFER_ENCODING:
    case PT_HDR_CONNECTION: case PT_HDR_KEEP_ALIVE: case PT_HDR_TE: case PT_HDR_UPGRADE:
        return true;
    default:
        return false;
    }
}

static pt_str_t pt_subreq_dup(pt_arena_t *a, pt_str_t s)
{
    char *p = pt_arena_strndup(a, s.p ? s.p : "", s.len);

    return p ? (pt_str_t) { p, s.len } : PT_STR_NULL;
}

/* The caller's fields as "Name: value" CRLF lines. */
static int pt_subreq_copy_fields(pt_subreq_t *sr, const pt_subreq_spec_t *spec)
{
    size_t cap = 0, n = 0;

    for (size_t i = 0; i < spec->nfields; i++)
        cap += spec->fields[2 * i].len + spec->fields[2 * i + 1].len + 4;
    char *out = pt_arena_alloc(sr->arena, cap);
    if (out == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < spec->nfields; i++) {
        pt_str_t name = spec->fields[2 * i], value = spec->fields[2 * i + 1];
        if (name.len == 0 || pt_subreq_reserved(name))
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
static int pt_subreq_build_head(pt_subreq_t *sr, const pt_server_t *s)
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

static void pt_subreq_release(pt_subreq_t *sr, bool keep)
{
    pt_upconn_t *up = sr->up;

    if (up == NULL)
        return;
    sr->up = NULL;
    if (keep)
        up->nrequests++;
    pt_upstream_release(up, keep);
}

static void pt_subreq_free(pt_subreq_t *sr)
{
    pt_subreq_release(sr, false);
    pt_timer_del(&sr->timer);
    pt_event_unpost(&sr->post);
    if (sr->bound)
        *sr->bound = NULL;
    pt_arena_destroy(sr->arena);
}

/* Report rc to the owner and free everything. */
static void pt_subreq_finish(pt_subreq_t *sr, int rc, const char *error)
{
    if (rc != PT_OK) {
        sr->error = error;
        pt_log(PT_LOG_INFO, "upstream %s: subrequest %.*s %.*s%s%s failed: %s",
               sr->upstream->name, (int) sr->method.len, sr->method.p, (int) sr->path.len,
               sr->path.p, sr->server ? " to " : "", sr->server ? sr->server->name : "",
               error);
    }
    pt_subreq_release(sr, rc == PT_OK && sr->keep);
    pt_timer_del(&sr->timer);
    /* A request ended from inside done must not cancel us through its
     * cleanup, nor may our free write into its arena afterwards. */
    if (sr->bound) {
        *sr->bound = NULL;
        sr->bound = NULL;
    }
    sr->in_done = true;
    sr->done(sr, rc, sr->data);
    pt_subreq_free(sr);
}

/* ---- connecting ---------------------------------------------------------- */

static void pt_subreq_up_event(pt_upconn_t *up)
{
    pt_subreq_run(up->owner);
}

static void pt_subreq_connect_timeout(pt_timer_t *t);

static int pt_subreq_take(pt_subreq_t *sr, pt_server_t *s, pt_upconn_t *up)
{
    sr->up = up;
    sr->server = s;
    up->owner = sr;
    up->handler = pt_subreq_up_event;
    up->timer.handler = pt_subreq_connect_timeout;
    if (!up->connected)
        pt_timer_set(&up->timer, sr->upstream->connect_timeout);
    return pt_subreq_build_head(sr, s);
}

/* Take a connection to the next server that can be tried: PT_OK with
 * sr->up set, or PT_ERROR when none is left (or out of memory: error). */
static int pt_subreq_connect(pt_subreq_t *sr, const pt_server_t *failed, const char **error)
{
    const pt_upstream_t *u = sr->upstream;

    *error = NULL;
    while (sr->tries < u->nservers) {
        pt_server_t *s = pt_upstream_pick(u, failed);
        sr->tries++;
        pt_upconn_t *up = pt_upstream_get(s, false);
        if (up == NULL) {
            pt_log_errno(PT_LOG_ERR, errno, "upstream %s: connect to %s failed", u->name,
                         s->name);
            sr->server = failed = s;
            continue;
        }
        if (pt_subreq_take(sr, s, up) != PT_OK) {
            *error = pt_subreq_oom;
            return PT_ERROR;
        }
        return PT_OK;
    }
    *error = sr->connect_timed_out ? "connect timed out" : "connect failed";
    return PT_ERROR;
}

/* The current server could not be reached: on to the next, or give up. */
static void pt_subreq_next_server(pt_subreq_t *sr)
{
    const pt_server_t *failed = sr->server;
    const char *error;

    pt_subreq_release(sr, false);
    if (pt_subreq_connect(sr, failed, &error) != PT_OK) {
        pt_subreq_finish(sr, PT_ERROR, error);
        return;
    }
    /* A pooled connection gets no new edge: look at it now. */
    pt_subreq_run(sr);
}

static void pt_subreq_connect_timeout(pt_timer_t *t)
{
    pt_upconn_t *up = t->data;
    pt_subreq_t *sr = up->owner;

    pt_log(PT_LOG_ERR, "upstream %s: connect to %s timed out", sr->upstream->name,
           sr->server->name);
    sr->connect_timed_out = true;
    pt_subreq_next_server(sr);
}

static void pt_subreq_deadline(pt_timer_t *t)
{
    pt_subreq_finish(t->data, PT_ERROR, "timed out");
}

/* A reused pooled connection died before any byte of the answer: the
 * server closed it while it idled. Send again on a fresh one, once. */
static void pt_subreq_dead(pt_subreq_t *sr, const char *why)
{
    pt_upconn_t *up = sr->up;
    pt_server_t *s = (pt_server_t *) sr->server;

    if (!up->reused || sr->got_bytes || !sr->replayable || sr->retried) {
        pt_subreq_finish(sr, PT_ERROR, why);
        return;
    }
    pt_log(PT_LOG_INFO, "upstream %s: reused connection to %s was dead (%s), retrying",
           sr->upstream->name, s->name, why);
    pt_subreq_release(sr, false);
    sr->retried = true;
    sr->head_queued = sr->write_failed = false;
    sr->resp_scanned = 0;
    up = pt_upstream_get(s, true);
    if (up == NULL) {
        pt_subreq_finish(sr, PT_ERROR, "connect failed");
        return;
    }
    if (pt_subreq_take(sr, s, up) != PT_OK) {
        pt_subreq_finish(sr, PT_ERROR, pt_subreq_oom);
        return;
    }
}

/* ---- sending ------------------------------------------------------------- */

static void pt_subreq_send(pt_subreq_t *sr)
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

/* ---- the answer ---------------------------------------------------------- */

/* Append n bytes to the body, growing its room (the arena keeps the old
 * room; the cap on the arena allows for that). */
static int pt_subreq_append(pt_subreq_t *sr, const char *p, size_t n)
{
    size_t len = sr->body.len;

    if (n > sr->max_body - len) {
        sr->error = "response body over the cap";
        return PT_ERROR;
    }
    if (len + n + 1 > sr->body_cap) {
        size_t cap = pt_min(pt_max(2 * sr->body_cap, len + n + 1), sr->max_body + 1);
        char *nb = pt_arena_alloc(sr->arena, cap);
        if (nb == NULL) {
            sr->error = pt_subreq_oom;
            return PT_ERROR;
        }
        memcpy(nb, sr->body.p, len);
        sr->body.p = nb;
        sr->body_cap = cap;
    }
    char *b = (char *) sr->body.p;
    memcpy(b + len, p, n);
    b[len + n] = '\0';
    sr->body.len = len + n;
    return PT_OK;
}

static int pt_subreq_body_room(pt_subreq_t *sr, size_t cap)
{
    char *p = pt_arena_alloc(sr->arena, cap);

    if (p == NULL) {
        sr->error = pt_subreq_oom;
        return PT_ERROR;
    }
    p[0] = '\0';
    sr->body = (pt_str_t) { p, 0 };
    sr->body_cap = cap;
    return PT_OK;
}

/* Whether the answer uses a transfer coding other than chunked: we sent no
 * TE, so the server had no right to, and we could not decode it. */
static bool pt_subreq_other_coding(const pt_http_head_t *h)
{
    if (!h->has_te)
        return false;
    for (unsigned i = 0; i < h->nfields; i++) {
        if (h->fields[i].id != PT_HDR_TRANSFER_ENCODING)
            continue;
        pt_str_t list = h->fields[i].value, tok;
        while (pt_str_next_token(&list, &tok))
            if (!pt_str_caseeq_lit(tok, "chunked"))
                return true;
    }
    return false;
}

static void pt_subreq_rebase(pt_str_t *s, const char *from, const char *to)
{
    if (s->p)
        s->p = to + (s->p - from);
}

/* The final head is parsed at b->pos: keep a copy, decide the framing and
 * whether the connection can be reused. PT_OK or PT_ERROR (sr->error). */
static int pt_subreq_final_head(pt_subreq_t *sr, pt_buf_t *b)
{
    pt_http_head_t *h = &sr->resp;

    if (h->status > 599 || pt_subreq_other_coding(h)) {
        sr->error = "malformed response";
        return PT_ERROR;
    }
    char *copy = pt_arena_alloc(sr->arena, h->head_len);
    if (copy == NULL) {
        sr->error = pt_subreq_oom;
        return PT_ERROR;
    }
    memcpy(copy, b->pos, h->head_len);
    for (unsigned i = 0; i < h->nfields; i++) {
        pt_subreq_rebase(&h->fields[i].name, b->pos, copy);
        pt_subreq_rebase(&h->fields[i].value, b->pos, copy);
    }
    pt_subreq_rebase(&h->reason, b->pos, copy);
    pt_subreq_rebase(&h->upgrade, b->pos, copy);
    h->host = PT_STR_NULL;
    b->pos += h->head_len;

    sr->status = h->status;
    sr->reason = h->reason;
    sr->fields = h->fields;
    sr->nfields = h->nfields;
    sr->body_kind = pt_http_response_body(h, sr->method_id);
    sr->keep = !h->framing_conflict && !sr->write_failed && sr->body_kind != PT_HTTP_BODY_CLOSE
               && (h->version_minor >= 1 ? !(h->conn & PT_HTTP_CONN_CLOSE)
                                         : (h->conn & PT_HTTP_CONN_KEEPALIVE) != 0);
    sr->in_body = true;
    switch (sr->body_kind) {
    case PT_HTTP_BODY_LENGTH:
        /* Known up front: fail before reading a byte of it. */
        if ((uint64_t) h->content_length > sr->max_body) {
            sr->error = "response body over the cap";
            return PT_ERROR;
        }
        sr->left = h->content_length;
        return pt_subreq_body_room(sr, (size_t) h->content_length + 1);
    case PT_HTTP_BODY_CHUNKED:
        pt_chunked_init(&sr->chunked);
        /* fall through */
    case PT_HTTP_BODY_CLOSE:
        return pt_subreq_body_room(sr, pt_min(sr->max_body, PT_SUBREQ_BODY_FIRST) + 1);
    default:
        return pt_subreq_body_room(sr, 1);
    }
}

/* Parse what the buffer holds of the heads. PT_OK (the final head is in),
 * PT_AGAIN (need more bytes) or PT_ERROR (sr->error). */
static int pt_subreq_parse_head(pt_subreq_t *sr, pt_buf_t *b)
{
    const pt_upstream_t *u = sr->upstream;
    pt_http_limits_t lim = { (size_t) u->max_response_header_size,
                             (size_t) u->max_response_header_size, sr->resp_fields_cap };

    while (pt_buf_len(b)) {
        pt_http_field_t *fields = sr->resp.fields;
        int rc = pt_http_parse_response(&sr->resp, b->pos, pt_buf_len(b), &lim,
                                        &sr->resp_scanned);
        sr->resp.fields = fields;
        if (rc == PT_AGAIN)
            return PT_AGAIN;
        if (rc != PT_OK) {
            int64_t most = pt_min(u->max_response_header_size / 4, PT_SUBREQ_FIELDS_MAX);
            if (sr->resp.error == pt_http_err_too_many_fields && lim.max_fields < most) {
                unsigned cap = (unsigned) pt_min((int64_t) lim.max_fields * 4, most);
                if ((fields = pt_arena_alloc(sr->arena, cap * sizeof(*fields))) == NULL) {
                    sr->error = pt_subreq_oom;
                    return PT_ERROR;
                }
                sr->resp.fields = fields;
                sr->resp_fields_cap = lim.max_fields = cap;
                sr->resp_scanned = 0;
                continue;
            }
            pt_log(PT_LOG_ERR, "upstream %s: malformed response from %s: %s", u->name,
                   sr->server->name, sr->resp.error ? sr->resp.error : "?");
            sr->error = "malformed response";
            return PT_ERROR;
        }
        if (sr->resp.status >= 200)
            return pt_subreq_final_head(sr, b);
        if (sr->resp.status == 101) {
            sr->error = "unexpected 101 (Switching Protocols) response";
            return PT_ERROR;
        }
        /* RFC 9110 15.2: interim answers are skipped by a client that
         * did not ask for them. */
        b->pos += sr->resp.head_len;
        sr->resp_scanned = 0;
        if (pt_buf_len(b) == 0)
            pt_buf_reset(b);
    }
    return PT_AGAIN;
}

/* Take the body bytes the buffer holds. PT_DONE (the answer is complete),
 * PT_AGAIN or PT_ERROR (sr->error). */
static int pt_subreq_take_body(pt_subreq_t *sr, pt_buf_t *b)
{
    size_t consumed;
    pt_str_t data;

    switch (sr->body_kind) {
    case PT_HTTP_BODY_LENGTH: {
        size_t n = (size_t) pt_min((int64_t) pt_buf_len(b), sr->left);
        if (pt_subreq_append(sr, b->pos, n) != PT_OK)
            return PT_ERROR;
        b->pos += n;
        sr->left -= (int64_t) n;
        if (sr->left > 0)
            return PT_AGAIN;
        break;
    }
    case PT_HTTP_BODY_CHUNKED:
        for (;;) {
            int rc = pt_chunked_parse(&sr->chunked, b->pos, pt_buf_len(b), &consumed, &data);
            b->pos += consumed;
            if (rc == PT_OK) {
                if (pt_subreq_append(sr, data.p, data.len) != PT_OK)
                    return PT_ERROR;
                continue;
            }
            if (rc == PT_DONE)
                break;
            if (rc == PT_ERROR) {
                pt_log(PT_LOG_ERR, "upstream %s: malformed chunked body from %s: %s",
                       sr->upstream->name, sr->server->name, sr->chunked.error);
                sr->error = "malformed response";
                return PT_ERROR;
            }
            return PT_AGAIN;
        }
        break;
    case PT_HTTP_BODY_CLOSE:
        if (pt_subreq_append(sr, b->pos, pt_buf_len(b)) != PT_OK)
            return PT_ERROR;
        b->pos = b->last;
        return PT_AGAIN;
    default:
        break;
    }
    /* Bytes past the end of the answer were never asked for. */
    if (pt_buf_len(b))
        sr->keep = false;
    return PT_DONE;
}

/* Read and take what the socket has. PT_DONE (complete), PT_AGAIN,
 * PT_ERROR (sr->error) or PT_DECLINED (the connection died before any
 * byte of the answer: sr->error says how). */
static int pt_subreq_read(pt_subreq_t *sr)
{
    pt_upconn_t *up = sr->up;
    const pt_upstream_t *u = sr->upstream;

    if (up->buf == NULL && (up->buf = pt_buf_get_size(PT_BUF_LARGE)) == NULL) {
        sr->error = pt_subreq_oom;
        return PT_ERROR;
    }
    for (;;) {
        pt_buf_t *b = up->buf;
        int rc = sr->in_body ? PT_OK : pt_subreq_parse_head(sr, b);
        if (rc == PT_ERROR)
            return PT_ERROR;
        if (sr->in_body) {
            rc = pt_subreq_take_body(sr, b);
            if (rc != PT_AGAIN)
                return rc;
            pt_buf_reset(b);
        } else if (pt_buf_room(b) == 0) {
            if (b->pos != b->start) {
                pt_buf_compact(b);
            } else {
                size_t cap = (size_t) u->max_response_header_size;
                pt_buf_t *nb = pt_buf_cap(b) < cap ? pt_buf_get_size(cap) : NULL;
                if (nb == NULL) {
                    sr->error = "response head too large";
                    return PT_ERROR;
                }
                memcpy(nb->start, b->pos, pt_buf_len(b));
                nb->last = nb->start + pt_buf_len(b);
                pt_buf_put(b);
                up->buf = b = nb;
            }
        }
        ssize_t n = pt_io_recv(&up->io, b->last, pt_buf_room(b));
        if (n == PT_AGAIN)
            return PT_AGAIN;
        if (n == 0 && sr->in_body && sr->body_kind == PT_HTTP_BODY_CLOSE)
            return PT_DONE;
        if (n <= 0) {
            if (!sr->got_bytes) {
                sr->error = n == 0 ? "connection closed before the response"
                                   : "connection failed before the response";
                return PT_DECLINED;
            }
            sr->error = "connection closed before the response was complete";
            return PT_ERROR;
        }
        sr->got_bytes = true;
        b->last += n;
    }
}

/* ---- driving ------------------------------------------------------------- */

static void pt_subreq_run(pt_subreq_t *sr)
{
    pt_upconn_t *up = sr->up;

    if (!up->connected) {
        int rc = pt_upstream_connected(up);
        if (rc == PT_AGAIN)
            return;
        if (rc == PT_ERROR) {
            pt_log_errno(PT_LOG_ERR, errno, "upstream %s: connect to %s failed",
                         sr->upstream->name, sr->server->name);
            pt_subreq_next_server(sr);
            return;
        }
        pt_timer_del(&up->timer);
    }
    pt_subreq_send(sr);
    switch (pt_subreq_read(sr)) {
    case PT_AGAIN:
        return;
    case PT_DONE:
        pt_subreq_finish(sr, PT_OK, NULL);
        return;
    case PT_DECLINED:
        pt_subreq_dead(sr, sr->error);
        return;
    default:
        pt_subreq_finish(sr, PT_ERROR, sr->error);
        return;
    }
}

static void pt_subreq_posted(pt_event_t *ev, uint32_t events)
{
    pt_subreq_t *sr = ev->data;

    (void) events;
    if (sr->up == NULL) {
        pt_subreq_finish(sr, PT_ERROR, sr->error);
        return;
    }
    pt_subreq_run(sr);
}

/* ---- the API ------------------------------------------------------------- */

pt_subreq_t *pt_subreq_start(pt_upstream_t *u, const pt_subreq_spec_t *spec,
                             pt_subreq_done_pt done, void *data)
{
    size_t max_body = spec->max_body ? spec->max_body : PT_SUBREQ_MAX_BODY;
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
    pt_subreq_t *sr = pt_arena_calloc(a, sizeof(*sr));
    if (sr == NULL) {
        pt_arena_destroy(a);
        return NULL;
    }
    sr->arena = a;
    sr->upstream = u;
    sr->done = done;
    sr->data = data;
    sr->max_body = max_body;
    pt_timer_prepare(&sr->timer, pt_subreq_deadline, sr);
    sr->post.fd = -1;
    sr->post.handler = pt_subreq_posted;
    sr->post.data = sr;

    sr->method = spec->method ? (pt_str_t) { spec->method, strlen(spec->method) } : PT_STR("GET");
    sr->method_id = pt_subreq_method_id(sr->method);
    sr->method = pt_subreq_dup(a, sr->method);
    sr->path = pt_subreq_dup(a, spec->path.len ? spec->path : PT_STR("/"));
    sr->host = pt_subreq_dup(a, spec->host);
    sr->req_body = pt_subreq_dup(a, spec->body);
    sr->resp.fields = pt_arena_alloc(a, PT_SUBREQ_FIELDS * sizeof(*sr->resp.fields));
    sr->resp_fields_cap = PT_SUBREQ_FIELDS;
    if (sr->method.p == NULL || sr->path.p == NULL || sr->host.p == NULL
        || sr->req_body.p == NULL || sr->resp.fields == NULL
        || pt_subreq_copy_fields(sr, spec) != PT_OK) {
        pt_arena_destroy(a);
        return NULL;
    }
    sr->replayable = u->retry && (spec->idempotent || pt_subreq_idempotent(sr->method_id));

    /* Taking the connection now (nothing here calls done) means a pooled
     * one is looked at before the loop handles its events. Everything
     * else, a failure to connect included, happens from the loop. */
    const char *error;
    if (pt_subreq_connect(sr, NULL, &error) != PT_OK) {
        pt_subreq_release(sr, false);
        if (error == pt_subreq_oom) {
            pt_arena_destroy(a);
            return NULL;
        }
        sr->error = error;
    }
    pt_timer_set(&sr->timer, spec->timeout > 0 ? spec->timeout : u->read_timeout);
    pt_event_post(&sr->post);
    return sr;
}

void pt_subreq_cancel(pt_subreq_t *sr)
{
    if (sr == NULL || sr->in_done)
        return;
    pt_subreq_free(sr);
}

static void pt_subreq_unbind(void *data)
{
    pt_subreq_t **slot = data, *sr = *slot;

    if (sr == NULL)
        return;
    *slot = NULL;
    sr->bound = NULL;
    pt_subreq_cancel(sr);
}

int pt_subreq_bind(pt_subreq_t *sr, pt_request_t *r)
{
    PT_ASSERT(sr->bound == NULL);
    pt_subreq_t **slot = pt_arena_alloc(r->arena, sizeof(*slot));

    if (slot == NULL)
        return PT_ERROR;
    *slot = sr;
    if (pt_arena_cleanup_add(r->arena, pt_subreq_unbind, slot) != PT_OK)
        return PT_ERROR;
    sr->bound = slot;
    return PT_OK;
}

pt_str_t pt_subreq_field(const pt_subreq_t *sr, const char *name)
{
    for (unsigned i = 0; i < sr->nfields; i++)
        if (pt_str_caseeq_lit(sr->fields[i].name, name))
            return sr->fields[i].value;
    return PT_STR_NULL;
}
