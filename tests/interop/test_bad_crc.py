"""A produced batch whose CRC-32C does not match is refused with CORRUPT_MESSAGE (2) for its
partition, nothing of it is stored, other partitions of the same request are unaffected, and
the connection keeps working (ApiVersions and a valid Produce on the same socket)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

TOPIC = "crc"


def produce_multi(topic, parts, acks=-1):
    """Produce v3 body with one batch per partition: parts = [(partition, batch bytes)]."""
    w = kwire.Writer().string(None).i16(acks).i32(10000).i32(1).string(topic).i32(len(parts))
    for p, batch in parts:
        w.i32(p).bytes_(batch)
    return w.done()


def check(cond, msg):
    if not cond:
        brokerlib.fail(msg)


def main():
    with brokerlib.Broker() as b:
        c = kwire.Conn(b.port)
        kwire.ensure_topic(c, TOPIC, 2)

        # 1. Wrong CRC field.
        bad = kwire.record_batch([(b"bad-1", b"x" * 50)], crc_xor=0x1)
        res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3,
                                            kwire.produce_v3(TOPIC, 0, bad)))
        check(res == [(TOPIC, 0, kwire.ERR_CORRUPT_MESSAGE, -1)] or
              (len(res) == 1 and res[0][2] == kwire.ERR_CORRUPT_MESSAGE),
              "bad CRC: expected error 2 CORRUPT_MESSAGE, got %r" % res)
        print("wrong CRC field -> %r" % res)

        # 2. Right CRC field, payload altered after it was computed.
        good = kwire.record_batch([(b"bad-2", b"y" * 50)])
        altered = bytearray(good)
        altered[-5] ^= 0x20
        res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3,
                                            kwire.produce_v3(TOPIC, 0, bytes(altered))))
        check(len(res) == 1 and res[0][2] == kwire.ERR_CORRUPT_MESSAGE,
              "altered payload: expected error 2 CORRUPT_MESSAGE, got %r" % res)

        # 3. The same connection still answers ApiVersions...
        err, apis = kwire.parse_api_versions(c.call(kwire.API_VERSIONS, 0, b""))
        check(err == 0 and kwire.API_PRODUCE in apis, "ApiVersions after bad CRC: %r %r"
              % (err, apis))

        # 4. ... and a valid Produce, stored at offset 0 (nothing of the bad batches was kept).
        ok = kwire.record_batch([(b"good-1", b"z" * 50), (b"good-2", b"z" * 50)])
        res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3,
                                            kwire.produce_v3(TOPIC, 0, ok)))
        check(res == [(TOPIC, 0, kwire.ERR_NONE, 0)], "valid produce after bad CRC: %r" % res)

        # 5. One request, two partitions: only the corrupt one is refused.
        res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3, produce_multi(TOPIC, [
            (0, kwire.record_batch([(b"bad-3", b"w")], crc_xor=0xFFFF)),
            (1, kwire.record_batch([(b"good-3", b"w")]))])))
        check(sorted(res) == [(TOPIC, 0, kwire.ERR_CORRUPT_MESSAGE, -1),
                              (TOPIC, 1, kwire.ERR_NONE, 0)] or
              sorted((p, e) for _, p, e, _ in res) == [(0, kwire.ERR_CORRUPT_MESSAGE),
                                                       (1, kwire.ERR_NONE)],
              "mixed produce: %r" % res)
        c.close()

        # What a real client reads back: only the valid records.
        out = os.path.join(b.work, "consumed.txt")
        brokerlib.run([brokerlib.tool("kcons"), "-b", b.bootstrap, "-t", TOPIC, "-c", "-q",
                       "-T", "60", "-o", out], timeout=90)
        got = sorted(line.split()[0] for line in open(out))
        check(got == ["good-1", "good-2", "good-3"], "stored records: %r" % got)
        check(b.alive(), "broker died")
        b.stop()
        print("PASS")


if __name__ == "__main__":
    main()
