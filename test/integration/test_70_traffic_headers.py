"""Header transforms (issue 16): request_headers and response_headers set,
add, append and remove fields per route, with variables, after
authentication; fields portico manages are refused at load, and a rendered
value with a control character is dropped."""
import base64
import hashlib
import hmac
import json

from backends import Backend, Response, get
from conftest import free_ports, run_portico

SECRET = b"0123456789abcdef0123456789abcdef"

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "jwt"; path = "/jwt/"; proxy = "b"; jwt = true;
    jwt_keys = ( { secret_file = "hs.key"; } );
    request_headers = { set = [ "X-User: $consumer" ]; }; },
  { name = "t"; path = "/"; proxy = "b";
    request_headers = { set = [ "X-Env: prod", "X-Rid: $request_id", "X-Via-Ip: $remote_addr" ];
                        add = [ "X-Added: one" ];
                        append = [ "X-List: c" ];
                        remove = [ "X-Debug" ]; };
    response_headers = { set = [ "X-Route: $route" ]; add = [ "X-Multi: 1", "X-Multi: 2" ];
                         append = [ "X-Tags: gw" ]; remove = [ "Server" ]; }; }
);
"""


def echo_backend():
    return Backend(lambda req: Response(200, [("Server", "Apache"), ("X-Tags", "a"),
                                              ("X-Tags", "b"), ("Content-Type", "text/plain")],
                                        b"ok"))


def start(portico, tmp_path, be):
    (tmp_path / "hs.key").write_bytes(SECRET)
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be.port), ports=[port])
    return port


def test_request_and_response_fields_are_transformed(portico, tmp_path):
    be = echo_backend()
    port = start(portico, tmp_path, be)
    r = get(port, "/a", headers=[("X-Env", "dev"), ("x-env", "qa"), ("X-Debug", "1"),
                                 ("X-List", "a"), ("X-List", "b"), ("X-Added", "zero")])
    assert r.status == 200
    req = be.requests[-1]
    assert req.header_all("x-env") == ["prod"]          # set replaces the client's
    assert req.header("x-debug") is None                # removed
    assert req.header("x-rid") == r.header("x-request-id") and len(req.header("x-rid")) == 36
    assert req.header("x-via-ip") == "127.0.0.1"
    assert req.header_all("x-added") == ["zero", "one"]
    assert req.header_all("x-list") == ["a, b, c"]      # one joined line
    assert r.header("server") is None
    assert r.header("x-route") == "t"
    assert r.header_all("x-multi") == ["1", "2"]
    assert r.header_all("x-tags") == ["a, b, gw"]
    # Without the client's fields: set and append still add theirs.
    get(port, "/b")
    req = be.requests[-1]
    assert req.header_all("x-env") == ["prod"] and req.header_all("x-list") == ["c"]
    be.close()


def hs256(claims):
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET, (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


def test_identity_field_after_auth_and_control_characters_dropped(portico, tmp_path):
    be = echo_backend()
    port = start(portico, tmp_path, be)
    # A client cannot forge X-User: it is replaced by the verified consumer.
    r = get(port, "/jwt/a", headers=[("Authorization", "Bearer " + hs256({"sub": "alice"})),
                                     ("X-User", "root")])
    assert r.status == 200
    assert be.requests[-1].header_all("x-user") == ["alice"]
    # A consumer name with CR LF would split the head: the field is dropped
    # (and the client's still hidden), the request goes on.
    r = get(port, "/jwt/a", headers=[("Authorization",
                                      "Bearer " + hs256({"sub": "eve\r\nX-Admin: 1"})),
                                     ("X-User", "root")])
    assert r.status == 200
    req = be.requests[-1]
    assert req.header("x-user") is None and req.header("x-admin") is None
    # Unauthenticated: refused before any transform.
    n = len(be.requests)
    assert get(port, "/jwt/a").status == 401 and len(be.requests) == n
    be.close()


def check(tmp_path, route_extra):
    port, be = free_ports(2)
    conf = tmp_path / "p.conf"
    conf.write_text("""
portico = { workers = 1; };
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = ( { name = "t"; path = "/"; proxy = "b"; %s } );
""" % (port, be, route_extra))
    return run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))


def test_managed_and_malformed_fields_are_refused_at_load(tmp_path):
    for name in ("Host", "Content-Length", "Transfer-Encoding", "Connection", "TE",
                 "Keep-Alive", "Upgrade"):
        r = check(tmp_path, 'request_headers = { set = [ "%s: x" ]; };' % name)
        assert r.returncode != 0, name
        assert '"%s" is managed by portico' % name in r.stderr and "p.conf:5" in r.stderr
    # The proxy drops a request's X-Request-ID (it sends the gateway's id)
    # and Proxy-Authorization (hop-by-hop): a transform of them never
    # reached the upstream, so naming one is an error, as for Host.
    for name in ("X-Request-ID", "Proxy-Authorization"):
        for op in ("set", "add", "append", "remove"):
            item = name if op == "remove" else name + ": x"
            r = check(tmp_path, 'request_headers = { %s = [ "%s" ]; };' % (op, item))
            assert r.returncode != 0 and '"%s" is managed by portico' % name in r.stderr, op
    r = check(tmp_path, 'response_headers = { set = [ "X-Request-ID: x" ]; };')
    assert r.returncode == 0, r.stderr
    r = check(tmp_path, 'response_headers = { add = [ "Content-Length: 3" ]; };')
    assert r.returncode != 0 and "managed by portico" in r.stderr
    r = check(tmp_path, 'request_headers = { set = [ "X Bad: 1" ]; };')
    assert r.returncode != 0 and '"X Bad" is not a field name' in r.stderr
    r = check(tmp_path, 'request_headers = { set = [ "X-NoColon" ]; };')
    assert r.returncode != 0 and 'is not "Name: value"' in r.stderr
    r = check(tmp_path, 'request_headers = { set = [ "X-A: $nosuchvar" ]; };')
    assert r.returncode != 0 and "unknown variable" in r.stderr
    r = check(tmp_path, 'request_headers = { sett = [ "X-A: 1" ]; };')
    assert r.returncode != 0
    # A literal is checked as a rendered value is: DEL (0x7f) is a control
    # character too and never reaches the wire (it did, written as \x7f).
    for ctl in ("\\x7f", "\\x01", "\\r\\n"):
        for way in ("request_headers", "response_headers"):
            r = check(tmp_path, '%s = { set = [ "X-A: a%sb" ]; };' % (way, ctl))
            assert r.returncode != 0 and "control character" in r.stderr, (way, ctl)
    r = check(tmp_path, 'response_headers = { set = [ "Host: fine-in-a-response" ]; };')
    assert r.returncode == 0, r.stderr
