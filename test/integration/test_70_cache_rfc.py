"""The response cache against RFC 9111 (HTTP Caching) and the conditional
and range parts of RFC 9110, black-box: each test scripts the origin's
answers for its own path, drives the gateway and checks what a shared
cache must (or must not) do, citing the section.

The origin answers each request with script(req, n), n counting the
requests for that path from 1; a test sets the script per path.
"""
import threading
import time
from email.utils import formatdate

from backends import Backend, Response, get, request
from conftest import free_ports

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = ( { address = "127.0.0.1:%(bport)d"; } ); }; };
routes = (
  { path = "/"; proxy = "b"; cache_zone = "rfc:8m"; %(route)s }
);
"""


def httpdate(t):
    return formatdate(t, usegmt=True)


class Origin:
    """Answers each path with the script set for it; counts requests."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.scripts = {}
        self.seen = {}
        self.backend = Backend(self.handle)

    def handle(self, req):
        path = req.target.split("?")[0]
        with self.lock:
            n = self.counts[path] = self.counts.get(path, 0) + 1
            self.seen.setdefault(path, []).append(req)
            script = self.scripts.get(path)
        if script is None:
            return Response(404, [("Content-Type", "text/plain")], b"no script")
        return script(req, n)

    def on(self, path, script):
        self.scripts[path] = script

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)

    def last(self, path):
        with self.lock:
            return self.seen[path][-1]

    def close(self):
        self.backend.close()


def answer(status=200, headers=(), body=None, n=0, date=True):
    h = [("Content-Type", "text/plain")]
    if date:
        h.append(("Date", httpdate(time.time())))
    h += list(headers)
    if body is None:
        body = ("body %d" % n).encode()
    return Response(status, h, body)


def gateway(portico, origin, route=""):
    port = free_ports(1)[0]
    p = portico(CONF % dict(port=port, bport=origin.backend.port, route=route), ports=[port])
    p.port = port
    return p


def head(port, path, headers=()):
    hdrs = "".join("%s: %s\r\n" % kv for kv in headers)
    return request(port, "HEAD %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n"
                   % (path, hdrs))


def send(port, method, path, headers=()):
    hdrs = "".join("%s: %s\r\n" % kv for kv in headers)
    return request(port, "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: 0\r\n"
                   "Connection: close\r\n\r\n" % (method, path, hdrs))


def cs(resp):
    return resp.header("cache-status") or ""


def hit(resp):
    return "; hit" in cs(resp)


# A stored response that is stale on arrival (Age past max-age) but has a
# validator: every use must go to the origin, without waiting for a clock.
STALE = [("Cache-Control", "max-age=10"), ("Age", "20")]


def revalidated(fields304, body=None):
    """An origin script: a stale response with ETag "a" and X-A: 1, and a
    304 with fields304 (besides Date and the ETag) to the cache's
    If-None-Match: "a"."""
    def script(req, n):
        if req.header("if-none-match") == '"a"':
            return Response(304, [("Date", httpdate(time.time())), ("ETag", '"a"')]
                            + list(fields304))
        return answer(headers=STALE + [("ETag", '"a"'), ("X-A", "1")], body=body, n=n)
    return script


def test_head_200_freshens_the_stored_get(portico):
    # RFC 9111 §4.3.5: a 200 to a HEAD whose validators match the stored GET
    # response updates its header fields as a 304 would (§3.2)
    o = Origin()
    try:
        p = gateway(portico, o)

        def script(req, n):
            if req.method == "HEAD":
                return answer(headers=[("Cache-Control", "max-age=100"), ("ETag", '"a"'),
                                       ("X-A", "2")], body=b"body 1")
            return answer(headers=STALE + [("ETag", '"a"'), ("X-A", "1")], n=n)
        o.on("/h", script)
        first = get(p.port, "/h")
        assert first.body == b"body 1"
        h = head(p.port, "/h")
        assert h.status == 200 and h.header("x-a") == "2", h.headers
        r = get(p.port, "/h")
        assert hit(r), r.headers
        assert r.body == b"body 1" and r.header("x-a") == "2"
        assert r.header("cache-control") == "max-age=100"
        assert [q.method for q in o.seen["/h"]] == ["GET", "HEAD"]
    finally:
        o.close()


