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

/* Opens DATA_DIR/groups/state.log, replays it into gs and makes it gs's log. */
int groups_open(struct groups *gs, const char *data_dir, int64_t initial_delay_ms,
                struct sl_err *err);
void groups_close(struct groups *gs);
/* fdatasyncs the record log if anything was written since the last sync, and compacts it
 * here when it is mostly superseded records and no compaction is out. */
int groups_sync(struct groups *gs, struct sl_err *err);
/* When the log is worth compacting and no compaction is out: frames the live state and starts
 * a compaction (group_store_compact_begin) whose run the caller hands to another thread, then
 * ends with group_store_compact_end on this one. NULL otherwise (err set on failure). */
struct group_store_compaction *groups_compact_begin(struct groups *gs, struct sl_err *err);

#endif
