"""Memory after floods (issue 10): bursts of thousands of connections that
each send a partial head (so each holds a read buffer grown to the head
cap, and a request arena) must not leave the worker at its peak size once
they are gone. Before the fix a worker went from 3 MB to 226 MB over four
bursts of 5,000 and stayed there: pooled buffers were bounded only in
count, and malloc kept every freed page.
"""
import os
import resource
import socket
import time

import pytest

from conftest import free_ports, wait_for

CONNS = 3000
BURSTS = 3
# A worker's fixed keep after a burst: request arenas and connection
# structs kept for reuse (about 5 MB), plus what the trims leave.
MARGIN_KB = 16 * 1024

CONF = """
portico = { workers = 1; worker_connections = 8000; worker_rlimit_nofile = 9000; };
listen = ( { address = "127.0.0.1:%(port)d"; header_timeout = "30s"; } );
routes = ( { path = "/"; return = 204; } );
"""


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def test_rss_returns_after_connection_floods(portico):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONNS + 200:
        pytest.skip("needs an open-file limit of %d" % (CONNS + 200))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, CONNS + 200), hard))
    port, = free_ports(1)
    p = portico(CONF % {"port": port}, ports=[port])
    worker, = p.wait_workers(1)
    if sanitized(worker):
        pytest.skip("ASan keeps freed memory in quarantine: RSS says nothing here")
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 204")
    time.sleep(0.3)
    base = rss_kb(worker)
    # More than one buffer's worth: the read buffer grows to the 32k cap.
    partial = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"a" * 20000
    for burst in range(BURSTS):
        socks = []
        try:
            for _ in range(CONNS):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(partial)
                socks.append(s)
            # The worker has read them all when its RSS holds a buffer each.
            peak = wait_for(lambda: (lambda r: r if r > base + CONNS * 16 else None)(
                rss_kb(worker)), 20, what="the worker to hold the burst's buffers")
        finally:
            for s in socks:
                s.close()
        after = wait_for(lambda: (lambda r: r if r < base + MARGIN_KB else None)(
            rss_kb(worker)), 15, what="RSS to come back after burst %d (base %d kB, peak "
            "%d kB, now %d kB)" % (burst, base, peak, rss_kb(worker)))
        assert after < peak
    # Still serving, same worker.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 204")
    assert p.workers() == [worker]
