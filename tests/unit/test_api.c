/* scheduler/api over a metadata DB filled here (no scheduling loop): token, health, DAG list
 * filters and pagination, pause, trigger (ids, 409, strict bodies -> 422), run marking, task
 * instances, logs by try (JSON, continuation token, text/plain), import errors, and the
 * /api/v1 shapes (Airflow 2: is_active, schedule_interval, execution_date, RFC 7807). */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "scheduler/api.h"
#include "scheduler/auth.h"
#include "scheduler/meta.h"

static int wakes;
/* The engine defines the real one; weak so that it wins when linked. */
__attribute__((weak)) void scheduler_wake(void)
{
    wakes++;
}

static int port;
static char bearer[4200];

struct resp {
    long status;
    char *body;
    cJSON *json;
    char ctype[128];
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    buf_append(arg, p, sz * n);
    return sz * n;
}

static struct resp call(const char *method, const char *path, const char *body, const char *h1,
                        const char *h2)
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
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (h1)
        h = curl_slist_append(h, h1);
    if (h2)
        h = curl_slist_append(h, h2);
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

static struct resp api(const char *method, const char *path, const char *body)
{
    return call(method, path, body, bearer, NULL);
}

static void done(struct resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

static bool has(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k) != NULL;
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

static void fill(sqlite3 *db)
{
    exec_sql(db, META_SCHEMA);
    exec_sql(db,
             "INSERT INTO dag (dag_id, is_paused, fileloc, owners, tags, schedule,"
             " timetable_summary, timetable_description, version, version_id,"
             " version_created_at, definition, last_parsed_time) VALUES"
             " ('user_automation', 1, '/dags/user_automation.yaml', '[\"airscholar\"]',"
             "  '[\"dagfactory\",\"ingest\"]', '@daily', '0 0 * * *', 'At 00:00', 2,"
             "  'a3c1f6de-1111-4a2b-9c3d-000000000002', '2026-01-01T00:00:00.000000Z', '{}',"
             "  '2026-01-01T00:00:00.000000Z'),"
             " ('bash_demo', 0, '/dags/demo.yaml', '[]', '[\"demo\"]', NULL, NULL,"
             "  'Never, external triggers only', 1, 'b3c1f6de-1111-4a2b-9c3d-000000000001',"
             "  '2026-01-01T00:00:00.000000Z', '{}', NULL),"
             " ('old_dag', 1, '/dags/old.yaml', '[]', '[]', NULL, NULL, NULL, 1,"
             "  'c3c1f6de-1111-4a2b-9c3d-000000000001', '2026-01-01T00:00:00.000000Z', '{}',"
             "  NULL);"
             "UPDATE dag SET is_stale=1 WHERE dag_id='old_dag';"
             "UPDATE dag SET definition='{\"start_date\":1704067200,\"tasks\":["
             "{\"task_id\":\"hello\",\"operator\":\"BashOperator\",\"dependencies\":[],"
             "\"retries\":1,\"retry_delay_s\":90000,\"execution_timeout_s\":null},"
             "{\"task_id\":\"after\",\"operator\":\"sluice.ingest\","
             "\"dependencies\":[\"hello\"],\"execution_timeout_s\":60}]}'"
             " WHERE dag_id='bash_demo';"
             "INSERT INTO dag_run (dag_id, run_id, run_type, triggered_by, state, logical_date,"
             " data_interval_start, data_interval_end, run_after, queued_at, start_date, end_date,"
             " conf, dag_version) VALUES ('bash_demo', 'r0', 'manual', 'rest_api', 'success',"
             " NULL, NULL, NULL, '2026-01-02T00:00:00.000000Z', '2026-01-02T00:00:00.000000Z',"
             " '2026-01-02T00:00:01.000000Z', '2026-01-02T00:00:03.500000Z', '{\"a\":1}', 1);"
             "INSERT INTO task_instance (id, dag_id, run_id, task_id, state, try_number,"
             " max_tries, operator, start_date, end_date, duration, pid, hostname) VALUES"
             " ('0190a000-0000-7000-8000-000000000001', 'bash_demo', 'r0', 'hello', 'success',"
             "  2, 1, 'BashOperator', '2026-01-02T00:00:01.000000Z',"
             "  '2026-01-02T00:00:03.000000Z', 2.0, 42, 'host1'),"
             " ('0190a000-0000-7000-8000-000000000002', 'bash_demo', 'r0', 'after', NULL, 0, 0,"
             "  'BashOperator', NULL, NULL, NULL, NULL, NULL);"
             "INSERT INTO import_error (filename, timestamp, stack_trace) VALUES"
             " ('/dags/broken.yaml', '2026-01-01T00:00:00.000000Z',"
             "  '/dags/broken.yaml:3: tasks must be a list or a mapping');"
             "INSERT INTO scheduler_state VALUES ('heartbeat', '2000-01-01T00:00:00.000000Z');");
}

static void test_public_and_token(void)
{
    struct resp r = call("GET", "/api/v2/monitor/health", NULL, NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    cJSON *m = cJSON_GetObjectItem(r.json, "metadatabase");
    CHECK_EQ_STR(str(m, "status"), "healthy");
    CHECK_EQ_STR(str(cJSON_GetObjectItem(r.json, "scheduler"), "status"), "unhealthy"); /* old */
    CHECK(has(r.json, "triggerer"));
    done(&r);
    r = call("GET", "/api/v1/health", NULL, NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    done(&r);
    r = call("GET", "/api/v2/version", NULL, NULL, NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(str(r.json, "version") != NULL);
    done(&r);

    r = call("GET", "/api/v2/dags", NULL, NULL, NULL);
    CHECK_EQ_INT(r.status, 401);
    CHECK_EQ_STR(str(r.json, "detail"), "Not authenticated");
    done(&r);
    r = call("GET", "/api/v1/dags", NULL, NULL, NULL);
    CHECK_EQ_INT(r.status, 401);
    CHECK_EQ_INT(num(r.json, "status"), 401);
    done(&r);

    r = call("POST", "/auth/token", "{\"username\":\"admin\",\"password\":\"nope\"}", NULL, NULL);
    CHECK_EQ_INT(r.status, 401);
    CHECK_EQ_STR(str(r.json, "detail"), "Invalid credentials");
    done(&r);
    r = call("POST", "/auth/token", "{\"username\":\"admin\"}", NULL, NULL);
    CHECK_EQ_INT(r.status, 400);
    done(&r);
    r = call("POST", "/auth/token", NULL, NULL, NULL);
    CHECK_EQ_INT(r.status, 400);
    done(&r);
    /* form-encoded, as curl -d sends it */
    r = call("POST", "/auth/token", "username=admin&password=s3cr%21t",
             "Content-Type: application/x-www-form-urlencoded", NULL);
    CHECK_EQ_INT(r.status, 201);
    CHECK(str(r.json, "access_token") != NULL);
    done(&r);
    r = call("POST", "/auth/token", "{\"username\":\"admin\",\"password\":\"s3cr!t\"}", NULL, NULL);
    CHECK_EQ_INT(r.status, 201);
    snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", str(r.json, "access_token"));
    done(&r);
}

static void test_dags(void)
{
    struct resp r = api("GET", "/api/v2/dags", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(num(r.json, "total_entries"), 2); /* the stale one is hidden */
    cJSON *dags = cJSON_GetObjectItem(r.json, "dags");
    CHECK_EQ_INT(cJSON_GetArraySize(dags), 2);
    cJSON *d = cJSON_GetArrayItem(dags, 1);
    CHECK_EQ_STR(str(d, "dag_id"), "user_automation");
    static const char *const req[] = {"dag_display_name",
                                      "is_paused",
                                      "is_stale",
                                      "fileloc",
                                      "file_token",
                                      "owners",
                                      "tags",
                                      "has_import_errors",
                                      "has_task_concurrency_limits",
                                      "max_active_tasks",
                                      "max_consecutive_failed_dag_runs",
                                      "is_backfillable",
                                      "timetable_partitioned",
                                      "timetable_periodic",
                                      NULL};
    for (const char *const *k = req; *k; k++) {
        if (!has(d, *k))
            fprintf(stderr, "missing %s\n", *k);
        CHECK(has(d, *k));
    }
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(d, "is_paused")));
    CHECK_EQ_STR(str(d, "timetable_summary"), "0 0 * * *");
    cJSON *tag = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "tags"), 1);
    CHECK_EQ_STR(str(tag, "name"), "ingest");
    CHECK_EQ_STR(str(tag, "dag_id"), "user_automation");
    CHECK_EQ_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "owners"), 0)->valuestring,
                 "airscholar");
    done(&r);

    r = api("GET", "/api/v2/dags?limit=1&offset=1&order_by=-dag_id", NULL);
    CHECK_EQ_INT(num(r.json, "total_entries"), 2);
    CHECK_EQ_STR(str(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "dags"), 0), "dag_id"),
                 "bash_demo");
    done(&r);
    r = api("GET", "/api/v2/dags?paused=false", NULL);
    CHECK_EQ_INT(num(r.json, "total_entries"), 1);
    done(&r);
    r = api("GET", "/api/v2/dags?tags=demo&tags=nothing", NULL);
    CHECK_EQ_INT(num(r.json, "total_entries"), 1);
    done(&r);
    r = api("GET", "/api/v2/dags?dag_id_pattern=USER", NULL);
    CHECK_EQ_INT(num(r.json, "total_entries"), 1);
    done(&r);
    r = api("GET", "/api/v2/dags?dag_id_pattern=%25", NULL); /* '%' is literal */
    CHECK_EQ_INT(num(r.json, "total_entries"), 0);
    done(&r);
    r = api("GET", "/api/v2/dags?exclude_stale=false", NULL);
    CHECK_EQ_INT(num(r.json, "total_entries"), 3);
    done(&r);
    r = api("GET", "/api/v2/dags?limit=x", NULL);
    CHECK_EQ_INT(r.status, 422);
    CHECK_EQ_STR(str(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "detail"), 0), "type"),
                 "int_parsing");
    done(&r);
    r = api("GET", "/api/v2/dags?order_by=secret", NULL);
    CHECK_EQ_INT(r.status, 400);
    done(&r);

    r = api("GET", "/api/v2/dags/nope", NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);
    int w = wakes;
    r = api("PATCH", "/api/v2/dags/user_automation?update_mask=is_paused", "{\"is_paused\":false}");
    CHECK_EQ_INT(r.status, 200);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "is_paused")));
    CHECK_EQ_INT(wakes, w + 1);
    done(&r);
    r = api("PATCH", "/api/v2/dags/user_automation", "{\"is_paused\":false,\"x\":1}");
    CHECK_EQ_INT(r.status, 422);
    CHECK_EQ_STR(str(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "detail"), 0), "type"),
                 "extra_forbidden");
    done(&r);
    r = api("PATCH", "/api/v2/dags/user_automation?update_mask=owners", "{\"is_paused\":true}");
    CHECK_EQ_INT(r.status, 400);
    done(&r);

    /* v1: Airflow 2's DAG */
    r = api("GET", "/api/v1/dags/user_automation", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "is_active")));
    CHECK(!has(r.json, "is_stale"));
    cJSON *si = cJSON_GetObjectItem(r.json, "schedule_interval");
    CHECK_EQ_STR(str(si, "__type"), "CronExpression");
    CHECK_EQ_STR(str(si, "value"), "0 0 * * *");
    done(&r);
    r = api("GET", "/api/v1/dags/nope", NULL);
    CHECK_EQ_INT(r.status, 404);
    CHECK_EQ_STR(str(r.json, "title"), "Not Found");
    CHECK(strstr(r.ctype, "problem+json") != NULL);
    done(&r);
}

