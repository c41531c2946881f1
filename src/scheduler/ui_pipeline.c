/* The Pipeline page's figures: a sampler thread reads, once a second, every part's /metrics
 * (libcurl, short timeouts), the topic's end offsets (librdkafka) and the store's row count
 * (SQLite, read-only), turns counters into rates and the latency histogram into p50/p99 over
 * the last 5 seconds, and keeps 15 minutes of points for /ui/api/pipeline. Also the latest
 * stored users, straight from the store. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/units.h"
#include "scheduler/ui_int.h"

#define MOD "ui"
#define LAT_WINDOW 5 /* samples over which p50/p99 are computed */

/* The raw counters of one sample (sums over the targets). */
struct raw {
    bool have_ingest, have_process;
    double fetched, consumed, stored, dead;
    double produced; /* sum of the topic's end offsets; < 0 unknown */
    int nb;
    double le[UI_MAX_BUCKETS], cum[UI_MAX_BUCKETS]; /* e2e histogram, cumulative */
    int nlag;
    int32_t lag_part[UI_MAX_PARTS];
    int64_t lag[UI_MAX_PARTS];
};

struct sampler {
    struct ui *ui;
    CURL *curl;
    struct buf body;
    sqlite3 *store;
    struct raw prev;
    bool have_prev;
    int64_t prev_ms;
    struct raw hist[LAT_WINDOW + 1]; /* recent raws for the latency window */
    int nhist;
    int32_t nparts; /* partitions of the topic, refreshed now and then */
    int64_t parts_checked_ms;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

static void on_sample(const char *name, const char *labels, double v, void *arg)
{
    struct raw *r = arg;
    if (strcmp(name, "sluice_ingest_records_fetched_total") == 0) {
        r->fetched += v;
        r->have_ingest = true;
    } else if (strcmp(name, "sluice_process_records_consumed_total") == 0) {
        r->consumed += v;
        r->have_process = true;
    } else if (strcmp(name, "sluice_process_records_stored_total") == 0) {
        r->stored += v;
    } else if (strcmp(name, "sluice_process_records_dead_lettered_total") == 0) {
        r->dead += v;
    } else if (strcmp(name, "sluice_process_end_to_end_latency_seconds_bucket") == 0) {
        char le[32];
        if (metrics_label(labels, "le", le, sizeof le) != 0)
            return;
        double bound = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
        for (int i = 0; i < r->nb; i++) {
            if (r->le[i] == bound) {
                r->cum[i] += v;
                return;
            }
        }
        if (r->nb < UI_MAX_BUCKETS) {
            r->le[r->nb] = bound;
            r->cum[r->nb++] = v;
        }
    } else if (strcmp(name, "sluice_process_consumer_lag_records") == 0) {
        char p[16];
        if (metrics_label(labels, "partition", p, sizeof p) != 0)
            return;
        int32_t part = (int32_t)atoi(p);
        for (int i = 0; i < r->nlag; i++) {
            if (r->lag_part[i] == part) {
                r->lag[i] += (int64_t)v;
                return;
            }
        }
        if (r->nlag < UI_MAX_PARTS) {
            r->lag_part[r->nlag] = part;
            r->lag[r->nlag++] = (int64_t)v;
        }
    }
}

static bool scrape(struct sampler *s, const char *url, struct raw *r)
{
    buf_reset(&s->body);
    curl_easy_setopt(s->curl, CURLOPT_URL, url);
    if (curl_easy_perform(s->curl) != CURLE_OK)
        return false;
    long code = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200)
        return false;
    return metrics_parse((const char *)s->body.data, s->body.len, on_sample, r) >= 0;
}

/* Sum of the topic's end offsets: what has been produced to it, whoever produced it. */
static double topic_end(struct sampler *s, int64_t now)
{
    rd_kafka_t *rk = ui_kafka(s->ui);
    if (!rk)
        return -1;
    if (s->nparts <= 0 || now - s->parts_checked_ms > 10000) {
        s->parts_checked_ms = now;
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, s->ui->topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (t && rd_kafka_metadata(rk, 0, t, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && !md->topics[0].err)
            s->nparts = md->topics[0].partition_cnt;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (t)
            rd_kafka_topic_destroy(t);
    }
    if (s->nparts <= 0)
        return -1;
    double sum = 0;
    for (int32_t p = 0; p < s->nparts; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, s->ui->topic, p, &lo, &hi, 500) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            return -1;
        sum += (double)hi;
    }
    return sum;
}

static int64_t store_rows(struct sampler *s)
{
    if (!s->store) {
        if (sqlite3_open_v2(s->ui->store_db, &s->store, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
            sqlite3_close(s->store);
            s->store = NULL;
            return -1;
        }
        sqlite3_busy_timeout(s->store, 200);
    }
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->store, "SELECT count(*) FROM created_users", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    } else {
        /* no table yet, or the file was replaced: open again next time */
        sqlite3_close(s->store);
        s->store = NULL;
    }
    return n;
}

