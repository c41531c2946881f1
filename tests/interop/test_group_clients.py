"""Group consumers of three different clients against the broker: kcat -G (librdkafka),
kafka-python's KafkaConsumer with a group_id, and confluent-kafka-python. Each reads every
message of the topic through the group protocol and its committed offsets are then visible
to the others (OffsetFetch)."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402

TOPIC = "gclients"
N = 300


def main():
    try:
        import kafka
        from confluent_kafka import Consumer, Producer, TopicPartition
    except ImportError:
        brokerlib.skip("kafka-python or confluent_kafka is not importable by /usr/bin/python3")
    with brokerlib.Broker("--group-initial-delay", "200ms") as b:
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        for i in range(N):
            p.produce(TOPIC, key=b"k%d" % i, value=b"v%d" % i)
        if p.flush(20):
            brokerlib.fail("produce did not complete")
        want = sorted("k%d" % i for i in range(N))

        # kcat -G: balanced consumer, exits at the end of every partition (-e)
        r = brokerlib.run(["kcat", "-b", b.bootstrap, "-G", "kcat-group", TOPIC, "-o", "beginning",
                           "-e", "-q", "-f", "%k\n", "-X", "auto.commit.interval.ms=100"], 60)
        got = sorted(line for line in r.stdout.splitlines() if line)
        if got != want:
            brokerlib.fail("kcat -G read %d messages, expected %d" % (len(got), N))
        print("kcat -G: %d messages" % len(got))

        # kafka-python group consumer, committing
        kc = kafka.KafkaConsumer(TOPIC, bootstrap_servers=b.bootstrap, group_id="kp-group",
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=8000, session_timeout_ms=10000)
        keys = []
        for m in kc:
            keys.append(m.key.decode())
            if len(keys) == N:
                break
        kc.commit()
        assigned = sorted(tp.partition for tp in kc.assignment())
        kc.close()
        if sorted(keys) != want:
            brokerlib.fail("kafka-python group consumer read %d messages, expected %d" % (len(keys), N))
        print("kafka-python group consumer: %d messages over partitions %s" % (len(keys), assigned))

        # confluent-kafka group consumer; then the committed offsets of both groups add up to N
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ck-group",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([TOPIC])
        n = 0
        deadline = time.monotonic() + 30
        while n < N and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                n += 1
        c.commit(asynchronous=False)
        if n != N:
            brokerlib.fail("confluent-kafka group consumer read %d messages, expected %d" % (n, N))
        parts = [TopicPartition(TOPIC, i) for i in range(3)]
        for group in ("kp-group", "ck-group"):
            probe = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
            committed = probe.committed(parts, timeout=10)
            probe.close()
            total = sum(tp.offset for tp in committed)
            if total != N:
                brokerlib.fail("group %s has committed offsets summing to %d, expected %d"
                               % (group, total, N))
            print("group %s: committed offsets %s" % (group, [tp.offset for tp in committed]))
        c.close()

        # deleting the topic drops its committed offsets, durably (also across a kill -9)
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.delete_topics([TOPIC])[TOPIC].result(15)
        b.stop(__import__("signal").SIGKILL)
        b.start()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 3, 1)])[TOPIC].result(15)
        probe = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ck-group"})
        committed = probe.committed(parts, timeout=10)
        probe.close()
        left = [tp.offset for tp in committed if tp.offset >= 0]
        if left:
            brokerlib.fail("offsets of a deleted topic survived: %s" % left)
        print("deleted topic: committed offsets dropped, also after kill -9")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
