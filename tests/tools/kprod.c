/* kprod: a librdkafka producer for the interop tests and benches. Produces N keyed messages
 * (contents from payload.h), counts delivery reports, optionally writes one
 * "key partition offset" line per acknowledged message, and prints throughput and produce
 * latency (enqueue to delivery report, as Kafka's ProducerPerformance measures it: p50, p99,
 * p99.9, max; -L writes every latency in microseconds, one per line, for merging across
 * processes) and the monotonic window first produce .. last ack (for aggregating processes).
 * Exit: 0 all acknowledged, 3 some not acknowledged, 1 setup or fatal error, 2 usage. */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/units.h"
#include "payload.h"

#define MAX_X 32

struct prod_state {
    FILE *ackf;
    uint32_t *lat_us; /* one per acknowledged message */
    int64_t nlat, caplat;
    int64_t acked;
    int64_t failed;
    int64_t acked_bytes;
    int64_t first_us, last_ack_us;
    char first_error[256];
    int fatal;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: kprod -b HOST:PORT -t TOPIC -n COUNT [-s SIZE] [-a ACKS] [-i] [-P PARTITION]\n"
            "             [-k FIRST_KEY] [-o ACKFILE] [-L LATFILE] [-T TIMEOUT_S] [-r MSGS_PER_S]\n"
            "             [-X k=v]... [-q]\n"
            "  -s value size in bytes (default 100)    -a acks: 0, 1, all (default all)\n"
            "  -i enable idempotence                   -P fixed partition (default: by key)\n"
            "  -k index of the first key (default 0)   -o write acknowledged key/partition/offset\n"
            "  -T overall time limit (default 60 s)    -r rate limit\n"
            "  -X any librdkafka producer property     -q no progress lines\n"
            "  -L write each produce latency (us), one per line\n");
}

/* Delivery reports arrive on the thread calling rd_kafka_poll/flush (this one). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct prod_state *st = opaque;
    if (m->err) {
        if (st->failed++ == 0)
            snprintf(st->first_error, sizeof(st->first_error), "%s", rd_kafka_err2str(m->err));
        return;
    }
    st->acked++;
    st->acked_bytes += (int64_t)m->len;
    st->last_ack_us = mono_us();
    /* The message's opaque is its enqueue time, relative to first_us, plus one. */
    int64_t sent = (int64_t)(uintptr_t)m->_private - 1 + st->first_us;
    int64_t lat = st->last_ack_us - sent;
    if (st->nlat < st->caplat)
        st->lat_us[st->nlat++] = (uint32_t)(lat < 0 ? 0 : lat > UINT32_MAX ? UINT32_MAX : lat);
    if (st->ackf)
        fprintf(st->ackf, "%.*s %d %lld\n", (int)m->key_len, (const char *)m->key,
                (int)m->partition, (long long)m->offset);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct prod_state *st = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        fprintf(stderr, "kprod: fatal: %s\n", buf);
        st->fatal = 1;
        return;
    }
    fprintf(stderr, "kprod: %s: %s\n", rd_kafka_err2name(err), reason);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v[0..n), in ms. */
