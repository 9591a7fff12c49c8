"""Active health checks of TLS upstreams (issue 11): an HTTP probe goes over
TLS with the upstream's settings, and a TCP probe of a TLS upstream
includes the handshake. The PKI and the TLS backend are test_50_tls's.
"""
from test_50_tls import TLSBackend, gateway, pki  # noqa: F401 (pki is a fixture)


def test_upstream_probe_over_tls(portico, pki):  # noqa: F811
    with TLSBackend(pki) as good, TLSBackend(pki) as other:
        conf = ('upstreams = { b = { servers = [ "127.0.0.1:%d" ]; tls = { ca = "%s"; };\n'
                '    health_check = { path = "/health"; interval = "200ms"; timeout = "150ms"; '
                'fall = 1; }; };\n'
                '  w = { servers = [ "127.0.0.1:%d" ]; tls = { ca = "%s"; };\n'
                '    health_check = { type = "tcp"; interval = "200ms"; timeout = "150ms"; '
                'fall = 1; }; }; };'
                % (good.port, pki.p("ca.pem"), other.port, pki.p("wrong_ca.pem")))
        gw = gateway(portico, pki, upstreams=conf, routes='{ path = "/"; proxy = "b"; }')
        gw.wait_log(r"upstream b: server 127\.0\.0\.1:%d up by probe: status 200" % good.port)
        assert "/health" in [q.target for q in good.requests]
        assert good.tls and good.tls[0][0].startswith("TLS")
        # A server whose certificate does not verify is down by a TCP probe.
        gw.wait_log(r"upstream w: server 127\.0\.0\.1:%d down by probe: TLS handshake failed"
                    % other.port)
        assert other.requests == []