def test_head_200_with_other_validator_or_length_makes_stored_stale(portico):
    # RFC 9111 §4.3.5: when the HEAD's ETag, Last-Modified or Content-Length
    # differ from the stored response's, that one is stale: not served
    o = Origin()
    try:
        p = gateway(portico, o)
        cases = {
            "/he": [("ETag", '"b"')],
            "/hl": [("ETag", '"a"'), ("Content-Length", "999")],
            "/hm": [("ETag", '"a"'), ("Last-Modified", httpdate(time.time() - 10))],
        }
        lm = httpdate(time.time() - 1000)
        for path, extra in cases.items():
            def script(req, n, extra=extra):
                if req.method == "HEAD":
                    return answer(headers=[("Cache-Control", "max-age=100"), ("X-A", "2")]
                                  + extra, body=b"body 1")
                return answer(headers=[("Cache-Control", "max-age=100"), ("ETag", '"a"'),
                                       ("Last-Modified", lm), ("X-A", "1")], n=n)
            o.on(path, script)
            get(p.port, path)
            assert hit(get(p.port, path))
            h = head(p.port, path, headers=[("Cache-Control", "no-cache")])
            assert h.status == 200
            r = get(p.port, path)
            assert not hit(r), (path, r.headers)
            assert r.body == b"body 3", (path, r.body)
    finally:
        o.close()


def test_304_does_not_update_excluded_fields(portico):
    # RFC 9111 §3.2: a 304 does not update Content-Length, Content-Encoding
    # (the stored content is not recoded), Content-Range, nor fields the
    # 304's Connection names (§3.1: hop-by-hop)
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/u", revalidated([("Cache-Control", "max-age=100"), ("X-A", "2"),
                                ("Content-Encoding", "gzip"), ("Content-Range", "bytes 0-1/2"),
                                ("Connection", "X-Hop"), ("X-Hop", "1")], body=b"0123456789"))
        get(p.port, "/u")
        r = get(p.port, "/u")
        assert "fwd-status=304" in cs(r), r.headers
        for resp in (r, get(p.port, "/u")):
            assert resp.status == 200 and resp.body == b"0123456789", resp.headers
            assert resp.header("x-a") == "2"
            assert resp.header("content-length") == "10"
            assert resp.header("content-encoding") is None, resp.headers
            assert resp.header("content-range") is None, resp.headers
            assert resp.header("x-hop") is None, resp.headers
        assert hit(resp) and o.count("/u") == 2
    finally:
        o.close()


def test_304_selects_the_stored_response_by_its_validators(portico):
    # RFC 9111 §4.3.4: a 304 whose weak ETag or Last-Modified does not match
    # the stored response updates nothing
    o = Origin()
    try:
        p = gateway(portico, o)
        lm1 = httpdate(time.time() - 1000)
        lm2 = httpdate(time.time() - 500)
        cases = {
            "/w": ([("ETag", 'W/"a"')], [("ETag", 'W/"b"')]),
            "/l": ([("Last-Modified", lm1)], [("Last-Modified", lm2)]),
        }
        for path, (v1, v2) in cases.items():
            def script(req, n, v1=v1, v2=v2):
                if n > 1 and (req.header("if-none-match") or req.header("if-modified-since")):
                    return Response(304, [("Date", httpdate(time.time())), ("X-A", "2"),
                                          ("Cache-Control", "max-age=100")] + v2)
                return answer(headers=STALE + v1 + [("X-A", "1")], n=n)
            o.on(path, script)
            get(p.port, path)
            r = get(p.port, path)
            assert r.status == 200
            assert r.header("x-a") != "2", (path, r.headers)
            r = get(p.port, path)
            assert r.header("x-a") != "2", (path, r.headers)
        # a matching weak ETag and a matching Last-Modified do update
        for path, v in {"/w2": [("ETag", 'W/"a"')], "/l2": [("Last-Modified", lm1)]}.items():
            def script(req, n, v=v):
                if n > 1:
                    return Response(304, [("Date", httpdate(time.time())), ("X-A", "2"),
                                          ("Cache-Control", "max-age=100")] + v)
                return answer(headers=STALE + v + [("X-A", "1")], n=n)
            o.on(path, script)
            get(p.port, path)
            r = get(p.port, path)
            assert r.header("x-a") == "2" and "fwd-status=304" in cs(r), (path, r.headers)
            assert hit(get(p.port, path)), path
    finally:
        o.close()


def test_age_on_hits_counts_upstream_age_and_date(portico):
    # RFC 9111 §4.2.3, §5.1: a hit carries Age, at least the upstream's Age
    # and at least the apparent age from Date
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/a1", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                   ("Age", "30")], n=n))
        o.on("/a2", lambda req, n: Response(200, [("Date", httpdate(time.time() - 40)),
                                                  ("Cache-Control", "max-age=100")], b"x"))
        o.on("/a3", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                   ("Age", "junk")], n=n))
        for path, lo in (("/a1", 30), ("/a2", 40), ("/a3", 0)):
            get(p.port, path)
            r = get(p.port, path)
            assert hit(r), (path, r.headers)
            assert lo <= int(r.header("age")) <= lo + 5, (path, r.headers)
        # an Age past the lifetime: stale
        o.on("/a4", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                   ("Age", "200"), ("ETag", '"x"')], n=n))
        get(p.port, "/a4")
        assert not hit(get(p.port, "/a4"))
    finally:
        o.close()


