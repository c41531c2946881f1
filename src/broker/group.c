/* The classic group protocol's state machine. A rebalance: members send JoinGroup (held until
 * every known member has rejoined or the rebalance timeout passes), the coordinator picks a
 * protocol and a leader and answers all joins; the leader's SyncGroup carries everyone's
 * assignment and answers all syncs. Heartbeats tell members when to rejoin. Answers are
 * group_answer objects; api_group.c encodes them. */
#include "broker/group.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kerr.h"
#include "core/log.h"
#include "core/units.h"
#include "core/uuid.h"

#define MIN_SESSION_TIMEOUT_MS 1000
#define MAX_SESSION_TIMEOUT_MS 1800000

const char *group_state_name(enum group_state s)
{
    switch (s) {
    case GS_EMPTY:
        return "Empty";
    case GS_PREPARING:
        return "PreparingRebalance";
    case GS_COMPLETING:
        return "CompletingRebalance";
    case GS_STABLE:
        return "Stable";
    default:
        return "Dead";
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = dup_or_null(s);
}

static int64_t gnow(const struct groups *gs)
{
    return gs->now ? gs->now(gs->now_ctx) : mono_ms();
}

void groups_set_clock(struct groups *gs, int64_t (*now)(void *ctx), void *ctx)
{
    gs->now = now;
    gs->now_ctx = ctx;
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

struct group *group_find(struct groups *gs, const char *id)
{
    if (gs->nbuckets == 0)
        return NULL;
    for (struct group *g = gs->buckets[hash_str(id) & (uint32_t)(gs->nbuckets - 1)]; g;
         g = g->hnext) {
        if (strcmp(g->id, id) == 0)
            return g;
    }
    return NULL;
}

/* Keeps at most one group per bucket on average. */
static int hash_grow(struct groups *gs)
{
    if (gs->n < gs->nbuckets)
        return 0;
    int32_t nb = gs->nbuckets ? gs->nbuckets * 2 : 64;
    struct group **b = calloc((size_t)nb, sizeof(*b));
    if (!b)
        return -1;
    for (int32_t i = 0; i < gs->n; i++) {
        struct group *g = gs->all[i];
        uint32_t h = hash_str(g->id) & (uint32_t)(nb - 1);
        g->hnext = b[h];
        b[h] = g;
    }
    free(gs->buckets);
    gs->buckets = b;
    gs->nbuckets = nb;
    return 0;
}

struct group *group_get(struct groups *gs, const char *id)
{
    struct group *g = group_find(gs, id);
    if (g)
        return g;
    if (gs->n == gs->cap) {
        int32_t cap = gs->cap ? gs->cap * 2 : 16;
        struct group **p = realloc(gs->all, (size_t)cap * sizeof(*p));
        if (!p)
            return NULL;
        gs->all = p;
        gs->cap = cap;
    }
    if (hash_grow(gs) != 0)
        return NULL;
    g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->id = strdup(id);
    if (!g->id) {
        free(g);
        return NULL;
    }
    g->state = GS_EMPTY;
    g->idx = gs->n;
    gs->all[gs->n++] = g;
    uint32_t h = hash_str(id) & (uint32_t)(gs->nbuckets - 1);
    g->hnext = gs->buckets[h];
    gs->buckets[h] = g;
    return g;
}

struct member *group_find_member(struct group *g, const char *member_id)
{
    for (int32_t i = 0; g && member_id && i < g->nmembers; i++) {
        if (strcmp(g->members[i]->member_id, member_id) == 0)
            return g->members[i];
    }
    return NULL;
}

static void protocols_free(struct protocol *p, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].metadata);
    }
    free(p);
}

static struct protocol *protocols_copy(const struct protocol *src, int32_t n)
{
    struct protocol *p = calloc((size_t)n + 1, sizeof(*p));
    if (!p)
        return NULL;
    for (int32_t i = 0; i < n; i++) {
        p[i].name = strdup(src[i].name);
        p[i].metadata_len = src[i].metadata_len;
        p[i].metadata = malloc((size_t)src[i].metadata_len + 1);
        if (p[i].metadata && src[i].metadata_len > 0)
            memcpy(p[i].metadata, src[i].metadata, (size_t)src[i].metadata_len);
    }
    return p;
}

static const struct protocol *member_protocol(const struct member *m, const char *name)
{
    for (int32_t i = 0; name && i < m->nprotocols; i++) {
        if (strcmp(m->protocols[i].name, name) == 0)
            return &m->protocols[i];
    }
    return NULL;
}

