"""Power loss, not only kill -9: the broker runs under the crash simulator (libcrashsim.so,
tests/crash/crashsim.c), which at a chosen fsync/fdatasync leaves the data directory as a power
loss could (unsynced writes dropped or torn, unsynced directory entries lost) and kills it.
Each round: a fresh data directory, a crash point, an acks=all producer that records every
acknowledged (partition, offset, key), a consumer group committing offsets; then the broker is
restarted without the simulator and checked: every acknowledged record is at its acknowledged
offset (so no offset was reused for other data), no record appears twice, the topic exists if
its creation was acknowledged, and every committed offset is the last acknowledged one (or one
in flight at the crash). Every third round first kills the broker with kill -9 (page cache kept),
restarts it under the simulator, lets a consumer read everything, and then cuts the power: what
the consumer read must still be there at the same offsets. Segments are 1 KiB, so rolls and
multi-segment recovery happen in every round.

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

class State:
    """What the clients were told, over all phases of a round."""

    def __init__(self):
        self.topic_acked = False
        self.acked = []      # (partition, base offset, [keys]) of acknowledged produces
        self.commits = {}    # partition -> last acknowledged committed offset
        self.inflight = {}   # partition -> {offsets sent but not acknowledged}
        self.seen = []       # (partition, offset, key) a consumer read between crashes
        self.commits_checked = self.commits_lost = 0


class Round:
    def __init__(self, lib, seed, extra_env):
        self.lib, self.seed, self.extra = lib, seed, extra_env
        self.work = tempfile.mkdtemp(prefix="sluice-powerloss.")
        self.data = os.path.join(self.work, "data")
        os.makedirs(self.data)
        self.port = brokerlib.free_port()
        self.log = os.path.join(self.work, "broker.log")
        self.proc = None
        self.shadow = None

    def start(self, shim=None):
        """Starts the broker; shim is a dict of simulator settings (None: no simulator).
        Returns False when it died before listening (a crash point during start-up)."""
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        if shim is not None:
            self.shadow = os.path.join(self.work, "shadow%d" % len(os.listdir(self.work)))
            env.update(LD_PRELOAD=self.lib, CRASHSIM_ROOT=self.data, CRASHSIM_SHADOW=self.shadow,
                       CRASHSIM_SEED=str(self.seed), **self.extra)
            env.update({k: str(v) for k, v in shim.items()})
        with open(self.log, "ab") as log:
            log.write(b"=== broker start %r\n" % (shim,))
            log.flush()
            self.proc = subprocess.Popen(
                [brokerlib.env("SLUICE_BIN"), "broker", "--listen", "127.0.0.1:%d" % self.port,
                 "--data-dir", self.data, "--group-initial-delay", "0s",
                 "--segment-bytes", "1KiB"],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while not brokerlib.port_open(self.port):
            if self.proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise AssertionError("broker did not start")
            time.sleep(0.02)
        return True

    def cleanup(self, keep):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
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

    def run_clients(self, st, phase, read_first=False, crash_after_read=False):
        """Produces and commits until the broker dies, recording what was acknowledged; with
        read_first, first reads every partition as a consumer would (recorded in st.seen), and
        with crash_after_read the power goes right after that read."""
        try:
            c = kwire.Conn(self.port, timeout=20)
            res = kwire.parse_create_topics_v2(c.call(kwire.API_CREATE_TOPICS, 2,
                                                      kwire.create_topics_v2(TOPIC, NPARTS)))
            if res[0][1] not in (kwire.ERR_NONE, kwire.ERR_TOPIC_ALREADY_EXISTS):
                raise AssertionError("CreateTopics: %r" % (res,))
            st.topic_acked = True
            if read_first:
                for p in range(NPARTS):
                    st.seen.extend((p, o, k) for o, k in read_partition(c, p))
                if crash_after_read:
                    self.crash_now()
                    return
            ends = [0] * NPARTS
            for p, base, keys in st.acked:
                ends[p] = max(ends[p], base + len(keys))
            for j in range(OPS):
                p = j % NPARTS
                keys = [b"p%d-k%d-%d" % (phase, j, k) for k in range(1 + j % 3)]
                batch = kwire.record_batch([(k, b"v" * 50) for k in keys])
                res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3,
                                                    kwire.produce_v3(TOPIC, p, bytes(batch))))
                (_, _, err, base), = res
                if err != kwire.ERR_NONE:
                    raise AssertionError("produce error %d" % err)
                st.acked.append((p, base, keys))
                ends[p] = base + len(keys)
                if j % 4 == 3:
                    st.inflight.setdefault(p, set()).add(ends[p])
                    (part, err), = parse_offset_commit_v2(
                        c.call(API_OFFSET_COMMIT, 2, offset_commit_v2(p, ends[p])))
                    if err != kwire.ERR_NONE:
                        raise AssertionError("commit error %d" % err)
                    st.commits[p] = ends[p]
                    st.inflight[p] = set()
            c.close()
        except (ConnectionError, OSError, TimeoutError, ValueError):
            pass  # the crash

    def crash_now(self):
        """Triggers the simulator's crash if its sync point was not reached, then waits."""
        if self.proc.poll() is None:
            os.makedirs(self.shadow, exist_ok=True)
            open(os.path.join(self.shadow, "crash-now"), "w").close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("the broker did not crash")

    def verify(self, st):
        """Restarts without the simulator; returns a list of problems (empty when fine) and
        (records acknowledged, lost, reused)."""
        problems = []
        if not self.start():
            return ["the broker did not restart after the crash"], (len(st.acked), 0, 0)
        c = kwire.Conn(self.port, timeout=20)
        logs = {}
        if st.topic_acked:
            for p in range(NPARTS):
                try:
                    logs[p] = dict(read_partition(c, p))
                except AssertionError as e:
                    problems.append(str(e))
                    logs[p] = {}
        nrec = lost = reused = 0
        for p, base, keys in st.acked:
            for k, key in enumerate(keys):
                nrec += 1
                got = logs.get(p, {}).get(base + k, "missing")
                if got == "missing":
                    lost += 1
                    problems.append("acknowledged %s lost (partition %d offset %d)"
                                    % (key, p, base + k))
                elif got != key:
                    reused += 1
                    problems.append("offset %d of partition %d holds %r, acknowledged as %r"
                                    % (base + k, p, got, key))
        for p, off, key in st.seen:
            got = logs.get(p, {}).get(off, "missing")
            if got != key:
                reused += 1
                problems.append("offset %d of partition %d was read as %r, now %r"
                                % (off, p, key, got))
        for p, recs in logs.items():
            keys = list(recs.values())
            if len(keys) != len(set(keys)):
                problems.append("partition %d holds a record twice" % p)
        fetched = parse_offset_fetch_v1(c.call(API_OFFSET_FETCH, 1, offset_fetch_v1()))
        for p in range(NPARTS):
            off, _ = fetched.get(p, (-1, 0))
            allowed = {st.commits.get(p, -1)} | st.inflight.get(p, set())
            if p in st.commits:
                st.commits_checked += 1
            if off not in allowed:
                st.commits_lost += 1
                problems.append("group offset of partition %d is %d, acknowledged %r"
                                % (p, off, sorted(allowed)))
        c.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        return problems, (nrec, lost, reused)


