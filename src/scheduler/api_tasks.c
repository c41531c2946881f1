/* Task instances of a run (list, get) and their logs by try number, as Airflow 3's
 * TaskInstanceResponse / TaskInstancesLogResponse and Airflow 2's TaskInstance / log. Logs
 * are read from meta.h's layout; the continuation token is the byte offset read so far. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/jsonw.h"
#include "scheduler/api.h"
#include "scheduler/api_int.h"

#define TI_COLS                                                                                    \
    "t.id, t.task_id, t.dag_id, t.run_id, t.state, t.try_number, t.max_tries, t.operator,"         \
    " t.start_date, t.end_date, t.duration, t.queued_when, t.pid, t.hostname,"                     \
    " t.priority_weight, r.logical_date, r.run_after, r.dag_version, d.version, d.version_id,"     \
    " d.version_created_at"

enum {
    T_ID,
    T_TASK,
    T_DAG,
    T_RUN,
    T_STATE,
    T_TRY,
    T_MAX_TRIES,
    T_OPERATOR,
    T_START,
    T_END,
    T_DURATION,
    T_QUEUED,
    T_PID,
    T_HOST,
    T_PRIORITY,
    T_LOGICAL,
    T_AFTER,
    T_RUN_VERSION,
    T_DAG_VERSION,
    T_DAG_VERSION_ID,
    T_DAG_VERSION_AT,
};

#define TI_FROM                                                                                    \
    " FROM task_instance t JOIN dag_run r ON r.dag_id=t.dag_id AND r.run_id=t.run_id"              \
    " LEFT JOIN dag d ON d.dag_id=t.dag_id"

static cJSON *ti_json(struct api_call *c, sqlite3_stmt *st)
{
    const char *dag_id = (const char *)sqlite3_column_text(st, T_DAG);
    const char *task_id = (const char *)sqlite3_column_text(st, T_TASK);
    cJSON *o = cJSON_CreateObject();
    if (!c->v1)
        api_add_col(o, "id", st, T_ID);
    cJSON_AddStringToObject(o, "task_id", task_id);
    cJSON_AddStringToObject(o, "task_display_name", task_id);
    cJSON_AddStringToObject(o, "dag_id", dag_id);
    api_add_col(o, "dag_run_id", st, T_RUN);
    cJSON_AddNumberToObject(o, "map_index", -1);
    const char *logical = (const char *)sqlite3_column_text(st, T_LOGICAL);
    const char *after = (const char *)sqlite3_column_text(st, T_AFTER);
    if (c->v1) {
        cJSON_AddStringToObject(o, "execution_date", logical ? logical : after ? after : "");
    } else {
        cJSON_AddStringToObject(o, "dag_display_name", dag_id);
        api_add_text(o, "logical_date", logical);
        api_add_text(o, "run_after", after);
        cJSON_AddNullToObject(o, "scheduled_when");
        cJSON_AddNullToObject(o, "rendered_map_index");
        api_add_col(o, "operator_name", st, T_OPERATOR);
    }
    api_add_col(o, "start_date", st, T_START);
    api_add_col(o, "end_date", st, T_END);
    if (sqlite3_column_type(st, T_DURATION) != SQLITE_NULL)
        cJSON_AddNumberToObject(o, "duration", sqlite3_column_double(st, T_DURATION));
    else
        cJSON_AddNullToObject(o, "duration");
    api_add_col(o, "state", st, T_STATE);
    cJSON_AddNumberToObject(o, "try_number", sqlite3_column_int(st, T_TRY));
    cJSON_AddNumberToObject(o, "max_tries", sqlite3_column_int(st, T_MAX_TRIES));
    const char *host = (const char *)sqlite3_column_text(st, T_HOST);
    if (c->v1)
        cJSON_AddStringToObject(o, "hostname", host ? host : ""); /* v1: a string, not null */
    else
        api_add_text(o, "hostname", host);
    cJSON_AddStringToObject(o, "unixname", "sluice");
    cJSON_AddStringToObject(o, "pool", "default_pool");
    cJSON_AddNumberToObject(o, "pool_slots", 1);
    cJSON_AddStringToObject(o, "queue", "default");
    cJSON_AddNumberToObject(o, "priority_weight", sqlite3_column_int(st, T_PRIORITY));
    api_add_col(o, "operator", st, T_OPERATOR);
    api_add_col(o, "queued_when", st, T_QUEUED);
    if (sqlite3_column_type(st, T_PID) != SQLITE_NULL)
        cJSON_AddNumberToObject(o, "pid", sqlite3_column_int(st, T_PID));
    else
        cJSON_AddNullToObject(o, "pid");
    cJSON_AddStringToObject(o, "executor", "LocalExecutor");
    cJSON_AddStringToObject(o, "executor_config", "{}");
    cJSON_AddNullToObject(o, "note");
    cJSON_AddItemToObject(o, "rendered_fields", cJSON_CreateObject());
    if (!c->v1) {
        cJSON_AddNullToObject(o, "trigger");
        cJSON_AddNullToObject(o, "triggerer_job");
        cJSON_AddItemToObject(
            o, "dag_version",
            api_dag_version_json(dag_id, sqlite3_column_int64(st, T_RUN_VERSION),
                                 sqlite3_column_int64(st, T_DAG_VERSION),
                                 (const char *)sqlite3_column_text(st, T_DAG_VERSION_ID),
                                 (const char *)sqlite3_column_text(st, T_DAG_VERSION_AT), after));
    }
    return o;
}

