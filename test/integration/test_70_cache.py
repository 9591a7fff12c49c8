import re
"""The response cache (issue 14): RFC 9111 storing and freshness rules, Age
and Cache-Status (RFC 9211) on responses, Vary, conditional and Range
requests answered from cache, revalidation with 304, stale-while-revalidate,
stale-if-error, request collapsing across workers, invalidation by unsafe
methods and PURGE, eviction, and contents kept across a reload.

The backend's answers are scripted by the query string: cc= sets
Cache-Control, etag=, lm= (seconds ago), exp= (seconds ahead, or "bad"),
vary=, age=, status=, cookie=1, size= (body bytes), loc= (Location),
delay= (ms before answering).
"""
import socket
import threading
import time
import urllib.parse
from email.utils import formatdate

from backends import Backend, Response, get, request
from conftest import free_ports, wait_for

CONF = """
portico = { workers = %(workers)d; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = ( { address = "127.0.0.1:%(bport)d"; } ); }; };
routes = (
  { path = "/"; proxy = "b"; cache_zone = "%(zone)s"; cache_lock_timeout = "3s";
    cache_purge = true; %(route)s }
);
"""


def httpdate(t):
    return formatdate(t, usegmt=True)


class Origin:
    """A backend that answers as the query says and counts requests per path."""

    def __init__(self):
        self.counts = {}
        self.lock = threading.Lock()
        self.version = {}
        self.backend = Backend(self.handle)

    def handle(self, req):
        u = urllib.parse.urlsplit(req.target)
        q = dict(urllib.parse.parse_qsl(u.query))
        with self.lock:
            self.counts[u.path] = self.counts.get(u.path, 0) + 1
            n = self.counts[u.path]
        if "delay" in q:
            time.sleep(int(q["delay"]) / 1000)
        now = time.time()
        h = [("Content-Type", "text/plain"), ("Date", httpdate(now))]
        if "cc" in q:
            h.append(("Cache-Control", q["cc"]))
        if "exp" in q:
            h.append(("Expires", "not a date" if q["exp"] == "bad"
                      else httpdate(now + int(q["exp"]))))
        etag = q.get("etag")
        if etag:
            h.append(("ETag", '"%s"' % etag))
        if "lm" in q:
            h.append(("Last-Modified", httpdate(now - int(q["lm"]))))
        if "vary" in q:
            h.append(("Vary", q["vary"]))
        if "age" in q:
            h.append(("Age", q["age"]))
        if "cookie" in q:
            h.append(("Set-Cookie", "s=1"))
        if "loc" in q:
            h.append(("Location", q["loc"]))
        if "cl" in q:
            h.append(("Content-Location", q["cl"]))
        if u.path == "/cl":
            h.append(("Cache-Control", "max-age=60"))
        h.append(("X-Count", str(n)))
        for k in q.get("echo", "").split(","):
            if k and req.header(k) is not None:
                h.append(("X-Echo-" + k, req.header(k)))
        inm = req.header("if-none-match")
        if etag and inm and etag in inm and "noreval" not in q:
            h304 = [x for x in h if x[0] != "Content-Type"]
            if "cc304" in q:
                h304 = [x for x in h304 if x[0] != "Cache-Control"] + [("Cache-Control", q["cc304"])]
            h304.append(("X-Updated", str(n)))
            if "etag304" in q:
                h304 = [x for x in h304 if x[0] != "ETag"] + [("ETag", '"%s"' % q["etag304"])]
            return Response(304, h304)
        status = int(q.get("status", "200"))
        if req.method == "DELETE" and u.path == "/keep2":
            return Response(500, [("Content-Type", "text/plain")], b"refused")
        if "fail" in q and n > 1:
            status = int(q["fail"])
            return Response(status, [("Content-Type", "text/plain")], b"upstream failure")
        size = int(q.get("size", "0"))
        body = (b"x" * size) if size else ("body %s %d" % (u.path, n)).encode()
        if "empty" in q or status == 204:
            body = b""
        return Response(status, h, body)

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)

    def close(self):
        self.backend.close()


def gateway(portico, origin, route="", workers=1, zone="c:8m"):
    port = free_ports(1)[0]
    conf = CONF % dict(port=port, bport=origin.backend.port, route=route, workers=workers,
                       zone=zone)
    p = portico(conf, ports=[port])
    p.port = port
    p.conf_text = conf
    return p


