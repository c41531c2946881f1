/* The broker's Prometheus metrics (core/metrics, global registry): one-line hooks in the
 * server loop and the group fsync. Called from the broker's single loop thread. */
#ifndef SLUICE_BROKER_METRICS_H
#define SLUICE_BROKER_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct registry;

/* Registers the families (at 0) before /metrics is served; the hooks below do it too. */
void broker_metrics_init(void);
/* One request of API `key` (named `name`, e.g. "Produce"). */
void broker_metrics_request(int key, const char *name);
void broker_metrics_bytes_in(size_t n);
void broker_metrics_bytes_out(size_t n);
/* One partition fsync that took us microseconds. */
void broker_metrics_fsync(int64_t us);
/* One group-commit round: from the loop handing a sync job out to the loop taking it back
 * (any thread's fsyncs in it, and the hand-offs both ways). */
void broker_metrics_sync_round(int64_t us);
/* The response to a request of API `key` was written whole, us microseconds after the request
 * was handled (queueing behind earlier responses and any wait, e.g. for the fsync, included). */
void broker_metrics_response(int key, int64_t us);
/* Once per loop turn: open connections; topics and partitions of reg are counted at most once
 * a second. */
void broker_metrics_turn(const struct registry *reg, int connections, int64_t now_ms);

#endif
