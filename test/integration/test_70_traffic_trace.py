"""W3C Trace Context (issue 16): traceparent is validated and forwarded with
the same trace id and portico's own span as the parent; a missing or
malformed one starts a new trace and drops tracestate; tracestate is kept
(checked, empty members dropped) when the trace continues; the ids go to
the access log."""
import re

from backends import Backend, Response, get
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 2; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "off"; path = "/off/"; proxy = "b"; },
  { name = "unsampled"; path = "/u/"; proxy = "b"; tracing = true; trace_sample = 0; },
  { name = "t"; path = "/"; proxy = "b"; tracing = true;
    access_log = { path = "%(log)s"; format = "$uri $trace_id $span_id $parent_span_id $trace_sampled"; }; }
);
"""

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def start(portico, tmp_path):
    be = Backend()
    port = free_ports(1)[0]
    log = tmp_path / "access.log"
    portico(CONF % dict(port=port, be=be.port, log=log), ports=[port])
    return be, port, log


def sent(be, port, path, headers=()):
    r = get(port, path, headers=headers)
    assert r.status == 200
    req = be.requests[-1]
    tps = req.header_all("traceparent")
    assert len(tps) == 1, tps
    m = TP.match(tps[0])
    assert m, tps[0]
    return m.group(1), m.group(2), m.group(3), req.header_all("tracestate")


def test_a_valid_traceparent_continues_the_trace(portico, tmp_path):
    be, port, log = start(portico, tmp_path)
    tid, span, flags, state = sent(be, port, "/a", [
        ("traceparent", "00-%s-%s-01" % (TRACE, PARENT)),
        ("tracestate", "rojo=00f067aa0ba902b7, ,congo=t61rcWkgMzE"),
        ("tracestate", "tenant@vendor=x")])
    assert tid == TRACE and span != PARENT and span != "0" * 16 and flags == "01"
    assert state == ["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant@vendor=x"]
    # A new span per request, same trace.
    tid2, span2, _, _ = sent(be, port, "/b", [("traceparent", "00-%s-%s-00" % (TRACE, PARENT))])
    assert tid2 == TRACE and span2 != span
    # Flags: sampled kept, unknown bits of version 00 not passed on.
    assert sent(be, port, "/c", [("traceparent", "00-%s-%s-00" % (TRACE, PARENT))])[2] == "00"
    assert sent(be, port, "/c", [("traceparent", "00-%s-%s-03" % (TRACE, PARENT))])[2] == "01"
    # A later version is parsed by its version-00 prefix (3.2.4).
    assert sent(be, port, "/d", [("traceparent", "01-%s-%s-01-what-the-future" % (TRACE, PARENT))])[0] == TRACE
    # The log has the ids: trace, our span, the client's span.
    wait_for(lambda: log.exists() and "/a " in log.read_text(), what="access log line")
    line = [ln for ln in log.read_text().splitlines() if ln.startswith("/a ")][0]
    assert line.split() == ["/a", TRACE, span, PARENT, "1"]
    be.close()


def test_a_missing_or_malformed_traceparent_starts_a_new_trace(portico, tmp_path):
    be, port, log = start(portico, tmp_path)
    seen = set()
    bad = ["", "00-%s-%s-01" % (TRACE.upper(), PARENT),            # uppercase hex
           "00-%s-%s-01" % ("0" * 32, PARENT),                     # all-zero trace id
           "00-%s-%s-01" % (TRACE, "0" * 16),                      # all-zero parent
           "ff-%s-%s-01" % (TRACE, PARENT),                        # version ff
           "00-%s-%s-01-x" % (TRACE, PARENT),                      # 00 has no more fields
           "00-%s-%s-1" % (TRACE, PARENT), "00_%s_%s_01" % (TRACE, PARENT),
           "00-%s-%s-0g" % (TRACE, PARENT)]
    for i, v in enumerate(bad):
        hdrs = [("tracestate", "rojo=1")]
        if v:
            hdrs.append(("traceparent", v))
        tid, span, flags, state = sent(be, port, "/n%d" % i, hdrs)
        assert tid != TRACE and tid != "0" * 32 and flags == "01", v
        assert state == [], v           # the state of a refused trace is dropped
        seen.add(tid)
    assert len(seen) == len(bad)        # a random trace id each
    # Two traceparent fields: ambiguous, a new trace.
    assert sent(be, port, "/two", [("traceparent", "00-%s-%s-01" % (TRACE, PARENT)),
                                   ("traceparent", "00-%s-%s-01" % (TRACE, PARENT))])[0] != TRACE
    # New traces on a route with trace_sample = 0 are not sampled.
    assert sent(be, port, "/u/x")[2] == "00"
    wait_for(lambda: log.exists() and "/n0 " in log.read_text(), what="access log line")
    line = [ln for ln in log.read_text().splitlines() if ln.startswith("/n0 ")][0].split()
    assert len(line[1]) == 32 and len(line[2]) == 16 and line[3] == "-"
    be.close()


def test_an_invalid_tracestate_is_dropped_the_trace_kept(portico, tmp_path):
    be, port, _ = start(portico, tmp_path)
    tp = ("traceparent", "00-%s-%s-01" % (TRACE, PARENT))
    for st in ["Upper=1", "a=1,a=2", "novalue", "a=b=c", ",".join("k%d=v" % i for i in range(33)),
               "a=" + "x" * 257]:
        tid, _, _, state = sent(be, port, "/s", [tp, ("tracestate", st)])
        assert tid == TRACE and state == [], st
    # 32 members are fine; too long for 512 bytes: the 128+ byte member goes first.
    st = ",".join("k%d=v" % i for i in range(32))
    assert sent(be, port, "/s", [tp, ("tracestate", st)])[3] == [st]
    big = "big=" + "x" * 200
    rest = ",".join("m%02d=%s" % (i, "y" * 20) for i in range(15))
    state = sent(be, port, "/s", [tp, ("tracestate", big + "," + rest)])[3]
    assert state == [rest]
    be.close()


def test_tracing_off_forwards_nothing_new(portico, tmp_path):
    be, port, _ = start(portico, tmp_path)
    get(port, "/off/x", headers=[("traceparent", "00-%s-%s-01" % (TRACE, PARENT))])
    assert be.requests[-1].header_all("traceparent") == ["00-%s-%s-01" % (TRACE, PARENT)]
    get(port, "/off/y")
    assert be.requests[-1].header("traceparent") is None
    be.close()


EXPORT_CONF = """
portico = { workers = 1; trace_export_upstream = "collector"; trace_export_interval = "%(iv)s";
            trace_export_queue = %(queue)d; trace_service_name = "edge"; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; };
              collector = { servers = [ "127.0.0.1:%(col)d" ]; }; };
