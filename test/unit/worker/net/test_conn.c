/*
 * test_conn.c: the modules' accept hooks on new client connections, run
 * through pt_conn_accept on a real socket pair over 127.0.0.1 with
 * test-only modules: only modules that set the hook are called, PT_OK
 * lets the connection on to HTTP, PT_ERROR closes it before anything is
 * read, and a refusal stops the later hooks. A connection let on gets
 * HTTP, whose gateway-made 400 shows in the core's counters.
 */
#include "common/pt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "worker/core/event.h"
#include "worker/core/module.h"
#include "worker/core/timer.h"
#include "worker/core/worker.h"
#include "worker/net/conn.h"
#include "test/unit/tap.h"

static int test_first_verdict, test_first_seen, test_second_seen;
static char test_peer[64];

static int test_first_accept(pt_conn_t *c)
{
    test_first_seen++;
    snprintf(test_peer, sizeof(test_peer), "%s", pt_conn_peer_ip(c));
    return test_first_verdict;
}

static int test_second_accept(pt_conn_t *c)
{
    test_second_seen++;
    return PT_OK;
}

static int test_limits, test_limit_at, test_closed_seen;

static void test_on_limit(bool at_limit)
{
    test_limits++;
    test_limit_at = at_limit;
}

static void test_on_closed(void)
{
    test_closed_seen++;
}

static pt_module_t test_plain = { .name = "test_plain" };
static pt_module_t test_first = { .name = "test_first", .accept = test_first_accept };
static pt_module_t test_second = { .name = "test_second", .accept = test_second_accept };

static const pt_module_t *const test_none[] = { &test_plain, NULL };
static const pt_module_t *const test_both[] = { &test_plain, &test_first, &test_second, NULL };

static int test_listen(struct sockaddr_in *sin)
{
    socklen_t len = sizeof(*sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) sin, sizeof(*sin)) != 0 || listen(fd, 16) != 0
        || getsockname(fd, (struct sockaddr *) sin, &len) != 0)
        return -1;
    return fd;
}

/* Connect a client and let pt_conn_accept take it: the client's fd. */
static int test_connect(pt_event_t *lev, const struct sockaddr_in *sin)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || connect(fd, (const struct sockaddr *) sin, sizeof(*sin)) != 0)
        return -1;
    pt_conn_accept(lev, EPOLLIN);
    return fd;
}

/* Whether the server closed the client's connection (EOF within ms). */
static bool test_closed(int fd, int ms)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    char c;

    return poll(&pfd, 1, ms) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

int main(void)
{
    static pt_conf_t conf;
    static pt_listener_t l;
    struct sockaddr_in sin;
    pt_event_t lev = { 0 };

    conf.main.worker_connections = 100;
    l.address = "127.0.0.1:0";
    l.c.header_timeout = 5000;
    l.c.max_header_size = 8192;
    l.c.max_request_line = 8192;
    l.c.max_header_count = 100;
    l.c.keepalive_requests = 100;
    pt_worker_conf = &conf;
    pt_metrics_setup();
    ok(pt_event_init(64) == PT_OK && pt_timer_init() == PT_OK, "event loop and timers");
    pt_buf_pool_init(16);
    lev.fd = test_listen(&sin);
    lev.data = &l;
    ok(lev.fd >= 0, "listening on 127.0.0.1:%u", ntohs(sin.sin_port));

    pt_conn_accept_setup(test_none);
    int fd = test_connect(&lev, &sin);
    is(pt_conn_active, 1, "no module with a hook: the connection is open");
    ok(!test_closed(fd, 100), "and stays open");
    is(test_first_seen + test_second_seen, 0, "no hook ran");
    close(fd);
    pt_conn_close_all();

    pt_conn_accept_setup(test_both);
    test_first_verdict = PT_OK;
    fd = test_connect(&lev, &sin);
    is(test_first_seen, 1, "the first hook saw the connection");
    is_str(test_peer, "127.0.0.1", "with its peer address");
    is(test_second_seen, 1, "PT_OK: the next hook ran too");
    is(pt_conn_active, 1, "and the connection went on");
    ok(!test_closed(fd, 100), "still open");
    /* On to HTTP: a malformed request is a gateway-made 400, counted. */
    uint64_t reqs = 0, errs = 0;
    ok(send(fd, "NONSENSE\r\n\r\n", 12, 0) == 12, "the client sends a malformed request");
    char resp[4096];
    ssize_t got = 0;
    for (int i = 0; i < 50 && got <= 0; i++) {
        pt_event_process(20);
        got = recv(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT);
    }
    ok(got > 12 && memcmp(resp, "HTTP/1.1 400", 12) == 0, "HTTP answered it: 400");
    pt_metrics_read(PT_METRIC_REQUESTS, &reqs, 1);
    pt_metrics_read(PT_METRIC_GATEWAY_ERRORS, &errs, 1);
    is(reqs, 1, "counted as a finished request");
    is(errs, 1, "and as a gateway-made error");
    close(fd);
    pt_conn_close_all();
    is(pt_conn_active, 0, "closed by the test");

    test_first_verdict = PT_ERROR;
    fd = test_connect(&lev, &sin);
    is(test_first_seen, 2, "the first hook saw the second connection");
    is(test_second_seen, 1, "PT_ERROR: the later hook did not run");
    is(pt_conn_active, 0, "the connection was closed at once");
    ok(test_closed(fd, 1000), "the client sees it closed");
    close(fd);

    /* The worker's hooks: its limit, told when reached and on each close. */
    pt_conn_hooks_t hooks = { .max_conns = 1, .on_limit = test_on_limit,
                              .on_closed = test_on_closed };
    pt_conn_setup(&hooks);
    pt_conn_accept_setup(test_none);
    fd = test_connect(&lev, &sin);
    is(pt_conn_active, 1, "hooks: the first connection is taken");
    is(test_limits, 1, "the accept batch then stops at max_conns");
    ok(test_limit_at, "and says it is the limit, not a lack of descriptors");
    int fd2 = test_connect(&lev, &sin);
    is(pt_conn_active, 1, "a second client waits in the queue");
    is(test_limits, 2, "told again");
    pt_conn_close_all();
    is(test_closed_seen, 1, "a close is told to the worker");
    close(fd);
    close(fd2);

    pt_event_process(0);        /* runs the deferred frees */
    close(lev.fd);
    pt_timer_exit();
    pt_event_exit();
    return done_testing();
}
