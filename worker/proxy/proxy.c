/*
 * proxy.c: the proxy content handler: choose a server, connect (or reuse a
 * pooled connection), send the request head and stream its body, and
 * drive both sides through pt_proxy_run().
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/http/http_error.h"
#include "worker/proxy/proxy.h"

static void pt_proxy_connect(pt_proxy_t *p, const pt_server_t *failed);

/* ---- the request head for the upstream ---------------------------------- */

static int pt_proxy_token_cmp(const void *a, const void *b)
{
    const pt_str_t *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return strncasecmp(x->p, y->p, x->len);
}

/* Drop the fields named in Connection (RFC 9110 7.6.1). The names are
 * sorted and each field looked up, so a head of many fields and a long
 * Connection list costs n log n, not n times m. */
static int pt_proxy_drop_connection_fields(pt_arena_t *a, pt_http_head_t *h)
{
    size_t n = 0, room = 0;

    if (!(h->conn & PT_HTTP_CONN_OTHER))
        return PT_OK;
    for (unsigned i = 0; i < h->nfields; i++)
        if (h->fields[i].id == PT_HDR_CONNECTION)
            room += h->fields[i].value.len / 2 + 1;     /* "a," per token at least */
    pt_str_t *names = pt_arena_alloc(a, room * sizeof(*names)), tok;
    if (names == NULL)
        return PT_ERROR;
    for (unsigned i = 0; i < h->nfields; i++) {
        pt_str_t list = h->fields[i].value;
        if (h->fields[i].id == PT_HDR_CONNECTION)
            while (n < room && pt_str_next_token(&list, &tok))
                names[n++] = tok;
    }
    qsort(names, n, sizeof(*names), pt_proxy_token_cmp);
    for (unsigned k = 0; k < h->nfields; k++)
        if (bsearch(&h->fields[k].name, names, n, sizeof(*names), pt_proxy_token_cmp))
            h->fields[k].flags |= PT_PROXY_DROP;
    return PT_OK;
}

char *pt_proxy_head_alloc(pt_request_t *r, pt_http_head_t *h, size_t base, size_t *cap)
{
    if (pt_proxy_drop_connection_fields(r->arena, h) != PT_OK)
        return NULL;
    *cap = base;
    for (unsigned i = 0; i < h->nfields; i++)
        *cap += h->fields[i].name.len + 2 * h->fields[i].value.len + 4;
    return pt_arena_alloc(r->arena, *cap);
}

/* RFC 7239 4: 1#forwarded-element, an element being pairs token=value
 * (value: token or quoted-string) separated by ";". A value that is not
 * this would make ours part of a client's quoted string. */
static bool pt_proxy_forwarded_valid(pt_str_t v)
{
    const unsigned char *p = (const unsigned char *) v.p, *end = p + v.len;

    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',' || *p == ';'))
            p++;                        /* empty elements and pairs, OWS */
        if (p == end)
            return true;
        const unsigned char *t = p;
        while (p < end && pt_str_tchar[*p])
            p++;
        if (p == t || p == end || *p++ != '=')
            return false;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && ++p == end)
                    return false;
                if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
                    return false;
            }
            if (p++ == end)
                return false;
        } else {
            t = p;
            while (p < end && pt_str_tchar[*p])
                p++;
            if (p == t)
                return false;
        }
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p != ';' && *p != ',')
            return false;
    }
}

/* Join every value of field id with ", " (for headers we extend). */
size_t pt_proxy_join(char *out, const pt_http_head_t *h, unsigned id)
{
    size_t n = 0;

    for (unsigned i = 0; i < h->nfields; i++) {
        if (h->fields[i].id != id || h->fields[i].value.len == 0)
            continue;
        if (n)
            PT_PUT(", ");
        PT_PUTS(h->fields[i].value);
    }
    return n;
}

/* RFC 9112 3.2.4: OPTIONS for an absolute URI with an empty path and no
 * query asks about the origin server itself: it goes on as "OPTIONS *". */
static bool pt_proxy_options_server(const pt_http_head_t *h)
{
    return h->method_id == PT_METHOD_OPTIONS && h->target_form == PT_HTTP_FORM_ABSOLUTE
           && h->authority.p + h->authority.len == h->target.p + h->target.len;
}

