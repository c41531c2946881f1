/* Classic consumer-group coordinator: membership, generations, rebalances driven by JoinGroup
 * and SyncGroup, session and rebalance timeouts, and committed offsets. It knows neither the
 * wire nor the server: a JoinGroup or SyncGroup gets a group_answer, filled now or when the
 * rebalance step completes, which the API layer encodes. Group metadata and offsets are
 * written to a durable record log (group_store) so they survive kill -9. Time comes from a
 * clock that tests replace. Everything runs on the broker's loop thread. */
#ifndef SLUICE_BROKER_GROUP_H
#define SLUICE_BROKER_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/group_store.h"
#include "broker/proto.h"
#include "core/err.h"

#define GROUP_MAX_MEMBERS 1000   /* a JoinGroup beyond this is refused */
#define GROUP_MAX_PROTOCOLS 4096 /* protocols one member may offer (bounds memory) */

enum group_state { GS_EMPTY, GS_PREPARING, GS_COMPLETING, GS_STABLE, GS_DEAD };

struct groups;

struct protocol {
    char *name;
    uint8_t *metadata;
    int32_t metadata_len;
};

/* One member as a JoinGroup answer lists it for the leader. */
struct answer_member {
    char *member_id;
    char *instance_id;
    uint8_t *metadata;
    int32_t metadata_len;
};

/* The answer to a JoinGroup or SyncGroup: `ready` once decided. Shared by the coordinator
 * (while the member waits) and the requester; each holds a reference. The requester sets
 * `abandoned` when it goes away (connection closed), so the member no longer counts as
 * waiting. */
struct group_answer {
    int refs;
    bool ready;
    bool abandoned;
    int16_t error;
    int32_t generation;
    char *protocol_type;
    char *protocol;
    char *leader;
    char *member_id;
    struct answer_member *members; /* JoinGroup, leader only */
    int32_t nmembers;
    uint8_t *assignment; /* SyncGroup */
    int32_t assignment_len;
    struct groups *gs; /* while a member waits on it */
};
void group_answer_release(struct group_answer *a);
/* The requester's release when it goes away before the answer is ready. */
void group_answer_abandon(struct group_answer *a);

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
    struct group_answer *join; /* a JoinGroup waiting for the rebalance */
    struct group_answer *sync; /* a SyncGroup waiting for the leader's assignment */
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
    int32_t *oindex; /* (topic, partition) hash -> position in offsets + 1; 0 = free */
    int32_t oindex_cap;
    bool oindex_stale; /* rebuilt at the next lookup */
    /* member ids handed out with MEMBER_ID_REQUIRED, not yet joined */
    char **pending;
    int64_t *pending_until;
    int32_t npending, pending_cap;
    struct group *hnext; /* hash chain */
    int32_t idx;         /* position in groups.all */
};

/* Where the coordinator writes what must survive a restart (group_records.c installs the
 * record log; NULL keeps groups in memory only). Each returns 0, or -1 with err set when
 * nothing was stored. */
struct group_log_ops {
    int (*put_offset)(struct groups *gs, const char *group, const char *topic, int32_t partition,
                      int64_t offset, int32_t leader_epoch, const char *metadata, int64_t commit_ms,
                      struct sl_err *err);
    int (*put_group)(struct groups *gs, const struct group *g, struct sl_err *err);
    int (*put_topic_delete)(struct groups *gs, const char *topic, struct sl_err *err);
    int (*put_group_delete)(struct groups *gs, const char *group, struct sl_err *err);
    int (*put_offset_delete)(struct groups *gs, const char *group, const char *topic,
                             int32_t partition, struct sl_err *err);
};

struct groups {
    const struct group_log_ops *log;
    struct group **all;
    int32_t n, cap;
    struct group_store store; /* the record log (group_store.h, records in group_records.c) */
    bool dirty;               /* records appended since the last groups_sync */
    int64_t initial_delay_ms;
    struct group **buckets; /* id hash */
    int32_t nbuckets;
    int64_t (*now)(void *ctx); /* monotonic ms; tests set a fake clock */
    void *now_ctx;
    bool answered;  /* some waiting answer became ready */
    bool deadlines; /* some deadline may have moved earlier: ask groups_tick again */
};

/* Frees the id index (groups_close does). */
void groups_index_free(struct groups *gs);

/* For the record log's replay and compaction. */
int group_set_offset(struct group *g, const char *topic, int32_t partition, int64_t offset,
                     int32_t leader_epoch, const char *metadata, int64_t commit_ms);
void group_drop_topic_offsets(struct group *g, const char *topic);
void group_drop_offset(struct group *g, const char *topic, int32_t partition);
/* Frees and forgets a group (its members must be gone). */
void group_remove(struct groups *gs, const char *id);
void group_free(struct group *g);
void group_member_free(struct member *m);
/* Replaces the clock (NULL: the monotonic clock). */
void groups_set_clock(struct groups *gs, int64_t (*now)(void *ctx), void *ctx);
/* Timeouts: expired sessions, rebalance deadlines, pending member ids. Returns when it must
 * run next (clock ms), INT64_MAX when nothing is due. */
int64_t groups_tick(struct groups *gs);

struct group *group_find(struct groups *gs, const char *id);
struct group *group_get(struct groups *gs, const char *id); /* creates an empty group */
const char *group_state_name(enum group_state s);
struct member *group_find_member(struct group *g, const char *member_id);

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
/* JoinGroup. The answer is ready now or once the rebalance completes; the caller owns one
 * reference. NULL when memory is short. */
struct group_answer *group_join(struct groups *gs, const struct join_req *jr);
/* SyncGroup; the leader's carries everyone's assignment (assign_members[i] gets
 * assign_data[i]). Like group_join. */
struct group_answer *group_sync(struct groups *gs, const char *group_id, int32_t generation,
                                const char *member_id, const struct kslice *assign_members,
                                const struct kslice *assign_data, int32_t nassign);
int16_t group_heartbeat(struct groups *gs, const char *group_id, int32_t generation,
                        const char *member_id);
int16_t group_leave(struct groups *gs, const char *group_id, const char *member_id);

/* Offsets. Returns a Kafka error code for the whole request (membership checks). */
int16_t group_check_commit(struct groups *gs, const char *group_id, int32_t generation,
                           const char *member_id);
/* Appends the commit to the record log (durable at the next groups_sync). */
int16_t group_commit(struct groups *gs, const char *group_id, const char *topic, int32_t partition,
                     int64_t offset, int32_t leader_epoch, const char *metadata);
const struct committed *group_committed(struct groups *gs, const char *group_id, const char *topic,
                                        int32_t partition);
/* The group's offsets ordered by topic (then partition): n entries in a new array the caller
 * frees. NULL with *n = 0 when there are none. */
const struct committed **group_offsets_by_topic(const struct group *g, int32_t *n);
/* DeleteGroups: 0, GROUP_ID_NOT_FOUND (69) or NON_EMPTY_GROUP (68). Durable. */
int16_t group_delete(struct groups *gs, const char *group_id);
/* OffsetDelete for one partition of an existing group with no members. Durable. */
int16_t group_delete_offset(struct groups *gs, struct group *g, const char *topic,
                            int32_t partition);
/* Drops every group's offsets for a deleted topic (durably). */
void groups_forget_topic(struct groups *gs, const char *topic);

#endif
