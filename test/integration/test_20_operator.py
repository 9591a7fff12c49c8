"""Operator experience (issue 15): hazards a first-day operator met.
A second instance on the same address is refused, `-s reload` on a broken
config says what is broken and signals nothing, and -t opens what a start
would open."""
import os
import re
import subprocess

from conftest import BIN, free_ports, run_portico, wait_for

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
routes = ( { path = "/"; return = 204; } );
"""


def test_second_instance_on_the_same_address_is_refused(portico, tmp_path):
    port = free_ports(1)[0]
    first = portico(CONF % dict(port=port), ports=[port])
    conf = tmp_path / "second.conf"
    conf.write_text('portico = { workers = 1; error_log = "%s"; };\n'
                    'listen = ( "127.0.0.1:%d" );\nroutes = ( { path = "/"; return = 204; } );\n'
                    % (tmp_path / "second.err", port))
    r = subprocess.run([BIN, "-F", "-c", str(conf), "-p", str(tmp_path / "second.pid")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "127.0.0.1:%d" % port in out and "already in use" in out
    # The holder is named: the first master or one of its workers.
    holders = {first.pid} | set(first.workers())
    assert any("pid %d" % p in out for p in holders), out
    assert not os.path.exists(tmp_path / "second.pid")


def test_reload_of_the_same_master_still_works(portico):
    port = free_ports(1)[0]
    p = portico(CONF % dict(port=port), ports=[port])
    before = p.workers()
    r = run_portico("-s", "reload", "-c", p.conf_path, "-p", p.pidfile)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: p.workers() and not set(p.workers()) & set(before), timeout=10,
             what="the new generation")
    assert "reload failed" not in p.log()


def test_signal_reload_on_a_broken_config_names_the_error(portico, tmp_path):
    port = free_ports(1)[0]
    p = portico(CONF % dict(port=port), ports=[port])
    broken = tmp_path / "broken.conf"
    broken.write_text(CONF % dict(port=port) + "\nroutes = ( { path = ; } );\n")
    r = run_portico("-s", "reload", "-c", str(broken))
    assert r.returncode != 0
    # The config's own error comes first, with file:line; nothing about a pid file.
    assert str(broken) in r.stderr and ":6" in r.stderr.splitlines()[0], r.stderr
    assert "not signalling" in r.stderr
    assert "pid file" not in r.stderr
    assert "reloading" not in p.log()


def test_t_refuses_an_access_log_that_cannot_be_opened(tmp_path):
    port = free_ports(1)[0]
    conf = tmp_path / "p.conf"
    conf.write_text((CONF % dict(port=port)).replace(
        "return = 204;", 'return = 204; access_log = "/proc/nonexistent/access.log";'))
    r = run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))
    assert r.returncode != 0
    assert "/proc/nonexistent/access.log" in r.stderr and "test failed" in r.stderr
    # A log whose directories do not exist yet is fine: the start makes them,
    # and -t itself creates nothing.
    conf.write_text((CONF % dict(port=port)).replace(
        "return = 204;", 'return = 204; access_log = "%s";' % (tmp_path / "new" / "a.log")))
    r = run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(tmp_path / "new")
    assert os.listdir(tmp_path) == ["p.conf"]


def test_t_refuses_a_pid_file_that_cannot_be_made(tmp_path):
    port = free_ports(1)[0]
    conf = tmp_path / "p.conf"
    conf.write_text(CONF % dict(port=port))
    r = run_portico("-t", "-c", str(conf), "-p", "/proc/nonexistent/portico.pid")
    assert r.returncode != 0
    assert "pid file /proc/nonexistent/portico.pid" in r.stderr


def test_request_ids_are_random_uuids(portico):
    """Generated ids are UUIDv7 text: 10,000 of them over one connection
    are all different and do not count up, so none tells another."""
    import re
    import socket
    port = free_ports(1)[0]
    portico((CONF % dict(port=port)).replace('"127.0.0.1:%d"' % port,
            '{ address = "127.0.0.1:%d"; keepalive_requests = 20000; }' % port), ports=[port])
    ids = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        buf = b""
        for batch in range(20):
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 500)
            want = (batch + 1) * 500
            while len(ids) < want:
                data = s.recv(65536)
                assert data, "connection closed after %d responses" % len(ids)
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    m = re.search(rb"(?im)^x-request-id: *(\S+)", head)
                    assert m, head
                    ids.append(m.group(1).decode())
    assert len(ids) == 10000
    uuid7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    assert all(uuid7.fullmatch(i) for i in ids), ids[:3]
    assert len(set(ids)) == len(ids)
    tails = [int(i[-12:], 16) for i in ids]
    assert sum(1 for a, b in zip(tails, tails[1:]) if b - a == 1) == 0


def _t(tmp_path, text, name="p.conf"):
    conf = tmp_path / name
    conf.write_text(text)
    return run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid")), str(conf)


def test_unknown_settings_get_a_did_you_mean(tmp_path):
    r, conf = _t(tmp_path, 'portico = { workres = 1; };\n'
                           'listen = ( { address = "127.0.0.1:1"; keepalive_timout = "5s"; } );\n'
                           'upstream = { };\nroutes = ( { path = "/"; return = 204; } );\n')
    assert r.returncode != 0
    assert '%s:1: unknown setting "workres" in portico (did you mean "workers"?)' % conf \
        in r.stderr
    assert '%s:2: unknown setting "keepalive_timout" (did you mean "keepalive_timeout"?)' \
        % conf in r.stderr
    assert '%s:3: unknown setting "upstream" (did you mean "upstreams"?)' % conf in r.stderr
    r, conf = _t(tmp_path, 'listen = ( "127.0.0.1:1" );\n'
                           'routes = ( { path = "/"; retrun = 204; xyzzy = 1; } );\n')
    assert 'unknown setting "retrun" (did you mean "return"?)' in r.stderr
    # No hint when nothing is close.
    assert re.search(r'unknown setting "xyzzy"\n', r.stderr), r.stderr


def test_syntax_errors_name_the_duplicate_and_the_unclosed_group(tmp_path):
    r, conf = _t(tmp_path, 'portico = { workers = 1;\n  workers = 2; };\n'
                           'listen = ( "127.0.0.1:1" );\n')
    assert '%s:2: duplicate setting "workers"' % conf in r.stderr, r.stderr
    r, conf = _t(tmp_path, 'portico = { workers = 1;\nlisten = ( "127.0.0.1:1" );\n'
                           'routes = ( { path = "/"; return = 204; } );\n')
    assert 'the "{" opened at line 1 is never closed' in r.stderr, r.stderr


def test_c_on_a_directory_or_an_empty_file(tmp_path):
    r = run_portico("-t", "-c", str(tmp_path))
    assert r.returncode != 0 and "is a directory" in r.stderr
    r, conf = _t(tmp_path, "")
    assert r.returncode != 0 and "no listen section" in r.stderr, r.stderr


def test_environment_variables_in_strings(tmp_path, portico):
    """${NAME} and ${NAME:-default} are expanded at load and shown by -T; an
    unset variable without a default is an error at its line, and lowercase
    ${name} stays a request variable."""
    port = free_ports(1)[0]
    text = ('portico = { workers = 1; };\n'
            'listen = ( "${PT_TEST_ADDR}" );\n'
            'routes = ( { path = "/"; return = { status = 200;\n'
            '  body = "${PT_TEST_GREETING:-hello} from $${PT_TEST_ADDR} to ${remote_addr}"; }; } );\n')
    conf = tmp_path / "env.conf"
    conf.write_text(text)
    env = dict(os.environ, PT_TEST_ADDR="127.0.0.1:%d" % port)
    env.pop("PT_TEST_GREETING", None)
    r = subprocess.run([BIN, "-T", "-c", str(conf), "-p", str(tmp_path / "p.pid")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert 'address = "127.0.0.1:%d";' % port in r.stdout
    assert 'body = "hello from $${PT_TEST_ADDR} to ${remote_addr}";' in r.stdout

    env.pop("PT_TEST_ADDR")
    r = subprocess.run([BIN, "-t", "-c", str(conf), "-p", str(tmp_path / "p.pid")],
                       capture_output=True, text=True, env=env)
    assert r.returncode != 0
    assert "%s:2: environment variable PT_TEST_ADDR is not set" % conf in r.stderr

    # A running gateway answers with the expanded text.
    import http.client
    p = portico(text, ports=[port],
                env=dict(os.environ, PT_TEST_ADDR="127.0.0.1:%d" % port, PT_TEST_GREETING="hi"))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/")
    body = c.getresponse().read().decode()
    assert body == "hi from ${PT_TEST_ADDR} to 127.0.0.1", body


def _title(pid):
    """What ps shows for pid; "" for a process that has just exited (an
    idle worker of the old generation leaves during a reload)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except (ProcessLookupError, FileNotFoundError):
        return ""


