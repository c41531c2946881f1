/* GET /dags, GET /dags/{dag_id}, PATCH /dags/{dag_id} (is_paused) and the DAG's tasks in Airflow
 * 3's shape (DAGResponse) and Airflow 2's (DAG with is_active and schedule_interval). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "scheduler/api.h"
#include "scheduler/api_int.h"
#include "scheduler/meta.h"

#define DAG_COLS                                                                                   \
    "dag_id, is_paused, is_stale, fileloc, description, owners, tags, schedule,"                   \
    " timetable_summary, timetable_description, max_active_runs, max_active_tasks,"                \
    " next_dagrun_logical_date, next_dagrun_data_interval_start, next_dagrun_data_interval_end,"   \
    " next_dagrun_run_after, last_parsed_time, has_import_errors"

enum {
    C_ID,
    C_PAUSED,
    C_STALE,
    C_FILELOC,
    C_DESC,
    C_OWNERS,
    C_TAGS,
    C_SCHEDULE,
    C_SUMMARY,
    C_TDESC,
    C_MAXRUNS,
    C_MAXTASKS,
    C_NEXT_LOGICAL,
    C_NEXT_START,
    C_NEXT_END,
    C_NEXT_AFTER,
    C_PARSED,
    C_IMPORT_ERRORS,
};

/* A stable opaque token for a file path (Airflow signs the path; we only need it stable). */
static void file_token(const char *fileloc, char out[17])
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = fileloc; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static cJSON *dag_json(struct api_call *c, sqlite3_stmt *st)
{
    const char *dag_id = (const char *)sqlite3_column_text(st, C_ID);
    const char *fileloc = (const char *)sqlite3_column_text(st, C_FILELOC);
    bool scheduled = sqlite3_column_type(st, C_SCHEDULE) != SQLITE_NULL;
    char tok[17];
    file_token(fileloc, tok);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dag_id", dag_id);
    cJSON_AddStringToObject(o, "dag_display_name", dag_id);
    cJSON_AddBoolToObject(o, "is_paused", sqlite3_column_int(st, C_PAUSED) != 0);
    if (c->v1) {
        cJSON_AddBoolToObject(o, "is_active", sqlite3_column_int(st, C_STALE) == 0);
        cJSON_AddBoolToObject(o, "is_subdag", false);
        cJSON_AddNullToObject(o, "root_dag_id");
        cJSON_AddNullToObject(o, "last_pickled");
        cJSON_AddNullToObject(o, "pickle_id");
        cJSON_AddNullToObject(o, "scheduler_lock");
        cJSON_AddStringToObject(o, "default_view", "grid");
    } else {
        cJSON_AddBoolToObject(o, "is_stale", sqlite3_column_int(st, C_STALE) != 0);
        cJSON_AddBoolToObject(o, "is_backfillable", scheduled);
        cJSON_AddBoolToObject(o, "timetable_periodic", scheduled);
        cJSON_AddBoolToObject(o, "timetable_partitioned", false);
        cJSON_AddStringToObject(o, "bundle_name", "dags-folder");
        cJSON_AddNullToObject(o, "bundle_version");
        const char *rel = fileloc;
        const char *folder = c->ctx->dags_folder;
        size_t fl = folder ? strlen(folder) : 0;
        if (fl && strncmp(fileloc, folder, fl) == 0 && fileloc[fl] == '/')
            rel = fileloc + fl + 1;
        cJSON_AddStringToObject(o, "relative_fileloc", rel);
    }
    cJSON_AddStringToObject(o, "fileloc", fileloc);
    cJSON_AddStringToObject(o, "file_token", tok);
    api_add_json_col(o, "owners", st, C_OWNERS, "[]");
    api_add_col(o, "description", st, C_DESC);
    /* tags: [{name, dag_id, dag_display_name}] (v1: [{name}]) */
    cJSON *tags = cJSON_AddArrayToObject(o, "tags");
    const char *tt = (const char *)sqlite3_column_text(st, C_TAGS);
    cJSON *tj = tt ? cJSON_Parse(tt) : NULL;
    cJSON *t;
    cJSON_ArrayForEach(t, tj)
    {
        if (!cJSON_IsString(t))
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", t->valuestring);
        if (!c->v1) {
            cJSON_AddStringToObject(e, "dag_id", dag_id);
            cJSON_AddStringToObject(e, "dag_display_name", dag_id);
        }
        cJSON_AddItemToArray(tags, e);
    }
    cJSON_Delete(tj);
    if (c->v1) {
        if (scheduled) {
            cJSON *si = cJSON_AddObjectToObject(o, "schedule_interval");
            cJSON_AddStringToObject(si, "__type", "CronExpression");
            const char *sum = (const char *)sqlite3_column_text(st, C_SUMMARY);
            const char *sch = (const char *)sqlite3_column_text(st, C_SCHEDULE);
            cJSON_AddStringToObject(si, "value", sum ? sum : sch);
        } else {
            cJSON_AddNullToObject(o, "schedule_interval");
        }
        api_add_col(o, "next_dagrun", st, C_NEXT_LOGICAL);
        api_add_col(o, "next_dagrun_create_after", st, C_NEXT_AFTER);
    } else {
        api_add_col(o, "timetable_summary", st, C_SUMMARY);
        api_add_col(o, "next_dagrun_logical_date", st, C_NEXT_LOGICAL);
        api_add_col(o, "next_dagrun_run_after", st, C_NEXT_AFTER);
    }
    api_add_col(o, "timetable_description", st, C_TDESC);
    api_add_col(o, "next_dagrun_data_interval_start", st, C_NEXT_START);
    api_add_col(o, "next_dagrun_data_interval_end", st, C_NEXT_END);
    api_add_col(o, "last_parsed_time", st, C_PARSED);
    cJSON_AddNullToObject(o, "last_expired");
    cJSON_AddBoolToObject(o, "has_import_errors", sqlite3_column_int(st, C_IMPORT_ERRORS) != 0);
    cJSON_AddBoolToObject(o, "has_task_concurrency_limits", false);
    cJSON_AddNumberToObject(o, "max_active_tasks", sqlite3_column_int(st, C_MAXTASKS));
    cJSON_AddNumberToObject(o, "max_active_runs", sqlite3_column_int(st, C_MAXRUNS));
    cJSON_AddNumberToObject(o, "max_consecutive_failed_dag_runs", 0);
    return o;
}

