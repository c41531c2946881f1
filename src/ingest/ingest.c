/* `sluice ingest`: the seed's stream_data_from_api task, done properly. A fetch thread gets
 * users in batches (HTTP or the built-in generator), parses and formats them; the main thread
 * produces them, serves delivery reports, rate-limits and shows progress. A bounded queue
 * between the two lets HTTP, JSON work and Kafka overlap without unbounded memory. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics_http.h"
#include "core/units.h"
#include "ingest/format.h"
#include "ingest/metrics.h"
#include "ingest/producer.h"
#include "ingest/source.h"
#include "mockapi/gen.h"

#define MOD "ingest"
#define QUEUE_DEPTH 4 /* batches formatted ahead of the producer */
#define SPARE_MAX 4   /* recycled batches: big buffers are not malloc'ed and freed per page */
#define AUTO_CONNECT_TIMEOUT_MS 3000
#define MAX_FETCHERS 8

/* One fetched page, formatted: records are key (36 bytes) then value, back to back in data. */
struct ingest_batch {
    struct ingest_batch *next;
    int n;
    size_t cap; /* room in recs */
    struct buf data;
    struct {
        uint32_t off, vlen;
    } * recs;
};

struct ingest {
    /* settings */
    struct source_opts sopts;
    int batch;
    int64_t count; /* 0: no limit */
    /* shared between the threads */
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    struct ingest_batch *head, *tail;
    int depth;
    struct ingest_batch *spare; /* produced batches kept for reuse (their memory is warm) */
    int nspare;
    int alive;         /* fetch threads still running */
    bool fetch_failed; /* one hit a failure retrying cannot fix */
    char fetch_err[512];
    int64_t inflight; /* users requested and not yet formatted (for --count) */
    uint64_t formatted;
    char label[256];      /* the source header; set before the fetch threads start */
    const char *gen_seed; /* the generator's seed when --seed is not given */
    atomic_bool stop;
    atomic_uint_fast64_t rejected, replaced;
    struct source_stats stats; /* shared by the sources */
    atomic_int_fast64_t next_page;
    int nfetchers;
    struct fetcher {
        struct ingest *in;
        struct source *src; /* used by this fetcher's thread only */
        pthread_t tid;
    } fetchers[MAX_FETCHERS];
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static const struct opt_def ingest_opts[] = {
    {"source", OPT_STRING, "auto", "auto|generator|URL",
     "where users come from; auto tries randomuser.me, then the built-in generator"},
    {"bootstrap", OPT_STRING, "127.0.0.1:9092", "HOST:PORT", "Kafka bootstrap servers"},
    {"topic", OPT_STRING, "users_created", "NAME", "topic to produce to"},
    {"duration", OPT_DURATION, "60s", "DURATION", "how long to stream (0: no limit)"},
    {"count", OPT_INT, "0", "N", "stop after N records (0: no limit); whichever comes first"},
    {"batch", OPT_INT, "500", "N", "users per API request (1..5000)"},
    /* Paced by default so that `make run`'s stream job keeps up on a small machine
     * (issue 12: its lag under 5 s of data); --rate 0 for as fast as possible. */
    {"rate", OPT_STRING, "10000", "N/s", "produce at most N records per second (0: unlimited)"},
    {"nat", OPT_STRING, NULL, "LIST", "nationalities, e.g. de,fr,gb (default: all)"},
    {"seed", OPT_STRING, NULL, "S", "API seed: the same seed replays the same users and ids"},
    {"compression", OPT_STRING, "lz4", "CODEC", "none, gzip, snappy, lz4 or zstd"},
    {"linger", OPT_DURATION, "5ms", "DURATION", "producer batching delay (linger.ms)"},
    {"idempotence", OPT_BOOL, "true", NULL, "idempotent producer (acks=all in any case)"},
    {"delivery-timeout", OPT_DURATION, "30s", "DURATION", "a record fails if not acked by then"},
    {"broker-timeout", OPT_DURATION, "10s", "DURATION", "how long to wait for the broker at start"},
    {"connect-timeout", OPT_DURATION, "5s", "DURATION", "HTTP connect timeout (auto: 3s)"},
    {"http-timeout", OPT_DURATION, "30s", "DURATION", "HTTP request timeout"},
    {"fetchers", OPT_INT, "2", "N", "concurrent requests (fetch+format threads), 1..8"},
    {"retry-max", OPT_DURATION, "10s", "DURATION", "cap of the fetch retry backoff"},
    METRICS_LISTEN_OPT,
    {"kafka-property", OPT_MAP, NULL, "KEY=VALUE", KAFKA_PROPERTY_HELP},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def ingest_cmd = {
    "ingest", "Stream users from randomuser.me (or the built-in generator) to a Kafka topic.",
    "sluice ingest [--source auto|generator|URL] [--duration 60s] [--count N] [options]",
    ingest_opts,
    "Each record: key = user id, value = JSON with id, first_name, last_name, gender, address,\n"
    "post_code, email, username, dob, registered_date, phone, picture; header source = where\n"
    "it came from. Exit status 1 when nothing was delivered or any delivery failed."};

/* ---- the queue between the fetch thread and the producer ---- */

static void batch_free(struct ingest_batch *b)
{
    if (!b)
        return;
    buf_free(&b->data);
    free(b->recs);
    free(b);
}

/* Gives a produced batch back for reuse (takes ownership). */
static void batch_recycle(struct ingest *in, struct ingest_batch *b)
{
    pthread_mutex_lock(&in->mu);
    if (in->nspare < SPARE_MAX) {
        b->next = in->spare;
        in->spare = b;
        in->nspare++;
        b = NULL;
    }
    pthread_mutex_unlock(&in->mu);
    batch_free(b);
}

/* A batch with room for n records: a recycled one when available. NULL if out of memory. */
static struct ingest_batch *batch_get(struct ingest *in, int n)
{
    pthread_mutex_lock(&in->mu);
    struct ingest_batch *b = in->spare;
    if (b) {
        in->spare = b->next;
        in->nspare--;
    }
    pthread_mutex_unlock(&in->mu);
    size_t cap = (size_t)(n > 0 ? n : 1);
    if (!b) {
        b = calloc(1, sizeof(*b));
        if (!b)
            return NULL;
        buf_init(&b->data, 0);
    }
    if (b->cap < cap) {
        void *r = realloc(b->recs, cap * sizeof(*b->recs));
        if (!r) {
            batch_free(b);
            return NULL;
        }
        b->recs = r;
        b->cap = cap;
    }
    b->n = 0;
    b->next = NULL;
    buf_reset(&b->data);
    b->data.max = cap * (FMT_VALUE_MAX + FMT_UUID_LEN) + 1;
    return b;
}

/* Blocks while the queue is full. Takes ownership of b; frees it if stopping. */
static void queue_push(struct ingest *in, struct ingest_batch *b)
{
    pthread_mutex_lock(&in->mu);
    while (in->depth >= QUEUE_DEPTH && !atomic_load(&in->stop))
        pthread_cond_wait(&in->nonfull, &in->mu);
    if (atomic_load(&in->stop)) {
        pthread_mutex_unlock(&in->mu);
        batch_free(b);
        return;
    }
    b->next = NULL;
    if (in->tail)
        in->tail->next = b;
    else
        in->head = b;
    in->tail = b;
    in->depth++;
    pthread_cond_signal(&in->nonempty);
    pthread_mutex_unlock(&in->mu);
}

/* Waits up to ms for a batch; NULL on timeout or when the fetcher is done and nothing is
 * left (*done then set). Caller owns the batch. */
static struct ingest_batch *queue_pop(struct ingest *in, int ms, bool *done)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&in->mu);
    while (!in->head && in->alive > 0 && !in->fetch_failed) {
        if (pthread_cond_timedwait(&in->nonempty, &in->mu, &ts) != 0)
            break;
    }
    struct ingest_batch *b = in->head;
    if (b) {
        in->head = b->next;
        if (!in->head)
            in->tail = NULL;
        in->depth--;
        pthread_cond_signal(&in->nonfull);
    }
    *done = !b && (in->alive == 0 || in->fetch_failed);
    pthread_mutex_unlock(&in->mu);
    return b;
}

