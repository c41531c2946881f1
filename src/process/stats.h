/* Metrics of the stream job behind a small thread-safe interface: the job thread adds, any
 * thread (the periodic log line, later the web UI) takes a consistent snapshot. Latencies go
 * into fixed-bucket log-linear histograms (8 buckets per power of two: about 6% resolution),
 * so percentiles cost no memory per record. */
#ifndef SLUICE_PROCESS_STATS_H
#define SLUICE_PROCESS_STATS_H

#include <pthread.h>
#include <stdint.h>

#define HIST_BUCKETS 320

/* Values in microseconds. */
struct hist {
    uint64_t count;
    uint64_t b[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t us);
/* Adds every count of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* out = a - b (b an earlier snapshot of a): the values added in between. */
void hist_diff(const struct hist *a, const struct hist *b, struct hist *out);
/* The q-quantile (0 < q <= 1) in microseconds (middle of its bucket); 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
/* The middle value of bucket i in microseconds (to fold a hist into another histogram). */
uint64_t hist_bucket_value(int i);

struct process_stats_snapshot {
    uint64_t records_in;     /* records consumed and accepted into a batch */
    uint64_t stored;         /* rows committed to the store */
    uint64_t dead_lettered;  /* bad records delivered to the dead-letter topic */
    uint64_t batches;        /* batches committed */
    uint64_t batch_failures; /* batches rolled back (store error, fencing, DLQ failure) */
    int64_t lag;             /* high watermark minus position, summed; -1 unknown */
    int32_t assigned;        /* partitions currently assigned */
    int64_t started_ms;      /* wall clock: job start */
    int64_t first_in_ms;     /* wall clock: first record of the first committed batch taken */
    int64_t last_commit_ms;  /* wall clock: last batch committed */
    struct hist batch_us;    /* batch latency: first record in -> store commit */
    struct hist e2e_us;      /* store commit time minus record timestamp */
    /* The stages of e2e_us, per row (issue 12): */
    struct hist to_job_us; /* record timestamp -> the loop takes it (producer, broker, fetch) */
    struct hist queued_us; /* taken -> handed to the writer (batching, waiting for the writer) */
    struct hist commit_us; /* handed over -> store commit (the writer's transaction) */
};

struct process_stats {
    pthread_mutex_t mu;
    struct process_stats_snapshot s;
};

void process_stats_init(struct process_stats *st);
void process_stats_destroy(struct process_stats *st);
/* One committed batch (job thread). e2e holds the batch's end-to-end latencies. */
void process_stats_batch(struct process_stats *st, uint64_t in, uint64_t stored,
                         uint64_t dead_lettered, uint64_t batch_us, const struct hist *e2e);
/* The stage latencies of one committed batch's rows (job thread). */
void process_stats_stages(struct process_stats *st, const struct hist *to_job,
                          const struct hist *queued, const struct hist *commit);
void process_stats_failure(struct process_stats *st);
void process_stats_set_lag(struct process_stats *st, int64_t lag, int32_t assigned);
/* The figures are also Prometheus metrics (core/metrics, global registry): registered (at 0)
 * by this call before /metrics is served, and by the first update otherwise. */
void process_stats_metrics_init(void);
/* Lag of one assigned partition (high watermark minus stored position), for /metrics. */
void process_stats_partition_lag(const char *topic, int32_t partition, int64_t lag);
/* Copies the current figures (any thread). */
void process_stats_snapshot(struct process_stats *st, struct process_stats_snapshot *out);

#endif
