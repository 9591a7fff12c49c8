"""Upstream servers named by host name, re-resolved while portico runs
(issue 11, DNS): a test DNS server on 127.0.0.1 (dnsserver.py) is the
resolver. A name's new address starts taking requests and a removed one
stops, without a reload and in every worker; an address that stays keeps
its health state; a request in flight to a removed address finishes (and
its connection is not reused); a
failed resolution (SERVFAIL, no answer) keeps the last good set; one
worker resolves for all; an unresolvable name at load is a config error at
its file and line; -T shows the name and its addresses. IPv4 and IPv6:
the name's addresses are 127.0.0.1 and ::1, a backend on each, same port.
"""
import re
import socket
import threading
import time

from backends import Backend, Response, get
from conftest import free_ports, run_portico, wait_for
from dnsserver import TYPE_A, TYPE_AAAA, DnsServer, parse_question, query

CONF = """
portico = { workers = %(workers)d; resolver = [ "127.0.0.1:%(dns)d" ];
            resolver_timeout = "200ms"; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = {
    servers = ( "backend.test:%(bport)d" );
    resolve_interval = "%(interval)s";
    %(extra)s
}; };
routes = ( { path = "/"; proxy = "b"; } );
"""


def named(body):
    return lambda req: Response(200, [("Content-Type", "text/plain")], body)


class Backend6(Backend):
    """Backend on [::1]:port (the suite's Backend listens on 127.0.0.1)."""

    def __init__(self, port, handler=None):
        self.handler = handler or named(b"v6")
        self.requests = []
        self.accepts = 0
        self.lock = threading.Lock()
        self.conns = []
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.sock.bind(("::1", port))
        self.sock.listen(128)
        self.port = port
        self.running = True
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()


def gateway(portico, dns, bport, workers=2, interval="300ms", extra=""):
    port = free_ports(1)[0]
    conf = CONF % dict(workers=workers, dns=dns.port, port=port, bport=bport,
                       interval=interval, extra=extra)
    p = portico(conf, ports=[port])
    p.port = port
    p.wait_workers(workers)
    return p


def spread(p, n):
    """n requests, each on its own connection, so every worker takes some."""
    return [get(p.port) for _ in range(n)]


def bodies(p, n):
    return [r.body for r in spread(p, n)]


def settled(p, pred, what, tick, n=10, timeout=5):
    """Wait until n requests spread over the workers satisfy pred, then
    for two more of the workers' looks at the shared set (every tick: half
    the interval, at most 1 s), so that every worker has had its look."""
    wait_for(lambda: pred(bodies(p, n)), timeout=timeout, interval=0.05, what=what)
    time.sleep(2 * tick)


def test_the_test_server_speaks_dns():
    with DnsServer() as dns:
        dns.set("backend.test", a=["127.0.0.1", "127.0.0.2"], aaaa=["::1"], ttl=7)
        out = dns.answer(query("Backend.Test", TYPE_A, qid=0xBEEF))
        assert out[:2] == b"\xbe\xef" and out[2] & 0x80        # id echoed, a response
        assert out[3] & 0x0F == 0 and out[6:8] == b"\x00\x02"   # NOERROR, 2 answers
        assert out.endswith(socket.inet_pton(socket.AF_INET, "127.0.0.2"))
        assert b"\x00\x00\x00\x07\x00\x04" in out                # TTL 7, RDLENGTH 4
        assert parse_question(query("backend.test", TYPE_AAAA))[2:4] == ("backend.test",
                                                                        TYPE_AAAA)
        assert dns.answer(query("nope.test", TYPE_A))[3] & 0x0F == 3   # NXDOMAIN
        dns.mode = "servfail"
        assert dns.answer(query("backend.test", TYPE_A))[3] & 0x0F == 2


