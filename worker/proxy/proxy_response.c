/*
 * proxy_response.c: reading the upstream's response head, writing the
 * client's, and relaying the body: as is (Content-Length, close-delimited,
 * or chunked to an HTTP/1.1 client, checked chunk by chunk on the way), or
 * with the chunk framing stripped for an HTTP/1.0 client.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/http/h1/h1_write.h"
#include "worker/http/http_error.h"
#include "worker/proxy/proxy.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_retry.h"

/* RFC 9110 7.8: a 101 names in Upgrade the protocols it switches to, and
 * each must be one the client offered (and we forwarded). */
static bool pt_proxy_upgrade_offered(pt_str_t offered, pt_str_t chosen)
{
    pt_str_t tok, mine;
    bool any = false;

    while (pt_str_next_token(&chosen, &tok)) {
        pt_str_t list = offered;
        bool found = false;
        while (!found && pt_str_next_token(&list, &mine))
            found = pt_str_caseeq(tok, mine);
        if (!found)
            return false;
        any = true;
    }
    return any;
}

/* The client's response head from the upstream's, through the route's
 * header filters unless it is interim, serialized. PT_STR_NULL with
 * *status set: a filter's status, or 500 (out of memory). */
static pt_str_t pt_proxy_client_head(pt_proxy_t *p, bool chunked, bool upgrade,
                                     unsigned *status)
{
    pt_request_t *r = p->r;
    pt_response_t resp;
    int rc = pt_proxy_head_response(p, &resp, chunked, upgrade);

    *status = 500;
    if (rc == PT_OK && (p->resp.status >= 200 || upgrade))
        rc = pt_response_filter(r, &resp);
    if (rc != PT_OK) {
        if (rc >= 400)
            *status = (unsigned) rc;
        return PT_STR_NULL;
    }
    if (p->filter_out && resp.content_length < 0) {
        /* The body filters' output is framed here: chunks, or the close
         * for an HTTP/1.0 client. */
        if (r->head.version_minor >= 1) {
            resp.flags |= PT_RESP_CHUNKED;
            p->filter_out->chunked = true;
        } else {
            r->keepalive = false;
            r->close_delimited = true;
            resp.flags = (resp.flags & ~PT_RESP_KEEPALIVE) | PT_RESP_CLOSE;
        }
    }
    return pt_h1_write_head(r->arena, &resp);
}

/* An interim (1xx) response: pass it on to an HTTP/1.1 client (RFC 9110
 * 15.2: a proxy forwards 1xx it did not ask for), never to HTTP/1.0. */
static int pt_proxy_interim(pt_proxy_t *p)
{
    pt_request_t *r = p->r;

    if (r->head.version_minor == 0)
        return PT_OK;
    unsigned status;
    pt_str_t head = pt_proxy_client_head(p, false, false, &status);
    if (head.p == NULL)
        return PT_ERROR;
    struct iovec iov = { (void *) head.p, head.len };
    r->head_bytes += head.len;
    return pt_io_send(&r->conn->io, &iov, 1) == PT_ERROR ? PT_ERROR : PT_OK;
}

