/* The dispatch table: {API key, version range, first flexible version, handler}. ApiVersions
 * answers from this same table, so what the broker advertises is what it dispatches.
 * Ranges are chosen so librdkafka 2.0.2 enables record batch v2, compression and idempotence
 * (it needs Produce 0 advertised for gzip/snappy/lz4 and Produce 3 + Fetch 4 for batches v2),
 * and so Kafka 4.x Java clients (KIP-896 minimums) find every version they need. Produce
 * v0-v2 are advertised but refused per partition, as Apache Kafka 4.x does. */
#include "broker/apis.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "broker/kerr.h"
#include "broker/metrics.h"
#include "core/log.h"

#define NOFLEX INT16_MAX

const struct api_def api_table[] = {
    {0, "Produce", 0, 11, 9, api_produce},
    {1, "Fetch", 4, 12, 12, api_fetch},
    {2, "ListOffsets", 0, 6, 6, api_list_offsets},
    {3, "Metadata", 0, 12, 9, api_metadata},
    {18, "ApiVersions", 0, 3, 3, api_versions},
    {19, "CreateTopics", 0, 7, 5, api_create_topics},
    {20, "DeleteTopics", 0, 6, 4, api_delete_topics},
    {8, "OffsetCommit", 0, 8, 8, api_offset_commit},
    {9, "OffsetFetch", 0, 7, 6, api_offset_fetch},
    {10, "FindCoordinator", 0, 4, 3, api_find_coordinator},
    {11, "JoinGroup", 0, 8, 6, api_join_group},
    {12, "Heartbeat", 0, 4, 4, api_heartbeat},
    {13, "LeaveGroup", 0, 5, 4, api_leave_group},
    {14, "SyncGroup", 0, 5, 4, api_sync_group},
    {15, "DescribeGroups", 0, 5, 5, api_describe_groups},
    {16, "ListGroups", 0, 4, 3, api_list_groups},
    {22, "InitProducerId", 0, 4, 2, api_init_producer_id},
    {32, "DescribeConfigs", 0, 4, 4, api_describe_configs},
    {37, "CreatePartitions", 0, 3, 2, api_create_partitions},
    {42, "DeleteGroups", 0, 2, 2, api_delete_groups},
    {47, "OffsetDelete", 0, 0, NOFLEX, api_offset_delete},
    {60, "DescribeCluster", 0, 1, 0, api_describe_cluster},
};

const int api_table_len = (int)(sizeof(api_table) / sizeof(api_table[0]));

const struct api_def *api_find(int16_t key)
{
    for (int i = 0; i < api_table_len; i++) {
        if (api_table[i].key == key)
            return &api_table[i];
    }
    return NULL;
}

/* --- acks=all: a response released by the next sync --- */

struct sync_wait {
    struct broker *bk;
    void (*recheck)(void *arg); /* a streamed Produce answer's own recheck */
    void *recheck_arg;
    uint64_t epoch;
    uint64_t failures; /* bk->io_failures when the wait began */
    bool flex;
    int nacks;
    struct produce_ack acks[]; /* Produce: the partitions to check when storage failed */
};

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n; i-- > 0; v >>= 8)
        p[i] = (uint8_t)v;
}

/* A storage error happened while the Produce answer waited: each partition whose data did not
 * become durable gets KAFKA_STORAGE_ERROR instead of its offset. The answer was written by
 * api_produce, so its fields are where acks say. */
static void produce_recheck(struct sync_wait *sw, struct kwriter *w)
{
    uint8_t *d = w->b.data;
    for (int i = 0; i < sw->nacks; i++) {
        const struct produce_ack *a = &sw->acks[i];
        size_t pos = a->name_pos, len;
        if (sw->flex) {
            uint32_t n = 0;
            for (int shift = 0; shift < 35; shift += 7) {
                uint8_t b = d[pos++];
                n |= (uint32_t)(b & 0x7f) << shift;
                if (!(b & 0x80))
                    break;
            }
            len = n ? n - 1 : 0;
        } else {
            len = (size_t)get_be(d + pos, 2);
            pos += 2;
        }
        char name[256];
        if (len >= sizeof(name))
            continue; /* not a topic name the registry has */
        memcpy(name, d + pos, len);
        name[len] = '\0';
        int32_t index = (int32_t)get_be(d + a->err_pos - 4, 4);
        int64_t base = (int64_t)get_be(d + a->err_pos + 2, 8);
        struct tpart *tp = registry_part(&sw->bk->reg, name, index);
        if (tp && !(tp->storage_failed && base >= tp->high_watermark))
            continue;
        put_be(d + a->err_pos, KERR_KAFKA_STORAGE_ERROR, 2);
        put_be(d + a->err_pos + 2, (uint64_t)-1, 8);
    }
}

