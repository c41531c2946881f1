/* Unit tests for src/broker/batch.c: record batch v2 validation (good batches accepted, CRC and
 * framing errors rejected with the right Kafka code), record walks, in-place rewrites, and a
 * mutation loop that must never crash or read out of bounds (run it under ASan). */
#include <stdlib.h>

#include "broker/batch.h"
#include "check.h"
#include "core/crc32c.h"

#define CORRUPT_MESSAGE 2
#define INVALID_RECORD 87

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static size_t put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

static void fix_crc(uint8_t *b, size_t len)
{
    put32(b + 17, crc32c(0, b + 21, len - 21));
}

/* Fixes Length and CRC after a test changed the batch's size or contents. */
static void fix_header(uint8_t *b, size_t len)
{
    put32(b + 8, (uint32_t)(len - 12));
    fix_crc(b, len);
}

/* Encodes an uncompressed v2 batch of n records into out (cap bytes): record i has key "k<i>"
 * (null for i == 2), value of vlen bytes, timestamp base_ts + i, and odd records one header.
 * Returns the batch size. */
static size_t build_batch(uint8_t *out, size_t cap, int n, int64_t base_ts, size_t vlen)
{
    uint8_t rec[4096];
    size_t pos = 61;
    memset(out, 0, 61);
    for (int i = 0; i < n; i++) {
        size_t r = 0;
        char key[16];
        int klen = snprintf(key, sizeof(key), "k%d", i);
        rec[r++] = 0;                /* attributes */
        r += put_varint(rec + r, i); /* timestamp delta */
        r += put_varint(rec + r, i); /* offset delta */
        if (i == 2) {
            r += put_varint(rec + r, -1);
        } else {
            r += put_varint(rec + r, klen);
            memcpy(rec + r, key, (size_t)klen);
            r += (size_t)klen;
        }
        r += put_varint(rec + r, (int64_t)vlen);
        memset(rec + r, 'a' + i % 26, vlen);
        r += vlen;
        r += put_varint(rec + r, i % 2);
        if (i % 2) {
            r += put_varint(rec + r, 1);
            rec[r++] = 'h';
            r += put_varint(rec + r, 1);
            rec[r++] = 'x';
        }
        if (pos + 5 + r > cap)
            abort();
        pos += put_varint(out + pos, (int64_t)r);
        memcpy(out + pos, rec, r);
        pos += r;
    }
    put64(out + 0, 0);
    put32(out + 12, 0);
    out[16] = 2;
    put32(out + 23, (uint32_t)(n - 1));
    put64(out + 27, (uint64_t)base_ts);
    put64(out + 35, (uint64_t)(base_ts + n - 1));
    put64(out + 43, (uint64_t)-1);
    out[51] = 0xff;
    out[52] = 0xff;
    put32(out + 53, (uint32_t)-1);
    put32(out + 57, (uint32_t)n);
    fix_header(out, pos);
    return pos;
}

static void test_valid(void)
{
    uint8_t b[65536];
    struct batch_header h;
    struct sl_err err;
    int counts[] = {1, 3, 100};
    for (size_t k = 0; k < 3; k++) {
        size_t len = build_batch(b, sizeof(b), counts[k], 1700000000000, 20);
        CHECK_EQ_INT(batch_validate(b, len, &h, &err), 0);
        CHECK_EQ_INT(h.records_count, counts[k]);
        CHECK_EQ_INT(h.last_offset_delta, counts[k] - 1);
        CHECK_EQ_INT(h.length, (int64_t)len - 12);
        CHECK_EQ_INT(h.magic, 2);
        CHECK_EQ_INT(h.base_timestamp, 1700000000000);
        CHECK_EQ_INT(h.producer_id, -1);
    }
    /* Empty values are fine too. */
    size_t len = build_batch(b, sizeof(b), 5, 0, 0);
    CHECK_EQ_INT(batch_validate(b, len, &h, &err), 0);
}

