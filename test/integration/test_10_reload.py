"""Reload (SIGHUP): generations of workers, listening sockets kept for life,
invalid configs refused, listen addresses and worker counts changed without
dropping a request, and the cap on lingering generations."""
import os
import re
import signal
import socket
import threading
import time

import pytest

from backends import Backend, Reader, connect, get, is_closed, read_response
from conftest import free_ports, listening_inodes, port_open, socket_inodes, wait_for


def conf(ports, body="one", workers=1, extra_main="", extra_routes=""):
    listen = ",\n  ".join('"127.0.0.1:%d"' % p for p in ports)
    return ('portico = { workers = %d; %s };\n'
            'listen = (\n  %s\n);\n'
            'routes = (\n%s'
            '  { name = "main"; path = "/";\n'
            '    return = { status = 200; body = "%s"; }; }\n);\n'
            % (workers, extra_main, listen, extra_routes, body))


def body_of(port, path="/"):
    return get(port, path).body.decode()


class Load:
    """Clients sending requests in threads until stopped, counting every
    failure: an exception or a status other than 200."""

    def __init__(self, port, keepalive=True, close=True):
        self.port = port
        self.ok = 0
        self.failures = []
        self.running = True
        self.lock = threading.Lock()
        self.threads = []
        if keepalive:
            self.threads.append(threading.Thread(target=self._keepalive, daemon=True))
        if close:
            self.threads.append(threading.Thread(target=self._close, daemon=True))
        for t in self.threads:
            t.start()

    def _record(self, ok, what=None):
        with self.lock:
            if ok:
                self.ok += 1
            else:
                self.failures.append(what)

    def _close(self):
        while self.running:
            try:
                r = get(self.port, "/", timeout=10)
                self._record(r.status == 200, "status %d" % r.status)
            except Exception as e:      # noqa: BLE001 (counted)
                self._record(False, "close: %r" % e)
            time.sleep(0.002)

    def _keepalive(self):
        s = reader = None
        while self.running:
            try:
                if s is None:
                    s = connect(self.port)
                    reader = Reader(s)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                r = read_response(reader)
                self._record(r.status == 200, "status %d" % r.status)
                if (r.header("connection") or "").lower() == "close":
                    s.close()
                    s = None
            except Exception as e:      # noqa: BLE001 (counted)
                self._record(False, "keep-alive: %r" % e)
                if s:
                    s.close()
                s = None
            time.sleep(0.002)
        if s:
            s.close()

    def count(self):
        with self.lock:
            return self.ok

    def wait_more(self, n, timeout=10):
        target = self.count() + n
        wait_for(lambda: self.count() >= target, timeout, what="%d more requests" % n)

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(15)
        return self.failures


@pytest.fixture
def load():
    started = []

    def start(port, **kw):
        l = Load(port, **kw)
        started.append(l)
        return l
    yield start
    for l in started:
        l.stop()


def test_reload_new_generation_keeps_sockets(portico):
    port = free_ports()[0]
    p = portico(conf([port], "one", workers=2), ports=[port])
    old = p.wait_workers(2)
    inodes = listening_inodes(port)
    assert len(inodes) == 2, "one listening socket per worker slot"
    assert inodes <= socket_inodes(p.pid), "the master holds the listening sockets"
    assert body_of(port) == "one"

    p.reload(conf([port], "two", workers=2))
    p.wait_log(r"reloaded: generation 2 with 2 workers, generation 1 retiring")
    new = p.wait_workers(2, exclude=old)
    assert not set(new) & set(old)
    assert p.proc.poll() is None
    wait_for(lambda: body_of(port) == "two", 10, what="the new route")
    # Not one listening socket was closed or replaced.
    assert listening_inodes(port) == inodes
    assert inodes <= socket_inodes(p.pid)
    for w in new:
        assert inodes & socket_inodes(w), "worker %d serves none of the sockets" % w
    p.wait_log(r"generation 1 has exited")


