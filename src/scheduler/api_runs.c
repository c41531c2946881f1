/* DAG runs: list, get, trigger (POST, meta.h's "trigger" user action) and mark (PATCH, the
 * "mark run" action), as Airflow 3's DAGRunResponse and Airflow 2's DAGRun. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "scheduler/api.h"
#include "scheduler/api_int.h"
#include "scheduler/meta.h"

#define RUN_COLS                                                                                   \
    "r.dag_id, r.run_id, r.run_type, r.triggered_by, r.state, r.logical_date,"                     \
    " r.data_interval_start, r.data_interval_end, r.run_after, r.queued_at, r.start_date,"         \
    " r.end_date, r.conf, r.note, r.dag_version, d.version, d.version_id, d.version_created_at"

enum {
    R_DAG,
    R_RUN,
    R_TYPE,
    R_BY,
    R_STATE,
    R_LOGICAL,
    R_DI_START,
    R_DI_END,
    R_AFTER,
    R_QUEUED,
    R_START,
    R_END,
    R_CONF,
    R_NOTE,
    R_VERSION,
    R_DAG_VERSION,
    R_DAG_VERSION_ID,
    R_DAG_VERSION_AT,
};

static cJSON *run_json(struct api_call *c, sqlite3_stmt *st)
{
    const char *dag_id = (const char *)sqlite3_column_text(st, R_DAG);
    cJSON *o = cJSON_CreateObject();
    api_add_col(o, "dag_run_id", st, R_RUN);
    cJSON_AddStringToObject(o, "dag_id", dag_id);
    const char *logical = (const char *)sqlite3_column_text(st, R_LOGICAL);
    if (c->v1) {
        /* Airflow 2 always had a logical date; a run without one shows its run_after. */
        const char *ld = logical ? logical : (const char *)sqlite3_column_text(st, R_AFTER);
        api_add_text(o, "logical_date", ld);
        api_add_text(o, "execution_date", ld);
        const char *type = (const char *)sqlite3_column_text(st, R_TYPE);
        cJSON_AddBoolToObject(o, "external_trigger", type && strcmp(type, "manual") == 0);
    } else {
        cJSON_AddStringToObject(o, "dag_display_name", dag_id);
        api_add_text(o, "logical_date", logical);
        api_add_col(o, "run_after", st, R_AFTER);
        api_add_col(o, "queued_at", st, R_QUEUED);
        api_add_col(o, "triggered_by", st, R_BY);
        cJSON_AddNullToObject(o, "triggering_user_name");
        cJSON_AddNullToObject(o, "bundle_version");
    }
    api_add_col(o, "start_date", st, R_START);
    api_add_col(o, "end_date", st, R_END);
    if (!c->v1) {
        double d = api_duration((const char *)sqlite3_column_text(st, R_START),
                                (const char *)sqlite3_column_text(st, R_END));
        if (d >= 0)
            cJSON_AddNumberToObject(o, "duration", d);
        else
            cJSON_AddNullToObject(o, "duration");
    }
    api_add_col(o, "data_interval_start", st, R_DI_START);
    api_add_col(o, "data_interval_end", st, R_DI_END);
    cJSON_AddNullToObject(o, "last_scheduling_decision");
    api_add_col(o, "run_type", st, R_TYPE);
    api_add_col(o, "state", st, R_STATE);
    api_add_json_col(o, "conf", st, R_CONF, "{}");
    api_add_col(o, "note", st, R_NOTE);
    if (!c->v1) {
        cJSON *vs = cJSON_AddArrayToObject(o, "dag_versions");
        cJSON_AddItemToArray(
            vs, api_dag_version_json(dag_id, sqlite3_column_int64(st, R_VERSION),
                                     sqlite3_column_int64(st, R_DAG_VERSION),
                                     (const char *)sqlite3_column_text(st, R_DAG_VERSION_ID),
                                     (const char *)sqlite3_column_text(st, R_DAG_VERSION_AT),
                                     (const char *)sqlite3_column_text(st, R_AFTER)));
    }
    return o;
}

cJSON *api_run_json(struct api_call *c, const char *dag_id, const char *run_id)
{
    sqlite3_stmt *st = NULL;
    cJSON *o = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT " RUN_COLS " FROM dag_run r LEFT JOIN dag d USING (dag_id)"
                           " WHERE r.dag_id=? AND r.run_id=?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, dag_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, run_id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            o = run_json(c, st);
    }
    sqlite3_finalize(st);
    return o;
}

static void run_not_found(struct api_call *c, const char *dag_id, const char *run_id)
{
    api_error(c, 404, "The DagRun with dag_id: `%s` and run_id: `%s` was not found", dag_id,
              run_id);
}

