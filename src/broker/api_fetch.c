/* Fetch (with long poll) and ListOffsets. Consumers see data up to each partition's high
 * watermark: with the default flush policy that is what has been fsynced, so nothing a
 * consumer has read can vanish in a crash. */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "core/log.h"
#include "core/units.h"

#define FETCH_MAX_WAIT_MS 300000 /* longest long poll honoured */

struct fetch_part {
    int32_t index;
    int64_t offset;
    int32_t max_bytes;
};

struct fetch_topic {
    char name[256];
    bool name_ok;
    int32_t nparts;
    struct fetch_part *parts;
};

struct fetch_wait {
    int16_t version;
    bool flex;
    int32_t min_bytes;
    int64_t max_bytes;
    int32_t ntopics;
    struct fetch_topic *topics;
};

void fetch_wait_free(struct fetch_wait *fw)
{
    if (!fw)
        return;
    for (int32_t i = 0; i < fw->ntopics; i++)
        free(fw->topics[i].parts);
    free(fw->topics);
    free(fw);
}

#define SLICES_PER_PARTITION 8

struct part_data {
    int16_t error;
    int64_t hw;
    int64_t log_start;
    size_t len;
    int nslices;
    struct log_slice slices[SLICES_PER_PARTITION];
};

bool fetch_wait_try(struct broker *bk, struct fetch_wait *fw, struct kwriter *w, bool expired)
{
    int32_t total_parts = 0;
    for (int32_t i = 0; i < fw->ntopics; i++)
        total_parts += fw->topics[i].nparts;
    struct part_data *pd = calloc((size_t)total_parts + 1, sizeof(*pd));
    if (!pd) {
        w->err = true;
        return true;
    }
    /* Where the data is, not the data: the bytes go from the log files to the socket with
     * sendfile when the response is written, so deciding costs no copying. */
    size_t total = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < fw->ntopics; i++) {
        struct fetch_topic *ft = &fw->topics[i];
        for (int32_t j = 0; j < ft->nparts; j++, k++) {
            struct fetch_part *fp = &ft->parts[j];
            struct part_data *d = &pd[k];
            d->hw = -1;
            d->log_start = -1;
            struct tpart *tp = ft->name_ok ? registry_part(&bk->reg, ft->name, fp->index) : NULL;
            if (!tp) {
                d->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            d->hw = tp->high_watermark;
            d->log_start = partition_log_start(tp->log);
            if (fp->offset > d->hw || fp->offset < d->log_start) {
                d->error = KERR_OFFSET_OUT_OF_RANGE;
                continue;
            }
            int64_t room = fw->max_bytes - (int64_t)total;
            if (fp->offset == d->hw || (room <= 0 && total > 0) || fp->max_bytes <= 0)
                continue;
            /* only the first partition with data may overshoot max_bytes (KIP-74) */
            size_t max = total == 0 ? (size_t)fp->max_bytes
                                    : (size_t)(room < fp->max_bytes ? room : fp->max_bytes);
            if (total == 0 && (int64_t)max > fw->max_bytes)
                max = (size_t)fw->max_bytes;
            struct sl_err err;
            int rc = partition_slices(tp->log, fp->offset, d->hw, max, d->slices,
                                      SLICES_PER_PARTITION, &d->nslices, &d->len, &err);
            if (rc < 0) {
                log_error("broker", "read %s-%d at %lld: %s", ft->name, (int)fp->index,
                          (long long)fp->offset, err.msg);
                d->error = KERR_KAFKA_STORAGE_ERROR;
                d->nslices = 0;
                d->len = 0;
                continue;
            }
            if (rc == 1) {
                d->error = KERR_OFFSET_OUT_OF_RANGE;
                continue;
            }
            total += d->len;
        }
    }
    if (!expired && (int64_t)total < fw->min_bytes) {
        for (int32_t i = 0; i < total_parts; i++)
            log_slices_close(pd[i].slices, pd[i].nslices);
        free(pd);
        return false;
    }

    bool flex = fw->flex;
    int16_t v = fw->version;
    kw_i32(w, 0); /* throttle_time_ms */
    if (v >= 7) {
        kw_i16(w, KERR_NONE);
        kw_i32(w, 0); /* session_id: no sessions, clients send full requests */
    }
    kw_array(w, flex, fw->ntopics);
    k = 0;
    for (int32_t i = 0; i < fw->ntopics; i++) {
        struct fetch_topic *ft = &fw->topics[i];
        kw_str(w, flex, ft->name);
        kw_array(w, flex, ft->nparts);
        for (int32_t j = 0; j < ft->nparts; j++, k++) {
            struct part_data *d = &pd[k];
            kw_i32(w, ft->parts[j].index);
            kw_i16(w, d->error);
            kw_i64(w, d->hw);
            kw_i64(w, d->hw); /* last_stable_offset: no transactions */
            if (v >= 5)
                kw_i64(w, d->log_start);
            kw_array(w, flex, 0); /* aborted_transactions */
            if (v >= 11)
                kw_i32(w, -1); /* preferred_read_replica */
            /* records: the length here, the bytes themselves as file chunks */
            if (flex)
                kw_uvarint(w, (uint32_t)d->len + 1);
            else
                kw_i32(w, (int32_t)d->len);
            for (int s = 0; s < d->nslices; s++)
                kw_file(w, d->slices[s].fd, d->slices[s].pos, d->slices[s].len);
            log_slices_close(d->slices, d->nslices);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
    free(pd);
    return true;
}

enum handler_result api_fetch(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    struct fetch_wait *fw = calloc(1, sizeof(*fw));
    if (!fw)
        return H_CLOSE;
    fw->version = v;
    fw->flex = flex;
    kr_i32(r); /* replica_id */
    int32_t max_wait = kr_i32(r);
    fw->min_bytes = kr_i32(r);
    fw->max_bytes = kr_i32(r);
    kr_i8(r); /* isolation_level: no transactions, both levels read the same */
    if (v >= 7) {
        kr_i32(r); /* session_id */
        kr_i32(r); /* session_epoch */
    }
    int32_t ntopics = kr_array(r, flex);
    if (r->err || ntopics < 0)
        goto bad;
    fw->topics = calloc((size_t)ntopics + 1, sizeof(*fw->topics));
    if (!fw->topics)
        goto bad;
    for (int32_t i = 0; i < ntopics; i++) {
        struct fetch_topic *ft = &fw->topics[i];
        fw->ntopics = i + 1;
        ft->name_ok = kslice_cstr(kr_str(r, flex), ft->name, sizeof(ft->name)) == 0;
        int32_t nparts = kr_array(r, flex);
        if (r->err || nparts < 0)
            goto bad;
        ft->parts = calloc((size_t)nparts + 1, sizeof(*ft->parts));
        if (!ft->parts)
            goto bad;
        ft->nparts = nparts;
        for (int32_t j = 0; j < nparts; j++) {
            struct fetch_part *fp = &ft->parts[j];
            fp->index = kr_i32(r);
            if (v >= 9)
                kr_i32(r); /* current_leader_epoch */
            fp->offset = kr_i64(r);
            if (v >= 12)
                kr_i32(r); /* last_fetched_epoch */
            if (v >= 5)
                kr_i64(r); /* log_start_offset */
            fp->max_bytes = kr_i32(r);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    if (v >= 7) {
        int32_t nforgotten = kr_array(r, flex);
        for (int32_t i = 0; i < nforgotten && !r->err; i++) {
            kr_str(r, flex);
            int32_t n = kr_array(r, flex);
            kr_skip(r, (size_t)(n > 0 ? n : 0) * 4);
            kr_tags(r, flex);
        }
    }
    if (v >= 11)
        kr_str(r, flex); /* rack_id */
    kr_tags(r, flex);
    if (r->err)
        goto bad;

    if (fw->max_bytes <= 0 || fw->max_bytes > rq->bk->cfg.max_fetch_bytes)
        fw->max_bytes = rq->bk->cfg.max_fetch_bytes;
    if (max_wait > FETCH_MAX_WAIT_MS)
        max_wait = FETCH_MAX_WAIT_MS;
    bool expired = max_wait <= 0;
    if (fetch_wait_try(rq->bk, fw, rq->w, expired)) {
        fetch_wait_free(fw);
        return H_DONE;
    }
    server_defer_fetch(rq, fw, mono_ms() + max_wait);
    return H_DEFER;
bad:
    fetch_wait_free(fw);
    return H_CLOSE;
}

static void list_offset(struct broker *bk, const char *topic, bool name_ok, int32_t index,
                        int64_t ts, int16_t *error, int64_t *offset, int64_t *timestamp)
{
    *offset = -1;
    *timestamp = -1;
    struct tpart *tp = name_ok ? registry_part(&bk->reg, topic, index) : NULL;
    if (!tp) {
        *error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    *error = KERR_NONE;
    if (ts == -1) { /* latest */
        *offset = tp->high_watermark;
    } else if (ts == -2) { /* earliest */
        *offset = partition_log_start(tp->log);
    } else if (ts >= 0) {
        struct sl_err err;
        int64_t off, t;
        if (partition_offset_for_timestamp(tp->log, ts, &off, &t, &err) != 0) {
            log_error("broker", "offset for time on %s-%d: %s", topic, (int)index, err.msg);
            *error = KERR_KAFKA_STORAGE_ERROR;
        } else if (off >= 0 && off < tp->high_watermark) {
            *offset = off;
            *timestamp = t;
        }
    } else {
        *error = KERR_INVALID_REQUEST;
    }
}

enum handler_result api_list_offsets(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    kr_i32(r); /* replica_id */
    if (v >= 2)
        kr_i8(r); /* isolation_level */
    int32_t ntopics = kr_array(r, flex);
    if (r->err || ntopics < 0)
        return H_CLOSE;
    if (v >= 2)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_array(w, flex, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        struct kslice name = kr_str(r, flex);
        char topic[256];
        bool name_ok = kslice_cstr(name, topic, sizeof(topic)) == 0;
        int32_t nparts = kr_array(r, flex);
        if (r->err || nparts < 0)
            return H_CLOSE;
        kw_strn(w, flex, (const char *)name.p, name.len);
        kw_array(w, flex, nparts);
        for (int32_t j = 0; j < nparts; j++) {
            int32_t index = kr_i32(r);
            if (v >= 4)
                kr_i32(r); /* current_leader_epoch */
            int64_t ts = kr_i64(r);
            if (v == 0)
                kr_i32(r); /* max_num_offsets */
            kr_tags(r, flex);
            if (r->err)
                return H_CLOSE;
            int16_t error;
            int64_t offset, timestamp;
            list_offset(rq->bk, topic, name_ok, index, ts, &error, &offset, &timestamp);
            kw_i32(w, index);
            kw_i16(w, error);
            if (v == 0) {
                kw_array(w, false, offset >= 0 ? 1 : 0);
                if (offset >= 0)
                    kw_i64(w, offset);
            } else {
                kw_i64(w, timestamp);
                kw_i64(w, offset);
                if (v >= 4)
                    kw_i32(w, 0); /* leader_epoch */
            }
            kw_tags(w, flex);
        }
        kr_tags(r, flex);
        kw_tags(w, flex);
    }
    kr_tags(r, flex);
    if (r->err)
        return H_CLOSE;
    kw_tags(w, flex);
    return H_DONE;
}
