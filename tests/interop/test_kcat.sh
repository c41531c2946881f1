#!/usr/bin/env bash
# kcat (librdkafka, written by nobody here) against `sluice broker`: -L lists the broker and
# topics; -P of 100,000 keyed messages over 3 partitions (auto-created) and -C -e return
# exactly those messages, contiguous offsets, in produce order within each partition.
. "$(dirname "$0")/lib.sh"
command -v kcat >/dev/null || skip "kcat is not installed"

broker_start --default-partitions 3
TOPIC=kcat-roundtrip
N=100000

note "kcat -L"
timeout 30 kcat -L -J -b "$BOOTSTRAP" >"$WORK/meta.json" || fail "kcat -L failed"
"$PY" - "$WORK/meta.json" "$PORT" <<'EOF' || fail "kcat -L output is wrong"
import json, sys
md = json.load(open(sys.argv[1]))
brokers = md.get("brokers", [])
assert len(brokers) == 1, "expected one broker, got %r" % brokers
assert brokers[0]["name"] == "127.0.0.1:%s" % sys.argv[2], "advertised %r" % brokers[0]
print("broker", brokers[0])
EOF

note "generate $N keyed messages"
"$PY" - "$WORK/in.txt" "$N" <<'EOF'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        # Values of varied length (1..300 bytes), never containing ':' or '\n' or ' '.
        v = "v%06d-" % i + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                    for _ in range(rng.randrange(0, 294)))
        f.write("k%06d:%s\n" % (i, v))
EOF

note "kcat -P"
timeout 180 kcat -P -b "$BOOTSTRAP" -t "$TOPIC" -K : -X acks=all -l "$WORK/in.txt" \
    2>"$WORK/produce.err" || { cat "$WORK/produce.err"; fail "kcat -P failed"; }
grep -i "fail\|error" "$WORK/produce.err" && fail "kcat -P reported errors"

timeout 30 kcat -L -J -b "$BOOTSTRAP" -t "$TOPIC" >"$WORK/meta2.json" || fail "kcat -L -t failed"
"$PY" - "$WORK/meta2.json" "$TOPIC" <<'EOF' || fail "topic metadata is wrong"
import json, sys
md = json.load(open(sys.argv[1]))
t = [t for t in md["topics"] if t["topic"] == sys.argv[2]]
assert len(t) == 1, "topic missing from metadata: %r" % md["topics"]
parts = t[0]["partitions"]
assert sorted(p["partition"] for p in parts) == [0, 1, 2], "partitions %r" % parts
assert all(p["leader"] == md["brokers"][0]["id"] for p in parts), "leaders %r" % parts
EOF

note "kcat -C -e"
timeout 180 kcat -C -b "$BOOTSTRAP" -t "$TOPIC" -o beginning -e -q -f '%p %o %k %s\n' \
    >"$WORK/out.txt" 2>"$WORK/consume.err" || { cat "$WORK/consume.err"; fail "kcat -C failed"; }

"$PY" - "$WORK/in.txt" "$WORK/out.txt" <<'EOF' || fail "consumed messages differ from produced"
import collections, sys
produced = [line.rstrip("\n").split(":", 1) for line in open(sys.argv[1])]
consumed = [line.rstrip("\n").split(" ", 3) for line in open(sys.argv[2]) if line.strip()]
errors = []
if len(consumed) != len(produced):
    errors.append("consumed %d messages, produced %d" % (len(consumed), len(produced)))
want = {k: v for k, v in produced}
got = collections.Counter((k, v) for _, _, k, v in consumed)
dups = [kv for kv, n in got.items() if n > 1]
missing = [k for k, v in produced if (k, v) not in got]
extra = [kv for kv in got if want.get(kv[0]) != kv[1]]
if dups:
    errors.append("%d duplicated, e.g. %r" % (len(dups), dups[:3]))
if missing:
    errors.append("%d missing, e.g. %r" % (len(missing), missing[:3]))
if extra:
    errors.append("%d unexpected or altered, e.g. %r" % (len(extra), extra[:3]))
# Per partition: offsets 0,1,2,... and keys in the order they were produced.
by_part = collections.defaultdict(list)
for p, o, k, _ in consumed:
    by_part[int(p)].append((int(o), k))
order = {k: i for i, (k, _) in enumerate(produced)}
for p, msgs in sorted(by_part.items()):
    offsets = [o for o, _ in msgs]
    if offsets != list(range(len(offsets))):
        errors.append("partition %d offsets not contiguous from 0" % p)
    ranks = [order.get(k, -1) for _, k in msgs]
    if ranks != sorted(ranks):
        errors.append("partition %d not in produce order" % p)
    print("partition %d: %d messages" % (p, len(msgs)))
if sorted(by_part) != [0, 1, 2]:
    errors.append("messages landed in partitions %r, expected 0, 1, 2" % sorted(by_part))
for e in errors:
    print("error:", e)
sys.exit(1 if errors else 0)
EOF
broker_alive || fail "broker died"
broker_stop TERM
echo "PASS"