/* The final head arrived: decide framing both ways and queue the head. */
static pt_proxy_result_t pt_proxy_final_head(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_conn_t *c = r->conn;
    pt_http_head_t *h = &p->resp;

    /* RFC 9110 15: status codes run from 100 to 599; anything else is not
     * something a client can be given. */
    if (h->status > 599 || h->te_other) {
        pt_log(PT_LOG_ERR, "upstream %s: %s", p->server->name, h->status > 599
               ? "invalid status code" : "transfer coding other than chunked");
        return (pt_proxy_result_t) { PT_PROXY_FAIL, 502,
                                     "the upstream server sent a response that cannot be "
                                     "relayed" };
    }
    pt_upstream_health_status(p->server, h->status, pt_clock_now);
    uint32_t retry_on = pt_upstream_retry_on_status(h->status);
    if (retry_on && pt_proxy_retry_allowed(p, retry_on))
        return (pt_proxy_result_t) { PT_PROXY_RETRY, h->status,
                                     h->status == 502 ? "status 502"
                                     : h->status == 503 ? "status 503" : "status 504" };
    if (p->conf->replace_upstream_errors && h->status >= 500) {
        p->up_keep = false;
        return (pt_proxy_result_t) { PT_PROXY_FAIL, h->status,
                                     "upstream error replaced by the gateway's" };
    }
    p->body = pt_http_response_body(h, r->head.method_id);
    /* A request the server stopped taking leaves the connection in an
     * unknown state, whatever the answer's framing says. */
    p->up_keep = !p->write_failed && !h->framing_conflict && p->body != PT_HTTP_BODY_CLOSE
                 && (h->version_minor >= 1 ? !(h->conn & PT_HTTP_CONN_CLOSE)
                                           : (h->conn & PT_HTTP_CONN_KEEPALIVE) != 0);
    p->left = p->body == PT_HTTP_BODY_LENGTH ? h->content_length : 0;
    if (p->body == PT_HTTP_BODY_CHUNKED)
        pt_chunked_init(&p->chunked);
    const pt_filters_t *f = pt_filter_of(r->route);
    bool filtered = f && f->body && p->body != PT_HTTP_BODY_NONE;
    if (filtered) {
        /* The filters see the payload: chunk framing comes off, and
         * pt_proxy_client_head decides the framing of what they make. */
        if ((p->filter_out = pt_arena_calloc(r->arena, sizeof(*p->filter_out))) == NULL) {
            return (pt_proxy_result_t) { PT_PROXY_FAIL, 500, "out of memory" };
        }
        p->filter_out->arena = r->arena;
    }
    p->decode = p->body == PT_HTTP_BODY_CHUNKED && (r->head.version_minor == 0 || filtered);
    r->close_delimited = !filtered && (p->decode || p->body == PT_HTTP_BODY_CLOSE);

    /* The client connection stays open only if both framings allow it. */
    if (!r->body_done || pt_conn_draining || c->closing || (p->decode && !filtered)
        || p->body == PT_HTTP_BODY_CLOSE
        || c->nrequests >= (unsigned) r->listener->c.keepalive_requests)
        r->keepalive = false;

    unsigned status;
    p->client_head = pt_proxy_client_head(p, p->body == PT_HTTP_BODY_CHUNKED && !p->decode,
                                          false, &status);
    if (p->client_head.p == NULL) {
        p->up_keep = false;
        return (pt_proxy_result_t) { PT_PROXY_FAIL, status,
                                     status == 500 ? "out of memory building the response head"
                                                   : "a header filter refused the response" };
    }
    r->status = h->status;
    r->response_started = true;
    r->head_bytes += p->client_head.len;
    p->state = PT_PROXY_RESP_BODY;
    return (pt_proxy_result_t) { PT_PROXY_GO_ON, 0, NULL };
}