def power_loss_round(r, rnd, total):
    """One crash point: run under the simulator until the Nth sync, power loss, check."""
    st = State()
    n = rnd.randint(1, total + 2)
    after = rnd.random() < 0.5
    if r.start({"CRASHSIM_SYNC_N": n, "CRASHSIM_AFTER": int(after)}):
        r.run_clients(st, 1)
    r.crash_now()
    return "power loss at sync %d (%s)" % (n, "after" if after else "before"), st


def kill9_then_power_loss_round(r, rnd, total):
    """kill -9 at one sync (page cache kept), restart under the simulator (what was not synced
    before the kill is not durable yet), a consumer reads everything, more produces, then a power
    loss at another sync: what the consumer read must still be there."""
    st = State()
    n1 = rnd.randint(total // 3, total + 2)
    if r.start({"CRASHSIM_SYNC_N": n1, "CRASHSIM_KILL9": 1}):
        r.run_clients(st, 1)
    r.crash_now()
    manifest = os.path.join(r.shadow, "manifest")
    right_after_read = rnd.random() < 0.5
    n2 = 10 ** 9 if right_after_read else rnd.randint(1, total // 2 + 2)
    after = rnd.random() < 0.5
    if r.start({"CRASHSIM_SYNC_N": n2, "CRASHSIM_AFTER": int(after),
                "CRASHSIM_MANIFEST": manifest}):
        r.run_clients(st, 2, read_first=True, crash_after_read=right_after_read)
    r.crash_now()
    if right_after_read:
        return "kill -9 at sync %d, then power loss right after a consumer read" % n1, st
    return "kill -9 at sync %d, then power loss at sync %d (%s)" % (
        n1, n2, "after" if after else "before"), st


def main():
    lib = os.path.join(brokerlib.env("TOOLS_DIR"), "libcrashsim.so")
    if not os.path.exists(lib):
        brokerlib.skip("%s is not built" % lib)
    rounds = int(os.environ.get("POWERLOSS_ROUNDS", "60"))
    seed = int(os.environ.get("POWERLOSS_SEED", "11"))
    extra = {k: v for k, v in os.environ.items() if k == "CRASHSIM_DROP_FDATASYNC"}
    rnd = random.Random(seed)

    # Calibration: how many syncs a whole run makes, so crash points cover all of it.
    cal = Round(lib, seed, extra)
    try:
        st = State()
        if not cal.start({"CRASHSIM_SYNC_N": 10 ** 9}):
            brokerlib.fail("the broker does not start under the crash simulator")
        cal.run_clients(st, 1)
        total = cal.syncs()
        cal.crash_now()
        if not st.topic_acked or len(st.acked) != OPS:
            brokerlib.fail("calibration run: only %d of %d produces acknowledged"
                           % (len(st.acked), OPS))
    finally:
        cal.cleanup(False)
    print("calibration: a full run makes %d syncs" % total)

    totals = {"points": 0, "acked": 0, "lost": 0, "reused": 0, "failed": 0, "seen": 0,
              "commits": 0, "commits_lost": 0}
    for i in range(rounds):
        r = Round(lib, rnd.randint(1, 1 << 30), extra)
        kind = power_loss_round if i % 3 != 2 else kill9_then_power_loss_round
        try:
            what, st = kind(r, rnd, total)
            problems, (nrec, lost, reused) = r.verify(st)
            totals["seen"] += len(st.seen)
            totals["commits"] += st.commits_checked
            totals["commits_lost"] += st.commits_lost
        except AssertionError as e:
            what, problems, nrec, lost, reused = kind.__name__, [str(e)], 0, 0, 0
        totals["points"] += 2 if kind is kill9_then_power_loss_round else 1
        totals["acked"] += nrec
        totals["lost"] += lost
        totals["reused"] += reused
        if problems:
            totals["failed"] += 1
            print("round %d: %s: %d problem(s): %s"
                  % (i, what, len(problems), "; ".join(problems[:4])))
        r.cleanup(bool(problems) and totals["failed"] <= 2 and os.environ.get("POWERLOSS_KEEP"))
    print("rounds: %d, crash points: %d, acknowledged records: %d, lost: %d, records read "
          "between crashes: %d, offsets reused: %d, committed offsets checked: %d, lost: %d, "
          "rounds with problems: %d"
          % (rounds, totals["points"], totals["acked"], totals["lost"], totals["seen"],
             totals["reused"], totals["commits"], totals["commits_lost"], totals["failed"]))
    if totals["failed"]:
        brokerlib.fail("%d of %d rounds broke a durability promise" % (totals["failed"], rounds))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
