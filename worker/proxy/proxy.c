/*
 * proxy.c: the proxy content handler: choose a server, connect (or reuse a
 * pooled connection), send the request head and stream its body, and
 * drive both sides through pt_proxy_run().
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/http/http_error.h"
#include "worker/proxy/proxy.h"
#include "worker/http/request_log.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_metrics.h"
#include "worker/upstream/upstream_retry.h"

#include <sys/socket.h>

/* ---- driving both sides -------------------------------------------------- */

/* What a failed connect counts as, for the health log line. */
static const char *pt_proxy_connect_reason(int err)
{
    return err == ECONNREFUSED ? "connect refused"
           : err == ETIMEDOUT  ? "connect timed out" : "connect failed";
}

static void pt_proxy_release(pt_proxy_t *p, bool keep)
{
    pt_upconn_t *up = p->up;

    if (up == NULL)
        return;
    p->up = NULL;
    bool first = p->r->upstream_ms < 0;
    if (first)
        p->r->upstream_ms = pt_clock_now - p->up_start;
    if (keep)
        up->nrequests++;
    pt_upstream_release(up, keep);
    /* after the release: the server's place is free as soon as can be */
    if (first)
        pt_upstream_metric_response(p->server, p->r->upstream_ms);
}

void pt_proxy_release_close(pt_proxy_t *p)
{
    pt_proxy_release(p, false);
}

void pt_proxy_fail(pt_proxy_t *p, unsigned status, const char *why)
{
    pt_request_t *r = p->r;

    pt_proxy_release(p, false);
    r->on_event = NULL;
    pt_timer_del(&r->conn->timer);
    pt_http_error(r, status, why);
}

void pt_proxy_done(pt_proxy_t *p)
{
    pt_request_t *r = p->r;

    pt_proxy_release(p, p->up_keep && p->req_sent);
    r->on_event = NULL;
    pt_response_finish(r);
}

/* Back to the start of the request, to send it again: the body from its
 * first byte, the response not begun. */
static void pt_proxy_rewind(pt_proxy_t *p)
{
    pt_request_t *r = p->r;

    r->upstream_ms = -1;
    p->head_queued = p->req_sent = false;
    p->resp_scanned = 0;
    p->got_bytes = p->write_failed = p->up_keep = false;
    p->state = PT_PROXY_RESP_HEAD;
    if (p->store) {
        pt_proxy_body_rewind(p);        /* the connection buffer has moved on */
    } else {
        r->body_pos = r->body_start;
        r->body_left = r->head.content_length;
        r->body_done = r->body_kind == PT_BODY_NONE;
        r->body_received = 0;
        p->req_trailers.len = 0;
        if (r->body_kind == PT_BODY_CHUNKED)
            pt_chunked_init(&r->chunked);
    }
}

/* A retry from the upstream's rules for p's next try: retries and
 * retry_timeout left, and the shared budget has one. */
static bool pt_proxy_retry_budget(pt_proxy_t *p)
{
    const pt_upstream_t *u = p->conf->upstream;

    if (p->tries > (unsigned) u->retries || pt_clock_now - p->first_try >= u->retry_timeout
        || !pt_upstream_retry_take(u, pt_clock_now))
        return false;
    p->retry_granted = true;
    return true;
}

bool pt_proxy_retry_allowed(pt_proxy_t *p, uint32_t reason)
{
    const pt_request_t *r = p->r;

    if (!(p->conf->upstream->retry_on_mask & reason) || r->response_started || r->head_bytes
        || p->upgrade || !p->at_hand || p->req_filter_out)
        return false;
    if (!pt_http_method_idempotent(r->head.method_id) && p->conf->retry_non_idempotent != 1)
        return false;
    /* The head goes out with (the start of) the body: a body that may
     * have reached the server is sent again only where the route says so. */
    if (r->body_kind != PT_BODY_NONE && p->head_queued && p->conf->retry_sent_body != 1)
        return false;
    return pt_proxy_retry_budget(p);
}

/* The try on p->server failed for why (retry granted): the request goes
 * to another server from its first byte. */
static void pt_proxy_retry(pt_proxy_t *p, const char *why)
{
    const pt_server_t *failed = p->server;

    pt_log(PT_LOG_INFO, "upstream %s: %s from %s, trying another server (try %u)",
           failed->upstream->name, why, failed->name, p->tries + 1);
    pt_proxy_release(p, false);
    pt_proxy_rewind(p);
    pt_proxy_connect(p, failed);
}