def test_lifetime_precedence_and_invalid_expires(portico):
    # RFC 9111 §4.2.1: s-maxage over max-age over Expires; §5.3: an invalid
    # Expires (as "0") is in the past; max-age wins over any Expires
    o = Origin()
    try:
        p = gateway(portico, o)
        now = time.time()
        cases = [
            ("/p1", [("Cache-Control", "s-maxage=10, max-age=1000"), ("Age", "20")], False),
            ("/p2", [("Cache-Control", "max-age=10, s-maxage=1000"), ("Age", "20")], True),
            ("/p3", [("Cache-Control", "max-age=10"), ("Expires", httpdate(now + 1000)),
                     ("Age", "20")], False),
            ("/p4", [("Cache-Control", "max-age=1000"), ("Expires", httpdate(now - 1000))],
             True),
            ("/p5", [("Expires", "0")], False),
            ("/p6", [("Expires", httpdate(now - 10))], False),
            ("/p7", [("Expires", httpdate(now + 1000))], True),
            ("/p8", [("Cache-Control", "max-age=1000"), ("Expires", "0")], True),
        ]
        for path, h, fresh in cases:
            o.on(path, lambda req, n, h=h: answer(headers=h + [("ETag", '"v"')], n=n))
            get(p.port, path)
            r = get(p.port, path)
            assert hit(r) == fresh, (path, r.headers)
    finally:
        o.close()


def test_cache_control_parsing(portico):
    # RFC 9111 §5.2: unknown directives are ignored, quoted strings may hold
    # commas and "=", names are case-insensitive; §4.2.1: an invalid max-age
    # is not a lifetime
    o = Origin()
    try:
        p = gateway(portico, o)
        cases = [
            ("/c1", "foo, max-age=100, bar=baz", True),
            ("/c2", 'foo="max-age=0, no-store", max-age=100', True),
            ("/c3", "MAX-AGE=100", True),
            ("/c4", "max-age=100, no-store", False),
            ("/c5", "max-age=100,no-cache", False),
            ("/c6", "max-age=abc", False),
            ("/c7", "max-age=-1", False),
            ("/c8", "max-age=100, private", False),
            ("/c9", 'max-age=100, extension="a\\"b"', True),
            ("/c10", "max-age=003600", True),
            ("/c11", "max-age='3600'", False),
            ("/c12", 'max-age=0, extension="max-age=3600"', False),
            ("/c13", 'extension="max-age=3600", max-age=0', False),
            ("/c14", 'max-age=100, no-cache="X-A, X-B"', True),
        ]
        for path, cc, fresh in cases:
            o.on(path, lambda req, n, cc=cc: answer(headers=[("Cache-Control", cc),
                                                             ("ETag", '"v"')], n=n))
            get(p.port, path)
            r = get(p.port, path)
            assert hit(r) == fresh, (path, r.headers)
    finally:
        o.close()


def test_field_names_of_private_and_no_cache(portico):
    # RFC 9111 §5.2.2.7: a shared cache does not store the fields private
    # names (and may store the rest); §5.2.2.4: no-cache="f" fields are not
    # sent from a hit without revalidation
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/f1", lambda req, n: answer(headers=[("Cache-Control",
                                                    'max-age=100, private="X-Secret"'),
                                                   ("X-Secret", "s"), ("X-Other", "o")], n=n))
        o.on("/f2", lambda req, n: answer(headers=[("Cache-Control",
                                                    'max-age=100, no-cache="X-Tok"'),
                                                   ("X-Tok", "t"), ("X-Other", "o")], n=n))
        for path, name in (("/f1", "x-secret"), ("/f2", "x-tok")):
            first = get(p.port, path)
            assert first.header(name) is not None
            r = get(p.port, path)
            assert hit(r) and r.header("x-other") == "o", (path, r.headers)
            assert r.header(name) is None, (path, r.headers)
    finally:
        o.close()


