"""The admin API (issue 16): the read answers against a running gateway
(config summary, workers, upstream state, counters), draining a server
moves traffic to the others and re-enabling brings it back, actions are
validated (bad JSON, unknown server or action), access control (address,
bearer token, over IPv6 and behind a trusted proxy), the token never in
the log, and config errors with file and line.
"""
import http.client
import json
import os
import re

from backends import Backend, Response
from conftest import free_ports, run_portico, wait_for

TOKEN = "t0ken-for-tests-Zq9"

CONF = """
portico = { workers = 2; %(main)s };
listen = ( "127.0.0.1:%(port)d", { address = "%(admin_addr)s"; name = "admin"; } );
upstreams = { b = { servers = ( "127.0.0.1:%(a)d", "127.0.0.1:%(b)d" ); }; };
routes = ( { listen = [ "admin" ]; path = "/admin/"; admin = true; %(admin)s },
           { path = "/"; proxy = "b"; } );
"""


def named(name):
    def handler(req):
        return Response(200, [("Content-Type", "text/plain")], name.encode())
    return handler


def ask(port, method, path, body=None, token=TOKEN, host="127.0.0.1", headers=None):
    """One request on a connection of its own: (status, headers, parsed JSON or text)."""
    c = http.client.HTTPConnection(host, port, timeout=10)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    c.close()
    ctype = r.getheader("Content-Type", "")
    out = json.loads(raw) if "json" in ctype else raw.decode()
    return r.status, r, out


