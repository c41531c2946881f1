/* Produce and InitProducerId: decoding and encoding only. Each partition's records go through
 * one call, broker_append, which validates, checks idempotence, appends and marks the partition
 * dirty; with acks=all the response waits for the group fsync, and a partition whose sync
 * fails meanwhile is answered KAFKA_STORAGE_ERROR (api_wait_produce). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/api_stream.h"
#include "broker/apis.h"
#include "broker/batch.h"
#include "broker/broker.h"
#include "broker/kerr.h"
#include "core/log.h"

static void produce_partition(struct kreq *rq, const char *topic, int32_t index,
                              struct kslice records, struct append_result *res, bool *appended)
{
    res->base_offset = -1;
    res->log_start = -1;
    res->message = NULL;
    if (rq->api_version < 3) {
        /* message formats v0/v1 are not stored; like Apache Kafka 4.x, refuse */
        res->error = KERR_UNSUPPORTED_VERSION;
        return;
    }
    struct tpart *tp = registry_part(&rq->bk->reg, topic, index);
    if (!tp) {
        res->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    /* The request buffer is the connection's own input buffer: the base offset is written into
     * it in place and the batch goes to disk unchanged otherwise. */
    broker_append(rq->bk, tp, (uint8_t *)records.p, records.len, res);
    *appended = *appended || res->durable_wait;
}

/* --- A Produce naming many partitions: its answer streamed (api_stream.h) ---
 * A partition's answer (22 bytes or more) is larger than its smallest request entry (6 bytes),
 * so a request at the frame cap naming thousands of partitions could cost several times its
 * size. Such a request (over 96 KiB with over 1000 partition entries) is handled by a first
 * pass that appends as the whole path does and saves, per entry handed to broker_append (a
 * valid batch: 61 bytes or more of the request), its result; per distinct existing partition
 * named, its log start, message size limit and from which entry on it was offline. Every
 * other entry's answer follows from those and the request's bytes (a batch that failed
 * validation fails it again: its bytes are unchanged), so the second pass produces the answer
 * from them. With acks=all the answer waits for the sync as the whole one does, and a storage
 * error meanwhile changes the saved results before any of it is sent. */
#define PRODUCE_WHOLE_MAX (96 * 1024) /* requests up to this size are answered whole */
#define PRODUCE_STREAM_PARTS 1000     /* and so are those with at most this many entries */

struct produce_tp {
    int32_t failed_from; /* the first entry that found the partition offline (INT32_MAX: none) */
    int64_t max_message_bytes;
    int64_t log_start;
};

struct produce_saved {
    int32_t ordinal; /* the entry's place in the request */
    int16_t error;
    bool durable_wait;
    int64_t base_offset;
    const uint8_t *key; /* its partition's snapshot key: topic name, NUL, index */
};

struct produce_stream {
    bool valid_acks;
    bool appended;
    int32_t ordinal[2]; /* entries answered so far in each pass */
    struct produce_saved *saved;
    int nsaved, capsaved, next;
    struct broker *bk;
};

static void produce_stream_free(void *arg)
{
    struct produce_stream *ps = arg;
    if (ps)
        free(ps->saved);
    free(ps);
}

static const char offline_msg[] =
    "the partition is offline after a storage error (see the broker's log)";

/* Decides one entry's answer (appending in the first pass) into res; false when the request
 * cannot be answered (out of memory, or the passes disagree). */
