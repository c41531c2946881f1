"""Power loss, not only kill -9: the broker runs under the crash simulator (libcrashsim.so,
tests/crash/crashsim.c), which at a chosen fsync/fdatasync leaves the data directory as a power
loss could (unsynced writes dropped or torn, unsynced directory entries lost) and kills it.
Each round: a fresh data directory, a crash point, an acks=all producer that records every
acknowledged (partition, offset, key), a consumer group committing offsets; then the broker is
restarted without the simulator and checked: every acknowledged record is at its acknowledged
offset (so no offset was reused for other data), no record appears twice, the topic exists if
its creation was acknowledged, and every committed offset is the last acknowledged one (or the
one in flight at the crash).

POWERLOSS_ROUNDS sets the number of crash points (default 60 for CI, about 20 s; the long mode
is 250+). POWERLOSS_SEED picks them. CRASHSIM_DROP_FDATASYNC=1 (passed to the simulator) makes fdatasync
a no-op, to show that this test catches a missing sync: it must then fail."""
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

API_OFFSET_COMMIT, API_OFFSET_FETCH = 8, 9
TOPIC, GROUP, NPARTS = "pl", "plg", 2
OPS = 24


# ---- wire helpers this test needs beyond kwire ----

def offset_commit_v2(partition, offset):
    w = kwire.Writer().string(GROUP).i32(-1).string("").i64(-1)
    w.i32(1).string(TOPIC).i32(1).i32(partition).i64(offset).string("")
    return w.done()


def parse_offset_commit_v2(body):
    r = kwire.Reader(body)
    out = []
    for _, parts in r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16())))):
        out.extend(parts)
    return out


def offset_fetch_v1():
    w = kwire.Writer().string(GROUP).i32(1).string(TOPIC).i32(NPARTS)
    for p in range(NPARTS):
        w.i32(p)
    return w.done()


def parse_offset_fetch_v1(body):
    r = kwire.Reader(body)
    out = {}
    for _, parts in r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.string(), r.i16())))):
        for p, off, _, err in parts:
            out[p] = (off, err)
    return out


def fetch_v4(partition, offset):
    w = kwire.Writer().i32(-1).i32(0).i32(0).i32(8 << 20).i8(0)
    w.i32(1).string(TOPIC).i32(1).i32(partition).i64(offset).i32(8 << 20)
    return w.done()


def read_varint(b, pos):
    shift = raw = 0
    while True:
        c = b[pos]
        pos += 1
        raw |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos


