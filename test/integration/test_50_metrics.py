"""Metrics (issue 16): counters in shared memory summed over 4 workers
against known traffic, the /metrics exposition checked by a strict parser
of the text format (test/integration/promtext.py; promtool when present),
histograms consistent, label escaping, upstream and auth counters,
per-consumer counts with the cap ("other"), values kept across SIGHUP,
and metrics = false."""
import http.client
import signal
import socket

import promtext
from backends import Backend, Response
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 4; %(main)s
  consumers = ( { name = "alice"; api_keys = [ "k-alice" ]; },
                { name = "bob"; api_keys = [ "k-bob" ]; },
                { name = "carol"; api_keys = [ "k-carol" ]; } );
};
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(dead)d", "127.0.0.1:%(be)d" ];
                    retry_on = [ "connect" ]; retries = 1; retry_budget = 100;
                    max_fails = 0; }; };
routes = (
  { name = "metrics"; path = "/metrics"; metrics_endpoint = true; },
  { name = "api"; path = "/api"; return = { status = 200; body = "ok"; }; },
  { name = "say \\"hi\\"\\\\"; path = "/q"; return = 204; },
  { name = "keyed"; path = "/keyed"; api_key = true; return = { status = 200; body = "k"; }; },
  { name = "up"; path = "/up"; proxy = "b"; retry_non_idempotent = true; }
);
"""


def dead_port():
    """A port nothing listens on (connect is refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(portico, main="", backend_port=1):
    port = free_ports(1)[0]
    conf = CONF % dict(port=port, main=main, be=backend_port, dead=dead_port())
    p = portico(conf, ports=[port])
    p.port = port
    p.conf = conf
    p.wait_workers(4)
    return p


def send(port, path, method="GET", headers=None, body=None):
    """One request on a connection of its own, so the kernel spreads them
    over the workers."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=dict(headers or {}, Connection="close"))
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def scrape(port):
    r, data = send(port, "/metrics")
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    return promtext.parse(data.decode())


def settled(port, family, expect, at_least=False, **labels):
    """Scrape until a sample reaches its expected value: a worker counts a
    request in its log hook, just after the client has the response, so a
    scrape on another connection may come a moment before. Returns the last
    scrape."""
    last = {}

    def reached():
        last["f"] = scrape(port)
        v = promtext.value(last["f"], family, **labels)
        return v is not None and (v >= expect if at_least else v == expect)
    try:
        wait_for(reached, 5, what="%s%r == %r" % (family, labels, expect))
    except AssertionError:
        pass                # the caller's assertion says what differs
    return last["f"]


def req_count(fams, route, code="2xx", method="GET"):
    return promtext.value(fams, "portico_http_requests_total", route=route, code=code,
                          method=method)


def test_counts_summed_over_workers_and_histograms(portico):
    p = start(portico)
    n = 120
    for _ in range(n):
        assert send(p.port, "/api")[0].status == 200
    for _ in range(7):
        assert send(p.port, "/api", "POST", body=b"12345")[0].status == 200
    for _ in range(3):
        assert send(p.port, "/nowhere")[0].status == 404
    fams = settled(p.port, "portico_http_requests_total", 3, route="", code="4xx",
                   method="GET")
    assert req_count(fams, "api") == n
    assert req_count(fams, "api", method="POST") == 7
    assert req_count(fams, "", code="4xx") == 3                 # no route matched
    assert promtext.value(fams, "portico_http_response_bytes_total", route="api") > 127 * 2
    h = promtext.histogram(fams, "portico_http_request_duration_seconds", route="api")
    assert h["count"] == n + 7 and h["buckets"][-1] == (float("inf"), n + 7)
    assert [le for le, _ in h["buckets"]][:3] == [0.005, 0.01, 0.025]
    assert fams["portico_http_request_duration_seconds"]["type"] == "histogram"
    assert fams["portico_http_requests_total"]["type"] == "counter"
    # the counts really come from several workers' slots
    assert promtext.value(fams, "portico_requests_total") >= n + 10
    # scrapes are counted on their own route (each in its log hook, a
    # moment after its answer; settled made one or more)
    seen = wait_for(lambda: req_count(scrape(p.port), "metrics"), 5, what="scrapes counted")
    wait_for(lambda: req_count(scrape(p.port), "metrics") > seen, 5, what="the next scrape")


def test_label_values_are_escaped(portico):
    p = start(portico)
    assert send(p.port, "/q")[0].status == 204
    settled(p.port, "portico_http_requests_total", 1, route='say "hi"\\', code="2xx",
            method="GET")
    r, data = send(p.port, "/metrics")
    text = data.decode()
    assert 'route="say \\"hi\\"\\\\",code="2xx",method="GET"} 1\n' in text
    fams = promtext.parse(text)
    assert req_count(fams, 'say "hi"\\') == 1


def test_upstream_requests_errors_retries(portico):
    with Backend(lambda req: Response(200, [("Content-Type", "text/plain")], b"up")) as be:
        p = start(portico, backend_port=be.port)
        dead = p.conf.split('servers = [ "127.0.0.1:')[1].split('"')[0]
        n = 12
        for _ in range(n - 3):
            assert send(p.port, "/up")[0].status == 200
        for _ in range(3):
            assert send(p.port, "/up", "POST", body=b"12345")[0].status == 200
        fams = settled(p.port, "portico_http_requests_total", 3, route="up", code="2xx",
                       method="POST")
        assert promtext.value(fams, "portico_http_request_body_bytes_total", route="up") == 15
        live = "127.0.0.1:%d" % be.port
        dead = "127.0.0.1:" + dead
        tries_live = promtext.value(fams, "portico_upstream_requests_total", upstream="b",
                                    server=live)
        tries_dead = promtext.value(fams, "portico_upstream_requests_total", upstream="b",
                                    server=dead) or 0
        assert tries_live == n == len(be.requests)
        assert tries_dead >= 1                    # round-robin: some went there first
        assert promtext.value(fams, "portico_upstream_errors_total", upstream="b",
                              server=dead) == tries_dead
        # every try on the dead server was retried on the live one
        assert promtext.value(fams, "portico_upstream_retries_total", upstream="b",
                              server=live) == tries_dead
        h = promtext.histogram(fams, "portico_upstream_response_duration_seconds",
                               upstream="b", server=live)
        assert h["count"] == n
        c = promtext.histogram(fams, "portico_upstream_connect_duration_seconds",
                               upstream="b", server=live)
        assert 1 <= c["count"] <= n


def test_consumers_capped_and_auth_counts(portico):
    p = start(portico, main="metrics_consumers = 2;")
    for key, times in (("k-alice", 5), ("k-bob", 3), ("k-carol", 4)):
        for _ in range(times):
            assert send(p.port, "/keyed", headers={"X-API-Key": key})[0].status == 200
    for _ in range(2):
        assert send(p.port, "/keyed", headers={"X-API-Key": "nope"})[0].status == 401
    fams = settled(p.port, "portico_http_requests_total", 2, route="keyed", code="4xx",
                   method="GET")
    per = {dict(ls)["consumer"]: v for (n, ls), v in
           fams["portico_consumer_requests_total"]["samples"].items()}
    # two consumers get series of their own (whichever came first), the third is "other"
    assert sorted(per.values()) == sorted([5, 3, 4]) and len(per) == 3
    assert set(per) - {"alice", "bob", "carol"} == {"other"}
    assert promtext.value(fams, "portico_consumer_requests_total", consumer="alice",
                          code="2xx") == 5
    h = promtext.histogram(fams, "portico_consumer_request_duration_seconds", consumer="alice")
    assert h["count"] == 5
    assert promtext.value(fams, "portico_auth_accepted_total", mechanism="api_key") == 12
    assert promtext.value(fams, "portico_auth_refused_total", mechanism="api_key",
                          reason="unknown API key") == 2
    # no key, no secret: the label values are the consumers' names
    text = send(p.port, "/metrics")[1].decode()
    assert "k-alice" not in text and "nope" not in text


def test_values_survive_reload(portico):
    p = start(portico)
    for _ in range(10):
        send(p.port, "/api")
    old = p.workers()
    start_at = len(p.log())
    p.send(signal.SIGHUP)
    p.wait_log("generation 2", start=start_at)
    wait_for(lambda: not set(p.workers()) & set(old) and len(p.workers()) == 4,
             15, what="new generation")
    send(p.port, "/api")
    fams = settled(p.port, "portico_http_requests_total", 11, route="api", code="2xx",
                   method="GET")
    assert req_count(fams, "api") == 11


def test_metrics_off(portico):
    p = start(portico, main="metrics = false;")
    for _ in range(5):
        assert send(p.port, "/api")[0].status == 200
    fams = settled(p.port, "portico_requests_total", 5, at_least=True)
    assert req_count(fams, "api") is None
    assert "portico_http_requests_total" not in fams
    assert promtext.value(fams, "portico_requests_total") >= 5     # the core's still count


def test_parser_rejects_malformed_text():
    good = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\"} 1\n"
    promtext.parse(good, promtool=False)
    bad = [
        "a_total 1",                                        # no final newline
        "# TYPE a_total counter\na_total{l=\"v} 1\n",       # unterminated value
        "# TYPE a_total counter\na_total{l=\"\\x\"} 1\n",   # bad escape
        "# TYPE a_total counter\na_total 1 2 3\n",
        "# TYPE a_total counter\na_total one\n",
        "# TYPE a counter\na 1\n",                          # counter without _total
        "# TYPE a_total counter\na_total 1\na_total 2\n",   # duplicate
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 1\nh_count 1\n",                             # not cumulative
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        "# TYPE a_total counter\na_total 1\n# TYPE b_total counter\nb_total 1\na_total 2\n",
        "# TYPE 1a_total counter\n",
    ]
    for text in bad:
        try:
            promtext.parse(text, promtool=False)
        except promtext.FormatError:
            continue
        raise AssertionError("accepted: %r" % text)


def test_connections_by_listener(portico):
    p = start(portico)
    socks = []
    for _ in range(3):              # keep-alive connections left idle after a request
        s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        s.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"ok"):
            data += s.recv(4096)
        socks.append(s)
    half = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    half.sendall(b"GET /api HTTP/1.1\r\n")          # a head in progress: active
    socks.append(half)
    listener = "127.0.0.1:%d" % p.port

    def gauges(idle, active):
        """Scrape until one scrape shows both: the half head is accepted a
        moment after connect returns, and an earlier scrape's connection
        is counted until its worker sees it closed."""
        last = {}

        def match():
            f = last["f"] = scrape(p.port)
            return (promtext.value(f, "portico_connections", listener=listener,
                                   state="idle") == idle
                    and promtext.value(f, "portico_connections", listener=listener,
                                       state="active") == active)
        try:
            wait_for(match, 10, what="idle %d and active %d" % (idle, active))
        except AssertionError:
            pass                # the assertions below say what differs
        return last["f"]
    fams = gauges(3, 2)
    assert promtext.value(fams, "portico_connections", listener=listener, state="idle") == 3
    # the half head and the scrape's own connection
    assert promtext.value(fams, "portico_connections", listener=listener, state="active") == 2
    assert fams["portico_connections"]["type"] == "gauge"
    accepted = promtext.value(fams, "portico_connections_accepted_total", listener=listener)
    assert accepted >= 5
    for s in socks:
        s.close()
    fams = gauges(0, 1)
    assert promtext.value(fams, "portico_connections", listener=listener, state="idle") == 0
    assert promtext.value(fams, "portico_connections", listener=listener, state="active") == 1


def test_tls_handshakes_and_resumptions(portico, tmp_path):
    import ssl
    import subprocess
    key, crt = str(tmp_path / "k.pem"), str(tmp_path / "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    tls_port, port = free_ports(2)
    conf = """portico = { workers = 4; };
listen = ( { name = "tls"; address = "127.0.0.1:%d";
             tls = { certificates = ( { cert = "%s"; key = "%s"; } ); }; },
           { name = "plain"; address = "127.0.0.1:%d"; } );
routes = ( { name = "metrics"; path = "/metrics"; metrics_endpoint = true; },
           { name = "api"; path = "/"; return = 204; } );
""" % (tls_port, crt, key, port)
    p = portico(conf, ports=[tls_port, port])
    p.wait_workers(4)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    session, reused = None, 0
    for _ in range(4):
        raw = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
            reused += s.session_reused
            session = s.session
    assert reused == 3
    fams = settled(port, "portico_tls_handshakes_total", 4, listener="tls")
    assert promtext.value(fams, "portico_tls_handshakes_total", listener="tls") == 4
    assert promtext.value(fams, "portico_tls_resumptions_total", listener="tls") == 3
    assert promtext.value(fams, "portico_tls_handshakes_total", listener="plain") is None


def test_rate_limit_refusals_by_limit(portico):
    port = free_ports(1)[0]
    conf = """portico = { workers = 4; };
listen = ( "127.0.0.1:%d" );
routes = ( { name = "metrics"; path = "/metrics"; metrics_endpoint = true; },
  { name = "api"; path = "/"; return = 204;
    limits = ( { name = "tight"; zone = "rl:1M"; key = "$remote_addr"; rate = "1r/m";
                 burst = 2; },
               { name = "watch"; zone = "rl:1M"; key = "$remote_addr"; rate = "1r/m";
                 burst = 1; dry_run = true; } ); },
  { name = "paced"; path = "/paced"; return = 204;
    limits = ( { name = "paced"; zone = "rl:1M"; rate = "2r/s"; burst = 5; delay = 0; } ); } );
""" % port
    p = portico(conf, ports=[port])
    p.wait_workers(4)
    codes = [send(port, "/x")[0].status for _ in range(6)]
    assert codes.count(204) == 3 and codes.count(429) == 3, codes
    fams = settled(port, "portico_limit_refusals_total", 3, limit="tight", mode="enforce")
    assert promtext.value(fams, "portico_limit_refusals_total", limit="tight",
                          mode="enforce") == 3
    # the dry-run limit would have refused all but its first (burst 1)
    assert promtext.value(fams, "portico_limit_refusals_total", limit="watch",
                          mode="dry_run") >= 2
    # What each limit let through: tight all three that passed; watch its
    # burst + 1 of them (it would have refused the third); none of the refused.
    assert promtext.value(fams, "portico_limit_requests_total", limit="tight",
                          result="allowed") == 3
    assert promtext.value(fams, "portico_limit_requests_total", limit="watch",
                          result="allowed") == 2
    # One at once, then each waits its turn (one every 500 ms).
    codes = [send(port, "/paced")[0].status for _ in range(3)]
    assert codes == [204, 204, 204], codes
    fams = settled(port, "portico_limit_requests_total", 2, limit="paced", result="delayed")
    assert promtext.value(fams, "portico_limit_requests_total", limit="paced",
                          result="allowed") == 1
    assert promtext.value(fams, "portico_limit_requests_total", limit="paced",
                          result="delayed") == 2


def test_cache_results_by_cache(portico):
    with Backend(lambda req: Response(200, [("Content-Type", "text/plain"),
                                            ("Cache-Control", "max-age=60")], b"c")) as be:
        port = free_ports(1)[0]
        conf = """portico = { workers = 4; };
listen = ( "127.0.0.1:%d" );
upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };
routes = ( { name = "metrics"; path = "/metrics"; metrics_endpoint = true; },
  { name = "c"; path = "/"; proxy = "b"; cache_zone = "c1:4M"; cache_name = "edge"; } );
