/* Helpers shared by the partition regression tests: an uncompressed v2 batch builder, temp
 * directories and a recursive remove. Header-only (static functions) so each test program
 * stays one .c file. */
#ifndef SLUICE_TEST_PARTGEN_H
#define SLUICE_TEST_PARTGEN_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/batch.h"
#include "broker/partition.h"
#include "core/crc32c.h"

static inline void pg_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void pg_put64(uint8_t *p, uint64_t v)
{
    pg_put32(p, (uint32_t)(v >> 32));
    pg_put32(p + 4, (uint32_t)v);
}

static inline size_t pg_varint(uint8_t *p, int64_t v)
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

/* An uncompressed v2 batch of n records with vlen-byte values; returns its size. */
static inline size_t pg_batch(uint8_t *out, int n, int64_t base_ts, size_t vlen)
{
    size_t pos = 61;
    memset(out, 0, 61);
    for (int i = 0; i < n; i++) {
        uint8_t rec[2048];
        size_t r = 0;
        rec[r++] = 0;
        r += pg_varint(rec + r, i);
        r += pg_varint(rec + r, i);
        r += pg_varint(rec + r, -1);
        r += pg_varint(rec + r, (int64_t)vlen);
        memset(rec + r, 'v', vlen);
        r += vlen;
        r += pg_varint(rec + r, 0);
        pos += pg_varint(out + pos, (int64_t)r);
        memcpy(out + pos, rec, r);
        pos += r;
    }
    pg_put32(out + 8, (uint32_t)(pos - 12));
    out[16] = 2;
    pg_put32(out + 23, (uint32_t)(n - 1));
    pg_put64(out + 27, (uint64_t)base_ts);
    pg_put64(out + 35, (uint64_t)(base_ts + n - 1));
    pg_put64(out + 43, (uint64_t)-1);
    pg_put32(out + 53, (uint32_t)-1);
    pg_put32(out + 57, (uint32_t)n);
    pg_put32(out + 17, crc32c(0, out + 21, pos - 21));
    return pos;
}

static inline int pg_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void pg_rm_rf(const char *path)
{
    nftw(path, pg_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temp dir in tmp (64 bytes); the partition lives in dir = <tmp>/t-0. */
static inline void pg_dirs(char *tmp, char *dir)
{
    strcpy(tmp, "/tmp/sluice-regress-XXXXXX");
    if (!mkdtemp(tmp))
        abort();
    sprintf(dir, "%s/t-0", tmp);
}

static inline struct partition *pg_open(const char *dir, int64_t segment_bytes)
{
    struct partition_config cfg = {segment_bytes, -1, -1, 256};
    struct partition *p = NULL;
    struct sl_err err;
    if (partition_open(dir, &cfg, &p, &err) != 0) {
        fprintf(stderr, "partition_open: %s\n", err.msg);
        return NULL;
    }
    return p;
}

/* Appends count batches of n records; returns 0 when all went in. */
static inline int pg_append(struct partition *p, int count, int n, size_t vlen)
{
    uint8_t b[65536];
    struct sl_err err;
    for (int i = 0; i < count; i++) {
        size_t len = pg_batch(b, n, 1000 + i, vlen);
        int64_t base;
        if (partition_append(p, b, len, &base, &err) != 0) {
            fprintf(stderr, "append: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

/* True when [data, data+len) is whole CRC-valid batches with consecutive offsets. */
static inline bool pg_batches_ok(const uint8_t *data, size_t len, int64_t *next)
{
    size_t off = 0;
    *next = -1;
    while (off < len) {
        struct batch_header h;
        if (batch_parse_header(data + off, len - off, &h, NULL) != 0 ||
            (size_t)h.length + 12 > len - off ||
            !batch_crc_ok(data + off, (size_t)h.length + 12, &h))
            return false;
        *next = h.base_offset + h.last_offset_delta + 1;
        off += (size_t)h.length + 12;
    }
    return true;
}

#endif
