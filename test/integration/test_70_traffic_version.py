"""API versioning (issue 16): routes serve a version named in the path, a
header, an Accept media-type parameter or a query argument, with a default;
a deprecated version's responses carry Deprecation (RFC 9745), Sunset
(RFC 8594) and Link (RFC 8288) fields and its use is logged."""
import re
from email.utils import parsedate_to_datetime

from backends import Backend, Response, get
from conftest import free_ports, run_portico, wait_for

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { v1 = { servers = [ "127.0.0.1:%(v1)d" ]; };
              v2 = { servers = [ "127.0.0.1:%(v2)d" ]; }; };
defaults = { api_version_default = "2";
             response_headers = { set = [ "X-Api-Version: $api_version" ]; }; };
routes = (
  { name = "v2"; path = "/"; proxy = "v2"; api_version = [ "2", "2.1" ]; },
  { name = "v1"; path = "/"; proxy = "v1"; api_version = "1";
    api_deprecation = "2025-01-01"; api_sunset = "2026-12-31T23:59:59Z";
    api_successor = "/v2/"; api_deprecation_link = "https://example.com/deprecation"; },
  { name = "onlyheader"; path = "/h/"; proxy = "v2"; api_version = "3";
    api_version_from = [ "header:X-Version" ]; api_version_default = "1"; },
  { name = "fallback"; path = "/"; return = { status = 400; body = "unsupported version"; }; }
);
"""


def named(name):
    return Backend(lambda req: Response(200, [("Content-Type", "text/plain")], name.encode()))


def start(portico, tmp_path):
    v1, v2 = named("v1"), named("v2")
    port = free_ports(1)[0]
    log = tmp_path / "error.log"
    portico(CONF % dict(port=port, v1=v1.port, v2=v2.port), ports=[port])
    return v1, v2, port


def who(port, path, headers=()):
    r = get(port, path, headers=headers)
    return (r.body.decode() if r.status == 200 else r.status), r


def test_versions_from_path_header_accept_query_and_the_default(portico, tmp_path):
    v1, v2, port = start(portico, tmp_path)
    assert who(port, "/v1/users")[0] == "v1"
    assert who(port, "/V2/users")[0] == "v2"
    assert who(port, "/users", [("Accept-Version", "1")])[0] == "v1"
    assert who(port, "/users", [("Accept-Version", "2.1")])[0] == "v2"
    assert who(port, "/users", [("Accept", "application/vnd.api+json; version=1")])[0] == "v1"
    assert who(port, "/users", [("Accept", 'text/html;q=0.9, application/json;version="1"')])[0] == "v1"
    # A range refused with q=0 names no version.
    assert who(port, "/users", [("Accept", "application/json;version=1;q=0")])[0] == "v2"
    assert who(port, "/users?a=b&version=1")[0] == "v1"
    # None named: the default (2).
    who_, r = who(port, "/users")
    assert who_ == "v2" and r.header("x-api-version") == "2"
    # A first segment that is not v<digit>... names no version: the default.
    assert who(port, "/videos/1")[0] == "v2"
    # The path comes first, then the header (api_version_from's order).
    assert who(port, "/v1/x", [("Accept-Version", "2")])[0] == "v1"
    # A version no route serves falls through to the next route.
    assert who(port, "/users", [("Accept-Version", "9")])[0] == 400
    # A route reading a header only: /h/ with X-Version 3; without it, its
    # default (1) is not served there, so the versioned routes below decide.
    assert who(port, "/h/x", [("X-Version", "3")])[0] == "v2"
    assert who(port, "/h/x", [("Accept-Version", "3")])[0] == 400
    v1.close()
    v2.close()


def test_a_deprecated_version_announces_its_end(portico, tmp_path):
    v1, v2, port = start(portico, tmp_path)
    _, r = who(port, "/v1/users")
    dep = r.header("deprecation")
    assert re.fullmatch(r"@\d+", dep) and int(dep[1:]) == 1735689600      # 2025-01-01
    sunset = parsedate_to_datetime(r.header("sunset"))
    assert r.header("sunset") == "Thu, 31 Dec 2026 23:59:59 GMT" and sunset.year == 2026
    links = r.header("link")
    assert '</v2/>; rel="successor-version"' in links
    assert '<https://example.com/deprecation>; rel="deprecation"' in links
    # The current version carries none of them.
    _, r = who(port, "/v2/users")
    assert r.header("deprecation") is None and r.header("sunset") is None
    v1.close()
    v2.close()


def test_deprecated_use_is_logged_once_a_second_and_counted_by_route(portico, tmp_path):
    import promtext
    v1, v2 = named("v1"), named("v2")
    port = free_ports(1)[0]
    conf = CONF.replace("routes = (", 'routes = (\n  { name = "metrics"; path = "/metrics"; '
                        'metrics_endpoint = true; },', 1)
    p = portico(conf % dict(port=port, v1=v1.port, v2=v2.port), ports=[port])
    for _ in range(20):
        get(port, "/v1/x")
    get(port, "/v2/x")
    wait_for(lambda: "deprecated API version 1 used by 127.0.0.1" in p.log(),
             what="deprecation log line")
    assert p.log().count("deprecated API version 1") <= 2

    def counted():
        fams = promtext.parse(get(port, "/metrics").body.decode())
        return promtext.value(fams, "portico_api_deprecated_requests_total", route="v1")
    wait_for(lambda: counted() == 20, what="20 deprecated responses of route v1")
    fams = promtext.parse(get(port, "/metrics").body.decode())
    assert promtext.value(fams, "portico_api_deprecated_requests_total", route="v2") is None
    v1.close()
    v2.close()


def check(tmp_path, extra):
    port, be = free_ports(2)
    conf = tmp_path / "p.conf"
    conf.write_text("""
