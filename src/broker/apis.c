/* The dispatch table: {API key, version range, first flexible version, handler}. ApiVersions
 * answers from this same table, so what the broker advertises is what it dispatches.
 * Ranges are chosen so librdkafka 2.0.2 enables record batch v2, compression and idempotence
 * (it needs Produce 0 advertised for gzip/snappy/lz4 and Produce 3 + Fetch 4 for batches v2),
 * and so Kafka 4.x Java clients (KIP-896 minimums) find every version they need. Produce
 * v0-v2 are advertised but refused per partition, as Apache Kafka 4.x does. */
#include <stddef.h>

#include "broker/broker.h"

#define NOFLEX INT16_MAX

const struct api_def api_table[] = {
    {0, "Produce", 0, 11, 9, api_produce},
    {1, "Fetch", 4, 12, 12, api_fetch},
    {2, "ListOffsets", 0, 6, 6, api_list_offsets},
    {3, "Metadata", 0, 12, 9, api_metadata},
    {18, "ApiVersions", 0, 3, 3, api_versions},
    {19, "CreateTopics", 0, 7, 5, api_create_topics},
    {20, "DeleteTopics", 0, 6, 4, api_delete_topics},
    {8, "OffsetCommit", 0, 8, 8, api_offset_commit},
    {9, "OffsetFetch", 0, 7, 6, api_offset_fetch},
    {10, "FindCoordinator", 0, 4, 3, api_find_coordinator},
    {11, "JoinGroup", 0, 8, 6, api_join_group},
    {12, "Heartbeat", 0, 4, 4, api_heartbeat},
    {13, "LeaveGroup", 0, 5, 4, api_leave_group},
    {14, "SyncGroup", 0, 5, 4, api_sync_group},
    {15, "DescribeGroups", 0, 5, 5, api_describe_groups},
    {16, "ListGroups", 0, 4, 3, api_list_groups},
    {22, "InitProducerId", 0, 4, 2, api_init_producer_id},
    {32, "DescribeConfigs", 0, 4, 4, api_describe_configs},
    {37, "CreatePartitions", 0, 3, 2, api_create_partitions},
    {42, "DeleteGroups", 0, 2, 2, api_delete_groups},
    {47, "OffsetDelete", 0, 0, NOFLEX, api_offset_delete},
    {60, "DescribeCluster", 0, 1, 0, api_describe_cluster},
};

const int api_table_len = (int)(sizeof(api_table) / sizeof(api_table[0]));

const struct api_def *api_find(int16_t key)
{
    for (int i = 0; i < api_table_len; i++) {
        if (api_table[i].key == key)
            return &api_table[i];
    }
    return NULL;
}
