/* Topics: DATA_DIR/topics/<topic>/topic.meta (id, partitions, configs) plus one partition log
 * per partition, each with its idempotent-producer state and high watermark. */
#ifndef SLUICE_BROKER_REGISTRY_H
#define SLUICE_BROKER_REGISTRY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/partition.h"
#include "broker/producer.h"
#include "core/err.h"

struct broker_config;

struct topic_config {
    int64_t retention_ms;
    int64_t retention_bytes;
    int64_t segment_bytes;
    int64_t max_message_bytes;
};

struct tpart {
    struct topic *topic;
    int32_t index;
    struct partition *log;
    int64_t high_watermark; /* end of what consumers may read: synced data (or all, by policy) */
    bool in_dirty_list;
    /* A sync or write of its log failed (EIO...): after a failed fsync the page cache no longer
     * says what is on disk, so the partition takes no more appends until a restart; what is
     * below high_watermark was synced and stays readable. */
    bool storage_failed;
    struct producers producers;
};

struct topic {
    char name[256];
    uint8_t id[16];
    int32_t npartitions;
    struct tpart *parts;
    struct topic_config cfg;
};

struct registry {
    char dir[PATH_MAX]; /* DATA_DIR/topics */
    struct topic **topics;
    int ntopics;
    int cap;
    int *index; /* name hash -> position in topics + 1; 0 = free */
    int index_cap;
    bool index_stale;
};

/* Opens DATA_DIR/topics, loading every topic and recovering its partitions. */
int registry_open(struct registry *reg, const char *data_dir, struct sl_err *err);
void registry_close(struct registry *reg);
struct topic *registry_find(struct registry *reg, const char *name);
struct tpart *registry_part(struct registry *reg, const char *name, int32_t partition);
/* Kafka's topic-name rules: 1..249 chars of [a-zA-Z0-9._-], not "." or "..". */
bool topic_name_valid(const char *name);
/* Creates a topic; returns a Kafka error code (KERR_TOPIC_ALREADY_EXISTS, ...) with msg set. */
int registry_create(struct registry *reg, const char *name, int32_t npartitions,
                    const struct topic_config *cfg, struct topic **out, struct sl_err *err);
/* Grows a topic to npartitions (never shrinks). The caller first syncs and drops the topic's
 * partitions from the dirty list: the partition array moves. Returns a Kafka error code. */
int registry_add_partitions(struct registry *reg, struct topic *t, int32_t npartitions,
                            struct sl_err *err);
/* Deletes a topic and its data. Returns a Kafka error code. */
int registry_delete(struct registry *reg, const char *name, struct sl_err *err);
/* The partition config a topic's logs run with. */
struct partition_config topic_partition_config(const struct topic *t);
/* Fills cfg with the broker's defaults. */
void topic_config_defaults(struct topic_config *cfg, const struct broker_config *bc);

#endif
