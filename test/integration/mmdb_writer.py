"""A small MaxMind DB (.mmdb) writer for tests: the format libmaxminddb
reads (MaxMind DB File Format Specification 2.0), written directly.

    write_mmdb(path, [("192.0.2.0/24", {"country": {"iso_code": "DE"}}), ...],
               record_size=24, database_type="Test-Country")

Layout: a binary search tree over the 128 address bits (IPv4 networks are
placed under ::/96, where libmaxminddb looks IPv4 addresses up), each node
two records of record_size bits (left for a 0 bit, right for a 1); a
record below node_count is a node, node_count means "no data", above it a
pointer into the data section (value - node_count - 16). Then 16 zero
bytes, the data section, and the metadata map after
b"\\xab\\xcd\\xefMaxMind.com". Data values: maps, UTF-8 strings, uint16,
uint32, uint64 and arrays, each a control byte (type in the top 3 bits,
size in the low 5) with the extended-type byte for types above 7.
"""
import ipaddress
import struct
import time

T_POINTER, T_STRING, T_DOUBLE, T_BYTES, T_UINT16, T_UINT32, T_MAP = 1, 2, 3, 4, 5, 6, 7
T_INT32, T_UINT64, T_UINT128, T_ARRAY, T_CONTAINER, T_END, T_BOOL, T_FLOAT = range(8, 16)


def _control(type_, size):
    if size < 29:
        head, ext = size, b""
    elif size < 29 + 256:
        head, ext = 29, bytes([size - 29])
    elif size < 285 + 65536:
        head, ext = 30, struct.pack(">H", size - 285)
    else:
        head, ext = 31, struct.pack(">I", size - 65821)[1:]
    if type_ <= 7:
        return bytes([(type_ << 5) | head]) + ext
    return bytes([head, type_ - 7]) + ext


def _uint(type_, v, width):
    b = v.to_bytes(width, "big").lstrip(b"\0")
    return _control(type_, len(b)) + b


def encode(v):
    """One data-section value. ints are uint32 unless they need more."""
    if isinstance(v, bool):
        return _control(T_BOOL, 1 if v else 0)
    if isinstance(v, int):
        if v < 0:
            raise ValueError("negative ints are not written")
        if v < 1 << 32:
            return _uint(T_UINT32, v, 4)
        return _uint(T_UINT64, v, 8)
    if isinstance(v, str):
        b = v.encode()
        return _control(T_STRING, len(b)) + b
    if isinstance(v, bytes):
        return _control(T_BYTES, len(v)) + v
    if isinstance(v, dict):
        out = _control(T_MAP, len(v))
        for k, x in v.items():
            out += encode(str(k)) + encode(x)
        return out
    if isinstance(v, (list, tuple)):
        out = _control(T_ARRAY, len(v))
        for x in v:
            out += encode(x)
        return out
    raise TypeError(type(v))


class _Node:
    __slots__ = ("kids", "data")

    def __init__(self):
        self.kids = [None, None]    # _Node, or None
        self.data = [None, None]    # data offset of a leaf record, or None


def _bits(net):
    """The network as (128-bit int, prefix length over 128 bits)."""
    if net.version == 4:
        return int(net.network_address), net.prefixlen + 96
    return int(net.network_address), net.prefixlen


def _insert(root, addr, plen, offset):
    node = root
    for i in range(plen):
        bit = (addr >> (127 - i)) & 1
        if i == plen - 1:
            node.data[bit] = offset
            node.kids[bit] = None
            return
        if node.kids[bit] is None:
            node.kids[bit] = _Node()
            # a shorter network above keeps covering the rest
            if node.data[bit] is not None:
                node.kids[bit].data = [node.data[bit], node.data[bit]]
                node.data[bit] = None
        node = node.kids[bit]


def _record_bytes(left, right, size):
    if size == 24:
        return left.to_bytes(3, "big") + right.to_bytes(3, "big")
    if size == 28:
        mid = ((left >> 24) & 0x0F) << 4 | ((right >> 24) & 0x0F)
        return (left & 0xFFFFFF).to_bytes(3, "big") + bytes([mid]) + \
            (right & 0xFFFFFF).to_bytes(3, "big")
    if size == 32:
        return left.to_bytes(4, "big") + right.to_bytes(4, "big")
    raise ValueError("record_size must be 24, 28 or 32")


def build(networks, record_size=24, database_type="Test", languages=("en",),
          description="portico test data"):
    """The bytes of a database holding networks: (cidr text, value) pairs,
    later pairs winning where they overlap (insert wider ones first)."""
    data = b""
    offsets = {}
    root = _Node()
    for cidr, value in networks:
        net = ipaddress.ip_network(cidr, strict=True)
        key = repr(value)
        if key not in offsets:
            offsets[key] = len(data)
            data += encode(value)
        addr, plen = _bits(net)
        if net.version == 4:
            addr = int(net.network_address)     # under ::/96
        if plen == 0:
            raise ValueError("a /0 network is not written")
        _insert(root, addr, plen, offsets[key])

    # Number the nodes breadth first (the root is node 0).
    order, queue = [], [root]
    while queue:
        n = queue.pop(0)
        order.append(n)
        queue.extend(k for k in n.kids if k is not None)
    index = {id(n): i for i, n in enumerate(order)}
    count = len(order)
    if count + 16 + len(data) >= 1 << record_size:
        raise ValueError("too much for record_size %d" % record_size)

    tree = b""
    for n in order:
        rec = []
        for bit in (0, 1):
            if n.kids[bit] is not None:
                rec.append(index[id(n.kids[bit])])
            elif n.data[bit] is not None:
                rec.append(count + 16 + n.data[bit])
            else:
                rec.append(count)
        tree += _record_bytes(rec[0], rec[1], record_size)

    meta = {
        "binary_format_major_version": 2,
        "binary_format_minor_version": 0,
        "build_epoch": int(time.time()),
        "database_type": database_type,
        "description": {"en": description},
        "ip_version": 6,
        "languages": list(languages),
        "node_count": count,
        "record_size": record_size,
    }
    meta_bytes = b""
    meta_bytes += _control(T_MAP, len(meta))
    for k, v in meta.items():
        meta_bytes += encode(k)
        if k in ("binary_format_major_version", "binary_format_minor_version",
                 "ip_version", "record_size"):
            meta_bytes += _uint(T_UINT16, v, 2)
        elif k == "build_epoch":
            meta_bytes += _uint(T_UINT64, v, 8)
        else:
            meta_bytes += encode(v)
    return tree + b"\0" * 16 + data + b"\xab\xcd\xefMaxMind.com" + meta_bytes


def write_mmdb(path, networks, **kw):
    with open(path, "wb") as f:
        f.write(build(networks, **kw))


if __name__ == "__main__":
    import sys
    # python3 mmdb_writer.py OUT.mmdb CIDR=CC ...  (a country database)
    write_mmdb(sys.argv[1], [(a.split("=")[0], {"country": {"iso_code": a.split("=")[1]}})
                             for a in sys.argv[2:]], database_type="Test-Country")
