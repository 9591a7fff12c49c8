/*
 * upstream_dns_ares.c: c-ares on the worker's event loop, and blocking for
 * the master at load (see upstream_dns_ares.h).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "worker/core/event.h"
#include "worker/core/timer.h"
#include "worker/upstream/upstream_dns_ares.h"

#include <ares.h>
#include <netinet/in.h>
#include <poll.h>

#define PT_DNS_ARES_TRIES       2
#define PT_DNS_ARES_SOCKS       (2 * PT_UPSTREAM_DNS_RESOLVERS_MAX)     /* UDP and TCP each */

typedef struct {
    pt_event_t ev;
    bool used;
} pt_dns_ares_sock_t;

typedef struct {
    pt_upstream_dns_ares_done_pt done;
    void *data;
    uint16_t port;
} pt_dns_ares_query_t;

static ares_channel pt_dns_ares_channel;
static bool pt_dns_ares_channel_up;
static pt_timer_t pt_dns_ares_timer;
static pt_dns_ares_sock_t pt_dns_ares_socks[PT_DNS_ARES_SOCKS];

static unsigned pt_dns_ares_nresolvers(const pt_main_conf_t *m)
{
    unsigned n = 1;

    if (m->resolver == NULL)
        return 3;                   /* resolv.conf's MAXNS */
    for (const char *p = m->resolver; *p; p++)
        n += *p == ',';
    return n;
}

pt_msec_t pt_upstream_dns_ares_lease(const pt_main_conf_t *m)
{
    /* c-ares waits timeout per server in the first round, twice that in
     * the second. */
    return 3 * (pt_msec_t) pt_dns_ares_nresolvers(m) * m->resolver_timeout + 1000;
}

static int pt_dns_ares_make(ares_channel *ch, const pt_main_conf_t *m, bool on_loop,
                            ares_sock_state_cb cb, char *err, size_t errlen)
{
    static bool library_up;
    struct ares_options o;
    int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    int rc;

    if (!library_up) {
        if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
            snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
            return PT_ERROR;
        }
        library_up = true;
    }
    memset(&o, 0, sizeof(o));
    o.timeout = (int) pt_min(m->resolver_timeout, (pt_msec_t) INT32_MAX);
    o.tries = PT_DNS_ARES_TRIES;
    if (on_loop) {
        o.sock_state_cb = cb;
        mask |= ARES_OPT_SOCK_STATE_CB;
    }
    if ((rc = ares_init_options(ch, &o, mask)) != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        return PT_ERROR;
    }
    if (m->resolver && (rc = ares_set_servers_ports_csv(*ch, m->resolver)) != ARES_SUCCESS) {
        snprintf(err, errlen, "resolver \"%s\": %s", m->resolver, ares_strerror(rc));
        ares_destroy(*ch);
        return PT_ERROR;
    }
    return PT_OK;
}

/* The addresses of an answer, duplicates dropped, in the resolver's order. */
static unsigned pt_dns_ares_collect(const struct ares_addrinfo *ai, uint16_t port,
                                    pt_upstream_dns_addr_t *out, unsigned max, int *ttl)
{
    unsigned n = 0;

    *ttl = 0;
    for (const struct ares_addrinfo_node *nd = ai ? ai->nodes : NULL; nd; nd = nd->ai_next) {
        pt_upstream_dns_addr_t a;
        bool dup = false;
        if (!pt_upstream_dns_addr_from_sa(nd->ai_addr, port, &a))
            continue;
        for (unsigned k = 0; k < n && !dup; k++)
            dup = memcmp(&out[k], &a, sizeof(a)) == 0;
        if (dup)
            continue;
        if (nd->ai_ttl > 0 && (*ttl == 0 || nd->ai_ttl < *ttl))
            *ttl = nd->ai_ttl;
        if (n < max)
            out[n++] = a;
    }
    return n;
}

static void pt_dns_ares_hints(struct ares_addrinfo_hints *h)
{
    memset(h, 0, sizeof(*h));
    h->ai_family = AF_UNSPEC;
    h->ai_socktype = SOCK_STREAM;
    /* No RFC 6724 sorting: it connects a UDP socket per address to find
     * the source address, and the order of a set does not matter here. */
    h->ai_flags = ARES_AI_NOSORT;
}

