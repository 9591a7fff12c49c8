"""TLS termination and TLS to upstreams (issue 4).

Every certificate is made here with the openssl command line: a test CA and
a wrong one, RSA and ECDSA server certificates (exact and wildcard names), a
client certificate, a mismatched key and an OCSP response. Clients are
Python's ssl module and `openssl s_client`; the TLS upstream is a Python ssl
server. Which worker served a connection is read from /proc (the worker
holding the server side of the socket).
"""
import hashlib
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

from backends import Backend, ConnectionClosed, Reader, connect, get, read_response
from conftest import free_ports, run_portico, socket_inodes, wait_for

OPENSSL = "openssl"


# ---- certificates -------------------------------------------------------------

def _run(*args, cwd):
    subprocess.run(list(args), cwd=cwd, check=True, capture_output=True)


class PKI:
    """Certificates under one directory; p(name) is a file's path."""

    def __init__(self, d):
        self.d = str(d)
        self._ca("ca", "Portico Test CA")
        self._ca("wrong_ca", "Wrong CA")
        self.leaf("default", "/O=default/CN=default.test", "DNS:default.test")
        self.leaf("api", "/O=api/CN=api.test", "DNS:api.test")
        self.leaf("wild", "/O=wild/CN=*.wild.test", "DNS:*.wild.test")
        self.leaf("dual_rsa", "/O=dual-rsa/CN=dual.test", "DNS:dual.test")
        self.leaf("dual_ec", "/O=dual-ecdsa/CN=dual.test", "DNS:dual.test", ec=True)
        self.leaf("localhost", "/O=backend/CN=localhost", "DNS:localhost,IP:127.0.0.1")
        self.leaf("client", "/O=Portico Tests/CN=client-1", None, client=True)
        self.leaf("rogue_client", "/O=Rogue/CN=rogue", None, client=True, ca="wrong_ca")
        _run(OPENSSL, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", "other.key", cwd=self.d)
        with open(self.p("broken.key"), "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        self._ocsp("default")

    def p(self, name):
        return os.path.join(self.d, name)

    def _ca(self, name, cn):
        _run(OPENSSL, "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes",
             "-keyout", name + ".key", "-out", name + ".pem", "-days", "3",
             "-subj", "/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.d)

    def leaf(self, name, subj, san, ec=False, client=False, ca="ca"):
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if ec else \
              ["-newkey", "rsa:2048"]
        _run(OPENSSL, "req", "-new", *key, "-nodes", "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", subj, cwd=self.d)
        ext = "basicConstraints=CA:FALSE\n"
        if san:
            ext += "subjectAltName=%s\n" % san
        if client:
            ext += "extendedKeyUsage=clientAuth\n"
        with open(self.p(name + ".ext"), "w") as f:
            f.write(ext)
        _run(OPENSSL, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
             "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".pem", "-days", "2",
             "-extfile", name + ".ext", cwd=self.d)

    def _ocsp(self, name):
        serial = subprocess.run([OPENSSL, "x509", "-in", self.p(name + ".pem"), "-noout",
                                 "-serial"], capture_output=True, text=True,
                                check=True).stdout.strip().split("=")[1]
        with open(self.p("index.txt"), "w") as f:
            f.write("V\t301231235959Z\t\t%s\tunknown\t/O=default/CN=default.test\n" % serial)
        _run(OPENSSL, "ocsp", "-issuer", "ca.pem", "-cert", name + ".pem", "-no_nonce",
             "-reqout", name + ".req", cwd=self.d)
        _run(OPENSSL, "ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key",
             "-CA", "ca.pem", "-reqin", name + ".req", "-respout", name + ".ocsp",
             "-ndays", "1", cwd=self.d)

    def der(self, name):
        with open(self.p(name + ".pem")) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI(tmp_path_factory.mktemp("pki"))


# ---- clients ------------------------------------------------------------------

def client_ctx(pki, version=None, ciphers=None, cert=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.p("ca.pem"))
    ctx.check_hostname = False          # names are checked by the tests themselves
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if cert:
        ctx.load_cert_chain(pki.p(cert + ".pem"), pki.p(cert + ".key"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TLSResult:
    def __init__(self, s, resp, worker=None):
        self.resp = resp
        self.version = s.version()
        self.cipher = s.cipher()[0]
        self.cert = s.getpeercert()
        self.alpn = s.selected_alpn_protocol()
        self.session = s.session
        self.reused = s.session_reused
        self.worker = worker

    def subject(self, field):
        for rdn in self.cert["subject"]:
            for k, v in rdn:
                if k == field:
                    return v
        return None

    def dns_names(self):
        return [v for k, v in self.cert.get("subjectAltName", ()) if k == "DNS"]


def server_side_worker(gw, port, sock):
    """The worker pid holding the server side of this client socket."""
    lport = sock.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port \
                    and int(parts[2].rsplit(":", 1)[1], 16) == lport:
                inode = int(parts[9])
    for w in gw.workers():
        if inode in socket_inodes(w):
            return w
    return None


def tls_request(port, ctx, sni=None, path="/", method="GET", headers=(), body=b"",
                session=None, gw=None, host="localhost"):
    """One request over a new TLS connection (Connection: close)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=sni, session=session) as s:
        worker = server_side_worker(gw, port, s) if gw else None
        hdrs = "".join("%s: %s\r\n" % kv for kv in headers)
        if body:
            hdrs += "Content-Length: %d\r\n" % len(body)
        s.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                   % (method, path, host, hdrs)).encode() + body)
        resp = read_response(Reader(s), method)
        return TLSResult(s, resp, worker)


CLOSE_REQ = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def s_client(port, *args, data=b"", timeout=10):
    # -ign_eof: read until the server closes, not until our input ends.
    try:
        p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-ign_eof",
                            *args],
                           input=data, capture_output=True, timeout=timeout)
        out, err, end = p.stdout, p.stderr, ""
    except subprocess.TimeoutExpired as e:
        # What it got so far goes into the failing assertion's message.
        out, err, end = e.stdout or b"", e.stderr or b"", "\n[s_client timed out]"
    return out.decode(errors="replace") + err.decode(errors="replace") + end


# ---- configs ------------------------------------------------------------------

def certs_block(pki, names):
    entries = []
    for n in names:
        e = 'cert = "%s"; key = "%s";' % (pki.p(n + ".pem"), pki.p(n + ".key"))
        if n == "default":
            e += ' ocsp_staple = "%s";' % pki.p("default.ocsp")
        entries.append("{ %s }" % e)
    return "certificates = ( %s );" % ", ".join(entries)


ALL_CERTS = ("default", "api", "wild", "dual_rsa", "dual_ec")


def gateway(portico, pki, workers=1, tls_extra="", routes=None, upstreams="", plain=False,
            certs=ALL_CERTS):
    ports = free_ports(2)
    listen = ('{ address = "127.0.0.1:%d"; name = "tls"; tls = { %s %s }; }'
              % (ports[0], certs_block(pki, certs), tls_extra))
    if plain:
        listen += ',\n  { address = "127.0.0.1:%d"; name = "plain"; }' % ports[1]
    routes = routes or '{ name = "echo"; path = "/"; echo = true; }'
    conf = ('portico = { workers = %d; };\nlisten = (\n  %s\n);\n%s\nroutes = (\n  %s\n);\n'
            % (workers, listen, upstreams, routes))
    gw = portico(conf, ports=[ports[0]] + ([ports[1]] if plain else []))
    gw.tls_port, gw.plain_port, gw.conf_text = ports[0], ports[1], conf
    return gw


# ---- handshakes, versions, ALPN ----------------------------------------------------

@pytest.mark.parametrize("version,name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_request_over_tls12_and_tls13(portico, pki, version, name):
    gw = gateway(portico, pki)
    r = tls_request(gw.tls_port, client_ctx(pki, version, alpn=["h2", "http/1.1"]),
                    sni="default.test", path="/hello")
    assert r.version == name
    assert r.resp.status == 200
    assert r.resp.json()["path"] == "/hello"
    # ALPN: h2 is not offered back, http/1.1 is chosen.
    assert r.alpn == "http/1.1"


def test_keepalive_and_large_bodies_over_tls(portico, pki):
    """Many requests on one connection, and bodies far larger than a record,
    read slowly so the gateway's writes block (WANT_WRITE) and resume."""
    big = bytes(range(256)) * 12289            # ~3 MB, not a multiple of 16k
    with Backend(lambda req: (200, [("Content-Type", "application/octet-stream")],
                              big if req.target == "/big" else req.body)) as be:
        gw = gateway(portico, pki, upstreams='upstreams = { b = { servers = [ "127.0.0.1:%d" ]; '
                                             '}; };' % be.port,
                     routes='{ path = "/"; proxy = "b"; }')
        raw = socket.create_connection(("127.0.0.1", gw.tls_port), timeout=10)
        with client_ctx(pki).wrap_socket(raw, server_hostname="default.test") as s:
            reader = Reader(s)
            for i in range(20):
                s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                r = read_response(reader)
                assert r.status == 200 and r.body == b"hello", i
            s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.5)                       # let every buffer on the way fill up
            r = read_response(reader)
            assert r.status == 200
            assert r.body == big
            upload = os.urandom(1 << 20)
            s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(upload)
                      + upload)
            r = read_response(reader)
            assert r.status == 200 and r.body == upload


def client_hello_tls11():
    """A minimal TLS 1.1 ClientHello (what an old client sends)."""
    body = (b"\x03\x02" + os.urandom(32) + b"\x00"
            + b"\x00\x04\xc0\x13\x00\x2f" + b"\x01\x00")
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def test_tls11_is_refused(portico, pki):
    gw = gateway(portico, pki)
    with connect(gw.tls_port) as s:
        s.sendall(client_hello_tls11())
        data = Reader(s).read_all()
    # An alert record: fatal (2), protocol_version (70); then the close.
    assert data[:1] == b"\x15", data
    assert data[5:7] == b"\x02\x46", data
    assert "TLS handshake with 127.0.0.1 failed" in gw.log()


def test_old_protocols_and_bad_ciphers_are_config_errors(tmp_path, pki):
    for setting, message in (('protocols = [ "TLSv1.2", "TLSv1.1" ];',
                              'protocol "TLSv1.1" is refused'),
                             ('protocols = [ "SSLv3" ];', 'protocol "SSLv3" is refused'),
                             ('ciphers = "NO-SUCH-CIPHER";', 'no usable cipher')):
        path = tmp_path / "p.conf"
        path.write_text('listen = ( { address = "127.0.0.1:1"; tls = {\n'
                        '  %s\n  %s\n}; } );\nroutes = ( { path = "/"; echo = true; } );\n'
                        % (certs_block(pki, ["default"]), setting))
        r = run_portico("-t", "-c", str(path))
        assert r.returncode != 0
        assert re.search(r"p\.conf:3: .*%s" % re.escape(message), r.stderr + r.stdout), \
            r.stderr + r.stdout


# ---- certificates: SNI, key types, OCSP ------------------------------------------------

@pytest.mark.parametrize("sni,org", [
    ("api.test", "api"),                # exact name
    ("API.Test", "api"),                # names are case-insensitive
    ("foo.wild.test", "wild"),          # wildcard, one label
    ("a.b.wild.test", "default"),       # a wildcard covers one label only
    ("wild.test", "default"),
    ("unknown.test", "default"),        # unknown name: the default
    (None, "default"),                  # no SNI at all: the default
])
def test_sni_picks_the_certificate(portico, pki, sni, org):
    gw = gateway(portico, pki)
    r = tls_request(gw.tls_port, client_ctx(pki), sni=sni)
    assert r.resp.status == 200
    assert r.subject("organizationName") == org


def test_sni_certificate_verifies_with_hostname_check(portico, pki):
    gw = gateway(portico, pki)
    ctx = client_ctx(pki)
    ctx.check_hostname = True
    for name in ("api.test", "x.wild.test", "default.test", "dual.test"):
        r = tls_request(gw.tls_port, ctx, sni=name)
        assert r.resp.status == 200, name


@pytest.mark.parametrize("cipher,org", [("ECDHE-ECDSA-AES128-GCM-SHA256", "dual-ecdsa"),
                                        ("ECDHE-RSA-AES128-GCM-SHA256", "dual-rsa")])
def test_rsa_and_ecdsa_side_by_side_tls12(portico, pki, cipher, org):
    gw = gateway(portico, pki)
    r = tls_request(gw.tls_port, client_ctx(pki, ssl.TLSVersion.TLSv1_2, ciphers=cipher),
                    sni="dual.test")
    assert r.cipher == cipher
    assert r.subject("organizationName") == org


@pytest.mark.parametrize("sigalgs,kind,org", [("ECDSA+SHA256", "ECDSA", "dual-ecdsa"),
                                              ("RSA-PSS+SHA256", "RSA-PSS", "dual-rsa")])
def test_rsa_and_ecdsa_side_by_side_tls13(portico, pki, sigalgs, kind, org):
    gw = gateway(portico, pki)
    out = s_client(gw.tls_port, "-tls1_3", "-servername", "dual.test", "-sigalgs", sigalgs,
                   data=CLOSE_REQ)
    assert re.search(r"Peer signature type: %s\b" % re.escape(kind), out), out
    assert "O = %s" % org in out, out
    assert "HTTP/1.1 200 OK" in out


def test_default_ecdsa_twin(portico, pki):
    """RSA and ECDSA twins as the default pair serve clients without SNI."""
    gw = gateway(portico, pki, certs=("dual_rsa", "dual_ec", "api"))
    for cipher, org in (("ECDHE-ECDSA-AES128-GCM-SHA256", "dual-ecdsa"),
                        ("ECDHE-RSA-AES128-GCM-SHA256", "dual-rsa")):
        r = tls_request(gw.tls_port, client_ctx(pki, ssl.TLSVersion.TLSv1_2, ciphers=cipher))
        assert r.subject("organizationName") == org
    r = tls_request(gw.tls_port, client_ctx(pki), sni="api.test")
    assert r.subject("organizationName") == "api"


def test_ocsp_staple(portico, pki):
    gw = gateway(portico, pki)
    out = s_client(gw.tls_port, "-servername", "default.test", "-status", data=CLOSE_REQ)
    assert "OCSP Response Status: successful" in out, out
    # Another certificate has no staple.
    out = s_client(gw.tls_port, "-servername", "api.test", "-status", data=CLOSE_REQ)
    assert "OCSP response: no response sent" in out, out


# ---- session resumption ------------------------------------------------------------

@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_resumption_across_workers(portico, pki, version):
    gw = gateway(portico, pki, workers=2)
    gw.wait_workers(2)
    ctx = client_ctx(pki, version)
    first = tls_request(gw.tls_port, ctx, sni="api.test", gw=gw)
    assert not first.reused
    session, served = first.session, {first.worker}
    for i in range(30):
        r = tls_request(gw.tls_port, ctx, sni="api.test", session=session, gw=gw)
        assert r.resp.status == 200
        assert r.reused, "connection %d was not resumed" % i
        served.add(r.worker)
        session = r.session
    # The kernel spread 31 connections over both workers: each resumed
    # sessions the other one issued.
    assert served == set(gw.workers()), served


def test_tls13_resumption_issues_a_fresh_ticket(portico, pki):
    """RFC 8446 C.4: clients should use a TLS 1.3 ticket once, so every
    resumed connection must bring a new one, or the next resumes fail."""
    gw = gateway(portico, pki)
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_3)
    session = tls_request(gw.tls_port, ctx, sni="api.test").session
    used = set()
    for i in range(5):
        used.add(session.id)
        r = tls_request(gw.tls_port, ctx, sni="api.test", session=session)
        assert r.reused, "connection %d was not resumed" % i
        session = r.session
        assert session.has_ticket
        assert session.id not in used, "resumption %d brought no new ticket" % i


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_no_resumption_under_another_server_name(portico, pki, version):
    """RFC 6066 3: a session made for one server name is not resumed when
    the client asks for another (the name compares without case)."""
    gw = gateway(portico, pki)
    ctx = client_ctx(pki, version)
    first = tls_request(gw.tls_port, ctx, sni="api.test")
    other = tls_request(gw.tls_port, ctx, sni="default.test", session=first.session)
    assert not other.reused
    assert other.subject("organizationName") != first.subject("organizationName")
    same = tls_request(gw.tls_port, ctx, sni="API.test", session=first.session)
    assert same.reused and same.resp.status == 200


def test_resumption_after_reload(portico, pki):
    gw = gateway(portico, pki)
    ctx = client_ctx(pki)
    first = tls_request(gw.tls_port, ctx, sni="api.test")
    old = gw.workers()
    start = len(gw.log())
    gw.reload(gw.conf_text.replace('echo = true;', 'echo = true; server_header = "x";'))
    gw.wait_log(r'zone "tls_tickets:tls" \(\d+ bytes\) kept', start=start)
    new = gw.wait_workers(1, exclude=old)
    r = tls_request(gw.tls_port, ctx, sni="api.test", session=first.session, gw=gw)
    assert r.worker == new[0]
    assert r.reused
    assert r.resp.status == 200


def test_ticket_key_rotation_keeps_old_keys(portico, pki):
    gw = gateway(portico, pki, tls_extra='ticket_rotation = "1s";')
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)
    first = tls_request(gw.tls_port, ctx, sni="api.test")
    time.sleep(1.2)
    # A new session's ticket is sealed with a fresh key...
    assert not tls_request(gw.tls_port, ctx, sni="api.test").reused
    gw.wait_log(r'TLS ticket key of zone "tls_tickets:tls" rotated')
    # ...and the first ticket's key, now an old one, still opens it.
    r = tls_request(gw.tls_port, ctx, sni="api.test", session=first.session)
    assert r.reused


def test_session_tickets_off(portico, pki):
    gw = gateway(portico, pki, tls_extra="session_tickets = false;")
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)
    first = tls_request(gw.tls_port, ctx, sni="api.test")
    r = tls_request(gw.tls_port, ctx, sni="api.test", session=first.session)
    assert not r.reused


