/* Consumer-group records: encoding, replay into the in-memory groups, compaction. The log
 * itself (framing, append, sync, rewrite) is group_store.c. */
#include "broker/group_records.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/group_store.h"
#include "broker/proto.h"
#include "core/log.h"
#include "core/units.h"

#define REC_OFFSET 1
#define REC_GROUP 2
#define REC_TOPIC_DELETE 3
#define REC_GROUP_DELETE 4
#define REC_OFFSET_DELETE 5
#define COMPACT_MIN_BYTES (8 << 20)
/* Smallest encodings, to bound counts read back by the bytes that remain. */
#define MIN_MEMBER_BYTES 26  /* 6 strings (2 each), 3 i32, the assignment's length (4) */
#define MIN_PROTOCOL_BYTES 6 /* a string (2) and bytes (4) */

static void enc_offset(struct kwriter *w, const char *group, const char *topic, int32_t partition,
                       int64_t offset, int32_t epoch, const char *metadata, int64_t ts)
{
    kw_i8(w, REC_OFFSET);
    kw_str(w, true, group);
    kw_str(w, true, topic);
    kw_i32(w, partition);
    kw_i64(w, offset);
    kw_i32(w, epoch);
    kw_str(w, true, metadata);
    kw_i64(w, ts);
}

/* with_members: only a stable group's members are worth restoring (they can carry on
 * heartbeating); they are left out when they would make the record too large. */
static void enc_group(struct kwriter *w, const struct group *g, bool with_members)
{
    kw_i8(w, REC_GROUP);
    kw_str(w, true, g->id);
    kw_i32(w, g->generation);
    kw_str(w, true, g->protocol_type);
    kw_str(w, true, g->protocol);
    kw_str(w, true, g->leader);
    int32_t n = with_members && g->state == GS_STABLE ? g->nmembers : 0;
    kw_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const struct member *m = g->members[i];
        kw_str(w, true, m->member_id);
        kw_str(w, true, m->instance_id);
        kw_str(w, true, m->client_id);
        kw_str(w, true, m->client_host);
        kw_i32(w, m->session_timeout_ms);
        kw_i32(w, m->rebalance_timeout_ms);
        kw_str(w, true, m->protocol_type);
        kw_i32(w, m->nprotocols);
        for (int32_t p = 0; p < m->nprotocols; p++) {
            kw_str(w, true, m->protocols[p].name);
            kw_bytes(w, true, m->protocols[p].metadata, m->protocols[p].metadata_len);
        }
        kw_bytes(w, true, m->assignment, m->assignment ? m->assignment_len : -1);
    }
}

/* A group record within the log's limit: with members if they fit, else without. */
static void enc_group_fitting(struct kwriter *w, const struct group *g)
{
    kw_init(w, GROUP_STORE_MAX_RECORD);
    enc_group(w, g, true);
    if (!w->err && w->b.len <= GROUP_STORE_MAX_RECORD)
        return;
    log_warn("group",
             "group %s: %d members' metadata is over the %d-byte record limit; "
             "storing the group without them (they rejoin after a restart)",
             g->id, (int)g->nmembers, GROUP_STORE_MAX_RECORD);
    kw_free(w);
    kw_init(w, GROUP_STORE_MAX_RECORD);
    enc_group(w, g, false);
}

static char *dup_slice(struct kslice s)
{
    if (s.len < 0)
        return NULL;
    char *p = malloc((size_t)s.len + 1);
    if (p) {
        memcpy(p, s.p, (size_t)s.len);
        p[s.len] = '\0';
    }
    return p;
}

static uint8_t *dup_bytes(struct kslice s)
{
    if (s.len < 0)
        return NULL;
    uint8_t *p = malloc((size_t)s.len + 1);
    if (p && s.len > 0)
        memcpy(p, s.p, (size_t)s.len);
    return p;
}

static void free_members(struct member **ms, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        group_member_free(ms[i]);
    free(ms);
}