def test_request_directives_and_only_if_cached(portico):
    # RFC 9111 §5.2.1: max-age, min-fresh, max-stale, no-cache, only-if-cached
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/r", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                  ("Age", "50"), ("ETag", '"r"')], n=n))
        get(p.port, "/r")
        assert hit(get(p.port, "/r", headers=[("Cache-Control", "max-age=80")]))
        assert not hit(get(p.port, "/r", headers=[("Cache-Control", "max-age=20")]))
        assert hit(get(p.port, "/r", headers=[("Cache-Control", "min-fresh=20")]))
        assert not hit(get(p.port, "/r", headers=[("Cache-Control", "min-fresh=80")]))
        assert not hit(get(p.port, "/r", headers=[("Cache-Control", "no-cache")]))
        assert not hit(get(p.port, "/r", headers=[("Pragma", "no-cache")]))
        # §5.4: Pragma is ignored when Cache-Control is present
        assert hit(get(p.port, "/r", headers=[("Pragma", "no-cache"),
                                              ("Cache-Control", "max-stale=1")]))
        # stale: max-stale serves it, only-if-cached without it gets 504
        o.on("/s", lambda req, n: answer(headers=STALE + [("ETag", '"s"')], n=n))
        get(p.port, "/s")
        n = o.count("/s")
        assert hit(get(p.port, "/s", headers=[("Cache-Control", "max-stale")]))
        assert hit(get(p.port, "/s", headers=[("Cache-Control", "max-stale=100")]))
        assert not hit(get(p.port, "/s", headers=[("Cache-Control", "max-stale=5")]))
        n = o.count("/s")
        r = get(p.port, "/s", headers=[("Cache-Control", "only-if-cached")])
        assert r.status == 504 and o.count("/s") == n
        r = get(p.port, "/none", headers=[("Cache-Control", "only-if-cached")])
        assert r.status == 504 and o.count("/none") == 0
        # §5.2.2.2: must-revalidate forbids serving stale, even with max-stale
        o.on("/m", lambda req, n: answer(headers=[("Cache-Control", "max-age=10, must-revalidate"),
                                                  ("Age", "20"), ("ETag", '"m"')], n=n))
        get(p.port, "/m")
        assert not hit(get(p.port, "/m", headers=[("Cache-Control", "max-stale=1000")]))
        o.on("/pr", lambda req, n: answer(headers=[("Cache-Control",
                                                    "max-age=10, proxy-revalidate"),
                                                   ("Age", "20"), ("ETag", '"m"')], n=n))
        get(p.port, "/pr")
        assert not hit(get(p.port, "/pr", headers=[("Cache-Control", "max-stale=1000")]))
    finally:
        o.close()


def test_vary(portico):
    # RFC 9111 §4.1: every field Vary names must match; names are
    # case-insensitive; an absent field matches only an absent one; Vary: *
    # never matches
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/v", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                  ("Vary", "accept-language, X-Foo")], n=n))
        get(p.port, "/v", headers=[("Accept-Language", "en"), ("X-Foo", "1")])
        assert hit(get(p.port, "/v", headers=[("accept-LANGUAGE", "en"), ("x-foo", "1")]))
        assert not hit(get(p.port, "/v", headers=[("Accept-Language", "en"), ("X-Foo", "2")]))
        assert not hit(get(p.port, "/v", headers=[("Accept-Language", "en")]))
        o.on("/v2", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                   ("Vary", "X-Foo")], n=n))
        get(p.port, "/v2")
        assert hit(get(p.port, "/v2"))
        assert not hit(get(p.port, "/v2", headers=[("X-Foo", "")]))
        o.on("/v3", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                   ("Vary", "X-Foo, *")], n=n))
        get(p.port, "/v3")
        assert not hit(get(p.port, "/v3"))
        assert o.count("/v3") == 2
        # two Vary lines are one list
        o.on("/v4", lambda req, n: Response(200, [("Date", httpdate(time.time())),
                                                  ("Cache-Control", "max-age=100"),
                                                  ("Vary", "X-A"), ("Vary", "X-B")], b"x"))
        get(p.port, "/v4", headers=[("X-A", "1"), ("X-B", "1")])
        assert hit(get(p.port, "/v4", headers=[("X-A", "1"), ("X-B", "1")]))
        assert not hit(get(p.port, "/v4", headers=[("X-A", "1"), ("X-B", "2")]))
    finally:
        o.close()


