/* The scheduler's REST API: the route table, what every handler shares (a DB connection per
 * call, errors in the shape of the API version, pagination, times), POST /auth/token, health,
 * version and import errors. DAGs, runs and task instances are in api_dags.c, api_runs.c and
 * api_tasks.c. Handlers read the metadata DB; writes are only meta.h's user actions. */
#include <ctype.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/units.h"
#include "scheduler/api.h"
#include "scheduler/api_int.h"
#include "scheduler/auth.h"
#include "scheduler/meta.h"

#define MOD "api"

/* ---- per-call state ---- */

int api_begin(struct http_req *req, void *ctx, struct api_call *c)
{
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->ctx = ctx;
    c->v1 = strncmp(http_path(req), "/api/v1/", 8) == 0;
    if (!c->ctx || !c->ctx->db_path ||
        sqlite3_open_v2(c->ctx->db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        if (c->db)
            sqlite3_close(c->db);
        c->db = NULL;
        api_error(c, 503, "metadata database unavailable");
        return -1;
    }
    sqlite3_busy_timeout(c->db, 5000);
    return 0;
}

void api_end(struct api_call *c)
{
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
}

void api_reply(struct api_call *c, unsigned status, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!s) {
        api_error(c, 500, "out of memory");
        return;
    }
    http_reply_json(c->req, status, s, strlen(s));
}

void api_error(struct api_call *c, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (c->v1) {
        cJSON_AddStringToObject(o, "type", "about:blank");
        cJSON_AddStringToObject(o, "title", http_reason(status));
        cJSON_AddNumberToObject(o, "status", status);
        cJSON_AddStringToObject(o, "detail", msg);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (s)
            http_reply_take(c->req, status, "application/problem+json", s, strlen(s));
        else
            http_reply(c->req, status, "text/plain", msg, strlen(msg));
        return;
    }
    cJSON_AddStringToObject(o, "detail", msg);
    api_reply(c, status, o);
}

void api_invalid(struct api_call *c, const char *type, const char *where, const char *field,
                 const char *msg, cJSON *input)
{
    if (c->v1) {
        cJSON_Delete(input);
        api_error(c, 400, "%s%s%s", field ? field : "", field ? ": " : "", msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "detail");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", type);
    cJSON *loc = cJSON_AddArrayToObject(e, "loc");
    cJSON_AddItemToArray(loc, cJSON_CreateString(where));
    if (field)
        cJSON_AddItemToArray(loc, cJSON_CreateString(field));
    cJSON_AddStringToObject(e, "msg", msg);
    cJSON_AddItemToObject(e, "input", input ? input : cJSON_CreateNull());
    cJSON_AddItemToArray(arr, e);
    api_reply(c, 422, o);
}

static int query_int(struct api_call *c, const char *key, int64_t dflt, int64_t *out)
{
    const char *s = http_query(c->req, key);
    *out = dflt;
    if (!s)
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0) {
        api_invalid(c, v < 0 && !*end ? "greater_than_equal" : "int_parsing", "query", key,
                    v < 0 && !*end ? "Input should be greater than or equal to 0"
                                   : "Input should be a valid integer, unable to parse string "
                                     "as an integer",
                    cJSON_CreateString(s));
        return -1;
    }
    *out = v;
    return 0;
}

int api_page(struct api_call *c, int64_t *limit, int64_t *offset)
{
    if (query_int(c, "limit", 50, limit) != 0 || query_int(c, "offset", 0, offset) != 0)
        return -1;
    if (*limit > 100)
        *limit = 100; /* [api] maximum_page_limit */
    return 0;
}

