"""Passive health of upstream servers shared by every worker (issue 11,
first slice): max_fails within fail_timeout marks a server down for the
whole gateway, one trial request after the timeout, recovery, fail_statuses,
backup servers, 503 with Retry-After when nothing is left, and the state
kept across a reload.
"""
import re
import time

from backends import Backend, Response, get
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 2; %(main)s };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = ( %(servers)s ); %(upstream)s }; };
routes = ( { path = "/"; proxy = "b"; } );
"""


def gateway(portico, servers, upstream="", main=""):
    port = free_ports(1)[0]
    conf = CONF % dict(port=port, servers=servers, upstream=upstream, main=main)
    p = portico(conf, ports=[port])
    p.port = port
    p.conf_text = conf
    p.wait_workers(2)
    return p


def srv(port, extra=""):
    return '{ address = "127.0.0.1:%d"; %s }' % (port, extra)


def attempts(p, port):
    """Connects to a server with nothing listening, as the error log has them."""
    return len(re.findall(r"connect to 127\.0\.0\.1:%d failed" % port, p.log()))


def spread(p, n):
    """n requests, each on its own connection, so both workers take some."""
    return [get(p.port) for _ in range(n)]


def test_refused_server_is_tried_max_fails_times_by_the_whole_gateway(portico):
    dead = free_ports(1)[0]
    with Backend() as live:
        p = gateway(portico, "%s, %s" % (srv(dead), srv(live.port)),
                    'max_fails = 2; fail_timeout = "30s";')
        statuses = [r.status for r in spread(p, 40)]
        assert statuses == [200] * 40
        # Each worker on its own would have tried it twice.
        assert attempts(p, dead) == 2, p.log()
        assert re.search(r"upstream b: server 127\.0\.0\.1:%d down: connect refused, "
                         r"2 failures in 30s" % dead, p.log()), p.log()
        assert len(live.requests) == 40
        # Sequential requests reuse one pooled connection per worker: two or
        # more connections at the backend mean both workers served.
        assert live.accepts >= 2


def test_one_trial_per_fail_timeout_then_recovery(portico):
    dead = free_ports(1)[0]
    with Backend() as live:
        p = gateway(portico, "%s, %s" % (srv(dead), srv(live.port)),
                    'max_fails = 1; fail_timeout = "1s";')
        start = time.monotonic()
        while time.monotonic() - start < 3.5:
            assert get(p.port).status == 200
            time.sleep(0.02)
        n = attempts(p, dead)
        # The first failure, then at most one trial per second (plus one for
        # the edges of the interval), however many requests came.
        assert 2 <= n <= 1 + 5, p.log()
        assert "still down: connect refused" in p.log()
        with Backend(port=dead) as back:
            def recovered():
                get(p.port)
                return len(back.requests) >= 3
            wait_for(recovered, timeout=10, interval=0.05, what="the server to come back")
            assert re.search(r"server 127\.0\.0\.1:%d up: trial request succeeded" % dead,
                             p.log()), p.log()
            before = len(back.requests)
            spread(p, 10)
            assert len(back.requests) - before >= 3     # in the rotation again


def test_fail_statuses_mark_a_server_down(portico):
    with Backend(lambda req: Response(503, [("Content-Type", "text/plain")], b"busy")) as bad, \
            Backend() as good:
        p = gateway(portico, "%s, %s" % (srv(bad.port), srv(good.port)),
                    'max_fails = 2; fail_timeout = "30s"; fail_statuses = [ 502, 503 ];')
        statuses = [r.status for r in spread(p, 30)]
        assert len(bad.requests) == 2
        assert statuses.count(503) == 2                 # relayed as they came
        assert statuses.count(200) == 28
        assert re.search(r"server 127\.0\.0\.1:%d down: status 503, 2 failures in 30s"
                         % bad.port, p.log()), p.log()


def test_statuses_not_listed_do_not_count(portico):
    with Backend(lambda req: Response(503, [], b"")) as bad, Backend() as good:
        p = gateway(portico, "%s, %s" % (srv(bad.port), srv(good.port)), "max_fails = 1;")
        spread(p, 10)
        # Each worker keeps its own rotation: 5 or 6 of 10 go to the first.
        assert len(bad.requests) in (5, 6) and "down:" not in p.log()


def test_backup_only_while_every_primary_is_down(portico):
    with Backend() as a, Backend() as b, Backend() as backup:
        p = gateway(portico, "%s, %s, %s" % (srv(a.port), srv(b.port),
                                             srv(backup.port, "backup = true;")),
                    'max_fails = 1; fail_timeout = "30s";')
        spread(p, 12)
        assert len(backup.requests) == 0
        assert len(a.requests) + len(b.requests) == 12
        a.close()
        time.sleep(0.3)                                 # pooled connections see it
        spread(p, 6)
        assert len(backup.requests) == 0                # b is still up
        b.close()
        time.sleep(0.3)
        statuses = [r.status for r in spread(p, 6)]
        assert statuses == [200] * 6
        assert len(backup.requests) == 6


def test_503_with_retry_after_when_all_are_down(portico):
    dead1, dead2 = free_ports(2)
    p = gateway(portico, "%s, %s" % (srv(dead1), srv(dead2, "backup = true;")),
                'max_fails = 1; fail_timeout = "20s";')
    first = get(p.port)
    assert first.status == 502                           # both tried, both refused
    for r in spread(p, 6):
        assert r.status == 503, r
        assert r.header("content-type") == "application/problem+json"
        assert r.json()["status"] == 503
        assert 1 <= int(r.header("retry-after")) <= 20
    assert attempts(p, dead1) == 1 and attempts(p, dead2) == 1


def test_state_kept_across_sighup_for_remaining_servers(portico):
    dead = free_ports(1)[0]
    with Backend() as live:
        p = gateway(portico, "%s, %s" % (srv(dead), srv(live.port)),
                    'max_fails = 1; fail_timeout = "60s";')
        spread(p, 4)
        assert attempts(p, dead) == 1
        old = set(p.workers())
        mark = len(p.log())
        # Another setting changes; the servers stay.
        p.reload(p.conf_text.replace("max_fails = 1;", "max_fails = 1; keepalive = 8;"))
        p.wait_log(r'zone "portico.upstreams" .* kept from the previous generation',
                   start=mark)
        p.wait_workers(2, exclude=old)
        assert [r.status for r in spread(p, 20)] == [200] * 20
        assert attempts(p, dead) == 1, p.log()
