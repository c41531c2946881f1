/* Regression 006 (issue 11, finding 9): directory entries are made durable. DATA_DIR/topics and
 * DATA_DIR/groups used to be created without an fsync of DATA_DIR (a power loss could drop them
 * and everything under them); a retention-driven roll created the new active segment (the only
 * record of the log start) without syncing the directory; and a failed directory fsync after a
 * group-log compaction was ignored. fsync is interposed (the program's definition wins over
 * libc's) to see which directories are synced and to make directory syncs fail. */
#include <errno.h>
#include <sys/syscall.h>

#include "broker/broker.h"
#include "broker/group.h"
#include "broker/group_records.h"
#include "check.h"
#include "partgen.h"

static ino_t dirs_synced[256];
static int ndirs;
static bool fail_dir_sync;

int fsync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (fail_dir_sync) {
            errno = EIO;
            return -1;
        }
        if (ndirs < 256)
            dirs_synced[ndirs++] = st.st_ino;
    }
    return (int)syscall(SYS_fsync, fd);
}

static bool synced(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    for (int i = 0; i < ndirs; i++)
        if (dirs_synced[i] == st.st_ino)
            return true;
    return false;
}

static void test_data_dirs(void)
{
    char tmp[64], data[128];
    strcpy(tmp, "/tmp/sluice-regress-XXXXXX");
    if (!mkdtemp(tmp))
        abort();
    snprintf(data, sizeof(data), "%s/data", tmp);
    struct sl_err err;
    ndirs = 0;
    struct registry reg;
    CHECK_EQ_INT(registry_open(&reg, data, &err), 0);
    CHECK(synced(data)); /* holds the new topics/ entry */
    CHECK(synced(tmp));  /* holds the new data/ entry */
    registry_close(&reg);

    ndirs = 0;
    struct groups gs;
    CHECK_EQ_INT(groups_open(&gs, data, 0, &err), 0);
    CHECK(synced(data)); /* holds the new groups/ entry */
    groups_close(&gs);

    /* A directory sync that fails after the compaction's rename is an error, as any failed
     * fsync is: the renamed log may not survive a power loss. */
    fail_dir_sync = true;
    int rc = groups_open(&gs, data, 0, &err);
    fail_dir_sync = false;
    CHECK(rc != 0);
    groups_close(&gs);
    pg_rm_rf(tmp);
}

static void test_retention_roll(void)
{
    char tmp[64], dir[96];
    pg_dirs(tmp, dir);
    struct partition_config cfg = {1 << 20, -1, 1000, 256}; /* retention.ms = 1 s */
    struct partition *p = NULL;
    struct sl_err err;
    CHECK_EQ_INT(partition_open(dir, &cfg, &p, &err), 0);
    if (!p)
        return;
    CHECK_EQ_INT(pg_append(p, 3, 2, 10), 0); /* timestamps around 1000 ms after the epoch */
    CHECK_EQ_INT(partition_sync(p, &err), 0);
    ndirs = 0;
    /* everything has expired: the only segment is deleted behind a new empty active one */
    CHECK_EQ_INT(partition_enforce_retention(p, 1000000, &err), 1);
    CHECK_EQ_INT(partition_log_start(p), 6);
    if (partition_dirty(p))
        CHECK_EQ_INT(partition_sync(p, &err), 0); /* the broker syncs what says it is dirty */
    CHECK(synced(dir));
    partition_close(p);
    pg_rm_rf(tmp);
}

int main(void)
{
    test_data_dirs();
    test_retention_roll();
    return check_summary();
}
