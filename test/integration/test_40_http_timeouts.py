"""Client-side timeouts and limits (issue 3): header timeout (slowloris),
body timeout, keep-alive idle timeout, keepalive_requests, send timeout,
the upstream send timeout, and the per-worker connection cap.
"""
import json
import socket
import threading
import time

import pytest

from backends import (Backend, RawBackend, Reader, Request, connect, parse_head,
                      read_response)
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 1; %(main)s };
listen = ( { address = "127.0.0.1:%(port)d"; %(listen)s } );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; %(upstream)s }; };
routes = (
  { path = "/echo"; echo = true; },
  { path = "/"; proxy = "b"; %(route)s }
);
"""

# Tests of a body on its way upstream while it is still coming (issue 10
# made request_buffering the default): they stream it.
STREAM = "request_buffering = false;"


def start(portico, be_port=None, listen="", main="", upstream="", route=""):
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be_port or free_ports(1)[0], listen=listen, main=main,
                        upstream=upstream, route=route), ports=[port])
    return port


def wait_closed(sock, timeout):
    """Seconds until the peer closes sock (reading and dropping data), or None."""
    t0 = time.monotonic()
    sock.settimeout(0.05)
    data = b""
    while time.monotonic() - t0 < timeout:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - t0, data
        if not chunk:
            return time.monotonic() - t0, data
        data += chunk
    return None, data


def test_header_timeout_cuts_off_slowloris(portico):
    port = start(portico, listen='header_timeout = "600ms";')
    with connect(port) as s:
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\n")
        # Dribble a byte every 100 ms: trickling must not extend the deadline.
        got = b""
        s.settimeout(0.1)
        for i in range(40):
            try:
                s.sendall(b"X-Slow-%d: x\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
                if b"\r\n\r\n" in got:
                    break
            except socket.timeout:
                pass
        elapsed = time.monotonic() - t0
    assert 0.5 < elapsed < 2.5, elapsed
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head.lower()
    assert b"application/problem+json" in head
    doc = json.loads(body)
    assert doc["status"] == 408 and doc["request_id"]


def test_silent_connection_closed_after_header_timeout(portico):
    port = start(portico, listen='header_timeout = "400ms";')
    with connect(port) as s:
        took, data = wait_closed(s, 3)
    assert took is not None and 0.3 < took < 2, took
    assert data == b"", "nothing was asked, so nothing is answered"


def test_body_timeout_echo(portico):
    port = start(portico, listen='body_timeout = "500ms";')
    with connect(port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        t0 = time.monotonic()
        # Pauses shorter than the timeout keep the body alive.
        for _ in range(4):
            time.sleep(0.25)
            s.sendall(b"0123456789")
        reader = Reader(s, 5)
        resp = read_response(reader)
        elapsed = time.monotonic() - t0
    assert resp.status == 408, resp
    assert resp.json()["status"] == 408
    assert resp.header("connection") == "close"
    assert 1.2 < elapsed < 3, elapsed


def test_body_timeout_proxy(portico):
    seen = []

    def script(sock):
        reader = Reader(sock, 5)
        reader.read_until(b"\r\n\r\n")
        sock.settimeout(5)
        try:
            while sock.recv(65536):
                pass
            seen.append("closed")
        except OSError:
            seen.append("closed")

    be = RawBackend(script)
    port = start(portico, be.port, listen='body_timeout = "400ms";', route=STREAM)
    with connect(port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
        resp = read_response(Reader(s, 5))
    assert resp.status == 408 and resp.header("connection") == "close"
    wait_for(lambda: seen, 5, what="the upstream connection to be closed")
    be.close()


def test_keepalive_idle_timeout(portico):
    be = Backend()
    port = start(portico, be.port, listen='keepalive_timeout = "500ms";')
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s, 5)
        assert read_response(reader).status == 200
        took, data = wait_closed(s, 4)
    assert data == b""
    assert took is not None and 0.35 < took < 2.5, took
    be.close()


def test_keepalive_requests_limit(portico):
    be = Backend()
    port = start(portico, be.port, listen="keepalive_requests = 3;")
    with connect(port) as s:
        reader = Reader(s, 5)
        for i in range(3):
            s.sendall(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            resp = read_response(reader)
            assert resp.status == 200
            if i < 2:
                assert resp.header("connection") is None
        assert resp.header("connection") == "close"
        took, data = wait_closed(s, 3)
        assert took is not None and data == b""
    # Gateway-made answers count the same.
    with connect(port) as s:
        reader = Reader(s, 5)
        for i in range(3):
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
            resp = read_response(reader)
        assert resp.header("connection") == "close"
    be.close()


def test_send_timeout_client_not_reading(portico):
    """A client that stops reading is cut off and the upstream released."""
    state = {}

    def script(sock):
        reader = Reader(sock, 5)
        reader.read_until(b"\r\n\r\n")
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (200 << 20))
        block = b"z" * 65536
        try:
            for _ in range(3200):
                sock.sendall(block)
            state["result"] = "all sent"
        except OSError:
            state["result"] = "cut"

    be = RawBackend(script)
    port = start(portico, be.port, listen='send_timeout = "500ms";',
                 upstream='read_timeout = "30s";')
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    wait_for(lambda: state.get("result"), 10, what="the upstream to be cut off")
    assert state["result"] == "cut"
    # Cut at about send_timeout once the buffers are full, not at some
    # other, longer timer.
    assert time.monotonic() - t0 < 4, time.monotonic() - t0
    took, data = wait_closed(s, 8)
    assert took is not None, "the client connection stays open (%d bytes read)" % len(data)
    s.close()
    be.close()


def test_upstream_send_timeout_504(portico):
    """The upstream reads the head but never the body."""
    def script(sock):
        Reader(sock, 5).read_until(b"\r\n\r\n")
        time.sleep(5)

    be = RawBackend(script)
    size = 64 << 20
    port = free_ports(1)[0]
    portico("""
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; send_timeout = "500ms"; }; };
routes = ( { path = "/"; proxy = "b"; client_max_body_size = "100M";
             request_buffering = false; } );