/* Decodes the members of a group record into a new array (nothing is changed on failure). */
static int decode_members(struct kreader *r, struct group *g, struct member ***out, int32_t *nout)
{
    int32_t nm = kr_i32(r);
    *out = NULL;
    *nout = 0;
    if (r->err || nm < 0 || (size_t)nm > kr_remaining(r) / MIN_MEMBER_BYTES)
        return -1;
    struct member **ms = calloc((size_t)nm + 1, sizeof(*ms));
    if (!ms)
        return -1;
    int32_t n = 0;
    int64_t now = mono_ms();
    for (int32_t i = 0; i < nm; i++) {
        struct member *m = calloc(1, sizeof(*m));
        if (!m)
            goto fail;
        ms[n++] = m;
        m->group = g;
        m->member_id = dup_slice(kr_str(r, true));
        m->instance_id = dup_slice(kr_str(r, true));
        m->client_id = dup_slice(kr_str(r, true));
        m->client_host = dup_slice(kr_str(r, true));
        m->session_timeout_ms = kr_i32(r);
        m->rebalance_timeout_ms = kr_i32(r);
        m->protocol_type = dup_slice(kr_str(r, true));
        int32_t np = kr_i32(r);
        if (r->err || np < 0 || (size_t)np > kr_remaining(r) / MIN_PROTOCOL_BYTES)
            goto fail;
        m->protocols = calloc((size_t)np + 1, sizeof(*m->protocols));
        if (!m->protocols)
            goto fail;
        for (int32_t k = 0; k < np; k++) {
            m->protocols[k].name = dup_slice(kr_str(r, true));
            struct kslice md = kr_bytes(r, true);
            m->protocols[k].metadata = dup_bytes(md);
            m->protocols[k].metadata_len = md.len > 0 ? md.len : 0;
            m->nprotocols = k + 1;
            if (r->err || !m->protocols[k].name)
                goto fail;
        }
        struct kslice a = kr_bytes(r, true);
        m->assignment = dup_bytes(a);
        m->assignment_len = a.len > 0 ? a.len : 0;
        /* restored members get a full session to come back */
        m->last_seen_ms = now;
        if (r->err || !m->member_id)
            goto fail;
    }
    *out = ms;
    *nout = n;
    return 0;
fail:
    free_members(ms, n);
    return -1;
}

static int apply_group(struct groups *gs, struct kreader *r)
{
    char *id = dup_slice(kr_str(r, true));
    int32_t generation = kr_i32(r);
    char *protocol_type = dup_slice(kr_str(r, true));
    char *protocol = dup_slice(kr_str(r, true));
    char *leader = dup_slice(kr_str(r, true));
    struct member **ms = NULL;
    int32_t nm = 0;
    struct group *g = NULL;
    if (!r->err && id)
        g = group_get(gs, id);
    if (!g || decode_members(r, g, &ms, &nm) != 0 || r->err) {
        free(id);
        free(protocol_type);
        free(protocol);
        free(leader);
        return -1;
    }
    free(id);
    free_members(g->members, g->nmembers);
    g->members = ms;
    g->nmembers = nm;
    g->generation = generation;
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader);
    g->protocol_type = protocol_type;
    g->protocol = protocol;
    g->leader = leader;
    g->state = nm > 0 ? GS_STABLE : GS_EMPTY;
    return 0;
}

/* Applies one payload to the in-memory groups; non-zero (nothing changed) when it does not
 * decode. */
static int apply(void *ctx, const uint8_t *p, size_t n)
{
    struct groups *gs = ctx;
    struct kreader r;
    kr_init(&r, p, n);
    int8_t type = kr_i8(&r);
    if (type == REC_OFFSET) {
        char *group = dup_slice(kr_str(&r, true));
        char *topic = dup_slice(kr_str(&r, true));
        int32_t partition = kr_i32(&r);
        int64_t offset = kr_i64(&r);
        int32_t epoch = kr_i32(&r);
        char *metadata = dup_slice(kr_str(&r, true));
        int64_t ts = kr_i64(&r);
        int rc = -1;
        if (!r.err && group && topic) {
            struct group *g = group_get(gs, group);
            rc = g ? group_set_offset(g, topic, partition, offset, epoch, metadata, ts) : -1;
        }
        free(group);
        free(topic);
        free(metadata);
        return rc;
    }
    if (type == REC_GROUP_DELETE) {
        char *id = dup_slice(kr_str(&r, true));
        if (r.err || !id) {
            free(id);
            return -1;
        }
        group_remove(gs, id);
        free(id);
        return 0;
    }
    if (type == REC_OFFSET_DELETE) {
        char *id = dup_slice(kr_str(&r, true));
        char *topic = dup_slice(kr_str(&r, true));
        int32_t partition = kr_i32(&r);
        int rc = r.err || !id || !topic ? -1 : 0;
        struct group *g = rc == 0 ? group_find(gs, id) : NULL;
        if (g)
            group_drop_offset(g, topic, partition);
        free(id);
        free(topic);
        return rc;
    }
    if (type == REC_TOPIC_DELETE) {
        char *topic = dup_slice(kr_str(&r, true));
        if (r.err || !topic) {
            free(topic);
            return -1;
        }
        for (int32_t i = 0; i < gs->n; i++)
            group_drop_topic_offsets(gs->all[i], topic);
        free(topic);
        return 0;
    }
    if (type == REC_GROUP)
        return apply_group(gs, &r);
    return -1;
}

