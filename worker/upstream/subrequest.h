/*
 * subrequest.h: internal calls to an upstream (a JWKS fetch, a token
 * introspection, a health probe, one leg of an aggregation), over the same
 * balancer and keep-alive pools as the proxy, with or without a client
 * request behind them.
 *
 * A subrequest sends one HTTP/1.1 request, reads the whole answer into
 * memory (within a cap) and calls done once. It owns its own capped arena,
 * so it can run from a timer with no request at all, or outlive the code
 * that started it until it is cancelled.
 *
 * Ownership: the owner either sees done (after which the subrequest is
 * freed: copy out what must live on) or calls pt_subrequest_cancel first,
 * never both. An owner that is a client request ties the two lifetimes
 * with pt_subrequest_bind(): when the request ends (its arena is reset or
 * destroyed) a subrequest still running is cancelled. The pattern is
 *
 *     sr = pt_subrequest_start(u, &spec, on_keys, ctx);
 *     if (sr == NULL || pt_subrequest_bind(sr, r) != PT_OK) { ...500... }
 *     return PT_AGAIN;                    (on_keys resumes the request)
 *
 * A timer-driven owner (a JWKS refresh, a health probe) keeps the pointer
 * and cancels it when it stops (module exit or retire).
 *
 * Framing follows RFC 9112: the request goes out as HTTP/1.1 with Host and
 * Content-Length (when there is a body or the method expects one); the
 * answer may be framed by Content-Length, chunked (decoded here) or the
 * end of the connection; 1xx interim answers are skipped; HEAD, 204 and
 * 304 answers have no body. The connection goes back to the pool when the
 * answer allows it (HTTP/1.1 without "Connection: close", or HTTP/1.0 with
 * "Connection: keep-alive", and a framed body), and is closed otherwise.
 * A reused pooled connection found dead before any byte of the answer is
 * retried once on a fresh connection to the same server (when the
 * upstream's retry setting allows it and the request is idempotent).
 */
#ifndef PT_SUBREQUEST_H
#define PT_SUBREQUEST_H

#include "common/pt.h"
#include "common/arena.h"
#include "worker/core/core.h"
#include "worker/core/event.h"
#include "worker/core/timer.h"
#include "worker/http/http_chunked.h"
#include "worker/http/http_parse.h"
#include "worker/upstream/upstream.h"

/* The body cap when the spec gives none. */
#define PT_SUBREQUEST_MAX_BODY      (1024 * 1024)

typedef struct pt_subrequest_s pt_subrequest_t;

/* rc is PT_OK (an answer arrived, whatever its status: sr->status,
 * sr->fields, sr->body) or PT_ERROR (no usable answer: sr->error). Called
 * once, from the event loop, never from inside pt_subrequest_start. The
 * subrequest is freed when done returns: nothing it points to (fields,
 * body) may be kept. */
typedef void (*pt_subrequest_done_pt)(pt_subrequest_t *sr, int rc, void *data);

/* What to ask. Everything is copied by pt_subrequest_start: the spec and what
 * it points to may go away as soon as start returns. */
typedef struct {
    const char *method;         /* "GET", "POST", ...; NULL: GET */
    pt_str_t path;              /* origin-form target, query included ("/keys?x=1") */
    pt_str_t host;              /* Host to send; empty: the upstream's host setting, else
                                 * the chosen server's "host:port" */
    const pt_str_t *fields;     /* nfields (name, value) pairs: fields[2i], fields[2i+1];
                                 * Host, Content-Length, Transfer-Encoding and
                                 * Connection are ours and skipped if given */
    size_t nfields;
    pt_str_t body;              /* sent with Content-Length; may be empty */
    size_t max_body;            /* cap on the answer's body; 0: PT_SUBREQUEST_MAX_BODY */
    pt_msec_t timeout;          /* the whole call, connects included; 0: the upstream's
                                 * read_timeout. Each connect is also bounded by
                                 * connect_timeout */
    bool idempotent;            /* safe to send twice although the method is not
                                 * (a token introspection POST): allows the retry */
    pt_server_t *server;        /* only this server of u, on a new connection closed
                                 * after, connect failures logged at debug (a health
                                 * probe); NULL: the balancer's choice */
} pt_subrequest_spec_t;

