/* Classic consumer-group coordinator: membership, generations, rebalances driven by JoinGroup
 * and SyncGroup, session and rebalance timeouts, and committed offsets. Group metadata and
 * offsets are written to a durable record log (groupstore) so they survive kill -9.
 * Everything runs on the broker's loop thread. */
#ifndef SLUICE_BROKER_GROUP_H
#define SLUICE_BROKER_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/group_store.h"
#include "broker/proto.h"
#include "core/err.h"

struct broker;
struct resp;
struct kreq;

enum group_state { GS_EMPTY, GS_PREPARING, GS_COMPLETING, GS_STABLE, GS_DEAD };

struct protocol {
    char *name;
    uint8_t *metadata;
    int32_t metadata_len;
};

/* A JoinGroup or SyncGroup response being held until the rebalance step completes. */
struct held {
    struct resp *resp;
    int16_t version;
    bool flex;
};

struct member {
    char *member_id;
    char *instance_id; /* static membership id, or NULL */
    char *client_id;
    char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    char *protocol_type;
    struct protocol *protocols;
    int32_t nprotocols;
    uint8_t *assignment;
    int32_t assignment_len;
    int64_t last_seen_ms;
    struct held join;
    struct held sync;
    struct group *group;
};

struct committed {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;
    int64_t commit_ms;
};

struct group {
    char *id;
    enum group_state state;
    int32_t generation;
    char *protocol_type;
    char *protocol;
    char *leader;
    struct member **members;
    int32_t nmembers;
    int64_t rebalance_deadline_ms;
    struct committed *offsets;
    int32_t noffsets, offsets_cap;
    /* member ids handed out with MEMBER_ID_REQUIRED, not yet joined */
    char **pending;
    int64_t *pending_until;
    int32_t npending;
};

struct groups {
    struct group **all;
    int32_t n, cap;
    struct group_store store; /* the record log (group_store.h, records in group_records.c) */
    bool dirty;               /* records appended since the last groups_sync */
    int64_t initial_delay_ms;
};

int groups_open(struct groups *gs, const char *data_dir, int64_t initial_delay_ms,
                struct sl_err *err);
void groups_close(struct groups *gs);
/* fdatasyncs the record log if anything was written since the last sync. */
int groups_sync(struct groups *gs, struct sl_err *err);
/* Timeouts: expired sessions, rebalance deadlines, pending member ids. */
void groups_tick(struct broker *bk, int64_t now_ms);
/* True when some group has members (the loop then wakes up often enough for timeouts). */
bool groups_active(const struct groups *gs);

struct group *group_find(struct groups *gs, const char *id);
struct group *group_get(struct groups *gs, const char *id); /* creates an empty group */
const char *group_state_name(enum group_state s);
struct member *group_find_member(struct group *g, const char *member_id);

/* JoinGroup. The response is either written now (returns true) or held in m->join. */
struct join_req {
    const char *group_id;
    const char *member_id;
    const char *instance_id;
    const char *client_id;
    const char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    const char *protocol_type;
    struct protocol *protocols; /* borrowed; copied if the member is kept */
    int32_t nprotocols;
    bool require_known_member; /* JoinGroup v4+: new members first get MEMBER_ID_REQUIRED */
};
/* Writes the JoinGroup response for version/flex into w or holds rq's response. Returns the
 * handler result to give the server (H_DONE or H_DEFER). */
int group_join(struct broker *bk, struct kreq *rq, const struct join_req *jr);
int group_sync(struct broker *bk, struct kreq *rq, const char *group_id, int32_t generation,
               const char *member_id, struct kslice *assign_members, struct kslice *assign_data,
               int32_t nassign);
int16_t group_heartbeat(struct broker *bk, const char *group_id, int32_t generation,
                        const char *member_id);
int16_t group_leave(struct broker *bk, const char *group_id, const char *member_id);

/* Offsets. Returns a Kafka error code for the whole request (membership checks). */
int16_t group_check_commit(struct broker *bk, const char *group_id, int32_t generation,
                           const char *member_id);
int16_t group_commit(struct broker *bk, const char *group_id, const char *topic, int32_t partition,
                     int64_t offset, int32_t leader_epoch, const char *metadata);
const struct committed *group_committed(struct groups *gs, const char *group_id, const char *topic,
                                        int32_t partition);
/* DeleteGroups: 0, GROUP_ID_NOT_FOUND (69) or NON_EMPTY_GROUP (68). Durable. */
int16_t group_delete(struct broker *bk, const char *group_id);
/* OffsetDelete for one partition of an existing group with no members. Durable. */
int16_t group_delete_offset(struct broker *bk, struct group *g, const char *topic,
                            int32_t partition);
/* Drops every group's offsets for a deleted topic (durably). */
void groups_forget_topic(struct groups *gs, const char *topic);

#endif
