#!/usr/bin/python3
"""Chaos test against the Apache engines: Apache Kafka 4.x (tests/engines/kafka-server.sh) as
the broker and Apache Cassandra 5.0 (tests/engines/cassandra-server.sh) as the store of
`sluice process --store cassandra://...`, with the producers, the stream job and the scheduler
of chaos.py under steady load, and a random part killed -9 at random moments and restarted, for
N minutes: the stream job most often, Kafka, the producers (usergen, `sluice ingest`), the
scheduler, and Cassandra a few times per run (at most once every --cassandra-gap seconds: it
takes 7-15 s to come back). Then it checks, from the outside:

  - every record acknowledged to usergen (acks=all) is in Kafka's log at the partition and
    offset it was acknowledged with, under the same key (lost);
  - the Cassandra table, read with the DataStax Python driver, holds for every id exactly the
    last good version in the log, field by field (stale, missing, extra; rows vs distinct ids);
  - sluice_offsets of the group equal the topic's end offsets (offsets_wrong);
  - every bad record is in the dead-letter topic with its reason, and nothing else is;
  - the scheduler's runs are consistent (as in chaos.py).

Summary line, with the seed to replay a run (CHAOS_SEED=S / --seed S):
  chaos-engines: seed=S minutes=M kills=K (process .., kafka .., cassandra .., ...) records=R
  acked=A lost=0 stale=0 missing=0 extra=0 ... -> PASS
Exit 0 on PASS, 1 on FAIL, 77 when java, the engines' jars, a Python module or a tool is missing.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaos  # noqa: E402  (the shared parts: producers, scheduler, the oracle)
from chaos import FIELDS, Part, Producer, Sched, free_port, log, read_topic  # noqa: E402

ENGINES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "engines")
KEYSPACE = "spark_streams"


def become_subreaper():
    """The engines' JVMs outlive their start scripts; as a child subreaper this process becomes
    their parent and reaps them at once after a kill -9 (the machine's init may reap orphans
    late, and until then the scripts' `kill -0 PID` sees the zombie as a running engine)."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def reap_orphans(known):
    """Reaps zombies this subreaper inherited (e.g. task processes of a killed scheduler) that
    no Popen object owns."""
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in known:
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            reap(int(d))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
    if zombie:
        reap(pid)
    return not zombie


class Engine:
    """An Apache engine run by its tests/engines script: `start` runs in the background (the
    script returns once the engine serves); kill -9 goes to the JVM's pid from its pid file."""

    def __init__(self, name, script, d, port, pidfile, env=None):
        self.name, self.script, self.dir, self.port = name, script, d, port
        self.pidfile = os.path.join(d, pidfile)
        self.env = dict(os.environ, **(env or {}))
        self.logpath = d + ".start.log"
        self.starter = None
        self.pid = None
        self.kills = 0
        self.starts = 0
        self.down_since = None
        self.downtime = []  # seconds from each kill to serving again
        self.retry_at = 0
        self.up_since = 0

    def _read_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self):
        if time.time() < self.retry_at:  # a failed start is tried again 3 s later
            return
        f = open(self.logpath, "ab")
        self.starter = subprocess.Popen([self.script, "start", self.dir, str(self.port)],
                                        stdout=f, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=self.env)
        f.close()
        self.starts += 1

    def starting(self):
        """True while the start script runs; notes the JVM's pid when it has finished."""
        if self.starter is None:
            return False
        if self.starter.poll() is None:
            return True
        rc = self.starter.returncode
        self.starter = None
        self.pid = self._read_pid()
        if rc == 77:
            raise SystemExit(77)
        if rc != 0:
            log("%s: start failed (rc %d), see %s" % (self.name, rc, self.logpath))
            self.retry_at = time.time() + 3
        else:
            self.up_since = time.time()
            if self.down_since is not None:
                self.downtime.append(time.time() - self.down_since)
                self.down_since = None
        return False

    def ensure_up(self, timeout):
        """Starts the engine (again, after a failed start) until it serves."""
        end = time.time() + timeout
        while not self.serving() and time.time() < end:
            if not self.starting() and not self.alive():
                self.start()
            time.sleep(0.2)
        if not self.serving():
            raise RuntimeError("%s did not start (see %s)" % (self.name, self.logpath))

    def alive(self):
        if self.starting():
            return True
        return self.pid is not None and pid_alive(self.pid)

    def serving(self):
        return not self.starting() and self.pid is not None and pid_alive(self.pid)

    def kill9(self):
        """kill -9 of a serving engine (not one still starting); True when it was killed."""
        if not self.serving():
            return False
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        # Gone means gone from /proc, not a zombie: the start script's `kill -0` sees zombies.
        end = time.time() + 30
        while os.path.exists("/proc/%d" % self.pid) and time.time() < end:
            reap(self.pid)
            time.sleep(0.05)
        self.kills += 1
        self.down_since = time.time()
        return True

    def stop(self):
        """The last word: a start in progress is ended, then the JVM is stopped by its pid."""
        if self.starter is not None and self.starter.poll() is None:
            self.starter.kill()
            self.starter.wait()
        self.starter = None
        pid = self._read_pid() or self.pid
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            end = time.time() + 30
            while pid_alive(pid) and time.time() < end:
                time.sleep(0.05)


