/*
 * proxy.h: the proxy content handler's state, shared by proxy.c (choosing
 * and connecting a server, sending the request), proxy_head.c (the heads
 * both ways), proxy_response.c (relaying the response) and proxy_tunnel.c
 * (upgraded connections).
 *
 * Both sides are pumped by one function, pt_proxy_run(), whichever socket
 * had the event: it sends what it can of the request, then moves what it
 * can of the response. Memory queued on one side's output is not reused
 * before that output is flushed, which is all the back-pressure there is:
 * at most one buffer's worth is in flight each way.
 */
#ifndef PT_PROXY_H
#define PT_PROXY_H

#include "common/pt.h"
#include "common/str.h"
#include "worker/http/http_chunked.h"
#include "worker/http/h1/h1_write.h"
#include "worker/http/http_parse.h"
#include "worker/http/request.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_queue.h"

/* Fields of an upstream response head, to begin with: 100 x 40 bytes stays
 * under the request arena's large-allocation threshold. A head with more
 * is parsed again with room for four times as many, up to one per 4 bytes
 * of max_response_header_size (the shortest field line, "a:" CRLF) and at
 * most PT_PROXY_RESP_FIELDS_MAX (all the arrays together stay near 1 MiB,
 * well inside the request arena's cap). */
#define PT_PROXY_RESP_FIELDS        100
#define PT_PROXY_RESP_FIELDS_MAX    16384

/* A route's proxy settings. The directive rows and their load-time checks
 * are the proxy module's (mod/content/mod_proxy.c); inheriting from
 * defaults { } is the generic merge of module rows. The proxy reads them
 * through pt_proxy_t.conf, which its content handler hands in. */
typedef struct {
    const char *upstream_name;  /* "proxy": the upstream's name; NULL: not proxied */
    pt_upstream_t *upstream;    /* resolved at load */
    int xff;                    /* set X-Forwarded-For/-Proto/-Host */
    int forwarded;              /* set RFC 7239 Forwarded */
    int via;
    int request_id;             /* send the X-Request-ID we generated */
    int websocket;              /* forward Upgrade at all (the switch; false wins) */
    const char **upgrade;       /* protocols an Upgrade may name (NULL-terminated); never h2c */
    pt_msec_t tunnel_timeout;   /* idle timeout once upgraded */
    int replace_upstream_errors;
    int request_buffering;      /* collect the body before connecting upstream */
    int64_t request_buffer_size;    /* of it, held in memory */
    int64_t request_buffer_max;     /* held at all (memory and file); more streams */
    const char *request_buffer_path;    /* directory of the spill files */
    int retry_non_idempotent;   /* retry_on applies to methods that are not idempotent */
    int retry_sent_body;        /* ... and to a body that went out, when held whole */
} pt_proxy_conf_t;

/* proxy_body.c's collected request body (memory, then a file). */
typedef struct pt_proxy_store_s pt_proxy_store_t;

enum pt_proxy_resp_state {
    PT_PROXY_RESP_HEAD = 0,     /* reading the response head */
    PT_PROXY_RESP_BODY,         /* relaying the body */
    PT_PROXY_RESP_DONE,         /* all of it is queued for the client */
    PT_PROXY_TUNNEL             /* upgraded: bytes both ways */
};

/* What a step of the response or the tunnel leaves to pt_proxy_run, which
 * alone ends the request (so that retry, fail and done are decided in one
 * place). A step that logs does so itself, before it returns. */
typedef enum {
    PT_PROXY_GO_ON = 0,         /* progress made: wait for events */
    PT_PROXY_COMPLETE,          /* the response is fully queued: pt_proxy_done */
    PT_PROXY_FAIL,              /* answer status with why, or cut: pt_proxy_fail */
    PT_PROXY_DEAD,              /* the server's connection died unanswered: pt_proxy_dead */
    PT_PROXY_ABORT,             /* the client side failed: close both, abort with why */
    PT_PROXY_CLOSE,             /* the tunnel is over: pt_proxy_tunnel_close with why */
    PT_PROXY_RETRY              /* try another server (pt_proxy_retry_allowed said yes) */
} pt_proxy_kind_t;

typedef struct {
    pt_proxy_kind_t kind;
    unsigned status;            /* PT_PROXY_FAIL: the status to answer */
    const char *why;            /* FAIL, DEAD, ABORT; CLOSE: NULL when both ends closed */
} pt_proxy_result_t;

/* A trailer section collected on its way through a raw chunked relay, to
 * be sent scrubbed once complete (at most the decoder's trailer cap). */
typedef struct {
    char *p;                    /* request arena; NULL until a byte came */
    size_t len;
} pt_proxy_trailers_t;

