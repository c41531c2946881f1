#!/usr/bin/env bash
# Produce and consume throughput of `sluice broker` with a librdkafka client (kprod/kcons from
# tests/tools): records/s and MB/s of values for 100-byte and 1 KiB records, acks=all,
# idempotent producer, linger.ms=5, batch.size 1 MB, 3 partitions.
# Usage: bench/bench_broker.sh BUILD_DIR. Sizes: BENCH_N_100 (default 1000000), BENCH_N_1K
# (default 300000). The data directory is made under BUILD_DIR: the real disk, not tmpfs.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_broker.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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
    [[ -f "$WORK/kafka/kafka.pid" ]] && bash "$HERE/kafka_peer.sh" stop "$WORK/kafka" >/dev/null 2>&1
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
# "R M" from the summary line of kprod or kcons ("...: R msg/s, M MB/s")
rate() { sed -n 's/.*: \([0-9.]*\) msg\/s, \([0-9.]*\) MB\/s.*/\1 \2/p' <<<"$1"; }

declare -A RESULT

run_case() { # target bootstrap size count -> RESULT[target,size]="p_rate p_mb c_rate c_mb"
    local target=$1 boot=$2 size=$3 n=$4 topic="bench-$3" out rc=0
    timeout 120 "$SLUICE" topics create "$topic" --partitions 3 --bootstrap "$boot" >/dev/null
    out=$(timeout 600 "$KPROD" -b "$boot" -t "$topic" -n "$n" -s "$size" -a all $IDEMP -q \
        -T 500 -X linger.ms=5 -X batch.size=1000000 2>"$WORK/kprod.err") || rc=$?
    [[ $rc -eq 0 ]] || { echo "$out"; tail -5 "$WORK/kprod.err"; die "produce to $target failed"; }
    read -r p_rate p_mb < <(rate "$out")
    rc=0
    out=$(timeout 600 "$KCONS" -b "$boot" -t "$topic" -c -q -T 500 2>"$WORK/kcons.err") || rc=$?
    [[ $rc -eq 0 ]] || { echo "$out"; tail -5 "$WORK/kcons.err"; die "consume from $target failed"; }
    read -r c_rate c_mb < <(rate "$out")
    RESULT[$target,$size]="$p_rate $p_mb $c_rate $c_mb"
}

run_case sluice "$BOOT" 100 "$N100"
run_case sluice "$BOOT" 1024 "$N1K"
kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
BROKER_PID=""

# The peer: Apache Kafka from Maven jars, same client, same cases, same machine, right after.
PEER=""
PEER_DIR="$WORK/kafka"
if [[ "${BENCH_NO_PEER:-0}" != 1 ]]; then
    rc=0
    PEER_BOOT=$(KAFKA_PEER_FSYNC=${KAFKA_PEER_FSYNC:-0} bash "$HERE/kafka_peer.sh" start "$PEER_DIR" \
        2>"$WORK/peer.err") || rc=$?
    if [[ $rc -eq 0 ]]; then
        PEER="Apache Kafka"
        run_case kafka "$PEER_BOOT" 100 "$N100"
        run_case kafka "$PEER_BOOT" 1024 "$N1K"
        bash "$HERE/kafka_peer.sh" stop "$PEER_DIR" >/dev/null 2>&1 || true
    else
        echo "peer: Apache Kafka could not be started (exit $rc): $(tail -1 "$WORK/peer.err")"
    fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

echo "broker throughput, librdkafka $(sed -n 's/.*librdkafka \([^,]*\),.*/\1/p' \
    < <("$SLUICE" version)) client, one producer / one consumer, 3 partitions, 127.0.0.1"
printf "%-8s %-7s %10s %14s %12s %14s %12s\n" record broker records "produce rec/s" "prod MB/s" \
    "consume rec/s" "cons MB/s"
for size in 100 1024; do
    label="100 B"; n=$N100
    [[ $size == 1024 ]] && { label="1 KiB"; n=$N1K; }
    for target in sluice kafka; do
        [[ -n "${RESULT[$target,$size]:-}" ]] || continue
        read -r pr pm cr cm <<<"${RESULT[$target,$size]}"
        printf "%-8s %-7s %10d %14.0f %12.1f %14.0f %12.1f\n" "$label" "$target" "$n" "$pr" "$pm" \
            "$cr" "$cm"
    done
    if [[ -n "${RESULT[kafka,$size]:-}" ]]; then
        read -r spr spm scr scm <<<"${RESULT[sluice,$size]}"
        read -r kpr kpm kcr kcm <<<"${RESULT[kafka,$size]}"
        echo "$label ratio sluice/kafka: produce $(ratio "$spr" "$kpr")x, consume $(ratio "$scr" "$kcr")x"
    fi
done
echo "producer: acks=all, idempotent, linger.ms=5, batch.size=1000000; MB/s counts values" \
    "(10^6 bytes); consume reads from the earliest to the latest offset."
echo "sluice fsyncs every acks=all produce (group commit); Apache Kafka ran with" \
    "$([[ "${KAFKA_PEER_FSYNC:-0}" == 1 ]] && echo "log.flush.interval.messages=1 (fsync per append)" \
    || echo "its default flush policy (page cache, no fsync on the produce path)")."
[[ -n "$PEER" ]] || echo "peer: no ratio printed (Apache Kafka not run)."
