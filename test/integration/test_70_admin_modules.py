"""The cache and rate-limit modules in the admin API (issue 16): their
zone readers answer under api/zones with the counters the status page
reads, and the "cache.purge" action removes stored responses at run time
without a reload."""
import http.client
import json

from backends import Backend, Response, get
from conftest import free_ports

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d", { address = "127.0.0.1:%(aport)d"; name = "admin"; } );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = ( { listen = [ "admin" ]; path = "/admin/"; admin = true; },
           { path = "/"; proxy = "b"; cache_zone = "c:1M";
             limits = ( { name = "ip"; zone = "rl:64k"; rate = "1000r/s"; burst = 1000; } ); } );
"""


def ask(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    out = json.loads(r.read())
    c.close()
    return r.status, out


def test_cache_and_ratelimit_in_the_admin_api(portico):
    counter = {"n": 0}

    def handler(req):
        counter["n"] += 1
        return Response(200, [("Cache-Control", "max-age=300")], b"v%d" % counter["n"])

    be = Backend(handler)
    port, aport = free_ports(2)
    portico(CONF % dict(port=port, aport=aport, be=be.port), ports=[port, aport])
    assert get(port, "/a").body == b"v1"
    assert get(port, "/a").body == b"v1"          # a hit
    status, zones = ask(aport, "GET", "/admin/api/zones")
    assert status == 200, zones
    assert zones["cache"]["hits"] >= 1 and zones["cache"]["misses"] >= 1
    assert zones["cache"]["stores"] >= 1
    assert zones["ratelimit"]["allowed"] >= 2 and zones["ratelimit"]["refused"] == 0

    status, out = ask(aport, "POST", "/admin/api/actions/cache.purge", {"prefix": ""})
    assert status == 200 and out["purged"] >= 1 and out["zones"] == 1, out
    assert get(port, "/a").body == b"v2"          # fetched again after the purge
    status, out = ask(aport, "POST", "/admin/api/actions/cache.purge", {"key": "x"})
    assert status == 400 and out["status"] == 400
    be.close()


def test_ratelimit_reset_from_the_admin_api(portico):
    """"ratelimit.reset" gives one key of one limit its allowance back at
    run time; other keys and unknown limits are told apart."""
    be = Backend(lambda req: Response(200, [], b"ok"))
    port, aport = free_ports(2)
    conf = (CONF % dict(port=port, aport=aport, be=be.port)).replace(
        'cache_zone = "c:1M";', "").replace(
        'rate = "1000r/s"; burst = 1000;', 'rate = "1r/m"; key = "$remote_addr";')
    portico(conf, ports=[port, aport])
    assert get(port, "/x").status == 200
    assert get(port, "/x").status == 429
    status, out = ask(aport, "POST", "/admin/api/actions/ratelimit.reset",
                      {"limit": "ip", "key": "127.0.0.1"})
    assert status == 200 and out == {"limit": "ip", "reset": True}, out
    assert get(port, "/x").status == 200
    assert get(port, "/x").status == 429
    status, out = ask(aport, "POST", "/admin/api/actions/ratelimit.reset",
                      {"limit": "ip", "key": "192.0.2.9"})
    assert status == 200 and out["reset"] is False
    status, out = ask(aport, "POST", "/admin/api/actions/ratelimit.reset",
                      {"limit": "nope", "key": "127.0.0.1"})
    assert status == 404
    status, out = ask(aport, "POST", "/admin/api/actions/ratelimit.reset", {"limit": "ip"})
    assert status == 400
    be.close()