static bool produce_stream_result(struct astream *s, int32_t ord, int32_t index,
                                  struct kslice records, struct append_result *res, char *msg,
                                  size_t msgcap)
{
    struct produce_stream *ps = s->arg;
    if (!ps->valid_acks) {
        res->error = KERR_INVALID_REQUIRED_ACKS;
        return true;
    }
    if (!s->name_ok) {
        res->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return true;
    }
    if (s->v < 3) {
        res->error = KERR_UNSUPPORTED_VERSION;
        return true;
    }
    uint8_t key[256 + 4];
    size_t tl = strlen(s->name);
    memcpy(key, s->name, tl + 1);
    memcpy(key + tl + 1, &index, 4);
    size_t klen = tl + 5, vlen = 0;
    uint8_t *val = astream_get(s, key, klen, &vlen);
    struct tpart *tp = s->sizing ? registry_part(&s->bk->reg, s->name, index) : NULL;
    if (!val && tp) {
        struct produce_tp pt = {INT32_MAX, tp->topic->cfg.max_message_bytes,
                                partition_log_start(tp->log)};
        val = astream_put(s, key, klen, &pt, sizeof(pt));
        if (!val)
            return false;
    }
    if (!val) {
        res->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return true;
    }
    struct produce_tp pt;
    memcpy(&pt, val, sizeof(pt));
    if (s->sizing && !tp)
        return false; /* named earlier in this pass, gone now: cannot be */
    if (s->sizing && tp->storage_failed && ord < pt.failed_from) {
        pt.failed_from = ord;
        memcpy(val, &pt, sizeof(pt));
    }
    res->log_start = pt.log_start;
    if (ord >= pt.failed_from) {
        res->error = KERR_KAFKA_STORAGE_ERROR;
        res->message = offline_msg;
        return true;
    }
    if (records.len <= 0) {
        res->error = KERR_INVALID_RECORD;
        res->message = "no records";
        return true;
    }
    if (records.len > pt.max_message_bytes) {
        res->error = KERR_MESSAGE_TOO_LARGE;
        return true;
    }
    if (!s->sizing && ps->next < ps->nsaved && ps->saved[ps->next].ordinal == ord) {
        const struct produce_saved *sv = &ps->saved[ps->next++];
        res->error = sv->error;
        res->base_offset = sv->base_offset;
        return true;
    }
    /* not handed to broker_append: its batch is invalid, which its bytes still say */
    struct batch_header h;
    struct sl_err err;
    int code = batch_validate(records.p, (size_t)records.len, &h, &err);
    if (code != 0) {
        if (s->sizing)
            log_warn("broker", "produce to %s-%d refused (error %d): %s", s->name, (int)index, code,
                     err.msg);
        snprintf(msg, msgcap, "%s", err.msg);
        res->error = (int16_t)code;
        res->message = msg;
        return true;
    }
    if (!s->sizing)
        return false; /* valid now but not saved then: cannot be */
    if (ps->nsaved == ps->capsaved) {
        int cap = ps->capsaved ? ps->capsaved * 2 : 64;
        struct produce_saved *p = realloc(ps->saved, (size_t)cap * sizeof(*p));
        if (!p)
            return false;
        ps->saved = p;
        ps->capsaved = cap;
    }
    /* the request buffer is the connection's own: the base offset is written into it */
    broker_append(s->bk, tp, (uint8_t *)records.p, records.len, res);
    res->log_start = pt.log_start;
    res->message = NULL;
    ps->appended = ps->appended || res->durable_wait;
    ps->saved[ps->nsaved++] =
        (struct produce_saved){ord, res->error, res->durable_wait, res->base_offset, val - klen};
    return true;
}

/* A partition's answer after its index: error, base offset and what the version adds. */
static void write_partition_result(struct kwriter *w, int16_t v, bool flex,
                                   const struct append_result *res)
{
    kw_i16(w, res->error);
    kw_i64(w, res->base_offset);
    if (v >= 2)
        kw_i64(w, -1); /* log_append_time_ms: CreateTime topics */
    if (v >= 5)
        kw_i64(w, res->log_start);
    if (v >= 8) {
        kw_array(w, flex, 0); /* record_errors */
        kw_str(w, flex, res->message);
    }
    kw_tags(w, flex);
}

static void produce_stream_partition(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct produce_stream *ps = s->arg;
    int16_t v = s->v;
    int32_t index = kr_i32(r);
    struct kslice records = kr_bytes(r, s->flex);
    kr_tags(r, s->flex);
    if (r->err)
        return;
    int32_t ord = ps->ordinal[s->sizing ? 0 : 1]++;
    struct append_result res = {KERR_NONE, -1, -1, NULL, false};
    char msg[512];
    if (!produce_stream_result(s, ord, index, records, &res, msg, sizeof(msg))) {
        s->oom = true;
        r->err = true;
        return;
    }
    kw_i32(w, index);
    write_partition_result(w, v, s->flex, &res);
}

static void produce_stream_tail(struct astream *s, struct kreader *r, struct kwriter *w)
{
    (void)r;
    if (s->v >= 1)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_tags(w, s->flex);
}

static const struct astream_def produce_stream_def = {
    .outer = astream_topic,
    .inner = produce_stream_partition,
    .outer_end = astream_tags_end,
    .tail = produce_stream_tail,
    .free_arg = produce_stream_free,
};

/* A storage error while the answer waited for the sync: as produce_recheck does for a whole
 * answer, each partition whose data did not become durable answers KAFKA_STORAGE_ERROR. */
static void produce_stream_recheck(void *arg)
{
    struct produce_stream *ps = arg;
    for (int i = 0; i < ps->nsaved; i++) {
        struct produce_saved *sv = &ps->saved[i];
        if (!sv->durable_wait || sv->error != KERR_NONE)
            continue;
        const char *topic = (const char *)sv->key;
        int32_t index;
        memcpy(&index, sv->key + strlen(topic) + 1, 4);
        struct tpart *tp = registry_part(&ps->bk->reg, topic, index);
        if (tp && !(tp->storage_failed && sv->base_offset >= tp->high_watermark))
            continue;
        sv->error = KERR_KAFKA_STORAGE_ERROR;
        sv->base_offset = -1;
    }
}

/* How many partition entries the topics at r declare (r is not moved); -1 if malformed. */
static int64_t produce_entries(const struct kreader *at, bool flex, int32_t ntopics)
{
    struct kreader r = *at;
    int64_t n = 0;
    for (int32_t i = 0; i < ntopics && !r.err; i++) {
        kr_str(&r, flex);
        int32_t nparts = kr_array(&r, flex);
        if (nparts < 0)
            return -1;
        for (int32_t j = 0; j < nparts && !r.err; j++) {
            kr_i32(&r);
            kr_bytes(&r, flex);
            kr_tags(&r, flex);
        }
        n += nparts;
        kr_tags(&r, flex);
    }
    return r.err ? -1 : n;
}

