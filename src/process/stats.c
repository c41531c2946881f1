/* Histograms and the job's counters (see stats.h). A bucket index is the value's power of two
 * and its next three bits: exact below 16 us, within 1/8 of the power of two above. */
#include "process/stats.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"
#include "core/units.h"

static int bucket_of(uint64_t v)
{
    if (v < 16)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int idx = 16 + (msb - 4) * 8 + (int)((v >> (msb - 3)) & 7);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Smallest value of bucket i and the smallest of the next one. */
static void bucket_range(int i, uint64_t *lo, uint64_t *hi)
{
    if (i < 16) {
        *lo = (uint64_t)i;
        *hi = (uint64_t)i + 1;
        return;
    }
    int msb = (i - 16) / 8 + 4, sub = (i - 16) % 8;
    uint64_t step = 1ull << (msb - 3);
    *lo = (1ull << msb) + (uint64_t)sub * step;
    *hi = *lo + step;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->b[bucket_of(us)]++;
    h->count++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (int i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
}

void hist_diff(const struct hist *a, const struct hist *b, struct hist *out)
{
    for (int i = 0; i < HIST_BUCKETS; i++)
        out->b[i] = a->b[i] - b->b[i];
    out->count = a->count - b->count;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            bucket_range(i, &lo, &hi);
            return lo + (hi - 1 - lo) / 2;
        }
    }
    return 0;
}

uint64_t hist_bucket_value(int i)
{
    uint64_t lo, hi;
    bucket_range(i, &lo, &hi);
    return lo + (hi - 1 - lo) / 2;
}

/* ---- the same figures for /metrics (core/metrics, global registry) ---- */

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

void process_stats_metrics_init(void)
{
    pthread_once(&pm_once, pm_init);
}

static void metrics_batch(uint64_t in, uint64_t stored, uint64_t dead_lettered, uint64_t batch_us,
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

static void metrics_failure(void)
{
    pthread_once(&pm_once, pm_init);
    metric_inc(pm.failures);
}

void process_stats_partition_lag(const char *topic, int32_t partition, int64_t lag)
{
    pthread_once(&pm_once, pm_init);
    char p[16];
    snprintf(p, sizeof p, "%d", (int)partition);
    metric_set(metric_get(pm.lag, topic, p), (double)lag);
}

static void metrics_assigned(int32_t assigned)
{
    pthread_once(&pm_once, pm_init);
    metric_set(pm.assigned, assigned);
}

void process_stats_init(struct process_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    st->s.lag = -1;
    st->s.started_ms = now_ms();
}

void process_stats_destroy(struct process_stats *st)
{
    pthread_mutex_destroy(&st->mu);
}

void process_stats_batch(struct process_stats *st, uint64_t in, uint64_t stored,
                         uint64_t dead_lettered, uint64_t batch_us, const struct hist *e2e)
{
    pthread_mutex_lock(&st->mu);
    st->s.records_in += in;
    st->s.stored += stored;
    st->s.dead_lettered += dead_lettered;
    st->s.batches++;
    st->s.last_commit_ms = now_ms();
    if (st->s.first_in_ms == 0)
        st->s.first_in_ms = st->s.last_commit_ms - (int64_t)(batch_us / 1000);
    hist_add(&st->s.batch_us, batch_us);
    if (e2e)
        hist_merge(&st->s.e2e_us, e2e);
    pthread_mutex_unlock(&st->mu);
    metrics_batch(in, stored, dead_lettered, batch_us, e2e);
}

void process_stats_stages(struct process_stats *st, const struct hist *to_job,
                          const struct hist *queued, const struct hist *commit)
{
    pthread_mutex_lock(&st->mu);
    hist_merge(&st->s.to_job_us, to_job);
    hist_merge(&st->s.queued_us, queued);
    hist_merge(&st->s.commit_us, commit);
    pthread_mutex_unlock(&st->mu);
}

void process_stats_failure(struct process_stats *st)
{
    pthread_mutex_lock(&st->mu);
    st->s.batch_failures++;
    pthread_mutex_unlock(&st->mu);
    metrics_failure();
}

void process_stats_set_lag(struct process_stats *st, int64_t lag, int32_t assigned)
{
    pthread_mutex_lock(&st->mu);
    st->s.lag = lag;
    st->s.assigned = assigned;
    pthread_mutex_unlock(&st->mu);
    metrics_assigned(assigned);
}

void process_stats_snapshot(struct process_stats *st, struct process_stats_snapshot *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->s;
    pthread_mutex_unlock(&st->mu);
}
