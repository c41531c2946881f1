/* scheduler/ui through HTTP, with the REST API beside it as the scheduler serves them: pages
 * and assets from the binary, the login cookie (accepted by /api/v2 too), logout, the latest
 * users from a store made here, the pipeline sampler reading a /metrics server started here,
 * and the scheduler's /metrics from the metadata DB. No Kafka (the browser test has it). */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "core/http.h"
#include "core/metrics.h"
#include "core/metrics_http.h"
#include "core/units.h"
#include "scheduler/api.h"
#include "scheduler/auth.h"
#include "scheduler/meta.h"
#include "scheduler/ui.h"

__attribute__((weak)) void scheduler_wake(void) {}

static int port;

struct resp {
    long status;
    char *body;
    cJSON *json;
    char ctype[128];
    char location[512];
    char cookie[4400];
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    buf_append(arg, p, sz * n);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;
    char line[4600];
    if (len >= sizeof line)
        return len;
    memcpy(line, p, len);
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Location: ", 10) == 0)
        snprintf(r->location, sizeof r->location, "%.500s", line + 10);
    if (strncasecmp(line, "Set-Cookie: ", 12) == 0)
        snprintf(r->cookie, sizeof r->cookie, "%.4390s", line + 12);
    return len;
}

static struct resp call(const char *method, const char *path, const char *body, const char *cookie)
{
    struct resp r = {0};
    struct buf b;
    buf_init(&b, 1 << 24);
    char url[2048];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    char ck[4500];
    if (cookie) {
        snprintf(ck, sizeof ck, "Cookie: %s", cookie);
        h = curl_slist_append(h, ck);
    }
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.ctype, sizeof(r.ctype), "%s", ct ? ct : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_append(&b, "", 1);
    r.body = (char *)buf_detach(&b, NULL);
    r.json = cJSON_Parse(r.body);
    return r;
}

static void done(struct resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sql: %s\n", msg);
        CHECK(0);
    }
    sqlite3_free(msg);
}

static void fill_meta(const char *path)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    exec_sql(db, META_SCHEMA);
    exec_sql(db, "INSERT INTO dag (dag_id, is_paused, fileloc, version_id, version_created_at,"
                 " definition) VALUES ('user_automation', 0, 'x.yaml', 'v', '2026-01-01', '{}'),"
                 " ('other', 1, 'y.yaml', 'v', '2026-01-01', '{}');"
                 "INSERT INTO dag_run (dag_id, run_id, run_type, state, run_after) VALUES"
                 " ('user_automation', 'r1', 'manual', 'success', '2026-01-02'),"
                 " ('user_automation', 'r2', 'manual', 'success', '2026-01-03'),"
                 " ('user_automation', 'r3', 'manual', 'running', '2026-01-04');"
                 "INSERT INTO task_instance (id, dag_id, run_id, task_id, state) VALUES"
                 " ('a', 'user_automation', 'r1', 't', 'success'),"
                 " ('b', 'user_automation', 'r3', 't', 'running');"
                 "INSERT INTO import_error (filename, timestamp, stack_trace) VALUES"
                 " ('bad.yaml', '2026-01-01', 'bad.yaml:3: oops');");
    sqlite3_close(db);
}

static void fill_store(const char *path, int n)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    exec_sql(db, "CREATE TABLE IF NOT EXISTS created_users(id TEXT PRIMARY KEY NOT NULL,"
                 " first_name TEXT, last_name TEXT, gender TEXT, address TEXT, post_code TEXT,"
                 " email TEXT, username TEXT, dob TEXT, registered_date TEXT, phone TEXT,"
                 " picture TEXT)");
    for (int i = 0; i < n; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO created_users VALUES ('id-%d', 'First%d', 'Last', 'female', 'a',"
                 " '1', 'u%d@example.com', 'user%d', 'd', 'r', 'p', 'pic')",
                 i, i, i, i);
        exec_sql(db, sql);
    }
    sqlite3_close(db);
}

