#!/usr/bin/env bash
# The stream job's throughput and latency, topic -> SQLite store, through the real binary:
#  1. drain: BENCH_N (default 1000000) users_created records (1% bad) already in the topic,
#     records/s from the first record taken to the last batch committed (the job's summary);
#     and the job's CPU seconds (all threads) and peak RSS;
#  2. peer in the same invocation: the naive design, one SQLite transaction per record
#     (`sluice process --batch-max 1` with SQLite's default checkpointing and a 2 MB cache),
#     on the first BENCH_NAIVE_N (default 50000) records of the same topic; ratio printed.
#     (The seed's Spark job is the real peer; running PySpark here is a later step.)
#  3. latency: records produced at BENCH_RATE/s (default 10000) for BENCH_SECS (default 60)
#     while the job runs: end-to-end p50/p99 = store commit time minus record timestamp, and
#     the same split by stage (issue 12): the producer's acknowledgement latency (usergen:
#     linger + broker append + fsync), and the job's to-job (record timestamp -> the job takes
#     it: producer, broker, fetch), queued (taken -> handed to the writer) and commit (handed
#     over -> committed) per record. BENCH_LINGER (default 5) is the producer's linger.ms;
#     BENCH_STORE_ROWS (default 0) rows are stored first, to measure on a large table;
#     BENCH_JOB_ARGS are added to the job's options; BENCH_BAD (default 10) bad records per
#     thousand (dead-lettered).
#  4. the SQLite sink's levers alone (bench_sink), unless BENCH_SINK=0.
# BENCH_ONLY=latency runs section 3 alone.
# Usage: bench/bench_process.sh BUILD_DIR. Data goes under BUILD_DIR (the real disk).
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_process.sh BUILD_DIR}" && pwd)
SLUICE="$BUILD/sluice"
USERGEN="$BUILD/tests/usergen"
SINK="$BUILD/bench/bench_sink"
N=${BENCH_N:-1000000}
NAIVE_N=${BENCH_NAIVE_N:-50000}
RATE=${BENCH_RATE:-10000}
SECS=${BENCH_SECS:-60}
LINGER=${BENCH_LINGER:-5}
PRE=${BENCH_STORE_ROWS:-0}
ONLY=${BENCH_ONLY:-}
NEEDED=("$SLUICE" "$USERGEN")
[[ "$ONLY" == latency ]] || NEEDED+=("$SINK")
for f in "${NEEDED[@]}"; do
    [[ -x "$f" ]] || { echo "bench_process: $f is not built (cmake --build $BUILD)" >&2; exit 1; }
done