def cassandra_session(port):
    import logging

    from cassandra.cluster import Cluster
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    cluster = Cluster(["127.0.0.1"], port=port, connect_timeout=10)
    s = cluster.connect()
    s.default_timeout = 120
    return cluster, s


def end_offsets(boot, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": boot, "group.id": "chaos-engines-ends"})
    try:
        md = c.list_topics(topic, timeout=20)
        if topic not in md.topics:
            return {}
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
                for p in md.topics[topic].partitions}
    finally:
        c.close()


def stored_offsets(port, topic, group):
    cluster, s = cassandra_session(port)
    try:
        return {r.partition: r.next_offset for r in s.execute(
            "SELECT group_id, topic, partition, next_offset FROM %s.sluice_offsets" % KEYSPACE)
            if r.group_id == group and r.topic == topic}
    finally:
        cluster.shutdown()


def offsets_behind(boot, port, topic, group):
    """Partitions whose stored offset is not yet the end offset: {p: (stored, end)}."""
    ends = end_offsets(boot, topic)
    stored = stored_offsets(port, topic, group)
    return {p: (stored.get(p), e) for p, e in ends.items() if e > 0 and stored.get(p) != e}


def read_table(port):
    """created_users as dicts of text fields (id as its canonical text)."""
    cluster, s = cassandra_session(port)
    try:
        rows = []
        for r in s.execute("SELECT %s FROM %s.created_users" % (", ".join(FIELDS), KEYSPACE)):
            d = {f: getattr(r, f) for f in FIELDS}
            d["id"] = str(r.id)
            rows.append(d)
        return rows
    finally:
        cluster.shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    chaos.common_args(ap, rate=1000)
    ap.set_defaults(kill_every=float(os.environ.get("KILL_EVERY", "8")))
    ap.add_argument("--cassandra-gap", type=float, default=90,
                    help="least seconds between two Cassandra kills")
    ap.add_argument("--kafka-up", type=float, default=20,
                    help="least seconds Kafka serves between a restart and its next kill")
    ap.add_argument("--ingest-rate", type=int, default=300, help="`sluice ingest` records/s")
    a = ap.parse_args()
    if not a.sluice or not a.tools:
        print("chaos-engines: give --sluice BIN and --tools DIR (or SLUICE_BIN, TOOLS_DIR)")
        return 2
    a.usergen = os.path.join(a.tools, "usergen")
    for t in (a.sluice, a.usergen):
        if not os.access(t, os.X_OK):
            print("SKIP: %s not built" % t)
            return 77
    if shutil.which("java") is None:
        print("SKIP: java is not installed")
        return 77
    try:
        import cassandra  # noqa: F401
        import confluent_kafka  # noqa: F401
    except ImportError:
        print("SKIP: python3-cassandra or python3-confluent-kafka missing (scripts/install-deps.sh)")
        return 77
    for jars in (["kafka-jars.sh"], ["cassandra-jars.sh", "server"]):
        r = subprocess.run([os.path.join(ENGINES, jars[0])] + jars[1:], capture_output=True,
                           text=True)
        if r.returncode != 0:
            print("SKIP: %s: %s" % (jars[0], (r.stdout + r.stderr).strip()[-300:]))
            return 77 if r.returncode == 77 else 1
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    rng = random.Random(a.seed)
    work = a.work or tempfile.mkdtemp(prefix="sluice-chaos-engines.")
    os.makedirs(work, exist_ok=True)
    kport, cport = free_port(), free_port()
    boot = "127.0.0.1:%d" % kport
    log("seed %d, %.1f minutes, work %s, Kafka %s, Cassandra 127.0.0.1:%d; load %s" %
        (a.seed, a.minutes, work, boot, cport, open("/proc/loadavg").read().strip()))

    # 3 partitions per topic as sluice's broker makes them; session timeouts as short as 6 s.
    kafka = Engine("kafka", os.path.join(ENGINES, "kafka-server.sh"), os.path.join(work, "kafka"),
                   kport, "kafka.pid",
                   {"KAFKA_SERVER_PROPS": "num.partitions=3\ngroup.min.session.timeout.ms=1000\n"
                    "group.initial.rebalance.delay.ms=0"})
    cass = Engine("cassandra", os.path.join(ENGINES, "cassandra-server.sh"),
                  os.path.join(work, "cassandra"), cport, "cassandra.pid")
    store = "cassandra://127.0.0.1:%d/%s?consistency=ONE" % (cport, KEYSPACE)
    jobs = [Part("process%d" % k,
                 [a.sluice, "process", "--bootstrap", boot, "--topic", a.topic, "--store", store,
                  "--session-timeout", "6s", "--stats-interval", "5s"],
                 os.path.join(work, "process%d.log" % k)) for k in range(a.processes)]
    producer = Producer(a, boot, work)
    ingest_seed = [0]

    def ingest_argv():
        ingest_seed[0] += 1
        return [a.sluice, "ingest", "--bootstrap", boot, "--topic", a.topic, "--source",
                "generator", "--count", str(a.ingest_rate * 10), "--rate", str(a.ingest_rate),
                "--duration", "60s", "--seed", "chaos-%d-%d" % (a.seed, ingest_seed[0])]

    ingest = Part("ingest", ingest_argv(), os.path.join(work, "ingest.log"))
    sched = Sched(a, work) if not a.no_scheduler else None
    kills = {"process": 0, "kafka": 0, "cassandra": 0, "producer": 0, "ingest": 0,
             "scheduler": 0}
    rc = 1
    become_subreaper()

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        kafka.start()
        cass.start()
        kafka.ensure_up(180)
        cass.ensure_up(240)
        log("engines up (Kafka pid %s, Cassandra pid %s)" % (kafka.pid, cass.pid))
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
        last_cass_kill = time.time() - a.cassandra_gap / 2
        restarts = []  # (when, part) pending restarts
        last_note = time.time()
        while time.time() < end:
            now = time.time()
            for item in list(restarts):
                if item[0] <= now:
                    restarts.remove(item)
                    item[1].start()
            pending = [r[1] for r in restarts]
            for j in jobs:
                if not j.alive() and j not in pending:
                    log("%s exited by itself (rc %s); restarting in 1 s" %
                        (j.name, j.proc.returncode))
                    restarts.append((now + 1, j))
            for e in (kafka, cass):
                if not e.alive() and e not in pending and now >= e.retry_at:
                    log("%s is down; starting it" % e.name)
                    e.start()
            producer.tick(False)
            if not a.no_ingest and not ingest.alive() and ingest not in pending:
                ingest.argv = ingest_argv()
                ingest.start()
            if sched:
                if not sched.part.alive() and sched.part not in pending:
                    log("scheduler exited by itself (rc %s)" % sched.part.proc.returncode)
                    sched.part.start()
                sched.tick(now)
            if now >= next_kill:
                choices = ["process"] * 4 + ["producer"] * 2
                if kafka.serving() and now - kafka.up_since >= a.kafka_up:
                    choices += ["kafka"] * 2
                choices += [] if a.no_ingest else ["ingest"]
                choices += ["scheduler"] if sched else []
                if now - last_cass_kill >= a.cassandra_gap:
                    choices += ["cassandra"] * 2
                victim = rng.choice(choices)
                delay = rng.uniform(0.05, 1.5)
                if victim == "process":
                    j = rng.choice(jobs)
                    if j.kill9():
                        kills["process"] += 1
                        restarts.append((now + delay, j))
                elif victim in ("kafka", "cassandra"):
                    e = kafka if victim == "kafka" else cass
                    if e.kill9():
                        kills[victim] += 1
                        log("killed -9 %s" % victim)
                        restarts.append((now + delay, e))
                        if victim == "cassandra":
                            last_cass_kill = now
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
                procs = [p.proc for p in jobs + [ingest, producer.part] +
                         ([sched.part] if sched else []) if p and p.proc]
                procs += [e.starter for e in (kafka, cass) if e.starter]
                reap_orphans({p.pid for p in procs})
                log("kills so far %s; usergen at record %d" % (kills, producer.next_first))
            time.sleep(0.05)

        # Calm down: restart whatever is down, let the last chunk finish, drain.
        for item in restarts:
            item[1].start()
        kafka.ensure_up(180)
        cass.ensure_up(240)
        for j in jobs:
            if not j.alive():
                j.start()
        if sched and not sched.part.alive():
            sched.part.start()
        log("load stops; waiting for the last usergen chunk and for the job to drain; load %s" %
            open("/proc/loadavg").read().strip())
        producer.finish(180)
        producer.tick(True)
        ingest.stop()
        deadline = time.time() + 600
        behind = None
        while time.time() < deadline:
            try:
                behind = offsets_behind(boot, cport, a.topic, "sluice-process")
            except Exception as e:  # an engine still settling
                behind = str(e)
            if behind == {}:
                break
            for j in jobs:
                if not j.alive():
                    log("%s exited by itself (rc %s); restarting" % (j.name, j.proc.returncode))
                    j.start()
            time.sleep(2)
        if behind:
            log("not drained after 600 s: %s" % (behind,))
        for j in jobs:
            j.stop()

        log("reading the log, the dead letters and the table")
        recs = read_topic(boot, a.topic)
        dlq = read_topic(boot, a.topic + ".dlq")
        acked, lost = chaos.check_acks(producer.acks, recs)
        expected, bad = chaos.expected_rows(recs, a.seed, a.bad_permille)
        missing_dlq, wrong_dlq = chaos.check_dlq(dlq, recs, bad)
        rows = read_table(cport)
        nrows, duplicated, stale, missing, extra = chaos.compare_rows(rows, expected)
        behind = offsets_behind(boot, cport, a.topic, "sluice-process")
        for p, (s, e) in sorted(behind.items()):
            print("OFFSETS: %s[%d] stored %s, end %d" % (a.topic, p, s, e))

        sched_line, sched_ok = "scheduler: not run", True
        if sched:
            sched_line, sched_ok = sched.check()
            sched.part.stop()
        total_kills = sum(kills.values())
        ok = (lost == 0 and duplicated == 0 and stale == 0 and missing == 0 and extra == 0 and
              not behind and missing_dlq == 0 and wrong_dlq == 0 and acked > 0 and sched_ok)
        down = ["%s %s" % (e.name, "/".join("%.0f" % t for t in e.downtime) or "-")
                for e in (kafka, cass)]
        print("chaos-engines: seed=%d minutes=%g kills=%d (process %d, kafka %d, cassandra %d,"
              " producer %d, ingest %d, scheduler %d) records=%d acked=%d lost=%d stale=%d"
              " missing=%d extra=%d rows=%d ids=%d duplicated=%d offsets_wrong=%d bad=%d"
              " dlq_missing=%d dlq_wrong=%d; %s; seconds down after kills: %s -> %s" %
              (a.seed, a.minutes, total_kills, kills["process"], kills["kafka"],
               kills["cassandra"], kills["producer"], kills["ingest"], kills["scheduler"],
               len(recs), acked, lost, stale, missing, extra, len(rows), nrows, duplicated,
               len(behind), len(bad), missing_dlq, wrong_dlq, sched_line, ", ".join(down),
               "PASS" if ok else "FAIL"))
        rc = 0 if ok else 1
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
        if rc != 77:
            log("stopped (%s)" % rc)
    finally:
        producer.finish(0)
        ingest.kill9()
        if sched:
            sched.part.kill9()
        for j in jobs:
            j.kill9()
        kafka.stop()
        cass.stop()
        if rc not in (0, 77):
            for pth in [os.path.join(work, n + ".log") for n in
                        ("process0", "producer", "ingest", "scheduler")] + \
                    [kafka.logpath, cass.logpath, os.path.join(work, "kafka", "server.log"),
                     os.path.join(work, "cassandra", "logs", "system.log")]:
                if os.path.exists(pth):
                    with open(pth, errors="replace") as f:
                        tail = f.readlines()[-12:]
                    print("--- last lines of %s:\n%s" % (pth, "".join(l[:400] for l in tail)))
        if a.keep or (rc not in (0, 77) and os.environ.get("CHAOS_KEEP_ON_FAIL")):
            log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
