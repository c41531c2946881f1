/* Regression 002 (issue 11, finding 4): a Fetch positioned inside an offset gap must move on to
 * the next segment. A crash between a segment roll and the group fsync can leave the end of one
 * segment short of the next segment's base offset; partition_slices (the zero-copy Fetch path)
 * used to stop at the gap and return 0 bytes forever, while partition_read moved on. */
#include "check.h"
#include "partgen.h"

int main(void)
{
    char tmp[64], dir[96], path[160];
    pg_dirs(tmp, dir);
    struct partition *p = pg_open(dir, 1 << 20);
    CHECK(p != NULL);
    if (!p)
        return check_summary();
    CHECK_EQ_INT(pg_append(p, 2, 5, 20), 0); /* offsets 0..9 in segment 0 */
    partition_close(p);
    /* The next segment starts at 15: offsets 10..14 were lost with a torn tail. */
    snprintf(path, sizeof(path), "%s/%020d.log", dir, 15);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    p = pg_open(dir, 1 << 20);
    CHECK(p != NULL);
    if (!p)
        return check_summary();
    CHECK_EQ_INT(pg_append(p, 2, 5, 20), 0); /* offsets 15..24 */
    CHECK_EQ_INT(partition_log_end(p), 25);

    struct log_slice sl[8];
    int n = 0;
    size_t total = 0;
    struct sl_err err;
    /* a consumer at 10 (the end of segment 0, inside the gap) gets the batches from 15 on */
    CHECK_EQ_INT(partition_slices(p, 10, 25, 1 << 20, sl, 8, &n, &total, &err), 0);
    CHECK(total > 0);
    if (n > 0) {
        uint8_t head[8];
        CHECK_EQ_INT(pread(sl[0].fd, head, 8, sl[0].pos), 8);
        int64_t base = 0;
        for (int i = 0; i < 8; i++)
            base = base << 8 | head[i];
        CHECK_EQ_INT(base, 15);
    }
    log_slices_close(sl, n);
    /* and partition_read agrees */
    struct buf out;
    buf_init(&out, 1 << 20);
    CHECK_EQ_INT(partition_read(p, 12, 25, 1 << 20, &out, &err), 0);
    int64_t next;
    CHECK(out.len > 0 && pg_batches_ok(out.data, out.len, &next) && next == 25);
    buf_free(&out);
    partition_close(p);
    pg_rm_rf(tmp);
    return check_summary();
}
