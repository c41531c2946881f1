/* Idempotent-producer state per partition: for each producer id its epoch and the sequence
 * ranges and offsets of its last five batches. A batch seen again is acknowledged with its
 * original offset instead of being written twice; a gap in sequences is refused. After a
 * restart the state is rebuilt from the tail of the log. */
#ifndef SLUICE_BROKER_PRODUCER_H
#define SLUICE_BROKER_PRODUCER_H

#include <stdint.h>

#include "broker/batch.h"
#include "broker/partition.h"

#define PRODUCER_BATCHES 5

struct producer_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t base_offset;
};

struct producer_state {
    int64_t producer_id;
    int16_t epoch;
    int nbatches;
    int next; /* ring position of the next batch to record */
    struct producer_batch batches[PRODUCER_BATCHES];
};

struct producers {
    struct producer_state *all;
    int n, cap;
};

enum producer_verdict { PRODUCER_APPEND, PRODUCER_DUPLICATE, PRODUCER_REFUSE };

/* Decides what to do with a validated batch. DUPLICATE sets *dup_base to the original base
 * offset; REFUSE sets *error to a Kafka error code (45 OUT_OF_ORDER_SEQUENCE_NUMBER, 47
 * INVALID_PRODUCER_EPOCH). Batches without a producer id are always appended. */
enum producer_verdict producers_check(const struct producers *ps, const struct batch_header *h,
                                      int64_t *dup_base, int16_t *error);
/* Records an appended batch at base_offset. */
void producers_record(struct producers *ps, const struct batch_header *h, int64_t base_offset);
/* Rebuilds the state from the last `window` offsets of the log. */
int producers_rebuild(struct producers *ps, struct partition *p, int64_t window,
                      struct sl_err *err);
void producers_free(struct producers *ps);

#endif
