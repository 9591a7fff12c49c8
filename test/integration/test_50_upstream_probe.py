"""Active health checks (issue 11): one probe per server per interval for
the whole gateway, whichever worker holds the upstream's lease; the lease
handed over when its holder is killed; rise and fall; a server unknown
until its first probe or down from the start; HTTP probes with expected
statuses, a body substring and a Host; TCP probes; the verdicts kept
across a reload.
"""
import os
import re
import signal
import threading
import time

from backends import Backend, Response, get
from conftest import free_ports, wait_for

CONF = """
portico = { workers = %(workers)d; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = ( %(servers)s ); max_fails = 0;
                    health_check = { %(check)s }; }; };
routes = ( { path = "/"; proxy = "b"; } );
"""


def gateway(portico, servers, check, workers=2):
    port = free_ports(1)[0]
    conf = CONF % dict(port=port, servers=servers, check=check, workers=workers)
    p = portico(conf, ports=[port])
    p.port = port
    p.conf_text = conf
    p.wait_workers(workers)
    return p


def addr(port):
    return '"127.0.0.1:%d"' % port


class Health:
    """A backend whose /health answers status (changeable) after delay;
    every other path answers 200 "app"."""

    def __init__(self, status=200, body=b"healthy", delay=0.0):
        self.status, self.body, self.delay = status, body, delay
        self.backend = Backend(self.handle)
        self.port = self.backend.port

    def handle(self, req):
        if req.target == "/health":
            if self.delay:
                time.sleep(self.delay)
            return Response(self.status, [("Content-Type", "text/plain")], self.body)
        return Response(200, [("Content-Type", "text/plain")], b"app")

    def probes(self):
        return [r for r in self.backend.requests if r.target == "/health"]

    def app(self):
        return [r for r in self.backend.requests if r.target != "/health"]

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.backend.close()


def owners(p):
    return re.findall(r"upstream b: probing its servers \(worker pid (\d+) holds", p.log())


def test_one_probe_per_server_per_interval_for_the_whole_gateway(portico):
    with Health() as a, Health() as b:
        p = gateway(portico, "%s, %s" % (addr(a.port), addr(b.port)),
                    'path = "/health"; interval = "500ms"; timeout = "400ms";', workers=4)
        wait_for(lambda: a.probes() and b.probes(), timeout=5, what="the first probes")
        na, nb = len(a.probes()), len(b.probes())
        time.sleep(2.0)
        # Four rounds in 2 s; one per worker would be sixteen.
        for n in (len(a.probes()) - na, len(b.probes()) - nb):
            assert 3 <= n <= 5, (n, p.log())
        assert len(set(owners(p))) == 1, p.log()
        assert re.search(r"server 127\.0\.0\.1:%d up by probe: status 200" % a.port, p.log())


def test_the_lease_moves_when_its_holder_is_killed(portico):
    with Health() as a:
        p = gateway(portico, addr(a.port),
                    'path = "/health"; interval = "300ms"; timeout = "200ms";', workers=2)
        wait_for(lambda: owners(p), timeout=5, what="a prober")
        first = int(owners(p)[0])
        assert first in p.workers()
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: len(owners(p)) >= 2, timeout=5, what="another worker to probe")
        second = int(owners(p)[-1])
        assert second != first
        n = len(a.probes())
        time.sleep(1.5)
        # Probing goes on at the interval: about five rounds, not ten.
        assert 3 <= len(a.probes()) - n <= 7, p.log()


def test_fall_and_rise(portico):
    with Health() as a, Health() as b:
        p = gateway(portico, "%s, %s" % (addr(a.port), addr(b.port)),
                    'path = "/health"; interval = "200ms"; timeout = "150ms"; '
                    'rise = 3; fall = 2;')
        p.wait_log(r"server 127\.0\.0\.1:%d up by probe" % a.port)
        a.status = 500
        start = len(a.probes())
        p.wait_log(r"server 127\.0\.0\.1:%d down by probe: status 500, 2 failed in a row"
                   % a.port)
        # Exactly fall probes took it down.
        assert len(a.probes()) - start in (2, 3)
        before = len(a.app())
        assert [get(p.port).status for _ in range(10)] == [200] * 10
        assert len(a.app()) == before                    # down: no traffic
        a.status = 200
        p.wait_log(r"server 127\.0\.0\.1:%d up by probe: status 200, 3 passed in a row"
                   % a.port)
        wait_for(lambda: [get(p.port) for _ in range(4)] and len(a.app()) > before,
                 timeout=5, what="traffic to the recovered server")


def test_unknown_is_tried_until_the_first_probe(portico):
    # The first probe takes a second to answer: until then the server is
    # unknown, and unknown is tried.
    with Health(status=500, delay=1.0) as a:
        p = gateway(portico, addr(a.port),
                    'path = "/health"; interval = "3s"; timeout = "2s"; fall = 1;')
        assert get(p.port).status == 200
        p.wait_log(r"down by probe: status 500, 1 failed", timeout=5)
        r = get(p.port)
        assert r.status == 503 and r.header("retry-after"), r


def test_initial_state_down_waits_for_the_probe(portico):
    with Health(delay=1.0) as a:
        p = gateway(portico, addr(a.port),
                    'path = "/health"; interval = "1500ms"; timeout = "1200ms"; rise = 1; '
                    'initial_state = "down";')
        r = get(p.port)
        assert r.status == 503, r
        assert r.header("content-type") == "application/problem+json"
        assert len(a.app()) == 0
        p.wait_log(r"up by probe: status 200, 1 passed", timeout=5)
        assert get(p.port).status == 200


