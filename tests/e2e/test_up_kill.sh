#!/usr/bin/env bash
# kill -9 under `sluice up` (issue 10): while ingest streams, the broker and then the stream
# job are killed with SIGKILL; up restarts each, the pipeline catches up, and every user the
# ingest run delivered (acks=all) is in the store: nothing lost, counted.
set -euo pipefail
: "${SLUICE_BIN:?run through ctest}"
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/sluice-up-kill.XXXXXX)
UP_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$UP_PID" ]]; then
        kill -TERM "$UP_PID" 2>/dev/null || true
        timeout 30 tail --pid="$UP_PID" -f /dev/null 2>/dev/null || kill -KILL "$UP_PID" 2>/dev/null || true
    fi
    [[ $rc -ne 0 ]] && tail -n 40 "$WORK/up.log" >&2
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
KP=$(free_port)
UI="127.0.0.1:$(free_port)"
cd "$WORK"
SLUICE_INGEST_RATE=2000 "$SLUICE_BIN" up --listen "127.0.0.1:$KP" --ui-listen "$UI" \
    --data-dir "$WORK/data" --source generator --ingest-duration 20s >"$WORK/up.log" 2>&1 &
UP_PID=$!
# pid_of PATTERN: the one process of this run whose command line matches
pid_of() { pgrep -f -- "$1" | grep -v "^$UP_PID\$" | head -1; }
wait_for() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    for _ in $(seq 300); do
        "$@" && return 0
        kill -0 "$UP_PID" 2>/dev/null || fail "sluice up exited while waiting for $what"
        sleep 0.1
    done
    fail "timed out waiting for $what"
}
rows() {
    "$SLUICE_BIN" query --data-dir "$WORK/data" "SELECT count(*) FROM created_users" 2>/dev/null |
        sed -n 3p | tr -d ' '
}
some_rows() { [[ "$(rows || echo 0)" -gt 0 ]]; }

BROKER_PAT="broker --listen 127.0.0.1:$KP"
PROC_PAT="process --bootstrap 127.0.0.1:$KP"
wait_for "rows in the store" some_rows
b1=$(pid_of "$BROKER_PAT")
[[ -n "$b1" ]] || fail "no broker"
kill -KILL "$b1"
echo "killed the broker ($b1) with $(rows) rows stored"
new_broker() { local p; p=$(pid_of "$BROKER_PAT"); [[ -n "$p" && "$p" != "$b1" ]]; }
wait_for "the broker's restart" new_broker
grep -q "up: broker exited with code 137; restarting" "$WORK/up.log" || fail "restart not logged"
sleep 3
p1=$(pid_of "$PROC_PAT")
[[ -n "$p1" ]] || fail "no stream job"
kill -KILL "$p1"
echo "killed the stream job ($p1) with $(rows) rows stored"
new_proc() { local p; p=$(pid_of "$PROC_PAT"); [[ -n "$p" && "$p" != "$p1" ]]; }
wait_for "the stream job's restart" new_proc
ingest_done() { grep -q "up: ingest \(finished\|failed\)" "$WORK/up.log"; }
for _ in $(seq 120); do ingest_done && break; sleep 0.5; done
ingest_done || fail "ingest did not end"
delivered=$(sed -n 's/^summary: .* delivered=\([0-9]*\) .*/\1/p' "$WORK/up.log" | tail -n 1)
[[ -n "$delivered" && "$delivered" -gt 0 ]] || fail "ingest delivered nothing"
n=0
for _ in $(seq 240); do
    n=$(rows || echo 0)
    [[ "$n" == "$delivered" ]] && break
    sleep 0.5
done
echo "ingest delivered $delivered users; after both kills the store holds $n"
[[ "$n" == "$delivered" ]] || fail "lost users: $n stored of $delivered delivered"
echo "OK: broker and stream job killed -9 under sluice up, restarted, nothing lost"