struct strs {
    const char *v[16];
    int n;
    bool bad;
};

static void collect_state(const char *value, void *arg)
{
    struct strs *s = arg;
    static const char *const ok[] = {"queued", "running", "success", "failed"};
    bool valid = false;
    for (size_t i = 0; i < 4; i++)
        valid = valid || strcmp(value, ok[i]) == 0;
    if (!valid)
        s->bad = true;
    else if (s->n < 16)
        s->v[s->n++] = value;
}

void api_h_runs(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    const char *dag_id = http_param(req, "dag_id");
    sqlite3_stmt *st = NULL, *cnt = NULL;
    int64_t limit, offset;
    if (api_page(&c, &limit, &offset) != 0)
        goto out;
    bool all = strcmp(dag_id, "~") == 0;
    if (!all && api_need_dag(&c, dag_id) != 0)
        goto out;
    struct strs states = {.n = 0};
    http_query_each(req, "state", collect_state, &states);
    if (states.bad) {
        api_invalid(&c, "enum", "query", "state",
                    "Input should be 'queued', 'running', 'success' or 'failed'", NULL);
        goto out;
    }
    static const char *const orders[][2] = {
        {"id", "r.id"},
        {"run_after", "r.run_after"},
        {"logical_date", "r.logical_date"},
        {"execution_date", "r.logical_date"},
        {"start_date", "r.start_date"},
        {"end_date", "r.end_date"},
        {"state", "r.state"},
        {"dag_run_id", "r.run_id"},
        {"run_id", "r.run_id"},
    };
    const char *ob = http_query(req, "order_by");
    const char *col = "r.id";
    if (ob) {
        const char *name = ob[0] == '-' ? ob + 1 : ob;
        col = NULL;
        for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
            if (strcmp(name, orders[i][0]) == 0)
                col = orders[i][1];
        }
        if (!col) {
            api_error(&c, 400,
                      "Ordering with '%s' is disallowed or the attribute does not exist on the "
                      "model",
                      ob);
            goto out;
        }
    }
    char where[512];
    int n = snprintf(where, sizeof(where), " WHERE (?1 = '~' OR r.dag_id = ?1)");
    if (states.n) {
        n += snprintf(where + n, sizeof(where) - (size_t)n, " AND r.state IN (");
        for (int i = 0; i < states.n; i++)
            n += snprintf(where + n, sizeof(where) - (size_t)n, "%s?%d", i ? "," : "", 10 + i);
        snprintf(where + n, sizeof(where) - (size_t)n, ")");
    }
    char sql[2048], csql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT " RUN_COLS " FROM dag_run r LEFT JOIN dag d USING (dag_id)%s"
             " ORDER BY %s%s, r.id LIMIT ?2 OFFSET ?3",
             where, col, ob && ob[0] == '-' ? " DESC" : "");
    snprintf(csql, sizeof(csql), "SELECT count(*), ?2, ?3 FROM dag_run r%s", where);
    if (sqlite3_prepare_v2(c.db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c.db, csql, -1, &cnt, NULL) != SQLITE_OK) {
        api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
        goto out;
    }
    sqlite3_stmt *both[2] = {st, cnt};
    for (int k = 0; k < 2; k++) {
        sqlite3_bind_text(both[k], 1, dag_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(both[k], 2, limit);
        sqlite3_bind_int64(both[k], 3, offset);
        for (int i = 0; i < states.n; i++)
            sqlite3_bind_text(both[k], 10 + i, states.v[i], -1, SQLITE_TRANSIENT);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "dag_runs");
    while (sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddItemToArray(arr, run_json(&c, st));
    int64_t total = sqlite3_step(cnt) == SQLITE_ROW ? sqlite3_column_int64(cnt, 0) : 0;
    cJSON_AddNumberToObject(o, "total_entries", (double)total);
    api_reply(&c, 200, o);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(cnt);
    api_end(&c);
}

void api_h_run(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    const char *dag_id = http_param(req, "dag_id"), *run_id = http_param(req, "dag_run_id");
    cJSON *o = api_run_json(&c, dag_id, run_id);
    if (o)
        api_reply(&c, 200, o);
    else
        run_not_found(&c, dag_id, run_id);
    api_end(&c);
}

/* Reads an optional date-time field; answers 422 when it is present but not valid. */
static int body_time(struct api_call *c, cJSON *body, const char *key, char out[32], bool *set)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    *set = false;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || api_parse_time(v->valuestring, out) != 0) {
        bool naive = cJSON_IsString(v) && api_parse_time(v->valuestring, out) != 0 &&
                     strlen(v->valuestring) >= 10 && !strpbrk(v->valuestring + 10, "Zz+-");
        api_invalid(c, naive ? "timezone_aware" : "datetime_from_date_parsing", "body", key,
                    naive ? "Input should have timezone info"
                          : "Input should be a valid datetime or date",
                    cJSON_Duplicate(v, true));
        return -1;
    }
    *set = true;
    return 0;
}

