/* The classic group protocol's state machine. A rebalance: members send JoinGroup (held until
 * every known member has rejoined or the rebalance timeout passes), the coordinator picks a
 * protocol and a leader and answers all joins; the leader's SyncGroup carries everyone's
 * assignment and answers all syncs. Heartbeats tell members when to rejoin. */
#include "broker/group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "broker/group_records.h"
#include "broker/server.h"
#include "core/log.h"
#include "core/units.h"
#include "core/uuid.h"

#define MIN_SESSION_TIMEOUT_MS 1000
#define MAX_SESSION_TIMEOUT_MS 1800000
#define MAX_MEMBERS 1000

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

struct group *group_find(struct groups *gs, const char *id)
{
    for (int32_t i = 0; i < gs->n; i++) {
        if (strcmp(gs->all[i]->id, id) == 0)
            return gs->all[i];
    }
    return NULL;
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
    g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->id = strdup(id);
    g->state = GS_EMPTY;
    gs->all[gs->n++] = g;
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

static void on_cancel_join(void *ctx, struct resp *r)
{
    struct member *m = ctx;
    if (m->join.resp == r)
        m->join.resp = NULL;
}

static void on_cancel_sync(void *ctx, struct resp *r)
{
    struct member *m = ctx;
    if (m->sync.resp == r)
        m->sync.resp = NULL;
}

/* JoinGroup response body. members is only given to the leader. */
static void write_join(struct kwriter *w, int16_t v, bool flex, int16_t error,
                       const struct group *g, const char *member_id, bool with_members)
{
    if (v >= 2)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_i16(w, error);
    kw_i32(w, error ? -1 : g->generation);
    if (v >= 7)
        kw_str(w, flex, error ? NULL : g->protocol_type);
    if (v >= 7)
        kw_str(w, flex, error ? NULL : g->protocol);
    else
        kw_str(w, flex, error || !g->protocol ? "" : g->protocol);
    kw_str(w, flex, error || !g->leader ? "" : g->leader);
    if (v >= 9)
        kw_i8(w, 0); /* skip_assignment */
    kw_str(w, flex, member_id ? member_id : "");
    int32_t n = with_members && !error ? g->nmembers : 0;
    kw_array(w, flex, n);
    for (int32_t i = 0; i < n; i++) {
        const struct member *m = g->members[i];
        const struct protocol *p = member_protocol(m, g->protocol);
        kw_str(w, flex, m->member_id);
        if (v >= 5)
            kw_str(w, flex, m->instance_id);
        kw_bytes(w, flex, p ? p->metadata : NULL, p ? p->metadata_len : 0);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

static void write_sync(struct kwriter *w, int16_t v, bool flex, int16_t error,
                       const struct group *g, const uint8_t *assignment, int32_t len)
{
    if (v >= 1)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_i16(w, error);
    if (v >= 5) {
        kw_str(w, flex, error ? NULL : g->protocol_type);
        kw_str(w, flex, error ? NULL : g->protocol);
    }
    kw_bytes(w, flex, error ? NULL : assignment, error ? 0 : len);
    kw_tags(w, flex);
}

static void fail_join(struct broker *bk, struct member *m, int16_t error)
{
    if (!m->join.resp)
        return;
    struct resp *r = m->join.resp;
    m->join.resp = NULL;
    write_join(server_held_writer(r), m->join.version, m->join.flex, error, m->group, m->member_id,
               false);
    server_release(bk->srv, r);
}

static void fail_sync(struct broker *bk, struct member *m, int16_t error)
{
    if (!m->sync.resp)
        return;
    struct resp *r = m->sync.resp;
    m->sync.resp = NULL;
    write_sync(server_held_writer(r), m->sync.version, m->sync.flex, error, m->group, NULL, 0);
    server_release(bk->srv, r);
}

void group_member_free(struct member *m)
{
    free(m->member_id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->protocol_type);
    protocols_free(m->protocols, m->nprotocols);
    free(m->assignment);
    free(m);
}

static void remove_member(struct broker *bk, struct group *g, int32_t idx, int16_t error)
{
    struct member *m = g->members[idx];
    fail_join(bk, m, error);
    fail_sync(bk, m, error);
    if (g->leader && strcmp(g->leader, m->member_id) == 0) {
        free(g->leader);
        g->leader = NULL;
    }
    g->members[idx] = g->members[--g->nmembers];
    /* keep join order stable for leader choice: move the last one into the gap is fine as
     * the leader is kept explicitly */
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

static void persist(struct broker *bk, struct group *g)
{
    struct sl_err err;
    if (group_store_put_group(&bk->groups, g, &err) != 0)
        log_error("group", "cannot persist group %s: %s", g->id, err.msg);
}

/* Starts (or continues) a rebalance: members must rejoin. */
static void prepare_rebalance(struct broker *bk, struct group *g, const char *why)
{
    int64_t now = mono_ms();
    if (g->state == GS_PREPARING)
        return;
    if (g->state == GS_COMPLETING) {
        for (int32_t i = 0; i < g->nmembers; i++)
            fail_sync(bk, g->members[i], KERR_REBALANCE_IN_PROGRESS);
    }
    bool was_empty = g->state == GS_EMPTY;
    g->state = GS_PREPARING;
    /* A new group waits a little for more members so they share one first rebalance. */
    g->rebalance_deadline_ms =
        now + (was_empty ? bk->groups.initial_delay_ms : max_rebalance_timeout(g));
    log_info("group", "group %s rebalancing (generation %d): %s", g->id, (int)g->generation, why);
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

static void complete_join(struct broker *bk, struct group *g)
{
    /* Members that did not rejoin in time are out. */
    for (int32_t i = g->nmembers - 1; i >= 0; i--) {
        if (!g->members[i]->join.resp) {
            log_info("group", "group %s: member %s did not rejoin; removed", g->id,
                     g->members[i]->member_id);
            remove_member(bk, g, i, KERR_UNKNOWN_MEMBER_ID);
        }
    }
    g->generation++;
    if (g->nmembers == 0) {
        g->state = GS_EMPTY;
        set_str(&g->protocol, NULL);
        set_str(&g->leader, NULL);
        persist(bk, g);
        return;
    }
    const char *proto = choose_protocol(g);
    if (!proto) {
        for (int32_t i = g->nmembers - 1; i >= 0; i--)
            remove_member(bk, g, i, KERR_INCONSISTENT_GROUP_PROTOCOL);
        g->state = GS_EMPTY;
        persist(bk, g);
        return;
    }
    set_str(&g->protocol, proto);
    set_str(&g->protocol_type, g->members[0]->protocol_type);
    if (!g->leader || !group_find_member(g, g->leader))
        set_str(&g->leader, g->members[0]->member_id);
    g->state = GS_COMPLETING;
    log_info("group", "group %s generation %d: %d member(s), protocol %s, leader %s", g->id,
             (int)g->generation, (int)g->nmembers, g->protocol, g->leader);
    for (int32_t i = 0; i < g->nmembers; i++) {
        struct member *m = g->members[i];
        struct resp *r = m->join.resp;
        m->join.resp = NULL;
        m->last_seen_ms = mono_ms();
        bool leader = strcmp(m->member_id, g->leader) == 0;
        write_join(server_held_writer(r), m->join.version, m->join.flex, KERR_NONE, g, m->member_id,
                   leader);
        server_release(bk->srv, r);
    }
}

static bool all_joined(const struct group *g)
{
    for (int32_t i = 0; i < g->nmembers; i++) {
        if (!g->members[i]->join.resp)
            return false;
    }
    return g->nmembers > 0;
}

static void maybe_complete_join(struct broker *bk, struct group *g, int64_t now)
{
    if (g->state != GS_PREPARING)
        return;
    if (now >= g->rebalance_deadline_ms || (all_joined(g) && g->generation > 0))
        complete_join(bk, g);
}

static void pending_add(struct group *g, const char *id, int64_t until)
{
    char **p = realloc(g->pending, (size_t)(g->npending + 1) * sizeof(*p));
    int64_t *u = realloc(g->pending_until, (size_t)(g->npending + 1) * sizeof(*u));
    if (p)
        g->pending = p;
    if (u)
        g->pending_until = u;
    if (!p || !u)
        return;
    g->pending[g->npending] = strdup(id);
    g->pending_until[g->npending] = until;
    g->npending++;
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

int group_join(struct broker *bk, struct kreq *rq, const struct join_req *jr)
{
    int16_t v = rq->api_version;
    bool flex = rq->flex;
    struct group *g = group_get(&bk->groups, jr->group_id);
    int16_t error = KERR_NONE;
    char new_id[512];
    const char *member_id = jr->member_id;
    if (!g) {
        write_join(rq->w, v, flex, KERR_KAFKA_STORAGE_ERROR, NULL, member_id, false);
        return H_DONE;
    }
    if (!*jr->group_id)
        error = KERR_INVALID_GROUP_ID;
    else if (jr->session_timeout_ms < MIN_SESSION_TIMEOUT_MS ||
             jr->session_timeout_ms > MAX_SESSION_TIMEOUT_MS)
        error = KERR_INVALID_SESSION_TIMEOUT;
    else if (jr->nprotocols <= 0 || !jr->protocol_type || !*jr->protocol_type ||
             (g->nmembers > 0 && g->protocol_type &&
              strcmp(g->protocol_type, jr->protocol_type) != 0))
        error = KERR_INCONSISTENT_GROUP_PROTOCOL;
    if (error) {
        write_join(rq->w, v, flex, error, g, member_id, false);
        return H_DONE;
    }
    int64_t now = mono_ms();
    struct member *m = NULL;
    if (!member_id || !*member_id) {
        snprintf(new_id, sizeof(new_id), "%.200s-", jr->client_id ? jr->client_id : "member");
        uint8_t u[16];
        uuid_v4(u);
        uuid_format(u, new_id + strlen(new_id));
        member_id = new_id;
        if (jr->require_known_member) {
            pending_add(g, new_id, now + jr->session_timeout_ms);
            write_join(rq->w, v, flex, KERR_MEMBER_ID_REQUIRED, g, new_id, false);
            return H_DONE;
        }
    } else {
        m = group_find_member(g, member_id);
        if (!m && !pending_take(g, member_id)) {
            write_join(rq->w, v, flex, KERR_UNKNOWN_MEMBER_ID, g, member_id, false);
            return H_DONE;
        }
    }
    if (!m) {
        if (g->nmembers >= MAX_MEMBERS) {
            write_join(rq->w, v, flex, KERR_REBALANCE_IN_PROGRESS, g, member_id, false);
            return H_DONE;
        }
        struct member **arr = realloc(g->members, (size_t)(g->nmembers + 1) * sizeof(*arr));
        m = calloc(1, sizeof(*m));
        if (arr)
            g->members = arr;
        if (!arr || !m) {
            free(m);
            write_join(rq->w, v, flex, KERR_KAFKA_STORAGE_ERROR, g, member_id, false);
            return H_DONE;
        }
        m->member_id = strdup(member_id);
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
    if (m->join.resp) /* a second join from the same member replaces the first */
        fail_join(bk, m, KERR_REBALANCE_IN_PROGRESS);
    m->join.resp = server_hold(rq, on_cancel_join, m);
    m->join.version = v;
    m->join.flex = flex;
    if (g->state != GS_PREPARING)
        prepare_rebalance(bk, g, "a member joined");
    maybe_complete_join(bk, g, now);
    return H_DEFER;
}

int group_sync(struct broker *bk, struct kreq *rq, const char *group_id, int32_t generation,
               const char *member_id, struct kslice *assign_members, struct kslice *assign_data,
               int32_t nassign)
{
    int16_t v = rq->api_version;
    bool flex = rq->flex;
    struct group *g = group_find(&bk->groups, group_id);
    struct member *m = group_find_member(g, member_id);
    int16_t error = KERR_NONE;
    if (!m)
        error = KERR_UNKNOWN_MEMBER_ID;
    else if (generation != g->generation)
        error = KERR_ILLEGAL_GENERATION;
    else if (g->state == GS_PREPARING)
        error = KERR_REBALANCE_IN_PROGRESS;
    if (error) {
        write_sync(rq->w, v, flex, error, g, NULL, 0);
        return H_DONE;
    }
    m->last_seen_ms = mono_ms();
    if (g->state == GS_STABLE) {
        write_sync(rq->w, v, flex, KERR_NONE, g, m->assignment, m->assignment_len);
        return H_DONE;
    }
    /* CompletingRebalance: wait for the leader's assignment. */
    if (m->sync.resp)
        fail_sync(bk, m, KERR_REBALANCE_IN_PROGRESS);
    m->sync.resp = server_hold(rq, on_cancel_sync, m);
    m->sync.version = v;
    m->sync.flex = flex;
    if (strcmp(m->member_id, g->leader) != 0)
        return H_DEFER;
    for (int32_t i = 0; i < g->nmembers; i++) {
        struct member *x = g->members[i];
        free(x->assignment);
        x->assignment = NULL;
        x->assignment_len = 0;
        for (int32_t j = 0; j < nassign; j++) {
            if (kslice_eq(assign_members[j], x->member_id) && assign_data[j].len > 0) {
                x->assignment = malloc((size_t)assign_data[j].len);
                if (x->assignment) {
                    memcpy(x->assignment, assign_data[j].p, (size_t)assign_data[j].len);
                    x->assignment_len = assign_data[j].len;
                }
            }
        }
    }
    g->state = GS_STABLE;
    persist(bk, g);
    for (int32_t i = 0; i < g->nmembers; i++) {
        struct member *x = g->members[i];
        if (!x->sync.resp)
            continue;
        struct resp *r = x->sync.resp;
        x->sync.resp = NULL;
        write_sync(server_held_writer(r), x->sync.version, x->sync.flex, KERR_NONE, g,
                   x->assignment, x->assignment_len);
        server_release(bk->srv, r);
    }
    return H_DEFER;
}

int16_t group_heartbeat(struct broker *bk, const char *group_id, int32_t generation,
                        const char *member_id)
{
    struct group *g = group_find(&bk->groups, group_id);
    struct member *m = group_find_member(g, member_id);
    if (!m)
        return KERR_UNKNOWN_MEMBER_ID;
    m->last_seen_ms = mono_ms();
    if (g->state == GS_PREPARING)
        return KERR_REBALANCE_IN_PROGRESS;
    if (generation != g->generation)
        return KERR_ILLEGAL_GENERATION;
    return KERR_NONE;
}

static void after_departure(struct broker *bk, struct group *g, const char *why)
{
    if (g->nmembers == 0) {
        if (g->state != GS_EMPTY) {
            g->state = GS_EMPTY;
            g->generation++;
            set_str(&g->protocol, NULL);
            set_str(&g->leader, NULL);
            log_info("group", "group %s is empty (generation %d)", g->id, (int)g->generation);
            persist(bk, g);
        }
        return;
    }
    prepare_rebalance(bk, g, why);
    maybe_complete_join(bk, g, mono_ms());
}

int16_t group_leave(struct broker *bk, const char *group_id, const char *member_id)
{
    struct group *g = group_find(&bk->groups, group_id);
    for (int32_t i = 0; g && i < g->nmembers; i++) {
        if (strcmp(g->members[i]->member_id, member_id) == 0) {
            log_info("group", "group %s: member %s left", g->id, member_id);
            remove_member(bk, g, i, KERR_UNKNOWN_MEMBER_ID);
            after_departure(bk, g, "a member left");
            return KERR_NONE;
        }
    }
    return KERR_UNKNOWN_MEMBER_ID;
}

void groups_tick(struct broker *bk, int64_t now)
{
    struct groups *gs = &bk->groups;
    for (int32_t gi = 0; gi < gs->n; gi++) {
        struct group *g = gs->all[gi];
        for (int32_t i = g->npending - 1; i >= 0; i--) {
            if (now > g->pending_until[i])
                pending_take(g, g->pending[i]);
        }
        bool expired = false;
        for (int32_t i = g->nmembers - 1; i >= 0; i--) {
            struct member *m = g->members[i];
            if (m->join.resp || m->sync.resp)
                continue; /* waiting on us, so alive */
            if (now - m->last_seen_ms > m->session_timeout_ms) {
                log_info("group", "group %s: member %s session timed out after %d ms", g->id,
                         m->member_id, (int)m->session_timeout_ms);
                remove_member(bk, g, i, KERR_UNKNOWN_MEMBER_ID);
                expired = true;
            }
        }
        if (expired)
            after_departure(bk, g, "a member's session expired");
        maybe_complete_join(bk, g, now);
    }
}

bool groups_active(const struct groups *gs)
{
    for (int32_t i = 0; i < gs->n; i++) {
        if (gs->all[i]->nmembers > 0 || gs->all[i]->npending > 0)
            return true;
    }
    return false;
}

int16_t group_check_commit(struct broker *bk, const char *group_id, int32_t generation,
                           const char *member_id)
{
    struct group *g = group_find(&bk->groups, group_id);
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
    m->last_seen_ms = mono_ms();
    return KERR_NONE;
}

static struct committed *find_offset(struct group *g, const char *topic, int32_t partition)
{
    for (int32_t i = 0; g && i < g->noffsets; i++) {
        if (g->offsets[i].partition == partition && strcmp(g->offsets[i].topic, topic) == 0)
            return &g->offsets[i];
    }
    return NULL;
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
}

int16_t group_commit(struct broker *bk, const char *group_id, const char *topic, int32_t partition,
                     int64_t offset, int32_t leader_epoch, const char *metadata)
{
    if (metadata && strlen(metadata) > 4096)
        return KERR_OFFSET_METADATA_TOO_LARGE;
    struct group *g = group_get(&bk->groups, group_id);
    if (!g)
        return KERR_KAFKA_STORAGE_ERROR;
    int64_t ts = now_ms();
    struct sl_err err;
    if (group_store_put_offset(&bk->groups, g->id, topic, partition, offset, leader_epoch, metadata,
                               ts, &err) != 0) {
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

void groups_forget_topic(struct groups *gs, const char *topic)
{
    struct sl_err err;
    if (group_store_put_topic_delete(gs, topic, &err) != 0)
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
}

void group_remove(struct groups *gs, const char *id)
{
    for (int32_t i = 0; i < gs->n; i++) {
        if (strcmp(gs->all[i]->id, id) == 0) {
            group_free(gs->all[i]);
            gs->all[i] = gs->all[--gs->n];
            return;
        }
    }
}

int16_t group_delete(struct broker *bk, const char *group_id)
{
    struct group *g = group_find(&bk->groups, group_id);
    if (!g)
        return KERR_GROUP_ID_NOT_FOUND;
    if (g->nmembers > 0 || g->npending > 0)
        return KERR_NON_EMPTY_GROUP;
    struct sl_err err;
    if (group_store_put_group_delete(&bk->groups, group_id, &err) != 0) {
        log_error("group", "cannot delete group %s: %s", group_id, err.msg);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    log_info("group", "deleted group %s", group_id);
    group_remove(&bk->groups, group_id);
    return KERR_NONE;
}

int16_t group_delete_offset(struct broker *bk, struct group *g, const char *topic,
                            int32_t partition)
{
    if (g->nmembers > 0)
        return KERR_GROUP_SUBSCRIBED_TO_TOPIC; /* only an idle group's offsets are removed */
    if (!find_offset(g, topic, partition))
        return KERR_NONE;
    struct sl_err err;
    if (group_store_put_offset_delete(&bk->groups, g->id, topic, partition, &err) != 0) {
        log_error("group", "cannot delete an offset of %s: %s", g->id, err.msg);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    group_drop_offset(g, topic, partition);
    return KERR_NONE;
}

void group_free(struct group *g)
{
    for (int32_t i = 0; i < g->nmembers; i++) {
        g->members[i]->join.resp = NULL; /* responses die with their connections */
        g->members[i]->sync.resp = NULL;
        group_member_free(g->members[i]);
    }
    free(g->members);
    for (int32_t i = 0; i < g->noffsets; i++) {
        free(g->offsets[i].topic);
        free(g->offsets[i].metadata);
    }
    free(g->offsets);
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
