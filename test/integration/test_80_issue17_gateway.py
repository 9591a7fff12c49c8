"""Guards for the gateway modules' mutants that survived (issue 17, the
second half): each test here fails against one mutant of
test/mutate/mutants.txt (named in its docstring) and passes on the real
code. The real binary, real backends on 127.0.0.1."""
import time

import pytest

import jwtmake as jm
from backends import Backend, Response, get
from conftest import Portico, free_ports

ISS, AUD = "https://issuer.test", "api"
SECRET = b"0123456789abcdef0123456789abcdef"

JWT_CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
defaults = { jwt_issuer = "%(iss)s"; jwt_audience = "%(aud)s"; };
routes = (
  { name = "es"; path = "/es/"; proxy = "b"; jwt = true; jwt_algorithms = [ "ES256" ];
    jwt_keys = ( { file = "rsa.pem"; kid = "r1"; }, { file = "ec256.pem"; kid = "e1"; } ); },
  { name = "any"; path = "/any/"; proxy = "b"; jwt = true;
    jwt_keys = ( { file = "rsa.pem"; kid = "r1"; }, { file = "ec256.pem"; kid = "e1"; },
                 { secret_file = "hs.key"; kid = "h1"; } ); },
  { name = "open"; path = "/"; proxy = "b"; }
);
"""


@pytest.fixture(scope="module")
def jwt_env(tmp_path_factory):
    d = tmp_path_factory.mktemp("jwt17")
    keys = {"rsa": jm.Key("rsa", "r1"), "ec256": jm.Key("ec256", "e1"),
            "hs": jm.Key("hmac", "h1", secret=SECRET)}
    (d / "rsa.pem").write_bytes(keys["rsa"].pem())
    (d / "ec256.pem").write_bytes(keys["ec256"].pem())
    (d / "hs.key").write_bytes(SECRET)
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = free_ports(1)[0]
    p = Portico(d, JWT_CONF % dict(port=port, be=be.port, iss=ISS, aud=AUD), ports=[port])
    yield dict(port=port, be=be, p=p, keys=keys)
    p.stop()
    be.close()
    assert not p.problems()


def claims(**kw):
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 300}
    c.update(kw)
    return c


def jwt_call(env, path, tok):
    n = len(env["be"].requests)
    r = get(env["port"], path, headers=[("Authorization", "Bearer " + tok)])
    return r.status, len(env["be"].requests) > n


def jwt_refused(env, path, tok):
    status, reached = jwt_call(env, path, tok)
    assert status == 401 and not reached, (status, tok)


def test_jwt_algorithms_refuses_an_alg_a_key_could_verify(jwt_env):
    """jwt-alg-allowlist-ignored: RS256 is not in the route's
    jwt_algorithms, though its RSA key verifies RS256."""
    k = jwt_env["keys"]
    assert jwt_call(jwt_env, "/es/x", jm.token(k["ec256"], "ES256", claims())) == (200, True)
    assert jwt_call(jwt_env, "/any/x", jm.token(k["rsa"], "RS256", claims())) == (200, True)
    jwt_refused(jwt_env, "/es/x", jm.token(k["rsa"], "RS256", claims()))


def test_an_alg_that_only_starts_a_name_is_refused(jwt_env):
    """jwt-alg-name-prefix: "RS", "RS2", "E" are no algorithm, even with a
    signature that verifies for RS256 (or ES256)."""
    k = jwt_env["keys"]
    for short, real, key in (("RS", "RS256", "rsa"), ("RS2", "RS256", "rsa"),
                             ("E", "ES256", "ec256"), ("ES25", "ES256", "ec256")):
        h = jm.seg({"alg": short, "kid": key[0] + "1"})
        signing = h + "." + jm.seg(claims())
        tok = signing + "." + jm.b64(k[key].sign(real, signing))
        jwt_refused(jwt_env, "/any/x", tok)


def test_an_ecdsa_signature_with_a_byte_past_r_s_is_refused(jwt_env):
    """jwt-ecdsa-length-unchecked: R || S and one byte more must not verify
    (R and S read from the first 64 bytes would)."""
    tok = jm.token(jwt_env["keys"]["ec256"], "ES256", claims())
    assert jwt_call(jwt_env, "/any/x", tok) == (200, True)
    h, p, s = tok.split(".")
    raw = jm.base64.urlsafe_b64decode(s + "==")
    assert len(raw) == 64
    for extra in (b"\x00", b"\x01", b"\x00\x00"):
        jwt_refused(jwt_env, "/any/x", h + "." + p + "." + jm.b64(raw + extra))


def test_an_hmac_wrong_in_its_last_byte_is_refused(jwt_env):
    """jwt-hmac-compare-truncated: every byte of the HMAC is compared."""
    tok = jm.token(jwt_env["keys"]["hs"], "HS256", claims())
    assert jwt_call(jwt_env, "/any/x", tok) == (200, True)
    h, p, s = tok.split(".")
    raw = bytearray(jm.base64.urlsafe_b64decode(s + "=="))
    for i in (len(raw) - 1, len(raw) // 2 + 1):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        jwt_refused(jwt_env, "/any/x", h + "." + p + "." + jm.b64(bytes(bad)))


def test_iss_and_aud_match_whole_names_only(jwt_env):
    """jwt-iss-aud-prefix-match: a claim that is only the start of a
    configured issuer or audience is another one."""
    k = jwt_env["keys"]["ec256"]
    for c in (claims(iss=ISS[:-5]), claims(iss=""), claims(aud=AUD[:-1]), claims(aud=""),
              claims(aud=[AUD[:1]])):
        jwt_refused(jwt_env, "/any/x", jm.token(k, "ES256", c))


JWKS_CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; };
              idp = { servers = [ "127.0.0.1:%(idp)d" ]; }; };
routes = (
  { name = "api"; path = "/"; proxy = "b"; jwt = true; jwt_cache_size = 64;
    jwt_jwks_upstream = "idp"; jwt_jwks_path = "/keys"; jwt_jwks_zone = "idp17:256k";
    jwt_jwks_refresh = "60s"; jwt_jwks_min_refresh = "1s"; jwt_jwks_timeout = "2s"; }
);
"""


