"""The seed's Spark Structured Streaming job (users_created -> spark_streams.created_users), as
the peer of `sluice process` in bench/bench_spark.sh.

The job logic is the seed's: a Cassandra keyspace and table created up front with the Python
Cassandra driver, a Kafka source from the earliest offsets, `CAST(value AS STRING)`, `from_json`
with the seed's schema (eleven string fields, no `dob`), and a streaming write with
`format("org.apache.spark.sql.cassandra")` and a checkpoint, on the connector's default write
settings. What differs, for the bench: the addresses, topic and checkpoint come from arguments;
Spark runs in local mode (`--master`, default local[2]) with the jars given by `--jars` (fetched
by Maven, see spark-env.sh) instead of `spark.jars.packages`; the table also has the `dob` column
(the seed inserts `dob` in its other code path but forgot it in CREATE TABLE; sluice's table has
it, DESIGN.md); and the bench can stop the query:

  --stop-after N   stop once N input rows have been committed (micro-batches report
                   numInputRows after their write to Cassandra finished)
  --stop-file F    stop once the file F exists

On stop it prints one line, `spark-job: {json}`: rows, seconds from the query's start to the
commit of the N-th row, rows/s over that, the span from the start of the first micro-batch that
read rows to the end of the last one (what sluice's own rate is measured over), the driver JVM's peak RSS (VmHWM) and CPU seconds (while the
query ran, and in all), the Python process's, and the micro-batch count.
"""

import argparse
import datetime
import json
import logging
import os
import resource
import sys
import time

from cassandra.cluster import Cluster
from pyspark.sql import SparkSession
from pyspark.sql.functions import col, from_json
from pyspark.sql.types import StringType, StructField, StructType

SEED_FIELDS = ["id", "first_name", "last_name", "gender", "address", "post_code", "email",
               "username", "registered_date", "phone", "picture"]


def create_keyspace(session, keyspace):
    session.execute(
        "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': '1'}" % keyspace)


def create_table(session, keyspace):
    session.execute(
        "CREATE TABLE IF NOT EXISTS %s.created_users (id UUID PRIMARY KEY, first_name TEXT, "
        "last_name TEXT, gender TEXT, address TEXT, post_code TEXT, email TEXT, username TEXT, "
        "dob TEXT, registered_date TEXT, phone TEXT, picture TEXT)" % keyspace)


def create_spark_connection(args):
    builder = (SparkSession.builder.appName("SparkDataStreaming")
               .master(args.master)
               .config("spark.driver.memory", args.driver_memory)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.cassandra.connection.host", args.cassandra_host)
               .config("spark.cassandra.connection.port", str(args.cassandra_port)))
    if args.jars:
        builder = builder.config("spark.jars", args.jars)
    s_conn = builder.getOrCreate()
    s_conn.sparkContext.setLogLevel("ERROR")
    return s_conn


def connect_to_kafka(spark_conn, args):
    return (spark_conn.readStream.format("kafka")
            .option("kafka.bootstrap.servers", args.bootstrap)
            .option("subscribe", args.topic)
            .option("startingOffsets", "earliest")
            .load())


def create_selection_df_from_kafka(spark_df):
    schema = StructType([StructField(name, StringType(), False) for name in SEED_FIELDS])
    return (spark_df.selectExpr("CAST(value AS STRING)")
            .select(from_json(col("value"), schema).alias("data")).select("data.*"))


