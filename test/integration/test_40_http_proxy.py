"""The proxy handler end to end (issue 3): what is forwarded each way,
hop-by-hop handling, the headers a gateway adds, message framing, upstream
keep-alive pools and retries, upstream failures and their statuses, bodies
streamed with bounded memory, and Expect: 100-continue.
"""
import hashlib
import json
import re
import socket
import threading
import time

import pytest

from backends import (Backend, RawBackend, Reader, Request, Response, ConnectionClosed, closed,
                      connect, get, parse_head, read_head, read_response, request)
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 1; %(main)s };
listen = ( { address = "127.0.0.1:%(port)d"; %(listen)s } );
upstreams = { b = { servers = [ %(servers)s ]; %(upstream)s }; };
routes = (
  { path = "/"; proxy = "b"; %(route)s }
);
"""

# Tests of a body relayed while it is still coming (issue 10 made
# request_buffering the default): they stream it.
STREAM = "request_buffering = false;"


def gateway(portico, backends, route="", upstream="", listen="", main="", servers=None):
    port = free_ports(1)[0]
    if servers is None:
        servers = ", ".join('"127.0.0.1:%d"' % b.port for b in backends)
    p = portico(CONF % dict(port=port, servers=servers, route=route, upstream=upstream,
                            listen=listen, main=main), ports=[port])
    p.port = port
    return p


def problem(resp, status):
    assert resp.status == status, resp
    assert resp.header("content-type") == "application/problem+json"
    doc = resp.json()
    assert doc["status"] == status and doc["request_id"]
    return doc


def head_only(sock, timeout=10.0):
    """For RawBackend scripts: read a request head and nothing of its body."""
    reader = Reader(sock, timeout)
    raw = reader.read_until(b"\r\n\r\n")
    first, headers = parse_head(raw)
    method, target, version = first.split(" ", 2)
    return reader, Request(method, target, version, headers, b"", raw)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    return int(m.group(1))


class RssWatch:
    """Samples a process's VmRSS in a thread; .peak after stop()."""

    def __init__(self, pid):
        self.pid, self.peak, self.running = pid, rss_kb(pid), True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.01)

    def stop(self):
        self.running = False
        self.thread.join(2)
        return self.peak


# ---- what is forwarded ---------------------------------------------------------

def test_forwards_method_target_headers_body(portico):
    be = Backend(lambda req: Response(201, [("Content-Type", "text/x-test"),
                                            ("X-Backend", "yes"), ("Set-Cookie", "a=1"),
                                            ("Set-Cookie", "b=2")],
                                      b"created", reason="Made It"))
    p = gateway(portico, [be])
    body = b"\x00\x01binary\xff" * 10
    resp = request(p.port, b"PUT /a/b%20c/d?x=1&y=%2F&z HTTP/1.1\r\nHost: api.test:81\r\n"
                   b"X-Custom: v1\r\nX-Custom: v2\r\nAccept: */*\r\nUser-Agent: t/1\r\n"
                   b"Content-Type: application/octet-stream\r\n"
                   b"Content-Length: " + str(len(body)).encode() +
                   b"\r\nConnection: close\r\n\r\n" + body)
    assert resp.status == 201 and resp.reason == "Made It"
    assert resp.body == b"created"
    assert resp.header("x-backend") == "yes"
    assert resp.header("content-type") == "text/x-test"
    assert resp.header_all("set-cookie") == ["a=1", "b=2"]
    req = be.requests[0]
    assert req.method == "PUT"
    assert req.target == "/a/b%20c/d?x=1&y=%2F&z"
    assert req.version == "HTTP/1.1"
    assert req.header("host") == "api.test:81"
    assert req.header_all("x-custom") == ["v1", "v2"]
    assert req.header("user-agent") == "t/1"
    assert req.header("content-length") == str(len(body))
    assert req.body == body
    be.close()