def test_a_cached_token_goes_with_the_key_set_that_verified_it(portico):
    """jwt-cache-generation-ignored: once the JWKS drops the key, a token
    that key verified (and the cache holds) is refused."""
    import json
    k1, k2 = jm.Key("ec256", "k1"), jm.Key("ec256", "k2")
    doc = {"keys": [k1.jwk()]}
    fetches = []

    def idp_handle(req):
        fetches.append(req.target)
        return Response(200, [("Content-Type", "application/jwk-set+json")],
                        json.dumps(doc).encode())

    idp = Backend(idp_handle)
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = free_ports(1)[0]
    portico(JWKS_CONF % dict(port=port, be=be.port, idp=idp.port), ports=[port])
    now = int(time.time())
    t1 = jm.token(k1, "ES256", {"sub": "one", "exp": now + 300})
    t2 = jm.token(k2, "ES256", {"sub": "two", "exp": now + 300})

    def st(t):
        return get(port, "/x", headers=[("Authorization", "Bearer " + t)]).status

    assert st(t1) == 200
    assert st(t1) == 200            # from the cache now
    doc["keys"] = [k2.jwk()]        # rotation: k1 is withdrawn
    time.sleep(1.1)                 # past jwt_jwks_min_refresh
    n = len(fetches)
    assert st(t2) == 200            # the unknown kid fetched the new set
    assert len(fetches) > n
    assert st(t1) == 401
    be.close()
    idp.close()


INTROSPECT_CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; };
              as = { servers = [ "127.0.0.1:%(asp)d" ]; }; };
defaults = { introspect_upstream = "as"; introspect_path = "/introspect";
             introspect_zone = "tokens17:1m"; introspect_timeout = "2s";
             introspect_cache_max = "60s"; introspect_negative_ttl = "1s"; };
