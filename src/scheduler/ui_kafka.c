/* The UI's view of Kafka, read-only and without a consumer group: topics with partitions,
 * offsets and retention (one shared librdkafka handle: metadata, watermarks, DescribeConfigs),
 * sizes from the embedded broker's files when they are in DATA_DIR, and messages read by a
 * short-lived consumer assigned to explicit offsets (the browser, the latest dead letters). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/jsonw.h"
#include "core/kafka.h"
#include "core/log.h"
#include "core/units.h"
#include "scheduler/ui_int.h"

#define MOD "ui"
#define MAX_VALUE_SHOWN 4096
#define MAX_MESSAGES 200

/* The UI keeps trying while Kafka is down; that is worth a debug line, not an error each second. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    log_debug(MOD, "kafka: %s: %s", fac, buf);
}

static rd_kafka_conf_t *base_conf(struct ui *ui)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, on_log);
    struct sl_err err;
    if (kafka_conf_set(conf, "bootstrap.servers", ui->bootstrap, &err) != 0 ||
        kafka_conf_set(conf, "log_level", "3", &err) != 0 ||
        kafka_conf_set(conf, "socket.timeout.ms", "3000", &err) != 0 ||
        kafka_conf_set(conf, "client.id", "sluice-ui", &err) != 0) {
        log_warn(MOD, "%s", err.msg);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

rd_kafka_t *ui_kafka(struct ui *ui)
{
    pthread_mutex_lock(&ui->rk_mu);
    if (!ui->rk) {
        rd_kafka_conf_t *conf = base_conf(ui);
        char es[256];
        if (conf) {
            ui->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
            if (!ui->rk) {
                log_warn(MOD, "kafka client: %s", es);
                rd_kafka_conf_destroy(conf);
            }
        }
    }
    rd_kafka_t *rk = ui->rk;
    pthread_mutex_unlock(&ui->rk_mu);
    return rk;
}

void ui_kafka_close(struct ui *ui)
{
    if (ui->rk)
        rd_kafka_destroy(ui->rk);
    ui->rk = NULL;
}

/* Bytes of the embedded broker's segment files for a partition; -1 when not on this disk. */
static int64_t partition_size(struct ui *ui, const char *topic, int32_t p)
{
    char dir[2048];
    if (strchr(topic, '/') || topic[0] == '.')
        return -1;
    snprintf(dir, sizeof dir, "%s/topics/%s/%d", ui->data_dir, topic, (int)p);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".log") != 0)
            continue;
        char path[2400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0)
            sum += st.st_size;
    }
    closedir(d);
    return sum;
}

/* retention.ms and retention.bytes of each topic in arr (objects with "name"), by one
 * DescribeConfigs request; topics the broker does not answer for keep no such keys. */
static void add_retention(rd_kafka_t *rk, cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    if (n == 0)
        return;
    rd_kafka_ConfigResource_t **res = calloc((size_t)n, sizeof *res);
    if (!res)
        return;
    for (int i = 0; i < n; i++)
        res[i] = rd_kafka_ConfigResource_new(
            RD_KAFKA_RESOURCE_TOPIC,
            cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "name")->valuestring);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(o, 3000, NULL, 0);
    rd_kafka_DescribeConfigs(rk, res, (size_t)n, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 4000);
    const rd_kafka_DescribeConfigs_result_t *r =
        ev ? rd_kafka_event_DescribeConfigs_result(ev) : NULL;
    if (r) {
        size_t cnt;
        const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(r, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            if (rd_kafka_ConfigResource_error(rs[i]))
                continue;
            const char *name = rd_kafka_ConfigResource_name(rs[i]);
            cJSON *t = NULL;
            for (int k = 0; k < n && !t; k++) {
                cJSON *c = cJSON_GetArrayItem(arr, k);
                if (strcmp(cJSON_GetObjectItem(c, "name")->valuestring, name) == 0)
                    t = c;
            }
            if (!t)
                continue;
            size_t nc;
            const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rs[i], &nc);
            for (size_t k = 0; k < nc; k++) {
                const char *key = rd_kafka_ConfigEntry_name(ce[k]);
                const char *val = rd_kafka_ConfigEntry_value(ce[k]);
                if (!val)
                    continue;
                if (strcmp(key, "retention.ms") == 0)
                    cJSON_AddNumberToObject(t, "retention_ms", (double)atoll(val));
                else if (strcmp(key, "retention.bytes") == 0)
                    cJSON_AddNumberToObject(t, "retention_bytes", (double)atoll(val));
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    for (int i = 0; i < n; i++)
        rd_kafka_ConfigResource_destroy(res[i]);
    free(res);
}

static int cmp_name(const void *a, const void *b)
{
    const struct rd_kafka_metadata_topic *x = a, *y = b;
    return strcmp(x->topic, y->topic);
}

/* GET /ui/api/topics */
void ui_h_topics(struct http_req *req, void *ctx)
{
    struct ui *ui = ui_of(ctx);
    rd_kafka_t *rk = ui ? ui_kafka(ui) : NULL;
    if (!rk) {
        http_reply_error(req, 503, "no Kafka client");
        return;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 3000);
    if (e) {
        http_reply_error(req, 502, "Kafka at %s: %s", ui->bootstrap, rd_kafka_err2str(e));
        return;
    }
    struct rd_kafka_metadata_topic *ts = NULL;
    if (md->topic_cnt > 0) {
        ts = malloc((size_t)md->topic_cnt * sizeof *ts);
        if (ts) {
            memcpy(ts, md->topics, (size_t)md->topic_cnt * sizeof *ts);
            qsort(ts, (size_t)md->topic_cnt, sizeof *ts, cmp_name);
        }
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "bootstrap", ui->bootstrap);
    cJSON *arr = cJSON_AddArrayToObject(doc, "topics");
    for (int i = 0; ts && i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *t = &ts[i];
        if (t->err || strncmp(t->topic, "__", 2) == 0)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->topic);
        cJSON *parts = cJSON_AddArrayToObject(o, "partitions");
        for (int p = 0; p < t->partition_cnt; p++) {
            int32_t id = t->partitions[p].id;
            int64_t lo = -1, hi = -1;
            rd_kafka_query_watermark_offsets(rk, t->topic, id, &lo, &hi, 1000);
            cJSON *po = cJSON_CreateObject();
            cJSON_AddNumberToObject(po, "partition", id);
            cJSON_AddNumberToObject(po, "leader", t->partitions[p].leader);
            cJSON_AddNumberToObject(po, "low", (double)lo);
            cJSON_AddNumberToObject(po, "high", (double)hi);
            int64_t size = partition_size(ui, t->topic, id);
            if (size >= 0)
                cJSON_AddNumberToObject(po, "size_bytes", (double)size);
            else
                cJSON_AddNullToObject(po, "size_bytes");
            cJSON_AddItemToArray(parts, po);
        }
        cJSON_AddItemToArray(arr, o);
    }
    free(ts);
    rd_kafka_metadata_destroy(md);
    add_retention(rk, arr);
    ui_reply_cjson(req, 200, doc);
}