def decode_batches(data):
    """[(offset, key)] from whole uncompressed batches; a trailing partial batch is dropped."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        base, length = struct.unpack(">qi", data[pos:pos + 12])
        if pos + 12 + length > len(data):
            break
        batch = data[pos:pos + 12 + length]
        count = struct.unpack(">i", batch[57:61])[0]
        rp = 61
        for _ in range(count):
            _, rp = read_varint(batch, rp)  # record length
            rp += 1  # attributes
            _, rp = read_varint(batch, rp)  # timestamp delta
            delta, rp = read_varint(batch, rp)
            klen, rp = read_varint(batch, rp)
            key = None if klen < 0 else bytes(batch[rp:rp + klen])
            rp += max(klen, 0)
            vlen, rp = read_varint(batch, rp)
            rp += max(vlen, 0)
            nh, rp = read_varint(batch, rp)
            for _ in range(nh):
                hk, rp = read_varint(batch, rp)
                rp += hk
                hv, rp = read_varint(batch, rp)
                rp += max(hv, 0)
            out.append((base + delta, key))
        pos += 12 + length
    return out


def read_bytes(r):
    n = r.i32()
    return b"" if n < 0 else bytes(r._take(n))


def read_partition(c, partition):
    """Every (offset, key) of a partition, fetching from 0 until the high watermark."""
    records, offset = [], 0
    while True:
        r = kwire.Reader(c.call(kwire.API_FETCH, 4, fetch_v4(partition, offset)))
        r.i32()  # throttle
        (_, parts), = r.array(lambda r: (r.string(), r.array(lambda r: (
            r.i32(), r.i16(), r.i64(), r.i64(),
            r.array(lambda r: (r.i64(), r.i64())), read_bytes(r)))))
        _, err, hw, _, _, data = parts[0]
        if err != kwire.ERR_NONE:
            raise AssertionError("fetch %d at %d: error %d" % (partition, offset, err))
        got = decode_batches(data or b"")
        if not got:
            if offset < hw:
                raise AssertionError("fetch %d at %d returned nothing below hw %d"
                                     % (partition, offset, hw))
            return records
        records.extend(got)
        offset = got[-1][0] + 1


# ---- one round ----

class Round:
    def __init__(self, lib, sync_n, after, seed, extra_env):
        self.work = tempfile.mkdtemp(prefix="sluice-powerloss.")
        self.data = os.path.join(self.work, "data")
        self.shadow = os.path.join(self.work, "shadow")
        os.makedirs(self.data)
        self.port = brokerlib.free_port()
        self.log = os.path.join(self.work, "broker.log")
        self.env = dict(os.environ, LD_PRELOAD=lib, CRASHSIM_ROOT=self.data,
                        CRASHSIM_SHADOW=self.shadow, CRASHSIM_SYNC_N=str(sync_n),
                        CRASHSIM_AFTER="1" if after else "0", CRASHSIM_SEED=str(seed),
                        **extra_env)
        self.proc = None

    def start(self, shim):
        env = self.env if shim else {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        with open(self.log, "ab") as log:
            log.write(b"=== broker start%s\n" % (b" under the crash simulator" if shim else b""))
            log.flush()
            self.proc = subprocess.Popen(
                [brokerlib.env("SLUICE_BIN"), "broker", "--listen", "127.0.0.1:%d" % self.port,
                 "--data-dir", self.data, "--group-initial-delay", "0s"],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while not brokerlib.port_open(self.port):
            if self.proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise AssertionError("broker did not start")
            time.sleep(0.02)
        return True

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def cleanup(self, keep):
        self.kill()
        if keep:
            print("  kept %s for inspection" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def syncs(self):
        try:
            with open(os.path.join(self.shadow, "syncs")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def run_clients(self):
        """Produces and commits until the broker dies; returns what was acknowledged."""
        acked, commits, inflight = [], {}, {}
        topic_acked = False
        ends = [0] * NPARTS
        try:
            c = kwire.Conn(self.port, timeout=20)
            res = kwire.parse_create_topics_v2(c.call(kwire.API_CREATE_TOPICS, 2,
                                                      kwire.create_topics_v2(TOPIC, NPARTS)))
            if res[0][1] != kwire.ERR_NONE:
                raise AssertionError("CreateTopics: %r" % res)
            topic_acked = True
            for j in range(OPS):
                p = j % NPARTS
                keys = [b"k%d-%d" % (j, k) for k in range(1 + j % 3)]
                batch = kwire.record_batch([(k, b"v" * 50) for k in keys])
                res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3,
                                                    kwire.produce_v3(TOPIC, p, bytes(batch))))
                (_, _, err, base), = res
                if err != kwire.ERR_NONE:
                    raise AssertionError("produce error %d" % err)
                acked.append((p, base, keys))
                ends[p] = base + len(keys)
                if j % 4 == 3:
                    inflight[p] = ends[p]
                    (part, err), = parse_offset_commit_v2(
                        c.call(API_OFFSET_COMMIT, 2, offset_commit_v2(p, ends[p])))
                    if err != kwire.ERR_NONE:
                        raise AssertionError("commit error %d" % err)
                    commits[p] = ends[p]
                    del inflight[p]
            c.close()
        except (ConnectionError, OSError, TimeoutError):
            pass  # the crash
        return topic_acked, acked, commits, inflight

    def crash_now(self):
        """Triggers the simulator's crash if the sync point was not reached, then waits."""
        if self.proc.poll() is None:
            os.makedirs(self.shadow, exist_ok=True)
            open(os.path.join(self.shadow, "crash-now"), "w").close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("the broker did not crash")

    def verify(self, topic_acked, acked, commits, inflight):
        """Restarts without the simulator; returns a list of problems (empty when fine) and
        (records acknowledged, lost, reused)."""
        problems = []
        if not self.start(shim=False):
            return ["the broker did not restart after the crash"], (len(acked), 0, 0)
        c = kwire.Conn(self.port, timeout=20)
        logs = {}
        if topic_acked:
            for p in range(NPARTS):
                try:
                    logs[p] = read_partition(c, p)
                except AssertionError as e:
                    if topic_acked:
                        problems.append(str(e))
                    logs[p] = []
        nrec = lost = reused = 0
        for p, base, keys in acked:
            have = dict(logs.get(p, []))
            for k, key in enumerate(keys):
                nrec += 1
                got = have.get(base + k, "missing")
                if got == "missing":
                    lost += 1
                    problems.append("acknowledged %s lost (partition %d offset %d)"
                                    % (key, p, base + k))
                elif got != key:
                    reused += 1
                    problems.append("offset %d of partition %d holds %r, acknowledged as %r"
                                    % (base + k, p, got, key))
        for p, recs in logs.items():
            keys = [k for _, k in recs]
            if len(keys) != len(set(keys)):
                problems.append("partition %d holds a record twice" % p)
            offs = [o for o, _ in recs]
            if offs != sorted(set(offs)):
                problems.append("partition %d offsets out of order or repeated" % p)
        fetched = parse_offset_fetch_v1(c.call(API_OFFSET_FETCH, 1, offset_fetch_v1()))
        for p in range(NPARTS):
            off, _ = fetched.get(p, (-1, 0))
            allowed = {commits.get(p, -1)}
            if p in inflight:
                allowed.add(inflight[p])
            if off not in allowed:
                problems.append("group offset of partition %d is %d, acknowledged %r"
                                % (p, off, sorted(allowed)))
        c.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        return problems, (nrec, lost, reused)