static struct group_answer *answer_new(void)
{
    struct group_answer *a = calloc(1, sizeof(*a));
    if (a)
        a->refs = 1;
    return a;
}

static void answer_clear(struct group_answer *a)
{
    free(a->protocol_type);
    free(a->protocol);
    free(a->leader);
    free(a->member_id);
    for (int32_t i = 0; i < a->nmembers; i++) {
        free(a->members[i].member_id);
        free(a->members[i].instance_id);
        free(a->members[i].metadata);
    }
    free(a->members);
    free(a->assignment);
    a->protocol_type = a->protocol = a->leader = a->member_id = NULL;
    a->members = NULL;
    a->nmembers = 0;
    a->assignment = NULL;
    a->assignment_len = 0;
}

void group_answer_release(struct group_answer *a)
{
    if (!a || --a->refs > 0)
        return;
    answer_clear(a);
    free(a);
}

void group_answer_abandon(struct group_answer *a)
{
    if (!a)
        return;
    a->abandoned = true;
    if (a->gs && !a->ready)
        a->gs->deadlines = true; /* the member's session runs again */
    group_answer_release(a);
}

/* A member counts as waiting while its requester is still there. */
static bool waiting(const struct group_answer *a)
{
    return a && !a->abandoned;
}

/* Fills a JoinGroup answer: the error alone, or the generation's facts (and the members, for
 * the leader). Returns -1 when memory is short (the answer then says so). */
static int answer_join(struct group_answer *a, int16_t error, const struct group *g,
                       const char *member_id, bool with_members)
{
    answer_clear(a);
    a->ready = true;
    a->error = error;
    a->generation = -1;
    a->member_id = dup_or_null(member_id ? member_id : "");
    if (error)
        return 0;
    a->generation = g->generation;
    a->protocol_type = dup_or_null(g->protocol_type);
    a->protocol = dup_or_null(g->protocol);
    a->leader = dup_or_null(g->leader);
    if (with_members) {
        a->members = calloc((size_t)g->nmembers + 1, sizeof(*a->members));
        if (!a->members)
            goto oom;
        for (int32_t i = 0; i < g->nmembers; i++) {
            const struct member *m = g->members[i];
            const struct protocol *p = member_protocol(m, g->protocol);
            struct answer_member *am = &a->members[a->nmembers++];
            am->member_id = strdup(m->member_id);
            am->instance_id = dup_or_null(m->instance_id);
            am->metadata_len = p ? p->metadata_len : 0;
            am->metadata = malloc((size_t)am->metadata_len + 1);
            if (!am->member_id || !am->metadata)
                goto oom;
            if (am->metadata_len > 0)
                memcpy(am->metadata, p->metadata, (size_t)am->metadata_len);
        }
    }
    return 0;
oom:
    answer_clear(a);
    a->error = KERR_COORDINATOR_NOT_AVAILABLE;
    return -1;
}

static void answer_sync(struct group_answer *a, int16_t error, const struct group *g,
                        const uint8_t *assignment, int32_t len)
{
    answer_clear(a);
    a->ready = true;
    a->error = error;
    if (error)
        return;
    a->protocol_type = dup_or_null(g->protocol_type);
    a->protocol = dup_or_null(g->protocol);
    a->assignment = malloc((size_t)len + 1);
    if (!a->assignment) {
        a->error = KERR_COORDINATOR_NOT_AVAILABLE;
        return;
    }
    if (len > 0)
        memcpy(a->assignment, assignment, (size_t)len);
    a->assignment_len = len;
}

/* Hands a waiting member's answer back to its requester. */
static void deliver(struct groups *gs, struct group_answer **slot)
{
    gs->answered = true;
    gs->deadlines = true; /* the member stops waiting: its session runs again */
    group_answer_release(*slot);
    *slot = NULL;
}

static void fail_join(struct groups *gs, struct member *m, int16_t error)
{
    if (!m->join)
        return;
    answer_join(m->join, error, m->group, m->member_id, false);
    deliver(gs, &m->join);
}

static void fail_sync(struct groups *gs, struct member *m, int16_t error)
{
    if (!m->sync)
        return;
    answer_sync(m->sync, error, m->group, NULL, 0);
    deliver(gs, &m->sync);
}

void group_member_free(struct member *m)
{
    /* answers still held are released (their requesters keep their own references) */
    group_answer_release(m->join);
    group_answer_release(m->sync);
    free(m->member_id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->protocol_type);
    protocols_free(m->protocols, m->nprotocols);
    free(m->assignment);
    free(m);
}

