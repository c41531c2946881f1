/* Fetch (with long poll) and ListOffsets. Consumers see data up to each partition's high
 * watermark: with the default flush policy that is what has been fsynced, so nothing a
 * consumer has read can vanish in a crash. */
#include <stdlib.h>
#include <string.h>

#include "broker/api_stream.h"
#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/kerr.h"
#include "core/log.h"
#include "core/loop.h"

#define FETCH_MAX_WAIT_MS 300000 /* longest long poll honoured */

/* A Fetch being answered or waiting: its topics section is kept as the request's own bytes
 * (copied only when it must wait) and walked again at each try, so a request costs no more
 * memory than its size whatever it names. */
struct fetch_wait {
    struct broker *bk;
    int16_t version;
    bool flex;
    int32_t min_bytes;
    int64_t max_bytes;
    const uint8_t *topics; /* the topics array, count included */
    size_t topics_len;
    uint8_t *copy; /* owns topics while waiting */
};

static void fetch_wait_free(void *ctx)
{
    struct fetch_wait *fw = ctx;
    free(fw->copy);
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

/* Reads one partition entry of a Fetch request. */
static void read_part(struct kreader *r, int16_t v, bool flex, int32_t *index, int64_t *offset,
                      int32_t *max_bytes)
{
    *index = kr_i32(r);
    if (v >= 9)
        kr_i32(r); /* current_leader_epoch */
    *offset = kr_i64(r);
    if (v >= 12)
        kr_i32(r); /* last_fetched_epoch */
    if (v >= 5)
        kr_i64(r); /* log_start_offset */
    *max_bytes = kr_i32(r);
    kr_tags(r, flex);
}

/* A partition's answer without its data: error, high watermark, log start. */
static void part_state(struct tpart *tp, int64_t offset, struct part_data *d)
{
    d->error = KERR_NONE;
    d->hw = -1;
    d->log_start = -1;
    d->len = 0;
    d->nslices = 0;
    if (!tp) {
        d->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    d->hw = tp->high_watermark;
    d->log_start = partition_log_start(tp->log);
    if (offset > d->hw || offset < d->log_start)
        d->error = KERR_OFFSET_OUT_OF_RANGE;
}

/* Where one partition's data is (not the data: the bytes go from the log files to the socket
 * with sendfile when the response is written). total is what earlier partitions took. */
static void plan_part(struct fetch_wait *fw, struct tpart *tp, const char *topic, int32_t index,
                      int64_t offset, int32_t part_max, size_t total, struct part_data *d)
{
    part_state(tp, offset, d);
    if (d->error)
        return;
    int64_t room = fw->max_bytes - (int64_t)total;
    if (offset == d->hw || (room <= 0 && total > 0) || part_max <= 0)
        return;
    /* only the first partition with data may overshoot max_bytes (KIP-74) */
    size_t max = total == 0 ? (size_t)part_max : (size_t)(room < part_max ? room : part_max);
    if (total == 0 && (int64_t)max > fw->max_bytes)
        max = (size_t)fw->max_bytes;
    struct sl_err err;
    int rc = partition_slices(tp->log, offset, d->hw, max, d->slices, SLICES_PER_PARTITION,
                              &d->nslices, &d->len, &err);
    if (rc < 0) {
        log_error("broker", "read %s-%d at %lld: %s", topic, (int)index, (long long)offset,
                  err.msg);
        d->error = KERR_KAFKA_STORAGE_ERROR;
    } else if (rc == 1) {
        d->error = KERR_OFFSET_OUT_OF_RANGE;
    }
    if (d->error) {
        d->nslices = 0;
        d->len = 0;
    }
}

/* One partition's answer; its records are the file ranges `slices` (d->nslices of them). */
static void write_part(struct kwriter *w, int16_t v, bool flex, int32_t index,
                       const struct part_data *d, const struct log_slice *slices)
{
    kw_i32(w, index);
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
        kw_file(w, slices[s].fd, slices[s].pos, slices[s].len);
    kw_tags(w, flex);
}

/* Walks the request's topics: with w NULL only adds up the bytes there are (stopping once
 * `enough`), otherwise writes the response's topics. */
static size_t fetch_walk(struct fetch_wait *fw, struct kwriter *w, size_t enough)
{
    struct kreader r;
    kr_init(&r, fw->topics, fw->topics_len);
    bool flex = fw->flex;
    int16_t v = fw->version;
    int32_t ntopics = kr_array(&r, flex);
    if (w)
        kw_array(w, flex, ntopics);
    size_t total = 0;
    for (int32_t i = 0; i < ntopics && !r.err; i++) {
        struct kslice name = kr_str(&r, flex);
        char topic[256];
        bool name_ok = kslice_cstr(name, topic, sizeof(topic)) == 0;
        struct topic *t = name_ok ? registry_find(&fw->bk->reg, topic) : NULL;
        int32_t nparts = kr_array(&r, flex);
        if (w) {
            kw_strn(w, flex, (const char *)name.p, name.len);
            kw_array(w, flex, nparts);
        }
        for (int32_t j = 0; j < nparts && !r.err; j++) {
            int32_t index, part_max;
            int64_t offset;
            read_part(&r, v, flex, &index, &offset, &part_max);
            struct tpart *tp = t && index >= 0 && index < t->npartitions ? &t->parts[index] : NULL;
            struct part_data d;
            plan_part(fw, tp, topic, index, offset, part_max, total, &d);
            total += d.len;
            if (!w) {
                log_slices_close(d.slices, d.nslices);
                if (total >= enough)
                    return total;
                continue;
            }
            write_part(w, v, flex, index, &d, d.slices);
            log_slices_close(d.slices, d.nslices);
        }
        kr_tags(&r, flex);
        if (w)
            kw_tags(w, flex);
    }
    return total;
}

/* A Fetch naming many partitions is answered streamed (api_stream.h): a partition's answer
 * without data is larger than its 16 request bytes. The first pass plans every partition as a
 * whole answer would (the max_bytes budget in request order) and saves the plan of each
 * partition that gets data (its file ranges, held open, as a whole answer's chunks would be;
 * at most as many as the budget has batches for); the answer then sends those, and the
 * partitions without data say what their state is when their answer is sent. */
#define FETCH_STREAM_MIN 16384 /* a topics section up to this size is answered whole */

struct fetch_saved {
    int32_t ordinal; /* the partition's place in the request */
    struct part_data d;
    int first; /* its slices in fetch_stream.slices */
};

struct fetch_stream {
    struct fetch_wait fw;
    uint8_t *copy;      /* the topics section, when the request had to wait (owned) */
    size_t total;       /* record bytes planned so far (first pass) */
    int32_t ordinal[2]; /* partitions answered so far in each pass */
    struct fetch_saved *saved;
    int nsaved, capsaved, next;
    struct log_slice *slices;
    int nslices, capslices;
};

static void fetch_stream_free(void *arg)
{
    struct fetch_stream *fs = arg;
    if (!fs)
        return;
    log_slices_close(fs->slices, fs->nslices);
    free(fs->slices);
    free(fs->saved);
    free(fs->copy);
    free(fs);
}

/* Saves a planned partition with data (its slices' descriptors move into fs). */
static struct fetch_saved *fetch_save(struct fetch_stream *fs, int32_t ordinal, struct part_data *d)
{
    if (fs->nsaved == fs->capsaved) {
        int cap = fs->capsaved ? fs->capsaved * 2 : 16;
        struct fetch_saved *p = realloc(fs->saved, (size_t)cap * sizeof(*p));
        if (!p)
            return NULL;
        fs->saved = p;
        fs->capsaved = cap;
    }
    if (fs->nslices + d->nslices > fs->capslices) {
        int cap = fs->capslices ? fs->capslices * 2 : 16;
        while (cap < fs->nslices + d->nslices)
            cap *= 2;
        struct log_slice *p = realloc(fs->slices, (size_t)cap * sizeof(*p));
        if (!p)
            return NULL;
        fs->slices = p;
        fs->capslices = cap;
    }
    struct fetch_saved *sv = &fs->saved[fs->nsaved++];
    sv->ordinal = ordinal;
    sv->d = *d;
    sv->first = fs->nslices;
    memcpy(fs->slices + fs->nslices, d->slices, (size_t)d->nslices * sizeof(d->slices[0]));
    fs->nslices += d->nslices;
    d->nslices = 0; /* moved */
    return sv;
}

static void fetch_stream_partition(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct fetch_stream *fs = s->arg;
    int16_t v = s->v;
    int32_t index, part_max;
    int64_t offset;
    read_part(r, v, s->flex, &index, &offset, &part_max);
    if (r->err)
        return;
    int p = s->sizing ? 0 : 1;
    int32_t ordinal = fs->ordinal[p]++;
    struct topic *t = s->name_ok ? registry_find(&s->bk->reg, s->name) : NULL;
    struct tpart *tp = t && index >= 0 && index < t->npartitions ? &t->parts[index] : NULL;
    struct part_data d;
    const struct fetch_saved *sv = NULL;
    if (s->sizing) {
        plan_part(&fs->fw, tp, s->name, index, offset, part_max, fs->total, &d);
        fs->total += d.len;
        if (d.len > 0) {
            sv = fetch_save(fs, ordinal, &d);
            if (!sv) {
                log_slices_close(d.slices, d.nslices);
                s->oom = true;
                return;
            }
        }
    } else if (fs->next < fs->nsaved && fs->saved[fs->next].ordinal == ordinal) {
        sv = &fs->saved[fs->next++];
    } else {
        part_state(tp, offset, &d);
    }
    if (sv)
        write_part(w, v, s->flex, index, &sv->d, fs->slices + sv->first);
    else
        write_part(w, v, s->flex, index, &d, d.slices);
}

static const struct astream_def fetch_stream_def = {
    .outer = astream_topic,
    .inner = fetch_stream_partition,
    .outer_end = astream_tags_end,
    .tail = astream_tags_tail,
    .free_arg = fetch_stream_free,
};

/* Answers fw's topics into w streamed; false (nothing written) when it cannot. */
static bool fetch_stream(struct fetch_wait *fw, struct kwriter *w)
{
    struct fetch_stream *fs = calloc(1, sizeof(*fs));
    if (!fs)
        return false;
    fs->fw = *fw;
    fs->fw.copy = NULL;
    struct kreader r;
    kr_init(&r, fw->topics, fw->topics_len);
    int32_t ntopics = kr_array(&r, fw->flex);
    struct astream *s =
        astream_start(fw->bk, fw->version, fw->flex, &r, w->b.max, &fetch_stream_def, ntopics, fs);
    if (!s)
        return false;
    /* what the stream reads is its own from here */
    fs->copy = fw->copy;
    fw->copy = NULL;
    kw_array(w, fw->flex, ntopics);
    if (!astream_send(w, s))
        w->err = true; /* cannot happen: the request was checked; the connection is closed */
    return true;
}

static bool fetch_try(void *ctx, struct kwriter *w, bool expired)
{
    struct fetch_wait *fw = ctx;
    size_t want = fw->min_bytes > 0 ? (size_t)fw->min_bytes : 0;
    if (!expired && fetch_walk(fw, NULL, want) < want)
        return false;
    kw_i32(w, 0); /* throttle_time_ms */
    if (fw->version >= 7) {
        kw_i16(w, KERR_NONE);
        kw_i32(w, 0); /* session_id: no sessions, clients send full requests */
    }
    if (fw->topics_len > FETCH_STREAM_MIN && fetch_stream(fw, w))
        return true;
    fetch_walk(fw, w, 0);
    kw_tags(w, fw->flex);
    return true;
}

enum handler_result api_fetch(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    struct fetch_wait fw = {.bk = rq->bk, .version = v, .flex = flex};
    kr_i32(r); /* replica_id */
    int32_t max_wait = kr_i32(r);
    fw.min_bytes = kr_i32(r);
    fw.max_bytes = kr_i32(r);
    kr_i8(r); /* isolation_level: no transactions, both levels read the same */
    if (v >= 7) {
        kr_i32(r); /* session_id */
        kr_i32(r); /* session_epoch */
    }
    /* Check the whole request now; the topics section is walked again when answering. */
    fw.topics = r->p;
    int32_t ntopics = kr_array(r, flex);
    if (r->err || ntopics < 0)
        return H_CLOSE;
    for (int32_t i = 0; i < ntopics && !r->err; i++) {
        kr_str(r, flex);
        int32_t nparts = kr_array(r, flex);
        if (nparts < 0)
            return H_CLOSE;
        for (int32_t j = 0; j < nparts && !r->err; j++) {
            int32_t index, part_max;
            int64_t offset;
            read_part(r, v, flex, &index, &offset, &part_max);
        }
        kr_tags(r, flex);
    }
    fw.topics_len = (size_t)(r->p - fw.topics);
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
        return H_CLOSE;

    if (fw.max_bytes <= 0 || fw.max_bytes > rq->bk->cfg.max_fetch_bytes)
        fw.max_bytes = rq->bk->cfg.max_fetch_bytes;
    if (max_wait > FETCH_MAX_WAIT_MS)
        max_wait = FETCH_MAX_WAIT_MS;
    if (fetch_try(&fw, rq->w, max_wait <= 0))
        return H_DONE;
    /* wait for data: the topics section must outlive the request buffer */
    struct fetch_wait *park = malloc(sizeof(*park));
    uint8_t *copy = malloc(fw.topics_len + 1);
    if (!park || !copy) {
        free(park);
        free(copy);
        fetch_try(&fw, rq->w, true);
        return H_DONE;
    }
    memcpy(copy, fw.topics, fw.topics_len);
    *park = fw;
    park->copy = copy;
    park->topics = copy;
    rq->hold_bytes = sizeof(*park) + fw.topics_len;
    server_wait(rq, loop_now(rq->bk->loop) + max_wait, fetch_try, fetch_wait_free, park);
    return H_DEFER;
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

/* ListOffsets, streamed from v1 (api_stream.h): 12 bytes of a partition in the request get 22
 * in the answer. From v1 every partition's answer has the same size whatever it says, so the
 * first pass needs no broker state and each partition is looked up when its answer is sent. In
 * v0 the size depends on the answer: v0 answers are built whole (no larger than the request). */

static void list_offsets_partition(struct astream *s, struct kreader *r, struct kwriter *w)
{
    int16_t v = s->v;
    int32_t index = kr_i32(r);
    if (v >= 4)
        kr_i32(r); /* current_leader_epoch */
    int64_t ts = kr_i64(r);
    if (v == 0)
        kr_i32(r); /* max_num_offsets */
    kr_tags(r, s->flex);
    if (r->err)
        return;
    int16_t error = KERR_NONE;
    int64_t offset = -1, timestamp = -1;
    if (!s->sizing || v == 0)
        list_offset(s->bk, s->name, s->name_ok, index, ts, &error, &offset, &timestamp);
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
    kw_tags(w, s->flex);
}

static const struct astream_def list_offsets_def = {
    .outer = astream_topic,
    .inner = list_offsets_partition,
    .outer_end = astream_tags_end,
    .tail = astream_tags_tail,
};

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
    struct astream *s = astream_begin(rq, &list_offsets_def, ntopics, NULL);
    kr_tags(r, flex);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    if (v == 0)
        s->whole = true;
    return astream_finish(rq, s);
}
