/* Group-log compaction off the loop thread (issue 11, finding 8; interop regression 108 shows
 * the loop serving meanwhile): the loop frames the live state and begins, appends go on to
 * both logs, another thread writes, syncs and renames, the loop ends it. Here the three steps
 * run in turn on one thread, with appends in between:
 *  a) every commit made before, during and after the compaction is there after a reopen, and
 *     the log is small;
 *  b) an append the new log refuses fails as a whole (the old log is cut back too) and the
 *     store then refuses appends, so a torn record is never followed by a later one;
 *  c) a compaction that fails before its rename leaves the old log in use, with everything. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/group.h"
#include "broker/group_records.h"
#include "broker/group_store.h"
#include "check.h"
#include "partgen.h"

static char md[4001];

static int64_t committed(struct groups *gs, const char *group, int32_t partition)
{
    const struct committed *c = group_committed(gs, group, "t", partition);
    return c ? c->offset : -1;
}

/* As group_commit does: the log, then memory. */
static int commit(struct groups *gs, const char *group, int32_t partition, int64_t offset)
{
    struct sl_err err;
    if (group_store_put_offset(gs, group, "t", partition, offset, -1, md, 1, &err) != 0)
        return -1;
    group_set_offset(group_get(gs, group), "t", partition, offset, -1, md, 1);
    return 0;
}

static int open_groups(struct groups *gs, const char *dir)
{
    struct sl_err err;
    if (groups_open(gs, dir, 0, &err) != 0) {
        fprintf(stderr, "groups_open: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* 10 MB of superseded commits of g/0, then a compaction begun. */
static struct group_store_compaction *fill_and_begin(struct groups *gs)
{
    int ok = 0;
    for (int i = 0; i < 2500; i++)
        ok += commit(gs, "g", 0, i) == 0;
    CHECK_EQ_INT(ok, 2500);
    struct sl_err err = {{0}};
    CHECK(gs->store.end > 8 << 20); /* (not synced: groups_sync would compact it itself) */
    struct group_store_compaction *c = groups_compact_begin(gs, &err);
    if (!c)
        fprintf(stderr, "groups_compact_begin: %s\n", err.msg);
    CHECK(c != NULL);
    CHECK(groups_compact_begin(gs, &err) == NULL); /* one at a time */
    return c;
}

static void test_appends_during(void)
{
    char tmp[64], dir[96], path[160];
    pg_dirs(tmp, dir);
    snprintf(path, sizeof(path), "%s/groups/state.log", dir);
    struct groups gs;
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    struct group_store_compaction *c = fill_and_begin(&gs);
    if (!c)
        return;
    CHECK_EQ_INT(commit(&gs, "g", 1, 11), 0); /* before the head is written */
    group_store_compact_run(c);
    CHECK_EQ_INT(c->stage, 2);
    CHECK_EQ_INT(commit(&gs, "h", 2, 22), 0); /* renamed, not yet switched */
    struct sl_err err;
    CHECK_EQ_INT(group_store_sync(&gs.store, &err), 0);
    int old_fd;
    bool failed;
    CHECK_EQ_INT(group_store_compact_end(&gs.store, c, &old_fd, &failed, &err), 0);
    CHECK(!failed);
    CHECK(old_fd >= 0);
    close(old_fd);
    free(c);
    CHECK_EQ_INT(commit(&gs, "h", 3, 33), 0); /* after the switch */
    CHECK_EQ_INT(groups_sync(&gs, &err), 0);
    groups_close(&gs);
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK(st.st_size < 64 * 1024);
    CHECK(access(path, F_OK) == 0);
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    CHECK_EQ_INT(committed(&gs, "g", 0), 2499);
    CHECK_EQ_INT(committed(&gs, "g", 1), 11);
    CHECK_EQ_INT(committed(&gs, "h", 2), 22);
    CHECK_EQ_INT(committed(&gs, "h", 3), 33);
    groups_close(&gs);
    pg_rm_rf(tmp);
}

static void test_new_log_refuses(void)
{
    char tmp[64], dir[96], path[160];
    pg_dirs(tmp, dir);
    snprintf(path, sizeof(path), "%s/groups/state.log", dir);
    struct groups gs;
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    struct group_store_compaction *c = fill_and_begin(&gs);
    if (!c)
        return;
    CHECK_EQ_INT(commit(&gs, "g", 1, 11), 0);
    int64_t end = gs.store.end;
    /* the new log's descriptor now refuses writes and truncation, like a failing disk */
    char tmpf[200];
    snprintf(tmpf, sizeof(tmpf), "%s.new", path);
    int ro = open(tmpf, O_RDONLY);
    CHECK(ro >= 0);
    CHECK(dup2(ro, gs.store.shadow_fd) == gs.store.shadow_fd);
    close(ro);
    CHECK(commit(&gs, "g", 2, 22) != 0);
    CHECK_EQ_INT(gs.store.end, end);
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_size, end);       /* the old log was cut back too */
    CHECK(commit(&gs, "g", 3, 33) != 0); /* refused: nothing may follow a torn record */
    group_store_compact_run(c);
    struct sl_err err;
    int old_fd;
    bool failed;
    CHECK_EQ_INT(group_store_compact_end(&gs.store, c, &old_fd, &failed, &err), 0);
    if (old_fd >= 0)
        close(old_fd);
    free(c);
    groups_close(&gs);
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    CHECK_EQ_INT(committed(&gs, "g", 0), 2499);
    CHECK_EQ_INT(committed(&gs, "g", 1), 11);
    CHECK_EQ_INT(committed(&gs, "g", 2), -1);
    CHECK_EQ_INT(committed(&gs, "g", 3), -1);
    CHECK_EQ_INT(commit(&gs, "g", 4, 44), 0); /* after a restart the log takes appends */
    groups_close(&gs);
    pg_rm_rf(tmp);
}

static void test_failed_before_rename(void)
{
    char tmp[64], dir[96], path[160];
    pg_dirs(tmp, dir);
    snprintf(path, sizeof(path), "%s/groups/state.log", dir);
    struct groups gs;
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    struct group_store_compaction *c = fill_and_begin(&gs);
    if (!c)
        return;
    CHECK_EQ_INT(commit(&gs, "g", 1, 11), 0);
    snprintf(c->path, sizeof(c->path), "%s/no-such-dir/state.log", tmp); /* rename fails */
    group_store_compact_run(c);
    CHECK_EQ_INT(c->stage, 0);
    struct sl_err err;
    int old_fd;
    bool failed;
    CHECK_EQ_INT(group_store_compact_end(&gs.store, c, &old_fd, &failed, &err), 0);
    CHECK(failed);
    CHECK_EQ_INT(old_fd, -1);
    free(c);
    char tmpf[200];
    snprintf(tmpf, sizeof(tmpf), "%s.new", path);
    CHECK(access(tmpf, F_OK) != 0); /* removed */
    CHECK_EQ_INT(commit(&gs, "g", 2, 22), 0);
    CHECK_EQ_INT(group_store_sync(&gs.store, &err), 0);
    groups_close(&gs);
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    CHECK_EQ_INT(committed(&gs, "g", 0), 2499);
    CHECK_EQ_INT(committed(&gs, "g", 1), 11);
    CHECK_EQ_INT(committed(&gs, "g", 2), 22);
    groups_close(&gs);
    pg_rm_rf(tmp);
}

int main(void)
{
    memset(md, 'm', 4000);
    test_appends_during();
    test_new_log_refuses();
    test_failed_before_rename();
    return check_summary();
}
