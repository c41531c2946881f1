#!/usr/bin/env bash
# Footprint (issue 12, point 4): `sluice up` against the seed's stack of JVMs, in one invocation.
#   JVM stack: Apache Kafka 4.x and Apache Cassandra 5.0 (Maven jars, tests/engines/*-server.sh,
#   heaps 1G, started at the same time) and then the seed's Spark job (bench/spark/spark_stream.py,
#   PySpark 3.5.7, local[2], driver 1g) subscribed to users_created. Ready = Kafka serves its port,
#   Cassandra answers CQL, and the Spark query has started.
#   sluice: `sluice up --no-ingest` (broker, stream job into SQLite, scheduler with the web UI).
#   Ready = it prints "sluice is up".
#   Then each stack gets the same BENCH_FOOTPRINT_N users (`sluice ingest --source generator`)
#   and we wait until its store holds them. Every 0.5 s from start to the end, the RSS of every
#   process of the stack (JVMs, Python, sluice and its children) is summed, as is the PSS
#   (proportional set size, /proc/PID/smaps_rollup: shared pages counted once); the peaks are
#   printed with the time to ready and the time to store the N users.
#   Airflow (the seed's scheduler and UI) is not run: its documented minimum is quoted.
# Usage: bench/bench_footprint.sh BUILD_DIR. Skips (exit 0, with a notice) without java, mvn,
# PyPI or Debian's python3-cassandra.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_footprint.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENGINES="$HERE/../tests/engines"
SLUICE="$BUILD/sluice"
PY=/usr/bin/python3
N=${BENCH_FOOTPRINT_N:-50000}
[[ -x "$SLUICE" ]] || { echo "bench_footprint: $SLUICE is not built" >&2; exit 1; }
skip() { echo "bench_footprint: skipped ($1)"; exit 0; }
command -v java >/dev/null || skip "no java"
"$PY" -c 'import cassandra' 2>/dev/null || skip "no python3-cassandra"
SPARK_LIBS=$("$HERE/spark/spark-env.sh" jars) || skip "no Spark connector jars (mvn?)"
VENV=$("$HERE/spark/spark-env.sh" venv) || skip "no pyspark (PyPI unreachable?)"
"$ENGINES/cassandra-jars.sh" server >/dev/null || skip "no Cassandra jars"
"$ENGINES/kafka-jars.sh" >/dev/null || skip "no Kafka jars"
PYSPARK_JARS=$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
JARS=""
for j in "$SPARK_LIBS"/*.jar; do
    a=$(basename "$j" | sed -E 's/-[0-9][^-]*(-[A-Za-z0-9.]+)*\.jar$//')
    compgen -G "$PYSPARK_JARS/$a-[0-9]*.jar" >/dev/null && continue
    JARS="${JARS:+$JARS,}$j"
done

WORK=$(mktemp -d "$BUILD/bench-footprint.XXXXXX")
SPID="" UPID=""
cleanup() {
    [[ -n "$SPID" ]] && kill -KILL "$SPID" 2>/dev/null
    if [[ -n "$UPID" ]]; then
        kill -INT "$UPID" 2>/dev/null || true
        timeout 30 tail --pid="$UPID" -f /dev/null 2>/dev/null || kill -KILL "$UPID" 2>/dev/null || true
    fi
    "$ENGINES/cassandra-server.sh" kill "$WORK/cassandra" 2>/dev/null || true
    "$ENGINES/kafka-server.sh" stop "$WORK/kafka" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
descendants() {
    local p=$1
    echo "$p"
    for c in $(pgrep -P "$p" || true); do descendants "$c"; done
}
PEAK_RSS=0 PEAK_PSS=0
sample() { # ROOT_PIDS...: adds one sample of the summed RSS/PSS (kB) of the pids and descendants
    local sum=0 pss=0 p kb pkb
    for p in $(for r in "$@"; do descendants "$r"; done | sort -u); do
        [[ -r /proc/$p/status ]] || continue
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        pkb=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
        sum=$((sum + ${kb:-0}))
        pss=$((pss + ${pkb:-0}))
    done
    ((sum > PEAK_RSS)) && PEAK_RSS=$sum
    ((pss > PEAK_PSS)) && PEAK_PSS=$pss
    return 0
}
mb() { awk -v kb="$1" 'BEGIN { printf "%.0f", kb / 1024 }'; }
pid_of() { cat "$1" 2>/dev/null || true; }

echo "bench_footprint: $(date -u '+%Y-%m-%d %H:%M UTC'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the JVM stack ---
KPORT=$(free_port)
CPORT=$(free_port)
t0=$(now_ms)
# Each start script returns once its server is ready; the time it returned is noted in a file.
("$ENGINES/kafka-server.sh" start "$WORK/kafka" "$KPORT" && now_ms >"$WORK/kafka.ready") \
    >"$WORK/kafka.out" 2>&1 &
KSTART=$!
("$ENGINES/cassandra-server.sh" start "$WORK/cassandra" "$CPORT" && now_ms >"$WORK/cassandra.ready") \
    >"$WORK/cassandra.out" 2>&1 &
CSTART=$!
jvm_pids() { echo "$(pid_of "$WORK/kafka/kafka.pid") $(pid_of "$WORK/cassandra/cassandra.pid") $SPID"; }
k_ready="" c_ready=""
while [[ -z "$k_ready" || -z "$c_ready" ]]; do
    # shellcheck disable=SC2046
    sample $(jvm_pids)
    if [[ -z "$k_ready" ]] && ! kill -0 "$KSTART" 2>/dev/null; then
        wait "$KSTART" || { echo "bench_footprint: Kafka did not start" >&2; cat "$WORK/kafka.out" >&2; exit 1; }
        k_ready=$(($(cat "$WORK/kafka.ready") - t0))
    fi
    if [[ -z "$c_ready" ]] && ! kill -0 "$CSTART" 2>/dev/null; then
        wait "$CSTART" || { echo "bench_footprint: Cassandra did not start" >&2; cat "$WORK/cassandra.out" >&2; exit 1; }
        c_ready=$(($(cat "$WORK/cassandra.ready") - t0))
    fi
    sleep 0.5
done
BOOT="127.0.0.1:$KPORT"
"$ENGINES/kafka-tool.sh" topics --bootstrap-server "$BOOT" --create --topic users_created \
    --partitions 1 --replication-factor 1 >/dev/null
"$VENV/bin/python" "$HERE/spark/spark_stream.py" --bootstrap "$BOOT" --topic users_created \
    --cassandra "127.0.0.1:$CPORT" --checkpoint "$WORK/ckpt" --jars "$JARS" --master 'local[2]' \
    --driver-memory 1g --stop-file "$WORK/stop" --ready-file "$WORK/ready" >"$WORK/spark.log" 2>&1 &
SPID=$!
while [[ ! -s "$WORK/ready" ]]; do
    kill -0 "$SPID" 2>/dev/null || { echo "bench_footprint: the Spark job exited" >&2; tail -20 "$WORK/spark.log" >&2; exit 1; }
    # shellcheck disable=SC2046
    sample $(jvm_pids)
    sleep 0.5
done
jvm_ready=$(($(head -1 "$WORK/ready") - t0))
"$SLUICE" ingest --source generator --count "$N" --bootstrap "$BOOT" --topic users_created \
    >"$WORK/ingest-jvm.log" 2>&1 &
IPID=$!
count_cassandra() {
    "$PY" - "$CPORT" <<'EOF' 2>/dev/null || echo 0
import sys
from cassandra.cluster import Cluster
c = Cluster(["127.0.0.1"], port=int(sys.argv[1]))
from cassandra.query import SimpleStatement
q = SimpleStatement("SELECT id FROM spark_streams.created_users", fetch_size=5000)
print(sum(1 for _ in c.connect().execute(q, timeout=60)))
c.shutdown()
EOF
}
t1=$(now_ms)
deadline=$((SECONDS + 600))
stored=0
while ((SECONDS < deadline)); do
    # shellcheck disable=SC2046
    sample $(jvm_pids)
    stored=$(count_cassandra)
    [[ "$stored" == "$N" ]] && break
    sleep 0.5
done
jvm_drain=$(($(now_ms) - t1))
wait "$IPID" || true
# shellcheck disable=SC2046
sample $(jvm_pids)
JVM_RSS=$PEAK_RSS JVM_PSS=$PEAK_PSS
[[ "$stored" == "$N" ]] || echo "bench_footprint: the Spark job stored $stored of $N within 600 s" >&2
touch "$WORK/stop"
timeout 60 tail --pid="$SPID" -f /dev/null 2>/dev/null || kill -KILL "$SPID" 2>/dev/null || true
SPID=""
"$ENGINES/cassandra-server.sh" stop "$WORK/cassandra" >/dev/null 2>&1 || true
"$ENGINES/kafka-server.sh" stop "$WORK/kafka" >/dev/null 2>&1 || true

# --- sluice up ---
PEAK_RSS=0 PEAK_PSS=0
UPORT=$(free_port)
mkdir -p "$WORK/up/dags"
UIPORT=$(free_port)
cd "$WORK/up"
t0=$(now_ms)
"$SLUICE" up --listen "127.0.0.1:$UPORT" --ui-listen "127.0.0.1:$UIPORT" \
    --data-dir "$WORK/up/data" --no-ingest >"$WORK/up.log" 2>&1 &
UPID=$!
i=0
while ! grep -q "sluice is up" "$WORK/up.log" 2>/dev/null; do
    kill -0 "$UPID" 2>/dev/null || { echo "bench_footprint: sluice up exited" >&2; tail "$WORK/up.log" >&2; exit 1; }
    ((i++ % 10 == 0)) && sample "$UPID"
    sleep 0.05
done
up_ready=$(($(now_ms) - t0))
"$SLUICE" ingest --source generator --count "$N" --bootstrap "127.0.0.1:$UPORT" \
    --topic users_created >"$WORK/ingest-up.log" 2>&1 &
IPID=$!
t1=$(now_ms)
deadline=$((SECONDS + 600))
stored=0
while ((SECONDS < deadline)); do
    sample "$UPID"
    stored=$("$SLUICE" query --data-dir "$WORK/up/data" "SELECT count(*) FROM created_users" 2>/dev/null |
        sed -n 3p | tr -d ' ')
    [[ "$stored" == "$N" ]] && break
    sleep 0.5
done
up_drain=$(($(now_ms) - t1))
wait "$IPID" || true
sample "$UPID"
[[ "$stored" == "$N" ]] || echo "bench_footprint: sluice up stored $stored of $N within 600 s" >&2
cd "$BUILD"

echo "bench_footprint: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %12s %12s %10s %14s\n' "" "ready (ms)" "peak RSS MB" "peak PSS MB" "store $N (ms)"
printf '%-44s %12s %12s %10s %14s\n' "Kafka + Cassandra + Spark job (JVMs)" "$jvm_ready" "$(mb "$JVM_RSS")" \
    "$(mb "$JVM_PSS")" "$jvm_drain"
printf '%-44s %12s %12s %10s %14s\n' "sluice up (broker, process, scheduler+UI)" "$up_ready" "$(mb "$PEAK_RSS")" \
    "$(mb "$PEAK_PSS")" "$up_drain"
echo "  (Kafka ready after $k_ready ms and Cassandra after $c_ready ms, started together; then the Spark job)"
awk -v j="$JVM_PSS" -v s="$PEAK_PSS" -v jr="$jvm_ready" -v sr="$up_ready" 'BEGIN {
    printf "ratio JVM stack / sluice up: PSS %.0fx, time to ready %.0fx\n", j / s, jr / sr }'
echo "Airflow, the seed's scheduler and UI, is not run here; its docs (Running Airflow in Docker)"
echo "  ask for at least 4 GB of memory for its containers, on top of the JVM stack above."