/* Read and parse heads until the final one. */
static pt_proxy_result_t pt_proxy_read_head(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_upconn_t *up = p->up;
    const pt_upstream_t *u = p->conf->upstream;
    pt_http_limits_t lim = { (size_t) u->max_response_header_size,
                             (size_t) u->max_response_header_size, p->resp_fields_cap };

    if (up->buf == NULL && (up->buf = pt_buf_get_size(PT_BUF_LARGE)) == NULL)
        return (pt_proxy_result_t) { PT_PROXY_FAIL, 500, "out of memory" };
    for (;;) {
        pt_buf_t *b = up->buf;
        if (pt_buf_len(b)) {
            pt_http_field_t *fields = p->resp.fields;
            int rc = pt_http_parse_response(&p->resp, b->pos, pt_buf_len(b), &lim,
                                            &p->resp_scanned);
            p->resp.fields = fields;
            int64_t most = pt_min(u->max_response_header_size / 4, PT_PROXY_RESP_FIELDS_MAX);
            if (rc != PT_OK && rc != PT_AGAIN && p->resp.error == pt_http_err_too_many_fields
                && lim.max_fields < most) {
                /* Many fields (cookies, traces): room for more, parse again. */
                unsigned cap = (unsigned) pt_min((int64_t) lim.max_fields * 4, most);
                if ((fields = pt_arena_alloc(r->arena, cap * sizeof(*fields))) == NULL)
                    return (pt_proxy_result_t) { PT_PROXY_FAIL, 500, "out of memory" };
                p->resp.fields = fields;
                p->resp_fields_cap = lim.max_fields = cap;
                p->resp_scanned = 0;
                continue;
            }
            if (rc != PT_OK && rc != PT_AGAIN) {
                pt_log(PT_LOG_ERR, "upstream %s: malformed response: %s", p->server->name,
                       p->resp.error ? p->resp.error : "?");
                return (pt_proxy_result_t) { PT_PROXY_FAIL, 502,
                                             "the upstream server sent a malformed response" };
            }
            if (rc == PT_OK) {
                if (p->resp.status >= 200) {
                    b->pos += p->resp.head_len;
                    return pt_proxy_final_head(p);
                }
                if (p->resp.status == 101) {
                    if (!p->upgrade)
                        return (pt_proxy_result_t) { PT_PROXY_FAIL, 502,
                                                     "the upstream switched protocols unasked" };
                    if (!pt_proxy_upgrade_offered(p->upgrade_offer, p->resp.upgrade))
                        return (pt_proxy_result_t) { PT_PROXY_FAIL, 502,
                                                     "the upstream switched to a protocol "
                                                     "the client did not offer" };
                    unsigned status;
                    p->client_head = pt_proxy_client_head(p, false, true, &status);
                    if (p->client_head.p == NULL)
                        return (pt_proxy_result_t) { PT_PROXY_FAIL, status,
                                                     "the switch of protocols could not be "
                                                     "relayed" };
                    b->pos += p->resp.head_len;
                    r->status = 101;
                    r->response_started = true;
                    r->head_bytes += p->client_head.len;
                    r->upgraded = true;
                    r->keepalive = false;
                    p->state = PT_PROXY_TUNNEL;
                    return (pt_proxy_result_t) { PT_PROXY_GO_ON, 0, NULL };
                }
                if (pt_proxy_interim(p) != PT_OK)
                    return (pt_proxy_result_t) { PT_PROXY_ABORT, 0, "client connection failed" };
                b->pos += p->resp.head_len;
                p->resp_scanned = 0;
                if (pt_buf_len(b) == 0)
                    pt_buf_reset(b);
                continue;
            }
        }
        if (pt_buf_room(b) == 0) {
            if (b->pos != b->start) {
                pt_buf_compact(b);
            } else {
                size_t cap = (size_t) u->max_response_header_size;
                pt_buf_t *nb = pt_buf_cap(b) < cap ? pt_buf_get_size(cap) : NULL;
                if (nb == NULL)
                    return (pt_proxy_result_t) { PT_PROXY_FAIL, 502,
                                                 "the upstream response head is too large" };
                memcpy(nb->start, b->pos, pt_buf_len(b));
                nb->last = nb->start + pt_buf_len(b);
                pt_buf_put(b);
                up->buf = b = nb;
            }
        }
        size_t room = pt_buf_room(b);
        ssize_t n = pt_io_recv(&up->io, b->last, room);
        if (n == PT_AGAIN)
            return (pt_proxy_result_t) { PT_PROXY_GO_ON, 0, NULL };
        if (n <= 0 && !p->got_bytes)
            return (pt_proxy_result_t) { PT_PROXY_DEAD, 0,
                                         n == 0 ? "the upstream closed the connection without "
                                                  "answering"
                                                : "the upstream connection failed" };
        if (n <= 0)
            return (pt_proxy_result_t) { PT_PROXY_FAIL, 502,
                                         "the upstream closed the connection mid-head" };
        p->got_bytes = true;
        p->filter_flush = (size_t) n < room;
        b->last += n;
    }
}

/* Run spans (ns of them, the last one last when the body is complete)
 * through the route's body filters into p->filter_out. */
static int pt_proxy_filter_run(pt_proxy_t *p, pt_span_t *spans, unsigned ns, bool last)
{
    pt_span_t bare = { PT_STR_NULL, 0, NULL };

    if (ns == 0) {
        if (!last)
            return PT_OK;
        spans = &bare;
        ns = 1;
    }
    for (unsigned i = 0; i + 1 < ns; i++)
        spans[i].next = &spans[i + 1];
    if (last) {
        spans[ns - 1].flags |= PT_SPAN_LAST;
        p->filter_done = true;
    }
    pt_body_chain_t bc = { .r = p->r, .stages = p->r->route->filters->body,
                           .sink = pt_h1_write_sink, .data = p->filter_out };
    return pt_filter_body_run(&bc, spans);
}

/* The upstream's chunked framing broke: log it, never reuse the
 * connection. In the first read of the body the client head is not sent
 * yet and the caller still answers 502 (PT_DECLINED); later the response
 * can only be cut (PT_ERROR). */
static int pt_proxy_response_bad_chunk(pt_proxy_t *p, bool first)
{
    pt_log(PT_LOG_ERR, "upstream %s: bad chunked body: %s", p->server->name,
           p->chunked.error ? p->chunked.error : "?");
    p->up_keep = false;
    if (first)
        p->client_head_queued = false;
    return first ? PT_DECLINED : PT_ERROR;
}

