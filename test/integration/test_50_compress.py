"""Response compression (issue 14): gzip and brotli chosen from the
client's Accept-Encoding, the type, length, coding and no-transform rules,
the fields an encoded response carries (Content-Encoding, Vary, weak ETag,
no Content-Length or Accept-Ranges), streaming of a large chunked body, and
gunzip for clients that take no gzip. Bodies are decoded with zlib (and
brotli through libbrotlidec by ctypes) and compared byte for byte.
"""
import ctypes
import ctypes.util
import gzip
import socket
import threading
import urllib.parse
import zlib

import pytest

from backends import Backend, Reader, Response, connect, get, read_response, request
from conftest import free_ports, run_portico, wait_for

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
defaults = { compress_min_length = 100; };
routes = (
  { path = "/gz/"; proxy = "b"; compress = true; compress_encodings = [ "gzip" ];
    compress_gzip_level = 6; },
  { path = "/br/"; proxy = "b"; compress = true; },
  { path = "/gzfirst/"; proxy = "b"; compress = true; compress_encodings = [ "gzip", "br" ]; },
  { path = "/types/"; proxy = "b"; compress = true; compress_types = [ "text/*", "application/x-custom" ]; },
  { path = "/gunzip/"; proxy = "b"; compress_gunzip = true; compress_gunzip_max_ratio = 50; },
  { path = "/off/"; proxy = "b"; },
  { path = "/all/"; proxy = "b"; compress = true; compress_types = [ "*/*" ]; },
  { path_exact = "/made"; compress = true;
    return = { status = 200; content_type = "text/plain";
               body = "made here, made here, made here, made here, made here, made here, made here, made here, made here, made here, made here"; }; }
);
"""


def _brotli_decoder():
    name = ctypes.util.find_library("brotlidec")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    lib.BrotliDecoderDecompress.argtypes = [ctypes.c_size_t, ctypes.c_char_p,
                                            ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p]
    lib.BrotliDecoderDecompress.restype = ctypes.c_int
    return lib


BROTLI = _brotli_decoder()


def unbrotli(data, limit=64 << 20):
    out = ctypes.create_string_buffer(limit)
    size = ctypes.c_size_t(limit)
    assert BROTLI.BrotliDecoderDecompress(len(data), data, ctypes.byref(size), out) == 1, \
        "not a valid brotli stream"
    return out.raw[:size.value]


def ungzip(data):
    d = zlib.decompressobj(16 + 15)
    out = d.decompress(data)
    assert d.eof and d.unused_data == b"", "gzip stream incomplete or followed by junk"
    return out


def payload(size, seed=0):
    """size bytes of JSON-like text, compressible but not trivially."""
    out = bytearray()
    i = seed
    while len(out) < size:
        out += b'{"id":%d,"name":"item %d","tags":["a%d","b"]},' % (i, i * 7919 % 1000, i % 13)
        i += 1
    return bytes(out[:size])


def handler(req):
    u = urllib.parse.urlsplit(req.target)
    q = dict(urllib.parse.parse_qsl(u.query))
    size = int(q.get("size", "2000"))
    body = payload(size)
    headers = [("Content-Type", q.get("type", "application/json; charset=utf-8"))]
    if q.get("type") == "none":
        headers = []
    status = int(q.get("status", "200"))
    if "ce" in q:
        headers.append(("Content-Encoding", q["ce"]))
        if q["ce"] == "gzip":
            body = gzip.compress(body)
    for k in ("etag", "vary", "cc", "digest"):
        if k in q:
            name = {"etag": "ETag", "vary": "Vary", "cc": "Cache-Control",
                    "digest": "Content-Digest"}[k]
            for v in q[k].split("|"):
                headers.append((name, v))
    headers.append(("Accept-Ranges", "bytes"))
    if status in (204, 304):
        body = b""
    if q.get("chunked"):
        headers.append(("Transfer-Encoding", "chunked"))
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                        for i in range(0, len(body), 1000)) + b"0\r\n\r\n"
    return Response(status, headers, body)


@pytest.fixture
def gw(portico):
    be = Backend(handler)
    port = free_ports(1)[0]
    portico(CONF % {"port": port, "be": be.port}, ports=[port])
    yield port
    be.close()


def ae_get(port, path, ae=None, method="GET", version="1.1"):
    hdr = "" if ae is None else "Accept-Encoding: %s\r\n" % ae
    return request(port, "%s %s HTTP/%s\r\nHost: x\r\n%sConnection: close\r\n\r\n"
                   % (method, path, version, hdr), method=method)


def test_gzip_roundtrip_and_fields(gw):
    resp = ae_get(gw, "/gz/a?size=5000&etag=%22v1%22&digest=sha-256=:AAAA:", "gzip")
    assert resp.status == 200
    assert resp.header("content-encoding") == "gzip"
    assert resp.header("content-length") is None
    assert "chunked" in resp.header("transfer-encoding").lower()
    assert resp.header("vary") == "Accept-Encoding"
    assert resp.header("etag") == 'W/"v1"'
    assert resp.header("accept-ranges") is None
    assert resp.header("content-digest") is None
    assert ungzip(resp.body) == payload(5000)
    assert len(resp.body) < 5000 // 2


@pytest.mark.skipif(BROTLI is None, reason="libbrotlidec not found")
def test_brotli_preferred_and_roundtrip(gw):
    resp = ae_get(gw, "/br/a?size=7000", "gzip, deflate, br")
    assert resp.header("content-encoding") == "br"
    assert unbrotli(resp.body) == payload(7000)
    # ranked lower than gzip: gzip wins
    resp = ae_get(gw, "/br/a?size=7000", "gzip;q=1, br;q=0.5")
    assert resp.header("content-encoding") == "gzip"
    assert ungzip(resp.body) == payload(7000)
    # a tie goes to the route's order, which puts gzip first here
    resp = ae_get(gw, "/gzfirst/a?size=7000", "br, gzip")
    assert resp.header("content-encoding") == "gzip"
    resp = ae_get(gw, "/gzfirst/a?size=7000", "br;q=0.9, gzip;q=0.8")
    assert resp.header("content-encoding") == "br"
    assert unbrotli(resp.body) == payload(7000)


@pytest.mark.parametrize("ae,expect", [
    (None, None),                       # no field: sent as is
    ("", None),                         # empty: no coding wanted
    ("gzip;q=0", None),                 # refused
    ("GZIP", "gzip"),                   # case-insensitive
    ("x-gzip", "gzip"),
    ("*", "br"),
    ("*;q=0.5, br;q=0", "gzip"),        # br refused, gzip through *
    ("identity, gzip;q=0.5", None),     # identity ranked higher
    ("gzip;q=0.5, identity;q=0.5", "gzip"),
    ("deflate, compress", None),        # nothing portico makes
    ("gzip;q=2", None),                 # not a qvalue: the member is ignored
    ("br;q=0.001", "br"),
])
def test_accept_encoding_choices(gw, ae, expect):
    resp = ae_get(gw, "/br/a?size=3000", ae)
    assert resp.header("content-encoding") == expect
    assert resp.header("vary") == "Accept-Encoding"
    body = resp.body
    if expect == "gzip":
        body = ungzip(body)
    elif expect == "br" and BROTLI:
        body = unbrotli(body)
    if expect != "br" or BROTLI:
        assert body == payload(3000)
    if expect is None:
        assert resp.header("content-length") == "3000"
        assert resp.header("accept-ranges") == "bytes"


def test_min_length_and_types(gw):
    # shorter than compress_min_length: as is, and no Vary (never varies)
    resp = ae_get(gw, "/gz/a?size=99", "gzip")
    assert resp.header("content-encoding") is None and resp.body == payload(99)
    assert resp.header("vary") is None
    resp = ae_get(gw, "/gz/a?size=100", "gzip")
    assert resp.header("content-encoding") == "gzip" and ungzip(resp.body) == payload(100)
    # unknown length (chunked) counts as long enough, even when short
    resp = ae_get(gw, "/gz/a?size=50&chunked=1", "gzip")
    assert resp.header("content-encoding") == "gzip" and ungzip(resp.body) == payload(50)
    # a type not listed
    resp = ae_get(gw, "/gz/a?size=3000&type=image/png", "gzip")
    assert resp.header("content-encoding") is None and resp.header("vary") is None
    assert resp.body == payload(3000)
    # parameters and case do not matter
    resp = ae_get(gw, "/gz/a?size=3000&type=Text/HTML%3B%20charset%3Dutf-8", "gzip")
    assert resp.header("content-encoding") == "gzip"
    # no Content-Type at all
    resp = ae_get(gw, "/gz/a?size=3000&type=none", "gzip")
    assert resp.header("content-encoding") is None and resp.body == payload(3000)
    # a list with a wildcard
    for t, expect in (("text/x-anything", "gzip"), ("application/x-custom", "gzip"),
                      ("application/json", None), ("textual/plain", None)):
        resp = ae_get(gw, "/types/a?size=3000&type=" + urllib.parse.quote(t), "gzip")
        assert resp.header("content-encoding") == expect, t
    # every type
    resp = ae_get(gw, "/all/a?size=3000&type=image/x-anything", "gzip")
    assert resp.header("content-encoding") == "gzip" and ungzip(resp.body) == payload(3000)
    resp = ae_get(gw, "/all/a?size=3000&type=none", "gzip")
    assert resp.header("content-encoding") is None
    # a route without compress
    resp = ae_get(gw, "/off/a?size=3000", "gzip")
    assert resp.header("content-encoding") is None and resp.header("vary") is None


def test_never_double_compressed(gw):
    resp = ae_get(gw, "/gz/a?size=3000&ce=br", "gzip, br")
    assert resp.header("content-encoding") == "br"
    assert resp.header("content-length") == "3000"
    assert resp.body == payload(3000)
    resp = ae_get(gw, "/gz/a?size=3000&ce=gzip", "gzip")
    assert resp.header("content-encoding") == "gzip"
    assert ungzip(resp.body) == payload(3000)
    assert resp.header("content-length") == str(len(resp.body))
    # Content-Encoding: identity is no coding
    resp = ae_get(gw, "/gz/a?size=3000&ce=identity", "gzip")
    assert resp.header("content-encoding") == "gzip"
    assert ungzip(resp.body) == payload(3000)


def test_vary_merged_not_duplicated(gw):
    resp = ae_get(gw, "/gz/a?size=3000&vary=Origin|Accept-Language", "gzip")
    assert [v for k, v in resp.headers if k.lower() == "vary"] == \
        ["Origin, Accept-Language, Accept-Encoding"]
    resp = ae_get(gw, "/gz/a?size=3000&vary=origin,%20accept-encoding", "gzip")
    assert [v for k, v in resp.headers if k.lower() == "vary"] == ["origin, accept-encoding"]
    resp = ae_get(gw, "/gz/a?size=3000&vary=*", "gzip")
    assert [v for k, v in resp.headers if k.lower() == "vary"] == ["*"]
    # weak ETags stay as they are
    resp = ae_get(gw, "/gz/a?size=3000&etag=W/%22x%22", "gzip")
    assert resp.header("etag") == 'W/"x"'


def test_no_transform_partial_and_bodiless(gw):
    resp = ae_get(gw, "/gz/a?size=3000&cc=public,%20no-transform", "gzip")
    assert resp.header("content-encoding") is None and resp.body == payload(3000)
    # the client asks for no transformation
    resp = request(gw, "GET /gz/a?size=3000 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                   "Cache-Control: no-transform\r\nConnection: close\r\n\r\n")
    assert resp.header("content-encoding") is None and resp.body == payload(3000)
    resp = ae_get(gw, "/gz/a?status=204&etag=%22e%22", "gzip")
    assert resp.status == 204 and resp.header("content-encoding") is None
    assert resp.header("etag") == '"e"'
    # a 304 stands for the compressed 200: its ETag is the weak one the
    # client holds, and it has that 200's Vary (RFC 9110 15.4.5); the ETag
    # stays strong for a client that takes no gzip
    resp = ae_get(gw, "/gz/a?status=304&etag=%22e%22&type=none", "gzip")
    assert resp.status == 304 and resp.header("content-encoding") is None
    assert resp.header("etag") == 'W/"e"' and resp.header("vary") == "Accept-Encoding"
    resp = ae_get(gw, "/gz/a?status=304&etag=%22e%22&type=none", "br")
    assert resp.header("etag") == '"e"'
    resp = ae_get(gw, "/gz/a?status=304&etag=%22e%22&type=text/plain", "gzip")
    assert resp.header("etag") == 'W/"e"' and resp.header("vary") == "Accept-Encoding"
    resp = ae_get(gw, "/gz/a?status=304&etag=%22e%22&type=image/png", "gzip")
    assert resp.header("etag") == '"e"' and resp.header("vary") is None
    resp = ae_get(gw, "/gz/a?status=206&size=3000", "gzip")
    assert resp.status == 206 and resp.header("content-encoding") is None
    assert resp.body == payload(3000)


def test_head_gets_the_fields_of_get(gw):
    resp = ae_get(gw, "/gz/a?size=3000&etag=%22h%22", "gzip", method="HEAD")
    assert resp.status == 200
    assert resp.header("content-encoding") == "gzip"
    assert resp.header("vary") == "Accept-Encoding"
    assert resp.header("etag") == 'W/"h"'
    assert resp.header("content-length") is None


def test_http10_client_gets_close_delimited(gw):
    resp = ae_get(gw, "/gz/a?size=20000", "gzip", version="1.0")
    assert resp.header("content-encoding") == "gzip"
    assert resp.header("transfer-encoding") is None and resp.header("content-length") is None
    assert ungzip(resp.body) == payload(20000)


def test_gateway_made_response(gw):
    resp = ae_get(gw, "/made", "gzip")
    assert resp.header("content-encoding") == "gzip"
    assert ungzip(resp.body).startswith(b"made here, made here")


def test_keepalive_after_compressed_response(gw):
    with connect(gw) as s:
        reader = Reader(s)
        for size in (3000, 50000, 200):
            s.sendall(b"GET /gz/k?size=%d HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
                      % size)
            resp = read_response(reader)
            assert ungzip(resp.body) == payload(size)


def test_gunzip_for_clients_without_gzip(gw):
    resp = ae_get(gw, "/gunzip/a?size=30000&ce=gzip&etag=%22g%22", None)
    assert resp.header("content-encoding") is None
    assert resp.header("content-length") is None
    assert resp.header("vary") == "Accept-Encoding"
    assert resp.header("etag") == 'W/"g"'
    assert resp.body == payload(30000)
    resp = ae_get(gw, "/gunzip/a?size=30000&ce=gzip", "gzip")
    assert resp.header("content-encoding") == "gzip"
    assert ungzip(resp.body) == payload(30000)


def test_gunzip_ratio_bound_cuts_the_response(portico):
    bomb = gzip.compress(b"\0" * (4 << 20))
    be = Backend(lambda req: Response(200, [("Content-Type", "application/octet-stream"),
                                            ("Content-Encoding", "gzip")], bomb))
    port = free_ports(1)[0]
    p = portico(CONF % {"port": port, "be": be.port}, ports=[port])
    try:
        with connect(port) as s:
            s.sendall(b"GET /gunzip/bomb HTTP/1.1\r\nHost: x\r\n\r\n")
            reader = Reader(s)
            with pytest.raises(Exception):
                resp = read_response(reader)
                assert len(resp.body) == 4 << 20, "the whole bomb came through"
        p.wait_log("gunzip_max_ratio")
    finally:
        be.close()


class Streaming:
    """A backend that sends a large chunked body in two halves and holds the
    second back until told to (the client saw compressed bytes first)."""

    def __init__(self, size):
        self.body = payload(size, seed=5)
        self.release = threading.Event()
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        c, _ = self.srv.accept()
        with c:
            Reader(c).read_until(b"\r\n\r\n")
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            half = len(self.body) // 2
            for i in range(0, half, 65536):
                piece = self.body[i:min(i + 65536, half)]
                c.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            assert self.release.wait(20)
            for i in range(half, len(self.body), 65536):
                piece = self.body[i:i + 65536]
                c.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            c.sendall(b"0\r\n\r\n")

    def close(self):
        self.srv.close()


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_large_body_streams(portico, coding):
    if coding == "br" and BROTLI is None:
        pytest.skip("libbrotlidec not found")
    be = Streaming(6 << 20)
    port = free_ports(1)[0]
    portico(CONF % {"port": port, "be": be.port}, ports=[port])
    try:
        with connect(port, timeout=20) as s:
            s.sendall(b"GET /br/big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n"
                      b"Connection: close\r\n\r\n" % coding.encode())
            reader = Reader(s, timeout=20)
            head = reader.read_until(b"\r\n\r\n")
            assert b"content-encoding: " + coding.encode() in head.lower()
            # compressed bytes of the first half arrive while the backend
            # still holds the second
            got, reader.buf = reader.buf, b""
            while len(got) < 4096:
                chunk = s.recv(65536)
                assert chunk, "closed early"
                got += chunk
            assert not be.release.is_set()
            be.release.set()
            raw = got + reader.read_all()
        # de-chunk what came after the head
        body, pos = b"", 0
        while True:
            eol = raw.index(b"\r\n", pos)
            n = int(raw[pos:eol], 16)
            if n == 0:
                break
            body += raw[eol + 2:eol + 2 + n]
            pos = eol + 2 + n + 2
        plain = ungzip(body) if coding == "gzip" else unbrotli(body)
        assert plain == be.body
        assert len(body) < len(be.body) // 3
    finally:
        be.close()


@pytest.mark.parametrize("setting,message", [
    ('compress_encodings = [ "deflate" ];', 'unknown content coding "deflate"'),
    ('compress_encodings = [ ];', "needs at least one coding"),
    ('compress_types = [ "text" ];', 'invalid media type "text"'),
    ('compress_types = [ "text/ht*" ];', 'invalid media type "text/ht*"'),
    ('compress_types = [ "*/json" ];', 'invalid media type "*/json"'),
    ("compress_gzip_level = 0;", '"compress_gzip_level" must be between 1 and 9'),
    ("compress_brotli_quality = 12;", '"compress_brotli_quality" must be between 0 and 11'),
    ('compress_brotli_window = "32M";', '"compress_brotli_window" must be between'),
    ("compress_gunzip_max_ratio = 1;", '"compress_gunzip_max_ratio" must be between'),
])
def test_config_errors_name_file_and_line(tmp_path, setting, message):
    conf = tmp_path / "c.conf"
    conf.write_text('listen = ( "127.0.0.1:1" );\n'
                    'routes = ( { path = "/"; return = 204;\n'
                    '  compress = true; %s } );\n' % setting)
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "%s:3:" % conf in out and message in out, out


def test_trickling_upstream_is_flushed(portico):
    """A piece the upstream sent before pausing reaches the client whole,
    decodable, while the upstream still waits: the proxy flushes the
    compressor when it has read all there is."""
    first, second = payload(300), payload(700, seed=3)
    release = threading.Event()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def origin():
        c, _ = srv.accept()
        with c:
            Reader(c).read_until(b"\r\n\r\n")
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(first), first))
            release.wait(20)
            c.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(second), second))
    threading.Thread(target=origin, daemon=True).start()
    port = free_ports(1)[0]
    portico(CONF % {"port": port, "be": srv.getsockname()[1]}, ports=[port])
    try:
        with connect(port) as s:
            s.sendall(b"GET /gz/t HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                      b"Connection: close\r\n\r\n")
            reader = Reader(s)
            head = reader.read_until(b"\r\n\r\n")
            assert b"content-encoding: gzip" in head.lower()
            d = zlib.decompressobj(16 + 15)
            plain = b""
            while len(plain) < len(first):
                line = reader.read_until(b"\r\n")
                n = int(line, 16)
                assert n, "the body ended early"
                plain += d.decompress(reader.read_exact(n))
                reader.read_exact(2)
            assert plain == first and not release.is_set()
            release.set()
            from backends import read_chunked
            rest, _ = read_chunked(reader)
            plain += d.decompress(rest)
            assert d.eof and plain == first + second
    finally:
        release.set()
        srv.close()
