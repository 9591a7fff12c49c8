"""Upgrade and WebSocket through the tunnel (issue 3): the 101 handshake
forwarded when the route allows it, bytes both ways (also those that ride
along with either head), half-closes passed on, the tunnel idle timeout,
and Upgrade ignored where it is not allowed.
"""
import base64
import hashlib
import os
import socket
import threading
import time

from backends import (Backend, Reader, RawBackend, Request, connect, parse_head, read_head,
                      read_response)
from conftest import free_ports, wait_for

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class WsEcho:
    """A backend that answers an Upgrade with 101 and then echoes bytes until
    the client half-closes; it then closes its side too."""

    def __init__(self, greeting=b""):
        self.heads = []
        self.events = []
        self.greeting = greeting
        self.raw = RawBackend(self.script)
        self.port = self.raw.port

    def script(self, sock):
        reader = Reader(sock, 10)
        raw = reader.read_until(b"\r\n\r\n")
        first, headers = parse_head(raw)
        method, target, version = first.split(" ", 2)
        req = Request(method, target, version, headers, b"", raw)
        self.heads.append(req)
        if (req.header("upgrade") or "").lower() != "websocket":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nno switch")
            return
        key = req.header("sec-websocket-key")
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                     % accept_key(key).encode() + self.greeting)
        if reader.buf:
            sock.sendall(reader.buf)
        sock.settimeout(10)
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                self.events.append("error")
                return
            if not data:
                self.events.append("eof")
                return
            sock.sendall(data)

    def close(self):
        self.raw.close()


def start(portico, be_port, route="websocket = true;"):
    port = free_ports(1)[0]
    p = portico("""
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = ( { path = "/"; proxy = "b"; %s } );
""" % (port, be_port, route), ports=[port])
    return port


def upgrade_request(key="dGhlIHNhbXBsZSBub25jZQ==", version="HTTP/1.1", extra=b""):
    return (b"GET /chat?room=1 %s\r\nHost: ws.example\r\nUpgrade: websocket\r\n"
            b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            b"Sec-WebSocket-Version: 13\r\nOrigin: http://ws.example\r\n\r\n"
            % (version.encode(), key.encode())) + extra


def read_exact(sock, n, timeout=5):
    sock.settimeout(timeout)
    out = b""
    while len(out) < n:
        data = sock.recv(n - len(out))
        if not data:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += data
    return out