def start(portico, tmp_path, a, b, admin=None, main="", admin_addr=None, env=None):
    port, aport = free_ports(2)
    tok = os.path.join(str(tmp_path), "admin.token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    if admin is None:
        admin = 'admin_token_file = "%s"; admin_token_label = "ops-team";' % tok
    addr = (admin_addr or "127.0.0.1:%d") % aport
    conf = CONF % dict(port=port, a=a.port, b=b.port, admin=admin, main=main,
                       admin_addr=addr)
    p = portico(conf, ports=[port] if admin_addr else [port, aport], env=env)
    p.port, p.aport = port, aport
    p.wait_workers(2)
    return p


def who(port, n):
    """Which backend answered each of n requests (each on a new connection)."""
    out = []
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/")
        out.append(c.getresponse().read().decode())
        c.close()
    return out


def test_read_config_workers_upstreams_and_counters(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b)
        # A worker shows as serving once it has set its title, a moment
        # after it exists.
        got = {}

        def both_serving():
            got["a"] = ask(p.aport, "GET", "/admin/api/config")
            return got["a"][2]["workers"]["serving"] == 2
        try:
            wait_for(both_serving, 10, what="both workers serving")
        except AssertionError:
            pass                # the assertions below say what differs
        st, r, cfg = got["a"]
        assert st == 200 and r.getheader("Content-Type") == "application/json"
        assert r.getheader("Cache-Control") == "no-store"
        assert cfg["generation"] == 1
        assert [l["name"] for l in cfg["listeners"]] == ["127.0.0.1:%d" % p.port, "admin"]
        assert cfg["listeners"][1]["address"] == "127.0.0.1:%d" % p.aport
        routes = cfg["routes"]
        assert [(x["path"], x["handler"]) for x in routes] == [("/admin/", "admin"),
                                                               ("/", "proxy")]
        assert routes[0]["listeners"] == ["admin"] and routes[0]["match"] == "prefix"
        assert cfg["upstreams"] == [{"name": "b", "line": 4, "servers": [
            "127.0.0.1:%d" % a.port, "127.0.0.1:%d" % b.port]}]
        w = cfg["workers"]
        assert w["master_pid"] == p.pid and w["configured"] == 2 and w["serving"] == 2
        assert sorted(x["pid"] for x in w["list"]) == p.workers()
        assert {(x["status"], x["generation"]) for x in w["list"]} == {("serving", 1)}
        assert w["answering_pid"] in p.workers()

        st, _, ups = ask(p.aport, "GET", "/admin/api/upstreams")
        assert st == 200 and [u["name"] for u in ups] == ["b"]
        s0 = ups[0]["servers"][0]
        assert s0["name"] == "127.0.0.1:%d" % a.port
        assert (s0["health"], s0["usable"], s0["ejected"], s0["drain"], s0["inflight"],
                s0["weight"]) == ("up", True, False, False, 0, 1)

        # The gateway-wide counter, summed over both workers: the first
        # read and 10 requests, exactly.
        _, _, s1 = ask(p.aport, "GET", "/admin/api/stats")
        assert set(who(p.port, 10)) == {"a", "b"}
        def counted():
            n = ask(p.aport, "GET", "/admin/api/stats")[2]["requests"] - s1["requests"]
            return n if n >= 11 else None
        # each poll adds one: the first answer at >= 11 is 11 plus polls
        n = wait_for(counted, 5, what="the counter")
        assert 11 <= n <= 20, n
        # the two are read one after the other: a request may end in between
        assert 0 <= s1["metrics"]["portico_requests_total"] - s1["requests"] <= 2
        assert [x["name"] for x in s1["routes"]] == ["route1", "route2"]

        st, _, idx = ask(p.aport, "GET", "/admin/api")
        assert st == 200 and "api/upstreams" in idx["get"] and "api/servers/drain" in idx["post"]
        st, _, allv = ask(p.aport, "GET", "/admin/api/status")
        assert st == 200 and set(allv) == {"config", "upstreams", "stats", "zones", "actions"}
        # metrics: no authenticated consumer yet
        assert allv["zones"] == {"metrics": {"top_consumers": []}} and allv["actions"] == []
        assert TOKEN not in p.log()
        dump = run_portico("-T", "-c", p.conf_path)
        assert dump.returncode == 0 and "admin_token_file" in dump.stdout
        assert TOKEN not in dump.stdout + dump.stderr


def test_drain_moves_traffic_and_enable_brings_it_back(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b)
        srv_a = "127.0.0.1:%d" % a.port
        assert set(who(p.port, 8)) == {"a", "b"}
        st, _, out = ask(p.aport, "POST", "/admin/api/servers/drain",
                         {"upstream": "b", "server": srv_a})
        assert st == 200 and out == {"upstream": "b", "server": srv_a, "drain": True}
        # Every worker stops sending to a at once (the switch is shared).
        assert who(p.port, 20) == ["b"] * 20
        s0 = ask(p.aport, "GET", "/admin/api/upstreams")[2][0]["servers"][0]
        assert s0["drain"] is True and s0["drain_runtime"] is True
        p.wait_log(r"\[notice\].*admin: drain server %s of upstream \"b\", asked by "
                   r"127\.0\.0\.1 \(ops-team\)" % re.escape(srv_a))
        st, _, out = ask(p.aport, "POST", "/admin/api/servers/enable",
                         {"upstream": "b", "server": srv_a})
        assert st == 200 and out["drain"] is False
        assert set(who(p.port, 12)) == {"a", "b"}
        # DELETE on the drain undoes it too.
        ask(p.aport, "POST", "/admin/api/servers/drain", {"upstream": "b", "server": srv_a})
        assert set(who(p.port, 6)) == {"b"}
        st, _, out = ask(p.aport, "DELETE", "/admin/api/servers/drain",
                         {"upstream": "b", "server": srv_a})
        assert st == 200 and out["drain"] is False
        assert set(who(p.port, 6)) == {"a", "b"}
        p.wait_log(r"\[notice\].*admin: enable server %s" % re.escape(srv_a))
        assert TOKEN not in p.log()


def problem(res, status, detail_rx):
    st, r, body = res
    assert st == status, (st, body)
    assert r.getheader("Content-Type") == "application/problem+json"
    assert body["status"] == status and re.search(detail_rx, body["detail"]), body


def test_action_validation(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b)
        drain = "/admin/api/servers/drain"
        problem(ask(p.aport, "POST", drain, b'{"upstream": "b",'), 400, r"not JSON")
        problem(ask(p.aport, "POST", drain, b"[1, 2]"), 400, r"must be a JSON object")
        problem(ask(p.aport, "POST", drain, b""), 400, r"not JSON")
        problem(ask(p.aport, "POST", drain, {"upstream": "b"}), 400, r"\"server\"")
        problem(ask(p.aport, "POST", drain, {"upstream": "b", "server": 7}), 400, r"strings")
        problem(ask(p.aport, "POST", drain, {"upstream": "nope", "server": "x"}), 404,
                r"no upstream")
        problem(ask(p.aport, "POST", drain, {"upstream": "b", "server": "127.0.0.1:1"}),
                404, r"no server")
        problem(ask(p.aport, "POST", drain, b'{"a":1,"a":2}'), 400, r"duplicate")
        problem(ask(p.aport, "POST", drain, b"{" + b" " * 70000 + b"}"), 413, r"64 KiB")
        problem(ask(p.aport, "POST", "/admin/api/actions/cache.purge", {"key": "/x"}), 404,
                r"not built")
        problem(ask(p.aport, "GET", "/admin/api/nope"), 404, r"no such admin endpoint")
        res = ask(p.aport, "PUT", "/admin/api/stats", b"{}")
        problem(res, 405, r"GET, POST")
        # A 405 lists what the resource takes (RFC 9110 15.5.6), not nothing.
        assert res[1].getheader("Allow") == "GET, HEAD"      # stats is read-only
        res = ask(p.aport, "POST", "/admin/", b"{}")
        problem(res, 405, r"GET")
        assert res[1].getheader("Allow") == "GET, HEAD"
        # Nothing changed.
        ups = ask(p.aport, "GET", "/admin/api/upstreams")[2]
        assert not any(s["drain"] for s in ups[0]["servers"])
        assert set(who(p.port, 4)) == {"a", "b"}


def test_token_required_and_compared(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b)
        for tok in (None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper()):
            st, r, body = ask(p.aport, "GET", "/admin/api/config", token=tok)
            assert st == 401, tok
            assert r.getheader("WWW-Authenticate").startswith("Bearer")
            assert r.getheader("Content-Type") == "application/problem+json"
        st, _, _ = ask(p.aport, "GET", "/admin/api/config",
                       headers={"Authorization": "Basic " + TOKEN}, token=None)
        assert st == 401
        # A refused drain does nothing.
        st, _, _ = ask(p.aport, "POST", "/admin/api/servers/drain",
                       {"upstream": "b", "server": "127.0.0.1:%d" % a.port}, token="bad")
        assert st == 401 and set(who(p.port, 4)) == {"a", "b"}
        # The page holds no data: it loads without the token (its script
        # sends one), the API it reads does not.
        st, r, page = ask(p.aport, "GET", "/admin/", token=None)
        assert st == 200 and r.getheader("Content-Type").startswith("text/html")
        # One self-contained page: no external script, style or font.
        assert "api/status" in page and "<script>" in page and "<style>" in page
        assert not re.search(r"(src|href)\s*=|<link|@import|https?://", page), page
        assert ask(p.aport, "GET", "/admin/api/config")[0] == 200
        log = p.log()
        assert "wrong token" in log and TOKEN not in log and TOKEN[:-1] not in log


def test_token_from_environment(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        env = dict(os.environ, PT_TEST_ADMIN_TOKEN=TOKEN)
        p = start(portico, tmp_path, a, b, env=env, admin='admin_token_env = '
                  '"PT_TEST_ADMIN_TOKEN";')
        assert ask(p.aport, "GET", "/admin/api/config", token=None)[0] == 401
        assert ask(p.aport, "GET", "/admin/api/config")[0] == 200


def test_address_not_allowed(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b, admin='admin_allow = [ "10.0.0.0/8" ];')
        for path in ("/admin/", "/admin/api/config"):
            problem(ask(p.aport, "GET", path, token=None), 403, r"address")
        problem(ask(p.aport, "POST", "/admin/api/servers/drain",
                    {"upstream": "b", "server": "127.0.0.1:%d" % a.port}), 403, r"address")
        assert set(who(p.port, 4)) == {"a", "b"}
        assert "admin: refused 127.0.0.1: address not in admin_allow" in p.log()


def ask6(port, path):
    def answered():
        try:
            return ask(port, "GET", path, host="::1")
        except OSError:
            return None
    return wait_for(answered, 5, what="the admin listener on ::1")


def test_ipv6_loopback_allowed_by_default(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b, admin="", admin_addr="[::1]:%d")
        st, _, cfg = ask6(p.aport, "/admin/api/config")
        assert st == 200 and cfg["listeners"][1]["address"] == "[::1]:%d" % p.aport


def test_ipv6_client_not_allowed(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b, admin_addr="[::1]:%d",
                  admin='admin_allow = [ "127.0.0.0/8" ];')
        problem(ask6(p.aport, "/admin/api/config"), 403, r"address")
        assert "admin: refused ::1" in p.log()


def test_behind_a_trusted_proxy(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b, main='trusted_proxies = [ "127.0.0.1" ];',
                  admin='admin_allow = [ "192.0.2.0/24" ];')
        xff = lambda ip: {"X-Forwarded-For": ip}
        assert ask(p.aport, "GET", "/admin/api/config", headers=xff("192.0.2.7"))[0] == 200
        assert ask(p.aport, "GET", "/admin/api/config", headers=xff("198.51.100.1"))[0] == 403
        assert ask(p.aport, "GET", "/admin/api/config")[0] == 403


def check(tmp_path, routes, expect, env=None):
    path = os.path.join(str(tmp_path), "bad.conf")
    with open(path, "w") as f:
        f.write('listen = ( "127.0.0.1:1" );\nroutes = (\n%s\n);\n' % routes)
    r = run_portico("-t", "-c", path)
    assert r.returncode != 0, r.stdout
    assert re.search(r"bad\.conf:\d+: .*" + expect, r.stderr), r.stderr
    return r.stderr


def test_config_errors_name_file_and_line(tmp_path):
    check(tmp_path, '{ path = "/a/";\n  admin = "yes"; }', r'"admin" must be true or false')
    e = check(tmp_path, '{ path = "/a/";\n  admin = true;\n  admin_allow = [ "10.0.0.1/8" ]; }',
              r'"admin_allow": "10\.0\.0\.1/8" has bits set')
    assert "bad.conf:5:" in e
    check(tmp_path, '{ path = "/a/"; admin_allow = [ "10.0.0.0/8" ]; }',
          r'route "route1" \(line 3\): admin_\* directives need admin = true')
    check(tmp_path, '{ path = "/a/"; admin = true; admin_token_file = "/nonexistent/t"; }',
          r'admin_token_file "/nonexistent/t": No such file')
    check(tmp_path, '{ path = "/a/"; admin = true; admin_token_env = "PT_NO_SUCH_VAR_X"; }',
          r'admin_token_env "PT_NO_SUCH_VAR_X": the environment variable is empty or unset')
    empty = os.path.join(str(tmp_path), "empty.token")
    open(empty, "w").close()
    check(tmp_path, '{ path = "/a/"; admin = true; admin_token_file = "%s"; }' % empty,
          r'the file is empty')
    check(tmp_path, '{ path = "/a/"; admin = true; admin_token_file = "x"; '
          'admin_token_env = "Y"; }', r'not both')
    check(tmp_path, '{ path = "/a/"; admin = true; return = 204; }', r'give a route one of')


def test_admin_settings_in_defaults_apply_to_admin_routes_only(tmp_path):
    path = os.path.join(str(tmp_path), "ok.conf")
    with open(path, "w") as f:
        f.write('listen = ( "127.0.0.1:1" );\n'
                'defaults = { admin_allow = [ "10.0.0.0/8" ]; admin_token_label = "x"; };\n'
                'routes = ( { path = "/a/"; admin = true; }, { path = "/"; return = 204; } );\n')
    r = run_portico("-t", "-c", path)
    assert r.returncode == 0, r.stderr


def test_drain_survives_a_reload_and_the_generation_shows(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        p = start(portico, tmp_path, a, b)
        srv_a = "127.0.0.1:%d" % a.port
        assert ask(p.aport, "POST", "/admin/api/servers/drain",
                   {"upstream": "b", "server": srv_a})[0] == 200
        old = p.workers()
        p.reload()
        p.wait_workers(2, exclude=old)
        cfg = wait_for(lambda: (lambda c: c if c["generation"] == 2 else None)(
            ask(p.aport, "GET", "/admin/api/config")[2]), 10, what="generation 2")
        assert {w["generation"] for w in cfg["workers"]["list"]
                if w["status"] == "serving"} == {2}
        s0 = ask(p.aport, "GET", "/admin/api/upstreams")[2][0]["servers"][0]
        assert s0["name"] == srv_a and s0["drain_runtime"] is True
        assert set(who(p.port, 10)) == {"b"}


def test_admin_on_a_regex_route(portico):
    port = free_ports(1)[0]
    portico('listen = ( "127.0.0.1:%d" );\n'
            'routes = ( { path_regex = "^/ops/(v[0-9]+/)?"; admin = true; } );\n' % port,
            ports=[port])
    st, _, cfg = ask(port, "GET", "/ops/v1/api/config", token=None)
    assert st == 200 and cfg["routes"][0]["match"] == "regex"
    st, r, _ = ask(port, "GET", "/ops/v1/", token=None)
    assert st == 200 and r.getheader("Content-Type").startswith("text/html")
    assert ask(port, "GET", "/ops/v1/api/nothing", token=None)[0] == 404


def test_a_large_body_is_refused_before_it_is_read(portico, tmp_path):
    import socket
    with Backend(named("a")) as a, Backend(named("b")) as b:
        tok = os.path.join(str(tmp_path), "admin.token")
        p = start(portico, tmp_path, a, b, admin='admin_token_file = "%s"; '
                  'client_max_body_size = "100M";' % tok)
        # The head only: 900 kB announced, none sent. The answer comes at
        # once rather than after the route's limit worth of buffering.
        s = socket.create_connection(("127.0.0.1", p.aport), timeout=3)
        s.sendall(("POST /admin/api/servers/drain HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: 900000\r\n\r\n{" % TOKEN).encode())
        head = s.recv(4096).decode()
        s.close()
        assert head.startswith("HTTP/1.1 413 "), head
        assert "64 KiB" in head


TOP_CONF = """
portico = { workers = 2; metrics_consumers = %(cap)d;
  consumers = ( { name = "alice"; api_keys = [ "k-alice" ]; },
                { name = "bob"; api_keys = [ "k-bob" ]; },
                { name = "carol"; api_keys = [ "k-carol" ]; },
                { name = "dave"; api_keys = [ "k-dave" ]; } ); };
listen = ( "127.0.0.1:%(port)d" );
routes = ( { path = "/admin/"; admin = true; },
           { path = "/k"; api_key = true; return = { status = 200; body = "k"; }; },
           { path = "/gone"; api_key = true; return = 404; } );
"""


def test_top_consumers_from_the_metrics(portico):
    """api/zones "metrics" lists the consumers with the most requests (every
    status class added up), past metrics_consumers as "other"; the status
    page's panel reads it. None is listed when consumers are not counted."""
    port = free_ports(1)[0]
    p = portico(TOP_CONF % dict(cap=3, port=port), ports=[port])
    p.wait_workers(2)
    for key, path, times in (("k-alice", "/k", 5), ("k-bob", "/k", 2), ("k-carol", "/k", 4),
                             ("k-carol", "/gone", 3), ("k-dave", "/k", 1)):
        for _ in range(times):
            st, _, _ = ask(port, "GET", path, token=None, headers={"X-API-Key": key})
            assert st == (404 if path == "/gone" else 200)
    want = [{"name": "carol", "requests": 7}, {"name": "alice", "requests": 5},
            {"name": "bob", "requests": 2}, {"name": "other", "requests": 1}]

    def top():
        st, _, z = ask(port, "GET", "/admin/api/zones", token=None)
        assert st == 200
        return z["metrics"]["top_consumers"] == want and z
    wait_for(top, what="the four consumers counted")
    st, _, s = ask(port, "GET", "/admin/api/status", token=None)
    assert st == 200 and s["zones"]["metrics"]["top_consumers"] == want

    p.reload(TOP_CONF % dict(cap=0, port=port))
    wait_for(lambda: "metrics" not in ask(port, "GET", "/admin/api/zones", token=None)[2],
             what="no consumer list once metrics_consumers = 0")
