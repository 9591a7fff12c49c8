"""JWT bearer tokens (issue 12): a valid token for every algorithm, and each
strict rule of RFC 7515/7518/7519 and RFC 6750 probed the way attackers do.
Tokens are made here with python3-cryptography and hmac; the upstream is a
real backend that records what reached it."""
import json
import time

import pytest

import jwtmake as jm
from backends import Backend, Response, get
from conftest import Portico, free_ports

ISS, AUD = "https://issuer.test", "api"
SECRET = b"0123456789abcdef0123456789abcdef-hs512-needs-64-bytes-of-secret!"

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
defaults = { jwt_issuer = "%(iss)s"; jwt_audience = [ "other", "%(aud)s" ]; jwt_leeway = "10s"; };
routes = (
  { name = "pem"; path = "/pem/"; proxy = "b"; jwt = true; jwt_groups_claim = "groups";
    jwt_keys = ( { file = "rsa.pem"; kid = "r1"; },
                 { file = "ec256.pem"; kid = "e1"; },
                 { file = "ec384.pem"; kid = "e3"; },
                 { file = "ec521.pem"; kid = "e5"; },
                 { file = "ed.pem"; kid = "d1"; },
                 { secret_file = "hs.key"; kid = "h1"; } ); },
  { name = "nokid"; path = "/nokid/"; proxy = "b"; jwt = true;
    jwt_keys = ( { file = "rsa.pem"; algorithms = "PS256"; }, { file = "ec256.pem"; } ); },
  { name = "jwks"; path = "/jwks/"; proxy = "b"; jwt = true; jwt_jwks_file = "keys.jwks";
    jwt_groups_claim = "scope"; },
  { name = "cookie"; path = "/cookie/"; proxy = "b"; jwt = true; jwt_cookie = "session";
    jwt_keys = ( { file = "ec256.pem"; } ); jwt_realm = "cookies"; },
  { name = "claims"; path = "/claims/"; proxy = "b"; jwt = true; jwt_strip_credential = false;
    jwt_keys = ( { file = "ec256.pem"; } ); jwt_require_claims = [ "role=admin", "tenant" ];
    jwt_max_token_size = "1k"; jwt_consumer_claim = "email"; },
  { name = "cached"; path = "/cached/"; proxy = "b"; jwt = true; jwt_cache_size = 16;
    jwt_keys = ( { file = "ec256.pem"; } ); jwt_leeway = "0s"; jwt_groups_claim = "groups"; },
  { name = "open"; path = "/"; proxy = "b"; }
);
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("jwt")
    keys = {"rsa": jm.Key("rsa", "r1"), "ec256": jm.Key("ec256", "e1"),
            "ec384": jm.Key("ec384", "e3"), "ec521": jm.Key("ec521", "e5"),
            "ed": jm.Key("ed25519", "d1"), "hs": jm.Key("hmac", "h1", secret=SECRET)}
    for name, k in keys.items():
        if name == "hs":
            (d / "hs.key").write_bytes(SECRET + b"\n")
        else:
            (d / (name + ".pem")).write_bytes(k.pem())
    jw = {"rsa": jm.Key("rsa", "j-rsa"), "ec": jm.Key("ec256", "j-ec"),
          "enc": jm.Key("rsa", "j-enc"), "ops": jm.Key("ec256", "j-ops")}
    (d / "keys.jwks").write_text(json.dumps({"keys": [
        jw["rsa"].jwk(alg="RS256", use="sig"), jw["ec"].jwk(key_ops=["verify"]),
        jw["enc"].jwk(use="enc"), jw["ops"].jwk(key_ops=["encrypt"]),
        {"kty": "weird", "kid": "x"}]}))
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = free_ports(1)[0]
    p = Portico(d, CONF % dict(port=port, be=be.port, iss=ISS, aud=AUD), ports=[port])
    yield dict(port=port, be=be, p=p, keys=keys, jw=jw, dir=d)
    p.stop()
    be.close()
    assert not p.problems()


