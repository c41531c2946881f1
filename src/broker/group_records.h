/* Consumer-group state as records in the group record log (group_store.h): committed offsets,
 * group metadata (generation, protocol, members and assignments) and tombstones; their
 * encoding, replay into struct groups, and compaction. Any record these functions append is
 * replayed (no count limits at replay beyond what the bytes can hold); a group record that would
 * pass the log's record limit is stored without its members, who then simply rejoin. */
#ifndef SLUICE_BROKER_GROUP_RECORDS_H
#define SLUICE_BROKER_GROUP_RECORDS_H

#include "broker/group.h"

/* Appends return 0 or -1 with err set (nothing was stored: the caller answers with an error). */
int group_store_put_offset(struct groups *gs, const char *group, const char *topic,
                           int32_t partition, int64_t offset, int32_t leader_epoch,
                           const char *metadata, int64_t commit_ms, struct sl_err *err);
int group_store_put_group(struct groups *gs, const struct group *g, struct sl_err *err);
int group_store_put_topic_delete(struct groups *gs, const char *topic, struct sl_err *err);
int group_store_put_group_delete(struct groups *gs, const char *group, struct sl_err *err);
int group_store_put_offset_delete(struct groups *gs, const char *group, const char *topic,
                                  int32_t partition, struct sl_err *err);

/* Defined in group.c, used here while replaying (they belong in group.h). */
int group_set_offset(struct group *g, const char *topic, int32_t partition, int64_t offset,
                     int32_t leader_epoch, const char *metadata, int64_t commit_ms);
void group_drop_topic_offsets(struct group *g, const char *topic);
void group_drop_offset(struct group *g, const char *topic, int32_t partition);
/* Frees and forgets a group (its members must be gone). */
void group_remove(struct groups *gs, const char *id);
void group_free(struct group *g);
void group_member_free(struct member *m);

#endif
