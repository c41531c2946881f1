/* The job's metrics: histogram quantiles within the bucket resolution, interval differences,
 * and snapshots taken from another thread while the job thread adds. */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "process/stats.h"

static void test_hist(void)
{
    static struct hist h;
    CHECK_EQ_INT(hist_quantile(&h, 0.5), 0);
    for (uint64_t v = 1; v <= 10000; v++)
        hist_add(&h, v);
    CHECK_EQ_INT(h.count, 10000);
    uint64_t p50 = hist_quantile(&h, 0.5), p99 = hist_quantile(&h, 0.99);
    CHECK(p50 > 5000 * 0.93 && p50 < 5000 * 1.07);
    CHECK(p99 > 9900 * 0.93 && p99 < 9900 * 1.07);
    CHECK(hist_quantile(&h, 1.0) >= 9000);
    /* Small values are exact. */
    static struct hist s;
    for (int i = 0; i < 100; i++)
        hist_add(&s, 7);
    CHECK_EQ_INT(hist_quantile(&s, 0.5), 7);
    CHECK_EQ_INT(hist_quantile(&s, 0.99), 7);
    /* Huge values land in the last bucket instead of overflowing. */
    hist_add(&s, UINT64_MAX);
    CHECK_EQ_INT(s.count, 101);
    /* Differences give the values added in between. */
    static struct hist a, b, d;
    for (int i = 0; i < 1000; i++)
        hist_add(&a, 100);
    b = a;
    for (int i = 0; i < 1000; i++)
        hist_add(&a, 100000);
    hist_diff(&a, &b, &d);
    CHECK_EQ_INT(d.count, 1000);
    CHECK(hist_quantile(&d, 0.5) > 93000 && hist_quantile(&d, 0.5) < 107000);
    hist_merge(&b, &d);
    CHECK_EQ_INT(b.count, a.count);
}

static struct process_stats st;
static volatile int done;

static void *reader(void *arg)
{
    (void)arg;
    int bad = 0;
    while (!done) {
        struct process_stats_snapshot s;
        process_stats_snapshot(&st, &s);
        /* Each batch adds 10 in, 9 stored, 1 dead letter: a torn snapshot breaks this. */
        bad += s.records_in != s.stored + s.dead_lettered || s.records_in != s.batches * 10 ||
               s.e2e_us.count != s.stored;
    }
    return (void *)(intptr_t)bad;
}

static void test_threads(void)
{
    process_stats_init(&st);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    static struct hist e2e;
    for (int i = 0; i < 9; i++)
        hist_add(&e2e, 1000);
    for (int i = 0; i < 100000; i++)
        process_stats_batch(&st, 10, 9, 1, 500, &e2e);
    process_stats_set_lag(&st, 42, 3);
    done = 1;
    void *bad;
    pthread_join(t, &bad);
    CHECK_EQ_INT((intptr_t)bad, 0);
    struct process_stats_snapshot s;
    process_stats_snapshot(&st, &s);
    CHECK_EQ_INT(s.records_in, 1000000);
    CHECK_EQ_INT(s.batches, 100000);
    CHECK_EQ_INT(s.lag, 42);
    CHECK_EQ_INT(s.assigned, 3);
    CHECK(s.first_in_ms > 0 && s.last_commit_ms >= s.first_in_ms);
    process_stats_failure(&st);
    process_stats_snapshot(&st, &s);
    CHECK_EQ_INT(s.batch_failures, 1);
    process_stats_destroy(&st);
}

/* The stage histograms of each batch add up, each into its own histogram. */
static void test_stages(void)
{
    struct process_stats ps;
    process_stats_init(&ps);
    static struct hist a, b, c;
    for (int i = 0; i < 99; i++)
        hist_add(&a, 2000);
    hist_add(&a, 900000);
    for (int i = 0; i < 100; i++) {
        hist_add(&b, 30000);
        hist_add(&c, 5000);
    }
    process_stats_stages(&ps, &a, &b, &c);
    process_stats_stages(&ps, &a, &b, &c);
    struct process_stats_snapshot s;
    process_stats_snapshot(&ps, &s);
    CHECK_EQ_INT(s.to_job_us.count, 200);
    CHECK_EQ_INT(s.queued_us.count, 200);
    CHECK_EQ_INT(s.commit_us.count, 200);
    CHECK(hist_quantile(&s.to_job_us, 0.5) >= 1900 && hist_quantile(&s.to_job_us, 0.5) <= 2100);
    CHECK(hist_quantile(&s.to_job_us, 0.999) >= 850000);
    CHECK(hist_quantile(&s.queued_us, 0.99) >= 28000 && hist_quantile(&s.queued_us, 0.99) <= 32000);
    CHECK(hist_quantile(&s.commit_us, 0.5) >= 4700 && hist_quantile(&s.commit_us, 0.5) <= 5300);
    CHECK_EQ_INT(s.e2e_us.count, 0); /* stages do not count as end-to-end figures */
    process_stats_destroy(&ps);
}

int main(void)
{
    test_hist();
    test_threads();
    test_stages();
    return check_summary();
}
