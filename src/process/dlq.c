/* Dead-letter producer (see dlq.h). Delivery reports run on the job thread inside
 * rd_kafka_poll/flush, so the counters need no locking. */
#include "process/dlq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kafka.h"
#include "core/log.h"
#include "core/units.h"

struct dlq {
    rd_kafka_t *rk;
    char topic[256];
    int64_t timeout_ms;
    uint64_t sent;      /* since the last flush */
    uint64_t delivered; /* since the last flush */
    uint64_t failed;    /* since the last flush */
    char first_error[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct dlq *d = opaque;
    if (m->err) {
        if (d->failed++ == 0)
            snprintf(d->first_error, sizeof(d->first_error), "%s", rd_kafka_err2str(m->err));
        return;
    }
    d->delivered++;
}

int dlq_create(struct dlq **out, const char *bootstrap, const char *topic,
               int64_t delivery_timeout_ms, const struct kafka_props *props, struct sl_err *err)
{
    *out = NULL;
    struct dlq *d = calloc(1, sizeof(*d));
    if (!d)
        return sl_err_set(err, "out of memory");
    if (snprintf(d->topic, sizeof(d->topic), "%s", topic) >= (int)sizeof(d->topic)) {
        free(d);
        return sl_err_set(err, "--dlq-topic is too long");
    }
    d->timeout_ms = delivery_timeout_ms;
    char num[32];
    snprintf(num, sizeof(num), "%" PRId64, delivery_timeout_ms);
    const char *defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "2"},
        {"message.timeout.ms", num},
        {"socket.connection.setup.timeout.ms", "5000"},
        {NULL, NULL},
    };
    struct kafka_conf_opts ko = {bootstrap, "sluice-process-dlq", defaults, props};
    rd_kafka_conf_t *conf = kafka_conf_create(&ko, err);
    if (!conf) {
        free(d);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    d->rk = kafka_new(RD_KAFKA_PRODUCER, conf, "the dead-letter producer", err);
    if (!d->rk) {
        free(d);
        return -1;
    }
    *out = d;
    return 0;
}

int dlq_send(struct dlq *d, const rd_kafka_message_t *m, const char *reason, struct sl_err *err)
{
    char part[16], off[24];
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    const char *src = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    int64_t deadline = mono_ms() + d->timeout_ms;
    for (;;) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        rd_kafka_header_add(h, "error", -1, reason, -1);
        rd_kafka_header_add(h, "source.topic", -1, src, -1);
        rd_kafka_header_add(h, "source.partition", -1, part, -1);
        rd_kafka_header_add(h, "source.offset", -1, off, -1);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            d->rk, RD_KAFKA_V_TOPIC(d->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            d->sent++;
            return 0;
        }
        rd_kafka_headers_destroy(h); /* not taken on failure */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return sl_err_set(err, "dead-letter produce: %s", rd_kafka_err2str(e));
        if (mono_ms() > deadline)
            return sl_err_set(err, "dead-letter queue stayed full for %" PRId64 " ms",
                              d->timeout_ms);
        rd_kafka_poll(d->rk, 10);
    }
}

int dlq_flush(struct dlq *d, int64_t timeout_ms, uint64_t *n, struct sl_err *err)
{
    *n = 0;
    int ret = 0;
    if (d->sent > 0)
        rd_kafka_flush(d->rk, (int)timeout_ms);
    else
        rd_kafka_poll(d->rk, 0);
    int left = rd_kafka_outq_len(d->rk);
    if (left > 0) {
        /* Purge so that late reports cannot be mistaken for the retried batch's. */
        rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 100 && rd_kafka_outq_len(d->rk) > 0; i++)
            rd_kafka_poll(d->rk, 10);
        ret = sl_err_set(err, "%d dead-letter record(s) not acknowledged within %" PRId64 " ms",
                         left, timeout_ms);
    } else if (d->failed > 0) {
        ret = sl_err_set(err, "%" PRIu64 " dead-letter record(s) failed: %s", d->failed,
                         d->first_error);
    }
    if (ret == 0)
        *n = d->delivered;
    d->sent = d->delivered = d->failed = 0;
    d->first_error[0] = '\0';
    return ret;
}

uint64_t dlq_pending(const struct dlq *d)
{
    return d->sent;
}

void dlq_poll(struct dlq *d)
{
    rd_kafka_poll(d->rk, 0);
}

void dlq_destroy(struct dlq *d)
{
    if (!d)
        return;
    if (rd_kafka_outq_len(d->rk) > 0)
        rd_kafka_flush(d->rk, (int)d->timeout_ms);
    rd_kafka_destroy(d->rk);
    free(d);
}