def test_websocket_echo_through_tunnel(portico):
    be = WsEcho()
    port = start(portico, be.port)
    with connect(port) as s:
        s.sendall(upgrade_request())
        reader = Reader(s, 5)
        resp = read_response(reader)
        assert resp.status == 101
        assert resp.header("upgrade") == "websocket"
        assert "upgrade" in resp.header("connection").lower()
        assert resp.header("sec-websocket-accept") == accept_key("dGhlIHNhbXBsZSBub25jZQ==")
        assert reader.buf == b""
        for i in range(20):
            msg = b"\x81\x05hello-%d" % i
            s.sendall(msg)
            assert read_exact(s, len(msg)) == msg
        # A large transfer each way at once (the echo keeps both busy).
        blob = os.urandom(2 << 20)
        got = []
        t = threading.Thread(target=lambda: got.append(read_exact(s, len(blob), 20)))
        t.start()
        s.sendall(blob)
        t.join(30)
        assert got and got[0] == blob
        # Our half-close reaches the backend, whose close reaches us.
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        assert s.recv(1) == b""
    wait_for(lambda: be.events, 5, what="the backend to see the end")
    assert be.events == ["eof"]
    req = be.heads[0]
    assert req.target == "/chat?room=1"
    assert req.header("upgrade") == "websocket"
    assert "upgrade" in req.header("connection").lower()
    assert req.header("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert req.header("sec-websocket-version") == "13"
    assert req.header("origin") == "http://ws.example"
    be.close()


def test_bytes_riding_with_the_heads(portico):
    """Client bytes sent along with the request head and server bytes sent
    along with the 101 both make it through."""
    be = WsEcho(greeting=b"server-first")
    port = start(portico, be.port)
    with connect(port) as s:
        s.sendall(upgrade_request(extra=b"client-early"))
        reader = Reader(s, 5)
        assert read_response(reader).status == 101
        want = b"server-first" + b"client-early"
        got = reader.buf + read_exact(s, len(want) - len(reader.buf))
        assert got == want
    be.close()


def test_tunnel_idle_timeout(portico):
    be = WsEcho()
    port = start(portico, be.port, 'websocket = true; tunnel_timeout = "600ms";')
    with connect(port) as s:
        s.sendall(upgrade_request())
        assert read_response(Reader(s, 5)).status == 101
        # Traffic keeps it alive past the timeout...
        for _ in range(6):
            time.sleep(0.25)
            s.sendall(b"x")
            assert read_exact(s, 1) == b"x"
        # ...and silence ends it.
        t0 = time.monotonic()
        s.settimeout(5)
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
        took = time.monotonic() - t0
    assert 0.4 < took < 3, took
    wait_for(lambda: be.events, 5, what="the backend connection to be closed")
    be.close()


def test_upgrade_ignored_when_not_allowed(portico):
    be = WsEcho()
    port = start(portico, be.port, "")
    with connect(port) as s:
        s.sendall(upgrade_request())
        reader = Reader(s, 5)
        resp = read_response(reader)
        assert resp.status == 200 and resp.body == b"no switch"
        # Still plain HTTP on this connection.
        s.sendall(b"GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert read_response(reader).status == 200
    req = be.heads[0]
    assert req.header("upgrade") is None
    assert "upgrade" not in (req.header("connection") or "").lower()
    be.close()


def test_upgrade_ignored_in_http10(portico):
    """RFC 9110 7.8: Upgrade in an HTTP/1.0 request is ignored."""
    be = WsEcho()
    port = start(portico, be.port)
    with connect(port) as s:
        s.sendall(upgrade_request(version="HTTP/1.0"))
        resp = read_response(Reader(s, 5))
        assert resp.status == 200 and resp.body == b"no switch"
    assert be.heads[0].header("upgrade") is None
    be.close()


def test_upgrade_refused_by_backend_keeps_http(portico):
    """A backend that declines the upgrade answers normally; the client
    connection goes on as HTTP."""
    be = Backend(lambda req: (426 if req.target == "/chat?room=1" else 200, [], b"plain"))
    port = start(portico, be.port)
    with connect(port) as s:
        reader = Reader(s, 5)
        s.sendall(upgrade_request())
        resp = read_response(reader)
        assert resp.status == 426 and resp.body == b"plain"
        assert resp.header("upgrade") is None
        s.sendall(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(reader).status == 200
    be.close()


def test_upgrade_with_head_filling_the_buffer(portico):
    """A head that fills the read buffer to the last byte still leaves the
    tunnel room to carry the client's bytes."""
    be = WsEcho()
    port = start(portico, be.port)
    base = upgrade_request()
    pad = 16384 - len(base) - len(b"X-Pad: \r\n")
    raw = base[:-2] + b"X-Pad: " + b"p" * pad + b"\r\n\r\n"
    assert len(raw) == 16384
    with connect(port) as s:
        s.sendall(raw)
        assert read_response(Reader(s, 5)).status == 101
        msg = b"m" * 100000
        s.sendall(msg)
        assert read_exact(s, len(msg)) == msg
    be.close()


def test_request_body_reaches_the_backend_once(portico):
    """An upgrade request with a body (Content-Length or chunked): the body
    is relayed as the request's body, and the tunnel starts after it."""
    seen = []

    def script(sock):
        reader, req = read_head(sock, 5)
        seen.append(req)
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\n\r\n")
        sock.settimeout(5)
        data = reader.buf
        while not data.endswith(b"END"):
            more = sock.recv(4096)
            if not more:
                break
            data += more
        seen.append(data)
        sock.sendall(b"got:" + data)

    be = RawBackend(script)
    port = start(portico, be.port)
    head = upgrade_request()[:-2]
    for framing, body in [(b"Content-Length: 5\r\n", b"HELLO"),
                          (b"Transfer-Encoding: chunked\r\n", b"5\r\nHELLO\r\n0\r\n\r\n")]:
        seen.clear()
        with connect(port) as s:
            s.sendall(head + framing + b"\r\n" + body + b"tunnel-END")
            reader = Reader(s, 5)
            assert read_response(reader).status == 101
            want = b"got:tunnel-END"
            got = reader.buf + read_exact(s, len(want) - len(reader.buf))
            assert got == want
        assert seen[0].body == b"HELLO"
        assert seen[1] == b"tunnel-END"
    be.close()


def test_bad_switch_from_the_backend_is_502(portico):
    """RFC 9110 7.8 and 15.2.2: a 101 without Upgrade, or switching to a
    protocol the client did not offer, is not relayed."""
    answers = [b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
               b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
               b"Upgrade: h2c\r\n\r\n",
               b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
               b"Upgrade: websocket, h2c\r\n\r\n"]

    def script(sock):
        _, req = read_head(sock, 5)
        sock.sendall(answers[int(req.target.split("=")[1])] + b"tunnel bytes")
        sock.settimeout(5)
        try:
            sock.recv(1)
        except OSError:
            pass

    be = RawBackend(script)
    port = start(portico, be.port)
    for i in range(len(answers)):
        with connect(port) as s:
            s.sendall(upgrade_request().replace(b"room=1", b"room=%d" % i))
            resp = read_response(Reader(s, 5))
            assert resp.status == 502, answers[i]
            assert resp.header("content-type") == "application/problem+json"
    be.close()
