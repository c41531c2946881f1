"""Consumer groups through librdkafka's high-level consumer (confluent-kafka-python):
two members split 6 partitions; when one leaves cleanly or is killed the other takes all 6;
committed offsets resume after consumers restart and after the broker restarts; a clean
handover with commits loses nothing and reads nothing twice."""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402

SESSION_MS = 6000
TOPIC = "gt"
GROUP = "gtest"


def consumer_main(bootstrap, group, topic):
    """Runs as a child process: prints ASSIGN/MSG lines, commits synchronously, exits cleanly
    on SIGTERM (commit, leave the group)."""
    from confluent_kafka import Consumer, KafkaException
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500,
                  "max.poll.interval.ms": 30000})

    def on_assign(cons, parts):
        print("ASSIGN " + ",".join(str(p.partition) for p in parts), flush=True)

    def on_revoke(cons, parts):
        try:
            cons.commit(asynchronous=False)
        except KafkaException:
            pass
        print("REVOKE " + ",".join(str(p.partition) for p in parts), flush=True)

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    pending = 0
    while not stop:
        m = c.poll(0.2)
        if m is None or m.error():
            if pending:
                c.commit(asynchronous=False)
                pending = 0
            continue
        print("MSG %d %d %s" % (m.partition(), m.offset(), m.key().decode()), flush=True)
        pending += 1
        if pending >= 20:
            c.commit(asynchronous=False)
            pending = 0
    if pending:
        c.commit(asynchronous=False)
    c.close()
    print("CLOSED", flush=True)


class Member:
    def __init__(self, name, bootstrap):
        self.name = name
        self.assigned = set()
        self.revokes = 0
        self.msgs = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.abspath(__file__), "consumer", bootstrap, GROUP, TOPIC],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            with self.lock:
                if parts[0] == "ASSIGN":
                    self.assigned = set(int(x) for x in parts[1].split(",")) if len(parts) > 1 else set()
                elif parts[0] == "REVOKE":
                    self.assigned = set()
                    self.revokes += 1
                elif parts[0] == "MSG":
                    self.msgs.append((int(parts[1]), int(parts[2]), parts[3]))

    def assignment(self):
        with self.lock:
            return set(self.assigned)

    def messages(self):
        with self.lock:
            return list(self.msgs)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.reader.join(timeout=5)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


def wait_for(what, cond, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.1)
    brokerlib.fail("timed out after %d s waiting for %s" % (timeout, what))


def produce(bootstrap, start, n):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(TOPIC, key=b"k%06d" % i, value=b"v%d" % i)
    if p.flush(30) != 0:
        brokerlib.fail("producer could not deliver everything")
    return ["k%06d" % i for i in range(start, start + n)]


def main():
    try:
        from confluent_kafka.admin import AdminClient, NewTopic
    except ImportError:
        brokerlib.skip("confluent_kafka is not importable by /usr/bin/python3")
    with brokerlib.Broker("--group-initial-delay", "500ms") as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 6, 1)])[TOPIC].result(15)
        keys = produce(b.bootstrap, 0, 3000)

        # 1. two members split six partitions
        a, bm = Member("A", b.bootstrap), Member("B", b.bootstrap)
        wait_for("A and B to split 6 partitions",
                 lambda: len(a.assignment()) == 3 and len(bm.assignment()) == 3
                 and not (a.assignment() & bm.assignment()), 60)
        print("A owns %s, B owns %s" % (sorted(a.assignment()), sorted(bm.assignment())))

        # 1b. the group's metadata survives kill -9 of the broker: after the restart the same
        # two members are Stable and keep their partitions (no rebalance needed)
        def describe():
            g = admin.list_groups(GROUP, timeout=10)[0]
            return g.state, sorted(m.id for m in g.members)
        before = describe()
        revokes = a.revokes + bm.revokes
        b.stop(signal.SIGKILL)
        b.start()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        after = describe()
        if after != before or after[0] != "Stable":
            brokerlib.fail("group after kill -9: %s, before: %s" % (after, before))
        time.sleep(3)
        if a.revokes + bm.revokes != revokes or len(a.assignment()) != 3:
            brokerlib.fail("the broker restart caused a rebalance")
        print("broker kill -9 with a stable group: same %d members, state %s, partitions kept"
              % (len(after[1]), after[0]))

        # 2. clean handover: A leaves after committing; B takes all six and finishes the topic
        wait_for("some messages consumed by A", lambda: len(a.messages()) > 0, 30)
        a.stop()
        took = wait_for("B to own all 6 partitions after A left",
                        lambda: bm.assignment() == set(range(6)), 3 * SESSION_MS / 1000)
        print("B owned all 6 partitions %.1f s after A left" % took)
        keys += produce(b.bootstrap, 3000, 1000)
        wait_for("all 4000 messages consumed by A and B",
                 lambda: len(a.messages()) + len(bm.messages()) >= 4000, 60)
        time.sleep(1)
        seen = a.messages() + bm.messages()
        pos = [(p, o) for p, o, _ in seen]
        if len(pos) != len(set(pos)):
            brokerlib.fail("a clean handover read %d message(s) twice" % (len(pos) - len(set(pos))))
        if sorted(k for _, _, k in seen) != sorted(keys):
            brokerlib.fail("a clean handover lost messages: %d consumed of %d" % (len(seen), len(keys)))
        print("clean handover: %d messages, each exactly once" % len(seen))

        # 3. a member killed with SIGKILL: the survivor takes all six within the session timeout
        c = Member("C", b.bootstrap)
        wait_for("B and C to split", lambda: len(c.assignment()) == 3 and len(bm.assignment()) == 3, 60)
        c.kill()
        took = wait_for("B to own all 6 partitions after C was killed",
                        lambda: bm.assignment() == set(range(6)), 3 * SESSION_MS / 1000 + 10)
        print("B owned all 6 partitions %.1f s after C was killed (session timeout %d ms)"
              % (took, SESSION_MS))
        keys += produce(b.bootstrap, 4000, 500)
        total = lambda: set(k for _, _, k in a.messages() + bm.messages() + c.messages())
        wait_for("every message consumed after the kill", lambda: total() >= set(keys), 60)

        # 4. committed offsets resume after the consumers restart
        bm.stop()
        fresh = produce(b.bootstrap, 4500, 100)
        d = Member("D", b.bootstrap)
        wait_for("D to consume the 100 new messages", lambda: len(d.messages()) >= 100, 60)
        time.sleep(2)
        got = [k for _, _, k in d.messages()]
        if sorted(got) != sorted(fresh):
            brokerlib.fail("after a consumer restart D read %d messages, expected exactly the 100 new"
                           " ones" % len(got))
        d.stop()
        print("consumer restart: resumed at the committed offsets (100 new messages, no replays)")

        # 5. ... and after the broker restarts (kill -9: committed offsets are durable)
        b.stop(signal.SIGKILL)
        b.start()
        fresh = produce(b.bootstrap, 4600, 100)
        e = Member("E", b.bootstrap)
        wait_for("E to consume the 100 new messages", lambda: len(e.messages()) >= 100, 60)
        time.sleep(2)
        got = [k for _, _, k in e.messages()]
        if sorted(got) != sorted(fresh):
            brokerlib.fail("after a broker kill -9 E read %d messages, expected exactly the 100 new"
                           " ones" % len(got))
        e.stop()
        print("broker kill -9 and restart: committed offsets survived")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "consumer":
        consumer_main(*sys.argv[2:5])
    else:
        main()