def proc_stats(pid):
    """(peak RSS MB, current RSS MB, CPU seconds) of a process, from /proc."""
    hwm = rss = 0.0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024.0
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024.0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return hwm, rss, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", default="localhost:9092")
    ap.add_argument("--topic", default="users_created")
    ap.add_argument("--cassandra", default="localhost:9042", help="HOST:PORT")
    ap.add_argument("--keyspace", default="spark_streams")
    ap.add_argument("--checkpoint", default="/tmp/checkpoint")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="1g")
    ap.add_argument("--jars", default="", help="comma-separated jar paths")
    ap.add_argument("--stop-after", type=int, default=0)
    ap.add_argument("--stop-file", default="")
    ap.add_argument("--timeout", type=float, default=0,
                    help="with --stop-after: give up (exit 1) after this many seconds")
    ap.add_argument("--ready-file", default="", help="gets the time (epoch ms) the query started")
    args = ap.parse_args()
    args.cassandra_host, port = args.cassandra.rsplit(":", 1)
    args.cassandra_port = int(port)
    logging.basicConfig(level=logging.WARNING)

    t_launch = time.time()
    spark_conn = create_spark_connection(args)
    jvm_pid = int(spark_conn._jvm.java.lang.ProcessHandle.current().pid())
    spark_df = connect_to_kafka(spark_conn, args)
    selection_df = create_selection_df_from_kafka(spark_df)

    cluster = Cluster([args.cassandra_host], port=args.cassandra_port)
    session = cluster.connect()
    create_keyspace(session, args.keyspace)
    create_table(session, args.keyspace)
    cluster.shutdown()

    streaming_query = (selection_df.writeStream.format("org.apache.spark.sql.cassandra")
                       .option("checkpointLocation", args.checkpoint)
                       .option("keyspace", args.keyspace)
                       .option("table", "created_users")
                       .start())
    t_start = time.time()
    cpu_start = proc_stats(jvm_pid)[2]
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("%d\n" % int(t_start * 1000))
    print("spark-job: query started %.1f s after launch (jvm pid %d)" % (t_start - t_launch, jvm_pid),
          flush=True)

    rows_by_batch = {}
    span_by_batch = {}  # batchId -> (start, end) in epoch seconds, batches that read rows
    t_done = None
    peak_jvm = 0.0
    while streaming_query.isActive:
        for p in streaming_query.recentProgress:
            rows_by_batch[p["batchId"]] = p["numInputRows"]
            if p["numInputRows"] > 0:
                b0 = datetime.datetime.strptime(p["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                span_by_batch[p["batchId"]] = (b0, b0 + p["durationMs"]["triggerExecution"] / 1e3)
        rows = sum(rows_by_batch.values())
        peak_jvm = max(peak_jvm, proc_stats(jvm_pid)[0])
        if args.stop_after and rows >= args.stop_after:
            t_done = time.time()
            break
        if args.stop_file and os.path.exists(args.stop_file):
            t_done = time.time()
            break
        if args.timeout and time.time() - t_start > args.timeout:
            print("spark-job: only %d of %d rows after %.0f s; giving up" % (rows, args.stop_after, args.timeout),
                  file=sys.stderr, flush=True)
            streaming_query.stop()
            spark_conn.stop()
            sys.exit(1)
        time.sleep(0.1)
    if streaming_query.exception() is not None:
        print("spark-job: query failed: %s" % streaming_query.exception(), file=sys.stderr)
        sys.exit(1)
    hwm, _, cpu = proc_stats(jvm_pid)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rows = sum(rows_by_batch.values())
    secs = (t_done or time.time()) - t_start
    summary = {
        "rows": rows,
        "seconds": round(secs, 2),
        "rows_per_s": round(rows / secs) if secs > 0 else 0,
        "batch_span_s": round(max(e for _, e in span_by_batch.values())
                              - min(b for b, _ in span_by_batch.values()), 2) if span_by_batch else 0,
        "startup_s": round(t_start - t_launch, 2),
        "jvm_peak_rss_mb": round(max(hwm, peak_jvm), 1),
        "jvm_cpu_s": round(cpu - cpu_start, 2),
        "jvm_cpu_total_s": round(cpu, 2),
        "python_peak_rss_mb": round(ru.ru_maxrss / 1024.0, 1),
        "python_cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "batches": len(rows_by_batch),
    }
    print("spark-job: " + json.dumps(summary), flush=True)
    streaming_query.stop()
    spark_conn.stop()


if __name__ == "__main__":
    main()
