/*
 * tlsclient.c: the benchmark's TLS handshake client. Not part of portico.
 *
 *   tlsclient PORT VERSION MODE CONNS (-d SECONDS | -n COUNT)
 *
 *   VERSION  1.2 or 1.3 (the only version offered)
 *   MODE     new      every connection makes a full handshake (no session
 *                     offered)
 *            resume   every connection offers the newest ticket the server
 *                     has given (after one priming full handshake), reusing
 *                     it when the server gave no new one, as
 *                     `openssl s_time -reuse` does: the cost of a resumed
 *                     handshake to the server
 *            single   tickets are used once, as browsers and OpenSSL's own
 *                     client do in TLS 1.3 (RFC 8446, C.4): each connection
 *                     takes an unused ticket, or makes a full handshake when
 *                     there is none left; what resumption gives real clients
 *            get      one keep-alive connection (full handshake), then
 *                     exactly COUNT requests `GET /small`, one at a time,
 *                     each response checked to be a complete 200; prints
 *                     requests=N failed=F (for callgrind runs: the cost of
 *                     a request over TLS)
 *   CONNS    connections in flight at once
 *   -d S     run for S seconds (count what completes within them)
 *   -n N     make exactly N handshakes (for callgrind runs)
 *
 * Each connection: TCP connect, TLS handshake (SNI "localhost", ALPN
 * http/1.1), then a TCP half-close (FIN, no close_notify: OpenSSL drops
 * whatever comes after its own close_notify, and TLS 1.3 tickets come after
 * the handshake), then read to the server's close_notify or end of file, so
 * that every ticket the server sends is read, then close. No HTTP request is
 * sent. The client does not verify the certificate chain (it is
 * self-signed; the handshake signature is verified as always): that keeps
 * the load generator's own cost down.
 *
 * Prints one line of key=value pairs:
 *   handshakes=N resumed=R failed=F seconds=S rate=X tickets=T p50_ms=..
 *   p99_ms=.. max_ms=.. version=V cipher=C
 * (tickets: per connection, on average) and exits 0 when nothing failed.
 *
 * One thread, epoll, 127.0.0.1 only. Built by bench/run into a temp dir.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECT, ST_HANDSHAKE, ST_DRAIN };
enum { M_NEW, M_RESUME, M_SINGLE };

typedef struct {
    int fd;
    int state;
    SSL *ssl;
    double t0;
} conn_t;

#define POOL_MAX 4096
#define LAT_MAX (1 << 22)

static int port, epfd, mode;
static SSL_CTX *ctx;
static SSL_SESSION *latest;             /* resume: the newest ticket */
static SSL_SESSION *pool[POOL_MAX];     /* single: unused tickets */
static int npool;
static long long started, done_ok, resumed, failed, tickets, limit_n;
static double deadline;
static float *lat;                      /* per-handshake times, ms */
static char version_seen[32], cipher_seen[64];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void) ssl;
    tickets++;
    if (mode == M_SINGLE) {
        if (npool == POOL_MAX) {
            SSL_SESSION_free(pool[0]);
            memmove(pool, pool + 1, (POOL_MAX - 1) * sizeof(pool[0]));
            npool--;
        }
        pool[npool++] = sess;
        return 1;
    }
    if (latest)
        SSL_SESSION_free(latest);
    latest = sess;
    return 1;                   /* we keep the reference */
}

static int no_chain_check(X509_STORE_CTX *x, void *arg)
{
    (void) x;
    (void) arg;
    return 1;
}

static void want(conn_t *c, unsigned ev)
{
    struct epoll_event e = { .events = ev, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static int more_to_start(void)
{
    if (limit_n)
        return started < limit_n;
    return now() < deadline;
}

static void finish(conn_t *c, int ok);

static int start(conn_t *c)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;

    c->ssl = NULL;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    started++;
    c->t0 = now();
    struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
    c->state = ST_CONNECT;
    if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        finish(c, 0);
        return -1;
    }
    return 0;
}

