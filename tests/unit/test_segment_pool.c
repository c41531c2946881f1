/* Unit test of the segment descriptor pool (segment.c): with a cap of 8 open segment files,
 * 40 partitions of several segments each are written, synced, read back and reopened; the
 * number of open segment descriptors never passes the cap and every byte is where it should be.
 * Also checks that a Fetch slice stays readable after the pool closed the segment's own
 * descriptor (slices carry a dup). */
#include "broker/segment.h"
#include "check.h"
#include "partgen.h"

#define NPART 40

/* Descriptors open in this process, as the kernel counts them. */
static int fds_open(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

int main(void)
{
    char tmp[64], dir[NPART][128];
    strcpy(tmp, "/tmp/sluice-pool-XXXXXX");
    if (!mkdtemp(tmp))
        abort();
    segment_set_max_open(8);
    int base_fds = fds_open();
    uint8_t b[65536];
    size_t blen = pg_batch(b, 2, 0, 100);
    int64_t seg_bytes = (int64_t)(2 * blen + 1); /* two batches per segment */
    struct partition *p[NPART];
    struct sl_err err;
    int max_open = 0;
    for (int i = 0; i < NPART; i++) {
        snprintf(dir[i], sizeof(dir[i]), "%s/t-%d", tmp, i);
        p[i] = pg_open(dir[i], seg_bytes);
        CHECK(p[i] != NULL);
    }
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < NPART; i++) {
            if (p[i])
                CHECK_EQ_INT(pg_append(p[i], 1, 2, 100), 0);
            if (segment_open_fds() > max_open)
                max_open = segment_open_fds();
        }
    }
    for (int i = 0; i < NPART; i++)
        if (p[i])
            CHECK_EQ_INT(partition_sync(p[i], &err), 0);
    CHECK(max_open <= 8);
    CHECK(fds_open() <= base_fds + 8); /* and index files hold none */
    /* a slice of partition 0, then reads of every other partition evict its descriptor */
    struct log_slice sl[4];
    int n = 0;
    size_t total = 0;
    CHECK_EQ_INT(partition_slices(p[0], 0, 10, 1 << 20, sl, 4, &n, &total, &err), 0);
    CHECK(n >= 1);
    for (int i = 0; i < NPART; i++) {
        if (!p[i])
            continue;
        struct buf out;
        buf_init(&out, 1 << 20);
        int64_t next;
        CHECK_EQ_INT(partition_read(p[i], 0, INT64_MAX, 1 << 20, &out, &err), 0);
        CHECK(pg_batches_ok(out.data, out.len, &next) && next == 10);
        buf_free(&out);
    }
    if (n >= 1) {
        uint8_t head[12];
        CHECK_EQ_INT(pread(sl[0].fd, head, 12, sl[0].pos), 12);
        CHECK_EQ_INT(head[7], 0); /* the first batch's BaseOffset, 0 */
    }
    log_slices_close(sl, n);
    CHECK(segment_open_fds() <= 8);
    for (int i = 0; i < NPART; i++)
        if (p[i])
            partition_close(p[i]);
    CHECK_EQ_INT(segment_open_fds(), 0);
    /* reopen all: recovery goes through the pool too */
    for (int i = 0; i < NPART; i++) {
        p[i] = pg_open(dir[i], seg_bytes);
        CHECK(p[i] != NULL && partition_log_end(p[i]) == 10);
        CHECK(segment_open_fds() <= 8);
    }
    for (int i = 0; i < NPART; i++)
        if (p[i])
            partition_close(p[i]);
    pg_rm_rf(tmp);
    return check_summary();
}
