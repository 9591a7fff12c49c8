"""hide_fields (issue 15): response fields that reveal the backend are
removed per route, from relayed and gateway-made responses alike."""
from backends import Backend, Response, get
from conftest import free_ports, run_portico

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
defaults = { hide_fields = [ "Server", "X-Powered-By" ]; };
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "open"; path = "/open/"; proxy = "b"; hide_fields = []; },
  { name = "made"; path = "/made"; return = { status = 200; body = "hi";
    headers = [ "X-Powered-By: portico-test" ]; }; },
  { name = "hidden"; path = "/"; proxy = "b"; }
);
"""


def test_backend_identity_fields_are_hidden(portico):
    be = Backend(lambda req: Response(200, [("Server", "Apache/2.4.1 (Unix)"),
                                            ("X-Powered-By", "PHP/5.3"),
                                            ("x-powered-by", "Express"),
                                            ("X-Kept", "yes")], b"x"))
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be.port), ports=[port])
    r = get(port, "/a")
    assert r.status == 200
    assert r.header_all("server") == [] and r.header_all("x-powered-by") == []
    assert r.header("x-kept") == "yes"
    # A route that sets its own (empty) list shows them.
    r = get(port, "/open/a")
    assert r.header("server") == "Apache/2.4.1 (Unix)"
    assert r.header_all("x-powered-by") == ["PHP/5.3", "Express"]
    # Gateway-made responses pass the same filter.
    r = get(port, "/made")
    assert r.status == 200 and r.header("x-powered-by") is None and r.header("server") is None
    be.close()


def test_hide_fields_names_must_be_tokens(tmp_path):
    port, be = free_ports(2)
    conf = tmp_path / "p.conf"
    conf.write_text((CONF % dict(port=port, be=be)).replace('"X-Powered-By"', '"X Powered"'))
    r = run_portico("-t", "-c", str(conf), "-p", str(tmp_path / "p.pid"))
    assert r.returncode != 0 and '"X Powered" is not a field name' in r.stderr
