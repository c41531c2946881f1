/* `sluice dags list|trigger|pause|unpause|runs` and `sluice tasks logs`: a CLI over the
 * scheduler's REST API (/api/v2, a token from POST /auth/token), so it works against any
 * running scheduler, as Airflow's CLI talks to its API server. Exit codes: 0 ok, 1 failure
 * (unreachable, HTTP error), 2 usage error. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/fsutil.h"

#define API_MAX_BODY (64u << 20)

static const struct opt_def dags_opts[] = {
    {"url", OPT_STRING, "http://127.0.0.1:8080", "URL", "the scheduler's API"},
    {"user", OPT_STRING, "admin", "NAME", "user to log in as"},
    {"password", OPT_STRING, NULL, "PW",
     "password [default: SLUICE_SCHEDULER_ADMIN_PASSWORD, else DATA_DIR/scheduler/"
     "admin-password]"},
    {"data-dir", OPT_STRING, "./sluice-data", "DIR", "where the generated admin password is"},
    {"json", OPT_BOOL, "false", NULL, "print the API's JSON instead of a table"},
    {"conf", OPT_STRING, NULL, "JSON", "trigger: the run's conf (a JSON object)"},
    {"run-id", OPT_STRING, NULL, "ID", "trigger: the run id [default: manual__<time>]"},
    {"limit", OPT_INT, "25", "N", "runs: how many of the latest runs"},
    {"try", OPT_INT, "0", "N", "logs: the try number [default: the latest]"},
    {"follow", OPT_BOOL, "false", NULL, "logs: keep printing until the task finishes"},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def dags_cmd = {
    "dags", "List, trigger, pause and unpause DAGs and list their runs (over the REST API).",
    "sluice dags ACTION [DAG] [options]", dags_opts,
    "Actions:\n"
    "  list                 DAGs with their schedule, paused state, next run and tags\n"
    "  trigger DAG          start a run now [--conf JSON] [--run-id ID]\n"
    "  pause DAG            stop scheduling new runs\n"
    "  unpause DAG          resume scheduling\n"
    "  runs DAG             the latest runs and their states [--limit N]\n"
    "\n"
    "The scheduler must be running (sluice scheduler); --url points at it."};

static const struct cmd_def tasks_cmd = {
    "tasks", "Read a task's log (over the REST API).",
    "sluice tasks logs DAG RUN_ID TASK_ID [--try N] [--follow] [options]", dags_opts,
    "Prints the log of one try of a task (the latest by default); --follow keeps printing\n"
    "new lines until the task instance is finished."};

struct cli {
    const char *prog;
    char base[1024];
    char auth[4200];
    bool json;
};

struct http_res {
    long status;
    char *body; /* NUL-terminated */
    cJSON *json;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    return buf_append(arg, p, sz * n) == 0 ? sz * n : 0;
}

static void res_free(struct http_res *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

/* One request; path is appended to the base URL. 0 when an answer came (any status). */
static int request(struct cli *c, const char *method, const char *path, const char *body,
                   struct http_res *res)
{
    memset(res, 0, sizeof(*res));
    char url[4096];
    snprintf(url, sizeof(url), "%s%s", c->base, path);
    struct buf b;
    buf_init(&b, API_MAX_BODY);
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: application/json");
    hd = curl_slist_append(hd, "Expect:");
    if (c->auth[0])
        hd = curl_slist_append(hd, c->auth);
    if (body)
        hd = curl_slist_append(hd, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "sluice-cli/" SLUICE_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s: cannot reach the scheduler at %s: %s\n", c->prog, c->base,
                curl_easy_strerror(rc));
        buf_free(&b);
        return -1;
    }
    buf_append(&b, "", 1);
    res->body = (char *)buf_detach(&b, NULL);
    res->json = cJSON_Parse(res->body);
    return 0;
}

/* Prints an HTTP error in one line (the API's detail when there is one); returns 1. */
static int http_fail(struct cli *c, struct http_res *r)
{
    cJSON *d = cJSON_GetObjectItemCaseSensitive(r->json, "detail");
    char *text = NULL;
    if (cJSON_IsString(d))
        fprintf(stderr, "%s: HTTP %ld: %s\n", c->prog, r->status, d->valuestring);
    else if (d && (text = cJSON_PrintUnformatted(d)) != NULL)
        fprintf(stderr, "%s: HTTP %ld: %s\n", c->prog, r->status, text);
    else
        fprintf(stderr, "%s: HTTP %ld: %.200s\n", c->prog, r->status, r->body ? r->body : "");
    free(text);
    res_free(r);
    return 1;
}

