"""Address rules, trusted proxies and GeoIP (issue 12): the client address
comes from X-Forwarded-For (or Forwarded) only when the peer is a trusted
proxy; route rules (IPv4 and IPv6, first match wins, a default) and
country rules decide on it; a listener's accept_rules close connections
before HTTP. The GeoIP databases are written by mmdb_writer.py here."""
import http.client
import socket

from backends import Backend, Response
from conftest import free_ports, run_portico
from mmdb_writer import write_mmdb

CONF = """
portico = { workers = 1; log_level = "info";
  trusted_proxies = [ "127.0.0.1/32", "10.9.0.0/16" ];
  %(realip)s
  geoip_country_db = "%(country)s";
  geoip_asn_db = "%(asn)s";
  geoip_header = "X-Country";
  accept_rules = { guarded = [ "deny 127.0.0.1", "allow all" ]; };
};
listen = ( "127.0.0.1:%(port)d", "[::1]:%(port6)d",
           { address = "127.0.0.1:%(guarded)d"; name = "guarded"; } );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "who"; path = "/who";
    return = { status = 200;
               body = "$remote_addr $geoip_country_code $geoip_asn $geoip_asn_org"; }; },
  { name = "rules"; path = "/rules";
    address_rules = [ "deny 10.1.0.0/16", "allow 10.0.0.0/8", "deny 2001:db8:bad::/48",
                      "allow 2001:db8::/32", "allow ::1" ];
    address_default = "deny";
    return = { status = 200; body = "in"; }; },
  { name = "open"; path = "/open"; address_rules = [ "deny 192.0.2.0/24" ];
    return = { status = 200; body = "in"; }; },
  { name = "eu"; path = "/eu"; geoip_allow_countries = [ "DE", "FR" ];
    access_log = { path = "%(dir)s/geo.log";
                   format = "$remote_addr $geoip_country_code $geoip_asn $status"; };
    return = { status = 200; body = "in"; }; },
  { name = "nofr"; path = "/nofr"; geoip_deny_countries = [ "FR" ];
    return = { status = 200; body = "in"; }; },
  { name = "de-by-field"; path = "/up"; headers = { X-Country = "DE"; };
    return = { status = 200; body = "routed-DE"; }; },
  { name = "up"; path = "/up"; proxy = "b"; }
);
"""

NETS = [("10.0.0.0/8", {"country": {"iso_code": "DE"}}),
        ("10.1.0.0/16", {"country": {"iso_code": "FR"}}),
        ("2001:db8::/32", {"country": {"iso_code": "JP"}}),
        ("198.51.100.0/24", {"country": {"iso_code": "US"}})]
ASNS = [("10.0.0.0/8", {"autonomous_system_number": 64500,
                        "autonomous_system_organization": "Example Net"})]


def ask(port, path, headers=(), host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=5)
    try:
        c.request("GET", path, headers=dict(headers))
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def start(portico, tmp_path, realip="", record_size=28):
    country, asn = str(tmp_path / "country.mmdb"), str(tmp_path / "asn.mmdb")
    write_mmdb(country, NETS, record_size=record_size, database_type="Test-Country")
    write_mmdb(asn, ASNS, record_size=24, database_type="Test-ASN")
    be = Backend(lambda req: Response(200, [], req.header("x-country", "").encode()))
    port, port6, guarded = free_ports(3)
    p = portico(CONF % dict(port=port, port6=port6, guarded=guarded, be=be.port,
                            country=country, asn=asn, realip=realip, dir=tmp_path),
                ports=[port, guarded])
    return p, port, port6, guarded, be


def xff(v):
    return [("X-Forwarded-For", v)]


