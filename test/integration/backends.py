"""Scripted backends and raw clients for integration tests.

Everything here speaks bytes over sockets so a test controls every byte
that portico sees and can check every byte it sends.

Backends:
  Backend(handler)  an HTTP/1.1 server on 127.0.0.1 in a thread. For each
                    request it calls handler(req) -> response and records the
                    request in .requests. A response is a Response, a tuple
                    (status, headers, body), or raw bytes sent as they are.
                    .accepts counts TCP connections accepted.
  RawBackend(script) accepts connections and calls script(sock) on each, for
                    malformed or truncated answers.

Clients:
  request(port, raw) send raw bytes, read one response (Response)
  exchange(sock, raw) the same on an open socket (keep-alive, pipelining)
  read_response(sock) parse one response from a socket
  raw_roundtrip(port, raw) send bytes, read everything until close/timeout
"""
import socket
import threading
import time


class Message:
    """Header lookups shared by requests and responses (names fold case)."""

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


class Request(Message):
    def __init__(self, method, target, version, headers, body, raw_head):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers          # list of (name, value) in order
        self.body = body
        self.raw_head = raw_head        # bytes of the head as received


class Response(Message):
    def __init__(self, status, headers=(), body=b"", reason=None, version="HTTP/1.1"):
        self.status = status
        self.reason = reason
        self.headers = list(headers)
        self.body = body if isinstance(body, bytes) else body.encode()
        self.version = version
        self.raw_head = b""
        self.trailers = []


    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %r %r>" % (self.status, self.headers, self.body[:200])


class ConnectionClosed(Exception):
    pass


