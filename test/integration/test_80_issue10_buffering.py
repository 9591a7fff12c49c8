"""Issue 10, request buffering: 200 clients trickling a request body held
200 upstream connections open. With request_buffering (the default) the
body is collected first, in memory up to request_buffer_size and in an
unlinked file beyond it, and the upstream is connected only once it is in;
request_buffering = false streams as before.
"""
import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time

import pytest

from backends import Backend, RawBackend, Reader, Response, connect, read_head, read_response
from conftest import free_ports, wait_for

CONF = """
portico = { workers = 1; };
listen = ( { address = "127.0.0.1:%(port)d"; body_timeout = "20s"; } );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = ( { path = "/"; proxy = "b"; %(route)s } );
"""

CLIENTS = 50


class Concurrency:
    """A backend that counts the connections open at once, reads one request
    and answers with the sha256 of its body, then closes."""

    def __init__(self):
        self.open = self.peak = 0
        self.bodies = []
        self.lock = threading.Lock()
        self.raw = RawBackend(self.script)

    def script(self, sock):
        with self.lock:
            self.open += 1
            self.peak = max(self.peak, self.open)
        try:
            reader, req = read_head(sock, 20)
            with self.lock:
                self.bodies.append(req.body)
            digest = hashlib.sha256(req.body).hexdigest().encode()
            sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(digest), digest))
        finally:
            with self.lock:
                self.open -= 1

    def close(self):
        self.raw.close()


def start(portico, be_port, route="", subdir=None):
    port = free_ports(1)[0]
    p = portico(CONF % dict(port=port, be=be_port, route=route), ports=[port], subdir=subdir)
    return p, port