# ---- client certificates -----------------------------------------------------------

MTLS_ROUTES = """{ name = "secure"; path = "/secure"; proxy = "b"; require_client_cert = true;
    client_cert_headers = true; },
  { name = "open"; path = "/"; proxy = "b"; client_cert_headers = true; }"""


def mtls_gateway(portico, pki, be, mode):
    return gateway(portico, pki,
                   tls_extra='client_certificate = "%s"; client_ca = "%s";'
                             % (mode, pki.p("ca.pem")),
                   upstreams='upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };' % be.port,
                   routes=MTLS_ROUTES)


def expect_handshake_refused(port, ctx):
    # TLS 1.3 reports a refused client certificate after the client's
    # Finished: the failure shows on the first read, as an alert or a close.
    with pytest.raises((ssl.SSLError, ConnectionResetError, ConnectionClosed,
                        BrokenPipeError)):
        tls_request(port, ctx, sni="api.test")


def test_mtls_required(portico, pki):
    with Backend() as be:
        gw = mtls_gateway(portico, pki, be, "required")
        expect_handshake_refused(gw.tls_port, client_ctx(pki))
        expect_handshake_refused(gw.tls_port, client_ctx(pki, cert="rogue_client"))
        assert be.requests == []
        r = tls_request(gw.tls_port, client_ctx(pki, cert="client"), sni="api.test",
                        path="/secure",
                        headers=[("X-Client-Cert-Subject", "CN=admin"),
                                 ("x-client-cert-fingerprint", "00")])
        assert r.resp.status == 200
        req = be.requests[-1]
        assert req.header_all("X-Client-Cert-Subject") == ["CN=client-1,O=Portico Tests"]
        assert req.header_all("X-Client-Cert-Fingerprint") == \
            [hashlib.sha256(pki.der("client")).hexdigest()]
        assert req.header("X-Forwarded-Proto") == "https"


