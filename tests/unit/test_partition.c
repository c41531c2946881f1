/* Unit tests for the partition log (src/broker/partition.c, segment.c, index.c): offsets,
 * reads (middle of a batch, max_bytes, limit_offset, across segments), rolls, reopen, recovery
 * of torn and corrupt tails, retention by size and time, timestamp lookup. Each test works in
 * its own mkdtemp directory under /tmp, removed at the end. */
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "broker/batch.h"
#include "broker/partition.h"
#include "check.h"
#include "core/crc32c.h"

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

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t get64(const uint8_t *p)
{
    return (int64_t)((uint64_t)get32(p) << 32 | get32(p + 4));
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

/* Encodes an uncompressed v2 batch of n records (key "k<i>", vlen-byte value, timestamp
 * base_ts + i) into out; returns its size. */
static size_t build_batch(uint8_t *out, int n, int64_t base_ts, size_t vlen)
{
    size_t pos = 61;
    memset(out, 0, 61);
    for (int i = 0; i < n; i++) {
        uint8_t rec[2048];
        size_t r = 0;
        char key[16];
        int klen = snprintf(key, sizeof(key), "k%d", i);
        rec[r++] = 0;
        r += put_varint(rec + r, i);
        r += put_varint(rec + r, i);
        r += put_varint(rec + r, klen);
        memcpy(rec + r, key, (size_t)klen);
        r += (size_t)klen;
        r += put_varint(rec + r, (int64_t)vlen);
        memset(rec + r, 'v', vlen);
        r += vlen;
        r += put_varint(rec + r, 0);
        pos += put_varint(out + pos, (int64_t)r);
        memcpy(out + pos, rec, r);
        pos += r;
    }
    put32(out + 8, (uint32_t)(pos - 12));
    out[16] = 2;
    put32(out + 23, (uint32_t)(n - 1));
    put64(out + 27, (uint64_t)base_ts);
    put64(out + 35, (uint64_t)(base_ts + n - 1));
    put64(out + 43, (uint64_t)-1);
    put32(out + 53, (uint32_t)-1);
    put32(out + 57, (uint32_t)n);
    put32(out + 17, crc32c(0, out + 21, pos - 21));
    return pos;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temp dir; the partition lives in <tmp>/topic-0 (created by partition_open). */
static void make_dirs(char *tmp, char *dir)
{
    strcpy(tmp, "/tmp/sluice-part-XXXXXX");
    if (!mkdtemp(tmp))
        abort();
    sprintf(dir, "%s/topic-0", tmp);
}

static struct partition_config config(int64_t segment_bytes)
{
    struct partition_config cfg = {segment_bytes, -1, -1, 256};
    return cfg;
}

static struct partition *open_part(const char *dir, const struct partition_config *cfg)
{
    struct partition *p = NULL;
    struct sl_err err;
    if (partition_open(dir, cfg, &p, &err) != 0) {
        fprintf(stderr, "partition_open: %s\n", err.msg);
        return NULL;
    }
    return p;
}

/* Appends count batches of n records each, checking the assigned offsets follow on. */
static void append_batches(struct partition *p, int count, int n, int64_t base_ts, size_t vlen)
{
    uint8_t b[65536];
    struct sl_err err;
    for (int i = 0; i < count; i++) {
        size_t len = build_batch(b, n, base_ts + i * n, vlen);
        int64_t expect = partition_log_end(p), base = -1;
        int rc = partition_append(p, b, len, &base, &err);
        CHECK_EQ_INT(rc, 0);
        if (rc != 0)
            fprintf(stderr, "append: %s\n", err.msg);
        CHECK_EQ_INT(base, expect);
        CHECK_EQ_INT(get64(b), expect); /* BaseOffset rewritten in the caller's buffer */
        CHECK_EQ_INT(partition_log_end(p), expect + n);
    }
}

struct scan {
    int batches;
    int64_t first_base;
    int64_t next; /* offset after the last batch */
    bool ok;      /* whole, CRC-valid, consecutive batches filling the buffer exactly */
};

static struct scan scan_batches(const struct buf *out)
{
    struct scan s = {0, -1, -1, true};
    size_t off = 0;
    while (off < out->len) {
        struct batch_header h;
        if (batch_parse_header(out->data + off, out->len - off, &h, NULL) != 0 ||
            (size_t)h.length + 12 > out->len - off ||
            !batch_crc_ok(out->data + off, (size_t)h.length + 12, &h) ||
            (s.next >= 0 && h.base_offset != s.next)) {
            s.ok = false;
            break;
        }
        if (s.first_base < 0)
            s.first_base = h.base_offset;
        s.next = h.base_offset + h.last_offset_delta + 1;
        s.batches++;
        off += (size_t)h.length + 12;
    }
    return s;
}

static struct scan read_at(struct partition *p, int64_t offset, int64_t limit, size_t max_bytes,
                           int *rc)
{
    struct buf out;
    struct sl_err err;
    buf_init(&out, 64 << 20);
    *rc = partition_read(p, offset, limit, max_bytes, &out, &err);
    if (*rc < 0)
        fprintf(stderr, "read: %s\n", err.msg);
    struct scan s = scan_batches(&out);
    buf_free(&out);
    return s;
}

static int count_files(const char *dir, const char *ext)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ls %s/*%s 2>/dev/null | wc -l", dir, ext);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        pclose(f);
    }
    return n;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void seg_path(char *out, const char *dir, int64_t base, const char *ext)
{
    sprintf(out, "%s/%020lld%s", dir, (long long)base, ext);
}

static void test_empty_and_append_read(void)
{
    char tmp[64], dir[96];
    make_dirs(tmp, dir);
    struct partition_config cfg = config(1 << 20);
    struct partition *p = open_part(dir, &cfg);
    CHECK(p != NULL);
    if (!p)
        return;
    int rc;
    CHECK_EQ_INT(partition_log_start(p), 0);
    CHECK_EQ_INT(partition_log_end(p), 0);
    struct scan s = read_at(p, 0, INT64_MAX, 1 << 20, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(s.batches, 0);
    read_at(p, 1, INT64_MAX, 1 << 20, &rc);
    CHECK_EQ_INT(rc, 1);

    append_batches(p, 10, 3, 1000, 20); /* offsets 0..29, batches at 0,3,...,27 */
    CHECK_EQ_INT(partition_log_end(p), 30);
    CHECK(partition_dirty(p));
    struct sl_err err;
    CHECK_EQ_INT(partition_sync(p, &err), 0);
    CHECK(!partition_dirty(p));

    s = read_at(p, 7, INT64_MAX, 1 << 20, &rc); /* middle of the batch at 6 */
    CHECK_EQ_INT(rc, 0);
    CHECK(s.ok);
    CHECK_EQ_INT(s.first_base, 6);
    CHECK_EQ_INT(s.batches, 8);
    CHECK_EQ_INT(s.next, 30);
    s = read_at(p, 29, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.first_base == 27 && s.batches == 1);
    s = read_at(p, 30, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.batches == 0);
    read_at(p, 31, INT64_MAX, 1 << 20, &rc);
    CHECK_EQ_INT(rc, 1);
    read_at(p, -1, INT64_MAX, 1 << 20, &rc);
    CHECK_EQ_INT(rc, 1);

    /* max_bytes: the first batch always whole; then only batches that fit. */
    uint8_t b[65536];
    size_t blen = build_batch(b, 3, 0, 20);
    s = read_at(p, 0, INT64_MAX, 1, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 1);
    s = read_at(p, 0, INT64_MAX, 0, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 1);
    s = read_at(p, 3, INT64_MAX, 2 * blen, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 2 && s.first_base == 3);
    s = read_at(p, 3, INT64_MAX, 2 * blen - 1, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 1);

    /* limit_offset hides batches whose base is >= limit. */
    s = read_at(p, 0, 12, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 4 && s.next == 12);
    s = read_at(p, 0, 10, 1 << 20, &rc);
    CHECK(rc == 0 && s.batches == 4);
    s = read_at(p, 0, 9, 1 << 20, &rc);
    CHECK(rc == 0 && s.batches == 3);
    s = read_at(p, 12, 12, 1 << 20, &rc);
    CHECK(rc == 0 && s.batches == 0);

    /* A fetch buffer too small for the first batch is an error, not an overrun. */
    struct buf small;
    buf_init(&small, 10);
    CHECK_EQ_INT(partition_read(p, 0, INT64_MAX, 1 << 20, &small, &err), -1);
    buf_free(&small);

    CHECK_EQ_INT(partition_destroy(p, &err), 0);
    CHECK(access(dir, F_OK) != 0);
    rm_rf(tmp);
}

static void test_roll_reopen_index(void)
{
    char tmp[64], dir[96], path[160];
    make_dirs(tmp, dir);
    uint8_t b[65536];
    size_t blen = build_batch(b, 2, 0, 50);
    /* Room for 3 batches per segment. */
    struct partition_config cfg = config((int64_t)(3 * blen + 1));
    struct partition *p = open_part(dir, &cfg);
    if (!p)
        return;
    append_batches(p, 10, 2, 1000, 50); /* offsets 0..19; segments at 0, 6, 12, 18 */
    CHECK_EQ_INT(count_files(dir, ".log"), 4);
    seg_path(path, dir, 6, ".log");
    CHECK_EQ_INT(file_size(path), (int64_t)(3 * blen));
    seg_path(path, dir, 18, ".log");
    CHECK_EQ_INT(file_size(path), (int64_t)blen);
    CHECK_EQ_INT(partition_size_bytes(p), (int64_t)(10 * blen));
    int rc;
    struct scan s = read_at(p, 0, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 10 && s.next == 20);
    s = read_at(p, 7, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.first_base == 6 && s.batches == 7);
    s = read_at(p, 5, INT64_MAX, 2 * blen, &rc); /* crosses from segment 0 into segment 6 */
    CHECK(rc == 0 && s.ok && s.first_base == 4 && s.batches == 2 && s.next == 8);
    struct sl_err err;
    CHECK_EQ_INT(partition_sync(p, &err), 0);
    partition_close(p);

    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_start(p), 0);
    CHECK_EQ_INT(partition_log_end(p), 20);
    CHECK_EQ_INT(partition_size_bytes(p), (int64_t)(10 * blen));
    s = read_at(p, 13, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.first_base == 12 && s.next == 20);
    append_batches(p, 1, 2, 5000, 50);
    CHECK_EQ_INT(partition_log_end(p), 22);
    partition_close(p);

    /* Many small batches and a small index interval: every offset is found through the index,
     * and still after the index files were damaged. */
    char tmp2[64], dir2[96];
    make_dirs(tmp2, dir2);
    struct partition_config cfg2 = config(64 * 1024);
    p = open_part(dir2, &cfg2);
    if (!p)
        return;
    append_batches(p, 2000, 1, 0, 10);
    CHECK(count_files(dir2, ".log") > 1);
    partition_close(p);
    CHECK(count_files(dir2, ".index") >= count_files(dir2, ".log") - 1);
    for (int round = 0; round < 2; round++) {
        p = open_part(dir2, &cfg2);
        if (!p)
            return;
        CHECK_EQ_INT(partition_log_end(p), 2000);
        int bad = 0;
        for (int64_t off = 0; off < 2000; off += 7) {
            s = read_at(p, off, INT64_MAX, 1, &rc);
            if (rc != 0 || !s.ok || s.batches != 1 || s.first_base != off)
                bad++;
        }
        CHECK_EQ_INT(bad, 0);
        partition_close(p);
        /* Scribble over the first segment's index: reopen must notice and rebuild it. */
        seg_path(path, dir2, 0, ".index");
        int fd = open(path, O_WRONLY);
        CHECK(fd >= 0);
        if (fd >= 0) {
            CHECK(pwrite(fd, "\xff\xff\xff\xff\x00\x00\x00\x01", 8, 8) == 8);
            close(fd);
        }
    }
    rm_rf(tmp2);
    rm_rf(tmp);
}