/* ---- the fetch thread ---- */

/* Formats every result into a batch (NULL only when out of memory). Rejected users are
 * counted and the first few logged. */
static struct ingest_batch *format_page(struct ingest *in, const cJSON *results)
{
    int n = cJSON_GetArraySize(results);
    struct ingest_batch *b = batch_get(in, n);
    if (!b)
        return NULL;
    buf_reserve(&b->data, (size_t)n * 512); /* typical record size: one allocation */
    const cJSON *u;
    cJSON_ArrayForEach(u, results)
    {
        size_t off = b->data.len;
        char key[FMT_UUID_LEN + 1];
        struct sl_err err;
        int replaced = 0;
        /* Leave room for the key in front of the value; fill it once the id is known. */
        if (buf_append(&b->data, key, FMT_UUID_LEN) != 0 ||
            fmt_user(u, &b->data, key, &replaced, &err) != 0) {
            b->data.len = off;
            uint64_t r = atomic_fetch_add(&in->rejected, 1) + 1;
            if (r <= 5 || r % 1000 == 0)
                log_warn(MOD, "rejected a user (%llu so far): %s", (unsigned long long)r, err.msg);
            continue;
        }
        memcpy(b->data.data + off, key, FMT_UUID_LEN);
        if (replaced)
            atomic_fetch_add(&in->replaced, (uint_fast64_t)replaced);
        b->recs[b->n].off = (uint32_t)off;
        b->recs[b->n].vlen = (uint32_t)(b->data.len - off - FMT_UUID_LEN);
        b->n++;
    }
    return b;
}

