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
print("corpus written")