static void remove_member(struct groups *gs, struct group *g, int32_t idx, int16_t error)
{
    struct member *m = g->members[idx];
    fail_join(gs, m, error);
    fail_sync(gs, m, error);
    if (g->leader && strcmp(g->leader, m->member_id) == 0) {
        free(g->leader);
        g->leader = NULL;
    }
    /* join order matters only for the leader, which is kept explicitly */
    g->members[idx] = g->members[--g->nmembers];
    group_member_free(m);
}

static int64_t max_rebalance_timeout(const struct group *g)
{
    int64_t t = 0;
    for (int32_t i = 0; i < g->nmembers; i++) {
        if (g->members[i]->rebalance_timeout_ms > t)
            t = g->members[i]->rebalance_timeout_ms;
    }
    return t > 0 ? t : 60000;
}

/* The record log's appends, when there is one. */
static int log_put_offset(struct groups *gs, const char *group, const char *topic,
                          int32_t partition, int64_t offset, int32_t leader_epoch,
                          const char *metadata, int64_t commit_ms, struct sl_err *err)
{
    return gs->log ? gs->log->put_offset(gs, group, topic, partition, offset, leader_epoch,
                                         metadata, commit_ms, err)
                   : 0;
}

static int log_put_group(struct groups *gs, const struct group *g, struct sl_err *err)
{
    return gs->log ? gs->log->put_group(gs, g, err) : 0;
}

static int log_put_topic_delete(struct groups *gs, const char *topic, struct sl_err *err)
{
    return gs->log ? gs->log->put_topic_delete(gs, topic, err) : 0;
}

static int log_put_group_delete(struct groups *gs, const char *group, struct sl_err *err)
{
    return gs->log ? gs->log->put_group_delete(gs, group, err) : 0;
}

static int log_put_offset_delete(struct groups *gs, const char *group, const char *topic,
                                 int32_t partition, struct sl_err *err)
{
    return gs->log ? gs->log->put_offset_delete(gs, group, topic, partition, err) : 0;
}

static void persist(struct groups *gs, struct group *g)
{
    struct sl_err err;
    if (log_put_group(gs, g, &err) != 0)
        log_error("group", "cannot persist group %s: %s", g->id, err.msg);
}

/* Starts (or continues) a rebalance: members must rejoin. */
static void prepare_rebalance(struct groups *gs, struct group *g, const char *why)
{
    int64_t now = gnow(gs);
    if (g->state == GS_PREPARING)
        return;
    if (g->state == GS_COMPLETING) {
        for (int32_t i = 0; i < g->nmembers; i++)
            fail_sync(gs, g->members[i], KERR_REBALANCE_IN_PROGRESS);
    }
    bool was_empty = g->state == GS_EMPTY;
    g->state = GS_PREPARING;
    /* A new group waits a little for more members so they share one first rebalance. */
    g->rebalance_deadline_ms = now + (was_empty ? gs->initial_delay_ms : max_rebalance_timeout(g));
    gs->deadlines = true;
    if (was_empty)
        log_info("group",
                 "group %s rebalancing (generation %d): %s; waiting %" PRId64
                 " ms for more members",
                 g->id, (int)g->generation, why, gs->initial_delay_ms);
    else
        log_info("group", "group %s rebalancing (generation %d): %s", g->id, (int)g->generation,
                 why);
}

static const char *choose_protocol(const struct group *g)
{
    const struct member *first = g->members[0];
    for (int32_t p = 0; p < first->nprotocols; p++) {
        const char *name = first->protocols[p].name;
        bool all = true;
        for (int32_t i = 1; i < g->nmembers && all; i++)
            all = member_protocol(g->members[i], name) != NULL;
        if (all)
            return name;
    }
    return NULL;
}

