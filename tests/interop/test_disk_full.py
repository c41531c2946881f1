"""The broker on a disk that fills up: its data directory on a 24 MiB tmpfs this test mounts
(root needed; skipped otherwise). Producing 8 KiB records with acks=all until the disk is
full, the broker must answer produce with an error (KAFKA_STORAGE_ERROR), stay up, keep
serving reads of everything it acknowledged, take records again once space is freed, and leave
segment files that verify (logcheck) and survive a restart with every acknowledged record."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
from brokerlib import fail, skip  # noqa: E402

TOPIC = "full"
VALUE = 8192


def produce(bootstrap, first, count, stop_after_failures=None):
    """Produces keys first..first+count-1; returns ({key: (partition, offset)}, failures, errs)."""
    from confluent_kafka import Producer
    acked, errs = {}, []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
                  "message.timeout.ms": 6000, "linger.ms": 5, "retries": 1,
                  "queue.buffering.max.messages": 2000})

    def on_dr(err, msg):
        if err is None:
            acked[msg.key().decode()] = (msg.partition(), msg.offset())
        else:
            errs.append(err)

    for i in range(first, first + count):
        key = "k%07d" % i
        val = (key * (VALUE // len(key) + 1))[:VALUE].encode()
        while True:
            try:
                p.produce(TOPIC, key=key, value=val, on_delivery=on_dr)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
        if stop_after_failures and len(errs) >= stop_after_failures:
            break
    p.flush(30)
    return acked, errs


def read_all(bootstrap):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=20)
    got = {}
    if hi > lo:
        c.assign([TopicPartition(TOPIC, 0, lo)])
        deadline = time.time() + 60
        while time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191 and m.offset() >= hi:
                    break
                continue
            got[m.key().decode()] = (m.partition(), m.offset(), m.value())
            if m.offset() + 1 >= hi:
                break
    c.close()
    return got, hi


def check_acked(acked, got, when):
    for key, (part, off) in acked.items():
        g = got.get(key)
        if g is None or g[1] != off:
            fail("%s: acknowledged %s at %d/%d is not in the log (found %r)" %
                 (when, key, part, off, g[:2] if g else None))
        want = (key * (VALUE // len(key) + 1))[:VALUE].encode()
        if g[2] != want:
            fail("%s: %s has other content than was acknowledged" % (when, key))


def main():
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        skip("python3-confluent-kafka is not installed")
    logcheck = brokerlib.tool("logcheck")
    mnt = tempfile.mkdtemp(prefix="sluice-full.")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        skip("cannot mount a small tmpfs here (%s)" % r.stderr.strip())
    b = brokerlib.Broker("--segment-bytes", "4MiB", "--no-auto-create")
    b.data_dir = os.path.join(mnt, "data")
    try:
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (6 << 20))
        b.start()
        brokerlib.run([b.bin, "topics", "create", TOPIC, "--partitions", "1", "--bootstrap",
                       b.bootstrap], 60)
        acked, errs = produce(b.bootstrap, 0, 4000, stop_after_failures=50)
        print("disk full: %d acknowledged, %d refused (%s)" %
              (len(acked), len(errs), sorted({e.name() for e in errs})))
        if not errs:
            fail("the disk never filled up: 4000 x 8 KiB records all acknowledged")
        if len(acked) < 500:
            fail("only %d records acknowledged before the disk was full" % len(acked))
        names = {e.name() for e in errs}
        if not names & {"KAFKA_STORAGE_ERROR", "_MSG_TIMED_OUT"}:
            fail("produce on a full disk failed with %s, not KAFKA_STORAGE_ERROR" % names)
        if not b.alive():
            fail("the broker exited when its disk filled up")
        got, hi = read_all(b.bootstrap)
        check_acked(acked, got, "while full")
        print("reads while full: %d records served, every acknowledged one intact" % len(got))

        os.unlink(filler)
        more, errs2 = produce(b.bootstrap, 100000, 200)
        if errs2 or len(more) != 200:
            fail("after freeing space: %d of 200 acknowledged, errors %s" %
                 (len(more), sorted({e.name() for e in errs2})))
        print("after freeing 6 MiB: 200 of 200 acknowledged")
        acked.update(more)

        b.stop()
        lc = subprocess.run([logcheck, b.data_dir, TOPIC], capture_output=True, text=True)
        print(lc.stdout.strip().splitlines()[-1] if lc.stdout.strip() else lc.stderr)
        if lc.returncode != 0:
            fail("segment files do not verify:\n%s%s" % (lc.stdout[-2000:], lc.stderr[-2000:]))
        b.start()
        got, hi = read_all(b.bootstrap)
        check_acked(acked, got, "after restart")
        print("PASS: after a restart every one of %d acknowledged records is there" % len(acked))
    except SystemExit:
        b.dump_log()
        raise
    finally:
        if b.proc and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait(timeout=10)
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)
        shutil.rmtree(b.work, ignore_errors=True)


if __name__ == "__main__":
    main()