/* Hands each piece of live state to emit, encoded: one group record and its offsets per
 * group. */
typedef int (*emit_fn)(void *ctx, const void *rec, size_t len, struct sl_err *err);
static int each_live_record(struct groups *gs, emit_fn emit, void *ctx, struct sl_err *err)
{
    int rc = 0;
    for (int32_t i = 0; i < gs->n && rc == 0; i++) {
        struct group *g = gs->all[i];
        struct kwriter w;
        enc_group_fitting(&w, g);
        rc = w.err ? sl_err_set(err, "cannot encode group %s", g->id)
                   : emit(ctx, w.b.data, w.b.len, err);
        for (int32_t j = 0; j < g->noffsets && rc == 0; j++) {
            const struct committed *c = &g->offsets[j];
            buf_reset(&w.b);
            w.err = false;
            enc_offset(&w, g->id, c->topic, c->partition, c->offset, c->leader_epoch, c->metadata,
                       c->commit_ms);
            rc = w.err ? sl_err_set(err, "cannot encode an offset of group %s", g->id)
                       : emit(ctx, w.b.data, w.b.len, err);
        }
        kw_free(&w);
    }
    return rc;
}

static int emit_rewrite(void *ctx, const void *rec, size_t len, struct sl_err *err)
{
    return group_store_rewrite_add(ctx, rec, len, err);
}

/* Rewrites the log with only live state. */
static int compact(struct groups *gs, struct sl_err *err)
{
    struct group_store_rewrite rw;
    if (group_store_rewrite_begin(&gs->store, &rw, err) != 0)
        return -1;
    if (each_live_record(gs, emit_rewrite, &rw, err) != 0) {
        group_store_rewrite_abort(&rw);
        return -1;
    }
    if (group_store_rewrite_commit(&gs->store, &rw, err) != 0)
        return -1;
    gs->dirty = false;
    return 0;
}

struct snapshot_ctx {
    struct buf *out;
    int64_t *nrec;
};

static int emit_frame(void *ctx, const void *rec, size_t len, struct sl_err *err)
{
    struct snapshot_ctx *sc = ctx;
    ++*sc->nrec;
    return group_store_frame(sc->out, rec, len) != 0
               ? sl_err_set(err, "cannot frame a group record of %zu bytes", len)
               : 0;
}

/* The live state as framed records in memory, for a compaction off the loop thread. */
static int snapshot(struct groups *gs, struct buf *out, int64_t *nrec, struct sl_err *err)
{
    *nrec = 0;
    struct snapshot_ctx sc = {out, nrec};
    return each_live_record(gs, emit_frame, &sc, err);
}

/* True when the log is mostly superseded records. */
static bool worth_compacting(const struct groups *gs)
{
    int64_t live = 0;
    for (int32_t i = 0; i < gs->n; i++)
        live += 256 + (int64_t)gs->all[i]->noffsets * 96 + (int64_t)gs->all[i]->nmembers * 512;
    return gs->store.end > COMPACT_MIN_BYTES && gs->store.end > 4 * live;
}

