/*
 * upstream.c: server choice, connecting and keep-alive pools.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sock.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_tls.h"
#include "worker/upstream/upstream_dns.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_balance.h"
#include "worker/upstream/upstream_queue.h"

#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    pt_upconn_t *head, *tail;       /* most recently used first */
    size_t n;
} pt_upstream_pool_t;

typedef struct {
    pt_upstream_pool_t *pools;      /* one per server */
    size_t idle;                    /* idle connections of this upstream */
} pt_upstream_state_t;

static const pt_conf_t *pt_upstream_conf;
static pt_upstream_state_t *pt_upstream_states;
static size_t pt_upstream_nidle;

int pt_upstream_init_worker(const pt_conf_t *conf)
{
    pt_upstream_conf = conf;
    pt_upstream_states = calloc(conf->nupstreams ? conf->nupstreams : 1,
                                sizeof(*pt_upstream_states));
    if (pt_upstream_states == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        const pt_upstream_t *u = &conf->upstreams[i];
        pt_upstream_state_t *st = &pt_upstream_states[i];
        st->pools = calloc(u->nservers, sizeof(*st->pools));
        if (st->pools == NULL)
            return PT_ERROR;
    }
    if (pt_upstream_dns_init_worker(conf) != PT_OK    /* dns */
        || pt_balance_init_worker(conf) != PT_OK || pt_upstream_queue_init_worker(conf) != PT_OK)
        return PT_ERROR;
    return pt_upstream_tls_init_worker(conf);
}

static void pt_upstream_close(pt_upconn_t *u);

void pt_upstream_exit_worker(void)
{
    if (pt_upstream_states == NULL)
        return;
    pt_upstream_dns_exit_worker();                  /* dns */
    pt_upstream_close_idle();
    for (size_t i = 0; i < pt_upstream_conf->nupstreams; i++)
        free(pt_upstream_states[i].pools);
    free(pt_upstream_states);
    pt_upstream_states = NULL;
    pt_upstream_queue_exit_worker();
    pt_balance_exit_worker();
    pt_upstream_tls_exit_worker();
}

pt_server_t *pt_upstream_pick(const pt_upstream_t *u, const pt_server_t *failed)
{
    return pt_balance_choose(u, failed, NULL);
}

pt_server_t *pt_upstream_choose(const pt_upstream_t *u, const pt_server_t *failed,
                                pt_request_t *r)
{
    return pt_balance_choose(u, failed, r);
}

const char *pt_upstream_none_reason(const pt_upstream_t *u)
{
    return pt_balance_none_reason(u);
}

bool pt_upstream_saturated(const pt_upstream_t *u)
{
    return pt_balance_saturated(u);
}

static pt_upstream_pool_t *pt_upstream_pool(const pt_server_t *s)
{
    return &pt_upstream_states[s->upstream->index].pools[s->index];
}

static void pt_upstream_unlink(pt_upconn_t *u)
{
    pt_upstream_pool_t *p = pt_upstream_pool(u->server);

    if (u->prev)
        u->prev->next = u->next;
    else
        p->head = u->next;
    if (u->next)
        u->next->prev = u->prev;
    else
        p->tail = u->prev;
    u->prev = u->next = NULL;
    u->pooled = false;
    p->n--;
    pt_upstream_states[u->server->upstream->index].idle--;
    pt_upstream_nidle--;
}

static void pt_upstream_free(void *p)
{
    free(p);
}

static void pt_upstream_close(pt_upconn_t *u)
{
    if (u->pooled)
        pt_upstream_unlink(u);
    pt_timer_del(&u->timer);
    pt_buf_put(u->buf);
    u->buf = NULL;
    pt_io_close(&u->io);
    pt_event_defer_free(u, pt_upstream_free);
}

/* An idle pooled connection got an event: the server closed it or sent
 * bytes nobody asked for. Either way it cannot be reused. */
static void pt_upstream_idle_event(pt_event_t *ev, uint32_t events)
{
    pt_upconn_t *u = ev->data;

    pt_io_events(&u->io, events);
    if (u->handler) {
        u->handler(u);
        return;
    }
    if (u->io.flags & PT_IO_READABLE)
        pt_upstream_close(u);
}

static void pt_upstream_idle_timeout(pt_timer_t *t)
{
    pt_upstream_close(t->data);
}

/* u is handed out for a request: it counts as in flight to its server
 * until pt_upstream_release. */
static void pt_upstream_busy(pt_upconn_t *u)
{
    u->counted = true;
    u->busy_us = u->server->upstream->balance == PT_BALANCE_EWMA ? pt_balance_now_us() : 0;
    pt_balance_acquire(u->server);
}

