/* The scheduler's web UI: pages and assets compiled into the binary (web_assets.h), login and
 * logout with the session cookie `sluice_session` (a JWT from auth_login, the same users as the
 * REST API), and JSON under /ui/api/ for what the REST API does not have: the pipeline's live
 * figures (sampled every second from the parts' /metrics, the topic's offsets and the store,
 * kept for 15 minutes), the latest stored users, the latest dead letters, topics and a message
 * browser. DAG data comes from the REST API (/api/v2) itself. Also GET /metrics: the
 * scheduler's runs and task states. The UI only reads: the store read-only, Kafka without a
 * consumer group. */
#ifndef SLUICE_SCHEDULER_UI_H
#define SLUICE_SCHEDULER_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/http.h"

struct ui_opts {
    const char *data_dir;  /* DATA_DIR: the default store, the embedded broker's topic sizes */
    const char *db_path;   /* the scheduler's metadata DB, for /metrics; NULL: no such metrics */
    const char *bootstrap; /* Kafka bootstrap; NULL: 127.0.0.1:9092 */
    const char *topic;     /* NULL: users_created */
    const char *dlq_topic; /* NULL: TOPIC.dlq */
    const char *store_db;  /* SQLite file of the store; NULL: DATA_DIR/store/spark_streams.db */
    /* The parts' metrics endpoints to sample, "name=HOST:PORT,..." (e.g.
     * "broker=127.0.0.1:9641,process=127.0.0.1:9642,ingest=127.0.0.1:9643"); NULL: none. */
    const char *targets;
    bool secure_cookie; /* mark the session cookie Secure (when served over TLS) */
    bool auth_off;      /* the scheduler runs without authentication: pages need no login */
};

struct ui;

/* Starts the sampler thread; copies what it needs from o. Returns -1 with err on bad options. */
int ui_create(const struct ui_opts *o, struct ui **out, struct sl_err *err);
void ui_destroy(struct ui *ui);

/* The UI's routes (ending with a NULL-pattern entry). Their handlers expect the server's ctx
 * to be a struct api_ctx (scheduler/api.h) whose `ui` and `auth` are set. */
const struct http_route *ui_routes(void);
size_t ui_routes_count(void);

#endif
