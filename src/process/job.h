/* The stream job: a consumer-group member that decodes each record against the job spec,
 * batches rows, dead-letters bad records, and commits rows and offsets to the store in one
 * transaction per batch. On (re)assignment it seeks to the offsets stored in the store, never
 * to Kafka's committed offsets (those are committed too, best effort, for monitoring only).
 * All Kafka and store calls run on the thread that calls process_job_run; process_job_stats
 * may be read from any thread. */
#ifndef SLUICE_PROCESS_JOB_H
#define SLUICE_PROCESS_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "process/stats.h"

struct process_opts {
    const char *bootstrap;
    const char *topic;
    const char *group;
    const char *store_uri; /* sqlite:DIR or cassandra://... */
    const char *dlq_topic;
    int64_t batch_max;         /* records per batch */
    int64_t batch_linger_ms;   /* longest a batch stays open */
    int64_t batch_min_wait_ms; /* shortest a batch stays open unless full (0: none) */
    int64_t batch_max_bytes;   /* decoded bytes per batch */
    int64_t stats_interval_ms; /* 0 = no periodic log line */
    int64_t session_timeout_ms;
    int64_t dlq_timeout_ms;          /* delivery bound for dead-letter records */
    const struct kafka_props *kafka; /* user client properties (core/kafka.h); may be NULL */
    int64_t fetch_queue_bytes;       /* librdkafka's prefetch queue (queued.max.messages.kbytes) */
    /* NULL, or "earliest", "latest" or a time (reset_time_ms): where each partition starts on
     * its first assignment, whatever is stored. */
    const char *reset_offsets;
    int64_t reset_time_ms;
};

struct process_job;

/* Opens the store and creates the Kafka clients. Caller destroys. */
int process_job_create(struct process_job **out, const struct process_opts *o, struct sl_err *err);
/* Runs until *stop is set (then finishes the batch in flight, commits, leaves the group and
 * returns 0) or a fatal error (-1 with err). */
int process_job_run(struct process_job *j, const atomic_bool *stop, struct sl_err *err);
/* The job's counters, for process_stats_snapshot from any thread. */
struct process_stats *process_job_stats(struct process_job *j);
void process_job_destroy(struct process_job *j);

#endif
