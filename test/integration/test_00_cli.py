"""The command line: flags, -t/-T on good and bad configs, -s through the pid file."""
import os
import re
import signal
import subprocess

import pytest

from backends import get
from conftest import BIN, free_ports, run_portico, wait_for


def minimal(port, extra=""):
    return ('listen = ( "127.0.0.1:%d" );\n%s'
            'routes = ( { path = "/"; return = { status = 200; body = "ok\\n"; }; } );\n'
            % (port, extra))


def write(tmp_path, text, name="portico.conf"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def error_lines(stderr):
    return [l for l in stderr.splitlines() if l]


# ---- flags ------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag):
    r = run_portico(flag)
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: portico")
    for opt in ("--config", "--test", "--signal", "--foreground", "--workers",
                "--pidfile", "--version", "--help", "-T"):
        assert opt in r.stdout, opt
    assert r.stderr == ""


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_lists_modules(flag):
    r = run_portico(flag)
    assert r.returncode == 0
    assert re.match(r"portico \d+\.\d+", r.stdout)
    modules = re.search(r"^modules:(.*)$", r.stdout, re.M)
    assert modules, r.stdout
    names = modules.group(1).split()
    for m in ("proxy", "return", "echo", "accesslog"):
        assert m in names
    assert "OpenSSL" in r.stdout


def test_version_lists_the_libraries_the_binary_links():
    """-V names each library with the version it reports at run time, and
    only libraries the binary really loads (issue 15)."""
    import subprocess
    from conftest import BIN
    r = run_portico("-V")
    libs = r.stdout.split("libraries:\n", 1)[1].split("modules:", 1)[0]
    lines = [l.strip() for l in libs.splitlines() if l.strip()]
    ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True).stdout
    sonames = {"OpenSSL": "libssl", "libconfig": "libconfig", "zlib": "libz",
               "PCRE2": "libpcre2-8", "libmaxminddb": "libmaxminddb", "jansson": "libjansson",
               "c-ares": "libcares", "libxcrypt": "libcrypt", "brotli": "libbrotlienc"}
    assert len(lines) >= 8, lines
    for line in lines:
        name = line.split()[0]
        assert name in sonames, line
        assert sonames[name] in ldd, "%s is listed but not linked" % name
        assert re.search(r"\d+\.\d+", line), line
    # The OpenSSL line is the library's own text, with its version.
    ssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.split()[1]
    assert any(l.startswith("OpenSSL " + ssl) for l in lines), (lines, ssl)


@pytest.mark.parametrize("args,what", [
    (["--bogus"], "--bogus"),
    (["-x"], "-x"),
    (["-w", "0"], "0"),
    (["-w", "abc"], "abc"),
    (["-w", "513"], "513"),
    (["-w", "4x"], "4x"),
    (["--workers=-1"], "-1"),
    (["-w"], "-w"),
    (["--config"], "--config"),
    (["-c"], "-c"),
    (["-s"], "-s"),
    (["-p"], "-p"),
    (["--help=yes"], "--help takes no value"),
    (["-t", "stray"], "stray"),
    (["-c", "x.conf", "-xF"], "unknown option -x"),
    (["-tq"], "unknown option -q"),
    (["-Fw"], "option -w needs a value"),
    (["-t="], "unknown option -="),
])
def test_bad_command_line(args, what):
    r = run_portico(*args)
    assert r.returncode == 2, (args, r)
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("portico: ") and what in lines[0], lines
    assert r.stdout == ""


def test_workers_flag_accepted(tmp_path):
    conf = write(tmp_path, minimal(free_ports()[0]))
    r = run_portico("-t", "-w", "3", "-c", conf)
    assert r.returncode == 0, r.stderr
    r = run_portico("--test", "--workers=512", "--config=" + conf)
    assert r.returncode == 0, r.stderr


# ---- -t on good and bad configs --------------------------------------------------

def test_t_good_config(tmp_path):
    conf = write(tmp_path, minimal(free_ports()[0]))
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 0, r.stderr
    assert "configuration file %s test is successful" % conf in r.stdout + r.stderr


