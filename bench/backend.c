/*
 * backend.c: the benchmark's origin server. Not part of portico.
 *
 * One thread, one epoll loop, keep-alive, pipelining. Every request gets
 * 200 with a fixed body: BIG bytes when the path starts with "/big", else
 * SMALL bytes. "Connection: close" in a request (or HTTP/1.0 without
 * keep-alive) is honoured: the answer says so and the connection closes
 * once it is written. Request bodies (Content-Length only) are skipped.
 *
 *   backend PORT [SMALL [BIG]]        defaults: 100 and 16384
 *
 * Built by bench/run with cc into a temporary directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RBUF 16384
#define MAXEV 256

typedef struct {
    int fd;
    char in[RBUF];
    size_t inlen;
    long long skip;             /* request body bytes still to discard */
    /* pending output: responses are static, so a queue of (which, offset) */
    int out_which[64];
    size_t out_off;             /* offset into out_which[0]'s response */
    int nout;
    int closing;                /* close once the output queue is empty */
    int want_out;               /* EPOLLOUT armed */
} conn_t;

static char *resp[2][2];        /* [big][close] */
static size_t resp_len[2][2];
static int epfd;

static void build(int big, int close_, size_t body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nServer: bench-backend\r\n"
                     "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                     body, close_ ? "Connection: close\r\n" : "");
    char *p = malloc((size_t) n + body);
    if (p == NULL)
        exit(1);
    memcpy(p, head, (size_t) n);
    for (size_t i = 0; i < body; i++)
        p[n + i] = (char) ('a' + i % 26);
    if (body)
        p[n + body - 1] = '\n';
    resp[big][close_] = p;
    resp_len[big][close_] = (size_t) n + body;
}

static void conn_close(conn_t *c)
{
    close(c->fd);
    free(c);
}

static void arm(conn_t *c, int out)
{
    if (c->want_out == out)
        return;
    struct epoll_event ee = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ee);
    c->want_out = out;
}

/* Write what is queued. -1: the connection is gone. */
static int flush(conn_t *c)
{
    while (c->nout) {
        struct iovec iov[64];
        int n = 0;
        for (int i = 0; i < c->nout; i++) {
            int w = c->out_which[i];
            const char *p = resp[w >> 1][w & 1];
            size_t len = resp_len[w >> 1][w & 1];
            size_t off = i == 0 ? c->out_off : 0;
            iov[n++] = (struct iovec) { (void *) (p + off), len - off };
        }
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t) n };
        ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                arm(c, 1);
                return 0;
            }
            return -1;
        }
        size_t left = (size_t) k;
        int done = 0;
        while (done < c->nout && left >= iov[done].iov_len) {
            left -= iov[done].iov_len;
            done++;
            c->out_off = 0;
        }
        c->out_off += left;
        if (done) {
            memmove(c->out_which, c->out_which + done, (size_t) (c->nout - done) * sizeof(int));
            c->nout -= done;
        }
        if (c->nout) {
            arm(c, 1);          /* the socket took less than offered */
            return 0;
        }
    }
    arm(c, 0);
    return c->closing ? -1 : 0;
}

static const char *find_header(const char *head, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = head, *end = head + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t) (end - p));
        if (eol == NULL)
            return NULL;
        if ((size_t) (eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            return p + nl + 1;
        p = eol + 1;
    }
    return NULL;
}

/* Parse every complete request in the buffer and queue its answer. */
static int handle(conn_t *c)
{
    size_t pos = 0;

    for (;;) {
        if (c->skip) {
            size_t take = c->inlen - pos < (size_t) c->skip ? c->inlen - pos : (size_t) c->skip;
            pos += take;
            c->skip -= (long long) take;
            if (c->skip)
                break;
        }
        if (c->closing || c->nout >= 64)
            break;
        char *start = c->in + pos;
        size_t avail = c->inlen - pos;
        char *eoh = memmem(start, avail, "\r\n\r\n", 4);
        if (eoh == NULL)
            break;
        size_t hlen = (size_t) (eoh - start) + 4;
        const char *sp = memchr(start, ' ', hlen);
        int big = sp && (size_t) (sp - start) + 5 < hlen && memcmp(sp + 1, "/big", 4) == 0;
        int http10 = memmem(start, hlen, " HTTP/1.0\r\n", 11) != NULL;
        const char *conn = find_header(start, hlen, "connection");
        int close_ = 0;
        if (conn) {
            while (*conn == ' ')
                conn++;
            if (strncasecmp(conn, "close", 5) == 0)
                close_ = 1;
            else if (http10 && strncasecmp(conn, "keep-alive", 10) != 0)
                close_ = 1;
        } else if (http10) {
            close_ = 1;
        }
        const char *cl = find_header(start, hlen, "content-length");
        if (cl)
            c->skip = atoll(cl);
        c->out_which[c->nout] = big << 1 | close_;
        c->nout++;
        pos += hlen;
        if (close_)
            c->closing = 1;
    }
    if (pos) {
        memmove(c->in, c->in + pos, c->inlen - pos);
        c->inlen -= pos;
    }
    if (c->inlen == sizeof(c->in))
        return -1;              /* a head larger than we care for */
    return flush(c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [SMALL [BIG]]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    size_t small = argc > 2 ? (size_t) atol(argv[2]) : 100;
    size_t bigsz = argc > 3 ? (size_t) atol(argv[3]) : 16384;
    build(0, 0, small);
    build(0, 1, small);
    build(1, 0, bigsz);
    build(1, 1, bigsz);
    signal(SIGPIPE, SIG_IGN);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(ls, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(ls, 4096) != 0) {
        perror("backend: bind/listen");
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &lev);
    fprintf(stderr, "backend: listening on 127.0.0.1:%d (small %zu, big %zu)\n", port, small,
            bigsz);

    struct epoll_event evs[MAXEV];
    for (;;) {
        int n = epoll_wait(epfd, evs, MAXEV, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("backend: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c == NULL) {
                for (int k = 0; k < 128; k++) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    conn_t *nc = calloc(1, sizeof(*nc));
                    if (nc == NULL) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    struct epoll_event ee = { .events = EPOLLIN, .data.ptr = nc };
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ee);
                    /* The request often came with the handshake: try now. */
                    ssize_t k = recv(fd, nc->in, sizeof(nc->in), 0);
                    if (k > 0) {
                        nc->inlen = (size_t) k;
                        if (handle(nc) < 0)
                            conn_close(nc);
                    } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                        conn_close(nc);
                    }
                }
                continue;
            }
            int dead = 0;
            if (evs[i].events & EPOLLOUT)
                dead = flush(c) < 0;
            if (!dead && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                ssize_t k = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
                    dead = 1;
                else if (k > 0) {
                    c->inlen += (size_t) k;
                    dead = handle(c) < 0;
                }
            }
            if (!dead && c->nout == 0 && c->inlen && !c->closing)
                dead = handle(c) < 0;
            if (dead)
                conn_close(c);
        }
    }
}