typedef struct {
    pt_request_t *r;
    const pt_proxy_conf_t *conf;    /* the route's proxy settings */
    pt_upconn_t *up;
    pt_server_t *server;
    unsigned tries;             /* servers tried for this request */
    bool retried;               /* one retry after a dead keep-alive connection */
    bool connect_timed_out;     /* a connect timed out: 504 if no server answers */
    pt_upstream_waiter_t wait;  /* every server at max_conns: waiting for one */
    int64_t max_forwards;       /* TRACE/OPTIONS: Max-Forwards received; -1: none */

    pt_str_t head;              /* the request head for the upstream (arena) */
    bool head_queued;
    bool req_sent;              /* head and whole body handed to the socket */
    bool replayable;            /* may be sent again: retry on, idempotent, all in memory */
    bool replay_ok;             /* retry on and idempotent: replayable once held whole */
    bool at_hand;               /* the whole body is held (memory or store): resendable */
    bool retry_granted;         /* pt_proxy_retry_allowed took a retry for the next try */
    pt_msec_t first_try;        /* when the first server was chosen (retry_timeout) */
    bool collecting;            /* request buffering: the body is being collected */
    pt_proxy_store_t *store;    /* the buffered body; NULL: streamed */
    bool upgrade;               /* forwarding an Upgrade */
    pt_str_t upgrade_offer;     /* the client's protocols we forward (arena) */

    uint8_t state;              /* enum pt_proxy_resp_state */
    pt_http_head_t resp;
    unsigned resp_fields_cap;   /* entries of resp.fields */
    size_t resp_scanned;
    int body;                   /* PT_HTTP_BODY_* of the response */
    int64_t left;               /* PT_HTTP_BODY_LENGTH: bytes still to relay */
    pt_chunked_t chunked;
    pt_proxy_trailers_t req_trailers, resp_trailers;
    bool decode;                /* strip chunk framing (HTTP/1.0 client) */
    bool up_keep;               /* the upstream connection may be reused */
    bool got_bytes;             /* any byte of a response arrived */
    bool write_failed;          /* the server stopped taking the request */
    bool client_head_queued;
    pt_str_t client_head;       /* the response head for the client (arena) */
    pt_msec_t up_start;
    pt_upconn_handler_pt up_handler;
    pt_timer_handler_pt up_timeout;
    bool client_eof, up_eof;    /* tunnel: each side's end seen */
    bool client_shut, up_shut;  /* tunnel: FIN passed on */

    /* Only on routes with body filters: the response body (request body)
     * goes through them and is framed again; NULL otherwise. */
    pt_h1_out_t *filter_out;
    bool filter_done;           /* the last span went through */
    bool filter_flush;          /* the last read drained the upstream: flush the filters */
    pt_h1_out_t *req_filter_out;
    bool req_filter_done;
} pt_proxy_t;

/* Field flag: not forwarded (hop-by-hop, named in Connection, replaced). */
#define PT_PROXY_DROP       PT_FIELD_NOFORWARD

/* Building heads: append to `out` at offset `n` (both in the caller). */
#define PT_PUT(lit)         (n += pt_str_put(out + n, lit, sizeof(lit) - 1))
#define PT_PUTS(s)          (n += pt_str_put(out + n, (s).p, (s).len))
#define PT_PUTC(c)          (out[n++] = (c))

/* proxy.c */
/* Proxy r to pconf's upstream (the proxy module's content handler calls
 * this with the route's settings, which must outlive the request). Returns
 * PT_OK once under way (the proxy finishes the request) or an HTTP status
 * for the error renderer. */
int pt_proxy_start(pt_request_t *r, const pt_proxy_conf_t *pconf);
/* Pump both sides after an event on either; the response's and the
 * tunnel's results are acted on here alone (done, fail, retry or 502,
 * abort, close). */
void pt_proxy_run(pt_proxy_t *p);
/* The server's connection died before answering: retry or 502. */
void pt_proxy_dead(pt_proxy_t *p, const char *why);
void pt_proxy_fail(pt_proxy_t *p, unsigned status, const char *why);
/* Close the upstream connection (it cannot be reused). */
void pt_proxy_release_close(pt_proxy_t *p);
void pt_proxy_done(pt_proxy_t *p);
void pt_proxy_arm_timers(pt_proxy_t *p);
/* Choose a server (not failed, unless it is the only one left) and start
 * the request on it; ends the request with 502/504 when none is left.
 * After a failure (failed set), a new try needs "connect" in retry_on,
 * a retry left and the budget's consent, unless retry_granted. */
void pt_proxy_connect(pt_proxy_t *p, const pt_server_t *failed);
/* Whether a try that failed for reason (a PT_RETRY_ON_* bit) after the
 * request went out may be made again on another server: reason in
 * retry_on, nothing of the response passed on, an idempotent method (or
 * retry_non_idempotent), no body sent yet (or retry_sent_body, with the
 * body held whole), retries and retry_timeout left, and a retry from the
 * budget (taken: retry_granted is set). */
