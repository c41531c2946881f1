/* The dead-letter producer: bad records go to the DLQ topic with their original key and value
 * and headers error, source.topic, source.partition, source.offset. Idempotent, acks=all. The
 * job calls dlq_flush before committing a batch to the store, so a dead-lettered record is
 * on the broker before its offset is stored and is never lost (it may be sent twice if the
 * batch is retried). One thread only (the job's). */
#ifndef SLUICE_PROCESS_DLQ_H
#define SLUICE_PROCESS_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "core/err.h"
#include "core/kafka.h"

struct dlq;

/* Creates the producer (connects lazily) with the user's client properties (may be NULL).
 * Caller destroys. */
int dlq_create(struct dlq **out, const char *bootstrap, const char *topic,
               int64_t delivery_timeout_ms, const struct kafka_props *props, struct sl_err *err);
/* Queues m's key and value (copied) with reason. Serves delivery reports while librdkafka's
 * queue is full, for at most the delivery timeout. */
int dlq_send(struct dlq *d, const rd_kafka_message_t *m, const char *reason, struct sl_err *err);
/* Waits up to timeout_ms until every record sent since the last dlq_flush is acknowledged.
 * Returns 0 and the number delivered in *n, or -1 when any failed or is still outstanding
 * (those are purged: the caller retries its batch, sending them again). */
int dlq_flush(struct dlq *d, int64_t timeout_ms, uint64_t *n, struct sl_err *err);
/* Records sent since the last dlq_flush. */
uint64_t dlq_pending(const struct dlq *d);
/* Serves delivery reports without waiting. */
void dlq_poll(struct dlq *d);
void dlq_destroy(struct dlq *d);

#endif
