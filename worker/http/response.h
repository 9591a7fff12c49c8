/*
 * response.h: the response object, independent of the wire protocol.
 *
 * A response is a status and a list of fields as (name, value, flags)
 * views: for a proxied response most point into the upstream's head,
 * uncopied; for a gateway-made one they are the few the gateway sets
 * (Server, Date, Content-Type, ...). Header filters (worker/core/filter.h)
 * change it with the functions below, which allocate from the request
 * arena and only when they need room; the serializer of the protocol
 * (http/h1/h1_write.h) then writes it.
 *
 * The framing is the serializer's: a Content-Length field is written with
 * the value of content_length (and left out while that is -1), and
 * Transfer-Encoding and Connection come from flags. A filter that changes
 * the body's length sets content_length to -1 with pt_response_unknown_length().
 */
#ifndef PT_RESPONSE_H
#define PT_RESPONSE_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/http/http_parse.h"

/* pt_http_field_t.flags in a response. HIDDEN is the bit the proxy sets on
 * request fields it does not forward (PT_FIELD_NOFORWARD): a hidden field
 * is never written. */
#define PT_FIELD_HIDDEN     0x01
/* Written with the values of every earlier field of the same well-known
 * id first, joined with ", " (Via: theirs, then ours; no copy). */
#define PT_FIELD_JOIN       0x02

/* pt_response_t.flags */
#define PT_RESP_CHUNKED     0x01    /* Transfer-Encoding: chunked (the body is framed so) */
#define PT_RESP_CLOSE       0x02    /* Connection: close */
#define PT_RESP_KEEPALIVE   0x04    /* Connection: keep-alive (an HTTP/1.0 client) */
#define PT_RESP_UPGRADE     0x08    /* Connection: upgrade (a 101) */

struct pt_response_s {
    unsigned status;
    pt_str_t reason;            /* empty: the standard phrase */
    pt_http_field_t *fields;    /* in the order written */
    unsigned nfields;
    unsigned cap;               /* entries fields has room for */
    int64_t content_length;     /* -1: unknown */
    unsigned flags;             /* PT_RESP_* */
    /* An upper bound on the bytes the fields take serialized ("Name:
     * value" CRLF each, joins included), kept by pt_response_append, so the
     * serializer need not count; 0: not known, the serializer counts. */
    size_t bound;
};

/* The field array is full: twice the room, in r's arena. PT_OK or
 * PT_ERROR (out of memory). */
int pt_response_grow(pt_request_t *r, pt_response_t *resp);

/* Append f (its name and value must outlive the response: config, arena
 * or static memory). Grows the array in r's arena when full. PT_OK or
 * PT_ERROR (out of memory). */
static inline int pt_response_append(pt_request_t *r, pt_response_t *resp,
                                     const pt_http_field_t *f)
{
    if (pt_unlikely(resp->nfields == resp->cap) && pt_response_grow(r, resp) != PT_OK)
        return PT_ERROR;
    if (resp->bound) {
        /* A joined field repeats at most every earlier value: the bound. */
        resp->bound += f->name.len + f->value.len + 4;
        if (f->flags & PT_FIELD_JOIN)
            resp->bound *= 2;
    }
    resp->fields[resp->nfields++] = *f;
    return PT_OK;
}

/* Add a field name: value (kept as views, see pt_response_append). */
int pt_response_add(pt_request_t *r, pt_response_t *resp, pt_str_t name, pt_str_t value);

/* Replace every field named name (case-insensitive) by one name: value,
 * written after the fields already there. */
int pt_response_set(pt_request_t *r, pt_response_t *resp, pt_str_t name, pt_str_t value);

/* Hide every field named name; how many there were. Never allocates. */
unsigned pt_response_remove(pt_response_t *resp, pt_str_t name);

/* The first visible field named name, or NULL. */
const pt_http_field_t *pt_response_find(const pt_response_t *resp, pt_str_t name);

/* The body's length is no longer known (a body filter changes it): the
 * Content-Length field is left out and the serializer frames the body
 * another way. */
static inline void pt_response_unknown_length(pt_response_t *resp)
{
    resp->content_length = -1;
}

/* Send a whole gateway-made response and finalize when it is out: the
 * status line, Server, Date, Content-Type (when content_type is not
 * NULL), Content-Length, the request id, then fields[0..nfields) (their
 * memory as pt_response_append), through the route's header filters and,
 * for the body, its body filters. The body must stay valid until then
 * (arena, config or static memory). Decides keep-alive. */
void pt_response_send(pt_request_t *r, unsigned status, const char *content_type,
                      const pt_http_field_t *fields, unsigned nfields,
                      const char *body, size_t body_len);

/* Run r's route's header filters on resp (none: nothing runs). PT_OK, or
 * the status a filter answered with. */
int pt_response_filter(pt_request_t *r, pt_response_t *resp);

/* Whether r's response may leave the connection open (clears
 * r->keepalive when not): the request body must be all read, the worker
 * not draining, the connection under keepalive_requests. */
bool pt_response_keepalive(pt_request_t *r);

/* The response is wholly queued on the connection: finalize once it is
 * flushed (now, or when the socket drains; a client that stops reading is
 * cut off after send_timeout). */
void pt_response_finish(pt_request_t *r);

#endif
