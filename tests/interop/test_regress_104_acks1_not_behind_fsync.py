"""Regression 104: an fsync must not hold up traffic that does not wait for it. The broker ran
every fsync on its one loop thread, so while the disk took its time an acks=1 produce (or a
fetch, or a heartbeat) waited too. Here the crash simulator's sync gate (CRASHSIM_SYNC_GATE)
holds every fdatasync while a file exists: an acks=all produce must then wait, and an acks=1
produce on another connection must still be answered. Once the gate opens, the acks=all one is
answered too, at its offset."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

TOPIC = "slowdisk"


def produce(conn, acks, key):
    batch = kwire.record_batch([(key, b"v")])
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
    work, data, shadow, gate, env = brokerlib.gated_broker_env("sluice-slowdisk.")
    port = brokerlib.free_port()
    log = open(os.path.join(work, "broker.log"), "wb")
    proc = subprocess.Popen([brokerlib.env("SLUICE_BIN"), "broker", "--listen",
                             "127.0.0.1:%d" % port, "--data-dir", data],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
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
        held = produce(c_all, -1, b"durable")
        time.sleep(0.5)  # (only to let the sync start; nothing below depends on how long)
        quick = produce(c_one, 1, b"quick")
        off_one = answer(c_one, quick, "acks=1 produce", 20)
        if off_one is None:
            os.unlink(gate)
            brokerlib.fail("an acks=1 produce was not answered while an fsync was in progress")
        if answer(c_all, held, "acks=all produce", 0.5) is not None:
            brokerlib.fail("an acks=all produce was answered before its fsync completed")
        os.unlink(gate)
        off_all = answer(c_all, held, "acks=all produce", 20)
        if off_all is None:
            brokerlib.fail("the acks=all produce was not answered after the fsync completed")
        if (off_all, off_one) != (first + 1, first + 2):
            brokerlib.fail("offsets %d (acks=all) and %d (acks=1), expected %d and %d"
                           % (off_all, off_one, first + 1, first + 2))
        print("acks=1 answered at offset %d while the fsync for offset %d was held; that one was "
              "answered once the fsync completed" % (off_one, off_all))
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