struct pt_subrequest_s {
    /* The answer, for done. Strings point into arena. */
    unsigned status;
    pt_str_t reason;
    pt_http_field_t *fields;    /* the final head's fields, as parsed */
    unsigned nfields;
    pt_str_t body;              /* whole, chunk framing removed; NUL-terminated */
    const char *error;          /* PT_ERROR: a static sentence ("connect failed", ...) */
    pt_arena_t *arena;          /* the subrequest's; freed with it */
    const pt_server_t *server;  /* the server that answered (or failed last) */

    /* Private to subrequest.c and subrequest_response.c. */
    pt_upstream_t *upstream;
    pt_server_t *target;        /* the spec's server; NULL: any */
    pt_upconn_t *up;
    pt_subrequest_done_pt done;
    void *data;
    pt_subrequest_t **bound;        /* slot in a request's arena (pt_subrequest_bind) */
    pt_event_t post;            /* runs the first step, or reports an early failure */
    pt_timer_t timer;           /* the whole call's deadline */
    unsigned method_id;
    pt_str_t req_head;          /* request head with our Host (rebuilt per server) */
    pt_str_t req_body;
    pt_str_t host;              /* the spec's, or empty */
    pt_str_t method;
    pt_str_t path;
    pt_str_t extra;             /* the caller's field lines */
    size_t max_body;
    unsigned tries;             /* servers tried */
    bool replayable;
    bool retried;
    bool connect_timed_out;
    bool head_queued;
    bool write_failed;
    bool got_bytes;
    bool in_body;               /* the final head is parsed */
    bool keep;                  /* the answer lets the connection be reused */
    bool in_done;
    pt_http_head_t resp;
    unsigned resp_fields_cap;
    size_t resp_scanned;
    int body_kind;              /* PT_HTTP_BODY_* */
    int64_t left;               /* PT_HTTP_BODY_LENGTH: bytes still to come */
    pt_chunked_t chunked;
    size_t body_cap;            /* room at body.p */
};

/* subrequest_response.c, for subrequest.c: read and take what the socket
 * has of the answer. PT_DONE (complete), PT_AGAIN, PT_ERROR (sr->error)
 * or PT_DECLINED (the connection died before any byte of the answer:
 * sr->error says how). */
int pt_subrequest_read(pt_subrequest_t *sr);

/* Start a call to upstream u (one of the worker's conf->upstreams; its
 * pools must be set up: pt_upstream_init_worker). done(sr, rc, data) is
 * called once, later, from the event loop; a failure to connect too.
 * Returns NULL only when out of memory (done is then never called). */
pt_subrequest_t *pt_subrequest_start(pt_upstream_t *u, const pt_subrequest_spec_t *spec,
                             pt_subrequest_done_pt done, void *data);

/* The owner went away: done is never called, the upstream connection is
 * closed (its state is unknown, so it is not pooled) and all memory is
 * freed. NULL is a no-op; so is a call from inside done (the subrequest is
 * freed when done returns anyway). */
void pt_subrequest_cancel(pt_subrequest_t *sr);

/* Tie sr to request r: when r's arena is reset or destroyed (the request
 * ended) and sr has not finished, sr is cancelled. PT_ERROR when r's arena
 * is out of room (sr is then not bound; the caller cancels it). */
int pt_subrequest_bind(pt_subrequest_t *sr, pt_request_t *r);

/* The value of the answer's first field called name (case-insensitive),
 * or PT_STR_NULL. For use in done. */
pt_str_t pt_subrequest_field(const pt_subrequest_t *sr, const char *name);

#endif