WORK=$(mktemp -d "$BUILD/bench-process.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
die() {
    echo "bench_process: $*" >&2
    exit 1
}

PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
BOOT="127.0.0.1:$PORT"
"$SLUICE" broker --listen "$BOOT" --data-dir "$WORK/broker" --log-level warn \
    >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

stored_sum() {
    [[ -f "$1/spark_streams.db" ]] || { echo 0; return; }
    "$SLUICE" query --store "sqlite:$1" --json \
        "SELECT coalesce(sum(next_offset), 0) AS s FROM sluice_offsets WHERE topic='$2'" \
        2>/dev/null | tr -dc '0-9' || echo 0
}

# run_job NAME TOPIC STORE_DIR STORE_PARAMS TARGET TIMEOUT_S [extra process args]: runs the
# job until the stored offsets reach TARGET, stops it with SIGTERM, prints its summary line.
run_job() {
    local name=$1 topic=$2 store=$3 params=$4 target=$5 limit=$6
    shift 6
    "$SLUICE" process --bootstrap "$BOOT" --topic "$topic" --group "g-$name" \
        --store "sqlite:$store$params" --stats-interval 0 "$@" >"$WORK/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + limit))
    while (($(stored_sum "$store" "$topic") < target && SECONDS < deadline)); do
        sleep 0.2
    done
    # CPU seconds (user + system, all threads) and peak RSS: less at the mercy of other
    # load on the machine than the rate.
    local cpu hwm
    cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$pid/stat")
    hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" || die "$name exited non-zero: $(tail -3 "$WORK/$name.log")"
    echo "$(grep "summary:" "$WORK/$name.log" | tail -1 | sed 's/.*summary: //') | CPU $cpu s \
peak RSS $hwm MB"
}
field() { sed -E "s/.*$1 ([0-9.]+).*/\\1/" <<<"$2"; }

latency() {
    echo "== 3. latency: $RATE records/s for $SECS s while the job runs (producer linger.ms $LINGER)"
    echo "   load average at start: $(cat /proc/loadavg)"
    local first=1000
    # shellcheck disable=SC2086 # BENCH_JOB_ARGS is a list of options
    "$SLUICE" process --bootstrap "$BOOT" --topic live --group g-live --store "sqlite:$WORK/s3" \
        --stats-interval 10s ${BENCH_JOB_ARGS:-} >"$WORK/live.log" 2>&1 &
    LIVE=$!
    PIDS+=("$LIVE")
    if ((PRE > 0)); then
        # A table already large: its rows go through the job first (no bad ones).
        echo "   storing $PRE rows first ..."
        "$USERGEN" produce -b "$BOOT" -t live -n "$PRE" -B 0 -S 3 -T 900 | tail -1
        first=$PRE
    else
        # Warm up with 1000 records (creates the topic; the job joins and is assigned), so
        # that the latency measured is the pipeline's, not the start-up's.
        "$USERGEN" produce -b "$BOOT" -t live -n 1000 -S 3 >/dev/null
    fi
    local deadline=$((SECONDS + 900))
    while (($(stored_sum "$WORK/s3" live) < first && SECONDS < deadline)); do sleep 0.2; done
    # A fresh job for the measured records, so that its summary holds only them: the
    # warm-up's records waited for the group to form.
    kill -TERM "$LIVE"
    wait "$LIVE" || die "live job (warm-up) failed"
    # shellcheck disable=SC2086
    "$SLUICE" process --bootstrap "$BOOT" --topic live --group g-live --store "sqlite:$WORK/s3" \
        --stats-interval 10s ${BENCH_JOB_ARGS:-} >"$WORK/live.log" 2>&1 &
    LIVE=$!
    PIDS+=("$LIVE")
    deadline=$((SECONDS + 60))
    while ! grep -q "assigned live\[2\]" "$WORK/live.log" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    local before=0
    LN=$((RATE * SECS))
    "$USERGEN" produce -b "$BOOT" -t live -n "$LN" -k "$first" -r "$RATE" -S 3 -T 600 \
        -L "$LINGER" -B "${BENCH_BAD:-10}" >"$WORK/produce3.log"
    sed 's/^/   /' "$WORK/produce3.log"
    deadline=$((SECONDS + 120))
    while (($(stored_sum "$WORK/s3" live) < LN + first && SECONDS < deadline)); do sleep 0.2; done
    echo "   load average at end: $(cat /proc/loadavg)"
    local cpu threads=""
    cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$LIVE/stat")
    # CPU seconds per thread (loop, writer, checkpointer, librdkafka's): less at the mercy of
    # the machine's load than the latencies.
    for t in /proc/"$LIVE"/task/*; do
        threads+="$(cat "$t/comm"):$(awk '{print ($14 + $15) / 100}' "$t/stat")s "
    done
    kill -TERM "$LIVE"
    wait "$LIVE" || die "live job failed"
    L=$(grep "summary:" "$WORK/live.log" | tail -1 | sed 's/.*summary: //')
    echo "   job summary: $L"
    echo "   job CPU $cpu s; by thread: $threads"
    echo "   10 s intervals of the measured run (end-to-end and stages, p50/p99 ms):"
    tail -n +"$((before + 1))" "$WORK/live.log" | grep "process: in " |
        sed -E 's/.*stored [0-9]+ \(([0-9]+)\/s\).*end-to-end p50 ([0-9]+) ms p99 ([0-9]+) ms.*stages p50\/p99 ms: (.*)/     \1 rows\/s  e2e \2\/\3  \4/'
    echo "   by stage, all $LN measured records (p50 / p99 ms):"
    awk -v ack="$(grep "ack latency" "$WORK/produce3.log")" '
        { match($0, /stages p50\/p99 ms: .*/); split(substr($0, RSTART + 19), s, " ")
          match($0, /end-to-end p50 [0-9.]+ ms p99 [0-9.]+/); split(substr($0, RSTART, RLENGTH), e, " ")
          split(ack, a, " ")
          printf "     %-46s %8s / %8s\n", "producer ack (linger + append + fsync)", a[7], a[10]
          split(s[2], v, "/"); printf "     %-46s %8s / %8s\n", "to-job (timestamp -> job takes it)", v[1], v[2]
          split(s[4], v, "/"); printf "     %-46s %8s / %8s\n", "queued (taken -> handed to the writer)", v[1], v[2]
          split(s[6], v, "/"); printf "     %-46s %8s / %8s\n", "commit (handed over -> committed)", v[1], v[2]
          printf "     %-46s %8s / %8s\n", "end-to-end (timestamp -> committed)", e[3], e[6] }' <<<"$L"
}