/* Collects repeated ?tags= into a list of bound values. */
struct strs {
    const char *v[32];
    int n;
};

static void collect(const char *value, void *arg)
{
    struct strs *s = arg;
    if (s->n < 32)
        s->v[s->n++] = value;
}

static const char *order_col(const char *ob, bool *ok)
{
    static const char *const allowed[][2] = {
        {"dag_id", "dag_id"},
        {"dag_display_name", "dag_id"},
        {"next_dagrun", "next_dagrun_logical_date"},
        {"next_dagrun_logical_date", "next_dagrun_logical_date"},
        {"last_parsed_time", "last_parsed_time"},
        {"is_paused", "is_paused"},
        {"fileloc", "fileloc"},
    };
    *ok = true;
    if (!ob)
        return "dag_id";
    const char *name = ob[0] == '-' ? ob + 1 : ob;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (strcmp(name, allowed[i][0]) == 0)
            return allowed[i][1];
    }
    *ok = false;
    return NULL;
}

void api_h_dags(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    int64_t limit, offset;
    struct buf where;
    buf_init(&where, 8192);
    sqlite3_stmt *st = NULL, *cnt = NULL;
    if (api_page(&c, &limit, &offset) != 0)
        goto out;
    bool paused = false, has_paused = false, exclude_stale = true;
    const char *p = http_query(req, "paused");
    if (p) {
        if (api_query_bool(p, &paused) != 0) {
            api_invalid(&c, "bool_parsing", "query", "paused",
                        "Input should be a valid boolean, unable to interpret input",
                        cJSON_CreateString(p));
            goto out;
        }
        has_paused = true;
    }
    const char *ex = http_query(req, c.v1 ? "only_active" : "exclude_stale");
    if (ex && api_query_bool(ex, &exclude_stale) != 0) {
        api_invalid(&c, "bool_parsing", "query", c.v1 ? "only_active" : "exclude_stale",
                    "Input should be a valid boolean, unable to interpret input",
                    cJSON_CreateString(ex));
        goto out;
    }
    const char *pattern = http_query(req, "dag_id_pattern");
    struct strs tags = {.n = 0};
    http_query_each(req, "tags", collect, &tags);
    const char *tags_match = http_query(req, "tags_match_mode"); /* any (default) | all */
    bool all_tags = tags_match && strcmp(tags_match, "all") == 0;
    const char *ob = http_query(req, "order_by");
    bool ok;
    const char *col = order_col(ob, &ok);
    if (!ok) {
        api_error(&c, 400,
                  "Ordering with '%s' is disallowed or the attribute does not exist on the model",
                  ob);
        goto out;
    }

    buf_append_str(&where, " WHERE 1=1");
    if (has_paused)
        buf_append_str(&where, " AND is_paused=:paused");
    if (exclude_stale)
        buf_append_str(&where, " AND is_stale=0");
    if (pattern)
        buf_append_str(&where, " AND dag_id LIKE '%' || :pattern || '%' ESCAPE '\\'");
    if (tags.n) {
        buf_printf(&where,
                   " AND (SELECT count(DISTINCT value) FROM json_each(dag.tags) WHERE value IN (");
        for (int i = 0; i < tags.n; i++)
            buf_printf(&where, "%s?%d", i ? "," : "", 100 + i);
        buf_printf(&where, ")) %s", all_tags ? "= :ntags" : ">= 1");
    }
    buf_append(&where, "", 1);

    char sql[10000];
    snprintf(sql, sizeof(sql), "SELECT " DAG_COLS " FROM dag%s ORDER BY %s%s%s LIMIT ? OFFSET ?",
             (const char *)where.data, col, ob && ob[0] == '-' ? " DESC" : "",
             strcmp(col, "dag_id") ? ", dag_id" : "");
    char csql[10000];
    snprintf(csql, sizeof(csql), "SELECT count(*) FROM dag%s", (const char *)where.data);
    if (sqlite3_prepare_v2(c.db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c.db, csql, -1, &cnt, NULL) != SQLITE_OK) {
        api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
        goto out;
    }
    /* The pattern: LIKE with %/_ escaped; Airflow matches it anywhere, case-insensitively. */
    char esc[512] = "";
    if (pattern) {
        size_t j = 0;
        for (const char *q = pattern; *q && j + 2 < sizeof(esc); q++) {
            if (*q == '%' || *q == '_' || *q == '\\')
                esc[j++] = '\\';
            esc[j++] = *q;
        }
        esc[j] = '\0';
    }
    sqlite3_stmt *both[2] = {st, cnt};
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *s = both[k];
        int i = sqlite3_bind_parameter_index(s, ":paused");
        if (i)
            sqlite3_bind_int(s, i, paused);
        i = sqlite3_bind_parameter_index(s, ":pattern");
        if (i)
            sqlite3_bind_text(s, i, esc, -1, SQLITE_TRANSIENT);
        i = sqlite3_bind_parameter_index(s, ":ntags");
        if (i)
            sqlite3_bind_int(s, i, tags.n);
        for (int t = 0; t < tags.n; t++)
            sqlite3_bind_text(s, 100 + t, tags.v[t], -1, SQLITE_TRANSIENT);
    }
    int np = sqlite3_bind_parameter_count(st);
    sqlite3_bind_int64(st, np - 1, limit);
    sqlite3_bind_int64(st, np, offset);

    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "dags");
    while (sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddItemToArray(arr, dag_json(&c, st));
    int64_t total = sqlite3_step(cnt) == SQLITE_ROW ? sqlite3_column_int64(cnt, 0) : 0;
    cJSON_AddNumberToObject(o, "total_entries", (double)total);
    api_reply(&c, 200, o);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(cnt);
    buf_free(&where);
    api_end(&c);
}