/* A counter's rate; a counter that went down belongs to a restarted process: count from 0. */
static double rate(double now, double before, double secs)
{
    if (now < 0 || before < 0)
        return 0;
    double d = now >= before ? now - before : now;
    return d / secs;
}

/* The q-quantile of the observations between two cumulative histograms (same buckets),
 * interpolated linearly inside its bucket as Prometheus's histogram_quantile does. */
static double quantile(const struct raw *a, const struct raw *b, double q)
{
    if (a->nb == 0 || a->nb != b->nb)
        return -1;
    double total = a->cum[a->nb - 1] - b->cum[b->nb - 1];
    if (total <= 0)
        return -1;
    double rank = q * total, prev_le = 0, prev_c = 0;
    for (int i = 0; i < a->nb; i++) {
        double c = a->cum[i] - b->cum[i];
        if (c >= rank) {
            if (isinf(a->le[i]))
                return prev_le;
            double in = c - prev_c;
            return in > 0 ? prev_le + (a->le[i] - prev_le) * (rank - prev_c) / in : a->le[i];
        }
        prev_le = a->le[i];
        prev_c = c;
    }
    return prev_le;
}

static void sample_once(struct sampler *s)
{
    struct ui *ui = s->ui;
    struct raw r;
    memset(&r, 0, sizeof r);
    bool up[UI_MAX_TARGETS];
    for (int i = 0; i < ui->ntargets; i++)
        up[i] = scrape(s, ui->targets[i].url, &r);
    int64_t now = now_ms();
    r.produced = topic_end(s, now);
    int64_t rows = store_rows(s);

    struct ui_point pt;
    memset(&pt, 0, sizeof pt);
    pt.t = now;
    pt.rows = rows;
    pt.p50 = pt.p99 = -1;
    if (s->have_prev) {
        double secs = (double)(now - s->prev_ms) / 1000.0;
        if (secs <= 0)
            secs = 1;
        pt.fetched = r.have_ingest ? rate(r.fetched, s->prev.fetched, secs) : 0;
        pt.produced = rate(r.produced, s->prev.produced, secs);
        pt.consumed = rate(r.consumed, s->prev.consumed, secs);
        pt.stored = rate(r.stored, s->prev.stored, secs);
        pt.dead_lettered = rate(r.dead, s->prev.dead, secs);
    }
    /* latency over the window: newest raw against the oldest kept */
    if (s->nhist == LAT_WINDOW + 1) {
        memmove(&s->hist[0], &s->hist[1], LAT_WINDOW * sizeof s->hist[0]);
        s->nhist--;
    }
    s->hist[s->nhist++] = r;
    if (s->nhist > 1 && r.have_process) {
        pt.p50 = quantile(&r, &s->hist[0], 0.5);
        pt.p99 = quantile(&r, &s->hist[0], 0.99);
    }
    pt.nlag = r.nlag;
    memcpy(pt.lag_part, r.lag_part, sizeof pt.lag_part);
    memcpy(pt.lag, r.lag, sizeof pt.lag);
    /* A process that is gone must not look like a process that is fast: counters vanish,
     * so the next rate starts from what the next one reports. */
    s->prev = r;
    if (!r.have_ingest)
        s->prev.fetched = 0;
    s->prev_ms = now;
    s->have_prev = true;

    pthread_mutex_lock(&ui->mu);
    for (int i = 0; i < ui->ntargets; i++)
        ui->targets[i].up = up[i];
    ui->rows_now = rows;
    int idx = (ui->head + ui->npoints) % UI_POINTS;
    if (ui->npoints == UI_POINTS)
        ui->head = (ui->head + 1) % UI_POINTS;
    else
        ui->npoints++;
    ui->points[idx] = pt;
    pthread_mutex_unlock(&ui->mu);
}

static void *sampler_main(void *arg)
{
    struct ui *ui = arg;
    struct sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ui = ui;
    buf_init(&s->body, 8u << 20);
    s->curl = curl_easy_init();
    if (s->curl) {
        curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &s->body);
        curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, 300L);
        curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, 800L);
        curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http");
    }
    for (;;) {
        int64_t t0 = mono_ms();
        if (s->curl)
            sample_once(s);
        int64_t next = t0 + 1000;
        pthread_mutex_lock(&ui->stop_mu);
        while (!ui->stop && mono_ms() < next) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = next - mono_ms();
            if (wait <= 0)
                break;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&ui->stop_cv, &ui->stop_mu, &ts);
        }
        bool stop = ui->stop;
        pthread_mutex_unlock(&ui->stop_mu);
        if (stop)
            break;
    }
    if (s->curl)
        curl_easy_cleanup(s->curl);
    sqlite3_close(s->store);
    buf_free(&s->body);
    free(s);
    return NULL;
}