static void test_recovery(void)
{
    char tmp[64], dir[96], path[160];
    make_dirs(tmp, dir);
    struct partition_config cfg = config(1 << 20);
    struct partition *p = open_part(dir, &cfg);
    if (!p)
        return;
    uint8_t b[65536];
    size_t blen = build_batch(b, 3, 0, 30);
    append_batches(p, 5, 3, 1000, 30); /* offsets 0..14 */
    partition_close(p);
    seg_path(path, dir, 0, ".log");

    /* Torn write: the last batch lost its last few bytes. */
    CHECK_EQ_INT(truncate(path, (off_t)(5 * blen - 3)), 0);
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_end(p), 12);
    CHECK_EQ_INT(file_size(path), (int64_t)(4 * blen));
    int rc;
    struct scan s = read_at(p, 0, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 4 && s.next == 12);
    append_batches(p, 1, 3, 2000, 30);
    CHECK_EQ_INT(partition_log_end(p), 15);
    partition_close(p);
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_end(p), 15);
    partition_close(p);

    /* Garbage after the last batch is cut. */
    int fd = open(path, O_WRONLY | O_APPEND);
    uint8_t junk[100];
    memset(junk, 0xab, sizeof(junk));
    CHECK(fd >= 0 && write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
    if (fd >= 0)
        close(fd);
    /* And a plausible-looking header that runs past the end of the file. */
    fd = open(path, O_WRONLY | O_APPEND);
    uint8_t fake[61] = {0};
    put64(fake, 15);
    put32(fake + 8, 5000);
    fake[16] = 2;
    CHECK(fd >= 0 && write(fd, fake, sizeof(fake)) == (ssize_t)sizeof(fake));
    if (fd >= 0)
        close(fd);
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_end(p), 15);
    CHECK_EQ_INT(file_size(path), (int64_t)(5 * blen));
    partition_close(p);

    /* A flipped byte inside the third batch: it and everything after it is cut. */
    fd = open(path, O_RDWR);
    uint8_t x = 0;
    CHECK(fd >= 0 && pread(fd, &x, 1, (off_t)(2 * blen + 70)) == 1);
    x ^= 0x40;
    CHECK(fd >= 0 && pwrite(fd, &x, 1, (off_t)(2 * blen + 70)) == 1);
    if (fd >= 0)
        close(fd);
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_end(p), 6);
    s = read_at(p, 0, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 2);
    append_batches(p, 2, 3, 3000, 30);
    CHECK_EQ_INT(partition_log_end(p), 12);
    partition_close(p);

    /* A torn write in the only batch leaves an empty log that still starts at 0. */
    CHECK_EQ_INT(truncate(path, 20), 0);
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_start(p), 0);
    CHECK_EQ_INT(partition_log_end(p), 0);
    partition_close(p);
    rm_rf(tmp);
}

