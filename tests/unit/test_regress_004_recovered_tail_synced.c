/* Regression 004 (issue 11, finding 6): opening a partition makes the recovered log durable
 * before its end is published as the high watermark. After kill -9 the page cache still holds
 * never-acknowledged appends; if they are served without an fdatasync first, a later power
 * loss can drop them and the offsets be reused for other records. This test interposes
 * fdatasync/fsync (the program's own definitions win over libc's) and checks that every
 * segment file holding data was synced by partition_open. */
#include <sys/syscall.h>

#include "check.h"
#include "partgen.h"

static ino_t synced[64];
static int nsynced;

static void note(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && nsynced < 64)
        synced[nsynced++] = st.st_ino;
}

int fdatasync(int fd)
{
    note(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
    note(fd);
    return (int)syscall(SYS_fsync, fd);
}

static bool was_synced(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    for (int i = 0; i < nsynced; i++)
        if (synced[i] == st.st_ino)
            return true;
    return false;
}

int main(void)
{
    char tmp[64], dir[96], path[160];
    pg_dirs(tmp, dir);
    uint8_t b[65536];
    size_t blen = pg_batch(b, 2, 0, 40);
    struct partition *p = pg_open(dir, (int64_t)(3 * blen + 1));
    CHECK(p != NULL);
    if (!p)
        return check_summary();
    CHECK_EQ_INT(pg_append(p, 5, 2, 40), 0); /* segments 0 (offsets 0..5) and 6 (6..9) */
    partition_close(p);                      /* like kill -9: nothing synced */
    nsynced = 0;
    p = pg_open(dir, (int64_t)(3 * blen + 1));
    CHECK(p != NULL);
    if (!p)
        return check_summary();
    CHECK_EQ_INT(partition_log_end(p), 10);
    snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
    CHECK(was_synced(path));
    snprintf(path, sizeof(path), "%s/%020d.log", dir, 6);
    CHECK(was_synced(path));
    partition_close(p);
    pg_rm_rf(tmp);
    return check_summary();
}