/* How many users the next request may ask for under --count, reserved until formatted;
 * 0 when enough are already in hand or on their way. */
static int reserve_users(struct ingest *in)
{
    int n = in->batch;
    pthread_mutex_lock(&in->mu);
    if (in->count > 0) {
        int64_t left = in->count - (int64_t)in->formatted - in->inflight;
        n = left <= 0 ? 0 : left < n ? (int)left : n;
    }
    in->inflight += n;
    pthread_mutex_unlock(&in->mu);
    return n;
}

static void settle_users(struct ingest *in, int requested, int formatted)
{
    pthread_mutex_lock(&in->mu);
    in->inflight -= requested;
    in->formatted += (uint64_t)formatted;
    pthread_mutex_unlock(&in->mu);
}

/* Fetches, formats and queues one page with src. Returns 0, 1 when there is nothing left to
 * do or it was stopped, -1 on a failure retrying cannot fix (err set). */
static int fetch_one(struct ingest *in, struct source *src, struct sl_err *err)
{
    int n = reserve_users(in);
    if (n == 0)
        return 1;
    cJSON *root = NULL;
    const cJSON *results = NULL;
    int rc = source_fetch(src, n, &root, &results, err);
    if (rc != 0) {
        settle_users(in, n, 0);
        return rc;
    }
    struct ingest_batch *b = format_page(in, results);
    cJSON_Delete(root);
    settle_users(in, n, b ? b->n : 0);
    if (!b)
        return sl_err_set(err, "out of memory formatting a batch");
    queue_push(in, b);
    return 0;
}

/* The first request of --source auto, made before the fetch threads start: on any failure
 * randomuser.me is given up on, once and plainly, for the built-in generator. Returns 0, or
 * -1 (err set) when not even the generator can be set up. */
static int auto_probe(struct ingest *in, struct sl_err *err)
{
    struct source_opts quick = in->sopts;
    if (quick.connect_timeout_ms > AUTO_CONNECT_TIMEOUT_MS)
        quick.connect_timeout_ms = AUTO_CONNECT_TIMEOUT_MS;
    quick.max_attempts = 1;
    struct source *probe;
    if (source_create(&probe, &quick, err) != 0)
        return -1;
    int rc = fetch_one(in, probe, err);
    source_destroy(probe);
    if (rc == 0 || atomic_load(&in->stop))
        return 0;
    log_warn(MOD, "%s is not reachable (%s); using the built-in generator instead",
             SOURCE_RANDOMUSER_URL, err->msg);
    in->sopts.url = NULL;
    /* The failed probe is not a failure of the run, and the generator starts at page 1. */
    memset(&in->stats, 0, sizeof(in->stats));
    atomic_store(&in->next_page, 1);
    return 0;
}