static void complete_join(struct groups *gs, struct group *g)
{
    /* Members that did not rejoin in time are out. */
    for (int32_t i = g->nmembers - 1; i >= 0; i--) {
        if (!waiting(g->members[i]->join)) {
            log_info("group", "group %s: member %s did not rejoin; removed", g->id,
                     g->members[i]->member_id);
            remove_member(gs, g, i, KERR_UNKNOWN_MEMBER_ID);
        }
    }
    g->generation++;
    if (g->nmembers == 0) {
        g->state = GS_EMPTY;
        set_str(&g->protocol, NULL);
        set_str(&g->leader, NULL);
        persist(gs, g);
        return;
    }
    const char *proto = choose_protocol(g);
    if (!proto) {
        for (int32_t i = g->nmembers - 1; i >= 0; i--)
            remove_member(gs, g, i, KERR_INCONSISTENT_GROUP_PROTOCOL);
        g->state = GS_EMPTY;
        persist(gs, g);
        return;
    }
    set_str(&g->protocol, proto);
    set_str(&g->protocol_type, g->members[0]->protocol_type);
    if (!g->leader || !group_find_member(g, g->leader))
        set_str(&g->leader, g->members[0]->member_id);
    g->state = GS_COMPLETING;
    log_info("group", "group %s generation %d: %d member(s), protocol %s, leader %s", g->id,
             (int)g->generation, (int)g->nmembers, g->protocol, g->leader);
    int64_t now = gnow(gs);
    for (int32_t i = 0; i < g->nmembers; i++) {
        struct member *m = g->members[i];
        m->last_seen_ms = now;
        bool leader = strcmp(m->member_id, g->leader) == 0;
        answer_join(m->join, KERR_NONE, g, m->member_id, leader);
        deliver(gs, &m->join);
    }
    gs->deadlines = true; /* sessions run again from now */
}

static bool all_joined(const struct group *g)
{
    for (int32_t i = 0; i < g->nmembers; i++) {
        if (!waiting(g->members[i]->join))
            return false;
    }
    return g->nmembers > 0;
}

static void maybe_complete_join(struct groups *gs, struct group *g, int64_t now)
{
    if (g->state != GS_PREPARING)
        return;
    if (now >= g->rebalance_deadline_ms || (all_joined(g) && g->generation > 0))
        complete_join(gs, g);
}

static void pending_add(struct groups *gs, struct group *g, const char *id, int64_t until)
{
    if (g->npending == g->pending_cap) {
        int32_t cap = g->pending_cap ? g->pending_cap * 2 : 8;
        char **p = realloc(g->pending, (size_t)cap * sizeof(*p));
        if (!p)
            return;
        g->pending = p;
        int64_t *u = realloc(g->pending_until, (size_t)cap * sizeof(*u));
        if (!u)
            return;
        g->pending_until = u;
        g->pending_cap = cap;
    }
    char *copy = strdup(id);
    if (!copy)
        return;
    g->pending[g->npending] = copy;
    g->pending_until[g->npending] = until;
    g->npending++;
    gs->deadlines = true;
}

static bool pending_take(struct group *g, const char *id)
{
    for (int32_t i = 0; i < g->npending; i++) {
        if (strcmp(g->pending[i], id) == 0) {
            free(g->pending[i]);
            g->pending[i] = g->pending[g->npending - 1];
            g->pending_until[i] = g->pending_until[g->npending - 1];
            g->npending--;
            return true;
        }
    }
    return false;
}

/* A JoinGroup refused before any state changes: no group is created for it. */
static int16_t join_precheck(const struct group *g, const struct join_req *jr)
{
    if (!*jr->group_id)
        return KERR_INVALID_GROUP_ID;
    if (jr->session_timeout_ms < MIN_SESSION_TIMEOUT_MS ||
        jr->session_timeout_ms > MAX_SESSION_TIMEOUT_MS)
        return KERR_INVALID_SESSION_TIMEOUT;
    if (jr->nprotocols <= 0 || !jr->protocol_type || !*jr->protocol_type ||
        (g && g->nmembers > 0 && g->protocol_type &&
         strcmp(g->protocol_type, jr->protocol_type) != 0))
        return KERR_INCONSISTENT_GROUP_PROTOCOL;
    /* a known member id names a member of an existing group (or one handed out) */
    if (jr->member_id && *jr->member_id && !g)
        return KERR_UNKNOWN_MEMBER_ID;
    return KERR_NONE;
}

static struct group_answer *answered_join(struct group_answer *a, int16_t error,
                                          const struct group *g, const char *member_id)
{
    answer_join(a, error, g, member_id, false);
    return a;
}