def status_of(resp):
    return resp.header("cache-status") or ""


def test_fresh_response_is_stored_and_served_with_age_and_cache_status(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        r1 = get(p.port, "/a?cc=max-age%3D60")
        assert r1.status == 200
        assert re.search(r"portico; fwd=uri-miss; fwd-status=200; stored; ttl=(59|60)\b",
                         status_of(r1)), r1.headers
        r2 = get(p.port, "/a?cc=max-age%3D60")
        assert r2.status == 200 and r2.body == r1.body
        assert status_of(r2).startswith("portico; hit; ttl="), r2.headers
        assert r2.header("age") is not None and int(r2.header("age")) >= 0
        assert r2.header("date") == r1.header("date")
        assert len(r2.header_all("date")) == 1
        assert o.count("/a") == 1
        # HEAD from the stored GET
        h = request(p.port, "HEAD /a?cc=max-age%3D60 HTTP/1.1\r\nHost: localhost\r\n"
                    "Connection: close\r\n\r\n")
        assert h.status == 200 and h.body == b"" and "hit" in status_of(h)
        assert h.header("content-length") == str(len(r1.body))
        assert o.count("/a") == 1
    finally:
        o.close()


def test_age_arithmetic_counts_the_upstream_age(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        get(p.port, "/age?cc=max-age%3D100&age=30")
        r = get(p.port, "/age?cc=max-age%3D100&age=30")
        assert "hit" in status_of(r)
        assert 30 <= int(r.header("age")) <= 32
        # Age beyond the lifetime: stale on arrival, no validator: not stored
        get(p.port, "/old?cc=max-age%3D10&age=20")
        r = get(p.port, "/old?cc=max-age%3D10&age=20")
        assert "fwd=uri-miss" in status_of(r) and o.count("/old") == 2
    finally:
        o.close()


def test_what_is_not_stored(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        cases = [
            ("/ns?cc=no-store", [], "no-store"),
            ("/pr?cc=private%2C+max-age%3D60", [], "private"),
            ("/none", [], "stale on arrival"),
            ("/s500?cc=&status=500", [], "no explicit freshness"),
            ("/ck?cc=max-age%3D60&cookie=1", [], "set-cookie"),
            ("/vs?cc=max-age%3D60&vary=*", [], "vary *"),
            ("/au?cc=max-age%3D60", [("Authorization", "Bearer x")], "authorization"),
            ("/rq?cc=max-age%3D60", [("Cache-Control", "no-store")], "request no-store"),
            ("/xb?exp=bad", [], "stale on arrival"),
        ]
        for path, hdrs, why in cases:
            for _ in range(2):
                r = get(p.port, path, headers=hdrs)
                assert "stored" not in status_of(r), (path, r.headers)
                assert why in status_of(r), (path, r.headers)
            assert o.count(path.split("?")[0]) == 2, path
        # what may be stored despite the rules above
        for path, hdrs in [("/au2?cc=public%2C+max-age%3D60", [("Authorization", "Bearer x")]),
                           ("/au3?cc=s-maxage%3D60", [("Authorization", "Bearer x")]),
                           ("/ex?exp=60", []),
                           ("/s404?cc=max-age%3D60&status=404", []),
                           ("/s302?cc=max-age%3D60&status=302", []),
                           ("/s204?cc=max-age%3D60&status=204", []),
                           ("/empty?cc=max-age%3D60&empty=1", [])]:
            get(p.port, path, headers=hdrs)
            r = get(p.port, path, headers=hdrs)
            assert "hit" in status_of(r), (path, r.headers)
            assert o.count(path.split("?")[0]) == 1, path
    finally:
        o.close()


def test_request_directives(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        base = "/rd?cc=max-age%3D100&age=50"
        get(p.port, base)
        assert "hit" in status_of(get(p.port, base))
        # max-age in the request: 50 is too old for 10
        r = get(p.port, base, headers=[("Cache-Control", "max-age=10")])
        assert "fwd=" in status_of(r)
        r = get(p.port, base, headers=[("Cache-Control", "max-age=0")])
        assert "fwd=request" in status_of(r), r.headers
        # min-fresh: 50 left is not 60
        r = get(p.port, base, headers=[("Cache-Control", "min-fresh=80")])
        assert "fwd=" in status_of(r)
        # only-if-cached with nothing stored: 504
        r = get(p.port, "/nothing", headers=[("Cache-Control", "only-if-cached")])
        assert r.status == 504 and o.count("/nothing") == 0
        assert r.header("content-type") == "application/problem+json"
        # stale with max-stale
        get(p.port, "/ms?cc=max-age%3D1&age=5&etag=m")
        r = get(p.port, "/ms?cc=max-age%3D1&age=5&etag=m",
                headers=[("Cache-Control", "max-stale=100")])
        assert "hit" in status_of(r) and o.count("/ms") == 1
    finally:
        o.close()


def test_vary_keeps_variants(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        path = "/v?cc=max-age%3D60&vary=Accept-Language"
        a = get(p.port, path, headers=[("Accept-Language", "en")])
        b = get(p.port, path, headers=[("Accept-Language", "de")])
        assert "fwd=vary-miss" in status_of(b)
        a2 = get(p.port, path, headers=[("Accept-Language", "en")])
        b2 = get(p.port, path, headers=[("Accept-Language", "de")])
        assert "hit" in status_of(a2) and a2.body == a.body
        assert "hit" in status_of(b2) and b2.body == b.body
        # whitespace normalised in the secondary key
        get(p.port, "/v2?cc=max-age%3D60&vary=Accept", headers=[("Accept", "a/b,  c/d")])
        r = get(p.port, "/v2?cc=max-age%3D60&vary=Accept", headers=[("Accept", "a/b, c/d")])
        assert "hit" in status_of(r)
        assert o.count("/v") == 2 and o.count("/v2") == 1
    finally:
        o.close()


def test_conditional_and_range_requests_from_cache(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        path = "/c?cc=max-age%3D60&etag=abc&lm=100&size=1000"
        r = get(p.port, path)
        assert len(r.body) == 1000
        r = get(p.port, path, headers=[("If-None-Match", 'W/"abc"')])
        assert r.status == 304 and r.body == b"" and r.header("etag") == '"abc"'
        assert r.header("cache-control") == "max-age=60" and r.header("age") is not None
        assert r.header("content-type") is None
        r = get(p.port, path, headers=[("If-None-Match", '"other"')])
        assert r.status == 200 and len(r.body) == 1000
        r = get(p.port, path, headers=[("If-Modified-Since", httpdate(time.time()))])
        assert r.status == 304
        # If-None-Match takes precedence over If-Modified-Since
        r = get(p.port, path, headers=[("If-None-Match", '"x"'),
                                       ("If-Modified-Since", httpdate(time.time()))])
        assert r.status == 200
        r = get(p.port, path, headers=[("Range", "bytes=10-19")])
        assert r.status == 206 and r.body == b"x" * 10
        assert r.header("content-range") == "bytes 10-19/1000"
        r = get(p.port, path, headers=[("Range", "bytes=-5")])
        assert r.status == 206 and r.header("content-range") == "bytes 995-999/1000"
        r = get(p.port, path, headers=[("Range", "bytes=5000-")])
        assert r.status == 416 and r.header("content-range") == "bytes */1000"
        r = get(p.port, path, headers=[("Range", "bytes=0-9"), ("If-Range", '"abc"')])
        assert r.status == 206
        r = get(p.port, path, headers=[("Range", "bytes=0-9"), ("If-Range", '"zzz"')])
        assert r.status == 200 and len(r.body) == 1000
        r = get(p.port, path, headers=[("Range", "bytes=0-4, 10-14, 5000-")])
        ctype = r.header("content-type")
        assert r.status == 206 and ctype.startswith("multipart/byteranges; boundary="), r.headers
        boundary = ctype.split("boundary=")[1].encode()
        parts = [x for x in r.body.split(b"--" + boundary) if x.strip() not in (b"", b"--")]
        assert len(parts) == 2, r.body
        assert b"Content-Range: bytes 0-4/1000" in parts[0] and parts[0].endswith(b"xxxxx\r\n")
        assert b"Content-Range: bytes 10-14/1000" in parts[1]
        assert b"Content-Type: text/plain" in parts[1]
        r = get(p.port, path, headers=[("If-Match", '"nope"')])
        assert r.status == 412
        assert o.count("/c") == 1
    finally:
        o.close()


def test_304_revalidation_updates_stored_headers(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        path = "/rv?cc=max-age%3D1&etag=e1&cc304=max-age%3D60"
        first = get(p.port, path)
        time.sleep(2.1)
        r = get(p.port, path)
        assert r.status == 200 and r.body == first.body
        assert "fwd=stale; fwd-status=304" in status_of(r), r.headers
        assert r.header("x-updated") == "2" and r.header("cache-control") == "max-age=60"
        req = o.backend.requests[-1]
        assert req.header("if-none-match") == '"e1"'
        # now fresh again with the updated headers
        r = get(p.port, path)
        assert "hit" in status_of(r) and r.header("x-updated") == "2"
        assert o.count("/rv") == 2
    finally:
        o.close()


def test_must_revalidate_gives_504_when_the_upstream_fails(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        path = "/mr?cc=max-age%3D1%2C+must-revalidate&etag=m&noreval=1&fail=503"
        get(p.port, path)
        time.sleep(2.1)
        r = get(p.port, path)
        assert r.status == 504, r.headers
        # without must-revalidate the error is passed on
        path = "/nm?cc=max-age%3D1&etag=m&noreval=1&fail=503"
        get(p.port, path)
        time.sleep(2.1)
        assert get(p.port, path).status == 503
    finally:
        o.close()


def test_stale_while_revalidate_refreshes_once_in_the_background(portico):
    o = Origin()
    try:
        p = gateway(portico, o, workers=2)
        path = "/swr?cc=max-age%3D1%2C+stale-while-revalidate%3D30&delay=300"
        get(p.port, path)
        time.sleep(2.1)
        start = time.monotonic()
        rs = [get(p.port, path) for _ in range(5)]
        assert time.monotonic() - start < 1.2      # none waited for the 300 ms upstream
        assert all(r.status == 200 and "hit" in status_of(r) for r in rs), rs
        assert all(r.body == rs[0].body for r in rs)
        wait_for(lambda: o.count("/swr") == 2, timeout=5, what="the background refresh")
        time.sleep(0.5)
        assert o.count("/swr") == 2
        wait_for(lambda: b" 2" in get(p.port, path).body, timeout=5, what="the refreshed body")
    finally:
        o.close()


def test_stale_if_error_with_the_backend_stopped(portico):
    o = Origin()
    p = gateway(portico, o)
    path = "/sie?cc=max-age%3D1%2C+stale-if-error%3D60"
    first = get(p.port, path)
    o.close()
    time.sleep(2.1)
    r = get(p.port, path)
    assert r.status == 200 and r.body == first.body, r.headers
    assert 'detail="stale-if-error"' in status_of(r)
    # past stale-if-error (none given): the failure shows
    r = get(p.port, "/other")
    assert r.status >= 500


def test_route_stale_if_error_with_the_backend_stopped(portico):
    o = Origin()
    p = gateway(portico, o, route='cache_stale_if_error = "1m";')
    path = "/rsie?cc=max-age%3D1"
    first = get(p.port, path)
    mr = "/rsie2?cc=max-age%3D1%2C+must-revalidate"
    get(p.port, mr)
    o.close()
    time.sleep(2.1)
    r = get(p.port, path)
    assert r.status == 200 and r.body == first.body, r.headers
    assert 'detail="stale-if-error"' in status_of(r)
    assert get(p.port, mr).status == 504


def test_collapsed_misses_make_one_upstream_request(portico):
    o = Origin()
    try:
        p = gateway(portico, o, workers=4)
        p.wait_workers(4)
        path = "/col?cc=max-age%3D60&delay=500"
        results = []

        def client():
            results.append(get(p.port, path))
        ts = [threading.Thread(target=client) for _ in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)
        assert len(results) == 12
        assert all(r.status == 200 for r in results)
        assert len({r.body for r in results}) == 1
        assert o.count("/col") == 1
        assert sum("collapsed" in status_of(r) for r in results) >= 1
    finally:
        o.close()


def test_unsafe_methods_invalidate(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        # the target's response names /loc in Location and /cl in Content-Location
        path = ("/inv?cc=max-age%3D60&loc=%2Floc%3Fcc%3Dmax-age%253D60"
                "&cl=http%3A%2F%2Flocalhost%2Fcl")
        for x in (path, "/loc?cc=max-age%3D60", "/cl", "/keep2?cc=max-age%3D60"):
            get(p.port, x)
        assert "hit" in status_of(get(p.port, path))
        assert "hit" in status_of(get(p.port, "/cl"))
        r = request(p.port, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n" % path)
        assert r.status == 200 and "fwd=request" in status_of(r)
        assert "fwd=uri-miss" in status_of(get(p.port, path))
        assert "fwd=uri-miss" in status_of(get(p.port, "/loc?cc=max-age%3D60"))
        assert "fwd=uri-miss" in status_of(get(p.port, "/cl"))
        assert "hit" in status_of(get(p.port, "/keep2?cc=max-age%3D60"))
        # a failed unsafe request invalidates nothing
        r = request(p.port, "DELETE /keep2?cc=max-age%3D60 HTTP/1.1\r\n"
                    "Host: localhost\r\nConnection: close\r\n\r\n")
        assert r.status == 500
        assert "hit" in status_of(get(p.port, "/keep2?cc=max-age%3D60"))
    finally:
        o.close()


def test_purge_one_prefix_and_refusal(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        for path in ("/p/a?cc=max-age%3D60", "/p/b?cc=max-age%3D60", "/q?cc=max-age%3D60"):
            get(p.port, path)
        r = request(p.port, "PURGE /q?cc=max-age%3D60 HTTP/1.1\r\nHost: localhost\r\n"
                    "Connection: close\r\n\r\n")
        assert r.status == 200 and r.json()["purged"] == 1
        assert "fwd=uri-miss" in status_of(get(p.port, "/q?cc=max-age%3D60"))
        r = request(p.port, "PURGE /p/* HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert r.status == 200 and r.json()["purged"] == 2
        assert "fwd=uri-miss" in status_of(get(p.port, "/p/a?cc=max-age%3D60"))
        r = request(p.port, "PURGE /nothing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert r.status == 404 and r.header("content-type") == "application/problem+json"
    finally:
        o.close()


def test_purge_refused_for_other_addresses(portico):
    o = Origin()
    try:
        p = gateway(portico, o, route='cache_purge_allow = [ "10.0.0.0/8" ];')
        r = request(p.port, "PURGE /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert r.status == 403 and r.header("content-type") == "application/problem+json"
    finally:
        o.close()


def test_eviction_when_the_zone_is_full(portico):
    o = Origin()
    try:
        p = gateway(portico, o, zone="small:256k")
        for i in range(12):
            get(p.port, "/e%d?cc=max-age%%3D60&size=40000" % i)
        # the oldest went, the newest stays
        assert "hit" in status_of(get(p.port, "/e11?cc=max-age%3D60&size=40000"))
        assert "fwd=uri-miss" in status_of(get(p.port, "/e0?cc=max-age%3D60&size=40000"))
        assert o.count("/e0") == 2 and o.count("/e11") == 1
    finally:
        o.close()


def test_contents_survive_a_reload(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        first = get(p.port, "/keep?cc=max-age%3D60")
        pid = p.workers()
        p.reload(p.conf_text.replace("cache_lock_timeout", "cache_heuristic = false; cache_lock_timeout"))
        p.wait_workers(1, exclude=pid)
        time.sleep(0.3)
        r = get(p.port, "/keep?cc=max-age%3D60")
        assert "hit" in status_of(r) and r.body == first.body
        assert o.count("/keep") == 1
    finally:
        o.close()


def test_cache_valid_and_key_directives(portico):
    o = Origin()
    try:
        p = gateway(portico, o, route='cache_valid = [ "200 404 1m" ]; cache_status_key = true;'
                                      'cache_key = [ "host", "path", '
                                      '"header:X-Tenant-Identifier-With-A-Long-Name" ];')
        get(p.port, "/kv?x=1")
        r = get(p.port, "/kv?x=2")
        assert "hit" in status_of(r), r.headers
        assert 'key="localhost/kv' in status_of(r)
        assert o.count("/kv") == 1
        t = [("X-Tenant-Identifier-With-A-Long-Name", "t1")]
        r = get(p.port, "/kv?x=3", headers=t)
        assert "fwd=uri-miss" in status_of(r) and o.count("/kv") == 2
        assert "hit" in status_of(get(p.port, "/kv", headers=t))
        # the tenant's copy and the other go together on invalidation
        request(p.port, "DELETE /kv HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert "fwd=uri-miss" in status_of(get(p.port, "/kv", headers=t))
        assert "fwd=uri-miss" in status_of(get(p.port, "/kv"))
        # a 404 without freshness is kept for cache_valid's minute
        get(p.port, "/kv404?status=404")
        assert "hit" in status_of(get(p.port, "/kv404?status=404"))
    finally:
        o.close()


def test_no_cache_request_and_response_revalidate(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        path = "/nc?cc=max-age%3D60&etag=n1"
        get(p.port, path)
        r = get(p.port, path, headers=[("Cache-Control", "no-cache")])
        assert r.status == 200 and "fwd=request; fwd-status=304" in status_of(r), r.headers
        assert o.backend.requests[-1].header("if-none-match") == '"n1"'
        r = get(p.port, path, headers=[("Pragma", "no-cache")])
        assert "fwd=request; fwd-status=304" in status_of(r)
        # a stored no-cache response is validated before every use
        path = "/nc2?cc=no-cache&etag=n2"
        first = get(p.port, path)
        for i in range(2):
            r = get(p.port, path)
            assert r.body == first.body and "fwd=stale; fwd-status=304" in status_of(r)
        assert o.count("/nc2") == 3
        # the client's own conditional, answered after the revalidation
        r = get(p.port, path, headers=[("If-None-Match", '"n2"')])
        assert r.status == 304 and "fwd-status=304" in status_of(r)
    finally:
        o.close()


def test_304_with_another_strong_etag_is_refetched(portico):
    o = Origin()
    try:
        p = gateway(portico, o)
        path = "/mm?cc=max-age%3D1&etag=e1&etag304=e2"
        first = get(p.port, path)
        time.sleep(2.1)
        r = get(p.port, path)
        assert r.status == 200 and r.body != first.body, r.headers
        assert o.count("/mm") == 3
        assert o.backend.requests[-1].header("if-none-match") is None
    finally:
        o.close()


def test_purge_path_and_valid_override(portico):
    o = Origin()
    try:
        p = gateway(portico, o, route='cache_purge_path = "/_cache/"; cache_valid_override = true;'
                                      'cache_valid = [ "200 1m" ];')
        r = get(p.port, "/ov?cc=max-age%3D1")
        # the route's minute, not the second (59 when a second boundary passed)
        assert re.search(r"ttl=(59|60)\b", status_of(r)), r.headers
        get(p.port, "/pp/a?cc=max-age%3D60")
        get(p.port, "/pp/b?cc=max-age%3D60")
        r = request(p.port, "POST /_cache/pp/a?cc=max-age%3D60 HTTP/1.1\r\nHost: localhost\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n")
        assert r.status == 200 and r.json() == {"purged": 1, "key": "http://localhost/pp/a?cc=max-age%3D60"}
        assert "fwd=uri-miss" in status_of(get(p.port, "/pp/a?cc=max-age%3D60"))
        assert "hit" in status_of(get(p.port, "/pp/b?cc=max-age%3D60"))
        r = request(p.port, "DELETE /_cache/pp/* HTTP/1.1\r\nHost: localhost\r\n"
                    "Connection: close\r\n\r\n")
        assert r.status == 200 and r.json()["purged"] == 2
        assert o.count("/_cache/pp/a") == 0
    finally:
        o.close()


def test_cache_key_consumer_keeps_consumers_apart(portico):
    """cache_key "consumer": each authenticated consumer has its own copy,
    and a hit serves the copy of the consumer asking, never another's."""
    o = Origin()
    try:
        port = free_ports(1)[0]
        conf = CONF.replace(
            "portico = { workers = %(workers)d; };",
            'portico = { workers = %(workers)d;\n'
            '  consumers = ( { name = "alice"; api_keys = [ "k-alice" ]; },\n'
            '                { name = "bob"; api_keys = [ "k-bob" ]; } ); };')
        conf %= dict(port=port, bport=o.backend.port, workers=1, zone="c:8m",
                     route='api_key = true; cache_key = [ "host", "path", "consumer" ];')
        portico(conf, ports=[port])
        alice, bob = [("X-API-Key", "k-alice")], [("X-API-Key", "k-bob")]
        a1 = get(port, "/me?cc=max-age%3D60", headers=alice)
        b1 = get(port, "/me?cc=max-age%3D60", headers=bob)
        assert a1.status == b1.status == 200 and a1.body != b1.body
        assert o.count("/me") == 2
        for who, first in ((alice, a1), (bob, b1), (alice, a1)):
            r = get(port, "/me?cc=max-age%3D60", headers=who)
            assert "hit" in status_of(r) and r.body == first.body, (who, r.body)
        assert o.count("/me") == 2
    finally:
        o.close()
