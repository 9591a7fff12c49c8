/*
 * test_subrequest.c: internal calls against a scripted backend on
 * 127.0.0.1 that answers by path (one child process accepting, one
 * grandchild per connection, numbered so a test can tell a reused
 * connection from a new one by the X-Conn field of the answer).
 *
 * The worker pieces a subrequest needs are started as a worker starts
 * them (event loop, timers, buffers, upstream pools), with a hand-built
 * conf. Every wait is bounded; the backend is killed by pid at the end.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "worker/core/event.h"
#include "worker/core/timer.h"
#include "worker/http/request.h"
#include "worker/upstream/subrequest.h"
#include "worker/upstream/upstream.h"
#include "test/unit/tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS     3000

/* ---- the backend ---------------------------------------------------------- */

static void be_write(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0)
            _exit(0);
        s += k;
        n -= (size_t) k;
    }
}

#define be_puts(fd, s)  be_write(fd, s, strlen(s))

/* Read one request: its head into head (NUL-terminated) and its body
 * after it. Returns the bytes of both, 0 when the client closed. */
static size_t be_read_request(int fd, char *buf, size_t cap, char *method, char *path)
{
    size_t n = 0, need = 0;
    char *end = NULL;

    for (;;) {
        if (end && n >= need)
            break;
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            return 0;
        n += (size_t) k;
        buf[n] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            size_t head = (size_t) (end - buf) + 4, len = 0;
            for (char *p = buf; p < end; p = strstr(p, "\r\n") + 2)
                if (strncasecmp(p, "content-length:", 15) == 0)
                    len = strtoul(p + 15, NULL, 10);
            need = head + len;
        }
    }
    sscanf(buf, "%15s %255s", method, path);
    return n;
}

/* One connection: answer by path until the client goes or the script
 * ends the connection. */