struct group_answer *group_join(struct groups *gs, const struct join_req *jr)
{
    struct group_answer *a = answer_new();
    if (!a)
        return NULL;
    const char *member_id = jr->member_id;
    int16_t error = join_precheck(group_find(gs, jr->group_id), jr);
    if (error)
        return answered_join(a, error, NULL, member_id);
    struct group *g = group_get(gs, jr->group_id);
    if (!g)
        return answered_join(a, KERR_COORDINATOR_NOT_AVAILABLE, NULL, member_id);
    int64_t now = gnow(gs);
    char new_id[512];
    struct member *m = NULL;
    if (!member_id || !*member_id) {
        snprintf(new_id, sizeof(new_id), "%.200s-", jr->client_id ? jr->client_id : "member");
        uint8_t u[16];
        uuid_v4(u);
        uuid_format(u, new_id + strlen(new_id));
        member_id = new_id;
        if (jr->require_known_member) {
            pending_add(gs, g, new_id, now + jr->session_timeout_ms);
            return answered_join(a, KERR_MEMBER_ID_REQUIRED, NULL, new_id);
        }
    } else {
        m = group_find_member(g, member_id);
        if (!m && !pending_take(g, member_id))
            return answered_join(a, KERR_UNKNOWN_MEMBER_ID, NULL, member_id);
    }
    if (!m) {
        if (g->nmembers >= GROUP_MAX_MEMBERS)
            return answered_join(a, KERR_REBALANCE_IN_PROGRESS, NULL, member_id);
        struct member **arr = realloc(g->members, (size_t)(g->nmembers + 1) * sizeof(*arr));
        if (arr)
            g->members = arr;
        m = arr ? calloc(1, sizeof(*m)) : NULL;
        if (m)
            m->member_id = strdup(member_id);
        if (!m || !m->member_id) {
            free(m);
            return answered_join(a, KERR_COORDINATOR_NOT_AVAILABLE, NULL, member_id);
        }
        m->group = g;
        g->members[g->nmembers++] = m;
    }
    set_str(&m->instance_id, jr->instance_id);
    set_str(&m->client_id, jr->client_id);
    set_str(&m->client_host, jr->client_host);
    set_str(&m->protocol_type, jr->protocol_type);
    protocols_free(m->protocols, m->nprotocols);
    m->protocols = protocols_copy(jr->protocols, jr->nprotocols);
    m->nprotocols = m->protocols ? jr->nprotocols : 0;
    m->session_timeout_ms = jr->session_timeout_ms;
    m->rebalance_timeout_ms = jr->rebalance_timeout_ms;
    m->last_seen_ms = now;
    if (m->join) /* a second join from the same member replaces the first */
        fail_join(gs, m, KERR_REBALANCE_IN_PROGRESS);
    a->refs++; /* one for the member, one for the caller */
    a->gs = gs;
    m->join = a;
    if (g->state != GS_PREPARING)
        prepare_rebalance(gs, g, "a member joined");
    maybe_complete_join(gs, g, now);
    return a;
}

struct group_answer *group_sync(struct groups *gs, const char *group_id, int32_t generation,
                                const char *member_id, const struct kslice *assign_members,
                                const struct kslice *assign_data, int32_t nassign)
{
    struct group_answer *a = answer_new();
    if (!a)
        return NULL;
    struct group *g = group_find(gs, group_id);
    struct member *m = group_find_member(g, member_id);
    int16_t error = KERR_NONE;
    if (!m)
        error = KERR_UNKNOWN_MEMBER_ID;
    else if (generation != g->generation)
        error = KERR_ILLEGAL_GENERATION;
    else if (g->state == GS_PREPARING)
        error = KERR_REBALANCE_IN_PROGRESS;
    if (error) {
        answer_sync(a, error, NULL, NULL, 0);
        return a;
    }
    m->last_seen_ms = gnow(gs);
    if (g->state == GS_STABLE) {
        answer_sync(a, KERR_NONE, g, m->assignment, m->assignment_len);
        return a;
    }
    /* CompletingRebalance: wait for the leader's assignment. */
    if (m->sync)
        fail_sync(gs, m, KERR_REBALANCE_IN_PROGRESS);
    a->refs++;
    a->gs = gs;
    m->sync = a;
    if (strcmp(m->member_id, g->leader) != 0)
        return a;
    for (int32_t i = 0; i < g->nmembers; i++) {
        struct member *x = g->members[i];
        free(x->assignment);
        x->assignment = NULL;
        x->assignment_len = 0;
        for (int32_t j = 0; j < nassign; j++) {
            if (kslice_eq(assign_members[j], x->member_id) && assign_data[j].len > 0) {
                free(x->assignment);
                x->assignment = malloc((size_t)assign_data[j].len);
                x->assignment_len = 0;
                if (x->assignment) {
                    memcpy(x->assignment, assign_data[j].p, (size_t)assign_data[j].len);
                    x->assignment_len = assign_data[j].len;
                }
            }
        }
    }
    g->state = GS_STABLE;
    persist(gs, g);
    for (int32_t i = 0; i < g->nmembers; i++) {
        struct member *x = g->members[i];
        if (!x->sync)
            continue;
        answer_sync(x->sync, KERR_NONE, g, x->assignment, x->assignment_len);
        deliver(gs, &x->sync);
    }
    return a;
}