/* pt_proxy_relay_buffered on a route with body filters: the payload goes
 * through them and what they make is sent, framed again, from
 * p->filter_out (the previous pass's output is flushed by now). */
static int pt_proxy_relay_filtered(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_buf_t *b = p->up->buf;
    pt_span_t spans[PT_IO_IOV_MAX];
    unsigned ns = 0, n = 0;
    struct iovec iov[2];
    bool first = !p->client_head_queued;

    if (first) {
        iov[n++] = (struct iovec) { (void *) p->client_head.p, p->client_head.len };
        p->client_head_queued = true;
    }
    size_t avail = pt_buf_len(b);
    if (p->body == PT_HTTP_BODY_LENGTH) {
        size_t take = (size_t) pt_min((int64_t) avail, p->left);
        if (take)
            spans[ns++] = (pt_span_t) { { b->pos, take }, 0, NULL };
        b->pos += take;
        p->left -= (int64_t) take;
        if (p->left == 0) {
            if (b->pos != b->last)
                p->up_keep = false;
            p->state = PT_PROXY_RESP_DONE;
        }
    } else if (p->body == PT_HTTP_BODY_CLOSE) {
        if (avail)
            spans[ns++] = (pt_span_t) { { b->pos, avail }, 0, NULL };
        b->pos = b->last;
    } else {
        while (b->pos < b->last && ns < PT_IO_IOV_MAX) {
            size_t used = 0;
            pt_str_t data = PT_STR_NULL;
            int rc = pt_chunked_parse(&p->chunked, b->pos, (size_t) (b->last - b->pos), &used,
                                      &data);
            if (rc == PT_ERROR)
                return pt_proxy_response_bad_chunk(p, first);
            if (data.len)
                spans[ns++] = (pt_span_t) { data, 0, NULL };
            b->pos += used;
            if (rc == PT_DONE) {
                if (b->pos != b->last)
                    p->up_keep = false;
                p->state = PT_PROXY_RESP_DONE;
                break;
            }
        }
    }
    /* The upstream has given all it has for now: what the filters hold
     * (a compressor's pending output) goes out rather than waiting for
     * bytes that may be long in coming. */
    if (p->filter_flush && b->pos == b->last && ns) {
        spans[ns - 1].flags |= PT_SPAN_FLUSH;
        p->filter_flush = false;
    }
    p->filter_out->len = 0;
    if (pt_proxy_filter_run(p, spans, ns, p->state == PT_PROXY_RESP_DONE) != PT_OK)
        return PT_ERROR;
    if (p->filter_out->len)
        iov[n++] = (struct iovec) { p->filter_out->p, p->filter_out->len };
    return pt_io_send(&r->conn->io, iov, n) == PT_ERROR ? PT_ERROR : PT_OK;
}

/* Queue what the buffer holds of the body, with the head the first time.
 * PT_DECLINED: the body is malformed and nothing of the response has gone
 * out yet, so the client can still be given a 502. */
