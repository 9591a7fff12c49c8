"""The admin API behind a verified client certificate (issue 16):
admin_client_cert on a TLS listener with client_certificate = "optional":
no certificate, or one from another CA, gets 403; the test CA's client
certificate gets the answer. Certificates come from test_50_tls's PKI.
"""
import http.client
import json

import pytest

from conftest import free_ports
from test_50_tls import PKI, client_ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI(tmp_path_factory.mktemp("pki"))


def ask(port, ctx, path="/admin/api/config"):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), body


def test_admin_needs_a_verified_client_certificate(portico, pki):
    port = free_ports(1)[0]
    conf = """
listen = ( { address = "127.0.0.1:%d"; name = "admin";
             tls = { certificates = ( { cert = "%s"; key = "%s"; } );
                     client_certificate = "optional"; client_ca = "%s"; }; } );
routes = ( { path = "/admin/"; admin = true; admin_client_cert = true; } );
""" % (port, pki.p("localhost.pem"), pki.p("localhost.key"), pki.p("ca.pem"))
    portico(conf, ports=[port])
    st, ctype, body = ask(port, client_ctx(pki))
    assert st == 403 and ctype == "application/problem+json"
    assert "client certificate" in json.loads(body)["detail"]
    st, _, _ = ask(port, client_ctx(pki, cert="client"))
    assert st == 200
    st, ctype, body = ask(port, client_ctx(pki, cert="client"), "/admin/api/upstreams")
    assert st == 200 and json.loads(body) == []


def test_admin_client_cert_on_a_plain_listener_refuses(portico):
    port = free_ports(1)[0]
    portico('listen = ( "127.0.0.1:%d" );\n'
            'routes = ( { path = "/admin/"; admin = true; admin_client_cert = true; } );\n'
            % port, ports=[port])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/admin/api/config")
    assert c.getresponse().status == 403
