#!/usr/bin/env bash
# Produce and consume throughput of `sluice broker` with a librdkafka client (kprod/kcons from
# tests/tools): records/s and MB/s of values for 100-byte and 1 KiB records, acks=all,
# idempotent producer, linger.ms=5, batch.size 1 MB, 3 partitions.
# Usage: bench/bench_broker.sh BUILD_DIR. Sizes: BENCH_N_100 (default 1000000), BENCH_N_1K
# (default 300000). The data directory is made under BUILD_DIR: the real disk, not tmpfs.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_broker.sh BUILD_DIR}" && pwd)
SLUICE="$BUILD/sluice"
KPROD="$BUILD/tests/kprod"
KCONS="$BUILD/tests/kcons"
N100=${BENCH_N_100:-1000000}
N1K=${BENCH_N_1K:-300000}
for f in "$SLUICE" "$KPROD" "$KCONS"; do
    [[ -x "$f" ]] || { echo "bench_broker: $f is not built (cmake --build $BUILD)" >&2; exit 1; }
done

WORK=$(mktemp -d "$BUILD/bench-broker.XXXXXX")
BROKER_PID=""
cleanup() {
    [[ -n "$BROKER_PID" ]] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
BOOT="127.0.0.1:$PORT"
"$SLUICE" broker --listen "$BOOT" --data-dir "$WORK/data" --log-level warn \
    >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    kill -0 "$BROKER_PID" 2>/dev/null || { cat "$WORK/broker.log" >&2; exit 1; }
    sleep 0.1
done

die() {
    echo "bench_broker: $*" >&2
    exit 1
}

IDEMP=-i
PRODUCER_NOTE="idempotent"
# "R M" from the summary line of kprod or kcons ("...: R msg/s, M MB/s")
rate() { sed -n 's/.*: \([0-9.]*\) msg\/s, \([0-9.]*\) MB\/s.*/\1 \2/p' <<<"$1"; }

run_case() { # label size count
    local label=$1 size=$2 n=$3 topic="bench-$2" out rc=0
    timeout 120 "$SLUICE" topics create "$topic" --partitions 3 --bootstrap "$BOOT" >/dev/null
    out=$(timeout 600 "$KPROD" -b "$BOOT" -t "$topic" -n "$n" -s "$size" -a all $IDEMP -q \
        -T 500 -X linger.ms=5 -X batch.size=1000000 2>"$WORK/kprod.err") || rc=$?
    if [[ $rc -ne 0 && -n "$IDEMP" ]] && grep -qi "fatal\|idempot" "$WORK/kprod.err"; then
        # A broker without idempotence support: measure the plain producer, and say so.
        IDEMP=""
        PRODUCER_NOTE="NOT idempotent (idempotent producer failed: $(grep -i -m1 'fatal' \
            "$WORK/kprod.err"))"
        timeout 120 "$SLUICE" topics delete "$topic" --bootstrap "$BOOT" >/dev/null || true
        timeout 120 "$SLUICE" topics create "$topic" --partitions 3 --bootstrap "$BOOT" >/dev/null
        rc=0
        out=$(timeout 600 "$KPROD" -b "$BOOT" -t "$topic" -n "$n" -s "$size" -a all -q -T 500 \
            -X linger.ms=5 -X batch.size=1000000 2>"$WORK/kprod.err") || rc=$?
    fi
    [[ $rc -eq 0 ]] || { echo "$out"; tail -5 "$WORK/kprod.err"; die "produce failed"; }
    read -r p_rate p_mb < <(rate "$out")
    rc=0
    out=$(timeout 600 "$KCONS" -b "$BOOT" -t "$topic" -c -q -T 500 2>"$WORK/kcons.err") || rc=$?
    [[ $rc -eq 0 ]] || { echo "$out"; tail -5 "$WORK/kcons.err"; die "consume failed"; }
    read -r c_rate c_mb < <(rate "$out")
    printf "%-8s %10d %16.0f %14.1f %16.0f %14.1f\n" "$label" "$n" "$p_rate" "$p_mb" "$c_rate" \
        "$c_mb"
}

echo "sluice broker throughput, librdkafka $(sed -n 's/.*librdkafka \([^,]*\),.*/\1/p' \
    < <("$SLUICE" version)) client, one producer / one consumer, 3 partitions, 127.0.0.1"
printf "%-8s %10s %16s %14s %16s %14s\n" record records "produce rec/s" "produce MB/s" \
    "consume rec/s" "consume MB/s"
run_case "100 B" 100 "$N100"
run_case "1 KiB" 1024 "$N1K"
echo "producer: acks=all, $PRODUCER_NOTE, linger.ms=5, batch.size=1000000; MB/s counts values" \
    "(10^6 bytes); consume reads from the earliest to the latest offset."
echo "peer: Apache Kafka is not available on this machine, so no ratio is printed (sluice's" \
    "figures only)."
