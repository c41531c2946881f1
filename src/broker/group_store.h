/* Durable storage for consumer groups: an append-only record log DATA_DIR/groups/state.log.
 * Each record is [u32 length][u32 CRC-32C][payload]; payloads are committed offsets, group
 * metadata (generation, protocol, members and assignments) and tombstones. Replayed on start
 * (a torn tail is cut), compacted when mostly dead. Synced by the broker's group commit. */
#ifndef SLUICE_BROKER_GROUP_STORE_H
#define SLUICE_BROKER_GROUP_STORE_H

#include "broker/group.h"

int group_store_open(struct groups *gs, const char *data_dir, struct sl_err *err);
int group_store_put_offset(struct groups *gs, const char *group, const char *topic,
                           int32_t partition, int64_t offset, int32_t leader_epoch,
                           const char *metadata, int64_t commit_ms, struct sl_err *err);
int group_store_put_group(struct groups *gs, const struct group *g, struct sl_err *err);
int group_store_put_topic_delete(struct groups *gs, const char *topic, struct sl_err *err);
int group_store_put_group_delete(struct groups *gs, const char *group, struct sl_err *err);
int group_store_put_offset_delete(struct groups *gs, const char *group, const char *topic,
                                  int32_t partition, struct sl_err *err);

/* Shared with group.c */
int group_set_offset(struct group *g, const char *topic, int32_t partition, int64_t offset,
                     int32_t leader_epoch, const char *metadata, int64_t commit_ms);
void group_drop_topic_offsets(struct group *g, const char *topic);
void group_drop_offset(struct group *g, const char *topic, int32_t partition);
/* Frees and forgets a group (its members must be gone). */
void group_remove(struct groups *gs, const char *id);
void group_free(struct group *g);
void group_member_free(struct member *m);

#endif
