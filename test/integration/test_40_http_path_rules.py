"""Path rules cannot be walked around (issue 10, ROUTING in portico.conf.5).

Each test is the attack: a route denies /admin/ (403), a catch-all proxies
everything else to a backend that, like most servers, would merge "//" and
read %2F as a separator. The backend must see nothing of the attacks.
"""
import pytest

from backends import Backend, request
from conftest import free_ports

ROUTES = """
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "deny"; path = "/admin/"; return = 403; },
  { name = "api"; path = "/api/"; proxy = "b"; },
  { name = "all"; path = "/"; proxy = "b"; }
);
"""


def start(portico, listen_opts=""):
    be = Backend(lambda req: (200, [], b"backend"))
    port, = free_ports(1)
    portico('listen = ( { address = "127.0.0.1:%d"; %s } );\n' % (port, listen_opts)
            + ROUTES % {"be": be.port}, ports=[port])
    return port, be


def status(port, path):
    resp = request(port, "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % path)
    return resp


def test_repeated_slashes_are_merged_before_matching(portico):
    port, be = start(portico)
    for path in ("//admin/secret", "///admin/secret", "/admin//secret", "//admin//"):
        resp = status(port, path)
        assert resp.status == 403, path
    assert be.requests == []
    # And the merged path is what an allowed request forwards.
    assert status(port, "//api///v1//x").status == 200
    assert be.requests[-1].target == "/api/v1/x"
    be.close()


def test_merge_slashes_off_keeps_them(portico):
    port, be = start(portico, "merge_slashes = false;")
    assert status(port, "//admin/x").status == 200       # the operator's choice
    assert be.requests[-1].target == "//admin/x"
    assert status(port, "/admin/x").status == 403
    be.close()


def test_encoded_slashes_are_refused_by_default(portico):
    port, be = start(portico)
    for path in ("/admin%2fsecret", "/admin%2Fsecret", "/api/..%2Fadmin", "/api/..%2fadmin/x",
                 "/api/..%5Cadmin", "/x%5cy"):
        resp = status(port, path)
        assert resp.status == 400, path
        assert resp.header("content-type") == "application/problem+json"
        assert b"encoded slash" in resp.body
    assert be.requests == []
    be.close()


def test_escaped_slashes_decode_routes_the_decoded_path(portico):
    port, be = start(portico, 'escaped_slashes = "decode";')
    for path in ("/admin%2fsecret", "/api/..%2Fadmin/x", "/api/..%5cadmin/", "/api%2F..%2Fadmin/"):
        assert status(port, path).status == 403, path
    assert be.requests == []
    assert status(port, "/api%2Fv1%2fx").status == 200
    assert be.requests[-1].target == "/api/v1/x"
    be.close()


def test_escaped_slashes_keep_never_climbs_out_of_the_prefix(portico):
    port, be = start(portico, 'escaped_slashes = "keep";')
    # Kept encoded, as received: a slash in a name the upstream wants.
    assert status(port, "/api/a%2fb").status == 200
    assert be.requests[-1].target == "/api/a%2Fb"
    # But a dot-segment behind an encoded slash would climb out of /api/
    # at an upstream that decodes it: refused.
    for path in ("/api/..%2Fadmin", "/api/x%2F..%2F..%2Fadmin", "/api/.%5c..%5cadmin"):
        resp = status(port, path)
        assert resp.status == 400, path
        assert b"dot-segment" in resp.body
    assert len(be.requests) == 1
    be.close()


@pytest.mark.parametrize("opts", ["", 'escaped_slashes = "decode";',
                                  'escaped_slashes = "keep";'])
def test_dot_segments_with_parameters_are_refused(portico, opts):
    """Servers that drop ";" path parameters (Tomcat and its kin) read
    "/api/..;/admin/x" as "/admin/x": a dot-segment with parameters is
    refused on every listener, and other parameters pass as names."""
    port, be = start(portico, opts)
    for path in ("/api/..;/admin/x", "/.;/admin/x", "/api/%2e%2e;/admin/x", "/..;x/admin/"):
        resp = status(port, path)
        assert resp.status == 400, (opts, path)
        assert b"dot-segment with parameters" in resp.body
    assert be.requests == []
    assert status(port, "/api/a;v=1/b").status == 200
    assert be.requests[-1].target == "/api/a;v=1/b"
    be.close()


def test_bad_escaped_slashes_value_is_a_config_error(portico, tmp_path):
    import subprocess
    from conftest import BIN
    port, = free_ports(1)
    conf = tmp_path / "bad.conf"
    conf.write_text('listen = ( { address = "127.0.0.1:%d"; escaped_slashes = "maybe"; } );\n'
                    'routes = ( { path = "/"; return = 204; } );\n' % port)
    out = subprocess.run([BIN, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "bad.conf:1" in out.stderr and "escaped_slashes" in out.stderr
