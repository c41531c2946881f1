/* librdkafka producer for ingest. Idempotence gives exactly-once per partition for
 * librdkafka's own retries, acks=all makes a delivery report mean "on disk" (DESIGN.md), and
 * the delivery report callback is the only place records are counted as delivered or failed.
 * The client is built by core/kafka (defaults here, the user's --kafka-property last). */
#include "ingest/producer.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kafka.h"
#include "core/log.h"
#include "core/units.h"

#define MOD "ingest"

struct producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char *topic, *bootstrap;
    uint64_t produced, delivered, failed;
    int64_t delivery_timeout_ms;
    bool checked; /* producer_check passed: from now on, broker loss is worth a warning */
    char first_error[256];
    atomic_bool fatal;
    char fatal_msg[768];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct producer *p = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->delivered++;
        return;
    }
    if (p->failed++ == 0)
        snprintf(p->first_error, sizeof(p->first_error), "%s", rd_kafka_err2str(m->err));
}

/* Runs on librdkafka's threads: only the fatal flag and its message are touched. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct producer *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        if (!atomic_load(&p->fatal)) {
            snprintf(p->fatal_msg, sizeof(p->fatal_msg), "%s", buf);
            atomic_store(&p->fatal, true);
        }
        log_error(MOD, "Kafka producer fatal error: %s", buf);
        return;
    }
    char auth[768];
    if (kafka_auth_failure(rk, err, reason, auth, sizeof(auth))) {
        /* Bad credentials do not get better by retrying: stop with one clear message. */
        if (!atomic_load(&p->fatal)) {
            snprintf(p->fatal_msg, sizeof(p->fatal_msg), "%s", auth);
            atomic_store(&p->fatal, true);
        }
        return;
    }
    /* Transient: librdkafka reconnects and retries on its own, and delivery reports tell the
     * outcome. Losing every broker mid-run is worth one line; the rest is debug. */
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && p->checked) {
        log_warn(MOD, "lost every Kafka broker (%s); retrying until records time out", reason);
        return;
    }
    log_debug(MOD, "kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

bool producer_compression_valid(const char *c)
{
    static const char *const ok[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (c && strcmp(c, ok[i]) == 0)
            return true;
    }
    return false;
}

int producer_create(struct producer **out, const struct producer_opts *o, struct sl_err *err)
{
    if (!producer_compression_valid(o->compression))
        return sl_err_set(err, "--compression must be none, gzip, snappy, lz4 or zstd");
    struct producer *p = calloc(1, sizeof(*p));
    if (!p)
        return sl_err_set(err, "out of memory");
    p->delivery_timeout_ms = o->delivery_timeout_ms;
    p->topic = strdup(o->topic);
    p->bootstrap = strdup(o->bootstrap);
    if (!p->topic || !p->bootstrap) {
        sl_err_set(err, "out of memory");
        goto fail;
    }
    char tmo[32], linger[32];
    snprintf(tmo, sizeof(tmo), "%lld", (long long)o->delivery_timeout_ms);
    snprintf(linger, sizeof(linger), "%lld", (long long)o->linger_ms);
    const char *defaults[][2] = {
        {"enable.idempotence", o->idempotence ? "true" : "false"},
        {"acks", "all"},
        {"compression.codec", o->compression},
        {"message.timeout.ms", tmo},
        {"linger.ms", linger},
        /* Fail a connection attempt fast so an absent broker shows up within the check. */
        {"socket.connection.setup.timeout.ms", "5000"},
        {"reconnect.backoff.max.ms", "1000"},
        /* librdkafka's queue is the producer's buffer: bound it (64 MiB) well below its 1 GiB
         * default, so a stalled broker makes producer_send wait instead of growing memory. */
        {"queue.buffering.max.kbytes", "65536"},
        {"queue.buffering.max.messages", "100000"},
        {NULL, NULL},
    };
    struct kafka_conf_opts ko = {o->bootstrap, "sluice-ingest", defaults, o->kafka};
    rd_kafka_conf_t *conf = kafka_conf_create(&ko, err);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    p->rk = kafka_new(RD_KAFKA_PRODUCER, conf, "the Kafka producer", err);
    if (!p->rk)
        goto fail;
    p->rkt = rd_kafka_topic_new(p->rk, p->topic, NULL);
    if (!p->rkt) {
        sl_err_set(err, "topic '%s': %s", p->topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    *out = p;
    return 0;
fail:
    producer_destroy(p);
    return -1;
}

void producer_destroy(struct producer *p)
{
    if (!p)
        return;
    if (p->rkt)
        rd_kafka_topic_destroy(p->rkt);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    free(p->topic);
    free(p->bootstrap);
    free(p);
}

int producer_check(struct producer *p, int64_t timeout_ms, struct sl_err *err)
{
    int64_t deadline = mono_ms() + timeout_ms;
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
    bool answered = false;
    /* A broker that auto-creates topics may answer LEADER_NOT_AVAILABLE while it creates
     * one: ask again until the topic has a leader for every partition or time runs out. */
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            break;
        const struct rd_kafka_metadata *md = NULL;
        /* Short slices with the error callback served in between, so that a failure that
         * retrying cannot fix (bad credentials) ends the wait at once. */
        rd_kafka_resp_err_t e =
            rd_kafka_metadata(p->rk, 0, p->rkt, &md, (int)(left > 500 ? 500 : left));
        rd_kafka_poll(p->rk, 0);
        if (atomic_load(&p->fatal))
            return sl_err_set(err, "%s", p->fatal_msg);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            last = e;
            if (e == RD_KAFKA_RESP_ERR__TIMED_OUT && left > 500)
                continue;
            if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT)
                break;
            producer_poll(p, 100);
            continue;
        }
        answered = true;
        last = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (md->topic_cnt < 1)
            last = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        else if (md->topics[0].err)
            last = md->topics[0].err;
        else if (md->topics[0].partition_cnt < 1)
            last = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
        for (int i = 0; last == 0 && i < md->topics[0].partition_cnt; i++) {
            if (md->topics[0].partitions[i].leader < 0)
                last = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
        }
        rd_kafka_metadata_destroy(md);
        if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->checked = true;
            return 0;
        }
        producer_poll(p, 200);
    }
    if (!answered)
        return sl_err_set(err,
                          "no Kafka broker reachable at %s within %.1f s (%s); start one with "
                          "`sluice broker` or point --bootstrap at a running cluster",
                          p->bootstrap, (double)timeout_ms / 1000, rd_kafka_err2str(last));
    if (last == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        return sl_err_set(err,
                          "topic '%s' does not exist on %s and was not auto-created; create it "
                          "with `sluice topics create %s`",
                          p->topic, p->bootstrap, p->topic);
    return sl_err_set(err, "topic '%s' on %s is not ready within %.1f s: %s", p->topic,
                      p->bootstrap, (double)timeout_ms / 1000, rd_kafka_err2str(last));
}

