/* Fuzz target: whatever bytes a client may send, through framing, header parsing and every
 * API handler, against a broker with one topic in a temporary directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/server.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/loop.h"

static struct broker *bk;
static bool ready;

static void setup(void)
{
    const char *tmp = getenv("TMPDIR"); /* run.sh gives each run its own */
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/sluice-fuzz-XXXXXX", tmp);
    if (!mkdtemp(dir))
        abort();
    log_set_level(LOG_LVL_ERROR);
    bk = calloc(1, sizeof(*bk));
    struct broker_config *c = &bk->cfg;
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    snprintf(c->advertised_host, sizeof(c->advertised_host), "127.0.0.1");
    c->advertised_port = 9092;
    snprintf(c->data_dir, sizeof(c->data_dir), "%s", dir);
    c->node_id = 1;
    c->auto_create = true;
    c->default_partitions = 2;
    c->max_request_bytes = 1 << 20;
    c->max_message_bytes = 1 << 20;
    c->max_fetch_bytes = 1 << 20;
    c->max_connections = 10;
    c->max_conn_bytes = 64 << 20;
    c->max_auto_create = 10;
    c->flush = FLUSH_INTERVAL; /* no fsync per input: keeps the fuzzer fast */
    c->flush_interval_ms = 1000;
    c->retention_check_ms = 1000000;
    c->log.segment_bytes = 1 << 20;
    c->log.retention_ms = -1;
    c->log.retention_bytes = -1;
    c->log.index_interval_bytes = 4096;
    struct sl_err err;
    if (broker_open(bk, &err) != 0 || broker_start(bk, api_dispatch, &err) != 0) {
        fprintf(stderr, "fuzz setup: %s\n", err.msg);
        abort();
    }
    struct topic_config tc;
    topic_config_defaults(&tc, c);
    registry_create(&bk->reg, "t", 2, &tc, NULL, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        setup();
        ready = true;
    }
    server_feed_for_test(bk->srv, data, size);
    /* one turn: the group commit, waits woken, the fed connection closed */
    struct sl_err err;
    loop_run_once(bk->loop, 0, &err);
    return 0;
}
