"""Recovery of a damaged log tail. Batches of known size are produced (hand-built, so their
boundaries are known), the broker is stopped, and the last segment is damaged three ways:
cut in the middle of a batch's records, a flipped byte in the last batch (bad CRC), and a cut
inside a batch header. After each restart everything before the damage must be served
(contiguous offsets, right keys, right latest offset) and new produce must continue from it."""
import glob
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

TOPIC = "torn"
PER_BATCH = 50


def produce_batches(port, prefix, nbatches, first_index=0):
    """Produces nbatches batches of PER_BATCH records, one request each; returns base offsets."""
    c = kwire.Conn(port)
    bases = []
    for b in range(nbatches):
        recs = [(("%s-%d" % (prefix, first_index + b * PER_BATCH + i)).encode(),
                 b"value-%d" % (first_index + b * PER_BATCH + i) + b"." * 100)
                for i in range(PER_BATCH)]
        res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3, kwire.produce_v3(
            TOPIC, 0, kwire.record_batch(recs))))
        if len(res) != 1 or res[0][2] != kwire.ERR_NONE:
            brokerlib.fail("produce: %r" % res)
        bases.append(res[0][3])
    c.close()
    return bases


def latest_offset(port):
    c = kwire.Conn(port)
    res = kwire.parse_list_offsets_v1(c.call(kwire.API_LIST_OFFSETS, 1,
                                             kwire.list_offsets_v1(TOPIC, 0, -1)))
    c.close()
    if len(res) != 1 or res[0][2] != kwire.ERR_NONE:
        brokerlib.fail("ListOffsets: %r" % res)
    return res[0][4]


def last_segment(data_dir):
    segs = sorted(glob.glob(os.path.join(data_dir, "topics", TOPIC, "0", "*.log")))
    if not segs:
        brokerlib.fail("no segment files under %s/topics/%s/0" % (data_dir, TOPIC))
    return segs[-1]


def batches_in(path):
    """[(file position, base offset, total size)] of the batches in a segment file."""
    out = []
    data = open(path, "rb").read()
    pos = 0
    while pos + 12 <= len(data):
        base, length = struct.unpack(">qi", data[pos:pos + 12])
        if length <= 0 or pos + 12 + length > len(data):
            break
        out.append((pos, base, 12 + length))
        pos += 12 + length
    if pos != len(data):
        brokerlib.fail("%s: %d stray bytes after the last whole batch" % (path, len(data) - pos))
    return out


def expect_log(b, keys):
    """The partition holds exactly `keys` at offsets 0.. in order, read by a real client."""
    latest = latest_offset(b.port)
    if latest != len(keys):
        brokerlib.fail("latest offset %d, expected %d" % (latest, len(keys)))
    out = os.path.join(b.work, "consumed.txt")
    brokerlib.run([brokerlib.tool("kcons"), "-b", b.bootstrap, "-t", TOPIC, "-c", "-q",
                   "-T", "60", "-o", out], timeout=90)
    got = [(k, int(o)) for k, _, o in (line.split() for line in open(out))]
    want = [(k, i) for i, k in enumerate(keys)]
    if got != want:
        i = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        brokerlib.fail("consumed %d records, expected %d; first difference at %d: %r vs %r"
                       % (len(got), len(want), i, got[i:i + 1], want[i:i + 1]))


def keys_for(prefix, n, first=0):
    return ["%s-%d" % (prefix, first + i) for i in range(n)]


def main():
    brokerlib.tool("kcons")
    with brokerlib.Broker() as b:
        c = kwire.Conn(b.port)
        kwire.ensure_topic(c, TOPIC, 1)
        c.close()
        bases = produce_batches(b.port, "a", 10)
        if bases != [i * PER_BATCH for i in range(10)]:
            brokerlib.fail("base offsets %r" % bases)
        b.stop()

        seg = last_segment(b.data_dir)
        batches = batches_in(seg)
        if [base for _, base, _ in batches] != bases:
            brokerlib.fail("segment holds batches at offsets %r, produced %r"
                           % ([x[1] for x in batches], bases))

        # 1. Cut in the middle of the last batch's records.
        pos, base, size = batches[-1]
        os.truncate(seg, pos + size // 2)
        print("cut %s at %d (batch at %d, %d bytes)" % (seg, pos + size // 2, pos, size))
        b.start()
        expect_log(b, keys_for("a", 450))
        more = produce_batches(b.port, "b", 2)
        if more != [450, 500]:
            brokerlib.fail("after repair, new batches at %r, expected [450, 500]" % more)
        expect_log(b, keys_for("a", 450) + keys_for("b", 100))
        b.stop()

        # 2. A flipped byte inside the last batch's records: its CRC no longer matches.
        seg = last_segment(b.data_dir)
        pos, base, size = batches_in(seg)[-1]
        if base != 500:
            brokerlib.fail("last batch at offset %d, expected 500" % base)
        with open(seg, "r+b") as f:
            f.seek(pos + size - 10)
            byte = f.read(1)
            f.seek(pos + size - 10)
            f.write(bytes([byte[0] ^ 0xFF]))
        print("flipped a byte at %d of %s" % (pos + size - 10, seg))
        b.start()
        expect_log(b, keys_for("a", 450) + keys_for("b", 50))
        b.stop()

        # 3. Cut inside a batch header (7 bytes into the last batch).
        seg = last_segment(b.data_dir)
        pos, base, size = batches_in(seg)[-1]
        if base != 450:
            brokerlib.fail("last batch at offset %d, expected 450" % base)
        os.truncate(seg, pos + 7)
        b.start()
        expect_log(b, keys_for("a", 450))
        if produce_batches(b.port, "c", 1) != [450]:
            brokerlib.fail("after repair, new batch not at 450")
        expect_log(b, keys_for("a", 450) + keys_for("c", 50))
        if not b.alive():
            brokerlib.fail("broker died")
        b.stop()
        print("PASS")


if __name__ == "__main__":
    main()