int producer_send(struct producer *p, const char *key, size_t klen, const char *val, size_t vlen,
                  const char *source, const atomic_bool *stop, struct sl_err *err)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
            RD_KAFKA_V_HEADER("source", source, -1), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->produced++;
            return 0;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return sl_err_set(err, "cannot produce to '%s': %s", p->topic, rd_kafka_err2str(e));
        if (stop && atomic_load(stop))
            return 1;
        rd_kafka_poll(p->rk, 10); /* serve delivery reports to make room */
    }
}

void producer_poll(struct producer *p, int ms)
{
    rd_kafka_poll(p->rk, ms);
}

uint64_t producer_flush(struct producer *p, int64_t timeout_ms)
{
    rd_kafka_flush(p->rk, (int)timeout_ms);
    rd_kafka_poll(p->rk, 0);
    /* Whatever has no delivery report by now is counted as failed: unknown is not delivered. */
    uint64_t left = p->produced - p->delivered - p->failed;
    if (left > 0) {
        p->failed += left;
        if (!p->first_error[0])
            snprintf(p->first_error, sizeof(p->first_error), "no delivery report within %lld ms",
                     (long long)timeout_ms);
    }
    return left;
}

uint64_t producer_delivered(const struct producer *p)
{
    return p->delivered;
}
int64_t producer_delivery_timeout(const struct producer *p)
{
    return p->delivery_timeout_ms;
}
uint64_t producer_failed(const struct producer *p)
{
    return p->failed;
}
const char *producer_first_error(const struct producer *p)
{
    return p->first_error;
}

bool producer_fatal(const struct producer *p, char *msg, size_t cap)
{
    if (!atomic_load(&p->fatal))
        return false;
    if (msg && cap)
        snprintf(msg, cap, "%s", p->fatal_msg);
    return true;
}