static enum handler_result produce_streamed(struct kreq *rq, int16_t acks, int32_t ntopics)
{
    struct produce_stream *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return H_CLOSE;
    ps->bk = rq->bk;
    ps->valid_acks = acks == -1 || acks == 0 || acks == 1;
    kw_array(rq->w, rq->flex, ntopics);
    struct astream *s = astream_begin(rq, &produce_stream_def, ntopics, ps);
    kr_tags(&rq->r, rq->flex);
    if (!s || rq->r.err) {
        astream_free(s);
        return H_CLOSE;
    }
    if (acks == 0) {
        astream_free(s);
        return H_NORESP;
    }
    bool wait = acks == -1 && ps->appended && rq->bk->cfg.flush == FLUSH_GROUP;
    s->always_stream = true; /* its results stay in ps until it is sent */
    enum handler_result hr = astream_finish(rq, s);
    if (hr != H_DONE || !wait)
        return hr;
    api_wait_produce_fn(rq, NULL, 0, produce_stream_recheck, ps);
    return H_DEFER;
}

enum handler_result api_produce(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    if (v >= 3)
        kr_str(r, flex); /* transactional_id */
    int16_t acks = kr_i16(r);
    kr_i32(r); /* timeout_ms */
    int32_t ntopics = kr_array(r, flex);
    if (r->err || ntopics < 0)
        return H_CLOSE;
    if (kr_remaining(r) > PRODUCE_WHOLE_MAX &&
        produce_entries(r, flex, ntopics) > PRODUCE_STREAM_PARTS)
        return produce_streamed(rq, acks, ntopics);
    bool valid_acks = acks == -1 || acks == 0 || acks == 1;
    bool appended = false;
    /* acks=all: where each waiting partition's answer is, in case storage fails meanwhile */
    struct produce_ack fixed[16], *held = fixed;
    int nheld = 0, capheld = 16;
    enum handler_result hr = H_CLOSE;

    kw_array(w, flex, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        struct kslice name = kr_str(r, flex);
        int32_t nparts = kr_array(r, flex);
        if (r->err || nparts < 0)
            goto out;
        char topic[256];
        bool name_ok = kslice_cstr(name, topic, sizeof(topic)) == 0;
        uint32_t name_pos = (uint32_t)w->b.len;
        kw_strn(w, flex, (const char *)name.p, name.len);
        kw_array(w, flex, nparts);
        for (int32_t j = 0; j < nparts; j++) {
            int32_t index = kr_i32(r);
            struct kslice records = kr_bytes(r, flex);
            kr_tags(r, flex);
            if (r->err)
                goto out;
            struct append_result res = {KERR_NONE, -1, -1, NULL, false};
            if (!valid_acks)
                res.error = KERR_INVALID_REQUIRED_ACKS;
            else if (!name_ok)
                res.error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else
                produce_partition(rq, topic, index, records, &res, &appended);
            kw_i32(w, index);
            if (acks == -1 && res.durable_wait) {
                if (nheld == capheld) {
                    int cap = capheld * 2;
                    struct produce_ack *p = malloc((size_t)cap * sizeof(*p));
                    if (!p)
                        goto out; /* no memory: close, acknowledge nothing */
                    memcpy(p, held, (size_t)nheld * sizeof(*p));
                    if (held != fixed)
                        free(held);
                    held = p;
                    capheld = cap;
                }
                held[nheld++] = (struct produce_ack){name_pos, (uint32_t)w->b.len};
            }
            write_partition_result(w, v, flex, &res);
        }
        kr_tags(r, flex);
        kw_tags(w, flex);
    }
    kr_tags(r, flex);
    if (r->err)
        goto out;
    if (v >= 1)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_tags(w, flex);
    if (acks == 0) {
        hr = H_NORESP;
    } else if (acks == -1 && appended && rq->bk->cfg.flush == FLUSH_GROUP) {
        api_wait_produce(rq, held, nheld);
        hr = H_DEFER;
    } else {
        hr = H_DONE;
    }
out:
    if (held != fixed)
        free(held);
    return hr;
}

enum handler_result api_init_producer_id(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    bool flex = rq->flex;
    struct kslice txn = kr_str(r, flex);
    kr_i32(r); /* transaction_timeout_ms */
    if (rq->api_version >= 3) {
        kr_i64(r); /* producer_id */
        kr_i16(r); /* producer_epoch */
    }
    kr_tags(r, flex);
    if (r->err)
        return H_CLOSE;
    int16_t error = KERR_NONE;
    int64_t pid = -1;
    if (txn.len >= 0) {
        /* transactions are not supported; idempotent producers are */
        error = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else {
        pid = broker_alloc_producer_id(rq->bk);
        if (pid < 0)
            error = KERR_KAFKA_STORAGE_ERROR;
    }
    kw_i32(rq->w, 0); /* throttle_time_ms */
    kw_i16(rq->w, error);
    kw_i64(rq->w, pid);
    kw_i16(rq->w, error ? -1 : 0);
    kw_tags(rq->w, flex);
    return H_DONE;
}