def claims(**kw):
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 300}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def call(env, path, tok=None, headers=()):
    h = list(headers)
    if tok is not None:
        h.append(("Authorization", "Bearer " + tok))
    n = len(env["be"].requests)
    r = get(env["port"], path, headers=h)
    reached = len(env["be"].requests) > n
    return r, reached


def refused(env, path, tok, headers=()):
    r, reached = call(env, path, tok, headers)
    assert r.status == 401, r.body
    assert not reached
    assert r.header("www-authenticate") == 'Bearer realm="api", error="invalid_token"'
    assert r.header("content-type") == "application/problem+json"
    return r


ALGS = [("rsa", "RS256"), ("rsa", "RS384"), ("rsa", "RS512"), ("rsa", "PS256"),
        ("rsa", "PS384"), ("rsa", "PS512"), ("ec256", "ES256"), ("ec384", "ES384"),
        ("ec521", "ES512"), ("ed", "EdDSA"), ("hs", "HS256"), ("hs", "HS384"),
        ("hs", "HS512")]


@pytest.mark.parametrize("key,alg", ALGS)
def test_a_valid_token_of_every_algorithm_reaches_the_upstream(env, key, alg):
    tok = jm.token(env["keys"][key], alg, claims(groups=["ops", "dev"]))
    r, reached = call(env, "/pem/x", tok)
    assert r.status == 200 and reached
    seen = env["be"].requests[-1]
    assert seen.header("x-consumer") == "alice"
    assert seen.header("x-consumer-groups") == "ops,dev"
    # The credential is stripped by default.
    assert seen.header("authorization") is None


def test_no_token_is_a_bare_challenge(env):
    r, reached = call(env, "/pem/x")
    assert r.status == 401 and not reached
    assert r.header("www-authenticate") == 'Bearer realm="api"'
    # Another scheme is not a bearer token at all.
    r, reached = call(env, "/pem/x", headers=[("Authorization", "Basic YTpi")])
    assert r.status == 401 and r.header("www-authenticate") == 'Bearer realm="api"'


@pytest.mark.parametrize("change,why", [
    (dict(exp=int(time.time()) - 60), "expired"),
    (dict(nbf=int(time.time()) + 120), "not yet valid"),
    (dict(iat=int(time.time()) + 120), "iat in the future"),
    (dict(aud="someone-else"), "wrong audience"),
    (dict(aud=["x", "y"]), "wrong audience in an array"),
    (dict(aud=None), "no audience"),
    (dict(iss="https://evil.test"), "wrong issuer"),
    (dict(iss=None), "no issuer"),
    (dict(exp="9999999999"), "exp a string"),
    (dict(nbf=True), "nbf a boolean"),
    (dict(sub=42), "sub not a string"),
])
def test_claims_that_fail(env, change, why):
    refused(env, "/pem/x", jm.token(env["keys"]["ec256"], "ES256", claims(**change)))


def test_claims_within_the_leeway_pass(env):
    now = int(time.time())
    tok = jm.token(env["keys"]["ec256"], "ES256",
                   claims(exp=now - 5, nbf=now + 5, iat=now + 5, aud=["x", AUD]))
    assert call(env, "/pem/x", tok)[0].status == 200


def test_a_bad_signature_and_alg_none_are_refused(env):
    k = env["keys"]["rsa"]
    tok = jm.token(k, "RS256", claims())
    h, p, s = tok.split(".")
    # One payload claim changed, the signature kept.
    refused(env, "/pem/x", h + "." + jm.seg(claims(sub="admin")) + "." + s)
    refused(env, "/pem/x", h + "." + p + "." + jm.b64(b"\x00" * 256))
    for none in ("none", "None", "NONE", ""):
        nh = jm.seg({"alg": none, "kid": "r1"})
        refused(env, "/pem/x", nh + "." + p + ".")
        refused(env, "/pem/x", nh + "." + p + "." + s)


