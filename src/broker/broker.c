/* Broker-wide state: cluster identity, the dirty-partition list behind group commit, and
 * durable producer-id allocation. */
#include "broker/broker.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metrics.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/units.h"
#include "core/uuid.h"

#define PRODUCER_ID_BLOCK 1000

static int load_meta(struct broker *bk, struct sl_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/meta.properties", bk->cfg.data_dir);
    char *text;
    struct sl_err e;
    if (fs_read_file(path, 4096, &text, NULL, &e) == 0) {
        char *p = strstr(text, "cluster.id=");
        if (p) {
            p += strlen("cluster.id=");
            size_t n = strcspn(p, "\r\n");
            if (n > 0 && n < sizeof(bk->cluster_id)) {
                memcpy(bk->cluster_id, p, n);
                bk->cluster_id[n] = '\0';
            }
        }
        free(text);
        if (bk->cluster_id[0])
            return 0;
        return sl_err_set(err, "%s has no cluster.id", path);
    }
    /* A new data directory: a random cluster id, base64url of a UUID like Kafka's. */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t u[18] = {0};
    uuid_v4(u);
    int j = 0;
    for (int i = 0; i < 18 && j < 22; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8 | u[i + 2];
        for (int k = 3; k >= 0 && j < 22; k--)
            bk->cluster_id[j++] = b64[(v >> (6 * k)) & 63];
    }
    bk->cluster_id[22] = '\0';
    char text2[256];
    int n = snprintf(text2, sizeof(text2), "cluster.id=%s\nnode.id=%d\nversion=1\n", bk->cluster_id,
                     (int)bk->cfg.node_id);
    return fs_write_atomic(path, text2, (size_t)n, err);
}

static int reserve_producer_ids(struct broker *bk, int64_t limit, struct sl_err *err)
{
    char path[PATH_MAX + 32], text[64];
    snprintf(path, sizeof(path), "%s/producer-ids", bk->cfg.data_dir);
    int n = snprintf(text, sizeof(text), "%" PRId64 "\n", limit);
    if (fs_write_atomic(path, text, (size_t)n, err) != 0)
        return -1;
    bk->producer_id_limit = limit;
    return 0;
}

static int load_producer_ids(struct broker *bk, struct sl_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/producer-ids", bk->cfg.data_dir);
    char *text;
    struct sl_err e;
    int64_t next = 0;
    if (fs_read_file(path, 64, &text, NULL, &e) == 0) {
        text[strcspn(text, "\r\n")] = '\0';
        if (parse_int(text, 0, INT64_MAX / 2, &next, &e) != 0) {
            free(text);
            return sl_err_set(err, "%s: %s", path, e.msg);
        }
        free(text);
    }
    /* Ids below the stored limit may have been handed out before a crash: skip them all. */
    bk->next_producer_id = next;
    return reserve_producer_ids(bk, next + PRODUCER_ID_BLOCK, err);
}

int broker_open(struct broker *bk, struct sl_err *err)
{
    if (fs_mkdirs(bk->cfg.data_dir, err) != 0 || load_meta(bk, err) != 0 ||
        load_producer_ids(bk, err) != 0)
        return -1;
    if (groups_open(&bk->groups, bk->cfg.data_dir, bk->cfg.group_initial_delay_ms, err) != 0)
        return -1;
    return registry_open(&bk->reg, bk->cfg.data_dir, err);
}

void broker_close(struct broker *bk)
{
    broker_sync(bk);
    groups_close(&bk->groups);
    registry_close(&bk->reg);
    free(bk->dirty);
    bk->dirty = NULL;
}

int64_t broker_alloc_producer_id(struct broker *bk)
{
    if (bk->next_producer_id >= bk->producer_id_limit) {
        struct sl_err err;
        if (reserve_producer_ids(bk, bk->producer_id_limit + PRODUCER_ID_BLOCK, &err) != 0) {
            log_error("broker", "cannot reserve producer ids: %s", err.msg);
            return -1;
        }
    }
    return bk->next_producer_id++;
}

void broker_mark_dirty(struct broker *bk, struct tpart *tp)
{
    if (bk->cfg.flush == FLUSH_INTERVAL) {
        tp->high_watermark = partition_log_end(tp->log);
        bk->hw_advanced = true;
    }
    if (tp->in_dirty_list)
        return;
    if (bk->ndirty == bk->dirty_cap) {
        int cap = bk->dirty_cap ? bk->dirty_cap * 2 : 64;
        struct tpart **p = realloc(bk->dirty, (size_t)cap * sizeof(*p));
        if (!p) {
            /* cannot track it: make it durable right away instead */
            broker_sync(bk);
            struct sl_err err;
            if (partition_sync(tp->log, &err) != 0) {
                log_error("broker", "fsync of %s-%d failed: %s; stopping", tp->topic->name,
                          (int)tp->index, err.msg);
                exit(1);
            }
            tp->high_watermark = partition_log_end(tp->log);
            bk->hw_advanced = true;
            return;
        }
        bk->dirty = p;
        bk->dirty_cap = cap;
    }
    bk->dirty[bk->ndirty++] = tp;
    tp->in_dirty_list = true;
}

void broker_sync(struct broker *bk)
{
    for (int i = 0; i < bk->ndirty; i++) {
        struct tpart *tp = bk->dirty[i];
        struct sl_err err;
        int64_t t0 = mono_us();
        int src = partition_sync(tp->log, &err);
        broker_metrics_fsync(mono_us() - t0);
        if (src != 0) {
            /* The data may not be on disk and we cannot say which: acknowledging anything
             * more would be a lie, so stop like Kafka does on a log-directory failure. */
            log_error("broker", "fsync of %s-%d failed: %s; stopping", tp->topic->name,
                      (int)tp->index, err.msg);
            exit(1);
        }
        int64_t end = partition_log_end(tp->log);
        if (end != tp->high_watermark) {
            tp->high_watermark = end;
            bk->hw_advanced = true;
        }
        tp->in_dirty_list = false;
    }
    bk->ndirty = 0;
    struct sl_err gerr;
    if (groups_sync(&bk->groups, &gerr) != 0) {
        log_error("broker", "%s; stopping", gerr.msg);
        exit(1);
    }
    bk->sync_epoch++;
}

void broker_forget_topic(struct broker *bk, struct topic *t)
{
    int j = 0;
    for (int i = 0; i < bk->ndirty; i++) {
        if (bk->dirty[i]->topic != t)
            bk->dirty[j++] = bk->dirty[i];
    }
    bk->ndirty = j;
}