bool pt_proxy_retry_allowed(pt_proxy_t *p, uint32_t reason);

/* proxy_body.c */
/* Whether p's request body is to be buffered (the route's settings, no
 * upgrade, no request body filters, a length within request_buffer_max or
 * unknown): PT_OK (p->store set, p->collecting: call pt_proxy_body_collect
 * on client events until it connects upstream itself), PT_DECLINED
 * (stream it), or an HTTP status. */
int pt_proxy_body_start(pt_proxy_t *p);
/* Collect what the client sent; once the body is whole (or past the cap)
 * choose a server. Ends the request itself on a body error. */
void pt_proxy_body_collect(pt_proxy_t *p);
/* Send the head and the stored body: PT_OK when all of it is out (the
 * rest, after an overflow, streams as usual), PT_AGAIN (waiting for the
 * socket), PT_DONE (the upstream stopped taking it) or PT_ERROR (the file
 * could not be read or out of memory: the caller fails the request). */
int pt_proxy_body_send(pt_proxy_t *p);
/* Whether all of the store has been written to the upstream socket. */
bool pt_proxy_body_stored_out(const pt_proxy_t *p);
/* A retry: the stored body is sent again from its first byte. */
void pt_proxy_body_rewind(pt_proxy_t *p);
/* Whether the body is held whole (nothing of it streams). */
bool pt_proxy_body_whole(const pt_proxy_t *p);

/* proxy_head.c */
/* The request head for p's server (hop-by-hop fields and those named in
 * Connection dropped, fields hidden with PT_FIELD_NOFORWARD left out, the
 * ones modules added written like the client's, X-Forwarded-*, Forwarded
 * and Via as the route says), in the request arena; PT_STR_NULL when out
 * of memory. */
pt_str_t pt_proxy_head_request(pt_proxy_t *p);
/* Fill resp, the client's response, from the upstream's head p->resp,
 * without copying: its fields hidden or kept in place (hop-by-hop, named
 * in Connection, the framing we rewrite), Date, Via and X-Request-ID
 * added, the framing flags set (chunked: we relay chunk framing; upgrade:
 * a 101). The array may grow in the request arena. PT_OK or PT_ERROR. */
int pt_proxy_head_response(pt_proxy_t *p, pt_response_t *resp, bool chunked, bool upgrade);
/* A trailer section as received (field lines and the final CRLF, checked
 * by the chunked decoder) scrubbed like the header section of h, the
 * message it ends (the client's request head or the upstream's response
 * head, as the head functions above left its flags): the fields that
 * frame, route, are hop-by-hop or that portico sets, removes or hid in h
 * are left out. Returns the section to send (ending in its CRLF) in r's
 * arena; PT_STR_NULL when out of memory. */
pt_str_t pt_proxy_head_trailers(pt_request_t *r, const pt_http_head_t *h, pt_str_t raw);
/* A raw chunked relay's step: ck decoded [in, in + used) last; the part of
 * it that belongs to the trailer section is moved into t, and *keep is how
 * many of its first bytes are still the body's to relay as they are. When
 * the message ended, *tail is the scrubbed section to send after them
 * (else empty). PT_OK or PT_ERROR (out of memory). */
int pt_proxy_head_split_trailers(pt_request_t *r, const pt_http_head_t *h,
                                 const pt_chunked_t *ck, pt_proxy_trailers_t *t,
                                 const char *in, size_t used, size_t *keep, pt_str_t *tail);
/* The body of the answer to TRACE with Max-Forwards: 0 (message/http), in
 * the request arena; PT_STR_NULL when out of memory. */
pt_str_t pt_proxy_head_trace(pt_request_t *r);

/* proxy_response.c: read the head and relay the body. Returns
 * PT_PROXY_GO_ON when it made all the progress it can for now (p->state is
 * PT_PROXY_TUNNEL after a 101: the tunnel takes over), PT_PROXY_COMPLETE
 * when the response is queued whole, else PT_PROXY_FAIL, PT_PROXY_DEAD or
 * PT_PROXY_ABORT for the caller to end the request with; it ends nothing
 * itself. */
pt_proxy_result_t pt_proxy_response(pt_proxy_t *p);

/* proxy_tunnel.c: after a 101, move bytes both ways until both ends close
 * or the tunnel idles out. Returns PT_PROXY_GO_ON (the tunnel's timers are
 * set) or PT_PROXY_CLOSE (why: NULL once both ends closed, else the
 * failure) for the caller to end the tunnel with. */
pt_proxy_result_t pt_proxy_tunnel_run(pt_proxy_t *p);
/* End the tunnel: close both connections and finish the request, with why
 * as its error detail (NULL: none). */
void pt_proxy_tunnel_close(pt_proxy_t *p, const char *why);

#endif
