"""Mutated requests and mutated upstream responses against the real binary
(issue 3, "no input can crash a worker"): the libFuzzer targets cover the
parsers alone; this drives whole request paths (routing, errors before and
after routing, bodies skipped or relayed, echo, return, the proxy both
ways) with bytes that are almost right. A fixed seed keeps every run the
same; under --enable-sanitizers (make distcheck in CI) a memory error
aborts the worker, which fails the test like a crash does.
"""
import os
import random
import socket
import threading

from backends import RawBackend, Reader, get, read_head
from conftest import free_ports

# PORTICO_FUZZ_SEED and PORTICO_FUZZ_ROUNDS explore further by hand.
SEED = int(os.environ.get("PORTICO_FUZZ_SEED", "20261127"))
ROUNDS = int(os.environ.get("PORTICO_FUZZ_ROUNDS", "400"))  # and as many responses
PARALLEL = 16

CONF = """
portico = { workers = 1; };
listen = ( { address = "127.0.0.1:%(port)d"; header_timeout = "1s";
             body_timeout = "1s"; } );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; read_timeout = "1s"; }; };
routes = (
  { name = "p"; path = "/p/"; proxy = "b"; websocket = true; client_max_body_size = "64k";
    forwarded = true; },
  { name = "e"; path = "/e"; echo = true; },
  { name = "r"; path_exact = "/r"; return = 204; },
  { name = "m"; path = "/m"; methods = [ "GET" ]; return = 200; }
);
"""

REQUESTS = [
    b"GET /p/a?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n",
    b"POST /p/b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p/c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
    b"POST /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    b"GET /r HTTP/1.1\r\nHost: a\r\n\r\n",
    b"DELETE /m HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /m HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET http://a:80/p/abs HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /p/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nframe",
    b"GET /p/old HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /e HTTP/1.0\r\n\r\n",
    b"TRACE /p/t HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nCookie: c\r\n\r\n",
    b"HEAD /p/h HTTP/1.1\r\nHost: a\r\n\r\nGET /e/%2e%2e/x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"OPTIONS http://a/p/o HTTP/1.1\r\nHost: a\r\nMax-Forwards: 99999999999\r\n"
    b"Forwarded: for=x;by=\"y\\\"z\", for=_h\r\nExpect: 100-continue\r\n\r\n",
]

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\ntunnel",
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"Set-Cookie: c%d=v\r\n" % i for i in range(150))
    + b"Content-Length: 2, 2\r\n\r\nok",
]

TOKENS = [b"\r\n", b"\r", b"\n", b":", b" ", b"\t", b"\x00", b"\x7f", b"\xff", b",", b";",
          b"chunked", b"0\r\n\r\n", b"Content-Length: 1\r\n", b"Transfer-Encoding: chunked\r\n",
          b"ffffffffffffffff", b"99999999999999999999", b"%", b"%00", b"/..", b"?", b"#",
          b"HTTP/1.1 ", b"\r\n\r\n", b"Connection: close\r\n", b"Upgrade: websocket\r\n"]


def mutate(rng, seeds):
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:                        # flip a byte
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:                               # insert a token
            data[at:at] = rng.choice(TOKENS)
        elif op == 2:                               # delete a span
            del data[at:at + rng.randint(1, 8)]
        elif op == 3:                               # repeat a span
            data[at:at] = data[at:at + rng.randint(1, 32)]
        elif op == 4:                               # splice another seed
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            data = data[:at] + other[cut:]
        else:                                       # truncate
            del data[at:]
    return bytes(data)


def splits(rng, data):
    """The bytes in one to three writes."""
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 2)))
    out, last = [], 0
    for c in cuts + [len(data)]:
        out.append(data[last:c])
        last = c
    return [piece for piece in out if piece]


def exchange(port, pieces):
    """Send the pieces, read what comes for a moment, and go."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            for piece in pieces:
                s.sendall(piece)
            s.settimeout(0.25)
            for _ in range(64):
                if not s.recv(65536):
                    break
    except OSError:
        pass        # resets and timeouts are answers too


def test_mutated_requests_and_responses_do_not_crash(portico):
    rng = random.Random(SEED)
    replies = [mutate(rng, RESPONSES) for _ in range(ROUNDS)]
    served = []

    def script(sock):
        reader, _ = read_head(sock, 2)
        with lock:
            reply = replies[len(served) % len(replies)]
            served.append(1)
        for piece in splits(random.Random(len(reply)), reply):
            sock.sendall(piece)
        sock.settimeout(0.3)
        try:
            sock.recv(65536)
        except OSError:
            pass

    lock = threading.Lock()
    be = RawBackend(script)
    port = free_ports(1)[0]
    gw = portico(CONF % dict(port=port, be=be.port), ports=[port])
    workers = gw.workers()

    jobs = [splits(rng, mutate(rng, REQUESTS)) for _ in range(ROUNDS)]
    # Mutated responses need requests that reach the upstream.
    jobs += [[b"GET /p/%d HTTP/1.1\r\nHost: a\r\n\r\n" % i] for i in range(ROUNDS)]
    rng.shuffle(jobs)
    pending = list(jobs)

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                pieces = pending.pop()
            exchange(port, pieces)

    threads = [threading.Thread(target=worker) for _ in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    be.close()

    assert len(served) >= ROUNDS // 2, "too few requests reached the upstream"
    assert "killed by signal" not in gw.log(), gw.log()[-3000:]
    assert gw.workers() == workers
    # Still serving, and correctly.
    resp = get(port, "/e", host="ok.test")
    assert resp.status == 200 and resp.json()["headers"]