def test_http_probe_statuses_body_method_and_host(portico):
    # 202 passes by default (any 2xx or 3xx), not with expect_statuses = [200].
    with Health(body=b"nope") as nobody, Health(body=b"ok: healthy") as good, \
            Health(status=202, body=b"healthy") as wrong_status:
        servers = ", ".join(addr(h.port) for h in (nobody, good, wrong_status))
        p = gateway(portico, servers,
                    'path = "/health"; method = "GET"; host = "probe.internal"; '
                    'expect_statuses = [ 200 ]; expect_body = "healthy"; '
                    'interval = "200ms"; timeout = "150ms"; fall = 1; rise = 1;')
        p.wait_log(r"server 127\.0\.0\.1:%d down by probe: status 200 without the expected "
                   r"body" % nobody.port)
        p.wait_log(r"server 127\.0\.0\.1:%d down by probe: status 202," % wrong_status.port)
        p.wait_log(r"server 127\.0\.0\.1:%d up by probe: status 200" % good.port)
        probe = good.probes()[0]
        assert probe.method == "GET" and probe.header("host") == "probe.internal"
        assert [get(p.port).status for _ in range(9)] == [200] * 9
        assert len(good.app()) == 9
        assert not nobody.app() and not wrong_status.app()


def test_tcp_probe(portico):
    dead = free_ports(1)[0]
    with Health() as live:
        p = gateway(portico, "%s, %s" % (addr(dead), addr(live.port)),
                    'type = "tcp"; interval = "200ms"; timeout = "150ms"; fall = 1;')
        p.wait_log(r"server 127\.0\.0\.1:%d down by probe: connect refused" % dead)
        p.wait_log(r"server 127\.0\.0\.1:%d up by probe: connected" % live.port)
        wait_for(lambda: live.backend.accepts >= 3, timeout=5, what="three connects")
        assert live.backend.requests == []               # a connect, no request
        assert [get(p.port).status for _ in range(6)] == [200] * 6
        assert "connect to 127.0.0.1:%d failed" % dead not in p.log()


def test_probe_verdicts_kept_across_sighup(portico):
    with Health(status=500) as bad, Health() as good:
        p = gateway(portico, "%s, %s" % (addr(bad.port), addr(good.port)),
                    'path = "/health"; interval = "2s"; timeout = "1s"; fall = 1;')
        p.wait_log(r"server 127\.0\.0\.1:%d down by probe" % bad.port)
        old = set(p.workers())
        mark = len(p.log())
        p.reload(p.conf_text.replace("max_fails = 0;", "max_fails = 0; keepalive = 8;"))
        p.wait_log(r'zone "portico.upstreams" .* kept from the previous generation',
                   start=mark)
        p.wait_workers(2, exclude=old)
        # The new generation has not probed yet (the interval is 2 s), yet
        # it knows the bad server is down.
        assert [get(p.port).status for _ in range(10)] == [200] * 10
        assert bad.app() == []
        assert len(good.app()) == 10
        assert not re.search(r"%d up by probe" % bad.port, p.log()[mark:])
        # The retiring generation handed its lease back: a new worker probes.
        new = set(p.workers()) - old
        wait_for(lambda: set(int(x) for x in owners(p)) & new, timeout=6,
                 what="a worker of the new generation to probe")
        n = len(bad.probes())
        wait_for(lambda: len(bad.probes()) > n, timeout=5, what="probes to go on")


BAD = """listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = ( "127.0.0.1:1" );
  %s }; };
routes = ( { path = "/"; proxy = "b"; } );
"""


def test_bad_settings_are_refused_with_file_and_line(tmp_path):
    from conftest import run_portico
    port = free_ports(1)[0]
    cases = [
        ('retry_on = [ "boom" ];', r'retry_on: unknown failure "boom"'),
        ('health_check = { interval = "1s"; timeout = "2s"; };', r"timeout is longer"),
        ('health_check = { bogus = 1; };', r'unknown setting "bogus"'),
        ('health_check = { type = "tcp"; expect_body = "x"; };', r'need type = "http"'),
        ('health_check = { path = "a b"; };', r"not an origin-form target"),
        ('health_check = { expect_statuses = [ 99 ]; };', r""),
        ('outlier_ejection = { ejection_time = "1m"; max_ejection_time = "1s"; };',
         r"max_ejection_time is shorter"),
        ('retry_budget = 101;', r""),
    ]
    for i, (text, why) in enumerate(cases):
        path = tmp_path / ("bad%d.conf" % i)
        path.write_text(BAD % (port, text))
        r = run_portico("-t", "-c", str(path))
        assert r.returncode != 0, text
        assert re.search(r"bad%d\.conf:3: .*%s" % (i, why), r.stderr + r.stdout), \
            (text, r.stderr)


def test_a_probe_in_flight_takes_no_max_conns_slot(portico):
    """A probe is not a request of the upstream: while a slow probe is out
    to a server with max_conns = 1, a request still gets the server (and
    least_conn would not see it busy either)."""
    h = Health(delay=4.0)
    with h.backend:
        p = gateway(portico, '{ address = "127.0.0.1:%d"; max_conns = 1; }' % h.port,
                    'path = "/health"; interval = "30s"; timeout = "20s";')
        wait_for(lambda: len(h.probes()) == 1, 10, what="the first probe")
        r = get(p.port, "/app")
        assert r.status == 200 and r.body == b"app", r
        assert len(h.probes()) == 1 and len(h.app()) == 1