static int pt_proxy_relay_buffered(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_buf_t *b = p->up->buf;
    struct iovec iov[PT_IO_IOV_MAX];
    unsigned n = 0;
    bool first = !p->client_head_queued;

    if (p->filter_out)
        return pt_proxy_relay_filtered(p);
    if (first) {
        iov[n++] = (struct iovec) { (void *) p->client_head.p, p->client_head.len };
        p->client_head_queued = true;
    }
    size_t avail = pt_buf_len(b);
    switch (p->body) {
    case PT_HTTP_BODY_NONE:
        if (avail)
            p->up_keep = false;     /* bytes after a bodiless response */
        p->state = PT_PROXY_RESP_DONE;
        break;
    case PT_HTTP_BODY_LENGTH: {
        size_t take = (size_t) pt_min((int64_t) avail, p->left);
        if (take)
            iov[n++] = (struct iovec) { b->pos, take };
        b->pos += take;
        p->left -= (int64_t) take;
        if (p->left == 0) {
            if (b->pos != b->last)
                p->up_keep = false;
            p->state = PT_PROXY_RESP_DONE;
        }
        break;
    }
    case PT_HTTP_BODY_CLOSE:
        if (avail)
            iov[n++] = (struct iovec) { b->pos, avail };
        b->pos = b->last;
        break;
    case PT_HTTP_BODY_CHUNKED: {
        char *raw = b->pos, *raw_end = b->pos;
        pt_str_t tail = PT_STR_NULL;
        while (b->pos < b->last && n < PT_IO_IOV_MAX - 2) {
            size_t used = 0;
            pt_str_t data = PT_STR_NULL;
            int rc = pt_chunked_parse(&p->chunked, b->pos, (size_t) (b->last - b->pos), &used,
                                      &data);
            if (rc == PT_ERROR)
                return pt_proxy_response_bad_chunk(p, first);
            if (p->decode && data.len)
                iov[n++] = (struct iovec) { (void *) data.p, data.len };
            size_t keep = used;
            if (!p->decode
                && pt_proxy_head_split_trailers(r, &p->resp, &p->chunked, &p->resp_trailers,
                                                b->pos, used, &keep, &tail) != PT_OK)
                return PT_ERROR;
            /* The body's bytes are relayed as they came; the trailer
             * section is held and goes out scrubbed once complete. */
            if (keep)           /* 0: all of it is the trailer section's */
                raw_end = b->pos + keep;
            b->pos += used;
            if (rc == PT_DONE) {
                if (b->pos != b->last)
                    p->up_keep = false;
                p->state = PT_PROXY_RESP_DONE;
                break;
            }
        }
        if (!p->decode && raw_end > raw)
            iov[n++] = (struct iovec) { raw, (size_t) (raw_end - raw) };
        if (tail.len)
            iov[n++] = (struct iovec) { (void *) tail.p, tail.len };
        break;
    }
    }
    if (pt_io_send(&r->conn->io, iov, n) == PT_ERROR)
        return PT_ERROR;
    return PT_OK;
}

pt_proxy_result_t pt_proxy_response(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_conn_t *c = r->conn;
    const pt_proxy_result_t go_on = { PT_PROXY_GO_ON, 0, NULL };

    if (p->state == PT_PROXY_RESP_HEAD) {
        pt_proxy_result_t res = pt_proxy_read_head(p);
        if (res.kind != PT_PROXY_GO_ON || p->state != PT_PROXY_RESP_BODY)
            return res;
    }
    if (p->state == PT_PROXY_TUNNEL)
        return go_on;
    for (;;) {
        if (c->io.flags & PT_IO_ERROR)
            return (pt_proxy_result_t) { PT_PROXY_ABORT, 0,
                                         "client connection failed while sending" };
        if (pt_io_pending(&c->io))
            return go_on;       /* the client's output drains first */
        if (p->state == PT_PROXY_RESP_DONE && p->filter_out && !p->filter_done) {
            /* A close-delimited body ended: what the filters hold goes out. */
            p->filter_out->len = 0;
            int rc = pt_proxy_filter_run(p, NULL, 0, true);
            struct iovec iov = { p->filter_out->p, p->filter_out->len };
            if (rc != PT_OK || pt_io_send(&c->io, &iov, 1) == PT_ERROR)
                return (pt_proxy_result_t) { PT_PROXY_ABORT, 0,
                                             "the response could not be relayed" };
            continue;
        }
        if (p->state == PT_PROXY_RESP_DONE)     /* an unsent request body just closes both */
            return (pt_proxy_result_t) { PT_PROXY_COMPLETE, 0, NULL };

        pt_buf_t *b = p->up->buf;
        if (pt_buf_len(b) == 0 && p->client_head_queued) {
            pt_buf_reset(b);
            size_t room = pt_buf_room(b);
            ssize_t n = pt_io_recv(&p->up->io, b->last, room);
            if (n == PT_AGAIN)
                return go_on;
            if (n == 0 && p->body == PT_HTTP_BODY_CLOSE) {
                p->state = PT_PROXY_RESP_DONE;
                continue;
            }
            if (n <= 0) {
                /* Never pass a cut-off body off as complete. */
                pt_log(PT_LOG_ERR, "upstream %s closed before the response was complete",
                       p->server->name);
                return (pt_proxy_result_t) { PT_PROXY_ABORT, 0,
                                             "the upstream response was truncated" };
            }
            p->filter_flush = (size_t) n < room;
            b->last += n;
        }
        int rc = pt_proxy_relay_buffered(p);
        if (rc == PT_DECLINED) {
            r->response_started = r->close_delimited = false;
            r->status = 0;
            r->head_bytes -= p->client_head.len;
            return (pt_proxy_result_t) { PT_PROXY_FAIL, 502,
                                         "the upstream server sent a malformed response" };
        }
        if (rc != PT_OK)
            return (pt_proxy_result_t) { PT_PROXY_ABORT, 0, "the response could not be relayed" };
    }
}
