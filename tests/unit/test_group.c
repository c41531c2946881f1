/* The group coordinator alone, on a fake clock and without a record log: JoinGroup with
 * MEMBER_ID_REQUIRED, the initial delay, the leader's SyncGroup, a rebalance when a second
 * member joins, session expiry, LeaveGroup, a requester that goes away, pending member ids,
 * committed offsets, and no group made by a refused JoinGroup. */
#include <stdlib.h>
#include <string.h>

#include "broker/group.h"
#include "broker/kerr.h"
#include "check.h"

static int64_t now;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return now;
}

static struct protocol range = {"range", (uint8_t *)"meta", 4};

static struct join_req join_req(const char *member)
{
    struct join_req jr = {
        .group_id = "g",
        .member_id = member,
        .client_id = "test",
        .client_host = "/127.0.0.1",
        .session_timeout_ms = 10000,
        .rebalance_timeout_ms = 30000,
        .protocol_type = "consumer",
        .protocols = &range,
        .nprotocols = 1,
        .require_known_member = true,
    };
    return jr;
}

/* JoinGroup v4 the way clients do it: first without an id, then with the one handed out. */
static struct group_answer *join_new(struct groups *gs, char *id_out, size_t cap)
{
    struct join_req jr = join_req("");
    struct group_answer *a = group_join(gs, &jr);
    CHECK(a && a->ready);
    CHECK_EQ_INT(a->error, KERR_MEMBER_ID_REQUIRED);
    snprintf(id_out, cap, "%s", a->member_id);
    group_answer_release(a);
    jr = join_req(id_out);
    return group_join(gs, &jr);
}

static struct group_answer *sync_as(struct groups *gs, const char *member, int32_t generation,
                                    const char **ids, const char **data, int n)
{
    struct kslice ks[4], ds[4];
    for (int i = 0; i < n; i++) {
        ks[i] = (struct kslice){(const uint8_t *)ids[i], (int32_t)strlen(ids[i])};
        ds[i] = (struct kslice){(const uint8_t *)data[i], (int32_t)strlen(data[i])};
    }
    return group_sync(gs, "g", generation, member, ks, ds, n);
}

static void free_groups(struct groups *gs)
{
    for (int32_t i = 0; i < gs->n; i++)
        group_free(gs->all[i]);
    free(gs->all);
    groups_index_free(gs);
}