def test_t_shipped_config():
    conf = os.path.join(os.environ.get("PORTICO_SRCDIR", "."), "etc", "portico.conf")
    if not os.path.exists(conf):
        pytest.skip("no etc/portico.conf")
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 0, r.stderr
    assert "test is successful" in r.stderr


L = 'listen = ( "127.0.0.1:18080" );\n'
R = 'routes = ( { path = "/"; return = { status = 200; }; } );\n'

# (name, config text, expected line, message regex). Lines are 1-based and
# point at the offending setting.
BAD_CONFIGS = [
    ("syntax",
     L + 'routes = (\n  { path = "/"; return = 200; }\n  { path = "/b"; return = 200; }\n);\n',
     4, r"syntax error"),
    ("unknown_main",
     'portico = {\n  workers = 1;\n  drain_timeuot = "1s";\n};\n' + L + R,
     3, r'unknown setting "drain_timeuot"'),
    ("unknown_top",
     L + R + 'rutes = ( );\n',
     3, r'unknown setting "rutes"'),
    ("unknown_route",
     L + 'routes = (\n  { path = "/";\n    retrun = { status = 200; };\n  }\n);\n',
     4, r'unknown setting "retrun"'),
    ("unknown_listener",
     'listen = (\n  { address = "127.0.0.1:18080";\n    keepalive_timout = "5s"; }\n);\n' + R,
     3, r'unknown setting "keepalive_timout"'),
    ("unknown_upstream",
     L + 'upstreams = {\n  api = {\n    servers = [ "127.0.0.1:1" ];\n'
     '    keepalvie = 8;\n  };\n};\n' + R,
     5, r'unknown setting "keepalvie"'),
    ("bad_duration",
     'portico = {\n  drain_timeout = "10x";\n};\n' + L + R,
     2, r'invalid duration "10x"'),
    ("bad_duration_listener",
     'listen = (\n  { address = "127.0.0.1:18080";\n    header_timeout = "-3s"; }\n);\n' + R,
     3, r'header_timeout'),
    ("bad_size",
     'portico = {\n  workers = 1;\n  shm_size = "16Q";\n};\n' + L + R,
     3, r'invalid size "16Q"'),
    ("bad_size_route",
     L + 'routes = (\n  { path = "/";\n    client_max_body_size = "lots";\n'
     '    return = 200; }\n);\n',
     4, r'invalid size "lots"'),
    ("bad_enum",
     'portico = {\n  log_level = "loud";\n};\n' + L + R,
     2, r'"log_level" must be one of .*"debug"'),
    ("unknown_user",
     'portico = {\n  workers = 1;\n  user = "no-such-user-x";\n};\n' + L + R,
     3, r'no user named "no-such-user-x"'),
    ("unknown_group",
     'portico = {\n  group = "no-such-group-x";\n};\n' + L + R,
     2, r'no group named "no-such-group-x"'),
    ("bad_workers",
     'portico = {\n  workers = "many";\n};\n' + L + R,
     2, r'"workers" must be a number or "auto"'),
    ("bad_type",
     'portico = {\n  max_generations = "four";\n};\n' + L + R,
     2, r'"max_generations" must be an integer'),
    ("out_of_range",
     'portico = {\n  max_generations = 0;\n};\n' + L + R,
     2, r'"max_generations" must be between 1 and'),
    ("no_handler",
     L + 'routes = (\n  { path = "/a"; return = 200; },\n  { name = "b";\n    path = "/b"; }\n);\n',
     4, r'route "b" has nothing to answer with'),
    ("two_handlers",
     L + 'upstreams = { api = { servers = [ "127.0.0.1:1" ]; }; };\n'
     'routes = (\n  { name = "both";\n    proxy = "api";\n    return = 200; }\n);\n',
     (4, 5, 6), r'route "both".*one of proxy, return and echo'),
    ("unknown_upstream_ref",
     L + 'upstreams = { api = { servers = [ "127.0.0.1:1" ]; }; };\n'
     'routes = (\n  { path = "/a"; return = 200; },\n  { name = "b";\n    path = "/b";\n'
     '    proxy = "apii"; }\n);\n',
     (5, 7), r'no upstream named "apii"'),
    ("duplicate_listen",
     'listen = (\n  "127.0.0.1:18080",\n  "127.0.0.1:18081",\n  "127.0.0.1:18080"\n);\n' + R,
     4, r'127.0.0.1:18080 is already listened on \(line 2\)'),
    ("duplicate_listen_group",
     'listen = (\n  { name = "a"; address = "127.0.0.1:18080"; },\n  {\n    name = "b";\n'
     '    address = "127.0.0.1:18080";\n  }\n);\n' + R,
     5, r'already listened on \(line 2\)'),
    ("bad_listen_address",
     'listen = (\n  "127.0.0.1:18080",\n  "127.0.0.1:99999"\n);\n' + R,
     3, r'invalid listen address "127.0.0.1:99999"'),
    ("route_unknown_listener",
     L + 'routes = (\n  { path = "/";\n    listen = "nosuch";\n    return = 200; }\n);\n',
     4, r'no listener named "nosuch"'),
    ("missing_include",
     L + '@include "missing.conf"\n' + R,
     2, r'cannot open include file "missing\.conf": No such file'),
]


