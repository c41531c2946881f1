/* Consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
 * OffsetCommit, OffsetFetch, DescribeGroups, ListGroups. This file is the wire codec; the
 * state machine is group.c, whose JoinGroup/SyncGroup answers are encoded here (at once, or
 * when a held request's answer becomes ready). This broker coordinates every group itself. */
#include <stdlib.h>
#include <string.h>

#include "broker/api_stream.h"
#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/group.h"
#include "broker/kerr.h"
#include "broker/server.h"
#include "core/log.h"

#define MAX_ID 255

/* Copies a slice to a heap string (NULL for null); *bad set if longer than MAX_ID. */
static char *slice_str(struct kslice s, bool *bad)
{
    if (s.len < 0)
        return NULL;
    if (s.len > 4096) {
        *bad = true;
        return NULL;
    }
    char *p = malloc((size_t)s.len + 1);
    if (!p) {
        *bad = true;
        return NULL;
    }
    memcpy(p, s.p, (size_t)s.len);
    p[s.len] = '\0';
    return p;
}

static void write_coordinator(struct kwriter *w, const struct broker *bk, bool flex, int16_t error)
{
    kw_i32(w, error ? -1 : bk->cfg.node_id);
    kw_str(w, flex, error ? "" : bk->cfg.advertised_host);
    kw_i32(w, error ? -1 : bk->cfg.advertised_port);
}

/* FindCoordinator v4+, streamed (api_stream.h): a key of 1 byte gets a coordinator's whole
 * answer (20 bytes or more), the same for every key. */
static void find_coordinator_key(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct kslice key = kr_str(r, s->flex);
    if (r->err)
        return;
    int16_t error = *(const int8_t *)s->arg == 0 ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
    kw_strn(w, s->flex, (const char *)key.p, key.len);
    write_coordinator(w, s->bk, s->flex, error);
    kw_i16(w, error);
    kw_str(w, s->flex, error ? "transactions are not supported" : NULL);
    kw_tags(w, s->flex);
}

static const struct astream_def find_coordinator_def = {
    .outer = find_coordinator_key,
    .tail = astream_tags_tail,
    .free_arg = free,
};

enum handler_result api_find_coordinator(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    if (v <= 3) {
        kr_str(r, flex); /* key */
        int8_t key_type = v >= 1 ? kr_i8(r) : 0;
        kr_tags(r, flex);
        if (r->err)
            return H_CLOSE;
        int16_t error = key_type == 0 ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
        if (v >= 1)
            kw_i32(w, 0);
        kw_i16(w, error);
        if (v >= 1)
            kw_str(w, flex, error ? "transactions are not supported" : NULL);
        write_coordinator(w, rq->bk, flex, error);
        kw_tags(w, flex);
        return H_DONE;
    }
    int8_t *key_type = malloc(1);
    if (!key_type)
        return H_CLOSE;
    *key_type = kr_i8(r);
    int32_t n = kr_array(r, flex);
    if (r->err || n < 0) {
        free(key_type);
        return H_CLOSE;
    }
    kw_i32(w, 0);
    kw_array(w, flex, n);
    struct astream *s = astream_begin(rq, &find_coordinator_def, n, key_type);
    kr_tags(r, flex);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    return astream_finish(rq, s);
}

