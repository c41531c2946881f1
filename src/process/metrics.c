/* The stream job's metrics: records by outcome, batches, batch and end-to-end latency
 * histograms, lag per partition. Families are registered once; series pointers are kept. */
#include "process/metrics.h"

#include <pthread.h>
#include <stdio.h>

#include "core/metrics.h"

static struct {
    struct metric *in, *stored, *dead, *batches, *failures, *batch_s, *e2e_s, *assigned;
    struct metric_family *lag;
} pm;
static pthread_once_t pm_once = PTHREAD_ONCE_INIT;

static void pm_init(void)
{
    struct metrics *m = metrics_global();
    pm.in = metric_get(metrics_counter(m, "sluice_process_records_consumed_total",
                                       "Records consumed and taken into a batch.", NULL));
    pm.stored = metric_get(metrics_counter(m, "sluice_process_records_stored_total",
                                           "Rows committed to the store.", NULL));
    pm.dead = metric_get(metrics_counter(m, "sluice_process_records_dead_lettered_total",
                                         "Bad records delivered to the dead-letter topic.", NULL));
    pm.batches =
        metric_get(metrics_counter(m, "sluice_process_batches_total", "Batches committed.", NULL));
    pm.failures = metric_get(metrics_counter(m, "sluice_process_batch_failures_total",
                                             "Batches rolled back and read again.", NULL));
    pm.batch_s =
        metric_get(metrics_histogram(m, "sluice_process_batch_duration_seconds",
                                     "Batch latency: first record taken to store commit.", NULL,
                                     metrics_latency_buckets, metrics_latency_buckets_n));
    pm.e2e_s =
        metric_get(metrics_histogram(m, "sluice_process_end_to_end_latency_seconds",
                                     "Store commit time minus the record's timestamp, per record.",
                                     NULL, metrics_latency_buckets, metrics_latency_buckets_n));
    pm.assigned = metric_get(metrics_gauge(m, "sluice_process_assigned_partitions",
                                           "Partitions assigned to this instance.", NULL));
    pm.lag = metrics_gauge(m, "sluice_process_consumer_lag_records",
                           "High watermark minus the stored position, per assigned partition.",
                           "topic,partition");
}

void process_metrics_init(void)
{
    pthread_once(&pm_once, pm_init);
}

void process_metrics_batch(uint64_t in, uint64_t stored, uint64_t dead_lettered, uint64_t batch_us,
                           const struct hist *e2e)
{
    pthread_once(&pm_once, pm_init);
    metric_add(pm.in, in);
    metric_add(pm.stored, stored);
    metric_add(pm.dead, dead_lettered);
    metric_inc(pm.batches);
    metric_observe(pm.batch_s, (double)batch_us / 1e6);
    if (!e2e || e2e->count == 0)
        return;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        if (e2e->b[i])
            metric_observe_n(pm.e2e_s, (double)hist_bucket_value(i) / 1e6, e2e->b[i]);
    }
}

void process_metrics_failure(void)
{
    pthread_once(&pm_once, pm_init);
    metric_inc(pm.failures);
}

void process_metrics_lag(const char *topic, int32_t partition, int64_t lag)
{
    pthread_once(&pm_once, pm_init);
    char p[16];
    snprintf(p, sizeof p, "%d", (int)partition);
    metric_set(metric_get(pm.lag, topic, p), (double)lag);
}

void process_metrics_assigned(int32_t assigned)
{
    pthread_once(&pm_once, pm_init);
    metric_set(pm.assigned, assigned);
}
