/*
 * test_io.c: the I/O primitives on a plain socket pair and their hand-over
 * to a transport: a plain io reads, writes and keeps the readiness flags
 * as io.h says; an io with a transport goes through its ops for recv,
 * flush, shutdown and close, and is plain again once the transport closed.
 */
#include "common/pt.h"

#include <sys/socket.h>
#include <unistd.h>

#include "worker/core/event.h"
#include "worker/net/io.h"
#include "test/unit/tap.h"

static int test_recvs, test_flushes, test_shutdowns, test_closes;

static ssize_t test_recv(pt_io_t *io, char *p, size_t n)
{
    test_recvs++;
    memcpy(p, "tls", 3);
    return 3;
}

static int test_flush(pt_io_t *io)
{
    test_flushes++;
    io->nout = 0;
    return PT_OK;
}

static void test_shutdown(pt_io_t *io)
{
    test_shutdowns++;
}

static void test_close(pt_io_t *io)
{
    test_closes++;
    io->transport = NULL;
}

static const pt_transport_t test_transport = {
    .recv = test_recv, .flush = test_flush, .shutdown = test_shutdown, .close = test_close,
};

int main(void)
{
    int sv[2];
    char buf[64];
    pt_io_t io = { 0 };

    ok(pt_event_init(8) == PT_OK, "event loop");
    ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0, "a socket pair");
    io.ev.fd = sv[0];

    /* plain */
    is(pt_io_recv(&io, buf, sizeof(buf)), PT_AGAIN, "plain: not readable, no read tried");
    io.flags = PT_IO_READABLE | PT_IO_WRITABLE;
    is(pt_io_recv(&io, buf, sizeof(buf)), PT_AGAIN, "plain: nothing there: PT_AGAIN");
    ok(!(io.flags & PT_IO_READABLE), "and READABLE is cleared");
    struct iovec iov[2] = { { "hello ", 6 }, { "world", 5 } };
    is(pt_io_send(&io, iov, 2), PT_OK, "plain: two iovecs written at once");
    is(io.sent, 11, "sent counts them");
    ok(!pt_io_pending(&io), "nothing pending");
    ok(read(sv[1], buf, sizeof(buf)) == 11 && memcmp(buf, "hello world", 11) == 0,
       "the peer reads them in order");
    ok(write(sv[1], "abc", 3) == 3, "the peer writes 3 bytes");
    pt_io_events(&io, EPOLLIN);
    is(pt_io_recv(&io, buf, sizeof(buf)), 3, "plain: a short read of 3");
    ok(!(io.flags & PT_IO_READABLE), "a short read clears READABLE");

    /* a transport */
    io.transport = &test_transport;
    io.flags |= PT_IO_READABLE;
    is(pt_io_recv(&io, buf, sizeof(buf)), 3, "transport: recv goes through its op");
    ok(test_recvs == 1 && memcmp(buf, "tls", 3) == 0, "which filled the buffer");
    io.flags &= ~PT_IO_READABLE;
    is(pt_io_recv(&io, buf, sizeof(buf)), PT_AGAIN, "transport: not readable, op not called");
    is(test_recvs, 1, "still one recv");
    is(pt_io_send(&io, iov, 1), PT_OK, "transport: send queues and flushes through its op");
    is(test_flushes, 1, "one flush");
    is(pt_io_shutdown(&io), PT_OK, "transport: shutdown");
    is(test_shutdowns, 1, "said goodbye through its op first");
    pt_io_close(&io);
    is(test_closes, 1, "close ended the transport");
    ok(io.transport == NULL && io.ev.fd == -1, "the io is plain and its fd closed");

    close(sv[1]);
    pt_event_exit();
    return done_testing();
}