/* Answers the DAG's JSON (status 200), or 404. */
static void reply_dag(struct api_call *c, const char *dag_id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT " DAG_COLS " FROM dag WHERE dag_id=?", -1, &st, NULL) !=
        SQLITE_OK) {
        api_error(c, 500, "%s", sqlite3_errmsg(c->db));
        return;
    }
    sqlite3_bind_text(st, 1, dag_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        api_reply(c, 200, dag_json(c, st));
    else
        api_error(c, 404, "The Dag with ID: `%s` was not found", dag_id);
    sqlite3_finalize(st);
}

void api_h_dag(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    reply_dag(&c, http_param(req, "dag_id"));
    api_end(&c);
}

static void check_mask(const char *v, void *arg)
{
    bool *bad = arg;
    /* update_mask may be given as repeated keys or one comma list */
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", v);
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "is_paused") != 0)
            *bad = true;
    }
}

void api_h_dag_patch(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    const char *dag_id = http_param(req, "dag_id");
    cJSON *body = NULL;
    bool bad_mask = false;
    http_query_each(req, "update_mask", check_mask, &bad_mask);
    if (bad_mask) {
        api_error(&c, 400, "Only `is_paused` field can be updated through the REST API");
        goto out;
    }
    if (api_need_dag(&c, dag_id) != 0)
        goto out;
    body = api_body_object(&c);
    if (!body)
        goto out;
    static const char *const v2_keys[] = {"is_paused", NULL};
    /* Airflow 2's client sends a whole DAG model; only is_paused is read. */
    if (!c.v1 && api_body_keys(&c, body, v2_keys) != 0)
        goto out;
    cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "is_paused");
    if (!cJSON_IsBool(p)) {
        api_invalid(&c, p ? "bool_type" : "missing", "body", "is_paused",
                    p ? "Input should be a valid boolean" : "Field required",
                    p ? cJSON_Duplicate(p, true) : cJSON_Duplicate(body, true));
        goto out;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c.db, "UPDATE dag SET is_paused=? WHERE dag_id=?", -1, &st, NULL) !=
            SQLITE_OK ||
        (sqlite3_bind_int(st, 1, cJSON_IsTrue(p)),
         sqlite3_bind_text(st, 2, dag_id, -1, SQLITE_TRANSIENT), sqlite3_step(st) != SQLITE_DONE)) {
        api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
        sqlite3_finalize(st);
        goto out;
    }
    sqlite3_finalize(st);
    scheduler_wake();
    reply_dag(&c, dag_id);