static void *fetch_thread(void *arg)
{
    struct fetcher *f = arg;
    struct ingest *in = f->in;
    struct sl_err err = {{0}};
    int rc = 0;
    while (!atomic_load(&in->stop) && (rc = fetch_one(in, f->src, &err)) == 0)
        ;
    pthread_mutex_lock(&in->mu);
    in->alive--;
    if (rc < 0) {
        in->fetch_failed = true;
        snprintf(in->fetch_err, sizeof(in->fetch_err), "%s", err.msg);
    } else if (rc == 1 && err.msg[0] && !in->fetch_err[0]) {
        snprintf(in->fetch_err, sizeof(in->fetch_err), "%s", err.msg); /* last failure */
    }
    pthread_cond_broadcast(&in->nonempty);
    pthread_mutex_unlock(&in->mu);
    return NULL;
}

/* ---- the command ---- */

static int parse_rate(const char *s, double *out, struct sl_err *err)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e9)
        return sl_err_set(err, "--rate: '%s' is not N or N/s", s);
    if (*end && strcmp(end, "/s") != 0)
        return sl_err_set(err, "--rate: '%s' is not N or N/s", s);
    *out = v;
    return 0;
}

struct progress {
    bool tty;
    int64_t start_ms, last_ms;
    uint64_t last_delivered;
};

static void progress_show(struct progress *pg, struct ingest *in, struct producer *p,
                          uint64_t produced, bool force)
{
    int64_t now = mono_ms();
    ingest_metrics_update(&in->stats, produced, producer_delivered(p), producer_failed(p));
    if (!pg->tty || (!force && now - pg->last_ms < 1000))
        return;
    uint64_t d = producer_delivered(p);
    /* The last line shows the run's average; the live ones the last second's rate. */
    int64_t since = force ? pg->start_ms : pg->last_ms;
    uint64_t base = force ? 0 : pg->last_delivered;
    double rate = now > since ? (double)(d - base) * 1000 / (double)(now - since) : 0;
    fprintf(stderr,
            "\r\033[K%5.1fs  fetched %llu  produced %llu  delivered %llu  failed %llu  "
            "fetch errors %llu  %.0f rec/s",
            (double)(now - pg->start_ms) / 1000, (unsigned long long)in->stats.users,
            (unsigned long long)produced, (unsigned long long)d,
            (unsigned long long)producer_failed(p), (unsigned long long)source_failures(&in->stats),
            rate);
    pg->last_ms = now;
    pg->last_delivered = d;
}

/* What the produce loop reports back. */
struct run {
    int64_t start, deadline;
    double rate; /* records/s, 0 = unlimited */
    uint64_t produced;
    char stop_reason[64];
    char fatal[512];
};

static const char *signal_reason(void)
{
    return got_signal == SIGINT ? "stopped by SIGINT" : "stopped by SIGTERM";
}

/* Produces a batch's records, pacing for --rate; returns false when the run must end. */
static bool produce_batch(struct ingest *in, struct producer *p, struct ingest_batch *b,
                          struct run *r, struct progress *pg)
{
    struct sl_err err;
    for (int i = 0; i < b->n; i++) {
        if ((i & 255) == 0) {
            if (got_signal || mono_ms() >= r->deadline)
                return false;
            producer_poll(p, 0);
            progress_show(pg, in, p, r->produced, false);
        }
        if (in->count > 0 && r->produced >= (uint64_t)in->count)
            return false;
        if (r->rate > 0) {
            /* Pace against the start time, not per record, so rounding does not drift. */
            int64_t due = r->start + (int64_t)((double)r->produced * 1000.0 / r->rate);
            int64_t now;
            while ((now = mono_ms()) < due && !got_signal && now < r->deadline) {
                producer_poll(p, (int)(due - now < 100 ? due - now : 100));
                progress_show(pg, in, p, r->produced, false);
            }
            if (got_signal || now >= r->deadline)
                return false;
        }
        const char *rec = (const char *)b->data.data + b->recs[i].off;
        int rc = producer_send(p, rec, FMT_UUID_LEN, rec + FMT_UUID_LEN, b->recs[i].vlen, in->label,
                               &in->stop, &err);
        if (rc != 0) {
            if (rc < 0)
                snprintf(r->fatal, sizeof(r->fatal), "%s", err.msg);
            return false;
        }
        r->produced++;
    }
    return true;
}

