"""Strict request parsing through the real binary (RFC 9110/9112, issue 3).

Every malformed or smuggling-prone request gets its standard status with an
application/problem+json body (status, title, request_id), the connection is
closed where the framing can no longer be trusted, and nothing reaches the
backend behind the proxy route. The limits answer 414, 431 and 413.
"""
import json
import socket

import pytest

from backends import Backend, Reader, ConnectionClosed, closed, connect, read_response
from conftest import Portico, free_ports

CONF = """
portico = { workers = 1; };
listen = ( { address = "127.0.0.1:%(port)d"; max_request_line = "1k";
             max_header_size = "4k"; max_header_count = 20; header_timeout = "5s"; } );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "small"; path = "/small"; client_max_body_size = "100"; proxy = "b"; },
  { name = "echo"; path = "/echo"; echo = true; },
  { name = "all"; path = "/"; proxy = "b"; }
);
"""


class Gateway:
    def __init__(self, proc, port, backend):
        self.proc, self.port, self.backend = proc, port, backend


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    be = Backend(lambda req: (200, [("Content-Type", "text/plain")], b"ok:" + req.body))
    port = free_ports(1)[0]
    proc = Portico(tmp_path_factory.mktemp("parse"), CONF % {"port": port, "be": be.port},
                   ports=[port])
    yield Gateway(proc, port, be)
    proc.stop()
    be.close()
    problems = proc.problems()
    assert not problems, "\n".join(problems)


@pytest.fixture
def g(gw):
    with gw.backend.lock:
        gw.backend.requests.clear()
        gw.backend.accepts = 0
    return gw


def send(port, raw, method="GET", wait_close=True):
    """Send raw bytes; return (response, whether the peer closed after it);
    wait_close=False skips that check (None) for answers that keep the
    connection."""
    s = connect(port, timeout=5)
    try:
        s.sendall(raw)
        reader = Reader(s, 5)
        resp = read_response(reader, method)
        return resp, closed(reader) if wait_close else None
    finally:
        s.close()


def resp_keeps(reader, raw, status):
    """The connection still serves: send raw on it and expect status."""
    reader.sock.sendall(raw)
    return read_response(reader).status == status


def assert_problem(resp, status):
    assert resp.status == status, resp
    assert resp.header("content-type") == "application/problem+json", resp
    doc = json.loads(resp.body)
    assert doc["status"] == status
    assert doc["title"] and isinstance(doc["title"], str)
    assert len(doc["request_id"]) >= 16
    assert resp.header("x-request-id") == doc["request_id"]
    assert int(resp.header("content-length")) == len(resp.body)
    return doc


def H(extra, target="/", method="GET", version="HTTP/1.1", host="Host: a\r\n"):
    return ("%s %s %s\r\n%s%s\r\n" % (method, target, version, host, extra)).encode("latin-1")