static void test_retention_bytes(void)
{
    char tmp[64], dir[96], path[160];
    make_dirs(tmp, dir);
    uint8_t b[65536];
    size_t blen = build_batch(b, 1, 0, 100);
    struct partition_config cfg = config((int64_t)(2 * blen)); /* 2 batches per segment */
    cfg.retention_bytes = (int64_t)(4 * blen);
    struct partition *p = open_part(dir, &cfg);
    if (!p)
        return;
    append_batches(p, 9, 1, 1000, 100); /* segments 0,2,4,6 full, 8 active with 1 batch */
    CHECK_EQ_INT(count_files(dir, ".log"), 5);
    struct sl_err err;
    /* 9 batches, keep at most 4: as in Kafka, whole segments go while what remains is still
     * at least the limit, so segments 0 and 2 go and 5 batches (4, 6, 8) stay. */
    CHECK_EQ_INT(partition_enforce_retention(p, 0, &err), 2);
    CHECK_EQ_INT(partition_log_start(p), 4);
    CHECK_EQ_INT(partition_log_end(p), 9);
    CHECK_EQ_INT(partition_size_bytes(p), (int64_t)(5 * blen));
    CHECK_EQ_INT(count_files(dir, ".log"), 3);
    seg_path(path, dir, 0, ".log");
    CHECK(access(path, F_OK) != 0);
    seg_path(path, dir, 0, ".index");
    CHECK(access(path, F_OK) != 0);
    int rc;
    read_at(p, 3, INT64_MAX, 1 << 20, &rc);
    CHECK_EQ_INT(rc, 1);
    struct scan s = read_at(p, 4, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 5);
    CHECK_EQ_INT(partition_enforce_retention(p, 0, &err), 0);
    partition_close(p);
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_start(p), 4);
    CHECK_EQ_INT(partition_log_end(p), 9);
    partition_close(p);
    rm_rf(tmp);
}

