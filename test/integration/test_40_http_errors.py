"""Gateway-made errors (issue 3): the default RFC 9457 problem document,
custom pages per status (inline and from a file, route-level over the
defaults, a "default" entry), replace_upstream_errors, and the Server
header setting.
"""
import json
import re

from backends import Backend, Reader, Response, connect, get, read_response, request
from conftest import free_ports


def test_problem_document_shape(portico):
    port = free_ports(1)[0]
    dead = free_ports(1)[0]
    portico("""
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = ( { path = "/up"; proxy = "b"; }, { path_exact = "/x"; methods = [ "GET" ]; return = 204; } );
""" % (port, dead), ports=[port])
    for raw, status, title in [
            (b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 404, "Not Found"),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 405,
             "Method Not Allowed"),
            (b"GET /up HTTP/1.1\r\nHost: a\r\n\r\n", 502, "Bad Gateway"),
            (b"GET /x HTTP/1.1\r\n\r\n", 400, "Bad Request"),
            (b"GET /x HTTP/9.9\r\nHost: a\r\n\r\n", 505, "HTTP Version Not Supported")]:
        resp = request(port, raw)
        assert resp.status == status
        assert resp.reason == title
        assert resp.header("content-type") == "application/problem+json"
        assert int(resp.header("content-length")) == len(resp.body)
        assert resp.header("server") == "portico"
        doc = json.loads(resp.body)
        assert doc["type"] == "about:blank"
        assert doc["title"] == title
        assert doc["status"] == status
        assert isinstance(doc["detail"], str) and doc["detail"]
        assert doc["request_id"] == resp.header("x-request-id")
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", doc["request_id"])


