"""JWKS URL (issue 12): the key set fetched from an upstream without blocking,
shared by the workers through a zone, refetched when a token names an unknown
kid (bounded under a flood), and kept when the endpoint fails."""
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwtmake as jm
from backends import Backend, Response, get
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 2; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; };
              idp = { servers = [ "127.0.0.1:%(idp)d" ]; }; };
routes = (
  { name = "api"; path = "/"; proxy = "b"; jwt = true;
    jwt_jwks_upstream = "idp"; jwt_jwks_path = "/keys"; jwt_jwks_zone = "idp_keys:256k";
    jwt_jwks_refresh = "60s"; jwt_jwks_min_refresh = "%(min)s"; jwt_jwks_timeout = "2s"; }
);
"""


class Issuer:
    """A JWKS endpoint whose keys (or failure) the test changes."""

    def __init__(self):
        self.doc = {"keys": []}
        self.fail = None
        self.delay = 0
        self.fetches = 0
        self.backend = Backend(self.handle)

    def handle(self, req):
        self.fetches += 1
        time.sleep(self.delay)
        if req.target != "/keys":
            return Response(404, [], b"")
        if self.fail == "status":
            return Response(500, [], b"down")
        if self.fail == "garbage":
            return Response(200, [("Content-Type", "application/json")], b'{"keys": 5}')
        return Response(200, [("Content-Type", "application/jwk-set+json")],
                        json.dumps(self.doc).encode())


def tok(key, **kw):
    now = int(time.time())
    c = {"sub": "svc", "exp": now + 300}
    c.update(kw)
    return jm.token(key, "ES256", c)


def status(port, t):
    return get(port, "/x", headers=[("Authorization", "Bearer " + t)]).status


def test_jwks_rotation_flood_and_failure(portico):
    k1, k2 = jm.Key("ec256", "k1"), jm.Key("rsa", "k2")
    idp = Issuer()
    idp.doc = {"keys": [k1.jwk()]}
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = free_ports(1)[0]
    p = portico(CONF % dict(port=port, be=be.port, idp=idp.backend.port, min="1s"),
                ports=[port])
    p.wait_workers(2)

    # One worker fetched at start; the other found the set in the zone.
    wait_for(lambda: idp.fetches >= 1, 10, what="the first JWKS fetch")
    assert status(port, tok(k1)) == 200
    time.sleep(0.5)
    assert idp.fetches == 1
    for _ in range(6):
        assert status(port, tok(k1)) == 200
    assert be.requests[-1].header("x-consumer") == "svc"

    # Rotation: the issuer now signs with k2 and publishes it; no reload.
    idp.doc = {"keys": [k2.jwk()]}
    time.sleep(1.1)
    t2 = jm.token(k2, "RS256", {"sub": "svc2", "exp": int(time.time()) + 300})
    assert status(port, t2) == 200
    assert be.requests[-1].header("x-consumer") == "svc2"
    assert idp.fetches == 2
    for _ in range(4):
        assert status(port, t2) == 200

    # A flood of unknown kids: at most one fetch per jwt_jwks_min_refresh.
    before, start = idp.fetches, time.monotonic()
    n401 = sum(status(port, jm.token(k2, "RS256", {"exp": int(time.time()) + 60},
                                     header={"kid": uuid.uuid4().hex})) == 401
               for _ in range(60))
    elapsed = time.monotonic() - start
    assert n401 == 60
    assert idp.fetches - before <= int(elapsed / 1.0) + 2, (idp.fetches - before, elapsed)

    # The endpoint fails (an error status, then a document that is no JWK
    # Set): each failure is logged and the last good set stays.
    for mode in ("status", "garbage"):
        idp.fail = mode
        time.sleep(1.1)
        n = idp.fetches
        assert status(port, jm.token(k2, "RS256", {"exp": int(time.time()) + 60},
                                     header={"kid": "new-" + mode})) == 401
        wait_for(lambda: idp.fetches > n, 5, what="a fetch")
        assert status(port, t2) == 200
    p.wait_log(r"fetch failed \(status 500\); the last good key set stays")
    p.wait_log(r"fetch failed \(not a JWK Set")
    # The retired key k1 is gone with the rotation.
    assert status(port, tok(k1)) == 401

    # A slow endpoint and a burst of tokens with a new kid on both workers:
    # one fetch, and every request waits for it (its own worker's or the
    # other's) instead of being refused.
    # (First the retry that a failed fetch schedules, jwt_jwks_min_refresh
    # later, succeeds: then the next scheduled fetch is a minute away.)
    m = idp.fetches
    idp.fail = None
    wait_for(lambda: idp.fetches > m, 5, what="the retry after the failures")
    time.sleep(0.2)
    idp.delay = 0.4
    k3 = jm.Key("ec256", "k3")
    idp.doc = {"keys": [k2.jwk(), k3.jwk()]}
    time.sleep(1.1)
    n, t3 = idp.fetches, tok(k3)
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: status(port, t3), range(8)))
    assert results == [200] * 8
    assert idp.fetches == n + 1
    be.close()
    idp.backend.close()


def test_jwks_needs_a_zone_and_a_known_upstream(tmp_path):
    from conftest import run_portico
    conf = tmp_path / "p.conf"
    conf.write_text('listen = ( "127.0.0.1:1" );\nupstreams = { idp = { servers = [ '
                    '"127.0.0.1:2" ]; }; };\nroutes = ( { path = "/"; return = 204; jwt = true; '
                    'jwt_jwks_upstream = "%s"; } );\n')
    conf.write_text(conf.read_text() % "idp")
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0 and "needs jwt_jwks_zone" in r.stderr
    conf.write_text(conf.read_text().replace('"idp"; }', '"nope"; }'))
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0 and "no upstream named \"nope\"" in r.stderr
    conf.write_text('listen = ( "127.0.0.1:1" );\nupstreams = { idp = { servers = [ '
                    '"127.0.0.1:2" ]; }; };\ndefaults = { jwt_jwks_upstream = "idp"; '
                    'jwt_jwks_zone = "k:64k"; };\nroutes = ( { path = "/a/"; return = 204; '
                    'jwt = true; }, { path = "/b/"; return = 204; jwt = true; '
                    'jwt_jwks_path = "/other"; } );\n')
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0 and "give each JWKS URL its own zone" in r.stderr