def test_trusted_forwarded_for_and_address_rules(portico, tmp_path):
    p, port, port6, _, be = start(portico, tmp_path)
    # No X-Forwarded-For: the peer; a trusted peer's XFF: the client.
    assert ask(port, "/who")[1].split()[0] == "127.0.0.1"
    assert ask(port, "/who", xff("10.2.3.4"))[1] == "10.2.3.4 DE 64500 Example Net"
    # Walked from the right: trusted hops (10.9/16) skipped, the first
    # untrusted one is the client; what it claims further left is ignored.
    assert ask(port, "/who", xff("6.6.6.6, 10.1.2.3, 10.9.1.1"))[1].startswith("10.1.2.3 FR")
    assert ask(port, "/who", [("X-Forwarded-For", "6.6.6.6"),
                              ("X-Forwarded-For", "198.51.100.7, 10.9.0.1")])[1] \
        .startswith("198.51.100.7 US")
    # Malformed entries end the walk at the last verified hop.
    assert ask(port, "/who", xff("10.2.3.4, garbage"))[1].split()[0] == "127.0.0.1"
    assert ask(port, "/who", xff("10.2.3.4, unknown, 10.9.3.3"))[1].split()[0] == "10.9.3.3"
    # Ports and brackets are tolerated; IPv4-mapped IPv6 is IPv4.
    assert ask(port, "/who", xff("[2001:db8::7]:443"))[1].startswith("2001:db8::7 JP")
    assert ask(port, "/who", xff("10.3.0.1:5555"))[1].startswith("10.3.0.1 DE")
    assert ask(port, "/who", xff("::ffff:10.1.0.9"))[1].startswith("10.1.0.9 FR")

    # First match wins, default deny; IPv4 and IPv6.
    assert ask(port, "/rules", xff("10.2.3.4"))[0] == 200
    assert ask(port, "/rules", xff("10.1.2.3"))[0] == 403
    assert ask(port, "/rules", xff("::ffff:10.1.2.3"))[0] == 403
    assert ask(port, "/rules", xff("2001:db8:1::1"))[0] == 200
    assert ask(port, "/rules", xff("2001:db8:bad::1"))[0] == 403
    assert ask(port, "/rules", xff("192.0.2.1"))[0] == 403
    assert ask(port, "/rules")[0] == 403              # 127.0.0.1 itself: no rule
    assert ask(port, "/open", xff("192.0.2.9"))[0] == 403
    assert ask(port, "/open", xff("203.0.113.9"))[0] == 200
    status, body = ask(port, "/rules", xff("10.1.2.3"))
    assert '"status":403' in body
    p.wait_log(r"10\.1\.2\.3: address rules of route \"rules\" refused: \"deny 10\.1\.0\.0/16\"")

    # Over IPv6 the peer is ::1, not trusted: its XFF is never believed.
    assert ask(port6, "/who", xff("10.2.3.4"), host="::1")[1].split()[0] == "::1"
    assert ask(port6, "/rules", xff("10.1.2.3"), host="::1")[0] == 200   # "allow ::1"
    assert ask(port6, "/open", xff("192.0.2.9"), host="::1")[0] == 200
    be.close()


def test_country_rules_header_and_routing(portico, tmp_path):
    p, port, _, _, be = start(portico, tmp_path, record_size=24)
    assert ask(port, "/eu", xff("10.2.3.4"))[0] == 200            # DE
    assert ask(port, "/eu", xff("10.1.3.4"))[0] == 200            # FR
    assert ask(port, "/eu", xff("2001:db8::1"))[0] == 403         # JP
    assert ask(port, "/eu", xff("203.0.113.1"))[0] == 403         # unknown fails allow
    assert ask(port, "/nofr", xff("10.1.3.4"))[0] == 403
    assert ask(port, "/nofr", xff("203.0.113.1"))[0] == 200
    p.wait_log(r"country rules of route \"nofr\" refused: geoip_deny_countries names FR")
    # The country field is set before routing (a route matches it) and
    # reaches the upstream; a client's own copy is overwritten.
    assert ask(port, "/up", xff("10.2.3.4") + [("X-Country", "FR")])[1] == "routed-DE"
    assert ask(port, "/up", xff("10.1.2.3"))[1] == "FR"
    assert ask(port, "/up", xff("198.51.100.1") + [("X-Country", "DE")])[1] == "US"
    assert be.requests[-1].header_all("x-country") == ["US"]
    # X_Country is X-Country to a CGI or WSGI upstream: the client's is not sent.
    assert ask(port, "/up", xff("198.51.100.1") + [("X_Country", "DE")])[1] == "US"
    assert "x_country" not in [k.lower() for k, _ in be.requests[-1].headers]
    assert be.requests[-1].header_all("x-country") == ["US"]
    # Nor in a trailer section.
    from backends import Reader, connect, read_response
    with connect(port) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n"
                  b"X-Country: DE\r\nX_Country: DE\r\nX-Keep: 1\r\n\r\n")
        assert read_response(Reader(s, 5)).body == b"US"
    assert be.requests[-1].trailers == [("X-Keep", "1")]
    assert ask(port, "/up", xff("203.0.113.1"))[1] == "--"
    # The log variables: written when the worker flushes, at the latest on exit.
    p.stop()
    lines = open(str(tmp_path / "geo.log")).read().splitlines()
    assert lines[:4] == ["10.2.3.4 DE 64500 200", "10.1.3.4 FR 64500 200",
                         "2001:db8::1 JP - 403", "203.0.113.1 - - 403"]
    be.close()


