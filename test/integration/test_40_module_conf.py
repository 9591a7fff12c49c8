"""Module settings (issue 9): a module's route rows live in its own struct
and inherit from defaults { } like the core's; the rows that choose what
answers a route are a route's alone; -T prints them so that they load again.
"""
import re

from backends import Backend, Response, get
from conftest import free_ports, run_portico

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
defaults = { via = false; x_forwarded = false; websocket = true; };
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "on"; path = "/on/"; proxy = "b"; via = true; },
  { name = "plain"; path = "/"; proxy = "b"; }
);
"""


def write(tmp_path, text, name="portico.conf"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_proxy_settings_from_defaults_and_overridden(portico):
    be = Backend(lambda req: Response(200, [], b"x"))
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be.port), ports=[port])
    resp = get(port, "/on/x")
    assert resp.status == 200
    # The route's via = true wins over the defaults' false, both ways...
    assert be.requests[0].header_all("via") == ["1.1 portico"]
    assert resp.header_all("via") == ["1.1 portico"]
    # ...and x_forwarded = false comes from defaults { } all the same.
    assert be.requests[0].header("x-forwarded-for") is None
    resp = get(port, "/y")
    assert resp.status == 200
    assert be.requests[1].header_all("via") == []
    assert resp.header_all("via") == []
    assert be.requests[1].header("x-forwarded-for") is None
    be.close()


def test_T_prints_module_settings_that_load_again(tmp_path):
    port, be = free_ports(2)
    conf = write(tmp_path, CONF % dict(port=port, be=be))
    r = run_portico("-T", "-c", conf)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    defaults = out[out.index("defaults = {"):out.index("listen = (")]
    assert "via = false;" in defaults and "x_forwarded = false;" in defaults
    assert "websocket = true;" in defaults
    assert "proxy = " not in defaults
    routes = out[out.index("routes = ("):]
    assert routes.count('proxy = "b";') == 2
    assert routes.count("via = true;") == 1 and routes.count("via = false;") == 1
    assert routes.count("websocket = true;") == 2
    dumped = write(tmp_path, out, "dumped.conf")
    again = run_portico("-T", "-c", dumped)
    assert again.returncode == 0, again.stderr
    strip = lambda s: [l for l in s.splitlines() if not l.startswith("#")]
    assert strip(again.stdout) == strip(out)


def test_handler_rows_are_unknown_in_defaults(tmp_path):
    for row in ('proxy = "b";', "echo = true;", "return = 204;"):
        conf = write(tmp_path, 'listen = ( "127.0.0.1:18080" );\n'
                     'upstreams = { b = { servers = [ "127.0.0.1:1" ]; }; };\n'
                     'defaults = {\n  %s\n};\n'
                     'routes = ( { path = "/"; return = 200; } );\n' % row)
        r = run_portico("-t", "-c", conf)
        assert r.returncode == 1
        name = row.split()[0]
        assert re.search(re.escape(conf) + r':4: unknown setting "%s" in defaults' % name,
                         r.stderr), r.stderr


TEMPLATES = """
listen = ( "127.0.0.1:%(port)d" );
defaults = { access_log = { path = "%(log)s"; format = "$remote_addr $status $route"; }; };
routes = (
  { name = "r"; path = "/r"; host = [ "A.Example", "*.b.example" ]; methods = "GET";
    return = { status = 302; location = "https://$host$request_uri"; headers = "X-A: 1"; }; },
  { name = "j"; path = "/"; access_log = { path = "%(log)s"; format = "json"; };
    return = { body = "id $request_id\\n"; }; }
);
"""


def test_T_prints_compiled_strings_and_lists_as_written(tmp_path):
    conf = write(tmp_path, TEMPLATES % dict(port=free_ports(1)[0], log=tmp_path / "a.log"))
    r = run_portico("-T", "-c", conf)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # A custom format is printed as its template, so it loads again as itself.
    assert 'format = "$remote_addr $status $route";' in out
    assert 'format = "json";' in out
    assert 'location = "https://$host$request_uri";' in out
    assert 'headers = [ "X-A: 1" ];' in out
    assert 'host = [ "a.example", "*.b.example" ];' in out
    assert 'methods = [ "GET" ];' in out
    dumped = write(tmp_path, out, "dumped.conf")
    again = run_portico("-T", "-c", dumped)
    assert again.returncode == 0, again.stderr
    strip = lambda s: [l for l in s.splitlines() if not l.startswith("#")]
    assert strip(again.stdout) == strip(out)


def test_template_and_list_errors_name_their_line(tmp_path):
    cases = [
        ('return = {\n    status = 200;\n    body = "$nosuch"; };', 6,
         r'unknown variable "\$nosuch"'),
        ('access_log = { path = "/tmp/x.log";\n    format = "${status"; };\n'
         '    return = 200;', 5, r'unterminated \$\{'),
        ('methods = [ "GET",\n    "" ];\n    return = 200;', 4, r'empty method name'),
        ('methods = [ ];\n    return = 200;', 4, r'"methods" must name at least one method'),
        ('host = "a:80";\n    return = 200;', 4, r'invalid host "a:80"'),
        ('return = { status = 200; stauts = 1; };', 4, r'unknown setting "stauts" in return'),
    ]
    for text, line, msg in cases:
        conf = write(tmp_path, 'listen = ( "127.0.0.1:18080" );\n\nroutes = (\n'
                     '  { path = "/"; %s }\n);\n' % text)
        r = run_portico("-t", "-c", conf)
        assert r.returncode == 1, text
        found = [l for l in r.stderr.splitlines() if re.search(msg, l)]
        assert found, (text, r.stderr)
        assert found[0].startswith("%s:" % conf), found[0]
        got = int(found[0][len(conf) + 1:].split(":")[0])
        assert got == line, (text, found[0])