def test_new_address_joins_and_removed_one_leaves_in_every_worker(portico):
    bport = free_ports(1)[0]
    with DnsServer() as dns, Backend(named(b"v4"), port=bport) as b4, Backend6(bport) as b6:
        dns.set("backend.test", a=["127.0.0.1"], ttl=1)
        # A TTL of 1 s below resolve_interval sets the pace.
        p = gateway(portico, dns, bport, interval="30s")
        assert bodies(p, 10) == [b"v4"] * 10

        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=1)
        p.wait_log(r"upstream b: backend\.test:%d resolved: added \[::1\]:%d; 2 addresses"
                   % (bport, bport))
        settled(p, lambda got: got.count(b"v6") >= 3 and got.count(b"v4") >= 3,
                "both addresses to take requests", tick=1.0)
        got = bodies(p, 20)
        assert got.count(b"v6") >= 6 and got.count(b"v4") >= 6, got

        start = time.monotonic()
        n0 = dns.count("backend.test")
        dns.set("backend.test", aaaa=["::1"], ttl=1)
        p.wait_log(r"backend\.test:%d resolved: removed 127\.0\.0\.1:%d; 1 address"
                   % (bport, bport))
        settled(p, lambda got: got == [b"v6"] * 10, "127.0.0.1 to leave every worker",
                tick=1.0)
        before = len(b4.requests)
        assert bodies(p, 30) == [b"v6"] * 30    # both workers agree
        assert len(b4.requests) == before
        # One worker resolves for the gateway: one A and one AAAA question
        # per second or so, not per worker.
        elapsed = time.monotonic() - start
        assert dns.count("backend.test") - n0 <= 2 * (elapsed + 2), dns.queries
        assert b6.accepts >= 2          # pooled per worker: both workers served


def test_a_new_address_ramps_up_under_slow_start(portico):
    """An address DNS adds is a cold server: with slow_start its share
    starts near nothing, in every worker, as for a server a reload adds."""
    bport = free_ports(1)[0]
    with DnsServer() as dns, Backend(named(b"v4"), port=bport), Backend6(bport):
        dns.set("backend.test", a=["127.0.0.1"], ttl=1)
        p = gateway(portico, dns, bport, interval="30s", extra='slow_start = "300s";')
        assert bodies(p, 4) == [b"v4"] * 4
        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=1)
        p.wait_log(r"upstream b: backend\.test:%d resolved: added \[::1\]:%d; 2 addresses"
                   % (bport, bport))
        time.sleep(2.5)                 # every worker has looked at the set (1 s ticks)
        # Weight 1/16 at most against 1 for minutes: about 1 in 17 requests.
        got = bodies(p, 24)
        assert got.count(b"v6") <= 5, got
        p.wait_log(r"upstream b: server \[::1\]:%d slow start: added by DNS" % bport)
        wait_for(lambda: b"v6" in bodies(p, 20), timeout=20, interval=0.1,
                 what="the new address to take a request at all")


def test_an_address_that_stays_keeps_its_state(portico):
    bport = free_ports(1)[0]
    busy = lambda req: Response(503, [("Content-Type", "text/plain")], b"busy")
    with DnsServer() as dns, Backend(busy, port=bport) as b4, Backend6(bport) as b6:
        dns.set("backend.test", a=["127.0.0.1"], ttl=1)
        p = gateway(portico, dns, bport, interval="300ms",
                    extra='max_fails = 1; fail_timeout = "30s"; fail_statuses = [ 503 ];')
        assert get(p.port).status == 503
        p.wait_log(r"server 127\.0\.0\.1:%d down: status 503" % bport)
        r = get(p.port)
        assert r.status == 503 and r.header("Retry-After")      # nothing left to try
        assert len(b4.requests) == 1

        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=1)
        p.wait_log(r"added \[::1\]:%d" % bport)
        wait_for(lambda: [r.status for r in spread(p, 10)] == [200] * 10, timeout=5,
                 what="::1 to answer in every worker")
        time.sleep(2 * 0.15)
        assert [r.status for r in spread(p, 20)] == [200] * 20
        assert len(b4.requests) == 1    # still down: its state was kept
        assert len(b6.requests) >= 20


def test_a_request_in_flight_to_a_removed_address_finishes(portico):
    bport = free_ports(1)[0]

    def slow(req):
        if req.target == "/slow":
            time.sleep(1.5)
        return Response(200, [("Content-Type", "text/plain")], b"v4")

    with DnsServer() as dns, Backend(slow, port=bport) as b4, Backend6(bport):
        dns.set("backend.test", a=["127.0.0.1"], ttl=1)
        # One slot: ::1 takes the very slot 127.0.0.1 leaves.
        p = gateway(portico, dns, bport, workers=1, interval="200ms", extra="max_addresses = 1;")
        result = {}
        t = threading.Thread(target=lambda: result.update(r=get(p.port, "/slow")))
        t.start()
        wait_for(lambda: len(b4.requests) == 1, timeout=5, what="the slow request")
        dns.set("backend.test", aaaa=["::1"], ttl=1)
        p.wait_log(r"removed 127\.0\.0\.1:%d" % bport)
        assert get(p.port).body == b"v6"        # new requests go to ::1 at once
        t.join(10)
        assert result["r"].status == 200 and result["r"].body == b"v4"
        # Its connection was not pooled for the slot's new address.
        assert bodies(p, 5) == [b"v6"] * 5
        assert len(b4.requests) == 1


