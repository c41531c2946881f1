/* The dead-letter producer: bad records go to the DLQ topic with their original key and value
 * and headers error, source.topic, source.partition, source.offset. Idempotent, acks=all. The
 * job's writer calls dlq_wait for a batch's dead letters before committing it to the store,
 * so a dead-lettered record is on the broker before its offset is stored and is never lost
 * (it may be sent twice if the batch is retried). dlq_send, dlq_seal and dlq_abort are called
 * by the loop thread only; dlq_wait by the writer (issue 12: the loop keeps taking records
 * meanwhile). */
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
/* Closes the open batch's dead letters (loop thread, at hand-over) and returns their slot
 * for dlq_wait; later sends go to the other slot, which must have been waited for (or
 * aborted) already. */
int dlq_seal(struct dlq *d);
/* Waits up to timeout_ms until every record of `slot` is acknowledged (any thread: the
 * writer, before the batch's store commit). Returns 0 and the number delivered in *n (the
 * slot is then free again), or -1 when any failed or is still outstanding: the caller fails
 * the batch and calls dlq_abort. */
int dlq_wait(struct dlq *d, int slot, int64_t timeout_ms, uint64_t *n, struct sl_err *err);
/* After a failed batch (loop thread, writer idle): waits briefly for what is outstanding,
 * purges the rest (the batches are read again and their dead letters sent again), and
 * resets both slots. */
void dlq_abort(struct dlq *d);
/* Records sent for the open batch. */
uint64_t dlq_pending(struct dlq *d);
/* Serves delivery reports without waiting. */
void dlq_poll(struct dlq *d);
void dlq_destroy(struct dlq *d);

#endif