int16_t group_heartbeat(struct groups *gs, const char *group_id, int32_t generation,
                        const char *member_id)
{
    struct group *g = group_find(gs, group_id);
    struct member *m = group_find_member(g, member_id);
    if (!m)
        return KERR_UNKNOWN_MEMBER_ID;
    m->last_seen_ms = gnow(gs);
    if (g->state == GS_PREPARING)
        return KERR_REBALANCE_IN_PROGRESS;
    if (generation != g->generation)
        return KERR_ILLEGAL_GENERATION;
    return KERR_NONE;
}

static void after_departure(struct groups *gs, struct group *g, const char *why)
{
    if (g->nmembers == 0) {
        if (g->state != GS_EMPTY) {
            g->state = GS_EMPTY;
            g->generation++;
            set_str(&g->protocol, NULL);
            set_str(&g->leader, NULL);
            log_info("group", "group %s is empty (generation %d)", g->id, (int)g->generation);
            persist(gs, g);
        }
        return;
    }
    prepare_rebalance(gs, g, why);
    maybe_complete_join(gs, g, gnow(gs));
}

int16_t group_leave(struct groups *gs, const char *group_id, const char *member_id)
{
    struct group *g = group_find(gs, group_id);
    for (int32_t i = 0; g && i < g->nmembers; i++) {
        if (strcmp(g->members[i]->member_id, member_id) == 0) {
            log_info("group", "group %s: member %s left", g->id, member_id);
            remove_member(gs, g, i, KERR_UNKNOWN_MEMBER_ID);
            after_departure(gs, g, "a member left");
            return KERR_NONE;
        }
    }
    return KERR_UNKNOWN_MEMBER_ID;
}

/* Handles what is due in one group; returns its next deadline. */
static int64_t group_tick(struct groups *gs, struct group *g, int64_t now)
{
    for (int32_t i = g->npending - 1; i >= 0; i--) {
        if (now > g->pending_until[i])
            pending_take(g, g->pending[i]);
    }
    bool expired = false;
    for (int32_t i = g->nmembers - 1; i >= 0; i--) {
        struct member *m = g->members[i];
        if (waiting(m->join) || waiting(m->sync))
            continue; /* waiting on us, so alive */
        if (now - m->last_seen_ms > m->session_timeout_ms) {
            log_info("group", "group %s: member %s session timed out after %d ms", g->id,
                     m->member_id, (int)m->session_timeout_ms);
            remove_member(gs, g, i, KERR_UNKNOWN_MEMBER_ID);
            expired = true;
        }
    }
    if (expired)
        after_departure(gs, g, "a member's session expired");
    maybe_complete_join(gs, g, now);

    int64_t next = INT64_MAX;
    for (int32_t i = 0; i < g->npending; i++) {
        if (g->pending_until[i] + 1 < next)
            next = g->pending_until[i] + 1;
    }
    for (int32_t i = 0; i < g->nmembers; i++) {
        const struct member *m = g->members[i];
        if (waiting(m->join) || waiting(m->sync))
            continue;
        int64_t t = m->last_seen_ms + m->session_timeout_ms + 1;
        if (t < next)
            next = t;
    }
    if (g->state == GS_PREPARING && g->rebalance_deadline_ms < next)
        next = g->rebalance_deadline_ms;
    return next;
}

int64_t groups_tick(struct groups *gs)
{
    int64_t now = gnow(gs);
    int64_t next = INT64_MAX;
    gs->deadlines = false;
    for (int32_t i = 0; i < gs->n; i++) {
        struct group *g = gs->all[i];
        if (g->nmembers == 0 && g->npending == 0 && g->state != GS_PREPARING)
            continue; /* idle: nothing can time out */
        int64_t t = group_tick(gs, g, now);
        if (t < next)
            next = t;
    }
    return next;
}

int16_t group_check_commit(struct groups *gs, const char *group_id, int32_t generation,
                           const char *member_id)
{
    struct group *g = group_find(gs, group_id);
    if (generation < 0 && (!member_id || !*member_id)) {
        /* a commit from outside the group protocol (assign mode, admin tools) */
        if (g && g->nmembers > 0)
            return KERR_ILLEGAL_GENERATION;
        return KERR_NONE;
    }
    struct member *m = group_find_member(g, member_id);
    if (!m)
        return KERR_UNKNOWN_MEMBER_ID;
    if (generation != g->generation)
        return KERR_ILLEGAL_GENERATION;
    if (g->state == GS_COMPLETING)
        return KERR_REBALANCE_IN_PROGRESS;
    m->last_seen_ms = gnow(gs);
    return KERR_NONE;
}

