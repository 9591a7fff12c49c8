"""Retries (issue 11): retry_on failures go to another server for
idempotent requests whose body is at hand; POST only where the route says
so; never a body that already streamed out; bounded by retries and by a
retry budget shared by the workers, so a total outage is not multiplied.
"""
import http.client
import re
import socket
import time

from backends import Backend, Response, request
from conftest import free_ports

CONF = """
portico = { workers = 2; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = ( %(servers)s ); max_fails = 0; %(upstream)s }; };
routes = ( { path = "/stream"; proxy = "b"; request_buffering = false; retry_sent_body = true; },
           { path = "/put-ok"; proxy = "b"; retry_sent_body = true; },
           { path = "/post-ok"; proxy = "b"; retry_non_idempotent = true; retry_sent_body = true;
             request_buffer_size = "64k"; },
           { path = "/"; proxy = "b"; } );
"""


def gateway(portico, servers, upstream="", subdir=None):
    port = free_ports(1)[0]
    conf = CONF % dict(port=port, servers=", ".join('"127.0.0.1:%d"' % s for s in servers),
                       upstream=upstream)
    p = portico(conf, ports=[port], subdir=subdir)
    p.port = port
    p.wait_workers(2)
    return p


def status_backend(status):
    return Backend(lambda req: Response(status, [("Content-Type", "text/plain")], b"x"))


def send(port, method, path, body=b""):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers={"Connection": "close"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def test_idempotent_get_is_retried_on_another_server(portico):
    with status_backend(503) as bad, status_backend(200) as good:
        p = gateway(portico, [bad.port, good.port],
                    'retry_on = [ "connect", "503" ]; retries = 1; retry_budget = 100;')
        assert [send(p.port, "GET", "/x") for _ in range(10)] == [200] * 10
        assert len(bad.requests) >= 2                    # both workers sent it some
        assert len(good.requests) == 10
        assert re.search(r"upstream b: status 503 from 127\.0\.0\.1:%d, trying another "
                         r"server" % bad.port, p.log()), p.log()


def test_post_is_not_retried_unless_the_route_says_so(portico):
    with status_backend(503) as bad, status_backend(200) as good:
        p = gateway(portico, [bad.port, good.port],
                    'retry_on = [ "503" ]; retries = 1; retry_budget = 100;')
        statuses = [send(p.port, "POST", "/x", b"data") for _ in range(10)]
        assert statuses.count(503) == len(bad.requests) >= 2
        assert len(bad.requests) + len(good.requests) == 10      # no request sent twice
        n = len(bad.requests)
        assert [send(p.port, "POST", "/post-ok", b"data") for _ in range(6)] == [200] * 6
        assert len(bad.requests) > n
        # A body buffered whole (memory and file) is sent again from its start.
        body = bytes(range(256)) * 1000
        n = len(bad.requests)
        assert [send(p.port, "POST", "/post-ok", body) for _ in range(4)] == [200] * 4
        assert len(bad.requests) > n
        assert all(r.body == body for r in bad.requests[n:] + good.requests[-4:])


def test_a_body_that_went_out_is_not_sent_again(portico):
    with status_backend(503) as bad, status_backend(200) as good:
        p = gateway(portico, [bad.port, good.port],
                    'retry_on = [ "503" ]; retries = 1; retry_budget = 100;')
        # An idempotent PUT whose body went to the failing server: not by default.
        small = ("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 "Connection: close\r\n\r\nsmall")
        statuses = [request(p.port, small % "/x").status for _ in range(4)]
        assert statuses.count(503) == len(bad.requests) >= 1, statuses
        assert len(bad.requests) + len(good.requests) == 4
        # Where the route says so, a body held whole is sent again.
        n = len(bad.requests)
        assert [request(p.port, small % "/put-ok").status for _ in range(4)] == [200] * 4
        assert len(bad.requests) > n
        # Not one that streamed out, whatever the route says.
        big = b"b" * (1 << 20)          # more than a read buffer: it streams
        n, m = len(bad.requests), len(good.requests)
        statuses = [send(p.port, "PUT", "/stream", big) for _ in range(4)]
        assert statuses.count(503) == len(bad.requests) - n >= 1, (statuses, p.log())
        assert len(bad.requests) - n + len(good.requests) - m == 4


def test_retries_bound_the_tries(portico):
    with status_backend(502) as a, status_backend(502) as b, status_backend(502) as c:
        p = gateway(portico, [a.port, b.port, c.port],
                    'retry_on = [ "502" ]; retries = 1; retry_budget = 100; '
                    'retry_budget_floor = 1000;')
        assert [send(p.port, "GET", "/") for _ in range(10)] == [502] * 10
        assert len(a.requests) + len(b.requests) + len(c.requests) == 20


def test_read_timeout_is_retried_when_asked(portico):
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)                     # accepts (the kernel does), never answers
    try:
        with status_backend(200) as good:
            p = gateway(portico, [hung.getsockname()[1], good.port],
                        'retry_on = [ "timeout" ]; read_timeout = "300ms";')
            assert [send(p.port, "GET", "/") for _ in range(4)] == [200] * 4
            assert "read timed out from 127.0.0.1:%d, trying another server" \
                % hung.getsockname()[1] in p.log()
    finally:
        hung.close()


def test_retry_budget_bounds_a_total_outage(portico):
    with status_backend(503) as a, status_backend(503) as b:
        p = gateway(portico, [a.port, b.port],
                    'retry_on = [ "503" ]; retries = 3; retry_budget = 10; '
                    'retry_budget_floor = 1;')
        n = 60
        start = time.monotonic()
        assert [send(p.port, "GET", "/") for _ in range(n)] == [503] * n
        seconds = int(time.monotonic() - start) + 1
        total = len(a.requests) + len(b.requests)
        # Without a budget: 4 tries each, 240. With it: 10 % of the requests
        # plus one a second (each worker's counts are the same shared ones).
        assert n < total <= n + n // 10 + seconds + 1, (total, seconds)
        assert "upstream b: retry budget exhausted" in p.log()


def test_no_retry_after_retry_timeout(portico):
    def slow_503(req):
        time.sleep(0.4)
        return Response(503, [], b"late")
    with Backend(slow_503) as slow, status_backend(200) as good:
        p = gateway(portico, [slow.port, good.port],
                    'retry_on = [ "503" ]; retries = 1; retry_budget = 100; '
                    'retry_timeout = "200ms";')
        statuses = [send(p.port, "GET", "/") for _ in range(6)]
        # The 503 came after retry_timeout: it is the answer.
        assert statuses.count(503) == len(slow.requests) >= 1, statuses
        assert len(slow.requests) + len(good.requests) == 6


def test_reset_is_retried_only_when_named(portico):
    with Backend(lambda req: None) as closer, status_backend(200) as good:
        p = gateway(portico, [closer.port, good.port],
                    'retry_on = [ "reset" ]; keepalive = 0;')
        assert [send(p.port, "GET", "/") for _ in range(4)] == [200] * 4
        assert len(closer.requests) >= 1
    with Backend(lambda req: None) as closer, status_backend(200) as good:
        p = gateway(portico, [closer.port, good.port], 'keepalive = 0;', subdir="plain")
        statuses = [send(p.port, "GET", "/") for _ in range(4)]
        assert statuses.count(502) == len(closer.requests) >= 1, statuses
