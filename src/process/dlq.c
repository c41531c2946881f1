/* Dead-letter producer (see dlq.h). Delivery reports run inside rd_kafka_poll on the loop
 * thread (dlq_poll) or the writer thread (dlq_wait): the counters are under a mutex. Each
 * record carries its batch's slot (0 or 1) as its opaque, so a batch waits for its own dead
 * letters only, while the loop keeps sending the next batch's. */
#include "process/dlq.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kafka.h"
#include "core/log.h"
#include "core/units.h"

struct dlq {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt; /* held from the start: librdkafka looks its metadata up at once */
    char topic[256];
    int64_t timeout_ms;
    pthread_mutex_t mu;
    int cur; /* the open batch's slot (loop thread) */
    struct dlq_slot {
        uint64_t sent, delivered, failed; /* since the slot was last reset */
        char first_error[256];
    } slot[2];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct dlq *d = opaque;
    struct dlq_slot *s = &d->slot[(intptr_t)m->_private & 1];
    pthread_mutex_lock(&d->mu);
    if (m->err) {
        if (s->failed++ == 0)
            snprintf(s->first_error, sizeof(s->first_error), "%s", rd_kafka_err2str(m->err));
    } else {
        s->delivered++;
    }
    pthread_mutex_unlock(&d->mu);
}

static void slot_reset(struct dlq_slot *s)
{
    s->sent = s->delivered = s->failed = 0;
    s->first_error[0] = '\0';
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
    pthread_mutex_init(&d->mu, NULL);
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
        pthread_mutex_destroy(&d->mu);
        free(d);
        return -1;
    }
    /* Creating the topic handle makes librdkafka ask for the topic's metadata now (and the
     * broker create the topic if it auto-creates), so the first bad record does not wait
     * for the lookup, the creation and a metadata retry while its batch's commit waits for
     * it (issue 12: that made the first seconds' end-to-end p99 0.3-0.8 s). */
    d->rkt = rd_kafka_topic_new(d->rk, d->topic, NULL);
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
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)(intptr_t)d->cur), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            pthread_mutex_lock(&d->mu);
            d->slot[d->cur].sent++;
            pthread_mutex_unlock(&d->mu);
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

int dlq_seal(struct dlq *d)
{
    int sealed = d->cur;
    d->cur ^= 1;
    return sealed;
}

int dlq_wait(struct dlq *d, int slot, int64_t timeout_ms, uint64_t *n, struct sl_err *err)
{
    struct dlq_slot *s = &d->slot[slot & 1];
    int64_t deadline = mono_ms() + timeout_ms;
    int ret = 0;
    pthread_mutex_lock(&d->mu);
    while (s->delivered + s->failed < s->sent) {
        pthread_mutex_unlock(&d->mu);
        if (mono_ms() > deadline) {
            pthread_mutex_lock(&d->mu);
            ret = sl_err_set(
                err, "%" PRIu64 " dead-letter record(s) not acknowledged within %" PRId64 " ms",
                s->sent - s->delivered - s->failed, timeout_ms);
            break;
        }
        rd_kafka_poll(d->rk, 5); /* serves the reports, on this thread */
        pthread_mutex_lock(&d->mu);
    }
    if (ret == 0 && s->failed > 0)
        ret = sl_err_set(err, "%" PRIu64 " dead-letter record(s) failed: %s", s->failed,
                         s->first_error);
    *n = ret == 0 ? s->delivered : 0;
    if (ret == 0)
        slot_reset(s);
    pthread_mutex_unlock(&d->mu);
    return ret;
}

void dlq_abort(struct dlq *d)
{
    bool sent;
    pthread_mutex_lock(&d->mu);
    sent = d->slot[0].sent > 0 || d->slot[1].sent > 0;
    pthread_mutex_unlock(&d->mu);
    if (sent && rd_kafka_outq_len(d->rk) > 0) {
        rd_kafka_flush(d->rk, d->timeout_ms < 1000 ? (int)d->timeout_ms : 1000);
        if (rd_kafka_outq_len(d->rk) > 0) {
            /* Purge so that late reports cannot be counted for the retried batches. */
            rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            for (int i = 0; i < 100 && rd_kafka_outq_len(d->rk) > 0; i++)
                rd_kafka_poll(d->rk, 10);
        }
    }
    pthread_mutex_lock(&d->mu);
    slot_reset(&d->slot[0]);
    slot_reset(&d->slot[1]);
    d->cur = 0;
    pthread_mutex_unlock(&d->mu);
}

uint64_t dlq_pending(struct dlq *d)
{
    pthread_mutex_lock(&d->mu);
    uint64_t n = d->slot[d->cur].sent;
    pthread_mutex_unlock(&d->mu);
    return n;
}

void dlq_poll(struct dlq *d)
{
    rd_kafka_poll(d->rk, 0);
}

void dlq_destroy(struct dlq *d)
{
    if (!d)
        return;
    /* Anything still queued belongs to a batch that did not commit: it is dead-lettered again
     * after a restart, so a short bound is enough (the broker may be gone). */
    if (rd_kafka_outq_len(d->rk) > 0)
        rd_kafka_flush(d->rk, d->timeout_ms < 5000 ? (int)d->timeout_ms : 5000);
    if (d->rkt)
        rd_kafka_topic_destroy(d->rkt);
    rd_kafka_destroy(d->rk);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