/* A reused keep-alive connection turned out dead before any byte of the
 * response: the server closed it while idle. Send the request again on a
 * fresh connection if all of it is still at hand. A fresh connection that
 * dies so is a "reset" for retry_on. */
void pt_proxy_dead(pt_proxy_t *p, const char *why)
{
    pt_upconn_t *up = p->up;

    if (up && up->reused && !p->got_bytes && p->replayable && !p->retried) {
        const pt_server_t *s = p->server;
        pt_log(PT_LOG_INFO, "upstream %s: reused connection was dead (%s), retrying",
               s->name, why);
        pt_proxy_release(p, false);
        p->retried = true;
        pt_proxy_rewind(p);
        pt_upconn_t *fresh = pt_upstream_get((pt_server_t *) s, true);
        if (fresh == NULL) {
            pt_upstream_health_fail(s, pt_proxy_connect_reason(errno), pt_clock_now);
            pt_proxy_fail(p, 502, "cannot connect to the upstream server");
            return;
        }
        p->up = fresh;
        fresh->owner = p;
        fresh->handler = (pt_upconn_handler_pt) p->up_handler;
        fresh->timer.handler = p->up_timeout;
        pt_timer_set(&fresh->timer, p->conf->upstream->connect_timeout);
        return;
    }
    if (!p->got_bytes && pt_proxy_retry_allowed(p, PT_RETRY_ON_RESET)) {
        pt_proxy_retry(p, why);
        return;
    }
    pt_proxy_fail(p, 502, why);
}

/* On a route with request body filters: run the payload span in (NULL:
 * the body is complete) through them; *out is what to send, chunked (the
 * head said so), in p->req_filter_out, whose last contents went out
 * already. PT_OK, or PT_ERROR when the request was ended. */
static int pt_proxy_filter_request(pt_proxy_t *p, const pt_str_t *in, pt_str_t *out)
{
    pt_request_t *r = p->r;
    pt_span_t span = { in ? *in : PT_STR_NULL, in ? 0 : PT_SPAN_LAST, NULL };
    pt_body_chain_t bc = { .r = r, .stages = r->route->filters->request_body,
                           .sink = pt_h1_write_sink, .data = p->req_filter_out };

    p->req_filter_out->len = 0;
    if (in == NULL)
        p->req_filter_done = true;
    if (pt_filter_body_run(&bc, &span) != PT_OK) {
        p->up_keep = false;
        pt_proxy_fail(p, 500, "a request body filter failed");
        return PT_ERROR;
    }
    *out = (pt_str_t) { p->req_filter_out->p, p->req_filter_out->len };
    return PT_OK;
}

/* Send what can be sent of the request. PT_OK, or PT_ERROR when the
 * request was ended. */