def test_mtls_optional_and_route_requirement(portico, pki):
    with Backend() as be:
        gw = mtls_gateway(portico, pki, be, "optional")
        anon = client_ctx(pki)
        r = tls_request(gw.tls_port, anon, sni="api.test", path="/open",
                        headers=[("X-Client-Cert-Subject", "CN=admin")])
        assert r.resp.status == 200
        # A client cannot vouch for itself: its copy is dropped, none is added.
        assert be.requests[-1].header_all("X-Client-Cert-Subject") == []
        r = tls_request(gw.tls_port, anon, sni="api.test", path="/secure")
        assert r.resp.status == 403
        assert r.resp.json()["status"] == 403
        n = len(be.requests)
        r = tls_request(gw.tls_port, client_ctx(pki, cert="client"), sni="api.test",
                        path="/secure")
        assert r.resp.status == 200
        assert len(be.requests) == n + 1
        # A certificate that is sent must verify, even when optional.
        expect_handshake_refused(gw.tls_port, client_ctx(pki, cert="rogue_client"))


def test_T_dump_of_tls_settings_loads_again(tmp_path, pki):
    """-T writes the certificates list (with ocsp_staple) and the shorthand
    alike, and its output passes -t and dumps the same again."""
    path = tmp_path / "p.conf"
    path.write_text('listen = ( { address = "127.0.0.1:1"; tls = { %s }; },\n'
                    '  { address = "127.0.0.1:2"; tls = { cert = "%s"; key = "%s"; }; } );\n'
                    'routes = ( { path = "/"; echo = true; } );\n'
                    % (certs_block(pki, ALL_CERTS), pki.p("api.pem"), pki.p("api.key")))
    out = run_portico("-T", "-c", str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("{ cert = ") == len(ALL_CERTS)
    assert 'ocsp_staple = "%s"' % pki.p("default.ocsp") in out.stdout
    assert 'cert = "%s";' % pki.p("api.pem") in out.stdout
    dumped = tmp_path / "dumped.conf"
    dumped.write_text(out.stdout)
    again = run_portico("-T", "-c", str(dumped))
    assert again.returncode == 0, again.stderr
    strip = lambda s: [l for l in s.splitlines() if not l.startswith("#")]
    assert strip(again.stdout) == strip(out.stdout)


def test_client_ca_without_client_certificate_is_an_error(tmp_path, pki):
    path = tmp_path / "p.conf"
    path.write_text('listen = ( { address = "127.0.0.1:1"; tls = { %s\n'
                    '  client_certificate = "required"; }; } );\n'
                    'routes = ( { path = "/"; echo = true; } );\n'
                    % certs_block(pki, ["default"]))
    r = run_portico("-t", "-c", str(path))
    assert r.returncode != 0
    assert re.search(r'p\.conf:2: client_certificate = "required" needs "client_ca"', r.stderr)


# ---- redirect and HSTS ---------------------------------------------------------------

def test_https_redirect_and_hsts(portico, pki):
    ports = free_ports(2)
    conf = ('portico = { workers = 1; };\n'
            'listen = ( { address = "127.0.0.1:%d"; tls = { %s }; },\n'
            '           "127.0.0.1:%d" );\n'
            'routes = ( { path = "/"; echo = true; https_redirect = true; https_port = %d;\n'
            '    hsts = "max-age=63072000; includeSubDomains"; },\n'
            '  { path = "/std"; echo = true; https_redirect = true; } );\n'
            % (ports[0], certs_block(pki, ["default"]), ports[1], ports[0]))
    portico(conf, ports=ports)
    r = get(ports[1], "/a/b?x=1&y=2", host="example.test:%d" % ports[1])
    assert r.status == 308
    assert r.header("Location") == "https://example.test:%d/a/b?x=1&y=2" % ports[0]
    assert r.header("Strict-Transport-Security") is None
    r = get(ports[1], "/std", host="[::1]:80")
    assert r.status == 308
    assert r.header("Location") == "https://[::1]/std"
    # Over TLS the same route answers, with HSTS.
    r = tls_request(ports[0], client_ctx(pki), sni="default.test", path="/a/b?x=1")
    assert r.resp.status == 200
    assert r.resp.header("Strict-Transport-Security") == "max-age=63072000; includeSubDomains"
    # Once: the access phase runs once per request.
    assert len(r.resp.header_all("Strict-Transport-Security")) == 1
    r = tls_request(ports[0], client_ctx(pki), path="/nothing-here", method="GET")
    assert r.resp.status == 200


def test_upstream_hsts_only_over_tls(portico, pki):
    """RFC 6797 7.2: Strict-Transport-Security from the upstream reaches
    TLS clients and is dropped on plain HTTP."""
    with Backend(lambda req: (200, [("Strict-Transport-Security", "max-age=5")], b"ok")) as be:
        gw = gateway(portico, pki, plain=True,
                     upstreams='upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };' % be.port,
                     routes='{ path = "/"; proxy = "b"; }')
        r = tls_request(gw.tls_port, client_ctx(pki), sni="default.test")
        assert r.resp.header("Strict-Transport-Security") == "max-age=5"
        r = get(gw.plain_port, "/")
        assert r.status == 200 and r.body == b"ok"
        assert r.header("Strict-Transport-Security") is None


@pytest.mark.parametrize("value,why", [
    ("includeSubDomains", "needs max-age"), ("max-age=abc", "max-age"),
    ("max-age=1; max-age=2", "more than once"), ("max-age=1; includeSubDomains; includesubdomains",
                                                  "more than once")])
def test_bad_hsts_values_are_config_errors(tmp_path, value, why):
    path = tmp_path / "p.conf"
    path.write_text('listen = ( "127.0.0.1:1" );\nroutes = (\n  { path = "/"; echo = true;\n'
                    '    hsts = "%s"; } );\n' % value)
    r = run_portico("-t", "-c", str(path))
    assert r.returncode == 1
    assert re.search(r"p\.conf:3: .*hsts.*%s" % why, r.stderr), r.stderr


# ---- the handshake in the event loop ------------------------------------------------

def real_client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="api.test")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


