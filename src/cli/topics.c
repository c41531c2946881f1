/* `sluice topics list|create|describe|delete`: topic administration through the Kafka protocol
 * (librdkafka metadata, Admin API and ListOffsets), so the same command works against the
 * embedded broker and against Apache Kafka. Exit codes: 0 ok, 1 failure, 2 usage error. */
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/err.h"
#include "core/kafka.h"
#include "core/log.h"
#include "core/units.h"

#define MAX_TOPIC_CONFIGS 64

static const struct opt_def topics_opts[] = {
    {"bootstrap", OPT_STRING, "127.0.0.1:9092", "HOST:PORT",
     "broker(s) to talk to, comma separated"},
    {"timeout", OPT_DURATION, "10s", "DURATION",
     "give up when the cluster has not answered by then"},
    {"partitions", OPT_INT, NULL, "N", "create: partition count [default: the broker's]"},
    {"replication-factor", OPT_INT, NULL, "N",
     "create: replicas per partition [default: the broker's]"},
    {"topic-config", OPT_STRING, NULL, "K=V[,K=V]",
     "create: topic configs, e.g. retention.ms=3600000"},
    {"all", OPT_BOOL, "false", NULL, "list: include internal topics (names starting with __)"},
    {"kafka-property", OPT_MAP, NULL, "KEY=VALUE", KAFKA_PROPERTY_HELP},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def topics_cmd = {
    "topics", "List, create, describe and delete topics on any Kafka-protocol broker.",
    "sluice topics ACTION [NAME...] [options]", topics_opts,
    "Actions:\n"
    "  list                  one topic per line (internal topics only with --all)\n"
    "  create NAME...        create topics (--partitions, --replication-factor, --topic-config)\n"
    "  describe NAME...      partitions, leader, replicas, ISR, earliest and latest offsets,\n"
    "                        and the topic's non-default configs when the broker serves them\n"
    "  delete NAME...        delete topics\n"
    "\n"
    "Exit status: 0 success, 1 failure (topic exists, unknown topic, broker unreachable within\n"
    "--timeout, ...), 2 usage error."};

struct topics_ctx {
    rd_kafka_t *rk;
    const char *bootstrap;
    int timeout_ms;
    int64_t deadline;     /* mono_ms() by which the whole command must be done */
    char last_error[256]; /* last transport error seen by error_cb, to explain a timeout */
    char auth_error[768]; /* set by error_cb on an authentication failure: give up at once */
    const struct kafka_props *props;
};

/* Served from rd_kafka_poll on the calling thread. */
static void rk_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct topics_ctx *c = opaque;
    if (!c->auth_error[0] &&
        kafka_auth_failure(rk, err, reason, c->auth_error, sizeof(c->auth_error)))
        return;
    kafka_redact(reason, c->last_error, sizeof(c->last_error));
}

static int remaining_ms(const struct topics_ctx *c)
{
    int64_t left = c->deadline - mono_ms();
    return left > 0 ? (int)left : 0;
}

static int ctx_open(struct topics_ctx *c, struct sl_err *err)
{
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%d", c->timeout_ms < 1000 ? 1000 : c->timeout_ms);
    const char *defaults[][2] = {
        /* A metadata request must never create the topic it asks about. */
        {"allow.auto.create.topics", "false"},
        {"socket.timeout.ms", tmo},
        {NULL, NULL},
    };
    struct kafka_conf_opts ko = {c->bootstrap, "sluice-topics", defaults, c->props};
    rd_kafka_conf_t *conf = kafka_conf_create(&ko, err);
    if (!conf)
        return -1;
    rd_kafka_conf_set_error_cb(conf, rk_error);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = kafka_new(RD_KAFKA_PRODUCER, conf, "a Kafka client", err);
    return c->rk ? 0 : -1;
}

/* Fetches cluster metadata (all topics), retrying in short slices until the deadline so a
 * broker that starts late is still reached. Caller frees *md with rd_kafka_metadata_destroy. */