def trickle_clients(port, be, finish_gap=0.03):
    """CLIENTS clients each send a head and then their body a byte at a time
    (10 bytes over 1 s), the last byte staggered by finish_gap so that
    bodies complete one after another. Returns (the backend's accepts when
    the first body completed, the answers, the bodies sent)."""
    socks, bodies, answers = [], [], [None] * CLIENTS
    for i in range(CLIENTS):
        s = connect(port, 20)
        body = b"client-%02d!" % i
        bodies.append(body)
        s.sendall(b"POST /u/%d HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (i, len(body)))
        socks.append(s)
    for k in range(len(bodies[0]) - 1):
        for i, s in enumerate(socks):
            s.sendall(bodies[i][k:k + 1])
        time.sleep(0.1)
    seen_before = be.raw.accepts
    threads = []
    for i, s in enumerate(socks):
        def finish(i=i, s=s):
            s.sendall(bodies[i][-1:])
            answers[i] = read_response(Reader(s, 20))
            s.close()
        time.sleep(finish_gap)
        t = threading.Thread(target=finish)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(30)
    return seen_before, answers, bodies


def test_trickled_bodies_hold_no_upstream_connection(portico):
    be = Concurrency()
    _, port = start(portico, be.raw.port)
    seen_before, answers, bodies = trickle_clients(port, be)
    # While the bodies were coming, the backend saw nothing at all...
    assert seen_before == 0
    # ...then one connection per body, a handful at a time at most.
    assert be.peak <= 5, be.peak
    for i, resp in enumerate(answers):
        assert resp is not None and resp.status == 200, i
        assert resp.body == hashlib.sha256(bodies[i]).hexdigest().encode()
    assert sorted(be.bodies) == sorted(bodies)
    be.close()


def test_without_buffering_each_trickle_holds_a_connection(portico):
    be = Concurrency()
    _, port = start(portico, be.raw.port, "request_buffering = false;")
    seen_before, answers, bodies = trickle_clients(port, be)
    assert seen_before == CLIENTS
    assert be.peak >= CLIENTS - 2, be.peak
    assert all(resp is not None and resp.status == 200 for resp in answers)
    be.close()


def fds_into(pid, directory):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith(directory):
            out.append(target)
    return out


@pytest.fixture
def spill():
    # Under /tmp, not tmp_path: the workers may run as another user, who
    # could not reach into pytest's private directories.
    d = tempfile.mkdtemp(prefix="portico-spill-")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_body_over_the_memory_part_spills_to_a_file_intact(portico, spill):
    digests = []
    be = Backend(lambda req: digests.append(hashlib.sha256(req.body).hexdigest())
                 or Response(200, [], hashlib.sha256(req.body).hexdigest()))
    p, port = start(portico, be.port, 'client_max_body_size = "16m"; request_buffer_size = "64k";'
                                      ' request_buffer_path = "%s";' % spill)
    worker = p.wait_workers(1)[0]
    body = os.urandom(3 << 20)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 70000]), body[i:i + 70000])
                       for i in range(0, len(body), 70000)) + b"0\r\nX-Sum: 1\r\n\r\n"
    for framing, payload in [(b"Content-Length: %d\r\n" % len(body), body),
                             (b"Transfer-Encoding: chunked\r\n", chunked)]:
        with connect(port, 20) as s:
            s.sendall(b"PUT /big HTTP/1.1\r\nHost: a\r\n" + framing + b"\r\n")
            s.sendall(payload[:len(payload) // 2])
            # Half of it is in: past the memory part, so in a file of the
            # directory, which shows no name for it.
            wait_for(lambda: fds_into(worker, spill), 10, what="a spill file")
            assert os.listdir(spill) == []
            assert be.requests == [] or len(be.requests) == len(digests)
            n_before = len(be.requests)
            s.sendall(payload[len(payload) // 2:])
            resp = read_response(Reader(s, 20))
        assert resp.status == 200
        assert resp.body.decode() == hashlib.sha256(body).hexdigest()
        assert len(be.requests) == n_before + 1
    # A buffered chunked body keeps its framing and its (scrubbed) trailers.
    assert be.requests[1].header("transfer-encoding") == "chunked"
    assert be.requests[1].trailers == [("X-Sum", "1")]
    # No file is left open or on disk.
    wait_for(lambda: not fds_into(worker, spill), 5, what="the spill file closed")
    assert os.listdir(spill) == []
    be.close()


def test_buffered_body_is_sent_again_on_a_dead_keepalive_connection(portico):
    """A PUT whose body came in two packets: streamed, it is not all at hand
    when the reused connection turns out dead (502); buffered, it is sent
    again whole on a fresh one."""
    for route, want in [("", 200), ("request_buffering = false;", 502)]:
        bodies = []

        def script(sock):
            # One answer per connection; the next request is read and the
            # connection closed unanswered (timed out just as it came).
            reader, req = read_head(sock, 5)
            bodies.append(req.body)
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            try:
                read_head(sock, 5)
            except Exception:
                pass
            sock.shutdown(socket.SHUT_RDWR)

        be = RawBackend(script)
        _, port = start(portico, be.port, route, subdir="buffering" if route else "on")
        with connect(port) as s:
            s.sendall(b"GET /one HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert read_response(Reader(s, 5)).status == 200
        with connect(port) as s:
            s.sendall(b"PUT /two HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")
            time.sleep(0.2)
            s.sendall(b"def")
            resp = read_response(Reader(s, 5))
        assert resp.status == want, route
        if want == 200:
            assert bodies == [b"", b"abcdef"] and be.accepts == 2
        be.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="workers change user only under root")
def test_spill_directory_the_workers_cannot_write_is_a_config_error(tmp_path):
    """Workers run as nobody: a spill directory only root may write would
    make every large body stream instead, with an error logged per request.
    portico -t says so at load, naming the route."""
    import subprocess
    from conftest import BIN
    d = tempfile.mkdtemp(prefix="portico-spill-")
    try:
        os.chmod(d, 0o755)
        conf = tmp_path / "p.conf"
        port, be = free_ports(2)
        conf.write_text('listen = ( "127.0.0.1:%d" );\n'
                        'upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };\n'
                        'routes = ( { name = "up"; path = "/"; proxy = "b";\n'
                        '  request_buffer_path = "%s"; } );\n' % (port, be, d))
        out = subprocess.run([BIN, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert out.returncode != 0
        assert 'route "up"' in out.stderr and "not writable by the workers' user" in out.stderr
        os.chmod(d, 0o1777)
        out = subprocess.run([BIN, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)