routes = (
  { name = "unsampled"; path = "/u/"; proxy = "b"; tracing = true; trace_sample = 0; },
  { name = "api"; path = "/"; proxy = "b"; tracing = true; }
);
"""


def spans_of(col):
    import json
    out = []
    for req in list(col.requests):
        assert req.method == "POST" and req.target == "/v1/traces"
        assert req.header("content-type") == "application/json"
        doc = json.loads(req.body)
        rs = doc["resourceSpans"][0]
        assert rs["resource"]["attributes"][0] == {"key": "service.name",
                                                   "value": {"stringValue": "edge"}}
        out.append(rs["scopeSpans"][0]["spans"])
    return out


def test_sampled_spans_are_exported_as_otlp_json(portico, tmp_path):
    be = Backend()
    col = Backend(lambda req: Response(200, [("Content-Type", "application/json")], b"{}"))
    port = free_ports(1)[0]
    portico(EXPORT_CONF % dict(port=port, be=be.port, col=col.port, iv="100ms", queue=100),
            ports=[port])
    tid, span, _, _ = sent(be, port, "/a?x=1", [("traceparent", "00-%s-%s-01" % (TRACE, PARENT))])
    sent(be, port, "/u/not-sampled")
    for i in range(3):
        sent(be, port, "/n%d" % i)
    wait_for(lambda: sum(len(s) for s in spans_of(col)) >= 4, what="exported spans")
    spans = [s for batch in spans_of(col) for s in batch]
    assert len(spans) == 4                  # the unsampled one is not exported
    first = [s for s in spans if s["traceId"] == TRACE][0]
    assert first["spanId"] == span and first["parentSpanId"] == PARENT
    assert first["name"] == "GET api" and first["kind"] == 2
    attrs = {a["key"]: a["value"] for a in first["attributes"]}
    assert attrs["url.path"] == {"stringValue": "/a"}
    assert attrs["http.response.status_code"] == {"intValue": "200"}
    assert int(first["endTimeUnixNano"]) >= int(first["startTimeUnixNano"]) > 1.6e18
    assert all("parentSpanId" not in s for s in spans if s["traceId"] != TRACE)
    be.close()
    col.close()


def test_a_full_export_queue_drops_spans_never_requests(portico, tmp_path):
    be = Backend()
    col = Backend(lambda req: Response(200, [], b""))
    port = free_ports(1)[0]
    p = portico(EXPORT_CONF % dict(port=port, be=be.port, col=col.port, iv="500ms", queue=2),
                ports=[port])
    for i in range(8):
        assert get(port, "/q%d" % i).status == 200
    wait_for(lambda: "spans dropped" in p.log(), what="the drop warning")
    wait_for(lambda: col.requests, what="an export")
    assert all(len(b) <= 2 for b in spans_of(col))
    # A collector that is down: requests are served all the same.
    col.close()
    for i in range(5):
        assert get(port, "/down%d" % i).status == 200
    be.close()


SAMPLE_CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
routes = ( { path = "/"; tracing = true; trace_sample = 56; return = 204;
             response_headers = { set = [ "X-Sampled: $trace_sampled" ]; }; } );
"""