out:
    cJSON_Delete(body);
    api_end(&c);
}

/* ---- tasks of a DAG (TaskApi.get_tasks / get_task), from the dag row's definition ---- */

static cJSON *timedelta(double secs)
{
    int64_t s = (int64_t)secs;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "__type", "TimeDelta");
    cJSON_AddNumberToObject(o, "days", (double)(s / 86400));
    cJSON_AddNumberToObject(o, "seconds", (double)(s % 86400));
    cJSON_AddNumberToObject(o, "microseconds", 0);
    return o;
}

static double num_or(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static cJSON *task_json(struct api_call *c, const cJSON *def, const cJSON *t)
{
    const char *task_id = cJSON_GetObjectItemCaseSensitive(t, "task_id")->valuestring;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(t, "operator");
    const char *opname = cJSON_IsString(op) && op->valuestring[0] ? op->valuestring : "unknown";
    bool bash = strstr(opname, "Bash") != NULL || strcmp(opname, "bash") == 0;
    const cJSON *owner = cJSON_GetObjectItemCaseSensitive(t, "owner");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task_id", task_id);
    cJSON_AddStringToObject(o, "task_display_name", task_id);
    cJSON_AddStringToObject(o, "owner", cJSON_IsString(owner) ? owner->valuestring : "airflow");
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(def, "start_date");
    char when[32];
    if (cJSON_IsNumber(sd)) {
        api_format_time((int64_t)sd->valuedouble, 0, when);
        cJSON_AddStringToObject(o, "start_date", when);
    } else {
        cJSON_AddNullToObject(o, "start_date");
    }
    cJSON_AddNullToObject(o, "end_date");
    cJSON_AddStringToObject(o, "trigger_rule", "all_success");
    cJSON_AddItemToObject(o, "extra_links", cJSON_CreateArray());
    cJSON_AddBoolToObject(o, "depends_on_past", false);
    cJSON_AddBoolToObject(o, "wait_for_downstream", false);
    cJSON_AddNumberToObject(o, "retries", num_or(t, "retries", 0));
    cJSON_AddStringToObject(o, "queue", "default");
    cJSON_AddStringToObject(o, "pool", "default_pool");
    cJSON_AddNumberToObject(o, "pool_slots", 1);
    double et = num_or(t, "execution_timeout_s", 0);
    if (et > 0)
        cJSON_AddItemToObject(o, "execution_timeout", timedelta(et));
    else if (!c->v1) /* v1's model does not take null here */
        cJSON_AddNullToObject(o, "execution_timeout");
    cJSON_AddItemToObject(o, "retry_delay", timedelta(num_or(t, "retry_delay_s", 300)));
    /* Airflow 2: a bool; Airflow 3.3: the backoff multiplier (0 = off, 2 = doubling) */
    bool backoff = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "retry_exponential_backoff"));
    if (c->v1)
        cJSON_AddBoolToObject(o, "retry_exponential_backoff", backoff);
    else
        cJSON_AddNumberToObject(o, "retry_exponential_backoff", backoff ? 2 : 0);
    cJSON_AddNumberToObject(o, "priority_weight", 1);
    cJSON_AddStringToObject(o, "weight_rule", "downstream");
    cJSON_AddStringToObject(o, "ui_color", bash ? "#f0ede4" : "#fff");
    cJSON_AddStringToObject(o, "ui_fgcolor", "#000");
    cJSON *tf = cJSON_AddArrayToObject(o, "template_fields");
    if (bash) {
        cJSON_AddItemToArray(tf, cJSON_CreateString("bash_command"));
        cJSON_AddItemToArray(tf, cJSON_CreateString("env"));
        cJSON_AddItemToArray(tf, cJSON_CreateString("cwd"));
    }
    cJSON *down = cJSON_AddArrayToObject(o, "downstream_task_ids");
    const cJSON *other;
    cJSON_ArrayForEach(other, cJSON_GetObjectItemCaseSensitive(def, "tasks"))
    {
        const cJSON *dep;
        cJSON_ArrayForEach(dep, cJSON_GetObjectItemCaseSensitive(other, "dependencies"))
        {
            const cJSON *oid = cJSON_GetObjectItemCaseSensitive(other, "task_id");
            if (cJSON_IsString(dep) && cJSON_IsString(oid) &&
                strcmp(dep->valuestring, task_id) == 0)
                cJSON_AddItemToArray(down, cJSON_CreateString(oid->valuestring));
        }
    }
    /* class_ref: Airflow's class for bash, "sluice.<Name>" for sluice's own operators */
    const char *dot = strrchr(opname, '.');
    char module[256];
    cJSON *cr = cJSON_AddObjectToObject(o, "class_ref");
    if (bash) {
        cJSON_AddStringToObject(cr, "module_path", "airflow.providers.standard.operators.bash");
        cJSON_AddStringToObject(cr, "class_name", "BashOperator");
    } else {
        snprintf(module, sizeof(module), "%.*s", dot ? (int)(dot - opname) : 6,
                 dot ? opname : "sluice");
        cJSON_AddStringToObject(cr, "module_path", module);
        cJSON_AddStringToObject(cr, "class_name", dot ? dot + 1 : opname);
    }
    cJSON_AddStringToObject(o, "operator_name", bash ? "BashOperator" : opname);
    cJSON_AddBoolToObject(o, "is_mapped", false);
    cJSON_AddNullToObject(o, "doc_md");
    if (!c->v1) {
        cJSON_AddItemToObject(o, "params", cJSON_CreateObject());
        cJSON_AddNullToObject(o, "executor");
    }
    return o;
}

