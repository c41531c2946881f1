/* Kafka record batch v2: header decoding, the validation a produced batch must pass before it
 * is appended, and a walk over the records of an uncompressed batch. Everything here reads
 * untrusted bytes, so every length is checked against what is left before it is used. */
#include "broker/batch.h"

#include <stdbool.h>

#include "core/crc32c.h"

/* Compressed records are not decoded, so their count is bounded by the compressed size: a
 * record is at least 7 bytes before compression, and the most compressible stream of minimal
 * records (null key and value, equal timestamps) packs at 4.5 records per byte with xz -9e,
 * about 0.7 with gzip -9. 64 per byte leaves honest producers a wide margin while a client can
 * no longer consume 2^31 offsets (and force segment rolls) with a few bytes. */
#define MAX_RECORDS_PER_COMPRESSED_BYTE 64
#define KAFKA_CORRUPT_MESSAGE 2
#define KAFKA_INVALID_RECORD 87

/* Byte offsets of the header fields (see the 61-byte layout in the protocol reference). */
#define OFF_BASE_OFFSET 0
#define OFF_LENGTH 8
#define OFF_LEADER_EPOCH 12
#define OFF_MAGIC 16
#define OFF_CRC 17
#define OFF_ATTRIBUTES 21
#define OFF_LAST_OFFSET_DELTA 23
#define OFF_BASE_TIMESTAMP 27
#define OFF_MAX_TIMESTAMP 35
#define OFF_PRODUCER_ID 43
#define OFF_PRODUCER_EPOCH 51
#define OFF_BASE_SEQUENCE 53
#define OFF_RECORDS_COUNT 57

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)(v >> 32));
    wr32(p + 4, (uint32_t)v);
}

int batch_parse_header(const uint8_t *p, size_t len, struct batch_header *h, struct sl_err *err)
{
    if (len < BATCH_HEADER_SIZE)
        return sl_err_set(err, "record batch too short (%zu bytes, header is %d)", len,
                          BATCH_HEADER_SIZE);
    h->base_offset = (int64_t)rd64(p + OFF_BASE_OFFSET);
    h->length = (int32_t)rd32(p + OFF_LENGTH);
    h->partition_leader_epoch = (int32_t)rd32(p + OFF_LEADER_EPOCH);
    h->magic = (int8_t)p[OFF_MAGIC];
    h->crc = rd32(p + OFF_CRC);
    h->attributes = (int16_t)rd16(p + OFF_ATTRIBUTES);
    h->last_offset_delta = (int32_t)rd32(p + OFF_LAST_OFFSET_DELTA);
    h->base_timestamp = (int64_t)rd64(p + OFF_BASE_TIMESTAMP);
    h->max_timestamp = (int64_t)rd64(p + OFF_MAX_TIMESTAMP);
    h->producer_id = (int64_t)rd64(p + OFF_PRODUCER_ID);
    h->producer_epoch = (int16_t)rd16(p + OFF_PRODUCER_EPOCH);
    h->base_sequence = (int32_t)rd32(p + OFF_BASE_SEQUENCE);
    h->records_count = (int32_t)rd32(p + OFF_RECORDS_COUNT);
    if (h->length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)
        return sl_err_set(err, "record batch Length %d is smaller than the header", h->length);
    if (h->magic != 2)
        return sl_err_set(err, "record batch magic %d is not supported (only 2)", h->magic);
    return 0;
}

bool batch_crc_ok(const uint8_t *p, size_t len, const struct batch_header *h)
{
    if (len < BATCH_HEADER_SIZE)
        return false;
    return crc32c(0, p + OFF_ATTRIBUTES, len - OFF_ATTRIBUTES) == h->crc;
}

/* A read position inside [p, p + len) of untrusted bytes. */
struct cursor {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

/* Reads a zigzag varint of at most max_bytes bytes. Returns false when the bytes run out or
 * the encoding is longer than allowed (which also rules out shift overflow). */
static bool cur_zigzag(struct cursor *c, int max_bytes, int64_t *v)
{
    uint64_t raw = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (c->pos >= c->len)
            return false;
        uint8_t b = c->p[c->pos++];
        raw |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
            return true;
        }
    }
    return false;
}

static bool cur_varint(struct cursor *c, int32_t *v)
{
    int64_t x;
    /* Five bytes carry up to 35 bits: anything past 32 bits is not an int32. */
    if (!cur_zigzag(c, 5, &x) || x < INT32_MIN || x > INT32_MAX)
        return false;
    *v = (int32_t)x;
    return true;
}

static bool cur_varlong(struct cursor *c, int64_t *v)
{
    return cur_zigzag(c, 10, v);
}

static bool cur_skip(struct cursor *c, size_t n)
{
    if (n > c->len - c->pos)
        return false;
    c->pos += n;
    return true;
}

/* Skips a varint-length-prefixed byte string; a length of -1 (null) is allowed only when
 * nullable. */
static bool cur_skip_bytes(struct cursor *c, bool nullable)
{
    int32_t n;
    if (!cur_varint(c, &n))
        return false;
    if (n == -1 && nullable)
        return true;
    if (n < 0)
        return false;
    return cur_skip(c, (size_t)n);
}

/* Parses the records of an uncompressed batch (whole batch of len bytes at p, header already
 * decoded into h), checking the framing, that offset deltas run 0, 1, 2, ..., that there are
 * exactly records_count records and that they use up the batch exactly. Calls fn (if not NULL)
 * for each record; a non-zero return from fn stops the walk early (returns 0). */
