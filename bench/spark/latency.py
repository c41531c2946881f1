"""End-to-end latency of a stream job into Cassandra, for bench/bench_spark.sh, measured the same
way whatever the job is (sluice process or the Spark job): a paced producer (python3-kafka) sends
user records (the seed's format_data fields, a fresh UUID each) to a topic at RATE records/s for
SECONDS, noting the wall-clock time each record was handed to the producer; a poller reads the
table (python3-cassandra, consistency ONE) for the oldest BATCH (40) sampled ids not yet seen
(`SELECT id ... WHERE id IN (...)`; every 10th record is sampled), again at once when it found
some, else after POLL (25 ms); a record's latency is the time of the first poll that saw its row
minus its produce time. The resolution is the poll interval plus one query (a few ms). Before
the paced phase, WARM records (default 2 s worth) are sent at the same pace and the last one
waited for, so the job's start-up is not counted.

usage: latency.py BOOTSTRAP TOPIC CASSANDRA_PORT KEYSPACE RATE SECONDS [WARM]
Prints `latency: {json}` with p50/p99/max in ms, the samples seen and sent. With
LATENCY_SAMPLES=FILE set it also writes every seen sample's latency (ms) to FILE, one a line.
"""

import json
import os
import sys
import threading
import time
import uuid

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement
from kafka import KafkaProducer

SAMPLE_EVERY = 10
POLL = 0.025
BATCH = 40


def record(uid):
    n = uid.int % 100000
    return {
        "id": str(uid), "first_name": "First%d" % n, "last_name": "Last%d" % n,
        "gender": "female" if n % 2 else "male",
        "address": "%d Main Street, Springfield, Oregon, United States" % n,
        "post_code": str(10000 + n), "email": "user%d@example.com" % n,
        "username": "user%d" % n, "dob": "1990-01-01T00:00:00.000Z",
        "registered_date": "2015-01-01T00:00:00.000Z", "phone": "555-%04d" % (n % 10000),
        "picture": "https://randomuser.me/api/portraits/med/men/%d.jpg" % (n % 100),
    }


def main():
    bootstrap, topic, cport, ks, rate, seconds = sys.argv[1:7]
    rate, seconds = float(rate), float(seconds)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1,
                             value_serializer=lambda v: json.dumps(v).encode())
    cluster = Cluster(["127.0.0.1"], port=int(cport))
    session = cluster.connect()

    def seen(ids):
        q = "SELECT id FROM %s.created_users WHERE id IN (%s)" % (ks, ",".join(str(i) for i in ids))
        return {r.id for r in session.execute(SimpleStatement(q, consistency_level=ConsistencyLevel.ONE))}

    # Warm-up: WARM records (default 2 s worth) sent at the same pace, then wait until the job has
    # stored the last one: its start-up and first micro-batches are not latency.
    warm = int(sys.argv[7]) if len(sys.argv) > 7 else int(2 * rate)
    t_w = time.time()
    for i in range(max(1, warm)):
        delay = t_w + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        last = uuid.uuid4()
        producer.send(topic, key=str(last).encode(), value=record(last))
    producer.flush()
    deadline = time.time() + 300
    while not seen([last]):
        if time.time() > deadline:
            print("latency: the job stored nothing within 300 s", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.1)

    pending = []  # (uuid, produce time), in produce order
    lock = threading.Lock()
    latencies = []
    done = threading.Event()

    def poller():
        while True:
            with lock:
                batch = pending[:BATCH]
            if not batch:
                if done.is_set():
                    return
                time.sleep(POLL)
                continue
            got = seen([u for u, _ in batch])
            now = time.time()
            if got:
                with lock:
                    keep = []
                    for u, t0 in pending:
                        if u in got:
                            latencies.append(now - t0)
                        else:
                            keep.append((u, t0))
                    pending[:] = keep
            if not got:
                time.sleep(POLL)

    th = threading.Thread(target=poller, daemon=True)
    th.start()
    t_begin = time.time()
    n = 0
    sent_samples = 0
    while True:
        target = t_begin + n / rate
        now = time.time()
        if now >= t_begin + seconds:
            break
        if target > now:
            time.sleep(target - now)
        uid = uuid.uuid4()
        t0 = time.time()
        producer.send(topic, key=str(uid).encode(), value=record(uid))
        if n % SAMPLE_EVERY == 0:
            with lock:
                pending.append((uid, t0))
            sent_samples += 1
        n += 1
    producer.flush()
    # Let the job store the rest (at most 120 s), then stop polling.
    deadline = time.time() + 120
    while time.time() < deadline:
        with lock:
            if not pending:
                break
        time.sleep(0.1)
    done.set()
    with lock:
        lost = len(pending)
        pending.clear()
    th.join(timeout=5)
    cluster.shutdown()
    lat = sorted(latencies)
    if os.environ.get("LATENCY_SAMPLES"):  # every sample's latency in ms, for plot_cdf.py
        with open(os.environ["LATENCY_SAMPLES"], "w") as f:
            f.write("".join("%.1f\n" % (x * 1000) for x in lat))

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else None

    print("latency: " + json.dumps({
        "rate": rate, "seconds": seconds, "sent": n, "samples": sent_samples,
        "seen": len(lat), "not_seen": lost, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000) if lat else None,
    }), flush=True)


if __name__ == "__main__":
    main()