static void test_pages(void)
{
    struct resp r = call("GET", "/", NULL, NULL);
    CHECK_EQ_INT(r.status, 302);
    CHECK_EQ_STR(r.location, "/ui/dags");
    done(&r);
    /* The address the scheduler prints, http://HOST:PORT/ui/, leads to the UI (it was a 404). */
    r = call("GET", "/ui/", NULL, NULL);
    CHECK_EQ_INT(r.status, 302);
    CHECK_EQ_STR(r.location, "/ui/dags");
    done(&r);
    r = call("GET", "/ui/dags", NULL, NULL);
    CHECK_EQ_INT(r.status, 302);
    CHECK_EQ_STR(r.location, "/ui/login?next=/ui/dags");
    done(&r);
    r = call("GET", "/ui/dags/user%20x/runs/r1/tasks/t/log", NULL, NULL);
    CHECK_EQ_INT(r.status, 302);
    CHECK(strstr(r.location, "next=/ui/dags/user%20x/runs/r1/tasks/t/log") != NULL);
    done(&r);
    r = call("GET", "/ui/login", NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strncmp(r.ctype, "text/html", 9) == 0);
    CHECK(strstr(r.body, "Log in to sluice") != NULL);
    done(&r);
    r = call("GET", "/ui/static/app.js", NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strncmp(r.ctype, "text/javascript", 15) == 0);
    CHECK(strstr(r.body, "const sluice") != NULL);
    done(&r);
    r = call("GET", "/ui/static/style.css", NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(r.body, ".s-success { background: #007600; }") != NULL);
    done(&r);
    r = call("GET", "/ui/static/nope.js", NULL, NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);
    r = call("GET", "/ui/static/%2e%2e/x", NULL, NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);
    /* With a cookie (even a stale one) the page itself comes back. */
    r = call("GET", "/ui/pipeline", NULL, "sluice_session=x");
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(r.body, "c-rates") != NULL);
    done(&r);
}

/* Logs in; returns "sluice_session=TOKEN" in out. */
static void test_login(char *out, size_t cap)
{
    struct resp r =
        call("POST", "/ui/login", "{\"username\":\"admin\",\"password\":\"nope\"}", NULL);
    CHECK_EQ_INT(r.status, 401);
    CHECK(r.cookie[0] == '\0');
    done(&r);
    r = call("POST", "/ui/login", "{\"username\":\"admin\"}", NULL);
    CHECK_EQ_INT(r.status, 422);
    done(&r);
    r = call("POST", "/ui/login", "not json", NULL);
    CHECK_EQ_INT(r.status, 422);
    done(&r);
    r = call("GET", "/ui/api/whoami", NULL, NULL);
    CHECK_EQ_INT(r.status, 401);
    done(&r);

    r = call("POST", "/ui/login", "{\"username\":\"admin\",\"password\":\"s3cr!t\"}", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strncmp(r.cookie, "sluice_session=", 15) == 0);
    CHECK(strstr(r.cookie, "HttpOnly") != NULL);
    CHECK(strstr(r.cookie, "SameSite=Strict") != NULL);
    size_t n = strcspn(r.cookie, ";");
    snprintf(out, cap, "%.*s", (int)n, r.cookie);
    done(&r);

    r = call("GET", "/ui/api/whoami", NULL, out);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.json && strcmp(cJSON_GetObjectItem(r.json, "username")->valuestring, "admin") == 0);
    done(&r);
    /* The REST API takes the same cookie. */
    r = call("GET", "/api/v2/dags", NULL, out);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.json && cJSON_GetObjectItem(r.json, "total_entries")->valueint == 2);
    done(&r);

    r = call("POST", "/ui/logout", NULL, out);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(r.cookie, "sluice_session=;") != NULL && strstr(r.cookie, "Max-Age=0") != NULL);
    done(&r);
}

static void test_users(const char *cookie)
{
    struct resp r = call("GET", "/ui/api/users?limit=3", NULL, cookie);
    CHECK_EQ_INT(r.status, 200);
    cJSON *u = r.json ? cJSON_GetObjectItem(r.json, "users") : NULL;
    CHECK_EQ_INT(cJSON_GetArraySize(u), 3);
    /* newest first */
    CHECK(u && strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(u, 0), "first_name")->valuestring,
                      "First24") == 0);
    CHECK(u && strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(u, 2), "email")->valuestring,
                      "u22@example.com") == 0);
    done(&r);
}