def test_conditional_requests_answered_from_cache(portico):
    # RFC 9110 §13.1.2: If-None-Match compares weakly; §13.1.3: If-Modified-
    # Since is ignored when If-None-Match is present; §13.2.2 order
    o = Origin()
    try:
        p = gateway(portico, o)
        lm = httpdate(time.time() - 1000)
        o.on("/c", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                  ("ETag", 'W/"a"'), ("Last-Modified", lm)],
                                         n=n))
        get(p.port, "/c")
        assert get(p.port, "/c", headers=[("If-None-Match", '"a"')]).status == 304
        assert get(p.port, "/c", headers=[("If-None-Match", '"x", W/"a"')]).status == 304
        assert get(p.port, "/c", headers=[("If-None-Match", "*")]).status == 304
        assert get(p.port, "/c", headers=[("If-None-Match", '"b"'),
                                          ("If-Modified-Since", lm)]).status == 200
        assert get(p.port, "/c", headers=[("If-Modified-Since", lm)]).status == 304
        old = httpdate(time.time() - 5000)
        assert get(p.port, "/c", headers=[("If-Modified-Since", old)]).status == 200
        # §13.1.1: If-Match uses the strong comparison: a weak ETag never matches
        assert get(p.port, "/c", headers=[("If-Match", 'W/"a"')]).status == 412
        r = get(p.port, "/c", headers=[("If-None-Match", '"a"')])
        assert r.header("etag") == 'W/"a"' and r.body == b""
        assert o.count("/c") == 1
    finally:
        o.close()


def test_statuses_cacheable_by_default_with_heuristic(portico):
    # RFC 9110 §15.1, RFC 9111 §4.2.2: without explicit freshness only the
    # statuses cacheable by default get a heuristic lifetime
    o = Origin()
    try:
        p = gateway(portico, o, route="cache_heuristic = true;")
        lm = httpdate(time.time() - 100000)
        for status in (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501, 302, 307, 400,
                       403, 500, 502, 503):
            path = "/s%d" % status
            o.on(path, lambda req, n, s=status: answer(
                status=s, headers=[("Last-Modified", lm)] + (
                    [("Location", "/x")] if s in (300, 301, 302, 307, 308) else []),
                body=b"" if s == 204 else None, n=n))
            get(p.port, path)
            r = get(p.port, path)
            assert hit(r) == (status in (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501)), \
                (status, r.headers)
        # explicit freshness makes any understood final status storable
        o.on("/e", lambda req, n: answer(status=302, headers=[("Cache-Control", "max-age=100"),
                                                              ("Location", "/x")], n=n))
        get(p.port, "/e")
        assert hit(get(p.port, "/e"))
    finally:
        o.close()


def test_heuristic_freshness_is_off_by_default(portico):
    # man page: without cache_heuristic a response with no explicit lifetime is
    # stale at once and revalidated (RFC 9111 §4.2.2 lets a cache not use one)
    o = Origin()
    try:
        p = gateway(portico, o)
        lm = httpdate(time.time() - 100000)
        o.on("/hf", lambda req, n: answer(headers=[("Last-Modified", lm)], n=n))
        get(p.port, "/hf")
        r = get(p.port, "/hf")
        assert not hit(r) and o.count("/hf") == 2
        assert o.last("/hf").header("if-modified-since") == lm
    finally:
        o.close()


def test_unsafe_methods_invalidate(portico):
    # RFC 9111 §4.4: a non-error response to an unsafe method invalidates the
    # target URI and the same-origin Location and Content-Location; an error
    # does not; another origin's URI is left alone
    o = Origin()
    try:
        p = gateway(portico, o)
        fresh = lambda req, n: answer(headers=[("Cache-Control", "max-age=100")], n=n)
        for path in ("/i1", "/i2", "/i3", "/i4", "/i5"):
            o.on(path, fresh)
            get(p.port, path)
            assert hit(get(p.port, path)), path

        def unsafe(req, n):
            if req.method == "GET":
                return fresh(req, n)
            if req.method == "PUT":
                return answer(status=500)
            return answer(status=201, headers=[("Location", "/i2"),
                                               ("Content-Location", "http://localhost/i3")])
        o.on("/i1", unsafe)
        send(p.port, "POST", "/i1")
        assert not hit(get(p.port, "/i1"))
        assert not hit(get(p.port, "/i2"))
        assert not hit(get(p.port, "/i3"))
        assert hit(get(p.port, "/i4"))
        send(p.port, "PUT", "/i1")
        assert hit(get(p.port, "/i1"))
        o.on("/i4", lambda req, n: fresh(req, n) if req.method == "GET" else answer(
            status=200, headers=[("Location", "http://other.example/i5")]))
        send(p.port, "DELETE", "/i4")
        assert not hit(get(p.port, "/i4"))
        assert hit(get(p.port, "/i5"))
    finally:
        o.close()