portico = { workers = 1; };
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = ( { name = "t"; path = "/"; proxy = "b"; %s } );
""" % (port, be, extra))
    return run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))


def test_version_errors_at_load(tmp_path):
    r = check(tmp_path, 'api_version = "2 beta";')
    assert r.returncode != 0 and "is not a version" in r.stderr
    r = check(tmp_path, 'api_version = "2"; api_version_from = [ "cookie:v" ];')
    assert r.returncode != 0 and "api_version_from" in r.stderr
    r = check(tmp_path, 'api_version = "2"; api_deprecation = "yesterday";')
    assert r.returncode != 0 and "is not a date" in r.stderr
    r = check(tmp_path, 'api_version = "2"; api_deprecation = "2026-01-01"; '
                        'api_sunset = "2025-01-01";')
    assert r.returncode != 0 and "before" in r.stderr
    # A date that does not exist, or a field out of its range, is refused
    # rather than rolled over into another date by timegm.
    for bad in ("2025-02-31", "2025-02-29", "2025-04-31", "2025-01-01T-1:00:00Z",
                "2025-01-01T00:-5:00Z", "2025-1-1", " 2025-01-01", "@ 1735689600",
                "@+1735689600", "2025-01-01T00:00:00"):
        r = check(tmp_path, 'api_version = "2"; api_deprecation = "%s";' % bad)
        assert r.returncode != 0 and "is not a date" in r.stderr, bad
    for good in ("2024-02-29", "2025-12-31T23:59:59Z", "@0"):
        r = check(tmp_path, 'api_version = "2"; api_deprecation = "%s";' % good)
        assert r.returncode == 0, (good, r.stderr)
    r = check(tmp_path, 'api_deprecation = "2026-01-01";')
    assert r.returncode != 0 and "need api_version" in r.stderr
    r = check(tmp_path, 'api_version = "2"; api_deprecation = "@1735689600"; '
                        'api_successor = "<bad>";')
    assert r.returncode != 0 and "URI references" in r.stderr
    r = check(tmp_path, 'api_version = "2"; api_deprecation = "@1735689600"; '
                        'api_version_from = [ "accept" ];')
    assert r.returncode == 0, r.stderr