int ui_sampler_start(struct ui *ui, struct sl_err *err)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&ui->sampler, NULL, sampler_main, ui) != 0)
        return sl_err_set(err, "cannot start the UI's sampler thread");
    ui->sampler_started = true;
    return 0;
}

void ui_sampler_stop(struct ui *ui)
{
    if (!ui->sampler_started)
        return;
    pthread_mutex_lock(&ui->stop_mu);
    ui->stop = true;
    pthread_cond_signal(&ui->stop_cv);
    pthread_mutex_unlock(&ui->stop_mu);
    pthread_join(ui->sampler, NULL);
    ui->sampler_started = false;
}

static cJSON *num_or_null(double v)
{
    return v < 0 || !isfinite(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

/* GET /ui/api/pipeline?since=MS: the points after `since` (all 15 minutes when 0). */
void ui_h_pipeline(struct http_req *req, void *ctx)
{
    struct ui *ui = ui_of(ctx);
    if (!ui) {
        http_reply_error(req, 503, "the UI is not running");
        return;
    }
    const char *q = http_query(req, "since");
    long long since = q ? atoll(q) : 0;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "now", (double)now_ms());
    cJSON_AddStringToObject(doc, "store", ui->store_db);
    cJSON_AddStringToObject(doc, "topic", ui->topic);
    cJSON *targets = cJSON_AddArrayToObject(doc, "targets");
    cJSON *points = cJSON_AddArrayToObject(doc, "points");
    pthread_mutex_lock(&ui->mu);
    cJSON_AddItemToObject(doc, "rows", num_or_null((double)ui->rows_now));
    for (int i = 0; i < ui->ntargets; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", ui->targets[i].name);
        cJSON_AddStringToObject(t, "url", ui->targets[i].url);
        cJSON_AddBoolToObject(t, "up", ui->targets[i].up);
        cJSON_AddItemToArray(targets, t);
    }
    for (int i = 0; i < ui->npoints; i++) {
        const struct ui_point *p = &ui->points[(ui->head + i) % UI_POINTS];
        if (p->t <= since)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "t", (double)p->t);
        cJSON_AddNumberToObject(o, "fetched", p->fetched);
        cJSON_AddNumberToObject(o, "produced", p->produced);
        cJSON_AddNumberToObject(o, "consumed", p->consumed);
        cJSON_AddNumberToObject(o, "stored", p->stored);
        cJSON_AddNumberToObject(o, "dead_lettered", p->dead_lettered);
        cJSON_AddItemToObject(o, "p50", num_or_null(p->p50));
        cJSON_AddItemToObject(o, "p99", num_or_null(p->p99));
        cJSON_AddItemToObject(o, "rows", num_or_null((double)p->rows));
        cJSON *lag = cJSON_AddObjectToObject(o, "lag");
        for (int k = 0; k < p->nlag; k++) {
            char key[16];
            snprintf(key, sizeof key, "%d", (int)p->lag_part[k]);
            cJSON_AddNumberToObject(lag, key, (double)p->lag[k]);
        }
        cJSON_AddItemToArray(points, o);
    }
    pthread_mutex_unlock(&ui->mu);
    ui_reply_cjson(req, 200, doc);
}

/* GET /ui/api/users?limit=N: the latest rows of created_users (a rowid table keeps them in
 * arrival order; a WITHOUT ROWID one has no such order, so any N rows). */
