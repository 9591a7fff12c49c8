/*
 * response.c: the response object's fields, gateway-made responses and
 * the end of sending (see response.h).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/http/h1/h1_write.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "worker/http/response.h"

_Static_assert(PT_FIELD_HIDDEN == PT_FIELD_NOFORWARD, "one bit: a field nobody writes");

/* Fields of a gateway-made response before it needs the arena: its own
 * five and what the caller and the filters add. */
#define PT_RESPONSE_INLINE  16

/* ---- fields ------------------------------------------------------------ */

int pt_response_grow(pt_request_t *r, pt_response_t *resp)
{
    unsigned cap = resp->cap ? resp->cap * 2 : 8;
    pt_http_field_t *nf = pt_arena_alloc(r->arena, cap * sizeof(*nf));

    if (nf == NULL)
        return PT_ERROR;
    if (resp->nfields)
        memcpy(nf, resp->fields, resp->nfields * sizeof(*nf));
    resp->fields = nf;
    resp->cap = cap;
    return PT_OK;
}

int pt_response_add(pt_request_t *r, pt_response_t *resp, pt_str_t name, pt_str_t value)
{
    pt_http_field_t f = { name, value, (uint8_t) pt_http_hdr_id(name.p, name.len), 0 };

    return pt_response_append(r, resp, &f);
}

unsigned pt_response_remove(pt_response_t *resp, pt_str_t name)
{
    unsigned n = 0;

    for (unsigned i = 0; i < resp->nfields; i++) {
        pt_http_field_t *f = &resp->fields[i];
        if (!(f->flags & PT_FIELD_HIDDEN) && pt_str_caseeq(f->name, name)) {
            f->flags |= PT_FIELD_HIDDEN;
            n++;
        }
    }
    return n;
}

int pt_response_set(pt_request_t *r, pt_response_t *resp, pt_str_t name, pt_str_t value)
{
    pt_response_remove(resp, name);
    return pt_response_add(r, resp, name, value);
}

const pt_http_field_t *pt_response_find(const pt_response_t *resp, pt_str_t name)
{
    for (unsigned i = 0; i < resp->nfields; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        if (!(f->flags & PT_FIELD_HIDDEN) && pt_str_caseeq(f->name, name))
            return f;
    }
    return NULL;
}

int pt_response_filter(pt_request_t *r, pt_response_t *resp)
{
    const pt_filters_t *f = pt_filter_of(r->route);

    if (f == NULL || f->header == NULL)
        return PT_OK;
    return pt_filter_run_header(r, f->header, resp);
}

/* ---- gateway-made responses -------------------------------------------- */

bool pt_response_keepalive(pt_request_t *r)
{
    pt_conn_t *c = r->conn;

    if (!r->body_done)
        pt_request_skip_buffered_body(r);
    if (!r->body_done || pt_conn_draining || c->closing
        || c->nrequests >= (unsigned) r->listener->c.keepalive_requests)
        r->keepalive = false;
    return r->keepalive;
}

static void pt_response_drain_handler(pt_request_t *r)
{
    if (r->conn->io.flags & PT_IO_ERROR) {
        pt_request_abort(r, "client connection failed while sending");
        return;
    }
    if (!pt_io_pending(&r->conn->io))
        pt_request_finalize(r);
}

static void pt_response_send_timeout(pt_timer_t *t)
{
    pt_conn_t *c = t->data;

    if (c->req)
        pt_request_abort(c->req, "client did not read the response in time");
    else
        pt_conn_close(c);
}

/* The body through the route's body filters (or only the chunk framing),
 * whole: the caller has all of it. */
static int pt_response_filter_body(pt_request_t *r, const pt_response_t *resp,
                                   const char *body, size_t len, pt_str_t *out)
{
    const pt_filters_t *f = pt_filter_of(r->route);
    pt_h1_out_t o = { .arena = r->arena, .chunked = (resp->flags & PT_RESP_CHUNKED) != 0 };
    pt_body_chain_t bc = { .r = r, .stages = f ? f->body : NULL, .sink = pt_h1_write_sink,
                           .data = &o };
    pt_span_t span = { { body, len }, PT_SPAN_LAST, NULL };

    if (pt_filter_body_run(&bc, &span) != PT_OK)
        return PT_ERROR;
    *out = (pt_str_t) { o.p, o.len };
    return PT_OK;
}

static const pt_str_t pt_response_server = PT_STR("Server");
static const pt_str_t pt_response_date = PT_STR("Date");
static const pt_str_t pt_response_type = PT_STR("Content-Type");
static const pt_str_t pt_response_length = PT_STR("Content-Length");
static const pt_str_t pt_response_id = PT_STR("X-Request-ID");