static int pt_proxy_send(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_upconn_t *up = p->up;
    struct iovec iov[3];
    pt_str_t span, tail = PT_STR_NULL;

    if (!up->connected)
        return PT_OK;
    if (p->store && !pt_proxy_body_stored_out(p)) {
        int rc = pt_proxy_body_send(p);
        if (rc == PT_ERROR) {
            p->up_keep = false;
            pt_proxy_fail(p, 500, "the buffered request body could not be sent");
            return PT_ERROR;
        }
        if (rc == PT_DONE) {
            p->req_sent = true;     /* as below: read what the server said */
            p->up_keep = false;
            p->write_failed = true;
            return PT_OK;
        }
        if (rc == PT_AGAIN)
            return PT_OK;
        if (pt_proxy_body_whole(p)) {
            p->req_sent = true;
            return PT_OK;
        }
    }
    for (;;) {
        unsigned n = 0;
        bool consume = false;

        if (pt_io_pending(&up->io) && pt_io_flush(&up->io) == PT_AGAIN)
            return PT_OK;
        if (up->io.flags & PT_IO_ERROR) {
            /* The server may have answered and closed (an early error):
             * stop sending and read what it said. */
            p->req_sent = true;
            p->up_keep = false;
            p->write_failed = true;
            return PT_OK;
        }
        if (p->head_queued && r->body_done) {
            if (p->req_filter_out && !p->req_filter_done) {
                /* The last chunk, and whatever the filters held. */
                if (pt_proxy_filter_request(p, NULL, &span) != PT_OK)
                    return PT_ERROR;
                pt_io_send(&up->io, &(struct iovec) { (void *) span.p, span.len }, 1);
                continue;
            }
            p->req_sent = true;
            return PT_OK;
        }
        if (!p->head_queued)
            iov[n++] = (struct iovec) { (void *) p->head.p, p->head.len };
        if (!r->body_done) {
            int rc = pt_request_body_next(r, p->req_filter_out == NULL, &span);
            if (rc == PT_OK && p->req_filter_out
                && pt_proxy_filter_request(p, &span, &span) != PT_OK)
                return PT_ERROR;
            size_t keep = span.len;
            if (rc == PT_OK && p->req_filter_out == NULL && r->body_kind == PT_BODY_CHUNKED
                && pt_proxy_head_split_trailers(r, &r->head, &r->chunked, &p->req_trailers,
                                                span.p, span.len, &keep, &tail) != PT_OK) {
                pt_proxy_fail(p, 500, "out of memory relaying the trailer section");
                return PT_ERROR;
            }
            if (rc == PT_OK) {
                /* The trailer section goes out scrubbed, once complete. */
                if (keep)
                    iov[n++] = (struct iovec) { (void *) span.p, keep };
                if (tail.len)
                    iov[n++] = (struct iovec) { (void *) tail.p, tail.len };
                consume = true;
            } else if (rc >= 400) {
                p->up_keep = false;
                r->keepalive = false;
                pt_proxy_fail(p, (unsigned) rc, r->error_detail);
                return PT_ERROR;
            } else if (rc == PT_AGAIN && n == 0) {
                return PT_OK;   /* waiting for the client */
            }
        }
        p->head_queued = true;
        int rc = n ? pt_io_send(&up->io, iov, n) : PT_OK;
        if (consume)
            pt_request_body_consumed(r);
        if (rc == PT_ERROR)
            continue;           /* handled at the top of the loop */
    }
}

void pt_proxy_arm_timers(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_conn_t *c = r->conn;
    pt_upconn_t *up = p->up;
    const pt_upstream_t *u = p->conf->upstream;

    if (pt_io_pending(&c->io))
        pt_timer_set(&c->timer, r->listener->c.send_timeout);
    else if (!r->body_done && !p->write_failed)
        pt_timer_set(&c->timer, pt_request_body_wait(r));
    else if (pt_timer_armed(&c->timer))
        pt_timer_del(&c->timer);

    if (up == NULL || !up->connected)
        return;             /* the connect timer runs */
    if (pt_io_pending(&up->io))
        pt_timer_set(&up->timer, u->send_timeout);
    else if (!pt_io_pending(&c->io) && p->state != PT_PROXY_RESP_DONE)
        pt_timer_set(&up->timer, u->read_timeout);
    else if (pt_timer_armed(&up->timer))
        pt_timer_del(&up->timer);
}

/* The one place a step's result ends the request: retry (in
 * pt_proxy_dead), fail, abort or done. */
static void pt_proxy_decide(pt_proxy_t *p, pt_proxy_result_t res)
{
    switch (res.kind) {
    case PT_PROXY_GO_ON:
        break;
    case PT_PROXY_COMPLETE:
        pt_proxy_done(p);
        break;
    case PT_PROXY_FAIL:
        pt_proxy_fail(p, res.status, res.why);
        break;
    case PT_PROXY_DEAD:
        pt_proxy_dead(p, res.why);
        break;
    case PT_PROXY_ABORT:
        pt_proxy_release_close(p);
        pt_request_abort(p->r, res.why);
        break;
    case PT_PROXY_CLOSE:
        pt_proxy_tunnel_close(p, res.why);
        break;
    case PT_PROXY_RETRY:
        pt_proxy_retry(p, res.why);
        break;
    }
}