/* The main thread's loop: take formatted batches, produce them, until the duration, the
 * count, a signal, the end of the source or a fatal producer error. */
static void produce_loop(struct ingest *in, struct producer *p, struct run *r)
{
    struct progress pg = {isatty(STDERR_FILENO) == 1, r->start, r->start, 0};
    snprintf(r->stop_reason, sizeof(r->stop_reason), "duration reached");
    for (;;) {
        if (got_signal || mono_ms() >= r->deadline)
            break;
        if (in->count > 0 && r->produced >= (uint64_t)in->count) {
            snprintf(r->stop_reason, sizeof(r->stop_reason), "count reached");
            break;
        }
        if (producer_fatal(p, r->fatal, sizeof(r->fatal)))
            break;
        bool fetch_over = false;
        struct ingest_batch *b = queue_pop(in, 100, &fetch_over);
        if (!b) {
            producer_poll(p, 0);
            progress_show(&pg, in, p, r->produced, false);
            if (fetch_over) {
                snprintf(r->stop_reason, sizeof(r->stop_reason), "source finished");
                break;
            }
            continue;
        }
        bool more = produce_batch(in, p, b, r, &pg);
        batch_recycle(in, b);
        if (!more && r->fatal[0])
            break;
    }
    if (got_signal)
        snprintf(r->stop_reason, sizeof(r->stop_reason), "%s", signal_reason());

    /* Everything fetched has been produced or will not be: stop the fetchers (a transfer or
     * backoff in progress ends within ~50 ms), then wait for every delivery report. */
    atomic_store(&in->stop, true);
    pthread_mutex_lock(&in->mu);
    pthread_cond_broadcast(&in->nonfull);
    pthread_mutex_unlock(&in->mu);
    for (int i = 0; i < in->nfetchers; i++)
        pthread_join(in->fetchers[i].tid, NULL);

    int64_t flush_ms = producer_delivery_timeout(p) + 5000;
    if (pg.tty)
        fprintf(stderr, "\r\033[Kflushing %llu records (up to %.0f s)...",
                (unsigned long long)(r->produced - producer_delivered(p) - producer_failed(p)),
                (double)flush_ms / 1000);
    producer_flush(p, flush_ms);
    progress_show(&pg, in, p, r->produced, true);
    if (pg.tty)
        fputc('\n', stderr);
}

/* Prints the summary (stdout, always) and returns the exit code, logging why it is not 0. */
static int report(struct ingest *in, struct producer *p, const struct run *r, const char *topic,
                  const char *bootstrap)
{
    double secs = (double)(mono_ms() - r->start) / 1000;
    const struct source_stats *st = &in->stats;
    uint64_t delivered = producer_delivered(p), failed = producer_failed(p);
    printf("ingest: %s; source %s, topic %s on %s\n", r->stop_reason, in->label, topic, bootstrap);
    printf("summary: fetched=%llu requests=%llu fetch_errors=%llu rejected=%llu produced=%llu "
           "delivered=%llu failed=%llu unsent=%llu elapsed=%.2fs rate=%.0f/s\n",
           (unsigned long long)st->users, (unsigned long long)st->requests,
           (unsigned long long)source_failures(st), (unsigned long long)in->rejected,
           (unsigned long long)r->produced, (unsigned long long)delivered,
           (unsigned long long)failed, (unsigned long long)(in->formatted - r->produced), secs,
           secs > 0 ? (double)delivered / secs : 0);
    if (source_failures(st))
        printf("fetch errors (all retried): timeouts=%llu connect=%llu http_429=%llu "
               "http_5xx=%llu malformed=%llu api_error=%llu other=%llu\n",
               (unsigned long long)st->timeouts, (unsigned long long)st->connect_errors,
               (unsigned long long)st->http_429, (unsigned long long)st->http_5xx,
               (unsigned long long)st->malformed, (unsigned long long)st->api_errors,
               (unsigned long long)st->other_errors);
    if (in->replaced)
        printf("note: %llu invalid UTF-8 sequences were replaced with U+FFFD\n",
               (unsigned long long)in->replaced);
    fflush(stdout);

    int ret = 0;
    if (in->fetch_failed) {
        log_error(MOD, "the source failed: %s", in->fetch_err);
        ret = 1;
    }
    if (r->fatal[0]) {
        log_error(MOD, "the producer failed: %s", r->fatal);
        ret = 1;
    }
    if (failed > 0) {
        log_error(MOD, "%llu of %llu records were not delivered (first error: %s)",
                  (unsigned long long)failed, (unsigned long long)r->produced,
                  producer_first_error(p));
        ret = 1;
    }
    if (delivered == 0) {
        if (r->produced == 0 && in->fetch_err[0])
            log_error(MOD, "nothing was delivered: no users could be fetched (last error: %s)",
                      in->fetch_err);
        else
            log_error(MOD, "nothing was delivered");
        ret = 1;
    }
    return ret;
}

