/* ApiVersions and Metadata: what the broker supports and where topics live (all on this one
 * node). Metadata may auto-create the topics it is asked about. */
#include <stdlib.h>
#include <string.h>

#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/kerr.h"
#include "core/log.h"

enum handler_result api_versions(struct kreq *rq)
{
    const struct api_def *self = api_find(18);
    bool too_new = rq->api_version > self->max_version;
    /* A too-new request is answered in v0 shape with UNSUPPORTED_VERSION and our ranges, so the
     * client can retry with a version we speak (KIP-511). Its body is not parsed. */
    bool flex = !too_new && rq->flex;
    if (flex) {
        kr_str(&rq->r, true); /* client_software_name */
        kr_str(&rq->r, true); /* client_software_version */
        kr_tags(&rq->r, true);
        if (rq->r.err)
            return H_CLOSE;
    }
    kw_i16(rq->w, too_new ? KERR_UNSUPPORTED_VERSION : KERR_NONE);
    kw_array(rq->w, flex, api_table_len);
    for (int i = 0; i < api_table_len; i++) {
        kw_i16(rq->w, api_table[i].key);
        kw_i16(rq->w, api_table[i].min_version);
        kw_i16(rq->w, api_table[i].max_version);
        kw_tags(rq->w, flex);
    }
    if (!too_new && rq->api_version >= 1)
        kw_i32(rq->w, 0); /* throttle_time_ms */
    kw_tags(rq->w, flex);
    return H_DONE;
}

/* What a Metadata response is written from: the request's shape and its topic names (read
 * again from `names`, which is the request's own buffer or, once waiting, a copy). */
struct meta_req {
    struct broker *bk;
    bool flex;
    int16_t v;
    bool allow_auto;
    int32_t ntopics; /* -1: all */
    struct kreader names;
    uint8_t *copy;
    struct create_job *jobs; /* auto-creations this request started */
};

static struct kslice next_name(struct kreader *r, const struct meta_req *m)
{
    if (m->v >= 10)
        kr_skip(r, 16); /* topic_id: we answer by name */
    struct kslice name = kr_str(r, m->flex);
    kr_tags(r, m->flex);
    return name;
}

static void write_partition(const struct meta_req *m, struct kwriter *w, int32_t index)
{
    bool flex = m->flex;
    int16_t v = m->v;
    int32_t node = m->bk->cfg.node_id;
    kw_i16(w, KERR_NONE);
    kw_i32(w, index);
    kw_i32(w, node); /* leader */
    if (v >= 7)
        kw_i32(w, 0); /* leader_epoch */
    kw_array(w, flex, 1);
    kw_i32(w, node); /* replicas */
    kw_array(w, flex, 1);
    kw_i32(w, node); /* isr */
    if (v >= 5)
        kw_array(w, flex, 0); /* offline replicas */
    kw_tags(w, flex);
}

static void write_topic(const struct meta_req *m, struct kwriter *w, int16_t error,
                        const char *name, int32_t namelen, const struct topic *t)
{
    bool flex = m->flex;
    int16_t v = m->v;
    static const uint8_t zero_id[16];
    kw_i16(w, error);
    kw_strn(w, flex, name, namelen);
    if (v >= 10)
        kw_uuid(w, t ? t->id : zero_id);
    if (v >= 1)
        kw_i8(w, 0); /* is_internal */
    kw_array(w, flex, t ? t->npartitions : 0);
    for (int32_t p = 0; t && p < t->npartitions; p++)
        write_partition(m, w, p);
    if (v >= 8)
        kw_i32(w, INT32_MIN); /* topic_authorized_operations: not computed */
    kw_tags(w, flex);
}

#define MAX_NAMES 1024

/* The whole response body. A topic this request's auto-creation failed for gets that error;
 * one being created (by this request or another) or beyond the auto-creation cap gets
 * LEADER_NOT_AVAILABLE, and the client asks again. */
static void write_metadata(const struct meta_req *m, struct kwriter *w)
{
    struct broker *bk = m->bk;
    bool flex = m->flex;
    int16_t v = m->v;
    if (v >= 3)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_array(w, flex, 1);
    kw_i32(w, bk->cfg.node_id);
    kw_str(w, flex, bk->cfg.advertised_host);
    kw_i32(w, bk->cfg.advertised_port);
    if (v >= 1)
        kw_str(w, flex, NULL); /* rack */
    kw_tags(w, flex);
    if (v >= 2)
        kw_str(w, flex, bk->cluster_id);
    if (v >= 1)
        kw_i32(w, bk->cfg.node_id); /* controller */

    if (m->ntopics < 0) {
        kw_array(w, flex, bk->reg.ntopics);
        for (int i = 0; i < bk->reg.ntopics; i++) {
            struct topic *t = bk->reg.topics[i];
            write_topic(m, w, KERR_NONE, t->name, (int32_t)strlen(t->name), t);
        }
    } else {
        int32_t n = m->ntopics < MAX_NAMES ? m->ntopics : MAX_NAMES;
        struct kreader r = m->names;
        kw_array(w, flex, n);
        for (int32_t i = 0; i < n; i++) {
            struct kslice ks = next_name(&r, m);
            char name[256];
            if (kslice_cstr(ks, name, sizeof(name)) != 0 || !topic_name_valid(name)) {
                write_topic(m, w, KERR_INVALID_TOPIC_EXCEPTION, (const char *)ks.p, ks.len, NULL);
                continue;
            }
            struct topic *t = registry_find(&bk->reg, name);
            int16_t error = KERR_NONE;
            if (!t) {
                error = m->allow_auto && bk->cfg.auto_create ? KERR_LEADER_NOT_AVAILABLE
                                                             : KERR_UNKNOWN_TOPIC_OR_PARTITION;
                for (struct create_job *j = m->jobs; j; j = *api_create_next(j)) {
                    const char *msg;
                    int16_t code = api_create_result(j, NULL, &msg);
                    if (strcmp(api_create_name(j), name) == 0 && api_create_done(j) &&
                        code != KERR_NONE) {
                        error = code;
                        break;
                    }
                }
            }
            write_topic(m, w, error, name, (int32_t)strlen(name), t);
        }
    }
    if (v >= 8 && v <= 10)
        kw_i32(w, INT32_MIN); /* cluster_authorized_operations */
    kw_tags(w, flex);
}