def test_trace_sample_is_the_share_of_new_traces(portico):
    import http.client
    port = free_ports(1)[0]
    portico(SAMPLE_CONF % dict(port=port), ports=[port])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n, sampled = 1500, 0
    for _ in range(n):
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        sampled += r.getheader("X-Sampled") == "1"
    c.close()
    # 56 % of 1500 is 840 (sd 19); a draw of one byte % 100 gave 65.6 % (984).
    assert 760 <= sampled <= 920, sampled


def test_a_retiring_worker_posts_what_it_holds(portico, tmp_path):
    be = Backend()
    col = Backend(lambda req: Response(200, [("Content-Type", "application/json")], b"{}"))
    port = free_ports(1)[0]
    conf = EXPORT_CONF % dict(port=port, be=be.port, col=col.port, iv="1h", queue=2048)
    p = portico(conf, ports=[port])
    old = p.workers()
    # More than one POST holds (512), and no timer fires before the reload.
    n = 700
    for i in range(n):
        assert get(port, "/r%d" % i).status == 200
    assert col.requests == []
    p.reload(conf)
    p.wait_workers(1, exclude=old)
    got = lambda: sum(len(s) for s in spans_of(col))
    wait_for(lambda: got() >= n, timeout=10, what="the retiring worker's spans")
    assert got() == n
    # Released once posted: it does not wait for drain_timeout to exit.
    import os
    def gone():
        for pid in old:
            try:
                os.kill(pid, 0)
                return False
            except ProcessLookupError:
                pass
        return True
    wait_for(gone, timeout=5, what="the old worker's exit")
    be.close()
    col.close()


def test_a_request_that_ends_while_its_worker_drains_is_exported(portico, tmp_path):
    import threading
    import time

    def slow(req):
        if req.target.startswith("/slow"):
            time.sleep(1.5)
        return Response(200, [("Content-Type", "text/plain")], b"ok")
    be = Backend(slow)
    col = Backend(lambda req: Response(200, [("Content-Type", "application/json")], b"{}"))
    port = free_ports(1)[0]
    conf = EXPORT_CONF % dict(port=port, be=be.port, col=col.port, iv="1h", queue=2048)
    p = portico(conf, ports=[port])
    old = p.workers()
    done = []
    t = threading.Thread(target=lambda: done.append(get(port, "/slow").status))
    t.start()
    wait_for(lambda: any(r.target == "/slow" for r in be.requests), what="the slow request")
    p.reload(conf)
    p.wait_workers(1, exclude=old)
    t.join(10)
    assert done == [200]
    # Its span is queued after the retire: it is posted all the same.
    wait_for(lambda: [s for b in spans_of(col) for s in b], timeout=10,
             what="the span of the drained request")
    spans = [s for b in spans_of(col) for s in b]
    assert len(spans) == 1 and spans[0]["attributes"][1]["value"] == {"stringValue": "/slow"}
    be.close()
    col.close()
