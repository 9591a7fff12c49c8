/*
 * request.c: a request's life, whatever the protocol that read its head
 * (see request.h): preparing it, the phases, the body API, the end.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/net/conn.h"
#include "worker/http/http_error.h"
#include "worker/http/h1/h1_conn.h"
#include "worker/http/h1/h1_write.h"
#include "worker/core/module.h"
#include "worker/core/phase.h"
#include "worker/http/request.h"
#include "worker/http/request_id.h"
#include "worker/http/request_log.h"
#include "worker/router/router.h"
#include "worker/http/uri.h"

#define PT_REQUEST_ARENA_BLOCK  16384
#define PT_REQUEST_ARENA_CAP    (4 * 1024 * 1024)
#define PT_REQUEST_ARENA_FREE   256     /* arenas kept for reuse */
#define PT_REQUEST_BODY_ROOM    4096    /* least room for body reads after the head */

static pt_arena_t *pt_request_arenas[PT_REQUEST_ARENA_FREE];
static unsigned pt_request_narenas;

static void pt_request_conn_handler(pt_conn_t *c);

static pt_arena_t *pt_request_arena_get(void)
{
    if (pt_request_narenas)
        return pt_request_arenas[--pt_request_narenas];
    return pt_arena_create(PT_REQUEST_ARENA_BLOCK, PT_REQUEST_ARENA_CAP);
}

static void pt_request_arena_put(pt_arena_t *a)
{
    if (pt_request_narenas == PT_REQUEST_ARENA_FREE) {
        pt_arena_destroy(a);
        return;
    }
    pt_arena_reset(a);
    pt_request_arenas[pt_request_narenas++] = a;
}

pt_request_t *pt_request_new(pt_conn_t *c)
{
    pt_arena_t *a = pt_request_arena_get();

    if (a == NULL)
        return NULL;
    unsigned max = (unsigned) c->listener->c.max_header_count;
    pt_request_t *r = pt_arena_calloc(a, sizeof(*r));
    pt_http_field_t *fields = r ? pt_arena_alloc(a, max * sizeof(*fields)) : NULL;
    if (fields == NULL) {
        pt_arena_destroy(a);
        return NULL;
    }
    r->arena = a;
    r->conn = c;
    r->conf = c->conf;
    r->listener = c->listener;
    r->head.fields = fields;
    r->upstream_ms = -1;
    return r;
}

void pt_request_free(pt_request_t *r)
{
    if (r->conn && r->conn->req == r)
        r->conn->req = NULL;
    pt_request_arena_put(r->arena);
}

const pt_http_field_t *pt_request_field(const pt_request_t *r, unsigned id)
{
    for (unsigned i = 0; i < r->head.nfields; i++)
        if (r->head.fields[i].id == id)
            return &r->head.fields[i];
    return NULL;
}

int pt_request_field_add(pt_request_t *r, pt_str_t name, pt_str_t value)
{
    pt_http_head_t *h = &r->head;
    /* 0: still the array pt_request_new sized for the listener. */
    unsigned cap = r->fields_cap ? r->fields_cap : (unsigned) r->listener->c.max_header_count;

    if (h->nfields == cap) {
        unsigned ncap = cap ? cap * 2 : 8;
        pt_http_field_t *nf = pt_arena_alloc(r->arena, ncap * sizeof(*nf));
        if (nf == NULL)
            return PT_ERROR;
        if (h->nfields)
            memcpy(nf, h->fields, h->nfields * sizeof(*nf));
        h->fields = nf;
        r->fields_cap = ncap;
    }
    h->fields[h->nfields++] = (pt_http_field_t) {
        name, value, (uint8_t) pt_http_hdr_id(name.p, name.len), 0 };
    return PT_OK;
}

/* ---- a head refused ---------------------------------------------------- */

/* What the error renderer and the log read (an id, a start, no body to
 * skip), then the answer; the connection closes after it since nothing
 * after a bad head can be framed. */