/* Makes a request and checks for 2xx; on failure prints and returns 1. */
static int api(struct cli *c, const char *method, const char *path, const char *body,
               struct http_res *res)
{
    if (request(c, method, path, body, res) != 0)
        return 1;
    if (res->status < 200 || res->status >= 300)
        return http_fail(c, res);
    return 0;
}

static int login(struct cli *c, const struct config *cfg)
{
    const char *pw = config_str(cfg, "password");
    char *filepw = NULL;
    if (!pw)
        pw = getenv("SLUICE_SCHEDULER_ADMIN_PASSWORD");
    if (!pw || !*pw) {
        char path[4096];
        size_t n;
        struct sl_err err;
        snprintf(path, sizeof(path), "%s/scheduler/admin-password", config_str(cfg, "data-dir"));
        if (fs_read_file(path, 4096, &filepw, &n, &err) != 0) {
            fprintf(stderr,
                    "%s: no password: give --password, set SLUICE_SCHEDULER_ADMIN_PASSWORD, "
                    "or point --data-dir at the scheduler's data (%s)\n",
                    c->prog, err.msg);
            return 1;
        }
        while (n > 0 && (filepw[n - 1] == '\n' || filepw[n - 1] == '\r'))
            filepw[--n] = '\0';
        pw = filepw;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "username", config_str(cfg, "user"));
    cJSON_AddStringToObject(b, "password", pw);
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (filepw) {
        memset(filepw, 0, strlen(filepw));
        free(filepw);
    }
    struct http_res r;
    int rc = api(c, "POST", "/auth/token", body, &r);
    free(body);
    if (rc != 0)
        return rc;
    cJSON *t = cJSON_GetObjectItemCaseSensitive(r.json, "access_token");
    if (!cJSON_IsString(t)) {
        fprintf(stderr, "%s: the scheduler gave no token\n", c->prog);
        res_free(&r);
        return 1;
    }
    snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", t->valuestring);
    res_free(&r);
    return 0;
}

/* URL-escapes one path segment. */
static void esc(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    for (; *s && j + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[j++] = (char)ch;
        } else {
            out[j++] = '%';
            out[j++] = hex[ch >> 4];
            out[j++] = hex[ch & 15];
        }
    }
    out[j] = '\0';
}

static const char *js(const cJSON *o, const char *k, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* "2026-01-02T00:00:01.123456Z" -> "2026-01-02 00:00:01" */
static const char *short_time(const char *t, char out[20])
{
    if (!t || strlen(t) < 19)
        return "-";
    snprintf(out, 20, "%.10s %.8s", t, t + 11);
    return out;
}

static void print_json(cJSON *j)
{
    char *s = cJSON_Print(j);
    if (s)
        puts(s);
    free(s);
}

static int dags_list(struct cli *c)
{
    cJSON *all = cJSON_CreateArray();
    int64_t total = 0;
    for (int64_t off = 0;; off += 100) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v2/dags?limit=100&offset=%lld", (long long)off);
        struct http_res r;
        if (api(c, "GET", path, NULL, &r) != 0) {
            cJSON_Delete(all);
            return 1;
        }
        cJSON *dags = cJSON_GetObjectItemCaseSensitive(r.json, "dags");
        cJSON *te = cJSON_GetObjectItemCaseSensitive(r.json, "total_entries");
        total = cJSON_IsNumber(te) ? (int64_t)te->valuedouble : 0;
        int n = cJSON_GetArraySize(dags);
        cJSON *d;
        cJSON_ArrayForEach(d, dags) cJSON_AddItemToArray(all, cJSON_Duplicate(d, true));
        res_free(&r);
        if (n == 0 || off + n >= total)
            break;
    }
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "dags", all);
        cJSON_AddNumberToObject(o, "total_entries", (double)total);
        print_json(o);
        cJSON_Delete(o);
        return 0;
    }
    printf("%-32s %-7s %-16s %-20s %s\n", "DAG_ID", "PAUSED", "SCHEDULE", "NEXT_RUN", "TAGS");
    cJSON *d;
    cJSON_ArrayForEach(d, all)
    {
        char tags[256] = "", tbuf[20];
        size_t tl = 0;
        cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(d, "tags"))
        {
            const char *name = js(t, "name", "");
            tl += (size_t)snprintf(tags + tl, tl < sizeof(tags) ? sizeof(tags) - tl : 0, "%s%s",
                                   tl ? "," : "", name);
            if (tl >= sizeof(tags))
                break;
        }
        printf("%-32s %-7s %-16s %-20s %s\n", js(d, "dag_id", "?"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "is_paused")) ? "yes" : "no",
               js(d, "timetable_summary", "None"),
               short_time(js(d, "next_dagrun_run_after", NULL), tbuf), tags);
    }
    cJSON_Delete(all);
    return 0;
}