/* 0 when the run exists; else answers 404. */
static int need_run(struct api_call *c, const char *dag_id, const char *run_id)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM dag_run WHERE dag_id=? AND run_id=?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, dag_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, run_id, -1, SQLITE_TRANSIENT);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    if (!found) {
        api_error(c, 404, "The DagRun with dag_id: `%s` and run_id: `%s` was not found", dag_id,
                  run_id);
        return -1;
    }
    return 0;
}

void api_h_tis(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    const char *dag_id = http_param(req, "dag_id"), *run_id = http_param(req, "dag_run_id");
    sqlite3_stmt *st = NULL, *cnt = NULL;
    int64_t limit, offset;
    if (api_page(&c, &limit, &offset) != 0 || need_run(&c, dag_id, run_id) != 0)
        goto out;
    if (sqlite3_prepare_v2(c.db,
                           "SELECT " TI_COLS TI_FROM " WHERE t.dag_id=? AND t.run_id=?"
                           " ORDER BY t.rowid LIMIT ? OFFSET ?",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c.db, "SELECT count(*) FROM task_instance WHERE dag_id=? AND run_id=?",
                           -1, &cnt, NULL) != SQLITE_OK) {
        api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
        goto out;
    }
    sqlite3_bind_text(st, 1, dag_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    sqlite3_bind_text(cnt, 1, dag_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(cnt, 2, run_id, -1, SQLITE_TRANSIENT);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "task_instances");
    while (sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddItemToArray(arr, ti_json(&c, st));
    int64_t total = sqlite3_step(cnt) == SQLITE_ROW ? sqlite3_column_int64(cnt, 0) : 0;
    cJSON_AddNumberToObject(o, "total_entries", (double)total);
    api_reply(&c, 200, o);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(cnt);
    api_end(&c);
}

/* The task instance's JSON, or NULL (then 404 answered). try_number gets its tries so far. */
static cJSON *find_ti(struct api_call *c, int *tries)
{
    const char *dag_id = http_param(c->req, "dag_id"), *run_id = http_param(c->req, "dag_run_id");
    const char *task_id = http_param(c->req, "task_id");
    sqlite3_stmt *st = NULL;
    cJSON *o = NULL;
    if (sqlite3_prepare_v2(
            c->db, "SELECT " TI_COLS TI_FROM " WHERE t.dag_id=? AND t.run_id=? AND t.task_id=?", -1,
            &st, NULL) != SQLITE_OK) {
        api_error(c, 500, "%s", sqlite3_errmsg(c->db));
        return NULL;
    }
    sqlite3_bind_text(st, 1, dag_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, task_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = ti_json(c, st);
        if (tries)
            *tries = sqlite3_column_int(st, T_TRY);
    }
    sqlite3_finalize(st);
    if (!o)
        api_error(c, 404,
                  "The Task Instance with dag_id: `%s`, run_id: `%s`, task_id: `%s` and "
                  "map_index: `-1` was not found",
                  dag_id, run_id, task_id);
    return o;
}

void api_h_ti(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    cJSON *o = find_ti(&c, NULL);
    if (o)
        api_reply(&c, 200, o);
    api_end(&c);
}

#define LOG_CHUNK (4u << 20) /* at most this much per answer; the token reads on */

void api_h_ti_log(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    char *data = NULL;
    int tries = 0;
    const char *tn = http_param(req, "try_number");
    char *end;
    long try_number = strtol(tn, &end, 10);
    if (!*tn || *end || try_number < 0) {
        api_invalid(&c, "int_parsing", "path", "try_number",
                    "Input should be a valid integer, unable to parse string as an integer",
                    cJSON_CreateString(tn));
        goto out;
    }
    cJSON *ti = find_ti(&c, &tries);
    if (!ti)
        goto out;
    cJSON_Delete(ti);
    /* The offset to read from: the continuation token (v1 and v2), unless full_content. */
    uint64_t from = 0;
    const char *token = http_query(req, "token");
    bool full = false;
    const char *fc = http_query(req, "full_content");
    if (fc)
        api_query_bool(fc, &full);
    if (token && !full) {
        char *tend;
        unsigned long long v = strtoull(token, &tend, 10);
        if (!*token || *tend) {
            api_error(&c, 400, "Bad Signature. Please use only the tokens provided by the API.");
            goto out;
        }
        from = v;
    }
    char path[8192];
    snprintf(path, sizeof(path), "%s/dag_id=%s/run_id=%s/task_id=%s/attempt=%ld.log",
             c.ctx->logs_dir ? c.ctx->logs_dir : ".", http_param(req, "dag_id"),
             http_param(req, "dag_run_id"), http_param(req, "task_id"), try_number);
    const char *accept = http_header(req, "Accept");
    bool text = accept && strstr(accept, "text/plain") && !strstr(accept, "application/json");
    if (text) {
        api_end(&c);
        struct stat stt;
        if (stat(path, &stt) != 0) /* no file (yet): an empty log, as for a try not started */
            http_reply(req, 200, "text/plain", "", 0);
        else
            http_reply_file(req, path, "text/plain; charset=utf-8", from);
        return;
    }
    /* Read [from, from + LOG_CHUNK) */
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        if (fseeko(f, (off_t)from, SEEK_SET) == 0) {
            data = malloc(LOG_CHUNK + 1);
            if (data)
                n = fread(data, 1, LOG_CHUNK, f);
        }
        fclose(f);
    }
    /* Stop at the last complete line when the chunk is full, so no line is split. */
    if (n == LOG_CHUNK) {
        size_t k = n;
        while (k > 0 && data[k - 1] != '\n')
            k--;
        if (k > 0)
            n = k;
    }
    uint64_t next = from + n;
    cJSON *o = cJSON_CreateObject();
    if (c.v1) {
        struct buf b;
        buf_init(&b, 3 * (size_t)LOG_CHUNK + 16);
        jsonw_str(&b, data ? data : "", n, NULL); /* valid UTF-8, quoted */
        buf_append(&b, "", 1);
        cJSON *s = cJSON_Parse((const char *)b.data);
        buf_free(&b);
        cJSON_AddItemToObject(o, "content", s ? s : cJSON_CreateString(""));
    } else {
        cJSON *arr = cJSON_AddArrayToObject(o, "content");
        size_t i = 0;
        while (i < n) {
            size_t j = i;
            while (j < n && data[j] != '\n')
                j++;
            struct buf b;
            buf_init(&b, 3 * (j - i) + 16);
            jsonw_str(&b, data + i, j - i, NULL);
            buf_append(&b, "", 1);
            cJSON *line = cJSON_Parse((const char *)b.data);
            buf_free(&b);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToObject(e, "event", line ? line : cJSON_CreateString(""));
            cJSON_AddItemToArray(arr, e);
            i = j + 1;
        }
    }
    char tok[32];
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)next);
    cJSON_AddStringToObject(o, "continuation_token", tok);
    api_reply(&c, 200, o);
out:
    free(data);
    api_end(&c);
}
