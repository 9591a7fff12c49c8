"""The built-in handlers (issue 3): `return` (status, body, headers,
content type, redirects with $host and $request_uri) and `echo` (the
request as JSON).
"""
import json

from backends import Reader, connect, get, read_response, request
from conftest import free_ports

CONF = """
listen = ( "127.0.0.1:%d" );
routes = (
  { path_exact = "/empty"; return = 204; },
  { path_exact = "/gone"; return = 410; },
  { path_exact = "/ok"; return = { status = 200; body = "ok\\n"; }; },
  { path_exact = "/json"; return = { status = 503; body = "{\\"down\\":true}";
      content_type = "application/json";
      headers = [ "Retry-After: 120", "Cache-Control: no-store" ]; }; },
  { path = "/old/"; return = { status = 301; location = "https://$host$request_uri"; }; },
  { path = "/tmp/"; return = { status = 307; location = "/new?from=$uri";
      body = "moved to /new"; }; },
  { path_exact = "/vars"; return = { status = 200;
      body = "$method $uri $query $remote_addr $request_id $$5"; }; },
  { path = "/echo"; echo = true; client_max_body_size = "64k"; }
);
"""


def start(portico):
    port = free_ports(1)[0]
    portico(CONF % port, ports=[port])
    return port


def test_return_status_only(portico):
    port = start(portico)
    resp = get(port, "/empty")
    assert resp.status == 204 and resp.body == b""
    assert resp.header("content-length") is None
    resp = get(port, "/gone")
    assert resp.status == 410 and resp.body == b""
    assert resp.header("content-length") == "0"


def test_return_body_type_headers(portico):
    port = start(portico)
    resp = get(port, "/ok")
    assert resp.status == 200 and resp.body == b"ok\n"
    assert resp.header("content-type").startswith("text/plain")
    assert resp.header("content-length") == "3"
    resp = get(port, "/json")
    assert resp.status == 503 and resp.json() == {"down": True}
    assert resp.header("content-type") == "application/json"
    assert resp.header("retry-after") == "120"
    assert resp.header("cache-control") == "no-store"
    assert resp.header("x-request-id")


def test_return_redirects(portico):
    port = start(portico)
    resp = get(port, "/old/a/b?x=1&y=%20", host="shop.example:8080")
    assert resp.status == 301
    assert resp.header("location") == "https://shop.example:8080/old/a/b?x=1&y=%20"
    resp = get(port, "/tmp/x")
    assert resp.status == 307
    assert resp.header("location") == "/new?from=/tmp/x"
    assert resp.body == b"moved to /new"
    # An absolute-form target: $host is its authority, $request_uri its
    # path and query, so the two make one URL.
    for target, want in [(b"http://evil.example/old/go?q=1", "https://evil.example/old/go?q=1")]:
        resp = request(port, b"GET %s HTTP/1.1\r\nHost: other\r\n\r\n" % target)
        assert resp.status == 301 and resp.header("location") == want


def test_return_variables(portico):
    port = start(portico)
    resp = get(port, "/vars?a=1", headers=[("X-Request-ID", "rid-7")])
    assert resp.body == b"GET /vars a=1 127.0.0.1 rid-7 $5"