void pt_request_reject(pt_request_t *r, unsigned status, const char *why)
{
    pt_conn_t *c = r->conn;

    pt_request_id_make(r->id_buf);
    r->id = (pt_str_t) { r->id_buf, PT_REQUEST_ID_LEN };
    r->start = pt_clock_now;
    r->start_wall_ms = pt_clock_wall_ms();
    r->sent_base = c->io.sent;
    r->body_done = true;
    r->keepalive = false;
    c->handler = pt_request_conn_handler;
    pt_http_error(r, status, why);
}

/* ---- running a request ------------------------------------------------- */

static void pt_request_conn_handler(pt_conn_t *c)
{
    pt_request_t *r = c->req;

    if (r && r->on_event)
        r->on_event(r);
}

static bool pt_request_id_valid(pt_str_t v)
{
    if (v.len == 0 || v.len > 128)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char) v.p[i];
        if (!(ch >= '0' && ch <= '9') && !(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z')
            && !strchr("-_.:+/=", ch))
            return false;
    }
    return true;
}

static int pt_request_prepare(pt_request_t *r)
{
    pt_http_head_t *h = &r->head;

    /* Id and body framing first: an error below is answered with the id
     * and must know what of the input is body. */
    const pt_http_field_t *id = pt_request_field(r, PT_HDR_X_REQUEST_ID);
    if (id && pt_request_id_valid(id->value)) {
        r->id = id->value;
    } else {
        pt_request_id_make(r->id_buf);
        r->id = (pt_str_t) { r->id_buf, PT_REQUEST_ID_LEN };
    }
    if (h->chunked) {
        r->body_kind = PT_BODY_CHUNKED;
        pt_chunked_init(&r->chunked);
    } else if (h->content_length > 0) {
        r->body_kind = PT_BODY_LENGTH;
        r->body_left = h->content_length;
    } else {
        r->body_done = true;
    }
    r->body_start = r->body_pos = r->conn->rbuf->pos + h->head_len;

    if (h->target_form == PT_HTTP_FORM_AUTHORITY) {
        r->error_detail = "CONNECT is not supported";
        return 501;             /* a gateway does not open tunnels */
    }
    if (h->target_form == PT_HTTP_FORM_ASTERISK) {
        r->path = PT_STR("*");
    } else if (!pt_uri_path_valid(h->path.p, h->path.len)) {
        /* RFC 3986 3.3: a backslash, for one, is a separator to some
         * servers and would walk past a prefix rule there. */
        r->error_detail = "invalid character in the path";
        return 400;
    } else {
        const pt_listen_conf_t *lc = &r->listener->c;
        unsigned flags = lc->merge_slashes == 1 ? PT_URI_MERGE_SLASHES : 0;
        if (pt_uri_is_normal(h->path.p, h->path.len, flags)) {
            r->path = h->path;      /* no '%' at all: no encoded slash either */
        } else {
            if (lc->escaped_slashes != PT_SLASHES_KEEP
                && pt_uri_has_escaped_slash(h->path.p, h->path.len)) {
                /* An encoded slash is a separator to many servers: routed
                 * as a letter it would walk "/api/..%2Fadmin" out of "/api/". */
                if (lc->escaped_slashes == PT_SLASHES_REFUSE) {
                    r->error_detail = "encoded slash (%2F or %5C) in the path";
                    return 400;
                }
                flags |= PT_URI_DECODE_SLASHES;
            }
            char *out = pt_arena_alloc(r->arena, h->path.len + 1);
            size_t len;
            if (out == NULL)
                return 500;
            if (pt_uri_normalize(h->path.p, h->path.len, flags, out, &len) != PT_OK) {
                r->error_detail = "invalid percent-encoding in the path";
                return 400;
            }
            r->path = (pt_str_t) { out, len };
        }
        if (memchr(r->path.p, ';', r->path.len) && pt_uri_dot_params(r->path.p, r->path.len)) {
            r->error_detail = "a dot-segment with parameters in the path";
            return 400;
        }
        if (lc->escaped_slashes == PT_SLASHES_KEEP && r->path.p != h->path.p
            && pt_uri_hides_dot_segment(r->path.p, r->path.len)) {
            r->error_detail = "an encoded slash hides a dot-segment in the path";
            return 400;
        }
    }
    r->upstream_path = r->path;
    return PT_OK;
}

