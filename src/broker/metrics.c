/* The broker's metrics: requests by API, bytes in and out, fsync latency, open connections,
 * topics and partitions. Series pointers are looked up once (requests: per API key). */
#include "broker/metrics.h"

#include <pthread.h>
#include <stdatomic.h>

#include "broker/registry.h"
#include "core/metrics.h"

#define MAX_KEY 128

static struct {
    struct metric_family *requests, *responses;
    _Atomic(struct metric *) by_key[MAX_KEY];
    _Atomic(const char *) names[MAX_KEY];
    struct metric *resp_by_key[MAX_KEY]; /* loop thread only */
    struct metric *bytes_in, *bytes_out, *fsync, *sync_round, *conns, *topics, *parts;
    int64_t last_count_ms;
} bm;
static pthread_once_t bm_once = PTHREAD_ONCE_INIT;

static void bm_init(void)
{
    struct metrics *m = metrics_global();
    bm.requests = metrics_counter(m, "sluice_broker_requests_total",
                                  "Kafka protocol requests received, by API.", "api");
    bm.bytes_in = metric_get(metrics_counter(m, "sluice_broker_received_bytes_total",
                                             "Bytes read from client connections.", NULL));
    bm.bytes_out = metric_get(metrics_counter(m, "sluice_broker_sent_bytes_total",
                                              "Bytes written to client connections.", NULL));
    bm.fsync = metric_get(metrics_histogram(m, "sluice_broker_fsync_duration_seconds",
                                            "Time of one partition fsync (group commit).", NULL,
                                            metrics_latency_buckets, metrics_latency_buckets_n));
    bm.sync_round = metric_get(metrics_histogram(
        m, "sluice_broker_sync_round_seconds",
        "One group commit: sync job handed to the sync threads until the loop has it back.", NULL,
        metrics_latency_buckets, metrics_latency_buckets_n));
    bm.responses = metrics_histogram(
        m, "sluice_broker_response_seconds",
        "Request handled until its response is written whole (waits included), by API.", "api",
        metrics_latency_buckets, metrics_latency_buckets_n);
    bm.conns =
        metric_get(metrics_gauge(m, "sluice_broker_connections", "Open client connections.", NULL));
    bm.topics = metric_get(metrics_gauge(m, "sluice_broker_topics", "Topics.", NULL));
    bm.parts =
        metric_get(metrics_gauge(m, "sluice_broker_partitions", "Partitions of all topics.", NULL));
}

void broker_metrics_init(void)
{
    pthread_once(&bm_once, bm_init);
}

void broker_metrics_request(int key, const char *name)
{
    pthread_once(&bm_once, bm_init);
    if (key < 0 || key >= MAX_KEY)
        return;
    struct metric *s = atomic_load_explicit(&bm.by_key[key], memory_order_acquire);
    if (!s) {
        atomic_store_explicit(&bm.names[key], name, memory_order_release);
        s = metric_get(bm.requests, name);
        atomic_store_explicit(&bm.by_key[key], s, memory_order_release);
    }
    metric_inc(s);
}

void broker_metrics_bytes_in(size_t n)
{
    pthread_once(&bm_once, bm_init);
    metric_add(bm.bytes_in, n);
}

void broker_metrics_bytes_out(size_t n)
{
    pthread_once(&bm_once, bm_init);
    metric_add(bm.bytes_out, n);
}

void broker_metrics_fsync(int64_t us)
{
    pthread_once(&bm_once, bm_init);
    metric_observe(bm.fsync, (double)us / 1e6);
}

void broker_metrics_sync_round(int64_t us)
{
    pthread_once(&bm_once, bm_init);
    metric_observe(bm.sync_round, (double)us / 1e6);
}

void broker_metrics_response(int key, int64_t us)
{
    pthread_once(&bm_once, bm_init);
    if (key < 0 || key >= MAX_KEY)
        return;
    struct metric *s = bm.resp_by_key[key];
    if (!s) {
        const char *name = atomic_load_explicit(&bm.names[key], memory_order_acquire);
        if (!name)
            return; /* not a counted request */
        s = bm.resp_by_key[key] = metric_get(bm.responses, name);
    }
    metric_observe(s, (double)us / 1e6);
}

void broker_metrics_turn(const struct registry *reg, int connections, int64_t now_ms)
{
    pthread_once(&bm_once, bm_init);
    metric_set(bm.conns, connections);
    if (now_ms - bm.last_count_ms < 1000)
        return;
    bm.last_count_ms = now_ms;
    int64_t parts = 0;
    for (int i = 0; i < reg->ntopics; i++)
        parts += reg->topics[i]->npartitions;
    metric_set(bm.topics, reg->ntopics);
    metric_set(bm.parts, (double)parts);
}