void pt_response_send(pt_request_t *r, unsigned status, const char *content_type,
                      const pt_http_field_t *fields, unsigned nfields,
                      const char *body, size_t body_len)
{
    pt_conn_t *c = r->conn;
    pt_http_field_t local[PT_RESPONSE_INLINE];
    pt_response_t resp = { .status = status, .fields = local, .cap = PT_RESPONSE_INLINE,
                           .content_length = (int64_t) body_len };
    const char *server = pt_request_rconf(r)->server_header;
    /* RFC 9110 8.6: no Content-Length on 1xx and 204; a 304 may not say
     * what a 200 would, so it says nothing. */
    bool framed = status >= 200 && status != 204 && status != 304;
    struct iovec iov[2];
    unsigned n = 0;

    if (nfields + 5 > PT_RESPONSE_INLINE) {
        resp.cap = nfields + 5;
        if ((resp.fields = pt_arena_alloc(r->arena, resp.cap * sizeof(*resp.fields))) == NULL) {
            pt_request_abort(r, "out of memory building a response");
            return;
        }
    }
    if (server && server[0])
        resp.fields[resp.nfields++] = (pt_http_field_t) {
            pt_response_server, { server, strlen(server) }, PT_HDR_SERVER, 0 };
    resp.fields[resp.nfields++] = (pt_http_field_t) {
        pt_response_date, pt_clock_http_date(), PT_HDR_DATE, 0 };
    if (content_type)
        resp.fields[resp.nfields++] = (pt_http_field_t) {
            pt_response_type, { content_type, strlen(content_type) }, PT_HDR_CONTENT_TYPE, 0 };
    if (framed)
        resp.fields[resp.nfields++] = (pt_http_field_t) {
            pt_response_length, PT_STR_NULL, PT_HDR_CONTENT_LENGTH, 0 };
    if (r->id.len)
        resp.fields[resp.nfields++] = (pt_http_field_t) {
            pt_response_id, r->id, PT_HDR_X_REQUEST_ID, 0 };
    if (nfields) {
        memcpy(resp.fields + resp.nfields, fields, nfields * sizeof(*fields));
        resp.nfields += nfields;
    }

    int rc = pt_response_filter(r, &resp);
    if (rc != PT_OK) {
        /* An error page a filter refuses is not replaced again. */
        if (status >= 400 || rc < 400)
            pt_request_abort(r, "a header filter failed");
        else
            pt_http_error(r, (unsigned) rc, "a header filter refused the response");
        return;
    }
    bool ka = pt_response_keepalive(r);
    if (framed && resp.content_length < 0) {
        /* A filter no longer knows the length: chunks, or the close for
         * an HTTP/1.0 client. */
        if (r->head.version_minor >= 1) {
            resp.flags |= PT_RESP_CHUNKED;
        } else {
            ka = r->keepalive = false;
            r->close_delimited = true;
        }
    }
    if (!ka)
        resp.flags |= PT_RESP_CLOSE;
    else if (r->head.version_minor == 0)
        resp.flags |= PT_RESP_KEEPALIVE;

    pt_str_t head = pt_h1_write_head(r->arena, &resp);
    if (head.p == NULL) {
        pt_request_abort(r, "out of memory building a response");
        return;
    }
    r->status = status;
    r->response_started = true;
    r->head_bytes += head.len;
    iov[n++] = (struct iovec) { (void *) head.p, head.len };
    if (!r->head_only && status != 204 && status != 304) {
        const pt_filters_t *f = pt_filter_of(r->route);
        pt_str_t out = { body, body_len };
        if (((f && f->body) || (resp.flags & PT_RESP_CHUNKED))
            && pt_response_filter_body(r, &resp, body, body_len, &out) != PT_OK) {
            pt_request_abort(r, "a body filter failed");
            return;
        }
        if (out.len)
            iov[n++] = (struct iovec) { (void *) out.p, out.len };
    }
    if (pt_io_send(&c->io, iov, n) == PT_ERROR) {
        pt_request_abort(r, "client connection failed while sending");
        return;
    }
    pt_response_finish(r);
}

void pt_response_finish(pt_request_t *r)
{
    pt_conn_t *c = r->conn;

    if (c->io.flags & PT_IO_ERROR) {
        pt_request_abort(r, "client connection failed while sending");
        return;
    }
    if (pt_io_pending(&c->io)) {
        r->on_event = pt_response_drain_handler;
        c->timer.handler = pt_response_send_timeout;
        pt_timer_set(&c->timer, r->listener->c.send_timeout);
        return;
    }
    pt_request_finalize(r);
}