if [[ "$ONLY" == latency ]]; then
    latency
    exit 0
fi

echo "bench_process: producing $N records (1% bad) ..."
"$USERGEN" produce -b "$BOOT" -t bench -n "$N" -T 600 | tail -1
echo
echo "== 1. drain $N records: sluice process (defaults: batches of 5000 / 50 ms)"
S=$(run_job sluice bench "$WORK/s1" "" "$N" 900)
echo "   $S"
SL_RATE=$(field "rate" "$S")
SL_CPU=$(sed -E 's/.*CPU ([0-9.]+) s.*/\1/' <<<"$S")
SL_RSS=$(sed -E 's/.*peak RSS ([0-9]+) MB.*/\1/' <<<"$S")

echo "== 2. peer: one transaction per record (--batch-max 1), SQLite defaults, first $NAIVE_N"
S=$(run_job naive bench "$WORK/s2" "?cache_mb=2&checkpoint=inline&checkpoint_pages=1000&sort=0" "$NAIVE_N" \
    900 --batch-max 1)
echo "   $S"
NV_RATE=$(field "rate" "$S")

latency

echo
echo "== results (1 record = 12-field user JSON, ~430 bytes; 3 partitions; same machine)"
printf "  %-58s %10s\n" "sluice process, drain of $N records" "$SL_RATE/s"
printf "  %-58s %10s\n" "naive peer, 1 transaction per record" "$NV_RATE/s"
awk -v a="$SL_RATE" -v b="$NV_RATE" \
    'BEGIN { if (b > 0) printf "  ratio sluice / naive: %.1fx\n", a / b }'
awk -v c="$SL_CPU" -v n="$N" -v r="$SL_RSS" \
    'BEGIN { printf "  sluice CPU per record (all threads): %.1f us; peak RSS %d MB\n", c * 1e6 / n, r }'
printf "  end-to-end latency at %d/s: p50 %s ms, p99 %s ms (batch p50 %s ms, p99 %s ms)\n" \
    "$RATE" "$(sed -E 's/.*end-to-end p50 ([0-9.]+).*/\1/' <<<"$L")" \
    "$(sed -E 's/.*end-to-end p50 [0-9.]+ ms p99 ([0-9.]+).*/\1/' <<<"$L")" \
    "$(sed -E 's/.*batch p50 ([0-9.]+).*/\1/' <<<"$L")" \
    "$(sed -E 's/.*batch p50 [0-9.]+ ms p99 ([0-9.]+).*/\1/' <<<"$L")"

if [[ "${BENCH_SINK:-1}" != 0 ]]; then
    echo
    echo "== 4. the SQLite sink alone (bench_sink: ${BENCH_SINK_N:-300000} random-UUID rows)"
    "$SINK" -n "${BENCH_SINK_N:-300000}" -d "$WORK/sink"
fi
