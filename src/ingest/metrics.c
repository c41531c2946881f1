/* Ingest's metrics: users fetched, API requests and their failures by kind, records produced,
 * delivered (acks=all) and failed. */
#include "ingest/metrics.h"

#include <pthread.h>

#include "core/metrics.h"

static struct {
    struct metric *fetched, *requests, *produced, *delivered, *failed;
    struct metric *err[7];
} im;
static pthread_once_t im_once = PTHREAD_ONCE_INIT;

static const char *const err_kinds[7] = {"timeout",   "connect",   "http_429", "http_5xx",
                                         "malformed", "api_error", "other"};

static void im_init(void)
{
    struct metrics *m = metrics_global();
    im.fetched = metric_get(metrics_counter(m, "sluice_ingest_records_fetched_total",
                                            "Users fetched from the source.", NULL));
    im.requests = metric_get(
        metrics_counter(m, "sluice_ingest_requests_total", "Requests made to the source.", NULL));
    im.produced = metric_get(metrics_counter(m, "sluice_ingest_records_produced_total",
                                             "Records handed to the Kafka producer.", NULL));
    im.delivered = metric_get(metrics_counter(m, "sluice_ingest_records_delivered_total",
                                              "Records acknowledged by the broker.", NULL));
    im.failed = metric_get(metrics_counter(m, "sluice_ingest_records_failed_total",
                                           "Records the producer could not deliver.", NULL));
    struct metric_family *e = metrics_counter(m, "sluice_ingest_fetch_errors_total",
                                              "Failed requests to the source, by kind.", "kind");
    for (int i = 0; i < 7; i++)
        im.err[i] = metric_get(e, err_kinds[i]);
}

void ingest_metrics_update(const struct source_stats *st, uint64_t produced, uint64_t delivered,
                           uint64_t failed)
{
    pthread_once(&im_once, im_init);
    metric_counter_set(im.fetched, atomic_load(&st->users));
    metric_counter_set(im.requests, atomic_load(&st->requests));
    metric_counter_set(im.produced, produced);
    metric_counter_set(im.delivered, delivered);
    metric_counter_set(im.failed, failed);
    const atomic_uint_fast64_t *e[7] = {&st->timeouts,    &st->connect_errors, &st->http_429,
                                        &st->http_5xx,    &st->malformed,      &st->api_errors,
                                        &st->other_errors};
    for (int i = 0; i < 7; i++)
        metric_counter_set(im.err[i], atomic_load(e[i]));
}
