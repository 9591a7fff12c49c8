"""Issue 10, upgrades: only the protocols on a route's upgrade list are
forwarded, h2c never (RFC 9113 3.1 removed it) and HTTP2-Settings is
always hop-by-hop; a 426 from the upstream keeps its Upgrade field (RFC
9110 15.5.22). Each test is written as the attack it stops.
"""
from backends import Backend, RawBackend, Reader, Response, connect, read_head, read_response
from conftest import free_ports, run_portico

CONF = """
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = ( { path = "/"; proxy = "b"; %(route)s } );
"""


def start(portico, be_port, route="websocket = true;"):
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be_port, route=route), ports=[port])
    return port


class Switcher:
    """A backend that switches to whatever the request's Upgrade names (the
    careless server an attacker hopes for) and otherwise answers 200."""

    def __init__(self):
        self.heads = []
        self.raw = RawBackend(self.script)
        self.port = self.raw.port

    def script(self, sock):
        reader, req = read_head(sock, 5)
        self.heads.append(req)
        up = req.header("upgrade")
        if up:
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                         b"Upgrade: %s\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" % up.encode())
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")
        sock.settimeout(2)
        try:
            sock.recv(1)
        except OSError:
            pass

    def close(self):
        self.raw.close()


H2C = (b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
       b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")


def test_h2c_upgrade_is_never_forwarded(portico):
    """Even on a route that forwards upgrades: the backend sees neither
    Upgrade: h2c nor HTTP2-Settings, and the client gets its plain answer."""
    be = Switcher()
    port = start(portico, be.port)
    with connect(port) as s:
        s.sendall(H2C)
        reader = Reader(s, 5)
        resp = read_response(reader)
        assert resp.status == 200 and resp.body == b"plain"
        assert resp.header("upgrade") is None
        # No tunnel: the connection still speaks HTTP/1.1.
        s.sendall(b"GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert read_response(reader).status == 200
    for req in be.heads:
        assert req.header("upgrade") is None
        assert req.header("http2-settings") is None
        assert "upgrade" not in (req.header("connection") or "").lower()
    be.close()


def test_http2_settings_is_hop_by_hop_even_unlisted(portico):
    """HTTP2-Settings not named in Connection is still not forwarded."""
    be = Backend(lambda req: Response(200, [], b"ok"))
    port = start(portico, be.port, "")
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHTTP2-Settings: AAMAAABk\r\n"
                  b"Connection: close\r\n\r\n")
        assert read_response(Reader(s, 5)).status == 200
    assert be.requests[0].header("http2-settings") is None
    be.close()


def test_protocol_not_on_the_list_is_not_forwarded(portico):
    """The default list is [ "websocket" ]: another protocol is dropped from
    Upgrade, and so is the whole switch when nothing is left."""
    be = Switcher()
    port = start(portico, be.port)
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                  b"Upgrade: evil/1, h2c\r\n\r\n")
        resp = read_response(Reader(s, 5))
        assert resp.status == 200 and resp.body == b"plain"
    assert be.heads[0].header("upgrade") is None
    be.close()


def test_listed_protocol_is_forwarded_alone(portico):
    """A route's list lets its protocol through, and only it of the offer."""
    be = Switcher()
    port = start(portico, be.port, 'websocket = true; upgrade = [ "chat" ];')
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                  b"Upgrade: h2c, websocket, chat/2\r\n\r\n")
        resp = read_response(Reader(s, 5))
        assert resp.status == 101 and resp.header("upgrade") == "chat/2"
    assert be.heads[0].header("upgrade") == "chat/2"
    be.close()


def test_websocket_false_wins_over_the_list(portico):
    be = Switcher()
    port = start(portico, be.port, 'websocket = false; upgrade = [ "websocket" ];')
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                  b"Upgrade: websocket\r\n\r\n")
        assert read_response(Reader(s, 5)).status == 200
    assert be.heads[0].header("upgrade") is None
    be.close()


def test_h2c_on_the_list_is_a_config_error(tmp_path):
    conf = tmp_path / "p.conf"
    conf.write_text(CONF % dict(port=free_ports(1)[0], be=1,
                                route='websocket = true; upgrade = [ "websocket", "H2C" ];'))
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0
    assert "h2c" in (r.stderr + r.stdout).lower() and "RFC 9113" in r.stderr + r.stdout


def test_426_keeps_its_upgrade(portico):
    be = Backend(lambda req: Response(426, [("Upgrade", "TLS/1.3, HTTP/1.1"),
                                            ("Connection", "Upgrade")], b"upgrade first"))
    port = start(portico, be.port, "")
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = read_response(Reader(s, 5))
    assert resp.status == 426 and resp.body == b"upgrade first"
    assert resp.header("upgrade") == "TLS/1.3, HTTP/1.1"
    assert "upgrade" in resp.header("connection").lower()
    be.close()