""" % (port, be.port), ports=[port])
    s = connect(port, timeout=10)

    def pump():
        try:
            s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
            block = b"u" * 65536
            for _ in range(size // len(block)):
                s.sendall(block)
        except OSError:
            pass

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    resp = read_response(Reader(s, 10))
    assert resp.status == 504, resp
    assert resp.json()["status"] == 504
    assert resp.header("connection") == "close"
    s.close()
    be.close()


def silent_for(sock, seconds):
    """Whether nothing arrives on sock for that long."""
    sock.settimeout(seconds)
    try:
        sock.recv(1)
    except socket.timeout:
        return True
    return False


def test_worker_connections_cap(portico):
    be = Backend()
    port = start(portico, be.port, main="worker_connections = 16;",
                 listen='header_timeout = "30s";')
    idle = [connect(port) for _ in range(16)]
    # Each of them has been accepted (they are counted by the worker).
    time.sleep(0.3)
    extra = connect(port)
    extra.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert silent_for(extra, 1.0), "a connection over the cap must wait, not be served"
    # One close leaves 15 of 16: still above 90%, so still waiting.
    idle[0].close()
    assert silent_for(extra, 1.5), "accepting must resume only below 90% of the cap"
    for s in idle[1:3]:
        s.close()
    resp = read_response(Reader(extra, 5))
    assert resp.status == 200
    extra.close()
    for s in idle[3:]:
        s.close()
    be.close()


# ---- minimum data rates (issue 10) ------------------------------------------

def trickle(sock, data, gap, stop_after):
    """Send data a byte at a time, gap seconds apart, until the peer answers
    or stop_after seconds pass; returns the seconds it took."""
    t0 = time.monotonic()
    sock.settimeout(gap)
    for b in data:
        if time.monotonic() - t0 > stop_after:
            break
        try:
            sock.sendall(bytes([b]))
        except OSError:
            break
        try:
            if sock.recv(1, socket.MSG_PEEK):
                break
        except socket.timeout:
            pass
    return time.monotonic() - t0


def test_body_min_rate_cuts_a_trickling_body(portico):
    """Every gap (0.1 s) is far under body_timeout; the rate (10 B/s) is not."""
    port = start(portico, listen='body_timeout = "5s"; body_min_rate = "100"; '
                                 'min_rate_window = "1s";')
    with connect(port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
        elapsed = trickle(s, b"x" * 100, 0.1, 6)
        resp = read_response(Reader(s, 5))
    assert resp.status == 408, resp
    assert "too slowly" in resp.json()["detail"]
    assert resp.header("connection") == "close"
    assert elapsed < 4, elapsed


def test_body_min_rate_cuts_a_trickling_proxied_body(portico):
    seen = []

    def script(sock):
        reader = Reader(sock, 10)
        reader.read_until(b"\r\n\r\n")
        sock.settimeout(10)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
        seen.append("closed")

    be = RawBackend(script)
    port = start(portico, be.port, listen='body_timeout = "5s"; body_min_rate = "100"; '
                                          'min_rate_window = "1s";', route=STREAM)
    with connect(port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
        elapsed = trickle(s, b"x" * 100, 0.1, 6)
        resp = read_response(Reader(s, 5))
    assert resp.status == 408 and elapsed < 4, (resp, elapsed)
    wait_for(lambda: seen, 5, what="the upstream connection to be closed")
    be.close()


def test_body_min_rate_does_not_count_a_slow_upstream(portico):
    """The upstream reads nothing for 2.5 s while the client has sent all of
    it can of a 24 MB body: the gateway held the body back, the client did
    not."""
    body = b"y" * (24 << 20)     # more than the socket buffers on the way hold
    got = []

    def script(sock):
        time.sleep(2.5)
        reader = Reader(sock, 10)
        head = reader.read_until(b"\r\n\r\n")
        got.append(len(reader.read_exact(len(body))))
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    be = RawBackend(script)
    port = free_ports(1)[0]
    portico(CONF.replace('proxy = "b";', 'proxy = "b"; client_max_body_size = "64m";')
            % dict(port=port, be=be.port, main="", upstream="", route=STREAM,
                   listen='body_min_rate = "8M"; min_rate_window = "1s";'), ports=[port])
    # sendall's timeout is for all 24 MB: room for a loaded sanitizer build.
    with connect(port, timeout=40) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.sendall(body)
        resp = read_response(Reader(s, 40))
    assert resp.status == 200, resp
    assert got == [len(body)]
    be.close()


def test_header_min_rate_cuts_a_trickling_head(portico):
    port = start(portico, listen='header_timeout = "20s"; header_min_rate = "100"; '
                                 'min_rate_window = "1s";')
    with connect(port) as s:
        elapsed = trickle(s, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"z" * 200, 0.1, 10)
        resp = read_response(Reader(s, 5))
    assert resp.status == 408, resp
    assert "too slowly" in resp.json()["detail"]
    assert elapsed < 4, elapsed


@pytest.mark.parametrize("path,route", [("/echo", ""), ("/", ""), ("/", STREAM)])
def test_body_min_rate_cuts_a_silent_body(portico, path, route):
    """A client that sends the head and then nothing at all is judged when
    the window of waiting is over, like one that trickles; before, only a
    byte's arrival ran the check and silence lasted until body_timeout."""
    be = RawBackend(lambda sock: (Reader(sock, 10).read_until(b"\r\n\r\n"), time.sleep(8)))
    port = start(portico, be.port, route=route,
                 listen='body_timeout = "20s"; body_min_rate = "100"; min_rate_window = "1s";')
    with connect(port) as s:
        t0 = time.monotonic()
        s.sendall(b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"
                  % path.encode())
        resp = read_response(Reader(s, 10))
        elapsed = time.monotonic() - t0
    assert resp.status == 408, resp
    assert "too slowly" in resp.json()["detail"]
    assert elapsed < 5, elapsed
    be.close()


def test_body_min_rate_lets_a_pausing_but_fast_enough_body_through(portico):
    """Windows pass while the client is silent between fast bursts: a body
    that keeps to the rate overall is not cut by the timer's checks."""
    port = start(portico, listen='body_timeout = "20s"; body_min_rate = "100"; '
                                 'min_rate_window = "1s";')
    with connect(port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1500\r\n\r\n")
        for _ in range(3):
            s.sendall(b"z" * 500)       # 500 bytes a second: five times the rate
            time.sleep(0.8)
        resp = read_response(Reader(s, 10))
    assert resp.status == 200, resp
