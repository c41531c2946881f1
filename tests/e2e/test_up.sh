#!/usr/bin/env bash
# sluice up end to end: the supervisor starts the broker, the stream job and one ingest run
# (generator source); the job's topic exists before the job starts; every delivered user ends
# up as a row; SIGTERM stops every part in order and leaves no process behind; SIGKILL of the
# supervisor takes its parts down too.
set -euo pipefail
: "${SLUICE_BIN:?run through ctest}"
WORK=$(mktemp -d /tmp/sluice-up.XXXXXX)
UP_PID=""
cleanup() {
    [[ -n "$UP_PID" ]] && kill -KILL "$UP_PID" 2>/dev/null || true
    pkill -KILL -f "$WORK/data" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    tail -n 30 "$WORK/up.log" >&2 || true
    exit 1
}
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd "$WORK"

start_up() {
    "$SLUICE_BIN" up --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --source generator \
        --ingest-duration "$1" --no-scheduler >>"$WORK/up.log" 2>&1 &
    UP_PID=$!
}
count_rows() {
    "$SLUICE_BIN" query --data-dir "$WORK/data" "SELECT count(*) FROM spark_streams.created_users" \
        2>/dev/null | sed -n 3p | tr -d ' '
}

start_up 3s
for _ in $(seq 300); do
    grep -q "up: ingest finished" "$WORK/up.log" && break
    kill -0 "$UP_PID" 2>/dev/null || fail "sluice up exited early"
    sleep 0.2
done
grep -q "up: ingest finished" "$WORK/up.log" || fail "ingest did not finish within 60 s"
delivered=$(sed -n 's/^summary: .* delivered=\([0-9]*\) .*/\1/p' "$WORK/up.log" | tail -n 1)
[[ -n "$delivered" && "$delivered" -gt 0 ]] || fail "ingest delivered nothing"
rows=0
for _ in $(seq 300); do
    rows=$(count_rows || echo 0)
    [[ "$rows" == "$delivered" ]] && break
    sleep 0.2
done
echo "ingest delivered $delivered users; the store holds $rows rows"
[[ "$rows" == "$delivered" ]] || fail "rows $rows != delivered $delivered"
# The broker created the job's topic before the job started (not the ingest's first produce
# later), so the job found it at once instead of ~2 s after it appeared.
t_line=$(grep -n "broker: created topic users_created with" "$WORK/up.log" | head -1 | cut -d: -f1)
j_line=$(grep -n "up: started process" "$WORK/up.log" | head -1 | cut -d: -f1)
[[ -n "$t_line" && -n "$j_line" ]] && ((t_line < j_line)) ||
    fail "topic users_created was not created before the stream job started"
# One stream job: its group's first rebalance does not wait for other members (the broker's
# default 1 s delayed the first rows by that much).
grep -q "group sluice-process rebalancing (generation 0): .*waiting 0 ms for more members" "$WORK/up.log" ||
    fail "the job's group waited for more members: $(grep -m1 'group sluice-process rebalancing' "$WORK/up.log")"

kids=$(pgrep -f -- "--data-dir $WORK/data" | grep -v "^$UP_PID\$" || true)
[[ $(echo "$kids" | wc -w) -ge 2 ]] || fail "expected broker and process children, found: $kids"
kill -TERM "$UP_PID"
rc=0
timeout 60 tail --pid="$UP_PID" -f /dev/null || fail "sluice up did not stop within 60 s"
wait "$UP_PID" || rc=$?
UP_PID=""
[[ $rc -eq 0 ]] || fail "sluice up exited $rc after SIGTERM"
grep -q "up: process stopped" "$WORK/up.log" || fail "the stream job was not stopped"
# the job leaves before the broker goes: its stop comes first in the log
p_line=$(grep -n "up: process stopped" "$WORK/up.log" | head -1 | cut -d: -f1)
b_line=$(grep -n "up: broker stopped" "$WORK/up.log" | head -1 | cut -d: -f1)
((p_line < b_line)) || fail "the broker stopped before the stream job"
for k in $kids; do
    kill -0 "$k" 2>/dev/null && fail "part $k is still running after sluice up stopped"
done
echo "SIGTERM: every part stopped, the stream job before the broker"

start_up 1s
for _ in $(seq 100); do
    [[ $(pgrep -f -- "--data-dir $WORK/data" | wc -l) -ge 3 ]] && break
    sleep 0.2
done
kids=$(pgrep -f -- "--data-dir $WORK/data" | grep -v "^$UP_PID\$" || true)
kill -KILL "$UP_PID"
wait "$UP_PID" 2>/dev/null || true
UP_PID=""
# A stream job stopping while its broker goes too may sit in the group leave until its stop
# alarm (process/cmd.c: --dlq-timeout + --session-timeout + 5 s): wait up to 60 s.
for _ in $(seq 300); do
    alive=0
    for k in $kids; do kill -0 "$k" 2>/dev/null && alive=1; done
    ((alive == 0)) && break
    sleep 0.2
done
if ((alive != 0)); then
    for k in $kids; do # say which part outlived it, and where it waits
        kill -0 "$k" 2>/dev/null || continue
        echo "alive: $(tr '\0' ' ' <"/proc/$k/cmdline") ($(grep State "/proc/$k/status"))" >&2
    done
    fail "parts outlived a SIGKILLed supervisor: $kids"
fi
echo "SIGKILL of the supervisor: its parts stopped too"
echo "1 passed, 0 failed"
