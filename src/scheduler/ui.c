/* The web UI's routes: pages and static assets from the binary, login/logout with the session
 * cookie, who am I, and the scheduler's own /metrics (runs and task states from the metadata
 * DB, read at scrape time). The live figures are in ui_pipeline.c, Kafka in ui_kafka.c. */
#include "scheduler/ui.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/metrics_http.h"
#include "scheduler/api.h"
#include "scheduler/auth.h"
#include "scheduler/ui_int.h"
#include "scheduler/web_assets.h"

#define MOD "ui"
#define COOKIE "sluice_session"

struct ui *ui_of(void *ctx)
{
    return ctx ? (struct ui *)((struct api_ctx *)ctx)->ui : NULL;
}

void ui_reply_cjson(struct http_req *req, unsigned status, cJSON *doc)
{
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!s) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    http_add_header(req, "Cache-Control", "no-store");
    http_reply_json(req, status, s, strlen(s));
}

static const struct web_asset *asset_find(const char *path)
{
    for (const struct web_asset *a = web_assets; a->path; a++) {
        if (strcmp(a->path, path) == 0)
            return a;
    }
    return NULL;
}

static void reply_asset(struct http_req *req, const char *path, bool page)
{
    const struct web_asset *a = asset_find(path);
    if (!a) {
        http_reply_error(req, 404, "Not Found");
        return;
    }
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    if (page) {
        http_add_header(req, "X-Frame-Options", "DENY");
        http_add_header(req, "Cache-Control", "no-cache");
    } else {
        http_add_header(req, "Cache-Control", "max-age=300");
    }
    http_reply(req, 200, a->content_type, a->data, a->len);
}

/* Pages need a session; without the cookie at all, go to the login page first (a bad or
 * expired cookie is caught by the page's first API call, which answers 401). */
static void page(struct http_req *req, void *ctx, const char *file)
{
    struct ui *ui = ui_of(ctx);
    if (!http_cookie(req, COOKIE) && !(ui && ui->auth_off)) {
        char loc[2048];
        char enc[1536];
        const char *p = http_path(req);
        size_t n = 0;
        for (; *p && n + 4 < sizeof enc; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '/' || c == '-' || c == '_' || c == '.')
                enc[n++] = (char)c;
            else
                n += (size_t)snprintf(enc + n, sizeof enc - n, "%%%02X", c);
        }
        enc[n] = '\0';
        snprintf(loc, sizeof loc, "/ui/login?next=%s", enc);
        http_add_header(req, "Location", loc);
        http_reply(req, 302, "text/plain", "", 0);
        return;
    }
    reply_asset(req, file, true);
}

static void h_root(struct http_req *req, void *ctx)
{
    (void)ctx;
    http_add_header(req, "Location", "/ui/dags");
    http_reply(req, 302, "text/plain", "", 0);
}

static void h_login_page(struct http_req *req, void *ctx)
{
    (void)ctx;
    reply_asset(req, "/login.html", true);
}

static void h_dags(struct http_req *req, void *ctx)
{
    page(req, ctx, "/dags.html");
}

static void h_grid(struct http_req *req, void *ctx)
{
    page(req, ctx, "/grid.html");
}

static void h_log(struct http_req *req, void *ctx)
{
    page(req, ctx, "/log.html");
}

static void h_pipeline_page(struct http_req *req, void *ctx)
{
    page(req, ctx, "/pipeline.html");
}

static void h_topics_page(struct http_req *req, void *ctx)
{
    page(req, ctx, "/topics.html");
}

static void h_static(struct http_req *req, void *ctx)
{
    (void)ctx;
    char path[512];
    const char *rest = http_param(req, "*");
    if (!rest || strstr(rest, "..") ||
        snprintf(path, sizeof path, "/%s", rest) >= (int)sizeof path) {
        http_reply_error(req, 404, "Not Found");
        return;
    }
    reply_asset(req, path, false);
}

static void set_cookie(struct http_req *req, void *ctx, const char *value, long max_age)
{
    struct ui *ui = ui_of(ctx);
    char c[4608];
    snprintf(c, sizeof c, COOKIE "=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s", value,
             max_age, ui && ui->secure_cookie ? "; Secure" : "");
    http_add_header(req, "Set-Cookie", c);
}

/* POST /ui/login {"username", "password"}: the session cookie holds the same JWT that
 * POST /auth/token gives, so the REST API takes it as it takes a bearer token. */
