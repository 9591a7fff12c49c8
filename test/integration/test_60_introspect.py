"""OAuth2 token introspection (RFC 7662, issue 12): opaque tokens checked at a
test endpoint from the worker, answers shared by the workers through a zone,
required scopes (403 insufficient_scope), an endpoint that is down or answers
nonsense, and JWT and introspection together with auth_satisfy = "any"."""
import base64
import json
import time
import urllib.parse

import jwtmake as jm
from backends import Backend, Response, get
from conftest import free_ports

CONF = """
portico = { workers = 2; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; };
              as = { servers = [ "127.0.0.1:%(asp)d" ]; };
              gone = { servers = [ "127.0.0.1:%(gone)d" ]; }; };
defaults = { introspect_upstream = "as"; introspect_path = "/oauth/introspect";
             introspect_client_id = "portico"; introspect_client_secret = "s3cr%%t:x";
             introspect_zone = "tokens:1m"; introspect_timeout = "2s"; };
routes = (
  { name = "api"; path = "/api/"; proxy = "b"; introspect = true; introspect_scopes = "read"; },
  { name = "admin"; path = "/admin/"; proxy = "b"; introspect = true;
    introspect_scopes = [ "read", "admin" ]; },
  { name = "down"; path = "/down/"; proxy = "b"; introspect = true;
    introspect_upstream = "gone"; },
  { name = "down401"; path = "/down401/"; proxy = "b"; introspect = true;
    introspect_upstream = "gone"; introspect_failure = "401"; },
  { name = "any"; path = "/any/"; proxy = "b"; auth_satisfy = "any";
    jwt = true; jwt_keys = ( { file = "ec.pem"; } );
    introspect = true; introspect_skip_jwt = true; }
);
"""


class AuthServer:
    def __init__(self):
        self.calls = []
        self.backend = Backend(self.handle)

    def handle(self, req):
        form = urllib.parse.parse_qs(req.body.decode())
        self.calls.append((req, form))
        tok = form.get("token", [""])[0]
        now = int(time.time())
        answers = {
            "good-token": {"active": True, "scope": "read write", "sub": "u1",
                           "client_id": "app", "exp": now + 300},
            "admin-token": {"active": True, "scope": "read admin", "client_id": "svc"},
            "scopeless": {"active": True, "sub": "u2"},
            "old-token": {"active": True, "sub": "u3", "exp": now - 10},
            "early-token": {"active": True, "sub": "u4", "nbf": now + 60},
            "no-active": {"sub": "x"},
            "active-string": {"active": "true"},
        }
        if tok == "array-answer":
            return Response(200, [("Content-Type", "application/json")], b"[1]")
        if tok == "broken":
            return Response(500, [], b"oops")
        body = answers.get(tok, {"active": False})
        return Response(200, [("Content-Type", "application/json")], json.dumps(body).encode())

    def count(self, token):
        return sum(1 for _, f in self.calls if f.get("token") == [token])


def bearer(port, path, tok):
    return get(port, path, headers=[("Authorization", "Bearer " + tok)])


def start(portico, tmp_path):
    asrv = AuthServer()
    be = Backend(lambda req: Response(200, [], b"ok"))
    port, gone = free_ports(2)
    ec = jm.Key("ec256")
    (tmp_path / "ec.pem").write_bytes(ec.pem())
    p = portico(CONF % dict(port=port, be=be.port, asp=asrv.backend.port, gone=gone),
                ports=[port])
    p.wait_workers(2)
    return p, port, asrv, be, ec