class Reader:
    """Buffered reads from a socket with a deadline."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.buf = b""
        self.timeout = timeout

    def _fill(self):
        self.sock.settimeout(self.timeout)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionClosed()
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (sep, limit))
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_all(self):
        try:
            while True:
                self._fill()
        except (ConnectionClosed, ConnectionResetError):
            pass
        out, self.buf = self.buf, b""
        return out


def parse_head(raw):
    lines = raw.decode("latin-1").split("\r\n")
    first = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        headers.append((k, v.strip(" \t")))
    return first, headers


def read_chunked(reader):
    """Decode a chunked body; returns (body, trailers)."""
    body = b""
    while True:
        line = reader.read_until(b"\r\n")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            break
        body += reader.read_exact(size)
        assert reader.read_exact(2) == b"\r\n", "chunk not followed by CRLF"
    trailers = []
    while True:
        line = reader.read_until(b"\r\n")
        if line == b"\r\n":
            break
        k, _, v = line.decode("latin-1").rstrip("\r\n").partition(":")
        trailers.append((k, v.strip()))
    return body, trailers


def read_response(sock_or_reader, method="GET", timeout=10.0):
    """Read one response (skipping nothing: a 1xx is returned as such)."""
    reader = sock_or_reader if isinstance(sock_or_reader, Reader) else \
        Reader(sock_or_reader, timeout)
    raw = reader.read_until(b"\r\n\r\n")
    first, headers = parse_head(raw)
    version, _, rest = first.partition(" ")
    status_text, _, reason = rest.partition(" ")
    resp = Response(int(status_text), headers, b"", reason, version)
    resp.raw_head = raw
    te = resp.header("transfer-encoding")
    cl = resp.header("content-length")
    if method == "HEAD" or resp.status < 200 or resp.status in (204, 304):
        return resp
    if te and "chunked" in te.lower():
        resp.body, resp.trailers = read_chunked(reader)
    elif cl is not None:
        resp.body = reader.read_exact(int(cl))
    else:
        resp.body = reader.read_all()
    return resp


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def request(port, raw, method=None, timeout=10.0):
    """Send raw bytes on a new connection and read one final response."""
    if isinstance(raw, str):
        raw = raw.encode()
    if method is None:
        method = raw.split(b" ", 1)[0].decode()
    with connect(port, timeout) as s:
        s.sendall(raw)
        reader = Reader(s, timeout)
        resp = read_response(reader, method)
        while 100 <= resp.status < 200:
            resp = read_response(reader, method)
        return resp


def get(port, path="/", headers=(), host="localhost", timeout=10.0):
    hdrs = "".join("%s: %s\r\n" % kv for kv in headers)
    return request(port, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                   % (path, host, hdrs), timeout=timeout)


def raw_roundtrip(port, raw, timeout=5.0, shut=False):
    """Send raw bytes, return everything read until the peer closes (or timeout)."""
    if isinstance(raw, str):
        raw = raw.encode()
    with connect(port, timeout) as s:
        s.sendall(raw)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                data = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not data:
                break
            out += data
        return out


def closed(reader, timeout=3.0):
    """True once the peer has closed (EOF or reset) after what reader read."""
    if reader.buf:
        return False
    return is_closed(reader.sock, timeout)


def is_closed(sock, timeout=2.0):
    """True if the peer closed sock (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# ---- backends ---------------------------------------------------------------

def _read_request(reader):
    raw = reader.read_until(b"\r\n\r\n")
    first, headers = parse_head(raw)
    method, target, version = first.split(" ", 2)
    req = Request(method, target, version, headers, b"", raw)
    te = req.header("transfer-encoding")
    cl = req.header("content-length")
    if te and "chunked" in te.lower():
        req.body, req.trailers = read_chunked(reader)
    elif cl is not None:
        req.body = reader.read_exact(int(cl))
    return req


def render(resp, head_only=False):
    if isinstance(resp, bytes):
        return resp
    if isinstance(resp, tuple):
        resp = Response(*resp)
    names = [k.lower() for k, _ in resp.headers]
    head = "%s %d %s\r\n" % (resp.version, resp.status, resp.reason or "OK")
    for k, v in resp.headers:
        head += "%s: %s\r\n" % (k, v)
    if "content-length" not in names and "transfer-encoding" not in names and \
            resp.status >= 200 and resp.status not in (204, 304):
        head += "Content-Length: %d\r\n" % len(resp.body)
    head += "\r\n"
    return head.encode("latin-1") + (b"" if head_only else resp.body)


class _Server:
    """A listening socket on 127.0.0.1 whose accept loop runs in a thread and
    hands each connection to self._handle(sock) in a thread of its own."""

    def __init__(self, port=0):
        self.accepts = 0
        self.lock = threading.Lock()
        self.conns = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepts += 1
                self.conns.append(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self._handle(c)
        except (ConnectionClosed, ConnectionResetError, BrokenPipeError, socket.timeout,
                OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _handle(self, c):
        raise NotImplementedError

    def close(self):
        self.running = False
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class Backend(_Server):
    """A scripted HTTP/1.1 origin server on 127.0.0.1 (keep-alive aware)."""

    def __init__(self, handler=None, port=0):
        self.handler = handler or (lambda req: Response(200, [("Content-Type", "text/plain")],
                                                        b"hello from backend"))
        self.requests = []
        super().__init__(port)

    def _handle(self, c):
        reader = Reader(c, timeout=60)
        while self.running:
            req = _read_request(reader)
            with self.lock:
                self.requests.append(req)
            resp = self.handler(req)
            if resp is None:            # handler closes without answering
                return
            if callable(resp):          # handler takes over the socket
                resp(c, reader)
                return
            c.sendall(render(resp, head_only=req.method == "HEAD"))
            if isinstance(resp, bytes):
                close = b"connection: close" in resp.lower()
            else:
                r = resp if isinstance(resp, Response) else Response(*resp)
                close = (r.header("connection", "") or "").lower() == "close"
            if close or (req.header("connection", "") or "").lower() == "close":
                return


class RawBackend(_Server):
    """Accepts connections and hands each socket to script(sock)."""

    def __init__(self, script):
        self.script = script
        self.received = []
        super().__init__()

    def _handle(self, c):
        self.script(c)


def read_head(sock, timeout=10.0):
    """For RawBackend scripts: read one request head; returns (Reader, Request)."""
    reader = Reader(sock, timeout)
    req = _read_request(reader)
    return reader, req
