"""Issue 10, chunked request bodies: framing that is already invalid in
what came with the head means nothing of the request reaches a server (a
400 to the client); an error later in a streamed body closes the upstream
connection without a last chunk.
"""
import socket
import time

from backends import RawBackend, Reader, connect, read_response
from conftest import free_ports, wait_for

CONF = """
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = ( { path = "/"; proxy = "b"; %(route)s } );
"""


class Counting:
    """A backend that records every byte of every connection it accepts and
    answers nothing until its peer closes."""

    def __init__(self):
        self.data = []
        self.raw = RawBackend(self.script)

    def script(self, sock):
        got = [b""]
        self.data.append(got)
        sock.settimeout(5)
        while True:
            try:
                more = sock.recv(65536)
            except OSError:
                return
            if not more:
                return
            got[0] += more

    @property
    def accepts(self):
        return self.raw.accepts

    def close(self):
        self.raw.close()


def start(portico, be, route=""):
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be.raw.port, route=route), ports=[port])
    return port


HEAD = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_invalid_chunk_size_with_the_head_reaches_no_server(portico):
    be = Counting()
    port = start(portico, be)
    for body in [b"zz\r\nhello\r\n0\r\n\r\n",                # not a size at all
                 b"5\r\nhello\r\n5\nworld\r\n0\r\n\r\n",    # a good chunk, then a bare LF
                 b"5\r\nhelloXX3\r\nabc\r\n"]:              # no CRLF after the data
        with connect(port) as s:
            s.sendall(HEAD + body)
            reader = Reader(s, 5)
            resp = read_response(reader)
            assert resp.status == 400, body
            assert (resp.header("connection") or "").lower() == "close"
    time.sleep(0.3)
    assert be.accepts == 0, be.data
    be.close()


def test_invalid_chunk_size_without_buffering_reaches_no_server(portico):
    """The same with request_buffering off: the check runs before connecting."""
    be = Counting()
    port = start(portico, be, "request_buffering = false;")
    with connect(port) as s:
        s.sendall(HEAD + b"5\r\nhello\r\nzz\r\n")
        assert read_response(Reader(s, 5)).status == 400
    time.sleep(0.3)
    assert be.accepts == 0, be.data
    be.close()


def test_error_later_in_a_streamed_body_closes_without_last_chunk(portico):
    """Streamed (request_buffering off): the good chunks went on, the bad one
    did not, and the server sees its connection close with no last chunk."""
    be = Counting()
    port = start(portico, be, "request_buffering = false;")
    with connect(port) as s:
        s.sendall(HEAD + b"5\r\nhello\r\n")
        wait_for(lambda: be.data and b"hello" in be.data[0][0], 5, what="the first chunk")
        s.sendall(b"5\r\nworld\r\nQ\r\n0\r\n\r\n")
        resp = read_response(Reader(s, 5))
        assert resp.status == 400
    wait_for(lambda: be.raw.conns and _closed(be.raw.conns[0]), 5, what="the upstream close")
    sent = be.data[0][0]
    body = sent.split(b"\r\n\r\n", 1)[1]
    # What was valid went on as it came; the bad chunk and all after it
    # (the client's last chunk included) did not.
    assert body.startswith(b"5\r\nhello\r\n5\r\nworld"), body
    assert b"Q" not in body and not body.endswith(b"0\r\n\r\n"), body
    be.close()


def _closed(sock):
    # The script's recv loop ends (and the socket closes) on EOF.
    try:
        return sock.fileno() == -1
    except OSError:
        return True