static void pt_request_run_phases(pt_request_t *r);

void pt_request_start(pt_request_t *r)
{
    pt_conn_t *c = r->conn;
    int rc;

    pt_timer_del(&c->timer);
    c->handler = pt_request_conn_handler;
    c->nrequests++;
    r->start = pt_clock_now;
    r->sent_base = c->io.sent;
    r->start_wall_ms = pt_clock_wall_ms();
    r->rate_bytes = 0;              /* the head's count; the body's begins */
    r->head_only = r->head.method_id == PT_METHOD_HEAD;
    r->keepalive = r->head.version_minor >= 1 ? !(r->head.conn & PT_HTTP_CONN_CLOSE)
                                              : (r->head.conn & PT_HTTP_CONN_KEEPALIVE) != 0;

    if ((rc = pt_request_prepare(r)) != PT_OK) {
        pt_http_error(r, (unsigned) rc, r->error_detail);
        return;
    }
    /* Room after the head for body reads (or, after an upgrade, for the
     * tunnel): a head that nearly fills the buffer moves to a bigger one
     * (and is parsed again there). */
    if ((!r->body_done || (r->head.conn & PT_HTTP_CONN_UPGRADE))
        && (size_t) (c->rbuf->end - r->body_start) < PT_REQUEST_BODY_ROOM) {
        size_t len = pt_buf_len(c->rbuf);
        pt_buf_t *nb = pt_buf_get_size(len + PT_BUF_SIZE);
        size_t scanned = 0;
        pt_http_limits_t lim = { SIZE_MAX, SIZE_MAX, (unsigned) c->listener->c.max_header_count };
        if (nb == NULL) {
            pt_http_error(r, 500, "out of memory");
            return;
        }
        memcpy(nb->start, c->rbuf->pos, len);
        nb->last = nb->start + len;
        pt_buf_put(c->rbuf);
        c->rbuf = nb;
        pt_http_field_t *fields = r->head.fields;
        pt_http_parse_request(&r->head, nb->pos, len, &lim, &scanned);
        r->head.fields = fields;
        if ((rc = pt_request_prepare(r)) != PT_OK) {
            pt_http_error(r, (unsigned) rc, r->error_detail);
            return;
        }
    }

    pt_request_run_phases(r);
}

/* The core's step after post-read: choose the route. */
static int pt_request_route(pt_request_t *r)
{
    if (r->head.target_form == PT_HTTP_FORM_ASTERISK) {
        /* RFC 9110 9.3.7: "OPTIONS *" asks about the server itself, which
         * no route describes: the gateway answers for itself. */
        pt_response_send(r, 200, NULL, NULL, 0, NULL, 0);
        return PT_DONE;
    }
    pt_router_key_t key = {
        r->head.authority.len ? r->head.authority : r->head.host, r->path, r->head.method,
        r->head.method_id, r->head.fields, r->head.nfields, r->listener->index, r->head.query
    };
    pt_router_result_t res;
    r->route = pt_router_match(r->conf->router, &key, r->arena, &res);
    r->upstream_path = res.upstream_path;
    r->route_allow = res.allow;
    unsigned status = res.status;
    pt_request_debug(r, "route: %s (path %.*s, upstream path %.*s)",
                     r->route ? r->route->name : "none", (int) r->path.len, r->path.p,
                     (int) r->upstream_path.len, r->upstream_path.p ? r->upstream_path.p : "");
    if (r->route == NULL) {
        pt_http_error(r, status ? status : 404, status == 405
                      ? "method not allowed on this route" : "no route matches");
        return PT_DONE;
    }
    return PT_OK;
}

/* The core's step after limit. Checked after access and limits: who may
 * ask comes before what the body may be, and the route's response lines
 * (HSTS) are set by now. */