void pt_proxy_run(pt_proxy_t *p)
{
    if (p->collecting) {
        pt_proxy_body_collect(p);
        return;
    }
    if (p->state == PT_PROXY_TUNNEL) {
        pt_proxy_decide(p, pt_proxy_tunnel_run(p));
        return;
    }
    if (p->up == NULL)
        return;
    if (!p->req_sent && pt_proxy_send(p) != PT_OK)
        return;
    if (p->up == NULL || !p->up->connected)
        return;
    pt_proxy_result_t res = pt_proxy_response(p);
    if (res.kind == PT_PROXY_GO_ON && p->state == PT_PROXY_TUNNEL)
        res = pt_proxy_tunnel_run(p);       /* a 101 came: the tunnel starts at once */
    else if (res.kind == PT_PROXY_GO_ON)
        pt_proxy_arm_timers(p);
    pt_proxy_decide(p, res);
}

/* ---- events and timers --------------------------------------------------- */

static void pt_proxy_up_event(pt_upconn_t *up)
{
    pt_proxy_t *p = up->owner;

    if (!up->connected) {
        int rc = pt_upstream_connected(up);
        if (rc == PT_AGAIN)
            return;
        if (rc == PT_ERROR) {
            const pt_server_t *failed = p->server;
            pt_log_errno(PT_LOG_ERR, errno, "upstream %s: connect to %s failed",
                         failed->upstream->name, failed->name);
            pt_upstream_health_fail(failed, pt_proxy_connect_reason(errno), pt_clock_now);
            pt_proxy_release(p, false);
            p->r->upstream_ms = -1;
            pt_proxy_connect(p, failed);
            return;
        }
        pt_timer_del(&up->timer);
        pt_upstream_metric_connect(p->server, pt_clock_now - p->up_start);
    }
    pt_proxy_run(p);
}

static void pt_proxy_up_timeout(pt_timer_t *t)
{
    pt_upconn_t *up = t->data;
    pt_proxy_t *p = up->owner;
    pt_request_t *r = p->r;

    if (!up->connected) {
        const pt_server_t *failed = p->server;
        pt_log(PT_LOG_ERR, "upstream %s: connect to %s timed out", failed->upstream->name,
               failed->name);
        p->connect_timed_out = true;
        pt_upstream_health_fail(failed, "connect timed out", pt_clock_now);
        pt_proxy_release(p, false);
        r->upstream_ms = -1;
        pt_proxy_connect(p, failed);
        return;
    }
    if (!pt_io_pending(&up->io))
        pt_upstream_health_fail(p->server, "read timed out", pt_clock_now);
    if (!p->got_bytes && !pt_io_pending(&up->io)
        && pt_proxy_retry_allowed(p, PT_RETRY_ON_TIMEOUT)) {
        pt_proxy_retry(p, "read timed out");
        return;
    }
    if (r->response_started) {
        pt_proxy_release(p, false);
        pt_request_abort(r, "upstream timed out during the response");
        return;
    }
    pt_proxy_fail(p, 504, pt_io_pending(&up->io) ? "upstream did not take the request in time"
                                                 : "upstream did not answer in time");
}

/* Whether the client closed its side before the response was complete,
 * with nothing of a next request left to read: it is gone (a half-close
 * looks the same and is treated the same), so the upstream request is
 * cancelled rather than left to run for nobody. */
