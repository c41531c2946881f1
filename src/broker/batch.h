/* Kafka record batch v2 (magic 2): header parsing and the checks a produced batch must pass
 * before it is appended. Batches are stored exactly as received; only BaseOffset is rewritten,
 * in place (the CRC does not cover it). */
#ifndef SLUICE_BROKER_BATCH_H
#define SLUICE_BROKER_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define BATCH_HEADER_SIZE 61
#define BATCH_LOG_OVERHEAD 12 /* BaseOffset i64 + Length i32: bytes not counted in Length */

/* Attribute bits */
#define BATCH_ATTR_COMPRESSION_MASK 0x07
#define BATCH_ATTR_LOG_APPEND_TIME 0x08
#define BATCH_ATTR_TRANSACTIONAL 0x10
#define BATCH_ATTR_CONTROL 0x20

struct batch_header {
    int64_t base_offset;
    int32_t length; /* bytes after the Length field: total size is length + 12 */
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
};

/* Decodes the 61-byte header at p (len bytes available, at least BATCH_HEADER_SIZE).
 * Checks only that Length is sane (>= 49) and that magic is 2; not the CRC. */
int batch_parse_header(const uint8_t *p, size_t len, struct batch_header *h, struct sl_err *err);

/* True when the CRC-32C over attributes..end of the whole batch (len bytes at p) matches h->crc.
 * Used by log recovery, which trusts nothing it reads back from disk. */
bool batch_crc_ok(const uint8_t *p, size_t len, const struct batch_header *h);

/* Full validation of one produced batch occupying exactly len bytes at p: header, magic 2,
 * Length consistent with len, CRC-32C over attributes..end, LastOffsetDelta + 1 == RecordsCount
 * > 0, BaseOffset 0, not a control batch; for uncompressed batches also that the records parse
 * (varint framing) and their count matches; for compressed ones that RecordsCount is at most 64
 * per byte of compressed payload (which bounds the offsets one request can consume). Returns 0 or a
 * Kafka error code (2 CORRUPT_MESSAGE for a CRC mismatch, 87 INVALID_RECORD for the rest), with err
 * set. */
int batch_validate(const uint8_t *p, size_t len, struct batch_header *h, struct sl_err *err);

/* Rewrites BaseOffset in place (big-endian). */
void batch_set_base_offset(uint8_t *p, int64_t base_offset);

/* Sets LogAppendTime: the attribute bit, MaxTimestamp (and BaseTimestamp) = ts, CRC recomputed. */
void batch_set_log_append_time(uint8_t *p, size_t len, int64_t ts);

/* Calls fn(offset_delta, timestamp, ctx) for each record of an uncompressed batch, stopping
 * early when fn returns non-zero. Returns -1 for a compressed or malformed batch. Used to find
 * the first record at or after a timestamp. */
int batch_each_record(const uint8_t *p, size_t len,
                      int (*fn)(int32_t offset_delta, int64_t timestamp, void *ctx), void *ctx);

#endif
