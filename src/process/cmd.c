/* `sluice process`: options, signal handling, and the periodic stats line; the job itself is
 * in job.c. */
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/kafka.h"
#include "core/log.h"
#include "core/metrics_http.h"
#include "core/units.h"
#include "process/job.h"
#include "store/store.h"

static const struct opt_def process_opts_def[] = {
    {"bootstrap", OPT_STRING, "127.0.0.1:9092", "HOST:PORT[,...]", "Kafka bootstrap servers"},
    {"topic", OPT_STRING, "users_created", "TOPIC", "topic to consume"},
    {"group", OPT_STRING, "sluice-process", "GROUP", "consumer group (instances share partitions)"},
    {"store", OPT_STRING, NULL, "URI",
     "sqlite:DIR[?params] or cassandra://... [default: sqlite:DATA_DIR/store]"},
    {"dlq-topic", OPT_STRING, NULL, "TOPIC", "dead-letter topic [default: TOPIC.dlq]"},
    {"batch-max", OPT_INT, "5000", "N",
     "commit a batch at this many records (into cassandra:// the default is 20000: each batch "
     "ends with a pause for its offsets' lightweight transactions)"},
    {"batch-linger", OPT_DURATION, "50ms", "DURATION", "commit a batch at least this often"},
    {"batch-min-wait", OPT_DURATION, "0", "DURATION",
     "keep a batch open at least this long unless full (bigger batches, more latency)"},
    {"batch-max-bytes", OPT_SIZE, "64MiB", "SIZE", "commit a batch at this many decoded bytes"},
    {"fetch-queue", OPT_SIZE, "96MiB", "SIZE",
     "records prefetched from the broker (once this is full librdkafka fetches again only at "
     "its next once-a-second check, so it should hold over a second of the job's intake); a "
     "fetch brings up to a twelfth of it per partition on top"},
    {"stats-interval", OPT_DURATION, "10s", "DURATION", "log a stats line this often (0 = never)"},
    {"session-timeout", OPT_DURATION, "10s", "DURATION", "group session timeout"},
    {"dlq-timeout", OPT_DURATION, "30s", "DURATION",
     "longest wait for dead letters to be acknowledged"},
    {"reset-offsets", OPT_STRING, NULL, "earliest|latest|TIME",
     "start each partition there on its first assignment instead of at the stored offset "
     "(TIME: ISO 8601, e.g. 2026-11-29T18:00:00Z, or ms since the epoch)"},
    {"data-dir", OPT_STRING, "./sluice-data", "DIR",
     "data directory (the default store lives in DIR/store)"},
    METRICS_LISTEN_OPT,
    {"kafka-property", OPT_MAP, NULL, "KEY=VALUE", KAFKA_PROPERTY_HELP},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def process_cmd = {
    "process",
    "Run the stream job: users_created -> spark_streams.created_users, exactly once.",
    "sluice process [--bootstrap HOST:PORT] [--topic T] [--group G] [--store sqlite:DIR]",
    process_opts_def,
    "A consumer-group member (start more instances with the same --group to share the\n"
    "partitions). Each value is checked against the job spec (12 string fields; id a UUID;\n"
    "post_code may be an integer) and upserted by id into created_users. Bad records go to the\n"
    "dead-letter topic with headers error, source.topic, source.partition, source.offset.\n"
    "Rows and consumed offsets are committed in one SQLite transaction per batch, and the job\n"
    "resumes from the offsets in the store, so every record is stored exactly once even\n"
    "across kill -9. The default store is the file DATA_DIR/store/spark_streams.db; SQLite\n"
    "parameters: sqlite:DIR?synchronous=normal|full&cache_mb=16&busy_timeout_ms=10000&\n"
    "layout=delta|rowid&merge_rows=1000000&runs=16&merge_slices=16&seal=auto (delta:\n"
    "created_users is a view over a main table, sealed runs and an append-only delta; every\n"
    "merge_rows rows the delta is sealed into a run with its own id index, and past `runs`\n"
    "runs the oldest is moved into the main table in 16 slices; a store keeps its layout).\n"
    "seal=index builds a run's index in one pass (the writer waits ~1 s per 1M rows);\n"
    "seal=copy fills it in id order, copy_rows (2048) rows a step between batches; auto\n"
    "copies when the job keeps up (batches of at most 1024 rows), else builds the index.\n"
    "A stored offset beyond the log's end (topic re-created, broker data wiped) is reported\n"
    "and the partition read again from its start; records deleted by retention before they\n"
    "were read are reported with their count. --reset-offsets moves every partition once.\n"
    "SIGINT/SIGTERM commit the batch in flight, leave the group and exit 0.",
};

static atomic_bool stop_flag;

/* An ISO 8601 time (see parse_iso_time_us; no zone = UTC) or milliseconds since the epoch;
 * -1 when s is neither. */
static int64_t parse_time_ms(const char *s)
{
    char *end;
    if (*s >= '0' && *s <= '9' && !strchr(s, '-') && !strchr(s, ':')) {
        long long v = strtoll(s, &end, 10);
        return *end == '\0' && v >= 0 ? v : -1;
    }
    int64_t us;
    if (parse_iso_time_us(s, ISO_NEED_TIME, &us) != 0 || us < 0)
        return -1;
    return us / 1000;
}
/* A stop must end: rd_kafka_consumer_close() waits without a bound for the group leave, and
 * when the broker goes at the same moment (both parts told to stop by `sluice up`'s death) it
 * can wait forever. So the first signal also sets an alarm: past the longest a clean stop
 * takes (dead letters acknowledged, batch committed, group left), SIGALRM ends the process;
 * the store's transactions make that as safe as a kill -9. */
static unsigned stop_grace_s = 45;

static void on_signal(int sig)
{
    (void)sig;
    if (!atomic_exchange(&stop_flag, true))
        alarm(stop_grace_s);
}

int process_main(int argc, char **argv)
{
    /* Fetched data comes in blocks of up to a twelfth of --fetch-queue a partition. Blocks of
     * 1 MiB and more get their own mapping, given back when freed: glibc's default threshold
     * grows with the blocks freed, after which they stayed in the heap and in the RSS once a
     * backlog was drained (make run, bench_up.sh: job 81 -> 65 MB). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    struct config *cfg;
    struct sl_err err;
    int rc = config_parse(&process_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice process: %s\n", err.msg);
        return 2;
    }
    struct kafka_props *kprops = NULL;
    if (kafka_props_from_config(cfg, "kafka-property",
                                KAFKA_VALIDATE_CONSUMER | KAFKA_VALIDATE_PRODUCER, &kprops,
                                &err) != 0) {
        fprintf(stderr, "sluice process: %s\n", err.msg);
        config_free(cfg);
        return 2;
    }
    char store_uri[4096], dlq_topic[256];
    const char *topic = config_str(cfg, "topic");
    const char *uri = config_str(cfg, "store");
    if (uri) {
        snprintf(store_uri, sizeof(store_uri), "%s", uri);
    } else if (store_default_uri(config_str(cfg, "data-dir"), store_uri, sizeof(store_uri)) != 0) {
        fprintf(stderr, "sluice process: --data-dir is too long\n");
        kafka_props_free(kprops);
        config_free(cfg);
        return 2;
    }
    const char *dlq = config_str(cfg, "dlq-topic");
    if (snprintf(dlq_topic, sizeof(dlq_topic), "%s%s", dlq ? dlq : topic, dlq ? "" : ".dlq") >=
        (int)sizeof(dlq_topic)) {
        fprintf(stderr, "sluice process: topic name too long\n");
        kafka_props_free(kprops);
        config_free(cfg);
        return 2;
    }
    struct process_opts o = {
        .bootstrap = config_str(cfg, "bootstrap"),
        .topic = topic,
        .group = config_str(cfg, "group"),
        .store_uri = store_uri,
        .dlq_topic = dlq_topic,
        .batch_max = config_int(cfg, "batch-max"),
        .batch_linger_ms = config_ms(cfg, "batch-linger"),
        .batch_min_wait_ms = config_ms(cfg, "batch-min-wait"),
        .batch_max_bytes = config_size(cfg, "batch-max-bytes"),
        .stats_interval_ms = config_ms(cfg, "stats-interval"),
        .session_timeout_ms = config_ms(cfg, "session-timeout"),
        .dlq_timeout_ms = config_ms(cfg, "dlq-timeout"),
        .kafka = kprops,
        .fetch_queue_bytes = config_size(cfg, "fetch-queue"),
        .reset_offsets = config_str(cfg, "reset-offsets"),
    };
    if (config_source_of(cfg, "batch-max") == SRC_DEFAULT && store_batch_max(store_uri) > 0)
        o.batch_max = store_batch_max(store_uri);
    if (o.reset_offsets && strcmp(o.reset_offsets, "earliest") != 0 &&
        strcmp(o.reset_offsets, "latest") != 0 &&
        (o.reset_time_ms = parse_time_ms(o.reset_offsets)) < 0) {
        fprintf(stderr,
                "sluice process: --reset-offsets: expected earliest, latest, an ISO 8601 "
                "time (2026-11-29T18:00:00Z) or ms since the epoch, got '%s'\n",
                o.reset_offsets);
        config_free(cfg);
        return 2;
    }
    if (strcmp(o.dlq_topic, o.topic) == 0) {
        fprintf(stderr, "sluice process: --dlq-topic must differ from --topic\n");
        kafka_props_free(kprops);
        config_free(cfg);
        return 2;
    }
    if (o.session_timeout_ms < 1000 || o.dlq_timeout_ms < 100) {
        fprintf(stderr, "sluice process: --session-timeout must be >= 1s, --dlq-timeout >= "
                        "100ms\n");
        kafka_props_free(kprops);
        config_free(cfg);
        return 2;
    }
    /* Handlers before anything slow (store open, consumer start): a SIGTERM that arrives
     * during start-up must still mean a clean stop, not death by the default action. */
    signal(SIGPIPE, SIG_IGN);
    stop_grace_s = (unsigned)(o.dlq_timeout_ms / 1000 + o.session_timeout_ms / 1000 + 5);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct process_job *j;
    if (process_job_create(&j, &o, &err) != 0) {
        fprintf(stderr, "sluice process: %s\n", err.msg);
        kafka_props_free(kprops);
        config_free(cfg);
        return strstr(err.msg, "--") ? 2 : 1;
    }
    struct http_server *metrics_srv = NULL;
    process_stats_metrics_init();
    if (metrics_listen("process", config_str(cfg, "metrics-listen"), &metrics_srv, &err) != 0) {
        log_error("process", "%s", err.msg);
        process_job_destroy(j);
        config_free(cfg);
        return 1;
    }
    rc = process_job_run(j, &stop_flag, &err);
    if (rc != 0)
        log_error("process", "%s", err.msg);
    http_server_stop(metrics_srv);
    process_job_destroy(j);
    kafka_props_free(kprops);
    config_free(cfg);
    log_info("process", "stopped");
    return rc == 0 ? 0 : 1;
}
