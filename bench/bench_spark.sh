#!/usr/bin/env bash
# The stream job against the seed's Spark Structured Streaming job (issue 12, point 2), in one
# invocation, on the same Apache Kafka topic and the same Cassandra table:
#   Apache Kafka 4.x (tests/engines/kafka-server.sh; the seed used Kafka, so the peer's own broker
#   is used for both jobs, not sluice's) and Apache Cassandra 5.0 (cassandra-server.sh), both from
#   Maven jars, heaps 1G; a topic users_created with BENCH_SPARK_PARTITIONS partitions filled
#   with N users by `sluice ingest --source generator`; the node warmed up by the Java driver;
#   then, into spark_streams.created_users, truncated between runs, in the order (c) (b) (c) (a)
#   (the node keeps warming up: the Java driver brackets sluice, Spark comes last, warmest):
#   (a) the seed's job (bench/spark/spark_stream.py: PySpark 3.5.7 from PyPI in a cached venv,
#       spark-sql-kafka-0-10 3.5.7 and spark-cassandra-connector 3.5.1 from Maven, local[2],
#       driver 1g, a fresh checkpoint) drains the topic;
#   (b) `sluice process` drains the same topic (its own consumer group);
#   (c) the DataStax Java driver's async writer (bench/java/CassandraPeer.java, as
#       bench_cassandra.sh runs it) writes N rows of the same shape (its own generated rows:
#       it does not read Kafka; the node's write ceiling).
#   Printed: rows/s, ratios sluice/spark and sluice/java, peak RSS (Spark: the driver JVM's
#   VmHWM; sluice: its VmHWM), CPU seconds per 100k rows.
#   Then end-to-end latency at a steady rate (BENCH_SPARK_LAT_RATE records/s for
#   BENCH_SPARK_LAT_SECONDS) for Spark and for sluice, each on a fresh topic, measured the same
#   way by bench/spark/latency.py: a paced producer notes each record's produce time, a poller
#   reads the table for sampled ids every 25 ms; latency = first poll that sees the row minus
#   produce time (after a warm-up of 2 s worth of records, waited for).
#   BENCH_SPARK_N (default 100000), BENCH_SPARK_WARM (200000), BENCH_SPARK_PARTITIONS (2),
#   BENCH_SPARK_LAT_RATE (500), BENCH_SPARK_LAT_SECONDS (30; 0 = no latency phase),
#   BENCH_SPARK_PLOT=FILE.svg: the two jobs' end-to-end latency CDFs (bench/plot_cdf.py).
# Usage: bench/bench_spark.sh BUILD_DIR. Skips (exit 0, with a notice) without java, javac, mvn,
# PyPI or Debian's python3-kafka/python3-cassandra.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_spark.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENGINES="$HERE/../tests/engines"
SLUICE="$BUILD/sluice"
PY=/usr/bin/python3
N=${BENCH_SPARK_N:-100000}
WARM=${BENCH_SPARK_WARM:-200000}
PARTS=${BENCH_SPARK_PARTITIONS:-2}
LAT_RATE=${BENCH_SPARK_LAT_RATE:-500}
LAT_SECS=${BENCH_SPARK_LAT_SECONDS:-30}
KS=spark_streams
[[ -x "$SLUICE" ]] || { echo "bench_spark: $SLUICE is not built" >&2; exit 1; }
skip() { echo "bench_spark: skipped ($1)"; exit 0; }
command -v java >/dev/null || skip "no java"
command -v javac >/dev/null || skip "no javac"
"$PY" -c 'import kafka, cassandra' 2>/dev/null || skip "no python3-kafka/python3-cassandra"
SPARK_LIBS=$("$HERE/spark/spark-env.sh" jars) || skip "no Spark connector jars (mvn?)"
VENV=$("$HERE/spark/spark-env.sh" venv) || skip "no pyspark (PyPI unreachable?)"
DRIVER=$("$ENGINES/cassandra-jars.sh" driver) || skip "no Java driver jars"
"$ENGINES/cassandra-jars.sh" server >/dev/null || skip "no Cassandra jars"
"$ENGINES/kafka-jars.sh" >/dev/null || skip "no Kafka jars"
# spark.jars: the Maven set minus the artifacts pyspark already ships (other versions of
# scala-library, slf4j, snappy... would clash with Spark's own).
PYSPARK_JARS=$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
JARS=""
for j in "$SPARK_LIBS"/*.jar; do
    a=$(basename "$j" | sed -E 's/-[0-9][^-]*(-[A-Za-z0-9.]+)*\.jar$//')
    compgen -G "$PYSPARK_JARS/$a-[0-9]*.jar" >/dev/null && continue
    JARS="${JARS:+$JARS,}$j"
done

WORK=$(mktemp -d "$BUILD/bench-spark.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    "$ENGINES/cassandra-server.sh" kill "$WORK/cassandra" 2>/dev/null || true
    "$ENGINES/kafka-server.sh" stop "$WORK/kafka" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    # The jobs' logs of the last run stay in BUILD/bench-spark-logs.
    rm -rf "$BUILD/bench-spark-logs"
    mkdir -p "$BUILD/bench-spark-logs"
    cp "$WORK"/*.log "$BUILD/bench-spark-logs/" 2>/dev/null || true
    tail -n 300 "$WORK/cassandra/server.log" >"$BUILD/bench-spark-logs/cassandra-tail.log" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
cql() { # STATEMENT: runs it on the node, prints the first column of the first row if any
    "$PY" - "$CPORT" "$1" <<'EOF'
import sys
from cassandra.cluster import Cluster
c = Cluster(["127.0.0.1"], port=int(sys.argv[1]))
s = c.connect()
rows = list(s.execute(sys.argv[2], timeout=120))
if rows:
    print(rows[0][0])
c.shutdown()
EOF
}
count_rows() { # rows in the table, counted by paging through the ids (a count(*) over 100k rows
    # failed with ReadFailure on the loaded node)
    "$PY" - "$CPORT" "$KS" <<'EOF'
import sys
from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement
c = Cluster(["127.0.0.1"], port=int(sys.argv[1]))
s = c.connect()
q = SimpleStatement("SELECT id FROM %s.created_users" % sys.argv[2], fetch_size=5000)
print(sum(1 for _ in s.execute(q, timeout=120)))
c.shutdown()
EOF
}

echo "bench_spark: $(date -u '+%Y-%m-%d %H:%M UTC'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
KPORT=$(free_port)
CPORT=$(free_port)
BOOT=$("$ENGINES/kafka-server.sh" start "$WORK/kafka" "$KPORT")
# Server-side timeouts 5x the defaults: on a loaded 2-core machine a write can wait more than 2 s,
# and a failed write would end the Java driver's run (both jobs retry).
CASSANDRA_YAML_EXTRA=$'write_request_timeout: 10000ms\nread_request_timeout: 25000ms\nrange_request_timeout: 50000ms' \
    "$ENGINES/cassandra-server.sh" start "$WORK/cassandra" "$CPORT" >/dev/null
topic() { "$ENGINES/kafka-tool.sh" topics --bootstrap-server "$BOOT" --create --topic "$1" \
    --partitions "$PARTS" --replication-factor 1 >/dev/null; }
topic users_created
echo "Apache Kafka at $BOOT, Cassandra at 127.0.0.1:$CPORT; topic users_created ($PARTS partitions)"
echo "filling users_created with $N generated users"
"$SLUICE" ingest --source generator --count "$N" --bootstrap "$BOOT" --topic users_created \
    >"$WORK/ingest.log" 2>&1
mkdir -p "$WORK/java"
javac -cp "$DRIVER/*" -d "$WORK/java" "$HERE/java/CassandraPeer.java"
peer() { # KEYSPACE ROWS
    if ! java -Xmx512m -cp "$WORK/java:$DRIVER/*" CassandraPeer "$CPORT" "$1" "$2" 1000 \
        >"$WORK/peer.out" 2>"$WORK/peer.log"; then
        echo "bench_spark: the Java driver peer failed:" >&2
        tail -20 "$WORK/peer.log" >&2
        return 1
    fi
    tail -1 "$WORK/peer.out"
}
echo "warm-up: $WARM rows by the Java driver into ks_warm"
w=$(peer ks_warm "$WARM") || exit 1
echo "  $w"

spark_job() { # TOPIC CHECKPOINT ARGS...: runs spark_stream.py in the background, pid in SPID
    local topic=$1 ckpt=$2
    shift 2
    "$VENV/bin/python" "$HERE/spark/spark_stream.py" --bootstrap "$BOOT" --topic "$topic" \
        --cassandra "127.0.0.1:$CPORT" --keyspace "$KS" --checkpoint "$ckpt" --jars "$JARS" \
        --master 'local[2]' --driver-memory 1g "$@" >"$WORK/spark-$topic.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
}

# (c) the Java driver's async writer into the same table, before and after sluice process (the
# node keeps warming up; the two bracket sluice's run and their mean is the ceiling)
java_run() { # LABEL: prints the line, sets jrate_LABEL / jcpu_LABEL
    local line
    line=$(peer "$KS" "$N") || exit 1
    echo "  $line"
    printf -v "jrate_$1" '%s' "$(echo "$line" | sed -E 's/.*= ([0-9]+) rows\/s.*/\1/')"
    printf -v "jcpu_$1" '%s' "$(echo "$line" | sed -E 's/.*cpu ([0-9.]+) s.*/\1/')"
    cql "TRUNCATE $KS.created_users" >/dev/null
}
echo "(c) DataStax Java driver async writer, before sluice process"
cql "CREATE KEYSPACE IF NOT EXISTS $KS WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" >/dev/null
java_run 1

