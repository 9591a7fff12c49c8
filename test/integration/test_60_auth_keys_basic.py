"""API keys, basic authentication, declared consumers and ACLs (issue 12).
Keys by header and by query argument, hashed and plain (and -t's
warning), a key file re-read on reload, missing and unknown keys (401 with
a challenge), the key stripped before the upstream; basic auth against
bcrypt and SHA-512-crypt entries made here with crypt(3); ACL groups;
auth_satisfy = "any" across both mechanisms."""
import base64
import hashlib
import signal
import warnings

from backends import Backend, Response, get
from conftest import free_ports, run_portico, wait_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt                # deprecated in 3.11, still the libcrypt binding


def sha(key):
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


CONF = """
portico = { workers = 1; log_level = "info";
  consumers = (
    { name = "alice"; groups = [ "staff", "ops" ]; plan = "gold";
      api_keys = [ "%(alice_key)s" ]; },
    { name = "bob"; groups = [ "partners" ]; api_keys = [ "bob-plain-key" ]; },
    { name = "mallory"; groups = [ "staff", "suspended" ]; api_keys = [ "%(mallory_key)s" ]; }
  );
  api_key_files = [ "keys.txt" ];
};
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
defaults = { consumer_plan_header = "X-Plan"; };
routes = (
  { name = "hdr"; path = "/hdr"; api_key = true; proxy = "b"; },
  { name = "arg"; path = "/arg"; api_key = { query = "apikey"; realm = "partners"; };
    proxy = "b"; },
  { name = "both"; path = "/both"; api_key = { header = "X-API-Key"; query = "apikey"; };
    proxy = "b"; },
  { name = "keep"; path = "/keep"; api_key = { header = "X-Key"; strip = false; };
    proxy = "b"; },
  { name = "staff"; path = "/staff"; api_key = true;
    acl_allow = [ "group:staff", "bob" ]; acl_deny = [ "group:suspended" ];
    return = { status = 200; body = "staff $consumer"; }; },
  { name = "open-acl"; path = "/anon"; acl_allow = [ "alice" ];
    return = { status = 200; body = "never"; }; },
  { name = "basic"; path = "/basic"; basic_auth = "users.htpasswd"; basic_auth_realm = "team";
    proxy = "b"; },
  { name = "either"; path = "/either"; auth_satisfy = "any"; api_key = true;
    basic_auth = "users.htpasswd";
    return = { status = 200; body = "either $consumer [$consumer_groups]"; }; },
  { name = "either-up"; path = "/eup"; auth_satisfy = "any"; api_key = true;
    basic_auth = "users.htpasswd"; proxy = "b"; }
);
"""


