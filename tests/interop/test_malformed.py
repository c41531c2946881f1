"""Malformed frames never crash the broker or starve other clients. Each bad frame (bad
lengths, too-big requests, unknown API keys and versions, truncated fields, absurd array
counts, broken varints, random garbage) gets an error response with the right correlation id
or a closed connection, within a bound; meanwhile a well-behaved client on its own connection
is served throughout, and real clients work afterwards."""
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

MAX_REQUEST = 1024 * 1024  # the broker is started with --max-request-bytes 1MiB
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("error: " + msg)


def send_quietly(conn, data):
    """Sends data; the broker may close midway, which is an acceptable answer."""
    try:
        conn.send_raw(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def expect_close(port, name, data, seconds=5):
    c = kwire.Conn(port)
    sent = send_quietly(c, data)
    closed = (not sent) or c.closed_within(seconds)
    check(closed, "%s: connection still open after %d s" % (name, seconds))
    c.close()


def expect_error_or_close(port, name, frame_builder, seconds=5):
    """frame_builder(correlation_id) -> bytes. A response must carry that correlation id."""
    c = kwire.Conn(port)
    corr = 4242
    if not send_quietly(c, frame_builder(corr)):
        c.close()
        return "closed"
    try:
        r = c.recv(timeout=seconds)
    except (ConnectionResetError, BrokenPipeError):
        r = None
    except TimeoutError:
        check(False, "%s: neither a response nor a close within %d s" % (name, seconds))
        c.close()
        return "hung"
    except ValueError as e:
        check(False, "%s: unreadable response: %s" % (name, e))
        c.close()
        return "bad"
    c.close()
    if r is None:
        return "closed"
    check(r[0] == corr, "%s: response correlation id %d, expected %d" % (name, r[0], corr))
    return "answered"


def header(api_key, version, corr, client_id=b"kwire"):
    return struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


class Watcher(threading.Thread):
    """A well-behaved client asking for metadata in a loop on its own connection."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.ok, self.error = port, False, 0, None

    def run(self):
        try:
            c = kwire.Conn(self.port, timeout=5)
            while not self.stop:
                md = kwire.parse_metadata_v1(c.call(kwire.API_METADATA, 1,
                                                    kwire.metadata_v1(None)))
                if len(md["brokers"]) != 1:
                    raise AssertionError("metadata brokers %r" % md["brokers"])
                self.ok += 1
                time.sleep(0.02)
            c.close()
        except Exception as e:  # reported by the main thread
            self.error = "%s: %s" % (type(e).__name__, e)


def main():
    rng = random.Random(1234)
    with brokerlib.Broker("--max-request-bytes", "1MiB") as b:
        port = b.port
        watcher = Watcher(port)
        watcher.start()

        def alive(after):
            check(b.alive(), "broker died after: %s" % after)
            if not b.alive():
                brokerlib.fail("broker crashed after %s" % after)

        # Lengths no request can have.
        expect_close(port, "negative length", struct.pack(">i", -1) + b"\x00" * 16)
        alive("negative length")
        expect_close(port, "length 2^31-1", struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 16)
        alive("huge length")
        expect_close(port, "zero length", struct.pack(">i", 0) + b"\x00" * 8)
        alive("zero length")
        expect_close(port, "length shorter than a header", struct.pack(">i", 3) + b"\x00\x12\x00")
        alive("short frame")
        # A real frame just over --max-request-bytes.
        big = header(kwire.API_PRODUCE, 3, 1) + b"\x00" * (MAX_REQUEST + 1024)
        expect_close(port, "oversized request", frame(big), seconds=10)
        alive("oversized request")

        # Well-framed requests with bad contents: an error response or a close.
        for name, build in [
            ("unknown api key 9999", lambda c: frame(header(9999, 0, c))),
            ("unknown api key -1", lambda c: frame(header(-1, 0, c))),
            ("metadata v99", lambda c: frame(header(3, 99, c) + kwire.metadata_v1(None))),
            ("produce v-1", lambda c: frame(header(0, -1, c))),
            ("client id longer than frame", lambda c: frame(struct.pack(">hhih", 18, 0, c, 500)
                                                            + b"abc")),
            ("metadata: 5 topics announced, none sent",
             lambda c: frame(header(3, 1, c) + struct.pack(">i", 5))),
            ("metadata: 2^31-1 topics announced",
             lambda c: frame(header(3, 1, c) + struct.pack(">i", 0x7FFFFFFF) + b"\x00\x01t")),
            ("produce: topic name longer than frame",
             lambda c: frame(header(0, 3, c) + struct.pack(">hhii", -1, -1, 1000, 1)
                             + struct.pack(">h", 100) + b"abc")),
            ("produce: records longer than frame",
             lambda c: frame(header(0, 3, c) + kwire.Writer().string(None).i16(-1).i32(1000)
                             .i32(1).string("t").i32(1).i32(0).i32(1000).raw(b"x" * 10).done())),
            ("produce: negative array count",
             lambda c: frame(header(0, 3, c) + struct.pack(">hhii", -1, -1, 1000, -5))),
            ("produce: body missing", lambda c: frame(header(0, 3, c))),
            ("fetch: body truncated", lambda c: frame(header(1, 4, c) + b"\xff\xff\xff\xff\x00")),
            ("list offsets: truncated", lambda c: frame(header(2, 1, c) + b"\x00\x00")),
            ("create topics: 2^31-1 topics",
             lambda c: frame(header(19, 2, c) + struct.pack(">i", 0x7FFFFFFF))),
            ("metadata v9 (flexible): unterminated varint",
             lambda c: frame(header(3, 9, c) + b"\x00" + b"\xff" * 12)),
            ("metadata v9 (flexible): compact string past end",
             lambda c: frame(header(3, 9, c) + b"\x00" + b"\x02" + b"\x7f" + b"ab")),
            ("api versions v3: truncated compact strings",
             lambda c: frame(header(18, 3, c) + b"\x00" + b"\x10ab")),
        ]:
            outcome = expect_error_or_close(port, name, build)
            print("%-45s -> %s" % (name, outcome))
            alive(name)

        # KIP-511: a too-new ApiVersions gets UNSUPPORTED_VERSION, v0 layout, with the ranges.
        c = kwire.Conn(port)
        corr = c.send(kwire.API_VERSIONS, 99, b"\x00\x00")
        r = c.recv()
        check(r is not None and r[0] == corr, "ApiVersions v99: no answer with its correlation id")
        if r:
            err, apis = kwire.parse_api_versions(r[1])
            check(err == kwire.ERR_UNSUPPORTED_VERSION, "ApiVersions v99: error %d, expected 35"
                  % err)
            check(kwire.API_VERSIONS in apis and apis[kwire.API_VERSIONS][0] == 0,
                  "ApiVersions v99: ranges %r" % apis)
        c.close()

        # Pipelined: a valid request ahead of a bad one is still answered, first.
        c = kwire.Conn(port)
        c.send_raw(kwire.request_frame(kwire.API_VERSIONS, 0, 1, b"")
                   + frame(header(9999, 0, 2)))
        # Closing without answering is allowed (Apache Kafka does the same); answering the bad
        # request, or anything out of order, is not.
        try:
            r = c.recv()
        except (ConnectionResetError, BrokenPipeError):
            r = None
        check(r is None or r[0] == 1, "pipelined: first response has correlation id %d, "
              "expected 1 (the valid request sent first)" % (r[0] if r else -1))
        print("pipelined valid + bad request -> %s" % ("answered the valid one" if r else "closed"))
        c.close()
        alive("pipelined")

        # Random garbage: raw bytes, and random bodies inside well-formed lengths.
        for i in range(20):
            c = kwire.Conn(port)
            send_quietly(c, bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 4096))))
            c.closed_within(0.2)
            c.close()
            n = rng.randrange(0, 300)
            body = bytes(rng.getrandbits(8) for _ in range(n))
            c = kwire.Conn(port)
            send_quietly(c, struct.pack(">i", 8 + n) + struct.pack(">hhi", rng.choice(
                [0, 1, 2, 3, 18, 19, 20, 22, rng.randrange(-32768, 32767)]),
                rng.randrange(0, 13), i) + body)
            try:
                c.recv(timeout=2)  # an answer, a close or silence (frame may be incomplete)
            except (TimeoutError, ValueError, OSError):
                pass
            c.close()
        alive("random garbage")

        # Many connections at once, each sending garbage and vanishing.
        socks = []
        for i in range(64):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            try:
                s.sendall(struct.pack(">i", 100) + b"\x01" * 50)
            except OSError:
                pass
            socks.append(s)
        for s in socks:
            s.close()
        alive("64 abandoned connections")

        time.sleep(0.5)
        watcher.stop = True
        watcher.join(timeout=10)
        check(watcher.error is None, "the well-behaved client failed: %s" % watcher.error)
        check(watcher.ok > 10, "the well-behaved client got only %d answers" % watcher.ok)
        print("well-behaved client: %d metadata answers during the test" % watcher.ok)

        # Real clients still work.
        p = brokerlib.run([brokerlib.tool("kprod"), "-b", b.bootstrap, "-t", "after", "-n",
                           "1000", "-q", "-T", "30"], timeout=60)
        print(p.stdout.strip())
        p = brokerlib.run([brokerlib.tool("kcons"), "-b", b.bootstrap, "-t", "after", "-c", "-V",
                           "-q", "-T", "30"], timeout=60)
        check("consumed 1000 of 1000" in p.stdout, "after the barrage: %s" % p.stdout)
        alive("the end")
        b.stop()
        if failures:
            brokerlib.fail("%d checks failed" % len(failures))
        print("PASS")


if __name__ == "__main__":
    main()
