# End-to-end test of `sluice process` through the real binary and a private broker:
#  1. records with 1% bad ones stream in while the job is killed with SIGKILL at random moments
#     (5 times) and restarted: every good id is stored once with the last version's fields,
#     every bad record is in the DLQ with its reason, stored offsets == the topic's end offsets;
#  2. two instances in one group (and a third joining and leaving) share the partitions and
#     take every record exactly once in total;
#  3. `sluice query`: both table names, --json, --limit, read-only;
#  4. a run being built by copy when the records stop is finished by the idle job.
# N (default 200000) sets the size; the 1M run of issue 5 is `N=1000000 bash test_process.sh`.
set -euo pipefail

: "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
: "${TOOLS_DIR:?TOOLS_DIR must name the directory holding usergen}"
N=${N:-200000}
KILLS=${KILLS:-5}
RATE=${RATE:-20000}
PY=/usr/bin/python3
USERGEN="$TOOLS_DIR/usergen"
[[ -x "$USERGEN" ]] || { echo "SKIP: $USERGEN not built"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e-process.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ $rc -ne 0 && $rc -ne 77 ]]; then
        for f in "$WORK"/*.log; do
            [[ -f "$f" ]] || continue
            echo "--- last lines of $f:" >&2
            tail -n 15 "$f" >&2
        done
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
note() { echo "--- $(date +%T) $*"; }

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
BOOT="127.0.0.1:$PORT"
"$SLUICE_BIN" broker --listen "$BOOT" --data-dir "$WORK/broker" >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    grep -q "listening" "$WORK/broker.log" && break
    sleep 0.1
done
grep -q "listening" "$WORK/broker.log" || fail "broker did not start"

# start_job NAME TOPIC GROUP STORE_DIR: starts an instance in the background; sets JOB_PID.
start_job() {
    "$SLUICE_BIN" process --bootstrap "$BOOT" --topic "$2" --group "$3" \
        --store "sqlite:$4" --session-timeout 3s --stats-interval 2s >>"$WORK/$1.log" 2>&1 &
    JOB_PID=$!
    PIDS+=("$JOB_PID")
}

# stored_sum STORE_DIR TOPIC GROUP: sum of the stored next offsets.
stored_sum() {
    [[ -f "$1/spark_streams.db" ]] || { echo 0; return; }
    "$SLUICE_BIN" query --store "sqlite:$1" --json \
        "SELECT coalesce(sum(next_offset), 0) AS s FROM sluice_offsets WHERE topic='$2' AND \
group_id='$3'" 2>/dev/null | tr -dc '0-9' || echo 0
}

# wait_drained STORE_DIR TOPIC GROUP TOTAL SECONDS
wait_drained() {
    local deadline=$((SECONDS + $5)) s=0
    while ((SECONDS < deadline)); do
        s=$(stored_sum "$1" "$2" "$3")
        [[ "$s" == "$4" ]] && return 0
        sleep 0.5
    done
    fail "store reached offset sum $s of $4 within $5 s"
}

stop_job() {
    kill -TERM "$1"
    local rc=0
    timeout 30 tail --pid="$1" -f /dev/null || fail "job $1 did not stop on SIGTERM"
    wait "$1" || rc=$?
    [[ $rc -eq 0 ]] || fail "job $1 exited $rc after SIGTERM (want 0)"
}

# ---- 1. kill -9 during the stream -------------------------------------------------------
note "1: $N records (1% bad, 0.5% updates) at $RATE/s, job killed -9 $KILLS times"
S1="$WORK/store1"
"$USERGEN" produce -b "$BOOT" -t t1 -n "$N" -r "$RATE" >"$WORK/produce1.log" 2>&1 &
PROD=$!
PIDS+=("$PROD")
start_job job1 t1 g1 "$S1"
last=0
for k in $(seq "$KILLS"); do
    # Kill at a random moment once this incarnation has committed something, so every kill
    # lands mid-stream (a restart first waits out the dead member's 3 s session).
    deadline=$((SECONDS + 30))
    while (($(stored_sum "$S1" t1 g1) <= last && SECONDS < deadline)); do
        sleep 0.1
    done
    sleep "$("$PY" -c 'import random; print(round(random.uniform(0.05, 0.8), 2))')"
    kill -KILL "$JOB_PID"
    wait "$JOB_PID" 2>/dev/null || true
    last=$(stored_sum "$S1" t1 g1)
    note "killed -9 (kill $k) at stored offset sum $last of $N"
    start_job job1 t1 g1 "$S1"
done
wait "$PROD" || fail "producer failed: $(cat "$WORK/produce1.log")"
grep "usergen: produced" "$WORK/produce1.log"
wait_drained "$S1" t1 g1 "$N" 180
stop_job "$JOB_PID"
grep "summary:" "$WORK/job1.log" | tail -1
"$USERGEN" verify -b "$BOOT" -t t1 -n "$N" -d "$S1/spark_streams.db" -g g1 |
    tee "$WORK/verify1.out"
grep -q "verify ok" "$WORK/verify1.out" || fail "verification after kill -9 failed"

# ---- 2. two instances share the partitions ----------------------------------------------
N2=$((N / 2))
note "2: $N2 records, two instances in one group, a third joins and leaves"
S2="$WORK/store2"
"$USERGEN" produce -b "$BOOT" -t t2 -n "$N2" -r $((RATE / 2)) -S 7 >"$WORK/produce2.log" 2>&1 &
PROD=$!
PIDS+=("$PROD")
start_job jobA t2 g2 "$S2"
A=$JOB_PID
start_job jobB t2 g2 "$S2"
B=$JOB_PID
sleep 3
start_job jobC t2 g2 "$S2"
C=$JOB_PID
sleep 3
stop_job "$C"
wait "$PROD" || fail "producer failed"
wait_drained "$S2" t2 g2 "$N2" 120
stop_job "$A"
stop_job "$B"
"$USERGEN" verify -b "$BOOT" -t t2 -n "$N2" -S 7 -d "$S2/spark_streams.db" -g g2 |
    tee "$WORK/verify2.out"
grep -q "verify ok" "$WORK/verify2.out" || fail "verification with two instances failed"
total=0
for j in jobA jobB jobC; do
    grep -q "assigned t2" "$WORK/$j.log" || fail "$j never got a partition"
    n=$(grep "summary:" "$WORK/$j.log" | tail -1 | sed -E 's/.*summary: in ([0-9]+).*/\1/')
    echo "$j took $n records"
    total=$((total + n))
