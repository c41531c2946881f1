"""A failing disk under the broker: fsync and write errors injected by the crash simulator's
shim (libcrashsim.so, CRASHSIM_FAIL=...) into one partition's files while an acks=all producer
writes to two partitions. Two rounds, one with failing fdatasyncs, one with failing pwrites
(EIO), each switched on half-way through by a file (CRASHSIM_FAIL_WHILE). Checked:
- no record whose delivery failed is acknowledged, and every record acknowledged before the
  fault, and every one acknowledged on the healthy partition, is acknowledged;
- the faulty partition refuses produce (KAFKA_STORAGE_ERROR) once the fault hits: nothing sent
  to it after the fault is acknowledged;
- the broker logs the storage error, stays up and keeps serving reads of what it acknowledged;
- after a restart without the shim every acknowledged record is at its acknowledged offset
  (checked by value), the faulty partition's log was cut back to its synced end (nothing that
  got an error is served: after a failed fsync the page cache may hold pages the disk never
  got), and it takes produce again."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
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


def one_round(lib, kind, bad_part):
    ok_part = 1 - bad_part
    with brokerlib.Broker("--segment-bytes", "64KiB") as b:
        gate = os.path.join(b.work, "fail-now")
        shim = {"LD_PRELOAD": lib, "CRASHSIM_FAIL": kind, "CRASHSIM_FAIL_ERRNO": "EIO",
                # the segment files (named by their 20-digit base offset), not the directory
                "CRASHSIM_FAIL_PATH": "/topics/%s/%d/000" % (TOPIC, bad_part),
                "CRASHSIM_FAIL_WHILE": gate}
        # the broker is started by the context manager without the shim: restart it with it
        b.stop()
        saved = dict(os.environ)
        os.environ.update(shim)
        try:
            b.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
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
    print("PASS")


if __name__ == "__main__":
    main()
