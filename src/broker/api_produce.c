/* Produce and InitProducerId. A produced batch is validated (magic 2, CRC-32C, lengths, record
 * count) and appended as received; with acks=all its response waits for the group fsync. */
#include <stdio.h>
#include <string.h>

#include "broker/apis.h"
#include "broker/batch.h"
#include "broker/broker.h"
#include "broker/kerr.h"
#include "core/log.h"

struct produce_result {
    int16_t error;
    int64_t base_offset;
    int64_t log_start;
    const char *message;
};

static void produce_partition(struct kreq *rq, const char *topic, int32_t index,
                              struct kslice records, struct produce_result *res, bool *appended)
{
    static char msg[512];
    struct broker *bk = rq->bk;
    res->base_offset = -1;
    res->log_start = -1;
    res->message = NULL;
    if (rq->api_version < 3) {
        /* message formats v0/v1 are not stored; like Apache Kafka 4.x, refuse */
        res->error = KERR_UNSUPPORTED_VERSION;
        return;
    }
    struct tpart *tp = registry_part(&bk->reg, topic, index);
    if (!tp) {
        res->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    res->log_start = partition_log_start(tp->log);
    if (records.len <= 0) {
        res->error = KERR_INVALID_RECORD;
        res->message = "no records";
        return;
    }
    if (records.len > tp->topic->cfg.max_message_bytes) {
        res->error = KERR_MESSAGE_TOO_LARGE;
        return;
    }
    struct batch_header h;
    struct sl_err err;
    int code = batch_validate(records.p, (size_t)records.len, &h, &err);
    if (code != 0) {
        log_warn("broker", "produce to %s-%d refused (error %d): %s", topic, (int)index, code,
                 err.msg);
        snprintf(msg, sizeof(msg), "%s", err.msg);
        res->error = (int16_t)code;
        res->message = msg;
        return;
    }
    int64_t base;
    int16_t perr = KERR_NONE;
    switch (producers_check(&tp->producers, &h, &base, &perr)) {
    case PRODUCER_DUPLICATE:
        /* Acknowledged with its original offset; like the original, the answer waits for the
         * sync that makes it durable. */
        *appended = true;
        res->error = KERR_NONE;
        res->base_offset = base;
        return;
    case PRODUCER_REFUSE:
        res->error = perr;
        return;
    case PRODUCER_APPEND:
        break;
    }
    /* The request buffer is the connection's own input buffer: the base offset is written into
     * it in place and the batch goes to disk unchanged otherwise. */
    if (partition_append(tp->log, (uint8_t *)records.p, (size_t)records.len, &base, &err) != 0) {
        log_error("broker", "append to %s-%d failed: %s", topic, (int)index, err.msg);
        res->error = KERR_KAFKA_STORAGE_ERROR;
        return;
    }
    producers_record(&tp->producers, &h, base);
    broker_mark_dirty(bk, tp);
    *appended = true;
    res->error = KERR_NONE;
    res->base_offset = base;
    res->log_start = partition_log_start(tp->log);
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

    kw_array(w, flex, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        struct kslice name = kr_str(r, flex);
        int32_t nparts = kr_array(r, flex);
        if (r->err || nparts < 0)
            return H_CLOSE;
        char topic[256];
        bool name_ok = kslice_cstr(name, topic, sizeof(topic)) == 0;
        kw_strn(w, flex, (const char *)name.p, name.len);
        kw_array(w, flex, nparts);
        for (int32_t j = 0; j < nparts; j++) {
            int32_t index = kr_i32(r);
            struct kslice records = kr_bytes(r, flex);
            kr_tags(r, flex);
            if (r->err)
                return H_CLOSE;
            struct produce_result res = {KERR_NONE, -1, -1, NULL};
            if (!valid_acks)
                res.error = KERR_INVALID_REQUIRED_ACKS;
            else if (!name_ok)
                res.error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else
                produce_partition(rq, topic, index, records, &res, &appended);
            kw_i32(w, index);
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
        return H_CLOSE;
    if (v >= 1)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_tags(w, flex);
    if (acks == 0)
        return H_NORESP;
    if (acks == -1 && appended && rq->bk->cfg.flush == FLUSH_GROUP)
        return H_WAIT_SYNC;
    return H_DONE;
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