int api_query_bool(const char *s, bool *out)
{
    if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

cJSON *api_body_object(struct api_call *c)
{
    size_t len;
    const char *b = http_body(c->req, &len);
    cJSON *j = len ? cJSON_ParseWithLength(b, len) : NULL;
    if (!j) {
        api_invalid(c, "json_invalid", "body", NULL, "JSON decode error", NULL);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        api_invalid(c, "model_attributes_type", "body", NULL,
                    "Input should be a valid dictionary or object to extract fields from", j);
        return NULL;
    }
    return j;
}

int api_body_keys(struct api_call *c, cJSON *body, const char *const *allowed)
{
    for (cJSON *it = body->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || strcmp(*a, it->string) == 0;
        if (!ok) {
            if (c->v1) {
                api_error(c, 400, "Additional properties are not allowed ('%s' was unexpected)",
                          it->string);
            } else {
                api_invalid(c, "extra_forbidden", "body", it->string,
                            "Extra inputs are not permitted", cJSON_Duplicate(it, true));
            }
            return -1;
        }
    }
    return 0;
}

/* ---- JSON and time helpers ---- */

void api_add_text(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

void api_add_col(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
    api_add_text(o, key, (const char *)sqlite3_column_text(st, col));
}

void api_add_json_col(cJSON *o, const char *key, sqlite3_stmt *st, int col, const char *dflt)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    bool want_obj = dflt[0] == '{';
    if (!j || (want_obj ? !cJSON_IsObject(j) : !cJSON_IsArray(j))) {
        cJSON_Delete(j);
        j = cJSON_Parse(dflt);
    }
    cJSON_AddItemToObject(o, key, j);
}

/* "2023-09-03T10:00:00.000000Z" from seconds and microseconds. */
void api_format_time(int64_t sec, long us, char out[32])
{
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
    snprintf(out, 32, "%.31s", tmp);
}

void api_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    api_format_time((int64_t)ts.tv_sec, ts.tv_nsec / 1000, out);
}

/* An ISO time as seconds and microseconds; tz_required rejects naive times. */
static int parse_time(const char *s, bool tz_required, int64_t *sec, long *usec)
{
    int64_t us;
    if (parse_iso_time_us(s, ISO_NEED_TIME | (tz_required ? ISO_NEED_ZONE : 0), &us) != 0)
        return -1;
    *sec = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    *usec = (long)(us - *sec * 1000000);
    return 0;
}

int api_parse_time(const char *s, char out[32])
{
    int64_t sec;
    long us;
    if (!s || parse_time(s, true, &sec, &us) != 0)
        return -1;
    api_format_time(sec, us, out);
    return 0;
}

double api_duration(const char *start, const char *end)
{
    int64_t s1, s2;
    long u1, u2;
    if (!start || !end || parse_time(start, false, &s1, &u1) != 0 ||
        parse_time(end, false, &s2, &u2) != 0)
        return -1;
    return (double)(s2 - s1) + (double)(u2 - u1) / 1e6;
}

void api_version_uuid(const char *dag_id, int64_t number, char out[37])
{
    char in[512];
    int n = snprintf(in, sizeof(in), "sluice-dag-version:%s:%lld", dag_id, (long long)number);
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)in, (size_t)(n < (int)sizeof(in) ? n : (int)sizeof(in) - 1), h);
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x50); /* version 5 style: name-based */
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0],
             h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13],
             h[14], h[15]);
}

cJSON *api_dag_version_json(const char *dag_id, int64_t number, int64_t current,
                            const char *current_id, const char *at, const char *fallback_at)
{
    cJSON *e = cJSON_CreateObject();
    char uuid[37];
    if (number == current && current_id)
        snprintf(uuid, sizeof(uuid), "%s", current_id);
    else
        api_version_uuid(dag_id, number, uuid);
    cJSON_AddStringToObject(e, "id", uuid);
    cJSON_AddNumberToObject(e, "version_number", (double)number);
    cJSON_AddStringToObject(e, "dag_id", dag_id);
    cJSON_AddStringToObject(e, "dag_display_name", dag_id);
    cJSON_AddStringToObject(e, "bundle_name", "dags-folder");
    cJSON_AddNullToObject(e, "bundle_version");
    cJSON_AddNullToObject(e, "bundle_url");
    api_add_text(e, "created_at", at ? at : fallback_at);
    return e;
}

int api_need_dag(struct api_call *c, const char *dag_id)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM dag WHERE dag_id=?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, dag_id, -1, SQLITE_TRANSIENT);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    if (!found) {
        api_error(c, 404, "The Dag with ID: `%s` was not found", dag_id);
        return -1;
    }
    return 0;
}

/* ---- POST /auth/token ---- */

