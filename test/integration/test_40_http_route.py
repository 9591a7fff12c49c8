"""Routing (issue 3, worker/router/router.h): host (exact, *.suffix, any), path
(exact, regex, prefix), methods with 405 + Allow, header predicates,
listener binding, the documented priority, path normalisation before
matching, and the rewrites of the forwarded path.
"""
import pytest

from backends import Backend, Reader, connect, get, read_response, request
from conftest import free_ports


def ret(name, match, extra=""):
    """A route answering 200 with its own name as the body."""
    return '{ name = "%s"; %s return = { status = 200; body = "%s"; }; %s },' % (
        name, match, name, extra)


def start(portico, routes, listens=None, upstream_port=None):
    ports = free_ports(len(listens) if listens else 1)
    if listens:
        listen = ", ".join('{ name = "%s"; address = "127.0.0.1:%d"; }' % (n, p)
                           for n, p in zip(listens, ports))
    else:
        listen = '"127.0.0.1:%d"' % ports[0]
    ups = ""
    if upstream_port:
        ups = 'upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };\n' % upstream_port
    portico("listen = ( %s );\n%sroutes = (\n%s\n);\n" % (listen, ups, routes.rstrip(",\n")),
            ports=ports)
    return ports if listens else ports[0]


def name_of(port, path="/", host="localhost", method="GET", headers=()):
    hdrs = "".join("%s: %s\r\n" % kv for kv in headers)
    resp = request(port, "%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                   % (method, path, host, hdrs))
    if resp.status != 200:
        return resp.status
    return resp.body.decode() if method != "HEAD" else "HEAD-200"


# ---- hosts -------------------------------------------------------------------

def test_host_exact_wildcard_any(portico):
    port = start(portico,
                 ret("any", "") +
                 ret("wild", 'host = "*.example.com";') +
                 ret("wild-b", 'host = "*.b.example.com";') +
                 ret("exact", 'host = [ "api.example.com", "api2.example.com" ];') +
                 ret("exact-v", 'host = "Vhost.Example.NET";'))
    cases = {
        "api.example.com": "exact",
        "api2.example.com": "exact",
        "API.Example.COM:8080": "exact",
        "api.example.com.": "exact",
        "vhost.example.net": "exact-v",
        "x.example.com": "wild",
        "deep.x.example.com": "wild",
        "x.b.example.com": "wild-b",
        "b.example.com": "wild",
        "example.com": "any",
        "otherexample.com": "any",
        "other.org": "any",
        "127.0.0.1": "any",
        "[::1]:80": "any",
    }
    for host, want in cases.items():
        assert name_of(port, host=host) == want, host


def test_absolute_form_authority_routes(portico):
    port = start(portico, ret("exact", 'host = "api.example.com";') + ret("any", ""))
    resp = request(port, b"GET http://api.example.com/x HTTP/1.1\r\nHost: other.org\r\n"
                   b"Connection: close\r\n\r\n")
    assert resp.body == b"exact"


def test_host_group_falls_through_to_wider_groups(portico):
    """A host group with no route for the path does not stop the search."""
    port = start(portico,
                 ret("exact-api", 'host = "api.example.com"; path = "/api/";') +
                 ret("wild-img", 'host = "*.example.com"; path = "/img/";') +
                 ret("any", ""))
    assert name_of(port, "/api/x", "api.example.com") == "exact-api"
    assert name_of(port, "/img/x", "api.example.com") == "wild-img"
    assert name_of(port, "/other", "api.example.com") == "any"


def test_no_route_for_host_404(portico):
    port = start(portico, ret("only", 'host = "a.example";'))
    assert name_of(port, host="a.example") == "only"
    resp = get(port, "/", host="b.example")
    assert resp.status == 404
    assert resp.header("content-type") == "application/problem+json"


# ---- paths -------------------------------------------------------------------

PATH_ROUTES = (
    ret("root", 'path = "/";') +
    ret("prefix-p", 'path = "/p/";') +
    ret("prefix-long", 'path = "/p/long/";') +
    ret("regex", 'path_regex = "^/p/[0-9]+$";') +
    ret("regex-long", 'path_regex = "^/p/long/[0-9]+$";') +
    ret("exact", 'path_exact = "/p/exact";') +
    ret("regex-first", 'path_regex = "^/r/";') +
    ret("regex-second", 'path_regex = "^/r/x";'))


def test_path_priority_exact_regex_prefix(portico):
    port = start(portico, PATH_ROUTES)
    cases = {
        "/p/exact": "exact",
        "/p/exact?q=1": "exact",          # the query is not part of the path
        "/p/exactly": "prefix-p",
        "/p/exact/": "prefix-p",
        "/p/123": "regex",
        "/p/12a": "prefix-p",
        "/p/long/x": "prefix-long",
        "/p/long/7": "regex-long",        # a regex beats a longer prefix
        "/p/long": "prefix-p",
        "/p/": "prefix-p",
        "/p": "root",
        "/x": "root",
        "/": "root",
        "/r/x": "regex-first",            # regexes in config order
    }
    for path, want in cases.items():
        assert name_of(port, path) == want, path


def test_exact_path_only_no_fallback_404(portico):
    port = start(portico, ret("exact", 'path_exact = "/health";'))
    assert name_of(port, "/health") == "exact"
    assert name_of(port, "/health/") == 404
    assert name_of(port, "/healthz") == 404


def test_same_match_more_conditions_first_then_config_order(portico):
    port = start(portico,
                 ret("plain", 'path = "/c";') +
                 ret("plain-later", 'path = "/c";') +
                 ret("get-only", 'path = "/c"; methods = [ "GET" ];') +
                 ret("get-hdr", 'path = "/c"; methods = [ "GET" ]; headers = { X-A = true; };'))
    assert name_of(port, "/c") == "get-only"
    assert name_of(port, "/c", headers=[("X-A", "1")]) == "get-hdr"
    assert name_of(port, "/c", method="POST") == "plain"
    assert name_of(port, "/c", method="POST", headers=[("X-A", "1")]) == "plain"


# ---- methods -----------------------------------------------------------------

def test_methods_and_405_with_allow(portico):
    port = start(portico,
                 ret("m-read", 'path = "/m"; methods = [ "GET", "POST" ];') +
                 ret("m-delete", 'path = "/m"; methods = [ "DELETE" ];') +
                 ret("purge", 'path = "/cache"; methods = [ "PURGE" ];') +
                 ret("put", 'path_exact = "/only"; methods = [ "PUT" ];'))
    assert name_of(port, "/m") == "m-read"
    assert name_of(port, "/m", method="POST") == "m-read"
    assert name_of(port, "/m", method="HEAD") == "HEAD-200"    # GET answers HEAD
    assert name_of(port, "/m", method="DELETE") == "m-delete"
    assert name_of(port, "/cache", method="PURGE") == "purge"
    assert name_of(port, "/cache", method="purge") == 405      # methods are case-sensitive
    assert name_of(port, "/only", method="PUT") == "put"

    resp = request(port, b"PATCH /m HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert resp.status == 405
    assert resp.header("content-type") == "application/problem+json"
    allow = [m.strip() for m in resp.header("allow").split(",")]
    assert sorted(allow) == sorted(["GET", "HEAD", "POST", "DELETE"])

    resp = request(port, b"GET /only HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert resp.status == 405 and resp.header("allow") == "PUT"

    # RFC 9110 15.5.6: Allow lists the supported methods, custom ones too.
    resp = request(port, b"GET /cache HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert resp.status == 405 and resp.header("allow") == "PURGE"


def test_405_keeps_the_connection(portico):
    port = start(portico, ret("get", 'path = "/"; methods = [ "GET" ];'))
    with connect(port) as s:
        reader = Reader(s)
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        assert read_response(reader).status == 405
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(reader).body == b"get"


def test_method_mismatch_falls_to_other_route(portico):
    port = start(portico,
                 ret("get-api", 'host = "h.example"; path = "/api"; methods = [ "GET" ];') +
                 ret("any", 'path = "/";'))
    assert name_of(port, "/api", host="h.example") == "get-api"
    assert name_of(port, "/api", host="h.example", method="POST") == "any"


# ---- headers -----------------------------------------------------------------

def test_header_predicates(portico):
    port = start(portico,
                 ret("canary", 'path = "/h"; headers = { X-Env = "canary"; };') +
                 ret("beta", 'path = "/h"; headers = { x-beta = true; };') +
                 ret("both", 'path = "/h"; headers = { X-Env = "canary"; X-Beta = true; };') +
                 ret("h-default", 'path = "/h";') +
                 ret("open", 'path = "/n"; headers = { X-Block = false; };') +
                 ret("blocked", 'path = "/n";'))
    assert name_of(port, "/h") == "h-default"
    assert name_of(port, "/h", headers=[("X-Env", "canary")]) == "canary"
    assert name_of(port, "/h", headers=[("x-env", "canary")]) == "canary"
    assert name_of(port, "/h", headers=[("X-Env", "Canary")]) == "h-default"
    # The whole value must match, not a prefix of it, nor it of a prefix.
    assert name_of(port, "/h", headers=[("X-Env", "canary-2")]) == "h-default"
    assert name_of(port, "/h", headers=[("X-Env", "can")]) == "h-default"
    assert name_of(port, "/h", headers=[("X-Env", "prod"), ("X-Env", "canary")]) == "canary"
    assert name_of(port, "/h", headers=[("X-Beta", "")]) == "beta"
    assert name_of(port, "/h", headers=[("X-Beta", "1"), ("X-Env", "canary")]) == "both"
    assert name_of(port, "/n") == "open"
    assert name_of(port, "/n", headers=[("X-Block", "1")]) == "blocked"


# ---- listeners ---------------------------------------------------------------

def test_listener_binding(portico):
    a, b = start(portico,
                 ret("on-a", 'path = "/x"; listen = "a";') +
                 ret("on-b", 'path = "/x"; listen = [ "b" ];') +
                 ret("b-only", 'path = "/b"; listen = "b";') +
                 ret("both", 'path = "/";'),
                 listens=["a", "b"])
    assert name_of(a, "/x") == "on-a"
    assert name_of(b, "/x") == "on-b"
    assert name_of(b, "/b") == "b-only"
    assert name_of(a, "/b") == "both"
    assert name_of(a, "/") == "both" and name_of(b, "/") == "both"


# ---- normalisation and what goes upstream --------------------------------------

def upstream_target(be):
    return be.requests[-1].target


def test_dot_segments_cannot_escape_a_prefix(portico):
    be = Backend(lambda req: (200, [], b"admin"))
    port = start(portico,
                 '{ name = "api"; path = "/api/"; return = { status = 200; body = "api"; }; },'
                 '{ name = "admin"; path = "/admin/"; proxy = "b"; },'
                 '{ name = "root"; path = "/"; return = { status = 200; body = "root"; }; }',
                 upstream_port=be.port)
    for raw, want in [("/api/../admin/x", "/admin/x"),
                      ("/api/%2e%2e/admin/x", "/admin/x"),
                      ("/api/%2E%2E/admin/x?q=%2e", "/admin/x?q=%2e"),
                      ("/api/.%2e/admin/./y/z/../w", "/admin/y/w"),
                      ("/%61dmin/%7euser", "/admin/~user"),
                      ("/../../admin/x", "/admin/x"),
                      ("/admin/%3a", "/admin/%3A")]:
        assert name_of(port, raw) == "admin", raw
        assert upstream_target(be) == want, raw
    # An encoded slash is refused by default (escaped_slashes, issue 10;
    # test_40_http_path_rules.py has the other modes).
    assert name_of(port, "/api/..%2Fadmin/x") == 400
    assert name_of(port, "/admin/%2f%3a") == 400
    assert name_of(port, "/api/..") == "root"
    be.close()


def test_rewrites(portico):
    be = Backend(lambda req: (200, [], req.target.encode()))
    port = start(portico,
                 '{ path = "/svc/"; strip_prefix = true; proxy = "b"; },'
                 '{ path = "/bare"; strip_prefix = true; proxy = "b"; },'
                 '{ path = "/old/"; replace_prefix = "/new/v2/"; proxy = "b"; },'
                 '{ path = "/legacy"; replace_prefix = "/modern"; proxy = "b"; },'
                 '{ path_regex = "^/users/([0-9]+)/posts/([a-z]+)$";'
                 '  rewrite = "/api/posts/$2/by/$1"; proxy = "b"; },'
                 '{ path_regex = "^/all(/.*)?$"; rewrite = "/whole$0"; proxy = "b"; },'
                 '{ path = "/"; proxy = "b"; }',
                 upstream_port=be.port)
    cases = {
        "/svc/a/b?q=1": "/a/b?q=1",
        "/svc/": "/",
        "/bare": "/",
        "/bare/x": "/x",
        "/old/a?x": "/new/v2/a?x",
        "/old/": "/new/v2/",
        "/legacy/y": "/modern/y",
        "/users/42/posts/abc?page=2": "/api/posts/abc/by/42?page=2",
        "/users/42/posts/ABC": "/users/42/posts/ABC",     # no match: the fallback
        "/all/x": "/whole/all/x",
        "/svc/../old/z": "/new/v2/z",                     # normalised first
        "/other?k=v": "/other?k=v",
    }
    for path, want in cases.items():
        resp = get(port, path)
        assert resp.status == 200 and resp.body.decode() == want, path
    be.close()


def test_ten_thousand_routes(portico, tmp_path):
    """10,000 routes load quickly and each still gets its own requests (the
    lookup cost itself is checked structurally in test/unit/worker/router/test_router.c)."""
    import time
    from conftest import run_portico
    port = free_ports(1)[0]
    routes = ",\n".join(
        '{ path = "/svc/%05d/"; host = "h%d.example"; return = { status = 200; body = "%d"; }; }'
        % (i, i % 100, i) for i in range(10000))
    conf = 'listen = ( "127.0.0.1:%d" );\nroutes = (\n%s\n);\n' % (port, routes)
    path = tmp_path / "big.conf"
    path.write_text('portico = { error_log = "%s"; };\n' % (tmp_path / "t.log") + conf)
    # A sanitizer build runs many times slower: the bound is for real builds.
    limit = 5.0 if "ASan" in run_portico("-V").stdout else 1.0
    t0 = time.monotonic()
    res = run_portico("-t", "-c", str(path))
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 < limit
    portico(conf, ports=[port])
    for i in (0, 1, 4242, 9999):
        assert get(port, "/svc/%05d/x" % i, host="h%d.example" % (i % 100)).body == b"%d" % i
    assert get(port, "/svc/00001/x", host="h2.example").status == 404


def test_rewrite_with_a_query(portico):
    """A rewrite template may add query arguments (issue 15): the client's
    query follows after "&", never a second "?"; rewrite_query = "replace"
    drops it; a capture in the query is one value ("&" and "=" escaped,
    a "%20" the path had kept as it is)."""
    from backends import Backend, Response, get
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = free_ports(1)[0]
    conf = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = (
  { path_regex = "^/s/(.*)$"; rewrite = "/search?q=$1&src=gw"; proxy = "b"; },
  { path_regex = "^/r/(.*)$"; rewrite = "/only/$1?fixed=1"; rewrite_query = "replace";
    proxy = "b"; },
  { path_regex = "^/p/(.*)$"; rewrite = "/plain/$1"; proxy = "b"; }
);
""" % (port, be.port)
    portico(conf, ports=[port])
    targets = []
    for path in ("/s/shoes", "/s/shoes?page=2", "/s/a&admin=1", "/r/x?page=2", "/p/x?page=2",
                 "/p/x", "/s/x?", "/s/red%20shoes"):
        assert get(port, path).status == 200, path
        targets.append(be.requests[-1].target)
    assert targets == ["/search?q=shoes&src=gw", "/search?q=shoes&src=gw&page=2",
                       "/search?q=a%26admin%3D1&src=gw", "/only/x?fixed=1",
                       "/plain/x?page=2", "/plain/x", "/search?q=x&src=gw",
                       # a triplet of the path is kept, not encoded again (%2520)
                       "/search?q=red%20shoes&src=gw"], targets
    be.close()


def test_rewrite_with_two_queries_is_refused(tmp_path):
    from conftest import run_portico
    port = free_ports(1)[0]
    conf = tmp_path / "p.conf"
    conf.write_text('listen = ( "127.0.0.1:%d" );\nupstreams = { b = { servers = [ "127.0.0.1:1" ]; }; };\n'
                    'routes = ( { name = "r"; path_regex = "^/(.*)$"; rewrite = "/a?b=1?c"; proxy = "b"; } );\n'
                    % port)
    r = run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))
    assert r.returncode != 0 and 'more than one "?"' in r.stderr