static double quantile_ms(const uint32_t *v, int64_t n, double q)
{
    if (n == 0)
        return 0;
    int64_t i = (int64_t)(q * (double)n);
    if (i >= n)
        i = n - 1;
    return v[i] / 1000.0;
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kprod: %s=%s: %s\n", k, v, errstr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *ackpath = NULL, *acks = "all", *latpath = NULL;
    const char *xs[MAX_X];
    int nx = 0, idempotent = 0, quiet = 0, partition = RD_KAFKA_PARTITION_UA;
    long long count = -1, first_key = 0, size = 100, timeout_s = 60, rate = 0;
    int c;
    while ((c = getopt(argc, argv, "b:t:n:s:a:iP:k:o:L:T:r:X:qh")) != -1) {
        switch (c) {
        case 'b':
            bootstrap = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'n':
            count = atoll(optarg);
            break;
        case 's':
            size = atoll(optarg);
            break;
        case 'a':
            acks = optarg;
            break;
        case 'i':
            idempotent = 1;
            break;
        case 'P':
            partition = atoi(optarg);
            break;
        case 'k':
            first_key = atoll(optarg);
            break;
        case 'o':
            ackpath = optarg;
            break;
        case 'L':
            latpath = optarg;
            break;
        case 'T':
            timeout_s = atoll(optarg);
            break;
        case 'r':
            rate = atoll(optarg);
            break;
        case 'X':
            if (nx >= MAX_X) {
                fprintf(stderr, "kprod: too many -X\n");
                return 2;
            }
            xs[nx++] = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (!bootstrap || !topic || count < 0 || size < 0 || size > 64 * 1024 * 1024 ||
        timeout_s <= 0 || optind != argc) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    struct prod_state st = {0};
    if (ackpath && !(st.ackf = fopen(ackpath, "w"))) {
        perror(ackpath);
        return 1;
    }
    /* Latencies of the first 16M records at most (64 MiB); the rest are not sampled. */
    st.caplat = count < 16 * 1024 * 1024 ? count : 16 * 1024 * 1024;
    st.lat_us = malloc((size_t)(st.caplat > 0 ? st.caplat : 1) * sizeof(*st.lat_us));
    if (!st.lat_us) {
        fprintf(stderr, "kprod: out of memory\n");
        return 1;
    }
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%lld", timeout_s * 1000);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", bootstrap) || set(conf, "acks", acks) ||
        set(conf, "enable.idempotence", idempotent ? "true" : "false") ||
        set(conf, "message.timeout.ms", tmo))
        return 1;
    for (int i = 0; i < nx; i++) {
        char kv[512];
        snprintf(kv, sizeof(kv), "%s", xs[i]);
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "kprod: -X %s: expected key=value\n", xs[i]);
            return 2;
        }
        *eq = '\0';
        if (set(conf, kv, eq + 1))
            return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, &st);
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kprod: %s\n", errstr);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);

    char *value = malloc((size_t)size + 1);
    char key[PAYLOAD_KEY_LEN];
    int64_t deadline = mono_ms() + timeout_s * 1000;
    int64_t start_ms = mono_ms(), last_progress = start_ms;
    st.first_us = mono_us();
    int64_t produced = 0;
    int rc = 0;
    for (long long i = 0; i < count && !st.fatal; i++) {
        payload_key(key, first_key + i);
        payload_value(value, (size_t)size, key, PAYLOAD_KEY_LEN);
        while (rate > 0 && produced * 1000 > rate * (mono_ms() - start_ms) && !st.fatal)
            rd_kafka_poll(rk, 1);
        int64_t now_us;
        for (;;) {
            /* one clock read a record: it stamps the record and checks the deadline */
            now_us = mono_us();
            void *sent = (void *)(uintptr_t)(now_us - st.first_us + 1);
            if (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, value, (size_t)size, key,
                                 PAYLOAD_KEY_LEN, sent) == 0)
                break;
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "kprod: produce: %s\n", rd_kafka_err2str(e));
                rc = 1;
                goto drain;
            }
            rd_kafka_poll(rk, 5);
            if (mono_ms() > deadline || st.fatal)
                goto drain;
        }
        produced++;
        rd_kafka_poll(rk, 0);
        if (!quiet && now_us / 1000 - last_progress >= 1000) {
            last_progress = now_us / 1000;
            fprintf(stderr, "kprod: produced %lld acked %lld failed %lld\n", (long long)produced,
                    (long long)st.acked, (long long)st.failed);
            if (st.ackf)
                fflush(st.ackf);
        }
        if (now_us / 1000 > deadline)
            break;
    }
drain:
    /* Wait for every report until the deadline; then purge so what is left is reported as
     * failed rather than silently dropped. */
    while (rd_kafka_outq_len(rk) > 0 && mono_ms() < deadline && !st.fatal) {
        rd_kafka_poll(rk, 50);
        if (st.ackf)
            fflush(st.ackf);
    }
    if (rd_kafka_outq_len(rk) > 0) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 100 && rd_kafka_outq_len(rk) > 0; i++)
            rd_kafka_poll(rk, 20);
    }
    double secs = (st.last_ack_us > st.first_us ? st.last_ack_us - st.first_us : 1) / 1e6;
    printf("kprod: acked %lld failed %lld unsent %lld of %lld in %.3f s: %.0f msg/s, %.2f MB/s\n",
           (long long)st.acked, (long long)st.failed, (long long)(count - produced), count, secs,
           st.acked / secs, st.acked_bytes / secs / 1e6);
    if (latpath) {
        FILE *lf = fopen(latpath, "w");
        if (!lf) {
            perror(latpath);
            rc = 1;
        } else {
            for (int64_t i = 0; i < st.nlat; i++)
                fprintf(lf, "%u\n", st.lat_us[i]);
            if (fclose(lf) != 0) {
                perror(latpath);
                rc = 1;
            }
        }
    }
    qsort(st.lat_us, (size_t)st.nlat, sizeof(*st.lat_us), cmp_u32);
    printf("kprod: latency ms p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
           quantile_ms(st.lat_us, st.nlat, 0.5), quantile_ms(st.lat_us, st.nlat, 0.99),
           quantile_ms(st.lat_us, st.nlat, 0.999), quantile_ms(st.lat_us, st.nlat, 1.0));
    printf("kprod: window_us %lld %lld\n", (long long)st.first_us, (long long)st.last_ack_us);
    if (st.failed)
        fprintf(stderr, "kprod: first delivery error: %s\n", st.first_error);
    if (st.ackf && fclose(st.ackf) != 0) {
        perror(ackpath);
        rc = 1;
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(value);
    free(st.lat_us);
    if (rc == 0 && st.fatal)
        rc = 1;
    if (rc == 0 && st.acked != count)
        rc = 3;
    return rc;
}