@pytest.mark.parametrize("name,text,line,msg", BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_t_bad_config(tmp_path, name, text, line, msg):
    conf = write(tmp_path, text)
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "test is successful" not in r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith(conf + ":")]
    assert errors, r.stderr
    lines = line if isinstance(line, tuple) else (line,)
    found = [l for l in errors if re.search(msg, l)]
    assert found, r.stderr
    m = re.match(re.escape(conf) + r":(\d+): ", found[0])
    assert m, "error without a line number: %r" % found[0]
    assert int(m.group(1)) in lines, (found[0], lines)


def test_t_error_in_included_file(tmp_path):
    write(tmp_path, 'portico = {\n  workers = 1;\n\n  drain_timeout = "soon";\n};\n',
          "main.inc")
    conf = write(tmp_path, '@include "main.inc"\n' + L + R)
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 1
    inc = str(tmp_path / "main.inc")
    assert re.search(re.escape(inc) + r':4: .*invalid duration "soon"', r.stderr), r.stderr


def test_t_include_works(tmp_path):
    write(tmp_path, 'routes = ( { path = "/"; return = 204; } );\n', "routes.inc")
    conf = write(tmp_path, L + '@include "routes.inc"\n')
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 0, r.stderr


def test_t_include_absolute_path(tmp_path):
    inc = write(tmp_path, 'routes = ( { path = "/"; return = 204; } );\n', "routes.inc")
    (tmp_path / "sub").mkdir()
    conf = write(tmp_path, L + '@include "%s"\n' % inc, "sub/portico.conf")
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 0, r.stderr


