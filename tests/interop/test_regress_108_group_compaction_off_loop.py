"""Regression 108 (issue 11, finding 8): compacting the group log must not hold up the loop,
and commits made while it runs must not be lost. The broker rewrote DATA_DIR/groups/state.log
(write, fsync, rename, directory fsync) on its loop thread once it had grown by 8 MiB of mostly
superseded records, stopping every connection meanwhile.

Offsets are committed with 4000 bytes of metadata to one partition until the log nears 8 MiB;
then the crash simulator's gate (CRASHSIM_SYNC_GATE) holds every fdatasync and more commits
push it over. While the compaction is held (state.log.new exists), Metadata, an acks=1 produce
and an OffsetFetch on another connection are answered, and that connection commits an offset
for the other partition. Once the gate opens, every commit is answered, the log is small, both
offsets are fetched -- and again after a power loss (the simulator's crash-now) and a
restart."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

API_OFFSET_COMMIT, API_OFFSET_FETCH = 8, 9
TOPIC, GROUP = "gc", "gcg"
META = "m" * 4000
PER_REQUEST = 100


def commit_body(partition, offsets, metadata):
    w = kwire.Writer().string(GROUP).i32(-1).string("").i64(-1)
    w.i32(1).string(TOPIC).i32(len(offsets))
    for off in offsets:
        w.i32(partition).i64(off).string(metadata)
    return w.done()


def commit_errors(body):
    r = kwire.Reader(body)
    errs = []
    for _, parts in r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16())))):
        errs.extend(e for _, e in parts)
    return errs


def fetch_offsets(conn):
    w = kwire.Writer().string(GROUP).i32(1).string(TOPIC).i32(2).i32(0).i32(1)
    r = kwire.Reader(conn.call(API_OFFSET_FETCH, 1, w.done()))
    out = {}
    for _, parts in r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.string(), r.i16())))):
        for p, off, _, err in parts:
            out[p] = off if err == 0 else ("error", err)
    return out


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


def start(data, port, log, env):
    proc = subprocess.Popen([brokerlib.env("SLUICE_BIN"), "broker", "--listen",
                             "127.0.0.1:%d" % port, "--data-dir", data],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while not brokerlib.port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            brokerlib.fail("the broker did not start")
        time.sleep(0.05)
    return proc


def main():
    work, data, shadow, gate, env = brokerlib.gated_broker_env("sluice-gcompact.")
    log_file = os.path.join(data, "groups", "state.log")
    new_file = log_file + ".new"
    port = brokerlib.free_port()
    log = open(os.path.join(work, "broker.log"), "wb")
    proc = start(data, port, log, env)
    try:
        c_commit, c_other = kwire.Conn(port, timeout=30), kwire.Conn(port, timeout=30)
        kwire.ensure_topic(c_other, TOPIC, 2)
        off = 0
        while os.path.getsize(log_file) < 7 * 1024 * 1024:
            offsets = list(range(off, off + PER_REQUEST))
            off += PER_REQUEST
            errs = commit_errors(c_commit.call(API_OFFSET_COMMIT, 2,
                                               commit_body(0, offsets, META)))
            if set(errs) != {0}:
                brokerlib.fail("OffsetCommit errors %r" % errs)
        if os.path.exists(new_file):
            brokerlib.fail("a compaction started before the log reached 8 MiB")

        open(gate, "w").close()  # from now on every fdatasync waits
        # about 2 MB more in one request (one loop turn, one sync): past 8 MiB
        offsets = list(range(off, off + 5 * PER_REQUEST))
        off += 5 * PER_REQUEST
        held = [c_commit.send(API_OFFSET_COMMIT, 2, commit_body(0, offsets, META))]
        deadline = time.monotonic() + 60
        while True:
            try:
                kwire.parse_metadata_v1(c_other.call(kwire.API_METADATA, 1,
                                                     kwire.metadata_v1([TOPIC])))
            except TimeoutError:
                os.unlink(gate)
                brokerlib.fail("Metadata was not answered while the group log was being "
                               "compacted")
            if os.path.exists(new_file):
                break
            if time.monotonic() > deadline:
                brokerlib.fail("no compaction started past 8 MiB of group log")
            time.sleep(0.05)
        batch = bytes(kwire.record_batch([(b"k", b"v")]))
        corr = c_other.send(kwire.API_PRODUCE, 3, kwire.produce_v3(TOPIC, 0, batch, acks=1))
        body = answer(c_other, corr, "acks=1 produce")
        if body is None or kwire.parse_produce_v3(body)[0][2] != kwire.ERR_NONE:
            os.unlink(gate)
            brokerlib.fail("an acks=1 produce during the compaction answered %r" % body)
        before = fetch_offsets(c_other)
        if before.get(0) is None or not isinstance(before[0], int):
            brokerlib.fail("OffsetFetch during the compaction answered %r" % before)
        during = c_other.send(API_OFFSET_COMMIT, 2, commit_body(1, [777777], "during"))
        if not os.path.exists(new_file):
            brokerlib.fail("the compaction finished although its fdatasync was held")
        print("Metadata, an acks=1 produce and OffsetFetch answered while the compaction was "
              "held (log %d bytes)" % os.path.getsize(log_file))

        os.unlink(gate)
        for corr in held:
            body = answer(c_commit, corr, "held OffsetCommit", 60)
            if body is None or set(commit_errors(body)) != {0}:
                brokerlib.fail("a held OffsetCommit answered %r" % body)
        body = answer(c_other, during, "OffsetCommit made during the compaction", 60)
        if body is None or commit_errors(body) != [0]:
            brokerlib.fail("the OffsetCommit made during the compaction answered %r" % body)
        deadline = time.monotonic() + 60
        while os.path.exists(new_file):
            if time.monotonic() > deadline:
                brokerlib.fail("the compaction did not finish once the gate opened")
            time.sleep(0.05)
        size = os.path.getsize(log_file)
        if size > 1024 * 1024:
            brokerlib.fail("the group log is still %d bytes after the compaction" % size)
        want = {0: off - 1, 1: 777777}
        got = fetch_offsets(c_other)
        if got != want:
            brokerlib.fail("after the compaction OffsetFetch answered %r, expected %r"
                           % (got, want))
        print("every commit answered once released; log compacted to %d bytes; offsets %r"
              % (size, got))

        open(os.path.join(shadow, "crash-now"), "w").close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            brokerlib.fail("the crash simulator did not stop the broker")
        c_commit.close()
        c_other.close()
        proc = start(data, port, log, dict(os.environ))
        conn = kwire.Conn(port, timeout=30)
        got = fetch_offsets(conn)
        if got != want:
            brokerlib.fail("after a power loss OffsetFetch answered %r, expected %r" % (got, want))
        print("after a power loss and a restart: offsets %r" % got)
    finally:
        if os.path.exists(gate):
            os.unlink(gate)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
