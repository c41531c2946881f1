/* Inside the web UI: its state and the handlers split across ui*.c. */
#ifndef SLUICE_SCHEDULER_UI_INT_H
#define SLUICE_SCHEDULER_UI_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/http.h"

#define UI_MAX_TARGETS 8
#define UI_MAX_PARTS 64
#define UI_MAX_BUCKETS 32
#define UI_POINTS 900 /* 15 minutes at one a second */

struct ui_target {
    char name[32];
    char url[300];
    bool up;
};

/* One sample of the pipeline: rates over the last second, and levels. */
struct ui_point {
    int64_t t;                                                 /* wall clock, ms */
    double fetched, produced, consumed, stored, dead_lettered; /* records/s */
    double p50, p99;                                           /* seconds; < 0 unknown */
    int64_t rows;                                              /* -1 unknown */
    int nlag;
    int32_t lag_part[UI_MAX_PARTS];
    int64_t lag[UI_MAX_PARTS];
};

struct ui {
    char data_dir[1024], db_path[1024], bootstrap[512], topic[256], dlq_topic[256];
    char store_db[1100];
    bool secure_cookie, auth_off;
    struct ui_target targets[UI_MAX_TARGETS];
    int ntargets;

    pthread_mutex_t mu; /* guards points, rows_now, targets[].up */
    struct ui_point points[UI_POINTS];
    int npoints, head; /* ring: head = index of the oldest */
    int64_t rows_now;

    pthread_t sampler;
    bool sampler_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stop;

    pthread_mutex_t rk_mu; /* guards rk's creation */
    rd_kafka_t *rk;        /* metadata, offsets and configs: thread safe once made */
};

/* The UI of a request (from the server's struct api_ctx). */
struct ui *ui_of(void *ctx);

/* ui_pipeline.c */
int ui_sampler_start(struct ui *ui, struct sl_err *err);
void ui_sampler_stop(struct ui *ui);
void ui_h_pipeline(struct http_req *req, void *ctx);
void ui_h_users(struct http_req *req, void *ctx);

/* ui_kafka.c */
rd_kafka_t *ui_kafka(struct ui *ui); /* the shared handle, made on first use; NULL if not */
void ui_kafka_close(struct ui *ui);
void ui_h_topics(struct http_req *req, void *ctx);
void ui_h_messages(struct http_req *req, void *ctx);
void ui_h_deadletters(struct http_req *req, void *ctx);

/* Replies with a cJSON document (takes ownership). */
struct cJSON;
void ui_reply_cjson(struct http_req *req, unsigned status, struct cJSON *doc);

#endif
