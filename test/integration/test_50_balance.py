"""Load balancing (issue 11, the balancing half): round-robin exact over a
cycle, consistent hashing (keys stay, about 1/N move when a server goes),
least_conn, random with two choices and ewma steering away from busy or
slow servers gateway-wide, backups, slow start, drain, max_conns, and a
client abort cancelling the upstream request and giving its count back.
"""
import http.client
import os
import re
import signal
import threading
import time

from backends import Backend, RawBackend, Response, connect, get, read_head
from conftest import free_ports, run_portico, wait_for

CONF = """
portico = { workers = %(workers)d; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = ( %(servers)s ); %(upstream)s }; };
routes = ( { path = "/"; proxy = "b"; } );
"""


def gateway(portico, servers, upstream="", workers=2):
    port = free_ports(1)[0]
    conf = CONF % dict(port=port, servers=servers, upstream=upstream, workers=workers)
    p = portico(conf, ports=[port])
    p.port = port
    p.conf_text = conf
    p.wait_workers(workers)
    return p


def srv(be, extra=""):
    return '{ address = "127.0.0.1:%d"; %s }' % (be.port, extra)


def named(name, delay=0.0, paths=None):
    """A handler answering its name, after delay (only for paths, if given)."""
    def handler(req):
        if delay and (paths is None or req.target in paths):
            time.sleep(delay)
        return Response(200, [("Content-Type", "text/plain")], name.encode())
    return handler