void ui_h_users(struct http_req *req, void *ctx)
{
    struct ui *ui = ui_of(ctx);
    if (!ui) {
        http_reply_error(req, 503, "the UI is not running");
        return;
    }
    const char *q = http_query(req, "limit");
    int limit = q ? atoi(q) : 10;
    if (limit < 1 || limit > 100)
        limit = 10;
    cJSON *doc = cJSON_CreateObject();
    cJSON *users = cJSON_AddArrayToObject(doc, "users");
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(ui->store_db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cJSON_AddStringToObject(doc, "error", "no store yet");
        sqlite3_close(db);
        ui_reply_cjson(req, 200, doc);
        return;
    }
    sqlite3_busy_timeout(db, 1000);
    /* One read transaction (a snapshot in WAL mode) for the layout read below and the rows: a
     * writer ending a build or moving a run meanwhile cannot drop a table named in between. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    static const char *const cols[] = {"id",      "first_name",      "last_name", "gender",
                                       "address", "post_code",       "email",     "username",
                                       "dob",     "registered_date", "phone",     "picture"};
    const char *sql_rowid = "SELECT id, first_name, last_name, gender, address, post_code, email, "
                            "username, dob, registered_date, phone, picture FROM created_users "
                            "ORDER BY rowid DESC LIMIT ?";
    /* The store's two-level layout (created_users a view over _main, the sealed runs _r<n>
     * and _delta, each appended in arrival order): the newest rows of the delta, then of the
     * run being built by copy (below), then of the newest run, then of the main table. */
#define UI_USER_COLS                                                                               \
    "id, first_name, last_name, gender, address, post_code, email, username, dob, "                \
    "registered_date, phone, picture"
    sqlite3_stmt *rq = NULL;
    /* A run being built by copy (sluice_build) fills in id order, so its rowids say nothing of
     * arrival; the arrival order is the former delta's, created_users_p<n>, kept until the
     * build ends. Its newest rows, each as stored now: from _p<n> if its id is at or above
     * sluice_build.lo (not copied yet), otherwise from the run (where updates since the copy
     * went). lo is NULL once every id is copied. */
    long long build = 0, run = 0;
    if (sqlite3_prepare_v2(db, "SELECT run FROM sluice_build WHERE tbl='created_users'", -1, &rq,
                           NULL) == SQLITE_OK &&
        sqlite3_step(rq) == SQLITE_ROW)
        build = sqlite3_column_int64(rq, 0);
    sqlite3_finalize(rq);
    /* the newest run other than the one being built */
    if (sqlite3_prepare_v2(
            db, "SELECT max(run) FROM sluice_runs WHERE tbl='created_users' AND run <> ?", -1, &rq,
            NULL) == SQLITE_OK &&
        sqlite3_bind_int64(rq, 1, build) == SQLITE_OK && sqlite3_step(rq) == SQLITE_ROW)
        run = sqlite3_column_int64(rq, 0);
    sqlite3_finalize(rq);
    char run_arm[256] = "";
    if (run > 0)
        snprintf(run_arm, sizeof(run_arm),
                 " UNION ALL SELECT * FROM (SELECT " UI_USER_COLS
                 " FROM created_users_r%lld ORDER BY rowid DESC LIMIT ?1)",
                 run);
    char build_arm[1024] = "";
    if (build > 0)
        snprintf(build_arm, sizeof(build_arm),
                 " UNION ALL SELECT * FROM (WITH k(rk, kid) AS (SELECT rowid, id FROM "
                 "created_users_p%lld ORDER BY rowid DESC LIMIT ?1), b(lo) AS (SELECT lo FROM "
                 "sluice_build WHERE tbl='created_users') SELECT " UI_USER_COLS
                 " FROM (SELECT rk, p.* FROM k, b, created_users_p%lld p WHERE p.rowid = rk AND "
                 "kid >= b.lo UNION ALL SELECT rk, r.* FROM k, b, created_users_r%lld r WHERE "
                 "r.id = kid AND (b.lo IS NULL OR kid < b.lo)) ORDER BY rk DESC LIMIT ?1)",
                 build, build, build);
    char sql_delta[2048];
    snprintf(sql_delta, sizeof(sql_delta),
             "SELECT * FROM (SELECT " UI_USER_COLS
             " FROM created_users_delta ORDER BY rowid DESC LIMIT ?1)%s%s UNION ALL SELECT * FROM "
             "(SELECT " UI_USER_COLS " FROM created_users_main ORDER BY rowid DESC LIMIT ?1) "
             "LIMIT ?1",
             build_arm, run_arm);
#undef UI_USER_COLS
    const char *sql_any = "SELECT id, first_name, last_name, gender, address, post_code, email, "
                          "username, dob, registered_date, phone, picture FROM created_users "
                          "LIMIT ?";
    sqlite3_stmt *st = NULL;
    /* The two-level layout first: SQLite also prepares "ORDER BY rowid" on the view, whose
     * rowid is NULL (rows in no particular order). */
    if (sqlite3_prepare_v2(db, sql_delta, -1, &st, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(db, sql_rowid, -1, &st, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(db, sql_any, -1, &st, NULL) != SQLITE_OK) {
        cJSON_AddStringToObject(doc, "error", "no users table yet");
        sqlite3_close(db);
        ui_reply_cjson(req, 200, doc);
        return;
    }
    sqlite3_bind_int(st, 1, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *u = cJSON_CreateObject();
        for (int i = 0; i < 12; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            if (v)
                cJSON_AddStringToObject(u, cols[i], v);
            else
                cJSON_AddNullToObject(u, cols[i]);
        }
        cJSON_AddItemToArray(users, u);
    }
    if (rc != SQLITE_DONE)
        cJSON_AddStringToObject(doc, "error", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    ui_reply_cjson(req, 200, doc);
}