static pt_str_t pt_proxy_build_head(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_http_head_t *h = &r->head;
    const pt_proxy_conf_t *rc = p->conf;
    const pt_upstream_t *u = rc->upstream;
    pt_str_t host = u->host ? (pt_str_t) { u->host, strlen(u->host) }
                    : h->authority.len ? h->authority : h->host;
    const char *ip = pt_conn_peer_ip(r->conn);
    size_t iplen = strlen(ip);
    size_t cap;
    char *out = pt_proxy_head_alloc(r, h, 512 + h->method.len + r->upstream_path.len
                                          + h->query.len + 3 * host.len + 2 * iplen + r->id.len
                                          + h->upgrade.len + r->upstream_extra.len, &cap);
    size_t n = 0;
    if (out == NULL)
        return PT_STR_NULL;

    PT_PUTS(h->method);
    PT_PUTC(' ');
    if (pt_proxy_options_server(h)) {
        PT_PUTC('*');
    } else {
        PT_PUTS(r->upstream_path);
        if (h->query.p) {
            PT_PUTC('?');
            PT_PUTS(h->query);
        }
    }
    PT_PUT(" HTTP/1.1\r\nHost: ");
    if (host.len)
        PT_PUTS(host);
    else
        n += pt_proxy_put(out + n, p->server->name, strlen(p->server->name));
    PT_PUT("\r\n");

    _Static_assert(PT_HDR__COUNT <= 32, "field ids fit a 32-bit mask");
    uint32_t seen = 0;              /* well-known ids present: join only those */
    for (unsigned i = 0; i < h->nfields; i++) {
        const pt_http_field_t *f = &h->fields[i];
        seen |= UINT32_C(1) << f->id;
        if (f->flags & PT_PROXY_DROP)
            continue;
        switch (f->id) {
        case PT_HDR_HOST: case PT_HDR_CONNECTION: case PT_HDR_KEEP_ALIVE:
        case PT_HDR_PROXY_CONNECTION: case PT_HDR_TE: case PT_HDR_TRANSFER_ENCODING:
        case PT_HDR_UPGRADE: case PT_HDR_PROXY_AUTHORIZATION: case PT_HDR_CONTENT_LENGTH:
        case PT_HDR_X_REQUEST_ID:
            continue;
        case PT_HDR_VIA:
            /* End to end: rewritten below with ours appended, else kept. */
            if (rc->via)
                continue;
            break;
        case PT_HDR_X_FORWARDED_FOR: case PT_HDR_X_FORWARDED_PROTO:
        case PT_HDR_X_FORWARDED_HOST:
            if (rc->xff)
                continue;
            break;
        case PT_HDR_FORWARDED:
            if (rc->forwarded)
                continue;
            break;
        case PT_HDR_EXPECT:
            /* RFC 9110 10.1.1: ignored in HTTP/1.0, so not passed on. */
            if (h->version_minor == 0)
                continue;
            break;
        case PT_HDR_OTHER:
            if (p->max_forwards != -1 && pt_str_caseeq_lit(f->name, "max-forwards"))
                continue;       /* sent below, one less (or dropped when invalid) */
            break;
        }
        PT_PUTS(f->name);
        PT_PUT(": ");
        PT_PUTS(f->value);
        PT_PUT("\r\n");
    }

    if (h->chunked) {
        PT_PUT("Transfer-Encoding: chunked\r\n");
    } else if (h->content_length >= 0) {
        PT_PUT("Content-Length: ");
        n += pt_str_from_u64(out + n, (uint64_t) h->content_length);
        PT_PUT("\r\n");
    }
    if (rc->xff) {
        PT_PUT("X-Forwarded-For: ");
        size_t prior = seen >> PT_HDR_X_FORWARDED_FOR & 1
                       ? pt_proxy_join(out + n, h, PT_HDR_X_FORWARDED_FOR) : 0;
        n += prior;
        if (prior)
            PT_PUT(", ");
        n += pt_proxy_put(out + n, ip, iplen);
        PT_PUT("\r\nX-Forwarded-Proto: ");
        if (r->listener->tls)
            PT_PUT("https");
        else
            PT_PUT("http");
        PT_PUT("\r\n");
        if (h->host.len || h->authority.len) {
            PT_PUT("X-Forwarded-Host: ");
            PT_PUTS(h->authority.len ? h->authority : h->host);
            PT_PUT("\r\n");
        }
    }
    if (rc->forwarded) {
        /* RFC 7239: IPv6 nodes are quoted and bracketed. */
        bool v6 = strchr(ip, ':') != NULL;
        PT_PUT("Forwarded: ");
        bool keep = seen >> PT_HDR_FORWARDED & 1;
        for (unsigned i = 0; keep && i < h->nfields; i++)
            if (h->fields[i].id == PT_HDR_FORWARDED)
                keep = pt_proxy_forwarded_valid(h->fields[i].value);
        size_t prior = keep ? pt_proxy_join(out + n, h, PT_HDR_FORWARDED) : 0;
        n += prior;
        if (prior)
            PT_PUT(", ");
        PT_PUT("for=");
        if (v6)
            PT_PUT("\"[");
        n += pt_proxy_put(out + n, ip, iplen);
        if (v6)
            PT_PUT("]\"");
        if (r->listener->tls)
            PT_PUT(";proto=https");
        else
            PT_PUT(";proto=http");
        if (h->host.len) {
            PT_PUT(";host=\"");
            PT_PUTS(h->host);
            PT_PUTC('"');
        }
        PT_PUT("\r\n");
    }
    if (rc->via) {
        PT_PUT("Via: ");
        size_t prior = seen >> PT_HDR_VIA & 1 ? pt_proxy_join(out + n, h, PT_HDR_VIA) : 0;
        n += prior;
        if (prior)
            PT_PUT(", ");
        if (h->version_minor == 0)
            PT_PUT("1.0 portico\r\n");
        else
            PT_PUT("1.1 portico\r\n");
    }
    if (r->id.len && (rc->request_id || r->id.p != r->id_buf)) {
        PT_PUT("X-Request-ID: ");
        PT_PUTS(r->id);
        PT_PUT("\r\n");
    }
    if (p->max_forwards > 0)
        n += (size_t) sprintf(out + n, "Max-Forwards: %" PRId64 "\r\n", p->max_forwards - 1);
    if (p->upgrade) {
        PT_PUT("Connection: upgrade\r\nUpgrade: ");
        PT_PUTS(h->upgrade);
        PT_PUT("\r\n");
    }
    if (r->upstream_extra.len)
        PT_PUTS(r->upstream_extra);
    PT_PUT("\r\n");
    PT_ASSERT(n <= cap);
    return (pt_str_t) { out, n };
}