def test_process_titles_say_what_each_process_is(portico):
    import socket
    port = free_ports(1)[0]
    p = portico(CONF.replace("workers = 1", "workers = 2") % dict(port=port), ports=[port])
    assert _title(p.pid) == "portico: master process -F -c %s -p %s" % (p.conf_path, p.pidfile)
    with open("/proc/%d/comm" % p.pid) as f:
        assert f.read().strip() == "portico-master"
    workers = wait_for(lambda: len(p.workers()) == 2 and p.workers(), what="two workers")
    assert sorted(_title(w) for w in workers) == [
        "portico: worker process 0 (generation 1)", "portico: worker process 1 (generation 1)"]
    # A worker of the old generation holding a connection shows it retires.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        s.recv(4096)
        r = run_portico("-s", "reload", "-c", p.conf_path, "-p", p.pidfile)
        assert r.returncode == 0, r.stderr

        def titles():
            t = [_title(w) for w in p.workers()]
            return any(x.startswith("portico: retiring worker process") for x in t) and \
                sum(x.endswith("(generation 2)") for x in t) == 2 and t
        t = wait_for(titles, timeout=10, what="a retiring worker beside generation 2")
        assert any(re.fullmatch(r"portico: retiring worker process [01] \(generation 1\)", x)
                   for x in t), t


