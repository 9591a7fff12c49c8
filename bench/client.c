/*
 * client.c: the benchmark's deterministic clients. Not part of portico.
 *
 *   client load PORT TOTAL CONNS PATH [close]
 *       Send exactly TOTAL GET requests over CONNS connections, one request
 *       in flight per connection (keep-alive unless "close": then every
 *       request has its own connection and says Connection: close). Each
 *       response must be a complete 200 (Content-Length framing). Prints
 *       "ok N" or "failed K of N" and exits 0 only when all succeeded.
 *
 *   client hold PORT CONNS PATH
 *       Open CONNS keep-alive connections, send one request on each, read
 *       each response, print "ready N" and hold them all open until stdin
 *       reaches end of file (or SIGTERM).
 *
 * One thread, epoll, 127.0.0.1 only. Built by bench/run into a temp dir.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ 65536

typedef struct {
    int fd;
    int sent;                   /* request written, answer pending */
    size_t got;                 /* bytes buffered of the head */
    long long body_left;        /* -1: reading the head */
    char buf[8192];             /* the response head */
} cl_t;

static char scratch[BUFSZ];     /* body bytes are counted, not kept */

static int port, epfd;
static char req[512];
static size_t req_len;
static long long total, started, done_ok, failed;
static int close_mode;

static int open_conn(cl_t *c)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ee = { .events = EPOLLIN, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ee);
    return 0;
}

static int send_req(cl_t *c)
{
    size_t off = 0;
    while (off < req_len) {
        ssize_t n = send(c->fd, req + off, req_len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t) n;
    }
    c->sent = 1;
    c->got = 0;
    c->body_left = -1;
    return 0;
}

/* Parse the head in c->buf: 1 when the response is complete, 0 for more,
 * -1 bad. */
static int parse_head(cl_t *c)
{
    c->buf[c->got] = '\0';
    char *eoh = strstr(c->buf, "\r\n\r\n");
    if (eoh == NULL)
        return c->got + 1 >= sizeof(c->buf) ? -1 : 0;
    if (strncmp(c->buf, "HTTP/1.1 200 ", 13) != 0 && strncmp(c->buf, "HTTP/1.0 200 ", 13) != 0)
        return -1;
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl == NULL || cl > eoh)
        return -1;
    long long len = atoll(cl + 17);
    size_t after = c->got - (size_t) (eoh + 4 - c->buf);
    if ((long long) after > len)
        return -1;              /* we never pipeline: nothing may follow */
    c->body_left = len - (long long) after;
    return c->body_left == 0;
}

static int read_some(cl_t *c)
{
    for (;;) {
        char *p = c->body_left < 0 ? c->buf + c->got : scratch;
        size_t room = c->body_left < 0 ? sizeof(c->buf) - 1 - c->got : sizeof(scratch);
        ssize_t n = recv(c->fd, p, room, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -1;
        int rc;
        if (c->body_left < 0) {
            c->got += (size_t) n;
            rc = parse_head(c);
        } else if (n > c->body_left) {
            rc = -1;
        } else {
            c->body_left -= n;
            rc = c->body_left == 0;
        }
        if (rc != 0)
            return rc;
    }
}

static void drop(cl_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->sent = 0;
}

/* Start the next request on c (a new connection when needed). */
static void next(cl_t *c)
{
    while (started < total) {
        if (c->fd < 0 && open_conn(c) != 0) {
            started++;
            failed++;
            continue;
        }
        started++;
        if (send_req(c) == 0)
            return;
        failed++;
        drop(c);
    }
    drop(c);
}

static int run_load(int conns)
{
    cl_t *cs = calloc((size_t) conns, sizeof(*cs));
    struct epoll_event evs[256];
    int active = 0;

    if (cs == NULL)
        return 2;
    for (int i = 0; i < conns; i++) {
        cs[i].fd = -1;
        next(&cs[i]);
        active += cs[i].sent;
    }
    while (active > 0) {
        int n = epoll_wait(epfd, evs, 256, 30000);
        if (n == 0) {
            fprintf(stderr, "client: no progress for 30 s\n");
            failed += active;
            break;
        }
        for (int i = 0; i < n; i++) {
            cl_t *c = evs[i].data.ptr;
            int rc = read_some(c);
            if (rc == 0)
                continue;
            if (rc > 0)
                done_ok++;
            else
                failed++;
            if (rc < 0 || close_mode)
                drop(c);
            else
                c->sent = 0;
            next(c);
            if (!c->sent)
                active--;
        }
    }
    if (failed) {
        printf("failed %lld of %lld\n", failed, total);
        return 1;
    }
    printf("ok %lld\n", done_ok);
    return 0;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void) sig;
    stop = 1;
}

static int run_hold(int conns)
{
    cl_t **cs = calloc((size_t) conns, sizeof(*cs));
    int ready = 0, bad = 0;
    struct epoll_event evs[256];

    if (cs == NULL)
        return 2;
    for (int i = 0; i < conns; i++) {
        cs[i] = malloc(sizeof(cl_t));
        if (cs[i] == NULL || open_conn(cs[i]) != 0 || send_req(cs[i]) != 0) {
            fprintf(stderr, "client: cannot open connection %d: %s\n", i, strerror(errno));
            return 1;
        }
    }
    while (ready + bad < conns) {
        int n = epoll_wait(epfd, evs, 256, 30000);
        if (n <= 0) {
            fprintf(stderr, "client: only %d of %d answered\n", ready, conns);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            cl_t *c = evs[i].data.ptr;
            int rc = read_some(c);
            if (rc == 0)
                continue;
            epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
            if (rc > 0)
                ready++;
            else
                bad++;
        }
    }
    printf("ready %d\n", ready);
    fflush(stdout);
    if (bad)
        fprintf(stderr, "client: %d connections failed\n", bad);
    signal(SIGTERM, on_term);
    char b[64];
    while (!stop) {
        struct pollfd pf = { 0, POLLIN, 0 };
        if (poll(&pf, 1, 1000) > 0 && read(0, b, sizeof(b)) <= 0)
            break;
    }
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: client load PORT TOTAL CONNS PATH [close]\n"
                        "       client hold PORT CONNS PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    port = atoi(argv[2]);
    if (strcmp(argv[1], "load") == 0) {
        if (argc < 6)
            return 2;
        total = atoll(argv[3]);
        int conns = atoi(argv[4]);
        close_mode = argc > 6 && strcmp(argv[6], "close") == 0;
        req_len = (size_t) snprintf(req, sizeof(req),
                                    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                    "User-Agent: portico-bench\r\nAccept: */*\r\n%s\r\n",
                                    argv[5], port, close_mode ? "Connection: close\r\n" : "");
        return run_load(conns < 1 ? 1 : conns);
    }
    if (strcmp(argv[1], "hold") == 0) {
        req_len = (size_t) snprintf(req, sizeof(req),
                                    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                    "User-Agent: portico-bench\r\nAccept: */*\r\n\r\n",
                                    argv[4], port);
        return run_hold(atoi(argv[3]));
    }
    return 2;
}
