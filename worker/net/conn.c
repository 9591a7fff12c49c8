/*
 * conn.c: accepting, closing and lingering client connections.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sock.h"
#include "worker/core/module.h"
#include "worker/net/conn.h"
#include "worker/net/conn_metrics.h"
#include "worker/net/proto.h"

#include <arpa/inet.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#define PT_CONN_ACCEPT_BATCH    64
#define PT_CONN_LINGER_BUF      4096
#define PT_CONN_FREE_MAX        1024

unsigned pt_conn_active;
bool pt_conn_draining;

static pt_conn_t *pt_conn_list;     /* every open connection */
static pt_conn_t *pt_conn_free;     /* recycled structs */
static unsigned pt_conn_nfree;
static uint64_t pt_conn_next_id;
static pt_conn_hooks_t pt_conn_hooks = { .max_conns = UINT_MAX };
/* The modules' accept hooks, only those set: none costs one test. */
static int (*pt_conn_accept_hooks[PT_MODULES_MAX])(pt_conn_t *c);
static size_t pt_conn_naccept_hooks;

const char *pt_conn_peer_ip(pt_conn_t *c)
{
    if (c->peer_ip[0] == '\0')
        pt_sock_ntop_host(&c->peer.sa, c->peer_ip, sizeof(c->peer_ip));
    return c->peer_ip;
}

static void pt_conn_event(pt_event_t *ev, uint32_t events)
{
    pt_conn_t *c = ev->data;

    pt_io_events(&c->io, events);
    if (c->io.nout && (c->io.flags & PT_IO_WRITABLE) && pt_io_flush(&c->io) == PT_ERROR)
        c->io.flags |= PT_IO_ERROR;
    c->handler(c);
}

static void pt_conn_free_struct(void *p)
{
    pt_conn_t *c = p;

    if (pt_conn_nfree >= PT_CONN_FREE_MAX) {
        free(c);
        return;
    }
    c->next = pt_conn_free;
    pt_conn_free = c;
    pt_conn_nfree++;
}

static pt_conn_t *pt_conn_new(void)
{
    pt_conn_t *c = pt_conn_free;

    if (c != NULL) {
        pt_conn_free = c->next;
        pt_conn_nfree--;
        memset(c, 0, sizeof(*c));
        return c;
    }
    return calloc(1, sizeof(*c));
}

void pt_conn_setup(const pt_conn_hooks_t *hooks)
{
    pt_conn_hooks = *hooks;
}

void pt_conn_accept_setup(const pt_module_t *const *modules)
{
    pt_conn_naccept_hooks = 0;
    for (size_t i = 0; modules[i] && pt_conn_naccept_hooks < PT_MODULES_MAX; i++)
        if (modules[i]->accept)
            pt_conn_accept_hooks[pt_conn_naccept_hooks++] = modules[i]->accept;
}

static int pt_conn_accept_hooks_run(pt_conn_t *c)
{
    for (size_t i = 0; i < pt_conn_naccept_hooks; i++)
        if (pt_conn_accept_hooks[i](c) != PT_OK)
            return PT_ERROR;
    return PT_OK;
}