def test_errors_before_routing_with_a_buffered_chunked_body(portico):
    """A 404, 405 or OPTIONS * answer while the whole chunked body is already
    buffered: the body is skipped under the default limits (no route gives
    them), the worker survives and the next pipelined request is answered."""
    port = free_ports(1)[0]
    gw = portico("""
listen = ( "127.0.0.1:%d" );
routes = ( { path_exact = "/x"; methods = [ "GET" ]; return = 204; } );
""" % port, ports=[port])
    workers = gw.workers()
    body = b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    for first, status in [(b"POST /nope HTTP/1.1\r\nHost: a\r\n", 404),
                          (b"GET /nope HTTP/1.1\r\nHost: a\r\n", 404),
                          (b"POST /x HTTP/1.1\r\nHost: a\r\n", 405),
                          (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n", 200)]:
        s = connect(port)
        s.sendall(first + body + b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        method = "OPTIONS" if first.startswith(b"OPTIONS") else "GET"
        assert read_response(reader, method).status == status
        assert read_response(reader).status == 204
        s.close()
    assert gw.workers() == workers
    assert "killed by signal" not in gw.log()


def test_problem_keeps_client_request_id(portico):
    port = free_ports(1)[0]
    portico('listen = ( "127.0.0.1:%d" );\nroutes = ( { path_exact = "/"; return = 204; } );'
            % port, ports=[port])
    resp = get(port, "/missing", headers=[("X-Request-ID", "trace-42")])
    assert resp.status == 404
    assert resp.json()["request_id"] == "trace-42"
    assert resp.header("x-request-id") == "trace-42"


def test_custom_pages_inline_file_route_over_defaults(portico, tmp_path):
    page = tmp_path / "502.html"
    page.write_bytes(b"<h1>upstream down</h1>\n")
    port = free_ports(1)[0]
    dead = free_ports(1)[0]
    portico("""
listen = ( "127.0.0.1:%(port)d" );
defaults = {
  errors = (
    { status = 404; body = "nothing here"; content_type = "text/plain"; },
    { status = 502; file = "%(page)s"; content_type = "text/html"; },
    { status = "default"; body = "{\\"oops\\":true}"; content_type = "application/json"; }
  );
};
upstreams = { b = { servers = [ "127.0.0.1:%(dead)d" ]; max_fails = 0; }; };
routes = (
  { path = "/own/"; proxy = "b";
    errors = ( { status = 502; body = "route says 502"; } ); },
  { path = "/up/"; proxy = "b"; },
  { path_exact = "/get"; methods = [ "GET" ]; return = 204; }
);
""" % dict(port=port, dead=dead, page=page), ports=[port])
    resp = get(port, "/missing")
    assert resp.status == 404 and resp.body == b"nothing here"
    assert resp.header("content-type") == "text/plain"
    assert resp.header("x-request-id")

    resp = get(port, "/up/x")
    assert resp.status == 502 and resp.body == b"<h1>upstream down</h1>\n"
    assert resp.header("content-type") == "text/html"

    resp = get(port, "/own/x")
    assert resp.status == 502 and resp.body == b"route says 502"
    assert resp.header("content-type").startswith("text/plain")

    resp = request(port, b"POST /get HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                   b"Connection: close\r\n\r\n")
    assert resp.status == 405 and resp.body == b'{"oops":true}'
    assert resp.header("content-type") == "application/json"
    assert resp.header("allow") == "GET, HEAD"

    # A bad request is rendered with the defaults too.
    resp = request(port, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert resp.status == 400 and resp.body == b'{"oops":true}'

    # HEAD gets the head of the page, no body.
    with connect(port) as s:
        s.sendall(b"HEAD /missing HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Reader(s)
        resp = read_response(reader, "HEAD")
        assert resp.status == 404 and resp.header("content-length") == "12"
        s.sendall(b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(reader).body == b"nothing here"


def test_replace_upstream_errors(portico):
    be = Backend(lambda req: Response(int(req.target[1:]), [("Content-Type", "text/html"),
                                                          ("X-Upstream", "1")],
                                      b"<html>stack trace with secrets</html>"))
    port = free_ports(1)[0]
    portico("""
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = (
  { path = "/r/"; replace_upstream_errors = true; proxy = "b"; strip_prefix = true;
    errors = ( { status = 503; body = "maintenance"; } ); },
  { path = "/"; proxy = "b"; }
);
""" % (port, be.port), ports=[port])
    # Without the option the upstream's answer goes through as is.
    resp = get(port, "/500")
    assert resp.status == 500 and b"secrets" in resp.body
    # With it, 5xx bodies are the gateway's.
    resp = get(port, "/r/500")
    assert resp.status == 500 and b"secrets" not in resp.body
    assert resp.header("content-type") == "application/problem+json"
    assert resp.json()["status"] == 500
    assert resp.header("x-upstream") is None
    resp = get(port, "/r/503")
    assert resp.status == 503 and resp.body == b"maintenance"
    # 4xx and 2xx are not touched.
    resp = get(port, "/r/404")
    assert resp.status == 404 and b"secrets" in resp.body
    resp = get(port, "/r/200")
    assert resp.status == 200 and b"secrets" in resp.body
    be.close()


def test_replaced_upstream_error_keeps_client_connection(portico):
    be = Backend(lambda req: Response(502, [], b"x" * 10000))
    port = free_ports(1)[0]
    portico("""
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = ( { path = "/"; replace_upstream_errors = true; proxy = "b"; } );
""" % (port, be.port), ports=[port])
    with connect(port) as s:
        reader = Reader(s)
        for _ in range(3):
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            resp = read_response(reader)
            assert resp.status == 502
            assert resp.header("content-type") == "application/problem+json"
    be.close()


def test_server_header_setting(portico):
    port = free_ports(1)[0]
    portico("""
listen = ( "127.0.0.1:%d" );
defaults = { server_header = "edge/1"; };
routes = (
  { path = "/quiet"; server_header = ""; return = 204; },
  { path = "/"; return = 204; }
);
""" % port, ports=[port])
    assert get(port, "/").header("server") == "edge/1"
    assert get(port, "/quiet").header("server") is None
    assert get(port, "/quiet", host="a").status == 204


def test_gateway_errors_are_logged(portico):
    port = free_ports(1)[0]
    dead = free_ports(1)[0]
    p = portico("""
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = ( { path = "/"; proxy = "b"; } );
""" % (port, dead), ports=[port])
    resp = get(port, "/logged")
    assert resp.status == 502
    rid = resp.header("x-request-id")
    p.wait_log(r"502: .*request: \"GET /logged HTTP/1.1\", id: %s" % rid)