static void check_first_names(cJSON *users, const char *const *want, int n)
{
    CHECK_EQ_INT(cJSON_GetArraySize(users), n);
    for (int i = 0; i < n && users; i++) {
        cJSON *f = cJSON_GetObjectItem(cJSON_GetArrayItem(users, i), "first_name");
        CHECK(f && cJSON_IsString(f) && strcmp(f->valuestring, want[i]) == 0);
        if (!(f && cJSON_IsString(f) && strcmp(f->valuestring, want[i]) == 0))
            fprintf(stderr, "  users[%d]: want %s, got %s\n", i, want[i],
                    f && cJSON_IsString(f) ? f->valuestring : "(none)");
    }
}

/* Run 7 of test_users_runs' layout, now being built by copy: its rows (arrival order) are in
 * created_users_p7, the ids below sluice_build.lo are copied into created_users_r7 in id order
 * (and updated there since). The latest users take _p7's arrival order and each row as stored
 * now; run 7's rowids (id order) would put them in another order. */
static void test_users_build(const char *path, const char *cookie)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    /* run 7's four rows get the ids id-c, id-a, id-d, id-b in arrival (rowid) order, so that
     * id order differs from it */
    exec_sql(db, "DROP VIEW created_users;"
                 "ALTER TABLE created_users_r7 RENAME TO created_users_p7;"
                 "UPDATE created_users_p7 SET id = 'id-' || substr('cadb', rowid, 1);"
                 "CREATE TABLE created_users_r7 AS SELECT * FROM created_users_p7 WHERE 0;"
                 "CREATE TABLE sluice_build(tbl TEXT PRIMARY KEY NOT NULL, run INTEGER NOT NULL,"
                 " lo TEXT) WITHOUT ROWID;"
                 "INSERT INTO sluice_build VALUES ('created_users', 7, 'id-c');"
                 /* a and b copied, in id order, then a updated */
                 "INSERT INTO created_users_r7 SELECT * FROM created_users_p7 WHERE id < 'id-c'"
                 " ORDER BY id;"
                 "UPDATE created_users_r7 SET first_name = 'R-a' WHERE id = 'id-a';"
                 "CREATE VIEW created_users AS SELECT * FROM created_users_main UNION ALL"
                 " SELECT * FROM created_users_r3 UNION ALL SELECT * FROM created_users_r7"
                 " UNION ALL SELECT * FROM created_users_p7 WHERE id >= (SELECT lo FROM"
                 " sluice_build) UNION ALL SELECT * FROM created_users_delta");
    /* _p7 rows 1-4: T2-0 (c), T2-1 (a), T2-2 (d), T2-3 (b); newest first: b (copied), d, a
     * (copied, updated), c, then run 3's newest */
    struct resp r = call("GET", "/ui/api/users?limit=6", NULL, cookie);
    CHECK_EQ_INT(r.status, 200);
    static const char *const want[] = {"T3-0", "T2-3", "T2-2", "R-a", "T2-0", "T1-3"};
    check_first_names(r.json ? cJSON_GetObjectItem(r.json, "users") : NULL, want, 6);
    done(&r);
    /* every id copied (lo NULL while the old table is deleted): all from the run */
    exec_sql(db, "INSERT INTO created_users_r7 SELECT * FROM created_users_p7 WHERE id >= 'id-c';"
                 "UPDATE created_users_r7 SET first_name = 'R-' || substr(id, 4)"
                 " WHERE id >= 'id-c';"
                 "UPDATE sluice_build SET lo = NULL");
    r = call("GET", "/ui/api/users?limit=4", NULL, cookie);
    CHECK_EQ_INT(r.status, 200);
    static const char *const want_all[] = {"T3-0", "T2-3", "R-d", "R-a"};
    check_first_names(r.json ? cJSON_GetObjectItem(r.json, "users") : NULL, want_all, 4);
    done(&r);
    sqlite3_close(db);
}