class Client:
    """One keep-alive connection to the gateway (so one worker serves it)."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def get(self, path="/", headers=None):
        self.c.request("GET", path, headers=headers or {})
        r = self.c.getresponse()
        return r.status, r.read().decode()

    def close(self):
        self.c.close()


def hold(port, path, results):
    """A request in a thread of its own (on its own connection)."""
    def run():
        try:
            results.append(get(port, path, timeout=15))
        except Exception as e:          # the gateway went away (a killed worker)
            results.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_round_robin_exact_over_a_cycle_by_weight(portico):
    with Backend(named("a")) as a, Backend(named("b")) as b, Backend(named("c")) as c:
        p = gateway(portico, "%s, %s, %s" % (srv(a, "weight = 3;"), srv(b, "weight = 2;"),
                                             srv(c)))
        cl = Client(p.port)
        seen = [cl.get()[1] for _ in range(12)]
        cl.close()
        # Round-robin is each worker's own: one connection is one worker,
        # and two cycles of 3 + 2 + 1 give exactly 6, 4 and 2, interleaved.
        assert (seen.count("a"), seen.count("b"), seen.count("c")) == (6, 4, 2), seen
        assert seen[:6].count("a") == 3 and seen[:6].count("b") == 2, seen
        assert "aaa" not in "".join(seen)


def keys_map(port, keys, conns=4):
    """Each key's server, asked over a few keep-alive connections (both
    workers), every key twice: a key must get the same server both times."""
    clients = [Client(port) for _ in range(conns)]
    out = {}
    for rnd in range(2):
        for i, k in enumerate(keys):
            st, who = clients[(i + rnd) % conns].get("/", {"Cookie": "theme=dark; session=" + k})
            assert st == 200
            assert out.setdefault(k, who) == who, "key %s moved between requests" % k
    for c in clients:
        c.close()
    return out


def test_hash_keeps_each_key_and_moves_about_1_over_n_on_removal(portico):
    names = "abcd"
    bes = [Backend(named(n)) for n in names]
    try:
        servers = ", ".join(srv(be) for be in bes)
        p = gateway(portico, servers, 'balance = "hash"; hash_key = "$cookie_session";')
        keys = ["user-%d" % i for i in range(1000)]
        before = keys_map(p.port, keys)
        per = {n: list(before.values()).count(n) for n in names}
        assert all(150 <= v <= 350 for v in per.values()), per
        # A reload with the third server gone.
        old = set(p.workers())
        p.reload(p.conf_text.replace(srv(bes[2]) + ", ", ""))
        p.wait_workers(2, exclude=old)
        after = keys_map(p.port, keys)
        moved = [k for k in keys if after[k] != before[k]]
        assert all(before[k] == "c" for k in moved), "a key of a remaining server moved"
        assert len(moved) == per["c"]
        assert 150 <= len(moved) <= 350, len(moved)      # about 1/4 of 1000
        assert "c" not in after.values()
    finally:
        for be in bes:
            be.close()


def test_least_conn_steers_new_work_away_across_workers(portico):
    # a holds /hold for 3 s; b answers everything at once.
    # b weighs 3: a request still finishing on b (its worker has written the
    # response and not yet counted it out) leaves b below a's 1 in flight.
    with Backend(named("a", 3.0, ["/hold"])) as a, Backend(named("b")) as b:
        p = gateway(portico, "%s, %s" % (srv(a), srv(b, "weight = 3;")),
                    'balance = "least_conn";')
        held, threads = [], []
        for _ in range(30):                 # until a holds one (then b takes them)
            threads.append(hold(p.port, "/hold", held))
            time.sleep(0.1)
            if any(r.target == "/hold" for r in a.requests):
                break
        assert sum(1 for r in a.requests if r.target == "/hold") == 1
        before = len(a.requests)
        # New connections: both workers take some, whichever sent the held ones.
        got = [get(p.port, "/new").body for _ in range(20)]
        assert got == [b"b"] * 20
        assert len(a.requests) == before
        for t in threads:
            t.join(10)
        assert all(r.status == 200 for r in held)
        # Nothing in flight any more: a takes its share again.
        got = [get(p.port, "/again").body for _ in range(20)]
        assert got.count(b"a") >= 3, got


def test_random_two_choices_avoids_the_busy_server(portico):
    with Backend(named("a", 3.0, ["/hold"])) as a, Backend(named("b")) as b:
        p = gateway(portico, "%s, %s" % (srv(a), srv(b, "weight = 3;")),
                    'balance = "random";')
        held, threads = [], []
        for _ in range(40):
            threads.append(hold(p.port, "/hold", held))
            time.sleep(0.1)
            if sum(1 for r in a.requests if r.target == "/hold") >= 1:
                break
        assert sum(1 for r in a.requests if r.target == "/hold") >= 1
        before = len(a.requests)
        got = [get(p.port, "/new").body for _ in range(20)]
        assert got == [b"b"] * 20
        assert len(a.requests) == before
        for t in threads:
            t.join(10)


def test_ewma_avoids_the_slow_server(portico):
    with Backend(named("slow", 0.3)) as slow, Backend(named("fast")) as fast:
        p = gateway(portico, "%s, %s" % (srv(slow), srv(fast)),
                    'balance = "ewma"; ewma_decay = "60s";')
        got = [get(p.port).body for _ in range(30)]
        # Until a sample of each is in, the slow one may be tried once or
        # twice (once per worker at most); from then on its latency keeps
        # it out, in every worker.
        assert got.count(b"slow") <= 2, got
        assert got[-20:] == [b"fast"] * 20


def test_backup_only_while_every_primary_is_down(portico):
    with Backend(named("a")) as a, Backend(named("k")) as k:
        p = gateway(portico, "%s, %s" % (srv(a), srv(k, "backup = true;")),
                    'balance = "least_conn"; max_fails = 1; fail_timeout = "30s";')
        assert [get(p.port).body for _ in range(10)] == [b"a"] * 10
        a.close()
        time.sleep(0.3)
        got = [get(p.port) for _ in range(6)]
        assert [r.status for r in got] == [200] * 6
        assert [r.body for r in got] == [b"k"] * 6


def share_b(cl, seconds):
    """Requests on cl for the given time; the share of them b answered."""
    n = nb = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        nb += cl.get()[1] == "b"
        n += 1
    return nb / max(n, 1), n


def test_slow_start_ramps_an_added_server_up(portico):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = gateway(portico, srv(a), 'slow_start = "3s";')
        old = set(p.workers())
        p.reload(p.conf_text.replace(srv(a), "%s, %s" % (srv(a), srv(b))))
        p.wait_workers(2, exclude=old)
        cl = Client(p.port)
        first, n1 = share_b(cl, 1.0)
        second, n2 = share_b(cl, 1.0)
        time.sleep(1.2)
        after, n3 = share_b(cl, 0.5)
        cl.close()
        assert n1 > 20 and n2 > 20 and n3 > 10
        # Weight t/3 of a's: about 1/7 of the first second's requests, 3/8
        # of the second's, then half.
        assert first < 0.3, (first, second, after)
        assert first < second
        assert 0.4 <= after <= 0.6, (first, second, after)
        assert re.search(r"server 127\.0\.0\.1:%d slow start: added by reload" % b.port,
                         p.log()), p.log()


def test_drain_takes_no_new_requests_and_lets_in_flight_ones_finish(portico):
    with Backend(named("a", 1.5, ["/hold"])) as a, Backend(named("b")) as b:
        p = gateway(portico, "%s, %s" % (srv(a), srv(b)))
        held = []
        t = None
        for _ in range(6):
            t = hold(p.port, "/hold", held)
            time.sleep(0.1)
            if any(r.target == "/hold" for r in a.requests):
                break
            t.join(5)
        assert any(r.target == "/hold" for r in a.requests)
        old = set(p.workers())
        p.reload(p.conf_text.replace(srv(a), srv(a, "drain = true;")))
        p.wait_workers(2, exclude=old)
        before = len(a.requests)
        assert [get(p.port).body for _ in range(10)] == [b"b"] * 10
        assert len(a.requests) == before
        t.join(10)
        assert held[-1].status == 200 and held[-1].body == b"a"
        assert re.search(r"server 127\.0\.0\.1:%d draining: drain = true" % a.port, p.log())
        # Every primary draining: a 503 that says so.
        p.reload(p.conf_text.replace(srv(a), srv(a, "drain = true;"))
                 .replace(srv(b), srv(b, "drain = true;")))
        wait_for(lambda: get(p.port).status == 503, 10, what="the drained config")
        r = get(p.port)
        assert r.json()["detail"] == "every server of the upstream that is up is draining"


def test_max_conns_next_server_then_503_gateway_wide(portico):
    with Backend(named("a", 2.0, ["/hold"])) as a, Backend(named("b", 2.0, ["/hold"])) as b:
        p = gateway(portico, "%s, %s" % (srv(a), srv(b)), "max_conns = 1;")
        held, threads = [], []
        for _ in range(2):
            threads.append(hold(p.port, "/hold", held))
            time.sleep(0.2)
        # One each: the second went to the other server, whichever worker.
        wait_for(lambda: len(a.requests) == 1 and len(b.requests) == 1, 5,
                 what="one held request at each server")
        # Both at max_conns: 503, from every worker.
        for _ in range(8):
            r = get(p.port, "/new")
            assert r.status == 503, r
            assert r.header("content-type") == "application/problem+json"
            assert r.json()["detail"] == "every server of the upstream is at max_conns"
            assert r.header("retry-after") is not None
        for t in threads:
            t.join(10)
        assert [r.status for r in held] == [200, 200]
        assert all(get(p.port).status == 200 for _ in range(6))


def test_client_abort_cancels_the_upstream_request_and_frees_its_count(portico):
    events = []

    def script(sock):
        reader, req = read_head(sock)
        if req.target == "/wait":
            events.append("held")
            sock.settimeout(10)
            try:
                data = sock.recv(1)       # the gateway closes it: b""
                events.append("closed" if data == b"" else "data")
            except OSError:
                events.append("closed")
            return
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    be = RawBackend(script)
    try:
        # One worker: with two, a request can reach the other worker in the
        # moment between the first worker writing a response and giving
        # its count back, and max_conns = 1 refuses it (a loaded run did).
        p = gateway(portico, '{ address = "127.0.0.1:%d"; max_conns = 1; }' % be.port,
                    workers=1)
        s = connect(p.port)
        s.sendall(b"GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_for(lambda: events == ["held"], 5, what="the backend to hold the request")
        s.close()                         # the client goes away
        wait_for(lambda: "closed" in events, 5, what="the upstream connection to close")
        p.wait_log(r"aborted: client closed the connection before the response")
        # max_conns = 1: a leaked count would answer 503 for good (the count
        # goes back as the request ends, a moment after its log line).
        wait_for(lambda: get(p.port).status == 200, 5, what="the count to be given back")
        assert [get(p.port).status for _ in range(4)] == [200] * 4
    finally:
        be.close()


def test_config_errors_and_dump(tmp_path):
    path = tmp_path / "p.conf"
    base = ('listen = ( "127.0.0.1:1" );\nupstreams = { b = { servers = [ "127.0.0.1:9" ];\n'
            '%s }; };\nroutes = ( { path = "/"; proxy = "b"; } );\n')
    path.write_text(base % 'balance = "fastest";')
    r = run_portico("-t", "-c", str(path))
    assert r.returncode != 0 and re.search(r"p\.conf:3: .*balance", r.stderr), r.stderr
    path.write_text(base % 'balance = "hash";')
    r = run_portico("-t", "-c", str(path))
    assert r.returncode != 0 and "needs hash_key" in r.stderr, r.stderr
    path.write_text(base % 'balance = "hash"; hash_key = "$uri"; hash_load_bound = 50;')
    r = run_portico("-t", "-c", str(path))
    assert r.returncode != 0 and "hash_load_bound is 0 (off) or 100" in r.stderr, r.stderr
    path.write_text(base % 'balance = "least_conn"; hash_key = "$uri";')
    r = run_portico("-t", "-c", str(path))
    assert r.returncode != 0 and "only for balance" in r.stderr, r.stderr
    path.write_text(base.replace('[ "127.0.0.1:9" ]',
                                 '( { address = "127.0.0.1:9"; max_conns = 7; drain = true; } )')
                    % 'balance = "hash"; hash_key = "$cookie_session"; slow_start = "5s";')
    r = run_portico("-T", "-c", str(path))
    assert r.returncode == 0, r.stderr
    assert 'balance = "hash";' in r.stdout and 'hash_key = "$cookie_session";' in r.stdout
    assert "max_conns = 7;" in r.stdout and "drain = true;" in r.stdout
    assert 'slow_start = "5s";' in r.stdout


def test_max_conns_queue_waits_for_a_slot_then_times_out(portico):
    with Backend(named("a", 1.0, ["/hold"])) as a:
        p = gateway(portico, srv(a), 'max_conns = 1; queue = 8; queue_timeout = "3s";')
        held = []
        t = hold(p.port, "/hold", held)
        wait_for(lambda: len(a.requests) == 1, 5, what="the held request")
        start = time.monotonic()
        # Fresh connections: whichever worker takes it waits for the slot
        # (freed by the other worker, if that one holds it).
        r = get(p.port, "/queued")
        waited = time.monotonic() - start
        t.join(10)
        assert held[0].status == 200
        assert r.status == 200 and r.body == b"a", r
        assert 0.3 <= waited <= 2.5, waited
        assert [x.target for x in a.requests] == ["/hold", "/queued"]
        p.stop()
    with Backend(named("a", 2.0, ["/hold"])) as a:
        p = gateway(portico, srv(a), 'max_conns = 1; queue = 8; queue_timeout = "300ms";')
        held = []
        t = hold(p.port, "/hold", held)
        wait_for(lambda: len(a.requests) == 1, 5, what="the held request")
        start = time.monotonic()
        r = get(p.port, "/queued")
        waited = time.monotonic() - start
        assert r.status == 503, r
        assert r.json()["detail"] == ("every server of the upstream is at max_conns "
                                      "(waited queue_timeout)")
        assert 0.25 <= waited <= 1.5, waited
        t.join(10)
        assert len(a.requests) == 1


def test_a_queued_request_counts_once_for_the_retry_budget(portico):
    """A request waiting in the queue is woken every 10 ms to look for a
    slot; each wake must not count as one more request for retry_budget,
    or a queue wait would buy retries the budget does not allow."""
    def handler(req):
        if req.target == "/hold":
            time.sleep(1.5)
        status = 503 if req.target == "/fail" else 200
        return Response(status, [("Content-Type", "text/plain")], b"a")
    with Backend(handler) as a:
        p = gateway(portico, srv(a), 'max_conns = 1; queue = 8; queue_timeout = "5s"; '
                    'retry_on = [ "503" ]; retries = 1; retry_budget = 10; '
                    'retry_budget_floor = 0;')
        held = []
        t = hold(p.port, "/hold", held)
        wait_for(lambda: len(a.requests) == 1, 5, what="the held request")
        r = get(p.port, "/queued")              # waits for the slot, woken many times
        t.join(10)
        assert held[0].status == 200 and r.status == 200, (held, r)
        # Three requests in the window: 10 % of them allows no retry.
        r = get(p.port, "/fail")
        assert r.status == 503, r
        assert [x.target for x in a.requests] == ["/hold", "/queued", "/fail"]
        assert "retry budget exhausted" in p.log()


def test_counts_of_a_crashed_worker_are_given_back(portico):
    with Backend(named("a", 5.0, ["/hold"])) as a:
        p = gateway(portico, srv(a), "max_conns = 1;")
        held = []
        hold(p.port, "/hold", held)
        wait_for(lambda: len(a.requests) == 1, 5, what="the held request")
        assert get(p.port, "/full").status == 503        # the one slot is taken
        old = set(p.workers())
        for pid in old:                                   # the holder among them
            os.kill(pid, signal.SIGKILL)
        p.wait_workers(2, exclude=old)
        p.wait_log(r"in-flight counts of dead worker \d+ released")
        r = get(p.port, "/after")
        assert r.status == 200 and r.body == b"a", r


def test_counts_of_requests_cut_by_a_retiring_worker_are_given_back(portico):
    with Backend(named("a", 5.0, ["/hold"])) as a:
        p = gateway(portico, srv(a), "max_conns = 1;")
        held = []
        hold(p.port, "/hold", held)
        wait_for(lambda: len(a.requests) == 1, 5, what="the held request")
        old = set(p.workers())
        # A reload whose old workers may finish for 300 ms only: the held
        # request is cut, and its count must go with it.
        p.reload(p.conf_text.replace("workers = 2;", 'workers = 2; drain_timeout = "300ms";'))
        p.wait_workers(2, exclude=old)
        wait_for(lambda: not set(p.workers()) & old and
                 all(not os.path.exists("/proc/%d" % w) for w in old), 10,
                 what="the old workers to exit")
        r = get(p.port, "/after")
        assert r.status == 200 and r.body == b"a", r


def test_slow_start_ramps_a_recovered_server_up(portico):
    dead = free_ports(1)[0]
    with Backend(named("a")) as a:
        p = gateway(portico, '%s, { address = "127.0.0.1:%d"; }' % (srv(a), dead),
                    'max_fails = 1; fail_timeout = "1s"; slow_start = "3s";')
        cl = Client(p.port)
        assert [cl.get()[0] for _ in range(4)] == [200] * 4      # b is found down
        with Backend(named("b"), port=dead) as b:
            wait_for(lambda: cl.get()[1] == "b", 5, interval=0.01,
                     what="b's trial request")
            # The next choice sees it up again: the ramp starts there.
            first, n1 = share_b(cl, 1.0)
            p.wait_log(r"server 127\.0\.0\.1:%d slow start: up again" % dead)
            time.sleep(1.5)
            after, n2 = share_b(cl, 0.5)
            cl.close()
            assert n1 > 20 and n2 > 10
            # Weight t/3: about 1/7 of the first second's requests, then half.
            assert first < 0.3, (first, after)
            assert 0.4 <= after <= 0.6, (first, after)


def test_hash_with_bounded_load_spills_a_busy_key_over(portico):
    with Backend(named("a", 1.5, ["/hold"])) as a, Backend(named("b", 1.5, ["/hold"])) as b:
        p = gateway(portico, "%s, %s" % (srv(a), srv(b)),
                    'balance = "hash"; hash_key = "$http_x_user"; hash_load_bound = 100;')
        hdr = (("X-User", "alice"),)
        cl = Client(p.port)         # one worker: each count is back before the next request
        owner = cl.get("/", dict(hdr))[1].encode()
        time.sleep(0.05)            # its worker has given the count back
        results = []

        def held():
            results.append(get(p.port, "/hold", hdr, timeout=10))
        t = threading.Thread(target=held, daemon=True)
        t.start()
        wait_for(lambda: any(r.target == "/hold" for r in a.requests + b.requests), 5,
                 what="the held request")
        # Its owner holds 1 of the 2 in flight, its share is 1: the key spills.
        assert cl.get("/", dict(hdr))[1].encode() != owner
        t.join(10)
        assert results[0].body == owner
        assert [cl.get("/", dict(hdr))[1].encode() for _ in range(3)] == [owner] * 3
        cl.close()
