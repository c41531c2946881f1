"""Just enough of the Kafka wire protocol, written from the spec, for tests that must send
what no client library would: bad CRCs, truncated fields, wrong lengths. Non-flexible
versions only (request header v1, response header v0), big-endian throughout."""
import socket
import struct
import time

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA = 0, 1, 2, 3
API_VERSIONS, API_CREATE_TOPICS, API_DELETE_TOPICS = 18, 19, 20

ERR_NONE, ERR_CORRUPT_MESSAGE, ERR_UNKNOWN_TOPIC_OR_PARTITION = 0, 2, 3
ERR_UNSUPPORTED_VERSION, ERR_TOPIC_ALREADY_EXISTS = 35, 36


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def zigzag_varint(n):
    """Signed varint as records use (zigzag, then 7 bits a byte)."""
    z = (n << 1) ^ (n >> 63)
    z &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def uvarint(n):
    """Unsigned varint as flexible versions use for lengths and counts (7 bits a byte)."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _var_bytes(b):
    return zigzag_varint(-1) if b is None else zigzag_varint(len(b)) + b


def record(offset_delta, key, value, ts_delta=0, headers=()):
    body = struct.pack(">b", 0) + zigzag_varint(ts_delta) + zigzag_varint(offset_delta)
    body += _var_bytes(key) + _var_bytes(value) + zigzag_varint(len(headers))
    for hk, hv in headers:
        body += _var_bytes(hk) + _var_bytes(hv)
    return zigzag_varint(len(body)) + body


def record_batch(records, base_ts=None, producer_id=-1, producer_epoch=-1, base_sequence=-1,
                 crc_xor=0):
    """A magic-2 batch of (key, value) pairs, BaseOffset 0; crc_xor != 0 spoils the CRC."""
    if base_ts is None:
        base_ts = int(time.time() * 1000)
    recs = b"".join(record(i, k, v) for i, (k, v) in enumerate(records))
    n = len(records)
    after_crc = struct.pack(">hiqqqhii", 0, n - 1, base_ts, base_ts, producer_id, producer_epoch,
                            base_sequence, n) + recs
    crc = crc32c(after_crc) ^ crc_xor
    after_length = struct.pack(">ibI", 0, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


class Writer:
    def __init__(self):
        self.b = bytearray()

    def i8(self, v):
        self.b += struct.pack(">b", v)
        return self

    def i16(self, v):
        self.b += struct.pack(">h", v)
        return self

    def i32(self, v):
        self.b += struct.pack(">i", v)
        return self

    def i64(self, v):
        self.b += struct.pack(">q", v)
        return self

    def string(self, s):
        if s is None:
            return self.i16(-1)
        raw = s.encode() if isinstance(s, str) else s
        self.i16(len(raw))
        self.b += raw
        return self

    def bytes_(self, raw):
        if raw is None:
            return self.i32(-1)
        self.i32(len(raw))
        self.b += raw
        return self

    def raw(self, raw):
        self.b += raw
        return self

    def done(self):
        return bytes(self.b)


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def _take(self, n):
        if self.p + n > len(self.b):
            raise ValueError("response truncated at byte %d (need %d more)" % (self.p, n))
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def i8(self):
        return struct.unpack(">b", self._take(1))[0]

    def i16(self):
        return struct.unpack(">h", self._take(2))[0]

    def i32(self):
        return struct.unpack(">i", self._take(4))[0]

    def i64(self):
        return struct.unpack(">q", self._take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self._take(n).decode()

    def array(self, item):
        n = self.i32()
        return [] if n < 0 else [item(self) for _ in range(n)]


def request_frame(api_key, version, correlation_id, body, client_id="kwire"):
    """Length-prefixed request with header v1 (key, version, correlation id, client id)."""
    hdr = Writer().i16(api_key).i16(version).i32(correlation_id).string(client_id).done()
    return struct.pack(">i", len(hdr) + len(body)) + hdr + body


class Conn:
    """One TCP connection to the broker with bounded waits everywhere."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.next_corr = 1

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, api_key, version, body, client_id="kwire"):
        corr = self.next_corr
        self.next_corr += 1
        self.send_raw(request_frame(api_key, version, corr, body, client_id))
        return corr

    def _recv_exact(self, n, deadline):
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete response within %.1f s" % self.timeout)
            self.sock.settimeout(left)
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def recv(self, timeout=None):
        """(correlation_id, body) of the next response; None when the broker closed the
        connection. Raises TimeoutError when nothing complete arrives in time."""
        deadline = time.monotonic() + (timeout or self.timeout)
        head = self._recv_exact(4, deadline)
        if head is None:
            return None
        (size,) = struct.unpack(">i", head)
        if size < 4 or size > 64 * 1024 * 1024:
            raise ValueError("response frame length %d" % size)
        frame = self._recv_exact(size, deadline)
        if frame is None:
            return None
        return struct.unpack(">i", frame[:4])[0], frame[4:]

    def call(self, api_key, version, body):
        corr = self.send(api_key, version, body)
        r = self.recv()
        if r is None:
            raise ConnectionError("broker closed the connection instead of answering")
        if r[0] != corr:
            raise ValueError("response correlation id %d, expected %d" % (r[0], corr))
        return r[1]

    def closed_within(self, seconds):
        """True if the broker closes the connection (EOF or reset) within `seconds`, reading
        and discarding anything it sends first."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
        return False


# Request bodies and response parsers for the versions the tests use.

def api_versions_v0():
    return b""


def parse_api_versions(body):
    """Error code and {api_key: (min, max)}; the v0 layout, which is also what a broker sends
    with UNSUPPORTED_VERSION whatever version was asked for (KIP-511)."""
    r = Reader(body)
    err = r.i16()
    apis = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
    return err, {k: (lo, hi) for k, lo, hi in apis}


def metadata_v1(topics):
    w = Writer()
    if topics is None:
        w.i32(-1)
    else:
        w.i32(len(topics))
        for t in topics:
            w.string(t)
    return w.done()


def parse_metadata_v1(body):
    r = Reader(body)
    brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
    controller = r.i32()

    def part(r):
        err, idx, leader = r.i16(), r.i32(), r.i32()
        replicas = r.array(lambda r: r.i32())
        isr = r.array(lambda r: r.i32())
        return {"error": err, "partition": idx, "leader": leader, "replicas": replicas,
                "isr": isr}

    def topic(r):
        err, name, internal = r.i16(), r.string(), r.i8()
        return {"error": err, "name": name, "internal": internal, "partitions": r.array(part)}

    return {"brokers": brokers, "controller": controller, "topics": r.array(topic)}


def create_topics_v2(name, partitions, replication=1, timeout_ms=10000):
    w = Writer().i32(1).string(name).i32(partitions).i16(replication)
    w.i32(0)  # no manual assignments
    w.i32(0)  # no configs
    return w.i32(timeout_ms).i8(0).done()


def parse_create_topics_v2(body):
    r = Reader(body)
    r.i32()  # throttle_time_ms
    return r.array(lambda r: (r.string(), r.i16(), r.string()))


def produce_v3(topic, partition, records, acks=-1, timeout_ms=10000):
    w = Writer().string(None).i16(acks).i32(timeout_ms)
    w.i32(1).string(topic).i32(1).i32(partition).bytes_(records)
    return w.done()


def parse_produce_v3(body):
    """[(topic, partition, error_code, base_offset)]"""
    r = Reader(body)
    out = []
    for name, parts in r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i16(), r.i64(), r.i64())))):
        for idx, err, base, _ in parts:
            out.append((name, idx, err, base))
    r.i32()  # throttle_time_ms
    return out


def list_offsets_v1(topic, partition, timestamp):
    w = Writer().i32(-1).i32(1).string(topic).i32(1).i32(partition).i64(timestamp)
    return w.done()


def parse_list_offsets_v1(body):
    """[(topic, partition, error_code, timestamp, offset)]"""
    r = Reader(body)
    out = []
    for name, parts in r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i16(), r.i64(), r.i64())))):
        for idx, err, ts, off in parts:
            out.append((name, idx, err, ts, off))
    return out


def ensure_topic(conn, name, partitions):
    """Creates a topic through CreateTopics v2 (fine if it already exists)."""
    res = parse_create_topics_v2(conn.call(API_CREATE_TOPICS, 2,
                                           create_topics_v2(name, partitions)))
    if len(res) != 1 or res[0][0] != name or res[0][1] not in (ERR_NONE,
                                                                ERR_TOPIC_ALREADY_EXISTS):
        raise AssertionError("CreateTopics %s: %r" % (name, res))