/* ---- on the worker's loop ------------------------------------------------ */

static void pt_dns_ares_rearm(void)
{
    struct timeval tv, *tvp;

    if (!pt_dns_ares_channel_up)
        return;
    tvp = ares_timeout(pt_dns_ares_channel, NULL, &tv);
    if (tvp == NULL) {
        pt_timer_del(&pt_dns_ares_timer);
        return;
    }
    pt_msec_t ms = (pt_msec_t) tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000;
    pt_timer_set(&pt_dns_ares_timer, pt_max(ms, (pt_msec_t) 1));
}

static void pt_dns_ares_tick(pt_timer_t *t)
{
    (void) t;
    ares_process_fd(pt_dns_ares_channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    pt_dns_ares_rearm();
}

static void pt_dns_ares_sock_event(pt_event_t *ev, uint32_t events)
{
    pt_dns_ares_sock_t *s = ev->data;

    if (!s->used || !pt_dns_ares_channel_up)
        return;                     /* closed earlier in this batch */
    ares_socket_t fd = ev->fd;
    ares_process_fd(pt_dns_ares_channel,
                    events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP) ? fd : ARES_SOCKET_BAD,
                    events & EPOLLOUT ? fd : ARES_SOCKET_BAD);
    pt_dns_ares_rearm();
}

/* c-ares opened, closed or wants to write on a socket: level-triggered
 * interest in epoll, as c-ares reads one datagram per call. */
static void pt_dns_ares_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    pt_dns_ares_sock_t *s = NULL, *free_s = NULL;
    uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

    (void) data;
    for (size_t i = 0; i < PT_DNS_ARES_SOCKS; i++) {
        if (pt_dns_ares_socks[i].used && pt_dns_ares_socks[i].ev.fd == fd)
            s = &pt_dns_ares_socks[i];
        else if (!pt_dns_ares_socks[i].used && free_s == NULL)
            free_s = &pt_dns_ares_socks[i];
    }
    if (events == 0) {
        if (s) {
            pt_event_del(&s->ev);
            s->used = false;
        }
        return;
    }
    if (s) {
        if (pt_event_mod(&s->ev, events) != PT_OK)
            pt_log_errno(PT_LOG_ERR, errno, "resolver: epoll_ctl");
        return;
    }
    if (free_s == NULL) {
        /* Bounded by the resolver list; c-ares then times the query out. */
        pt_log(PT_LOG_ERR, "resolver: more than %d sockets open", PT_DNS_ARES_SOCKS);
        return;
    }
    free_s->ev.fd = fd;
    free_s->ev.handler = pt_dns_ares_sock_event;
    free_s->ev.data = free_s;
    free_s->used = true;
    if (pt_event_add(&free_s->ev, events) != PT_OK) {
        pt_log_errno(PT_LOG_ERR, errno, "resolver: epoll_ctl");
        free_s->used = false;
    }
}

int pt_upstream_dns_ares_init(const pt_main_conf_t *m)
{
    char err[256];

    if (pt_dns_ares_channel_up)
        return PT_OK;
    if (pt_dns_ares_make(&pt_dns_ares_channel, m, true, pt_dns_ares_sock_state, err,
                         sizeof(err)) != PT_OK) {
        pt_log(PT_LOG_ERR, "cannot start the resolver: %s", err);
        return PT_ERROR;
    }
    pt_dns_ares_channel_up = true;
    pt_timer_prepare(&pt_dns_ares_timer, pt_dns_ares_tick, NULL);
    return PT_OK;
}

void pt_upstream_dns_ares_exit(void)
{
    if (!pt_dns_ares_channel_up)
        return;
    pt_timer_del(&pt_dns_ares_timer);
    /* Callbacks see ARES_EDESTRUCTION and only free their query. */
    ares_destroy(pt_dns_ares_channel);
    pt_dns_ares_channel_up = false;
    memset(pt_dns_ares_socks, 0, sizeof(pt_dns_ares_socks));
}