def test_hs256_signed_with_the_rsa_public_key_fails(env):
    """The classic key confusion: the attacker signs with HMAC, using the
    public PEM bytes as the secret and the RSA key's kid."""
    k = env["keys"]["rsa"]
    forged = jm.Key("hmac", "r1", secret=k.pem())
    refused(env, "/pem/x", jm.token(forged, "HS256", claims()))
    refused(env, "/pem/x", jm.token(forged, "HS256", claims(), kid=False))
    # And an ES256 kid asked to verify an RS256 token.
    refused(env, "/pem/x", jm.token(k, "RS256", claims(), header={"kid": "e1"}))


def test_kid_is_a_lookup_key_only(env):
    k = env["keys"]["rsa"]
    for kid in ("unknown", "../../../etc/passwd", "/dev/zero", "r1?x=1", "r1/..", "r1 "):
        refused(env, "/pem/x", jm.token(k, "RS256", claims(), header={"kid": kid}))
    refused(env, "/pem/x", jm.token(k, "RS256", claims(), header={"kid": 7}))


def test_keys_in_the_token_are_ignored(env):
    """jwk, jku, x5u and x5c name the attacker's own key: never used."""
    evil = jm.Key("rsa", "r1")
    hdr = {"jwk": evil.jwk(), "jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/c"}
    refused(env, "/pem/x", jm.token(evil, "RS256", claims(), header=hdr))
    # The real key's token with the same headers still verifies (they are ignored).
    assert call(env, "/pem/x", jm.token(env["keys"]["rsa"], "RS256", claims(),
                                        header=hdr))[0].status == 200


def test_tokens_without_kid_try_the_keys_that_allow_their_alg(env):
    ks = env["keys"]
    assert call(env, "/nokid/x", jm.token(ks["rsa"], "PS256", claims(), kid=False))[0].status == 200
    assert call(env, "/nokid/x", jm.token(ks["ec256"], "ES256", claims(), kid=False))[0].status == 200
    # RS256 is not in that key's allow-list.
    refused(env, "/nokid/x", jm.token(ks["rsa"], "RS256", claims(), kid=False))
    # A kid the keys do not carry still finds the keys without one.
    assert call(env, "/nokid/x", jm.token(ks["ec256"], "ES256", claims(),
                                          header={"kid": "zz"}))[0].status == 200


def test_segments_are_strict_base64url(env):
    k = env["keys"]["ec256"]
    tok = jm.token(k, "ES256", claims())
    h, p, s = tok.split(".")
    variants = [
        h + "=." + p + "." + s,                       # padding
        h + "." + p + "." + s + "==",
        h + "." + p[:4] + "+" + p[5:] + "." + s,      # the other alphabet
        h + "." + p[:4] + "/" + p[5:] + "." + s,
        h + "." + p[:10] + " " + p[10:] + "." + s,    # whitespace
        h + "." + p + "\t." + s,
        h + "." + p + "." + s + "." + s,              # four segments
        h + "." + p,                                   # two
        h + ".." + s,                                  # empty payload
        "." + p + "." + s,
        h + "." + p + "." + s + "x",                  # a length of 1 mod 4
    ]
    for v in variants:
        r, reached = call(env, "/pem/x", v)
        assert r.status == 401 and not reached, v


def test_trailing_bits_are_refused(env):
    """ES256's 64-byte signature is 86 characters, the last carrying 2 bits
    a canonical encoder leaves 0; setting one must not verify."""
    tok = jm.token(env["keys"]["ec256"], "ES256", claims())
    h, p, s = tok.split(".")
    assert len(s) == 86
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(s[-1])
    assert last & 0x0f == 0
    refused(env, "/pem/x", h + "." + p + "." + s[:-1] + alphabet[last | 1])