def test_relative_paths_are_taken_from_the_config_directory(tmp_path, portico):
    """pidfile, error_log and access logs written relative are placed next to
    the configuration file, wherever portico is started from."""
    import http.client
    port = free_ports(1)[0]
    d = tmp_path / "etc"
    d.mkdir()
    conf = d / "portico.conf"
    conf.write_text('portico = { workers = 1; pidfile = "run/p.pid"; error_log = "log/error.log"; };\n'
                    'listen = ( "127.0.0.1:%d" );\n'
                    'routes = ( { path = "/"; return = 204; access_log = "log/access.log"; } );\n'
                    % port)
    r = subprocess.run([BIN, "-T", "-c", str(conf)], capture_output=True, text=True,
                       cwd="/")
    assert r.returncode == 0, r.stderr
    assert 'pidfile = "%s/run/p.pid";' % d in r.stdout
    assert 'error_log = "%s/log/error.log";' % d in r.stdout
    proc = subprocess.Popen([BIN, "-F", "-c", str(conf)], cwd="/", stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(d / "run" / "p.pid"), timeout=10, what="the pid file")
        wait_for(lambda: os.path.exists(d / "log" / "error.log"), timeout=5, what="error log")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        wait_for(lambda: _try(c), timeout=5, what="an answer")
        wait_for(lambda: os.path.exists(d / "log" / "access.log")
                 and (d / "log" / "access.log").read_text(), timeout=5, what="the access line")
        with open(d / "run" / "p.pid") as f:
            assert int(f.read()) == proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _try(c):
    try:
        c.request("GET", "/")
        return c.getresponse().status == 204
    except OSError:
        c.close()
        return False


