/* The ingest producer: librdkafka, idempotent, acks=all, keyed by user id, a `source` header
 * on every record (see producer_send), compression configurable. Delivery reports are counted;
 * flush waits for every one of them with a bound. All calls from one thread (the delivery report
 * callback runs inside producer_poll/producer_send/producer_flush on that thread). */
#ifndef SLUICE_INGEST_PRODUCER_H
#define SLUICE_INGEST_PRODUCER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/kafka.h"

struct producer_opts {
    const char *bootstrap; /* HOST:PORT[,HOST:PORT...] */
    const char *topic;
    const char *compression;     /* none|gzip|snappy|lz4|zstd */
    int64_t delivery_timeout_ms; /* message.timeout.ms: a record fails after this */
    int64_t linger_ms;
    bool idempotence;
    const struct kafka_props *kafka; /* user client properties, applied last; may be NULL */
};

struct producer;

/* Creates the client (connects lazily). Caller destroys. */
int producer_create(struct producer **out, const struct producer_opts *o, struct sl_err *err);
/* Destroys without flushing (flush first). */
void producer_destroy(struct producer *p);

/* Asks the cluster for the topic's metadata within timeout_ms: fails with a clear message
 * when no broker answers, or the topic does not exist and is not auto-created. */
int producer_check(struct producer *p, int64_t timeout_ms, struct sl_err *err);

/* Queues one record with a `source` header (key, value and header are copied). When librdkafka's
 * queue is full, serves delivery reports and tries again until it fits or *stop is set (then
 * returns 1). -1 with err on other errors (e.g. a fatal idempotence error). */
int producer_send(struct producer *p, const char *key, size_t klen, const char *val, size_t vlen,
                  const char *source, const atomic_bool *stop, struct sl_err *err);
/* Serves delivery reports, waiting at most ms. */
void producer_poll(struct producer *p, int ms);
/* Waits up to timeout_ms for every queued record's delivery report. Returns how many were
 * still outstanding at the deadline (also counted as failed). */
uint64_t producer_flush(struct producer *p, int64_t timeout_ms);

uint64_t producer_delivered(const struct producer *p);
int64_t producer_delivery_timeout(const struct producer *p);
uint64_t producer_failed(const struct producer *p);
/* First delivery error seen ("" if none). */
const char *producer_first_error(const struct producer *p);
/* True once librdkafka reported a fatal error (the producer can no longer deliver). */
bool producer_fatal(const struct producer *p, char *msg, size_t cap);

/* Validates a --compression value. */
bool producer_compression_valid(const char *c);

#endif