/* Validates the options that config_parse cannot check by type. 0, or -1 with err. */
static int check_settings(const struct config *cfg, struct sl_err *err)
{
    uint32_t natmask;
    double rate;
    const char *src = config_str(cfg, "source");
    const char *nat = config_str(cfg, "nat");
    const char *seed = config_str(cfg, "seed");
    if (strcmp(src, "auto") != 0 && strcmp(src, "generator") != 0 &&
        strncmp(src, "http://", 7) != 0 && strncmp(src, "https://", 8) != 0)
        return sl_err_set(err, "--source must be auto, generator or an http(s) URL");
    if (config_int(cfg, "batch") < 1 || config_int(cfg, "batch") > MOCKAPI_MAX_RESULTS)
        return sl_err_set(err, "--batch must be 1..%d", MOCKAPI_MAX_RESULTS);
    if (config_int(cfg, "count") < 0)
        return sl_err_set(err, "--count must be >= 0");
    if (config_int(cfg, "fetchers") < 1 || config_int(cfg, "fetchers") > MAX_FETCHERS)
        return sl_err_set(err, "--fetchers must be 1..%d", MAX_FETCHERS);
    if (parse_rate(config_str(cfg, "rate"), &rate, err) != 0)
        return -1;
    if (nat && mockapi_nat_parse(nat, &natmask, err) != 0)
        return -1;
    if (seed && strlen(seed) > MOCKAPI_SEED_MAX)
        return sl_err_set(err, "--seed is longer than %d characters", MOCKAPI_SEED_MAX);
    if (!producer_compression_valid(config_str(cfg, "compression")))
        return sl_err_set(err, "--compression must be none, gzip, snappy, lz4 or zstd");
    if (config_ms(cfg, "duration") == 0 && config_int(cfg, "count") == 0)
        return sl_err_set(err, "--duration 0 needs --count (or the run would never end)");
    return 0;
}

/* Creates one source per fetcher and starts their threads. */
static int start_fetchers(struct ingest *in, int n, struct sl_err *err)
{
    for (int i = 0; i < n; i++) {
        struct fetcher *f = &in->fetchers[i];
        f->in = in;
        if (source_create(&f->src, &in->sopts, err) != 0)
            return -1;
        if (i == 0)
            snprintf(in->label, sizeof(in->label), "%s", source_label(f->src));
    }
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&in->mu);
        in->alive++;
        pthread_mutex_unlock(&in->mu);
        if (pthread_create(&in->fetchers[i].tid, NULL, fetch_thread, &in->fetchers[i]) != 0) {
            pthread_mutex_lock(&in->mu);
            in->alive--;
            pthread_mutex_unlock(&in->mu);
            return sl_err_set(err, "cannot start fetch thread %d", i);
        }
        in->nfetchers++;
    }
    return 0;
}

static void free_batches(struct ingest_batch *b)
{
    while (b) {
        struct ingest_batch *next = b->next;
        batch_free(b);
        b = next;
    }
}

