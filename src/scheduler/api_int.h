/* Internals shared by the REST API's files (api.c, api_dags.c, api_runs.c, api_tasks.c): one
 * call's state, replies and errors in the shape of the API version the path belongs to
 * (/api/v1: Airflow 2, RFC 7807; else Airflow 3, {"detail"}), pagination, time text. */
#ifndef SLUICE_SCHEDULER_API_INT_H
#define SLUICE_SCHEDULER_API_INT_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/http.h"

struct api_ctx; /* scheduler/api.h */

struct api_call {
    struct http_req *req;
    struct api_ctx *ctx;
    sqlite3 *db;
    bool v1; /* the path is under /api/v1 */
};

/* Opens the call's DB connection; on failure answers 503 and returns -1. */
int api_begin(struct http_req *req, void *ctx, struct api_call *c);
void api_end(struct api_call *c);

/* Replies; api_reply takes ownership of obj. */
void api_reply(struct api_call *c, unsigned status, cJSON *obj);
void api_error(struct api_call *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A validation error: v2 answers 422 {"detail":[{"type","loc":[where, field],"msg","input"}]}
 * (takes ownership of input, which may be NULL), v1 answers 400 with msg. */
void api_invalid(struct api_call *c, const char *type, const char *where, const char *field,
                 const char *msg, cJSON *input);
/* Reads limit (default 50, at most 100) and offset; on bad values answers and returns -1. */
int api_page(struct api_call *c, int64_t *limit, int64_t *offset);
/* Parses a JSON object body; on failure answers (422/400) and returns NULL. */
cJSON *api_body_object(struct api_call *c);
/* Checks that every key of body is in allowed (NULL-terminated); answers and returns -1 if not. */
int api_body_keys(struct api_call *c, cJSON *body, const char *const *allowed);

/* Adds key: text or null. */
void api_add_text(cJSON *o, const char *key, const char *v);
/* Adds key: the column's text or null. */
void api_add_col(cJSON *o, const char *key, sqlite3_stmt *st, int col);
/* Adds key: the column parsed as JSON (a '{}' or '[]' text), or dflt ("{}"/"[]") when bad. */
void api_add_json_col(cJSON *o, const char *key, sqlite3_stmt *st, int col, const char *dflt);
/* Seconds between two ISO times, or -1 if either is missing or bad. */
double api_duration(const char *start, const char *end);

/* Seconds and microseconds since the epoch as "2023-09-03T10:00:00.000000Z" (32 bytes). */
void api_format_time(int64_t sec, long us, char out[32]);
/* Current time as "2023-09-03T10:00:00.000000Z" (32 bytes). */
void api_now(char out[32]);
/* Parses an ISO 8601 date-time that carries a time zone (Z or +HH:MM) into the DB's form;
 * -1 when it is malformed or naive. */
int api_parse_time(const char *s, char out[32]);
/* A DAG version's id: the dag's own version_id for its current version, else a UUID derived
 * from dag_id and the number. */
void api_version_uuid(const char *dag_id, int64_t number, char out[37]);
/* A DagVersionResponse for version `number` of dag_id: its id is current_id when number is the
 * DAG's current version (current), else api_version_uuid's; created_at is at, else
 * fallback_at. Caller owns the object. */
cJSON *api_dag_version_json(const char *dag_id, int64_t number, int64_t current,
                            const char *current_id, const char *at, const char *fallback_at);

/* Is this string one of Airflow's bool query values ("true"/"false", any case, 1/0)? */
int api_query_bool(const char *s, bool *out);

/* Handlers. */
void api_h_dags(struct http_req *req, void *ctx);
void api_h_dag(struct http_req *req, void *ctx);
void api_h_dag_patch(struct http_req *req, void *ctx);
void api_h_tasks(struct http_req *req, void *ctx);
void api_h_task(struct http_req *req, void *ctx);
void api_h_runs(struct http_req *req, void *ctx);
void api_h_run(struct http_req *req, void *ctx);
void api_h_run_trigger(struct http_req *req, void *ctx);
void api_h_run_patch(struct http_req *req, void *ctx);
void api_h_tis(struct http_req *req, void *ctx);
void api_h_ti(struct http_req *req, void *ctx);
void api_h_ti_log(struct http_req *req, void *ctx);

/* Writes the DAG run row of (dag_id, run_id) as JSON; NULL when there is none. */
cJSON *api_run_json(struct api_call *c, const char *dag_id, const char *run_id);
/* Answers 404 unless the DAG exists; returns -1 then. */
int api_need_dag(struct api_call *c, const char *dag_id);

#endif