def test_json_rules(env):
    k = env["keys"]["ec256"]
    c = json.dumps(claims())
    hdr = '{"alg":"ES256","kid":"e1"}'
    assert call(env, "/pem/x", jm.raw_token(k, "ES256", hdr, c))[0].status == 200
    for h, p in [
        ('{"alg":"ES256","kid":"e1","kid":"r1"}', c),                 # duplicate header member
        ('{"alg":"HS256","alg":"ES256","kid":"e1"}', c),
        (hdr, c[:-1] + ',"sub":"mallory"}'),                          # duplicate claim
        (hdr, c + " x"),                                              # trailing data
        (hdr + "{}", c),
        (hdr, "[1,2]"),                                               # not an object
        ('["ES256"]', c),
        (hdr, '"alice"'),
        (hdr, "\xff\xfe"),                                            # not UTF-8 JSON
        ('{"alg":"ES256","kid":"e1","crit":["exp"],"exp":1}', c),     # crit: unknown extension
        ('{"alg":"ES256","kid":"e1","crit":[]}', c),                  # empty
        ('{"alg":"ES256","kid":"e1","crit":"b64"}', c),               # not an array
        ('{"alg":"ES256","kid":"e1","crit":["kid"]}', c),             # registered name
        ('{"alg":"ES256","kid":"e1","crit":["x"]}', c),               # absent from the header
        ('{"alg":"ES256","kid":"e1","b64":false,"crit":["b64"]}', c),
        ('{"alg":"ES256","kid":"e1","enc":"A128GCM"}', c),
        ('{"alg":"ES256","kid":"e1","cty":"JWT"}', c),
        ('{"kid":"e1"}', c),
        ('{"alg":"es256","kid":"e1"}', c),
    ]:
        refused(env, "/pem/x", jm.raw_token(k, "ES256", h, p))


def test_ecdsa_signatures_must_be_r_s_of_the_exact_length(env):
    k = env["keys"]["ec256"]
    refused(env, "/pem/x", jm.token(k, "ES256", claims(), der=True))
    tok = jm.token(k, "ES256", claims())
    h, p, s = tok.split(".")
    raw = jm.base64.urlsafe_b64decode(s + "==")
    refused(env, "/pem/x", h + "." + p + "." + jm.b64(b"\x00" + raw))
    refused(env, "/pem/x", h + "." + p + "." + jm.b64(raw[:63]))
    # An ES384 token with the P-256 key's kid: the curve must match the alg.
    refused(env, "/pem/x", jm.token(env["keys"]["ec384"], "ES384", claims(),
                                    header={"kid": "e1"}))


def test_bearer_syntax(env):
    tok = jm.token(env["keys"]["ec256"], "ES256", claims())
    # RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is
    # case-insensitive (RFC 9110 §11.1).
    for value in ("bearer " + tok, "BEARER " + tok, "Bearer   " + tok):
        r, reached = call(env, "/pem/x", headers=[("Authorization", value)])
        assert r.status == 200 and reached, value
    for value in ("Bearer " + tok + " x", "Bearer", "Bearer ", "Bearer " + tok + ",",
                  "Bearer\t" + tok, "Bearer " + tok[:5] + "!" + tok[5:]):
        r, reached = call(env, "/pem/x", headers=[("Authorization", value)])
        assert r.status == 401 and not reached, value
    r, reached = call(env, "/pem/x", headers=[("Authorization", "Bearer " + tok),
                                              ("Authorization", "Bearer " + tok)])
    assert r.status == 401 and not reached


def test_jwks_file_keys_and_their_use_alg_and_key_ops(env):
    jw = env["jw"]
    tok = jm.token(jw["rsa"], "RS256", claims(scope="read write"))
    r, reached = call(env, "/jwks/x", tok)
    assert r.status == 200 and reached
    assert env["be"].requests[-1].header("x-consumer-groups") == "read,write"
    # The JWK says alg RS256: PS256 with the same key is refused.
    refused(env, "/jwks/x", jm.token(jw["rsa"], "PS256", claims()))
    assert call(env, "/jwks/x", jm.token(jw["ec"], "ES256", claims()))[0].status == 200
    # use "enc" and key_ops without verify: those keys were skipped.
    refused(env, "/jwks/x", jm.token(jw["enc"], "RS256", claims()))
    refused(env, "/jwks/x", jm.token(jw["ops"], "ES256", claims()))
    assert "key \"j-enc\" skipped" in env["p"].log() + env["p"].output()