static uint32_t offset_hash(const char *topic, int32_t partition)
{
    return hash_str(topic) ^ ((uint32_t)partition * 2654435761u);
}

/* Rebuilds the offsets index for at least `need` entries (at most half full). */
static int oindex_build(struct group *g, int32_t need)
{
    int32_t cap = 16;
    while (cap < 2 * need)
        cap *= 2;
    if (cap != g->oindex_cap) {
        int32_t *ix = malloc((size_t)cap * sizeof(*ix));
        if (!ix)
            return -1;
        free(g->oindex);
        g->oindex = ix;
        g->oindex_cap = cap;
    }
    memset(g->oindex, 0, (size_t)cap * sizeof(*g->oindex));
    for (int32_t i = 0; i < g->noffsets; i++) {
        uint32_t h = offset_hash(g->offsets[i].topic, g->offsets[i].partition);
        uint32_t m = (uint32_t)cap - 1;
        while (g->oindex[h & m])
            h++;
        g->oindex[h & m] = i + 1;
    }
    g->oindex_stale = false;
    return 0;
}

static struct committed *find_offset(struct group *g, const char *topic, int32_t partition)
{
    if (!g || g->noffsets == 0)
        return NULL;
    if ((g->oindex_stale || !g->oindex) && oindex_build(g, g->noffsets) != 0) {
        for (int32_t i = 0; i < g->noffsets; i++) { /* no memory for the index: search */
            if (g->offsets[i].partition == partition && strcmp(g->offsets[i].topic, topic) == 0)
                return &g->offsets[i];
        }
        return NULL;
    }
    uint32_t m = (uint32_t)g->oindex_cap - 1;
    for (uint32_t h = offset_hash(topic, partition);; h++) {
        int32_t i = g->oindex[h & m];
        if (!i)
            return NULL;
        struct committed *c = &g->offsets[i - 1];
        if (c->partition == partition && strcmp(c->topic, topic) == 0)
            return c;
    }
}

int group_set_offset(struct group *g, const char *topic, int32_t partition, int64_t offset,
                     int32_t leader_epoch, const char *metadata, int64_t commit_ms)
{
    struct committed *c = find_offset(g, topic, partition);
    if (!c) {
        if (g->noffsets == g->offsets_cap) {
            int32_t cap = g->offsets_cap ? g->offsets_cap * 2 : 16;
            struct committed *p = realloc(g->offsets, (size_t)cap * sizeof(*p));
            if (!p)
                return -1;
            g->offsets = p;
            g->offsets_cap = cap;
        }
        c = &g->offsets[g->noffsets++];
        memset(c, 0, sizeof(*c));
        c->topic = strdup(topic);
        c->partition = partition;
        if (!c->topic) {
            g->noffsets--;
            return -1;
        }
        if (!g->oindex || 2 * g->noffsets > g->oindex_cap) {
            g->oindex_stale = true; /* grown at the next lookup */
        } else if (!g->oindex_stale) {
            uint32_t m = (uint32_t)g->oindex_cap - 1;
            uint32_t h = offset_hash(topic, partition);
            while (g->oindex[h & m])
                h++;
            g->oindex[h & m] = g->noffsets;
        }
    }
    c->offset = offset;
    c->leader_epoch = leader_epoch;
    set_str(&c->metadata, metadata);
    c->commit_ms = commit_ms;
    return 0;
}

void group_drop_topic_offsets(struct group *g, const char *topic)
{
    int32_t j = 0;
    for (int32_t i = 0; i < g->noffsets; i++) {
        if (strcmp(g->offsets[i].topic, topic) == 0) {
            free(g->offsets[i].topic);
            free(g->offsets[i].metadata);
        } else {
            g->offsets[j++] = g->offsets[i];
        }
    }
    g->noffsets = j;
    g->oindex_stale = true;
}

