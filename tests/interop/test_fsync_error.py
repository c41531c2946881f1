"""A failing disk under the broker: fsync and write errors injected by the crash simulator's
shim (libcrashsim.so, CRASHSIM_FAIL=...) into one partition's files while an acks=all producer
writes to two partitions. Two rounds, one with failing fdatasyncs, one with failing pwrites
(EIO), each switched on half-way through by a file (CRASHSIM_FAIL_WHILE). Checked:
- no record whose delivery failed is acknowledged, and every record acknowledged before the
  fault, and every one acknowledged on the healthy partition, is acknowledged;
- the faulty partition refuses produce (KAFKA_STORAGE_ERROR) once the fault hits: nothing sent
  to it after the fault is acknowledged;
- the broker logs the storage error, stays up and keeps serving reads of what it acknowledged;
- a raw Produce v3 and a flexible v9 request (Kafka 4's Java clients send v11), each naming a
  failing and a healthy partition, get KAFKA_STORAGE_ERROR for the first and an offset for the
  second (the held answer is rewritten per partition);
- after a restart without the shim every acknowledged record is at its acknowledged offset
  (checked by value), the faulty partition's log was cut back to its synced end (nothing that
  got an error is served: after a failed fsync the page cache may hold pages the disk never
  got), and it takes produce again;
- a recovery point that cannot be written (ENOSPC) is not a storage error: the records were
  synced, so the partition stays online, warns once and records the point later."""
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402
from brokerlib import fail, skip  # noqa: E402

TOPIC = "fe"
PER_PHASE = 300  # records per partition per phase


def producer(bootstrap):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
                     "message.timeout.ms": 8000, "linger.ms": 2, "retries": 2,
                     "retry.backoff.ms": 100, "batch.num.messages": 50})


def produce(bootstrap, tag, partitions, acked, failed):
    """Sends PER_PHASE records to each partition; fills acked {value: (partition, offset)} and
    failed {value: error name}."""
    p = producer(bootstrap)

    def on_dr(err, msg):
        v = msg.value().decode()
        if err is None:
            acked[v] = (msg.partition(), msg.offset())
        else:
            failed[v] = err.name()

    for i in range(PER_PHASE):
        for part in partitions:
            v = "%s-p%d-%05d" % (tag, part, i)
            p.produce(TOPIC, value=v.encode(), partition=part, on_delivery=on_dr)
            p.poll(0)
    left = p.flush(30)
    if left:
        fail("%d deliveries not reported within 30 s" % left)