void pt_conn_accept(pt_event_t *ev, uint32_t events)
{
    const pt_listener_t *l = ev->data;

    for (int i = 0; i < PT_CONN_ACCEPT_BATCH; i++) {
        if (pt_conn_active >= pt_conn_hooks.max_conns) {
            if (pt_conn_hooks.on_limit)
                pt_conn_hooks.on_limit(true);
            return;
        }
        pt_conn_t *c = pt_conn_new();
        if (c == NULL) {
            pt_log(PT_LOG_CRIT, "out of memory accepting a connection");
            return;
        }
        socklen_t len = sizeof(c->peer);
        int fd = accept4(ev->fd, &c->peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            pt_conn_free_struct(c);
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
                return;
            if (err == EMFILE || err == ENFILE) {
                pt_log_errno(PT_LOG_CRIT, err, "accept on %s", l->address);
                if (pt_conn_hooks.on_limit)
                    pt_conn_hooks.on_limit(false);
                return;
            }
            /* ECONNABORTED and friends: that one client is gone. */
            pt_log_errno(PT_LOG_INFO, err, "accept on %s", l->address);
            continue;
        }
        c->io.ev.fd = fd;
        c->io.ev.handler = pt_conn_event;
        c->io.ev.data = c;
        /* Clients send their request right after connecting: it is often
         * here already, so try reading before waiting for an edge. */
        c->io.flags = PT_IO_WRITABLE | PT_IO_READABLE;
        c->listener = l;
        /* A listener built by hand (tests) names no protocol: the default. */
        c->proto = l->proto ? l->proto : pt_protos[0];
        c->conf = pt_worker_conf;
        c->id = ++pt_conn_next_id;
        pt_timer_prepare(&c->timer, NULL, c);
        if (pt_event_add(&c->io.ev, PT_EV_RW) != PT_OK) {
            close(fd);
            pt_conn_free_struct(c);
            continue;
        }
        c->next = pt_conn_list;
        if (pt_conn_list)
            pt_conn_list->prev = c;
        pt_conn_list = c;
        pt_conn_active++;
        pt_conn_metric_open(c);
        if (pt_unlikely(pt_conn_naccept_hooks) && pt_conn_accept_hooks_run(c) != PT_OK) {
            pt_conn_close(c);
            continue;
        }
        if (l->handshake)
            l->handshake(c);        /* TLS: then c->proto->init() */
        else
            c->proto->init(c);
    }
}

void pt_conn_close(pt_conn_t *c)
{
    c->proto->close(c);
    pt_buf_put(c->rbuf);
    c->rbuf = NULL;
    pt_timer_del(&c->timer);
    pt_io_close(&c->io);
    if (c->prev)
        c->prev->next = c->next;
    else
        pt_conn_list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    pt_conn_active--;
    pt_conn_metric_close(c);
    pt_event_defer_free(c, pt_conn_free_struct);
    if (pt_conn_hooks.on_closed)
        pt_conn_hooks.on_closed();
}

void pt_conn_reset(pt_conn_t *c)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    /* RST, not FIN; and no TLS close_notify (PT_IO_ERROR stops it). */
    setsockopt(c->io.ev.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    c->io.flags |= PT_IO_ERROR;
    pt_conn_close(c);
}

static void pt_conn_linger_timeout(pt_timer_t *t)
{
    pt_conn_close(t->data);
}

static void pt_conn_linger_handler(pt_conn_t *c)
{
    char buf[PT_CONN_LINGER_BUF];

    for (int i = 0; i < 64; i++) {
        ssize_t n = pt_io_recv(&c->io, buf, sizeof(buf));
        if (n == PT_AGAIN)
            return;
        if (n <= 0) {
            pt_conn_close(c);
            return;
        }
    }
    /* More is queued: come back after others had their turn (no edge will
     * announce bytes that are already there). */
    pt_event_post(&c->io.ev);
}

static void pt_conn_linger_start(pt_conn_t *c)
{
    c->proto->close(c);
    pt_buf_put(c->rbuf);
    c->rbuf = NULL;
    if (pt_io_shutdown(&c->io) != PT_OK) {
        pt_conn_close(c);
        return;
    }
    c->lingering = true;
    c->handler = pt_conn_linger_handler;
    c->timer.handler = pt_conn_linger_timeout;
    pt_timer_set(&c->timer, c->listener->c.lingering_timeout);
    pt_conn_linger_handler(c);
}

/* The response is still going out (from memory the request owns): finish
 * sending it, then linger. */
static void pt_conn_linger_flush(pt_conn_t *c)
{
    if (c->io.flags & PT_IO_ERROR) {
        pt_conn_close(c);
        return;
    }
    if (c->io.nout == 0)
        pt_conn_linger_start(c);
}

void pt_conn_linger(pt_conn_t *c)
{
    c->closing = true;
    if (c->io.nout == 0) {
        pt_conn_linger_start(c);
        return;
    }
    c->handler = pt_conn_linger_flush;
    c->timer.handler = pt_conn_linger_timeout;
    pt_timer_set(&c->timer, c->listener->c.send_timeout);
}

void pt_conn_drain_all(void)
{
    pt_conn_draining = true;
    for (pt_conn_t *c = pt_conn_list, *next; c; c = next) {
        next = c->next;
        c->proto->drain(c);
    }
}

void pt_conn_close_all(void)
{
    while (pt_conn_list)
        pt_conn_close(pt_conn_list);
}
