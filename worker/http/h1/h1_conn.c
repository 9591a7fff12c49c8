/*
 * h1_conn.c: the HTTP/1.1 side of a client connection (see h1_conn.h):
 * waiting for a head under header_timeout or keepalive_timeout, reading
 * and parsing it, and the next request of a kept connection, pipelined
 * or not.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "worker/core/event.h"
#include "worker/core/timer.h"
#include "worker/http/h1/h1_conn.h"
#include "worker/http/http_parse.h"
#include "worker/http/request.h"
#include "worker/net/conn_metrics.h"
#include "worker/net/conn.h"
#include "worker/net/proto.h"

static void pt_h1_conn_read_handler(pt_conn_t *c);
static void pt_h1_conn_init(pt_conn_t *c);
static void pt_h1_conn_drain(pt_conn_t *c);
static void pt_h1_conn_close(pt_conn_t *c);

const pt_proto_t pt_h1_conn_proto = {
    .name = "http/1.1",
    .init = pt_h1_conn_init, .drain = pt_h1_conn_drain, .close = pt_h1_conn_close,
};

static void pt_h1_conn_timeout(pt_timer_t *t)
{
    pt_conn_t *c = t->data;
    pt_request_t *r = c->req;

    if (r == NULL || c->rbuf == NULL || pt_buf_len(c->rbuf) == 0) {
        pt_conn_close(c);           /* idle keep-alive connection */
        return;
    }
    /* Part of a head and no more: a slow or stalled client. */
    pt_request_reject(r, 408, "request head not received in time");
}

static void pt_h1_conn_wait(pt_conn_t *c, bool first)
{
    pt_conn_metric_idle(c, !first);
    c->handler = pt_h1_conn_read_handler;
    c->timer.handler = pt_h1_conn_timeout;
    pt_timer_set(&c->timer, first ? c->listener->c.header_timeout
                                  : c->listener->c.keepalive_timeout);
}

static void pt_h1_conn_init(pt_conn_t *c)
{
    pt_h1_conn_wait(c, true);
    pt_h1_conn_read_handler(c);
}

static void pt_h1_conn_drain(pt_conn_t *c)
{
    /* Between requests nothing is said; the next request is answered with
     * Connection: close (pt_response_keepalive sees pt_conn_draining). */
    c->closing = true;
}

static void pt_h1_conn_close(pt_conn_t *c)
{
    if (c->req)
        pt_request_free(c->req);
    c->req = NULL;
}

/* Make the head fit: grow a full buffer up to the listener's cap. */
static int pt_h1_conn_grow_rbuf(pt_conn_t *c)
{
    size_t cap = (size_t) c->listener->c.max_header_size;
    pt_buf_t *b = c->rbuf;

    if (pt_buf_cap(b) >= cap || b->pos != b->start)
        return PT_ERROR;
    pt_buf_t *nb = pt_buf_get_size(cap);
    if (nb == NULL)
        return PT_ERROR;
    memcpy(nb->start, b->pos, pt_buf_len(b));
    nb->last = nb->start + pt_buf_len(b);
    pt_buf_put(b);
    c->rbuf = nb;
    return PT_OK;
}

/* header_min_rate: the head's bytes over the time since its first byte,
 * once a window has passed (heads are short; no window slides). */
static bool pt_h1_conn_head_slow(pt_request_t *r, size_t n)
{
    const pt_listen_conf_t *lc = &r->listener->c;

    if (lc->header_min_rate <= 0)
        return false;
    if (r->rate_bytes == 0)
        r->rate_since = pt_clock_now;
    r->rate_bytes += n;
    pt_msec_t spent = pt_clock_now - r->rate_since;
    return spent >= lc->min_rate_window
           && r->rate_bytes * 1000 < (uint64_t) lc->header_min_rate * (uint64_t) spent;
}

/* Read and parse a head into c->req (made on its first byte), then hand
 * the request to pt_request_start; a bad, slow or oversized head is
 * answered through pt_request_reject. */
static void pt_h1_conn_read_handler(pt_conn_t *c)
{
    pt_request_t *r = c->req;
    pt_http_limits_t lim = {
        .max_line = (size_t) c->listener->c.max_request_line,
        .max_head = (size_t) c->listener->c.max_header_size,
        .max_fields = (unsigned) c->listener->c.max_header_count,
    };
    if (c->io.flags & PT_IO_ERROR) {
        pt_conn_close(c);
        return;
    }
    for (;;) {
        bool got = false;
        size_t got_n = 0;
        if (c->rbuf == NULL) {
            if (!(c->io.flags & PT_IO_READABLE))
                return;
            if ((c->rbuf = pt_buf_get()) == NULL) {
                pt_conn_close(c);
                return;
            }
        }
        pt_buf_t *b = c->rbuf;
        if (pt_buf_room(b) == 0 && b->pos != b->start)
            pt_buf_compact(b);
        if (pt_buf_room(b) && (c->io.flags & PT_IO_READABLE)) {
            ssize_t n = pt_io_recv(&c->io, b->last, pt_buf_room(b));
            if (n == 0 || n == PT_ERROR) {
                /* The client left; with half a head there is nobody to
                 * answer either. */
                pt_conn_close(c);
                return;
            }
            if (n > 0) {
                if (pt_buf_len(b) == 0 && c->nrequests)
                    pt_timer_set(&c->timer, c->listener->c.header_timeout);
                b->last += n;
                got = true;
                got_n = (size_t) n;
            }
        }
        if (pt_buf_len(b) == 0) {
            if (!(c->io.flags & PT_IO_READABLE)) {
                /* Idle between requests: hold no buffer. */
                pt_buf_put(b);
                c->rbuf = NULL;
                return;
            }
            continue;
        }
        if (r == NULL) {
            if ((r = pt_request_new(c)) == NULL) {
                pt_conn_close(c);
                return;
            }
            c->req = r;
            pt_conn_metric_idle(c, false);
        }
        if (got && pt_h1_conn_head_slow(r, got_n)) {
            pt_request_reject(r, 408, "request head sent too slowly");
            return;
        }
        if (!got && r->head_scanned)
            return;
        pt_http_field_t *fields = r->head.fields;
        int rc = pt_http_parse_request(&r->head, b->pos, pt_buf_len(b), &lim,
                                       &r->head_scanned);
        r->head.fields = fields;
        if (rc == PT_OK) {
            pt_request_start(r);
            return;
        }
        if (rc != PT_AGAIN) {
            pt_request_reject(r, (unsigned) rc, r->head.error);
            return;
        }
        if (pt_buf_room(b) == 0 && pt_h1_conn_grow_rbuf(c) != PT_OK) {
            pt_request_reject(r, 431, "request head too large");
            return;
        }
        if (!(c->io.flags & PT_IO_READABLE))
            return;
    }
}

void pt_h1_conn_keep(pt_conn_t *c, char *next)
{
    pt_buf_t *b = c->rbuf;

    b->pos = next;
    pt_h1_conn_wait(c, false);
    if (pt_buf_len(b)) {
        pt_buf_compact(b);
        /* Pipelined: parse it after this batch, not deeper in this stack. */
        c->handler = pt_h1_conn_read_handler;
        pt_event_post(&c->io.ev);
        return;
    }
    pt_buf_put(b);
    c->rbuf = NULL;
    if (c->io.flags & PT_IO_READABLE)
        pt_event_post(&c->io.ev);
}