def read_partition(bootstrap, part, upto):
    """Values at offsets [0, upto) of one partition: {offset: value}."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fe-check-%d" % time.time_ns(),
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(TOPIC, part, 0)])
    got = {}
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(got) < upto:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    if len(got) >= upto:
                        break
                    continue
                fail("consumer error on partition %d: %s" % (part, m.error()))
            got[m.offset()] = m.value().decode()
    finally:
        c.close()
    return got


def high_watermark(bootstrap, part):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fe-hw"})
    try:
        return c.get_watermark_offsets(TopicPartition(TOPIC, part), timeout=10)[1]
    finally:
        c.close()


def check_acked(bootstrap, acked, what):
    """Every acknowledged record is at its acknowledged offset."""
    by_part = {}
    for v, (part, off) in acked.items():
        by_part.setdefault(part, {})[off] = v
    for part, want in sorted(by_part.items()):
        got = read_partition(bootstrap, part, max(want) + 1)
        bad = [(o, v, got.get(o)) for o, v in want.items() if got.get(o) != v]
        if bad:
            fail("%s: %d acknowledged record(s) of partition %d not at their offsets, e.g. %r"
                 % (what, len(bad), part, bad[:3]))
    return sum(len(w) for w in by_part.values())


def restart_with(b, extra_env):
    """Restarts broker b (started by the context manager without the shim) with extra_env in
    its environment (the shim's settings); the test's own environment is left as it was."""
    b.stop()
    saved = dict(os.environ)
    os.environ.update(extra_env)
    try:
        b.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def one_round(lib, kind, bad_part):
    ok_part = 1 - bad_part
    with brokerlib.Broker("--segment-bytes", "64KiB") as b:
        gate = os.path.join(b.work, "fail-now")
        shim = {"LD_PRELOAD": lib, "CRASHSIM_FAIL": kind, "CRASHSIM_FAIL_ERRNO": "EIO",
                # the segment files (named by their 20-digit base offset), not the directory
                "CRASHSIM_FAIL_PATH": "/topics/%s/%d/000" % (TOPIC, bad_part),
                "CRASHSIM_FAIL_WHILE": gate}
        restart_with(b, shim)
        brokerlib.run([b.bin, "topics", "create", TOPIC, "--partitions", "2", "--bootstrap",
                       b.bootstrap], 30)

        acked, failed = {}, {}
        produce(b.bootstrap, "before", [0, 1], acked, failed)
        if failed or len(acked) != 2 * PER_PHASE:
            fail("%s: before the fault: %d acknowledged, %d failed (%r)"
                 % (kind, len(acked), len(failed), sorted(set(failed.values()))))
        hw_before = high_watermark(b.bootstrap, bad_part)

        open(gate, "w").close()  # the disk starts failing for partition bad_part
        produce(b.bootstrap, "during", [0, 1], acked, failed)
        os.unlink(gate)  # the fault goes away, but the partition must stay offline
        produce(b.bootstrap, "after", [bad_part], acked, failed)

        during_bad = [v for v in acked if v.startswith(("during-p%d" % bad_part,
                                                        "after-p%d" % bad_part))]
        if during_bad:
            fail("%s: %d record(s) sent to the failing partition were acknowledged, e.g. %s"
                 % (kind, len(during_bad), during_bad[:3]))
        during_ok = [v for v in acked if v.startswith("during-p%d" % ok_part)]
        if len(during_ok) != PER_PHASE:
            fail("%s: the healthy partition acknowledged %d of %d records during the fault "
                 "(failures: %r)" % (kind, len(during_ok), PER_PHASE,
                                      sorted(set(failed.values()))))
        if len(failed) != 2 * PER_PHASE:
            fail("%s: %d deliveries failed, expected %d" % (kind, len(failed), 2 * PER_PHASE))
        errors = sorted(set(failed.values()))
        if not b.alive():
            fail("%s: the broker stopped (status %s)" % (kind, b.proc.returncode))
        with open(b.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        if "crashsim: injected EIO" not in log:
            fail("%s: the shim injected no error (is the path right?)" % kind)
        said = [ln for ln in log.splitlines() if "storage error on %s-%d" % (TOPIC, bad_part) in ln]
        if not said:
            fail("%s: the broker did not log the storage error" % kind)
        hw_during = high_watermark(b.bootstrap, bad_part)
        if hw_during != hw_before:
            fail("%s: the failing partition's high watermark moved from %d to %d"
                 % (kind, hw_before, hw_during))
        n_live = check_acked(b.bootstrap, acked, kind + ", still running")

        b.stop()  # SIGTERM: must exit 0 even with an offline partition
        b.start()  # without the shim
        n_restart = check_acked(b.bootstrap, acked, kind + ", after a restart")
        # What was written past the synced end got errors and may never have reached the disk
        # (after a failed fsync the page cache says nothing): the restart cut it away.
        hw_restart = high_watermark(b.bootstrap, bad_part)
        if hw_restart != hw_before:
            fail("%s: after a restart the failing partition ends at %d, expected %d (the "
                 "synced end)" % (kind, hw_restart, hw_before))
        with open(b.log_path, "rb") as f:
            cut = [ln for ln in f.read().decode("utf-8", "replace").splitlines()
                   if "log cut back to offset %d" % hw_before in ln]
        if not cut:
            fail("%s: the restart did not say it cut the log back" % kind)
        print("%s: the broker said: %s" % (kind, said[0]))
        print("%s: after the restart: %s" % (kind, cut[0]))
        again_acked, again_failed = {}, {}
        produce(b.bootstrap, "again", [bad_part], again_acked, again_failed)
        if again_failed or len(again_acked) != PER_PHASE:
            fail("%s: after a restart the partition took %d of %d records (%r)"
                 % (kind, len(again_acked), PER_PHASE, sorted(set(again_failed.values()))))
        b.stop(signal.SIGTERM)
    print("%s: acknowledged %d (%d read back live, %d after restart), failed %d with %s; "
          "partition %d offline at offset %d, partition %d healthy; after restart it took %d more"
          % (kind, len(acked), n_live, n_restart, len(failed), errors, bad_part, hw_before,
             ok_part, len(again_acked)))


# ---- raw Produce requests: v3 (classic) and v9 (flexible), two partitions each ----

def uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7f) | 0x80])
        n >>= 7
    return out + bytes([n])


def read_uvarint(b, pos):
    n, shift = 0, 0
    while True:
        c = b[pos]
        pos += 1
        n |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            return n, pos


def produce_v9(parts):
    """parts: [(topic, partition, records)], one topic entry per element (request header v2)."""
    body = uvarint(0) + struct.pack(">hi", -1, 10000) + uvarint(len(parts) + 1)
    for topic, partition, records in parts:
        body += uvarint(len(topic) + 1) + topic.encode() + uvarint(2)
        body += struct.pack(">i", partition) + uvarint(len(records) + 1) + records + uvarint(0)
        body += uvarint(0)
    return body + uvarint(0)


def call_v9(c, body):
    corr = c.next_corr
    c.next_corr += 1
    hdr = struct.pack(">hhi", 0, 9, corr) + struct.pack(">h", 5) + b"kwire" + uvarint(0)
    c.send_raw(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
    r = c.recv(30)
    if r is None or r[0] != corr:
        fail("raw Produce v9: no answer or a wrong correlation id")
    return r[1]


def parse_produce_v9(b):
    """[(topic, partition, error, base_offset)] from a v9 response body (after its header)."""
    _, pos = read_uvarint(b, 0)  # response header v1: tagged fields
    ntopics, pos = read_uvarint(b, pos)
    out = []
    for _ in range(ntopics - 1):
        n, pos = read_uvarint(b, pos)
        name = b[pos:pos + n - 1].decode()
        pos += n - 1
        nparts, pos = read_uvarint(b, pos)
        for _ in range(nparts - 1):
            idx, err, base = struct.unpack(">ihq", b[pos:pos + 14])
            pos += 14 + 16  # log_append_time, log_start_offset
            nrec, pos = read_uvarint(b, pos)
            if nrec != 1:
                fail("raw Produce v9: record_errors in the answer")
            n, pos = read_uvarint(b, pos)  # error_message
            pos += max(n - 1, 0)
            _, pos = read_uvarint(b, pos)  # partition tags
            out.append((name, idx, err, base))
        _, pos = read_uvarint(b, pos)  # topic tags
    return out


def raw_round(lib):
    bad, good = "fr", "frok"
    with brokerlib.Broker() as b:
        gate = os.path.join(b.work, "fail-now")
        restart_with(b, {"LD_PRELOAD": lib, "CRASHSIM_FAIL": "fsync",
                         "CRASHSIM_FAIL_PATH": "/topics/%s/" % bad, "CRASHSIM_FAIL_WHILE": gate})
        for t in (bad, good):
            brokerlib.run([b.bin, "topics", "create", t, "--partitions", "2", "--bootstrap",
                           b.bootstrap], 30)
        open(gate, "w").close()
        c = kwire.Conn(b.port)
        batch = kwire.record_batch([(b"k", b"v1"), (b"k", b"v2")])
        # v3: bad-0 and good-0 in one request (two topic entries)
        w = kwire.Writer().string(None).i16(-1).i32(10000).i32(2)
        for t in (bad, good):
            w.string(t).i32(1).i32(0).bytes_(batch)
        got3 = kwire.parse_produce_v3(c.call(0, 3, w.done()))
        # v9: bad-1 and good-1
        got9 = parse_produce_v9(call_v9(c, produce_v9([(bad, 1, batch), (good, 1, batch)])))
        c.close()
        want3 = [(bad, 0, 56, -1), (good, 0, 0, 0)]
        want9 = [(bad, 1, 56, -1), (good, 1, 0, 0)]
        if got3 != want3 or got9 != want9:
            fail("raw produce answers: v3 %r (want %r), v9 %r (want %r)"
                 % (got3, want3, got9, want9))
        os.unlink(gate)
        b.stop()
    print("raw Produce v3 %r, v9 %r: the failing partitions' answers were rewritten" % (got3, got9))


def recovery_point_round(lib):
    """A full disk that refuses only the recovery point (the small file written after a sync
    that follows a roll): the records are synced by then, so the partition must stay online,
    acknowledge everything, warn once, and record the point once the disk takes it again."""
    from confluent_kafka import Producer
    with brokerlib.Broker("--segment-bytes", "16KiB") as b:
        restart_with(b, {"LD_PRELOAD": lib, "CRASHSIM_FAIL": "write",
                         "CRASHSIM_FAIL_ERRNO": "ENOSPC",
                         "CRASHSIM_FAIL_PATH": "/topics/%s/0/recovery-point" % TOPIC,
                         "CRASHSIM_FAIL_COUNT": "3"})
        brokerlib.run([b.bin, "topics", "create", TOPIC, "--partitions", "1", "--bootstrap",
                       b.bootstrap], 30)
        acked, failed = {}, {}

        def on_dr(err, msg):
            v = msg.value().decode()[:8]  # rp-NNNNN
            if err is None:
                acked[v] = (msg.partition(), msg.offset())
            else:
                failed[v] = err.name()

        # 1 KiB records, one per request: each sync after a roll writes the recovery point
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                      "enable.idempotence": False, "message.timeout.ms": 8000, "linger.ms": 0,
                      "max.in.flight": 1})
        for i in range(PER_PHASE):
            p.produce(TOPIC, value=("rp-%05d-" % i).encode() + b"x" * 1024, partition=0,
                      on_delivery=on_dr)
            p.flush(10)
            if failed:
                break
        if failed or len(acked) != PER_PHASE:
            fail("recovery point: %d of %d acknowledged, failures %r"
                 % (len(acked), PER_PHASE, sorted(set(failed.values()))))
        with open(b.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        injected = log.count("crashsim: injected ENOSPC")
        if injected != 3:
            fail("recovery point: the shim injected %d errors, expected 3" % injected)
        warned = [ln for ln in log.splitlines() if "cannot record the recovery point" in ln]
        again = [ln for ln in log.splitlines() if "recovery point recorded again" in ln]
        if len(warned) != 1 or len(again) != 1 or "storage error" in log:
            fail("recovery point: %d warnings, %d recoveries, storage error logged: %s"
                 % (len(warned), len(again), "storage error" in log))
        rp_path = os.path.join(b.data_dir, "topics", TOPIC, "0", "recovery-point")
        with open(rp_path) as f:
            rp = int(f.read())
        segs = sorted(int(n[:20]) for n in os.listdir(os.path.dirname(rp_path))
                      if n.endswith(".log"))
        if len(segs) < 5 or rp != segs[-1]:
            fail("recovery point: %d segments, the recorded point is %d, the last segment "
                 "starts at %d" % (len(segs), rp, segs[-1]))
        b.stop()
        b.start()
        got = read_partition(b.bootstrap, 0, PER_PHASE)
        bad = [v for v, (_, off) in acked.items() if not got.get(off, "").startswith(v)]
        if bad:
            fail("recovery point: after a restart %d acknowledged records are not at their "
                 "offsets, e.g. %r" % (len(bad), bad[:3]))
        b.stop()
    print("recovery point: %d of %d acknowledged over %d segments while its first 3 writes "
          "failed with ENOSPC; warned once (%s), recorded again at %d; all read back after "
          "a restart" % (len(acked), PER_PHASE, len(segs), warned[0][warned[0].index("cannot record"):][:110], rp))


def main():
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        skip("python3-confluent-kafka is not installed")
    lib = os.path.join(brokerlib.env("TOOLS_DIR"), "libcrashsim.so")
    if not os.path.exists(lib):
        skip("%s is not built" % lib)
    one_round(lib, "fsync", 0)
    one_round(lib, "pwrite", 1)
    raw_round(lib)
    recovery_point_round(lib)
    print("PASS")


if __name__ == "__main__":
    main()
