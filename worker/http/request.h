/*
 * request.h: the request object and its life once the protocol (for
 * HTTP/1.1, h1/h1_conn.c) has read its head: route, run the phases, hand
 * over to a content handler, send the response, log, then keep the
 * connection (the protocol waits for the next request) or close it.
 *
 * The request is independent of the wire format as far as modules are
 * concerned: they read r->head, r->path, r->route and answer through
 * pt_response_*() (response.h) or the proxy; the parser, the serializer
 * (h1/h1_write.h) and the proxy speak HTTP/1.1.
 */
#ifndef PT_REQUEST_H
#define PT_REQUEST_H

#include "common/pt.h"
#include "common/arena.h"
#include "worker/core/consumer.h"
#include "worker/core/core.h"
#include "worker/net/conn.h"
#include "worker/http/http_chunked.h"
#include "worker/http/http_parse.h"
#include "worker/http/response.h"

#define PT_REQUEST_ID_LEN   36      /* a UUIDv7 (request_id.h) */

enum pt_body_kind { PT_BODY_NONE = 0, PT_BODY_LENGTH, PT_BODY_CHUNKED };

/* pt_http_field_t.flags: the proxy does not forward this request field. */
#define PT_FIELD_NOFORWARD  0x01

typedef void (*pt_request_handler_pt)(pt_request_t *r);

struct pt_request_s {
    pt_conn_t *conn;
    pt_arena_t *arena;
    const pt_conf_t *conf;
    const pt_listener_t *listener;
    pt_route_t *route;
    const char *route_allow;        /* the Allow value of a 405 (arena) */
    pt_http_head_t head;            /* strings point into conn->rbuf */
    pt_str_t path;                  /* normalised, what routes match */
    pt_str_t upstream_path;         /* after the route's rewrite */
    pt_str_t id;                    /* X-Request-ID, the client's or ours */
    char id_buf[PT_REQUEST_ID_LEN + 1];

    pt_msec_t start;                /* monotonic ms when the head was complete */
    uint64_t start_wall_ms;
    unsigned status;                /* status sent (0: none yet) */
    uint64_t sent_base;             /* conn->io.sent when the request began */
    uint64_t head_bytes;            /* response heads (interim ones too) */
    uint64_t body_received;         /* request body bytes (payload) seen */

    /* request body framing; bytes live in conn->rbuf after the head */
    uint8_t body_kind;
    bool body_done;                 /* the whole body has been read */
    int64_t body_left;              /* PT_BODY_LENGTH: bytes still to read */
    char *body_start;               /* first byte after the head in conn->rbuf */
    char *body_pos;                 /* next unconsumed body byte in conn->rbuf */
    size_t body_span_len;           /* raw bytes of the span handed out last */
    bool body_span_ends;            /* that span completes the body */
    pt_chunked_t chunked;
    void *body_reader;              /* pt_request_read_body's state */
    size_t head_scanned;            /* the parser's resume offset */
    /* minimum data rates: bytes over the time spent waiting for them */
    pt_msec_t rate_since;           /* head: its first byte; body: when waiting began */
    pt_msec_t rate_waited;          /* body: ms spent waiting in this window */
    uint64_t rate_bytes;            /* bytes in this window */
    bool rate_waiting;              /* body: the socket ran dry, waiting for the client */

    bool keepalive;                 /* the connection may serve another request */
    bool head_only;                 /* HEAD: never a body */
    bool response_started;          /* a status line went out: errors now close */
    bool close_delimited;           /* the client's body ends where the connection does */
    bool upgraded;

    unsigned fields_cap;            /* entries of head.fields once grown (0: the listener's
                                     * max_header_count) */

    /* for the access log */
    const char *upstream_addr;
    pt_msec_t upstream_ms;          /* -1: no upstream */
    const char *error_detail;

    /* the phase engine (worker/core/phase.h) and what its phases found */
    unsigned phase_index;           /* next handler to run; a suspended one's own */
    const pt_consumer_t *consumer;  /* who is asking, set in the access phase (NULL: anonymous) */
    /* The client as a trusted proxy in front named it (set in the
     * post-read phase, in the request arena); NULL: the connection's peer.
     * Read it with pt_request_client_sa/_ip, never c->peer directly. */
    const struct sockaddr *client_sa;
    const char *client_ip;
    bool debug;                     /* traced: pt_request_debug writes (mod_debug sets it) */

    pt_request_handler_pt on_event;   /* who handles client events now */
    void *proxy;                    /* proxy state while proxying */
    /* [traffic steering] another upstream than the route's proxy one, chosen
     * by a module before content (a canary split); NULL: the route's. */
    pt_upstream_t *upstream_override;
    void *ctx[PT_MODULES_MAX];
};