def prepare(tmp_path, extra_keys="", backend=True):
    (tmp_path / "keys.txt").write_text(
        "# consumer:sha256-hex\n"
        "carol:%s\n" % hashlib.sha256(b"carol-key").hexdigest() + extra_keys)
    (tmp_path / "users.htpasswd").write_text(
        "# test users\n"
        "alice:%s\n" % crypt.crypt("wonderland", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)) +
        "dave:%s\n" % crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_SHA512)) +
        "erin:%s\n" % crypt.crypt("e-pass", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)
                                  .replace("$2b$", "$2y$")) +
        "frank:%s\n" % crypt.crypt("f-pass", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$"))
    port = free_ports(1)[0]
    be = Backend(lambda req: Response(200, [], ("%s|%s|%s|%s" % (
        req.target, req.header("x-consumer"), req.header("x-consumer-groups"),
        req.header("x-plan"))).encode())) if backend else None
    conf = CONF % dict(port=port, be=be.port if be else free_ports(1)[0],
                       alice_key=sha("alice-key"),
                       mallory_key=sha("mallory-key"))
    return port, be, conf


def basic(user, pw):
    return ("Authorization", "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode())


def test_api_keys_by_header_and_argument(portico, tmp_path):
    port, be, conf = prepare(tmp_path)
    p = portico(conf, ports=[port])

    r = get(port, "/hdr/x", headers=[("X-API-Key", "alice-key"), ("X-Consumer", "root")])
    assert r.status == 200
    assert r.body.decode() == "/hdr/x|alice|staff,ops|gold"
    seen = be.requests[-1]
    assert seen.header("x-api-key") is None                   # stripped
    assert seen.header_all("x-consumer") == ["alice"]         # the forged one removed

    assert get(port, "/hdr", headers=[("x-api-key", "bob-plain-key")]).body.decode() \
        .startswith("/hdr|bob|partners")
    assert get(port, "/hdr", headers=[("X-API-Key", "carol-key")]).body.decode() \
        .startswith("/hdr|carol|None")                        # from the key file

    # By argument, stripped from the query whatever its place.
    r = get(port, "/arg/y?a=1&apikey=alice-key&b=2")
    assert r.status == 200 and r.body.decode().startswith("/arg/y?a=1&b=2|alice")
    r = get(port, "/arg/y?apikey=%62ob-plain-key")            # percent-decoded
    assert r.status == 200 and r.body.decode().startswith("/arg/y|bob")

    # The field is read first; the argument is stripped all the same.
    r = get(port, "/both?apikey=bob-plain-key&x=1", headers=[("X-API-Key", "alice-key")])
    assert r.status == 200 and r.body.decode().startswith("/both?x=1|alice")
    assert be.requests[-1].header("x-api-key") is None

    # Not stripped when asked to keep it.
    assert get(port, "/keep", headers=[("X-Key", "alice-key")]).status == 200
    assert be.requests[-1].header("x-key") == "alice-key"

    # Missing, unknown, ambiguous: 401 with the route's challenge.
    for path, headers, why in [("/hdr", [], "no API key"),
                               ("/hdr", [("X-API-Key", "alice-key2")], "unknown API key"),
                               ("/hdr", [("X-API-Key", "a"), ("X-API-Key", "alice-key")],
                                "more than one API key"),
                               ("/arg?apikey=nope", [], "unknown API key")]:
        n = len(be.requests)
        r = get(port, path, headers=headers)
        assert r.status == 401, path
        assert r.header("www-authenticate") == \
            ('ApiKey realm="partners"' if path.startswith("/arg") else 'ApiKey realm="api"')
        assert r.header("content-type") == "application/problem+json"
        assert why in r.body.decode()
        assert len(be.requests) == n                          # the upstream saw nothing
    p.wait_log(r"api_key refused with 401: unknown API key")
    assert "alice-key2" not in p.log() and "nope" not in p.log()


def test_plain_key_warns_and_key_file_reloads(portico, tmp_path):
    port, be, conf = prepare(tmp_path)
    (tmp_path / "portico.conf").write_text(conf)
    r = run_portico("-t", "-c", str(tmp_path / "portico.conf"))
    assert r.returncode == 0
    assert "consumer \"bob\" has a plain API key" in r.stderr
    assert "portico.conf:" in r.stderr and "bob-plain-key" not in r.stderr

    p = portico(conf, ports=[port])
    assert get(port, "/hdr", headers=[("X-API-Key", "erin-key")]).status == 401
    assert get(port, "/hdr", headers=[("X-API-Key", "carol-key")]).status == 200
    # The key file changes: erin in, carol out, on reload.
    (tmp_path / "keys.txt").write_text("erin:%s\n" % hashlib.sha256(b"erin-key").hexdigest())
    workers = p.workers()
    p.send(signal.SIGHUP)
    p.wait_workers(1, exclude=workers)
    wait_for(lambda: get(port, "/hdr", headers=[("X-API-Key", "erin-key")]).status == 200,
             what="the new key")
    assert get(port, "/hdr", headers=[("X-API-Key", "carol-key")]).status == 401

    # A bad key file fails the reload (file:line) and the old keys stay.
    start = len(p.log())
    (tmp_path / "keys.txt").write_text("erin:%s\nfrank:not-a-hash\n"
                                       % hashlib.sha256(b"erin-key").hexdigest())
    p.send(signal.SIGHUP)
    p.wait_log(r"keys\.txt:2: the key of \"frank\" is not 64 hex digits", start=start)
    assert get(port, "/hdr", headers=[("X-API-Key", "erin-key")]).status == 200
    be.close()


def test_config_errors(tmp_path):
    port, _, conf = prepare(tmp_path, backend=False)
    bad = [(conf.replace('{ name = "bob";', '{ name = "alice";'),
            "consumer \"alice\" is already declared at line"),
           (conf.replace('"bob-plain-key"', '"sha256:abc"'), "must be followed by 64 hex"),
           (conf.replace('"bob-plain-key"', '"%s"' % sha("alice-key")),
            "already given to consumer \"alice\""),
           (conf.replace('{ name = "bob";', '{ name = "bob"; group = "x";'),
            "unknown consumer setting \"group\""),
           (conf.replace('{ name = "bob";', '{ name = "b o b";'), "must be printable"),
           (conf.replace('api_key = true;', 'api_key = { strip = true; };', 1),
            "needs a header or a query argument"),
           (conf.replace('"keys.txt"', '"missing.txt"'), "p.conf:9: api_key_files: cannot read")]
    for text, why in bad:
        (tmp_path / "p.conf").write_text(text)
        r = run_portico("-t", "-c", str(tmp_path / "p.conf"))
        assert r.returncode != 0 and why in r.stderr, r.stderr
    for line, why in [("eve:plaintext", "plaintext and DES are not accepted"),
                      ("eve:$apr1$abcdefgh$0123456789abcdefghijkl", "MD5 hash"),
                      ("eve:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "unsalted SHA-1"),
                      ("alice:" + crypt.crypt("x", crypt.mksalt(crypt.METHOD_SHA256)),
                       "user \"alice\" is already listed at line 2")]:
        with open(tmp_path / "users.htpasswd", "a") as f:
            f.write(line + "\n")
        (tmp_path / "p.conf").write_text(conf)
        r = run_portico("-t", "-c", str(tmp_path / "p.conf"))
        assert r.returncode != 0 and "users.htpasswd:6: " in r.stderr, r.stderr
        assert why in r.stderr, r.stderr
        assert "plaintext\n" not in r.stderr
        lines = (tmp_path / "users.htpasswd").read_text().splitlines()[:-1]
        (tmp_path / "users.htpasswd").write_text("\n".join(lines) + "\n")


def test_basic_acl_and_any(portico, tmp_path):
    port, be, conf = prepare(tmp_path)
    p = portico(conf, ports=[port])

    r = get(port, "/basic")
    assert r.status == 401
    assert r.header("www-authenticate") == 'Basic realm="team", charset="UTF-8"'
    r = get(port, "/basic/z", headers=[basic("alice", "wonderland")])   # bcrypt
    assert r.status == 200 and r.body.decode() == "/basic/z|alice|staff,ops|gold"
    assert be.requests[-1].header("authorization") is None              # stripped
    r = get(port, "/basic", headers=[basic("dave", "s3cret")])          # SHA-512-crypt
    assert r.status == 200 and r.body.decode().startswith("/basic|dave|None")
    r = get(port, "/basic", headers=[basic("erin", "e-pass")])           # bcrypt $2y$
    assert r.status == 200 and "|erin|" in r.body.decode()
    r = get(port, "/basic", headers=[basic("frank", "f-pass")])          # yescrypt
    assert r.status == 200 and "|frank|" in r.body.decode()
    assert get(port, "/basic", headers=[basic("frank", "e-pass")]).status == 401
    # Cached verification still checks the password.
    assert get(port, "/basic", headers=[basic("alice", "wonderland")]).status == 200
    for h in [basic("alice", "wonderlanD"), basic("nobody", "x"), basic("dave", ""),
              ("Authorization", "Basic !!!"), ("Authorization", "Bearer abc")]:
        r = get(port, "/basic", headers=[h])
        assert r.status == 401 and r.header("www-authenticate").startswith("Basic ")
        assert "wonderlanD" not in r.body.decode()
    p.wait_log(r"basic: wrong password for user \"alice\"")
    assert "wonderlanD" not in p.log()

    # ACL: allowed by group, by name; denied by group; anonymous refused.
    assert get(port, "/staff", headers=[("X-API-Key", "alice-key")]).body == b"staff alice"
    assert get(port, "/staff", headers=[("X-API-Key", "bob-plain-key")]).status == 200
    r = get(port, "/staff", headers=[("X-API-Key", "mallory-key")])
    assert r.status == 403 and '"status":403' in r.body.decode()
    assert get(port, "/staff", headers=[("X-API-Key", "carol-key")]).status == 403
    assert get(port, "/anon").status == 403
    p.wait_log(r"acl of route \"staff\" refused consumer \"mallory\": acl_deny names group:suspended")

    # any: a key or basic credentials; neither: 401 with both challenges.
    assert get(port, "/either", headers=[("X-API-Key", "bob-plain-key")]).body == \
        b"either bob [partners]"
    assert get(port, "/either", headers=[basic("alice", "wonderland")]).body == \
        b"either alice [staff,ops]"
    # The first acceptance wins; no credential of either kind travels on.
    r = get(port, "/eup", headers=[("X-API-Key", "bob-plain-key"), basic("alice", "wonderland")])
    assert r.status == 200 and r.body.decode().startswith("/eup|bob|partners")
    assert be.requests[-1].header("authorization") is None
    assert be.requests[-1].header("x-api-key") is None
    r = get(port, "/either", headers=[basic("alice", "nope")])
    assert r.status == 401
    assert set(r.header_all("www-authenticate")) == {
        'ApiKey realm="api"', 'Basic realm="portico", charset="UTF-8"'}
    be.close()


def test_defaults_and_route_overrides(portico, tmp_path):
    port, be, _ = prepare(tmp_path)
    conf = """
portico = { workers = 1;
  consumers = ( { name = "alice"; api_keys = [ "%(key)s" ]; } ); };
listen = ( "127.0.0.1:%(port)d" );
defaults = { api_key = { header = "X-Key"; realm = "all"; };
             basic_auth = "users.htpasswd"; auth_satisfy = "any"; };
routes = (
  { name = "public"; path = "/public"; api_key = false; basic_auth = "";
    return = { status = 200; body = "public [$consumer]"; }; },
  { name = "keyonly"; path = "/keyonly"; basic_auth = "";
    return = { status = 200; body = "key $consumer"; }; },
  { name = "guarded"; path = "/";
    return = { status = 200; body = "guarded $consumer"; }; }
);
""" % dict(port=port, key=sha("alice-key"))
    portico(conf, ports=[port])
    assert get(port, "/public").body == b"public []"
    r = get(port, "/keyonly")
    assert r.status == 401 and r.header_all("www-authenticate") == ['ApiKey realm="all"']
    assert get(port, "/keyonly", headers=[("X-Key", "alice-key")]).body == b"key alice"
    r = get(port, "/x")
    assert r.status == 401 and len(r.header_all("www-authenticate")) == 2
    assert get(port, "/x", headers=[basic("dave", "s3cret")]).body == b"guarded dave"
    be.close()


def test_a_key_in_the_query_never_reaches_the_access_log(portico, tmp_path):
    # $request and $request_uri show the target as received: the value of
    # the key argument is masked there, stripped or not, while what goes
    # upstream is unchanged.
    port, be, conf = prepare(tmp_path)
    log = tmp_path / "access.log"
    conf = conf.replace('defaults = { consumer_plan_header = "X-Plan"; };',
                        'defaults = { consumer_plan_header = "X-Plan"; access_log = "%s"; };'
                        % log)
    conf = conf.replace('{ name = "keep";',
                        '{ name = "keepq"; path = "/keepq"; proxy = "b";\n'
                        '    api_key = { query = "apikey"; strip = false; }; },\n'
                        '  { name = "keep";')
    portico(conf, ports=[port])

    r = get(port, "/arg/y?a=1&apikey=alice-key&b=2")
    assert r.status == 200 and r.body.decode().startswith("/arg/y?a=1&b=2|alice")
    r = get(port, "/keepq?apikey=bob-plain-key&x=1")
    assert r.status == 200 and r.body.decode().startswith("/keepq?apikey=bob-plain-key&x=1|bob")
    assert get(port, "/arg?apikey=wrong-secret-key").status == 401

    text = wait_for(lambda: log.exists() and log.read_text().count("\n") >= 3 and log.read_text(),
                    what="three access log lines")
    assert "alice-key" not in text and "bob-plain-key" not in text
    assert "wrong-secret-key" not in text
    assert "/arg/y?a=1&apikey=*********&b=2" in text
    assert "/keepq?apikey=*************&x=1" in text
