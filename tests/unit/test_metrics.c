/* core/metrics: registration, updates from threads, exposition text, escaping, parsing. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "core/metrics.h"

static char *render(struct metrics *m)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    CHECK(metrics_render(m, &b) == 0);
    buf_append(&b, "", 1);
    size_t len;
    return (char *)buf_detach(&b, &len);
}

static void test_counter_gauge(void)
{
    struct metrics *m = metrics_create();
    struct metric_family *c =
        metrics_counter(m, "sluice_test_requests_total", "Requests handled.", "api");
    CHECK(c != NULL);
    /* Registering again with the same shape returns the same family; another shape fails. */
    CHECK(metrics_counter(m, "sluice_test_requests_total", "x", "api") == c);
    CHECK(metrics_gauge(m, "sluice_test_requests_total", "x", "api") == NULL);
    CHECK(metrics_counter(m, "sluice_test_requests_total", "x", "api,version") == NULL);
    CHECK(metrics_counter(m, "0bad", "x", NULL) == NULL);
    CHECK(metrics_counter(m, "bad-name", "x", NULL) == NULL);
    CHECK(metrics_counter(m, "ok_total", "x", "le") == NULL);
    CHECK(metrics_counter(m, "ok_total", "x", "__x") == NULL);

    struct metric *p = metric_get(c, "Produce");
    struct metric *f = metric_get(c, "Fetch");
    CHECK(metric_get(c, "Produce") == p);
    metric_inc(p);
    metric_add(p, 41);
    metric_inc(f);
    CHECK(metric_value(p) == 42);
    CHECK(metric_value(f) == 1);
    metric_inc(NULL); /* NULL-safe */

    struct metric_family *g = metrics_gauge(m, "sluice_test_lag", "Lag.\nSecond \\ line", NULL);
    struct metric *gs = metric_get(g);
    metric_set(gs, 7.5);
    metric_gauge_add(gs, -2);
    CHECK(metric_value(gs) == 5.5);

    char *t = render(m);
    CHECK(strstr(t, "# HELP sluice_test_requests_total Requests handled.\n"
                    "# TYPE sluice_test_requests_total counter\n"
                    "sluice_test_requests_total{api=\"Produce\"} 42\n"
                    "sluice_test_requests_total{api=\"Fetch\"} 1\n") != NULL);
    CHECK(strstr(t, "# HELP sluice_test_lag Lag.\\nSecond \\\\ line\n"
                    "# TYPE sluice_test_lag gauge\n"
                    "sluice_test_lag 5.5\n") != NULL);
    free(t);
    metrics_destroy(m);
}

static void test_label_escaping(void)
{
    struct metrics *m = metrics_create();
    struct metric_family *c = metrics_counter(m, "esc_total", "h", "topic,reason");
    metric_inc(metric_get(c, "a\"b", "line1\nline2\\"));
    /* A labelled family with no series renders nothing at all. */
    metrics_gauge(m, "empty_gauge", "h", "x");
    char *t = render(m);
    CHECK(strstr(t, "esc_total{topic=\"a\\\"b\",reason=\"line1\\nline2\\\\\"} 1\n") != NULL);
    CHECK(strstr(t, "empty_gauge") == NULL);

    free(t);
    metrics_destroy(m);
}

struct seen {
    int n;
    char last_name[64];
    char topic[64];
    char reason[64];
    double inf_bucket;
    double count;
    double sum;
};

static void collect_cb(const char *name, const char *labels, double v, void *arg)
{
    struct seen *s = arg;
    s->n++;
    snprintf(s->last_name, sizeof s->last_name, "%s", name);
    if (strcmp(name, "esc_total") == 0) {
        CHECK(metrics_label(labels, "topic", s->topic, sizeof s->topic) == 0);
        CHECK(metrics_label(labels, "reason", s->reason, sizeof s->reason) == 0);
    }
    char le[16];
    if (strcmp(name, "lat_seconds_bucket") == 0 &&
        metrics_label(labels, "le", le, sizeof le) == 0 && strcmp(le, "+Inf") == 0)
        s->inf_bucket = v;
    if (strcmp(name, "lat_seconds_count") == 0)
        s->count = v;
    if (strcmp(name, "lat_seconds_sum") == 0)
        s->sum = v;
}

