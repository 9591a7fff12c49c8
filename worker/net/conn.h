/*
 * conn.h: client connections and the I/O primitives shared with upstream
 * connections.
 *
 * Sockets are edge-triggered for both directions, so each side keeps two
 * readiness flags: set by an event, cleared when a read or write comes back
 * short. Code acts on the flags, never waits for a second edge that will
 * not come. Pending output is a short list of iovecs into memory its owner
 * keeps alive until it is written.
 */
#ifndef PT_CONN_H
#define PT_CONN_H

#include "common/pt.h"
#include "common/buf.h"
#include "worker/core/core.h"
#include "worker/core/event.h"
#include "worker/core/timer.h"

#include <sys/uio.h>
#include <netinet/in.h>

#define PT_IO_READABLE      0x01    /* an edge said readable, no short read since */
#define PT_IO_WRITABLE      0x02
#define PT_IO_EOF           0x04    /* read returned 0 */
#define PT_IO_ERROR         0x08
#define PT_IO_HUP           0x10    /* the peer half-closed: a short read does not drain */
#define PT_IO_READ_WANTS_W  0x20    /* TLS: a read waits for the socket to take output */
#define PT_IO_WRITE_WANTS_R 0x40    /* TLS: a write waits for input */

/* Pending output slots: a head and a few body spans. Every connection,
 * idle ones included, carries them, so they are few. */
#define PT_IO_IOV_MAX       8

/* The transport both client and upstream connections use: plain, or TLS
 * through the same calls when ssl is set (worker/tls.h). */
typedef struct pt_io_s pt_io_t;
struct pt_io_s {
    pt_event_t ev;
    unsigned flags;
    void *ssl;                      /* SSL *, or NULL: plain */
    unsigned nout;                  /* pending iovecs */
    struct iovec out[PT_IO_IOV_MAX];
    uint64_t sent;                  /* bytes written over the life of the io */
};

/* Read up to n bytes into p: > 0 bytes read, 0 at EOF (PT_IO_EOF set),
 * PT_AGAIN (not readable now), PT_ERROR (errno kept; PT_IO_ERROR set). */
ssize_t pt_io_recv(pt_io_t *io, char *p, size_t n);

/* Queue iov[0..n) after any pending output and write as much as the socket
 * takes. PT_OK: nothing pending; PT_AGAIN: some output pending (flushed by
 * pt_io_flush on the next writable edge); PT_ERROR: the peer is gone. */
int pt_io_send(pt_io_t *io, const struct iovec *iov, unsigned n);
int pt_io_flush(pt_io_t *io);

/* Half-close: close_notify first on TLS, then the FIN. PT_OK or PT_ERROR. */
int pt_io_shutdown(pt_io_t *io);

static inline bool pt_io_pending(const pt_io_t *io)
{
    return io->nout != 0;
}

/* Update readiness flags from epoll events. */
static inline void pt_io_events(pt_io_t *io, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        io->flags |= PT_IO_READABLE;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        io->flags |= PT_IO_HUP;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        io->flags |= PT_IO_WRITABLE;
    /* TLS: a read that waited for the socket to drain, or a write that
     * waited for input, may go on now. */
    if (pt_unlikely(io->flags & (PT_IO_READ_WANTS_W | PT_IO_WRITE_WANTS_R))) {
        if ((io->flags & (PT_IO_READ_WANTS_W | PT_IO_WRITABLE))
            == (PT_IO_READ_WANTS_W | PT_IO_WRITABLE))
            io->flags |= PT_IO_READABLE;
        if ((io->flags & (PT_IO_WRITE_WANTS_R | PT_IO_READABLE))
            == (PT_IO_WRITE_WANTS_R | PT_IO_READABLE))
            io->flags |= PT_IO_WRITABLE;
    }
}

typedef void (*pt_conn_handler_pt)(pt_conn_t *c);

struct pt_conn_s {
    pt_io_t io;
    const pt_listener_t *listener;
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
    pt_request_t *req;
    pt_timer_t timer;
    unsigned nrequests;
    bool closing;                   /* no more requests on this connection */
    bool lingering;
    pt_conn_t *prev, *next;         /* all connections of this worker */
};

/* Per-worker connection accounting. */
extern unsigned pt_conn_active;
extern bool pt_conn_draining;       /* the worker is retiring */

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