def test_include_globs_and_drop_in_routes(tmp_path, portico):
    """@include "conf.d/*.conf" includes every match in order; each drop-in
    adds routes_NAME and upstreams_NAME of its own; a name used twice is an
    error naming both places (issue 15)."""
    from backends import Backend, Response, get
    a = Backend(lambda req: Response(200, [], b"from a"))
    b = Backend(lambda req: Response(200, [], b"from b"))
    port = free_ports(1)[0]
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "20-b.conf").write_text('upstreams_b = { b = { servers = [ "127.0.0.1:%d" ]; }; };\n'
                                 'routes_b = ( { name = "b"; path = "/b/"; proxy = "b"; } );\n'
                                 % b.port)
    (d / "10-a.conf").write_text('upstreams_a = { a = { servers = [ "127.0.0.1:%d" ]; }; };\n'
                                 'routes_a = ( { name = "a"; path = "/a/"; proxy = "a"; } );\n'
                                 % a.port)
    (d / "README").write_text("not a .conf: not included\n")
    main = ('portico = { workers = 1; };\nlisten = ( "127.0.0.1:%d" );\n'
            '@include "conf.d/*.conf"\n'
            'routes = ( { name = "home"; path = "/"; return = 204; } );\n' % port)
    p = portico(main, ports=[port])
    assert get(port, "/a/x").body == b"from a"
    assert get(port, "/b/x").body == b"from b"
    assert get(port, "/").status == 204
    r = run_portico("-T", "-c", p.conf_path, "-p", str(tmp_path / "t.pid"))
    assert r.returncode == 0, r.stderr
    names = re.findall(r'^    name = "(\w+)";', r.stdout, re.M)
    assert [n for n in names if n in ("a", "b", "home")] == ["a", "b", "home"]

    (d / "30-dup.conf").write_text('routes_dup = ( { name = "a"; path = "/dup/"; return = 204; } );\n')
    r = run_portico("-t", "-c", p.conf_path, "-p", str(tmp_path / "t.pid"))
    assert r.returncode != 0
    assert '%s:1: route name "a" is already used by the route at %s:2' % (
        d / "30-dup.conf", d / "10-a.conf") in r.stderr, r.stderr
    (d / "30-dup.conf").write_text('upstreams_dup = { b = { servers = [ "127.0.0.1:1" ]; }; };\n')
    r = run_portico("-t", "-c", p.conf_path, "-p", str(tmp_path / "t.pid"))
    assert 'upstream "b" is already defined at %s:1' % (d / "20-b.conf") in r.stderr, r.stderr
    a.close()
    b.close()


def test_include_globs_nest(tmp_path, portico):
    """An included file may @include a glob of its own, at any depth; an
    error in a file reached that way names that file and line, and a file
    that includes itself is refused."""
    from backends import get
    port = free_ports(1)[0]
    svc = tmp_path / "services"
    (svc / "shop" / "routes.d").mkdir(parents=True)
    (svc / "shop.conf").write_text('# the shop service\n'
                                   '@include "services/shop/routes.d/*.conf"\n')
    (svc / "shop" / "routes.d" / "1-cart.conf").write_text(
        'routes_cart = ( { name = "cart"; path = "/cart/"; return = 201; } );\n')
    (svc / "shop" / "routes.d" / "2-pay.conf").write_text(
        'routes_pay = ( { name = "pay"; path = "/pay/"; return = 202; } );\n')
    main = ('portico = { workers = 1; };\nlisten = ( "127.0.0.1:%d" );\n'
            '@include "services/*.conf"\n'
            'routes = ( { name = "home"; path = "/"; return = 204; } );\n' % port)
    p = portico(main, ports=[port])
    assert get(port, "/cart/x").status == 201
    assert get(port, "/pay/x").status == 202
    assert get(port, "/").status == 204

    def check():
        return run_portico("-t", "-c", p.conf_path, "-p", str(tmp_path / "t.pid"))
    # A literal @include of a file that holds a glob works the same.
    (svc / "shop.conf").write_text('\n@include "services/shop/inner.conf"\n')
    (svc / "shop" / "inner.conf").write_text('@include "services/shop/routes.d/*.conf"\n')
    assert check().returncode == 0
    # Errors name the real file and line, never a memory file.
    (svc / "shop" / "routes.d" / "2-pay.conf").write_text(
        '\nroutes_pay = ( { name = "pay"; path = "/pay/"; retrun = 202; } );\n')
    r = check()
    assert r.returncode != 0
    assert "%s:2:" % (svc / "shop" / "routes.d" / "2-pay.conf") in r.stderr, r.stderr
    assert "/proc/self/fd" not in r.stderr, r.stderr
    (svc / "shop" / "routes.d" / "2-pay.conf").write_text('routes_pay = ( { name = "pay"\n')
    r = check()
    assert r.returncode != 0 and "/proc/self/fd" not in r.stderr, r.stderr
    (svc / "shop" / "routes.d" / "2-pay.conf").write_text('@include "services/*.conf"\n')
    r = check()
    assert r.returncode != 0 and "include each other" in r.stderr, r.stderr


