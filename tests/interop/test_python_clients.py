"""kafka-python and confluent-kafka-python producers, and a kafka-python consumer using
assign(), round-trip through `sluice broker`: every acknowledged record comes back at its
acknowledged partition and offset with the same key, value and headers, and nothing else does.
Covers headers, a null value, an empty value, a 100 KiB value and gzip batches."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402

try:
    import confluent_kafka
    import kafka
    from kafka.structs import TopicPartition
except ImportError as e:
    brokerlib.skip("python client missing: %s" % e)

TOPIC = "py-roundtrip"


def value_for(prefix, i):
    body = ("%s %d " % (prefix, i)).encode()
    return body + bytes((i * 7 + j) % 251 for j in range(i % 300))


def produce_kafka_python(bootstrap, produced, prefix, n, compression=None):
    p = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                            compression_type=compression, request_timeout_ms=15000,
                            max_block_ms=30000, retries=3)
    futures = []
    for i in range(n):
        key = ("%s-%04d" % (prefix, i)).encode()
        if i == 0:
            value = None  # a tombstone
        elif i == 1:
            value = b""
        elif i == 2:
            value = os.urandom(100 * 1024)
        else:
            value = value_for(prefix, i)
        headers = [("h1", b"x%d" % i), ("empty", b"")] if i % 10 == 3 else []
        futures.append((key, value, headers, p.send(TOPIC, key=key, value=value,
                                                    headers=headers)))
    p.flush(timeout=60)
    for key, value, headers, f in futures:
        md = f.get(timeout=30)
        produced[key] = (value, headers, md.partition, md.offset)
    p.close(timeout=10)


def produce_confluent(bootstrap, produced, prefix, n, compression="none"):
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "linger.ms": 5, "compression.type": compression,
                                  "message.timeout.ms": 30000})
    errors = []
    sent_headers = {}  # delivery reports do not carry the headers back

    def on_delivery(err, msg):
        if err:
            errors.append(err)
            return
        produced[msg.key()] = (msg.value(), sent_headers[msg.key()], msg.partition(),
                               msg.offset())

    for i in range(n):
        key = ("%s-%04d" % (prefix, i)).encode()
        headers = [("trace", b"t%d" % i)] if i % 5 == 0 else None
        sent_headers[key] = headers or []
        while True:
            try:
                p.produce(TOPIC, key=key, value=value_for(prefix, i), headers=headers,
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    if left or errors:
        brokerlib.fail("confluent producer: %d undelivered, errors %r" % (left, errors[:3]))


def consume_assign(bootstrap, deadline_s=90):
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            request_timeout_ms=30000, fetch_max_wait_ms=200)
    deadline = time.monotonic() + deadline_s
    parts = None
    while not parts:
        parts = c.partitions_for_topic(TOPIC)
        if time.monotonic() > deadline:
            brokerlib.fail("kafka-python consumer: no metadata for %s" % TOPIC)
        if not parts:
            time.sleep(0.2)
    tps = [TopicPartition(TOPIC, p) for p in sorted(parts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    end = c.end_offsets(tps)
    got = []
    while any(c.position(tp) < end[tp] for tp in tps):
        if time.monotonic() > deadline:
            brokerlib.fail("kafka-python consumer: positions %r, end offsets %r"
                           % ({tp.partition: c.position(tp) for tp in tps}, end))
        for tp, records in c.poll(timeout_ms=500).items():
            got.extend(records)
    c.close(autocommit=False)
    return got, {tp.partition: end[tp] for tp in tps}


def main():
    with brokerlib.Broker("--default-partitions", "3") as b:
        produced = {}
        produce_kafka_python(b.bootstrap, produced, "kp", 400)
        produce_kafka_python(b.bootstrap, produced, "kg", 200, compression="gzip")
        produce_confluent(b.bootstrap, produced, "ck", 400)
        produce_confluent(b.bootstrap, produced, "cg", 200, compression="gzip")
        print("produced %d records" % len(produced))

        got, end = consume_assign(b.bootstrap)
        errors = []
        seen = set()
        for r in got:
            want = produced.get(r.key)
            if want is None:
                errors.append("unexpected record %r at %d/%d" % (r.key, r.partition, r.offset))
                continue
            if r.key in seen:
                errors.append("record %r consumed twice" % r.key)
            seen.add(r.key)
            value, headers, partition, offset = want
            hdrs = [(k, bytes(v)) for k, v in (r.headers or [])]
            if r.value != value:
                errors.append("%r: value differs (%r... vs %r...)"
                              % (r.key, (r.value or b"")[:20], (value or b"")[:20]))
            if hdrs != list(headers):
                errors.append("%r: headers %r, expected %r" % (r.key, hdrs, headers))
            if (r.partition, r.offset) != (partition, offset):
                errors.append("%r at %d/%d, acknowledged at %d/%d"
                              % (r.key, r.partition, r.offset, partition, offset))
        missing = set(produced) - seen
        if missing:
            errors.append("%d acknowledged records not consumed, e.g. %r"
                          % (len(missing), sorted(missing)[:3]))
        if sum(end.values()) != len(produced):
            errors.append("end offsets %r sum to %d, produced %d"
                          % (end, sum(end.values()), len(produced)))
        if len(end) != 3:
            errors.append("topic has %d partitions, expected the default 3" % len(end))
        for e in errors[:20]:
            print("error:", e)
        if errors:
            brokerlib.fail("%d mismatches" % len(errors))
        if not b.alive():
            brokerlib.fail("broker died")
        b.stop()
        print("PASS: %d records round-tripped; end offsets %r" % (len(got), end))


if __name__ == "__main__":
    main()