def test_reload_invalid_config_keeps_old_workers(portico):
    port = free_ports()[0]
    p = portico(conf([port], "one", workers=2), ports=[port])
    old = p.wait_workers(2)
    inodes = listening_inodes(port)
    bad = conf([port], "two", workers=2).replace(
        '    return = {', '    retrun = 1;\n    return = {')
    p.reload(bad)
    line = bad.splitlines().index("    retrun = 1;") + 1
    p.wait_log(r"reload failed: %s:%d: unknown setting \"retrun\"" % (re.escape(p.conf_path),
                                                                      line))
    p.wait_log(r"keeping the configuration of generation 1")
    assert p.workers() == old
    assert body_of(port) == "one"
    assert listening_inodes(port) == inodes
    # A later valid reload still works.
    p.reload(conf([port], "three", workers=2))
    p.wait_workers(2, exclude=old)
    wait_for(lambda: body_of(port) == "three", 10, what="the new route")


def test_reload_syntax_error_keeps_running(portico):
    port = free_ports()[0]
    p = portico(conf([port], "one"), ports=[port])
    old = p.wait_workers(1)
    with open(p.conf_path, "a") as f:
        f.write("oops = = 1;\n")
    p.send(1)   # SIGHUP
    p.wait_log(r"reload failed: %s:\d+: syntax error" % re.escape(p.conf_path))
    assert p.workers() == old
    assert body_of(port) == "one"


def test_reload_moves_error_log(portico, tmp_path):
    port = free_ports()[0]
    p = portico(conf([port], "one", workers=2), ports=[port])
    old = p.wait_workers(2)
    moved = tmp_path / "logs" / "new-error.log"
    text = conf([port], "two", workers=2, extra_main='error_log = "%s";' % moved)
    p.reload(text)
    new = p.wait_workers(2, exclude=old)
    wait_for(lambda: moved.exists() and "moved here from %s" % p.error_log in moved.read_text(),
             10, what="the new error log")
    p.wait_log(r"the error log moves to %s" % re.escape(str(moved)))
    # The new generation's workers log there (their start, and a reopen).
    p.send(signal.SIGUSR1)
    for w in new:
        wait_for(lambda: "%d#worker" % w in moved.read_text(), 10,
                 what="worker %d in the new log" % w)
    assert not any("%d#worker" % w in p.log() for w in new)


