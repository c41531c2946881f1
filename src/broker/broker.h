/* The broker's shared state: configuration, the topic registry, and what the network server
 * and the API handlers exchange. Everything here is owned by the event-loop thread. */
#ifndef SLUICE_BROKER_BROKER_H
#define SLUICE_BROKER_BROKER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/group.h"
#include "broker/partition.h"
#include "broker/producer.h"
#include "broker/proto.h"
#include "core/err.h"

/* Kafka error codes used by the broker (names as in the protocol). */
enum kerr {
    KERR_NONE = 0,
    KERR_OFFSET_OUT_OF_RANGE = 1,
    KERR_CORRUPT_MESSAGE = 2,
    KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KERR_MESSAGE_TOO_LARGE = 10,
    KERR_OFFSET_METADATA_TOO_LARGE = 12,
    KERR_COORDINATOR_NOT_AVAILABLE = 15,
    KERR_INVALID_TOPIC_EXCEPTION = 17,
    KERR_RECORD_LIST_TOO_LARGE = 18,
    KERR_INVALID_REQUIRED_ACKS = 21,
    KERR_ILLEGAL_GENERATION = 22,
    KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    KERR_INVALID_GROUP_ID = 24,
    KERR_UNKNOWN_MEMBER_ID = 25,
    KERR_INVALID_SESSION_TIMEOUT = 26,
    KERR_REBALANCE_IN_PROGRESS = 27,
    KERR_UNSUPPORTED_VERSION = 35,
    KERR_TOPIC_ALREADY_EXISTS = 36,
    KERR_INVALID_PARTITIONS = 37,
    KERR_INVALID_REPLICATION_FACTOR = 38,
    KERR_INVALID_CONFIG = 40,
    KERR_INVALID_REQUEST = 42,
    KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KERR_INVALID_PRODUCER_EPOCH = 47,
    KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
    KERR_KAFKA_STORAGE_ERROR = 56,
    KERR_NON_EMPTY_GROUP = 68,
    KERR_GROUP_ID_NOT_FOUND = 69,
    KERR_MEMBER_ID_REQUIRED = 79,
    KERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
    KERR_INVALID_RECORD = 87,
    KERR_UNKNOWN_TOPIC_ID = 100,
};

enum flush_policy {
    FLUSH_GROUP,   /* acks=all waits for an fsync shared by all requests of one loop turn */
    FLUSH_INTERVAL /* fsync on a timer; acks=all answered after the write */
};

struct broker_config {
    char listen_host[256];
    int listen_port;
    char advertised_host[256];
    int advertised_port;
    char data_dir[PATH_MAX];
    int32_t node_id;
    bool auto_create;
    int32_t default_partitions;
    int64_t max_request_bytes; /* a request frame larger than this closes the connection */
    int64_t max_message_bytes; /* largest record batch accepted */
    int64_t max_fetch_bytes;   /* cap on one Fetch response */
    int max_connections;
    enum flush_policy flush;
    int64_t flush_interval_ms;
    int64_t retention_check_ms;
    int64_t group_initial_delay_ms;
    struct partition_config log; /* defaults for new topics */
};

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

struct broker;
struct conn;
struct resp;

/* What a handler gets: the parsed header, a reader over the body and the response writer
 * (the response header is already written). */
struct kreq {
    struct broker *bk;
    struct conn *conn;
    struct resp *resp;
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    bool flex;
    struct kslice client_id;
    struct kreader r;
    struct kwriter *w;
};

enum handler_result {
    H_DONE,      /* the response in w is complete */
    H_NORESP,    /* send nothing (Produce with acks=0) */
    H_WAIT_SYNC, /* complete, but hold it until the data appended so far is fsynced */
    H_DEFER,     /* the handler registered a wait (Fetch long poll); see server_defer_fetch */
    H_CLOSE,     /* malformed request: close the connection */
};

typedef enum handler_result (*api_handler)(struct kreq *rq);

struct api_def {
    int16_t key;
    const char *name;
    int16_t min_version;
    int16_t max_version;
    int16_t first_flexible; /* INT16_MAX when never flexible */
    api_handler handle;
};

extern const struct api_def api_table[];
extern const int api_table_len;
const struct api_def *api_find(int16_t key);

/* Shared broker state. */
struct broker {
    struct broker_config cfg;
    struct registry reg;
    char cluster_id[32];
    int64_t next_producer_id;
    int64_t producer_id_limit; /* ids below this are reserved on disk */
    /* partitions with appends not yet synced */
    struct tpart **dirty;
    int ndirty, dirty_cap;
    uint64_t sync_epoch; /* number of completed group syncs */
    bool hw_advanced;    /* some high watermark moved since the server last looked */
    struct groups groups;
    struct server *srv;
};

/* Marks a partition as having unsynced appends (called by Produce). */
void broker_mark_dirty(struct broker *bk, struct tpart *tp);
/* Makes everything appended durable per the flush policy and advances high watermarks.
 * A failed fsync is fatal: the broker cannot keep its promise, so it stops. */
void broker_sync(struct broker *bk);
/* Drops a topic's partitions from the dirty list (before the topic is deleted). */
void broker_forget_topic(struct broker *bk, struct topic *t);
/* Allocates a producer id, durably (ids are reserved in blocks). -1 on I/O error. */
int64_t broker_alloc_producer_id(struct broker *bk);

/* Loads or creates DATA_DIR/meta.properties (cluster id) and the producer-id reservation,
 * then opens the topic registry. */
int broker_open(struct broker *bk, struct sl_err *err);
void broker_close(struct broker *bk);

/* Handlers (one file per API family). */
enum handler_result api_versions(struct kreq *rq);
enum handler_result api_metadata(struct kreq *rq);
enum handler_result api_produce(struct kreq *rq);
enum handler_result api_init_producer_id(struct kreq *rq);
enum handler_result api_fetch(struct kreq *rq);
enum handler_result api_list_offsets(struct kreq *rq);
enum handler_result api_create_topics(struct kreq *rq);
enum handler_result api_delete_topics(struct kreq *rq);
enum handler_result api_find_coordinator(struct kreq *rq);
enum handler_result api_join_group(struct kreq *rq);
enum handler_result api_sync_group(struct kreq *rq);
enum handler_result api_heartbeat(struct kreq *rq);
enum handler_result api_leave_group(struct kreq *rq);
enum handler_result api_offset_commit(struct kreq *rq);
enum handler_result api_offset_fetch(struct kreq *rq);
enum handler_result api_describe_groups(struct kreq *rq);
enum handler_result api_list_groups(struct kreq *rq);
enum handler_result api_delete_groups(struct kreq *rq);
enum handler_result api_offset_delete(struct kreq *rq);
enum handler_result api_create_partitions(struct kreq *rq);
enum handler_result api_describe_configs(struct kreq *rq);
enum handler_result api_describe_cluster(struct kreq *rq);

/* Fetch long poll: a parsed Fetch request waiting for data or its deadline. */
struct fetch_wait;
/* Registers rq's response as waiting on fw until fw's deadline or new data. Takes ownership of
 * fw. */
void server_defer_fetch(struct kreq *rq, struct fetch_wait *fw, int64_t deadline_ms);
/* Tries to complete a waiting fetch: writes the response into w and returns true when enough
 * data is there or `expired`; false to keep waiting. */
bool fetch_wait_try(struct broker *bk, struct fetch_wait *fw, struct kwriter *w, bool expired);
void fetch_wait_free(struct fetch_wait *fw);

#endif
