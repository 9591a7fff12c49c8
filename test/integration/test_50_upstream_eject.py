"""Outlier ejection (issue 11): consecutive 5xx eject a server for a time
that grows with each ejection in a row, it returns by itself, and at most
max_ejection_percent of an upstream's servers are out at once.
"""
import re
import time

from backends import Backend, Response, get
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 2; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = ( %(servers)s ); max_fails = 0; retries = 0;
                    outlier_ejection = { %(eject)s }; }; };
routes = ( { path = "/"; proxy = "b"; } );
"""


def gateway(portico, servers, eject):
    port = free_ports(1)[0]
    conf = CONF % dict(port=port, servers=", ".join('"127.0.0.1:%d"' % s for s in servers),
                       eject=eject)
    p = portico(conf, ports=[port])
    p.port = port
    p.wait_workers(2)
    return p


def status_backend(status):
    return Backend(lambda req: Response(status, [("Content-Type", "text/plain")], b"x"))


def test_ejection_backs_off_longer_each_time(portico):
    with status_backend(500) as bad, status_backend(200) as good:
        p = gateway(portico, [bad.port, good.port],
                    'consecutive_failures = 3; ejection_time = "600ms"; '
                    'max_ejection_time = "5s"; max_ejection_percent = 50;')
        line = r"server 127\.0\.0\.1:%d ejected for %dms: status 500, 3 errors in a row " \
               r"\(ejection %d\)"
        wait_for(lambda: get(p.port) and re.search(line % (bad.port, 600, 1), p.log()),
                 timeout=5, what="the first ejection")
        ejected_at = time.monotonic()
        n = len(bad.requests)
        assert n == 3, p.log()                            # gateway-wide count
        while time.monotonic() - ejected_at < 0.4:
            assert get(p.port).status == 200
        assert len(bad.requests) == n                    # out while ejected
        # Returned by the first pick that looks at it after the time is over.
        wait_for(lambda: get(p.port) and "127.0.0.1:%d returned: ejection over" % bad.port
                 in p.log(), timeout=5, what="the return")
        # It keeps failing: ejected again, for twice as long.
        wait_for(lambda: get(p.port) and re.search(line % (bad.port, 1200, 2), p.log()),
                 timeout=5, what="the second ejection")
        assert len(bad.requests) == n + 3


def test_at_most_max_ejection_percent_are_out(portico):
    with status_backend(500) as a, status_backend(500) as b, status_backend(200) as c:
        p = gateway(portico, [a.port, b.port, c.port],
                    'consecutive_failures = 2; ejection_time = "30s"; '
                    'max_ejection_percent = 34;')
        for _ in range(30):
            get(p.port)
        ejected = re.findall(r"server 127\.0\.0\.1:(\d+) ejected", p.log())
        assert len(ejected) == 1, p.log()               # one of three: 33 % <= 34 %
        assert "max_ejection_percent 34 reached" in p.log()
        other = b if int(ejected[0]) == a.port else a
        before = len(other.requests)
        for _ in range(6):
            get(p.port)
        assert len(other.requests) > before              # still in the rotation


def test_error_rate_ejects_a_server_that_fails_every_other_time(portico):
    flip = {"n": 0}

    def flaky(req):
        flip["n"] += 1
        return Response(500 if flip["n"] % 2 else 200, [], b"x")
    with Backend(flaky) as bad, status_backend(200) as good:
        p = gateway(portico, [bad.port, good.port],
                    'consecutive_failures = 100; error_rate = 40; error_rate_window = "10s"; '
                    'error_rate_min_requests = 10; ejection_time = "30s";')
        for _ in range(40):
            get(p.port)
        assert re.search(r"server 127\.0\.0\.1:%d ejected for 30000ms: status 500, \d+ errors "
                         r"in \d+ answers \(ejection 1\)" % bad.port, p.log()), p.log()
        n = len(bad.requests)
        assert 10 <= n <= 12
        for _ in range(10):
            get(p.port)
        assert len(bad.requests) == n