static void h_login(struct http_req *req, void *ctx)
{
    struct api_ctx *actx = ctx;
    size_t len;
    const char *body = http_body(req, &len);
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(doc, "username");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "password");
    if (!cJSON_IsString(u) || !cJSON_IsString(p)) {
        cJSON_Delete(doc);
        http_reply_error(req, 422, "username and password are required");
        return;
    }
    if (!actx || !actx->auth) {
        cJSON_Delete(doc);
        http_reply_error(req, 500, "authentication is not set up");
        return;
    }
    char token[4096];
    struct sl_err err;
    if (auth_login(actx->auth, u->valuestring, p->valuestring, token, sizeof token, &err) != 0) {
        log_info(MOD, "failed login for user '%s' from %s", u->valuestring, http_peer(req));
        cJSON_Delete(doc);
        http_reply_error(req, 401, "Invalid username or password");
        return;
    }
    log_info(MOD, "user '%s' logged in from %s", u->valuestring, http_peer(req));
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "username", u->valuestring);
    cJSON_Delete(doc);
    set_cookie(req, ctx, token, 86400);
    ui_reply_cjson(req, 200, out);
}

static void h_logout(struct http_req *req, void *ctx)
{
    set_cookie(req, ctx, "", 0);
    ui_reply_cjson(req, 200, cJSON_CreateObject());
}

static void h_whoami(struct http_req *req, void *ctx)
{
    (void)ctx;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "username", http_user(req) ? http_user(req) : "");
    ui_reply_cjson(req, 200, out);
}

/* ---- the scheduler's metrics: runs and task instances by state, from the metadata DB ---- */

static const char *const run_states[] = {"queued", "running", "success", "failed"};
static const char *const ti_states[] = {"none",         "scheduled",       "queued",
                                        "running",      "success",         "failed",
                                        "up_for_retry", "upstream_failed", "skipped"};

static void collect_scheduler(struct metrics *m, void *arg)
{
    struct ui *ui = arg;
    if (!ui->db_path[0])
        return;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(ui->db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return;
    }
    sqlite3_busy_timeout(db, 1000);
    struct metric_family *runs =
        metrics_gauge(m, "sluice_scheduler_dag_runs", "DAG runs by DAG and state.", "dag_id,state");
    struct metric_family *tis = metrics_gauge(m, "sluice_scheduler_task_instances",
                                              "Task instances by DAG and state.", "dag_id,state");
    struct metric_family *dags =
        metrics_gauge(m, "sluice_scheduler_dags", "DAGs known, by paused or active.", "state");
    struct metric_family *ie =
        metrics_gauge(m, "sluice_scheduler_import_errors", "DAG files that failed to load.", NULL);
    sqlite3_stmt *st = NULL;
    /* Every DAG gets every state (0 when none), so a state that empties drops to 0. */
    if (sqlite3_prepare_v2(db, "SELECT dag_id FROM dag WHERE is_stale = 0", -1, &st, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 0);
            for (size_t i = 0; i < sizeof run_states / sizeof *run_states; i++)
                metric_set(metric_get(runs, d, run_states[i]), 0);
            for (size_t i = 0; i < sizeof ti_states / sizeof *ti_states; i++)
                metric_set(metric_get(tis, d, ti_states[i]), 0);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT dag_id, state, count(*) FROM dag_run GROUP BY 1, 2", -1, &st,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            metric_set(metric_get(runs, (const char *)sqlite3_column_text(st, 0),
                                  (const char *)sqlite3_column_text(st, 1)),
                       (double)sqlite3_column_int64(st, 2));
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT dag_id, coalesce(state, 'none'), count(*) FROM task_instance "
                           "GROUP BY 1, 2",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            metric_set(metric_get(tis, (const char *)sqlite3_column_text(st, 0),
                                  (const char *)sqlite3_column_text(st, 1)),
                       (double)sqlite3_column_int64(st, 2));
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT sum(is_paused), sum(1 - is_paused) FROM dag WHERE is_stale = 0",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        metric_set(metric_get(dags, "paused"), (double)sqlite3_column_int64(st, 0));
        metric_set(metric_get(dags, "active"), (double)sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM import_error", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        metric_set(metric_get(ie), (double)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- life cycle ---- */

static int parse_targets(struct ui *ui, const char *s, struct sl_err *err)
{
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char item[300];
        if (n == 0 || n >= sizeof item)
            return sl_err_set(err, "metrics targets: bad entry in '%s'", s);
        memcpy(item, s, n);
        item[n] = '\0';
        char *eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1] || eq - item >= 32)
            return sl_err_set(err, "metrics targets: '%s' is not NAME=HOST:PORT", item);
        if (ui->ntargets == UI_MAX_TARGETS)
            return sl_err_set(err, "metrics targets: at most %d", UI_MAX_TARGETS);
        *eq = '\0';
        struct ui_target *t = &ui->targets[ui->ntargets++];
        snprintf(t->name, sizeof t->name, "%.31s", item);
        snprintf(t->url, sizeof t->url, "http://%s/metrics", eq + 1);
        s = e ? e + 1 : NULL;
    }
    return 0;
}

