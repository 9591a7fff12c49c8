"""Canary releases and traffic splitting (issue 16): a share of a route's
requests goes to another upstream, within a few percent over thousands of
requests; a header or cookie value selects it; split_key keeps a client on
one upstream; $split names the upstream; a split upstream that is down
answers as that upstream does."""
from backends import Backend, Reader, Response, connect, get, read_response
from conftest import free_ports, run_portico

CONF = """
portico = { workers = 2; keepalive_requests = 100000; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { v1 = { servers = [ "127.0.0.1:%(v1)d" ]; };
              v2 = { servers = [ "127.0.0.1:%(v2)d" ]; };
              v3 = { servers = [ "127.0.0.1:%(v3)d" ]; };
              gone = { servers = [ "127.0.0.1:%(gone)d" ]; }; };
defaults = { response_headers = { set = [ "X-Split: $split" ]; }; };
routes = (
  { name = "canary"; path = "/c/"; proxy = "v1";
    split = ( { upstream = "v2"; weight = 10; header = "X-Canary: 1"; cookie = "canary=yes"; } ); },
  { name = "three"; path = "/t/"; proxy = "v1";
    split = ( { upstream = "v2"; weight = 30; }, { upstream = "v3"; weight = 20; } ); },
  { name = "sticky"; path = "/s/"; proxy = "v1"; split_key = "$cookie_user";
    split = ( { upstream = "v2"; weight = 50; } ); },
  { name = "down"; path = "/d/"; proxy = "v1"; split = ( { upstream = "gone"; weight = 100; } ); },
  { name = "none"; path = "/"; proxy = "v1"; split = ( { upstream = "v2"; weight = 0; } ); }
);
"""


def named(name):
    return Backend(lambda req: Response(200, [("Content-Type", "text/plain")], name.encode()))


def start(portico):
    bes = {n: named(n) for n in ("v1", "v2", "v3")}
    port, gone = free_ports(2)
    portico(CONF % dict(port=port, gone=gone, **{n: b.port for n, b in bes.items()}),
            ports=[port])
    return bes, port


def pipelined(port, path, n, headers=lambda i: ""):
    """n keep-alive requests, sent in batches of 100 on one connection;
    returns the answering upstream of each (from the body and $split)."""
    out = []
    with connect(port) as s:
        reader = Reader(s)
        for base in range(0, n, 100):
            k = min(100, n - base)
            s.sendall("".join("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n"
                              % (path, headers(base + i)) for i in range(k)).encode())
            for _ in range(k):
                r = read_response(reader)
                assert r.status == 200 and r.header("x-split") == r.body.decode()
                out.append(r.body.decode())
    return out


def test_a_weighted_share_goes_to_the_canary(portico):
    bes, port = start(portico)
    got = pipelined(port, "/c/x", 3000)
    share = got.count("v2") / len(got)
    assert 0.07 <= share <= 0.13, share
    assert set(got) == {"v1", "v2"}
    got = pipelined(port, "/t/x", 3000)
    assert abs(got.count("v2") / 3000 - 0.30) <= 0.04 and abs(got.count("v3") / 3000 - 0.20) <= 0.04
    # weight 0: nothing leaves the route's upstream.
    assert set(pipelined(port, "/x", 300)) == {"v1"}
    for b in bes.values():
        b.close()


def test_header_and_cookie_select_the_canary(portico):
    bes, port = start(portico)
    assert set(pipelined(port, "/c/x", 200, lambda i: "X-Canary: 1\r\n")) == {"v2"}
    assert set(pipelined(port, "/c/x", 200, lambda i: "Cookie: a=b; canary=yes\r\n")) == {"v2"}
    # Another value is no selection: the weights decide (mostly v1).
    assert pipelined(port, "/c/x", 200, lambda i: "X-Canary: 0\r\n").count("v1") > 150
    for b in bes.values():
        b.close()


def test_a_split_key_keeps_each_client_on_one_upstream(portico):
    bes, port = start(portico)
    users = 300
    first = pipelined(port, "/s/x", users, lambda i: "Cookie: user=u%d\r\n" % i)
    again = pipelined(port, "/s/x", users * 3, lambda i: "Cookie: user=u%d\r\n" % (i % users))
    for i in range(users * 3):
        assert again[i] == first[i % users], i
    share = first.count("v2") / users
    assert 0.35 <= share <= 0.65, share
    # On a new connection (maybe the other worker) too.
    for i in (0, 1, 2, 3, 4):
        r = get(port, "/s/x", headers=[("Cookie", "user=u%d" % i)])
        assert r.body.decode() == first[i]
    for b in bes.values():
        b.close()


def test_a_split_to_an_upstream_that_is_down(portico):
    bes, port = start(portico)
    r = get(port, "/d/x")
    assert r.status == 502 and r.header("x-split") == "gone"
    assert len(bes["v1"].requests) == 0
    for b in bes.values():
        b.close()


def check(tmp_path, split):
    port, be = free_ports(2)
    conf = tmp_path / "p.conf"
    conf.write_text("""
portico = { workers = 1; };
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; c = { servers = [ "127.0.0.1:1" ]; }; };
routes = ( { name = "t"; path = "/"; %s } );
""" % (port, be, split))
    return run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))


def test_split_errors_at_load(tmp_path):
    r = check(tmp_path, 'proxy = "b"; split = ( { upstream = "c"; weight = 60; }, '
                        '{ upstream = "c"; weight = 50; } );')
    assert r.returncode != 0 and "add up to 110 %" in r.stderr
    r = check(tmp_path, 'proxy = "b"; split = ( { upstream = "nope"; weight = 5; } );')
    assert r.returncode != 0 and 'no upstream named "nope"' in r.stderr
    r = check(tmp_path, 'proxy = "b"; split = ( { weight = 5; } );')
    assert r.returncode != 0 and 'needs "upstream"' in r.stderr
    r = check(tmp_path, 'proxy = "b"; split = ( { upstream = "c"; weight = 101; } );')
    assert r.returncode != 0
    r = check(tmp_path, 'proxy = "b"; split = ( { upstream = "c"; header = "X-C"; } );')
    assert r.returncode != 0 and 'is not "Name: value"' in r.stderr
    r = check(tmp_path, 'return = 204; split = ( { upstream = "c"; weight = 5; } );')
    assert r.returncode != 0 and "split needs a proxied route" in r.stderr
    r = check(tmp_path, 'proxy = "b"; split = ( { upstream = "c"; weight = 5; cookie = "k=v"; } ); '
                        'split_key = "$remote_addr";')
    assert r.returncode == 0, r.stderr
