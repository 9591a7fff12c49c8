/*
 * proxy_tunnel.c: after 101 Switching Protocols the connection is no
 * longer HTTP: bytes go both ways as they come, each direction through one
 * buffer (client to server through the room after the request head in the
 * client's buffer, server to client through the upstream buffer). A FIN
 * is passed on as a half-close; the tunnel ends when both sides have
 * closed, on an error, or after tunnel_timeout without traffic.
 */
#include "common/pt.h"
#include "common/log.h"
#include "worker/proxy/proxy.h"


/* Move bytes from one socket to the other through [*pos, *last) of a
 * buffer whose free room starts at start and ends at end. Returns whether
 * anything moved; sets *eof when src has closed and everything is out, and
 * *busy when it stopped with bytes still to move: its share of this turn is
 * used up, and no edge will come for what is already readable. */
static bool pt_proxy_tunnel_move(pt_io_t *src, pt_io_t *dst, char *start, char *end,
                                 char **pos, char **last, bool *eof, bool *busy)
{
    bool moved = false;

    *busy = false;
    for (int round = 0; round < 16; round++) {
        if (pt_io_pending(dst) && pt_io_flush(dst) != PT_OK)
            return moved;
        if (*pos < *last) {
            struct iovec iov = { *pos, (size_t) (*last - *pos) };
            *pos = *last;
            moved = true;
            if (pt_io_send(dst, &iov, 1) != PT_OK)
                return moved;
            continue;
        }
        if (*eof)
            return moved;
        *pos = *last = start;
        ssize_t n = pt_io_recv(src, start, (size_t) (end - start));
        if (n == PT_AGAIN)
            return moved;
        if (n <= 0) {
            *eof = true;
            return moved;
        }
        *last += n;
        moved = true;
    }
    *busy = true;
    return moved;
}

void pt_proxy_tunnel_close(pt_proxy_t *p, const char *why)
{
    pt_request_t *r = p->r;

    pt_proxy_release_close(p);
    r->error_detail = why;
    r->keepalive = false;
    r->on_event = NULL;
    pt_request_finalize(r);
}

pt_proxy_result_t pt_proxy_tunnel_run(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_conn_t *c = r->conn;
    pt_upconn_t *up = p->up;
    pt_buf_t *cb = c->rbuf, *ub = up->buf;

    if (!p->client_head_queued) {
        struct iovec iov = { (void *) p->client_head.p, p->client_head.len };
        p->client_head_queued = true;
        pt_io_send(&c->io, &iov, 1);
        /* The tunnel starts after the request: after its head when it had
         * no body (bytes held since), else where the body's relay stopped
         * (what follows is the rest of the body, raw, then tunnel bytes). */
        if (r->body_kind == PT_BODY_NONE)
            r->body_pos = r->body_start;
        r->body_done = true;
    }
    if ((c->io.flags | up->io.flags) & PT_IO_ERROR)
        return (pt_proxy_result_t) { PT_PROXY_CLOSE, 0, "tunnel connection failed" };
    /* Bytes the client sent after its head are the tunnel's first. */
    char *cpos = r->body_pos, *clast = cb->last;
    bool busy1, busy2;
    bool m1 = pt_proxy_tunnel_move(&c->io, &up->io, r->body_start, cb->end, &cpos, &clast,
                                   &p->client_eof, &busy1);
    r->body_pos = cpos;
    cb->last = clast;
    bool m2 = pt_proxy_tunnel_move(&up->io, &c->io, ub->start, ub->end, &ub->pos, &ub->last,
                                   &p->up_eof, &busy2);
    if ((c->io.flags | up->io.flags) & PT_IO_ERROR)
        return (pt_proxy_result_t) { PT_PROXY_CLOSE, 0, "tunnel connection failed" };
    if (p->client_eof && !p->up_shut && !pt_io_pending(&up->io)) {
        pt_io_shutdown(&up->io);
        p->up_shut = true;
    }
    if (p->up_eof && !p->client_shut && !pt_io_pending(&c->io)) {
        pt_io_shutdown(&c->io);
        p->client_shut = true;
    }
    if (p->up_shut && p->client_shut)
        return (pt_proxy_result_t) { PT_PROXY_CLOSE, 0, NULL };
    if (busy1 || busy2)
        pt_event_post(&c->io.ev);       /* go on after the other connections' turn */
    if (m1 || m2 || !pt_timer_armed(&c->timer))
        pt_timer_set(&c->timer, p->conf->tunnel_timeout);
    if (pt_timer_armed(&up->timer))
        pt_timer_del(&up->timer);
    return (pt_proxy_result_t) { PT_PROXY_GO_ON, 0, NULL };
}
