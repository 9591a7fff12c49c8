"""Guards for the behaviours the mutation run of issue 17 found unguarded:
each test here failed against its mutant (test/mutate/mutants.txt names
them) and passes on the real code."""
import os
import signal
import time

import pytest

from backends import (ConnectionClosed, RawBackend, Reader, _read_request, connect,
                      read_response)
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 1; };
listen = ( { address = "127.0.0.1:%(port)d"; %(listen)s } );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { path = "/echo"; echo = true; },
  { path = "/"; proxy = "b"; %(route)s }
);
"""


def start(portico, be=None, listen="", route=""):
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be or free_ports(1)[0], listen=listen, route=route),
            ports=[port])
    return port


def test_header_timeout_applies_to_the_second_head_of_a_connection(portico):
    """The header timeout is re-armed when a later request begins: a stalled
    second head gets its 408 after header_timeout, not keepalive_timeout."""
    port = start(portico, listen='header_timeout = "600ms"; keepalive_timeout = "6s";')
    with connect(port) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s, 5)
        assert read_response(reader).status == 200
        t0 = time.monotonic()
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n")        # and then nothing
        resp = read_response(reader)
        took = time.monotonic() - t0
    assert resp.status == 408
    assert 0.4 < took < 2.5, took


def test_chunked_body_over_the_limit_never_reaches_the_upstream(portico):
    """The body count includes a chunk before it is checked against
    client_max_body_size: the chunk that crosses the limit is refused, and
    the upstream never gets a byte past it."""
    got = []

    def script(sock):
        # Raw bytes as they come, also from a request that never completes.
        sock.settimeout(3)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got.append(chunk)
        except OSError:
            pass

    be = RawBackend(script)
    port = start(portico, be.port, route='client_max_body_size = "1000"; '
                                        'request_buffering = false;')
    with connect(port) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"320\r\n" + b"\x01" * 800 + b"\r\n")
        time.sleep(0.3)
        try:
            s.sendall(b"320\r\n" + b"\x02" * 800 + b"\r\n0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = read_response(Reader(s, 5))
    assert resp.status == 413
    wait_for(lambda: got, timeout=5, what="the upstream saw the request")
    time.sleep(0.5)
    raw = b"".join(got)
    payload = raw.count(b"\x01") + raw.count(b"\x02")
    assert payload <= 1000, "%d body bytes reached the upstream past a 1000-byte limit" % payload
    be.close()


@pytest.mark.parametrize("status", [204, 304])
def test_bodyless_status_with_a_body_from_upstream(portico, status):
    """A 204 or 304 has no content (RFC 9112 §6.3) whatever the upstream
    sends after its head: the client gets no body and its connection stays
    usable; the upstream connection, now out of step, is not reused."""
    def script(sock):
        reader = Reader(sock, 5)
        while True:
            try:
                req = _read_request(reader)
            except (ConnectionClosed, OSError):
                return
            if req.target.startswith("/empty"):
                sock.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 5\r\nETag: \"e\"\r\n\r\nhello"
                             % status)
            else:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")

    be = RawBackend(script)
    port = start(portico, be.port)
    with connect(port) as s:
        reader = Reader(s, 5)
        s.sendall(b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n")
        first = read_response(reader)
        assert first.status == status
        assert first.body == b""
        s.sendall(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        second = read_response(reader)
        assert second.status == 200 and second.body == b"second"
    be.close()


def test_a_worker_that_lived_long_is_replaced_when_killed(portico):
    """Respawn does not depend on a crash back-off: a worker killed after
    living past the master's "young" threshold (10 s) is replaced at once."""
    port = free_ports(1)[0]
    p = portico(CONF % dict(port=port, be=free_ports(1)[0], listen="", route=""),
                ports=[port])
    old = p.workers()
    assert len(old) == 1
    time.sleep(10.5)
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: p.workers() and p.workers() != old, timeout=3,
             what="a replacement worker")
    with connect(port) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(Reader(s, 3)).status == 200