static int pt_request_check(pt_request_t *r)
{
    if (r->head.expect_other) {
        pt_http_error(r, 417, "only 100-continue is supported in Expect");
        return PT_DONE;
    }
    if (r->body_kind == PT_BODY_LENGTH
        && r->head.content_length > r->route->c.client_max_body_size) {
        r->keepalive = false;
        pt_http_error(r, 413, "request body larger than the route allows");
        return PT_DONE;
    }
    return PT_OK;
}

static int pt_request_content(pt_request_t *r)
{
    return r->route->handler->content(r);
}

static const pt_phase_core_t pt_request_core = {
    .route = pt_request_route, .check = pt_request_check, .content = pt_request_content,
};

static void pt_request_run_phases(pt_request_t *r)
{
    int rc = pt_phase_run(&pt_phase_engine, &pt_request_core, r, PT_PHASE_POST_READ);

    if (rc >= 400)
        pt_http_error(r, (unsigned) rc, NULL);
}

void pt_request_resume(pt_request_t *r)
{
    int rc = pt_phase_resume(&pt_phase_engine, &pt_request_core, r);

    if (rc >= 400)
        pt_http_error(r, (unsigned) rc, NULL);
}

/* ---- request bodies ---------------------------------------------------- */

/* body_min_rate: bytes over the time spent waiting for them, so that a
 * body the gateway itself holds back (a slow upstream, a full pipe) never
 * counts against the client. Measured in windows of min_rate_window of
 * waiting. */
static bool pt_request_body_slow(pt_request_t *r, size_t n)
{
    const pt_listen_conf_t *lc = &r->listener->c;

    if (lc->body_min_rate <= 0)
        return false;
    if (r->rate_waiting) {
        r->rate_waited += pt_clock_now - r->rate_since;
        r->rate_waiting = false;
    }
    r->rate_bytes += n;
    if (r->rate_waited < lc->min_rate_window)
        return false;
    bool slow = r->rate_bytes * 1000 < (uint64_t) lc->body_min_rate * (uint64_t) r->rate_waited;
    r->rate_waited = 0;
    r->rate_bytes = 0;
    return slow;
}

pt_msec_t pt_request_body_wait(pt_request_t *r)
{
    const pt_listen_conf_t *lc = &r->listener->c;

    if (lc->body_min_rate <= 0 || !r->rate_waiting)
        return lc->body_timeout;
    pt_msec_t waited = r->rate_waited + (pt_clock_now - r->rate_since);
    return pt_max(pt_min(lc->min_rate_window - waited, lc->body_timeout), (pt_msec_t) 1);
}

const char *pt_request_body_expired(pt_request_t *r)
{
    const pt_listen_conf_t *lc = &r->listener->c;
    static const char late[] = "request body not received in time";

    if (!r->rate_waiting || pt_clock_now - r->rate_since >= lc->body_timeout)
        return late;
    if (lc->body_min_rate <= 0)
        return late;
    pt_msec_t waited = r->rate_waited + (pt_clock_now - r->rate_since);
    if (waited < lc->min_rate_window)
        return NULL;
    if (r->rate_bytes * 1000 < (uint64_t) lc->body_min_rate * (uint64_t) waited)
        return "request body sent too slowly";
    /* The window passed: the next one starts now. The wait in progress is
     * added in whole when bytes come (pt_request_body_slow), so take back
     * what of it this window already counted. */
    r->rate_waited = -(pt_clock_now - r->rate_since);
    r->rate_bytes = 0;
    return NULL;
}