routes = (
  { name = "read"; path = "/read/"; proxy = "b"; introspect = true; introspect_scopes = "read"; }
);
"""


@pytest.fixture()
def introspect_env(portico):
    import json
    import urllib.parse
    calls = []
    answers = {
        "good": {"active": True, "scope": "read", "sub": "u1"},
        "readonly": {"active": True, "scope": "readonly write", "sub": "u2"},
        "rea": {"active": True, "scope": "rea", "sub": "u3"},
    }

    def handle(req):
        tok = urllib.parse.parse_qs(req.body.decode()).get("token", [""])[0]
        calls.append(tok)
        return Response(200, [("Content-Type", "application/json")],
                        json.dumps(answers.get(tok, {"active": False})).encode())

    asrv = Backend(handle)
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = free_ports(1)[0]
    portico(INTROSPECT_CONF % dict(port=port, be=be.port, asp=asrv.port), ports=[port])
    yield dict(port=port, calls=calls, be=be)
    be.close()
    asrv.close()


def ibearer(env, tok):
    return get(env["port"], "/read/x", headers=[("Authorization", "Bearer " + tok)]).status


def test_a_scope_that_only_starts_with_the_required_one_is_not_it(introspect_env):
    """introspect-scope-prefix: "readonly" is not "read"; neither is "rea"."""
    assert ibearer(introspect_env, "good") == 200
    assert ibearer(introspect_env, "readonly") == 403
    assert ibearer(introspect_env, "rea") == 403


def test_active_answers_outlive_the_negative_ttl_and_inactive_ones_do_not(introspect_env):
    """introspect-ttls-swapped: an active answer is kept up to
    introspect_cache_max (60 s), an inactive one introspect_negative_ttl (1 s)."""
    calls = introspect_env["calls"]
    assert ibearer(introspect_env, "good") == 200
    assert ibearer(introspect_env, "revoked") == 401
    assert calls.count("good") == 1 and calls.count("revoked") == 1
    time.sleep(1.3)
    assert ibearer(introspect_env, "good") == 200
    assert ibearer(introspect_env, "revoked") == 401
    assert calls.count("good") == 1, "the active answer was asked again"
    assert calls.count("revoked") == 2, "the inactive answer was kept past its TTL"


AUTH_CONF = """
portico = { workers = 1;
  consumers = ( { name = "alice"; groups = [ "staff" ]; api_keys = [ "alice-key" ]; },
                { name = "alice-evil"; groups = [ "other" ]; api_keys = [ "evil-key" ]; } );
};
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "both"; path = "/both"; api_key = true; basic_auth = "users.htpasswd"; proxy = "b"; },
  { name = "acl"; path = "/acl"; api_key = true; acl_allow = [ "alice" ]; proxy = "b"; },
  { name = "open"; path = "/"; proxy = "b"; }
);
"""


@pytest.fixture()
def auth_env(portico, tmp_path):
    import base64
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    (tmp_path / "users.htpasswd").write_text(
        "alice:%s\n" % crypt.crypt("wonderland", crypt.mksalt(crypt.METHOD_SHA512)))
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = free_ports(1)[0]
    portico(AUTH_CONF % dict(port=port, be=be.port), ports=[port])
    good_basic = ("Authorization", "Basic " + base64.b64encode(b"alice:wonderland").decode())
    yield dict(port=port, be=be, basic=good_basic)
    be.close()


def test_auth_satisfy_all_needs_every_mechanism(auth_env):
    """auth-all-becomes-any: with the default auth_satisfy = "all", a good
    API key alone does not pass a route that also wants basic auth."""
    port, be = auth_env["port"], auth_env["be"]
    key = ("X-API-Key", "alice-key")
    assert get(port, "/both", headers=[key, auth_env["basic"]]).status == 200
    n = len(be.requests)
    assert get(port, "/both", headers=[key]).status == 401
    assert get(port, "/both", headers=[auth_env["basic"]]).status == 401
    assert len(be.requests) == n


def test_acl_names_match_whole_consumer_ids(auth_env):
    """acl-name-prefix-match: acl_allow = [ "alice" ] does not let
    "alice-evil" in."""
    port, be = auth_env["port"], auth_env["be"]
    assert get(port, "/acl", headers=[("X-API-Key", "alice-key")]).status == 200
    n = len(be.requests)
    assert get(port, "/acl", headers=[("X-API-Key", "evil-key")]).status == 403
    assert len(be.requests) == n


HASH_CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(live)d", "127.0.0.1:%(dead)d" ];
                    balance = "hash"; hash_key = "$http_x_user"; max_fails = 0;
                    retries = 2; retry_budget = 100; }; };
routes = ( { path = "/"; proxy = "b"; } );
"""


def test_a_hash_retry_leaves_the_server_that_failed(portico):
    """hash-retry-same-server: with passive health off (max_fails = 0) the
    dead server stays "up"; the retry after its refused connect must walk
    the ring to the next server, not go back to the key's own."""
    live = Backend(lambda req: Response(200, [], b"live"))
    port, dead = free_ports(2)
    portico(HASH_CONF % dict(port=port, live=live.port, dead=dead), ports=[port])
    statuses = [get(port, "/", headers=[("X-User", "user-%d" % i)]).status for i in range(16)]
    assert statuses == [200] * 16, statuses
    live.close()


def test_t_refuses_an_existing_access_log_it_cannot_append_to(tmp_path):
    """conf-test-existing-log-unwritable-passes: the access log path exists
    but is a directory; -t opens it for appending as the start would, and
    fails (root can open any file, not write into a directory)."""
    from conftest import run_portico
    port = free_ports(1)[0]
    logdir = tmp_path / "logs"
    logdir.mkdir()
    conf = tmp_path / "p.conf"
    conf.write_text('listen = ( "127.0.0.1:%d" );\nroutes = ( { path = "/"; return = 204; '
                    'access_log = "%s"; } );\n' % (port, logdir))
    r = run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))
    assert r.returncode != 0
    assert str(logdir) in r.stderr and "test failed" in r.stderr, r.stderr
    good = tmp_path / "a.log"
    good.write_text("")
    conf.write_text('listen = ( "127.0.0.1:%d" );\nroutes = ( { path = "/"; return = 204; '
                    'access_log = "%s"; } );\n' % (port, good))
    r = run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))
    assert r.returncode == 0, r.stderr