static void test_rejects(void)
{
    uint8_t b[65536], c[65536];
    struct batch_header h;
    struct sl_err err;
    size_t len = build_batch(b, sizeof(b), 5, 1000, 10);

    memcpy(c, b, len);
    c[len - 3] ^= 0x01; /* a value byte: only the CRC notices */
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), CORRUPT_MESSAGE);

    memcpy(c, b, len);
    c[16] = 1; /* magic is outside the CRC */
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), INVALID_RECORD);

    /* RecordsCount and LastOffsetDelta agree with each other but not with the records. */
    memcpy(c, b, len);
    put32(c + 57, 6);
    put32(c + 23, 5);
    fix_crc(c, len);
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), INVALID_RECORD);
    memcpy(c, b, len);
    put32(c + 57, 4);
    put32(c + 23, 3);
    fix_crc(c, len);
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), INVALID_RECORD); /* a record left over */

    memcpy(c, b, len);
    put32(c + 23, 3); /* LastOffsetDelta + 1 != RecordsCount */
    fix_crc(c, len);
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), INVALID_RECORD);

    memcpy(c, b, len);
    put32(c + 57, 0);
    put32(c + 23, (uint32_t)-1);
    fix_crc(c, len);
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), INVALID_RECORD);

    /* Truncated: Length no longer matches; and with Length and CRC fixed, the last record is
     * cut short. */
    CHECK_EQ_INT(batch_validate(b, len - 1, &h, &err), INVALID_RECORD);
    CHECK_EQ_INT(batch_validate(b, 60, &h, &err), INVALID_RECORD);
    CHECK_EQ_INT(batch_validate(b, 0, &h, &err), INVALID_RECORD);
    memcpy(c, b, len);
    fix_header(c, len - 4);
    CHECK_EQ_INT(batch_validate(c, len - 4, &h, &err), INVALID_RECORD);

    /* Trailing bytes after the last record. */
    memcpy(c, b, len);
    c[len] = 0;
    fix_header(c, len + 1);
    CHECK_EQ_INT(batch_validate(c, len + 1, &h, &err), INVALID_RECORD);

    memcpy(c, b, len);
    put64(c, 42); /* BaseOffset from a client must be 0 (not covered by the CRC) */
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), INVALID_RECORD);

    memcpy(c, b, len);
    c[22] |= 0x20; /* control batch */
    fix_crc(c, len);
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), INVALID_RECORD);

    memcpy(c, b, len);
    c[22] |= 0x07; /* compression codec 7 does not exist */
    fix_crc(c, len);
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), INVALID_RECORD);

    /* Compressed batches are not parsed: garbage records with a good CRC pass. */
    memcpy(c, b, len);
    c[22] |= 0x01;
    memset(c + 61, 0xee, len - 61);
    fix_crc(c, len);
    CHECK_EQ_INT(batch_validate(c, len, &h, &err), 0);
    CHECK_EQ_INT(batch_each_record(c, len, NULL, NULL), -1);

    /* Garbage where records should be: an over-long varint, a negative key length. */
    memcpy(c, b, 61);
    put32(c + 57, 1);
    put32(c + 23, 0);
    memset(c + 61, 0xff, 12);
    c[73] = 0x01;
    fix_header(c, 74);
    CHECK_EQ_INT(batch_validate(c, 74, &h, &err), INVALID_RECORD);
    size_t r = 61;
    uint8_t body[] = {0, 0, 0, 0x09 /* key length -5 */, 0, 0};
    r += put_varint(c + r, sizeof(body));
    memcpy(c + r, body, sizeof(body));
    r += sizeof(body);
    fix_header(c, r);
    CHECK_EQ_INT(batch_validate(c, r, &h, &err), INVALID_RECORD);

    /* Pure garbage of assorted lengths. */
    srand(7);
    for (size_t n = 0; n < 300; n++) {
        for (size_t i = 0; i < n; i++)
            c[i] = (uint8_t)rand();
        CHECK(batch_validate(c, n, &h, &err) != 0);
    }
}

struct walk {
    int n;
    int32_t deltas[200];
    int64_t ts[200];
    int stop_after;
};

static int walk_fn(int32_t offset_delta, int64_t timestamp, void *ctx)
{
    struct walk *w = ctx;
    w->deltas[w->n] = offset_delta;
    w->ts[w->n] = timestamp;
    w->n++;
    return w->stop_after && w->n >= w->stop_after;
}

static void test_each_record_and_rewrites(void)
{
    uint8_t b[65536];
    struct batch_header h;
    struct sl_err err;
    size_t len = build_batch(b, sizeof(b), 7, 5000, 3);

    struct walk w = {0};
    CHECK_EQ_INT(batch_each_record(b, len, walk_fn, &w), 0);
    CHECK_EQ_INT(w.n, 7);
    CHECK_EQ_INT(w.deltas[6], 6);
    CHECK_EQ_INT(w.ts[0], 5000);
    CHECK_EQ_INT(w.ts[6], 5006);
    struct walk w2 = {.stop_after = 2};
    CHECK_EQ_INT(batch_each_record(b, len, walk_fn, &w2), 0);
    CHECK_EQ_INT(w2.n, 2);
    CHECK_EQ_INT(batch_each_record(b, len - 1, walk_fn, &w2), -1);

    batch_set_base_offset(b, 123456789012LL);
    CHECK(batch_parse_header(b, len, &h, &err) == 0 && h.base_offset == 123456789012LL);
    CHECK(batch_crc_ok(b, len, &h));
    CHECK_EQ_INT(batch_validate(b, len, &h, &err), INVALID_RECORD); /* not 0 from a client */
    batch_set_base_offset(b, 0);

    batch_set_log_append_time(b, len, 99999);
    CHECK_EQ_INT(batch_validate(b, len, &h, &err), 0);
    CHECK(h.attributes & BATCH_ATTR_LOG_APPEND_TIME);
    CHECK_EQ_INT(h.max_timestamp, 99999);
    struct walk w3 = {0};
    CHECK_EQ_INT(batch_each_record(b, len, walk_fn, &w3), 0);
    CHECK_EQ_INT(w3.n, 7);
    CHECK_EQ_INT(w3.ts[3], 99999);
}

/* Random mutations of a valid batch, with the CRC fixed up so the record parser sees them. */
static void test_mutations(void)
{
    uint8_t b[4096], c[4096];
    struct batch_header h;
    struct sl_err err;
    size_t len = build_batch(b, sizeof(b), 6, 1, 8);
    srand(12345);
    int accepted = 0;
    for (int iter = 0; iter < 200000; iter++) {
        memcpy(c, b, len);
        size_t n = len;
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            c[61 + (size_t)rand() % (len - 61)] = (uint8_t)rand();
        if (rand() % 4 == 0)
            n = 61 + (size_t)rand() % (len - 61);
        fix_header(c, n);
        if (batch_validate(c, n, &h, &err) == 0)
            accepted++;
        struct walk w = {0};
        if (h.records_count <= 200)
            batch_each_record(c, n, walk_fn, &w);
    }
    CHECK(accepted < 200000);
}

int main(void)
{
    test_valid();
    test_rejects();
    test_each_record_and_rewrites();
    test_mutations();
    return check_summary();
}