static void test_retention_time_and_timestamps(void)
{
    char tmp[64], dir[96];
    make_dirs(tmp, dir);
    uint8_t b[65536];
    size_t blen = build_batch(b, 4, 0, 10);
    struct partition_config cfg = config((int64_t)(2 * blen));
    cfg.retention_ms = 60000;
    struct partition *p = open_part(dir, &cfg);
    if (!p)
        return;
    int64_t now = 10000000;
    /* Four old batches (timestamps 1000..), then two recent ones: segments 0, 8, 16. */
    append_batches(p, 4, 4, 1000, 10);
    append_batches(p, 2, 4, now - 1000, 10);
    CHECK_EQ_INT(count_files(dir, ".log"), 3);

    int64_t off, ts;
    struct sl_err err;
    CHECK_EQ_INT(partition_offset_for_timestamp(p, 1005, &off, &ts, &err), 0);
    CHECK(off == 5 && ts == 1005);
    CHECK_EQ_INT(partition_offset_for_timestamp(p, 0, &off, &ts, &err), 0);
    CHECK(off == 0 && ts == 1000);
    CHECK_EQ_INT(partition_offset_for_timestamp(p, 2000, &off, &ts, &err), 0);
    CHECK(off == 16 && ts == now - 1000);
    CHECK_EQ_INT(partition_offset_for_timestamp(p, now + 1, &off, &ts, &err), 0);
    CHECK_EQ_INT(off, -1);
    partition_close(p);

    /* After a reopen the old segments' timestamps are not in memory: same answers. */
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_offset_for_timestamp(p, 1010, &off, &ts, &err), 0);
    CHECK(off == 10 && ts == 1010);

    CHECK_EQ_INT(partition_enforce_retention(p, now, &err), 2);
    CHECK_EQ_INT(partition_log_start(p), 16);
    CHECK_EQ_INT(partition_log_end(p), 24);
    CHECK_EQ_INT(count_files(dir, ".log"), 1);

    /* Everything expires: an empty active segment named for the log end keeps the start. */
    CHECK_EQ_INT(partition_enforce_retention(p, now + 3600000, &err), 1);
    CHECK_EQ_INT(partition_log_start(p), 24);
    CHECK_EQ_INT(partition_log_end(p), 24);
    CHECK_EQ_INT(partition_size_bytes(p), 0);
    CHECK_EQ_INT(count_files(dir, ".log"), 1);
    char path[160];
    seg_path(path, dir, 24, ".log");
    CHECK_EQ_INT(file_size(path), 0);
    CHECK_EQ_INT(partition_enforce_retention(p, now + 7200000, &err), 0);
    int rc;
    read_at(p, 0, INT64_MAX, 1 << 20, &rc);
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_INT(partition_offset_for_timestamp(p, 0, &off, &ts, &err), 0);
    CHECK_EQ_INT(off, -1);
    partition_close(p);

    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_start(p), 24);
    CHECK_EQ_INT(partition_log_end(p), 24);
    append_batches(p, 1, 4, now, 10);
    CHECK_EQ_INT(partition_log_end(p), 28);
    struct scan s = read_at(p, 24, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.first_base == 24 && s.batches == 1);
    partition_close(p);
    rm_rf(tmp);
}