static void finish(conn_t *c, int ok)
{
    double t = now();
    /* With -d, what completes after the deadline is not counted. */
    int counted = ok && (limit_n || t <= deadline);

    if (c->ssl) {
        if (counted && SSL_session_reused(c->ssl))
            resumed++;
        if (counted && version_seen[0] == '\0') {
            snprintf(version_seen, sizeof(version_seen), "%s", SSL_get_version(c->ssl));
            snprintf(cipher_seen, sizeof(cipher_seen), "%s", SSL_get_cipher_name(c->ssl));
        }
        /* Without this OpenSSL takes the connection for cut short (we sent
         * no close_notify) and marks its session not resumable. */
        if (ok)
            SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (counted) {
        if (done_ok < LAT_MAX)
            lat[done_ok] = (float) ((t - c->t0) * 1000.0);
        done_ok++;
    } else if (!ok) {
        failed++;
        if (getenv("TLSCLIENT_DEBUG"))
            ERR_print_errors_fp(stderr);
        ERR_clear_error();
    }
    if (more_to_start())
        start(c);
}

/* Drive one connection as far as it goes without waiting. */
static void step(conn_t *c)
{
    for (;;) {
        int n = 0, err;
        switch (c->state) {
        case ST_CONNECT: {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr) {
                finish(c, 0);
                return;
            }
            c->ssl = SSL_new(ctx);
            SSL_set_fd(c->ssl, c->fd);
            SSL_set_connect_state(c->ssl);
            SSL_set_tlsext_host_name(c->ssl, "localhost");
            if (mode == M_RESUME && latest) {
                /* A copy: an OpenSSL client offers a TLS 1.3 session only
                 * once (the object is marked used), the server cannot tell. */
                SSL_SESSION *s = SSL_SESSION_dup(latest);
                SSL_set_session(c->ssl, s);
                SSL_SESSION_free(s);
            } else if (mode == M_SINGLE && npool) {
                SSL_SESSION *s = pool[--npool];      /* the newest */
                SSL_set_session(c->ssl, s);
                SSL_SESSION_free(s);                 /* used: dropped */
            }
            c->state = ST_HANDSHAKE;
            continue;
        }
        case ST_HANDSHAKE:
            n = SSL_do_handshake(c->ssl);
            if (n == 1) {
                shutdown(c->fd, SHUT_WR);
                c->state = ST_DRAIN;
                continue;
            }
            break;
        case ST_DRAIN: {
            char buf[4096];
            n = SSL_read(c->ssl, buf, sizeof(buf));
            if (n > 0)
                continue;
            err = SSL_get_error(c->ssl, n);
            if (err == SSL_ERROR_WANT_READ) {
                want(c, EPOLLIN);
                return;
            }
            /* close_notify, or the end of the stream: done. */
            finish(c, err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL);
            return;
        }
        }
        err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ) {
            want(c, EPOLLIN);
            return;
        }
        if (err == SSL_ERROR_WANT_WRITE) {
            want(c, EPOLLOUT);
            return;
        }
        finish(c, 0);
        return;
    }
}

static int cmpf(const void *a, const void *b)
{
    float x = *(const float *) a, y = *(const float *) b;
    return x < y ? -1 : x > y;
}

static void run(conn_t *conns, int nconns, double hard_stop)
{
    struct epoll_event evs[256];

    for (;;) {
        int live = 0;
        for (int i = 0; i < nconns; i++)
            live += conns[i].fd >= 0;
        if (live == 0 || now() > hard_stop)
            return;
        int n = epoll_wait(epfd, evs, 256, 1000);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd >= 0)
                step(c);
        }
    }
}