def test_introspection(portico, tmp_path):
    p, port, asrv, be, ec = start(portico, tmp_path)

    # Active, then served from the shared cache by both workers: each
    # request on a new connection, which SO_REUSEPORT spreads over them.
    for _ in range(8):
        r = bearer(port, "/api/x", "good-token")
        assert r.status == 200
        seen = be.requests[-1]
        assert seen.header("x-consumer") == "u1"
        assert seen.header("x-consumer-groups") == "read,write"
        assert seen.header("authorization") is None
    # Inactive: 401 invalid_token, cached briefly too.
    for _ in range(8):
        r = bearer(port, "/api/x", "nobody-knows")
        assert r.status == 401
        assert r.header("www-authenticate") == 'Bearer realm="api", error="invalid_token"'
    assert len(asrv.calls) == 2, [f for _, f in asrv.calls]

    # What the endpoint received (RFC 7662 §2.1, RFC 6749 §2.3.1).
    req, form = asrv.calls[0]
    assert req.method == "POST" and req.target == "/oauth/introspect"
    assert req.header("content-type") == "application/x-www-form-urlencoded"
    assert form == {"token": ["good-token"], "token_type_hint": ["access_token"]}
    basic = base64.b64decode(req.header("authorization").split(" ", 1)[1]).decode()
    assert basic == "portico:s3cr%25t%3Ax"

    # Scopes: the admin route needs read and admin.
    r = bearer(port, "/admin/x", "good-token")
    assert r.status == 403
    assert r.header("www-authenticate") == \
        'Bearer realm="api", error="insufficient_scope", scope="read admin"'
    r = bearer(port, "/admin/x", "admin-token")
    assert r.status == 200 and be.requests[-1].header("x-consumer") == "svc"
    assert bearer(port, "/api/x", "scopeless").status == 403
    # An answer whose exp has passed is not trusted.
    assert bearer(port, "/api/x", "old-token").status == 401
    assert bearer(port, "/api/x", "early-token").status == 401

    # Answers that are not an object with a boolean active are failures (503).
    n = len(be.requests)
    for tok in ("array-answer", "no-active", "active-string", "broken"):
        r = bearer(port, "/api/x", tok)
        assert r.status == 503, tok
    assert len(be.requests) == n
    # Failures are not cached.
    assert bearer(port, "/api/x", "broken").status == 503
    assert asrv.count("broken") == 2

    # No token at all.
    r = get(port, "/api/x")
    assert r.status == 401 and r.header("www-authenticate") == 'Bearer realm="api"'
    # RFC 6750 §2.1: "Bearer" 1*SP b64token.
    r = get(port, "/api/x", headers=[("Authorization", "bearer   good-token")])
    assert r.status == 200, r.status
    r = get(port, "/api/x", headers=[("Authorization", "Bearer good-token!")])
    assert r.status == 401 and "invalid_token" in r.header("www-authenticate")

    # The endpoint is down: 503 by default, 401 where configured.
    assert bearer(port, "/down/x", "good-token").status == 503
    r = bearer(port, "/down401/x", "good-token")
    assert r.status == 401 and r.header("www-authenticate") == 'Bearer realm="api"'
    p.wait_log(r"introspection at gone/oauth/introspect failed")
    assert "good-token" not in p.log()
    be.close()
    asrv.backend.close()


def test_jwt_or_introspection_with_auth_satisfy_any(portico, tmp_path):
    p, port, asrv, be, ec = start(portico, tmp_path)
    tok = jm.token(ec, "ES256", {"sub": "jwt-user", "exp": int(time.time()) + 60})
    r = bearer(port, "/any/x", tok)
    assert r.status == 200 and be.requests[-1].header("x-consumer") == "jwt-user"
    # A JWT that fails goes nowhere near the endpoint.
    bad = jm.token(jm.Key("ec256"), "ES256", {"sub": "x"})
    r = bearer(port, "/any/x", bad)
    assert r.status == 401
    assert 'error="invalid_token"' in r.header("www-authenticate")
    assert asrv.calls == []
    # An opaque token is the introspection's.
    r = bearer(port, "/any/x", "good-token")
    assert r.status == 200 and be.requests[-1].header("x-consumer") == "u1"
    assert asrv.count("good-token") == 1
    r = bearer(port, "/any/x", "nobody-knows")
    assert r.status == 401
    be.close()
    asrv.backend.close()


def test_introspection_config_checks(tmp_path):
    from conftest import run_portico
    base = ('listen = ( "127.0.0.1:1" );\nupstreams = { as = { servers = [ "127.0.0.1:2" ]; }; };\n'
            'routes = ( { path = "/"; return = 204; introspect = true; %s } );\n')
    conf = tmp_path / "p.conf"

    def check(route):
        conf.write_text(base % route)
        return run_portico("-t", "-c", str(conf))
    r = check('introspect_upstream = "as"; introspect_zone = "t:256k"; '
              'introspect_client_id = "c"; introspect_client_secret = "hunter2-secret";')
    assert r.returncode == 0, r.stderr
    assert "introspect_client_secret is written in the config" in r.stderr
    assert "hunter2" not in r.stderr
    (tmp_path / "sec").write_text("from-file\n")
    r = check('introspect_upstream = "as"; introspect_zone = "t:256k"; '
              'introspect_client_id = "c"; introspect_client_secret_file = "sec";')
    assert r.returncode == 0 and "written in the config" not in r.stderr
    r = check('introspect_upstream = "as";')
    assert r.returncode != 0 and "needs introspect_upstream and introspect_zone" in r.stderr
    r = check('introspect_upstream = "nope"; introspect_zone = "t:256k";')
    assert r.returncode != 0 and "no upstream named \"nope\"" in r.stderr
    r = check('introspect_upstream = "as"; introspect_zone = "t:256k"; introspect_client_id = "c";')
    assert r.returncode != 0 and "together" in r.stderr
    r = check('introspect_upstream = "as"; introspect_zone = "t:256k"; '
              'introspect_scopes = [ "a b" ];')
    assert r.returncode != 0 and "is not a scope token" in r.stderr