def test_t_relative_paths_from_elsewhere(tmp_path):
    """-c with a relative path: includes resolve next to the main file, and
    errors name files as seen from where portico was started."""
    (tmp_path / "etc").mkdir()
    write(tmp_path, 'routes = (\n  { path = "/"; return = 204;\n    methods = 7; }\n);\n',
          "etc/routes.inc")
    write(tmp_path, L + '@include "routes.inc"\n', "etc/main.conf")
    r = subprocess.run([BIN, "-t", "-c", "etc/main.conf"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.startswith("etc/routes.inc:3: "), r.stderr
    write(tmp_path, L + 'routes = ( { path = "/"; return = 204; } );\n', "etc/main.conf")
    r = subprocess.run([BIN, "-t", "-c", "etc/main.conf"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "configuration file etc/main.conf test is successful" in r.stderr


def test_t_reports_every_error(tmp_path):
    conf = write(tmp_path, 'portico = {\n  wrokers = 1;\n  drain_timeout = "x";\n};\n' + L + R)
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 1
    assert re.search(re.escape(conf) + r':2: .*"wrokers"', r.stderr), r.stderr
    assert re.search(re.escape(conf) + r':3: .*invalid duration', r.stderr), r.stderr


def test_t_duplicate_route_names(tmp_path):
    """A name says which route: two routes may not share one (given or the
    routeN a route without a name gets)."""
    conf = write(tmp_path, L + 'routes = (\n  { name = "a"; return = 200; },\n'
                 '  { name = "a"; path = "/x"; return = 200; },\n'
                 '  { path = "/y"; return = 200; name = "route1"; }\n);\n')
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 1
    # The first route's place is named as file:line (issue 15, @include).
    assert re.search(re.escape(conf) + r':4: route name "a" is already used by the route at '
                     + re.escape(conf) + r':3', r.stderr), r.stderr
    conf = write(tmp_path, L + 'routes = (\n  { path = "/"; return = 200; },\n'
                 '  { name = "route1"; path = "/x"; return = 200; }\n);\n')
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 1
    assert re.search(re.escape(conf) + r':4: route name "route1" is already used', r.stderr)


def test_t_zero_timeouts_are_errors(tmp_path):
    """A timeout of 0 would cut every connection at once: each is refused
    with its line."""
    conf = write(tmp_path, 'portico = {\n  header_timeout = "0";\n  body_timeout = "0s";\n'
                 '  keepalive_timeout = "0ms";\n  send_timeout = "0";\n};\n'
                 'upstreams = { u = { servers = [ "127.0.0.1:1" ];\n'
                 '  connect_timeout = "0"; }; };\n'
                 'listen = ( "127.0.0.1:18080" );\n'
                 'routes = ( { path = "/"; proxy = "u"; tunnel_timeout = "0"; } );\n')
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 1
    for line, name in [(2, "header_timeout"), (3, "body_timeout"), (4, "keepalive_timeout"),
                       (5, "send_timeout"), (8, "connect_timeout")]:
        assert re.search(re.escape(conf) + r':%d: "%s" must be at least 1ms' % (line, name),
                         r.stderr), r.stderr
    conf = write(tmp_path, L + 'routes = (\n  { path = "/"; echo = true;\n'
                 '    tunnel_timeout = "0"; } );\n')
    r = run_portico("-t", "-c", conf)
    assert r.returncode == 1
    assert re.search(re.escape(conf) + r':4: "tunnel_timeout" must be at least 1ms', r.stderr)


def test_t_missing_file(tmp_path):
    path = str(tmp_path / "nope.conf")
    r = run_portico("-t", "-c", path)
    assert r.returncode == 1
    assert path in r.stderr and "No such file" in r.stderr


# ---- -T: the effective config --------------------------------------------------------

FULL = '''portico = {
  workers = 2;
  drain_timeout = "2s";
};
listen = (
  { name = "main"; address = "127.0.0.1:%(p1)d"; keepalive_timeout = "5s"; },
  { name = "side"; address = "127.0.0.1:%(p2)d"; }
);
defaults = {
  client_max_body_size = "64k";
};
upstreams = {
  api = { servers = [ "127.0.0.1:%(p3)d" ]; keepalive = 4; };
};
routes = (
  { name = "health"; path_exact = "/healthz";
    return = { status = 200; body = "ok \\"quoted\\"\\n"; content_type = "text/plain";
               headers = [ "X-A: 1" ]; }; },
  { name = "moved"; path = "/old/"; listen = "side";
    return = { status = 301; location = "http://example.com$request_uri"; }; },
  { name = "api"; path = "/api/"; strip_prefix = true; methods = [ "GET", "POST" ];
    listen = [ "main" ]; proxy = "api"; },
  { name = "echo"; path = "/"; echo = true; }
);
'''


def test_T_prints_effective_config_that_passes_t(tmp_path):
    p1, p2, p3 = free_ports(3)
    conf = write(tmp_path, FULL % {"p1": p1, "p2": p2, "p3": p3})
    r = run_portico("-T", "-c", conf)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # Defaults nobody wrote appear with their values.
    for line in ('max_generations = 4;', 'shm_size = "32M";', 'backlog = 511;',
                 'header_timeout = "10s";', 'log_level = "info";'):
        assert line in out, line
    # What was written appears as written.
    assert 'drain_timeout = "2s";' in out
    assert 'keepalive_timeout = "5s";' in out
    assert 'client_max_body_size = "64k";' in out
    assert out.count("name = ") >= 6
    # The dump is itself a valid config, and dumping it again is stable.
    dumped = write(tmp_path, out, "dumped.conf")
    r2 = run_portico("-t", "-c", dumped)
    assert r2.returncode == 0, r2.stderr + "\n" + out
    r3 = run_portico("-T", "-c", dumped)
    assert r3.returncode == 0
    strip = lambda s: [l for l in s.splitlines() if not l.startswith("#")]
    assert strip(r3.stdout) == strip(out)


def test_T_dump_keeps_meaning(tmp_path):
    """A server started on the dumped config answers like the original."""
    p1, p2, p3 = free_ports(3)
    conf = write(tmp_path, FULL % {"p1": p1, "p2": p2, "p3": p3})
    out = run_portico("-T", "-c", conf).stdout
    for needle in ('listen = [ "side" ]', 'listen = [ "main" ]', '"X-A: 1"',
                   'location = "http://example.com$request_uri"',
                   'body = "ok \\"quoted\\"\\n"', 'content_type = "text/plain"'):
        assert needle in out, needle


def test_T_bad_config(tmp_path):
    conf = write(tmp_path, 'portico = { drain_timeout = 5; };\n' + L + R)
    r = run_portico("-T", "-c", conf)
    assert r.returncode == 1
    assert r.stdout == ""
    assert re.search(re.escape(conf) + r":1: ", r.stderr)


# ---- -s through the pid file ------------------------------------------------------------

def with_pidfile(tmp_path, port):
    pid = str(tmp_path / "portico.pid")
    return minimal(port).replace("listen", 'portico = { workers = 1; pidfile = "%s"; };\nlisten'
                                 % pid, 1), pid


def test_s_reload_reopen_quit(portico, tmp_path):
    port = free_ports()[0]
    text, pidfile = with_pidfile(tmp_path, port)
    p = portico(text, ports=[port])
    assert int(open(pidfile).read()) == p.pid
    old = p.wait_workers(1)

    # reload through the pid file named in the config (no -p)
    r = run_portico("-s", "reload", "-c", p.conf_path)
    assert r.returncode == 0, r.stderr
    new = p.wait_workers(1, exclude=old)
    assert new != old
    p.wait_log(r"reloaded: generation 2")

    # reopen through -p
    r = run_portico("--signal=reopen", "-p", pidfile)
    assert r.returncode == 0, r.stderr
    p.wait_log(r"log files reopened")
    assert get(port).status == 200

    r = run_portico("-s", "quit", "-p", pidfile)
    assert r.returncode == 0, r.stderr
    assert p.proc.wait(15) == 0
    assert not os.path.exists(pidfile)


def test_s_stop(portico, tmp_path):
    port = free_ports()[0]
    text, pidfile = with_pidfile(tmp_path, port)
    p = portico(text, ports=[port])
    workers = p.wait_workers(1)
    r = run_portico("-s", "stop", "-c", p.conf_path)
    assert r.returncode == 0, r.stderr
    assert p.proc.wait(15) == 0
    assert not os.path.exists(pidfile)
    wait_for(lambda: not any(os.path.exists("/proc/%d" % w) for w in workers), 5,
             what="workers gone")


def test_s_unknown_signal(tmp_path):
    r = run_portico("-s", "bogus", "-p", str(tmp_path / "x.pid"))
    assert r.returncode == 2
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "bogus" in lines[0]


def test_s_no_master(tmp_path):
    pidfile = str(tmp_path / "portico.pid")
    r = run_portico("-s", "reload", "-p", pidfile)
    assert r.returncode == 1
    assert pidfile in r.stderr and "running" in r.stderr


def test_s_stale_pidfile(tmp_path):
    """A pid file left behind (nobody holds its lock) is not a running master:
    -s must not signal whatever process now has that pid."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        pidfile = tmp_path / "portico.pid"
        pidfile.write_text("%d\n" % sleeper.pid)
        r = run_portico("-s", "stop", "-p", str(pidfile))
        assert r.returncode == 1
        assert "not running" in r.stderr, r.stderr
        assert sleeper.poll() is None, "signalled a process that is not portico"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_s_garbage_pidfile(tmp_path):
    pidfile = tmp_path / "portico.pid"
    pidfile.write_text("hello\n")
    r = run_portico("-s", "reload", "-p", str(pidfile))
    assert r.returncode == 1
    assert str(pidfile) in r.stderr