def test_authorization_needs_an_explicit_permission(portico):
    # RFC 9111 §3.5
    o = Origin()
    try:
        p = gateway(portico, o)
        auth = [("Authorization", "Basic dTpw")]
        for path, cc, stored in (("/z1", "max-age=100", False),
                                 ("/z2", "max-age=100, public", True),
                                 ("/z3", "s-maxage=100", True),
                                 ("/z4", "max-age=100, must-revalidate", True)):
            o.on(path, lambda req, n, cc=cc: answer(headers=[("Cache-Control", cc)], n=n))
            get(p.port, path, headers=auth)
            assert hit(get(p.port, path)) == stored, path
    finally:
        o.close()


def test_304_without_date_dates_the_update_when_received(portico):
    # RFC 9110 §6.6.1: an answer without Date is dated when received; a 304
    # without one must not leave the stored Date to make the refreshed
    # response old (RFC 9111 §4.2.3 apparent age)
    o = Origin()
    try:
        p = gateway(portico, o)

        def script(req, n):
            if n > 1:
                return Response(304, [("ETag", '"d"'), ("Cache-Control", "max-age=100")])
            return Response(200, [("Date", httpdate(time.time() - 60)), ("ETag", '"d"'),
                                  ("Cache-Control", "max-age=10")], b"x")
        o.on("/d", script)
        get(p.port, "/d")
        r = get(p.port, "/d")
        assert "fwd-status=304" in cs(r), r.headers
        r = get(p.port, "/d")
        assert hit(r) and int(r.header("age")) < 30, r.headers
    finally:
        o.close()


def test_other_freshness_rules(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        # §5.4: Pragma in a response means nothing to freshness
        o.on("/pg", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                   ("Pragma", "no-cache")], n=n))
        get(p.port, "/pg")
        assert hit(get(p.port, "/pg"))
        # §5.2.1.1: a request's max-age does not allow a stale response
        o.on("/sm", lambda req, n: answer(headers=STALE + [("ETag", '"s"')], n=n))
        get(p.port, "/sm")
        assert not hit(get(p.port, "/sm", headers=[("Cache-Control", "max-age=1000")]))
        # §4.2.4: no-cache in the response forbids serving it stale
        o.on("/nc", lambda req, n: answer(headers=[("Cache-Control", "no-cache, max-age=100"),
                                                   ("ETag", '"n"')], n=n))
        get(p.port, "/nc")
        assert not hit(get(p.port, "/nc", headers=[("Cache-Control", "max-stale")]))
        # §4.2.1: a second max-age does not extend the first
        o.on("/dup", lambda req, n: answer(headers=[("Cache-Control", "max-age=10"),
                                                    ("Cache-Control", "max-age=1000"),
                                                    ("Age", "20"), ("ETag", '"x"')], n=n))
        get(p.port, "/dup")
        assert not hit(get(p.port, "/dup"))
    finally:
        o.close()


def test_fields_connection_names_are_not_stored(portico):
    # RFC 9111 §3.1: hop-by-hop fields and those Connection names are not
    # stored (RFC 9110 §7.6.1)
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/cn", lambda req, n: answer(headers=[("Cache-Control", "max-age=100"),
                                                   ("Connection", "X-A, x-b"), ("X-A", "1"),
                                                   ("X-B", "2"), ("X-C", "3")], n=n))
        for r in (get(p.port, "/cn"), get(p.port, "/cn")):
            assert r.header("x-c") == "3", r.headers
            assert r.header("x-a") is None and r.header("x-b") is None, r.headers
        assert hit(r)
    finally:
        o.close()


def test_extension_and_body_methods_invalidate(portico):
    # RFC 9111 §4.4: any unsafe method (an unknown one is not known to be
    # safe, RFC 9110 §9.2.1), with a body or not
    o = Origin()
    try:
        p = gateway(portico, o)
        for method in ("M-SEARCH", "PATCH", "PUT"):
            path = "/x-" + method.lower()
            o.on(path, lambda req, n: answer(headers=[("Cache-Control", "max-age=100")], n=n))
            get(p.port, path)
            assert hit(get(p.port, path))
            r = request(p.port, "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
                        "Connection: close\r\n\r\nabc" % (method, path))
            assert r.status == 200, (method, r.status)
            assert not hit(get(p.port, path)), method
    finally:
        o.close()