/* The DAG's parsed definition, or NULL (404 answered). */
static cJSON *definition(struct api_call *c, const char *dag_id)
{
    sqlite3_stmt *st = NULL;
    cJSON *def = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(c->db, "SELECT definition FROM dag WHERE dag_id=?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, dag_id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            found = true;
            const char *t = (const char *)sqlite3_column_text(st, 0);
            def = t ? cJSON_Parse(t) : NULL;
        }
    }
    sqlite3_finalize(st);
    if (!found) {
        api_error(c, 404, "The Dag with ID: `%s` was not found", dag_id);
        return NULL;
    }
    if (!cJSON_IsObject(def)) {
        cJSON_Delete(def);
        def = cJSON_CreateObject();
    }
    return def;
}

static bool valid_task(const cJSON *t)
{
    return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "task_id"));
}

void api_h_tasks(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    cJSON *def = definition(&c, http_param(req, "dag_id"));
    if (def) {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "tasks");
        const cJSON *t;
        int n = 0;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(def, "tasks"))
        {
            if (valid_task(t)) {
                cJSON_AddItemToArray(arr, task_json(&c, def, t));
                n++;
            }
        }
        cJSON_AddNumberToObject(o, "total_entries", n);
        cJSON_Delete(def);
        api_reply(&c, 200, o);
    }
    api_end(&c);
}

void api_h_task(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    const char *task_id = http_param(req, "task_id");
    cJSON *def = definition(&c, http_param(req, "dag_id"));
    if (def) {
        cJSON *found = NULL;
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(def, "tasks"))
        {
            if (!found && valid_task(t) &&
                strcmp(cJSON_GetObjectItemCaseSensitive(t, "task_id")->valuestring, task_id) == 0)
                found = task_json(&c, def, t);
        }
        cJSON_Delete(def);
        if (found)
            api_reply(&c, 200, found);
        else
            api_error(&c, 404, "Task with id %s not found", task_id);
    }
    api_end(&c);
}