/* JoinGroup response body from an answer (members only in the leader's). */
static void write_join(struct kwriter *w, int16_t v, bool flex, const struct group_answer *a)
{
    int16_t error = a->error;
    if (v >= 2)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_i16(w, error);
    kw_i32(w, error ? -1 : a->generation);
    if (v >= 7)
        kw_str(w, flex, error ? NULL : a->protocol_type);
    if (v >= 7)
        kw_str(w, flex, error ? NULL : a->protocol);
    else
        kw_str(w, flex, error || !a->protocol ? "" : a->protocol);
    kw_str(w, flex, error || !a->leader ? "" : a->leader);
    if (v >= 9)
        kw_i8(w, 0); /* skip_assignment */
    kw_str(w, flex, a->member_id ? a->member_id : "");
    int32_t n = error ? 0 : a->nmembers;
    kw_array(w, flex, n);
    for (int32_t i = 0; i < n; i++) {
        const struct answer_member *m = &a->members[i];
        kw_str(w, flex, m->member_id);
        if (v >= 5)
            kw_str(w, flex, m->instance_id);
        kw_bytes(w, flex, m->metadata, m->metadata_len);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

static void write_sync(struct kwriter *w, int16_t v, bool flex, const struct group_answer *a)
{
    int16_t error = a->error;
    if (v >= 1)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_i16(w, error);
    if (v >= 5) {
        kw_str(w, flex, error ? NULL : a->protocol_type);
        kw_str(w, flex, error ? NULL : a->protocol);
    }
    kw_bytes(w, flex, error ? NULL : a->assignment, error ? 0 : a->assignment_len);
    kw_tags(w, flex);
}

/* A JoinGroup or SyncGroup waiting for its answer. */
struct group_wait {
    struct group_answer *a;
    int16_t version;
    bool flex;
    bool join;
};

static bool group_wait_try(void *ctx, struct kwriter *w, bool expired)
{
    (void)expired; /* no deadline: the coordinator's own timeouts decide */
    struct group_wait *gw = ctx;
    if (!gw->a->ready)
        return false;
    if (gw->join)
        write_join(w, gw->version, gw->flex, gw->a);
    else
        write_sync(w, gw->version, gw->flex, gw->a);
    return true;
}

static void group_wait_free(void *ctx)
{
    struct group_wait *gw = ctx;
    if (gw->a->ready)
        group_answer_release(gw->a);
    else
        group_answer_abandon(gw->a);
    free(gw);
}

/* Answers now when the coordinator already has, else waits. Takes the caller's reference. */
static enum handler_result answer(struct kreq *rq, struct group_answer *a, bool join)
{
    if (!a)
        return H_CLOSE;
    struct group_wait gw = {a, rq->api_version, rq->flex, join};
    if (group_wait_try(&gw, rq->w, false)) {
        group_answer_release(a);
        return H_DONE;
    }
    struct group_wait *park = malloc(sizeof(*park));
    if (!park) {
        group_answer_abandon(a);
        return H_CLOSE;
    }
    *park = gw;
    server_wait(rq, -1, group_wait_try, group_wait_free, park);
    return H_DEFER;
}

enum handler_result api_join_group(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    bool bad = false;
    char *group = slice_str(kr_str(r, flex), &bad);
    int32_t session = kr_i32(r);
    int32_t rebalance = v >= 1 ? kr_i32(r) : session;
    char *member = slice_str(kr_str(r, flex), &bad);
    char *instance = v >= 5 ? slice_str(kr_str(r, flex), &bad) : NULL;
    char *ptype = slice_str(kr_str(r, flex), &bad);
    int32_t n = kr_array(r, flex);
    /* at most GROUP_MAX_PROTOCOLS are kept (more is refused below): memory is bounded by that,
     * not by the count the request declares */
    int32_t keep = n < 0 ? 0 : n > GROUP_MAX_PROTOCOLS ? GROUP_MAX_PROTOCOLS : n;
    struct protocol *protos = calloc((size_t)keep + 1, sizeof(*protos));
    int32_t np = 0;
    for (int32_t i = 0; i < n && !r->err && protos; i++) {
        struct kslice name = kr_str(r, flex);
        struct kslice md = kr_bytes(r, flex);
        kr_tags(r, flex);
        if (i >= keep)
            continue;
        protos[np].name = slice_str(name, &bad);
        protos[np].metadata = (uint8_t *)md.p;
        protos[np].metadata_len = md.len > 0 ? md.len : 0;
        if (protos[np].name)
            np++;
    }
    if (v >= 8)
        kr_str(r, flex); /* reason */
    kr_tags(r, flex);
    enum handler_result res;
    if (r->err || !protos || !group) {
        res = H_CLOSE;
    } else if (bad || strlen(group) > MAX_ID) {
        res = H_CLOSE;
    } else if (n > GROUP_MAX_PROTOCOLS) {
        struct group_answer a = {
            .ready = true, .error = KERR_INCONSISTENT_GROUP_PROTOCOL, .member_id = member};
        write_join(rq->w, v, flex, &a);
        res = H_DONE;
    } else {
        char client_id[256] = "";
        kslice_cstr(rq->client_id, client_id, sizeof(client_id));
        struct join_req jr = {
            .group_id = group,
            .member_id = member,
            .instance_id = instance,
            .client_id = client_id,
            .client_host = server_conn_host(rq->conn),
            .session_timeout_ms = session,
            .rebalance_timeout_ms = rebalance,
            .protocol_type = ptype,
            .protocols = protos,
            .nprotocols = np,
            .require_known_member = v >= 4,
        };
        res = answer(rq, group_join(&rq->bk->groups, &jr), true);
    }
    for (int32_t i = 0; protos && i < np; i++)
        free(protos[i].name);
    free(protos);
    free(group);
    free(member);
    free(instance);
    free(ptype);
    return res;
}

enum handler_result api_sync_group(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    bool bad = false;
    char *group = slice_str(kr_str(r, flex), &bad);
    int32_t generation = kr_i32(r);
    char *member = slice_str(kr_str(r, flex), &bad);
    if (v >= 3)
        kr_str(r, flex); /* group_instance_id */
    if (v >= 5) {
        kr_str(r, flex); /* protocol_type */
        kr_str(r, flex); /* protocol_name */
    }
    int32_t n = kr_array(r, flex);
    /* no group has more members than GROUP_MAX_MEMBERS: entries beyond are read, not kept */
    int32_t cnt = n < 0 ? 0 : n > GROUP_MAX_MEMBERS ? GROUP_MAX_MEMBERS : n;
    struct kslice *ids = calloc((size_t)cnt + 1, sizeof(*ids));
    struct kslice *data = calloc((size_t)cnt + 1, sizeof(*data));
    for (int32_t i = 0; i < n && !r->err && ids && data; i++) {
        struct kslice id = kr_str(r, flex);
        struct kslice d = kr_bytes(r, flex);
        kr_tags(r, flex);
        if (i < cnt) {
            ids[i] = id;
            data[i] = d;
        }
    }
    kr_tags(r, flex);
    enum handler_result res = H_CLOSE;
    if (!r->err && !bad && ids && data && group && member)
        res = answer(rq, group_sync(&rq->bk->groups, group, generation, member, ids, data, cnt),
                     false);
    free(ids);
    free(data);
    free(group);
    free(member);
    return res;
}

enum handler_result api_heartbeat(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    bool flex = rq->flex;
    bool bad = false;
    char *group = slice_str(kr_str(r, flex), &bad);
    int32_t generation = kr_i32(r);
    char *member = slice_str(kr_str(r, flex), &bad);
    if (rq->api_version >= 3)
        kr_str(r, flex);
    kr_tags(r, flex);
    enum handler_result res = H_CLOSE;
    if (!r->err && !bad && group && member) {
        int16_t error = group_heartbeat(&rq->bk->groups, group, generation, member);
        if (rq->api_version >= 1)
            kw_i32(rq->w, 0);
        kw_i16(rq->w, error);
        kw_tags(rq->w, flex);
        res = H_DONE;
    }
    free(group);
    free(member);
    return res;
}

/* LeaveGroup v3+, streamed (api_stream.h): a member of 3 bytes gets 5 in the answer. Members
 * leave in the first pass; a member that left is saved (once per id): its first occurrence
 * answers NONE, any other UNKNOWN_MEMBER_ID. */
static void leave_group_member(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct kslice mid = kr_str(r, s->flex);
    struct kslice iid = kr_str(r, s->flex);
    if (s->v >= 5)
        kr_str(r, s->flex); /* reason */
    kr_tags(r, s->flex);
    if (r->err)
        return;
    bool bad = false;
    char *member = slice_str(mid, &bad);
    if (bad) {
        r->err = true; /* as the request's other malformations: closed */
        return;
    }
    int16_t error = KERR_UNKNOWN_MEMBER_ID;
    if (member) {
        size_t klen = (size_t)mid.len, len = 0;
        if (s->sizing && !astream_get(s, mid.p, klen, &len) &&
            group_leave(&s->bk->groups, s->arg, member) == KERR_NONE)
            astream_put(s, mid.p, klen, NULL, 0);
        if (astream_take(s, mid.p, klen))
            error = KERR_NONE;
    }
    free(member);
    kw_strn(w, s->flex, (const char *)mid.p, mid.len);
    kw_strn(w, s->flex, (const char *)iid.p, iid.len);
    kw_i16(w, error);
    kw_tags(w, s->flex);
}

static const struct astream_def leave_group_def = {
    .outer = leave_group_member,
    .tail = astream_tags_tail,
    .free_arg = free,
};

enum handler_result api_leave_group(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    bool bad = false;
    char *group = slice_str(kr_str(r, flex), &bad);
    if (r->err || bad || !group) {
        free(group);
        return H_CLOSE;
    }
    if (v <= 2) {
        char *member = slice_str(kr_str(r, flex), &bad);
        kr_tags(r, flex);
        if (r->err || bad || !member) {
            free(group);
            free(member);
            return H_CLOSE;
        }
        int16_t error = group_leave(&rq->bk->groups, group, member);
        if (v >= 1)
            kw_i32(w, 0);
        kw_i16(w, error);
        free(group);
        free(member);
        return H_DONE;
    }
    int32_t n = kr_array(r, flex);
    if (r->err || n < 0) {
        free(group);
        return H_CLOSE;
    }
    kw_i32(w, 0);
    kw_i16(w, KERR_NONE);
    kw_array(w, flex, n);
    struct astream *s = astream_begin(rq, &leave_group_def, n, group);
    kr_tags(r, flex);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    return astream_finish(rq, s);
}

enum handler_result api_offset_commit(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    bool bad = false;
    char *group = slice_str(kr_str(r, flex), &bad);
    int32_t generation = v >= 1 ? kr_i32(r) : -1;
    char *member = v >= 1 ? slice_str(kr_str(r, flex), &bad) : NULL;
    if (v >= 7)
        kr_str(r, flex); /* group_instance_id */
    if (v >= 2 && v <= 4)
        kr_i64(r); /* retention_time_ms */
    int32_t ntopics = kr_array(r, flex);
    if (r->err || bad || !group || ntopics < 0) {
        free(group);
        free(member);
        return H_CLOSE;
    }
    int16_t group_error = group_check_commit(&bk->groups, group, generation, member);
    bool committed = false;
    if (v >= 3)
        kw_i32(w, 0);
    kw_array(w, flex, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        struct kslice tname = kr_str(r, flex);
        char topic[256];
        bool name_ok = kslice_cstr(tname, topic, sizeof(topic)) == 0;
        int32_t nparts = kr_array(r, flex);
        if (r->err || nparts < 0)
            break;
        kw_strn(w, flex, (const char *)tname.p, tname.len);
        kw_array(w, flex, nparts);
        for (int32_t j = 0; j < nparts; j++) {
            int32_t partition = kr_i32(r);
            int64_t offset = kr_i64(r);
            int32_t epoch = v >= 6 ? kr_i32(r) : -1;
            if (v == 1)
                kr_i64(r); /* commit_timestamp */
            struct kslice md = kr_str(r, flex);
            kr_tags(r, flex);
            if (r->err)
                break;
            int16_t error = group_error;
            if (!error && (!name_ok || !registry_part(&bk->reg, topic, partition)))
                error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            if (!error) {
                char *meta = slice_str(md, &bad);
                error = group_commit(&bk->groups, group, topic, partition, offset, epoch, meta);
                free(meta);
                committed = committed || error == KERR_NONE;
            }
            kw_i32(w, partition);
            kw_i16(w, error);
            kw_tags(w, flex);
        }
        kr_tags(r, flex);
        kw_tags(w, flex);
    }
    kr_tags(r, flex);
    kw_tags(w, flex);
    free(group);
    free(member);
    if (r->err)
        return H_CLOSE;
    /* a commit is acknowledged once it is on disk */
    if (committed && bk->cfg.flush == FLUSH_GROUP)
        return H_WAIT_SYNC;
    return H_DONE;
}

static void write_offset(struct kwriter *w, bool flex, int16_t v, int32_t partition,
                         const struct committed *c, int16_t error)
{
    kw_i32(w, partition);
    kw_i64(w, c ? c->offset : -1);
    if (v >= 5)
        kw_i32(w, c ? c->leader_epoch : -1);
    kw_str(w, flex, c && c->metadata ? c->metadata : "");
    kw_i16(w, error);
    kw_tags(w, flex);
}

/* OffsetFetch of listed partitions, streamed (api_stream.h): 4 bytes of a partition in the
 * request get 16 or more in the answer. A committed offset is what the first pass saw (saved
 * once per distinct topic and partition that has one); any other partition answers -1. */
struct saved_offset {
    int64_t offset;
    int32_t leader_epoch;
};

static void offset_fetch_partition(struct astream *s, struct kreader *r, struct kwriter *w)
{
    int32_t partition = kr_i32(r);
    if (r->err)
        return;
    const char *group = s->arg;
    if (s->name_ok) {
        /* the key: topic name, NUL, partition */
        uint8_t key[256 + 4];
        size_t tl = strlen(s->name);
        memcpy(key, s->name, tl + 1);
        memcpy(key + tl + 1, &partition, 4);
        size_t len = 0;
        const uint8_t *saved = astream_get(s, key, tl + 5, &len);
        const struct committed *live =
            !saved && s->sizing ? group_committed(&s->bk->groups, group, s->name, partition) : NULL;
        if (live) {
            size_t ml = live->metadata ? strlen(live->metadata) : 0;
            uint8_t *val = malloc(sizeof(struct saved_offset) + ml);
            if (!val) {
                s->oom = true;
                return;
            }
            struct saved_offset so = {live->offset, live->leader_epoch};
            memcpy(val, &so, sizeof(so));
            memcpy(val + sizeof(so), live->metadata ? live->metadata : "", ml);
            saved = astream_put(s, key, tl + 5, val, sizeof(so) + ml);
            len = sizeof(so) + ml;
            free(val);
            if (!saved)
                return;
        }
        if (saved) {
            struct saved_offset so;
            memcpy(&so, saved, sizeof(so));
            kw_i32(w, partition);
            kw_i64(w, so.offset);
            if (s->v >= 5)
                kw_i32(w, so.leader_epoch);
            kw_strn(w, s->flex, (const char *)saved + sizeof(so), (int32_t)(len - sizeof(so)));
            kw_i16(w, KERR_NONE);
            kw_tags(w, s->flex);
            return;
        }
    }
    write_offset(w, s->flex, s->v, partition, NULL, KERR_NONE);
}

static void offset_fetch_tail(struct astream *s, struct kreader *r, struct kwriter *w)
{
    (void)r;
    if (s->v >= 2)
        kw_i16(w, KERR_NONE);
    kw_tags(w, s->flex);
}

static const struct astream_def offset_fetch_def = {
    .outer = astream_topic,
    .inner = offset_fetch_partition,
    .outer_end = astream_tags_end,
    .tail = offset_fetch_tail,
    .free_arg = free,
};

enum handler_result api_offset_fetch(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    bool bad = false;
    char *group = slice_str(kr_str(r, flex), &bad);
    int32_t ntopics = kr_array(r, flex);
    if (r->err || bad || !group) {
        free(group);
        return H_CLOSE;
    }
    if (v >= 3)
        kw_i32(w, 0);
    struct group *g = group_find(&bk->groups, group);
    if (ntopics < 0) {
        /* all committed offsets of the group, grouped by topic */
        if (v >= 7)
            kr_i8(r); /* require_stable */
        kr_tags(r, flex);
        int32_t n;
        const struct committed **v_by = group_offsets_by_topic(g, &n);
        if (g && g->noffsets > 0 && !v_by) {
            free(group);
            return H_CLOSE; /* out of memory */
        }
        int32_t nt = 0;
        for (int32_t i = 0; i < n; i++)
            nt += i == 0 || strcmp(v_by[i - 1]->topic, v_by[i]->topic) != 0;
        kw_array(w, flex, nt);
        for (int32_t i = 0; i < n;) {
            int32_t j = i;
            while (j < n && strcmp(v_by[j]->topic, v_by[i]->topic) == 0)
                j++;
            kw_str(w, flex, v_by[i]->topic);
            kw_array(w, flex, j - i);
            for (int32_t k = i; k < j; k++)
                write_offset(w, flex, v, v_by[k]->partition, v_by[k], 0);
            kw_tags(w, flex);
            i = j;
        }
        free(v_by);
    } else {
        kw_array(w, flex, ntopics);
        struct astream *s = astream_begin(rq, &offset_fetch_def, ntopics, group);
        if (v >= 7)
            kr_i8(r); /* require_stable */
        kr_tags(r, flex);
        if (!s || r->err) {
            astream_free(s);
            return H_CLOSE;
        }
        return astream_finish(rq, s);
    }
    if (v >= 2)
        kw_i16(w, KERR_NONE);
    kw_tags(w, flex);
    free(group);
    return r->err ? H_CLOSE : H_DONE;
}

/* One group's DescribeGroups answer (g NULL: the group does not exist). */
static void write_group(struct kwriter *w, bool flex, int16_t v, struct kslice sid,
                        const struct group *g)
{
    int16_t error = !g && v >= 6 ? KERR_GROUP_ID_NOT_FOUND : KERR_NONE;
    kw_i16(w, error);
    if (v >= 6)
        kw_str(w, flex, NULL);
    kw_strn(w, flex, (const char *)sid.p, sid.len);
    kw_str(w, flex, group_state_name(g ? g->state : GS_DEAD));
    kw_str(w, flex, g && g->protocol_type ? g->protocol_type : "");
    kw_str(w, flex, g && g->protocol && g->state != GS_EMPTY ? g->protocol : "");
    int32_t nm = g ? g->nmembers : 0;
    kw_array(w, flex, nm);
    for (int32_t j = 0; j < nm; j++) {
        struct member *m = g->members[j];
        const struct protocol *p = NULL;
        for (int32_t k = 0; g->protocol && k < m->nprotocols; k++) {
            if (strcmp(m->protocols[k].name, g->protocol) == 0)
                p = &m->protocols[k];
        }
        bool stable = g->state == GS_STABLE;
        kw_str(w, flex, m->member_id);
        if (v >= 4)
            kw_str(w, flex, m->instance_id);
        kw_str(w, flex, m->client_id ? m->client_id : "");
        kw_str(w, flex, m->client_host ? m->client_host : "");
        kw_bytes(w, flex, p ? p->metadata : NULL, p ? p->metadata_len : 0);
        kw_bytes(w, flex, stable ? m->assignment : NULL, stable ? m->assignment_len : 0);
        kw_tags(w, flex);
    }
    if (v >= 3)
        kw_i32(w, INT32_MIN);
    kw_tags(w, flex);
}

/* A group id of the request: an existing group's answer is what the first pass saw (saved once
 * per distinct id), any other id's answer comes from the request alone. */
static void describe_group_elem(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct kslice sid = kr_str(r, s->flex);
    if (r->err)
        return;
    size_t len = 0;
    const uint8_t *saved = sid.len >= 0 ? astream_get(s, sid.p, (size_t)sid.len, &len) : NULL;
    if (saved) {
        kw_raw(w, saved, len);
        return;
    }
    char id[256];
    struct group *g =
        s->sizing && kslice_cstr(sid, id, sizeof(id)) == 0 ? group_find(&s->bk->groups, id) : NULL;
    if (!g) {
        write_group(w, s->flex, s->v, sid, NULL);
        return;
    }
    size_t at = w->b.len;
    write_group(w, s->flex, s->v, sid, g);
    if (!w->err)
        astream_put(s, sid.p, (size_t)sid.len, w->b.data + at, w->b.len - at);
}

static const struct astream_def describe_groups_def = {
    .outer = describe_group_elem,
    .tail = astream_tags_tail,
};

/* The answer can be many times the request (an id of 1 byte, an answer entry of 16 or more):
 * it is streamed (api_stream.h). */
enum handler_result api_describe_groups(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    int32_t n = kr_array(r, flex);
    if (r->err || n < 0)
        return H_CLOSE;
    if (v >= 1)
        kw_i32(w, 0);
    kw_array(w, flex, n);
    struct astream *s = astream_begin(rq, &describe_groups_def, n, NULL);
    if (v >= 3)
        kr_i8(r); /* include_authorized_operations */
    kr_tags(r, flex);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    return astream_finish(rq, s);
}

enum handler_result api_list_groups(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    struct kslice filters[16];
    int32_t nf = 0;
    if (v >= 4) {
        int32_t n = kr_array(r, flex);
        for (int32_t i = 0; i < n && !r->err; i++) {
            struct kslice s = kr_str(r, flex);
            if (nf < 16)
                filters[nf++] = s;
        }
    }
    kr_tags(r, flex);
    if (r->err)
        return H_CLOSE;
    if (v >= 1)
        kw_i32(w, 0);
    kw_i16(w, KERR_NONE);
    int32_t count = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            kw_array(w, flex, count);
        for (int32_t i = 0; i < bk->groups.n; i++) {
            struct group *g = bk->groups.all[i];
            const char *state = group_state_name(g->state);
            bool match = nf == 0;
            for (int32_t k = 0; k < nf && !match; k++)
                match = kslice_eq(filters[k], state);
            if (!match)
                continue;
            if (pass == 0) {
                count++;
                continue;
            }
            kw_str(w, flex, g->id);
            kw_str(w, flex, g->protocol_type ? g->protocol_type : "");
            if (v >= 4)
                kw_str(w, flex, state);
            kw_tags(w, flex);
        }
    }
    kw_tags(w, flex);
    return H_DONE;
}

/* DeleteGroups, streamed (api_stream.h): 2 bytes of an id get 4 or more in the answer. The
 * groups are deleted in the first pass; an id whose deletion was tried (its group existed) has
 * its result saved once: its first occurrence answers that, later ones answer "not found" after
 * a deletion (or the same error again: it is not retried). Any other id is "not found". */
static void delete_group_elem(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct kslice id = kr_str(r, s->flex);
    if (r->err)
        return;
    char group[256];
    int16_t error = KERR_GROUP_ID_NOT_FOUND;
    if (kslice_cstr(id, group, sizeof(group)) == 0) {
        size_t len = 0;
        size_t klen = (size_t)id.len;
        const uint8_t *saved = astream_get(s, id.p, klen, &len);
        if (!saved && s->sizing) {
            int16_t e = group_delete(&s->bk->groups, group);
            if (e != KERR_GROUP_ID_NOT_FOUND) {
                uint8_t val[2] = {(uint8_t)((uint16_t)e >> 8), (uint8_t)e};
                saved = astream_put(s, id.p, klen, val, 2);
            }
        }
        if (saved) {
            int16_t first = be16(saved);
            error =
                astream_take(s, id.p, klen) || first != KERR_NONE ? first : KERR_GROUP_ID_NOT_FOUND;
        }
    }
    kw_strn(w, s->flex, (const char *)id.p, id.len);
    kw_i16(w, error);
    kw_tags(w, s->flex);
}

static const struct astream_def delete_groups_def = {
    .outer = delete_group_elem,
    .tail = astream_tags_tail,
};

enum handler_result api_delete_groups(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int32_t n = kr_array(r, flex);
    if (r->err || n < 0)
        return H_CLOSE;
    kw_i32(w, 0);
    kw_array(w, flex, n);
    struct astream *s = astream_begin(rq, &delete_groups_def, n, NULL);
    kr_tags(r, flex);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    enum handler_result res = astream_finish(rq, s);
    if (res == H_DONE && rq->bk->groups.dirty && rq->bk->cfg.flush == FLUSH_GROUP)
        return H_WAIT_SYNC;
    return res;
}

/* OffsetDelete, streamed (api_stream.h): 4 bytes of a partition get 6 in the answer. The
 * offsets are deleted in the first pass, against the group as it was when the request came
 * (whether it exists, whether it has members); a deletion that failed is saved (once per
 * distinct partition: not tried again in the request) and every other answer follows from the
 * request's bytes. */
struct offset_delete_arg {
    struct group *g; /* first pass only */
    bool exists, subscribed;
};

static void offset_delete_topic(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct offset_delete_arg *a = s->arg;
    struct kslice tname = kr_str(r, false);
    s->name_ok = kslice_cstr(tname, s->name, sizeof(s->name)) == 0;
    int32_t np = kr_array(r, false);
    if (np < 0)
        r->err = true;
    if (r->err)
        return;
    if (a->exists) {
        kw_strn(w, false, (const char *)tname.p, tname.len);
        kw_array(w, false, np);
    }
    s->inner_n = np;
}

static void offset_delete_partition(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct offset_delete_arg *a = s->arg;
    int32_t partition = kr_i32(r);
    if (r->err || !a->exists)
        return;
    int16_t error = KERR_NONE;
    if (!s->name_ok) {
        error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    } else if (a->subscribed) {
        error = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
    } else {
        uint8_t key[256 + 4];
        size_t tl = strlen(s->name), len = 0;
        memcpy(key, s->name, tl + 1);
        memcpy(key + tl + 1, &partition, 4);
        const uint8_t *saved = astream_get(s, key, tl + 5, &len);
        if (saved) {
            error = be16(saved);
        } else if (s->sizing) {
            error = group_delete_offset(&s->bk->groups, a->g, s->name, partition);
            if (error != KERR_NONE) {
                uint8_t val[2] = {(uint8_t)((uint16_t)error >> 8), (uint8_t)error};
                astream_put(s, key, tl + 5, val, 2);
            }
        }
    }
    kw_i32(w, partition);
    kw_i16(w, error);
}

static const struct astream_def offset_delete_def = {
    .outer = offset_delete_topic,
    .inner = offset_delete_partition,
    .free_arg = free,
};

enum handler_result api_offset_delete(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    char group[256];
    bool group_ok = kslice_cstr(kr_str(r, false), group, sizeof(group)) == 0;
    int32_t ntopics = kr_array(r, false);
    if (r->err || ntopics < 0)
        return H_CLOSE;
    struct offset_delete_arg *a = calloc(1, sizeof(*a));
    if (!a)
        return H_CLOSE;
    a->g = group_ok ? group_find(&rq->bk->groups, group) : NULL;
    a->exists = a->g != NULL;
    a->subscribed = a->g && a->g->nmembers > 0;
    kw_i16(w, a->exists ? KERR_NONE : KERR_GROUP_ID_NOT_FOUND);
    kw_i32(w, 0);
    kw_array(w, false, a->exists ? ntopics : 0);
    struct astream *s = astream_begin(rq, &offset_delete_def, ntopics, a);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    a->g = NULL; /* may be gone by the time the answer is sent */
    enum handler_result res = astream_finish(rq, s);
    if (res == H_DONE && rq->bk->groups.dirty && rq->bk->cfg.flush == FLUSH_GROUP)
        return H_WAIT_SYNC;
    return res;
}