static void test_rebalances(void)
{
    struct groups gs = {0};
    groups_set_clock(&gs, fake_clock, NULL);
    gs.initial_delay_ms = 1000;
    now = 100000;

    /* a refused JoinGroup makes no group */
    struct join_req bad = join_req("");
    bad.group_id = "other";
    bad.session_timeout_ms = 10;
    struct group_answer *a = group_join(&gs, &bad);
    CHECK(a && a->ready);
    CHECK_EQ_INT(a->error, KERR_INVALID_SESSION_TIMEOUT);
    group_answer_release(a);
    bad.session_timeout_ms = 10000;
    bad.member_id = "ghost";
    a = group_join(&gs, &bad);
    CHECK_EQ_INT(a->error, KERR_UNKNOWN_MEMBER_ID);
    group_answer_release(a);
    CHECK(group_find(&gs, "other") == NULL);
    CHECK_EQ_INT(gs.n, 0);

    /* first member: held through the initial delay */
    char m1[512], m2[512];
    struct group_answer *j1 = join_new(&gs, m1, sizeof(m1));
    CHECK(j1 && !j1->ready);
    struct group *g = group_find(&gs, "g");
    CHECK(g && g->state == GS_PREPARING);
    CHECK(gs.deadlines);
    CHECK_EQ_INT(groups_tick(&gs), 101000);
    now = 100999;
    groups_tick(&gs);
    CHECK(!j1->ready);
    now = 101000;
    groups_tick(&gs);
    CHECK(j1->ready);
    CHECK(gs.answered);
    CHECK_EQ_INT(j1->error, 0);
    CHECK_EQ_INT(j1->generation, 1);
    CHECK_EQ_STR(j1->leader, m1);
    CHECK_EQ_STR(j1->protocol, "range");
    CHECK_EQ_INT(j1->nmembers, 1);
    CHECK_EQ_INT(j1->members[0].metadata_len, 4);
    group_answer_release(j1);
    CHECK(g->state == GS_COMPLETING);

    /* the leader's SyncGroup answers at once with its assignment */
    const char *ids1[] = {m1};
    const char *data1[] = {"p0p1"};
    struct group_answer *s1 = sync_as(&gs, m1, 1, ids1, data1, 1);
    CHECK(s1->ready);
    CHECK_EQ_INT(s1->error, 0);
    CHECK_EQ_INT(s1->assignment_len, 4);
    CHECK(memcmp(s1->assignment, "p0p1", 4) == 0);
    group_answer_release(s1);
    CHECK(g->state == GS_STABLE);
    CHECK_EQ_INT(group_heartbeat(&gs, "g", 1, m1), 0);
    CHECK_EQ_INT(group_heartbeat(&gs, "g", 0, m1), KERR_ILLEGAL_GENERATION);

    /* a second member: a rebalance; the first learns it from its heartbeat and rejoins */
    now += 1000;
    struct group_answer *j2 = join_new(&gs, m2, sizeof(m2));
    CHECK(!j2->ready);
    CHECK_EQ_INT(group_heartbeat(&gs, "g", 1, m1), KERR_REBALANCE_IN_PROGRESS);
    struct join_req rj = join_req(m1);
    j1 = group_join(&gs, &rj);
    CHECK(j1->ready && j2->ready); /* everyone known rejoined: no need to wait */
    CHECK_EQ_INT(j1->generation, 2);
    CHECK_EQ_INT(j2->generation, 2);
    CHECK_EQ_STR(j2->leader, m1);
    CHECK_EQ_INT(j1->nmembers, 2); /* the leader gets the members */
    CHECK_EQ_INT(j2->nmembers, 0);
    group_answer_release(j1);
    group_answer_release(j2);

    /* the follower's SyncGroup waits for the leader's */
    struct group_answer *s2 = sync_as(&gs, m2, 2, NULL, NULL, 0);
    CHECK(!s2->ready);
    CHECK_EQ_INT(groups_tick(&gs), now + 10001); /* m1's session; m2 waits on us */
    gs.deadlines = false;
    const char *ids2[] = {m1, m2};
    const char *data2[] = {"p0", "p1"};
    s1 = sync_as(&gs, m1, 2, ids2, data2, 2);
    CHECK(s1->ready && s2->ready);
    CHECK(gs.deadlines); /* m2 stopped waiting: its session must be watched again */
    CHECK_EQ_INT(s2->assignment_len, 2);
    CHECK(memcmp(s2->assignment, "p1", 2) == 0);
    group_answer_release(s1);
    group_answer_release(s2);

    /* m2 stops heartbeating: its session expires at its last contact + 10 s */
    int64_t next = groups_tick(&gs);
    CHECK(next > now && next <= now + 10001);
    now += 6000;
    CHECK_EQ_INT(group_heartbeat(&gs, "g", 2, m1), 0);
    now += 4500; /* m2 silent for 10.5 s, m1 for 4.5 s */
    groups_tick(&gs);
    CHECK(group_find_member(g, m2) == NULL);
    CHECK(group_find_member(g, m1) != NULL);
    CHECK(g->state == GS_PREPARING);
    CHECK_EQ_INT(group_heartbeat(&gs, "g", 2, m1), KERR_REBALANCE_IN_PROGRESS);
    j1 = group_join(&gs, &rj);
    CHECK(j1->ready);
    CHECK_EQ_INT(j1->generation, 3);
    group_answer_release(j1);

    /* a requester that goes away: the member is no longer waiting and its session runs */
    j2 = join_new(&gs, m2, sizeof(m2));
    CHECK(!j2->ready);
    gs.deadlines = false;
    group_answer_abandon(j2);
    CHECK(gs.deadlines);
    j1 = group_join(&gs, &rj); /* m2 does not count as rejoined: wait for the deadline */
    CHECK(!j1->ready);
    now += 30000;
    groups_tick(&gs);
    CHECK(j1->ready);
    CHECK_EQ_INT(j1->nmembers, 1); /* m2 was dropped for not rejoining */
    group_answer_release(j1);

    /* LeaveGroup empties the group */
    CHECK_EQ_INT(group_leave(&gs, "g", m1), 0);
    CHECK(g->state == GS_EMPTY);
    CHECK_EQ_INT(g->nmembers, 0);
    CHECK_EQ_INT(group_leave(&gs, "g", m1), KERR_UNKNOWN_MEMBER_ID);
    CHECK_EQ_INT(groups_tick(&gs), INT64_MAX);

    /* a member id handed out but never used expires */
    struct join_req fresh = join_req("");
    a = group_join(&gs, &fresh);
    char pending[512];
    snprintf(pending, sizeof(pending), "%s", a->member_id);
    group_answer_release(a);
    CHECK_EQ_INT(g->npending, 1);
    now += 10001;
    groups_tick(&gs);
    CHECK_EQ_INT(g->npending, 0);
    fresh.member_id = pending;
    a = group_join(&gs, &fresh);
    CHECK_EQ_INT(a->error, KERR_UNKNOWN_MEMBER_ID);
    group_answer_release(a);
    free_groups(&gs);
}