static void test_histogram_and_parse(void)
{
    struct metrics *m = metrics_create();
    static const double b[] = {0.1, 0.5, 1};
    struct metric_family *h = metrics_histogram(m, "lat_seconds", "Latency.", "stage", b, 3);
    CHECK(metrics_histogram(m, "bad_seconds", "x", NULL, (const double[]){1, 1}, 2) == NULL);
    struct metric *s = metric_get(h, "store");
    metric_observe(s, 0.05); /* le 0.1 */
    metric_observe(s, 0.1);  /* le 0.1: bounds are inclusive */
    metric_observe(s, 0.7);  /* le 1 */
    metric_observe(s, 3);    /* +Inf only */
    CHECK(metric_hist_count(s) == 4);
    CHECK(fabs(metric_hist_sum(s) - 3.85) < 1e-9);
    struct metric_family *c = metrics_counter(m, "esc_total", "h", "topic,reason");
    metric_inc(metric_get(c, "a\"b", "x\ny\\"));

    char *t = render(m);
    CHECK(strstr(t, "# TYPE lat_seconds histogram\n"
                    "lat_seconds_bucket{stage=\"store\",le=\"0.1\"} 2\n"
                    "lat_seconds_bucket{stage=\"store\",le=\"0.5\"} 2\n"
                    "lat_seconds_bucket{stage=\"store\",le=\"1\"} 3\n"
                    "lat_seconds_bucket{stage=\"store\",le=\"+Inf\"} 4\n"
                    "lat_seconds_sum{stage=\"store\"} 3.85\n"
                    "lat_seconds_count{stage=\"store\"} 4\n") != NULL);

    struct seen sn = {0};
    int n = metrics_parse(t, strlen(t), collect_cb, &sn);
    CHECK_EQ_INT(n, 7);
    CHECK_EQ_INT(sn.n, 7);
    CHECK_EQ_STR(sn.topic, "a\"b");
    CHECK_EQ_STR(sn.reason, "x\ny\\");
    CHECK(sn.inf_bucket == 4);
    CHECK(sn.count == 4);
    CHECK(fabs(sn.sum - 3.85) < 1e-9);
    free(t);

    /* Malformed input stops with -1; what came before was delivered. */
    const char *bad[] = {"x{a=\"b\" 1\n", "x\n", "x 1z\n", "{a=\"1\"} 1\n", "9x 1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct seen z = {0};
        CHECK(metrics_parse(bad[i], strlen(bad[i]), collect_cb, &z) == -1);
    }
    const char *good = "# comment\n\nup 1\nx{a=\"}\"} -Inf 123\ny NaN";
    struct seen z = {0};
    CHECK_EQ_INT(metrics_parse(good, strlen(good), collect_cb, &z), 3);
    CHECK_EQ_STR(z.last_name, "y");
    metrics_destroy(m);
}

struct hammer {
    struct metric *c, *h, *g;
};

static void *hammer_fn(void *arg)
{
    struct hammer *hm = arg;
    for (int i = 0; i < 100000; i++) {
        metric_inc(hm->c);
        metric_observe(hm->h, 0.001);
        metric_gauge_add(hm->g, 1);
    }
    return NULL;
}

static void test_threads(void)
{
    struct metrics *m = metrics_create();
    struct hammer hm = {
        metric_get(metrics_counter(m, "t_total", "h", NULL)),
        metric_get(metrics_histogram(m, "t_seconds", "h", NULL, metrics_latency_buckets,
                                     metrics_latency_buckets_n)),
        metric_get(metrics_gauge(m, "t_gauge", "h", NULL)),
    };
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer_fn, &hm);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(metric_value(hm.c) == 400000);
    CHECK(metric_hist_count(hm.h) == 400000);
    CHECK(metric_value(hm.g) == 400000);
    CHECK(fabs(metric_hist_sum(hm.h) - 400) < 1e-6);
    metrics_destroy(m);
}

static int collected;
static void collector(struct metrics *m, void *ctx)
{
    collected++;
    metric_set(metric_get(metrics_gauge(m, "coll_partitions", "h", NULL)), *(int *)ctx);
}

static void test_collector(void)
{
    struct metrics *m = metrics_create();
    int parts = 3;
    CHECK(metrics_add_collector(m, collector, &parts) == 0);
    char *t = render(m);
    CHECK(strstr(t, "coll_partitions 3\n") != NULL);
    free(t);
    parts = 5;
    t = render(m);
    CHECK(strstr(t, "coll_partitions 5\n") != NULL);
    free(t);
    metrics_remove_collector(m, collector, &parts);
    t = render(m);
    CHECK(collected == 2);
    free(t);
    metrics_destroy(m);
    /* The global registry exists and is always the same. */
    CHECK(metrics_global() != NULL && metrics_global() == metrics_global());
}

int main(void)
{
    test_counter_gauge();
    test_label_escaping();
    test_histogram_and_parse();
    test_threads();
    test_collector();
    return check_summary();
}
