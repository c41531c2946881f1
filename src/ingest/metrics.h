/* The ingest task's Prometheus metrics (core/metrics, global registry), mirrored from the
 * counters ingest already keeps, by the thread that owns them. */
#ifndef SLUICE_INGEST_METRICS_H
#define SLUICE_INGEST_METRICS_H

#include <stdint.h>

#include "ingest/source.h"

/* produced: records handed to the producer; delivered/failed: acknowledged or not. */
void ingest_metrics_update(const struct source_stats *st, uint64_t produced, uint64_t delivered,
                           uint64_t failed);

#endif