/* Finds key in an x-www-form-urlencoded body; decodes into out. */
static bool form_value(const char *body, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = body;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            char raw[1024];
            size_t vl = n - kl - 1;
            if (vl >= sizeof(raw))
                return false;
            memcpy(raw, p + kl + 1, vl);
            raw[vl] = '\0';
            for (char *q = raw; *q; q++)
                if (*q == '+')
                    *q = ' ';
            return http_url_decode(raw, out, cap) == 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

static void h_token(struct http_req *req, void *vctx)
{
    struct api_ctx *ctx = vctx;
    struct api_call c = {.req = req, .ctx = ctx};
    char user[256] = "", pw[1024] = "";
    bool have_user = false, have_pw = false;
    const char *ct = http_header(req, "Content-Type");
    size_t len;
    const char *body = http_body(req, &len);
    if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        have_user = form_value(body, "username", user, sizeof(user));
        have_pw = form_value(body, "password", pw, sizeof(pw));
    } else {
        cJSON *j = cJSON_ParseWithLength(body, len);
        cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "username");
        cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "password");
        if (cJSON_IsString(u) && strlen(u->valuestring) < sizeof(user)) {
            snprintf(user, sizeof(user), "%s", u->valuestring);
            have_user = true;
        }
        if (cJSON_IsString(p) && strlen(p->valuestring) < sizeof(pw)) {
            snprintf(pw, sizeof(pw), "%s", p->valuestring);
            have_pw = true;
        }
        cJSON_Delete(j);
    }
    if (!have_user || !have_pw || !user[0] || !pw[0]) {
        api_error(&c, 400, "Username and password must be provided");
        return;
    }
    char tok[4096];
    struct sl_err err;
    if (!ctx->auth || auth_login(ctx->auth, user, pw, tok, sizeof(tok), &err) != 0) {
        memset(pw, 0, sizeof(pw));
        log_info(MOD, "login failed for user '%s' from %s", user, http_peer(req));
        api_error(&c, 401, "Invalid credentials");
        return;
    }
    memset(pw, 0, sizeof(pw));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "access_token", tok);
    api_reply(&c, 201, o);
}

/* ---- health, version ---- */