int16_t group_commit(struct groups *gs, const char *group_id, const char *topic, int32_t partition,
                     int64_t offset, int32_t leader_epoch, const char *metadata)
{
    if (metadata && strlen(metadata) > 4096)
        return KERR_OFFSET_METADATA_TOO_LARGE;
    struct group *g = group_get(gs, group_id);
    if (!g)
        return KERR_KAFKA_STORAGE_ERROR;
    int64_t ts = now_ms();
    struct sl_err err;
    if (log_put_offset(gs, g->id, topic, partition, offset, leader_epoch, metadata, ts, &err) !=
        0) {
        log_error("group", "cannot store offset for %s: %s", group_id, err.msg);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    if (group_set_offset(g, topic, partition, offset, leader_epoch, metadata, ts) != 0)
        return KERR_KAFKA_STORAGE_ERROR;
    return KERR_NONE;
}

const struct committed *group_committed(struct groups *gs, const char *group_id, const char *topic,
                                        int32_t partition)
{
    return find_offset(group_find(gs, group_id), topic, partition);
}

static int cmp_committed(const void *a, const void *b)
{
    const struct committed *x = *(const struct committed *const *)a;
    const struct committed *y = *(const struct committed *const *)b;
    int c = strcmp(x->topic, y->topic);
    if (c != 0)
        return c;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

const struct committed **group_offsets_by_topic(const struct group *g, int32_t *n)
{
    *n = 0;
    if (!g || g->noffsets == 0)
        return NULL;
    const struct committed **v = malloc((size_t)g->noffsets * sizeof(*v));
    if (!v)
        return NULL;
    for (int32_t i = 0; i < g->noffsets; i++)
        v[i] = &g->offsets[i];
    qsort(v, (size_t)g->noffsets, sizeof(*v), cmp_committed);
    *n = g->noffsets;
    return v;
}

void groups_forget_topic(struct groups *gs, const char *topic)
{
    struct sl_err err;
    if (log_put_topic_delete(gs, topic, &err) != 0)
        log_error("group", "cannot record deletion of %s's offsets: %s", topic, err.msg);
    for (int32_t i = 0; i < gs->n; i++)
        group_drop_topic_offsets(gs->all[i], topic);
}

void group_drop_offset(struct group *g, const char *topic, int32_t partition)
{
    struct committed *c = find_offset(g, topic, partition);
    if (!c)
        return;
    free(c->topic);
    free(c->metadata);
    *c = g->offsets[--g->noffsets];
    g->oindex_stale = true;
}

void group_remove(struct groups *gs, const char *id)
{
    struct group *g = group_find(gs, id);
    if (!g)
        return;
    struct group **pp = &gs->buckets[hash_str(id) & (uint32_t)(gs->nbuckets - 1)];
    while (*pp != g)
        pp = &(*pp)->hnext;
    *pp = g->hnext;
    int32_t i = g->idx;
    gs->all[i] = gs->all[--gs->n];
    gs->all[i]->idx = i;
    group_free(g);
}

void groups_index_free(struct groups *gs)
{
    free(gs->buckets);
    gs->buckets = NULL;
    gs->nbuckets = 0;
}

int16_t group_delete(struct groups *gs, const char *group_id)
{
    struct group *g = group_find(gs, group_id);
    if (!g)
        return KERR_GROUP_ID_NOT_FOUND;
    if (g->nmembers > 0 || g->npending > 0)
        return KERR_NON_EMPTY_GROUP;
    struct sl_err err;
    if (log_put_group_delete(gs, group_id, &err) != 0) {
        log_error("group", "cannot delete group %s: %s", group_id, err.msg);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    log_info("group", "deleted group %s", group_id);
    group_remove(gs, group_id);
    return KERR_NONE;
}

int16_t group_delete_offset(struct groups *gs, struct group *g, const char *topic,
                            int32_t partition)
{
    if (g->nmembers > 0)
        return KERR_GROUP_SUBSCRIBED_TO_TOPIC; /* only an idle group's offsets are removed */
    if (!find_offset(g, topic, partition))
        return KERR_NONE;
    struct sl_err err;
    if (log_put_offset_delete(gs, g->id, topic, partition, &err) != 0) {
        log_error("group", "cannot delete an offset of %s: %s", g->id, err.msg);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    group_drop_offset(g, topic, partition);
    return KERR_NONE;
}

void group_free(struct group *g)
{
    for (int32_t i = 0; i < g->nmembers; i++)
        group_member_free(g->members[i]);
    free(g->members);
    for (int32_t i = 0; i < g->noffsets; i++) {
        free(g->offsets[i].topic);
        free(g->offsets[i].metadata);
    }
    free(g->offsets);
    free(g->oindex);
    for (int32_t i = 0; i < g->npending; i++)
        free(g->pending[i]);
    free(g->pending);
    free(g->pending_until);
    free(g->id);
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader);
    free(g);
}