static int records_walk(const uint8_t *p, size_t len, const struct batch_header *h,
                        int (*fn)(int32_t, int64_t, void *), void *ctx, struct sl_err *err)
{
    struct cursor c = {p, len, BATCH_HEADER_SIZE};
    bool log_append = (h->attributes & BATCH_ATTR_LOG_APPEND_TIME) != 0;

    for (int32_t i = 0; i < h->records_count; i++) {
        int32_t rec_len;
        if (!cur_varint(&c, &rec_len))
            return sl_err_set(err, "record %d: bad length varint", i);
        if (rec_len < 0 || (size_t)rec_len > c.len - c.pos)
            return sl_err_set(err, "record %d: length %d exceeds the batch", i, rec_len);
        /* The record's fields must fill exactly its declared length. */
        struct cursor r = {p, c.pos + (size_t)rec_len, c.pos};
        int64_t ts_delta;
        int32_t offset_delta, nheaders;
        if (!cur_skip(&r, 1) || !cur_varlong(&r, &ts_delta) || !cur_varint(&r, &offset_delta))
            return sl_err_set(err, "record %d: truncated record header", i);
        if (offset_delta != i)
            return sl_err_set(err, "record %d: offset delta %d out of sequence", i, offset_delta);
        if (!cur_skip_bytes(&r, true) || !cur_skip_bytes(&r, true))
            return sl_err_set(err, "record %d: bad key or value", i);
        if (!cur_varint(&r, &nheaders) || nheaders < 0)
            return sl_err_set(err, "record %d: bad header count", i);
        for (int32_t j = 0; j < nheaders; j++) {
            if (!cur_skip_bytes(&r, false) || !cur_skip_bytes(&r, true))
                return sl_err_set(err, "record %d: bad header %d", i, j);
        }
        if (r.pos != r.len)
            return sl_err_set(err, "record %d: %zu bytes left over inside the record", i,
                              r.len - r.pos);
        c.pos = r.len;
        if (fn) {
            /* Unsigned addition: a hostile delta must not be signed overflow. */
            int64_t ts = log_append ? h->max_timestamp
                                    : (int64_t)((uint64_t)h->base_timestamp + (uint64_t)ts_delta);
            if (fn(offset_delta, ts, ctx) != 0)
                return 0;
        }
    }
    if (c.pos != c.len)
        return sl_err_set(err, "%zu bytes after the last record", c.len - c.pos);
    return 0;
}

int batch_validate(const uint8_t *p, size_t len, struct batch_header *h, struct sl_err *err)
{
    if (batch_parse_header(p, len, h, err) != 0)
        return KAFKA_INVALID_RECORD;
    if ((size_t)h->length + BATCH_LOG_OVERHEAD != len) {
        sl_err_set(err, "record batch Length %d does not match its %zu bytes", h->length, len);
        return KAFKA_INVALID_RECORD;
    }
    if (!batch_crc_ok(p, len, h)) {
        sl_err_set(err, "record batch CRC mismatch");
        return KAFKA_CORRUPT_MESSAGE;
    }
    if (h->base_offset != 0) {
        sl_err_set(err, "record batch BaseOffset %lld from a client must be 0",
                   (long long)h->base_offset);
        return KAFKA_INVALID_RECORD;
    }
    if (h->attributes & BATCH_ATTR_CONTROL) {
        sl_err_set(err, "control batches may not be produced by clients");
        return KAFKA_INVALID_RECORD;
    }
    if (h->records_count <= 0 || (int64_t)h->last_offset_delta + 1 != h->records_count) {
        sl_err_set(err, "record batch has RecordsCount %d and LastOffsetDelta %d", h->records_count,
                   h->last_offset_delta);
        return KAFKA_INVALID_RECORD;
    }
    int codec = h->attributes & BATCH_ATTR_COMPRESSION_MASK;
    if (codec > 4) {
        sl_err_set(err, "record batch uses unknown compression %d", codec);
        return KAFKA_INVALID_RECORD;
    }
    if (codec == 0 && records_walk(p, len, h, NULL, NULL, err) != 0)
        return KAFKA_INVALID_RECORD;
    if (codec != 0 && (uint64_t)h->records_count >
                          (uint64_t)(len - BATCH_HEADER_SIZE) * MAX_RECORDS_PER_COMPRESSED_BYTE) {
        sl_err_set(err, "compressed record batch declares %d records in %zu bytes",
                   h->records_count, len - BATCH_HEADER_SIZE);
        return KAFKA_INVALID_RECORD;
    }
    return 0;
}

void batch_set_base_offset(uint8_t *p, int64_t base_offset)
{
    wr64(p + OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void batch_set_log_append_time(uint8_t *p, size_t len, int64_t ts)
{
    if (len < BATCH_HEADER_SIZE)
        return;
    uint16_t attr = rd16(p + OFF_ATTRIBUTES) | BATCH_ATTR_LOG_APPEND_TIME;
    p[OFF_ATTRIBUTES] = (uint8_t)(attr >> 8);
    p[OFF_ATTRIBUTES + 1] = (uint8_t)attr;
    wr64(p + OFF_BASE_TIMESTAMP, (uint64_t)ts);
    wr64(p + OFF_MAX_TIMESTAMP, (uint64_t)ts);
    wr32(p + OFF_CRC, crc32c(0, p + OFF_ATTRIBUTES, len - OFF_ATTRIBUTES));
}

int batch_each_record(const uint8_t *p, size_t len,
                      int (*fn)(int32_t offset_delta, int64_t timestamp, void *ctx), void *ctx)
{
    struct batch_header h;
    if (batch_parse_header(p, len, &h, NULL) != 0)
        return -1;
    if ((size_t)h.length + BATCH_LOG_OVERHEAD != len ||
        (h.attributes & BATCH_ATTR_COMPRESSION_MASK) != 0 || h.records_count < 0)
        return -1;
    return records_walk(p, len, &h, fn, ctx, NULL);
}