# (b) sluice process, the same topic into the same (truncated) table
echo "(b) sluice process draining users_created"
# The job's own stats lines say when it has stored N (a query every 0.5 s, as before, cost
# a process start and a new connection on the node each time, during sluice's run only).
"$SLUICE" process --bootstrap "$BOOT" --topic users_created --group bench-sluice \
    --store "cassandra://127.0.0.1:$CPORT/$KS?consistency=ONE" --stats-interval 250ms \
    >"$WORK/process.log" 2>&1 &
PPID_=$!
PIDS+=("$PPID_")
deadline=$((SECONDS + 600))
until grep -q " stored $N (" "$WORK/process.log" || ((SECONDS >= deadline)); do sleep 0.1; done
s=$("$SLUICE" query --store "cassandra://127.0.0.1:$CPORT/$KS" --json \
    "SELECT next_offset FROM sluice_offsets" 2>/dev/null |
    "$PY" -c 'import json,sys
try: print(sum(x["next_offset"] for x in json.load(sys.stdin)))
except Exception: print(0)') || s=0
scpu=$(cpu_s "$PPID_")
srss=$(hwm_mb "$PPID_")
kill -TERM "$PPID_"
wait "$PPID_" || true
[[ "$s" == "$N" ]] || { echo "bench_spark: sluice process stored $s of $N" >&2; tail "$WORK/process.log" >&2; exit 1; }
n=$(count_rows)
[[ "$n" == "$N" ]] || { echo "bench_spark: sluice process stored $n rows of $N" >&2; exit 1; }
srate=$(grep "summary:" "$WORK/process.log" | sed -E 's/.* rate ([0-9]+)\/s.*/\1/')
echo "  sluice process: $N rows at $srate rows/s, peak RSS $srss MB, cpu $scpu s"
cql "TRUNCATE $KS.created_users" >/dev/null

echo "(c) DataStax Java driver async writer, after sluice process"
java_run 2
jrate=$(( (jrate_1 + jrate_2) / 2 ))
jcpu=$(awk -v a="$jcpu_1" -v b="$jcpu_2" 'BEGIN { print (a + b) / 2 }')

# (a) the seed's Spark job, last: the node is then at its warmest (in Spark's favour)
echo "(a) Spark job draining users_created"
spark_job users_created "$WORK/ckpt-a" --stop-after "$N" --timeout 1200
wait "$SPID" || { echo "bench_spark: the Spark job failed:" >&2; tail -30 "$WORK/spark-users_created.log" >&2; exit 1; }
SPARK=$(sed -n 's/.*spark-job: {/{/p' "$WORK/spark-users_created.log")
echo "  $SPARK"
n=$(count_rows)
[[ "$n" == "$N" ]] || { echo "bench_spark: Spark stored $n rows of $N" >&2; exit 1; }

# Latency at a steady rate, each job on a fresh topic, the table truncated between.
LAT_SPARK="" LAT_SLUICE=""
if ((LAT_SECS > 0)); then
    cql "TRUNCATE $KS.created_users" >/dev/null
    topic lat_spark
    topic lat_sluice
    echo "latency: Spark job, $LAT_RATE records/s for $LAT_SECS s"
    spark_job lat_spark "$WORK/ckpt-lat" --stop-file "$WORK/stop-spark"
    LAT_SPARK=$(LATENCY_SAMPLES="$WORK/lat-spark.ms" "$PY" "$HERE/spark/latency.py" "$BOOT" lat_spark "$CPORT" "$KS" "$LAT_RATE" "$LAT_SECS" |
        sed -n 's/^latency: //p')
    touch "$WORK/stop-spark"
    wait "$SPID" || true
    echo "  $LAT_SPARK"
    cql "TRUNCATE $KS.created_users" >/dev/null
    echo "latency: sluice process, $LAT_RATE records/s for $LAT_SECS s"
    "$SLUICE" process --bootstrap "$BOOT" --topic lat_sluice --group bench-lat \
        --store "cassandra://127.0.0.1:$CPORT/$KS?consistency=ONE" --stats-interval 0 \
        >"$WORK/process-lat.log" 2>&1 &
    LPID=$!
    PIDS+=("$LPID")
    LAT_SLUICE=$(LATENCY_SAMPLES="$WORK/lat-sluice.ms" "$PY" "$HERE/spark/latency.py" "$BOOT" lat_sluice "$CPORT" "$KS" "$LAT_RATE" "$LAT_SECS" |
        sed -n 's/^latency: //p')
    kill -TERM "$LPID"
    wait "$LPID" || true
    echo "  $LAT_SLUICE"
    if [[ -n "${BENCH_SPARK_PLOT:-}" && -s "$WORK/lat-spark.ms" && -s "$WORK/lat-sluice.ms" ]]; then
        "$PY" "$HERE/plot_cdf.py" "$BENCH_SPARK_PLOT" \
            "End-to-end latency into Cassandra (produce to row visible) at $LAT_RATE records/s" 1 \
            "sluice process=$WORK/lat-sluice.ms" "Spark job=$WORK/lat-spark.ms" ||
            echo "bench_spark: the plot failed" >&2
    fi
fi

echo "bench_spark: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Java driver runs: $jrate_1 and $jrate_2 rows/s (cpu $jcpu_1 and $jcpu_2 s); their mean below"
"$PY" - "$N" "$SPARK" "$srate" "$srss" "$scpu" "$jrate" "$jcpu" "$LAT_SPARK" "$LAT_SLUICE" <<'EOF'
import json, sys
n = int(sys.argv[1]); sp = json.loads(sys.argv[2])
srate, srss, scpu, jrate, jcpu = map(float, sys.argv[3:8])
sp_rate = n / sp["batch_span_s"] if sp["batch_span_s"] > 0 else sp["rows_per_s"]
per = lambda c: c * 1e5 / n
print(f"{'':28s} {'rows/s':>9s} {'peak RSS MB':>12s} {'CPU s/100k rows':>16s}")
print(f"{'Spark job (PySpark 3.5.7)':28s} {sp_rate:9.0f} {sp['jvm_peak_rss_mb'] + sp['python_peak_rss_mb']:12.1f} "
      f"{per(sp['jvm_cpu_s']):16.2f}   (JVM {sp['jvm_peak_rss_mb']} MB + Python {sp['python_peak_rss_mb']} MB; "
      f"{sp['rows_per_s']} rows/s from query start; {sp['batches']} micro-batches; start-up {sp['startup_s']} s)")
print(f"{'sluice process':28s} {srate:9.0f} {srss:12.1f} {per(scpu):16.2f}")
print(f"{'Java driver async (ceiling)':28s} {jrate:9.0f} {'':>12s} {per(jcpu):16.2f}")
print(f"ratio sluice/spark {srate / sp_rate:.2f} (rows/s), {sp['jvm_cpu_s'] / scpu:.1f}x less CPU per row, "
      f"{(sp['jvm_peak_rss_mb'] + sp['python_peak_rss_mb']) / srss:.0f}x less memory")
print(f"ratio sluice/java-driver {srate / jrate:.2f} (rows/s); CPU per row sluice/java {scpu / jcpu:.2f}")
for name, raw in (("Spark job", sys.argv[8]), ("sluice process", sys.argv[9])):
    if raw:
        l = json.loads(raw)
        print(f"end-to-end latency {name:15s} at {l['rate']:.0f}/s: p50 {l['p50_ms']} ms, p99 {l['p99_ms']} ms, "
              f"max {l['max_ms']} ms ({l['seen']} of {l['samples']} samples seen)")
EOF