static void pt_dns_ares_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    pt_dns_ares_query_t *q = arg;
    pt_upstream_dns_addr_t addrs[PT_UPSTREAM_DNS_SLOTS_MAX];
    unsigned n = 0;
    int ttl = 0;

    (void) timeouts;
    if (status == ARES_SUCCESS)
        n = pt_dns_ares_collect(ai, q->port, addrs, PT_UPSTREAM_DNS_SLOTS_MAX, &ttl);
    if (ai)
        ares_freeaddrinfo(ai);
    if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED) {
        if (status == ARES_SUCCESS && n == 0)
            q->done(q->data, false, "no address in the answer", NULL, 0, 0);
        else
            q->done(q->data, status == ARES_SUCCESS, ares_strerror(status), addrs, n, ttl);
    }
    free(q);
}

int pt_upstream_dns_ares_query(const char *host, uint16_t port, pt_upstream_dns_ares_done_pt done,
                               void *data)
{
    struct ares_addrinfo_hints h;
    pt_dns_ares_query_t *q;

    if (!pt_dns_ares_channel_up || (q = calloc(1, sizeof(*q))) == NULL)
        return PT_ERROR;
    q->done = done;
    q->data = data;
    q->port = port;
    pt_dns_ares_hints(&h);
    ares_getaddrinfo(pt_dns_ares_channel, host, NULL, &h, pt_dns_ares_answer, q);
    pt_dns_ares_rearm();
    return PT_OK;
}

/* ---- blocking, at load --------------------------------------------------- */

typedef struct {
    bool done;
    int status;
    unsigned n;
    int ttl;
    uint16_t port;
    unsigned max;
    pt_upstream_dns_addr_t *out;
} pt_dns_ares_wait_t;

static void pt_dns_ares_blocking_answer(void *arg, int status, int timeouts,
                                        struct ares_addrinfo *ai)
{
    pt_dns_ares_wait_t *w = arg;

    (void) timeouts;
    w->done = true;
    w->status = status;
    if (status == ARES_SUCCESS)
        w->n = pt_dns_ares_collect(ai, w->port, w->out, w->max, &w->ttl);
    if (ai)
        ares_freeaddrinfo(ai);
}

int pt_upstream_dns_resolve_blocking(const pt_main_conf_t *m, const char *host, uint16_t port,
                                     pt_upstream_dns_addr_t *out, unsigned max, unsigned *n,
                                     int *ttl, char *err, size_t errlen)
{
    pt_dns_ares_wait_t w = { .port = port, .max = max, .out = out };
    struct ares_addrinfo_hints h;
    ares_channel ch;

    if (pt_dns_ares_make(&ch, m, false, NULL, err, errlen) != PT_OK)
        return PT_ERROR;
    pt_dns_ares_hints(&h);
    ares_getaddrinfo(ch, host, NULL, &h, pt_dns_ares_blocking_answer, &w);
    pt_clock_update();
    pt_msec_t deadline = pt_clock_now + pt_upstream_dns_ares_lease(m);
    while (!w.done) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        struct timeval tv, *tvp;
        int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        nfds_t np = 0;

        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            /* c-ares's own macros shift a signed 1 into bit 31 */
            unsigned ubits = (unsigned) bits;
            short ev = (short) ((ubits >> i & 1u ? POLLIN : 0)
                                | (ubits >> (i + ARES_GETSOCK_MAXNUM) & 1u ? POLLOUT : 0));
            if (ev)
                pfd[np++] = (struct pollfd) { .fd = socks[i], .events = ev };
        }
        tvp = ares_timeout(ch, NULL, &tv);
        int ms = tvp ? (int) (tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000) : 100;
        int rc = poll(pfd, np, pt_max(ms, 1));
        for (nfds_t i = 0; rc > 0 && i < np; i++)
            if (pfd[i].revents)
                ares_process_fd(ch, pfd[i].revents & (POLLIN | POLLERR | POLLHUP)
                                        ? pfd[i].fd : ARES_SOCKET_BAD,
                                pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
        ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);     /* timeouts */
        pt_clock_update();
        if (!w.done && pt_clock_now > deadline) {
            ares_cancel(ch);        /* runs the callback with ARES_ECANCELLED */
            break;
        }
    }
    ares_destroy(ch);
    if (!w.done || w.status != ARES_SUCCESS) {
        snprintf(err, errlen, "%s", w.done ? ares_strerror(w.status) : "timed out");
        return PT_ERROR;
    }
    if (w.n == 0) {
        snprintf(err, errlen, "no address in the answer");
        return PT_ERROR;
    }
    *n = w.n;
    *ttl = w.ttl;
    return PT_OK;
}