static void test_runs(void)
{
    int w = wakes;
    struct resp r = api("POST", "/api/v2/dags/bash_demo/dagRuns",
                        "{\"dag_run_id\":\"r1\",\"logical_date\":null,\"conf\":{\"n\":5},"
                        "\"note\":\"hi\"}");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(str(r.json, "dag_run_id"), "r1");
    CHECK_EQ_STR(str(r.json, "state"), "queued");
    CHECK_EQ_STR(str(r.json, "run_type"), "manual");
    CHECK_EQ_STR(str(r.json, "triggered_by"), "rest_api");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(r.json, "logical_date")));
    CHECK(str(r.json, "run_after") != NULL);
    CHECK_EQ_INT(num(cJSON_GetObjectItem(r.json, "conf"), "n"), 5);
    cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "dag_versions"), 0);
    CHECK_EQ_STR(str(v, "id"), "b3c1f6de-1111-4a2b-9c3d-000000000001");
    CHECK_EQ_INT(num(v, "version_number"), 1);
    CHECK_EQ_INT(wakes, w + 1);
    done(&r);

    r = api("POST", "/api/v2/dags/bash_demo/dagRuns",
            "{\"dag_run_id\":\"r1\",\"logical_date\":null}");
    CHECK_EQ_INT(r.status, 409);
    done(&r);
    r = api("POST", "/api/v2/dags/bash_demo/dagRuns", "{\"dag_run_id\":\"r2\"}");
    CHECK_EQ_INT(r.status, 422); /* logical_date: key required */
    CHECK_EQ_STR(str(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "detail"), 0), "type"),
                 "missing");
    done(&r);
    r = api("POST", "/api/v2/dags/bash_demo/dagRuns",
            "{\"logical_date\":null,\"execution_date\":\"2026-01-01T00:00:00Z\"}");
    CHECK_EQ_INT(r.status, 422);
    done(&r);
    r = api("POST", "/api/v2/dags/bash_demo/dagRuns", "{\"logical_date\":\"2026-01-01T00:00:00\"}");
    CHECK_EQ_INT(r.status, 422); /* naive */
    done(&r);
    r = api("POST", "/api/v2/dags/bash_demo/dagRuns", "{\"logical_date\":null,\"conf\":[1]}");
    CHECK_EQ_INT(r.status, 422);
    done(&r);
    r = api("POST", "/api/v2/dags/nope/dagRuns", "{\"logical_date\":null}");
    CHECK_EQ_INT(r.status, 404);
    done(&r);
    r = api("POST", "/api/v2/dags/bash_demo/dagRuns", "[]");
    CHECK_EQ_INT(r.status, 422);
    done(&r);
    /* a logical date: generated id, interval from it, duplicate date -> 409 */
    r = api("POST", "/api/v2/dags/bash_demo/dagRuns",
            "{\"logical_date\":\"2026-03-01T12:00:00+02:00\"}");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(str(r.json, "dag_run_id"), "manual__2026-03-01T10:00:00.000000+00:00");
    CHECK_EQ_STR(str(r.json, "logical_date"), "2026-03-01T10:00:00.000000Z");
    CHECK_EQ_STR(str(r.json, "data_interval_end"), "2026-03-01T10:00:00.000000Z");
    done(&r);
    r = api("POST", "/api/v2/dags/bash_demo/dagRuns",
            "{\"dag_run_id\":\"other\",\"logical_date\":\"2026-03-01T10:00:00Z\"}");
    CHECK_EQ_INT(r.status, 409);
    done(&r);

    r = api("GET", "/api/v2/dags/bash_demo/dagRuns", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(num(r.json, "total_entries"), 3);
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns?state=success&limit=1", NULL);
    CHECK_EQ_INT(num(r.json, "total_entries"), 1);
    cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "dag_runs"), 0);
    CHECK_EQ_STR(str(r0, "dag_run_id"), "r0");
    CHECK(num(r0, "duration") > 2.49 && num(r0, "duration") < 2.51);
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns?state=bogus", NULL);
    CHECK_EQ_INT(r.status, 422);
    done(&r);
    r = api("GET", "/api/v2/dags/nope/dagRuns", NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);
    r = api("GET", "/api/v2/dags/~/dagRuns", NULL);
    CHECK_EQ_INT(num(r.json, "total_entries"), 3);
    done(&r);

    r = api("PATCH", "/api/v2/dags/bash_demo/dagRuns/r1", "{\"state\":\"failed\",\"note\":\"x\"}");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(str(r.json, "state"), "failed");
    CHECK_EQ_STR(str(r.json, "note"), "x");
    done(&r);
    r = api("PATCH", "/api/v2/dags/bash_demo/dagRuns/r1", "{\"state\":\"running\"}");
    CHECK_EQ_INT(r.status, 422);
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns/r9", NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);

    /* v1: Airflow 2 trigger sets a logical date; the run shows execution_date and
     * external_trigger */
    r = api("POST", "/api/v1/dags/user_automation/dagRuns",
            "{\"dag_run_id\":\"v1run\",\"conf\":{}}");
    CHECK_EQ_INT(r.status, 200);
    CHECK(str(r.json, "execution_date") != NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "external_trigger")));
    CHECK(!has(r.json, "dag_versions"));
    done(&r);
    r = api("POST", "/api/v1/dags/user_automation/dagRuns", "{\"bogus\":1}");
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_INT(num(r.json, "status"), 400);
    done(&r);
    r = api("GET", "/api/v1/dags/bash_demo/dagRuns/r0", NULL);
    CHECK_EQ_STR(str(r.json, "execution_date"), "2026-01-02T00:00:00.000000Z");
    done(&r);
}