def test_cookie_token(env):
    k = env["keys"]["ec256"]
    tok = jm.token(k, "ES256", claims())
    r, reached = call(env, "/cookie/x", headers=[("Cookie", "a=b; session=" + tok + "; c=d")])
    assert r.status == 200 and reached
    r, reached = call(env, "/cookie/x", headers=[("Cookie", 'session="%s"' % tok)])
    assert r.status == 200 and reached
    r, reached = call(env, "/cookie/x", headers=[("Cookie", "a=b; nosession=" + tok)])
    assert r.status == 401 and r.header("www-authenticate") == 'Bearer realm="cookies"'


def test_required_claims_consumer_claim_and_size_limit(env):
    k = env["keys"]["ec256"]
    ok = jm.token(k, "ES256", claims(role=["user", "admin"], tenant="t1", email="a@x"))
    r, reached = call(env, "/claims/x", ok)
    assert r.status == 200 and reached
    seen = env["be"].requests[-1]
    assert seen.header("x-consumer") == "a@x"
    # jwt_strip_credential = false: the upstream sees the token.
    assert seen.header("authorization") == "Bearer " + ok
    refused(env, "/claims/x", jm.token(k, "ES256", claims(role="user", tenant="t1")))
    refused(env, "/claims/x", jm.token(k, "ES256", claims(role="admin")))
    big = jm.token(k, "ES256", claims(role="admin", tenant="t1", pad="x" * 1200))
    r = refused(env, "/claims/x", big)
    assert "larger" in env["p"].log()


def test_refusals_are_logged_without_the_token(env):
    k = env["keys"]["rsa"]
    tok = jm.token(k, "RS256", claims(exp=1))
    refused(env, "/pem/x", tok)
    log = env["p"].log()
    assert "jwt refused with 401: the token has expired" in log
    assert tok.split(".")[1] not in log and tok.split(".")[2] not in log


def check_conf(tmp_path, route, files=()):
    from conftest import run_portico
    for name, data in files:
        (tmp_path / name).write_bytes(data)
    conf = tmp_path / "p.conf"
    conf.write_text('listen = ( "127.0.0.1:1" );\nroutes = ( { name = "r"; path = "/"; '
                    'return = 204; jwt = true; %s } );\n' % route)
    return run_portico("-t", "-c", str(conf))


def test_config_refuses_weak_or_wrong_keys(tmp_path):
    small = jm.Key("rsa", bits=1024)
    r = check_conf(tmp_path, 'jwt_keys = ( { file = "small.pem"; } );', [("small.pem", small.pem())])
    assert r.returncode != 0 and "at least 2048 bits" in r.stderr
    r = check_conf(tmp_path, 'jwt_keys = ( { secret_file = "s"; } );', [("s", b"short")])
    assert r.returncode != 0 and "at least 32 bytes" in r.stderr
    # A 32-byte secret may do HS256 only: asking for HS512 is an error.
    r = check_conf(tmp_path, 'jwt_keys = ( { secret_file = "s"; algorithms = "HS512"; } );',
                   [("s", b"x" * 32)])
    assert r.returncode != 0 and "none of the algorithms" in r.stderr
    r = check_conf(tmp_path, 'jwt_keys = ( { file = "e.pem"; algorithms = [ "RS256" ]; } );',
                   [("e.pem", jm.Key("ec256").pem())])
    assert r.returncode != 0 and "none of the algorithms" in r.stderr
    r = check_conf(tmp_path, 'jwt_keys = ( { file = "e.pem"; algorithms = "none"; } );')
    assert r.returncode != 0 and "unknown algorithm \"none\"" in r.stderr
    r = check_conf(tmp_path, '')
    assert r.returncode != 0 and "jwt needs jwt_keys" in r.stderr
    r = check_conf(tmp_path, 'jwt_jwks_file = "empty.jwks";', [("empty.jwks", b'{"keys":[]}')])
    assert r.returncode != 0 and "no usable key" in r.stderr