done
[[ $total -eq $N2 ]] || fail "instances took $total records in total, want exactly $N2"

# ---- 3. sluice query --------------------------------------------------------------------
note "3: sluice query"
Q=("$SLUICE_BIN" query --store "sqlite:$S1")
a=$("${Q[@]}" "SELECT count(*) AS n FROM created_users" | sed -n 3p | tr -d ' ')
b=$("${Q[@]}" "SELECT count(*) AS n FROM spark_streams.created_users" | sed -n 3p | tr -d ' ')
[[ "$a" == "$b" && "$a" -gt 0 ]] || fail "count via both names: '$a' vs '$b'"
"${Q[@]}" --json "SELECT id, post_code FROM created_users ORDER BY id LIMIT 2" |
    "$PY" -c 'import json, sys; r = json.load(sys.stdin); assert len(r) == 2 and \
all(len(x["id"]) == 36 and isinstance(x["post_code"], str) for x in r), r'
"${Q[@]}" --limit 3 "SELECT id FROM created_users" >"$WORK/q.out" 2>"$WORK/q.err"
[[ $(wc -l <"$WORK/q.out") -eq 6 ]] || fail "--limit 3 printed $(wc -l <"$WORK/q.out") lines"
grep -q "more rows exist" "$WORK/q.err" || fail "--limit did not say it truncated"
if "${Q[@]}" "DELETE FROM created_users" 2>"$WORK/q.err"; then
    fail "a DELETE went through sluice query"
fi
[[ $("${Q[@]}" "SELECT count(*) FROM created_users" | sed -n 3p | tr -d ' ') == "$a" ]] ||
    fail "rows changed"
if "$SLUICE_BIN" query --store "cassandra://127.0.0.1:9042" "SELECT 1" 2>"$WORK/q.err"; then
    fail "cassandra store accepted"
fi
grep -q "keyspace" "$WORK/q.err" || fail "no clear cassandra message"

# ---- 4. a build by copy ends while no record comes -------------------------------------
# merge_rows=600 with seal=copy: the delta is sealed at 600 rows and its run built by copy,
# 4 rows of steps paid per row written; the ~100 rows after the seal pay for a third of it
# at most. The rest is done by the job while idle (store_tend).
note "4: 700 records into a store sealed by copy at 600 rows; the build ends while idle"
S4="$WORK/store4"
"$USERGEN" produce -b "$BOOT" -t t4 -n 700 -S 11 >"$WORK/produce4.log" 2>&1 ||
    fail "producer failed: $(cat "$WORK/produce4.log")"
"$SLUICE_BIN" process --bootstrap "$BOOT" --topic t4 --group g4 \
    --store "sqlite:$S4?merge_rows=600&seal=copy&copy_rows=4" --session-timeout 3s \
    >>"$WORK/job4.log" 2>&1 &
JOB_PID=$!
PIDS+=("$JOB_PID")
wait_drained "$S4" t4 g4 700 60
Q4=("$SLUICE_BIN" query --store "sqlite:$S4")
left=1
for _ in $(seq 100); do
    left=$("${Q4[@]}" "SELECT count(*) FROM sluice_build" | sed -n 3p | tr -d ' ')
    [[ "$left" == 0 ]] && break
    sleep 0.2
done
[[ "$left" == 0 ]] || fail "the build by copy did not end within 20 s of idling"
[[ $("${Q4[@]}" "SELECT count(*) FROM sluice_runs" | sed -n 3p | tr -d ' ') == 1 ]] ||
    fail "want one run (the delta sealed at 600 rows)"
[[ $("${Q4[@]}" "SELECT count(*) FROM sqlite_master WHERE name LIKE 'created_users_p%'" |
    sed -n 3p | tr -d ' ') == 0 ]] || fail "the old table of the build is still there"
stop_job "$JOB_PID"
"$USERGEN" verify -b "$BOOT" -t t4 -n 700 -S 11 -d "$S4/spark_streams.db" -g g4 |
    tee "$WORK/verify4.out"
grep -q "verify ok" "$WORK/verify4.out" || fail "verification after the idle build failed"

echo "PASS"
