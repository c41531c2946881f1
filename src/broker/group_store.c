/* The consumer-group record log: append, replay, compaction. */
#include "broker/group_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/proto.h"
#include "core/crc32c.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/units.h"

#define REC_OFFSET 1
#define REC_GROUP 2
#define REC_TOPIC_DELETE 3
#define REC_GROUP_DELETE 4
#define REC_OFFSET_DELETE 5
#define MAX_RECORD (16 << 20)
#define COMPACT_MIN_BYTES (8 << 20)

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Frames a payload and appends it to fd. */
static int append_record(int fd, const struct kwriter *payload, int64_t *file_bytes,
                         struct sl_err *err)
{
    if (payload->err || payload->b.len > MAX_RECORD)
        return sl_err_set(err, "group record too large");
    uint8_t head[8];
    put_be32(head, (int32_t)payload->b.len);
    put_be32(head + 4, (int32_t)crc32c(0, payload->b.data, payload->b.len));
    if (write_all(fd, head, 8) != 0 || write_all(fd, payload->b.data, payload->b.len) != 0)
        return sl_err_errno(err, "cannot append to group log");
    *file_bytes += 8 + (int64_t)payload->b.len;
    return 0;
}

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

static void enc_group(struct kwriter *w, const struct group *g)
{
    kw_i8(w, REC_GROUP);
    kw_str(w, true, g->id);
    kw_i32(w, g->generation);
    kw_str(w, true, g->protocol_type);
    kw_str(w, true, g->protocol);
    kw_str(w, true, g->leader);
    /* Only a stable group's members are worth restoring: they can carry on heartbeating. */
    int32_t n = g->state == GS_STABLE ? g->nmembers : 0;
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

static void clear_members(struct group *g)
{
    for (int32_t i = 0; i < g->nmembers; i++)
        group_member_free(g->members[i]);
    free(g->members);
    g->members = NULL;
    g->nmembers = 0;
}

/* Applies one payload to the in-memory groups; -1 if it does not decode. */
static int apply(struct groups *gs, const uint8_t *p, size_t n)
{
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
    if (type != REC_GROUP)
        return -1;
    char *id = dup_slice(kr_str(&r, true));
    if (r.err || !id) {
        free(id);
        return -1;
    }
    struct group *g = group_get(gs, id);
    free(id);
    if (!g)
        return -1;
    clear_members(g);
    g->generation = kr_i32(&r);
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader);
    g->protocol_type = dup_slice(kr_str(&r, true));
    g->protocol = dup_slice(kr_str(&r, true));
    g->leader = dup_slice(kr_str(&r, true));
    int32_t nm = kr_i32(&r);
    if (r.err || nm < 0 || nm > 100000)
        return -1;
    g->members = calloc((size_t)nm + 1, sizeof(*g->members));
    if (!g->members)
        return -1;
    int64_t now = mono_ms();
    for (int32_t i = 0; i < nm && !r.err; i++) {
        struct member *m = calloc(1, sizeof(*m));
        if (!m)
            return -1;
        g->members[g->nmembers++] = m;
        m->group = g;
        m->member_id = dup_slice(kr_str(&r, true));
        m->instance_id = dup_slice(kr_str(&r, true));
        m->client_id = dup_slice(kr_str(&r, true));
        m->client_host = dup_slice(kr_str(&r, true));
        m->session_timeout_ms = kr_i32(&r);
        m->rebalance_timeout_ms = kr_i32(&r);
        m->protocol_type = dup_slice(kr_str(&r, true));
        int32_t np = kr_i32(&r);
        if (r.err || np < 0 || np > 1000)
            return -1;
        m->protocols = calloc((size_t)np + 1, sizeof(*m->protocols));
        if (!m->protocols)
            return -1;
        for (int32_t k = 0; k < np && !r.err; k++) {
            m->protocols[k].name = dup_slice(kr_str(&r, true));
            struct kslice md = kr_bytes(&r, true);
            m->protocols[k].metadata = dup_bytes(md);
            m->protocols[k].metadata_len = md.len > 0 ? md.len : 0;
            m->nprotocols = k + 1;
            if (!m->protocols[k].name)
                return -1;
        }
        struct kslice a = kr_bytes(&r, true);
        m->assignment = dup_bytes(a);
        m->assignment_len = a.len > 0 ? a.len : 0;
        /* restored members get a full session to come back */
        m->last_seen_ms = now;
        if (!m->member_id)
            return -1;
    }
    if (r.err)
        return -1;
    g->state = g->nmembers > 0 ? GS_STABLE : GS_EMPTY;
    return 0;
}