/* ---- driving both sides -------------------------------------------------- */

static void pt_proxy_release(pt_proxy_t *p, bool keep)
{
    pt_upconn_t *up = p->up;

    if (up == NULL)
        return;
    p->up = NULL;
    if (p->r->upstream_ms < 0)
        p->r->upstream_ms = pt_clock_now - p->up_start;
    if (keep)
        up->nrequests++;
    pt_upstream_release(up, keep);
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

/* A reused keep-alive connection turned out dead before any byte of the
 * response: the server closed it while idle. Send the request again on a
 * fresh connection if all of it is still at hand. */
void pt_proxy_dead(pt_proxy_t *p, const char *why)
{
    pt_request_t *r = p->r;
    pt_upconn_t *up = p->up;

    if (up && up->reused && !p->got_bytes && p->replayable && !p->retried) {
        const pt_server_t *s = p->server;
        pt_log(PT_LOG_INFO, "upstream %s: reused connection was dead (%s), retrying",
               s->name, why);
        pt_proxy_release(p, false);
        r->upstream_ms = -1;
        p->retried = true;
        p->head_queued = p->req_sent = false;
        p->resp_scanned = 0;
        r->body_pos = r->body_start;
        r->body_left = r->head.content_length;
        r->body_done = r->body_kind == PT_BODY_NONE;
        r->body_received = 0;
        if (r->body_kind == PT_BODY_CHUNKED)
            pt_chunked_init(&r->chunked);
        pt_upconn_t *fresh = pt_upstream_get((pt_server_t *) s, true);
        if (fresh == NULL) {
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
    pt_proxy_fail(p, 502, why);
}

/* Send what can be sent of the request. PT_OK, or PT_ERROR when the
 * request was ended. */
static int pt_proxy_send(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_upconn_t *up = p->up;
    struct iovec iov[2];
    pt_str_t span;

    if (!up->connected)
        return PT_OK;
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
            p->req_sent = true;
            return PT_OK;
        }
        if (!p->head_queued)
            iov[n++] = (struct iovec) { (void *) p->head.p, p->head.len };
        if (!r->body_done) {
            int rc = pt_request_body_next(r, true, &span);
            if (rc == PT_OK) {
                iov[n++] = (struct iovec) { (void *) span.p, span.len };
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
        int rc = pt_io_send(&up->io, iov, n);
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
        pt_timer_set(&c->timer, r->listener->c.body_timeout);
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

void pt_proxy_run(pt_proxy_t *p)
{
    if (p->state == PT_PROXY_TUNNEL) {
        pt_proxy_tunnel_run(p);
        return;
    }
    if (p->up == NULL)
        return;
    if (!p->req_sent && pt_proxy_send(p) != PT_OK)
        return;
    if (p->up == NULL || !p->up->connected)
        return;
    int rc = pt_proxy_response(p);
    if (rc == PT_ERROR)
        return;
    if (rc == PT_DONE) {
        pt_proxy_done(p);
        return;
    }
    if (p->state == PT_PROXY_TUNNEL) {
        pt_proxy_tunnel_run(p);
        return;
    }
    pt_proxy_arm_timers(p);
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
            pt_proxy_release(p, false);
            p->r->upstream_ms = -1;
            pt_proxy_connect(p, failed);
            return;
        }
        pt_timer_del(&up->timer);
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
        pt_proxy_release(p, false);
        r->upstream_ms = -1;
        pt_proxy_connect(p, failed);
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

static void pt_proxy_client_event(pt_request_t *r)
{
    pt_proxy_t *p = r->proxy;

    if (r->conn->io.flags & PT_IO_ERROR) {
        pt_proxy_release(p, false);
        pt_request_abort(r, "client connection failed");
        return;
    }
    pt_proxy_run(p);
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
    r->keepalive = false;
    pt_proxy_fail(p, 408, "request body not received in time");
}

static void pt_proxy_connect(pt_proxy_t *p, const pt_server_t *failed)
{
    pt_request_t *r = p->r;
    const pt_upstream_t *u = p->conf->upstream;

    while (p->tries < u->nservers) {
        pt_server_t *s = pt_upstream_pick(u, failed);
        p->tries++;
        pt_upconn_t *up = pt_upstream_get(s, false);
        if (up == NULL) {
            pt_log_errno(PT_LOG_ERR, errno, "upstream %s: connect to %s failed", u->name,
                         s->name);
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
        if (p->head.p == NULL && (p->head = pt_proxy_build_head(p)).p == NULL) {
            pt_proxy_fail(p, 500, "out of memory building the upstream request");
            return;
        }
        pt_proxy_run(p);
        return;
    }
    /* RFC 9110 15.6.5: a server that did not answer in time is a 504. */
    if (p->connect_timed_out)
        pt_proxy_fail(p, 504, "connecting to the upstream timed out");
    else
        pt_proxy_fail(p, 502, "no server of the upstream could be reached");
}

/* RFC 9110 9.2.2: a proxy MUST NOT retry a non-idempotent request on its
 * own, since a dead connection may still have delivered it. Methods we do
 * not know are taken as not idempotent. */
static bool pt_proxy_idempotent(unsigned method)
{
    switch (method) {
    case PT_METHOD_GET: case PT_METHOD_HEAD: case PT_METHOD_PUT: case PT_METHOD_DELETE:
    case PT_METHOD_OPTIONS: case PT_METHOD_TRACE:
        return true;
    default:
        return false;
    }
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
        pt_response_send(r, 200, NULL, PT_STR_NULL, NULL, 0);
        return PT_OK;
    }
    size_t cap = h->method.len + h->target.len + 16;
    for (unsigned i = 0; i < h->nfields; i++)
        cap += h->fields[i].name.len + h->fields[i].value.len + 4;
    char *out = pt_arena_alloc(r->arena, cap);
    size_t n = 0;
    if (out == NULL)
        return 500;
    PT_PUTS(h->method);
    PT_PUTC(' ');
    PT_PUTS(h->target);
    if (h->version_minor)
        PT_PUT(" HTTP/1.1\r\n");
    else
        PT_PUT(" HTTP/1.0\r\n");
    for (unsigned i = 0; i < h->nfields; i++) {
        const pt_http_field_t *f = &h->fields[i];
        if (f->id == PT_HDR_AUTHORIZATION || f->id == PT_HDR_PROXY_AUTHORIZATION
            || f->id == PT_HDR_COOKIE)
            continue;
        PT_PUTS(f->name);
        PT_PUT(": ");
        PT_PUTS(f->value);
        PT_PUT("\r\n");
    }
    PT_PUT("\r\n");
    PT_ASSERT(n <= cap);
    pt_response_send(r, 200, "message/http", PT_STR_NULL, out, n);
    return PT_OK;
}

int pt_proxy_start(pt_request_t *r, const pt_proxy_conf_t *pconf)
{
    int64_t max_forwards = pt_proxy_max_forwards(r);

    if (max_forwards == 0)
        return pt_proxy_answer_here(r);

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
    p->upgrade = (r->head.conn & PT_HTTP_CONN_UPGRADE) && r->head.upgrade.len
                 && r->head.version_minor >= 1 && pconf->websocket;
    p->replayable = pconf->upstream->retry && pt_proxy_idempotent(r->head.method_id)
                    && (r->body_done
                        || (r->body_kind == PT_BODY_LENGTH
                            && r->conn->rbuf->last - r->body_pos >= r->body_left));
    r->proxy = p;
    r->on_event = pt_proxy_client_event;
    r->conn->timer.handler = pt_proxy_client_timeout;
    pt_proxy_connect(p, NULL);
    return PT_OK;
}
