/* `sluice broker`: options, start-up (recovery of every partition), signal handling. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/metrics.h"
#include "broker/segment.h"
#include "broker/server.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/metrics_http.h"
#include "core/units.h"

static const struct opt_def broker_opts[] = {
    {"listen", OPT_STRING, "127.0.0.1:9092", "HOST:PORT",
     "address to listen on (port 0 = any free)"},
    {"advertised", OPT_STRING, NULL, "HOST:PORT",
     "address clients are told to connect to [default: the listen address]"},
    {"data-dir", OPT_STRING, "./sluice-data", "DIR", "where topics are stored (DIR/topics)"},
    {"node-id", OPT_INT, "1", "N", "this broker's node id"},
    {"auto-create", OPT_BOOL, "true", NULL,
     "create unknown topics when clients ask for their metadata"},
    {"default-partitions", OPT_INT, "3", "N", "partitions of auto-created topics"},
    {"flush", OPT_STRING, "group", "POLICY",
     "group: acks=all waits for a shared fsync; interval: fsync every --flush-interval"},
    {"flush-interval", OPT_DURATION, "1s", "DURATION", "fsync period with --flush interval"},
    {"cache-window", OPT_SIZE, "64MiB", "SIZE",
     "with --flush group, a partition's data older than its newest SIZE leaves the OS page cache "
     "once synced, so writes reuse that memory (0 = leave the cache to the kernel)"},
    {"segment-bytes", OPT_SIZE, "1GiB", "SIZE", "roll a partition's segment file at this size"},
    {"retention", OPT_DURATION, "7d", "DURATION",
     "delete segments older than this (0 = keep forever)"},
    {"retention-bytes", OPT_SIZE, "0", "SIZE",
     "keep each partition at most this big (0 = no limit)"},
    {"retention-check-interval", OPT_DURATION, "5m", "DURATION", "how often retention runs"},
    {"max-message-bytes", OPT_SIZE, "1MiB", "SIZE", "largest record batch accepted"},
    {"max-request-bytes", OPT_SIZE, "100MiB", "SIZE",
     "largest request frame; larger closes the connection"},
    {"max-fetch-bytes", OPT_SIZE, "64MiB", "SIZE", "largest Fetch response"},
    {"group-initial-delay", OPT_DURATION, "1s", "DURATION",
     "how long a new consumer group waits for more members before its first rebalance"},
    {"max-connections", OPT_INT, "1000", "N", "connections beyond this are refused"},
    METRICS_LISTEN_OPT,
    {"idle-timeout", OPT_DURATION, "10m", "DURATION",
     "close a connection with nothing in flight for this long (0 = never)"},
    {"partial-frame-timeout", OPT_DURATION, "60s", "DURATION",
     "close a connection whose request frame is not whole this long after it began (0 = never)"},
    {"max-connection-memory", OPT_SIZE, "128MiB", "SIZE",
     "stop reading from a connection while its queued responses and waits hold more than this"},
    {"max-auto-create", OPT_INT, "10", "N", "topics one Metadata request may auto-create"},
    {"max-open-segments", OPT_INT, "0", "N",
     "segment files kept open at once, least recently used closed first (0: a quarter of the "
     "file-descriptor limit, 64-10000)"},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def broker_cmd = {
    "broker",
    "Run sluice's embedded Kafka-compatible broker (single node, durable).",
    "sluice broker [--listen 127.0.0.1:9092] [--data-dir DIR] [--advertised HOST:PORT]",
    broker_opts,
    "Speaks the Kafka wire protocol: ApiVersions, Metadata, Produce, Fetch, ListOffsets,\n"
    "CreateTopics, DeleteTopics, InitProducerId, DescribeConfigs, DescribeCluster and the "
    "consumer\n"
    "group APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,\n"
    "OffsetFetch, DescribeGroups, ListGroups). Any Kafka client works against it; sluice's own\n"
    "parts reach it through librdkafka, exactly as they reach Apache Kafka.\n"
    "Durability: with --flush group (default) a Produce with acks=all is answered only after\n"
    "its data is fsynced; one fsync covers every request that arrived in the same loop turn.\n"
    "Consumers only see data that is on disk. On start, each partition's last segment is\n"
    "checked and a torn or corrupt tail is cut off. SIGINT/SIGTERM stop cleanly.",
};

static struct broker *volatile running;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (running)
        broker_stop(running);
}

static bool is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return strcmp(host, "localhost") == 0;
}

static int load_config(struct config *cfg, struct broker_config *bc, struct sl_err *err)
{
    memset(bc, 0, sizeof(*bc));
    if (parse_hostport(config_str(cfg, "listen"), bc->listen_host, &bc->listen_port, err) != 0)
        return sl_err_set(err, "--listen: %s", err->msg);
    if (!is_loopback(bc->listen_host))
        return sl_err_set(err,
                          "--listen %s: binding beyond loopback requires authentication, which "
                          "sluice broker does not offer; listen on 127.0.0.1 (use Apache Kafka "
                          "for a networked cluster)",
                          config_str(cfg, "listen"));
    const char *adv = config_str(cfg, "advertised");
    if (adv) {
        if (parse_hostport(adv, bc->advertised_host, &bc->advertised_port, err) != 0)
            return sl_err_set(err, "--advertised: %s", err->msg);
    } else {
        snprintf(bc->advertised_host, sizeof(bc->advertised_host), "%s", bc->listen_host);
        bc->advertised_port = bc->listen_port;
    }
    const char *dir = config_str(cfg, "data-dir");
    if (snprintf(bc->data_dir, sizeof(bc->data_dir), "%s", dir) >= (int)sizeof(bc->data_dir))
        return sl_err_set(err, "--data-dir is too long");
    bc->node_id = (int32_t)config_int(cfg, "node-id");
    bc->auto_create = config_bool(cfg, "auto-create");
    int64_t parts = config_int(cfg, "default-partitions");
    if (parts < 1 || parts > 10000)
        return sl_err_set(err, "--default-partitions must be 1-10000");
    bc->default_partitions = (int32_t)parts;
    const char *flush = config_str(cfg, "flush");
    if (strcmp(flush, "group") == 0)
        bc->flush = FLUSH_GROUP;
    else if (strcmp(flush, "interval") == 0)
        bc->flush = FLUSH_INTERVAL;
    else
        return sl_err_set(err, "--flush must be 'group' or 'interval', not '%s'", flush);
    bc->flush_interval_ms = config_ms(cfg, "flush-interval");
    if (bc->flush_interval_ms < 1)
        bc->flush_interval_ms = 1;
    bc->cache_window = config_size(cfg, "cache-window");
    if (bc->cache_window < 0)
        return sl_err_set(err, "--cache-window must not be negative");
    bc->log.segment_bytes = config_size(cfg, "segment-bytes");
    if (bc->log.segment_bytes < 1024 || bc->log.segment_bytes > ((int64_t)1 << 32) - 1)
        return sl_err_set(err, "--segment-bytes must be between 1KiB and 4GiB");
    int64_t ret = config_ms(cfg, "retention");
    bc->log.retention_ms = ret > 0 ? ret : -1;
    int64_t rb = config_size(cfg, "retention-bytes");
    bc->log.retention_bytes = rb > 0 ? rb : -1;
    bc->log.index_interval_bytes = 4096;
    bc->retention_check_ms = config_ms(cfg, "retention-check-interval");
    if (bc->retention_check_ms < 100)
        bc->retention_check_ms = 100;
    bc->max_request_bytes = config_size(cfg, "max-request-bytes");
    bc->max_message_bytes = config_size(cfg, "max-message-bytes");
    bc->max_fetch_bytes = config_size(cfg, "max-fetch-bytes");
    if (bc->max_request_bytes < 1024 || bc->max_request_bytes > INT32_MAX / 2)
        return sl_err_set(err, "--max-request-bytes must be between 1KiB and 1GiB");
    if (bc->max_message_bytes < 1024 || bc->max_message_bytes > bc->max_request_bytes)
        return sl_err_set(err, "--max-message-bytes must be between 1KiB and --max-request-bytes");
    if (bc->max_fetch_bytes < 1024 || bc->max_fetch_bytes > INT32_MAX / 2)
        return sl_err_set(err, "--max-fetch-bytes must be between 1KiB and 1GiB");
    int64_t mc = config_int(cfg, "max-connections");
    if (mc < 1 || mc > 1000000)
        return sl_err_set(err, "--max-connections must be 1-1000000");
    bc->max_connections = (int)mc;
    bc->group_initial_delay_ms = config_ms(cfg, "group-initial-delay");
    bc->idle_timeout_ms = config_ms(cfg, "idle-timeout");
    bc->partial_timeout_ms = config_ms(cfg, "partial-frame-timeout");
    bc->max_conn_bytes = config_size(cfg, "max-connection-memory");
    if (bc->max_conn_bytes < 1024)
        return sl_err_set(err, "--max-connection-memory must be at least 1KiB");
    int64_t mac = config_int(cfg, "max-auto-create");
    if (mac < 0 || mac > 100000)
        return sl_err_set(err, "--max-auto-create must be 0-100000");
    bc->max_auto_create = (int32_t)mac;
    return 0;
}

int broker_main(int argc, char **argv)
{
    struct config *cfg;
    struct sl_err err;
    int rc = config_parse(&broker_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice broker: %s\n", err.msg);
        return 2;
    }
    struct broker *bk = calloc(1, sizeof(*bk));
    char *metrics_addr =
        config_str(cfg, "metrics-listen") ? strdup(config_str(cfg, "metrics-listen")) : NULL;
    if (!bk || load_config(cfg, &bk->cfg, &err) != 0) {
        fprintf(stderr, "sluice broker: %s\n", bk ? err.msg : "out of memory");
        config_free(cfg);
        free(metrics_addr);
        free(bk);
        return 2;
    }
    int64_t max_open = config_int(cfg, "max-open-segments");
    config_free(cfg);
    /* Descriptors: the hard limit, then a share of it for segment files (opened on demand). */
    int64_t nofile = fs_raise_nofile();
    if (max_open <= 0)
        max_open = nofile / 4 < 64 ? 64 : nofile / 4 > 10000 ? 10000 : nofile / 4;
    segment_set_max_open((int)(max_open > 1000000 ? 1000000 : max_open));

    /* Handlers first: a SIGTERM during recovery must still mean a clean stop. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit is then a write error, handled as such */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int64_t t0 = mono_ms();
    if (broker_open(bk, &err) != 0) {
        log_error("broker", "cannot open data directory %s: %s", bk->cfg.data_dir, err.msg);
        free(metrics_addr);
        free(bk);
        return 1;
    }
    struct http_server *metrics_srv = NULL;
    broker_metrics_init();
    if (broker_start(bk, api_dispatch, &err) != 0 ||
        metrics_listen("broker", metrics_addr, &metrics_srv, &err) != 0) {
        log_error("broker", "%s", err.msg);
        broker_close(bk);
        free(metrics_addr);
        free(bk);
        return 1;
    }
    free(metrics_addr);
    if (bk->cfg.advertised_port == 0)
        bk->cfg.advertised_port = server_port(bk->srv);
    running = bk;
    if (stop_requested)
        broker_stop(bk); /* asked to stop while starting: run only the final sync */

    log_info("broker",
             "sluice broker %s listening on %s:%d (advertised %s:%d), data in %s, "
             "%d topic(s) recovered in %lld ms, cluster id %s",
             SLUICE_VERSION, bk->cfg.listen_host, server_port(bk->srv), bk->cfg.advertised_host,
             bk->cfg.advertised_port, bk->cfg.data_dir, bk->reg.ntopics,
             (long long)(mono_ms() - t0), bk->cluster_id);
    rc = broker_run(bk, &err);
    if (rc != 0)
        log_error("broker", "%s", err.msg);
    running = NULL;
    http_server_stop(metrics_srv);
    broker_close(bk);
    free(bk);
    log_info("broker", "stopped");
    return rc == 0 ? 0 : 1;
}
