"""Writes seed inputs for the fuzz targets: valid request frames and record batches, so the
fuzzer starts past the framing and CRC checks. Run: python3 make_corpus.py (from any dir)."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "interop"))
import kwire  # noqa: E402


def write(kind, name, data):
    d = os.path.join(here, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


batch = kwire.record_batch([(b"k1", b"v1"), (b"k2", b"v2"), (None, b"")])
idem = kwire.record_batch([(b"a", b"b")], producer_id=1, producer_epoch=0, base_sequence=0)
write("batch", "two_records", batch)
write("batch", "idempotent", idem)
frames = {
    "api_versions_v0": kwire.request_frame(18, 0, 1, kwire.api_versions_v0()),
    "metadata_v1": kwire.request_frame(3, 1, 2, kwire.metadata_v1(["t"])),
    "produce_v3": kwire.request_frame(0, 3, 3, kwire.produce_v3("t", 0, batch)),
    "list_offsets_v1": kwire.request_frame(2, 1, 4, kwire.list_offsets_v1("t", 0, -2)),
}
for name, data in frames.items():
    write("request", name, data)
# pipelined: several requests in one input
write("request", "pipelined", b"".join(frames.values()))


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# answers larger than 64 KiB, which the broker streams (docs/broker-server.md)
w = kwire.Writer
streamed = {
    "describe_groups_v5_streamed": kwire.request_frame(
        15, 5, 5, b"\0" + uvarint(30001) + b"\x01" * 30000 + b"\0\0"),
    "find_coordinator_v4_streamed": kwire.request_frame(
        10, 4, 6, b"\0\0" + uvarint(20001) + b"\x01" * 20000 + b"\0"),
    "create_topics_v5_streamed": kwire.request_frame(
        19, 5, 7, b"\0" + uvarint(2501) + (b"\x05bad!" + w().i32(1).i16(1).done() +
                                           b"\x01\x01\0") * 2500 + w().i32(1000).i8(0).done()
        + b"\0"),
    "fetch_v4_streamed": kwire.request_frame(
        1, 4, 8, w().i32(-1).i32(0).i32(0).i32(1 << 20).i8(0).i32(1).string("t").i32(1500).done()
        + b"".join(w().i32(i % 3).i64(0).i32(1000).done() for i in range(1500))),
}
for name, data in streamed.items():
    write("request", name, data)
write("request", "pipelined_behind_stream",
      streamed["describe_groups_v5_streamed"] + frames["api_versions_v0"])
print("corpus written")