def test_expires_date_forms(portico):
    # RFC 9110 §5.6.7: a recipient accepts the three HTTP-date forms;
    # RFC 9111 §5.3: anything else (as "-1") is a time in the past
    o = Origin()
    try:
        p = gateway(portico, o)
        t = time.gmtime(time.time() + 1000)
        forms = {
            "/e1": (time.strftime("%a, %d %b %Y %H:%M:%S GMT", t), True),
            "/e2": (time.strftime("%A, %d-%b-%y %H:%M:%S GMT", t), True),
            "/e3": (time.strftime("%a %b %d %H:%M:%S %Y", t).replace(" 0", "  ", 1)
                    if t.tm_mday < 10 else time.strftime("%a %b %d %H:%M:%S %Y", t), True),
            "/e4": ("-1", False),
            "/e5": ("", False),
        }
        for path, (value, fresh) in forms.items():
            o.on(path, lambda req, n, v=value: answer(headers=[("Expires", v),
                                                               ("ETag", '"e"')], n=n))
            get(p.port, path)
            r = get(p.port, path)
            assert hit(r) == fresh, (path, value, r.headers)
    finally:
        o.close()


def test_revalidation_sends_the_fields_vary_names(portico):
    # RFC 9111 §4.3.1: the conditional request carries the request fields
    # the stored response's Vary names (the origin selects by them)
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/vr", lambda req, n: answer(headers=STALE + [("ETag", '"v"'), ("Vary", "Abc")],
                                          n=n))
        get(p.port, "/vr", headers=[("Abc", "123")])
        get(p.port, "/vr", headers=[("Abc", "123")])
        req = o.last("/vr")
        assert req.header("abc") == "123" and req.header("if-none-match") == '"v"'
    finally:
        o.close()


def test_date_is_no_last_modified_for_unmodified_since_and_if_range(portico):
    # RFC 9110 §13.1.4: If-Unmodified-Since is ignored without a
    # last-modification date; §13.1.5: an If-Range date must be the
    # Last-Modified; only If-Modified-Since falls back to Date (RFC 9111
    # §4.3.2)
    o = Origin()
    try:
        p = gateway(portico, o)
        date = httpdate(time.time() - 100)
        o.on("/nd", lambda req, n: Response(200, [("Date", date),
                                                  ("Cache-Control", "max-age=1000")],
                                            b"0123456789"))
        get(p.port, "/nd")
        old = httpdate(time.time() - 5000)
        r = get(p.port, "/nd", headers=[("If-Unmodified-Since", old)])
        assert r.status == 200 and hit(r), r.headers
        r = get(p.port, "/nd", headers=[("Range", "bytes=0-1"), ("If-Range", date)])
        assert r.status == 200 and r.body == b"0123456789", r.headers
        r = get(p.port, "/nd", headers=[("If-Modified-Since", date)])
        assert r.status == 304 and hit(r), r.headers
        assert o.count("/nd") == 1
    finally:
        o.close()


def test_invalidation_resolves_references_and_keeps_to_the_origin(portico):
    # RFC 9111 §4.4: Location and Content-Location are URI references,
    # resolved against the target URI (RFC 3986 §5.2); a URI of another
    # origin (another scheme or host) must not be invalidated
    o = Origin()
    try:
        p = gateway(portico, o)
        fresh = lambda req, n: answer(headers=[("Cache-Control", "max-age=100")], n=n)
        paths = ["/d/sib", "/up", "/d/q", "/other", "/d/keep"]
        for path in paths:
            o.on(path, fresh)
            get(p.port, path)
            assert hit(get(p.port, path)), path
        get(p.port, "/d/q?x=1")
        o.on("/d/post", lambda req, n: answer(status=200, headers=[
            ("Location", "sib"), ("Content-Location", "../up")]))
        send(p.port, "POST", "/d/post")
        assert not hit(get(p.port, "/d/sib"))
        assert not hit(get(p.port, "/up"))
        o.on("/d/q", lambda req, n: fresh(req, n) if req.method == "GET" else answer(
            status=204, body=b"", headers=[("Content-Location", "?x=1"),
                                           ("Location", "https://localhost/other")]))
        send(p.port, "PUT", "/d/q")
        assert not hit(get(p.port, "/d/q?x=1"))
        assert hit(get(p.port, "/other"))
        assert hit(get(p.port, "/d/keep"))
    finally:
        o.close()


def test_head_304_freshens_and_head_answer_is_never_stored_as_get(portico):
    # RFC 9111 §4.3.4: a 304 to the cache's conditional HEAD freshens the
    # stored GET response; §3: the answer to a HEAD has no content, and
    # never becomes a stored GET response
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/h3", revalidated([("Cache-Control", "max-age=100"), ("X-A", "2")]))
        get(p.port, "/h3")
        h = head(p.port, "/h3")
        assert h.status == 200 and h.header("x-a") == "2" and h.body == b""
        assert h.header("content-length") == "6", h.headers
        r = get(p.port, "/h3")
        assert hit(r) and r.body == b"body 1" and r.header("x-a") == "2"
        # a HEAD's 200 with a new ETag: the stored body is not replaced by nothing
        o.on("/h4", lambda req, n: answer(headers=STALE + [("ETag", '"%d"' % n)], n=n,
                                          body=b"" if req.method == "HEAD" else None))
        get(p.port, "/h4")
        assert head(p.port, "/h4").status == 200
        r = get(p.port, "/h4")
        assert r.body == b"body 3", r.body
    finally:
        o.close()


