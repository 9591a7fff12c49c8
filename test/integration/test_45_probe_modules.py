"""Black-box probes of HTTP/1.1 handling with the gateway modules in the
path (RFC 9110/9112): auth, rate limits, the cache, compression, the admin
API and the metrics endpoint answer early or rewrite responses, and each
must keep the framing, the order of pipelined answers and the fields the
RFCs require of the status it sends.
"""
import hashlib
import json
import os
import time

import pytest

from backends import Backend, Reader, Response, closed, connect, read_response
from conftest import Portico, free_ports
import jwtmake as jm

KEY = "probe-key-1"
TOKEN = "probe-admin-token-0123456789abcdef"
SECRET = b"0123456789abcdef0123456789abcdef-hs512-needs-64-bytes-of-secret!"

CONF = """
portico = { workers = 1;
  consumers = ( { name = "alice"; api_keys = [ "sha256:%(keyhash)s" ]; } ); };
listen = ( { address = "127.0.0.1:%(port)d"; } );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "key"; path = "/key/"; api_key = true; proxy = "b"; },
  { name = "jwt"; path = "/jwt/"; proxy = "b"; jwt = true; jwt_groups_claim = "groups";
    jwt_keys = ( { secret_file = "%(hs)s"; kid = "h1"; } );
    request_headers = { set = [ "X-Groups: $consumer_groups" ]; }; },
  { name = "rl"; path = "/rl/"; proxy = "b";
    limits = { name = "one"; zone = "probe_rl:1M"; rate = "1r/m"; burst = 0; }; },
  { name = "cache"; path = "/cache/"; proxy = "b"; cache_zone = "probe_cache:4M";
    compress = true; compress_min_length = "10"; },
  { name = "admin"; path = "/admin/"; admin = true; admin_token_file = "%(token)s"; },
  { name = "metrics"; path = "/metrics"; metrics_endpoint = true; },
  { name = "ret"; path = "/r"; return = { status = 200; body = "ret $uri"; }; },
  { name = "rest"; path = "/"; proxy = "b"; }
);
"""

BODY = b"representation " * 40


def handler(req):
    return Response(200, [("Content-Type", "text/plain"), ("Cache-Control", "max-age=300"),
                          ("ETag", '"v1"')], BODY)


