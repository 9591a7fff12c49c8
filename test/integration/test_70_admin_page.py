"""The live status page (issue 16) in a real browser: headless Chromium
loads the page from a running portico while traffic flows, twice; the
rendered DOM shows the generation, the workers, the upstream servers with
their health colour (a drained one grey), numbers that change between
the two snapshots, and "not enabled" for the modules not built; a
screenshot is kept in the test's directory.
"""
import http.client
import os
import re
import shutil
import subprocess
import threading

import pytest

from backends import Backend, Response
from conftest import free_ports

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium): "
    "the status page browser test is skipped")

TOKEN = "page-t0ken-7"

CONF = """
portico = { workers = 2; };
listen = ( "127.0.0.1:%(port)d", { address = "127.0.0.1:%(aport)d"; name = "admin"; } );
upstreams = { b = { servers = ( "127.0.0.1:%(a)d", "127.0.0.1:%(b)d" ); }; };
routes = ( { listen = [ "admin" ]; path = "/admin/"; admin = true;
             admin_token_env = "PT_TEST_PAGE_TOKEN"; },
           { path = "/"; proxy = "b"; } );
"""


def named(name):
    def handler(req):
        return Response(200, [("Content-Type", "text/plain")], name.encode())
    return handler


def chromium(tmp_path, url, *args):
    """Run headless Chromium once (its own profile dir); its stdout."""
    prof = os.path.join(str(tmp_path), "chromium-profile")
    r = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--disable-extensions", "--user-data-dir=" + prof,
                        "--virtual-time-budget=3000"] + list(args) + [url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def by_id(dom, ident):
    m = re.search(r'id="%s"[^>]*>([^<]*)<' % ident, dom)
    assert m, "no #%s in the page:\n%s" % (ident, dom[:3000])
    return m.group(1)


def test_status_page_in_chromium(portico, tmp_path):
    with Backend(named("a")) as a, Backend(named("b")) as b:
        port, aport = free_ports(2)
        env = dict(os.environ, PT_TEST_PAGE_TOKEN=TOKEN)
        p = portico(CONF % dict(port=port, aport=aport, a=a.port, b=b.port),
                    ports=[port, aport], env=env)
        p.wait_workers(2)
        # Drain b's second server so the page shows two colours.
        c = http.client.HTTPConnection("127.0.0.1", aport, timeout=10)
        c.request("POST", "/admin/api/servers/drain",
                  body='{"upstream":"b","server":"127.0.0.1:%d"}' % b.port,
                  headers={"Authorization": "Bearer " + TOKEN})
        assert c.getresponse().status == 200
        c.close()

        stop = threading.Event()
        sent = [0]

        def traffic():
            while not stop.is_set():
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for _ in range(20):
                    conn.request("GET", "/")
                    conn.getresponse().read()
                    sent[0] += 1
                conn.close()
                stop.wait(0.01)

        t = threading.Thread(target=traffic, daemon=True)
        t.start()
        try:
            url = "http://127.0.0.1:%d/admin/#token=%s" % (aport, TOKEN)
            dom1 = chromium(tmp_path, url, "--dump-dom")
            n1 = sent[0]
            dom2 = chromium(tmp_path, url, "--dump-dom")
            shot = os.path.join(str(tmp_path), "status-page.png")
            chromium(tmp_path, url, "--screenshot=" + shot, "--window-size=1280,900")
        finally:
            stop.set()
            t.join(10)
        assert n1 > 0 and sent[0] > n1

        for dom in (dom1, dom2):
            assert by_id(dom, "err") == "", by_id(dom, "err")
            assert by_id(dom, "gen") == "generation 1"
            pids = sorted(int(x) for x in re.findall(r"\d+", by_id(dom, "workers"))[1:])
            assert pids == p.workers(), by_id(dom, "workers")
            assert re.match(r"^\d+(\.\d)?$", by_id(dom, "rps")), by_id(dom, "rps")
            assert re.match(r"^\d+\.\d\d %$", by_id(dom, "erate")), by_id(dom, "erate")
            # upstream servers: a up (green), b draining (grey)
            assert re.search(r'<tr class="server srv-up"><td>b</td><td>127\.0\.0\.1:%d</td>'
                             % a.port, dom)
            assert re.search(r'<tr class="server srv-drain"><td>b</td><td>127\.0\.0\.1:%d</td>'
                             r'<td><span><span class="dot drain"></span>up \(draining\)'
                             % b.port, dom)
            assert re.search(r"<td>route2</td><td>proxy</td>", dom)
            assert by_id(dom, "cache") == "not enabled"
            assert by_id(dom, "ratelimit") == "not enabled"
        # The total counts the traffic: it grew between the two loads.
        t1, t2 = int(by_id(dom1, "total")), int(by_id(dom2, "total"))
        assert 0 < t1 < t2, (t1, t2)
        assert os.path.getsize(shot) > 10000
        with open(shot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


FAKE_STATUS = {
    "config": {"generation": 3, "workers": {"list": [{"pid": 11, "status": "serving"}]},
               "routes": [{"name": "api", "path": "/api/", "handler": "proxy"}]},
    "upstreams": [{"name": "b", "servers": [
        {"name": "10.0.0.1:80", "health": "down", "drain": False, "inflight": 0,
         "weight": 1, "ejected": True}]}],
    "stats": {"requests": 100, "gateway_errors": 0, "metrics": {}, "routes": [
        {"name": "api", "requests": 100, "errors": 3, "latency_us": {
            "bounds": [1000, 5000, 10000, 50000, "+Inf"], "buckets": [50, 40, 9, 1, 0],
            "count": 100, "sum": 300000}}]},
    "zones": {"cache": {"hits": 75, "misses": 25}, "ratelimit": {"refused": 12},
              "metrics": {"top_consumers": [{"name": "alice", "requests": 10}]}},
    "actions": ["cache.purge"],
}


def test_status_page_shows_module_data(portico, tmp_path):
    """What the page makes of data the modules and labeled metrics will
    give (percentiles from buckets, hit ratio, refusals, top consumers,
    a down server), with the page portico serves and a stand-in API."""
    import http.server
    import json
    port, aport = free_ports(2)
    with Backend(named("a")) as a, Backend(named("b")) as b:
        env = dict(os.environ, PT_TEST_PAGE_TOKEN=TOKEN)
        portico(CONF % dict(port=port, aport=aport, a=a.port, b=b.port),
                ports=[port, aport], env=env)
        c = http.client.HTTPConnection("127.0.0.1", aport, timeout=10)
        c.request("GET", "/admin/")
        page = c.getresponse().read()
        c.close()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body, ctype = (page, "text/html") if self.path == "/ops/" else \
                (json.dumps(FAKE_STATUS).encode(), "application/json")
            self.send_response(200 if self.path in ("/ops/", "/ops/api/status") else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        dom = chromium(tmp_path, "http://127.0.0.1:%d/ops/" % srv.server_address[1],
                       "--dump-dom")
    finally:
        srv.shutdown()
        srv.server_close()
    assert by_id(dom, "err") == ""
    assert by_id(dom, "gen") == "generation 3"
    assert by_id(dom, "cache") == "hit ratio 75.00 % (75 hits, 25 misses)"
    assert by_id(dom, "ratelimit") == "12 requests refused"
    assert by_id(dom, "consumers") == "alice: 10"
    # p50 1 ms, p90 5 ms, p99 10 ms: linear inside the buckets
    assert by_id(dom, "lat") == "1.00 ms / 5.00 ms / 10 ms"
    assert re.search(r"<td>api</td><td>proxy</td><td class=\"n\">[\d.]+</td>"
                     r"<td class=\"n\">[\d.]+ %</td><td class=\"n\">1\.00 ms</td>"
                     r"<td class=\"n\">5\.00 ms</td><td class=\"n\">10 ms</td>", dom), dom
    assert re.search(r'<tr class="server srv-down"><td>b</td><td>10\.0\.0\.1:80</td>'
                     r'<td><span><span class="dot down"></span>down</span></td>'
                     r'<td class="n">0</td><td class="n">1</td><td>yes</td><td>no</td>', dom)
