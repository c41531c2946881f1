/* Regression 005 (issue 11, finding 1): the consumer-group record log never drops a later valid
 * record. Three ways it used to:
 *  a) a record that passes its CRC but cannot be applied (a member with more than 1000
 *     protocols) stopped replay, and the compaction at start then deleted every later record:
 *     an acknowledged OffsetCommit after it was lost on restart;
 *  b) a failed or partial append (here EFBIG from RLIMIT_FSIZE, like a transient ENOSPC) was
 *     never cut back, so replay stopped at the torn record and every later commit was lost;
 *  c) a group record over the record size limit made compaction, hence groups_sync, fail
 *     (and the broker exit). */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "broker/group.h"
#include "broker/group_records.h"
#include "check.h"
#include "partgen.h"

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

/* Makes g a stable group with nmembers members, each with nprotocols protocols of md_len
 * bytes of metadata. */
static void make_stable(struct group *g, int nmembers, int nprotocols, int32_t md_len)
{
    g->generation = 1;
    g->protocol_type = xstrdup("consumer");
    g->protocol = xstrdup("p0");
    g->members = calloc((size_t)nmembers, sizeof(*g->members));
    for (int i = 0; i < nmembers; i++) {
        struct member *m = calloc(1, sizeof(*m));
        char id[32];
        snprintf(id, sizeof(id), "m%d", i);
        m->member_id = xstrdup(id);
        m->client_id = xstrdup("c");
        m->client_host = xstrdup("/127.0.0.1");
        m->session_timeout_ms = 10000;
        m->rebalance_timeout_ms = 10000;
        m->protocol_type = xstrdup("consumer");
        m->protocols = calloc((size_t)nprotocols, sizeof(*m->protocols));
        for (int k = 0; k < nprotocols; k++) {
            char name[32];
            snprintf(name, sizeof(name), "p%d", k);
            m->protocols[k].name = xstrdup(name);
            m->protocols[k].metadata = calloc(1, (size_t)md_len + 1);
            m->protocols[k].metadata_len = md_len;
        }
        m->nprotocols = nprotocols;
        m->group = g;
        g->members[i] = m;
        g->nmembers = i + 1;
    }
    if (!g->leader)
        g->leader = xstrdup("m0");
    g->state = GS_STABLE;
}

static int64_t committed(struct groups *gs, const char *group, int32_t partition)
{
    const struct committed *c = group_committed(gs, group, "t", partition);
    return c ? c->offset : -1;
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

static void test_unappliable_record(void)
{
    char tmp[64], dir[96];
    pg_dirs(tmp, dir);
    struct groups gs;
    struct sl_err err;
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    struct group *g = group_get(&gs, "many-protocols");
    make_stable(g, 1, 1001, 4);
    group_store_put_group(&gs, g, &err);
    CHECK_EQ_INT(group_store_put_offset(&gs, "many-protocols", "t", 0, 42, -1, "", 1, &err), 0);
    CHECK_EQ_INT(group_store_put_offset(&gs, "other", "t", 1, 7, -1, "", 1, &err), 0);
    CHECK_EQ_INT(groups_sync(&gs, &err), 0);
    groups_close(&gs);
    for (int round = 0; round < 2; round++) { /* and again after the compaction at start */
        CHECK_EQ_INT(open_groups(&gs, dir), 0);
        CHECK_EQ_INT(committed(&gs, "many-protocols", 0), 42);
        CHECK_EQ_INT(committed(&gs, "other", 1), 7);
        groups_close(&gs);
    }
    pg_rm_rf(tmp);
}

static void test_partial_append(void)
{
    char tmp[64], dir[96], path[160];
    pg_dirs(tmp, dir);
    snprintf(path, sizeof(path), "%s/groups/state.log", dir);
    struct groups gs;
    struct sl_err err;
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    CHECK_EQ_INT(group_store_put_offset(&gs, "g", "t", 0, 1, -1, "", 1, &err), 0);
    CHECK_EQ_INT(groups_sync(&gs, &err), 0);
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    /* The file may grow by 20 bytes only: the next record (with 200 bytes of metadata) is cut
     * short, as by a disk that fills up. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 20;
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char md[201];
    memset(md, 'x', 200);
    md[200] = '\0';
    CHECK(group_store_put_offset(&gs, "g", "t", 1, 100, -1, md, 1, &err) != 0);
    setrlimit(RLIMIT_FSIZE, &old);
    /* the disk has room again: this commit is acknowledged and must survive */
    CHECK_EQ_INT(group_store_put_offset(&gs, "g", "t", 2, 200, -1, "", 1, &err), 0);
    CHECK_EQ_INT(groups_sync(&gs, &err), 0);
    groups_close(&gs);
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    CHECK_EQ_INT(committed(&gs, "g", 0), 1);
    CHECK_EQ_INT(committed(&gs, "g", 2), 200);
    groups_close(&gs);
    pg_rm_rf(tmp);
}

static void test_huge_group_record(void)
{
    char tmp[64], dir[96];
    pg_dirs(tmp, dir);
    struct groups gs;
    struct sl_err err;
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    /* 17 members with 1 MiB of protocol metadata each: over the 16 MiB record limit */
    struct group *g = group_get(&gs, "huge");
    make_stable(g, 17, 1, 1 << 20);
    group_store_put_group(&gs, g, &err);
    /* 10 MB of superseded commits: groups_sync then compacts the log */
    char md[4001];
    memset(md, 'm', 4000);
    md[4000] = '\0';
    int ok = 0;
    for (int i = 0; i < 2500; i++) { /* as group_commit does: memory, then the log */
        group_set_offset(g, "t", 0, i, -1, md, 1);
        ok += group_store_put_offset(&gs, "huge", "t", 0, i, -1, md, 1, &err) == 0;
    }
    CHECK_EQ_INT(ok, 2500);
    int rc = groups_sync(&gs, &err);
    if (rc != 0)
        fprintf(stderr, "groups_sync: %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    groups_close(&gs);
    CHECK_EQ_INT(open_groups(&gs, dir), 0);
    CHECK_EQ_INT(committed(&gs, "huge", 0), 2499);
    groups_close(&gs);
    pg_rm_rf(tmp);
}

int main(void)
{
    test_unappliable_record();
    test_partial_append();
    test_huge_group_record();
    return check_summary();
}