/* A text field from bytes: valid UTF-8 up to a bound, with a marker when cut. */
static cJSON *text(const void *p, size_t n)
{
    if (!p)
        return cJSON_CreateNull();
    size_t shown = n > MAX_VALUE_SHOWN ? MAX_VALUE_SHOWN : n;
    shown = utf8_valid_prefix(p, shown);
    char *s = malloc(shown + 48);
    if (!s)
        return cJSON_CreateNull();
    memcpy(s, p, shown);
    if (shown < n)
        snprintf(s + shown, 48, "… (%zu bytes)", n);
    else
        s[shown] = '\0';
    cJSON *j = cJSON_CreateString(s);
    free(s);
    return j;
}

static cJSON *message_json(const rd_kafka_message_t *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "partition", m->partition);
    cJSON_AddNumberToObject(o, "offset", (double)m->offset);
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    if (ts >= 0) {
        char iso[64];
        time_t secs = (time_t)(ts / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(iso + n, sizeof iso - n, ".%03dZ", (int)(ts % 1000));
        cJSON_AddStringToObject(o, "timestamp", iso);
    } else {
        cJSON_AddNullToObject(o, "timestamp");
    }
    cJSON_AddItemToObject(o, "key", text(m->key, m->key_len));
    cJSON_AddItemToObject(o, "value", text(m->payload, m->len));
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t sz;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &sz) == 0; i++)
            cJSON_AddItemToObject(h, name, text(val, sz));
    }
    return o;
}

/* Reads [from, to) of each listed partition with a consumer of no group; appends messages to
 * arr. Stops after `max` messages in all or when the time is up. */
struct range {
    int32_t partition;
    int64_t from, to;
};