static int dags_pause(struct cli *c, const char *dag, bool pause)
{
    char e[1024], path[1200];
    esc(dag, e, sizeof(e));
    snprintf(path, sizeof(path), "/api/v2/dags/%s?update_mask=is_paused", e);
    struct http_res r;
    if (api(c, "PATCH", path, pause ? "{\"is_paused\":true}" : "{\"is_paused\":false}", &r) != 0)
        return 1;
    if (c->json)
        print_json(r.json);
    else
        printf("DAG %s %s\n", dag, pause ? "paused" : "unpaused");
    res_free(&r);
    return 0;
}

static int dags_trigger(struct cli *c, const char *dag, const char *conf, const char *run_id)
{
    cJSON *b = cJSON_CreateObject();
    if (run_id)
        cJSON_AddStringToObject(b, "dag_run_id", run_id);
    cJSON_AddNullToObject(b, "logical_date");
    if (conf) {
        cJSON *cj = cJSON_Parse(conf);
        if (!cJSON_IsObject(cj)) {
            fprintf(stderr, "%s: --conf must be a JSON object, e.g. '{\"n\": 5}'\n", c->prog);
            cJSON_Delete(cj);
            cJSON_Delete(b);
            return 2;
        }
        cJSON_AddItemToObject(b, "conf", cj);
    }
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    char e[1024], path[1200];
    esc(dag, e, sizeof(e));
    snprintf(path, sizeof(path), "/api/v2/dags/%s/dagRuns", e);
    struct http_res r;
    int rc = api(c, "POST", path, body, &r);
    free(body);
    if (rc != 0)
        return rc;
    if (c->json)
        print_json(r.json);
    else
        printf("triggered %s: run %s (%s)\n", dag, js(r.json, "dag_run_id", "?"),
               js(r.json, "state", "?"));
    res_free(&r);
    return 0;
}

static int dags_runs(struct cli *c, const char *dag, int64_t limit)
{
    char e[1024], path[1300];
    esc(dag, e, sizeof(e));
    snprintf(path, sizeof(path), "/api/v2/dags/%s/dagRuns?order_by=-run_after&limit=%lld", e,
             (long long)limit);
    struct http_res r;
    if (api(c, "GET", path, NULL, &r) != 0)
        return 1;
    if (c->json) {
        print_json(r.json);
        res_free(&r);
        return 0;
    }
    printf("%-48s %-8s %-9s %-19s %-19s %s\n", "RUN_ID", "STATE", "TYPE", "RUN_AFTER", "START",
           "END");
    cJSON *run;
    cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(r.json, "dag_runs"))
    {
        char a[20], s[20], en[20];
        printf(
            "%-48s %-8s %-9s %-19s %-19s %s\n", js(run, "dag_run_id", "?"), js(run, "state", "?"),
            js(run, "run_type", "?"), short_time(js(run, "run_after", NULL), a),
            short_time(js(run, "start_date", NULL), s), short_time(js(run, "end_date", NULL), en));
    }
    res_free(&r);
    return 0;
}

static bool finished(const char *state)
{
    return state && (strcmp(state, "success") == 0 || strcmp(state, "failed") == 0 ||
                     strcmp(state, "upstream_failed") == 0 || strcmp(state, "skipped") == 0 ||
                     strcmp(state, "removed") == 0);
}

