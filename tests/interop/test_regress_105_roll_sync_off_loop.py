"""Regression 105: the sync after a segment roll must not hold up the loop. The broker made what
a roll left durable (the rolled segments, the directory, the recovery point) on its loop thread,
before handing the rest to the sync thread, so each roll stopped every connection for as long
as the disk took. Here segments roll at 1 KiB and the crash simulator's sync gate
(CRASHSIM_SYNC_GATE) holds every fdatasync while a file exists: an acks=all produce that rolls
the segment must then wait, and an acks=1 produce on another connection must still be answered.
Once the gate opens, the acks=all one is answered at its offset and the recovery point records
the roll."""
import glob
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

TOPIC = "slowroll"


def produce(conn, acks, key, value=b"v"):
    batch = kwire.record_batch([(key, value)])
    return conn.send(kwire.API_PRODUCE, 3, kwire.produce_v3(TOPIC, 0, bytes(batch), acks=acks))


def answer(conn, corr, what, timeout):
    try:
        got = conn.recv(timeout=timeout)
    except TimeoutError:
        return None
    if got is None:
        brokerlib.fail("the broker closed the connection instead of answering the %s" % what)
    if got[0] != corr:
        brokerlib.fail("%s: correlation id %d, expected %d" % (what, got[0], corr))
    res = kwire.parse_produce_v3(got[1])
    if res[0][2] != kwire.ERR_NONE:
        brokerlib.fail("%s: error %d" % (what, res[0][2]))
    return res[0][3]


def main():
    work, data, shadow, gate, env = brokerlib.gated_broker_env("sluice-slowroll.")
    port = brokerlib.free_port()
    log = open(os.path.join(work, "broker.log"), "wb")
    proc = subprocess.Popen([brokerlib.env("SLUICE_BIN"), "broker", "--listen",
                             "127.0.0.1:%d" % port, "--data-dir", data, "--segment-bytes",
                             "1KiB"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 20
        while not brokerlib.port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                brokerlib.fail("the broker did not start")
            time.sleep(0.05)
        c_all = kwire.Conn(port, timeout=20)
        c_one = kwire.Conn(port, timeout=20)
        kwire.ensure_topic(c_all, TOPIC, 1)
        first = answer(c_all, produce(c_all, -1, b"warm-up"), "warm-up produce", 20)
        if first is None:
            brokerlib.fail("the warm-up produce was not answered")

        open(gate, "w").close()  # from now on every fdatasync waits
        held = produce(c_all, -1, b"rolls", b"x" * 1500)  # does not fit: a new segment
        time.sleep(0.5)  # (only to let the sync start; nothing below depends on how long)
        quick = produce(c_one, 1, b"quick")
        off_one = answer(c_one, quick, "acks=1 produce", 20)
        if off_one is None:
            os.unlink(gate)
            brokerlib.fail("an acks=1 produce was not answered while the sync after a segment "
                           "roll was in progress")
        if answer(c_all, held, "acks=all produce", 0.5) is not None:
            brokerlib.fail("an acks=all produce was answered before its fsync completed")
        os.unlink(gate)
        off_all = answer(c_all, held, "acks=all produce", 20)
        if off_all is None:
            brokerlib.fail("the acks=all produce was not answered after the fsync completed")
        if (off_all, off_one) != (first + 1, first + 2):
            brokerlib.fail("offsets %d (acks=all) and %d (acks=1), expected %d and %d"
                           % (off_all, off_one, first + 1, first + 2))
        last = answer(c_all, produce(c_all, -1, b"last"), "last produce", 20)
        if last != first + 3:
            brokerlib.fail("the last produce got offset %r, expected %d" % (last, first + 3))
        points = glob.glob(os.path.join(data, "**", "recovery-point"), recursive=True)
        if len(points) != 1:
            brokerlib.fail("expected one recovery-point file, found %r" % points)
        with open(points[0]) as f:
            rp = int(f.read().strip())
        if rp < first + 1:
            brokerlib.fail("the recovery point is %d after rolls at %d and later" % (rp, first + 1))
        print("acks=1 answered at offset %d while the roll's sync for offset %d was held; that "
              "one was answered once the fsync completed; recovery point %d"
              % (off_one, off_all, rp))
    finally:
        if os.path.exists(gate):
            os.unlink(gate)
        proc.kill()
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