static int read_ranges(struct ui *ui, const char *topic, const struct range *rs, int n, int max,
                       cJSON *arr, char *why, size_t whycap)
{
    rd_kafka_conf_t *conf = base_conf(ui);
    if (!conf)
        return snprintf(why, whycap, "bad Kafka settings"), -1;
    struct sl_err err;
    kafka_conf_set(conf, "enable.auto.commit", "false", &err);
    kafka_conf_set(conf, "enable.partition.eof", "true", &err);
    kafka_conf_set(conf, "group.id", "sluice-ui-browser", &err); /* never joined: assign only */
    char es[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return snprintf(why, whycap, "%s", es), -1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    int want = 0;
    for (int i = 0; i < n; i++) {
        if (rs[i].to <= rs[i].from)
            continue;
        rd_kafka_topic_partition_list_add(l, topic, rs[i].partition)->offset = rs[i].from;
        want++;
    }
    int got = 0;
    if (want > 0 && rd_kafka_assign(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        int done = 0;
        int64_t deadline = mono_ms() + 4000;
        while (done < want && got < max && mono_ms() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
            if (!m)
                continue;
            const struct range *r = NULL;
            for (int i = 0; i < n; i++)
                if (rs[i].partition == m->partition)
                    r = &rs[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                done++;
            } else if (m->err) {
                snprintf(why, whycap, "%s", rd_kafka_message_errstr(m));
            } else if (r && m->offset < r->to) {
                cJSON_AddItemToArray(arr, message_json(m));
                got++;
                if (m->offset + 1 >= r->to)
                    done++;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(rk, NULL);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return got;
}

/* GET /ui/api/topics/{topic}/messages?partition=P&offset=O&limit=N: N messages from offset
 * O, or the latest N without offset. */
void ui_h_messages(struct http_req *req, void *ctx)
{
    struct ui *ui = ui_of(ctx);
    rd_kafka_t *rk = ui ? ui_kafka(ui) : NULL;
    if (!rk) {
        http_reply_error(req, 503, "no Kafka client");
        return;
    }
    const char *topic = http_param(req, "topic");
    const char *qp = http_query(req, "partition"), *qo = http_query(req, "offset"),
               *ql = http_query(req, "limit");
    char *end;
    long part = qp ? strtol(qp, &end, 10) : 0;
    if (!topic || !*topic || (qp && (*end || part < 0 || part > 100000))) {
        http_reply_error(req, 422, "partition must be a number");
        return;
    }
    long limit = ql ? strtol(ql, &end, 10) : 20;
    if (limit < 1 || limit > MAX_MESSAGES)
        limit = 20;
    int64_t lo, hi;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic, (int32_t)part, &lo, &hi, 3000);
    if (e) {
        http_reply_error(req, 404, "%s [%ld]: %s", topic, part, rd_kafka_err2str(e));
        return;
    }
    struct range r = {(int32_t)part, hi - limit > lo ? hi - limit : lo, hi};
    if (qo && *qo) {
        long long off = strtoll(qo, &end, 10);
        if (*end || off < 0) {
            http_reply_error(req, 422, "offset must be a number >= 0");
            return;
        }
        r.from = off < lo ? lo : off;
        r.to = r.from + limit < hi ? r.from + limit : hi;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "low", (double)lo);
    cJSON_AddNumberToObject(doc, "high", (double)hi);
    cJSON *arr = cJSON_AddArrayToObject(doc, "messages");
    char why[256] = "";
    if (read_ranges(ui, topic, &r, 1, (int)limit, arr, why, sizeof why) < 0 || why[0])
        cJSON_AddStringToObject(doc, "error", why);
    ui_reply_cjson(req, 200, doc);
}

static int cmp_ts_desc(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    const cJSON *tx = cJSON_GetObjectItem(x, "timestamp"),
                *ty = cJSON_GetObjectItem(y, "timestamp");
    const char *sx = cJSON_IsString(tx) ? tx->valuestring : "";
    const char *sy = cJSON_IsString(ty) ? ty->valuestring : "";
    return strcmp(sy, sx);
}

/* GET /ui/api/deadletters?limit=N: the latest N records of the dead-letter topic, newest
 * first, with their headers (error = the reason, source.topic/partition/offset). */
void ui_h_deadletters(struct http_req *req, void *ctx)
{
    struct ui *ui = ui_of(ctx);
    rd_kafka_t *rk = ui ? ui_kafka(ui) : NULL;
    if (!rk) {
        http_reply_error(req, 503, "no Kafka client");
        return;
    }
    const char *ql = http_query(req, "limit");
    int limit = ql ? atoi(ql) : 10;
    if (limit < 1 || limit > 100)
        limit = 10;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "topic", ui->dlq_topic);
    cJSON *arr = cJSON_CreateArray();
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, ui->dlq_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    struct range rs[UI_MAX_PARTS];
    int n = 0;
    if (t && rd_kafka_metadata(rk, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err) {
        for (int p = 0; p < md->topics[0].partition_cnt && n < UI_MAX_PARTS; p++) {
            int64_t lo, hi;
            int32_t id = md->topics[0].partitions[p].id;
            if (rd_kafka_query_watermark_offsets(rk, ui->dlq_topic, id, &lo, &hi, 1000) == 0 &&
                hi > lo)
                rs[n++] = (struct range){id, hi - limit > lo ? hi - limit : lo, hi};
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    char why[256] = "";
    if (n > 0)
        read_ranges(ui, ui->dlq_topic, rs, n, limit * n, arr, why, sizeof why);
    /* newest first, at most limit */
    int cnt = cJSON_GetArraySize(arr);
    cJSON **items = cnt ? calloc((size_t)cnt, sizeof *items) : NULL;
    cJSON *out = cJSON_AddArrayToObject(doc, "messages");
    if (items) {
        for (int i = cnt - 1; i >= 0; i--)
            items[i] = cJSON_DetachItemFromArray(arr, i);
        qsort(items, (size_t)cnt, sizeof *items, cmp_ts_desc);
        for (int i = 0; i < cnt; i++) {
            if (i < limit)
                cJSON_AddItemToArray(out, items[i]);
            else
                cJSON_Delete(items[i]);
        }
        free(items);
    }
    cJSON_Delete(arr);
    if (why[0])
        cJSON_AddStringToObject(doc, "error", why);
    ui_reply_cjson(req, 200, doc);
}