""" % (port, be.port)
        p = portico(conf, ports=[port])
        p.wait_workers(4)
        assert send(port, "/x")[0].getheader("Cache-Status").startswith("edge; fwd=uri-miss")
        for _ in range(3):
            assert send(port, "/x")[0].getheader("Cache-Status").startswith("edge; hit")
        r, _ = send(port, "/x", "POST", body=b"1")
        post_status = r.getheader("Cache-Status")
        fams = settled(port, "portico_cache_responses_total", 3, cache="edge", result="hit")
        v = {dict(ls)["result"]: x for (n, ls), x in
             fams["portico_cache_responses_total"]["samples"].items()}
        # a POST goes by the cache (Cache-Status fwd=request)
        assert "fwd=request" in post_status
        assert v == {"miss": 1, "hit": 3, "bypass": 1}, v


def test_the_exposition_reads_with_prometheus_client(portico):
    """The text parses with the Prometheus project's own Python parser
    (Debian's python3-prometheus-client), and the values it reads agree."""
    import pytest
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        pytest.skip("python3-prometheus-client is not installed")
    p = start(portico)
    for _ in range(9):
        assert send(p.port, "/api")[0].status == 200
    settled(p.port, "portico_http_requests_total", 9, route="api", code="2xx", method="GET")
    r, data = send(p.port, "/metrics")
    fams = {f.name: f for f in text_string_to_metric_families(data.decode())}
    # prometheus_client names a counter family without its _total.
    req = fams["portico_http_requests"]
    assert req.type == "counter"
    got = [s.value for s in req.samples if s.name == "portico_http_requests_total"
           and s.labels == {"route": "api", "code": "2xx", "method": "GET"}]
    assert got == [9.0], got
    hist = fams["portico_http_request_duration_seconds"]
    assert hist.type == "histogram"
    buckets = [s for s in hist.samples if s.name.endswith("_bucket") and s.labels["route"] == "api"]
    count = [s.value for s in hist.samples if s.name.endswith("_count")
             and s.labels["route"] == "api"]
    assert buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == count[0]