static int fetch_metadata(struct topics_ctx *c, const struct rd_kafka_metadata **md,
                          struct sl_err *err)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    for (;;) {
        int left = remaining_ms(c);
        if (left <= 0)
            break;
        e = rd_kafka_metadata(c->rk, 1, NULL, md, left > 1000 ? 1000 : left);
        rd_kafka_poll(c->rk, 0);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (c->auth_error[0])
            return sl_err_set(err, "%s", c->auth_error);
        if (e != RD_KAFKA_RESP_ERR__TIMED_OUT && e != RD_KAFKA_RESP_ERR__TRANSPORT)
            return sl_err_set(err, "metadata from %s: %s", c->bootstrap, rd_kafka_err2str(e));
    }
    return sl_err_set(err, "cannot reach a broker at %s within %.1fs%s%s", c->bootstrap,
                      c->timeout_ms / 1000.0, c->last_error[0] ? ": " : "", c->last_error);
}

static const struct rd_kafka_metadata_topic *find_topic(const struct rd_kafka_metadata *md,
                                                        const char *name)
{
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, name) == 0)
            return &md->topics[i];
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int do_list(struct topics_ctx *c, bool all, struct sl_err *err)
{
    const struct rd_kafka_metadata *md;
    if (fetch_metadata(c, &md, err) != 0)
        return -1;
    const char **names = calloc((size_t)md->topic_cnt + 1, sizeof(*names));
    if (!names) {
        rd_kafka_metadata_destroy(md);
        return sl_err_set(err, "out of memory");
    }
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const char *t = md->topics[i].topic;
        if (!all && strncmp(t, "__", 2) == 0)
            continue;
        names[n++] = t;
    }
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    for (int i = 0; i < n; i++)
        printf("%s\n", names[i]);
    free(names);
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Waits for the admin result event of type `want` on q until the deadline. Caller destroys
 * the returned event. */
static rd_kafka_event_t *wait_result(struct topics_ctx *c, rd_kafka_queue_t *q, int want,
                                     const char *what, struct sl_err *err)
{
    for (;;) {
        int left = remaining_ms(c);
        /* The Admin API applies its own request timeout; allow it a moment to report. */
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left > 200 ? 200 : left + 500);
        rd_kafka_poll(c->rk, 0);
        if (ev && rd_kafka_event_type(ev) == want)
            return ev;
        if (ev)
            rd_kafka_event_destroy(ev);
        if (c->auth_error[0]) {
            sl_err_set(err, "%s: %s", what, c->auth_error);
            return NULL;
        }
        if (left <= 0) {
            sl_err_set(err, "%s: no answer from %s within %.1fs%s%s", what, c->bootstrap,
                       c->timeout_ms / 1000.0, c->last_error[0] ? ": " : "", c->last_error);
            return NULL;
        }
    }
}

static rd_kafka_AdminOptions_t *admin_options(struct topics_ctx *c, rd_kafka_admin_op_t op)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(c->rk, op);
    int t = remaining_ms(c);
    if (t < 1)
        t = 1;
    rd_kafka_AdminOptions_set_request_timeout(o, t, errstr, sizeof(errstr));
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
        rd_kafka_AdminOptions_set_operation_timeout(o, t, errstr, sizeof(errstr));
    return o;
}

/* An event-level error means nothing about individual topics is known. */
static int event_error(rd_kafka_event_t *ev, const char *what, struct topics_ctx *c,
                       struct sl_err *err)
{
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
    if (!e)
        return 0;
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT)
        return sl_err_set(err, "%s: no answer from %s within %.1fs: %s", what, c->bootstrap,
                          c->timeout_ms / 1000.0, rd_kafka_event_error_string(ev));
    return sl_err_set(err, "%s: %s", what, rd_kafka_event_error_string(ev));
}

static const char *topic_error_text(const rd_kafka_topic_result_t *r, const char *action)
{
    static char buf[512];
    const char *name = rd_kafka_topic_result_name(r);
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(r);
    const char *detail = rd_kafka_topic_result_error_string(r);
    if (!detail)
        detail = rd_kafka_err2str(e);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        snprintf(buf, sizeof(buf), "topic '%s' already exists", name);
    else if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        snprintf(buf, sizeof(buf), "topic '%s' does not exist", name);
    else
        snprintf(buf, sizeof(buf), "cannot %s topic '%s': %s (%s)", action, name, detail,
                 rd_kafka_err2name(e));
    return buf;
}

/* Parses "k=v,k2=v2" into keys/values pointing into the writable copy s. */
static int parse_topic_configs(char *s, char **keys, char **vals, int *n, struct sl_err *err)
{
    *n = 0;
    if (!s)
        return 0;
    for (char *save = NULL, *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            return sl_err_set(err, "--topic-config: '%s' is not KEY=VALUE", tok);
        if (*n >= MAX_TOPIC_CONFIGS)
            return sl_err_set(err, "--topic-config: more than %d entries", MAX_TOPIC_CONFIGS);
        *eq = '\0';
        keys[*n] = tok;
        vals[*n] = eq + 1;
        (*n)++;
    }
    return 0;
}