# (id, raw request, status): each must be refused, closed, and not forwarded.
BAD = [
    # request smuggling material
    ("te-and-cl", H("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", method="POST")
     + b"0\r\n\r\n", 400),
    ("cl-and-te", H("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", method="POST")
     + b"0\r\n\r\n", 400),
    ("cl-conflict", H("Content-Length: 5\r\nContent-Length: 6\r\n", method="POST")
     + b"hello!", 400),
    ("cl-list-conflict", H("Content-Length: 5, 6\r\n", method="POST") + b"hello!", 400),
    ("cl-plus", H("Content-Length: +5\r\n", method="POST") + b"hello", 400),
    ("cl-minus", H("Content-Length: -5\r\n", method="POST") + b"hello", 400),
    ("cl-hex", H("Content-Length: 0x5\r\n", method="POST") + b"hello", 400),
    ("cl-space-inside", H("Content-Length: 1 2\r\n", method="POST") + b"x" * 12, 400),
    ("cl-empty", H("Content-Length: \r\n", method="POST"), 400),
    ("cl-empty-element", H("Content-Length: 5,\r\n", method="POST") + b"hello", 400),
    ("cl-overflow", H("Content-Length: 99999999999999999999999\r\n", method="POST"), 400),
    ("te-not-final-chunked", H("Transfer-Encoding: chunked, gzip\r\n", method="POST")
     + b"0\r\n\r\n", 400),
    ("te-identity", H("Transfer-Encoding: identity\r\n", method="POST") + b"0\r\n\r\n", 400),
    ("te-twice-chunked", H("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                           method="POST") + b"0\r\n\r\n", 400),
    ("te-chunked-param", H("Transfer-Encoding: chunked;q=1\r\n", method="POST")
     + b"0\r\n\r\n", 400),
    ("te-empty", H("Transfer-Encoding: \r\n", method="POST") + b"0\r\n\r\n", 400),
    ("te-unknown-coding", H("Transfer-Encoding: gzip, chunked\r\n", method="POST")
     + b"0\r\n\r\n", 501),
    ("te-http10", H("Transfer-Encoding: chunked\r\n", method="POST", version="HTTP/1.0")
     + b"0\r\n\r\n", 400),
    ("te-vertical-tab", H("Transfer-Encoding:\x0bchunked\r\n", method="POST")
     + b"0\r\n\r\n", 400),
    # field syntax
    ("obs-fold", H("X-A: b\r\n c\r\n"), 400),
    ("obs-fold-tab", H("X-A: b\r\n\tc\r\n"), 400),
    ("space-before-colon", H("X-A : b\r\n"), 400),
    ("tab-before-colon", H("X-A\t: b\r\n"), 400),
    ("space-before-colon-cl", H("Content-Length : 5\r\n", method="POST") + b"hello", 400),
    ("leading-space-first-field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("bare-cr-in-value", H("X-A: b\rc\r\n"), 400),
    ("bare-cr-line-end", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\r\n\r\n", 400),
    ("bare-lf-field", b"GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400),
    ("bare-lf-request-line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    ("bare-lf-end", b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    ("nul-in-value", H("X-A: b\x00c\r\n"), 400),
    ("nul-in-name", H("X\x00A: b\r\n"), 400),
    ("ctl-in-value", H("X-A: b\x01c\r\n"), 400),
    ("del-in-value", H("X-A: b\x7fc\r\n"), 400),
    ("ctl-in-name", H("X\x01A: b\r\n"), 400),
    ("separator-in-name", H("X(A): b\r\n"), 400),
    ("8bit-in-name", H("X\xe9A: b\r\n"), 400),
    ("no-colon", H("X-A b\r\n"), 400),
    ("empty-name", H(": b\r\n"), 400),
    # request line
    ("8bit-target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("space-in-target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("fragment", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("ctl-in-target", b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bad-percent", b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("double-space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("lowercase-version", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    ("version-junk", b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400),
    ("version-short", b"GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
    ("version-2digit", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    ("no-version", b"GET /\r\nHost: a\r\n\r\n", 400),
    ("http2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("http3", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
    ("http09", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    ("bad-method-char", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("relative-target", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("asterisk-get", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("ftp-absolute", b"GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute-userinfo", b"GET http://u@a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("connect-origin-form", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("connect-no-port", b"CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    # RFC 3986 3.3: characters a path may not hold (a backslash walks past
    # prefix rules on servers that take it for "/")
    ("path-backslash", b"GET /public/..\\admin HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("path-quote", b'GET /a"b HTTP/1.1\r\nHost: a\r\n\r\n', 400),
    ("path-angle", b"GET /a<b> HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("path-brace", b"GET /a{b} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("path-pipe", b"GET /a|b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("path-caret", b"GET /a^b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("path-backtick", b"GET /a`b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("path-bracket", b"GET /a[0] HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute-path-backslash", b"GET http://a/x\\y HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    # Host
    ("no-host", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    ("host-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host-userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    ("host-bad-port", b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400),
    ("host-big-port", b"GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400),
    ("host-bad-ipv6", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    ("host-slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    # chunked bodies (the head is fine: the error is in the framing)
    ("chunk-size-junk", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"zz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-negative", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"-5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-plus", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"+5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-0x", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"0x5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-overflow", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"10000000000000005\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-empty", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-space", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"5 5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-data-no-crlf", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"5\r\nhelloXX0\r\n\r\n", 400),
    ("chunk-data-too-long", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"3\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-bare-lf", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"5\nhello\r\n0\r\n\r\n", 400),
    ("chunk-bare-cr-ext", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"5;a\rb\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-trailer-fold", H("Transfer-Encoding: chunked\r\n", method="POST")
     + b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n", 400),
]


@pytest.mark.parametrize("raw,status", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_malformed_refused_closed_not_forwarded(g, raw, status):
    resp, was_closed = send(g.port, raw)
    assert_problem(resp, status)
    assert resp.header("connection") == "close"
    assert was_closed, "the connection must be closed after a framing error"
    assert g.backend.requests == []


def test_malformed_split_byte_by_byte_same_answer(g):
    """The verdict does not depend on how the bytes arrive."""
    raw = H("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", method="POST")
    s = connect(g.port, timeout=5)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(raw)):
            s.send(raw[i:i + 1])
        reader = Reader(s, 5)
        assert_problem(read_response(reader), 400)
        assert closed(reader)
    finally:
        s.close()
    assert g.backend.requests == []


def test_error_after_good_request_on_same_connection(g):
    """A good request is answered, then a smuggled one is refused and the
    connection closed; only the good one reached the backend."""
    raw = (b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
           b"POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    s = connect(g.port, timeout=5)
    try:
        s.sendall(raw)
        reader = Reader(s, 5)
        first = read_response(reader)
        assert first.status == 200 and first.body == b"ok:"
        assert_problem(read_response(reader), 400)
        assert closed(reader)
    finally:
        s.close()
    assert [r.target for r in g.backend.requests] == ["/first"]


def test_duplicate_equal_content_length_is_one(g):
    """RFC 9110 8.6: identical values are one length; forwarded once."""
    raw = H("Content-Length: 5\r\nContent-Length: 5\r\n", method="POST") + b"hello"
    resp, _ = send(g.port, raw, "POST", wait_close=False)
    assert resp.status == 200 and resp.body == b"ok:hello"
    req = g.backend.requests[0]
    assert req.header_all("content-length") == ["5"]
    raw = H("Content-Length: 5, 5\r\n", method="POST") + b"hello"
    resp, _ = send(g.port, raw, "POST", wait_close=False)
    assert resp.status == 200 and resp.body == b"ok:hello"
    assert g.backend.requests[1].header_all("content-length") == ["5"]


def test_chunked_with_extensions_and_trailers_accepted(g):
    raw = H("Transfer-Encoding: chunked\r\n", method="POST") + \
        b"5;name=val;q=\"x y\"\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n"
    resp, _ = send(g.port, raw, "POST", wait_close=False)
    assert resp.status == 200 and resp.body == b"ok:hello!"
    req = g.backend.requests[0]
    assert req.body == b"hello!"
    assert req.header("content-length") is None
    assert "chunked" in req.header("transfer-encoding")


def test_absolute_form_uses_target_authority(g):
    """RFC 9112 3.2.2: the authority of an absolute-form target replaces Host."""
    raw = b"GET http://Example.COM:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n"
    resp, _ = send(g.port, raw, wait_close=False)
    assert resp.status == 200
    req = g.backend.requests[0]
    assert req.target == "/p/q?x=1"
    assert req.header("host") == "Example.COM:8080"


def test_options_absolute_form_without_path_becomes_asterisk(g):
    """RFC 9112 3.2.4: OPTIONS for an absolute URI with an empty path and no
    query reaches the origin server as "OPTIONS *"; with a path or a query
    it stays a path."""
    for target, sent in [(b"http://example.com", "*"), (b"http://example.com:80", "*"),
                         (b"http://example.com/", "/"), (b"http://example.com?x=1", "/?x=1")]:
        raw = b"OPTIONS %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % target
        resp, _ = send(g.port, raw, "OPTIONS", wait_close=False)
        assert resp.status == 200
        assert g.backend.requests[-1].target == sent, target
        assert g.backend.requests[-1].method == "OPTIONS"


def test_expect_in_http10_is_not_forwarded(g):
    """RFC 9110 10.1.1: an HTTP/1.0 request's 100-continue is ignored."""
    raw = b"POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
    resp, _ = send(g.port, raw, "POST")
    assert resp.status == 200 and resp.body == b"ok:hi"
    assert g.backend.requests[0].header("expect") is None


def test_every_path_character_rfc3986_allows_is_forwarded(g):
    """pchar: unreserved, sub-delims, ":" and "@" (and "/"), as received; a
    query keeps what the path may not hold, byte for byte."""
    path = "/a-._~!$&'()*+,;=:@/%3A"
    resp, _ = send(g.port, b"GET %s?q={x}|\\ HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode(),
                   wait_close=False)
    assert resp.status == 200
    assert g.backend.requests[0].target == path + "?q={x}|\\"


def test_absolute_form_without_host_field_is_400(g):
    raw = b"GET http://example.com/ HTTP/1.1\r\n\r\n"
    resp, was_closed = send(g.port, raw)
    assert_problem(resp, 400)
    assert was_closed
    assert g.backend.requests == []


def test_http10_without_host_is_served(g):
    resp, was_closed = send(g.port, b"GET /old HTTP/1.0\r\n\r\n")
    assert resp.status == 200 and resp.body == b"ok:"
    assert was_closed       # HTTP/1.0 without keep-alive
    assert g.backend.requests[0].target == "/old"


def test_connect_not_implemented(g):
    raw = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    resp, was_closed = send(g.port, raw)
    assert_problem(resp, 501)
    assert was_closed
    assert g.backend.requests == []


def test_options_asterisk(g):
    """OPTIONS * is about the server, not a resource: the gateway answers it
    itself and forwards nothing."""
    s = connect(g.port, timeout=5)
    try:
        s.sendall(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s, 5)
        resp = read_response(reader, "OPTIONS")
        assert resp.status == 200 and resp.body == b""
        assert resp.header("content-length") == "0"
        assert resp_keeps(reader, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 200)
    finally:
        s.close()
    assert [r.target for r in g.backend.requests] == ["/x"]


def test_empty_lines_before_request_line_are_skipped(g):
    resp, _ = send(g.port, b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert resp.status == 200
    assert g.backend.requests[0].target == "/x"


def test_expect_unknown_is_417(g):
    raw = H("Expect: something-else\r\nContent-Length: 2\r\n", method="POST") + b"hi"
    resp, _ = send(g.port, raw, "POST", wait_close=False)
    assert_problem(resp, 417)
    assert g.backend.requests == []


# ---- limits ------------------------------------------------------------------

def test_request_line_too_long_414(g):
    raw = b"GET /" + b"a" * 1100 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    resp, was_closed = send(g.port, raw)
    assert_problem(resp, 414)
    assert was_closed
    assert g.backend.requests == []


def test_request_line_at_limit_ok(g):
    target = b"/" + b"a" * (1024 - len(b"GET  HTTP/1.1") - 1)
    raw = b"GET " + target + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    assert len(raw.split(b"\r\n")[0]) == 1024
    resp, _ = send(g.port, raw)
    assert resp.status == 200
    assert g.backend.requests[0].target == target.decode()


def test_header_section_too_large_431(g):
    raw = H("X-Big: %s\r\n" % ("b" * 5000))
    resp, was_closed = send(g.port, raw)
    assert_problem(resp, 431)
    assert was_closed
    assert g.backend.requests == []


def test_header_section_too_large_many_fields_431(g):
    raw = H("".join("X-%d: %s\r\n" % (i, "v" * 300) for i in range(18)))
    resp, was_closed = send(g.port, raw)
    assert_problem(resp, 431)
    assert was_closed


def test_too_many_fields_431(g):
    raw = H("".join("X-%d: v\r\n" % i for i in range(25)))
    resp, was_closed = send(g.port, raw)
    assert_problem(resp, 431)
    assert was_closed
    assert g.backend.requests == []


def test_fields_at_count_limit_ok(g):
    raw = H("".join("X-%d: v\r\n" % i for i in range(18)) + "Connection: close\r\n")
    resp, _ = send(g.port, raw)
    assert resp.status == 200
    assert g.backend.requests[0].header("x-17") == "v"


def test_body_over_route_limit_413_by_length(g):
    raw = H("Content-Length: 101\r\n", target="/small", method="POST") + b"x" * 101
    resp, was_closed = send(g.port, raw, "POST")
    assert_problem(resp, 413)
    assert was_closed
    assert g.backend.requests == []


def test_body_at_route_limit_ok(g):
    raw = H("Content-Length: 100\r\nConnection: close\r\n", target="/small",
            method="POST") + b"x" * 100
    resp, _ = send(g.port, raw, "POST")
    assert resp.status == 200 and resp.body == b"ok:" + b"x" * 100


def test_body_over_route_limit_413_chunked(g):
    raw = H("Transfer-Encoding: chunked\r\n", target="/small", method="POST") + \
        b"64\r\n" + b"x" * 100 + b"\r\n1\r\ny\r\n0\r\n\r\n"
    resp, was_closed = send(g.port, raw, "POST")
    assert_problem(resp, 413)
    assert was_closed
    assert g.backend.requests == []


def test_body_over_route_limit_413_echo_chunked(g):
    raw = H("Transfer-Encoding: chunked\r\n", target="/small/../echo", method="POST") + \
        b"80\r\n" + b"x" * 128 + b"\r\n0\r\n\r\n"
    resp, _ = send(g.port, raw, "POST", wait_close=False)
    assert resp.status == 200       # /echo has the default 1M limit
    assert json.loads(resp.body)["body_length"] == 128


def test_other_routes_keep_default_limit(g):
    body = b"y" * 5000
    raw = H("Content-Length: %d\r\nConnection: close\r\n" % len(body), target="/big",
            method="POST") + body
    resp, _ = send(g.port, raw, "POST")
    assert resp.status == 200 and resp.body == b"ok:" + body


def test_no_route_404_problem(tmp_path, portico):
    port = free_ports(1)[0]
    portico('listen = ( "127.0.0.1:%d" );\nroutes = ( { path_exact = "/only"; '
            'return = 204; } );\n' % port, ports=[port])
    s = connect(port, timeout=5)
    try:
        s.sendall(b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s, 5)
        doc = assert_problem(read_response(reader), 404)
        assert doc["title"] == "Not Found"
        assert resp_keeps(reader, b"GET /only HTTP/1.1\r\nHost: a\r\n\r\n", 204)
    finally:
        s.close()


def test_worker_survives_garbage(g):
    """Random binary junk and a huge header flood cannot hurt the worker."""
    import random
    rnd = random.Random(3)
    for _ in range(30):
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
        s = connect(g.port, timeout=5)
        try:
            s.sendall(junk + b"\r\n\r\n")
            s.settimeout(3)
            try:
                s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                pass
        finally:
            s.close()
    resp, _ = send(g.port, b"GET /alive HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert resp.status == 200