def test_geoip_database_reopened_on_reload(portico, tmp_path):
    import signal
    p, port, _, _, be = start(portico, tmp_path)
    assert ask(port, "/who", xff("10.2.3.4"))[1].startswith("10.2.3.4 DE")
    # A new file in place of the old: the reload maps it, the old
    # generation keeps its own mapping until it exits.
    new = str(tmp_path / "country.new")
    write_mmdb(new, [("10.0.0.0/8", {"country": {"iso_code": "NL"}})], record_size=32)
    import os
    os.replace(new, str(tmp_path / "country.mmdb"))
    workers = p.workers()
    p.send(signal.SIGHUP)
    p.wait_workers(1, exclude=workers)
    assert ask(port, "/who", xff("10.2.3.4"))[1].startswith("10.2.3.4 NL")
    assert ask(port, "/eu", xff("10.2.3.4"))[0] == 403
    # A broken file fails the reload; the running one stays.
    start_at = len(p.log())
    with open(str(tmp_path / "country.mmdb"), "wb") as f:
        f.write(b"not a database")
    p.send(signal.SIGHUP)
    p.wait_log(r"geoip_country_db: cannot open", start=start_at)
    assert ask(port, "/who", xff("10.2.3.4"))[1].startswith("10.2.3.4 NL")
    be.close()


def test_forwarded_rfc7239(portico, tmp_path):
    _, port, _, _, be = start(portico, tmp_path, realip='real_ip_from = "forwarded";')
    fwd = [("Forwarded", 'for=6.6.6.6, for="[2001:db8::9]:4711";proto=https, '
                         'for=10.9.0.1;by=10.9.0.2')]
    assert ask(port, "/who", fwd)[1].startswith("2001:db8::9 JP")
    # X-Forwarded-For is not read in this mode.
    assert ask(port, "/who", xff("10.2.3.4"))[1].split()[0] == "127.0.0.1"
    # An obfuscated or unknown node ends the walk.
    assert ask(port, "/who", [("Forwarded", "for=10.2.3.4, for=_hidden")])[1] \
        .split()[0] == "127.0.0.1"
    be.close()


def test_accept_rules_close_before_http(portico, tmp_path):
    p, port, _, guarded, be = start(portico, tmp_path)
    s = socket.create_connection(("127.0.0.1", guarded), timeout=5)
    s.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    s.close()
    assert data == b""
    p.wait_log(r"accept_rules of listener \"guarded\" refused the connection: \"deny 127\.0\.0\.1\"")
    assert ask(port, "/who")[0] == 200
    be.close()


def test_bad_rules_are_config_errors(tmp_path):
    port = free_ports(1)[0]
    cases = [('address_rules = [ "allow 10.0.0.1/8" ];', "bits set past its prefix"),
             ('address_rules = [ "permit 10.0.0.0/8" ];', "must be \"allow CIDR\""),
             ('address_rules = [ "allow 10.0.0.0/33" ];', "prefix length"),
             ('geoip_allow_countries = [ "de" ];', "two-letter country code")]
    for setting, why in cases:
        conf = tmp_path / "p.conf"
        conf.write_text('listen = ( "127.0.0.1:%d" );\nroutes = ( { %s\n return = { status = 204; }; } );\n'
                        % (port, setting))
        r = run_portico("-t", "-c", str(conf))
        assert r.returncode != 0 and why in r.stderr and "p.conf:2" in r.stderr, r.stderr
    conf.write_text('portico = { trusted_proxies = [ "10.0.0.0/8", "nonsense" ]; };\n'
                    'listen = ( "127.0.0.1:%d" );\nroutes = ( { return = { status = 204; }; } );\n'
                    % port)
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0 and "\"nonsense\" is not an IPv4 or IPv6 address" in r.stderr
    conf.write_text('portico = { accept_rules = { nosuch = [ "deny all" ]; }; };\n'
                    'listen = ( "127.0.0.1:%d" );\nroutes = ( { return = { status = 204; }; } );\n'
                    % port)
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0 and "accept_rules: no listener named \"nosuch\"" in r.stderr
    assert "p.conf:1" in r.stderr
    conf.write_text('portico = { geoip_country_db = "%s"; };\n'
                    'listen = ( "127.0.0.1:%d" );\nroutes = ( { return = { status = 204; }; } );\n'
                    % (tmp_path / "missing.mmdb", port))
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0 and "p.conf:1: geoip_country_db: cannot open" in r.stderr