static int tasks_logs(struct cli *c, const char *dag, const char *run, const char *task,
                      int64_t try_n, bool follow)
{
    char ed[1024], er[1024], et[1024], ti_path[3300];
    esc(dag, ed, sizeof(ed));
    esc(run, er, sizeof(er));
    esc(task, et, sizeof(et));
    snprintf(ti_path, sizeof(ti_path), "/api/v2/dags/%s/dagRuns/%s/taskInstances/%s", ed, er, et);
    char token[64] = "";
    for (;;) {
        struct http_res r;
        if (api(c, "GET", ti_path, NULL, &r) != 0)
            return 1;
        cJSON *tn = cJSON_GetObjectItemCaseSensitive(r.json, "try_number");
        int64_t latest = cJSON_IsNumber(tn) ? (int64_t)tn->valuedouble : 0;
        bool done = finished(js(r.json, "state", NULL));
        res_free(&r);
        int64_t t = try_n > 0 ? try_n : latest;
        if (t == 0) {
            if (!follow) {
                fprintf(stderr, "%s: task %s has not run yet in %s\n", c->prog, task, run);
                return 1;
            }
        } else {
            char path[3500];
            snprintf(path, sizeof(path), "%s/logs/%lld%s%s", ti_path, (long long)t,
                     token[0] ? "?token=" : "", token);
            if (api(c, "GET", path, NULL, &r) != 0)
                return 1;
            if (c->json) {
                print_json(r.json);
            } else {
                cJSON *line;
                cJSON_ArrayForEach(line, cJSON_GetObjectItemCaseSensitive(r.json, "content"))
                {
                    if (cJSON_IsString(line))
                        puts(line->valuestring);
                    else
                        puts(js(line, "event", ""));
                }
            }
            fflush(stdout);
            snprintf(token, sizeof(token), "%s", js(r.json, "continuation_token", ""));
            res_free(&r);
        }
        if (!follow || (done && (try_n > 0 || t == latest)))
            return 0;
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
}

static int run(const struct cmd_def *cmd, int argc, char **argv, bool tasks)
{
    struct config *cfg = NULL;
    struct sl_err err;
    int rc = config_parse(cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    char prog[32];
    snprintf(prog, sizeof(prog), "sluice %s", cmd->name);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 2;
    }
    struct cli c = {.prog = prog, .json = config_bool(cfg, "json")};
    snprintf(c.base, sizeof(c.base), "%s", config_str(cfg, "url"));
    size_t bl = strlen(c.base);
    while (bl > 0 && c.base[bl - 1] == '/')
        c.base[--bl] = '\0';
    int n = config_nargs(cfg);
    const char *action = n > 0 ? config_arg(cfg, 0) : NULL;
    int want = -1;
    if (!action) {
        want = -1;
    } else if (tasks) {
        want = strcmp(action, "logs") == 0 ? 4 : -1;
    } else if (strcmp(action, "list") == 0) {
        want = 1;
    } else if (strcmp(action, "trigger") == 0 || strcmp(action, "pause") == 0 ||
               strcmp(action, "unpause") == 0 || strcmp(action, "runs") == 0) {
        want = 2;
    }
    if (want < 0 || n != want) {
        fprintf(stderr, "%s: usage: %s (see --help)\n", prog, cmd->usage);
        config_free(cfg);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = login(&c, cfg);
    if (rc == 0) {
        if (tasks)
            rc = tasks_logs(&c, config_arg(cfg, 1), config_arg(cfg, 2), config_arg(cfg, 3),
                            config_int(cfg, "try"), config_bool(cfg, "follow"));
        else if (strcmp(action, "list") == 0)
            rc = dags_list(&c);
        else if (strcmp(action, "trigger") == 0)
            rc = dags_trigger(&c, config_arg(cfg, 1), config_str(cfg, "conf"),
                              config_str(cfg, "run-id"));
        else if (strcmp(action, "runs") == 0)
            rc = dags_runs(&c, config_arg(cfg, 1), config_int(cfg, "limit"));
        else
            rc = dags_pause(&c, config_arg(cfg, 1), strcmp(action, "pause") == 0);
    }
    curl_global_cleanup();
    config_free(cfg);
    return rc;
}

int dags_main(int argc, char **argv)
{
    return run(&dags_cmd, argc, argv, false);
}

int tasks_main(int argc, char **argv)
{
    return run(&tasks_cmd, argc, argv, true);
}