/* The store's two-level layout: created_users a view over _main, the runs _r<n> and _delta;
 * the latest users are the delta's newest, then the newest run's, then the main table's. */
static void test_users_runs(const char *path, const char *cookie)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    static const char *const tables[] = {"created_users_main", "created_users_r3",
                                         "created_users_r7", "created_users_delta"};
    exec_sql(db, "ALTER TABLE created_users RENAME TO created_users_old;"
                 "CREATE TABLE sluice_runs(tbl TEXT NOT NULL, run INTEGER NOT NULL,"
                 " PRIMARY KEY(tbl, run)) WITHOUT ROWID;"
                 "INSERT INTO sluice_runs VALUES ('created_users', 3), ('created_users', 7)");
    for (int t = 0; t < 4; t++) {
        char sql[512];
        snprintf(sql, sizeof sql, "CREATE TABLE %s AS SELECT * FROM created_users_old WHERE 0",
                 tables[t]);
        exec_sql(db, sql);
        for (int i = 0; i < (t == 3 ? 1 : 4); i++) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO %s VALUES ('%s-%d', 'T%d-%d', 'Last', 'female', 'a', '1', 'e',"
                     " 'u', 'd', 'r', 'p', 'pic')",
                     tables[t], tables[t], i, t, i);
            exec_sql(db, sql);
        }
    }
    exec_sql(db, "CREATE VIEW created_users AS SELECT * FROM created_users_main UNION ALL"
                 " SELECT * FROM created_users_r3 UNION ALL SELECT * FROM created_users_r7"
                 " UNION ALL SELECT * FROM created_users_delta");
    sqlite3_close(db);
    struct resp r = call("GET", "/ui/api/users?limit=3", NULL, cookie);
    CHECK_EQ_INT(r.status, 200);
    cJSON *u = r.json ? cJSON_GetObjectItem(r.json, "users") : NULL;
    CHECK_EQ_INT(cJSON_GetArraySize(u), 3);
    static const char *const want[] = {"T3-0", "T2-3", "T2-2"}; /* delta, then run 7 */
    check_first_names(u, want, 3);
    done(&r);
    test_users_build(path, cookie);
}

/* Waits (bounded) for a point with stored > 0 and rows == 25 from the sampler. */
static void test_pipeline(const char *cookie, struct metric *stored)
{
    bool seen_rate = false, seen_rows = false, seen_lag = false, seen_up = false;
    int64_t deadline = mono_ms() + 20000;
    while (mono_ms() < deadline && !(seen_rate && seen_rows && seen_lag && seen_up)) {
        metric_add(stored, 500);
        usleep(300 * 1000);
        struct resp r = call("GET", "/ui/api/pipeline?since=0", NULL, cookie);
        CHECK_EQ_INT(r.status, 200);
        cJSON *pts = r.json ? cJSON_GetObjectItem(r.json, "points") : NULL;
        cJSON *p;
        cJSON_ArrayForEach(p, pts)
        {
            if (cJSON_GetObjectItem(p, "stored")->valuedouble > 0)
                seen_rate = true;
            cJSON *rows = cJSON_GetObjectItem(p, "rows");
            if (cJSON_IsNumber(rows) && rows->valueint == 25)
                seen_rows = true;
            cJSON *lag = cJSON_GetObjectItem(p, "lag");
            if (cJSON_GetObjectItem(lag, "2") && cJSON_GetObjectItem(lag, "2")->valueint == 7)
                seen_lag = true;
        }
        cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "targets"), 0);
        if (t && cJSON_IsTrue(cJSON_GetObjectItem(t, "up")))
            seen_up = true;
        done(&r);
    }
    CHECK(seen_rate);
    CHECK(seen_rows);
    CHECK(seen_lag);
    CHECK(seen_up);
    struct resp r = call("GET", "/ui/api/pipeline?since=99999999999999", NULL, cookie);
    CHECK(r.json && cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "points")) == 0);
    done(&r);
}