def test_a_failed_resolution_keeps_the_last_good_set(portico):
    bport = free_ports(1)[0]
    with DnsServer() as dns, Backend(named(b"v4"), port=bport), Backend6(bport):
        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=1)
        p = gateway(portico, dns, bport, interval="200ms")
        assert set(bodies(p, 10)) == {b"v4", b"v6"}

        dns.mode = "servfail"
        p.wait_log(r"\[warn\].*upstream b: cannot resolve backend\.test:%d: .*; keeping the "
                   r"last 2 addresses" % bport)
        assert set(bodies(p, 10)) == {b"v4", b"v6"}

        mark = len(p.log())
        dns.mode = "drop"               # no answer: c-ares times out
        p.wait_log(r"cannot resolve backend\.test:%d: Timeout" % bport, start=mark)
        assert set(bodies(p, 10)) == {b"v4", b"v6"}

        mark = len(p.log())
        dns.remove("backend.test")      # NXDOMAIN: no address is not an empty set
        dns.mode = "answer"
        p.wait_log(r"cannot resolve backend\.test:%d: Domain name not found" % bport,
                   start=mark)
        assert set(bodies(p, 10)) == {b"v4", b"v6"}
        assert "removed" not in p.log()

        dns.set("backend.test", aaaa=["::1"], ttl=1)
        p.wait_log(r"removed 127\.0\.0\.1:%d" % bport)
        settled(p, lambda got: got == [b"v6"] * 10, "127.0.0.1 to leave", tick=0.15)


def write(tmp_path, text):
    path = tmp_path / "portico.conf"
    path.write_text(text)
    return str(path)


def test_an_unresolvable_name_at_load_is_a_config_error(tmp_path):
    with DnsServer() as dns:
        conf = CONF % dict(workers=1, dns=dns.port, port=free_ports(1)[0], bport=8080,
                           interval="1s", extra="")
        conf = conf.replace('"backend.test:8080"', '"127.0.0.1:9",\n    "missing.test:8080"')
        path = write(tmp_path, conf)
        line = conf.splitlines().index('    "missing.test:8080" );') + 1
        r = run_portico("-t", "-c", path)
        assert r.returncode != 0
        assert re.search(r'portico\.conf:%d: upstream "b": cannot resolve "missing\.test:8080": '
                         r'Domain name not found' % line, r.stderr), r.stderr
        assert dns.count("missing.test") >= 1


def test_resolver_addresses_are_checked(tmp_path):
    conf = CONF % dict(workers=1, dns=53, port=free_ports(1)[0], bport=80, interval="1s",
                       extra="")
    conf = conf.replace('"127.0.0.1:53"', '"ns.example"').replace("backend.test", "127.0.0.1")
    r = run_portico("-t", "-c", write(tmp_path, conf))
    assert r.returncode != 0
    assert re.search(r'portico\.conf:2: resolver "ns\.example" is not an IP address',
                     r.stderr), r.stderr
    # The forms it takes, as c-ares gets them (port 53 when left out).
    conf = conf.replace('"ns.example"', '"::1", "[::1]:5353", "127.0.0.1", "127.0.0.2:54"')
    r = run_portico("-T", "-c", write(tmp_path, conf))
    assert r.returncode == 0, r.stderr
    assert ('resolver = [ "[::1]:53", "[::1]:5353", "127.0.0.1:53", "127.0.0.2:54" ];'
            in r.stdout), r.stdout


def test_dump_shows_the_name_and_its_addresses(tmp_path):
    with DnsServer() as dns:
        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=30)
        conf = CONF % dict(workers=1, dns=dns.port, port=free_ports(1)[0], bport=8080,
                           interval="10s", extra="max_addresses = 3;")
        r = run_portico("-T", "-c", write(tmp_path, conf))
        assert r.returncode == 0, r.stderr
        assert re.search(r'\{ address = "backend\.test:8080"; weight = 1; \} /\* resolves to '
                         r'(127\.0\.0\.1:8080, \[::1\]:8080|\[::1\]:8080, 127\.0\.0\.1:8080) \*/',
                         r.stdout), r.stdout
        assert 'resolver = [ "127.0.0.1:%d" ];' % dns.port in r.stdout
        assert "max_addresses = 3;" in r.stdout and 'resolve_interval = "10s";' in r.stdout


