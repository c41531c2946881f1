/* Histograms and the job's counters (see stats.h). A bucket index is the value's power of two
 * and its next three bits: exact below 16 us, within 1/8 of the power of two above. */
#include "process/stats.h"

#include <string.h>

#include "core/units.h"
#include "process/metrics.h"

static int bucket_of(uint64_t v)
{
    if (v < 16)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int idx = 16 + (msb - 4) * 8 + (int)((v >> (msb - 3)) & 7);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Smallest value of bucket i and the smallest of the next one. */
static void bucket_range(int i, uint64_t *lo, uint64_t *hi)
{
    if (i < 16) {
        *lo = (uint64_t)i;
        *hi = (uint64_t)i + 1;
        return;
    }
    int msb = (i - 16) / 8 + 4, sub = (i - 16) % 8;
    uint64_t step = 1ull << (msb - 3);
    *lo = (1ull << msb) + (uint64_t)sub * step;
    *hi = *lo + step;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->b[bucket_of(us)]++;
    h->count++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (int i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
}

void hist_diff(const struct hist *a, const struct hist *b, struct hist *out)
{
    for (int i = 0; i < HIST_BUCKETS; i++)
        out->b[i] = a->b[i] - b->b[i];
    out->count = a->count - b->count;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            bucket_range(i, &lo, &hi);
            return lo + (hi - 1 - lo) / 2;
        }
    }
    return 0;
}

uint64_t hist_bucket_value(int i)
{
    uint64_t lo, hi;
    bucket_range(i, &lo, &hi);
    return lo + (hi - 1 - lo) / 2;
}

void process_stats_init(struct process_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    st->s.lag = -1;
    st->s.started_ms = now_ms();
}

void process_stats_destroy(struct process_stats *st)
{
    pthread_mutex_destroy(&st->mu);
}

void process_stats_batch(struct process_stats *st, uint64_t in, uint64_t stored,
                         uint64_t dead_lettered, uint64_t batch_us, const struct hist *e2e)
{
    pthread_mutex_lock(&st->mu);
    st->s.records_in += in;
    st->s.stored += stored;
    st->s.dead_lettered += dead_lettered;
    st->s.batches++;
    st->s.last_commit_ms = now_ms();
    if (st->s.first_in_ms == 0)
        st->s.first_in_ms = st->s.last_commit_ms - (int64_t)(batch_us / 1000);
    hist_add(&st->s.batch_us, batch_us);
    if (e2e)
        hist_merge(&st->s.e2e_us, e2e);
    pthread_mutex_unlock(&st->mu);
    process_metrics_batch(in, stored, dead_lettered, batch_us, e2e);
}

void process_stats_failure(struct process_stats *st)
{
    pthread_mutex_lock(&st->mu);
    st->s.batch_failures++;
    pthread_mutex_unlock(&st->mu);
    process_metrics_failure();
}

void process_stats_set_lag(struct process_stats *st, int64_t lag, int32_t assigned)
{
    pthread_mutex_lock(&st->mu);
    st->s.lag = lag;
    st->s.assigned = assigned;
    pthread_mutex_unlock(&st->mu);
    process_metrics_assigned(assigned);
}

void process_stats_snapshot(struct process_stats *st, struct process_stats_snapshot *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->s;
    pthread_mutex_unlock(&st->mu);
}