static bool sync_try(void *ctx, struct kwriter *w, bool expired)
{
    (void)expired;
    struct sync_wait *sw = ctx;
    if (sw->bk->sync_epoch < sw->epoch)
        return false;
    if (sw->recheck && sw->bk->io_failures != sw->failures)
        sw->recheck(sw->recheck_arg);
    else if (sw->nacks > 0 && sw->bk->io_failures != sw->failures)
        produce_recheck(sw, w);
    return true;
}

static void sync_free(void *ctx)
{
    struct sync_wait *sw = ctx;
    sw->bk->nwait_sync--;
    free(sw);
}

void api_wait_sync(struct kreq *rq)
{
    api_wait_produce(rq, NULL, 0);
}

void api_wait_produce(struct kreq *rq, const struct produce_ack *acks, int n)
{
    api_wait_produce_fn(rq, acks, n, NULL, NULL);
}

void api_wait_produce_fn(struct kreq *rq, const struct produce_ack *acks, int n,
                         void (*recheck)(void *arg), void *arg)
{
    struct broker *bk = rq->bk;
    struct sync_wait *sw = malloc(sizeof(*sw) + (size_t)n * sizeof(*acks));
    if (!sw && recheck) {
        uint64_t failures = bk->io_failures;
        broker_sync(bk);
        if (bk->io_failures != failures)
            recheck(arg);
        return;
    }
    if (!sw) {
        /* cannot wait: make it durable now (a partition that fails goes offline, and its
         * answer can no longer be changed: stop rather than acknowledge it) */
        uint64_t failures = bk->io_failures;
        broker_sync(bk);
        if (n > 0 && bk->io_failures != failures) {
            log_error("broker", "out of memory while a storage error happened; stopping");
            exit(1);
        }
        return;
    }
    sw->bk = bk;
    sw->recheck = recheck;
    sw->recheck_arg = arg;
    sw->failures = bk->io_failures;
    sw->flex = rq->flex;
    sw->nacks = n;
    if (n > 0)
        memcpy(sw->acks, acks, (size_t)n * sizeof(*acks));
    sw->epoch = bk->submitted_epoch + 1; /* the next sync to start covers this data */
    if (bk->want_epoch < sw->epoch)
        bk->want_epoch = sw->epoch;
    bk->nwait_sync++;
    server_wait(rq, -1, sync_try, sync_free, sw);
}

enum server_result api_dispatch(struct kreq *rq)
{
    const char *peer = server_conn_host(rq->conn);
    struct kreader *hr = &rq->r;
    int16_t key = kr_i16(hr);
    int16_t version = kr_i16(hr);
    int32_t corr = kr_i32(hr);
    if (hr->err) {
        log_warn("broker", "%s: request header too short; closing", peer);
        return SR_CLOSE;
    }
    const struct api_def *api = api_find(key);
    if (!api) {
        log_warn("broker", "%s: unknown API key %d; closing", peer, key);
        return SR_CLOSE;
    }
    broker_metrics_request(key, api->name);
    bool supported = version >= api->min_version && version <= api->max_version;
    if (!supported && key != 18) {
        log_warn("broker", "%s: %s v%d is not supported (range %d-%d); closing", peer, api->name,
                 version, api->min_version, api->max_version);
        return SR_CLOSE;
    }
    bool flex = version >= api->first_flexible;
    rq->client_id = kr_str(hr, false);
    if (flex && supported)
        kr_tags(hr, true);
    if (hr->err) {
        log_warn("broker", "%s: malformed %s request header; closing", peer, api->name);
        return SR_CLOSE;
    }
    rq->api_key = key;
    rq->api_version = version;
    rq->correlation_id = corr;
    rq->flex = flex;
    kw_i32(rq->w, corr);
    if (flex && key != 18) /* ApiVersions always answers with response header v0 */
        kw_tags(rq->w, true);
    switch (api->handle(rq)) {
    case H_DONE:
        return SR_DONE;
    case H_NORESP:
        return SR_NORESP;
    case H_WAIT_SYNC:
        api_wait_sync(rq);
        return SR_DEFER;
    case H_DEFER:
        return SR_DEFER;
    case H_CLOSE:
        break;
    }
    log_warn("broker", "%s: malformed %s v%d request; closing", peer, api->name, version);
    return SR_CLOSE;
}
