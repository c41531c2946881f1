#!/usr/bin/python3
"""Chaos test of the whole embedded pipeline: broker, stream job, producers under steady load,
with a random part killed -9 at random moments and restarted, for N minutes. Then it checks,
from the outside:

  - every record acknowledged to a producer is in the broker's log, at the partition and
    offset it was acknowledged with, under the same key (lost = acknowledged but not there);
  - the store holds, for every id, exactly the last good version of it in the log (stale,
    missing and extra rows are counted; duplicated = rows beyond one per id);
  - every bad record in the log is in the dead-letter topic with its reason and source
    headers, and nothing else is (at least once: a record may be dead-lettered twice);
  - the broker's segment files verify (tests/tools/logcheck: CRC-32C, offsets contiguous);
  - the scheduler, killed like the rest while runs of a 3-task DAG are triggered every ~2 s,
    leaves its runs consistent: every accepted trigger has its run, every run ends success
    with each task succeeded once (tries may repeat, as retries), none both running and done.

The random choices come from --seed, printed in the summary line so a failure can be replayed:
  chaos: seed=S minutes=M kills=K (...) records=R acked=A lost=0 duplicated=0 stale=0 ...

Producers: usergen (tests/tools) plays the ingest task with records whose indexes it knows
(1 % bad, 5 % updates of earlier ids), writing every acknowledgement to a file; `sluice
ingest --source generator` runs beside it in short runs. Both are killed like the rest; a
killed usergen chunk is produced again from its start (its records are idempotent upserts, and
the oracle is the log itself, so re-sent older versions are accounted for).
Exit 0 on PASS, 1 on FAIL, 77 when a tool is missing.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

M64 = (1 << 64) - 1
NBADKINDS = 8
BAD_REASONS = [
    "invalid JSON",
    "missing field 'email'",
    "field 'phone' must be a string",
    "field 'id' is not a UUID",
    "invalid UTF-8",
    "field 'id' is null",
    "not a JSON object",
    "field 'post_code' is a number but not an integer",
]
FIELDS = ["id", "first_name", "last_name", "gender", "address", "post_code", "email",
          "username", "dob", "registered_date", "phone", "picture"]


def mix(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def bad_kind(seed, bad_pm, i):
    """The same function as usergen's: -1 for a good record, else its bad kind."""
    if mix((seed * 1000003 + i * 16 + 1) & M64) % 1000 >= bad_pm:
        return -1
    return mix((seed * 1000003 + i * 16 + 2) & M64) % NBADKINDS


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log(msg):
    print("--- %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Part:
    """A supervised child process: started, killed -9, restarted."""

    def __init__(self, name, argv, logpath, ready=None):
        self.name, self.argv, self.logpath, self.ready = name, argv, logpath, ready
        self.proc = None
        self.kills = 0

    def start(self):
        f = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        f.close()
        if self.ready:
            self.ready(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
            self.kills += 1
            return True
        return False

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Producer:
    """usergen in chunks: a chunk that completes moves on; a killed or failed one is redone."""

    def __init__(self, a, boot, work):
        self.a, self.boot, self.work = a, boot, work
        self.next_first = 0
        self.chunk_first = None
        self.part = None
        self.kills = 0
        self.acks = os.path.join(work, "acks.txt")
        self.produced = 0  # highest index started + 1

    def _argv(self, first, n):
        return [self.a.usergen, "produce", "-b", self.boot, "-t", self.a.topic, "-n", str(n),
                "-k", str(first), "-S", str(self.a.seed), "-B", str(self.a.bad_permille),
                "-U", str(self.a.update_permille), "-r", str(self.a.rate), "-T", "120",
                "-o", self.acks]

    def tick(self, stopping):
        if self.part and self.part.alive():
            return
        if self.part:
            rc = self.part.proc.returncode
            if rc == 0:
                self.next_first = self.chunk_first + self.a.chunk
            self.part = None
        if stopping:
            return
        self.chunk_first = self.next_first
        self.produced = max(self.produced, self.chunk_first + self.a.chunk)
        self.part = Part("producer", self._argv(self.chunk_first, self.a.chunk),
                         os.path.join(self.work, "producer.log"))
        self.part.start()

    def kill9(self):
        if self.part and self.part.kill9():
            self.kills += 1
            return True
        return False

    def finish(self, timeout):
        end = time.time() + timeout
        while self.part and self.part.alive() and time.time() < end:
            time.sleep(0.2)
        if self.part and self.part.alive():
            self.part.kill9()


CHAOS_DAG = """\
chaos_dag:
  default_args:
    owner: chaos
    start_date: 2024-01-01
    retries: 8
    retry_delay: 1s
  schedule: null
  catchup: false
  max_active_runs: 4
  tasks:
    - task_id: a
      operator: bash
      bash_command: "sleep 0.3; echo a"
    - task_id: b
      operator: bash
      bash_command: "sleep 0.2; echo b"
      dependencies: [a]
    - task_id: c
      operator: bash
      bash_command: "echo c"
      dependencies: [a]
"""
TASKS = {"a", "b", "c"}


class Sched:
    """The scheduler with a 3-task DAG, triggered through the CLI (REST API) every ~2 s."""

    def __init__(self, a, work):
        self.a = a
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.data = os.path.join(work, "sched")
        dags = os.path.join(work, "dags")
        os.makedirs(dags, exist_ok=True)
        with open(os.path.join(dags, "chaos.yaml"), "w") as f:
            f.write(CHAOS_DAG)
        os.environ["SLUICE_SCHEDULER_ADMIN_PASSWORD"] = "chaos-admin"
        self.part = Part("scheduler", [a.sluice, "scheduler", "--listen", "127.0.0.1:%d" %
                                       self.port, "--data-dir", self.data, "--dags-folder", dags,
                                       "--no-dags-paused-at-creation", "--no-builtin-dags"],
                         os.path.join(work, "scheduler.log"))
        self.accepted = []
        self.next_trigger = 0
        self.seq = 0

    def _cli(self, *args):
        return subprocess.run([self.a.sluice, "dags"] + list(args) +
                              ["--url", self.url, "--password", "chaos-admin"],
                              capture_output=True, text=True, timeout=20)

    def tick(self, now):
        if now < self.next_trigger or not self.part.alive():
            return
        self.next_trigger = now + 2
        self.seq += 1
        run_id = "chaos_%05d" % self.seq
        try:
            r = self._cli("trigger", "chaos_dag", "--run-id", run_id)
        except subprocess.TimeoutExpired:
            return
        if r.returncode == 0:
            self.accepted.append(run_id)

    def check(self):
        """Waits for every run to end, then checks the metadata DB; returns (line, ok)."""
        import sqlite3
        db = os.path.join(self.data, "scheduler", "scheduler.db")
        deadline = time.time() + 240
        while time.time() < deadline:
            try:
                con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
                open_runs = con.execute("SELECT count(*) FROM dag_run WHERE dag_id='chaos_dag' "
                                        "AND state IN ('queued','running')").fetchone()[0]
                con.close()
                if open_runs == 0:
                    break
            except sqlite3.Error:
                pass
            time.sleep(1)
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        runs = {r[0]: r[1:] for r in con.execute(
            "SELECT run_id, state, start_date, end_date FROM dag_run WHERE dag_id='chaos_dag'")}
        tis = {}
        for run_id, task_id, state, tries in con.execute(
                "SELECT run_id, task_id, state, try_number FROM task_instance "
                "WHERE dag_id='chaos_dag'"):
            tis.setdefault(run_id, {})[task_id] = (state, tries)
        con.close()
        lost_runs = [r for r in self.accepted if r not in runs]
        not_done = [r for r, v in runs.items() if v[0] not in ("success", "failed")]
        failed = [r for r, v in runs.items() if v[0] == "failed"]
        inconsistent = []
        retried = 0
        for r, v in runs.items():
            t = tis.get(r, {})
            if v[0] == "success" and (set(t) != TASKS or
                                      any(st != "success" for st, _ in t.values())):
                inconsistent.append(r)
            if v[0] in ("success", "failed") and (v[2] is None or
                                                  any(st in ("running", "queued", "scheduled")
                                                      for st, _ in t.values())):
                inconsistent.append(r)
            retried += sum(1 for _, n in t.values() if n > 1)
        for r in (lost_runs + not_done + failed + inconsistent)[:5]:
            print("SCHEDULER: run %s: %s, tasks %s" % (r, runs.get(r), tis.get(r)))
        ok = not lost_runs and not not_done and not failed and not inconsistent and runs
        line = ("scheduler: triggered %d, runs %d, lost %d, unfinished %d, failed %d, "
                "inconsistent %d, task tries repeated %d" %
                (len(self.accepted), len(runs), len(lost_runs), len(not_done), len(failed),
                 len(inconsistent), retried))
        return line, bool(ok)


def read_topic(boot, topic, with_headers=True):
    """Every record of topic: list of (partition, offset, key, value, headers dict)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": boot, "group.id": "chaos-reader",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=30)
    if topic not in md.topics or md.topics[topic].error is not None:
        c.close()
        return []
    parts = sorted(md.topics[topic].partitions)
    ends = {}
    tps = []
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        ends[p] = hi
        if hi > lo:
            tps.append(TopicPartition(topic, p, lo))
    out = []
    if tps:
        c.assign(tps)
        pending = {tp.partition for tp in tps}
        deadline = time.time() + 600
        while pending and time.time() < deadline:
            for m in c.consume(10000, 1.0):
                if m.error():
                    if m.error().code() == -191:  # _PARTITION_EOF
                        if m.offset() >= ends[m.partition()]:
                            pending.discard(m.partition())
                        continue
                    raise RuntimeError("consume: %s" % m.error())
                if m.offset() >= ends[m.partition()]:
                    continue
                hd = {}
                if with_headers and m.headers():
                    for k, v in m.headers():
                        hd[k] = v
                out.append((m.partition(), m.offset(), m.key(), m.value(), hd))
                if m.offset() + 1 >= ends[m.partition()]:
                    pending.discard(m.partition())
        if pending:
            raise RuntimeError("could not read partitions %s of %s" % (sorted(pending), topic))
    c.close()
    return out


def drained(boot, topic, group):
    """True when the group's committed offsets reach the end of every partition."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": boot, "group.id": group, "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=10)
        if topic not in md.topics:
            return False
        tps = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
        committed = c.committed(tps, timeout=10)
        for tp in committed:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            if hi > 0 and tp.offset < hi:
                return False
        return True
    except Exception:
        return False
    finally:
        c.close()


def canonical(value):
    """The 12 stored fields of a good record's value, as the store keeps them (text)."""
    obj = json.loads(value.decode("utf-8"))
    row = {}
    for f in FIELDS:
        v = obj[f]
        if f == "post_code" and isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(int(v))
        row[f] = v
    return row


def common_args(ap, rate=3000):
    """The options chaos.py and chaos_engines.py share."""
    ap.add_argument("--sluice", default=os.environ.get("SLUICE_BIN"))
    ap.add_argument("--tools", default=os.environ.get("TOOLS_DIR"))
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("MINUTES", "1")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", "0")) or None)
    ap.add_argument("--kill-every", type=float, default=float(os.environ.get("KILL_EVERY", "5")),
                    help="mean seconds between kills (exponential)")
    ap.add_argument("--rate", type=int, default=int(os.environ.get("RATE", str(rate))),
                    help="usergen records/s")
    ap.add_argument("--chunk", type=int, default=20000, help="usergen records per run")
    ap.add_argument("--bad-permille", type=int, default=10)
    ap.add_argument("--update-permille", type=int, default=50)
    ap.add_argument("--topic", default="users_created")
    ap.add_argument("--processes", type=int, default=1, help="stream-job instances")
    ap.add_argument("--store-params", default="",
                    help="SQLite store parameters for the jobs, e.g. merge_rows=20000&runs=2 "
                         "(seals and moves of the two-level layout under kills)")
    ap.add_argument("--no-ingest", action="store_true", help="no `sluice ingest` beside usergen")
    ap.add_argument("--no-scheduler", action="store_true", help="no scheduler in the mix")
    ap.add_argument("--work", help="work directory (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")


def check_acks(acks_path, recs):
    """Every acknowledgement in usergen's ack file against the log: (acked, lost)."""
    at = {(p, o): k for p, o, k, v, h in recs}
    acked = lost = 0
    with open(acks_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue  # a line cut by a kill
            acked += 1
            key, p, o = parts[0].encode(), int(parts[1]), int(parts[2])
            got = at.get((p, o))
            if got != key:
                lost += 1
                if lost <= 10:
                    print("LOST: key %s acknowledged at %d/%d, log has %r" %
                          (parts[0], p, o, got))
    return acked, lost


def expected_rows(recs, seed, bad_permille):
    """The oracle from the log: ({id: last good version's fields}, {(p, o) of bad records})."""
    expected = {}
    bad = set()
    for p, o, k, v, h in sorted(recs, key=lambda r: (r[0], r[1])):
        ix = h.get("usergen-index")
        if ix is not None and bad_kind(seed, bad_permille, int(ix)) >= 0:
            bad.add((p, o))
            continue
        expected[k.decode()] = canonical(v)
    return expected, bad


def check_dlq(dlq, recs, bad):
    """Dead letters against the bad records of the log: (missing, wrong)."""
    values = {(p, o): v for p, o, k, v, h in recs}
    dl = {}
    wrong_dlq = 0
    for p, o, k, v, h in dlq:
        try:
            src = (int(h["source.partition"]), int(h["source.offset"]))
        except (KeyError, ValueError):
            wrong_dlq += 1
            continue
        if src not in bad or not h.get("error"):
            wrong_dlq += 1
            continue
        if v != values[src]:
            wrong_dlq += 1
        dl[src] = h["error"].decode(errors="replace")
    return len(bad - set(dl)), wrong_dlq


def compare_rows(rows, expected):
    """Stored rows (dicts of text fields) against the oracle: (distinct ids, duplicated, stale,
    missing, extra)."""
    seen = {}
    duplicated = stale = extra = 0
    for r in rows:
        rid = r["id"]
        if rid in seen:
            duplicated += 1
            continue
        seen[rid] = r
        want = expected.get(rid)
        if want is None:
            extra += 1
            continue
        if any((r.get(f) or "") != want[f] for f in FIELDS):
            stale += 1
            if stale <= 5:
                print("STALE: row %s differs from the last version in the log" % rid)
    missing = sum(1 for k in expected if k not in seen)
    return len(seen), duplicated, stale, missing, extra


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(ap)
    a = ap.parse_args()
    if not a.sluice or not a.tools:
        print("chaos: give --sluice BIN and --tools DIR (or SLUICE_BIN, TOOLS_DIR)")
        return 2
    a.usergen = os.path.join(a.tools, "usergen")
    logcheck = os.path.join(a.tools, "logcheck")
    for t in (a.sluice, a.usergen, logcheck):
        if not os.access(t, os.X_OK):
            print("SKIP: %s not built" % t)
            return 77
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        print("SKIP: python3-confluent-kafka is not installed")
        return 77
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    rng = random.Random(a.seed)
    work = a.work or tempfile.mkdtemp(prefix="sluice-chaos.")
    os.makedirs(work, exist_ok=True)
    port = free_port()
    boot = "127.0.0.1:%d" % port
    log("seed %d, %.1f minutes, work %s, broker %s" % (a.seed, a.minutes, work, boot))

    def broker_ready(part):
        if not wait_port(port, 60):
            raise RuntimeError("broker did not come up (see %s)" % part.logpath)

    broker = Part("broker", [a.sluice, "broker", "--listen", boot, "--data-dir",
                             os.path.join(work, "broker")],
                  os.path.join(work, "broker.log"), broker_ready)
    store = "sqlite:" + os.path.join(work, "store")
    # The jobs write with the parameters; the checks read the same file without them.
    job_store = store + ("?" + a.store_params if a.store_params else "")
    jobs = [Part("process%d" % k,
                 [a.sluice, "process", "--bootstrap", boot, "--topic", a.topic, "--store",
                  job_store, "--session-timeout", "6s", "--stats-interval", "5s"],
                 os.path.join(work, "process%d.log" % k)) for k in range(a.processes)]
    producer = Producer(a, boot, work)
    ingest_seed = [0]

    def ingest_argv():
        ingest_seed[0] += 1
        return [a.sluice, "ingest", "--bootstrap", boot, "--topic", a.topic, "--source",
                "generator", "--count", "3000", "--rate", "500", "--duration", "60s",
                "--seed", "chaos-%d-%d" % (a.seed, ingest_seed[0])]

    ingest = Part("ingest", ingest_argv(), os.path.join(work, "ingest.log"))
    sched = Sched(a, work) if not a.no_scheduler else None
    kills = {"broker": 0, "process": 0, "producer": 0, "ingest": 0, "scheduler": 0}
    rc = 1
    try:
        # Topic first, so the first records do not race auto-creation.
        broker.start()
        subprocess.run([a.sluice, "topics", "create", a.topic, "--partitions", "3",
                        "--bootstrap", boot], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        for j in jobs:
            j.start()
        producer.tick(False)
        if not a.no_ingest:
            ingest.start()
        if sched:
            sched.part.start()
        end = time.time() + a.minutes * 60
        next_kill = time.time() + rng.expovariate(1.0 / a.kill_every)
        restarts = []  # (when, part) pending restarts
        last_note = time.time()
        while time.time() < end:
            now = time.time()
            for item in list(restarts):
                if item[0] <= now:
                    restarts.remove(item)
                    item[1].start()
            for j in jobs:
                if not j.alive() and not any(r[1] is j for r in restarts):
                    log("%s exited by itself (rc %s); restarting" % (j.name, j.proc.returncode))
                    j.start()
            if not broker.alive() and not any(r[1] is broker for r in restarts):
                log("broker exited by itself (rc %s)" % broker.proc.returncode)
                broker.start()
            producer.tick(False)
            if not a.no_ingest and not ingest.alive() and \
                    not any(r[1] is ingest for r in restarts):
                ingest.argv = ingest_argv()
                ingest.start()
            if sched:
                if not sched.part.alive() and not any(r[1] is sched.part for r in restarts):
                    log("scheduler exited by itself (rc %s)" % sched.part.proc.returncode)
                    sched.part.start()
                sched.tick(now)
            if now >= next_kill:
                choices = ["broker", "process", "producer"] + ([] if a.no_ingest else ["ingest"])
                choices += ["scheduler"] if sched else []
                victim = rng.choice(choices)
                delay = rng.uniform(0.05, 1.5)
                if victim == "broker" and broker.kill9():
                    kills["broker"] += 1
                    restarts.append((now + delay, broker))
                elif victim == "process":
                    j = rng.choice(jobs)
                    if j.kill9():
                        kills["process"] += 1
                        restarts.append((now + delay, j))
                elif victim == "producer" and producer.kill9():
                    kills["producer"] += 1
                elif victim == "scheduler" and sched.part.kill9():
                    kills["scheduler"] += 1
                    restarts.append((now + delay, sched.part))
                elif victim == "ingest" and ingest.kill9():
                    kills["ingest"] += 1
                    ingest.argv = ingest_argv()
                    restarts.append((now + delay, ingest))
                next_kill = now + rng.expovariate(1.0 / a.kill_every)
            if now - last_note >= 15:
                last_note = now
                log("kills so far %s; usergen at record %d" % (kills, producer.next_first))
            time.sleep(0.05)
        # Calm down: restart whatever is down, let the current chunk finish, drain.
        for item in restarts:
            item[1].start()
        if not broker.alive():
            broker.start()
        for j in jobs:
            if not j.alive():
                j.start()
        if sched and not sched.part.alive():
            sched.part.start()
        log("load stops; waiting for the last usergen chunk and for the job to drain")
        producer.finish(180)
        producer.tick(True)
        ingest.stop()
        deadline = time.time() + 300
        while time.time() < deadline and not drained(boot, a.topic, "sluice-process"):
            time.sleep(1)
        # The job's progress must reach Kafka's committed offsets once the input stops (lag
        # monitors read them), not only when the job is closed.
        drained_ok = drained(boot, a.topic, "sluice-process")
        if not drained_ok:
            log("FAIL: the group's committed offsets did not reach the log end within 300 s")
        time.sleep(2)
        for j in jobs:
            j.stop()

        # The oracle: the log itself.
        log("reading the log and the dead letters")
        recs = read_topic(boot, a.topic)
        dlq = read_topic(boot, a.topic + ".dlq")
        acked, lost = check_acks(producer.acks, recs)
        expected, bad = expected_rows(recs, a.seed, a.bad_permille)
        missing_dlq, wrong_dlq = check_dlq(dlq, recs, bad)

        out = subprocess.run([a.sluice, "query", "--store", store, "--json", "--limit",
                              "10000000", "SELECT * FROM created_users"],
                             capture_output=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError("sluice query failed: %s" % out.stderr.decode()[-500:])
        rows = json.loads(out.stdout.decode())
        nrows, duplicated, stale, missing, extra = compare_rows(rows, expected)

        sched_line, sched_ok = "scheduler: not run", True
        if sched:
            sched_line, sched_ok = sched.check()
            sched.part.stop()
        broker.stop()
        lc = subprocess.run([logcheck, os.path.join(work, "broker"), a.topic],
                            capture_output=True, text=True)
        lc_line = lc.stdout.strip().splitlines()[-1] if lc.stdout.strip() else lc.stderr
        if lc.returncode != 0:
            print(lc.stdout[-3000:], lc.stderr[-3000:])
        total_kills = sum(kills.values())
        ok = (lost == 0 and duplicated == 0 and stale == 0 and missing == 0 and extra == 0 and
              missing_dlq == 0 and wrong_dlq == 0 and lc.returncode == 0 and acked > 0 and
              sched_ok and drained_ok)
        print("chaos: seed=%d minutes=%g kills=%d (broker %d, process %d, producer %d, ingest %d,"
              " scheduler %d) records=%d acked=%d lost=%d duplicated=%d stale=%d missing=%d"
              " extra=%d rows=%d bad=%d dlq_missing=%d dlq_wrong=%d; %s; %s -> %s" %
              (a.seed, a.minutes, total_kills, kills["broker"], kills["process"],
               kills["producer"], kills["ingest"], kills["scheduler"], len(recs), acked, lost,
               duplicated, stale, missing, extra, nrows, len(bad), missing_dlq, wrong_dlq,
               sched_line, lc_line, "PASS" if ok else "FAIL"))
        rc = 0 if ok else 1
    finally:
        producer.finish(0)
        ingest.kill9()
        if sched:
            sched.part.kill9()
        for j in jobs:
            j.kill9()
        broker.kill9()
        if rc != 0:
            for name in ["broker", "process0", "producer", "ingest", "scheduler"]:
                pth = os.path.join(work, name + ".log")
                if os.path.exists(pth):
                    with open(pth, errors="replace") as f:
                        tail = f.readlines()[-12:]
                    print("--- last lines of %s:\n%s" % (pth, "".join(tail)))
        if a.keep or (rc != 0 and os.environ.get("CHAOS_KEEP_ON_FAIL")):
            log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