def test_reload_in_flight_request_completes(portico):
    started = threading.Event()

    def handler(req):
        started.set()
        time.sleep(1.0)
        return (200, [], b"slow answer")
    with Backend(handler) as be:
        port = free_ports()[0]
        ups = 'upstreams = { b = { servers = [ "127.0.0.1:%d" ]; }; };\n' % be.port
        routes = '  { path = "/slow"; proxy = "b"; },\n'
        text = conf([port], "one", extra_routes=routes).replace("routes", ups + "routes", 1)
        p = portico(text, ports=[port])
        old = p.wait_workers(1)
        result = {}

        def run():
            try:
                result["resp"] = get(port, "/slow", timeout=15)
            except Exception as e:      # noqa: BLE001
                result["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        assert started.wait(10)
        p.reload(text.replace('"one"', '"two"'))
        p.wait_workers(2, exclude=[])     # old and new side by side while draining
        wait_for(lambda: body_of(port) == "two", 10, what="the new generation")
        t.join(15)
        assert result.get("resp") and result["resp"].body == b"slow answer", result
        p.wait_workers(1, exclude=old)


def test_reload_during_respawn_backoff(portico):
    """Fixing a crash loop with a reload: the generation whose worker was
    waiting for its respawn is retired at once, not kept (or respawned)."""
    port = free_ports()[0]
    p = portico(conf([port], "one"), ports=[port])
    killed = []
    for _ in range(4):
        pid = p.wait_workers(1, exclude=killed)[0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
    p.wait_log(r"respawning in 800 ms")
    p.reload(conf([port], "two"))
    p.wait_log(r"reloaded: generation 2")
    p.wait_log(r"generation 1 has exited")
    wait_for(lambda: body_of(port) == "two", 10, what="generation 2")
    assert len(p.workers()) == 1
    assert "started worker 0 of generation 1 (pid" not in p.log().split("reloaded:")[1]


def test_reload_adds_and_removes_listen_addresses(portico):
    a, b = free_ports(2)
    p = portico(conf([a], "one"), ports=[a])
    inodes_a = listening_inodes(a)
    assert not port_open(b)

    p.reload(conf([a, b], "two"))
    wait_for(lambda: port_open(b), 10, what="the added address")
    wait_for(lambda: body_of(b) == "two", 10, what="the added address to serve")
    assert listening_inodes(a) == inodes_a

    p.reload(conf([a], "three"))
    wait_for(lambda: not port_open(b), 10, what="the removed address to close")
    wait_for(lambda: body_of(a) == "three", 10, what="the remaining address")
    assert listening_inodes(a) == inodes_a
    p.wait_log(r"no longer listening on 127.0.0.1:%d" % b)


BAD_LOG = '  { path = "/log"; access_log = "/proc/no/such/dir/access.log"; return = 204; },\n'


def test_failed_reload_keeps_every_listen_address(portico):
    """A reload that drops an address and then fails must not take the
    address from the running generation (not even from a respawned worker)."""
    a, b = free_ports(2)
    p = portico(conf([a, b], "one"), ports=[a, b])
    old = p.wait_workers(1)
    inodes_b = listening_inodes(b)
    p.reload(conf([a], "two", extra_routes=BAD_LOG))
    p.wait_log(r"reload failed: cannot open access log /proc/no/such/dir/access.log")
    assert p.workers() == old
    assert listening_inodes(b) == inodes_b
    assert inodes_b <= socket_inodes(p.pid), "the master let go of a live address"
    # A respawned worker of the running generation serves both addresses.
    os.kill(old[0], signal.SIGKILL)
    p.wait_workers(1, exclude=old)
    assert body_of(a) == "one" and body_of(b) == "one"
    assert "no longer listening" not in p.log()


def test_failed_reload_opens_nothing(portico):
    a, c = free_ports(2)
    p = portico(conf([a], "one"), ports=[a])
    p.reload(conf([a, c], "two", extra_routes=BAD_LOG))
    p.wait_log(r"reload failed: cannot open access log")
    # No socket left listening on c with nobody to accept from it.
    assert not listening_inodes(c)
    assert not port_open(c)
    assert body_of(a) == "one"


def test_reload_with_address_in_use_fails_cleanly(portico):
    a, b = free_ports(2)
    p = portico(conf([a, b], "one", workers=2), ports=[a, b])
    old = p.wait_workers(2)
    inodes = listening_inodes(a) | listening_inodes(b)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    taken = blocker.getsockname()[1]
    try:
        # Drops b, adds a taken port and a worker slot: all or nothing.
        p.reload(conf([a, taken], "two", workers=3))
        # The holder (this test's own process) is named.
        p.wait_log(r"reload failed: cannot listen on 127.0.0.1:%d: address already in use "
                   r"\(by pid %d;" % (taken, os.getpid()))
        assert p.workers() == old
        assert listening_inodes(a) | listening_inodes(b) == inodes
        assert body_of(a) == "one" and body_of(b) == "one"
    finally:
        blocker.close()


def test_worker_count_changes_drop_nothing(portico, load):
    port = free_ports()[0]
    p = portico(conf([port], "x", workers=1), ports=[port])
    p.wait_workers(1)
    l = load(port)
    l.wait_more(20)
    for n in (4, 2, 3, 1):
        before = p.workers()
        p.reload(conf([port], "x", workers=n))
        # The new generation is up and the old one gone before the next step.
        wait_for(lambda: (lambda w: len(w) == n and not set(w) & set(before))(p.workers()),
                 15, what="generation with %d workers alone" % n)
        l.wait_more(20)
    failures = l.stop()
    assert failures == [], "%d of %d requests failed: %s" % (len(failures), l.ok,
                                                            failures[:5])
    assert len(listening_inodes(port)) == 4, "slots are kept, never closed"


def test_reload_under_load_loses_nothing(portico, load):
    port = free_ports()[0]
    p = portico(conf([port], "gen", workers=2, extra_main='drain_timeout = "10s";'),
                ports=[port])
    inodes = listening_inodes(port)
    l = load(port)
    l.wait_more(20)
    for i in range(10):
        p.reload(conf([port], "gen", workers=2, extra_main='drain_timeout = "10s";'))
        p.wait_log(r"reloaded: generation %d " % (i + 2))
        l.wait_more(10)
    failures = l.stop()
    assert failures == [], "%d of %d requests failed: %s" % (len(failures), l.ok,
                                                            failures[:5])
    assert l.ok > 100
    assert listening_inodes(port) == inodes


def test_max_generations_caps_lingering(portico):
    """Old generations held open by idle keep-alive connections do not pile
    up: past max_generations the oldest is told to close its connections."""
    port = free_ports()[0]
    extra = 'drain_timeout = "60s"; max_generations = 2;'
    p = portico(conf([port], "g1", extra_main=extra), ports=[port])
    held = []
    for g in range(1, 7):
        # An idle keep-alive connection on generation g.
        s = connect(port)
        r = Reader(s)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(r).body.decode() == "g%d" % g
        held.append((s, r))
        p.reload(conf([port], "g%d" % (g + 1), extra_main=extra))
        p.wait_log(r"reloaded: generation %d " % (g + 1))
        wait_for(lambda: body_of(port) == "g%d" % (g + 1), 10, what="generation %d" % (g + 1))
        # Current + at most max_generations lingering ones.
        wait_for(lambda: len(p.workers()) <= 3, 10, what="lingering generations capped")
    p.wait_log(r"old generations still running \(max_generations = 2\): telling "
               r"generation 1 to close")
    p.wait_log(r"telling generation 4 to close")
    # The connections of the told generations were closed; the newest kept.
    for g, (s, r) in enumerate(held[:4], 1):
        assert is_closed(s, 5), "generation %d still holds its connection" % g
    for s, r in held[4:]:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = read_response(r)
        assert resp.status == 200
        assert (resp.header("connection") or "").lower() == "close"
    for s, r in held:
        s.close()
    wait_for(lambda: len(p.workers()) == 1, 10, what="old generations to exit")


def test_pidfile_from_config_survives_the_first_generation(tmp_path):
    # The pidfile named in the config (no -p) must stay the master's own
    # path: once generation 1 exited its config was freed, and the next
    # reload compared against, and the exit removed, whatever lay there.
    from conftest import BIN, SANITIZER_MARKS
    import subprocess
    port = free_ports()[0]
    pidfile, log = tmp_path / "from-conf.pid", tmp_path / "error.log"
    main = 'error_log = "%s"; pidfile = "%s";' % (log, pidfile)
    cfg = tmp_path / "portico.conf"
    cfg.write_text(conf([port], "one", extra_main=main))
    out = open(tmp_path / "stdout.log", "wb")
    proc = subprocess.Popen([BIN, "-F", "-c", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
    try:
        text = lambda: log.read_text(errors="replace") if log.exists() else ""
        wait_for(lambda: "started" in text() and port_open(port), 15, what="start")
        for gen, body in ((2, "two"), (3, "three" * 50), (4, "four")):
            # each config a different size: the freed memory is reused
            cfg.write_text(conf([port], body, extra_main=main))
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "generation %d has exited" % (gen - 1) in text(), 15,
                     what="generation %d to exit" % (gen - 1))
            assert body_of(port) == body
        assert "pidfile changed" not in text()
        assert int(pidfile.read_text()) == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        out.close()
    report = text() + (tmp_path / "stdout.log").read_text(errors="replace")
    assert not [l for l in report.splitlines() if any(m in l for m in SANITIZER_MARKS)], report
    assert rc == 0
    assert not pidfile.exists(), "the pidfile outlived the master"
