/*
 * io.c: the I/O primitives on plain sockets, and the hand-over to a
 * transport when one is set (see io.h).
 */
#include "common/pt.h"
#include "worker/net/io.h"

#include <sys/socket.h>

/* Out of line, so that the plain path only compares io->transport with
 * NULL and keeps no copy of it. */
static PT_NOINLINE ssize_t pt_io_recv_transport(pt_io_t *io, char *p, size_t n)
{
    return io->transport->recv(io, p, n);
}

static PT_NOINLINE int pt_io_flush_transport(pt_io_t *io)
{
    return io->transport->flush(io);
}

ssize_t pt_io_recv(pt_io_t *io, char *p, size_t n)
{
    if (!(io->flags & PT_IO_READABLE))
        return PT_AGAIN;
    if (pt_unlikely(io->transport != NULL))
        return pt_io_recv_transport(io, p, n);
    for (;;) {
        ssize_t got = recv(io->ev.fd, p, n, 0);
        if (got > 0) {
            /* A short read drained the socket: the next byte brings a new
             * edge. Unless the peer half-closed: then the FIN is still
             * queued behind the data and no edge will announce it. */
            if ((size_t) got < n && !(io->flags & PT_IO_HUP))
                io->flags &= ~PT_IO_READABLE;
            return got;
        }
        if (got == 0) {
            io->flags |= PT_IO_EOF;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            io->flags &= ~PT_IO_READABLE;
            return PT_AGAIN;
        }
        io->flags |= PT_IO_ERROR;
        return PT_ERROR;
    }
}

int pt_io_flush(pt_io_t *io)
{
    if (pt_unlikely(io->transport != NULL))
        return pt_io_flush_transport(io);
    while (io->nout) {
        if (!(io->flags & PT_IO_WRITABLE))
            return PT_AGAIN;
        struct msghdr mh = { .msg_iov = io->out, .msg_iovlen = io->nout };
        ssize_t n = sendmsg(io->ev.fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                io->flags &= ~PT_IO_WRITABLE;
                return PT_AGAIN;
            }
            io->flags |= PT_IO_ERROR;
            return PT_ERROR;
        }
        io->sent += (uint64_t) n;
        unsigned i = 0;
        size_t left = (size_t) n;
        while (i < io->nout && left >= io->out[i].iov_len)
            left -= io->out[i++].iov_len;
        if (i < io->nout) {
            io->out[i].iov_base = (char *) io->out[i].iov_base + left;
            io->out[i].iov_len -= left;
            /* The socket took less than offered: its buffer is full. */
            io->flags &= ~PT_IO_WRITABLE;
        }
        if (i)
            memmove(io->out, io->out + i, (io->nout - i) * sizeof(io->out[0]));
        io->nout -= i;
    }
    return PT_OK;
}

int pt_io_send(pt_io_t *io, const struct iovec *iov, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (iov[i].iov_len == 0)
            continue;
        PT_ASSERT(io->nout < PT_IO_IOV_MAX);
        io->out[io->nout++] = iov[i];
    }
    return pt_io_flush(io);
}

int pt_io_shutdown(pt_io_t *io)
{
    if (io->transport)
        io->transport->shutdown(io);
    return shutdown(io->ev.fd, SHUT_WR) == 0 ? PT_OK : PT_ERROR;
}