int ui_create(const struct ui_opts *o, struct ui **out, struct sl_err *err)
{
    struct ui *ui = calloc(1, sizeof *ui);
    if (!ui)
        return sl_err_set(err, "out of memory");
    const char *dd = o->data_dir ? o->data_dir : "./sluice-data";
    const char *topic = o->topic ? o->topic : "users_created";
    snprintf(ui->data_dir, sizeof ui->data_dir, "%s", dd);
    snprintf(ui->db_path, sizeof ui->db_path, "%s", o->db_path ? o->db_path : "");
    snprintf(ui->bootstrap, sizeof ui->bootstrap, "%s",
             o->bootstrap ? o->bootstrap : "127.0.0.1:9092");
    snprintf(ui->topic, sizeof ui->topic, "%s", topic);
    if (o->dlq_topic)
        snprintf(ui->dlq_topic, sizeof ui->dlq_topic, "%s", o->dlq_topic);
    else
        snprintf(ui->dlq_topic, sizeof ui->dlq_topic, "%.250s.dlq", topic);
    if (o->store_db)
        snprintf(ui->store_db, sizeof ui->store_db, "%s", o->store_db);
    else
        snprintf(ui->store_db, sizeof ui->store_db, "%s/store/spark_streams.db", dd);
    ui->secure_cookie = o->secure_cookie;
    ui->auth_off = o->auth_off;
    pthread_mutex_init(&ui->mu, NULL);
    pthread_mutex_init(&ui->stop_mu, NULL);
    pthread_cond_init(&ui->stop_cv, NULL);
    pthread_mutex_init(&ui->rk_mu, NULL);
    ui->rows_now = -1;
    if (parse_targets(ui, o->targets, err) != 0 || ui_sampler_start(ui, err) != 0) {
        ui_destroy(ui);
        return -1;
    }
    metrics_add_collector(metrics_global(), collect_scheduler, ui);
    *out = ui;
    return 0;
}

void ui_destroy(struct ui *ui)
{
    if (!ui)
        return;
    metrics_remove_collector(metrics_global(), collect_scheduler, ui);
    ui_sampler_stop(ui);
    ui_kafka_close(ui);
    pthread_mutex_destroy(&ui->mu);
    pthread_mutex_destroy(&ui->stop_mu);
    pthread_cond_destroy(&ui->stop_cv);
    pthread_mutex_destroy(&ui->rk_mu);
    free(ui);
}

static const struct http_route routes[] = {
    {"GET", "/", h_root, HTTP_PUBLIC},
    {"GET", "/ui", h_root, HTTP_PUBLIC},
    {"GET", "/ui/", h_root, HTTP_PUBLIC},
    {"GET", "/ui/login", h_login_page, HTTP_PUBLIC},
    {"POST", "/ui/login", h_login, HTTP_PUBLIC},
    {"POST", "/ui/logout", h_logout, HTTP_PUBLIC},
    {"GET", "/ui/dags", h_dags, HTTP_PUBLIC},
    {"GET", "/ui/dags/{dag_id}", h_grid, HTTP_PUBLIC},
    {"GET", "/ui/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/log", h_log, HTTP_PUBLIC},
    {"GET", "/ui/pipeline", h_pipeline_page, HTTP_PUBLIC},
    {"GET", "/ui/topics", h_topics_page, HTTP_PUBLIC},
    {"GET", "/ui/static/*", h_static, HTTP_PUBLIC},
    {"GET", "/ui/api/whoami", h_whoami, 0},
    {"GET", "/ui/api/pipeline", ui_h_pipeline, 0},
    {"GET", "/ui/api/users", ui_h_users, 0},
    {"GET", "/ui/api/deadletters", ui_h_deadletters, 0},
    {"GET", "/ui/api/topics", ui_h_topics, 0},
    {"GET", "/ui/api/topics/{topic}/messages", ui_h_messages, 0},
    {"GET", "/metrics", metrics_http_handler, HTTP_PUBLIC},
    {NULL, NULL, NULL, 0},
};

const struct http_route *ui_routes(void)
{
    return routes;
}

size_t ui_routes_count(void)
{
    return sizeof routes / sizeof routes[0] - 1;
}
