"""Checks what `sluice process` left in Cassandra against the topic, not through sluice:
the topic is read with confluent-kafka, the table with the DataStax Python driver (Debian's
python3-cassandra). For every id the row must hold, field by field, the last good version in
the topic (offset order within the id's partition: updates included, no stale version); no row
may exist that the topic does not explain; sluice_offsets of the group must equal the topic's
end offsets. With --tokens TOOL, sluice's Murmur3 tokens (tests/tools/cql_token) are compared
with Cassandra's token(id) for a sample of ids.

usage: cassandra_verify.py --bootstrap B --topic T --port P [--user U --password W]
                           [--keyspace K] [--group G] [--tokens TOOL]
Prints "verify ok: ..." and exits 0, or prints the mismatches and exits 1."""
import argparse
import json
import subprocess
import sys
import uuid

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

FIELDS = ["id", "first_name", "last_name", "gender", "address", "post_code", "email",
          "username", "dob", "registered_date", "phone", "picture"]


def expected_row(value):
    """The row the job must store for one record value, or None for a bad record."""
    try:
        d = json.loads(value)
    except Exception:
        return None
    if not isinstance(d, dict):
        return None
    row = {}
    for f in FIELDS:
        v = d.get(f)
        if f == "post_code" and isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            return None
        row[f] = v
    try:
        if str(uuid.UUID(row["id"])) != row["id"].lower():
            return None
    except ValueError:
        return None
    return row


def read_topic(bootstrap, topic):
    """Every record of the topic, through confluent-kafka (librdkafka: all codecs)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cassandra-verify",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=20)
    parts = sorted(md.topics[topic].partitions)
    end = {}
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
        end[p] = hi
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    last = {}  # id -> (partition, offset, row)
    n = 0
    done = {p: end[p] == 0 for p in parts}
    while not all(done.values()):
        msgs = c.consume(num_messages=10000, timeout=20)
        if not msgs:
            raise SystemExit(f"verify: no records for 20 s; done {done}")
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    done[m.partition()] = m.offset() >= end[m.partition()]
                    continue
                raise SystemExit(f"verify: consume: {m.error()}")
            n += 1
            p, off = m.partition(), m.offset()
            row = expected_row(m.value())
            if row is not None:
                key = row["id"].lower()
                prev = last.get(key)
                # Versions of one id live in one partition; the later offset wins.
                if prev is None or (prev[0] == p and prev[1] < off):
                    last[key] = (p, off, row)
                elif prev[0] != p:
                    print(f"note: id {key} in two partitions", file=sys.stderr)
            if off + 1 >= end[p]:
                done[p] = True
    c.close()
    return last, end, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--keyspace", default="spark_streams")
    ap.add_argument("--group")
    ap.add_argument("--tokens")
    ap.add_argument("--expect-rows", type=int)
    a = ap.parse_args()

    last, end, nrec = read_topic(a.bootstrap, a.topic)
    auth = PlainTextAuthProvider(a.user, a.password) if a.user else None
    cluster = Cluster(["127.0.0.1"], port=a.port, auth_provider=auth)
    s = cluster.connect(a.keyspace)
    s.default_timeout = 60
    bad = []
    rows = 0
    seen = set()
    for r in s.execute("SELECT " + ", ".join(FIELDS) + " FROM created_users"):
        rows += 1
        key = str(r.id)
        seen.add(key)
        exp = last.get(key)
        if exp is None:
            bad.append(f"row {key} not explained by the topic")
            continue
        for f in FIELDS[1:]:
            got = getattr(r, f)
            if got != exp[2][f]:
                bad.append(f"row {key} field {f}: {got!r} != {exp[2][f]!r} "
                           f"(last version at {a.topic}[{exp[0]}]@{exp[1]})")
                break
        if len(bad) > 20:
            break
    missing = [k for k in last if k not in seen]
    for k in missing[:10]:
        bad.append(f"id {k} missing ({a.topic}[{last[k][0]}]@{last[k][1]})")
    if a.expect_rows is not None and len(last) != a.expect_rows:
        bad.append(f"topic has {len(last)} distinct good ids, expected {a.expect_rows}")
    if a.group:
        stored = {}
        for r in s.execute("SELECT group_id, topic, partition, next_offset FROM sluice_offsets"):
            if r.group_id == a.group and r.topic == a.topic:
                stored[r.partition] = r.next_offset
        for p, e in end.items():
            if e > 0 and stored.get(p) != e:
                bad.append(f"stored offset of {a.topic}[{p}] is {stored.get(p)}, end is {e}")
    ntok = 0
    if a.tokens:
        sample = sorted(seen)[:2000]
        cass = {}
        for i in range(0, len(sample), 100):
            ids = ", ".join(sample[i:i + 100])
            for r in s.execute(f"SELECT id, token(id) FROM created_users WHERE id IN ({ids})"):
                cass[str(r[0])] = r[1]
        out = subprocess.run([a.tokens], input="\n".join(sample) + "\n", capture_output=True,
                             text=True, check=True).stdout
        for line in out.splitlines():
            k, t = line.split()
            ntok += 1
            if cass.get(k) != int(t):
                bad.append(f"token of {k}: sluice {t}, Cassandra {cass.get(k)}")
        if ntok != len(sample):
            bad.append(f"cql_token answered {ntok} of {len(sample)}")
    cluster.shutdown()
    if bad:
        print(f"verify FAILED: {len(bad)} problem(s); records {nrec}, ids {len(last)}, rows {rows}")
        for b in bad[:30]:
            print("  " + b)
        return 1
    print(f"verify ok: records {nrec}, distinct ids {len(last)}, rows {rows}, every field "
          f"equal to the last version; offsets {sorted(end.items())}; tokens checked {ntok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