def test_304_that_forbids_storing_still_answers_with_its_fields(portico):
    # RFC 9111 §4.3.4: the 304's fields update the response served; when
    # the updated response may not be stored (no-store), it is dropped
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/ns", revalidated([("Cache-Control", "no-store"), ("X-A", "2")]))
        get(p.port, "/ns")
        r = get(p.port, "/ns")
        assert r.status == 200 and r.body == b"body 1", r.headers
        assert r.header("x-a") == "2" and r.header("cache-control") == "no-store", r.headers
        assert "stored" not in cs(r)
        r = get(p.port, "/ns")
        assert not hit(r) and r.body == b"body 3", r.headers
    finally:
        o.close()


def test_preconditions_apply_to_every_stored_2xx(portico):
    # RFC 9110 §13.2.1: preconditions are evaluated for a 2xx response (a
    # 203 here), ignored for others (a 404); ranges only apply to a 200
    o = Origin()
    try:
        p = gateway(portico, o)
        for path, status in (("/s203", 203), ("/s404", 404)):
            o.on(path, lambda req, n, s=status: answer(
                status=s, headers=[("Cache-Control", "max-age=100"), ("ETag", '"t"')],
                body=b"0123456789"))
            get(p.port, path)
            r = get(p.port, path, headers=[("If-None-Match", '"t"')])
            assert r.status == (304 if status == 203 else status), (path, r.status)
            r = get(p.port, path, headers=[("Range", "bytes=0-1")])
            assert r.status == status and r.body == b"0123456789", (path, r.status)
            assert o.count(path) == 1
    finally:
        o.close()


def test_s_maxage_forbids_stale_and_client_conditionals_pass_on_a_miss(portico):
    # RFC 9111 §5.2.2.10: s-maxage implies proxy-revalidate for a shared
    # cache; §4.3.2: a conditional request for which nothing is stored goes
    # on with its preconditions, and the origin's 304 is passed on, unstored
    o = Origin()
    try:
        p = gateway(portico, o)
        o.on("/sm", lambda req, n: answer(headers=[("Cache-Control", "s-maxage=10"),
                                                   ("Age", "20"), ("ETag", '"s"')], n=n))
        get(p.port, "/sm")
        assert not hit(get(p.port, "/sm", headers=[("Cache-Control", "max-stale=1000")]))

        def script(req, n):
            if req.header("if-none-match") == '"c"':
                return Response(304, [("Date", httpdate(time.time())), ("ETag", '"c"'),
                                      ("Cache-Control", "max-age=100")])
            return answer(headers=[("Cache-Control", "max-age=100"), ("ETag", '"c"')], n=n)
        o.on("/cm", script)
        r = get(p.port, "/cm", headers=[("If-None-Match", '"c"')])
        assert r.status == 304 and o.last("/cm").header("if-none-match") == '"c"'
        r = get(p.port, "/cm")
        assert r.status == 200 and r.body == b"body 2" and not hit(r), r.headers
        assert hit(get(p.port, "/cm"))
    finally:
        o.close()


def test_revalidation_answer_drops_connection_named_fields(portico):
    # RFC 9111 §3.1, RFC 9110 §7.6.1: the fields a response's Connection
    # names are neither stored nor forwarded, when the response came as the
    # answer to a revalidation too
    o = Origin()
    try:
        p = gateway(portico, o)

        def script(req, n):
            if n == 1:
                return answer(headers=STALE + [("ETag", '"a"')], n=n)
            return answer(headers=[("Cache-Control", "max-age=100"), ("ETag", '"b"'),
                                   ("Connection", "X-Hop"), ("X-Hop", "1"), ("X-C", "3")], n=n)
        o.on("/rc", script)
        get(p.port, "/rc")
        r1 = get(p.port, "/rc")
        r2 = get(p.port, "/rc")
        assert "fwd-status=200" in cs(r1) and hit(r2), (r1.headers, r2.headers)
        for r in (r1, r2):
            assert r.header("x-c") == "3" and r.header("x-hop") is None, r.headers
    finally:
        o.close()