static bool valid_run_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 250)
        return false;
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == '/')
            return false;
    }
    return true;
}

void api_h_run_trigger(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    const char *dag_id = http_param(req, "dag_id");
    cJSON *body = NULL;
    sqlite3_stmt *st = NULL;
    if (api_need_dag(&c, dag_id) != 0)
        goto out;
    body = api_body_object(&c);
    if (!body)
        goto out;
    static const char *const v2_keys[] = {"dag_run_id",
                                          "logical_date",
                                          "data_interval_start",
                                          "data_interval_end",
                                          "run_after",
                                          "conf",
                                          "note",
                                          "partition_key",
                                          NULL};
    static const char *const v1_keys[] = {
        "dag_run_id",        "logical_date", "execution_date", "data_interval_start",
        "data_interval_end", "conf",         "note",           NULL};
    if (api_body_keys(&c, body, c.v1 ? v1_keys : v2_keys) != 0)
        goto out;
    if (!c.v1 && !cJSON_GetObjectItemCaseSensitive(body, "logical_date")) {
        api_invalid(&c, "missing", "body", "logical_date", "Field required",
                    cJSON_Duplicate(body, true));
        goto out;
    }
    char logical[32] = "", di_start[32] = "", di_end[32] = "", after[32] = "", now[32];
    bool has_logical, has_start, has_end, has_after = false;
    api_now(now);
    if (body_time(&c, body, "logical_date", logical, &has_logical) != 0 ||
        body_time(&c, body, "data_interval_start", di_start, &has_start) != 0 ||
        body_time(&c, body, "data_interval_end", di_end, &has_end) != 0 ||
        (!c.v1 && body_time(&c, body, "run_after", after, &has_after) != 0))
        goto out;
    if (c.v1 && !has_logical) {
        bool has_exec;
        if (body_time(&c, body, "execution_date", logical, &has_exec) != 0)
            goto out;
        if (!has_exec)
            snprintf(logical, sizeof(logical), "%s", now); /* Airflow 2: now */
        has_logical = true;
    }
    if (has_start != has_end) {
        api_invalid(&c, "value_error", "body", NULL,
                    "Value error, Either both data_interval_start and data_interval_end must be "
                    "provided or both must be None",
                    cJSON_Duplicate(body, true));
        goto out;
    }
    if (has_logical && !has_start) {
        /* Airflow 3's default for cron: the trigger time is the whole (empty) interval. */
        snprintf(di_start, sizeof(di_start), "%s", logical);
        snprintf(di_end, sizeof(di_end), "%s", logical);
        has_start = has_end = true;
    }
    if (!has_after)
        snprintf(after, sizeof(after), "%s", has_end ? di_end : now);
    cJSON *conf = cJSON_GetObjectItemCaseSensitive(body, "conf");
    if (conf && !cJSON_IsNull(conf) && !cJSON_IsObject(conf)) {
        api_invalid(&c, "dict_type", "body", "conf", "Input should be a valid dictionary",
                    cJSON_Duplicate(conf, true));
        goto out;
    }
    cJSON *note = cJSON_GetObjectItemCaseSensitive(body, "note");
    if (note && !cJSON_IsNull(note) && !cJSON_IsString(note)) {
        api_invalid(&c, "string_type", "body", "note", "Input should be a valid string",
                    cJSON_Duplicate(note, true));
        goto out;
    }
    cJSON *rid = cJSON_GetObjectItemCaseSensitive(body, "dag_run_id");
    char run_id[300];
    if (rid && !cJSON_IsNull(rid)) {
        if (!cJSON_IsString(rid) || !valid_run_id(rid->valuestring)) {
            api_invalid(&c, "string_type", "body", "dag_run_id",
                        "Input should be a valid run id (1-250 characters, no '/')",
                        cJSON_Duplicate(rid, true));
            goto out;
        }
        snprintf(run_id, sizeof(run_id), "%s", rid->valuestring);
    } else {
        /* manual__2024-01-01T00:00:00.123456+00:00, from the logical date or run_after */
        const char *t = has_logical ? logical : after;
        snprintf(run_id, sizeof(run_id), "manual__%.26s+00:00", t);
    }
    char *conf_text = conf && cJSON_IsObject(conf) ? cJSON_PrintUnformatted(conf) : NULL;
    const char *ua = http_header(req, "User-Agent");
    const char *by = ua && strncmp(ua, "sluice-cli", 10) == 0 ? "cli" : "rest_api";
    if (sqlite3_prepare_v2(
            c.db,
            "INSERT INTO dag_run (dag_id, run_id, run_type, triggered_by, state, logical_date,"
            " data_interval_start, data_interval_end, run_after, queued_at, conf, note,"
            " dag_version) SELECT ?1, ?2, 'manual', ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
            " version FROM dag WHERE dag_id=?1",
            -1, &st, NULL) != SQLITE_OK) {
        free(conf_text);
        api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
        goto out;
    }
    sqlite3_bind_text(st, 1, dag_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC);
    if (has_logical)
        sqlite3_bind_text(st, 4, logical, -1, SQLITE_TRANSIENT);
    if (has_start) {
        sqlite3_bind_text(st, 5, di_start, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, di_end, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_text(st, 7, after, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, conf_text ? conf_text : "{}", -1, SQLITE_TRANSIENT);
    if (note && cJSON_IsString(note))
        sqlite3_bind_text(st, 10, note->valuestring, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    free(conf_text);
    if (rc == SQLITE_CONSTRAINT) {
        if (has_logical) {
            sqlite3_stmt *q = NULL;
            bool same_id = false;
            if (sqlite3_prepare_v2(c.db, "SELECT 1 FROM dag_run WHERE dag_id=? AND run_id=?", -1,
                                   &q, NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, dag_id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(q, 2, run_id, -1, SQLITE_TRANSIENT);
                same_id = sqlite3_step(q) == SQLITE_ROW;
            }
            sqlite3_finalize(q);
            if (!same_id) {
                api_error(&c, 409, "A DAG Run already exists for DAG %s with logical date %s",
                          dag_id, logical);
                goto out;
            }
        }
        api_error(&c, 409, "The Dag Run with dag_run_id: `%s` already exists", run_id);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
        goto out;
    }
    scheduler_wake();
    cJSON *o = api_run_json(&c, dag_id, run_id);
    if (o)
        api_reply(&c, 200, o);
    else
        run_not_found(&c, dag_id, run_id);
out:
    sqlite3_finalize(st);
    cJSON_Delete(body);
    api_end(&c);
}

void api_h_run_patch(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    const char *dag_id = http_param(req, "dag_id"), *run_id = http_param(req, "dag_run_id");
    cJSON *body = NULL;
    sqlite3_stmt *st = NULL;
    cJSON *cur = api_run_json(&c, dag_id, run_id);
    if (!cur) {
        run_not_found(&c, dag_id, run_id);
        goto out;
    }
    body = api_body_object(&c);
    if (!body)
        goto out;
    static const char *const keys[] = {"state", "note", NULL};
    if (api_body_keys(&c, body, keys) != 0)
        goto out;
    cJSON *state = cJSON_GetObjectItemCaseSensitive(body, "state");
    cJSON *note = cJSON_GetObjectItemCaseSensitive(body, "note");
    if (state && !cJSON_IsNull(state) &&
        (!cJSON_IsString(state) ||
         (strcmp(state->valuestring, "queued") != 0 && strcmp(state->valuestring, "success") != 0 &&
          strcmp(state->valuestring, "failed") != 0))) {
        api_invalid(&c, "enum", "body", "state", "Input should be 'queued', 'success' or 'failed'",
                    cJSON_Duplicate(state, true));
        goto out;
    }
    if (note && !cJSON_IsNull(note) && !cJSON_IsString(note)) {
        api_invalid(&c, "string_type", "body", "note", "Input should be a valid string",
                    cJSON_Duplicate(note, true));
        goto out;
    }
    bool set_state = state && cJSON_IsString(state), set_note = note != NULL;
    if (set_state || set_note) {
        if (sqlite3_prepare_v2(c.db,
                               "UPDATE dag_run SET state=CASE WHEN ?1 THEN ?2 ELSE state END,"
                               " note=CASE WHEN ?3 THEN ?4 ELSE note END"
                               " WHERE dag_id=?5 AND run_id=?6",
                               -1, &st, NULL) != SQLITE_OK) {
            api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
            goto out;
        }
        sqlite3_bind_int(st, 1, set_state);
        if (set_state)
            sqlite3_bind_text(st, 2, state->valuestring, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 3, set_note);
        if (set_note && cJSON_IsString(note))
            sqlite3_bind_text(st, 4, note->valuestring, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, dag_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, run_id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE) {
            api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
            goto out;
        }
        scheduler_wake();
    }
    cJSON *o = api_run_json(&c, dag_id, run_id);
    if (o)
        api_reply(&c, 200, o);
    else
        run_not_found(&c, dag_id, run_id);
out:
    cJSON_Delete(cur);
    sqlite3_finalize(st);
    cJSON_Delete(body);
    api_end(&c);
}
