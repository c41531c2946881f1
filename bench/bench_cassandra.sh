#!/usr/bin/env bash
# Rows/s into Apache Cassandra 5.0 (one node on loopback, from Maven jars): `sluice process`
# (topic -> decode -> sluice's CQL client, prepared INSERT USING TIMESTAMP, ~1024 in flight,
# LWT-fenced offsets) against the DataStax Java driver 4.x writing the same kind of rows
# (bench/java/CassandraPeer.java: prepared INSERT, executeAsync, ~1000 in flight), into the same
# node in the same run, after a warm-up of the node (a fresh node is slow while its JIT warms).
# Prints both rates, the CPU each client used, and the ratio.
#   BENCH_CASSANDRA_N      rows per measured run (default 300000)
#   BENCH_CASSANDRA_WARM   warm-up rows written by the Java driver first (default 300000)
#   BENCH_CASSANDRA_ROUNDS measured rounds (default 2; odd rounds run sluice first, even rounds
#                          the Java driver first, since the node keeps warming up)
# Usage: bench/bench_cassandra.sh BUILD_DIR. Skips (exit 0, with a notice) without java/mvn.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_cassandra.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENGINES="$HERE/../tests/engines"
SLUICE="$BUILD/sluice"
PY=/usr/bin/python3
N=${BENCH_CASSANDRA_N:-300000}
WARM=${BENCH_CASSANDRA_WARM:-300000}
ROUNDS=${BENCH_CASSANDRA_ROUNDS:-2}
INFLIGHT=1000
SLUICE_ARGS=${BENCH_CASSANDRA_SLUICE_ARGS:-} # e.g. "--batch-max 20000"
[[ -x "$SLUICE" ]] || { echo "bench_cassandra: $SLUICE is not built" >&2; exit 1; }
if ! command -v javac >/dev/null; then
    echo "bench_cassandra: skipped (no javac)"
    exit 0
fi
rc=0
DRIVER=$("$ENGINES/cassandra-jars.sh" driver) || rc=$?
[[ $rc -eq 0 ]] || { echo "bench_cassandra: skipped (no driver jars)"; exit 0; }
"$ENGINES/cassandra-jars.sh" server >/dev/null || { echo "bench_cassandra: skipped (no jars)"; exit 0; }

WORK=$(mktemp -d "$BUILD/bench-cassandra.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    "$ENGINES/cassandra-server.sh" kill "$WORK/cassandra" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { # PID: user+sys CPU seconds so far
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

BOOT="127.0.0.1:$(free_port)"
CPORT=$(free_port)
"$SLUICE" broker --listen "$BOOT" --data-dir "$WORK/broker" >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
"$ENGINES/cassandra-server.sh" start "$WORK/cassandra" "$CPORT" >/dev/null
mkdir -p "$WORK/java"
javac -cp "$DRIVER/*" -d "$WORK/java" "$HERE/java/CassandraPeer.java"
peer() { # KEYSPACE ROWS
    java -Xmx512m -cp "$WORK/java:$DRIVER/*" CassandraPeer "$CPORT" "$1" "$2" "$INFLIGHT" \
        2>"$WORK/peer.err" | tail -1
}

echo "filling topic bench with $N generated users"
"$SLUICE" ingest --source generator --count "$N" --bootstrap "$BOOT" --topic bench \
    >"$WORK/ingest.log" 2>&1
echo "warm-up: $WARM rows by the Java driver"
peer ks_warm "$WARM" | sed 's/^/  warm-up /'

sluice_run() { # ROUND: drains the topic into keyspace ks_sluice_ROUND; prints rate and cpu
    local ks="ks_sluice_$1" log="$WORK/process-$1.log"
    # The job's stats lines say when it has stored N (as in bench_spark.sh: a query a second
    # was a process start and a new connection on the node during sluice's runs only).
    "$SLUICE" process --bootstrap "$BOOT" --topic bench --group "bench$1" $SLUICE_ARGS \
        --store "cassandra://127.0.0.1:$CPORT/$ks?consistency=ONE" --stats-interval 250ms \
        >"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + 900)) s=0
    until grep -q " stored $N (" "$log" || ((SECONDS >= deadline)); do sleep 0.1; done
    s=$("$SLUICE" query --store "cassandra://127.0.0.1:$CPORT/$ks" --json \
        "SELECT next_offset FROM sluice_offsets" 2>/dev/null |
        "$PY" -c 'import json,sys
try: print(sum(x["next_offset"] for x in json.load(sys.stdin)))
except Exception: print(0)') || s=0
    local cpu
    cpu=$(cpu_s "$pid")
    kill -TERM "$pid"
    wait "$pid" || true
    [[ "$s" == "$N" ]] || { echo "sluice process stored $s of $N" >&2; tail "$log" >&2; exit 1; }
    local rate
    rate=$(grep "summary:" "$log" | sed -E 's/.* rate ([0-9]+)\/s.*/\1/')
    echo "$rate $cpu"
}

for r in $(seq "$ROUNDS"); do
    # The node keeps warming up: odd rounds run sluice first, even rounds the Java driver.
    if ((r % 2 == 0)); then
        jline=$(peer "ks_java_$r" "$N")
        echo "round $r: $jline"
    fi
    read -r srate scpu < <(sluice_run "$r")
    echo "round $r: sluice process: $N rows at $srate rows/s (client cpu ${scpu} s)"
    if ((r % 2 == 1)); then
        jline=$(peer "ks_java_$r" "$N")
        echo "round $r: $jline"
    fi
    jrate=$(echo "$jline" | sed -E 's/.*= ([0-9]+) rows\/s.*/\1/')
    jcpu=$(echo "$jline" | sed -E 's/.*cpu ([0-9.]+) s.*/\1/')
    "$PY" -c "import sys; s, j, sc, jc = map(float, sys.argv[1:]); print(f'round {sys.argv[0] if False else \"$r\"}: ratio sluice/java-driver {s/j:.2f} (rows/s); client CPU per 100k rows: sluice {sc*1e5/$N:.2f} s, java-driver {jc*1e5/$N:.2f} s')" \
        "$srate" "$jrate" "$scpu" "$jcpu"
done