def test_an_inline_secret_is_a_warning(tmp_path):
    r = check_conf(tmp_path, 'jwt_keys = ( { secret = "%s"; } );' % ("k" * 40))
    assert r.returncode == 0, r.stderr
    assert "HMAC secret is written in the config" in r.stderr and "p.conf:" in r.stderr
    assert "k" * 40 not in r.stderr


def test_the_verified_token_cache_honours_exp_and_the_signature(env):
    k = env["keys"]["ec256"]
    exp = int(time.time()) + 2
    tok = jm.token(k, "ES256", claims(exp=exp, groups=["g1"]))
    for _ in range(3):
        r, reached = call(env, "/cached/x", tok)
        assert r.status == 200 and reached
        assert env["be"].requests[-1].header("x-consumer-groups") == "g1"
    # The same header and payload with another signature is another key.
    h, p, s = tok.split(".")
    forged = h + "." + p + "." + s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    refused(env, "/cached/x", forged)
    # Many other tokens push it around the small table; it still verifies.
    for i in range(40):
        assert call(env, "/cached/x", jm.token(k, "ES256", claims(jti=str(i))))[0].status == 200
    assert call(env, "/cached/x", tok)[0].status == 200
    # Once exp has passed (leeway 0 here) the cached token is refused.
    time.sleep(max(0, exp - time.time()) + 0.2)
    r = refused(env, "/cached/x", tok)


VARS_CONF = """
listen = ( "127.0.0.1:%(port)d" );
routes = (
  { name = "vars"; path = "/"; jwt = true; jwt_jwks_file = "keys.jwks";
    return = { status = 200; body = "sub=$jwt_sub tenant=$jwt_claim_tenant n=$jwt_claim_n "
                                    "consumer=$consumer groups=$consumer_groups"; }; }
);
"""


def test_claims_as_variables_and_jwks_rotation_on_reload(portico, tmp_path):
    old, new = jm.Key("ec256", "old"), jm.Key("ed25519", "new")
    (tmp_path / "keys.jwks").write_text(json.dumps({"keys": [old.jwk()]}))
    port = free_ports(1)[0]
    p = portico(VARS_CONF % dict(port=port), ports=[port])
    now = int(time.time())
    c = {"sub": "carol", "tenant": "t9", "n": 42, "exp": now + 60}
    r = get(port, "/", headers=[("Authorization", "Bearer " + jm.token(old, "ES256", c))])
    assert r.status == 200
    assert r.body == b"sub=carol tenant=t9 n=42 consumer=carol groups="
    # The issuer rotates: a new JWKS file and a reload; the old key is gone.
    t_new = jm.token(new, "EdDSA", c)
    assert get(port, "/", headers=[("Authorization", "Bearer " + t_new)]).status == 401
    (tmp_path / "keys.jwks").write_text(json.dumps({"keys": [new.jwk()]}))
    start = len(p.log())
    p.reload()
    p.wait_log(r"generation 2|reload", start=start)

    def rotated():
        return get(port, "/", headers=[("Authorization", "Bearer " + t_new)]).status == 200
    from conftest import wait_for
    wait_for(rotated, 10, what="the new key after the reload")

    # A connection the old generation accepted before it stopped listening
    # may still pass; the new generation refuses the old key for good.
    def old_refused():
        return get(port, "/", headers=[("Authorization",
                                        "Bearer " + jm.token(old, "ES256", c))]).status == 401
    wait_for(old_refused, 10, what="the old key refused after the reload")