/* Where the request comes from: the address a trusted proxy gave, else
 * the peer. Address rules, rate-limit keys, GeoIP and $remote_addr use it. */
static inline const struct sockaddr *pt_request_client_sa(const pt_request_t *r)
{
    return r->client_sa ? r->client_sa : &r->conn->peer.sa;
}

static inline const char *pt_request_client_ip(const pt_request_t *r)
{
    return r->client_ip ? r->client_ip : pt_conn_peer_ip(r->conn);
}

/* A new request on c, in an arena of its own, its fields array sized for
 * the listener's max_header_count; NULL out of memory. The protocol
 * (h1/h1_conn.c) makes one on a head's first byte and sets c->req. */
pt_request_t *pt_request_new(pt_conn_t *c);

/* Free the request (not the connection). */
void pt_request_free(pt_request_t *r);

/* The head is complete in r->head (its bytes at the front of c->rbuf):
 * prepare the request (id, body framing, path) and run the phases. */
void pt_request_start(pt_request_t *r);

/* A head refused before it was understood, or never completed: answer
 * with status (why goes to the log) and close after the answer. */
void pt_request_reject(pt_request_t *r, unsigned status, const char *why);

/* The response is complete (all output handed to the socket and flushed):
 * log it, then serve the next request or close. */
void pt_request_finalize(pt_request_t *r);

/* Abort: the client or upstream failed mid-response; log and close. */
void pt_request_abort(pt_request_t *r, const char *why);

/* Read the whole request body (at most the route's limit) into one arena
 * block, then call done; on a body error the request is finished with the
 * matching status and done is not called. */
void pt_request_read_body(pt_request_t *r, pt_request_handler_pt done);
/* The body collected by pt_request_read_body. */
pt_str_t pt_request_body(pt_request_t *r);

/* Take body bytes from the connection buffer without copying: sets *data
 * to the next span (for chunked, the raw framing when raw is true, else the
 * payload). Returns PT_OK with a span, PT_AGAIN (need input; reads it when
 * the socket is readable), PT_DONE (body complete) or an HTTP status.
 * Once everything buffered is used the buffer room is read into again, so
 * the caller must be done with earlier spans (written, not just queued)
 * before asking for the next. */
int pt_request_body_next(pt_request_t *r, bool raw, pt_str_t *data);
/* The span from pt_request_body_next has been used; its room may be reused. */
void pt_request_body_consumed(pt_request_t *r);

/* How long to arm the timer for while waiting for body bytes: body_timeout,
 * or, while the client is being waited for under body_min_rate, no longer
 * than until the current window of waiting is complete, so that a client
 * that sends nothing is judged as soon as one that trickles. */
pt_msec_t pt_request_body_wait(pt_request_t *r);

/* The body timer fired: NULL when it was only a rate check that passed
 * (arm it again with pt_request_body_wait), else why the request ends with
 * 408 ("... not received in time" or "... sent too slowly"). */
const char *pt_request_body_expired(pt_request_t *r);

/* Bytes of this request's response written to the client so far. */
static inline uint64_t pt_request_bytes_sent(const pt_request_t *r)
{
    return r->conn->io.sent - r->sent_base;
}

/* Bytes of response body written to the client so far. */
static inline uint64_t pt_request_body_bytes_sent(const pt_request_t *r)
{
    uint64_t all = pt_request_bytes_sent(r);

    return all > r->head_bytes ? all - r->head_bytes : 0;
}

/* The settings that apply to the request: its route's, or the defaults
 * when no route was chosen (an error before or instead of routing). */
static inline const pt_route_conf_t *pt_request_rconf(const pt_request_t *r)
{
    return r->route ? &r->route->c : &r->conf->route_defaults;
}

/* A field of the request by well-known id, or NULL. */
const pt_http_field_t *pt_request_field(const pt_request_t *r, unsigned id);

/* Add a field to the request (what the proxy forwards, say), after the
 * client's; name and value must outlive the request (arena, config or
 * static memory). The array grows in the request arena when full. A
 * module hides a client's field of the same name with PT_FIELD_NOFORWARD.
 * PT_OK or PT_ERROR (out of memory). */
int pt_request_field_add(pt_request_t *r, pt_str_t name, pt_str_t value);

/* Consume whatever of the body is already buffered, without reading (the
 * response is decided and the rest of the body may be skipped). */
void pt_request_skip_buffered_body(pt_request_t *r);

/* Resume the phases after a handler returned PT_AGAIN: that handler is
 * called again, then the rest (see the contract in worker/core/module.h). */
void pt_request_resume(pt_request_t *r);

#endif
