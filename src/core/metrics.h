/* Metrics for every long-running part (broker, stream job, ingest, scheduler): a registry of
 * counters, gauges and histograms with fixed buckets and labels, rendered in Prometheus's
 * text exposition format (version 0.0.4) for GET /metrics, and a small parser of that format
 * for the web UI, which reads the parts' /metrics.
 *
 * Hot paths take a series pointer once (metric_get) and then only touch atomics: counters
 * and histogram buckets are atomic integer adds, gauges and sums an atomic compare-and-swap
 * on a double's bits. Registration and series lookup take the registry's mutex. */
#ifndef SLUICE_CORE_METRICS_H
#define SLUICE_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;       /* a registry */
struct metric_family; /* a name, help text, type and label names */
struct metric;        /* one series: a family with one set of label values */

/* A registry. metrics_global() is the process-wide one the parts register into (made on first
 * use, lives until exit); metrics_create() makes a private one (tests). */
struct metrics *metrics_global(void);
struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *m);

/* Registers a family, or returns the one already registered under that name when its type and
 * labels match (so a module may register on every start). labels: label names separated by
 * commas ("api,version"), NULL or "" for none (at most 8). Names must follow Prometheus's
 * rules ([a-zA-Z_:][a-zA-Z0-9_:]*, labels without ':'); counters should end in _total.
 * Returns NULL on a bad name or a clash (a programming error, logged). */
struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *labels);
struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *labels);
/* bounds: bucket upper bounds, strictly increasing, without +Inf (added); at most 32. */
struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *labels, const double *bounds, size_t nbounds);

/* Latency buckets in seconds from 100 µs to 60 s, for histograms of durations. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_n;

/* The series of a family with these label values (as many as the family has labels), made on
 * first use. The pointer stays valid until the registry is destroyed: keep it. NULL-safe: a
 * NULL family gives NULL, and every update below accepts NULL (does nothing). */
struct metric *metric_get(struct metric_family *f, ...);
struct metric *metric_getv(struct metric_family *f, const char *const *values);

/* Counters: add only. */
void metric_inc(struct metric *s);
void metric_add(struct metric *s, uint64_t n);
/* For a counter that mirrors a monotonic count kept elsewhere (set from its owner's thread). */
void metric_counter_set(struct metric *s, uint64_t v);
/* Gauges. */
void metric_set(struct metric *s, double v);
void metric_gauge_add(struct metric *s, double d);
/* Histograms. */
void metric_observe(struct metric *s, double v);
/* n observations of the value v (folding in another histogram's bucket). */
void metric_observe_n(struct metric *s, double v, uint64_t n);

/* Reading (tests, the UI): a counter's or gauge's value; a histogram's count and sum. */
double metric_value(const struct metric *s);
uint64_t metric_hist_count(const struct metric *s);
double metric_hist_sum(const struct metric *s);

/* A callback run before each render, to set gauges from state that is cheaper to read at
 * scrape time (partition counts, lag, store rows). Runs with no registry lock held. At most
 * 16 per registry; metrics_remove_collector undoes one (call before freeing ctx). */
typedef void (*metrics_collect_fn)(struct metrics *m, void *ctx);
int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *ctx);
void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn, void *ctx);

/* Appends the exposition text of every family (registration order) to out. -1 when out's
 * maximum is reached. */
int metrics_render(struct metrics *m, struct buf *out);

/* Parses exposition text: calls fn for each sample line with its name (with any _bucket/_sum/
 * _count suffix), its labels as given between the braces (NULL when none) and its value.
 * Comments and blank lines are skipped. Returns the number of samples, or -1 at the first
 * malformed line (fn has been called for the lines before it). */
typedef void (*metrics_sample_fn)(const char *name, const char *labels, double value, void *arg);
int metrics_parse(const char *text, size_t len, metrics_sample_fn fn, void *arg);

/* Finds label `key` in a labels string as passed to metrics_sample_fn and copies its
 * unescaped value into out. 0 found, -1 not found or too long. */
int metrics_label(const char *labels, const char *key, char *out, size_t cap);

#endif