/* Rewrites the log with only live state: one group record and its offsets per group. */
static int compact(struct groups *gs, struct sl_err *err)
{
    char tmp[sizeof(gs->path) + 8];
    snprintf(tmp, sizeof(tmp), "%s.new", gs->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_err_errno(err, "cannot create %s", tmp);
    int64_t bytes = 0;
    int rc = 0;
    for (int32_t i = 0; i < gs->n && rc == 0; i++) {
        struct group *g = gs->all[i];
        struct kwriter w;
        kw_init(&w, MAX_RECORD);
        enc_group(&w, g);
        rc = append_record(fd, &w, &bytes, err);
        for (int32_t j = 0; j < g->noffsets && rc == 0; j++) {
            const struct committed *c = &g->offsets[j];
            buf_reset(&w.b);
            enc_offset(&w, g->id, c->topic, c->partition, c->offset, c->leader_epoch, c->metadata,
                       c->commit_ms);
            rc = append_record(fd, &w, &bytes, err);
        }
        kw_free(&w);
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = sl_err_errno(err, "cannot sync %s", tmp);
    if (rc != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, gs->path) != 0) {
        close(fd);
        unlink(tmp);
        return sl_err_errno(err, "cannot replace %s", gs->path);
    }
    char dir[sizeof(gs->path)];
    snprintf(dir, sizeof(dir), "%s", gs->path);
    *strrchr(dir, '/') = '\0';
    fs_sync_dir(dir, NULL);
    if (gs->fd >= 0)
        close(gs->fd);
    gs->fd = fd;
    gs->file_bytes = bytes;
    gs->dirty = false;
    return 0;
}

int group_store_open(struct groups *gs, const char *data_dir, struct sl_err *err)
{
    char dir[4000];
    snprintf(dir, sizeof(dir), "%s/groups", data_dir);
    if (fs_mkdirs(dir, err) != 0)
        return -1;
    snprintf(gs->path, sizeof(gs->path), "%s/state.log", dir);
    gs->fd = -1;
    int fd = open(gs->path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_err_errno(err, "cannot open %s", gs->path);
    struct stat st;
    fstat(fd, &st);
    uint8_t *data = st.st_size > 0 ? malloc((size_t)st.st_size) : NULL;
    size_t got = 0;
    while (data && got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    size_t pos = 0, nrec = 0;
    while (pos + 8 <= got) {
        uint32_t len = (uint32_t)be32(data + pos);
        uint32_t crc = (uint32_t)be32(data + pos + 4);
        if (len > MAX_RECORD || pos + 8 + len > got || crc32c(0, data + pos + 8, len) != crc)
            break;
        if (apply(gs, data + pos + 8, len) != 0)
            break;
        pos += 8 + len;
        nrec++;
    }
    if (pos < got)
        log_warn("group", "%s: cut %zu bytes of torn or corrupt records after %zu good ones",
                 gs->path, got - pos, nrec);
    free(data);
    /* Rewriting at start both drops the torn tail and keeps the log small. */
    if (compact(gs, err) != 0)
        return -1;
    int64_t offsets = 0;
    for (int32_t i = 0; i < gs->n; i++)
        offsets += gs->all[i]->noffsets;
    log_info("group", "loaded %d group(s) with %lld committed offset(s)", (int)gs->n,
             (long long)offsets);
    return 0;
}

static int put(struct groups *gs, struct kwriter *w, struct sl_err *err)
{
    int rc = append_record(gs->fd, w, &gs->file_bytes, err);
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
    kw_init(&w, MAX_RECORD);
    enc_offset(&w, group, topic, partition, offset, leader_epoch, metadata, commit_ms);
    return put(gs, &w, err);
}

int group_store_put_group(struct groups *gs, const struct group *g, struct sl_err *err)
{
    struct kwriter w;
    kw_init(&w, MAX_RECORD);
    enc_group(&w, g);
    return put(gs, &w, err);
}

int group_store_put_topic_delete(struct groups *gs, const char *topic, struct sl_err *err)
{
    struct kwriter w;
    kw_init(&w, MAX_RECORD);
    kw_i8(&w, REC_TOPIC_DELETE);
    kw_str(&w, true, topic);
    return put(gs, &w, err);
}

int group_store_put_group_delete(struct groups *gs, const char *group, struct sl_err *err)
{
    struct kwriter w;
    kw_init(&w, MAX_RECORD);
    kw_i8(&w, REC_GROUP_DELETE);
    kw_str(&w, true, group);
    return put(gs, &w, err);
}

int group_store_put_offset_delete(struct groups *gs, const char *group, const char *topic,
                                  int32_t partition, struct sl_err *err)
{
    struct kwriter w;
    kw_init(&w, MAX_RECORD);
    kw_i8(&w, REC_OFFSET_DELETE);
    kw_str(&w, true, group);
    kw_str(&w, true, topic);
    kw_i32(&w, partition);
    return put(gs, &w, err);
}

int groups_open(struct groups *gs, const char *data_dir, int64_t initial_delay_ms,
                struct sl_err *err)
{
    memset(gs, 0, sizeof(*gs));
    gs->initial_delay_ms = initial_delay_ms;
    return group_store_open(gs, data_dir, err);
}

int groups_sync(struct groups *gs, struct sl_err *err)
{
    if (!gs->dirty)
        return 0;
    if (fdatasync(gs->fd) != 0)
        return sl_err_errno(err, "cannot sync %s", gs->path);
    gs->dirty = false;
    /* Compact when the log is mostly superseded records. */
    int64_t live = 0;
    for (int32_t i = 0; i < gs->n; i++)
        live += 256 + (int64_t)gs->all[i]->noffsets * 96 + (int64_t)gs->all[i]->nmembers * 512;
    if (gs->file_bytes > COMPACT_MIN_BYTES && gs->file_bytes > 4 * live)
        return compact(gs, err);
    return 0;
}

void groups_close(struct groups *gs)
{
    if (gs->fd >= 0) {
        if (gs->dirty)
            fdatasync(gs->fd);
        close(gs->fd);
    }
    for (int32_t i = 0; i < gs->n; i++)
        group_free(gs->all[i]);
    free(gs->all);
    memset(gs, 0, sizeof(*gs));
    gs->fd = -1;
}
