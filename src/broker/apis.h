/* The Kafka API table and the dispatcher the server calls for every request: it reads the
 * request header, finds the API, writes the response header and runs the handler. Handlers
 * (one file per API family, api_*.c) decode the request and encode the response; the work
 * itself is done by the registry, partitions and the group coordinator. */
#ifndef SLUICE_BROKER_APIS_H
#define SLUICE_BROKER_APIS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/server.h"

enum handler_result {
    H_DONE,      /* the response in w is complete */
    H_NORESP,    /* send nothing (Produce with acks=0) */
    H_WAIT_SYNC, /* complete, but hold it until the data appended so far is durable */
    H_DEFER,     /* the handler called server_wait */
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

/* Holds rq's complete response until everything appended so far is durable (the broker's
 * next sync); what H_WAIT_SYNC does. */
void api_wait_sync(struct kreq *rq);
/* Where one partition's answer sits in a Produce response held for the sync: positions in the
 * response writer of its topic name and of its error code (base offset and partition index
 * are next to it). */
struct produce_ack {
    uint32_t name_pos;
    uint32_t err_pos;
};
/* api_wait_sync for a Produce response (the handler then returns H_DEFER): when the sync
 * comes, a listed partition that a storage error took offline before its data became durable
 * (base offset at or past its high watermark) is answered KAFKA_STORAGE_ERROR with base offset
 * -1 instead: nothing unsynced is acknowledged. Copies acks. */
void api_wait_produce(struct kreq *rq, const struct produce_ack *acks, int n);
/* The same with, instead of (or besides) acks, recheck(arg) called when a storage error
 * happened while the answer waited: for a streamed answer whose results are not written yet
 * (arg must live until the wait ends). */
void api_wait_produce_fn(struct kreq *rq, const struct produce_ack *acks, int n,
                         void (*recheck)(void *arg), void *arg);
/* Topic creation through the broker's admin worker (api_admin.c), for CreateTopics and
 * Metadata's auto-creation: api_create_submit hands over a registry_create_begin'd creation
 * (NULL when out of memory: the creation is then ended with an error); once api_create_done,
 * api_create_result says what happened (the topic is published by then) and server_wake has
 * been called. api_create_release drops the request's interest, done or not (NULL is fine). */
struct create_job;
struct topic;
struct topic_creation;
struct create_job *api_create_submit(struct broker *bk, struct topic_creation *c);
bool api_create_done(const struct create_job *j);
const char *api_create_name(const struct create_job *j);
int16_t api_create_result(const struct create_job *j, struct topic **t, const char **msg);
void api_create_release(struct create_job *j);
/* The link a request may chain its jobs with. */
struct create_job **api_create_next(struct create_job *j);

/* The server's dispatch function. */
enum server_result api_dispatch(struct kreq *rq);

/* The handlers the table names (defined in api_*.c). */
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

#endif
