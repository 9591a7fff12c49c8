/*
 * io.h: the I/O primitives client and upstream connections share, and the
 * transports under them.
 *
 * Sockets are edge-triggered for both directions, so each side keeps two
 * readiness flags: set by an event, cleared when a read or write comes back
 * short. Code acts on the flags, never waits for a second edge that will
 * not come. Pending output is a short list of iovecs into memory its owner
 * keeps alive until it is written.
 *
 * A transport other than plain TCP (TLS: worker/tls/) sets io->transport
 * and keeps the same contract through its ops; NULL is plain TCP, which
 * the primitives serve inline, so the plain path costs one test.
 */
#ifndef PT_IO_H
#define PT_IO_H

#include "common/pt.h"
#include "worker/core/event.h"

#include <sys/uio.h>

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

typedef struct pt_io_s pt_io_t;

/* A transport's side of the primitives below, same contracts: recv and
 * flush as pt_io_recv (called only when READABLE is set) and pt_io_flush;
 * shutdown says goodbye at the transport's level without waiting (the FIN
 * is the caller's); close ends the session and frees its state, setting
 * io->transport back to NULL (the fd is the caller's). */
typedef struct {
    ssize_t (*recv)(pt_io_t *io, char *p, size_t n);
    int (*flush)(pt_io_t *io);
    void (*shutdown)(pt_io_t *io);
    void (*close)(pt_io_t *io);
} pt_transport_t;

struct pt_io_s {
    pt_event_t ev;
    unsigned flags;
    const pt_transport_t *transport;    /* NULL: plain TCP */
    void *ssl;                      /* the transport's session (SSL *); NULL: plain, which
                                     * is how modules tell an encrypted connection */
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

/* Half-close: the transport's goodbye first (TLS close_notify), then the
 * FIN. PT_OK or PT_ERROR. */
int pt_io_shutdown(pt_io_t *io);

/* Close: end the transport's session, then remove the fd from the event
 * loop and close it. */
static inline void pt_io_close(pt_io_t *io)
{
    if (io->transport)
        io->transport->close(io);
    pt_event_close(&io->ev);
}

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

#endif
