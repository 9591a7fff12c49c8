"""W3C Trace Context (issue 16): traceparent is validated and forwarded with
the same trace id and portico's own span as the parent; a missing or
malformed one starts a new trace and drops tracestate; tracestate is kept
(checked, empty members dropped) when the trace continues; the ids go to
the access log."""
import re

from backends import Backend, get
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