def test_methods_forwarded_as_is(portico):
    be = Backend(lambda req: (200, [], req.method.encode()))
    p = gateway(portico, [be])
    for m in ("GET", "POST", "DELETE", "OPTIONS", "PATCH", "PROPFIND", "TRACE"):
        resp = request(p.port, "%s /m HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % m)
        assert resp.status == 200 and resp.body == m.encode()
    assert [r.method for r in be.requests] == ["GET", "POST", "DELETE", "OPTIONS", "PATCH",
                                               "PROPFIND", "TRACE"]
    be.close()


def test_upstream_host_override(portico):
    be = Backend()
    p = gateway(portico, [be], upstream='host = "internal.svc";')
    get(p.port, "/", host="public.example")
    assert be.requests[0].header("host") == "internal.svc"
    assert be.requests[0].header("x-forwarded-host") == "public.example"
    be.close()


@pytest.mark.parametrize("forwarded", ["false", "true"])
def test_long_absolute_authority_with_a_short_upstream_host(portico, forwarded):
    """The upstream head was sized by the upstream's host (1 byte here), not
    by the authority it writes into X-Forwarded-Host and Forwarded: a 7,000
    byte authority in an absolute-form target ran past the buffer (found
    by review under ASan)."""
    be = Backend()
    p = gateway(portico, [be], upstream='host = "x";', route="forwarded = %s;" % forwarded)
    authority = "a" * 7000
    resp = request(p.port, "GET http://%s/p HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
                   % authority)
    assert resp.status == 200, resp
    req = be.requests[0]
    assert req.header("host") == "x"
    assert req.header("x-forwarded-host") == authority
    if forwarded == "true":
        assert ('host="%s"' % authority) in req.header("forwarded")
    be.close()


# ---- hop-by-hop ----------------------------------------------------------------

HOP_REQ = (b"GET /hop HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop, x-other\r\n"
           b"Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n"
           b"Upgrade: h2c\r\nX-Hop: secret\r\nX-Other: secret2\r\nX-Keep: kept\r\n"
           b"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n")


def test_hop_by_hop_request_fields_removed(portico):
    be = Backend()
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(HOP_REQ)
        assert read_response(Reader(s)).status == 200
    req = be.requests[0]
    names = {k.lower() for k, _ in req.headers}
    for gone in ("keep-alive", "te", "proxy-connection", "upgrade", "x-hop", "x-other",
                 "proxy-authorization"):
        assert gone not in names, gone
    assert req.header("x-keep") == "kept"
    # Connection may only say what portico itself means for its own hop.
    for v in req.header_all("connection"):
        assert "x-hop" not in v.lower() and "x-other" not in v.lower()
    be.close()


def test_hop_by_hop_response_fields_removed(portico):
    be = Backend(lambda req: Response(200, [
        ("Connection", "X-Secret, x-also"), ("X-Secret", "s"), ("X-Also", "s2"),
        ("Keep-Alive", "timeout=5, max=100"), ("Proxy-Connection", "keep-alive"),
        ("Upgrade", "h2c"), ("TE", "trailers"), ("X-Public", "p")], b"body"))
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        resp = read_response(reader)
        names = {k.lower() for k, _ in resp.headers}
        for gone in ("x-secret", "x-also", "keep-alive", "proxy-connection", "upgrade", "te"):
            assert gone not in names, gone
        assert resp.header("x-public") == "p" and resp.body == b"body"
        assert resp.header("connection") is None    # keep-alive HTTP/1.1: nothing to say
        # The connection is still good for a second request.
        s.sendall(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(reader).body == b"body"
    be.close()


# ---- headers the gateway adds ---------------------------------------------------

def test_x_forwarded_headers(portico):
    be = Backend()
    p = gateway(portico, [be])
    get(p.port, "/", host="shop.example:8443",
        headers=[("X-Forwarded-For", "203.0.113.7, 10.0.0.1"),
                 ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.example")])
    req = be.requests[0]
    assert req.header_all("x-forwarded-for") == ["203.0.113.7, 10.0.0.1, 127.0.0.1"]
    assert req.header_all("x-forwarded-proto") == ["http"]
    assert req.header_all("x-forwarded-host") == ["shop.example:8443"]
    assert req.header("forwarded") is None
    be.close()


def test_x_forwarded_off_passes_client_values(portico):
    be = Backend()
    p = gateway(portico, [be], route="x_forwarded = false;")
    get(p.port, "/", headers=[("X-Forwarded-For", "203.0.113.7")])
    req = be.requests[0]
    assert req.header_all("x-forwarded-for") == ["203.0.113.7"]
    assert req.header("x-forwarded-proto") is None
    be.close()


def test_forwarded_rfc7239(portico):
    be = Backend()
    p = gateway(portico, [be], route="forwarded = true;")
    get(p.port, "/", host="h.example", headers=[("Forwarded", 'for="[2001:db8::1]"')])
    req = be.requests[0]
    assert req.header_all("forwarded") == [
        'for="[2001:db8::1]", for=127.0.0.1;proto=http;host="h.example"']
    ours = 'for=127.0.0.1;proto=http;host="h.example"'
    # Valid lists are kept (empty elements, quoted pairs, OWS around commas)...
    for value in ['for=a;by="b\\"c";proto=https,, for=_x', 'for=1.2.3.4 , host="h:1"']:
        get(p.port, "/", host="h.example", headers=[("Forwarded", value)])
        assert be.requests[-1].header_all("forwarded") == [value + ", " + ours], value
    # ...a value that is not RFC 7239 syntax is dropped: appended to, ours
    # would end up inside the client's open quoted string.
    for value in ['for=1.1.1.1;x="', 'for="bad', 'for', '=x', 'for=a b', 'for=a;;by=', 'f@r=1']:
        get(p.port, "/", host="h.example", headers=[("Forwarded", value)])
        assert be.requests[-1].header_all("forwarded") == [ours], value
    be.close()


def test_via_both_ways(portico):
    be = Backend(lambda req: Response(200, [("Via", "1.1 origin-cache")], b"x"))
    p = gateway(portico, [be])
    resp = get(p.port, "/", headers=[("Via", "1.0 client-proxy")])
    assert be.requests[0].header_all("via") == ["1.0 client-proxy, 1.1 portico"]
    assert resp.header_all("via") == ["1.1 origin-cache, 1.1 portico"]
    resp = request(p.port, b"GET / HTTP/1.0\r\n\r\n")
    assert be.requests[1].header_all("via") == ["1.0 portico"]
    be.close()


def test_via_off_keeps_existing_via(portico):
    """Via is end-to-end: turning ours off must not drop the others'."""
    be = Backend(lambda req: Response(200, [("Via", "1.1 origin-cache")], b"x"))
    p = gateway(portico, [be], route="via = false;")
    resp = get(p.port, "/", headers=[("Via", "1.0 client-proxy")])
    assert be.requests[0].header_all("via") == ["1.0 client-proxy"]
    assert resp.header_all("via") == ["1.1 origin-cache"]
    be.close()


def test_request_id_generated_and_returned(portico):
    be = Backend()
    p = gateway(portico, [be])
    r1 = get(p.port, "/")
    r2 = get(p.port, "/")
    ids = [r.header("x-request-id") for r in be.requests]
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids), ids
    assert ids[0] != ids[1]
    assert [r1.header("x-request-id"), r2.header("x-request-id")] == ids
    be.close()


def test_request_id_from_client_kept(portico):
    be = Backend()
    p = gateway(portico, [be])
    resp = get(p.port, "/", headers=[("X-Request-ID", "client-abc-123")])
    assert be.requests[0].header_all("x-request-id") == ["client-abc-123"]
    assert resp.header_all("x-request-id") == ["client-abc-123"]
    # An id that is not a plain token is replaced, never passed on.
    resp = get(p.port, "/", headers=[("X-Request-ID", "bad id\"{}")])
    sent = be.requests[1].header_all("x-request-id")
    assert len(sent) == 1 and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", sent[0])
    assert resp.header_all("x-request-id") == sent
    be.close()


def test_date_added_when_missing_kept_when_present(portico):
    stamp = "Tue, 15 Nov 1994 08:12:31 GMT"
    be = Backend(lambda req: Response(200, [("Date", stamp)] if req.target == "/d" else [],
                                      b"x"))
    p = gateway(portico, [be])
    resp = get(p.port, "/")
    assert len(resp.header_all("date")) == 1
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", resp.header("date"))
    resp = get(p.port, "/d")
    assert resp.header_all("date") == [stamp]
    be.close()


# ---- framing -------------------------------------------------------------------

def test_head_has_no_body_and_connection_stays_in_sync(portico):
    be = Backend(lambda req: Response(200, [("Content-Length", "100")], b"y" * 100))
    p = gateway(portico, [be])
    with connect(p.port) as s:
        reader = Reader(s)
        s.sendall(b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = read_response(reader, "HEAD")
        assert resp.status == 200 and resp.header("content-length") == "100"
        s.sendall(b"GET /g HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = read_response(reader)
        assert resp.status == 200 and resp.body == b"y" * 100
    assert [r.method for r in be.requests] == ["HEAD", "GET"]
    be.close()


def test_204_304_and_1xx_carry_no_body(portico):
    def script(sock):
        reader, req = read_head(sock)
        # A 204 must not carry framing fields; the upstream's are dropped.
        sock.sendall(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n")
        _read_req(reader)
        sock.sendall(b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 10\r\n\r\n")
        _read_req(reader)
        sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
                     b"Content-Length: 0\r\n\r\n"
                     b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        _read_req(reader)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast")
        time.sleep(1)

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        reader = Reader(s)
        s.sendall(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        r = read_response(reader)
        assert r.status == 204 and r.header("x-a") == "1"
        assert r.header("content-length") is None and r.header("transfer-encoding") is None
        s.sendall(b"GET /2 HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"e\"\r\n\r\n")
        r = read_response(reader)
        assert r.status == 304 and r.header("etag") == '"e"'
        assert r.header("content-length") == "10"      # a 304 may say what a 200 would
        s.sendall(b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
        r = read_response(reader)
        assert r.status == 103 and r.header("link") == "</s.css>; rel=preload"
        assert r.header("content-length") is None
        r = read_response(reader)
        assert r.status == 200 and r.body == b"ok"
        s.sendall(b"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n")
        r = read_response(reader)
        assert r.status == 200 and r.body == b"last"
    assert be.accepts == 1
    be.close()


def _read_req(reader):
    from backends import _read_request
    return _read_request(reader)


def test_1xx_not_sent_to_http10_client(portico):
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                     b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.5)

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = Reader(s).read_all()
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"103" not in data.split(b"\r\n")[0] and b"Early" not in data
    assert data.endswith(b"\r\n\r\nok")
    be.close()


def test_pipelined_requests_answered_in_order(portico):
    def handler(req):
        if req.target == "/slow":
            time.sleep(0.3)
        return Response(200, [("X-Path", req.target)], ("body of %s" % req.target).encode())

    be = Backend(handler)
    p = gateway(portico, [be])
    reqs = (b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            b"HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n"
            b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    with connect(p.port) as s:
        s.sendall(reqs)
        reader = Reader(s)
        got = []
        for method in ("GET", "POST", "HEAD", "POST", "GET"):
            r = read_response(reader, method)
            got.append((r.header("x-path"), r.body))
        assert closed(reader)
    assert got == [("/slow", b"body of /slow"), ("/post", b"body of /post"),
                   ("/head", b""), ("/chunked", b"body of /chunked"),
                   ("/last", b"body of /last")]
    assert [r.body for r in be.requests] == [b"", b"hello", b"", b"abc", b""]
    be.close()


def test_chunked_response_passed_through_with_trailers(portico):
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                     b"5;ext=1\r\nhello\r\n")
        time.sleep(0.1)
        sock.sendall(b"6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n")
        time.sleep(0.5)

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        r = read_response(Reader(s))
    assert r.header("transfer-encoding") == "chunked"
    assert r.header("content-length") is None
    assert r.body == b"hello world"
    assert r.trailers == [("X-Sum", "abc")]
    be.close()


def test_chunked_request_body_passed_through_with_trailers(portico):
    be = Backend(lambda req: (200, [], b"got " + req.body))
    p = gateway(portico, [be])
    resp = request(p.port, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\nX-T: v\r\n\r\n")
    assert resp.body == b"got wikipedia"
    req = be.requests[0]
    assert req.header("transfer-encoding") == "chunked"
    assert req.header("content-length") is None
    assert req.trailers == [("X-T", "v")]
    be.close()


def test_http10_client_gets_decoded_close_delimited_body(portico):
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: v\r\n\r\n")
        time.sleep(0.5)

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        data = Reader(s).read_all()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert b"content-length" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body == b"hello world"
    be.close()


def test_http10_client_keepalive_with_length(portico):
    be = Backend()
    p = gateway(portico, [be])
    with connect(p.port) as s:
        reader = Reader(s)
        s.sendall(b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = read_response(reader)
        assert r.header("connection").lower() == "keep-alive"
        s.sendall(b"GET /2 HTTP/1.0\r\n\r\n")
        r = read_response(reader)
        assert r.body == b"hello from backend"
        assert closed(reader)
    be.close()


def test_close_delimited_upstream_response(portico):
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        r = read_response(reader)
    assert r.header("connection") == "close"
    assert r.body == b"until close"
    be.close()


def test_upstream_te_and_cl_uses_chunked_and_closes_upstream(portico):
    def script(sock):
        reader, _ = read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        sock.settimeout(3)
        try:
            seen.append(sock.recv(1))
        except OSError:
            seen.append(None)

    seen = []
    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        r = read_response(Reader(s))
        assert r.body == b"abc" and r.header("content-length") is None
    wait_for(lambda: seen, 5, what="upstream close")
    assert seen == [b""], "a response framed by both must not leave the connection reused"
    be.close()


def test_upstream_content_length_relayed_as_one_value(portico):
    """RFC 9110 8.6: a list of one repeated value, repeated fields and
    leading zeros reach the client as a single Content-Length."""
    answers = [b"Content-Length: 2, 2\r\n", b"Content-Length: 2\r\nContent-Length: 2\r\n",
               b"Content-Length: 002\r\n"]

    def script(sock):
        _, req = read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\n" + answers[int(req.target[1:])] + b"\r\nok")

    be = RawBackend(script)
    p = gateway(portico, [be])
    for i in range(len(answers)):
        with connect(p.port) as s:
            s.sendall(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            r = read_response(Reader(s))
        assert r.status == 200 and r.body == b"ok"
        assert r.header_all("content-length") == ["2"], r.headers
    be.close()


# ---- upstream connections --------------------------------------------------------

def test_keepalive_reuse_one_upstream_connection(portico):
    be = Backend()
    p = gateway(portico, [be])
    for i in range(10):
        assert get(p.port, "/%d" % i).status == 200
    with connect(p.port) as s:
        reader = Reader(s)
        for i in range(10):
            s.sendall(b"GET /ka HTTP/1.1\r\nHost: a\r\n\r\n")
            assert read_response(reader).status == 200
    assert len(be.requests) == 20
    assert be.accepts == 1
    be.close()


def test_upstream_connection_close_not_reused(portico):
    be = Backend(lambda req: Response(200, [("Connection", "close")], b"bye"))
    p = gateway(portico, [be])
    for i in range(3):
        assert get(p.port, "/").body == b"bye"
    assert be.accepts == 3
    be.close()


def test_keepalive_zero_means_no_pool(portico):
    be = Backend()
    p = gateway(portico, [be], upstream="keepalive = 0;")
    for i in range(3):
        assert get(p.port, "/").status == 200
    assert be.accepts == 3
    be.close()


def test_idle_pool_limit(portico):
    """keepalive = 2: after 5 concurrent requests only 2 connections stay."""
    gate = threading.Event()

    def handler(req):
        if req.target == "/wait":
            gate.wait(5)
        return Response(200, [], b"ok")

    be = Backend(handler)
    p = gateway(portico, [be], upstream="keepalive = 2;")

    def burst():
        gate.clear()
        before = len(be.requests)
        socks = []
        for i in range(5):
            s = connect(p.port)
            s.sendall(b"GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
            socks.append(s)
        wait_for(lambda: len(be.requests) == before + 5, 5, what="5 requests at the backend")
        gate.set()
        for s in socks:
            assert read_response(Reader(s)).status == 200
            s.close()

    burst()
    assert be.accepts == 5
    time.sleep(0.2)
    burst()
    assert be.accepts == 8, "2 pooled connections reused, 3 new"
    be.close()


def test_upstream_idle_timeout_closes_pooled(portico):
    be = Backend()
    p = gateway(portico, [be], upstream='keepalive_timeout = "200ms";')
    get(p.port, "/")
    time.sleep(0.6)
    get(p.port, "/")
    assert be.accepts == 2
    be.close()


def test_upstream_keepalive_requests_cap(portico):
    be = Backend()
    p = gateway(portico, [be], upstream="keepalive_requests = 3;")
    for i in range(7):
        get(p.port, "/")
    assert be.accepts == 3
    be.close()


def test_pooled_connection_closed_by_server_while_idle(portico):
    """The server closes idle connections after 100 ms: the next request
    gets a fresh connection, not an error."""
    def script(sock):
        reader, _ = read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.1)

    be = RawBackend(script)
    p = gateway(portico, [be])
    assert get(p.port, "/").body == b"ok"
    time.sleep(0.4)
    assert get(p.port, "/").body == b"ok"
    assert be.accepts == 2
    be.close()


def _dies_after_one(record):
    """A server that answers one request per connection, then reads the next
    request and closes without answering (it timed the connection out just
    as the request arrived)."""
    def script(sock):
        reader, req = read_head(sock)
        record.append((req.method, req.target))
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        try:
            read_head(sock)
        except Exception:
            pass
        sock.shutdown(socket.SHUT_RDWR)
    return script


def test_retry_on_fresh_connection_when_reused_one_is_dead(portico):
    record = []
    be = RawBackend(_dies_after_one(record))
    p = gateway(portico, [be])
    assert get(p.port, "/one").body == b"ok"
    for target in ("/two", "/three"):
        r = request(p.port, b"PUT %s HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                    b"Connection: close\r\n\r\nabc" % target.encode())
        assert r.status == 200 and r.body == b"ok"
    assert record == [("GET", "/one"), ("PUT", "/two"), ("PUT", "/three")]
    assert be.accepts == 3
    be.close()


def test_no_retry_of_non_idempotent_request(portico):
    """RFC 9110 9.2.2: a proxy MUST NOT automatically retry non-idempotent
    requests: the dead connection may have delivered the POST."""
    record = []
    be = RawBackend(_dies_after_one(record))
    p = gateway(portico, [be])
    assert get(p.port, "/one").body == b"ok"
    r = request(p.port, b"POST /pay HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                b"Connection: close\r\n\r\nabc")
    problem(r, 502)
    assert be.accepts == 1
    be.close()


def test_retry_disabled(portico):
    record = []
    be = RawBackend(_dies_after_one(record))
    p = gateway(portico, [be], upstream="retry = false;")
    assert get(p.port, "/one").body == b"ok"
    problem(get(p.port, "/two"), 502)
    assert be.accepts == 1
    be.close()


def test_round_robin_and_failover(portico):
    b1 = Backend(lambda req: (200, [], b"one"))
    b2 = Backend(lambda req: (200, [], b"two"))
    dead = free_ports(1)[0]
    p = gateway(portico, [], servers='"127.0.0.1:%d", "127.0.0.1:%d", "127.0.0.1:%d"'
                % (b1.port, dead, b2.port))
    bodies = [get(p.port, "/").body for _ in range(6)]
    assert sorted(set(bodies)) == [b"one", b"two"]
    assert len(b1.requests) + len(b2.requests) == 6
    assert abs(len(b1.requests) - len(b2.requests)) <= 2
    b1.close()
    b2.close()


# ---- upstream failures -----------------------------------------------------------

def test_upstream_refused_502(portico):
    dead = free_ports(1)[0]
    # max_fails = 0: tried every time (marking down is test_50_upstream_health).
    p = gateway(portico, [], servers='"127.0.0.1:%d"' % dead, upstream="max_fails = 0;")
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        problem(read_response(reader), 502)
        # A gateway error about the upstream does not poison the client connection.
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        problem(read_response(reader), 502)


def test_upstream_read_timeout_504(portico):
    be = Backend(lambda req: (time.sleep(3), Response(200, [], b"late"))[1])
    p = gateway(portico, [be], upstream='read_timeout = "300ms";')
    t = time.monotonic()
    problem(get(p.port, "/"), 504)
    assert time.monotonic() - t < 2.5       # the timeout, not the upstream's answer
    be.close()


def test_upstream_read_timeout_mid_body_closes_client(portico):
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        time.sleep(2)

    be = RawBackend(script)
    p = gateway(portico, [be], upstream='read_timeout = "300ms";')
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        with pytest.raises(ConnectionClosed):
            read_response(reader)
    be.close()


def test_upstream_connect_timeout_504(portico):
    """A server whose accept queue is full drops our SYN: the connect hangs."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(lsock.getsockname())
        except BlockingIOError:
            pass
        fillers.append(f)
    time.sleep(0.2)
    p = gateway(portico, [], servers='"127.0.0.1:%d"' % lsock.getsockname()[1],
                upstream='connect_timeout = "300ms";')
    t = time.monotonic()
    problem(get(p.port, "/"), 504)
    assert time.monotonic() - t < 3
    for f in fillers:
        f.close()
    lsock.close()


MALFORMED = [
    ("garbage", b"hello there\r\n\r\n"),
    ("bad-status", b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"),
    ("bad-version", b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ("cl-conflict", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"),
    ("cl-junk", b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nab"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
    ("bare-lf", b"HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
    ("nul", b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n"),
    ("space-before-colon", b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"),
    ("huge-head", b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"x" * 40000 + b"\r\n\r\n"),
    ("101-unasked", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                    b"Connection: upgrade\r\n\r\n"),
    ("status-600", b"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok"),
    ("te-gzip", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8bGZ"),
    ("te-gzip-chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                        b"4\r\n\x1f\x8bGZ\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("raw", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_upstream_response_502_and_upstream_closed(portico, raw):
    seen = []

    def script(sock):
        read_head(sock)
        try:
            sock.sendall(raw)
            sock.settimeout(3)
            seen.append(sock.recv(1))
        except OSError:
            seen.append(b"")        # reset also means closed

    be = RawBackend(script)
    p = gateway(portico, [be])
    problem(get(p.port, "/"), 502)
    wait_for(lambda: seen, 5, what="the upstream side to end")
    assert seen == [b""]
    be.close()


def test_bad_chunked_upstream_body_aborts_client(portico):
    """A bad chunk after the head went out: the client connection is closed,
    no complete-looking message."""
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        time.sleep(0.3)
        sock.sendall(b"zz\r\nbad\r\n0\r\n\r\n")
        time.sleep(1)

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        with pytest.raises(ConnectionClosed):
            read_response(Reader(s))
    be.close()


def test_bad_chunked_upstream_body_with_the_head_is_502(portico):
    """A bad chunk that comes with the head: nothing went out yet, so the
    client gets a 502 rather than a closed connection."""
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                     b"zz\r\nbad\r\n0\r\n\r\n")
        time.sleep(1)

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = read_response(Reader(s))
    problem(resp, 502)
    be.close()


@pytest.mark.parametrize("resp", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
], ids=["length", "chunked-no-last", "chunked-mid-chunk"])
def test_truncated_upstream_body_closes_client_without_complete_message(portico, resp):
    def script(sock):
        read_head(sock)
        sock.sendall(resp)

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        with pytest.raises(ConnectionClosed):
            read_response(reader)
    be.close()


def test_truncated_upstream_body_http10_client(portico):
    """An HTTP/1.0 client reads until close: the close must come as a reset
    or with the declared length unmet, never as a clean short message."""
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = Reader(s).read_all()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-length: 100" in head.lower()
    assert len(body) < 100
    be.close()


def test_truncated_chunked_body_to_http10_client_is_reset(portico):
    """Decoded for an HTTP/1.0 client, the body ends with the connection:
    a cut-short upstream body must reach the client as a reset, not as a
    clean close that would pass for the end."""
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data, reset = b"", False
        s.settimeout(5)
        try:
            while True:
                more = s.recv(65536)
                if not more:
                    break
                data += more
        except ConnectionResetError:
            reset = True
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length" not in head.lower()
    assert reset, "the cut body ended with a clean close: %r" % body
    be.close()


# ---- big bodies, bounded memory ---------------------------------------------------

MB = 1024 * 1024


def _pattern(i):
    return hashlib.sha256(b"%d" % i).digest() * 2048        # 64 KiB per block


def test_50mb_upload_streamed_with_bounded_memory(portico):
    size = 50 * MB
    result = {}

    def script(sock):
        reader, req = head_only(sock, timeout=60)
        left = int(req.header("content-length"))
        h = hashlib.sha256()
        h.update(reader.buf[:left])
        left -= len(reader.buf[:left])
        sock.settimeout(60)
        while left:
            data = sock.recv(min(left, 1 << 20))
            if not data:
                break
            h.update(data)
            left -= len(data)
        result["sha"] = h.hexdigest()
        body = result["sha"].encode()
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.5)

    be = RawBackend(script)
    p = gateway(portico, [be], route='client_max_body_size = "100M";')
    worker = p.wait_workers(1)[0]
    base = rss_kb(worker)
    watch = RssWatch(worker)
    h = hashlib.sha256()
    with connect(p.port, timeout=60) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
        for i in range(size // len(_pattern(0))):
            block = _pattern(i)
            h.update(block)
            s.sendall(block)
        resp = read_response(Reader(s, 60))
    peak = watch.stop()
    assert resp.status == 200
    assert resp.body.decode() == result["sha"] == h.hexdigest()
    assert peak - base < 16 * 1024, "worker RSS grew by %d kB for a 50 MB upload" % (peak - base)
    be.close()


def test_50mb_download_streamed_with_bounded_memory(portico):
    size = 50 * MB
    sent = hashlib.sha256()

    def script(sock):
        read_head(sock, timeout=60)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for i in range(size // len(_pattern(0))):
            block = _pattern(i)
            sent.update(block)
            sock.sendall(block)
        time.sleep(0.5)

    be = RawBackend(script)
    p = gateway(portico, [be])
    worker = p.wait_workers(1)[0]
    base = rss_kb(worker)
    watch = RssWatch(worker)
    got = hashlib.sha256()
    n = 0
    with connect(p.port, timeout=60) as s:
        s.sendall(b"GET /down HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        reader = Reader(s, 60)
        head = reader.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        got.update(reader.buf)
        n += len(reader.buf)
        while True:
            # Read slowly at first so back-pressure, not buffering, is what
            # keeps the worker small.
            if n < 4 * MB:
                time.sleep(0.001)
            data = s.recv(1 << 20)
            if not data:
                break
            got.update(data)
            n += len(data)
    peak = watch.stop()
    assert n == size
    assert got.hexdigest() == sent.hexdigest()
    assert peak - base < 16 * 1024, "worker RSS grew by %d kB for a 50 MB download" % (peak - base)
    be.close()


def test_chunked_upload_streamed(portico):
    size = 8 * MB
    result = {}

    def handler(req):
        result["sha"] = hashlib.sha256(req.body).hexdigest()
        return Response(200, [], result["sha"].encode())

    be = Backend(handler)
    p = gateway(portico, [be], route='client_max_body_size = "100M";')
    h = hashlib.sha256()
    with connect(p.port, timeout=60) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(size // len(_pattern(0))):
            block = _pattern(i)
            h.update(block)
            s.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        resp = read_response(Reader(s, 60))
    assert resp.body.decode() == h.hexdigest() == result["sha"]
    be.close()


# ---- Expect: 100-continue ---------------------------------------------------------

def test_expect_100_continue_through_upstream(portico):
    def script(sock):
        reader, req = head_only(sock)
        got["expect"] = req.header("expect")
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = reader.read_exact(int(req.header("content-length")))
        got["body"] = body
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
        time.sleep(0.5)

    got = {}
    be = RawBackend(script)
    p = gateway(portico, [be], route=STREAM)
    with connect(p.port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 11\r\n\r\n")
        reader = Reader(s, 5)
        interim = read_response(reader)
        assert interim.status == 100
        s.sendall(b"hello world")
        final = read_response(reader)
    assert final.status == 200 and final.body == b"done"
    assert got == {"expect": "100-continue", "body": b"hello world"}
    be.close()


def test_expect_100_continue_over_limit_413_without_100(portico):
    be = Backend()
    p = gateway(portico, [be], route='client_max_body_size = "10";')
    with connect(p.port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 1000\r\n\r\n")
        reader = Reader(s, 5)
        resp = read_response(reader)
        problem(resp, 413)
        assert resp.header("connection") == "close"
        assert closed(reader)
    assert be.requests == [] and be.accepts == 0
    be.close()


def test_upstream_final_answer_instead_of_100(portico):
    """The upstream refuses without reading the body: the client gets the
    refusal and the connection closes (the unsent body cannot be framed)."""
    def script(sock):
        head_only(sock)
        sock.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope")
        time.sleep(1)

    be = RawBackend(script)
    p = gateway(portico, [be], route=STREAM)
    with connect(p.port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 11\r\n\r\n")
        reader = Reader(s, 5)
        resp = read_response(reader)
        assert resp.status == 401 and resp.body == b"nope"
        assert resp.header("connection") == "close"
    be.close()


def test_client_gone_mid_upload_closes_upstream(portico):
    """A request body cut short by the client is never completed towards
    the upstream, and that connection is not reused."""
    seen = []

    def script(sock):
        reader, req = head_only(sock)
        got = reader.buf
        sock.settimeout(5)
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                got += data
        except OSError:
            pass
        seen.append(len(got))

    be = RawBackend(script)
    p = gateway(portico, [be], route=STREAM)
    s = connect(p.port)
    s.sendall(b"PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 300)
    wait_for(lambda: be.accepts, 5, what="the upstream connection")
    time.sleep(0.2)
    s.close()
    wait_for(lambda: seen, 5, what="the upstream connection to close")
    assert seen[0] < 1000
    be.close()


def test_client_gone_before_response_releases_upstream(portico):
    gate = threading.Event()

    def handler(req):
        if req.target == "/slow":
            gate.wait(5)
        return Response(200, [], b"ok")

    be = Backend(handler)
    p = gateway(portico, [be])
    s = connect(p.port)
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
    wait_for(lambda: be.requests, 5, what="the request upstream")
    s.close()
    gate.set()
    # The gateway is fine and answers the next request.
    assert get(p.port, "/next").body == b"ok"
    be.close()


def test_max_forwards(portico):
    """RFC 9110 7.6.2: TRACE and OPTIONS with Max-Forwards: 0 are answered by
    the gateway; a positive value is forwarded one less; other methods
    leave it alone."""
    be = Backend(lambda req: (200, [], b"from backend"))
    p = gateway(portico, [be])
    resp = request(p.port, b"TRACE /t?x=1 HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n"
                   b"X-Probe: yes\r\nAuthorization: Bearer secret\r\nCookie: s=1\r\n"
                   b"Connection: close\r\n\r\n")
    assert resp.status == 200
    assert resp.header("content-type") == "message/http"
    assert resp.body.startswith(b"TRACE /t?x=1 HTTP/1.1\r\n")
    assert b"X-Probe: yes\r\n" in resp.body and b"Max-Forwards: 0\r\n" in resp.body
    assert b"secret" not in resp.body and b"s=1" not in resp.body
    resp = request(p.port, b"OPTIONS /o HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n"
                   b"Connection: close\r\n\r\n")
    assert resp.status == 200 and resp.body == b""
    assert be.requests == []

    request(p.port, b"OPTIONS /o HTTP/1.1\r\nHost: a\r\nMax-Forwards: 3\r\n"
            b"Connection: close\r\n\r\n")
    assert be.requests[-1].header_all("max-forwards") == ["2"]
    # The lesser of the value less one and the gateway's maximum; leading
    # zeros read as a number; a value that is not one is not passed on.
    for value, sent in [(b"99999999999999999999", ["999999999"]), (b"0000000000005", ["4"]),
                        (b"abc", []), (b"-1", [])]:
        request(p.port, b"TRACE /t HTTP/1.1\r\nHost: a\r\nMax-Forwards: %s\r\n"
                b"Connection: close\r\n\r\n" % value)
        assert be.requests[-1].header_all("max-forwards") == sent, value
    request(p.port, b"GET /g HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n")
    assert be.requests[-1].header_all("max-forwards") == ["0"]
    be.close()


def test_nothing_processed_after_connection_close(portico):
    """RFC 9112 9.6: after a request with "close" no further request on that
    connection is processed."""
    be = Backend()
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                  b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        resp = read_response(reader)
        assert resp.header("connection") == "close"
        assert closed(reader)
    assert [r.target for r in be.requests] == ["/1"]
    be.close()


def test_many_pipelined_requests_in_order(portico):
    be = Backend(lambda req: (200, [], req.target.encode()))
    p = gateway(portico, [be])
    n = 400
    raw = b"".join(b"GET /r%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(n))
    with connect(p.port) as s:
        s.sendall(raw)
        reader = Reader(s)
        bodies = [read_response(reader).body for _ in range(n)]
    assert bodies == [b"/r%d" % i for i in range(n)]
    assert be.accepts == 1
    be.close()


def test_big_head_with_body(portico):
    """A head past the first buffer moves to a bigger one; its body and the
    next pipelined request still arrive intact."""
    be = Backend(lambda req: (200, [], hashlib.sha256(req.body).hexdigest().encode()))
    p = gateway(portico, [be], route='client_max_body_size = "1M";')
    body = bytes(range(256)) * 400
    big = "".join("X-Pad-%d: %s\r\n" % (i, "v" * 1000) for i in range(28))
    with connect(p.port) as s:
        s.sendall(("POST /big HTTP/1.1\r\nHost: a\r\n%sContent-Length: %d\r\n\r\n"
                   % (big, len(body))).encode() + body +
                  b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        r1 = read_response(reader)
        r2 = read_response(reader)
    assert r1.body == hashlib.sha256(body).hexdigest().encode()
    assert be.requests[0].header("x-pad-27") == "v" * 1000
    assert be.requests[1].target == "/after"
    be.close()


def test_upstream_head_with_many_fields(portico):
    """The response head is limited by its size, not by a count of fields:
    1,000 Set-Cookie lines (20 KB) are relayed, every one."""
    def script(sock):
        read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\n"
                     + b"".join(b"Set-Cookie: c%d=v\r\n" % i for i in range(1000))
                     + b"Content-Length: 2\r\n\r\nok")

    be = RawBackend(script)
    p = gateway(portico, [be])
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        r = read_response(Reader(s))
    assert r.status == 200 and r.body == b"ok"
    assert r.header_all("set-cookie") == ["c%d=v" % i for i in range(1000)]
    be.close()


def test_large_upstream_head_within_limit(portico):
    big = "b" * 20000
    be = Backend(lambda req: Response(200, [("X-Big", big)], b"body after a big head"))
    p = gateway(portico, [be])
    resp = get(p.port, "/")
    assert resp.status == 200 and resp.header("x-big") == big
    assert resp.body == b"body after a big head"
    be.close()
