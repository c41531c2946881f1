/* The broker's shared state and its life on the event loop: configuration, the topic
 * registry, the group coordinator, the dirty-partition list behind group commit, and the
 * timers (group deadlines, retention, interval flush) and before-sleep hook (group commit) it
 * registers. Everything here is owned by the event-loop thread. */
#ifndef SLUICE_BROKER_BROKER_H
#define SLUICE_BROKER_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/broker_config.h"
#include "broker/group.h"
#include "broker/registry.h"
#include "broker/server.h"
#include "core/err.h"

struct loop;
struct loop_timer;

struct broker {
    struct broker_config cfg;
    struct registry reg;
    char cluster_id[32];
    int64_t next_producer_id;
    int64_t producer_id_limit; /* ids below this are reserved on disk */
    /* partitions with appends not yet synced */
    struct tpart **dirty;
    int ndirty, dirty_cap;
    uint64_t sync_epoch;      /* the last completed sync */
    uint64_t submitted_epoch; /* the last sync started */
    uint64_t want_epoch;      /* the sync some waiting response needs */
    uint64_t woken_epoch;     /* sync_epoch when waits were last woken */
    struct syncer *syncer;    /* the sync thread (--flush group) */
    int64_t group_check_at;   /* group log size at which the loop syncs (and compacts) it */
    int nwait_sync;           /* responses waiting for the next sync */
    bool hw_advanced;         /* some high watermark moved since waits were last woken */
    uint64_t io_failures;     /* partitions taken offline by a failed sync or write so far */
    struct groups groups;
    struct loop *loop;
    struct server *srv;
    struct loop_timer *group_timer, *retention_timer, *flush_timer;
};

/* What broker_append did with one partition's records. */
struct append_result {
    int16_t error;       /* Kafka error code */
    int64_t base_offset; /* assigned (or, for a duplicate, original) base offset; -1 */
    int64_t log_start;
    const char *message; /* for the response, or NULL (valid until the next call) */
    bool durable_wait;   /* appended or a duplicate: acks=all waits for the next sync */
};
/* Produce's one call for a partition: validates the batch (size, magic, CRC, framing), checks
 * idempotence, appends (rewriting the batch's BaseOffset in place) and marks the partition
 * dirty. */
void broker_append(struct broker *bk, struct tpart *tp, uint8_t *records, int32_t len,
                   struct append_result *res);
/* Takes a partition offline for writes after a failed sync or write (loop thread): logs why,
 * once; appends are refused with KAFKA_STORAGE_ERROR until a restart, its high watermark stays
 * where the last successful sync left it, and acks=all answers still held for its data become
 * KAFKA_STORAGE_ERROR. */
void broker_storage_failed(struct broker *bk, struct tpart *tp, const char *why);
/* Marks a partition as having unsynced appends. */
void broker_mark_dirty(struct broker *bk, struct tpart *tp);
/* Makes everything appended so far durable now, on this thread (after waiting for a sync
 * out on the sync thread), and advances high watermarks. A failed fsync of a partition takes
 * it offline (broker_storage_failed); one of the group log is fatal: the broker cannot keep its
 * promise, so it stops. */
void broker_sync(struct broker *bk);
/* Drops a topic's partitions from the dirty list (before the topic is deleted). */
void broker_forget_topic(struct broker *bk, struct topic *t);
/* Allocates a producer id, durably (ids are reserved in blocks). -1 on I/O error. */
int64_t broker_alloc_producer_id(struct broker *bk);

/* Loads or creates DATA_DIR/meta.properties (cluster id) and the producer-id reservation,
 * then opens the topic registry and the group coordinator. */
int broker_open(struct broker *bk, struct sl_err *err);
/* Creates the loop and the server (requests go to dispatch) and registers the broker's timers
 * and hooks on the loop. */
int broker_start(struct broker *bk, server_dispatch_fn dispatch, struct sl_err *err);
/* Runs the loop until broker_stop (async-signal-safe), then syncs. */
int broker_run(struct broker *bk, struct sl_err *err);
void broker_stop(struct broker *bk);
/* Stops serving (if started), syncs and closes everything. */
void broker_close(struct broker *bk);

#endif
