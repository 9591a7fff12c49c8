"""Access log (issue 3): combined, json (each line parsed as JSON), a custom
format with variables, per-route files and `access_log = false`, refused
requests logged too, and reopen on SIGUSR1.
"""
import json
import os
import re
import signal
import socket
import time

from backends import Backend, Reader, Response, connect, get, read_response, request
from conftest import free_ports, wait_for


def lines(path, n, timeout=5):
    """Wait until path has at least n lines (the worker flushes each second)."""
    def ready():
        try:
            with open(path, "rb") as f:
                got = f.read().splitlines()
        except OSError:
            return None
        return got if len(got) >= n else None
    return wait_for(ready, timeout, what="%d access log lines in %s" % (n, path))


def start(portico, tmp_path, defaults, routes, be=None):
    port = free_ports(1)[0]
    ups = 'upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };' % be.port if be else ""
    p = portico("""
listen = ( "127.0.0.1:%d" );
defaults = { %s };
%s
routes = ( %s );
""" % (port, defaults, ups, routes), ports=[port])
    return p, port


COMBINED = re.compile(
    r'^(?P<addr>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<ref>[^"]*)" '
    r'"(?P<ua>[^"]*)"$')


def test_combined(portico, tmp_path):
    log = tmp_path / "access.log"
    p, port = start(portico, tmp_path, 'access_log = "%s";' % log,
                    '{ path = "/"; return = { status = 200; body = "hello"; }; }')
    resp = get(port, "/a/b?x=1", headers=[("Referer", "http://ref.example/"),
                                           ("User-Agent", 'agent "quoted" \\ 1.0')])
    get(port, "/plain")
    got = lines(log, 2)
    m = COMBINED.match(got[0].decode())
    assert m, got[0]
    assert m["addr"] == "127.0.0.1"
    assert m["request"] == "GET /a/b?x=1 HTTP/1.1"
    assert m["status"] == "200"
    assert int(m["bytes"]) > 0
    assert m["ref"] == "http://ref.example/"
    assert m["ua"] == r"agent \x22quoted\x22 \x5C 1.0"
    m = COMBINED.match(got[1].decode())
    assert m and m["ref"] == "-" and m["ua"] == "-"
    assert resp.status == 200


