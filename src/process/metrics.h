/* The stream job's Prometheus metrics (core/metrics, global registry): hooks called where the
 * job already counts (process/stats.c, the lag update in job.c). */
#ifndef SLUICE_PROCESS_METRICS_H
#define SLUICE_PROCESS_METRICS_H

#include <stdint.h>

#include "process/stats.h"

/* Registers the families (at 0) before /metrics is served; the hooks below do it too. */
void process_metrics_init(void);
/* One committed batch; e2e holds its records' end-to-end latencies (may be NULL). */
void process_metrics_batch(uint64_t in, uint64_t stored, uint64_t dead_lettered, uint64_t batch_us,
                           const struct hist *e2e);
void process_metrics_failure(void);
/* Lag of one assigned partition (high watermark minus stored position). */
void process_metrics_lag(const char *topic, int32_t partition, int64_t lag);
void process_metrics_assigned(int32_t assigned);

#endif
