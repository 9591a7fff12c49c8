"""Reload under load through the proxy (issue 5): not one request lost.

The shortened form of bench/run's reload section, counting failures, not
timing: client threads send proxied requests back to back, on keep-alive
connections (GET, and POST with a body) and on connections that say
Connection: close, while the test reloads portico (SIGHUP) several times
without waiting for the previous generation to finish draining. Every
request must get a complete 200 with the backend's body; a keep-alive
connection may only end after a response that said Connection: close.
"""
import threading
import time

import pytest

from backends import Backend, ConnectionClosed, Reader, connect, read_response
from conftest import free_ports, wait_for

BODY = b"x" * 100 + b"\n"
RELOADS = 5


def conf(port, be, workers, gen):
    return """# generation %(gen)d
portico = { workers = %(workers)d; drain_timeout = "20s"; };
listen = ( { address = "127.0.0.1:%(port)d"; } );
upstreams = { up = { servers = [ "127.0.0.1:%(be)d" ]; keepalive = 16; }; };
routes = ( { path = "/"; proxy = "up"; } );
""" % {"port": port, "be": be, "workers": workers, "gen": gen}


class Clients:
    """Threads sending requests until stopped; every failure is recorded
    with what happened (exception, status, or body) and on which kind of
    connection, after how many requests on it."""

    def __init__(self, port, keepalive=4, posts=1, close=2):
        self.port = port
        self.running = True
        self.lock = threading.Lock()
        self.ok = {"keepalive": 0, "post": 0, "close": 0}
        self.said_close = 0         # keep-alive responses with Connection: close
        self.failures = []
        self.threads = []
        for _ in range(keepalive):
            self.threads.append(threading.Thread(target=self._keepalive, args=(False,),
                                                 daemon=True))
        for _ in range(posts):
            self.threads.append(threading.Thread(target=self._keepalive, args=(True,),
                                                 daemon=True))
        for _ in range(close):
            self.threads.append(threading.Thread(target=self._close, daemon=True))
        for t in self.threads:
            t.start()

    def _fail(self, what):
        with self.lock:
            self.failures.append(what)

    def _count(self, kind):
        with self.lock:
            self.ok[kind] += 1

    def total(self):
        with self.lock:
            return sum(self.ok.values())

    def _check(self, resp, payload):
        if resp.status != 200:
            return "status %d %r" % (resp.status, resp.body[:200])
        if resp.body != BODY + payload:
            return "body %r" % resp.body[:200]
        return None

    def _keepalive(self, post):
        kind = "post" if post else "keepalive"
        s = reader = None
        n = 0
        seq = 0
        while self.running:
            seq += 1
            payload = b"" if not post else b"post-%d" % seq
            try:
                if s is None:
                    s = connect(self.port, timeout=10)
                    reader = Reader(s, 10)
                    n = 0
                if post:
                    s.sendall(b"POST /p HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n"
                              b"Content-Type: text/plain\r\n\r\n%s" % (len(payload), payload))
                else:
                    s.sendall(b"GET /k HTTP/1.1\r\nHost: gw\r\n\r\n")
                n += 1
                r = read_response(reader, "POST" if post else "GET")
                bad = self._check(r, payload)
                if bad:
                    self._fail("%s request %d on its connection: %s" % (kind, n, bad))
                else:
                    self._count(kind)
                if (r.header("connection") or "").lower() == "close":
                    with self.lock:
                        self.said_close += 1
                    s.close()
                    s = None
            except (OSError, ConnectionClosed, ValueError) as e:
                self._fail("%s request %d on its connection: %r" % (kind, n, e))
                if s:
                    s.close()
                s = None
        if s:
            s.close()

    def _close(self):
        while self.running:
            try:
                with connect(self.port, timeout=10) as s:
                    s.sendall(b"GET /c HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
                    r = read_response(Reader(s, 10))
                bad = self._check(r, b"")
                if bad:
                    self._fail("close: %s" % bad)
                else:
                    self._count("close")
            except (OSError, ConnectionClosed, ValueError) as e:
                self._fail("close: %r" % e)

    def wait_more(self, n, timeout=20):
        target = self.total() + n
        wait_for(lambda: self.total() >= target, timeout, what="%d more requests" % n)

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(20)
        assert not any(t.is_alive() for t in self.threads), "a client thread hung"


@pytest.mark.parametrize("workers", [1, 2])
def test_reload_under_load_loses_no_proxied_request(portico, workers):
    def answer(req):
        return (200, [("Content-Type", "text/plain")], BODY + req.body)

    with Backend(answer) as be:
        port = free_ports()[0]
        p = portico(conf(port, be.port, workers, 1), ports=[port])
        p.wait_workers(workers)
        clients = Clients(port)
        try:
            clients.wait_more(200)
            for gen in range(2, RELOADS + 2):
                # Back to back, as bench/run does: the previous generation
                # may still be draining when the next reload comes.
                p.reload(conf(port, be.port, workers, gen))
                time.sleep(0.4)
                clients.wait_more(50)
            p.wait_log(r"reloaded: generation %d " % (RELOADS + 1))
            clients.wait_more(200)
        finally:
            clients.stop()
        failures = clients.failures
        assert failures == [], "%d failed, %s succeeded; first: %s" % (
            len(failures), clients.ok, failures[:8])
        # The load ran through the reloads and reached every kind of client.
        assert all(v > 20 for v in clients.ok.values()), clients.ok
        # Retiring workers told keep-alive clients to go (not cut them).
        assert clients.said_close >= 1
        assert p.log().count("reloaded: generation") == RELOADS
        wait_for(lambda: len(p.workers()) == workers, 25,
                 what="the old generations to finish draining")
