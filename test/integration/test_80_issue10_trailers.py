"""Issue 10, trailers: a trailer section goes through the same scrubbing as
the header section, both ways. Fields portico sets or removes itself
(X-Forwarded-*, Forwarded, Via, X-Request-ID, the client certificate
fields), framing fields, Host, hop-by-hop fields and those Connection names
are left out of it; a harmless trailer still arrives.
"""
import time

import pytest

from backends import Backend, RawBackend, Reader, Response, connect, read_head, read_response
from conftest import free_ports

CONF = """
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = ( { path = "/"; proxy = "b"; client_cert_headers = true; %(route)s } );
"""

HOSTILE = [
    ("X-Client-Cert-Subject", "CN=admin"),
    ("x-client-cert-fingerprint", "00:11"),
    ("X-Forwarded-For", "10.0.0.1"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "admin.internal"),
    ("Forwarded", "for=10.0.0.1"),
    ("Via", "1.1 trusted"),
    ("X-Request-ID", "forged"),
    ("Content-Length", "999"),
    ("Transfer-Encoding", "chunked"),
    ("Host", "admin.internal"),
    ("Connection", "close"),
    ("Keep-Alive", "timeout=5"),
    ("TE", "trailers"),
    ("Upgrade", "websocket"),
    ("Proxy-Authorization", "Basic eDp5"),
    ("HTTP2-Settings", "AAMAAABk"),
    ("X-Hop", "named in Connection"),
]


def start(portico, be_port, route=""):
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be_port, route=route), ports=[port])
    return port


def trailer_block(fields):
    return "".join("%s: %s\r\n" % kv for kv in fields).encode() + b"\r\n"


def test_hostile_request_trailers_are_scrubbed(portico, route=""):
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = start(portico, be.port, route)
    body = (b"5\r\nhello\r\n6\r\n world\r\n0\r\n"
            + trailer_block(HOSTILE[:9] + [("X-Checksum", "sha256=abc")] + HOSTILE[9:]))
    with connect(port) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: X-Hop\r\n\r\n" + body)
        resp = read_response(Reader(s, 5))
        assert resp.status == 200
    req = be.requests[0]
    assert req.body == b"hello world"
    assert req.trailers == [("X-Checksum", "sha256=abc")]
    # The head was not touched by any of it either.
    assert req.header("x-client-cert-subject") is None
    assert req.header("host") == "a"
    be.close()


def test_hostile_request_trailers_scrubbed_when_streamed(portico):
    """The same through the streaming relay (request buffering off)."""
    test_hostile_request_trailers_are_scrubbed(portico, "request_buffering = false;")


@pytest.mark.parametrize("route", ["", "request_buffering = false;"])
def test_hostile_request_trailers_split_across_packets(portico, route):
    """The section arriving a few bytes at a time is scrubbed the same,
    buffered or streamed."""
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = start(portico, be.port, route)
    rest = b"0\r\n" + trailer_block([("X-Client-Cert-Subject", "CN=admin"),
                                     ("X-Keep", "1"), ("Via", "x")])
    with connect(port) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n")
        for i in range(0, len(rest), 7):
            time.sleep(0.02)
            s.sendall(rest[i:i + 7])
        assert read_response(Reader(s, 5)).status == 200
    assert be.requests[0].body == b"abc"
    assert be.requests[0].trailers == [("X-Keep", "1")]
    be.close()


def test_hostile_response_trailers_are_scrubbed(portico):
    fields = [("Content-Length", "1"), ("Transfer-Encoding", "chunked"), ("Via", "1.1 x"),
              ("X-Request-ID", "forged"), ("Connection", "close"), ("Upgrade", "h2c"),
              ("HTTP2-Settings", "AAMA"), ("Proxy-Authenticate", "Basic"),
              ("Strict-Transport-Security", "max-age=1"), ("X-Hop", "1"),
              ("X-Checksum", "crc=1"), ("Keep-Alive", "timeout=1")]

    def script(sock):
        _, req = read_head(sock, 5)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Hop\r\n"
                     b"\r\n4\r\nbody\r\n0\r\n" + trailer_block(fields))

    be = RawBackend(script)
    port = start(portico, be.port)
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n")
        resp = read_response(Reader(s, 5))
    assert resp.status == 200 and resp.body == b"body"
    assert resp.trailers == [("X-Checksum", "crc=1")]
    be.close()