static bool pt_proxy_client_gone(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_conn_t *c = r->conn;
    char b;

    if (!(c->io.flags & (PT_IO_HUP | PT_IO_EOF)) || !r->body_done || p->collecting
        || p->state == PT_PROXY_TUNNEL || p->state == PT_PROXY_RESP_DONE
        || (c->rbuf && r->body_pos < c->rbuf->last))
        return false;
    return c->io.ssl == NULL && recv(c->io.ev.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void pt_proxy_client_event(pt_request_t *r)
{
    pt_proxy_t *p = r->proxy;

    if (r->conn->io.flags & PT_IO_ERROR) {
        pt_proxy_release(p, false);
        pt_request_abort(r, "client connection failed");
        return;
    }
    if (pt_proxy_client_gone(p)) {
        pt_proxy_release(p, false);
        pt_request_abort(r, "client closed the connection before the response");
        return;
    }
    pt_proxy_run(p);
}

/* However the request ends (a path that ended it without the proxy, the
 * connection closed under it at a drain timeout), the upstream connection
 * is closed and its server's in-flight count given back. */
static void pt_proxy_cleanup(void *data)
{
    pt_proxy_t *p = data;

    pt_upstream_queue_cancel(&p->wait);
    if (p->up) {
        pt_upconn_t *up = p->up;
        p->up = NULL;
        pt_upstream_release(up, false);
    }
}

/* No server can be tried now: 503, saying when the first may be
 * (RFC 9110 10.2.3). */
static void pt_proxy_unavailable(pt_proxy_t *p, const char *why)
{
    pt_request_t *r = p->r;
    const pt_upstream_t *u = p->conf->upstream;
    char *ra = pt_arena_sprintf(r->arena, "%lld",
                                (long long) pt_upstream_health_retry_after(u, pt_clock_now));
    pt_http_field_t f = { PT_STR("Retry-After"), { ra, ra ? strlen(ra) : 0 },
                          PT_HDR_OTHER, 0 };

    r->on_event = NULL;
    pt_timer_del(&r->conn->timer);
    pt_http_error_fields(r, 503, why, &f, ra ? 1 : 0);
}

static const char pt_proxy_queue_out[] =
    "every server of the upstream is at max_conns (waited queue_timeout)";

/* Out of the max_conns queue: a server may have a slot now. */
static void pt_proxy_dequeued(pt_upstream_waiter_t *w, bool timed_out)
{
    pt_proxy_t *p = w->data;

    if (timed_out)
        pt_proxy_unavailable(p, pt_proxy_queue_out);
    else
        pt_proxy_connect(p, NULL);
}

static void pt_proxy_client_timeout(pt_timer_t *t)
{
    pt_conn_t *c = t->data;
    pt_request_t *r = c->req;
    pt_proxy_t *p = r->proxy;

    if (r->upgraded) {
        pt_proxy_release(p, false);
        pt_request_abort(r, "tunnel idle for tunnel_timeout");
        return;
    }
    if (pt_io_pending(&c->io) || r->response_started) {
        pt_proxy_release(p, false);
        pt_request_abort(r, "client did not read the response in time");
        return;
    }
    const char *why = pt_request_body_expired(r);
    if (why == NULL) {
        pt_timer_set(t, pt_request_body_wait(r));
        return;
    }
    r->keepalive = false;
    pt_proxy_fail(p, 408, why);
}

void pt_proxy_connect(pt_proxy_t *p, const pt_server_t *failed)
{
    pt_request_t *r = p->r;
    const pt_upstream_t *u = p->conf->upstream;

    if (failed == NULL && pt_proxy_client_gone(p)) {
        pt_request_abort(r, "client closed the connection before the response");
        return;
    }
    for (;;) {
        if (p->tries == 0) {
            p->first_try = pt_clock_now;
            /* Counted once for the budget: a request back from the
             * max_conns queue (woken every few ms) is not a new one. */
            if (p->wait.deadline == 0)
                pt_upstream_retry_request(u, pt_clock_now);
        } else if (!p->retry_granted
                   && (!(u->retry_on_mask & PT_RETRY_ON_CONNECT) || !pt_proxy_retry_budget(p))) {
            break;                  /* no retry after this failure */
        }
        p->retry_granted = false;
        pt_server_t *s = pt_upstream_choose(u, failed, r);
        if (s == NULL)
            break;                  /* every server is down, draining or full */
        p->tries++;
        pt_upstream_metric_try(s, p->tries > 1);
        pt_request_debug(r, "upstream %s: try %u on %s (balance %d)", u->name, p->tries,
                         s->name, u->balance);
        pt_upconn_t *up = pt_upstream_get(s, false);
        if (up == NULL) {
            pt_log_errno(PT_LOG_ERR, errno, "upstream %s: connect to %s failed", u->name,
                         s->name);
            pt_upstream_health_fail(s, pt_proxy_connect_reason(errno), pt_clock_now);
            failed = s;
            continue;
        }
        p->up = up;
        p->server = s;
        p->up_start = pt_clock_now;
        r->upstream_addr = s->name;
        up->owner = p;
        up->handler = pt_proxy_up_event;
        up->timer.handler = pt_proxy_up_timeout;
        if (!up->connected)
            pt_timer_set(&up->timer, u->connect_timeout);
        if (p->head.p == NULL && (p->head = pt_proxy_head_request(p)).p == NULL) {
            pt_proxy_fail(p, 500, "out of memory building the upstream request");
            return;
        }
        pt_proxy_run(p);
        return;
    }
    if (p->tries == 0) {
        int q = pt_upstream_saturated(u)
                ? pt_upstream_queue_wait(&p->wait, u, pt_proxy_dequeued, p) : PT_DECLINED;
        if (q == PT_OK)
            return;                 /* until a server has room, or queue_timeout */
        pt_proxy_unavailable(p, q == PT_AGAIN ? pt_proxy_queue_out : pt_upstream_none_reason(u));
        return;
    }
    /* RFC 9110 15.6.5: a server that did not answer in time is a 504. */
    if (p->connect_timed_out)
        pt_proxy_fail(p, 504, "connecting to the upstream timed out");
    else
        pt_proxy_fail(p, 502, "no server of the upstream could be reached");
}

/* Whether tok, a protocol of an Upgrade (name [ "/" version ]), is one
 * the route allows: an entry without a version allows every version. h2c
 * never is (the config refuses it; RFC 9113 3.1). */
static bool pt_proxy_upgrade_allowed(const pt_proxy_conf_t *pc, pt_str_t tok)
{
    const char *slash = memchr(tok.p, '/', tok.len);
    pt_str_t name = { tok.p, slash ? (size_t) (slash - tok.p) : tok.len };

    if (pt_str_caseeq_lit(name, "h2c"))
        return false;
    for (const char **e = pc->upgrade; e && *e; e++)
        if (pt_str_caseeq_lit(strchr(*e, '/') ? tok : name, *e))
            return true;
    return false;
}

/* The protocols of the client's Upgrade that the route allows, in its
 * order, as one list in the request arena (empty: none, the request goes
 * on as plain HTTP and the backend sees no Upgrade). PT_OK or PT_ERROR. */
static int pt_proxy_upgrade_filter(pt_request_t *r, const pt_proxy_conf_t *pc, pt_str_t *out)
{
    pt_str_t list = r->head.upgrade, tok;
    /* ", " may be longer than the client's "," */
    char *buf = pt_arena_alloc(r->arena, 2 * list.len + 1);
    size_t n = 0;

    if (buf == NULL)
        return PT_ERROR;
    while (pt_str_next_token(&list, &tok)) {
        if (!pt_proxy_upgrade_allowed(pc, tok))
            continue;
        if (n) {
            memcpy(buf + n, ", ", 2);
            n += 2;
        }
        memcpy(buf + n, tok.p, tok.len);
        n += tok.len;
    }
    PT_ASSERT(n <= 2 * r->head.upgrade.len + 1);
    *out = (pt_str_t) { buf, n };
    return PT_OK;
}

/* RFC 9110 7.6.2: TRACE and OPTIONS carry a hop budget in Max-Forwards;
 * what goes on is the lesser of the value less one and our maximum.
 * Returns the value received (capped at the maximum plus one), -1 (other
 * methods, or absent) or -2 (not a number: the field is dropped). */
#define PT_PROXY_MAX_FORWARDS   999999999

static int64_t pt_proxy_max_forwards(const pt_request_t *r)
{
    const pt_http_head_t *h = &r->head;

    if (h->method_id != PT_METHOD_TRACE && h->method_id != PT_METHOD_OPTIONS)
        return -1;
    for (unsigned i = 0; i < h->nfields; i++) {
        if (!pt_str_caseeq_lit(h->fields[i].name, "max-forwards"))
            continue;
        pt_str_t v = h->fields[i].value;
        int64_t n = 0;
        if (v.len == 0)
            return -2;
        for (size_t k = 0; k < v.len; k++) {
            if (v.p[k] < '0' || v.p[k] > '9')
                return -2;
            n = pt_min(n * 10 + (v.p[k] - '0'), (int64_t) PT_PROXY_MAX_FORWARDS + 1);
        }
        return n;
    }
    return -1;
}

/* Max-Forwards: 0 makes us the final recipient (RFC 9110 7.6.2): OPTIONS
 * is answered with what we know, TRACE by reflecting the request as
 * message/http without the fields that carry credentials (9.3.8). */
static int pt_proxy_answer_here(pt_request_t *r)
{
    const pt_http_head_t *h = &r->head;

    if (h->method_id == PT_METHOD_OPTIONS) {
        pt_response_send(r, 200, NULL, NULL, 0, NULL, 0);
        return PT_OK;
    }
    pt_str_t echo = pt_proxy_head_trace(r);
    if (echo.p == NULL)
        return 500;
    pt_response_send(r, 200, "message/http", NULL, 0, echo.p, echo.len);
    return PT_OK;
}

/* The chunked framing of what the client sent along with the head, run
 * through a copy of the decoder: when it is already invalid, nothing of
 * the request may reach a server (not its head, not the good chunks before
 * the bad one: a server that acts on a partial request is the smuggler's
 * tool). PT_OK, or PT_ERROR with r->error_detail set. */
static int pt_proxy_check_chunked(pt_request_t *r)
{
    if (r->body_kind != PT_BODY_CHUNKED || r->body_done)
        return PT_OK;
    pt_chunked_t ck = r->chunked;   /* a copy: the real decoding comes later */
    const char *pos = r->body_pos, *last = r->conn->rbuf->last;

    while (pos < last) {            /* each turn consumes a byte or more */
        size_t used = 0;
        pt_str_t data;
        int rc = pt_chunked_parse(&ck, pos, (size_t) (last - pos), &used, &data);
        if (rc == PT_ERROR) {
            r->error_detail = ck.error;
            return PT_ERROR;
        }
        if (rc != PT_OK)
            break;                  /* PT_AGAIN: all used; PT_DONE: body ends */
        pos += used;
    }
    return PT_OK;
}

int pt_proxy_start(pt_request_t *r, const pt_proxy_conf_t *pconf)
{
    int64_t max_forwards = pt_proxy_max_forwards(r);

    if (max_forwards == 0)
        return pt_proxy_answer_here(r);
    if (pt_proxy_check_chunked(r) != PT_OK) {
        r->keepalive = false;
        pt_http_error(r, 400, r->error_detail);
        return PT_OK;
    }

    pt_proxy_t *p = pt_arena_calloc(r->arena, sizeof(*p));
    pt_http_field_t *fields = pt_arena_alloc(r->arena, PT_PROXY_RESP_FIELDS * sizeof(*fields));

    if (p == NULL || fields == NULL)
        return 500;
    p->r = r;
    p->conf = pconf;
    p->resp.fields = fields;
    p->resp_fields_cap = PT_PROXY_RESP_FIELDS;
    p->max_forwards = max_forwards;
    p->up_handler = pt_proxy_up_event;
    p->up_timeout = pt_proxy_up_timeout;
    /* RFC 9110 7.8: Upgrade in an HTTP/1.0 request is ignored. */
    if ((r->head.conn & PT_HTTP_CONN_UPGRADE) && r->head.upgrade.len
        && r->head.version_minor >= 1 && pconf->websocket == 1) {
        if (pt_proxy_upgrade_filter(r, pconf, &p->upgrade_offer) != PT_OK)
            return 500;
        p->upgrade = p->upgrade_offer.len > 0;
    }
    const pt_filters_t *f = pt_filter_of(r->route);
    if (f && f->request_body && r->body_kind != PT_BODY_NONE) {
        /* The filters keep state: a body they took cannot be sent twice. */
        if ((p->req_filter_out = pt_arena_calloc(r->arena, sizeof(*p->req_filter_out))) == NULL)
            return 500;
        p->req_filter_out->arena = r->arena;
        p->req_filter_out->chunked = true;
    }
    p->replay_ok = p->req_filter_out == NULL && pconf->upstream->retry
                   && pt_http_method_idempotent(r->head.method_id);
    p->at_hand = p->req_filter_out == NULL
                 && (r->body_done
                     || (r->body_kind == PT_BODY_LENGTH
                         && r->conn->rbuf->last - r->body_pos >= r->body_left));
    p->replayable = p->replay_ok && p->at_hand;
    if (pt_arena_cleanup_add(r->arena, pt_proxy_cleanup, p) != PT_OK)
        return 500;
    r->proxy = p;
    r->on_event = pt_proxy_client_event;
    r->conn->timer.handler = pt_proxy_client_timeout;
    int rc = r->body_done ? PT_DECLINED : pt_proxy_body_start(p);  /* nothing to buffer */
    if (rc >= 400) {
        r->on_event = NULL;
        return rc;
    }
    if (rc == PT_OK)
        pt_proxy_body_collect(p);   /* connects once the body is in */
    else
        pt_proxy_connect(p, NULL);
    return PT_OK;
}
