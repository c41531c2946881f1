/* Regression 003 (issue 11, finding 5): every segment not known to be fsynced whole is
 * recovered on open, not only the last one. A roll happens before the group fsync, so after a
 * power loss an older segment can end in a torn or corrupt batch; it used to be trusted
 * (headers only) and served with a bad CRC. */
#include "check.h"
#include "partgen.h"

int main(void)
{
    char tmp[64], dir[96], path[160];
    pg_dirs(tmp, dir);
    uint8_t b[65536];
    size_t blen = pg_batch(b, 3, 0, 30);
    struct partition *p = pg_open(dir, (int64_t)(4 * blen + 1));
    CHECK(p != NULL);
    if (!p)
        return check_summary();
    /* 6 batches: segment 0 holds 4 (offsets 0..11), segment 12 holds 2; never synced */
    CHECK_EQ_INT(pg_append(p, 6, 3, 30), 0);
    partition_close(p);
    /* the power loss tore the last batch of segment 0: flip a byte in its records */
    snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint8_t x = 0;
    off_t at = (off_t)(3 * blen + 70);
    CHECK(fd >= 0 && pread(fd, &x, 1, at) == 1);
    x ^= 0x5a;
    CHECK(fd >= 0 && pwrite(fd, &x, 1, at) == 1);
    if (fd >= 0)
        close(fd);

    p = pg_open(dir, (int64_t)(4 * blen + 1));
    CHECK(p != NULL);
    if (!p)
        return check_summary();
    struct buf out;
    struct sl_err err;
    buf_init(&out, 1 << 20);
    CHECK_EQ_INT(partition_read(p, 0, INT64_MAX, 1 << 20, &out, &err), 0);
    int64_t next;
    /* what is served is whole, CRC-valid batches: the corrupt one was cut */
    CHECK(pg_batches_ok(out.data, out.len, &next));
    buf_free(&out);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == (off_t)(3 * blen));
    partition_close(p);
    pg_rm_rf(tmp);
    return check_summary();
}