def test_a_reload_keeps_the_set_and_the_new_generation_follows_it(portico):
    bport = free_ports(1)[0]
    with DnsServer() as dns, Backend(named(b"v4"), port=bport) as b4, Backend6(bport):
        dns.set("backend.test", a=["127.0.0.1"], ttl=1)
        p = gateway(portico, dns, bport, interval="300ms")
        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=1)
        p.wait_log(r"added \[::1\]:%d" % bport)
        old = p.workers()
        mark = len(p.log())
        p.reload()
        p.wait_workers(2, exclude=old)
        # The master found the same two addresses: nothing changed.
        assert "resolved:" not in p.log()[mark:], p.log()[mark:]
        assert set(bodies(p, 12)) == {b"v4", b"v6"}
        # The new generation resolves on its own.
        dns.set("backend.test", aaaa=["::1"], ttl=1)
        p.wait_log(r"removed 127\.0\.0\.1:%d" % bport, start=mark)
        settled(p, lambda got: got == [b"v6"] * 10, "127.0.0.1 to leave", tick=0.15)
        before = len(b4.requests)
        assert bodies(p, 12) == [b"v6"] * 12
        assert len(b4.requests) == before


def test_resolve_false_resolves_once_into_fixed_servers(tmp_path):
    with DnsServer() as dns:
        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=30)
        conf = CONF % dict(workers=1, dns=dns.port, port=free_ports(1)[0], bport=8080,
                           interval="10s", extra="resolve = false;")
        r = run_portico("-T", "-c", write(tmp_path, conf))
        assert r.returncode == 0, r.stderr
        servers = re.search(r"servers = \((.*)\);", r.stdout).group(1)
        assert "backend.test" not in servers and "resolves to" not in servers
        assert '"127.0.0.1:8080"' in servers and '"[::1]:8080"' in servers, servers
        assert "resolve = false;" in r.stdout


def test_an_unresolvable_name_may_start_without_addresses(portico):
    bport = free_ports(1)[0]
    with DnsServer() as dns, Backend(named(b"v4"), port=bport):
        p = gateway(portico, dns, bport, workers=1, interval="200ms",
                    extra="resolve_required = false;")
        assert re.search(r'portico\.conf:6: upstream "b": cannot resolve "backend\.test:%d": '
                         r'Domain name not found; starting without its addresses' % bport,
                         p.log() + p.output()), p.log() + p.output()
        r = get(p.port)
        assert r.status == 503 and r.header("Retry-After") == "1"
        assert "application/problem+json" in r.header("Content-Type")
        dns.set("backend.test", a=["127.0.0.1"], ttl=1)
        p.wait_log(r"resolved: added 127\.0\.0\.1:%d; 1 address" % bport)
        wait_for(lambda: get(p.port).status == 200, timeout=5, what="the address to answer")
        assert get(p.port).body == b"v4"


ADMIN_CONF = """
portico = { workers = 2; resolver = [ "127.0.0.1:%(dns)d" ]; resolver_timeout = "200ms"; };
listen = ( "127.0.0.1:%(port)d", { address = "127.0.0.1:%(aport)d"; name = "admin"; } );
upstreams = { b = { servers = ( "backend.test:%(bport)d" ); resolve_interval = "30s"; }; };
routes = ( { listen = [ "admin" ]; path = "/admin/"; admin = true;
             admin_token_file = "%(tok)s"; },
           { path = "/"; proxy = "b"; } );
"""


def test_draining_a_host_name_drains_all_its_addresses(portico, tmp_path):
    """The admin API's drain of "host:port" takes every address of the
    name out, not only the first slot."""
    import http.client
    import json
    bport = free_ports(1)[0]
    tok = tmp_path / "admin.token"
    tok.write_text("t0ken-dns-drain\n")
    with DnsServer() as dns, Backend(named(b"v4"), port=bport), Backend6(bport):
        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=30)
        port, aport = free_ports(2)
        p = portico(ADMIN_CONF % dict(dns=dns.port, port=port, aport=aport, bport=bport,
                                      tok=str(tok)), ports=[port, aport])
        p.port = port
        p.wait_workers(2)
        assert set(bodies(p, 10)) == {b"v4", b"v6"}
        c = http.client.HTTPConnection("127.0.0.1", aport, timeout=10)
        c.request("POST", "/admin/api/servers/drain",
                  body=json.dumps({"upstream": "b", "server": "backend.test:%d" % bport}),
                  headers={"Authorization": "Bearer t0ken-dns-drain",
                           "Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200, r.read()
        c.close()
        got = spread(p, 6)
        assert [x.status for x in got] == [503] * 6, [(x.status, x.body) for x in got]