static void test_tasks(const char *logs)
{
    struct resp r = api("GET", "/api/v2/dags/bash_demo/dagRuns/r0/taskInstances", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(num(r.json, "total_entries"), 2);
    cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "task_instances"), 0);
    static const char *const req[] = {
        "id",         "task_id",         "task_display_name", "dag_id",    "dag_display_name",
        "dag_run_id", "map_index",       "try_number",        "max_tries", "pool",
        "pool_slots", "executor_config", "run_after",         NULL};
    for (const char *const *k = req; *k; k++)
        CHECK(has(t, *k));
    CHECK_EQ_INT(num(t, "map_index"), -1);
    CHECK_EQ_INT(num(t, "try_number"), 2);
    CHECK_EQ_STR(str(t, "state"), "success");
    t = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "task_instances"), 1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(t, "state")));
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns/r0/taskInstances/hello", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(str(r.json, "hostname"), "host1");
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns/r0/taskInstances/nope", NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns/nope/taskInstances", NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);
    r = api("GET", "/api/v1/dags/bash_demo/dagRuns/r0/taskInstances/after", NULL);
    CHECK_EQ_STR(str(r.json, "hostname"), ""); /* v1: a string */
    CHECK(!has(r.json, "id"));
    done(&r);

    char dir[1024], path[1200];
    snprintf(dir, sizeof(dir), "%s/dag_id=bash_demo/run_id=r0/task_id=hello", logs);
    struct sl_err err;
    CHECK(fs_mkdirs(dir, &err) == 0);
    snprintf(path, sizeof(path), "%s/attempt=2.log", dir);
    FILE *f = fopen(path, "w");
    fputs("first line\nsecond \"quoted\"\n", f);
    fclose(f);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns/r0/taskInstances/hello/logs/2", NULL);
    CHECK_EQ_INT(r.status, 200);
    cJSON *content = cJSON_GetObjectItem(r.json, "content");
    CHECK_EQ_INT(cJSON_GetArraySize(content), 2);
    CHECK_EQ_STR(str(cJSON_GetArrayItem(content, 1), "event"), "second \"quoted\"");
    CHECK_EQ_STR(str(r.json, "continuation_token"), "27");
    done(&r);
    f = fopen(path, "a");
    fputs("third\n", f);
    fclose(f);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns/r0/taskInstances/hello/logs/2?token=27", NULL);
    content = cJSON_GetObjectItem(r.json, "content");
    CHECK_EQ_INT(cJSON_GetArraySize(content), 1);
    CHECK_EQ_STR(str(cJSON_GetArrayItem(content, 0), "event"), "third");
    done(&r);
    r = call("GET", "/api/v2/dags/bash_demo/dagRuns/r0/taskInstances/hello/logs/2", NULL, bearer,
             "Accept: text/plain");
    CHECK_EQ_STR(r.body, "first line\nsecond \"quoted\"\nthird\n");
    done(&r);
    r = api("GET", "/api/v1/dags/bash_demo/dagRuns/r0/taskInstances/hello/logs/2", NULL);
    CHECK_EQ_STR(str(r.json, "content"), "first line\nsecond \"quoted\"\nthird\n");
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns/r0/taskInstances/hello/logs/1", NULL);
    CHECK_EQ_INT(r.status, 200); /* no such file: empty */
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "content")), 0);
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/dagRuns/r0/taskInstances/hello/logs/x", NULL);
    CHECK_EQ_INT(r.status, 422);
    done(&r);

    /* the DAG's tasks, from its definition */
    r = api("GET", "/api/v2/dags/bash_demo/tasks", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(num(r.json, "total_entries"), 2);
    t = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "tasks"), 0);
    CHECK_EQ_STR(str(t, "task_id"), "hello");
    CHECK_EQ_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "downstream_task_ids"), 0)->valuestring,
                 "after");
    CHECK_EQ_INT(num(cJSON_GetObjectItem(t, "retry_delay"), "days"), 1);
    CHECK_EQ_INT(num(cJSON_GetObjectItem(t, "retry_delay"), "seconds"), 3600);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(t, "execution_timeout")));
    CHECK_EQ_STR(str(t, "start_date"), "2024-01-01T00:00:00.000000Z");
    CHECK_EQ_STR(str(cJSON_GetObjectItem(t, "class_ref"), "class_name"), "BashOperator");
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/tasks/after", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(str(cJSON_GetObjectItem(r.json, "class_ref"), "module_path"), "sluice");
    CHECK_EQ_STR(str(cJSON_GetObjectItem(r.json, "class_ref"), "class_name"), "ingest");
    CHECK_EQ_INT(num(cJSON_GetObjectItem(r.json, "execution_timeout"), "seconds"), 60);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "downstream_task_ids")), 0);
    done(&r);
    r = api("GET", "/api/v1/dags/bash_demo/tasks/hello", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK(!has(r.json, "execution_timeout")); /* v1 takes no null there */
    done(&r);
    r = api("GET", "/api/v2/dags/bash_demo/tasks/nope", NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);
    r = api("GET", "/api/v2/dags/nope/tasks", NULL);
    CHECK_EQ_INT(r.status, 404);
    done(&r);

    r = api("GET", "/api/v2/importErrors", NULL);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(num(r.json, "total_entries"), 1);
    cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "import_errors"), 0);
    CHECK_EQ_STR(str(e, "filename"), "/dags/broken.yaml");
    CHECK(num(e, "import_error_id") > 0);
    CHECK(str(e, "stack_trace") && strstr(str(e, "stack_trace"), ":3:"));
    done(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    char dir[256], db_path[300], logs[300];
    snprintf(dir, sizeof(dir), "/tmp/test_api_%d", (int)getpid());
    snprintf(db_path, sizeof(db_path), "%s/scheduler/scheduler.db", dir);
    snprintf(logs, sizeof(logs), "%s/scheduler/logs", dir);
    struct sl_err err;
    fs_remove_tree(dir, &err);
    CHECK(fs_mkdirs(logs, &err) == 0);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    fill(db);
    sqlite3_close(db);

    setenv("SLUICE_SCHEDULER_ADMIN_PASSWORD", "s3cr!t", 1);
    struct auth_opts ao = {.data_dir = dir, .enabled = true};
    struct auth *a = NULL;
    CHECK(auth_open(&ao, &a, &err) == 0);
    struct api_ctx ctx = {.db_path = db_path, .logs_dir = logs, .dags_folder = "/dags", .auth = a};
    struct http_config hc = {
        .name = "api", .listen = "127.0.0.1:0", .auth = auth_http_hook, .auth_ctx = a};
    struct http_server *srv = NULL;
    CHECK(http_server_start(&hc, api_routes(), &ctx, &srv, &err) == 0);
    CHECK(api_routes_count() > 20);
    port = http_server_port(srv);

    test_public_and_token();
    test_dags();
    test_runs();
    test_tasks(logs);

    http_server_stop(srv);
    auth_close(a);
    fs_remove_tree(dir, &err);
    curl_global_cleanup();
    return check_summary();
}