def test_json_lines_parse(portico, tmp_path):
    log = tmp_path / "access.json"
    be = Backend(lambda req: Response(201, [], b"created!"))
    p, port = start(portico, tmp_path, 'access_log = { path = "%s"; format = "json"; };' % log,
                    '{ name = "api"; path = "/api/"; proxy = "b"; },'
                    '{ name = "home"; path = "/"; return = { status = 200; body = "hi"; }; }',
                    be=be)
    r1 = request(port, b'GET /api/x?q=%22 HTTP/1.1\r\nHost: h.example\r\n'
                 b'User-Agent: ua "with" \\ \t and \xff\xfe\xc3\xa9 bytes\r\n'
                 b'Connection: close\r\n\r\n')
    r2 = get(port, "/", headers=[("X-Request-ID", "rid-1")])
    request(port, b"GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    got = lines(log, 3)
    docs = [json.loads(line.decode("utf-8")) for line in got]
    a, h, bad = docs
    assert a["status"] == 201 and a["method"] == "GET"
    assert a["uri"] == "/api/x?q=%22"
    assert a["protocol"] == "HTTP/1.1"
    assert a["route"] == "api"
    assert a["host"] == "h.example"
    assert a["upstream_addr"] == "127.0.0.1:%d" % be.port
    # Numbers are numbers, consistently: null when there was no upstream.
    assert isinstance(a["upstream_response_time"], (int, float))
    assert a["upstream_response_time"] >= 0
    assert isinstance(a["status"], int) and isinstance(a["bytes_sent"], int)
    assert isinstance(a["request_time"], float) or isinstance(a["request_time"], int)
    assert a["request_id"] == r1.header("x-request-id")
    assert a["remote_addr"] == "127.0.0.1"
    assert a["bytes_sent"] > len(b"created!")
    assert a["user_agent"].startswith('ua "with" \\ \t and ')
    assert a["user_agent"].endswith("\u00e9 bytes")         # valid UTF-8 kept
    assert h["route"] == "home" and h["request_id"] == "rid-1"
    assert h["upstream_addr"] in ("", "-")
    assert h["upstream_response_time"] is None
    assert bad["status"] == 400 and bad["route"] in ("", "-")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", bad["request_id"])
    assert r2.status == 200
    be.close()


def test_long_values_keep_lines_whole(portico, tmp_path):
    """A line is at most 64 KiB: the longest values are cut, each at an
    escape's edge, so a json line still parses and a combined line keeps
    its quotes, and the short values (status, route) stay whole."""
    jlog, clog = tmp_path / "access.json", tmp_path / "access.log"
    p, port = start(portico, tmp_path, "",
                    '{ name = "j"; path = "/j"; return = 204;'
                    '  access_log = { path = "%s"; format = "json"; }; },'
                    '{ name = "c"; path = "/c"; return = 204; access_log = "%s"; }'
                    % (jlog, clog))
    big = [("Referer", "\xff" * 9000), ("User-Agent", '"\\' * 6000)]
    # Paths one byte apart move where the cuts fall against the escapes.
    paths = ["/j" + "x" * k for k in range(6)] + ["/c" + "x" * k for k in range(6)]
    for path in paths:
        raw = b"GET %s HTTP/1.1\r\nHost: a\r\n" % path.encode()
        for k, v in big:
            raw += b"%s: %s\r\n" % (k.encode(), v.encode("latin-1"))
        s = connect(port)
        s.sendall(raw + b"\r\n")
        assert read_response(Reader(s)).status == 204
        s.close()
    for i, line in enumerate(lines(jlog, 6)):
        assert len(line) < 64 * 1024
        doc = json.loads(line.decode("utf-8"))
        assert doc["status"] == 204 and doc["route"] == "j" and doc["uri"] == paths[i]
        assert doc["referer"].startswith("\u00ff") and len(doc["referer"]) < 9000
        assert doc["user_agent"].startswith('"\\"\\')
        # Cut values hold only what was sent: nothing past the last whole escape.
        assert set(doc["referer"]) == {"\u00ff"} and set(doc["user_agent"]) == {'"', "\\"}
    for i, line in enumerate(lines(clog, 6)):
        assert len(line) < 64 * 1024
        m = COMBINED.match(line.decode())
        assert m and m["status"] == "204" and m["request"] == "GET %s HTTP/1.1" % paths[6 + i]
        assert re.fullmatch(r"(\\xFF)+", m["ref"]) and re.fullmatch(r"(\\x22|\\x5C)+", m["ua"])


def test_custom_format_variables(portico, tmp_path):
    log = tmp_path / "custom.log"
    be = Backend()
    fmt = ("$remote_addr|$method|$uri|$query|$request_uri|$status|$request_id|$route|"
           "$upstream_addr|$http_x_custom|$connection_requests|$scheme|$protocol|$host|"
           "$body_bytes_received|${request_time}|$$")
    p, port = start(portico, tmp_path,
                    'access_log = { path = "%s"; format = "%s"; };' % (log, fmt),
                    '{ name = "r1"; path = "/p/"; strip_prefix = true; proxy = "b"; }', be=be)
    with connect(port) as s:
        reader = Reader(s)
        s.sendall(b"GET /p/%2e%2e/p/one?k=v HTTP/1.1\r\nHost: H.example:80\r\n"
                  b"X-Custom: c1\r\n\r\n")
        r1 = read_response(reader)
        s.sendall(b"POST /p/two HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        read_response(reader)
    got = [line.decode().split("|") for line in lines(log, 2)]
    one, two = got
    assert one[:15] == ["127.0.0.1", "GET", "/p/one", "k=v", "/p/%2e%2e/p/one?k=v", "200",
                        r1.header("x-request-id"), "r1", "127.0.0.1:%d" % be.port, "c1",
                        "1", "http", "HTTP/1.1", "H.example:80", "0"]
    assert re.fullmatch(r"\d+\.\d{3}", one[15]) and one[16] == "$"
    assert two[1:4] == ["POST", "/p/two", "-"]
    assert two[9] == "-"                    # absent header
    assert two[10] == "2" and two[14] == "5"
    be.close()


def test_per_route_off_and_files(portico, tmp_path):
    main = tmp_path / "main.log"
    other = tmp_path / "other.log"
    p, port = start(portico, tmp_path, 'access_log = "%s";' % main,
                    '{ path = "/quiet"; access_log = false; return = 204; },'
                    '{ path = "/other"; access_log = { path = "%s"; format = "$uri $status"; };'
                    '  return = 204; },'
                    '{ path = "/"; return = 204; }' % other)
    for path in ("/quiet", "/loud", "/quiet/2", "/other/x", "/loud2"):
        assert get(port, path).status == 204
    got = lines(main, 2)
    assert [l.decode().split('"')[1] for l in got] == ["GET /loud HTTP/1.1",
                                                       "GET /loud2 HTTP/1.1"]
    assert lines(other, 1) == [b"/other/x 204"]
    # Nothing else turns up later.
    p.stop()
    assert len(open(main, "rb").read().splitlines()) == 2


def test_refused_and_aborted_requests_logged(portico, tmp_path):
    log = tmp_path / "access.log"
    p, port = start(portico, tmp_path,
                    'access_log = { path = "%s"; format = "$status [$request] $request_id"; };'
                    % log, '{ path = "/"; return = 204; }')
    request(port, b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n")         # bad target
    request(port, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n")  # NUL
    request(port, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")              # version
    request(port, b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    request(port, b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n")     # 8-bit target
    got = [l.decode() for l in lines(log, 5)]
    statuses = [l.split(" ")[0] for l in got]
    assert statuses == ["400", "400", "505", "400", "400"]
    assert got[0].startswith("400 [GET /a b HTTP/1.1] ")
    assert got[2].startswith("505 [GET / HTTP/2.0] ")
    assert got[4].startswith("400 [GET /caf\\xC3\\xA9 HTTP/1.1] ")
    for l in got:
        assert re.search(r" [0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", l), l
        assert "\r" not in l and "\n" not in l
    assert got[3].startswith("400 [GET / HTTP/1.1]")


def test_reopen_on_sigusr1(portico, tmp_path):
    log = tmp_path / "access.log"
    p, port = start(portico, tmp_path, 'access_log = "%s";' % log,
                    '{ path = "/"; return = 204; }')
    get(port, "/before")
    lines(log, 1)
    os.rename(log, tmp_path / "access.log.1")
    p.send(signal.SIGUSR1)
    wait_for(lambda: log.exists(), 5, what="the log to be reopened")
    get(port, "/after")
    got = lines(log, 1)
    assert b"/after" in got[0]
    old = open(tmp_path / "access.log.1", "rb").read()
    assert b"/before" in old and b"/after" not in old


def test_custom_format_with_json_escaping_is_valid_json(portico, tmp_path):
    """escape = "json" turns a template of one's own into JSON lines: quoted
    values are escaped, bare ones are numbers, or null when unset, or a
    string when a client's text would not be a number (issue 15)."""
    log = tmp_path / "custom.json"
    fmt = ('{\\"ua\\":\\"$http_user_agent\\",\\"status\\":$status,'
           '\\"len\\":$http_content_length,\\"hint\\":$http_x_hint,'
           '\\"t\\":$request_time,\\"path\\":\\"$uri\\"}')
    p, port = start(portico, tmp_path,
                    'access_log = { path = "%s"; escape = "json"; format = "%s"; };' % (log, fmt),
                    '{ name = "home"; path = "/"; return = { status = 200; body = "hi"; }; }')
    hostile = [
        b'GET /a HTTP/1.1\r\nHost: a\r\nUser-Agent: x", "status": 999, "y": "\r\n'
        b'X-Hint: 12\r\nConnection: close\r\n\r\n',
        b'GET /b%22%0a HTTP/1.1\r\nHost: a\r\nUser-Agent: \\"}\xff\xfe{\r\n'
        b'X-Hint: 1e99x, "pwned": true\r\nConnection: close\r\n\r\n',
        b'POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok',
    ]
    for raw in hostile:
        request(port, raw)
    docs = [json.loads(line.decode("utf-8")) for line in lines(log, 3)]
    a, b, c = docs
    assert a["ua"] == 'x", "status": 999, "y": "' and a["status"] == 200
    assert a["hint"] == 12 and a["len"] is None
    assert set(a) == {"ua", "status", "len", "hint", "t", "path"}
    assert b["hint"] == '1e99x, "pwned": true' and "pwned" not in b
    assert isinstance(b["t"], (int, float))
    assert c["len"] == 2 and c["path"] == "/c"


def test_syslog_targets_for_access_and_error_logs(portico, tmp_path):
    """error_log = "syslog:PATH" and access_log = "syslog:PATH" send RFC 5424
    messages, one datagram a line, to a local socket (issue 15)."""
    import shutil
    import tempfile
    # As /dev/log is: reachable and writable by the workers' user.
    d = tempfile.mkdtemp(prefix="portico-syslog-")
    os.chmod(d, 0o755)
    sock_path = os.path.join(d, "log.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(sock_path)
    os.chmod(sock_path, 0o666)
    rx.settimeout(5)
    port = free_ports(1)[0]
    conf = ('portico = { workers = 1; error_log = "syslog:%s"; };\n'
            'listen = ( "127.0.0.1:%d" );\n'
            'routes = ( { path = "/"; return = 204;\n'
            '  access_log = { path = "syslog:%s"; facility = "local3"; format = "$status $uri"; }; } );\n'
            % (sock_path, port, sock_path))
    p = portico(conf, ports=[port], wait=False)
    pat = re.compile(rb"<(\d+)>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) portico (\d+) (\S+) - (.*)",
                     re.S)
    msgs = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            m = rx.recv(65536)
        except socket.timeout:
            break
        msgs.append(m)
        if any(b"started" in x for x in msgs):
            break
    assert any(b"started" in x for x in msgs), msgs
    for m in msgs:
        g = pat.fullmatch(m)
        assert g, m
        assert int(g[1]) // 8 == 3            # facility daemon
        assert g[5] in (b"master", b"worker.0")
    request(port, b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    access = None
    while time.monotonic() < deadline + 5:
        m = rx.recv(65536)
        g = pat.fullmatch(m)
        assert g, m
        if g[5] == b"access":
            access = g
            break
    assert access, "no access line arrived"
    assert int(access[1]) == 19 * 8 + 6       # local3.info
    assert access[6] == b"204 /hello"
    assert int(access[4]) in p.workers()
    rx.close()
    shutil.rmtree(d, ignore_errors=True)