static void test_scheduler_metrics(void)
{
    struct resp r = call("GET", "/metrics", NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(r.body,
                 "sluice_scheduler_dag_runs{dag_id=\"user_automation\",state=\"success\"} 2\n"));
    CHECK(strstr(r.body,
                 "sluice_scheduler_dag_runs{dag_id=\"user_automation\",state=\"failed\"} 0\n"));
    CHECK(strstr(r.body, "sluice_scheduler_task_instances{dag_id=\"user_automation\","
                         "state=\"running\"} 1\n"));
    CHECK(strstr(r.body, "sluice_scheduler_dags{state=\"paused\"} 1\n"));
    CHECK(strstr(r.body, "sluice_scheduler_import_errors 1\n"));
    done(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    char dir[256], db_path[300], logs[300], store[300];
    snprintf(dir, sizeof(dir), "/tmp/test_ui_%d", (int)getpid());
    snprintf(db_path, sizeof(db_path), "%s/scheduler/scheduler.db", dir);
    snprintf(logs, sizeof(logs), "%s/scheduler/logs", dir);
    snprintf(store, sizeof(store), "%s/store", dir);
    struct sl_err err;
    fs_remove_tree(dir, &err);
    CHECK(fs_mkdirs(logs, &err) == 0);
    CHECK(fs_mkdirs(store, &err) == 0);
    fill_meta(db_path);
    strcat(store, "/spark_streams.db");
    fill_store(store, 25);

    /* A stand-in for the stream job's /metrics. */
    struct metric *stored = metric_get(metrics_counter(
        metrics_global(), "sluice_process_records_stored_total", "Rows committed.", NULL));
    metric_set(metric_get(metrics_gauge(metrics_global(), "sluice_process_consumer_lag_records",
                                        "Lag.", "topic,partition"),
                          "users_created", "2"),
               7);
    struct http_server *msrv = NULL;
    CHECK(metrics_server_start("process", "127.0.0.1:0", &msrv, &err) == 0);
    char targets[128];
    snprintf(targets, sizeof targets, "process=127.0.0.1:%d", http_server_port(msrv));

    setenv("SLUICE_SCHEDULER_ADMIN_PASSWORD", "s3cr!t", 1);
    struct auth_opts ao = {.data_dir = dir, .enabled = true};
    struct auth *a = NULL;
    CHECK(auth_open(&ao, &a, &err) == 0);
    struct ui_opts uo = {.data_dir = dir,
                         .db_path = db_path,
                         .bootstrap = "127.0.0.1:1", /* nothing there: no Kafka figures */
                         .targets = targets};
    struct ui *ui = NULL;
    CHECK(ui_create(&uo, &ui, &err) == 0);
    struct ui_opts bad = {.targets = "noequals"};
    struct ui *ui2 = NULL;
    CHECK(ui_create(&bad, &ui2, &err) == -1 && strstr(err.msg, "NAME=HOST:PORT"));

    /* api routes then ui routes, as the scheduler serves them */
    size_t na = api_routes_count(), nu = ui_routes_count();
    struct http_route *routes = calloc(na + nu + 1, sizeof *routes);
    memcpy(routes, api_routes(), na * sizeof *routes);
    memcpy(routes + na, ui_routes(), nu * sizeof *routes);
    struct api_ctx ctx = {
        .db_path = db_path, .logs_dir = logs, .dags_folder = "/dags", .auth = a, .ui = ui};
    struct http_config hc = {
        .name = "scheduler", .listen = "127.0.0.1:0", .auth = auth_http_hook, .auth_ctx = a};
    struct http_server *srv = NULL;
    CHECK(http_server_start(&hc, routes, &ctx, &srv, &err) == 0);
    port = http_server_port(srv);

    char cookie[4400] = "";
    test_pages();
    test_login(cookie, sizeof cookie);
    test_users(cookie);
    test_pipeline(cookie, stored);
    test_scheduler_metrics();
    test_users_runs(store, cookie);

    http_server_stop(srv);
    ui_destroy(ui);
    http_server_stop(msrv);
    auth_close(a);
    free(routes);
    fs_remove_tree(dir, &err);
    curl_global_cleanup();
    return check_summary();
}