struct group_store_compaction *groups_compact_begin(struct groups *gs, struct sl_err *err)
{
    if (gs->store.shadow_on || gs->store.fd < 0 || !worth_compacting(gs))
        return NULL;
    struct group_store_compaction *c = calloc(1, sizeof(*c));
    struct buf b;
    buf_init(&b, SIZE_MAX);
    if (!c) {
        sl_err_set(err, "out of memory");
        return NULL;
    }
    if (snapshot(gs, &b, &c->head_nrec, err) != 0) {
        buf_free(&b);
        free(c);
        return NULL;
    }
    c->head = buf_detach(&b, &c->head_len);
    if (group_store_compact_begin(&gs->store, c, err) != 0) {
        free(c->head);
        free(c);
        return NULL;
    }
    return c;
}

static const struct group_log_ops record_log = {
    group_store_put_offset,       group_store_put_group,         group_store_put_topic_delete,
    group_store_put_group_delete, group_store_put_offset_delete,
};

int groups_open(struct groups *gs, const char *data_dir, int64_t initial_delay_ms,
                struct sl_err *err)
{
    memset(gs, 0, sizeof(*gs));
    gs->store.fd = -1;
    gs->initial_delay_ms = initial_delay_ms;
    if (group_store_open(&gs->store, data_dir, apply, gs, NULL, err) != 0)
        return -1;
    /* Rewriting at start both drops the torn tail and keeps the log small. */
    if (compact(gs, err) != 0)
        return -1;
    int64_t offsets = 0;
    for (int32_t i = 0; i < gs->n; i++)
        offsets += gs->all[i]->noffsets;
    log_info("group", "loaded %d group(s) with %lld committed offset(s)", (int)gs->n,
             (long long)offsets);
    gs->log = &record_log;
    return 0;
}

static int put(struct groups *gs, struct kwriter *w, struct sl_err *err)
{
    int rc = w->err ? sl_err_set(err, "group record too large")
                    : group_store_append(&gs->store, w->b.data, w->b.len, err);
    kw_free(w);
    if (rc != 0)
        return -1;
    gs->dirty = true;
    return 0;
}

int group_store_put_offset(struct groups *gs, const char *group, const char *topic,
                           int32_t partition, int64_t offset, int32_t leader_epoch,
                           const char *metadata, int64_t commit_ms, struct sl_err *err)
{
    struct kwriter w;
    kw_init(&w, GROUP_STORE_MAX_RECORD);
    enc_offset(&w, group, topic, partition, offset, leader_epoch, metadata, commit_ms);
    return put(gs, &w, err);
}

int group_store_put_group(struct groups *gs, const struct group *g, struct sl_err *err)
{
    struct kwriter w;
    enc_group_fitting(&w, g);
    return put(gs, &w, err);
}

int group_store_put_topic_delete(struct groups *gs, const char *topic, struct sl_err *err)
{
    struct kwriter w;
    kw_init(&w, GROUP_STORE_MAX_RECORD);
    kw_i8(&w, REC_TOPIC_DELETE);
    kw_str(&w, true, topic);
    return put(gs, &w, err);
}

int group_store_put_group_delete(struct groups *gs, const char *group, struct sl_err *err)
{
    struct kwriter w;
    kw_init(&w, GROUP_STORE_MAX_RECORD);
    kw_i8(&w, REC_GROUP_DELETE);
    kw_str(&w, true, group);
    return put(gs, &w, err);
}

int group_store_put_offset_delete(struct groups *gs, const char *group, const char *topic,
                                  int32_t partition, struct sl_err *err)
{
    struct kwriter w;
    kw_init(&w, GROUP_STORE_MAX_RECORD);
    kw_i8(&w, REC_OFFSET_DELETE);
    kw_str(&w, true, group);
    kw_str(&w, true, topic);
    kw_i32(&w, partition);
    return put(gs, &w, err);
}

int groups_sync(struct groups *gs, struct sl_err *err)
{
    if (!gs->dirty && !gs->store.dirty)
        return 0;
    if (group_store_sync(&gs->store, err) != 0)
        return -1;
    gs->dirty = false;
    /* Compact when the log is mostly superseded records (unless a compaction is out). */
    if (!gs->store.shadow_on && worth_compacting(gs))
        return compact(gs, err);
    return 0;
}

void groups_close(struct groups *gs)
{
    group_store_close(&gs->store);
    for (int32_t i = 0; i < gs->n; i++)
        group_free(gs->all[i]);
    free(gs->all);
    groups_index_free(gs);
    memset(gs, 0, sizeof(*gs));
    gs->store.fd = -1;
}
