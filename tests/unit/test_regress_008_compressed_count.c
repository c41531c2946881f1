/* Regression 008 (issue 11, finding 3): a compressed batch's declared RecordsCount is bounded
 * by its size. Compressed records are not decoded, so one client could declare RecordsCount
 * 2^31-1 over a few garbage bytes and consume 2^31 offsets per request, forcing a segment roll
 * every second request. The bound is 64 records per byte of compressed payload: a record is at
 * least 7 bytes before compression, and the strongest general compressor (xz -9e) packs the most
 * compressible stream of minimal records (null key and value, equal timestamps) at 4.5 records
 * per byte, so honest producers stay far below it. */
#include "check.h"
#include "partgen.h"

/* A gzip-flagged batch with payload bytes of garbage and the given count. */
static size_t compressed_batch(uint8_t *out, size_t payload, int32_t count)
{
    memset(out, 0, 61 + payload);
    for (size_t i = 0; i < payload; i++)
        out[61 + i] = (uint8_t)(i * 37 + 11);
    size_t len = 61 + payload;
    pg_put32(out + 8, (uint32_t)(len - 12));
    out[16] = 2;
    out[22] = 1; /* attributes: gzip */
    pg_put32(out + 23, (uint32_t)(count - 1));
    pg_put64(out + 27, 1000);
    pg_put64(out + 35, 1000);
    pg_put64(out + 43, (uint64_t)-1);
    pg_put32(out + 53, (uint32_t)-1);
    pg_put32(out + 57, (uint32_t)count);
    pg_put32(out + 17, crc32c(0, out + 21, len - 21));
    return len;
}

int main(void)
{
    uint8_t b[4096];
    struct batch_header h;
    struct sl_err err;
    size_t len = compressed_batch(b, 100, INT32_MAX);
    CHECK_EQ_INT(batch_validate(b, len, &h, &err), 87); /* INVALID_RECORD */
    len = compressed_batch(b, 100, 100 * 64 + 1);
    CHECK_EQ_INT(batch_validate(b, len, &h, &err), 87);
    /* within the bound: accepted (the records themselves are the consumer's to decode) */
    len = compressed_batch(b, 100, 100 * 64);
    CHECK_EQ_INT(batch_validate(b, len, &h, &err), 0);
    len = compressed_batch(b, 20, 500);
    CHECK_EQ_INT(batch_validate(b, len, &h, &err), 0);
    return check_summary();
}