static int do_create(struct topics_ctx *c, const struct config *cfg, struct sl_err *err)
{
    int n = config_nargs(cfg) - 1;
    int partitions = config_str(cfg, "partitions") ? (int)config_int(cfg, "partitions") : -1;
    int rf =
        config_str(cfg, "replication-factor") ? (int)config_int(cfg, "replication-factor") : -1;
    char *keys[MAX_TOPIC_CONFIGS], *vals[MAX_TOPIC_CONFIGS];
    int nconf;
    char *confs = config_str(cfg, "topic-config") ? strdup(config_str(cfg, "topic-config")) : NULL;
    if (parse_topic_configs(confs, keys, vals, &nconf, err) != 0) {
        free(confs);
        return -2;
    }
    rd_kafka_NewTopic_t **topics = calloc((size_t)n, sizeof(*topics));
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char errstr[256];
        topics[i] =
            rd_kafka_NewTopic_new(config_arg(cfg, i + 1), partitions, rf, errstr, sizeof(errstr));
        if (!topics[i]) {
            rc = -2;
            sl_err_set(err, "topic '%s': %s", config_arg(cfg, i + 1), errstr);
            break;
        }
        for (int j = 0; j < nconf; j++) {
            if (rd_kafka_NewTopic_set_config(topics[i], keys[j], vals[j]) != 0) {
                rc = -2;
                sl_err_set(err, "--topic-config: cannot set '%s'", keys[j]);
                break;
            }
        }
    }
    if (rc == 0) {
        const struct rd_kafka_metadata *md;
        if (fetch_metadata(c, &md, err) != 0) {
            rc = -1;
        } else {
            rd_kafka_metadata_destroy(md);
            rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
            rd_kafka_AdminOptions_t *o = admin_options(c, RD_KAFKA_ADMIN_OP_CREATETOPICS);
            rd_kafka_CreateTopics(c->rk, topics, (size_t)n, o, q);
            rd_kafka_event_t *ev =
                wait_result(c, q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "create", err);
            if (!ev || event_error(ev, "create", c, err) != 0) {
                rc = -1;
            } else {
                size_t cnt;
                const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
                    rd_kafka_event_CreateTopics_result(ev), &cnt);
                for (size_t i = 0; i < cnt; i++) {
                    if (rd_kafka_topic_result_error(res[i])) {
                        fprintf(stderr, "sluice topics: %s\n", topic_error_text(res[i], "create"));
                        rc = -3;
                    } else {
                        printf("created topic %s\n", rd_kafka_topic_result_name(res[i]));
                    }
                }
            }
            if (ev)
                rd_kafka_event_destroy(ev);
            rd_kafka_AdminOptions_destroy(o);
            rd_kafka_queue_destroy(q);
        }
    }
    for (int i = 0; i < n; i++) {
        if (topics[i])
            rd_kafka_NewTopic_destroy(topics[i]);
    }
    free(topics);
    free(confs);
    return rc;
}

