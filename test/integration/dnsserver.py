"""A tiny authoritative DNS server over UDP on 127.0.0.1 for the tests.

It answers A and AAAA questions for the names of a table the test changes
while portico runs (RFC 1035 wire format, written here by hand: a header,
the question echoed, answers pointing at it by compression). Names not in
the table get NXDOMAIN; a known name without records of the asked type an
empty NOERROR answer. mode switches to "servfail" (every answer
SERVFAIL) or "drop" (no answer at all). Every question is recorded in
.queries as (name, type) for counting.

    with DnsServer() as dns:
        dns.set("backend.test", a=["127.0.0.1"], aaaa=["::1"], ttl=1)
        ... resolver = [ "127.0.0.1:%d" % dns.port ] ...
"""
import socket
import struct
import threading

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3


def parse_question(msg):
    """(id, flags, name, qtype, end of the question) of a query, or None."""
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels, pos = [], 12
    while True:
        if pos >= len(msg):
            return None
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(msg):
            return None                     # no compression in a question
        labels.append(msg[pos:pos + n].decode("ascii", "replace").lower())
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, pos + 4, qclass


def build_answer(msg, question, rcode, rdatas, ttl):
    """The response to msg: its question echoed, one RR per rdata."""
    qid, flags, _name, qtype, end, _qclass = question
    # QR, the query's opcode and RD, AA, RA
    rflags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode
    head = struct.pack("!HHHHHH", qid, rflags, 1, len(rdatas), 0, 0)
    out = head + msg[12:end]
    for rdata in rdatas:
        out += struct.pack("!HHHIH", 0xC00C, qtype, CLASS_IN, ttl, len(rdata)) + rdata
    return out


class DnsServer:
    def __init__(self):
        self.lock = threading.Lock()
        self.names = {}                     # name -> {"A": [...], "AAAA": [...], "ttl": n}
        self.mode = "answer"
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def set(self, name, a=(), aaaa=(), ttl=1):
        with self.lock:
            self.names[name.lower()] = {"A": list(a), "AAAA": list(aaaa), "ttl": ttl}

    def remove(self, name):
        with self.lock:
            self.names.pop(name.lower(), None)

    def count(self, name):
        with self.lock:
            return sum(1 for n, _t in self.queries if n == name.lower())

    def answer(self, msg):
        """The response bytes for a query, or None (drop mode, garbage)."""
        q = parse_question(msg)
        if q is None:
            return None
        _qid, _flags, name, qtype, _end, _qclass = q
        with self.lock:
            self.queries.append((name, qtype))
            mode = self.mode
            entry = self.names.get(name)
        if mode == "drop":
            return None
        if mode == "servfail":
            return build_answer(msg, q, RCODE_SERVFAIL, [], 0)
        if entry is None:
            return build_answer(msg, q, RCODE_NXDOMAIN, [], 0)
        if qtype == TYPE_A:
            rdatas = [socket.inet_pton(socket.AF_INET, ip) for ip in entry["A"]]
        elif qtype == TYPE_AAAA:
            rdatas = [socket.inet_pton(socket.AF_INET6, ip) for ip in entry["AAAA"]]
        else:
            rdatas = []
        return build_answer(msg, q, 0, rdatas, entry["ttl"])

    def _loop(self):
        while self.running:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            out = self.answer(msg)
            if out is not None:
                try:
                    self.sock.sendto(out, peer)
                except OSError:
                    pass

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def query(name, qtype, qid=0x1234):
    """A query message as a stub resolver sends it (RD set), for self-tests."""
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", qtype, CLASS_IN)
