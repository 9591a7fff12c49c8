/*
 * subrequest_response.c: reading a subrequest's answer: skipping interim
 * heads, keeping the final one, and collecting the body (Content-Length,
 * chunked, or until close) into the subrequest's arena within its cap.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/upstream/subrequest.h"

/* Fields of an answer head to begin with; a head with more is parsed
 * again with four times the room, up to one per 4 bytes of
 * max_response_header_size (as the proxy does) and this many. */
#define PT_SUBREQUEST_FIELDS_MAX    16384
/* First room for a body of unknown length (chunked or close-delimited). */
#define PT_SUBREQUEST_BODY_FIRST    4096

/* Append n bytes to the body, growing its room (the arena keeps the old
 * room; the cap on the arena allows for that). */
static int pt_subrequest_append(pt_subrequest_t *sr, const char *p, size_t n)
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
            sr->error = "out of memory";
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

static int pt_subrequest_body_room(pt_subrequest_t *sr, size_t cap)
{
    char *p = pt_arena_alloc(sr->arena, cap);

    if (p == NULL) {
        sr->error = "out of memory";
        return PT_ERROR;
    }
    p[0] = '\0';
    sr->body = (pt_str_t) { p, 0 };
    sr->body_cap = cap;
    return PT_OK;
}

static void pt_subrequest_rebase(pt_str_t *s, const char *from, const char *to)
{
    if (s->p)
        s->p = to + (s->p - from);
}

/* The final head is parsed at b->pos: keep a copy, decide the framing and
 * whether the connection can be reused. PT_OK or PT_ERROR (sr->error). */
static int pt_subrequest_final_head(pt_subrequest_t *sr, pt_buf_t *b)
{
    pt_http_head_t *h = &sr->resp;

    if (h->status > 599 || h->te_other) {
        sr->error = "malformed response";
        return PT_ERROR;
    }
    char *copy = pt_arena_alloc(sr->arena, h->head_len);
    if (copy == NULL) {
        sr->error = "out of memory";
        return PT_ERROR;
    }
    memcpy(copy, b->pos, h->head_len);
    for (unsigned i = 0; i < h->nfields; i++) {
        pt_subrequest_rebase(&h->fields[i].name, b->pos, copy);
        pt_subrequest_rebase(&h->fields[i].value, b->pos, copy);
    }
    pt_subrequest_rebase(&h->reason, b->pos, copy);
    pt_subrequest_rebase(&h->upgrade, b->pos, copy);
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
        return pt_subrequest_body_room(sr, (size_t) h->content_length + 1);
    case PT_HTTP_BODY_CHUNKED:
        pt_chunked_init(&sr->chunked);
        /* fall through */
    case PT_HTTP_BODY_CLOSE:
        return pt_subrequest_body_room(sr, pt_min(sr->max_body, PT_SUBREQUEST_BODY_FIRST) + 1);
    default:
        return pt_subrequest_body_room(sr, 1);
    }
}

/* Parse what the buffer holds of the heads. PT_OK (the final head is in),
 * PT_AGAIN (need more bytes) or PT_ERROR (sr->error). */
static int pt_subrequest_parse_head(pt_subrequest_t *sr, pt_buf_t *b)
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
            int64_t most = pt_min(u->max_response_header_size / 4, PT_SUBREQUEST_FIELDS_MAX);
            if (sr->resp.error == pt_http_err_too_many_fields && lim.max_fields < most) {
                unsigned cap = (unsigned) pt_min((int64_t) lim.max_fields * 4, most);
                if ((fields = pt_arena_alloc(sr->arena, cap * sizeof(*fields))) == NULL) {
                    sr->error = "out of memory";
                    return PT_ERROR;
                }
                sr->resp.fields = fields;
                sr->resp_fields_cap = lim.max_fields = cap;
                sr->resp_scanned = 0;
                continue;
            }
            pt_log(PT_LOG_ERR, "upstream %s: malformed response from %s: %s", u->name,
                   sr->server->name, sr->resp.error ? sr->resp.error : "?");
            /* The parser stops at the limit: as many bytes as it allows and
             * still no head means it was too large, not ill-formed. */
            bool big = sr->resp.error == pt_http_err_too_many_fields
                       || pt_buf_len(b) >= (size_t) u->max_response_header_size;
            sr->error = big ? "response head too large" : "malformed response";
            return PT_ERROR;
        }
        if (sr->resp.status >= 200)
            return pt_subrequest_final_head(sr, b);
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
static int pt_subrequest_take_body(pt_subrequest_t *sr, pt_buf_t *b)
{
    size_t consumed;
    pt_str_t data;

    switch (sr->body_kind) {
    case PT_HTTP_BODY_LENGTH: {
        size_t n = (size_t) pt_min((int64_t) pt_buf_len(b), sr->left);
        if (pt_subrequest_append(sr, b->pos, n) != PT_OK)
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
                if (pt_subrequest_append(sr, data.p, data.len) != PT_OK)
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
        if (pt_subrequest_append(sr, b->pos, pt_buf_len(b)) != PT_OK)
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
int pt_subrequest_read(pt_subrequest_t *sr)
{
    pt_upconn_t *up = sr->up;
    const pt_upstream_t *u = sr->upstream;

    if (up->buf == NULL && (up->buf = pt_buf_get_size(PT_BUF_LARGE)) == NULL) {
        sr->error = "out of memory";
        return PT_ERROR;
    }
    for (;;) {
        pt_buf_t *b = up->buf;
        int rc = sr->in_body ? PT_OK : pt_subrequest_parse_head(sr, b);
        if (rc == PT_ERROR)
            return PT_ERROR;
        if (sr->in_body) {
            rc = pt_subrequest_take_body(sr, b);
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