class Gateway:
    def __init__(self, proc, port, backend):
        self.proc, self.port, self.backend = proc, port, backend


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    d = tmp_path_factory.mktemp("probe")
    token = os.path.join(str(d), "admin.token")
    with open(token, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(token, 0o600)
    hs = os.path.join(str(d), "hs.key")
    with open(hs, "wb") as f:
        f.write(SECRET)
    os.chmod(hs, 0o600)
    be = Backend(handler)
    port = free_ports(1)[0]
    conf = CONF % {"port": port, "be": be.port, "token": token, "hs": hs,
                   "keyhash": hashlib.sha256(KEY.encode()).hexdigest()}
    proc = Portico(d, conf, ports=[port])
    yield Gateway(proc, port, be)
    proc.stop()
    be.close()
    problems = proc.problems()
    assert not problems, "\n".join(problems)


def exchange(port, raw, methods):
    """Send raw at once; read one response per entry of methods, in order;
    returns (responses, whether the peer closed after the last)."""
    s = connect(port, timeout=5)
    try:
        s.sendall(raw)
        reader = Reader(s, 5)
        out = [read_response(reader, m) for m in methods]
        return out, closed(reader, 1.0)
    finally:
        s.close()


def assert_problem(resp, status):
    assert resp.status == status, resp
    assert resp.header("content-type") == "application/problem+json", resp
    assert int(resp.header("content-length")) == len(resp.body)
    assert json.loads(resp.body)["status"] == status


# ---- 405 from a module: Allow lists what the resource takes ----------------

@pytest.mark.parametrize("method,path,allowed", [
    ("POST", "/admin/", {"GET", "HEAD"}),
    ("PUT", "/admin/", {"GET", "HEAD"}),
    ("PUT", "/admin/api/status", {"GET", "HEAD"}),
    ("POST", "/admin/api/status", {"GET", "HEAD"}),
    ("DELETE", "/admin/api/config", {"GET", "HEAD"}),
    ("PATCH", "/admin/api/servers/drain", {"POST", "DELETE"}),
    ("GET", "/admin/api/servers/drain", {"POST", "DELETE"}),
    ("DELETE", "/admin/api/servers/enable", {"POST"}),
    ("GET", "/admin/api/actions/cache.purge", {"POST"}),
    ("PUT", "/admin/api/nope", {"GET", "HEAD", "POST", "DELETE"}),
    ("POST", "/metrics", {"GET", "HEAD"}),
    ("DELETE", "/metrics", {"GET", "HEAD"}),
])
def test_module_405_has_allow(gw, method, path, allowed):
    # RFC 9110 15.5.6: the origin MUST send Allow with the methods the
    # target resource supports; an empty Allow says it supports none. The
    # metrics are only read (9.1: a DELETE answered 200 says it was done).
    raw = ("%s %s HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
           "Content-Length: 0\r\n\r\n" % (method, path, TOKEN)).encode()
    (resp,), _ = exchange(gw.port, raw, [method])
    assert_problem(resp, 405)
    allow = {m.strip() for m in (resp.header("allow") or "").split(",") if m.strip()}
    assert allow == allowed, resp
    assert method not in allow


# ---- identity fields: a token's group cannot turn into two ------------------

def test_token_group_with_comma_is_not_split_for_the_upstream(gw):
    # X-Consumer-Groups is a comma-separated list (RFC 9110 5.6.1): a
    # token group "staff,admins" would reach the upstream as two groups,
    # "admins" among them, which no one granted.
    k = jm.Key("hmac", "h1", secret=SECRET)
    tok = jm.token(k, "HS256", {"sub": "eve", "exp": int(time.time()) + 600,
                                "groups": ["staff,admins", "dev"]})
    raw = ("GET /jwt/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
           "Connection: close\r\n\r\n" % tok).encode()
    n = len(gw.backend.requests)
    (resp,), _ = exchange(gw.port, raw, ["GET"])
    assert resp.status == 200, resp
    seen = gw.backend.requests[n]
    assert seen.header("x-consumer") == "eve"
    assert seen.header_all("x-consumer-groups") == ["dev"]
    assert seen.header_all("x-groups") == ["dev"]


# ---- 304 from the cache on a compressing route: the 200's Vary -------------

@pytest.mark.parametrize("ae,etag", [(None, '"v1"'), ("gzip", 'W/"v1"')])
def test_cache_304_carries_the_vary_of_its_200(gw, ae, etag):
    # RFC 9110 15.4.5: a 304 MUST carry the Vary a 200 to the same request
    # would have; the route compresses, so its 200s vary on Accept-Encoding.
    path = "/cache/vary-%s" % (ae or "identity")
    hdr = "Accept-Encoding: %s\r\n" % ae if ae else ""
    get = ("GET %s HTTP/1.1\r\nHost: a\r\n%s\r\n" % (path, hdr)).encode()
    cond = ("GET %s HTTP/1.1\r\nHost: a\r\n%sIf-None-Match: %s\r\n\r\n"
            % (path, hdr, etag)).encode()
    (full, hit, nm), _ = exchange(gw.port, get + get + cond, ["GET"] * 3)
    assert full.status == 200 and full.header("vary") == "Accept-Encoding"
    assert hit.status == 200 and "hit" in hit.header("cache-status")
    assert hit.header("vary") == "Accept-Encoding"
    assert nm.status == 304 and "hit" in nm.header("cache-status"), nm
    assert nm.body == b"" and nm.header("etag") == etag
    assert nm.header("vary") == "Accept-Encoding", nm


# ---- early answers with an unread body: the body is never a request --------

SMUGGLED = b"GET /r/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
NEXT = b"GET /r/next HTTP/1.1\r\nHost: a\r\n\r\n"


def framed(kind, method, path, extra=b""):
    head = b"%s %s HTTP/1.1\r\nHost: a\r\n%s" % (method.encode(), path.encode(), extra)
    if kind == "length":
        return head + b"Content-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED
    return head + b"Transfer-Encoding: chunked\r\n\r\n%x;ext=1\r\n%s\r\n0\r\nT: 1\r\n\r\n" % (
        len(SMUGGLED), SMUGGLED)


EARLY = [
    ("api-key-401", "POST", "/key/x", b"", 401),
    ("jwt-401", "POST", "/jwt/x", b"Authorization: Bearer a.b.c\r\n", 401),
    ("rate-limit-429", "POST", "/rl/x", b"", 429),
    ("cache-hit", "GET", "/cache/early", b"", 200),
    ("admin-401", "POST", "/admin/api/servers/drain", b"", 401),
    ("metrics", "GET", "/metrics", b"", 200),
]


@pytest.mark.parametrize("kind", ["length", "chunked"])
@pytest.mark.parametrize("name,method,path,extra,status", EARLY, ids=[e[0] for e in EARLY])
def test_early_answer_discards_body_and_keeps_order(gw, name, method, path, extra, status,
                                                    kind):
    # RFC 9112 6.3/9.3: a server answering before it read the body must
    # read past it (or close); bytes of the body are never a request, and
    # pipelined requests are answered in the order they came.
    if name == "rate-limit-429":
        exchange(gw.port, b"GET /rl/warm HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                 ["GET"])
    if name == "cache-hit":
        exchange(gw.port, b"GET /cache/early HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                 ["GET"])
    n = len(gw.backend.requests)
    (first, second), _ = exchange(gw.port, framed(kind, method, path, extra) + NEXT,
                                  [method, "GET"])
    assert first.status == status, first
    if status >= 400:
        assert_problem(first, status)
    if name == "cache-hit":
        assert "hit" in first.header("cache-status")
    assert second.status == 200 and second.body == b"ret /r/next", second
    assert len(gw.backend.requests) == n


# ---- a client cannot pose as a consumer, with "_" for "-" either ----------

@pytest.mark.parametrize("path,extra", [("/plain/x", ""), ("/key/x", "X-API-Key: %s\r\n" % KEY)],
                         ids=["no-auth", "api-key"])
def test_identity_fields_spelled_with_underscores_are_stripped(gw, path, extra):
    # CGI-style upstreams (CGI, WSGI, Rack, PHP) read X_Consumer and
    # X-Consumer as the same HTTP_X_CONSUMER: the client's copy in either
    # spelling must not reach them, or it poses as the verified identity.
    raw = ("GET %s HTTP/1.1\r\nHost: a\r\n%sX_Consumer: admin\r\n"
           "x_consumer_groups: admins\r\nX-Consumer_Groups: root\r\n"
           "Connection: close\r\n\r\n" % (path, extra)).encode()
    n = len(gw.backend.requests)
    (resp,), _ = exchange(gw.port, raw, ["GET"])
    assert resp.status == 200, resp
    seen = gw.backend.requests[n]
    names = [k.lower().replace("_", "-") for k, _ in seen.headers]
    if extra:
        assert seen.header_all("x-consumer") == ["alice"]
        assert names.count("x-consumer") == 1
        assert names.count("x-consumer-groups") == 0     # alice has no groups
    else:
        assert "x-consumer" not in names and "x-consumer-groups" not in names


def test_forwarded_fields_spelled_with_underscores_are_not_passed_on(gw):
    # portico replaces the client's X-Forwarded-For/-Host/-Proto with its
    # own; spelled with "_" they reach a CGI-style upstream as the same
    # HTTP_X_FORWARDED_* variable and would stand in for ours there.
    raw = (b"GET /plain/xff HTTP/1.1\r\nHost: real.example\r\n"
           b"X_Forwarded_For: 6.6.6.6\r\nx_forwarded_host: evil.example\r\n"
           b"X-Forwarded_Proto: https\r\nConnection: close\r\n\r\n")
    n = len(gw.backend.requests)
    (resp,), _ = exchange(gw.port, raw, ["GET"])
    assert resp.status == 200, resp
    seen = gw.backend.requests[n]
    names = [k.lower() for k, _ in seen.headers]
    assert not [k for k in names if k.startswith("x_forwarded") or k == "x-forwarded_proto"]
    assert seen.header_all("x-forwarded-for") == ["127.0.0.1"]
    assert seen.header_all("x-forwarded-host") == ["real.example"]
    assert seen.header_all("x-forwarded-proto") == ["http"]


# ---- cache hits through compression: HEAD and HTTP/1.0 framing -------------

def test_cache_hit_head_and_http10_framing(gw):
    import gzip
    fill = b"GET /cache/framing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    exchange(gw.port, fill, ["GET"])
    # HEAD of a hit: the fields of the GET, no body bytes (RFC 9110 9.3.2):
    # the next response on the connection starts right after the head.
    head = b"HEAD /cache/framing HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n"
    (h, nxt), _ = exchange(gw.port, head + NEXT, ["HEAD", "GET"])
    assert h.status == 200 and "hit" in h.header("cache-status")
    assert h.header("content-encoding") == "gzip" and h.body == b""
    assert nxt.body == b"ret /r/next"
    # HTTP/1.0 gets no Transfer-Encoding (RFC 9112 6.1): the coded hit is
    # close-delimited and the connection closes though keep-alive was asked.
    old = (b"GET /cache/framing HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n"
           b"Accept-Encoding: gzip\r\n\r\n")
    (r,), was_closed = exchange(gw.port, old, ["GET"])
    assert r.status == 200 and "hit" in r.header("cache-status")
    assert r.header("transfer-encoding") is None and r.header("content-length") is None
    assert r.header("connection") == "close" and was_closed is not False
    assert gzip.decompress(r.body) == BODY