static void test_big_batch(void)
{
    char tmp[64], dir[96];
    make_dirs(tmp, dir);
    struct partition_config cfg = config(300); /* smaller than the batches */
    struct partition *p = open_part(dir, &cfg);
    if (!p)
        return;
    append_batches(p, 3, 2, 0, 500); /* each batch gets a segment of its own */
    CHECK_EQ_INT(count_files(dir, ".log"), 3);
    int rc;
    struct scan s = read_at(p, 3, INT64_MAX, 10, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 1 && s.first_base == 2);
    s = read_at(p, 0, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 3);
    partition_close(p);
    rm_rf(tmp);
}

/* partition_slices: byte ranges for zero-copy fetches, checked against partition_read. */
static void test_slices(void)
{
    char tmp[64], dir[128];
    make_dirs(tmp, dir);
    struct partition_config cfg = config(4096); /* small segments: reads cross files */
    struct partition *p = open_part(dir, &cfg);
    CHECK(p != NULL);
    if (!p)
        return;
    append_batches(p, 40, 5, 1000, 100); /* 40 batches of 5 records: offsets 0..199 */
    struct log_slice sl[8];
    int n;
    size_t total;
    struct sl_err err;
    uint8_t b[65536];
    size_t batch_len = build_batch(b, 5, 0, 100);

    /* everything up to the end, generous budget: whole segments, exactly what read returns */
    struct buf whole;
    buf_init(&whole, 1 << 20);
    CHECK_EQ_INT(partition_read(p, 0, 200, 1 << 20, &whole, &err), 0);
    CHECK_EQ_INT(partition_slices(p, 0, 200, 1 << 20, sl, 8, &n, &total, &err), 0);
    CHECK(n > 1);                   /* crosses segment files */
    CHECK_EQ_INT(total, whole.len); /* 7 segment files, within the 8 slices */
    /* the slices' bytes, read back, are the log's bytes in order */
    struct buf got;
    buf_init(&got, 1 << 20);
    for (int i = 0; i < n; i++) {
        buf_reserve(&got, sl[i].len);
        CHECK_EQ_INT(pread(sl[i].fd, got.data + got.len, sl[i].len, sl[i].pos), sl[i].len);
        got.len += sl[i].len;
    }
    CHECK(got.len <= whole.len && memcmp(got.data, whole.data, got.len) == 0);

    /* a budget smaller than one batch still gives the whole first batch */
    log_slices_close(sl, n);
    CHECK_EQ_INT(partition_slices(p, 7, 200, 10, sl, 8, &n, &total, &err), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(total, batch_len);
    CHECK_EQ_INT(sl[0].pos % (int64_t)batch_len, 0); /* starts at the batch holding offset 7 */

    /* a budget of 2.5 batches: two whole ones and part of the third (clients drop it) */
    log_slices_close(sl, n);
    CHECK_EQ_INT(partition_slices(p, 0, 200, batch_len * 5 / 2, sl, 8, &n, &total, &err), 0);
    CHECK_EQ_INT(total, batch_len * 5 / 2);

    /* the limit (high watermark) ends the data at a batch boundary */
    log_slices_close(sl, n);
    CHECK_EQ_INT(partition_slices(p, 0, 15, 1 << 20, sl, 8, &n, &total, &err), 0);
    CHECK_EQ_INT(total, 3 * batch_len); /* batches 0-4, 5-9, 10-14 */
    log_slices_close(sl, n);
    CHECK_EQ_INT(partition_slices(p, 0, 12, 1 << 20, sl, 8, &n, &total, &err), 0);
    CHECK_EQ_INT(total, 2 * batch_len); /* the batch holding the limit is not sent */
    log_slices_close(sl, n);
    CHECK_EQ_INT(partition_slices(p, 15, 15, 1 << 20, sl, 8, &n, &total, &err), 0);
    CHECK_EQ_INT(total, 0);

    log_slices_close(sl, n);
    /* out of range */
    CHECK_EQ_INT(partition_slices(p, 201, 201, 100, sl, 8, &n, &total, &err), 1);
    buf_free(&whole);
    buf_free(&got);
    partition_close(p);
    rm_rf(tmp);
}

/* A storage error recorded at offset X (partition_mark_storage_error): the next open cuts the
 * log back to X, whole segments past it removed, and forgets the mark. */
static void test_storage_error_cut(void)
{
    char tmp[64], dir[96], path[160];
    make_dirs(tmp, dir);
    uint8_t b[65536];
    size_t blen = build_batch(b, 3, 0, 30);
    struct partition_config cfg = config((int64_t)(3 * blen)); /* 3 batches per segment */
    struct partition *p = open_part(dir, &cfg);
    if (!p)
        return;
    struct sl_err err;
    append_batches(p, 4, 3, 1000, 30); /* offsets 0..11, segments at 0 and 9 */
    CHECK_EQ_INT(partition_sync(p, &err), 0);
    CHECK_EQ_INT(partition_mark_storage_error(p, 12, &err), 0);
    append_batches(p, 6, 3, 2000, 30); /* 12..29: never synced, as if its fsync had failed */
    CHECK_EQ_INT(partition_log_end(p), 30);
    partition_close(p);
    seg_path(path, dir, 27, ".log");
    CHECK(file_size(path) > 0);

    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_end(p), 12);
    CHECK_EQ_INT(count_files(dir, ".log"), 2);
    seg_path(path, dir, 9, ".log");
    CHECK_EQ_INT(file_size(path), (int64_t)blen);
    int rc;
    struct scan s = read_at(p, 0, INT64_MAX, 1 << 20, &rc);
    CHECK(rc == 0 && s.ok && s.batches == 4 && s.next == 12);
    append_batches(p, 1, 3, 3000, 30);
    partition_close(p);
    /* The mark is gone: a second open keeps what was appended after the cut. */
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_end(p), 15);

    /* Nothing synced at all: the log is cut to empty and still starts at 0. */
    CHECK_EQ_INT(partition_mark_storage_error(p, 0, &err), 0);
    partition_close(p);
    p = open_part(dir, &cfg);
    if (!p)
        return;
    CHECK_EQ_INT(partition_log_start(p), 0);
    CHECK_EQ_INT(partition_log_end(p), 0);
    append_batches(p, 1, 3, 4000, 30);
    CHECK_EQ_INT(partition_log_end(p), 3);
    partition_close(p);
    rm_rf(tmp);
}

