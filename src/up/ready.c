/* `sluice up` after start-up: the UI's login and the first run of user_automation, through
 * the same REST API (POST /auth/token, PATCH /api/v2/dags, POST .../dagRuns) any client uses. */
#include "up/ready.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/units.h"

int up_admin_password(const char *data_dir, char *out, size_t cap)
{
    const char *env = getenv("SLUICE_SCHEDULER_ADMIN_PASSWORD");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/scheduler/admin-password", data_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(out, (int)cap, f);
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : -1;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    return buf_append(arg, p, sz * n) == 0 ? sz * n : 0;
}

/* One JSON call; returns the HTTP status (0 when it could not connect), body in b. */
static long call(const char *method, const char *url, const char *auth, const char *body,
                 struct buf *b)
{
    buf_reset(b);
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    char bearer[4200];
    if (auth) {
        snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", auth);
        h = curl_slist_append(h, bearer);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_append(b, "", 1);
    return status;
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int up_trigger_dag(const char *addr, const char *user, const char *password, const char *dag_id,
                   long wait_ms, struct sl_err *err)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    char url[1024], token[4096] = "";
    int rc = -1;
    int64_t deadline = mono_ms() + wait_ms;

    cJSON *login = cJSON_CreateObject();
    cJSON_AddStringToObject(login, "username", user);
    cJSON_AddStringToObject(login, "password", password);
    char *lb = cJSON_PrintUnformatted(login);
    cJSON_Delete(login);
    snprintf(url, sizeof url, "http://%s/auth/token", addr);
    long st;
    while ((st = call("POST", url, NULL, lb, &b)) == 0 && mono_ms() < deadline)
        nap(200);
    free(lb);
    cJSON *doc = cJSON_Parse((const char *)b.data);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(doc, "access_token");
    if (st / 100 != 2 || !cJSON_IsString(tok)) {
        cJSON_Delete(doc);
        sl_err_set(err, "login to the scheduler at %s failed (HTTP %ld)", addr, st);
        goto out;
    }
    snprintf(token, sizeof token, "%s", tok->valuestring);
    cJSON_Delete(doc);

    /* The DAG appears after the scheduler's first look at its DAG files. */
    snprintf(url, sizeof url, "http://%s/api/v2/dags/%s?update_mask=is_paused", addr, dag_id);
    while ((st = call("PATCH", url, token, "{\"is_paused\": false}", &b)) != 200 &&
           mono_ms() < deadline)
        nap(200);
    if (st != 200) {
        sl_err_set(err, "cannot unpause %s (HTTP %ld: %s)", dag_id, st, (const char *)b.data);
        goto out;
    }
    /* Unpausing a scheduled DAG may start its latest run by itself (catchup false, as Airflow
     * does with data intervals): then that is the one run, and no second one is triggered. */
    snprintf(url, sizeof url, "http://%s/api/v2/dags/%s/dagRuns?state=queued&state=running&limit=1",
             addr, dag_id);
    for (int i = 0; i < 10; i++) {
        if (call("GET", url, token, NULL, &b) == 200) {
            cJSON *runs = cJSON_Parse((const char *)b.data);
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(runs, "total_entries");
            bool active = cJSON_IsNumber(n) && n->valuedouble > 0;
            cJSON_Delete(runs);
            if (active) {
                rc = 0;
                goto out;
            }
        }
        nap(200);
    }
    snprintf(url, sizeof url, "http://%s/api/v2/dags/%s/dagRuns", addr, dag_id);
    st = call("POST", url, token, "{\"logical_date\": null, \"conf\": {}}", &b);
    if (st / 100 != 2) {
        sl_err_set(err, "cannot trigger %s (HTTP %ld: %s)", dag_id, st, (const char *)b.data);
        goto out;
    }
    rc = 0;
out:
    buf_free(&b);
    return rc;
}
