/* Produce and InitProducerId: decoding and encoding only. Each partition's records go through
 * one call, broker_append, which validates, checks idempotence, appends and marks the partition
 * dirty; with acks=all the response waits for the group fsync, and a partition whose sync
 * fails meanwhile is answered KAFKA_STORAGE_ERROR (api_wait_produce). */
#include <stdlib.h>
#include <string.h>

#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/kerr.h"

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
            kw_i16(w, res.error);
            kw_i64(w, res.base_offset);
            if (v >= 2)
                kw_i64(w, -1); /* log_append_time_ms: CreateTime topics */
            if (v >= 5)
                kw_i64(w, res.log_start);
            if (v >= 8) {
                kw_array(w, flex, 0); /* record_errors */
                kw_str(w, flex, res.message);
            }
            kw_tags(w, flex);
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