static bool meta_try(void *ctx, struct kwriter *w, bool expired)
{
    struct meta_req *m = ctx;
    for (struct create_job *j = m->jobs; j && !expired; j = *api_create_next(j)) {
        if (!api_create_done(j))
            return false;
    }
    write_metadata(m, w);
    return true;
}

static void meta_free(void *ctx)
{
    struct meta_req *m = ctx;
    while (m->jobs) {
        struct create_job *j = m->jobs;
        m->jobs = *api_create_next(j);
        api_create_release(j);
    }
    free(m->copy);
    free(m);
}

/* Starts the auto-creations the request asks for (at most --max-auto-create); they run on the
 * admin worker and the answer waits for them. Returns how many are out. */
static int start_creations(struct meta_req *m)
{
    struct broker *bk = m->bk;
    if (m->ntopics <= 0 || !m->allow_auto || !bk->cfg.auto_create)
        return 0;
    int32_t n = m->ntopics < MAX_NAMES ? m->ntopics : MAX_NAMES;
    struct kreader r = m->names;
    int started = 0, out = 0;
    struct create_job **tail = &m->jobs;
    for (int32_t i = 0;
         i < n && started < bk->cfg.max_auto_create && bk->reg.ncreating < REGISTRY_MAX_CREATING;
         i++) {
        char name[256];
        if (kslice_cstr(next_name(&r, m), name, sizeof(name)) != 0 || !topic_name_valid(name) ||
            registry_find(&bk->reg, name) || registry_creating(&bk->reg, name))
            continue;
        struct topic_config tc;
        struct sl_err err;
        struct topic_creation *c;
        topic_config_defaults(&tc, &bk->cfg);
        started++;
        if (registry_create_begin(&bk->reg, name, bk->cfg.default_partitions, &tc, &c, &err) !=
            KERR_NONE) {
            log_error("broker", "auto-creating topic %s: %s", name, err.msg);
            continue;
        }
        struct create_job *j = api_create_submit(bk, c);
        if (!j)
            continue;
        *tail = j;
        tail = api_create_next(j);
        out += !api_create_done(j);
    }
    return out;
}

enum handler_result api_metadata(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    struct meta_req *m = calloc(1, sizeof(*m));
    if (!m)
        return H_CLOSE;
    m->bk = bk;
    m->flex = rq->flex;
    m->v = rq->api_version;

    /* Request: topics (v0: empty = all; v1+: null = all), then flags. The names are read once
     * here and again when answering (the response comes after the brokers section). */
    m->ntopics = kr_array(r, m->flex);
    if (m->v == 0 && m->ntopics == 0)
        m->ntopics = -1;
    m->names = *r;
    for (int32_t i = 0; i < m->ntopics && !r->err; i++)
        next_name(r, m);
    m->allow_auto = true;
    if (m->v >= 4)
        m->allow_auto = kr_i8(r) != 0;
    if (m->v >= 8 && m->v <= 10)
        kr_i8(r); /* include_cluster_authorized_operations */
    if (m->v >= 8)
        kr_i8(r); /* include_topic_authorized_operations */
    kr_tags(r, m->flex);
    if (r->err) {
        free(m);
        return H_CLOSE;
    }
    if (m->ntopics > MAX_NAMES)
        log_warn("broker", "metadata request for more than %d topics: answering the first %d",
                 MAX_NAMES, MAX_NAMES);

    if (start_creations(m) == 0) {
        write_metadata(m, rq->w);
        meta_free(m);
        return H_DONE;
    }
    /* Creations are out on the worker: the names must outlive the request buffer. */
    size_t len = (size_t)(m->names.end - m->names.p);
    m->copy = malloc(len + 1);
    if (!m->copy) {
        write_metadata(m, rq->w);
        meta_free(m);
        return H_DONE;
    }
    memcpy(m->copy, m->names.p, len);
    kr_init(&m->names, m->copy, len);
    rq->hold_bytes = sizeof(*m) + len;
    server_wait(rq, -1, meta_try, meta_free, m);
    return H_DEFER;
}
