"""Fixtures for integration tests: the real portico binary on 127.0.0.1.

A test gets `portico`, a factory: `portico(config_text)` writes the config
into the test's temporary directory, starts the binary in the foreground
(so the process we started is the master), waits until every listen port
answers, and returns a Portico handle. Teardown stops it by its pid and
fails the test if the error log shows a sanitizer report or a crash.

Ports: `free_ports(n)` gives n ports nothing listens on; tests format them
into their config text.
"""
import atexit
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

BIN = os.environ.get("PORTICO_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "portico")
SRCDIR = os.environ.get("PORTICO_SRCDIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer", "assertion failed")


_handed_out = set()


def _port_range():
    """Ports below the kernel's ephemeral range: the source port of no
    client connection (each test makes thousands) can take one between
    free_ports and the gateway's bind. None when that range is too small."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return (10000, low - 1) if low - 1 - 10000 >= 2000 else None


_RANGE = _port_range()
_rng = random.Random(os.getpid() ^ time.monotonic_ns())


def _candidate():
    if _RANGE is None:
        return 0                    # let the kernel choose
    return _rng.randint(*_RANGE)


# make check runs test files side by side: two of them could take one port
# in the gap between free_ports and a gateway's bind (the second gateway
# then refuses to start, or a test's own listener fails to bind). So a
# port is claimed, for as long as the claiming process lives, by a file
# naming its pid, made with O_EXCL.
_CLAIMS = os.path.join(tempfile.gettempdir(), "portico-test-ports-%d" % os.getuid())
_claimed = []


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _claim(port):
    """True when this process now owns port among the suite's processes."""
    os.makedirs(_CLAIMS, mode=0o700, exist_ok=True)
    path = os.path.join(_CLAIMS, str(port))
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                with open(path) as f:
                    owner = int(f.read())
            except (OSError, ValueError):
                return False        # empty: its owner is writing it now
            if _pid_alive(owner):
                return False
            try:
                os.unlink(path)     # its owner died without letting go
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        _claimed.append((os.getpid(), path))
        return True
    return False


@atexit.register
def _release_claims():
    for pid, path in _claimed:
        if pid != os.getpid():
            continue                # a forked child leaves its parent's claims
        try:
            os.unlink(path)
        except OSError:
            pass


def free_ports(n=1):
    """n distinct TCP ports free on 127.0.0.1 right now, none handed out
    before in this process: a test that keeps a port dead (nothing
    listening) must not see it given to the gateway next."""
    socks, ports = [], []
    tries = 0
    while len(ports) < n and tries < 1000:
        tries += 1
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", _candidate()))
        except OSError:
            s.close()
            continue
        port = s.getsockname()[1]
        socks.append(s)             # held until the end: no port twice in this call
        if port in _handed_out or (_RANGE is not None and not _claim(port)):
            continue
        ports.append(port)
        _handed_out.add(port)
    for s in socks:
        s.close()
    assert len(ports) == n, "no %d free ports" % n
    return ports


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value (returned) or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def children_of(pid):
    """Pids whose parent is pid (the master's workers)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(out)


def socket_inodes(pid):
    """Inodes of the sockets pid has open (to prove a socket was kept)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def listening_inodes(port):
    """Inodes of the listening sockets bound to port (from /proc/net/tcp*)."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], int(parts[9])
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            pass
    return inodes


class Portico:
    """A running portico master started by a test."""

    def __init__(self, tmp_path, config, args=(), ports=(), env=None, wait=True):
        self.dir = str(tmp_path)
        self.conf_path = os.path.join(self.dir, "portico.conf")
        self.pidfile = os.path.join(self.dir, "portico.pid")
        self.error_log = os.path.join(self.dir, "error.log")
        self.ports = list(ports)
        self.write_config(config)
        self.stdout = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = subprocess.Popen(
            [BIN, "-F", "-c", self.conf_path, "-p", self.pidfile] + list(args),
            stdout=self.stdout, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid
        self.stopped = False
        if wait:
            self.wait_ready()

    def write_config(self, config):
        """Write config, adding error_log (into the test dir) unless it has one."""
        if "error_log" not in config:
            if re.search(r"^\s*portico\s*=\s*\{", config, re.M):
                config = re.sub(r"^(\s*portico\s*=\s*\{)",
                                r'\1 error_log = "%s";' % self.error_log,
                                config, count=1, flags=re.M)
            else:
                config = 'portico = { error_log = "%s"; workers = 1; };\n%s' % (
                    self.error_log, config)
        with open(self.conf_path, "w") as f:
            f.write(config)

    def wait_ready(self, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("portico exited with %s:\n%s" % (
                    self.proc.returncode, self.log()))
            return all(port_open(p) for p in self.ports) and \
                "started" in self.log()
        wait_for(ready, timeout, what="portico to start")

    def log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def output(self):
        if not self.stdout.closed:
            self.stdout.flush()
        with open(os.path.join(self.dir, "stdout.log"), errors="replace") as f:
            return f.read()

    def workers(self):
        return children_of(self.pid)

    def wait_workers(self, n, timeout=10, exclude=()):
        """Wait until the master has n workers none of which is in exclude."""
        return wait_for(lambda: (lambda w: w if len(w) == n and
                                 not set(w) & set(exclude) else None)(self.workers()),
                        timeout, what="%d workers" % n)

    def send(self, sig):
        """Send a signal to the master."""
        os.kill(self.pid, sig)

    def reload(self, config=None):
        if config is not None:
            self.write_config(config)
        self.send(signal.SIGHUP)

    def wait_log(self, pattern, timeout=10, start=0):
        """Wait until the error log (from offset start) matches pattern."""
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()[start:]), timeout,
                        what="log line %r" % pattern)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for w in self.workers():
                    os.kill(w, signal.SIGKILL)
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
                raise AssertionError("portico did not stop on signal %d" % sig)
        self.stdout.close()
        return self.proc.returncode

    def problems(self):
        text = self.log() + self.output()
        return [line for line in text.splitlines()
                if any(m in line for m in SANITIZER_MARKS)
                or re.search(r"killed by signal (?!9\b|15\b)", line)]


@pytest.fixture
def portico(tmp_path):
    started = []

    def start(config, args=(), ports=(), env=None, wait=True, subdir=None):
        d = tmp_path / subdir if subdir else tmp_path
        d.mkdir(exist_ok=True)
        p = Portico(d, config, args=args, ports=ports, env=env, wait=wait)
        started.append(p)
        return p

    yield start
    problems = []
    for p in started:
        try:
            p.stop()
        finally:
            problems += p.problems()
    assert not problems, "portico reported problems:\n" + "\n".join(problems)


def run_portico(*args, timeout=30):
    """Run the binary to completion (for -t, -T, -V, -s); returns CompletedProcess."""
    return subprocess.run([BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout)
