/*
 * upstream.h: upstream servers as one worker sees them: choosing a server
 * (smooth weighted round-robin), connecting, and the per-worker pools of
 * idle keep-alive connections.
 */
#ifndef PT_UPSTREAM_H
#define PT_UPSTREAM_H

#include "common/pt.h"
#include "worker/net/conn.h"
#include "worker/core/core.h"

typedef struct pt_upconn_s pt_upconn_t;
typedef void (*pt_upconn_handler_pt)(pt_upconn_t *u);

struct pt_upconn_s {
    pt_io_t io;
    pt_server_t *server;
    pt_buf_t *buf;                  /* response bytes; held while busy */
    pt_timer_t timer;
    pt_upconn_handler_pt handler;   /* while busy: the owner's event handler */
    void *owner;
    unsigned nrequests;
    bool connected;                 /* the TCP handshake completed */
    bool reused;                    /* taken from the idle pool */
    bool pooled;                    /* in the idle pool now */
    unsigned addr_version;          /* dns: server->addr_version at connect */
    bool counted;                   /* in flight to server (upstream_balance.h) */
    uint64_t busy_us;               /* balance "ewma": when it was handed out */
    pt_upconn_t *prev, *next;       /* idle pool */
};

int pt_upstream_init_worker(const pt_conf_t *conf);
void pt_upstream_exit_worker(void);

/* The next server of u for a request of r by u's balance algorithm
 * (upstream_balance.h) among the servers that are up, not draining and
 * under max_conns (a server whose down time is over and whose trial this
 * call won comes first); after a failure on failed, another server (the
 * next on the ring for hash, else the next usable one after it). Backups
 * only when no primary can be tried. NULL: no server can be tried now
 * (pt_upstream_none_reason says why). r may be NULL (an internal call:
 * a hash upstream then goes round-robin). */
pt_server_t *pt_upstream_choose(const pt_upstream_t *u, const pt_server_t *failed,
                                pt_request_t *r);

/* pt_upstream_choose without a request. */
pt_server_t *pt_upstream_pick(const pt_upstream_t *u, const pt_server_t *failed);

/* Why the last choose of u in this worker returned NULL, for the 503:
 * every server down, draining, or at max_conns. */
const char *pt_upstream_none_reason(const pt_upstream_t *u);

/* Whether that was because every server that is up is at max_conns (a
 * request may then wait in the upstream's queue: upstream_queue.h). */
bool pt_upstream_saturated(const pt_upstream_t *u);

/* An idle pooled connection to s (reused = true), or a new one whose
 * connect may still be in progress (connected = false). fresh: skip the
 * pool. NULL with errno when the connect failed at once. */
pt_upconn_t *pt_upstream_get(pt_server_t *s, bool fresh);

/* u, just got, carries a health probe, not a request: it gives back the
 * in-flight count pt_upstream_get took (max_conns, least_conn and the
 * latency average are about requests). */
void pt_upstream_uncount(pt_upconn_t *u);

/* Check a connect in progress once the socket is writable: PT_OK
 * (connected; for a TLS upstream, the handshake is done too), PT_AGAIN
 * (still waiting) or PT_ERROR (errno set). */
int pt_upstream_connected(pt_upconn_t *u);

/* Done with u: keep it in the pool for the next request when keep is true
 * and there is room, else close it. */
void pt_upstream_release(pt_upconn_t *u, bool keep);

/* Close every idle pooled connection (the worker is retiring: nothing
 * will reuse them, and an upstream that is this very gateway would wait
 * on them). */
void pt_upstream_close_idle(void);

/* dns: close the idle connections to s, whose address changed or left
 * its name's set (upstream_dns.h). */
void pt_upstream_close_server_idle(pt_server_t *s);

/* Idle connections across pools (tests and stats). */
size_t pt_upstream_idle_count(void);

#endif