static int do_delete(struct topics_ctx *c, const struct config *cfg, struct sl_err *err)
{
    int n = config_nargs(cfg) - 1;
    const struct rd_kafka_metadata *md;
    if (fetch_metadata(c, &md, err) != 0)
        return -1;
    rd_kafka_metadata_destroy(md);
    rd_kafka_DeleteTopic_t **topics = calloc((size_t)n, sizeof(*topics));
    for (int i = 0; i < n; i++)
        topics[i] = rd_kafka_DeleteTopic_new(config_arg(cfg, i + 1));
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_AdminOptions_t *o = admin_options(c, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(c->rk, topics, (size_t)n, o, q);
    int rc = 0;
    rd_kafka_event_t *ev = wait_result(c, q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "delete", err);
    if (!ev || event_error(ev, "delete", c, err) != 0) {
        rc = -1;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            if (rd_kafka_topic_result_error(res[i])) {
                fprintf(stderr, "sluice topics: %s\n", topic_error_text(res[i], "delete"));
                rc = -3;
            } else {
                printf("deleted topic %s\n", rd_kafka_topic_result_name(res[i]));
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(topics, (size_t)n);
    free(topics);
    return rc;
}

static void print_int_list(const char *label, const int32_t *v, int n)
{
    printf("\t%s: ", label);
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", v[i]);
    if (n == 0)
        printf("none");
}

/* Asks for the named topics' configs in one request. Returns the result event (caller
 * destroys it) or NULL with why[] filled: brokers without DescribeConfigs are fine. */
static rd_kafka_event_t *describe_configs(struct topics_ctx *c, const struct config *cfg, char *why,
                                          size_t whylen)
{
    int n = config_nargs(cfg) - 1;
    rd_kafka_ConfigResource_t **res = calloc((size_t)n, sizeof(*res));
    for (int i = 0; i < n; i++)
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, config_arg(cfg, i + 1));
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_AdminOptions_t *o = admin_options(c, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(c->rk, res, (size_t)n, o, q);
    struct sl_err err;
    rd_kafka_event_t *ev =
        wait_result(c, q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "describe configs", &err);
    if (!ev) {
        snprintf(why, whylen, "%s", err.msg);
    } else if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
        snprintf(why, whylen, "the broker does not serve DescribeConfigs");
        rd_kafka_event_destroy(ev);
        ev = NULL;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(why, whylen, "%s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        ev = NULL;
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy_array(res, (size_t)n);
    free(res);
    return ev;
}

static void print_configs(rd_kafka_event_t *ev, const char *why, const char *topic)
{
    if (!ev) {
        printf("\tConfigs: (not available: %s)", why);
        return;
    }
    size_t nres;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    for (size_t i = 0; i < nres; i++) {
        if (strcmp(rd_kafka_ConfigResource_name(res[i]), topic) != 0)
            continue;
        if (rd_kafka_ConfigResource_error(res[i])) {
            printf("\tConfigs: (not available: %s)", rd_kafka_ConfigResource_error_string(res[i]));
            return;
        }
        size_t nent;
        const rd_kafka_ConfigEntry_t **ent = rd_kafka_ConfigResource_configs(res[i], &nent);
        printf("\tConfigs: ");
        int shown = 0;
        for (size_t j = 0; j < nent; j++) {
            /* Like kafka-topics: only what differs from the broker's defaults. */
            if (rd_kafka_ConfigEntry_is_default(ent[j]))
                continue;
            const char *v = rd_kafka_ConfigEntry_value(ent[j]);
            printf("%s%s=%s", shown++ ? "," : "", rd_kafka_ConfigEntry_name(ent[j]),
                   rd_kafka_ConfigEntry_is_sensitive(ent[j]) ? "(sensitive)" : (v ? v : ""));
        }
        return;
    }
    printf("\tConfigs: ");
}

struct watermark {
    int64_t lo, hi;
    rd_kafka_resp_err_t err;
};

static int do_describe(struct topics_ctx *c, const struct config *cfg, struct sl_err *err)
{
    const struct rd_kafka_metadata *md;
    if (fetch_metadata(c, &md, err) != 0)
        return -1;
    /* Offsets first, configs with the time left: configs are optional (a broker may not serve
     * DescribeConfigs, or librdkafka may wait for a controller), offsets are not. */
    int nnames = config_nargs(cfg) - 1;
    struct watermark **wm = calloc((size_t)nnames, sizeof(*wm));
    int rc = 0;
    for (int i = 0; i < nnames; i++) {
        const struct rd_kafka_metadata_topic *t = find_topic(md, config_arg(cfg, i + 1));
        if (!t || t->err)
            continue;
        wm[i] = calloc((size_t)t->partition_cnt + 1, sizeof(**wm));
        for (int p = 0; p < t->partition_cnt; p++) {
            struct watermark *w = &wm[i][p];
            int left = remaining_ms(c);
            w->err = rd_kafka_query_watermark_offsets(c->rk, t->topic, t->partitions[p].id, &w->lo,
                                                      &w->hi, left > 0 ? left : 1);
        }
    }
    char why[512] = "";
    rd_kafka_event_t *confs = describe_configs(c, cfg, why, sizeof(why));
    for (int i = 0; i < nnames; i++) {
        const char *name = config_arg(cfg, i + 1);
        const struct rd_kafka_metadata_topic *t = find_topic(md, name);
        if (!t || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            fprintf(stderr, "sluice topics: topic '%s' does not exist\n", name);
            rc = -3;
            continue;
        }
        if (t->err) {
            fprintf(stderr, "sluice topics: topic '%s': %s\n", name, rd_kafka_err2str(t->err));
            rc = -3;
            continue;
        }
        printf("Topic: %s\tPartitionCount: %d\tReplicationFactor: %d", t->topic, t->partition_cnt,
               t->partition_cnt > 0 ? t->partitions[0].replica_cnt : 0);
        print_configs(confs, why, name);
        printf("\n");
        for (int p = 0; p < t->partition_cnt; p++) {
            const struct rd_kafka_metadata_partition *mp = &t->partitions[p];
            printf("\tPartition: %d\tLeader: %d", mp->id, mp->leader);
            print_int_list("Replicas", mp->replicas, mp->replica_cnt);
            print_int_list("Isr", mp->isrs, mp->isr_cnt);
            const struct watermark *w = &wm[i][p];
            if (w->err) {
                printf("\tOffsets: (%s)", rd_kafka_err2str(w->err));
                rc = -3;
            } else {
                printf("\tEarliest: %lld\tLatest: %lld", (long long)w->lo, (long long)w->hi);
            }
            if (mp->err)
                printf("\tError: %s", rd_kafka_err2str(mp->err));
            printf("\n");
        }
    }
    for (int i = 0; i < nnames; i++)
        free(wm[i]);
    free(wm);
    if (confs)
        rd_kafka_event_destroy(confs);
    rd_kafka_metadata_destroy(md);
    return rc;
}

int topics_main(int argc, char **argv)
{
    struct config *cfg;
    struct sl_err err;
    int rc = config_parse(&topics_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice topics: %s\n", err.msg);
        return 2;
    }
    const char *action = config_arg(cfg, 0);
    int nnames = config_nargs(cfg) - 1;
    int exit_code = 2;
    if (!action) {
        fprintf(stderr, "sluice topics: missing ACTION (list, create, describe, delete); "
                        "see sluice topics --help\n");
        goto out;
    }
    bool is_list = strcmp(action, "list") == 0;
    if (!is_list && strcmp(action, "create") != 0 && strcmp(action, "describe") != 0 &&
        strcmp(action, "delete") != 0) {
        fprintf(stderr, "sluice topics: unknown action '%s' (list, create, describe, delete)\n",
                action);
        goto out;
    }
    if (is_list && nnames > 0) {
        fprintf(stderr, "sluice topics: list takes no topic names\n");
        goto out;
    }
    if (!is_list && nnames < 1) {
        fprintf(stderr, "sluice topics: %s needs at least one topic NAME\n", action);
        goto out;
    }
    int64_t timeout = config_ms(cfg, "timeout");
    if (timeout <= 0 || timeout > 3600 * 1000) {
        fprintf(stderr, "sluice topics: --timeout must be between 1ms and 1h\n");
        goto out;
    }

    struct kafka_props *kprops = NULL;
    if (kafka_props_from_config(cfg, "kafka-property", KAFKA_VALIDATE_PRODUCER, &kprops, &err) !=
        0) {
        fprintf(stderr, "sluice topics: %s\n", err.msg);
        goto out;
    }
    struct topics_ctx c = {0};
    c.props = kprops;
    c.bootstrap = config_str(cfg, "bootstrap");
    c.timeout_ms = (int)timeout;
    c.deadline = mono_ms() + timeout;
    if (ctx_open(&c, &err) != 0) {
        fprintf(stderr, "sluice topics: %s\n", err.msg);
        kafka_props_free(kprops);
        exit_code = 1;
        goto out;
    }
    err.msg[0] = '\0';
    if (is_list)
        rc = do_list(&c, config_bool(cfg, "all"), &err);
    else if (strcmp(action, "create") == 0)
        rc = do_create(&c, cfg, &err);
    else if (strcmp(action, "describe") == 0)
        rc = do_describe(&c, cfg, &err);
    else
        rc = do_delete(&c, cfg, &err);
    /* -1: failure with err set; -2: usage error with err set; -3: failure already reported. */
    if ((rc == -1 || rc == -2) && err.msg[0])
        fprintf(stderr, "sluice topics: %s\n", err.msg);
    exit_code = rc == 0 ? 0 : rc == -2 ? 2 : 1;
    rd_kafka_destroy(c.rk);
    kafka_props_free(kprops);
out:
    config_free(cfg);
    return exit_code;
}