static void test_offsets(void)
{
    struct groups gs = {0};
    groups_set_clock(&gs, fake_clock, NULL);
    /* commits from outside the group protocol */
    CHECK_EQ_INT(group_check_commit(&gs, "c", -1, ""), 0);
    CHECK_EQ_INT(group_commit(&gs, "c", "b-topic", 1, 42, -1, "md"), 0);
    CHECK_EQ_INT(group_commit(&gs, "c", "a-topic", 2, 7, -1, NULL), 0);
    CHECK_EQ_INT(group_commit(&gs, "c", "b-topic", 0, 5, -1, NULL), 0);
    CHECK_EQ_INT(group_commit(&gs, "c", "b-topic", 1, 43, -1, NULL), 0); /* replaces */
    const struct committed *c = group_committed(&gs, "c", "b-topic", 1);
    CHECK(c && c->offset == 43);
    CHECK(group_committed(&gs, "c", "b-topic", 9) == NULL);
    CHECK(group_committed(&gs, "nope", "b-topic", 1) == NULL);
    int32_t n;
    const struct committed **v = group_offsets_by_topic(group_find(&gs, "c"), &n);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_STR(v[0]->topic, "a-topic");
    CHECK_EQ_INT(v[1]->partition, 0);
    CHECK_EQ_INT(v[2]->offset, 43);
    free(v);
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(group_commit(&gs, "c", "a-topic", 2, 8, -1, big), KERR_OFFSET_METADATA_TOO_LARGE);
    CHECK_EQ_INT(group_delete_offset(&gs, group_find(&gs, "c"), "a-topic", 2), 0);
    CHECK(group_committed(&gs, "c", "a-topic", 2) == NULL);
    groups_forget_topic(&gs, "b-topic");
    CHECK(group_committed(&gs, "c", "b-topic", 0) == NULL);
    CHECK_EQ_INT(group_delete(&gs, "c"), 0);
    CHECK_EQ_INT(group_delete(&gs, "c"), KERR_GROUP_ID_NOT_FOUND);
    /* many groups: found through the index after growth and removals */
    char id[32];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "grp-%d", i);
        CHECK_EQ_INT(group_commit(&gs, id, "t", 0, i, -1, NULL), 0);
    }
    for (int i = 0; i < 300; i += 3) {
        snprintf(id, sizeof(id), "grp-%d", i);
        CHECK_EQ_INT(group_delete(&gs, id), 0);
    }
    int found = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "grp-%d", i);
        const struct committed *x = group_committed(&gs, id, "t", 0);
        found += x && x->offset == i;
    }
    CHECK_EQ_INT(found, 200);
    CHECK_EQ_INT(gs.n, 200);
    /* many offsets in one group: found through its index, also after deletions */
    for (int p = 0; p < 3000; p++)
        CHECK_EQ_INT(group_commit(&gs, "big", p % 2 ? "odd" : "even", p, 1000 + p, -1, NULL), 0);
    group_delete_offset(&gs, group_find(&gs, "big"), "odd", 1);
    groups_forget_topic(&gs, "even");
    int ok = 0;
    for (int p = 0; p < 3000; p++) {
        const struct committed *x = group_committed(&gs, "big", p % 2 ? "odd" : "even", p);
        ok += p % 2 && p != 1 ? x && x->offset == 1000 + p : x == NULL;
    }
    CHECK_EQ_INT(ok, 3000);
    CHECK_EQ_INT(group_commit(&gs, "big", "even", 4, 7, -1, NULL), 0);
    CHECK(group_committed(&gs, "big", "even", 4)->offset == 7);
    free_groups(&gs);
}

int main(void)
{
    test_rebalances();
    test_offsets();
    return check_summary();
}