pt_upconn_t *pt_upstream_get(pt_server_t *s, bool fresh)
{
    pt_upstream_pool_t *p = pt_upstream_pool(s);

    while (!fresh && p->head) {
        pt_upconn_t *u = p->head;
        pt_upstream_unlink(u);
        if (u->io.flags & (PT_IO_READABLE | PT_IO_EOF | PT_IO_ERROR)) {
            pt_upstream_close(u);
            continue;
        }
        pt_timer_del(&u->timer);
        u->reused = true;
        pt_upstream_busy(u);
        return u;
    }

    int fd = pt_sock_connect(&s->addr);
    if (fd < 0)
        return NULL;
    pt_upconn_t *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    u->server = s;
    u->addr_version = s->addr_version;  /* dns */
    u->io.ev.fd = fd;
    u->io.ev.handler = pt_upstream_idle_event;
    u->io.ev.data = u;
    pt_timer_prepare(&u->timer, NULL, u);
    if (pt_event_add(&u->io.ev, PT_EV_RW) != PT_OK) {
        int err = errno;
        close(fd);
        free(u);
        errno = err;
        return NULL;
    }
    pt_upstream_busy(u);
    return u;
}

void pt_upstream_uncount(pt_upconn_t *u)
{
    if (!u->counted)
        return;
    u->counted = false;
    pt_balance_release(u->server, 0);
}

int pt_upstream_connected(pt_upconn_t *u)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (u->connected)
        return PT_OK;
    if (u->io.ssl)                  /* TCP is up; the TLS handshake goes on */
        return pt_upstream_tls_handshake(u);
    if (!(u->io.flags & (PT_IO_WRITABLE | PT_IO_ERROR | PT_IO_HUP)))
        return PT_AGAIN;
    if (getsockopt(u->io.ev.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0 && !(u->io.flags & PT_IO_WRITABLE))
        return PT_AGAIN;
    if (err != 0) {
        errno = err;
        return PT_ERROR;
    }
    if (u->server->upstream->tls)   /* connected once the handshake is done */
        return pt_upstream_tls_handshake(u);
    u->connected = true;
    return PT_OK;
}

void pt_upstream_release(pt_upconn_t *u, bool keep)
{
    const pt_upstream_t *up = u->server->upstream;
    pt_upstream_state_t *st = &pt_upstream_states[up->index];
    pt_upstream_pool_t *p = pt_upstream_pool(u->server);

    if (u->counted) {
        /* ewma: how long it was busy, once connected (a failed connect
         * says nothing of the server's latency) */
        uint64_t busy = u->busy_us && u->connected
                        ? pt_max(pt_balance_now_us() - u->busy_us, (uint64_t) 1) : 0;
        u->counted = false;
        pt_balance_release(u->server, busy);
        if (up->queue > 0)
            pt_upstream_queue_kick(up);
    }
    u->handler = NULL;
    u->owner = NULL;
    pt_buf_put(u->buf);
    u->buf = NULL;
    pt_timer_del(&u->timer);
    if (!keep || up->keepalive == 0 || pt_conn_draining
        || u->nrequests >= (unsigned) up->keepalive_requests
        || (u->io.flags & (PT_IO_EOF | PT_IO_ERROR | PT_IO_HUP)) || u->io.nout
        || u->addr_version != u->server->addr_version) {  /* dns: to an address gone */
        pt_upstream_close(u);
        return;
    }
    if (st->idle >= (size_t) up->keepalive) {
        /* Full: the least recently used of this server goes (or this one). */
        pt_upconn_t *old = p->tail;
        if (old == NULL) {
            pt_upstream_close(u);
            return;
        }
        pt_upstream_close(old);
    }
    u->reused = false;
    u->pooled = true;
    u->next = p->head;
    if (p->head)
        p->head->prev = u;
    p->head = u;
    if (p->tail == NULL)
        p->tail = u;
    p->n++;
    st->idle++;
    pt_upstream_nidle++;
    u->timer.handler = pt_upstream_idle_timeout;
    pt_timer_set(&u->timer, up->keepalive_timeout);
}

size_t pt_upstream_idle_count(void)
{
    return pt_upstream_nidle;
}

void pt_upstream_close_idle(void)
{
    if (pt_upstream_states == NULL)
        return;
    for (size_t i = 0; i < pt_upstream_conf->nupstreams; i++) {
        pt_upstream_state_t *st = &pt_upstream_states[i];
        for (size_t k = 0; k < pt_upstream_conf->upstreams[i].nservers; k++)
            while (st->pools[k].head)
                pt_upstream_close(st->pools[k].head);
    }
}

/* dns: the address of s changed or left (upstream_dns.c) */
void pt_upstream_close_server_idle(pt_server_t *s)
{
    if (pt_upstream_states == NULL)
        return;
    while (pt_upstream_pool(s)->head)
        pt_upstream_close(pt_upstream_pool(s)->head);
}
/* end dns */