@pytest.mark.parametrize("what", ["nothing", "partial hello"])
def test_half_open_handshake_is_cut_off(portico, pki, what):
    gw = gateway(portico, pki, tls_extra='handshake_timeout = "1s";')
    with connect(gw.tls_port) as s:
        if what != "nothing":
            s.sendall(real_client_hello()[:40])
        t0 = time.monotonic()
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(1)                   # still open: the timeout, not a parse error
        s.settimeout(5)
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 4
    gw.wait_log(r"TLS handshake with 127\.0\.0\.1 timed out")
    # The worker is fine afterwards.
    assert tls_request(gw.tls_port, client_ctx(pki), sni="api.test").resp.status == 200


def test_plain_http_to_a_tls_port(portico, pki):
    gw = gateway(portico, pki)
    with connect(gw.tls_port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = Reader(s).read_all()
    assert not data.startswith(b"HTTP/")
    assert tls_request(gw.tls_port, client_ctx(pki)).resp.status == 200


# ---- configuration errors and reload ---------------------------------------------

def write_conf(path, pki, cert, key):
    text = ('portico = { workers = 1; };\n'
            'listen = ( { address = "127.0.0.1:1"; tls = {\n'
            '    certificates = (\n'
            '      { cert = "%s";\n'
            '        key = "%s"; } ); }; } );\n'
            'routes = ( { path = "/"; echo = true; } );\n' % (cert, key))
    path.write_text(text)


@pytest.mark.parametrize("cert,key,message", [
    ("api.pem", "other.key", r'private key ".*other\.key" does not match certificate'),
    ("api.pem", "dual_ec.key", r'private key ".*dual_ec\.key" does not match certificate'),
    ("api.pem", "broken.key", r'cannot read private key ".*broken\.key"'),
    ("api.pem", "missing.key", r'cannot open private key ".*missing\.key": No such file'),
])
def test_bad_key_is_refused_by_t(tmp_path, pki, cert, key, message):
    path = tmp_path / "portico.conf"
    write_conf(path, pki, pki.p(cert), pki.p(key))
    r = run_portico("-t", "-c", str(path))
    assert r.returncode != 0
    assert re.search(r"portico\.conf:5: " + message, r.stderr), r.stderr


def test_missing_certificate_is_refused_by_t(tmp_path, pki):
    path = tmp_path / "portico.conf"
    write_conf(path, pki, pki.p("nope.pem"), pki.p("api.key"))
    r = run_portico("-t", "-c", str(path))
    assert r.returncode != 0
    assert re.search(r'portico\.conf:4: cannot open certificate ".*nope\.pem"', r.stderr)


def test_relative_paths_from_the_config_directory(tmp_path, pki):
    for name in ("api.pem", "api.key"):
        with open(pki.p(name), "rb") as src, open(tmp_path / name, "wb") as dst:
            dst.write(src.read())
    path = tmp_path / "portico.conf"
    write_conf(path, pki, "api.pem", "api.key")
    r = run_portico("-t", "-c", str(path))
    assert r.returncode == 0, r.stderr


def test_reload_picks_up_new_certificates_and_refuses_bad_ones(portico, pki):
    gw = gateway(portico, pki, certs=("default",))
    ctx = client_ctx(pki)
    assert tls_request(gw.tls_port, ctx).subject("organizationName") == "default"
    # A key that does not match: refused with file:line, the old config runs on.
    bad = gw.conf_text.replace(pki.p("default.key"), pki.p("other.key"))
    start = len(gw.log())
    gw.reload(bad)
    gw.wait_log(r"portico\.conf:\d+: private key .* does not match", start=start)
    assert tls_request(gw.tls_port, ctx).subject("organizationName") == "default"
    # New files are read on reload.
    good = gw.conf_text.replace(pki.p("default.pem"), pki.p("api.pem")) \
                       .replace(pki.p("default.key"), pki.p("api.key"))
    old = gw.workers()
    gw.reload(good)
    gw.wait_workers(1, exclude=old)
    assert tls_request(gw.tls_port, ctx).subject("organizationName") == "api"


# ---- TLS to upstreams -------------------------------------------------------------

class TLSBackend(Backend):
    """Backend behind TLS; records (version, session_reused) per connection,
    the SNI names it was sent and handshake failures."""

    def __init__(self, pki, handler=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki.p("localhost.pem"), pki.p("localhost.key"))
        self.sni = []
        self.ctx.sni_callback = lambda obj, name, ctx: self.sni.append(name)
        self.conns = []
        self.tls = []
        self.tls_errors = []
        super().__init__(handler)

    def _handle(self, c):
        c.settimeout(10)
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.tls_errors.append(str(e))
            return
        self.tls.append((s.version(), s.session_reused))
        try:
            Backend._handle(self, s)
        finally:
            s.close()


def upstream_gateway(portico, pki, be, tls):
    return gateway(portico, pki,
                   upstreams='upstreams = { b = { servers = [ "127.0.0.1:%d" ]; keepalive = 0;\n'
                             '    tls = %s; }; };' % (be.port, tls),
                   routes='{ path = "/"; proxy = "b"; }')


def test_upstream_tls_verified_with_session_reuse(portico, pki):
    with TLSBackend(pki) as be:
        gw = upstream_gateway(portico, pki, be, '{ ca = "%s"; }' % pki.p("ca.pem"))
        for i in range(4):
            r = tls_request(gw.tls_port, client_ctx(pki), path="/u%d" % i)
            assert r.resp.status == 200, r.resp
            assert r.resp.body == b"hello from backend"
        assert [q.target for q in be.requests] == ["/u0", "/u1", "/u2", "/u3"]
        assert len(be.tls) == 4
        assert be.tls[0] == ("TLSv1.3", False)
        # Each new connection offered the last session: resumed.
        assert all(reused for _, reused in be.tls[1:]), be.tls
        assert be.sni == [None] * 4     # an address is never sent as SNI


def test_upstream_tls_sni_and_keepalive(portico, pki):
    with TLSBackend(pki) as be:
        gw = gateway(portico, pki,
                     upstreams='upstreams = { b = { servers = [ "127.0.0.1:%d" ];\n'
                               '    tls = { ca = "%s"; sni = "localhost"; }; }; };'
                               % (be.port, pki.p("ca.pem")),
                     routes='{ path = "/"; proxy = "b"; }')
        for i in range(5):
            assert tls_request(gw.tls_port, client_ctx(pki)).resp.status == 200
        assert be.sni == ["localhost"]
        assert len(be.tls) == 1         # one pooled connection served them all
        assert len(be.requests) == 5


def test_upstream_tls_wrong_ca_is_502_with_the_reason_logged(portico, pki):
    with TLSBackend(pki) as be:
        gw = upstream_gateway(portico, pki, be, '{ ca = "%s"; }' % pki.p("wrong_ca.pem"))
        r = tls_request(gw.tls_port, client_ctx(pki))
        assert r.resp.status == 502
        gw.wait_log(r"upstream b: TLS handshake with 127\.0\.0\.1:\d+ failed: certificate "
                    r"verify failed: unable to get local issuer certificate")
        assert be.requests == []


def test_upstream_tls_name_mismatch_is_502(portico, pki):
    with TLSBackend(pki) as be:
        gw = upstream_gateway(portico, pki, be, '{ ca = "%s"; sni = "api.test"; }'
                              % pki.p("ca.pem"))
        assert tls_request(gw.tls_port, client_ctx(pki)).resp.status == 502
        gw.wait_log(r"certificate verify failed: hostname mismatch")


def test_upstream_tls_without_verification(portico, pki):
    with TLSBackend(pki) as be:
        gw = upstream_gateway(portico, pki, be, '{ verify = false; }')
        assert tls_request(gw.tls_port, client_ctx(pki)).resp.status == 200


def test_upstream_tls_true_uses_the_system_store(portico, pki):
    with TLSBackend(pki) as be:
        gw = upstream_gateway(portico, pki, be, "true")
        assert tls_request(gw.tls_port, client_ctx(pki)).resp.status == 502
        gw.wait_log(r"certificate verify failed")


def test_upstream_client_certificate(portico, pki):
    with TLSBackend(pki) as be:
        be.ctx.verify_mode = ssl.CERT_REQUIRED
        be.ctx.load_verify_locations(pki.p("ca.pem"))
        gw = upstream_gateway(portico, pki, be, '{ ca = "%s"; cert = "%s"; key = "%s"; }'
                              % (pki.p("ca.pem"), pki.p("client.pem"), pki.p("client.key")))
        assert tls_request(gw.tls_port, client_ctx(pki)).resp.status == 200


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_sni_is_acknowledged_when_used(portico, pki, version):
    """RFC 6066 3: a server that used the server_name to choose the
    certificate SHALL send an empty server_name extension (in the
    ServerHello for TLS 1.2, EncryptedExtensions for 1.3); a name it does
    not know chose nothing and is not acknowledged."""
    gw = gateway(portico, pki)
    used = s_client(gw.tls_port, version, "-tlsextdebug", "-servername", "api.test",
                    data=CLOSE_REQ)
    assert "HTTP/1.1 200" in used
    assert re.search(r'TLS server extension "server name" \(id=0\), len=0', used), used
    unknown = s_client(gw.tls_port, version, "-tlsextdebug", "-servername", "unknown.test",
                       data=CLOSE_REQ)
    assert "HTTP/1.1 200" in unknown
    assert 'TLS server extension "server name"' not in unknown


def test_client_renegotiation_is_refused(portico, pki):
    """TLS 1.2 renegotiation asked by the client gets a no_renegotiation
    alert (SSL_OP_NO_RENEGOTIATION): no second handshake on a connection,
    so no CPU drain and no old renegotiation attack surface."""
    gw = gateway(portico, pki)
    p = subprocess.Popen([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % gw.tls_port,
                          "-tls1_2", "-servername", "default.test"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)             # the handshake first; then the command
        p.stdin.write(b"R\n")
        p.stdin.flush()
        time.sleep(1.0)
        out, _ = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = out.decode(errors="replace")
    assert "RENEGOTIATING" in out, out[-2000:]
    assert "no renegotiation" in out.lower(), out[-2000:]
