#!/usr/bin/env bash
# `sluice topics` against the broker: create/list/describe/delete round trip, the errors a
# user meets (topic exists, unknown topic, broker unreachable) and the exit codes (0 ok,
# 1 failure, 2 usage).
. "$(dirname "$0")/lib.sh"
need_tool kprod

broker_start --default-partitions 3 --auto-create false

# topics CMD ARGS...: runs `sluice topics` with a bound, output in $OUT, status in $RC.
topics() {
    RC=0
    OUT=$(timeout 60 "$SLUICE_BIN" topics "$@" --bootstrap "$BOOTSTRAP" 2>&1) || RC=$?
}
expect_rc() {
    [[ $RC -eq $1 ]] || fail "sluice topics $2: exit $RC, expected $1; output: $OUT"
}

note "usage"
topics; expect_rc 2 "(no action)"
topics frobnicate; expect_rc 2 "frobnicate"
topics create; expect_rc 2 "create (no name)"
topics create x --partitions nope; expect_rc 2 "create --partitions nope"
topics create x --topic-config novalue; expect_rc 2 "create --topic-config novalue"
RC=0; OUT=$("$SLUICE_BIN" topics --help 2>&1) || RC=$?
expect_rc 0 "--help"
for w in list create describe delete --bootstrap --timeout; do
    grep -q -- "$w" <<<"$OUT" || fail "--help does not mention $w"
done

note "create"
topics create orders --partitions 2; expect_rc 0 "create orders"
grep -q "orders" <<<"$OUT" || fail "create printed: $OUT"
topics create orders --partitions 2; expect_rc 1 "create orders (again)"
grep -qi "already exists" <<<"$OUT" || fail "duplicate create said: $OUT"
topics create events; expect_rc 0 "create events (broker default partitions)"
topics create 'bad/name'; expect_rc 1 "create bad/name"
topics create zero --partitions 0; [[ $RC -ne 0 ]] || fail "create --partitions 0 succeeded"

note "list"
topics list; expect_rc 0 "list"
[[ "$OUT" == $'events\norders' ]] || fail "list printed: $OUT"

note "describe"
"$TOOLS_DIR/kprod" -b "$BOOTSTRAP" -t orders -P 1 -n 25 -q -T 30 >/dev/null ||
    fail "kprod to orders failed"
topics describe orders events; expect_rc 0 "describe orders events"
echo "$OUT"
"$PY" - <<EOF || fail "describe output is wrong"
out = """$OUT"""
lines = out.splitlines()
def topic(name):
    i = next(i for i, l in enumerate(lines) if l.startswith("Topic: %s\t" % name))
    head = dict(f.split(": ", 1) for f in lines[i].split("\t") if ": " in f)
    parts = []
    for l in lines[i + 1:]:
        if not l.startswith("\t"):
            break
        parts.append(dict(f.split(": ", 1) for f in l.strip().split("\t")))
    return head, parts
head, parts = topic("orders")
assert head["PartitionCount"] == "2", head
assert head["ReplicationFactor"] == "1", head
assert [p["Partition"] for p in parts] == ["0", "1"], parts
for p in parts:
    assert p["Leader"] == p["Replicas"] == p["Isr"], p
    assert p["Earliest"] == "0", p
assert [p["Latest"] for p in parts] == ["0", "25"], parts
head, parts = topic("events")
assert head["PartitionCount"] == "3", head
EOF
topics describe nosuch; expect_rc 1 "describe nosuch"
grep -q "does not exist" <<<"$OUT" || fail "describe nosuch said: $OUT"
topics describe orders nosuch; expect_rc 1 "describe orders nosuch"
grep -q "Topic: orders" <<<"$OUT" || fail "describe orders nosuch dropped orders: $OUT"

note "topic configs"
topics create tuned --partitions 1 --topic-config retention.ms=3600000,segment.bytes=1048576
expect_rc 0 "create tuned --topic-config"
topics describe tuned; expect_rc 0 "describe tuned"
grep -q $'Configs: .*retention.ms=3600000' <<<"$OUT" || fail "tuned's configs not shown: $OUT"
grep -q $'Configs: .*segment.bytes=1048576' <<<"$OUT" || fail "tuned's configs not shown: $OUT"
topics create untuned --topic-config no.such.config=1; expect_rc 1 "create with a bad config"
topics delete tuned; expect_rc 0 "delete tuned"

note "delete"
topics delete orders; expect_rc 0 "delete orders"
topics list; expect_rc 0 "list"
[[ "$OUT" == "events" ]] || fail "after delete, list printed: $OUT"
topics delete orders; expect_rc 1 "delete orders (again)"
grep -q "does not exist" <<<"$OUT" || fail "second delete said: $OUT"
topics create orders --partitions 1; expect_rc 0 "re-create orders"
topics describe orders; expect_rc 0 "describe re-created orders"
grep -q $'Latest: 0' <<<"$OUT" || fail "re-created topic is not empty: $OUT"

note "environment and config file"
RC=0
OUT=$(cd "$WORK" && SLUICE_BOOTSTRAP="$BOOTSTRAP" timeout 60 "$SLUICE_BIN" topics list 2>&1) || RC=$?
expect_rc 0 "list via SLUICE_BOOTSTRAP"
printf 'topics:\n  bootstrap: "%s"\n' "$BOOTSTRAP" >"$WORK/sluice.yaml"
RC=0; OUT=$(cd "$WORK" && timeout 60 "$SLUICE_BIN" topics list 2>&1) || RC=$?
expect_rc 0 "list via sluice.yaml"
[[ "$OUT" == $'events\norders' ]] || fail "list via sluice.yaml printed: $OUT"

note "unreachable broker"
DEAD=$(free_port)
start=$SECONDS
RC=0; OUT=$(timeout 60 "$SLUICE_BIN" topics list --bootstrap "127.0.0.1:$DEAD" --timeout 2s 2>&1) ||
    RC=$?
expect_rc 1 "list against a closed port"
grep -q "cannot reach" <<<"$OUT" || fail "unreachable broker said: $OUT"
((SECONDS - start <= 10)) || fail "--timeout 2s took $((SECONDS - start)) s"

broker_alive || fail "broker died"
broker_stop TERM
echo "PASS"