def main():
    lib = os.path.join(brokerlib.env("TOOLS_DIR"), "libcrashsim.so")
    if not os.path.exists(lib):
        brokerlib.skip("%s is not built" % lib)
    rounds = int(os.environ.get("POWERLOSS_ROUNDS", "60"))
    seed = int(os.environ.get("POWERLOSS_SEED", "11"))
    extra = {k: v for k, v in os.environ.items() if k == "CRASHSIM_DROP_FDATASYNC"}
    rnd = random.Random(seed)

    # Calibration: how many syncs a whole run makes, so crash points cover all of it.
    cal = Round(lib, 10 ** 9, False, seed, extra)
    try:
        if not cal.start(shim=True):
            brokerlib.fail("the broker does not start under the crash simulator")
        topic_acked, acked, _, _ = cal.run_clients()
        total = cal.syncs()
        cal.crash_now()
        if not topic_acked or len(acked) != OPS:
            brokerlib.fail("calibration run: only %d of %d produces acknowledged" % (len(acked), OPS))
    finally:
        cal.cleanup(False)
    print("calibration: a full run makes %d syncs" % total)

    totals = {"points": 0, "acked": 0, "lost": 0, "reused": 0, "failed": 0}
    for i in range(rounds):
        n = rnd.randint(1, total + 2)
        after = rnd.random() < 0.5
        r = Round(lib, n, after, rnd.randint(1, 1 << 30), extra)
        problems = []
        try:
            if r.start(shim=True):
                state = r.run_clients()
            else:
                state = (False, [], {}, {})
            r.crash_now()
            problems, (nrec, lost, reused) = r.verify(*state)
        except AssertionError as e:
            problems, nrec, lost, reused = [str(e)], 0, 0, 0
        totals["points"] += 1
        totals["acked"] += nrec
        totals["lost"] += lost
        totals["reused"] += reused
        if problems:
            totals["failed"] += 1
            print("round %d: crash at sync %d (%s): %d problem(s): %s"
                  % (i, n, "after" if after else "before", len(problems), "; ".join(problems[:4])))
        r.cleanup(bool(problems) and totals["failed"] <= 2 and os.environ.get("POWERLOSS_KEEP"))
    print("crash points: %(points)d, acknowledged records: %(acked)d, lost: %(lost)d, "
          "reused offsets: %(reused)d, rounds with problems: %(failed)d" % totals)
    if totals["failed"]:
        brokerlib.fail("%d of %d crash points lost acknowledged data" % (totals["failed"], rounds))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