int pt_request_body_next(pt_request_t *r, bool raw, pt_str_t *data)
{
    pt_conn_t *c = r->conn;
    pt_buf_t *b = c->rbuf;

    for (;;) {
        if (r->body_done)
            return PT_DONE;
        size_t avail = (size_t) (b->last - r->body_pos);
        if (avail == 0) {
            /* Everything buffered was used: read into the same room. */
            r->body_pos = b->last = r->body_start;
            if (pt_buf_room(b) == 0)
                return 500;
            ssize_t n = pt_io_recv(&c->io, b->last, pt_buf_room(b));
            if (n == PT_AGAIN) {
                if (!r->rate_waiting) {
                    r->rate_waiting = true;
                    r->rate_since = pt_clock_now;
                }
                return PT_AGAIN;
            }
            if (n <= 0) {
                r->keepalive = false;
                r->error_detail = "client closed the connection during the request body";
                return 400;
            }
            b->last += n;
            if (pt_request_body_slow(r, (size_t) n)) {
                r->keepalive = false;
                r->error_detail = "request body sent too slowly";
                return 408;
            }
            continue;
        }
        if (r->body_kind == PT_BODY_LENGTH) {
            size_t take = (size_t) pt_min((int64_t) avail, r->body_left);
            *data = (pt_str_t) { r->body_pos, take };
            r->body_span_len = take;
            r->body_span_ends = (int64_t) take == r->body_left;
            return PT_OK;
        }
        size_t used = 0;
        pt_str_t payload = PT_STR_NULL;
        int rc = pt_chunked_parse(&r->chunked, r->body_pos, avail, &used, &payload);
        if (rc == PT_ERROR) {
            r->keepalive = false;
            r->error_detail = r->chunked.error;
            return 400;
        }
        r->body_received += payload.len;
        if (r->body_received > (uint64_t) pt_request_rconf(r)->client_max_body_size) {
            r->keepalive = false;
            r->error_detail = "request body larger than the route allows";
            return 413;
        }
        r->body_span_len = used;
        r->body_span_ends = rc == PT_DONE;
        if (raw) {
            *data = (pt_str_t) { r->body_pos, used };
            return PT_OK;
        }
        if (payload.len) {
            *data = payload;
            return PT_OK;
        }
        pt_request_body_consumed(r);    /* framing only: move on */
    }
}

void pt_request_body_consumed(pt_request_t *r)
{
    r->body_pos += r->body_span_len;
    if (r->body_kind == PT_BODY_LENGTH) {
        r->body_left -= (int64_t) r->body_span_len;
        r->body_received += r->body_span_len;
    }
    if (r->body_span_ends)
        r->body_done = true;
    r->body_span_len = 0;
    r->body_span_ends = false;
}

void pt_request_skip_buffered_body(pt_request_t *r)
{
    pt_str_t data;

    while (!r->body_done && r->body_pos < r->conn->rbuf->last) {
        unsigned saved = r->conn->io.flags;
        r->conn->io.flags &= ~PT_IO_READABLE;
        int rc = pt_request_body_next(r, true, &data);
        r->conn->io.flags = saved;
        if (rc != PT_OK)
            break;
        pt_request_body_consumed(r);
    }
}

typedef struct {
    char *data;
    size_t len, cap;
    pt_request_handler_pt done;
} pt_request_body_t;

static pt_request_body_t *pt_request_body_ctx(pt_request_t *r)
{
    return r->body_reader;
}

/* A body read by pt_request_read_body stalled past body_timeout. */
static void pt_request_body_timeout(pt_timer_t *t)
{
    pt_conn_t *c = t->data;
    pt_request_t *r = c->req;

    if (r == NULL || c->rbuf == NULL || pt_buf_len(c->rbuf) == 0) {
        pt_conn_close(c);
        return;
    }
    const char *why = pt_request_body_expired(r);
    if (why == NULL) {
        pt_timer_set(t, pt_request_body_wait(r));
        return;
    }
    r->keepalive = false;
    pt_http_error(r, 408, why);
}