static void be_serve(int fd, unsigned conn)
{
    static char req[65536];
    char method[16], path[256], xc[64], out[16384];

    snprintf(xc, sizeof(xc), "X-Conn: %u\r\n", conn);
    for (;;) {
        size_t n = be_read_request(fd, req, sizeof(req), method, path);
        if (n == 0)
            _exit(0);
        if (strcmp(path, "/len") == 0) {
            snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n%sContent-Length: 5\r\n\r\nhello", xc);
            be_puts(fd, out);
        } else if (strcmp(path, "/chunked") == 0) {
            snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n%sTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", xc);
            be_puts(fd, out);
        } else if (strcmp(path, "/close") == 0) {
            snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n%sContent-Type: text/plain\r\n\r\n"
                     "until ", xc);
            be_puts(fd, out);
            usleep(20000);
            be_puts(fd, "close");
            _exit(0);
        } else if (strcmp(path, "/interim") == 0) {
            be_puts(fd, "HTTP/1.1 100 Continue\r\n\r\n");
            usleep(10000);
            be_puts(fd, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        } else if (strcmp(path, "/big") == 0) {
            be_puts(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
            memset(out, 'x', 5000);
            be_write(fd, out, 5000);
        } else if (strcmp(path, "/bigchunked") == 0) {
            be_puts(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            memset(out, 'x', 700);
            for (int i = 0; i < 3; i++) {
                be_puts(fd, "2bc\r\n");
                be_write(fd, out, 700);
                be_puts(fd, "\r\n");
            }
            be_puts(fd, "0\r\n\r\n");
        } else if (strcmp(path, "/bigclose") == 0) {
            be_puts(fd, "HTTP/1.1 200 OK\r\n\r\n");
            memset(out, 'y', 3000);
            be_write(fd, out, 3000);
            _exit(0);
        } else if (strcmp(path, "/malformed") == 0) {
            be_puts(fd, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
        } else if (strcmp(path, "/badchunk") == 0) {
            be_puts(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        } else if (strcmp(path, "/truncated") == 0) {
            be_puts(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            _exit(0);
        } else if (strcmp(path, "/hang") == 0) {
            char c;
            while (read(fd, &c, 1) > 0)
                ;
            _exit(0);
        } else if (strcmp(path, "/echo") == 0) {
            snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
            be_puts(fd, out);
            be_write(fd, req, n);
        } else if (strcmp(path, "/bye") == 0) {
            /* Keep-alive by its head, then gone while the client idles. */
            snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n%sContent-Length: 3\r\n\r\nbye", xc);
            be_puts(fd, out);
            usleep(100000);
            _exit(0);
        } else if (strcmp(path, "/head") == 0) {
            snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n%sContent-Length: 10\r\n\r\n", xc);
            be_puts(fd, out);
        } else if (strcmp(path, "/nocontent") == 0) {
            snprintf(out, sizeof(out), "HTTP/1.1 204 No Content\r\n%s\r\n", xc);
            be_puts(fd, out);
        } else if (strcmp(path, "/http10") == 0) {
            be_puts(fd, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        } else if (strcmp(path, "/slow") == 0) {
            const char *parts[] = { "HTTP/1.1 200 O", "K\r\nTransfer-Enc", "oding: chunked\r\n",
                                    "\r\n3\r", "\nabc\r\n", "3\r\ndef", "\r\n0\r\n", "\r\n" };
            for (size_t i = 0; i < pt_countof(parts); i++) {
                be_puts(fd, parts[i]);
                usleep(5000);
            }
        } else if (strcmp(path, "/hugehead") == 0) {
            be_puts(fd, "HTTP/1.1 200 OK\r\n");
            for (int i = 0; i < 100; i++)
                be_puts(fd, "X-Padding: 0123456789012345678901234567890123456789"
                            "0123456789012345678901234567890123456789\r\n");
            be_puts(fd, "Content-Length: 0\r\n\r\n");
        } else if (strcmp(path, "/fields") == 0) {
            size_t k = (size_t) snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n");
            for (int i = 0; i < 300; i++)
                k += (size_t) snprintf(out + k, sizeof(out) - k, "X-F%d: v%d\r\n", i, i);
            k += (size_t) snprintf(out + k, sizeof(out) - k, "Content-Length: 2\r\n\r\nok");
            be_write(fd, out, k);
        } else {
            be_puts(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }
}

static pid_t be_start(int lfd)
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    signal(SIGCHLD, SIG_IGN);          /* connection children reap themselves */
    alarm(60);
    for (unsigned conn = 1;; conn++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (fork() == 0) {
            close(lfd);
            alarm(20);
            be_serve(fd, conn);
            _exit(0);
        }
        close(fd);
    }
}

/* A listening socket on 127.0.0.1, any port; its port in *port. */
static int be_listen(uint16_t *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0 || listen(fd, 64) != 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) != 0) {
        perror("backend socket");
        exit(1);
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

/* ---- the worker side ------------------------------------------------------ */

static pt_conf_t conf;
static pt_upstream_t ups[5];
static pt_server_t srv[6];
static char names[6][32];

enum { U_BACKEND = 0, U_REFUSED, U_FAILOVER, U_NOKEEP, U_FULL };

static void set_server(pt_server_t *s, char *name, pt_upstream_t *u, unsigned index,
                       uint16_t port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *) &s->addr.ss;

    snprintf(name, 32, "127.0.0.1:%u", port);
    memset(&s->addr, 0, sizeof(s->addr));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->addr.len = sizeof(*sin);
    s->name = name;
    s->upstream = u;
    s->index = index;
    s->weight = 1;
}

static void set_upstream(pt_upstream_t *u, const char *name, unsigned index, pt_server_t *s,
                         size_t n)
{
    u->name = name;
    u->index = index;
    u->servers = s;
    u->nservers = n;
    u->keepalive = 8;
    u->keepalive_timeout = 60000;
    u->keepalive_requests = 100;
    u->connect_timeout = 1000;
    u->send_timeout = 1000;
    u->read_timeout = 2000;
    u->max_response_header_size = 8192;
    u->retry = 1;
}

static void build_conf(uint16_t port, uint16_t dead_port, uint16_t full_port)
{
    set_upstream(&ups[U_BACKEND], "backend", U_BACKEND, &srv[0], 1);
    set_server(&srv[0], names[0], &ups[U_BACKEND], 0, port);
    set_upstream(&ups[U_REFUSED], "refused", U_REFUSED, &srv[1], 1);
    set_server(&srv[1], names[1], &ups[U_REFUSED], 0, dead_port);
    set_upstream(&ups[U_FAILOVER], "failover", U_FAILOVER, &srv[2], 2);
    set_server(&srv[2], names[2], &ups[U_FAILOVER], 0, dead_port);
    set_server(&srv[3], names[3], &ups[U_FAILOVER], 1, port);
    set_upstream(&ups[U_NOKEEP], "nokeep", U_NOKEEP, &srv[4], 1);
    set_server(&srv[4], names[4], &ups[U_NOKEEP], 0, port);
    ups[U_NOKEEP].keepalive = 0;
    set_upstream(&ups[U_FULL], "full", U_FULL, &srv[5], 1);
    set_server(&srv[5], names[5], &ups[U_FULL], 0, full_port);
    ups[U_FULL].connect_timeout = 200;
    conf.upstreams = ups;
    conf.nupstreams = pt_countof(ups);
}

typedef struct {
    int calls;
    int rc;
    unsigned status;
    char body[16384];
    size_t body_len;
    char error[128];
    char xconn[16];
    char field[64];             /* the value of field_name, if asked */
    const char *field_name;
    bool retried;
    bool nul_terminated;
    size_t idle_at_start;       /* pool size once start took its connection */
    size_t idle_at_done;        /* and once the connection was let go */
} result_t;

/* Whether the call gave its connection back to the pool. */
#define pooled(res)     ((res)->idle_at_done == (res)->idle_at_start + 1)

static void on_done(pt_subrequest_t *sr, int rc, void *data)
{
    result_t *res = data;
    pt_str_t v;

    res->calls++;
    res->idle_at_done = pt_upstream_idle_count();
    res->rc = rc;
    res->status = sr->status;
    res->retried = sr->retried;
    snprintf(res->error, sizeof(res->error), "%s", sr->error ? sr->error : "");
    if (rc == PT_OK) {
        res->body_len = pt_min(sr->body.len, sizeof(res->body));
        memcpy(res->body, sr->body.p, res->body_len);
        res->nul_terminated = sr->body.p[sr->body.len] == '\0';
        v = pt_subrequest_field(sr, "x-conn");
        snprintf(res->xconn, sizeof(res->xconn), "%.*s", (int) v.len, v.p ? v.p : "");
        if (res->field_name) {
            v = pt_subrequest_field(sr, res->field_name);
            snprintf(res->field, sizeof(res->field), "%.*s", (int) v.len, v.p ? v.p : "");
        }
    }
    /* A cancel from inside done is harmless. */
    pt_subrequest_cancel(sr);
}

static void loop_once(pt_msec_t cap)
{
    pt_msec_t t = pt_timer_next();

    if (t < 0 || t > cap)
        t = cap;
    pt_event_process(t);
    pt_timer_run();
}

static void run_until_done(result_t *res)
{
    pt_msec_t deadline = pt_clock_now + WAIT_MS;

    while (res->calls == 0 && pt_clock_now < deadline)
        loop_once(50);
}

static void run_for(pt_msec_t ms)
{
    pt_msec_t deadline = pt_clock_now + ms;

    while (pt_clock_now < deadline)
        loop_once(deadline - pt_clock_now);
}

static void call(unsigned up, const pt_subrequest_spec_t *spec, result_t *res)
{
    const char *field_name = res->field_name;

    memset(res, 0, sizeof(*res));
    res->field_name = field_name;
    pt_subrequest_t *sr = pt_subrequest_start(&ups[up], spec, on_done, res);
    res->idle_at_start = pt_upstream_idle_count();
    ok(sr != NULL, "%s: started", spec->path.p);
    is(res->calls, 0, "%s: done not called from inside start", spec->path.p);
    run_until_done(res);
    is(res->calls, 1, "%s: done called once", spec->path.p);
}

static void get(unsigned up, const char *path, result_t *res)
{
    pt_subrequest_spec_t spec = { .path = { path, strlen(path) } };

    call(up, &spec, res);
}

#define is_body(res, want, what) do {                                       \
    ok((res)->body_len == strlen(want) && memcmp((res)->body, want, strlen(want)) == 0, \
       "%s: body", what);                                                   \
    if ((res)->body_len != strlen(want) || memcmp((res)->body, want, strlen(want)) != 0) \
        diag("got %zu bytes \"%.*s\"", (res)->body_len, (int) (res)->body_len, (res)->body); \
} while (0)

/* ---- cases ---------------------------------------------------------------- */

static void test_framings(void)
{
    result_t r = { 0 };

    get(U_BACKEND, "/len", &r);
    is(r.rc, PT_OK, "Content-Length: ok");
    is(r.status, 200, "Content-Length: status");
    is_body(&r, "hello", "Content-Length");
    ok(pooled(&r), "Content-Length: connection pooled");
    ok(r.nul_terminated, "Content-Length: body NUL-terminated");

    get(U_BACKEND, "/chunked", &r);
    is(r.rc, PT_OK, "chunked: ok");
    is_body(&r, "hello world", "chunked (decoded, extension and trailer dropped)");

    ok(pooled(&r), "chunked: connection pooled");

    get(U_BACKEND, "/close", &r);
    is(r.rc, PT_OK, "close-delimited: ok");
    is_body(&r, "until close", "close-delimited");
    ok(!pooled(&r), "close-delimited: connection not pooled");

    get(U_BACKEND, "/interim", &r);
    is(r.rc, PT_OK, "1xx then 200: ok");
    is(r.status, 200, "1xx then 200: the final status");
    is_body(&r, "ok", "1xx then 200");

    get(U_BACKEND, "/slow", &r);
    is(r.rc, PT_OK, "head and chunks in pieces: ok");
    is_body(&r, "abcdef", "head and chunks in pieces");

    r.field_name = "X-F299";
    get(U_BACKEND, "/fields", &r);
    is(r.rc, PT_OK, "300 fields: ok (the field array grows)");
    is_str(r.field, "v299", "300 fields: the last one is there");
    r.field_name = NULL;

    pt_subrequest_spec_t head = { .method = "HEAD", .path = PT_STR("/head") };
    call(U_BACKEND, &head, &r);
    is(r.rc, PT_OK, "HEAD: ok");
    is(r.body_len, 0, "HEAD: no body despite Content-Length");
    ok(pooled(&r), "HEAD: connection pooled");
    char conn[16];
    snprintf(conn, sizeof(conn), "%s", r.xconn);
    get(U_BACKEND, "/len", &r);
    is_str(r.xconn, conn, "HEAD: the connection was reusable");

    get(U_BACKEND, "/nocontent", &r);
    is(r.status, 204, "204: status");
    is(r.body_len, 0, "204: no body");

    get(U_BACKEND, "/http10", &r);
    is_body(&r, "ok", "HTTP/1.0 answer");
    ok(!pooled(&r), "HTTP/1.0 without keep-alive: not pooled");

    get(U_BACKEND, "/nowhere", &r);
    is(r.rc, PT_OK, "404 is an answer, not a failure");
    is(r.status, 404, "404: status");
}

static void test_request_head(void)
{
    result_t r = { 0 };
    const pt_str_t fields[] = { PT_STR("X-Test"), PT_STR("yes"),
                                PT_STR("Connection"), PT_STR("close"),
                                PT_STR("Host"), PT_STR("evil") };
    pt_subrequest_spec_t spec = { .method = "POST", .path = PT_STR("/echo"), .fields = fields,
                              .nfields = 3, .body = PT_STR("abc=1") };
    char want[128];

    call(U_BACKEND, &spec, &r);
    is(r.rc, PT_OK, "POST: ok");
    r.body[pt_min(r.body_len, sizeof(r.body) - 1)] = '\0';
    ok(strncmp(r.body, "POST /echo HTTP/1.1\r\n", 21) == 0, "POST: request line");
    snprintf(want, sizeof(want), "\r\nHost: %s\r\n", names[0]);
    ok(strstr(r.body, want) != NULL, "POST: Host is the server's name by default");
    ok(strstr(r.body, "\r\nX-Test: yes\r\n") != NULL, "POST: the caller's field");
    ok(strstr(r.body, "evil") == NULL && strstr(r.body, "Connection") == NULL,
       "POST: the caller's Host and Connection are dropped");
    ok(strstr(r.body, "\r\nContent-Length: 5\r\n") != NULL, "POST: Content-Length");
    ok(r.body_len > 5 && memcmp(r.body + r.body_len - 9, "\r\n\r\nabc=1", 9) == 0,
       "POST: the body follows the head");

    pt_subrequest_spec_t host = { .path = PT_STR("/echo"), .host = PT_STR("api.example") };
    call(U_BACKEND, &host, &r);
    r.body[pt_min(r.body_len, sizeof(r.body) - 1)] = '\0';
    ok(strstr(r.body, "\r\nHost: api.example\r\n") != NULL, "GET: the spec's Host");
    ok(strstr(r.body, "Content-Length") == NULL, "GET: no Content-Length without a body");

    call(U_NOKEEP, &host, &r);
    r.body[pt_min(r.body_len, sizeof(r.body) - 1)] = '\0';
    ok(strstr(r.body, "\r\nConnection: close\r\n") != NULL,
       "keepalive = 0: the request says Connection: close");
}

static void test_failures(void)
{
    result_t r = { 0 };
    pt_subrequest_spec_t spec = { .path = PT_STR("/big"), .max_body = 1000 };

    call(U_BACKEND, &spec, &r);
    is(r.rc, PT_ERROR, "Content-Length over the cap: fails");
    is_str(r.error, "response body over the cap", "Content-Length over the cap: why");
    spec.path = PT_STR("/bigchunked");
    call(U_BACKEND, &spec, &r);
    is_str(r.error, "response body over the cap", "chunked over the cap");
    spec.path = PT_STR("/bigclose");
    call(U_BACKEND, &spec, &r);
    is_str(r.error, "response body over the cap", "close-delimited over the cap");
    spec.max_body = 5000;
    spec.path = PT_STR("/big");
    call(U_BACKEND, &spec, &r);
    is(r.body_len, 5000, "a body right at the cap is whole");

    get(U_BACKEND, "/malformed", &r);
    is(r.rc, PT_ERROR, "malformed head: fails");
    is_str(r.error, "malformed response", "malformed head: why");
    get(U_BACKEND, "/hugehead", &r);
    is_str(r.error, "response head too large", "head over max_response_header_size");
    get(U_BACKEND, "/badchunk", &r);
    is_str(r.error, "malformed response", "malformed chunk: why");
    get(U_BACKEND, "/truncated", &r);
    is_str(r.error, "connection closed before the response was complete", "truncated body");

    pt_subrequest_spec_t hang = { .path = PT_STR("/hang"), .timeout = 300 };
    call(U_BACKEND, &hang, &r);
    is(r.rc, PT_ERROR, "no answer: fails");
    is_str(r.error, "timed out", "no answer: why");
    ok(!pooled(&r), "no answer: the connection is not pooled");

    const pt_str_t bad[] = { PT_STR("X-Inject"), PT_STR("a\r\nEvil: 1") };
    pt_subrequest_spec_t inject = { .path = PT_STR("/len"), .fields = bad, .nfields = 1 };
    call(U_BACKEND, &inject, &r);
    is_str(r.error, "invalid request field", "a CR LF in a field value: refused, through done");
    pt_subrequest_spec_t target = { .path = PT_STR("/a b") };
    call(U_BACKEND, &target, &r);
    is_str(r.error, "invalid request target", "a space in the path: refused");

    get(U_REFUSED, "/len", &r);
    is(r.rc, PT_ERROR, "refused: fails");
    is_str(r.error, "connect failed", "refused: why");

    get(U_FAILOVER, "/len", &r);
    is(r.rc, PT_OK, "refused first server: the next one answers");
    is_body(&r, "hello", "failover");

    /* A listener whose accept queue is full drops our SYN: the connect
     * neither completes nor fails. */
    get(U_FULL, "/len", &r);
    is_str(r.error, "connect timed out", "a connect that never completes");
}

/* A listening socket nobody accepts from, its queue filled: connects to it
 * hang (Linux drops a SYN when the accept queue is full). The fillers stay
 * open until exit. */
static int full_listen(uint16_t *port, int fillers[3])
{
    int fd = be_listen(port);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(*port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

    listen(fd, 0);
    for (int i = 0; i < 3; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fillers[i], (struct sockaddr *) &sin, sizeof(sin));
    }
    usleep(50000);
    return fd;
}

static void test_pool(void)
{
    result_t r = { 0 };
    char first[16];

    get(U_BACKEND, "/len", &r);
    snprintf(first, sizeof(first), "%s", r.xconn);
    ok(first[0] != '\0', "keep-alive: the backend numbers its connections");
    ok(pooled(&r), "keep-alive: the connection went back to the pool");
    get(U_BACKEND, "/len", &r);
    is_str(r.xconn, first, "keep-alive: the second call reused it");
    ok(!r.retried, "keep-alive: no retry needed");

    /* The backend closes its side while the connection idles in the pool;
     * the loop does not run meanwhile, so the pool still offers it. */
    get(U_BACKEND, "/bye", &r);
    snprintf(first, sizeof(first), "%s", r.xconn);
    is_body(&r, "bye", "dead pooled: first answer");
    usleep(300000);
    get(U_BACKEND, "/len", &r);
    is(r.rc, PT_OK, "dead pooled: the call succeeds");
    ok(r.retried, "dead pooled: it was retried");
    is_str(r.error, "", "dead pooled: no error left from the dead connection");
    ok(strcmp(r.xconn, first) != 0, "dead pooled: on a fresh connection");
    is_body(&r, "hello", "dead pooled: body");

    /* Not idempotent: no retry on its own. */
    get(U_BACKEND, "/bye", &r);
    usleep(300000);
    pt_subrequest_spec_t post = { .method = "POST", .path = PT_STR("/len") };
    call(U_BACKEND, &post, &r);
    is(r.rc, PT_ERROR, "dead pooled, POST: fails");
    ok(strcmp(r.error, "connection closed before the response") == 0
       || strcmp(r.error, "connection failed before the response") == 0,
       "dead pooled, POST: why (%s)", r.error);
    get(U_BACKEND, "/bye", &r);
    usleep(300000);
    post.idempotent = true;
    call(U_BACKEND, &post, &r);
    is(r.rc, PT_OK, "dead pooled, POST marked idempotent: retried");
}

static void test_cancel(void)
{
    result_t r = { 0 };
    pt_subrequest_spec_t hang = { .path = PT_STR("/hang") };

    r.calls = 0;
    pt_subrequest_t *sr = pt_subrequest_start(&ups[U_BACKEND], &hang, on_done, &r);
    run_for(100);
    size_t timers = pt_timer_count();
    pt_subrequest_cancel(sr);
    ok(pt_timer_count() < timers, "cancel in flight: its timers are gone");
    run_for(200);
    is(r.calls, 0, "cancel in flight: done never called");

    sr = pt_subrequest_start(&ups[U_BACKEND], &hang, on_done, &r);
    pt_subrequest_cancel(sr);
    run_for(100);
    is(r.calls, 0, "cancel before the first step: done never called");

    sr = pt_subrequest_start(&ups[U_REFUSED], &hang, on_done, &r);
    pt_subrequest_cancel(sr);
    run_for(100);
    is(r.calls, 0, "cancel of a failed connect before it was reported");

    /* Bound to a request: the request's end cancels it. */
    pt_request_t req = { .arena = pt_arena_create(0, 0) };
    sr = pt_subrequest_start(&ups[U_BACKEND], &hang, on_done, &r);
    is(pt_subrequest_bind(sr, &req), PT_OK, "bind");
    run_for(50);
    pt_arena_destroy(req.arena);
    run_for(100);
    is(r.calls, 0, "bound: the request's end cancelled it");

    /* Bound, finished first: the request's end later is harmless. */
    req.arena = pt_arena_create(0, 0);
    pt_subrequest_spec_t len = { .path = PT_STR("/len") };
    sr = pt_subrequest_start(&ups[U_BACKEND], &len, on_done, &r);
    pt_subrequest_bind(sr, &req);
    run_until_done(&r);
    is(r.calls, 1, "bound: done called");
    pt_arena_destroy(req.arena);
    ok(1, "bound: the request ended after done");
}

int main(void)
{
    uint16_t port, dead_port, full_port;
    int lfd = be_listen(&port);
    int dfd = be_listen(&dead_port);
    int fillers[3];

    close(dfd);                 /* nothing listens there now: refused */
    signal(SIGPIPE, SIG_IGN);
    pid_t be = be_start(lfd);
    close(lfd);
    int ffd = full_listen(&full_port, fillers);

    pt_log_level = getenv("PT_TEST_DEBUG") ? PT_LOG_DEBUG : PT_LOG_CRIT;
    pt_clock_update();
    build_conf(port, dead_port, full_port);
    if (pt_event_init(64) != PT_OK || pt_timer_init() != PT_OK
        || pt_upstream_init_worker(&conf) != PT_OK) {
        printf("Bail out! cannot start the worker pieces\n");
        kill(be, SIGKILL);
        return 1;
    }
    pt_buf_pool_init(16);

    test_framings();
    test_request_head();
    test_failures();
    test_pool();
    test_cancel();

    is(pt_timer_count(), pt_upstream_idle_count(), "no timers left but the pool's");
    pt_upstream_exit_worker();
    is(pt_upstream_idle_count(), 0, "the pool is empty at exit");
    pt_timer_exit();
    pt_event_exit();
    kill(be, SIGKILL);
    waitpid(be, NULL, 0);
    for (int i = 0; i < 3; i++)
        close(fillers[i]);
    close(ffd);
    return done_testing();
}
