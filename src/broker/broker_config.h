/* The broker's settings (from `sluice broker` options), shared by the parts that read them. */
#ifndef SLUICE_BROKER_BROKER_CONFIG_H
#define SLUICE_BROKER_BROKER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/partition.h"

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
    int64_t idle_timeout_ms;    /* a connection with nothing in flight closes after this */
    int64_t partial_timeout_ms; /* a request frame must arrive whole within this */
    int64_t max_conn_bytes;     /* responses and waits one connection may hold in memory */
    int32_t max_auto_create;    /* topics one Metadata request may auto-create */
    enum flush_policy flush;
    int64_t flush_interval_ms;
    int64_t cache_window; /* drop-behind: newest bytes of a partition left cached (0: off) */
    int64_t retention_check_ms;
    int64_t group_initial_delay_ms;
    struct partition_config log; /* defaults for new topics */
};

#endif
