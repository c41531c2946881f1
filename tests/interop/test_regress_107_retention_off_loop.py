"""Regression 107 (issue 11, finding 8): retention must not hold up the loop. The broker deleted
expired segments (and synced the roll that expiring everything causes) on its loop thread, after
first waiting there for the sync thread's job, so every connection stopped for as long as the
unlinks and fsyncs took.

Segments roll at 1 KiB and expire after 6 s (the setup must end before). The crash simulator's
gate (CRASHSIM_SYNC_GATE with CRASHSIM_GATE_ALL=1) holds every unlink and fsync under the data
directory while the gate file exists. Once retention has run, the log start has moved while the
expired files are still there (their deletion is held), and meanwhile ListOffsets, Metadata and
an acks=1 produce are answered. Once the gate opens, the files go and an acks=all produce is
answered at the next offset."""
import glob
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

TOPIC = "expiring"
N = 5


def answer(conn, corr, what, timeout=30):
    try:
        got = conn.recv(timeout=timeout)
    except TimeoutError:
        return None
    if got is None:
        brokerlib.fail("the broker closed the connection instead of answering the %s" % what)
    if got[0] != corr:
        brokerlib.fail("%s: correlation id %d, expected %d" % (what, got[0], corr))
    return got[1]


def produce(conn, acks, value):
    batch = bytes(kwire.record_batch([(b"k", value)]))
    corr = conn.send(kwire.API_PRODUCE, 3, kwire.produce_v3(TOPIC, 0, batch, acks=acks))
    body = answer(conn, corr, "acks=%d produce" % acks)
    if body is None:
        return None
    res = kwire.parse_produce_v3(body)
    if res[0][2] != kwire.ERR_NONE:
        brokerlib.fail("acks=%d produce: %r" % (acks, res))
    return res[0][3]


def earliest(conn):
    corr = conn.send(kwire.API_LIST_OFFSETS, 1, kwire.list_offsets_v1(TOPIC, 0, -2))
    body = answer(conn, corr, "ListOffsets")
    if body is None:
        return None
    return kwire.parse_list_offsets_v1(body)[0][4]


def main():
    work, data, shadow, gate, env = brokerlib.gated_broker_env("sluice-retloop.", gate_all=True)
    port = brokerlib.free_port()
    log = open(os.path.join(work, "broker.log"), "wb")
    proc = subprocess.Popen([brokerlib.env("SLUICE_BIN"), "broker", "--listen",
                             "127.0.0.1:%d" % port, "--data-dir", data, "--segment-bytes", "1KiB",
                             "--retention", "6s", "--retention-check-interval", "100ms"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 20
        while not brokerlib.port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                brokerlib.fail("the broker did not start")
            time.sleep(0.05)
        conn = kwire.Conn(port, timeout=30)
        kwire.ensure_topic(conn, TOPIC, 1)
        for i in range(N):  # one segment each
            if produce(conn, -1, b"%d" % i + b"x" * 700) != i:
                brokerlib.fail("setup produce %d not answered at offset %d" % (i, i))
        open(gate, "w").close()  # from now on unlinks and fsyncs wait
        first_log = glob.glob(os.path.join(data, "topics", TOPIC, "0", "%020d.log" % 0))
        if len(first_log) != 1 or earliest(conn) != 0:
            brokerlib.fail("retention ran before the setup ended (a machine this slow needs a "
                           "longer --retention here)")

        # Retention runs once the records are 6 s old; the loop must answer meanwhile.
        deadline = time.monotonic() + 60
        start = 0
        while start < N:
            start = earliest(conn)
            if start is None:
                os.unlink(gate)
                brokerlib.fail("ListOffsets was not answered while retention was deleting")
            if time.monotonic() > deadline:
                brokerlib.fail("retention did not move the log start (earliest %d)" % start)
            time.sleep(0.05)
        if start != N:
            brokerlib.fail("the log start moved to %d, expected %d" % (start, N))
        if not os.path.exists(first_log[0]):
            brokerlib.fail("the expired segment was deleted although its unlink was held")
        quick = produce(conn, 1, b"quick")
        if quick != N:
            os.unlink(gate)
            brokerlib.fail("an acks=1 produce during the held deletion answered %r, expected "
                           "offset %d" % (quick, N))
        body = conn.call(kwire.API_METADATA, 1, kwire.metadata_v1([TOPIC]))
        if kwire.parse_metadata_v1(body)["topics"][0]["error"] != kwire.ERR_NONE:
            brokerlib.fail("Metadata during the held deletion: %r" % kwire.parse_metadata_v1(body))
        print("log start %d, ListOffsets, Metadata and an acks=1 produce (offset %d) answered "
              "while the expired segments' deletion was held" % (start, quick))

        os.unlink(gate)
        deadline = time.monotonic() + 60
        while os.path.exists(first_log[0]):
            if time.monotonic() > deadline:
                brokerlib.fail("the expired segments were not deleted once the gate opened")
            time.sleep(0.05)
        last = produce(conn, -1, b"last")
        if last != N + 1:
            brokerlib.fail("the acks=all produce after the deletion answered %r, expected %d"
                           % (last, N + 1))
        left = sorted(os.path.basename(p) for p in
                      glob.glob(os.path.join(data, "topics", TOPIC, "0", "*.log")))
        if any(int(name[:20]) < N for name in left):
            brokerlib.fail("expired segments left on disk: %r" % left)
        print("expired segments deleted once released; acks=all answered at offset %d; "
              "segments left: %r" % (last, left))
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
