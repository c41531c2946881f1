# Regression 050 (issue 11, finding 7): the stream job's stored offsets are keyed by topic
# name, so after the broker's data is wiped (or the topic deleted and re-created) the log
# starts over at offset 0, below the stored offsets, and the old job silently dropped every
# new record below them. Now the reset is detected (stored offset beyond the log end), said
# loudly, and the log is read again from its start. Also `--reset-offsets latest|earliest|TIME`.
#  1. 3000 records stored; broker stopped, its data wiped, restarted on the same port;
#     1000 new records (new ids): all of them must be stored (4000 rows), and the log says so.
#  2. --reset-offsets latest skips 500 records produced meanwhile (count said), earliest reads
#     the 1500 of the new log again (the 500 skipped become rows), a time reads only the 200
#     records produced after it.
set -euo pipefail

: "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
: "${TOOLS_DIR:?TOOLS_DIR must name the directory holding usergen}"
PY=/usr/bin/python3
USERGEN="$TOOLS_DIR/usergen"
[[ -x "$USERGEN" ]] || { echo "SKIP: $USERGEN not built"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-regress-050.XXXXXX")
PIDS=()
BROKER=

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
            tail -n 12 "$f" >&2
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
STORE="$WORK/store"

start_broker() {
    "$SLUICE_BIN" broker --listen "$BOOT" --data-dir "$WORK/broker" >>"$WORK/broker.log" 2>&1 &
    BROKER=$!
    PIDS+=("$BROKER")
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    fail "broker did not start"
}

# run_until NAME WANT_SUM WANT_IN [process args]: runs the job until the stored offsets sum
# to WANT_SUM and (unless WANT_IN is -) its stats line says it took WANT_IN records (gives up
# after 60 s), then stops it with SIGTERM.
run_until() {
    local name=$1 want=$2 want_in=$3 s=0
    shift 3
    "$SLUICE_BIN" process --bootstrap "$BOOT" --topic t --group g --store "sqlite:$STORE" \
        --session-timeout 3s --stats-interval 1s "$@" >"$WORK/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        s=$(stored_sum)
        if [[ "$s" == "$want" ]]; then
            [[ "$want_in" == - ]] && break
            grep -q "process: in $want_in " "$WORK/$name.log" && break
        fi
        sleep 0.3
    done
    kill -TERM "$pid"
    wait "$pid" || fail "$name exited non-zero"
    [[ "$s" == "$want" ]] || fail "$name: stored offsets sum to $s, want $want"
}

stored_sum() {
    "$SLUICE_BIN" query --store "sqlite:$STORE" --json \
        "SELECT coalesce(sum(next_offset), 0) AS s FROM sluice_offsets WHERE topic='t'" \
        2>/dev/null | tr -dc '0-9' || echo 0
}

rows() {
    "$SLUICE_BIN" query --store "sqlite:$STORE" "SELECT count(*) FROM created_users" |
        sed -n 3p | tr -d ' '
}

produce() { # N SEED
    "$USERGEN" produce -b "$BOOT" -t t -n "$1" -S "$2" -B 0 -U 0 >>"$WORK/produce.log" 2>&1 ||
        fail "produce failed: $(tail -2 "$WORK/produce.log")"
}

# ---- 1. the broker's data wiped -------------------------------------------------------------
start_broker
note "1: 3000 records stored, then the broker's data is wiped and 1000 new records come"
produce 3000 1
run_until job1 3000 -
[[ $(rows) == 3000 ]] || fail "first run stored $(rows) rows, want 3000"
kill -TERM "$BROKER"
wait "$BROKER" || true
rm -rf "$WORK/broker"
start_broker
produce 1000 2
# The new log's offsets end at 1000 in total, far below the stored 3000.
run_until job2 1000 -
n=$(rows)
echo "rows after the reset: $n (want 4000)"
[[ "$n" == 4000 ]] || fail "after the broker's data was wiped $n rows are stored, want 4000"
grep -q "THE LOG WAS RESET" "$WORK/job2.log" || fail "the reset was not reported"
grep "THE LOG WAS RESET" "$WORK/job2.log" | head -1 | cut -c1-200

# ---- 2. --reset-offsets -----------------------------------------------------------------
note "2: --reset-offsets latest, earliest, TIME"
produce 500 3
run_until job3 1500 - --reset-offsets latest
[[ $(rows) == 4000 ]] || fail "--reset-offsets latest stored $(rows) rows, want 4000"
skipped=$(grep -o -- "--reset-offsets latest: .*record(s) skipped" "$WORK/job3.log" |
    sed -E 's/.*: ([0-9]+) record\(s\) skipped/\1/' | paste -sd+ | bc)
[[ "$skipped" == 500 ]] || fail "--reset-offsets latest reported $skipped skipped, want 500"
run_until job4 1500 1500 --reset-offsets earliest
# The 500 skipped by latest are read now: 4500 rows.
[[ $(rows) == 4500 ]] || fail "--reset-offsets earliest: $(rows) rows, want 4500"
read_again=$(grep "summary:" "$WORK/job4.log" | sed -E 's/.*summary: in ([0-9]+).*/\1/')
[[ "$read_again" == 1500 ]] || fail "--reset-offsets earliest read $read_again records, want 1500"
sleep 1.1
T=$("$PY" -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")')
produce 200 4
run_until job5 1700 200 --reset-offsets "$T"
read_after=$(grep "summary:" "$WORK/job5.log" | sed -E 's/.*summary: in ([0-9]+).*/\1/')
[[ "$read_after" == 200 && $(rows) == 4700 ]] ||
    fail "--reset-offsets $T read $read_after records ($(rows) rows), want 200 (4700 rows)"
if "$SLUICE_BIN" process --reset-offsets yesterday --bootstrap "$BOOT" 2>"$WORK/bad.err"; then
    fail "--reset-offsets yesterday was accepted"
fi
grep -q "expected earliest, latest" "$WORK/bad.err" || fail "no clear --reset-offsets error"
echo "PASS"
