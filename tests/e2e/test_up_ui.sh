#!/usr/bin/env bash
# `sluice up --trigger --no-ingest` (what `make run` does), on free ports: the scheduler comes
# up with the web UI, user_automation is switched on and triggered by up itself, and within
# 60 s the store holds users and the UI shows them (login, latest users, pipeline sources up,
# rows counted); SIGINT (Ctrl-C) stops every part, the scheduler's ingest tasks included.
set -euo pipefail
: "${SLUICE_BIN:?run through ctest}"
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/sluice-up-ui.XXXXXX)
UP_PID=""
cleanup() {
    local rc=$?
    [[ -n "$UP_PID" ]] && kill -KILL "$UP_PID" 2>/dev/null || true
    sleep 0.5
    if [[ $rc -ne 0 ]]; then
        tail -n 40 "$WORK/up.log" >&2 || true
    fi
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
mkdir dags # empty: the built-in user_automation is used
SLUICE_INGEST_SOURCE=generator "$SLUICE_BIN" up --listen "127.0.0.1:$KP" --ui-listen "$UI" \
    --data-dir "$WORK/data" --trigger --no-ingest >"$WORK/up.log" 2>&1 &
UP_PID=$!
start=$SECONDS
for _ in $(seq 600); do
    grep -q "sluice is up" "$WORK/up.log" && break
    kill -0 "$UP_PID" 2>/dev/null || fail "sluice up exited early"
    sleep 0.1
done
grep -q "up: user_automation switched on and triggered" "$WORK/up.log" || fail "not triggered"
pw=$(sed -n 's/.*user admin, password \([^ ]*\).*/\1/p' "$WORK/up.log" | head -1)
[[ -n "$pw" ]] || fail "no login printed"
grep -q "web UI     http://$UI/" "$WORK/up.log" || fail "UI address not printed"

curl -fsS -c "$WORK/cookies" -H 'Content-Type: application/json' \
    -d "{\"username\": \"admin\", \"password\": \"$pw\"}" "http://$UI/ui/login" >/dev/null ||
    fail "cannot log in with the printed password"
users=0
while ((SECONDS - start < 60)); do
    users=$(curl -fsS -b "$WORK/cookies" "http://$UI/ui/api/users?limit=5" |
        "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["users"]))')
    ((users > 0)) && break
    sleep 1
done
((users > 0)) || fail "the UI shows no users within 60 s"
echo "the UI shows users after $((SECONDS - start)) s"
# The Pipeline page's sampler (once a second) sees the rows and the parts' /metrics too.
pipeline_ok() {
    curl -fsS -b "$WORK/cookies" "http://$UI/ui/api/pipeline" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
up = {t["name"]: t["up"] for t in d["targets"]}
ok = bool(up.get("broker") and up.get("process") and d["rows"] and d["rows"] > 0)
print("pipeline: %s rows, sources %s" % (d["rows"], up))
sys.exit(0 if ok else 1)'
}
ok=0
for _ in $(seq 60); do
    if pipeline_ok >"$WORK/pipeline.txt"; then
        ok=1
        break
    fi
    sleep 0.5
done
cat "$WORK/pipeline.txt"
((ok == 1)) || fail "the Pipeline figures show no rows or a part down"
rows=$("$SLUICE_BIN" query --data-dir "$WORK/data" "SELECT count(*) FROM created_users" |
    sed -n 3p | tr -d ' ')
((rows > 0)) || fail "the store is empty"

# The processes of this run: everything with our data directory on its command line.
kids=$(pgrep -f -- "$WORK/data" | grep -v "^$UP_PID\$" || true)
[[ $(echo "$kids" | wc -w) -ge 3 ]] || fail "expected broker, process and scheduler: $kids"
# The scheduler's ingest tasks do not name the data directory; they carry our broker's
# address in their environment (the scheduler's --bootstrap as SLUICE_INGEST_BOOTSTRAP).
tasks() {
    grep -lz "^SLUICE_INGEST_BOOTSTRAP=127.0.0.1:$KP\$" /proc/[0-9]*/environ 2>/dev/null |
        grep -v "/proc/\($UP_PID\|self\)/" | cut -d/ -f3 || true
}
running=$(tasks)
[[ -n "$running" ]] || fail "no ingest task of user_automation is running"
kill -INT "$UP_PID"
timeout 60 tail --pid="$UP_PID" -f /dev/null || fail "sluice up did not stop within 60 s"
rc=0
wait "$UP_PID" || rc=$?
UP_PID=""
[[ $rc -eq 0 ]] || fail "sluice up exited $rc after SIGINT"
for k in $kids; do
    kill -0 "$k" 2>/dev/null && fail "part $k is still running after sluice up stopped"
done
left="$(pgrep -f -- "$WORK/data" || true) $(tasks)"
left=${left// /}
[[ -z "$left" ]] || fail "processes left behind: $left"
grep -q "up: scheduler stopped" "$WORK/up.log" || fail "the scheduler was not stopped"
echo "OK: make run's pipeline: users in the store and in the UI within 60 s; Ctrl-C left nothing"