static void pt_request_body_reader(pt_request_t *r)
{
    pt_request_body_t *bd = pt_request_body_ctx(r);
    pt_str_t span;

    if (r->conn->io.flags & PT_IO_ERROR) {
        pt_request_abort(r, "client connection failed");
        return;
    }
    for (;;) {
        int rc = pt_request_body_next(r, false, &span);
        if (rc == PT_AGAIN) {
            pt_timer_set(&r->conn->timer, pt_request_body_wait(r));
            return;
        }
        if (rc == PT_DONE)
            break;
        if (rc != PT_OK) {
            pt_http_error(r, (unsigned) rc, r->error_detail);
            return;
        }
        if (bd->len + span.len > bd->cap) {
            size_t ncap = pt_max(bd->cap * 2, bd->len + span.len);
            char *nd = pt_arena_alloc(r->arena, ncap);
            if (nd == NULL) {
                r->keepalive = false;
                pt_http_error(r, 413, "request body too large to buffer");
                return;
            }
            if (bd->len)
                memcpy(nd, bd->data, bd->len);
            bd->data = nd;
            bd->cap = ncap;
        }
        memcpy(bd->data + bd->len, span.p, span.len);
        bd->len += span.len;
        pt_request_body_consumed(r);
    }
    pt_timer_del(&r->conn->timer);
    r->on_event = NULL;
    bd->done(r);
}

void pt_request_read_body(pt_request_t *r, pt_request_handler_pt done)
{
    pt_request_body_t *bd = pt_arena_calloc(r->arena, sizeof(*bd));

    if (bd == NULL) {
        pt_http_error(r, 500, "out of memory");
        return;
    }
    bd->done = done;
    if (r->body_kind == PT_BODY_LENGTH) {
        bd->cap = (size_t) r->head.content_length;
        if ((bd->data = pt_arena_alloc(r->arena, bd->cap)) == NULL) {
            r->keepalive = false;
            pt_http_error(r, 413, "request body too large to buffer");
            return;
        }
    }
    r->body_reader = bd;
    r->conn->timer.handler = pt_request_body_timeout;
    r->on_event = pt_request_body_reader;
    /* RFC 9110 10.1.1: the client waits for a word before sending the
     * body; none is needed if some of it is here already. */
    if (r->head.expect_continue && !r->body_done && r->body_pos == r->conn->rbuf->last) {
        struct iovec iov = { (void *) pt_h1_write_continue.p, pt_h1_write_continue.len };
        r->head_bytes += iov.iov_len;
        if (pt_io_send(&r->conn->io, &iov, 1) == PT_ERROR) {
            pt_request_abort(r, "client connection failed");
            return;
        }
    }
    pt_request_body_reader(r);
}

pt_str_t pt_request_body(pt_request_t *r)
{
    pt_request_body_t *bd = pt_request_body_ctx(r);

    return bd ? (pt_str_t) { bd->data, bd->len } : PT_STR_NULL;
}

/* ---- the end of a request ---------------------------------------------- */

static void pt_request_log(pt_request_t *r)
{
    pt_metric_inc(PT_METRIC_REQUESTS, 1);
    pt_phase_log(&pt_phase_engine, r);
}

void pt_request_finalize(pt_request_t *r)
{
    pt_conn_t *c = r->conn;

    pt_request_log(r);
    pt_timer_del(&c->timer);
    if (!r->keepalive || c->closing) {
        bool unread = !r->body_done || (c->rbuf && r->body_pos < c->rbuf->last)
                      || (c->io.flags & PT_IO_READABLE);
        if (unread) {
            pt_conn_linger(c);
        } else {
            pt_conn_close(c);
        }
        return;
    }
    /* Keep the connection: whatever follows the body is the next request,
     * which the protocol waits for (a direct call: one protocol today, and
     * no indirect call per request). */
    char *next = r->body_pos;
    pt_request_free(r);
    pt_h1_conn_keep(c, next);
}

void pt_request_abort(pt_request_t *r, const char *why)
{
    pt_conn_t *c = r->conn;

    if (r->status == 0)
        r->status = 499;
    r->error_detail = why;
    pt_request_log_line(r, PT_LOG_INFO, "request aborted: %s", why);
    pt_request_log(r);
    /* A body that ends with the connection would look whole after a
     * plain close: reset it instead. So too when output is still waiting
     * (a client that stopped reading): the answer is cut either way, and
     * a reset frees the kernel's send buffer at once instead of leaving
     * it to a reader that may never come. */
    if ((r->response_started && r->close_delimited) || pt_io_pending(&c->io))
        pt_conn_reset(c);
    else
        pt_conn_close(c);
}