static void h_health(struct http_req *req, void *ctx)
{
    struct api_call c;
    memset(&c, 0, sizeof(c));
    c.req = req;
    c.ctx = ctx;
    c.v1 = strncmp(http_path(req), "/api/v1/", 8) == 0;
    bool db_ok = false;
    char hb[64] = "";
    if (c.ctx && c.ctx->db_path &&
        sqlite3_open_v2(c.ctx->db_path, &c.db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(c.db, 2000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(c.db, "SELECT value FROM scheduler_state WHERE key='heartbeat'", -1,
                               &st, NULL) == SQLITE_OK) {
            db_ok = true;
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(hb, sizeof(hb), "%s", (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
    }
    api_end(&c);
    double age = -1;
    if (hb[0]) {
        char now[32];
        api_now(now);
        age = api_duration(hb, now);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(o, "metadatabase");
    cJSON_AddStringToObject(m, "status", db_ok ? "healthy" : "unhealthy");
    cJSON *s = cJSON_AddObjectToObject(o, "scheduler");
    cJSON_AddStringToObject(s, "status", age >= 0 && age < 30 ? "healthy" : "unhealthy");
    api_add_text(s, "latest_scheduler_heartbeat", hb[0] ? hb : NULL);
    cJSON *t = cJSON_AddObjectToObject(o, "triggerer");
    cJSON_AddNullToObject(t, "status");
    cJSON_AddNullToObject(t, "latest_triggerer_heartbeat");
    cJSON *d = cJSON_AddObjectToObject(o, "dag_processor");
    cJSON_AddNullToObject(d, "status");
    cJSON_AddNullToObject(d, "latest_dag_processor_heartbeat");
    api_reply(&c, 200, o);
}

static void h_version(struct http_req *req, void *ctx)
{
    struct api_call c = {.req = req, .ctx = ctx};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", SLUICE_VERSION);
    cJSON_AddNullToObject(o, "git_version");
    api_reply(&c, 200, o);
}

/* ---- import errors ---- */

static void h_import_errors(struct http_req *req, void *ctx)
{
    struct api_call c;
    if (api_begin(req, ctx, &c) != 0)
        return;
    int64_t limit, offset;
    if (api_page(&c, &limit, &offset) != 0)
        goto out;
    const char *ob = http_query(req, "order_by");
    const char *order = "id";
    if (ob && (strcmp(ob, "-import_error_id") == 0 || strcmp(ob, "-id") == 0))
        order = "id DESC";
    else if (ob && strcmp(ob, "filename") == 0)
        order = "filename";
    else if (ob && strcmp(ob, "-filename") == 0)
        order = "filename DESC";
    else if (ob && strcmp(ob, "timestamp") == 0)
        order = "timestamp";
    else if (ob && strcmp(ob, "-timestamp") == 0)
        order = "timestamp DESC";
    else if (ob && strcmp(ob, "import_error_id") != 0 && strcmp(ob, "id") != 0) {
        api_error(&c, 400,
                  "Ordering with '%s' is disallowed or the attribute does not exist on "
                  "the model",
                  ob);
        goto out;
    }
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT id, timestamp, filename, stack_trace, (SELECT count(*) FROM import_error) "
             "FROM import_error ORDER BY %s LIMIT ? OFFSET ?",
             order);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c.db, sql, -1, &st, NULL) != SQLITE_OK) {
        api_error(&c, 500, "%s", sqlite3_errmsg(c.db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, limit);
    sqlite3_bind_int64(st, 2, offset);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "import_errors");
    int64_t total = -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "import_error_id", (double)sqlite3_column_int64(st, 0));
        api_add_col(e, "timestamp", st, 1);
        api_add_col(e, "filename", st, 2);
        if (!c.v1)
            cJSON_AddStringToObject(e, "bundle_name", "dags-folder");
        api_add_col(e, "stack_trace", st, 3);
        cJSON_AddItemToArray(arr, e);
        total = sqlite3_column_int64(st, 4);
    }
    sqlite3_finalize(st);
    if (total < 0) {
        sqlite3_stmt *cnt = NULL;
        total = 0;
        if (sqlite3_prepare_v2(c.db, "SELECT count(*) FROM import_error", -1, &cnt, NULL) ==
                SQLITE_OK &&
            sqlite3_step(cnt) == SQLITE_ROW)
            total = sqlite3_column_int64(cnt, 0);
        sqlite3_finalize(cnt);
    }
    cJSON_AddNumberToObject(o, "total_entries", (double)total);
    api_reply(&c, 200, o);
out:
    api_end(&c);
}

/* ---- routes ---- */

#define TI "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"
#define BOTH(method, path, fn, flags)                                                              \
    {method, "/api/v2" path, fn, flags},                                                           \
    {                                                                                              \
        method, "/api/v1" path, fn, flags                                                          \
    }

static const struct http_route routes[] = {
    {"POST", "/auth/token", h_token, HTTP_PUBLIC},
    {"GET", "/api/v2/monitor/health", h_health, HTTP_PUBLIC},
    {"GET", "/api/v1/health", h_health, HTTP_PUBLIC},
    BOTH("GET", "/version", h_version, HTTP_PUBLIC),
    BOTH("GET", "/dags", api_h_dags, 0),
    BOTH("GET", "/dags/{dag_id}", api_h_dag, 0),
    BOTH("PATCH", "/dags/{dag_id}", api_h_dag_patch, 0),
    BOTH("GET", "/dags/{dag_id}/tasks", api_h_tasks, 0),
    BOTH("GET", "/dags/{dag_id}/tasks/{task_id}", api_h_task, 0),
    BOTH("GET", "/dags/{dag_id}/dagRuns", api_h_runs, 0),
    BOTH("POST", "/dags/{dag_id}/dagRuns", api_h_run_trigger, 0),
    BOTH("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}", api_h_run, 0),
    BOTH("PATCH", "/dags/{dag_id}/dagRuns/{dag_run_id}", api_h_run_patch, 0),
    BOTH("GET", TI, api_h_tis, 0),
    BOTH("GET", TI "/{task_id}", api_h_ti, 0),
    BOTH("GET", TI "/{task_id}/logs/{try_number}", api_h_ti_log, 0),
    BOTH("GET", "/importErrors", h_import_errors, 0),
    {NULL, NULL, NULL, 0},
};

const struct http_route *api_routes(void)
{
    return routes;
}

size_t api_routes_count(void)
{
    return sizeof(routes) / sizeof(routes[0]) - 1;
}