/* Mode get: COUNT requests on one connection, blocking I/O. */
static int get_requests(long long count)
{
    static const char req[] = "GET /small HTTP/1.1\r\nHost: localhost\r\n\r\n";
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    char buf[65536];
    long long ok = 0, bad = 0;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        printf("requests=0 failed=%lld note=connect\n", count);
        return 1;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
        printf("requests=0 failed=%lld note=handshake\n", count);
        return 1;
    }
    for (long long i = 0; i < count; i++) {
        size_t got = 0;
        char *end = NULL;
        if (SSL_write(ssl, req, (int) sizeof(req) - 1) != (int) sizeof(req) - 1)
            break;
        while (end == NULL) {
            int n = SSL_read(ssl, buf + got, (int) (sizeof(buf) - 1 - got));
            if (n <= 0)
                goto out;
            got += (size_t) n;
            buf[got] = '\0';
            end = strstr(buf, "\r\n\r\n");
        }
        long long clen = -1;
        *end = '\0';
        char *cl = strcasestr(buf, "\r\ncontent-length:");
        if (cl)
            clen = atoll(cl + 17);
        *end = '\r';
        long long have = (long long) got - (end + 4 - buf);
        while (clen >= 0 && have < clen) {
            int n = SSL_read(ssl, buf, (int) sizeof(buf));
            if (n <= 0)
                goto out;
            have += n;
        }
        if (strncmp(buf, "HTTP/1.1 200", 12) == 0 && clen >= 0 && have == clen)
            ok++;
        else
            bad++;
    }
out:
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    bad += count - ok - bad;
    printf("requests=%lld failed=%lld\n", ok, bad);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 7 || (strcmp(argv[5], "-d") && strcmp(argv[5], "-n"))) {
        fprintf(stderr, "usage: tlsclient PORT 1.2|1.3 new|resume|single|get CONNS "
                        "-d SECONDS|-n COUNT\n");
        return 2;
    }
    port = atoi(argv[1]);
    int version = strcmp(argv[2], "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    mode = strcmp(argv[3], "resume") == 0 ? M_RESUME
           : strcmp(argv[3], "single") == 0 ? M_SINGLE : M_NEW;
    int nconns = atoi(argv[4]);
    double secs = 0;
    if (strcmp(argv[5], "-d") == 0)
        secs = atof(argv[6]);
    else
        limit_n = atoll(argv[6]);
    if (nconns < 1)
        nconns = 1;
    signal(SIGPIPE, SIG_IGN);
    lat = malloc(LAT_MAX * sizeof(*lat));

    static const unsigned char alpn[] = "\x08http/1.1";
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, no_chain_check, NULL);
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (strcmp(argv[3], "get") == 0)
        return get_requests(limit_n ? limit_n : 1);

    if (mode != M_NEW) {
        /* One priming full handshake for the first tickets (not counted). */
        conn_t c0 = { .fd = -1 };
        long long saved = limit_n;
        limit_n = 1;
        start(&c0);
        run(&c0, 1, now() + 10);
        if (tickets == 0) {
            printf("handshakes=0 resumed=0 failed=1 seconds=0 rate=0 tickets=0 p50_ms=0 "
                   "p99_ms=0 max_ms=0 version=- cipher=- note=no-ticket\n");
            return 1;
        }
        limit_n = saved;
        started = done_ok = resumed = failed = tickets = 0;
        version_seen[0] = '\0';
    }

    conn_t *conns = calloc((size_t) nconns, sizeof(*conns));
    for (int i = 0; i < nconns; i++)
        conns[i].fd = -1;
    double t_start = now();
    deadline = t_start + secs;
    for (int i = 0; i < nconns && more_to_start(); i++)
        start(&conns[i]);
    run(conns, nconns, t_start + (limit_n ? 3600 : secs + 10));
    double el = (limit_n ? now() : deadline) - t_start;
    long long nl = done_ok < LAT_MAX ? done_ok : LAT_MAX;
    double p50 = 0, p99 = 0, mx = 0;
    if (nl) {
        qsort(lat, (size_t) nl, sizeof(*lat), cmpf);
        p50 = lat[nl / 2];
        p99 = lat[(nl * 99) / 100];
        mx = lat[nl - 1];
    }
    printf("handshakes=%lld resumed=%lld failed=%lld seconds=%.3f rate=%.1f tickets=%.2f "
           "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f version=%s cipher=%s\n", done_ok, resumed,
           failed, el, el > 0 ? done_ok / el : 0.0, started ? (double) tickets / started : 0.0,
           p50, p99, mx, version_seen[0] ? version_seen : "-",
           cipher_seen[0] ? cipher_seen : "-");
    return failed ? 1 : 0;
}