int ingest_main(int argc, char **argv)
{
    struct config *cfg = NULL;
    struct producer *p = NULL;
    struct http_server *metrics_srv = NULL;
    struct kafka_props *kprops = NULL;
    struct sl_err err;
    struct ingest in;
    struct run r;
    int ret = 1;
    memset(&in, 0, sizeof(in));
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&in.mu, NULL);
    pthread_cond_init(&in.nonempty, NULL);
    pthread_cond_init(&in.nonfull, NULL);
    atomic_store(&in.next_page, 1);

    int rc = config_parse(&ingest_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0 || check_settings(cfg, &err) != 0 ||
        kafka_props_from_config(cfg, "kafka-property", KAFKA_VALIDATE_PRODUCER, &kprops, &err) !=
            0) {
        fprintf(stderr, "sluice ingest: %s\n", err.msg);
        config_free(cfg);
        return 2;
    }
    const char *source_arg = config_str(cfg, "source");
    bool is_auto = strcmp(source_arg, "auto") == 0;
    bool is_gen = strcmp(source_arg, "generator") == 0;
    in.batch = (int)config_int(cfg, "batch");
    in.count = config_int(cfg, "count");
    int64_t duration = config_ms(cfg, "duration");
    parse_rate(config_str(cfg, "rate"), &r.rate, NULL);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct producer_opts po = {
        .bootstrap = config_str(cfg, "bootstrap"),
        .topic = config_str(cfg, "topic"),
        .compression = config_str(cfg, "compression"),
        .delivery_timeout_ms = config_ms(cfg, "delivery-timeout"),
        .linger_ms = config_ms(cfg, "linger"),
        .idempotence = config_bool(cfg, "idempotence"),
        .kafka = kprops,
    };
    if (producer_create(&p, &po, &err) != 0 ||
        producer_check(p, config_ms(cfg, "broker-timeout"), &err) != 0) {
        log_error(MOD, "%s", err.msg);
        goto out;
    }

    in.sopts = (struct source_opts){
        .url = is_gen    ? NULL
               : is_auto ? SOURCE_RANDOMUSER_URL
                         : source_arg,
        .nat = config_str(cfg, "nat"),
        .seed = config_str(cfg, "seed"),
        .connect_timeout_ms = config_ms(cfg, "connect-timeout"),
        .timeout_ms = config_ms(cfg, "http-timeout"),
        .backoff_base_ms = 100,
        .backoff_max_ms = config_ms(cfg, "retry-max"),
        .stop = &in.stop,
        .stats = &in.stats,
        .next_page = &in.next_page,
    };
    /* Without --seed the generator sources share one random seed (pages keep them apart),
     * so a run's users are unique; with --seed a replay gives the same users and ids. */
    char genseed[MOCKAPI_SEED_MAX + 1];
    if (!in.sopts.seed) {
        mockapi_random_seed(genseed);
        in.gen_seed = genseed;
    }
    /* A task's metrics are a convenience: runs may overlap, so a busy port only warns. Every
     * family is there (at 0) from the first scrape on. */
    ingest_metrics_update(&in.stats, 0, 0, 0);
    if (metrics_listen(MOD, config_str(cfg, "metrics-listen"), &metrics_srv, &err) != 0)
        log_warn(MOD, "no metrics: %s", err.msg);
    r.start = mono_ms();
    r.deadline = duration > 0 ? r.start + duration : INT64_MAX;
    if (is_auto && auto_probe(&in, &err) != 0) {
        log_error(MOD, "%s", err.msg);
        goto out;
    }
    if (!in.sopts.url && !in.sopts.seed)
        in.sopts.seed = in.gen_seed;
    if (start_fetchers(&in, (int)config_int(cfg, "fetchers"), &err) != 0) {
        log_error(MOD, "%s", err.msg);
        atomic_store(&in.stop, true);
        for (int i = 0; i < in.nfetchers; i++)
            pthread_join(in.fetchers[i].tid, NULL);
        goto out;
    }
    log_info(MOD, "streaming from %s to topic %s on %s for %s%s (%d fetchers, batches of %d)",
             in.label, po.topic, po.bootstrap,
             duration ? config_str(cfg, "duration") : "unlimited time",
             in.count ? " or until --count" : "", in.nfetchers, in.batch);
    produce_loop(&in, p, &r);
    ret = report(&in, p, &r, po.topic, po.bootstrap);
out:
    http_server_stop(metrics_srv);
    free_batches(in.head);
    free_batches(in.spare);
    for (int i = 0; i < MAX_FETCHERS; i++)
        source_destroy(in.fetchers[i].src);
    producer_destroy(p);
    kafka_props_free(kprops);
    config_free(cfg);
    return ret;
}