/* Pages of the file at path in [from, to) that are in the page cache. */
static long resident_pages(const char *path, int64_t from, int64_t to)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < to) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    long pg = sysconf(_SC_PAGESIZE), n = 0;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return -1;
    size_t npages = ((size_t)st.st_size + (size_t)pg - 1) / (size_t)pg;
    unsigned char *vec = malloc(npages);
    if (vec && mincore(m, (size_t)st.st_size, vec) == 0) {
        for (int64_t i = from / pg; i < (to + pg - 1) / pg; i++)
            n += vec[i] & 1;
    } else {
        n = -1;
    }
    free(vec);
    munmap(m, (size_t)st.st_size);
    return n;
}

/* Drop-behind (partition_sync_prepare's keep): once synced, the active segment's whole MiBs
 * older than its newest keep bytes leave the page cache, the newest stay, the records read
 * back whole, and keep = 0 drops nothing. In a directory under the working directory (the
 * build tree): tmpfs pages cannot be dropped. */
static void test_drop_behind(void)
{
    char tmp[64] = "sluice-drop-XXXXXX", dir[96];
    if (!mkdtemp(tmp))
        abort();
    struct statfs fs;
    bool droppable = statfs(tmp, &fs) == 0 && fs.f_type != 0x01021994; /* TMPFS_MAGIC */
    if (!droppable)
        fprintf(stderr, "test_drop_behind: %s is on tmpfs: residency not checked\n", tmp);
    const int64_t mib = 1 << 20;
    for (int keep_on = 1; keep_on >= 0; keep_on--) {
        sprintf(dir, "%s/topic-%d", tmp, keep_on);
        struct partition_config cfg = config((int64_t)1 << 30);
        struct partition *p = open_part(dir, &cfg);
        CHECK(p != NULL);
        if (!p)
            break;
        int64_t keep = keep_on ? 2 * mib : 0, dropped = 0;
        for (int round = 0; round < 2; round++) {
            append_batches(p, round == 0 ? 100 : 40, 30, 0, 2000); /* 6 MB, then 2.4 MB more */
            struct partition_sync_ticket t;
            struct sl_err err;
            CHECK_EQ_INT(partition_sync_prepare(p, keep, &t, &err), 1);
            int64_t size = partition_size_bytes(p);
            int64_t want = keep_on ? (size - keep) / mib * mib : 0;
            CHECK_EQ_INT(t.drop_from, dropped);
            CHECK_EQ_INT(t.drop_to, keep_on ? want : 0);
            char path[160];
            snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
            CHECK_EQ_INT(partition_sync_run(&t, &err), 0);
            partition_sync_finish(p, &t);
            if (droppable) {
                long pg = sysconf(_SC_PAGESIZE);
                CHECK_EQ_INT(resident_pages(path, 0, want), 0);
                /* the newest keep bytes (and everything, without drop-behind) stay cached */
                CHECK_EQ_INT(resident_pages(path, want, size), (size - want + pg - 1) / pg);
            }
            dropped = keep_on ? want : 0;
        }
        int rc;
        struct scan sc = read_at(p, 0, INT64_MAX, 64 << 20, &rc);
        CHECK(rc == 0 && sc.ok && sc.batches == 140 && sc.first_base == 0);
        partition_close(p);
    }
    rm_rf(tmp);
}

int main(void)
{
    test_slices();
    test_empty_and_append_read();
    test_roll_reopen_index();
    test_recovery();
    test_storage_error_cut();
    test_retention_bytes();
    test_retention_time_and_timestamps();
    test_big_batch();
    test_drop_behind();
    return check_summary();
}