def test_error_log_lines_about_a_request_carry_its_context(portico):
    """A line about a request names the client, host, request line, request
    id and, once chosen, the upstream server (issue 15)."""
    from backends import RawBackend, get
    def script(sock):
        sock.recv(65536)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        sock.close()
    be = RawBackend(script)
    port = free_ports(1)[0]
    p = portico('portico = { workers = 1; };\nlisten = ( "127.0.0.1:%d" );\n'
                'upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };\n'
                'routes = ( { path = "/api/"; proxy = "b"; }, { path = "/"; return = 204; } );\n'
                % (port, be.port), ports=[port])
    r = get(port, "/nothing-here/x", host="shop.example")
    import socket as _s
    with _s.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /api/cut?x=1 HTTP/1.1\r\nHost: api.example\r\n\r\n")
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
    line = wait_for(lambda: [l for l in p.log().splitlines() if "aborted" in l], timeout=5,
                    what="the abort line")[0]
    assert 'client: 127.0.0.1, host: "api.example", request: "GET /api/cut?... HTTP/1.1"' in line
    assert re.search(r"id: [0-9a-f]{8}-[0-9a-f-]{27}", line), line
    assert 'upstream: "127.0.0.1:%d"' % be.port in line
    # Timestamps have milliseconds and the UTC offset.
    assert re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4} \[", line), line
    be.close()


def test_debug_clients_traces_one_client_only(portico):
    """debug_clients: requests from a chosen address write debug lines (the
    phases, the route, the upstream try, the outcome) while log_level stays
    "info"; other clients' requests write none (issue 15)."""
    import socket
    from backends import Backend, Response, Reader, read_response
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = free_ports(1)[0]
    p = portico('portico = { workers = 1; log_level = "info"; debug_clients = [ "127.0.0.2" ]; };\n'
                'listen = ( "0.0.0.0:%d" );\n'
                'upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };\n'
                'routes = ( { name = "api"; path = "/api/"; proxy = "b"; } );\n'
                % (port, be.port), ports=[port])

    def ask(src, path):
        with socket.socket() as s:
            s.bind((src, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % path)
            return read_response(Reader(s, 5))

    assert ask("127.0.0.1", b"/api/quiet").status == 200
    assert ask("127.0.0.2", b"/api/traced").status == 200
    lines = wait_for(lambda: [l for l in p.log().splitlines() if "[debug]" in l and "done:" in l]
                     and [l for l in p.log().splitlines() if "[debug]" in l], timeout=5,
                     what="the traced request's debug lines")
    text = "\n".join(lines)
    assert "client: 127.0.0.2" in text and "127.0.0.1," not in text.replace("upstream", "")
    assert "/api/traced" in text and "/api/quiet" not in text
    assert "route: api" in text
    assert re.search(r"phase [a-z-]+: \w+ (declined|done|answered)", text), text
    assert "upstream b: try 1 on 127.0.0.1:%d" % be.port in text
    assert re.search(r"done: status 200, \d+ bytes sent", text), text
    be.close()
