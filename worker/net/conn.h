/*
 * conn.h: client connections: accepting, the connection object, closing
 * and lingering. Their I/O goes through the primitives of io.h, as that of
 * upstream connections does.
 */
#ifndef PT_CONN_H
#define PT_CONN_H

#include "common/pt.h"
#include "common/buf.h"
#include "worker/core/core.h"
#include "worker/core/event.h"
#include "worker/core/timer.h"
#include "worker/net/io.h"

#include <netinet/in.h>

typedef void (*pt_conn_handler_pt)(pt_conn_t *c);

struct pt_conn_s {
    pt_io_t io;
    const pt_listener_t *listener;
    const pt_proto_t *proto;        /* the listener's, or what ALPN chose */
    const pt_conf_t *conf;
    pt_conn_handler_pt handler;     /* the current state's handler */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
    char peer_ip[48];               /* formatted on first use */
    uint64_t id;
    pt_buf_t *rbuf;                 /* request bytes; NULL while idle */
    pt_request_t *req;              /* the protocol's request in progress */
    pt_timer_t timer;
    unsigned nrequests;
    bool closing;                   /* no more requests on this connection */
    bool lingering;
    bool metric_idle;               /* counted as idle (net/conn_metrics.h) */
    pt_conn_t *prev, *next;         /* all connections of this worker */
};

/* Per-worker connection accounting. */
extern unsigned pt_conn_active;
extern bool pt_conn_draining;       /* the worker is retiring */

/* What the worker process lends the connection code: the limit on open
 * connections and what to do about accepting when it is reached or
 * connections close. */
typedef struct {
    unsigned max_conns;             /* worker_connections */
    /* Stop accepting: at_limit, at max_conns; else out of descriptors. */
    void (*on_limit)(bool at_limit);
    /* A connection closed (pt_conn_active counts it no more). */
    void (*on_closed)(void);
} pt_conn_hooks_t;

/* Take the worker's hooks (copied); once per worker, before it accepts.
 * Until then there is no limit and nobody to tell (tests). */
void pt_conn_setup(const pt_conn_hooks_t *hooks);

/* Accept handler for a listening socket; ev->data is the pt_listener_t. */
void pt_conn_accept(pt_event_t *ev, uint32_t events);
/* Collect the accept hooks of modules (a NULL-terminated table, normally
 * pt_modules) that pt_conn_accept runs on each new connection; once per
 * worker, before it accepts. */
void pt_conn_accept_setup(const pt_module_t *const *modules);

/* Close now (reset the socket if there is unread input). */
void pt_conn_close(pt_conn_t *c);
/* Close with a reset (and no TLS close_notify): for a response cut short
 * whose end the client could not otherwise tell from a complete one. */
void pt_conn_reset(pt_conn_t *c);

/* Half-close and drain unread input for a while before closing, so the
 * peer reads the response we just sent instead of a reset. */
void pt_conn_linger(pt_conn_t *c);

/* The peer address as text ("192.0.2.1" or "2001:db8::1"). */
const char *pt_conn_peer_ip(pt_conn_t *c);

/* Retirement: answer no new requests on idle connections; close idle ones. */
void pt_conn_drain_all(void);
void pt_conn_close_all(void);

#endif