def test_return_head_and_keepalive_with_bodies(portico):
    port = start(portico)
    with connect(port) as s:
        reader = Reader(s)
        s.sendall(b"HEAD /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = read_response(reader, "HEAD")
        assert resp.status == 200 and resp.header("content-length") == "3"
        # A body sent to a handler that does not read it is skipped, and
        # the connection stays in step.
        s.sendall(b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                  b"PUT /ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n0\r\n\r\n"
                  b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        for _ in range(3):
            resp = read_response(reader)
            assert resp.status == 200 and resp.body == b"ok\n"
            assert resp.header("connection") is None


def test_return_unread_large_body_closes(portico):
    port = start(portico)
    with connect(port) as s:
        s.sendall(b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n" +
                  b"z" * 1000)
        resp = read_response(Reader(s))
        assert resp.status == 200 and resp.header("connection") == "close"


def test_echo_request_as_json(portico):
    port = start(portico)
    body = b"caf\xc3\xa9 \xff\x00 end"
    raw = (b"POST /echo/%2e%2e/echo/x?q=1&r HTTP/1.1\r\nHost: e.example\r\n"
           b"X-One: 1\r\nX-Two: two\r\nX-One: again\r\nContent-Length: " +
           str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    resp = request(port, raw)
    assert resp.status == 200
    assert resp.header("content-type") == "application/json"
    doc = json.loads(resp.body)
    assert doc["method"] == "POST"
    assert doc["target"] == "/echo/%2e%2e/echo/x?q=1&r"
    assert doc["path"] == "/echo/x"
    assert doc["query"] == "q=1&r"
    assert doc["version"] == "HTTP/1.1"
    assert doc["headers"] == [["Host", "e.example"], ["X-One", "1"], ["X-Two", "two"],
                              ["X-One", "again"], ["Content-Length", str(len(body))],
                              ["Connection", "close"]]
    assert doc["client"] == "127.0.0.1"
    assert doc["request_id"] == resp.header("x-request-id")
    assert doc["body_length"] == len(body)
    assert doc["body"] == "caf\u00e9 \u00ff\u0000 end"


def test_echo_chunked_and_pipelined(portico):
    port = start(portico)
    with connect(port) as s:
        reader = Reader(s)
        s.sendall(b"PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
                  b"GET /echo/2 HTTP/1.0\r\n\r\n")
        one = json.loads(read_response(reader).body)
        two = json.loads(read_response(reader).body)
    assert one["body"] == "wikipedia" and one["method"] == "PUT"
    assert two["path"] == "/echo/2" and two["version"] == "HTTP/1.0"
    assert two["body_length"] == 0


def test_echo_expect_100_continue(portico):
    port = start(portico)
    with connect(port) as s:
        reader = Reader(s, 3)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 5\r\n\r\n")
        interim = read_response(reader)
        assert interim.status == 100
        s.sendall(b"hello")
        final = read_response(reader)
    assert final.status == 200 and json.loads(final.body)["body"] == "hello"


def test_echo_expect_with_body_already_sent_no_100(portico):
    port = start(portico)
    with connect(port) as s:
        reader = Reader(s, 3)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 5\r\n\r\nhello")
        resp = read_response(reader)
    assert resp.status == 200


def test_echo_body_limit(portico):
    port = start(portico)
    with connect(port) as s:
        reader = Reader(s)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 70000\r\n\r\n")
        resp = read_response(reader)
        assert resp.status == 413 and resp.header("connection") == "close"
    with connect(port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"10000\r\n" + b"c" * 65536 + b"\r\n1\r\nx\r\n0\r\n\r\n")
        resp = read_response(Reader(s))
        assert resp.status == 413


def test_echo_large_bodies(portico):
    """Up to client_max_body_size (1M by default) a plain body comes back
    whole; one that escapes past what a request may hold (control bytes
    are six bytes each in JSON) gets a 413, not a dropped connection."""
    port = free_ports(1)[0]
    portico('listen = ( "127.0.0.1:%d" );\nroutes = ( { path = "/"; echo = true; } );\n'
            % port, ports=[port])
    for body, status in [(b"x" * 1000000, 200), (b"\x01" * 1000000, 413)]:
        with connect(port) as s:
            s.sendall(b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
            resp = read_response(Reader(s, 20))
        assert resp.status == status
        if status == 200:
            assert resp.json()["body_length"] == len(body)
            assert resp.json()["body"] == body.decode()
        else:
            assert resp.header("content-type") == "application/problem+json"


def test_echo_head(portico):
    port = start(portico)
    with connect(port) as s:
        s.sendall(b"HEAD /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        resp = read_response(reader, "HEAD")
        assert resp.status == 200 and int(resp.header("content-length")) > 0
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        assert json.loads(read_response(reader).body)["method"] == "GET"


def test_return_refuses_framing_headers(tmp_path):
    from conftest import run_portico
    for line in ("Content-Length: 5", "transfer-encoding: chunked", "Connection: close"):
        conf = tmp_path / "bad.conf"
        conf.write_text('portico = { error_log = "%s"; };\nlisten = ( "127.0.0.1:1" );\n'
                        'routes = ( { path = "/"; return = { status = 200; body = "x"; '
                        'headers = [ "%s" ]; }; } );\n' % (tmp_path / "e.log", line))
        res = run_portico("-t", "-c", str(conf))
        assert res.returncode != 0, line
        assert "framing" in res.stderr + res.stdout, res.stderr
