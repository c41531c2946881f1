/* kcons: a librdkafka consumer for the interop tests and benches. Reads every partition of a
 * topic (or the ones given) from the earliest offset to the latest offset seen at start, with
 * explicit per-partition offsets and no consumer group, checking offsets only move forward.
 * Prints a summary; -o writes one "key partition offset" line per message.
 * Exit: 0 read everything and all checks passed, 1 otherwise (or timeout), 2 usage. */
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/units.h"
#include "payload.h"

#define MAX_X 32
#define MAX_PARTS 1024

struct part {
    int32_t id;
    int64_t lo, hi; /* watermarks at start: read [lo, hi) */
    int64_t next;   /* next offset expected */
    int64_t count;
    bool started;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: kcons -b HOST:PORT -t TOPIC [-p PARTITION]... [-o OUTFILE] [-T TIMEOUT_S]\n"
            "             [-V] [-c] [-s SIZE] [-X k=v]... [-q]\n"
            "  -o write key/partition/offset lines ('-' = stdout)   -T time limit (default 60)\n"
            "  -V check each value against its key (payload.h)    -s expect values of SIZE\n"
            "  -c require offsets contiguous from the earliest     -q no progress lines\n");
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kcons: %s=%s: %s\n", k, v, errstr);
        return -1;
    }
    return 0;
}

static struct part *find_part(struct part *parts, int n, int32_t id)
{
    for (int i = 0; i < n; i++) {
        if (parts[i].id == id)
            return &parts[i];
    }
    return NULL;
}

/* Metadata for one topic, retried until the deadline (the broker may still be starting). */
static int topic_partitions(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int64_t deadline,
                            struct part *parts, int *n)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (mono_ms() < deadline) {
        const struct rd_kafka_metadata *md;
        e = rd_kafka_metadata(rk, 0, rkt, &md, 1000);
        if (e) {
            rd_kafka_poll(rk, 100);
            continue;
        }
        e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            *n = 0;
            for (int i = 0; i < md->topics[0].partition_cnt && *n < MAX_PARTS; i++)
                parts[(*n)++].id = md->topics[0].partitions[i].id;
            rd_kafka_metadata_destroy(md);
            return 0;
        }
        rd_kafka_metadata_destroy(md);
        if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            break;
        rd_kafka_poll(rk, 100);
    }
    fprintf(stderr, "kcons: metadata for %s: %s\n", rd_kafka_topic_name(rkt), rd_kafka_err2str(e));
    return -1;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *outpath = NULL, *xs[MAX_X];
    int nx = 0, quiet = 0, verify = 0, contiguous = 0, nwant = 0;
    int32_t want[MAX_PARTS];
    long long timeout_s = 60, size = -1;
    int c;
    while ((c = getopt(argc, argv, "b:t:p:o:T:Vcs:X:qh")) != -1) {
        switch (c) {
        case 'b':
            bootstrap = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'p':
            if (nwant < MAX_PARTS)
                want[nwant++] = atoi(optarg);
            break;
        case 'o':
            outpath = optarg;
            break;
        case 'T':
            timeout_s = atoll(optarg);
            break;
        case 'V':
            verify = 1;
            break;
        case 'c':
            contiguous = 1;
            break;
        case 's':
            size = atoll(optarg);
            break;
        case 'X':
            if (nx >= MAX_X) {
                fprintf(stderr, "kcons: too many -X\n");
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
    if (!bootstrap || !topic || timeout_s <= 0 || optind != argc) {
        usage();
        return 2;
    }
    FILE *out = NULL;
    if (outpath && !(out = strcmp(outpath, "-") == 0 ? stdout : fopen(outpath, "w"))) {
        perror(outpath);
        return 1;
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* No group.id: offsets are explicit, so no coordinator traffic (groups are not required of
     * the broker yet) and nothing is committed. */
    if (set(conf, "bootstrap.servers", bootstrap) || set(conf, "enable.partition.eof", "false") ||
        set(conf, "allow.auto.create.topics", "false"))
        return 1;
    for (int i = 0; i < nx; i++) {
        char kv[512];
        snprintf(kv, sizeof(kv), "%s", xs[i]);
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "kcons: -X %s: expected key=value\n", xs[i]);
            return 2;
        }
        *eq = '\0';
        if (set(conf, kv, eq + 1))
            return 2;
    }
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kcons: %s\n", errstr);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int64_t deadline = mono_ms() + timeout_s * 1000;
    static struct part all[MAX_PARTS], parts[MAX_PARTS];
    int nall = 0, n = 0, rc = 0;
    if (topic_partitions(rk, rkt, deadline, all, &nall) != 0) {
        rc = 1;
        goto out;
    }
    for (int i = 0; i < nall; i++) {
        bool wanted = nwant == 0;
        for (int j = 0; j < nwant; j++)
            wanted = wanted || want[j] == all[i].id;
        if (wanted)
            parts[n++] = all[i];
    }
    if (n != (nwant ? nwant : nall)) {
        fprintf(stderr, "kcons: %s has %d partitions; some asked for do not exist\n", topic, nall);
        rc = 1;
        goto out;
    }
    int64_t total_expected = 0;
    for (int i = 0; i < n; i++) {
        struct part *p = &parts[i];
        int64_t left = deadline - mono_ms();
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p->id, &p->lo, &p->hi,
                                                                 left > 0 ? (int)left : 1);
        if (e) {
            fprintf(stderr, "kcons: offsets of %s/%d: %s\n", topic, p->id, rd_kafka_err2str(e));
            rc = 1;
            goto out;
        }
        p->next = p->lo;
        total_expected += p->hi - p->lo;
        if (p->hi > p->lo) {
            if (rd_kafka_consume_start_queue(rkt, p->id, p->lo, q) != 0) {
                fprintf(stderr, "kcons: start %s/%d: %s\n", topic, p->id,
                        rd_kafka_err2str(rd_kafka_last_error()));
                rc = 1;
                goto out;
            }
            p->started = true;
        }
    }

    int64_t total = 0, bytes = 0, bad_order = 0, bad_value = 0, errors = 0;
    int64_t t0 = mono_us(), t_last = t0, last_progress = mono_ms();
    int remaining = 0;
    for (int i = 0; i < n; i++)
        remaining += parts[i].hi > parts[i].lo;
    rd_kafka_message_t *batch[1000];
    while (remaining > 0 && mono_ms() < deadline) {
        ssize_t got = rd_kafka_consume_batch_queue(q, 100, batch, 1000);
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = batch[i];
            struct part *p = find_part(parts, n, m->partition);
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && errors++ < 20)
                    fprintf(stderr, "kcons: %s/%d: %s\n", topic, (int)m->partition,
                            rd_kafka_message_errstr(m));
            } else if (p && m->offset >= p->lo && m->offset < p->hi) {
                if (m->offset < p->next || (contiguous && m->offset != p->next)) {
                    if (bad_order++ < 20)
                        fprintf(stderr, "kcons: %s/%d: offset %lld where %lld was expected\n",
                                topic, p->id, (long long)m->offset, (long long)p->next);
                }
                if (m->offset >= p->next) {
                    p->next = m->offset + 1;
                    p->count++;
                    total++;
                    bytes += (int64_t)m->len;
                    t_last = mono_us();
                    if (verify &&
                        (!m->key || !payload_check(m->payload, m->len, m->key, m->key_len))) {
                        if (bad_value++ < 20)
                            fprintf(stderr, "kcons: %s/%d@%lld: value does not match its key\n",
                                    topic, p->id, (long long)m->offset);
                    } else if (size >= 0 && (long long)m->len != size) {
                        if (bad_value++ < 20)
                            fprintf(stderr, "kcons: %s/%d@%lld: %zu bytes, expected %lld\n", topic,
                                    p->id, (long long)m->offset, m->len, size);
                    }
                    if (out)
                        fprintf(out, "%.*s %d %lld\n", (int)m->key_len,
                                m->key ? (const char *)m->key : "", p->id, (long long)m->offset);
                    if (p->next >= p->hi)
                        remaining--;
                }
            }
            rd_kafka_message_destroy(m);
        }
        if (!quiet && mono_ms() - last_progress >= 1000) {
            last_progress = mono_ms();
            fprintf(stderr, "kcons: consumed %lld of %lld\n", (long long)total,
                    (long long)total_expected);
        }
    }
    double secs = (t_last > t0 ? t_last - t0 : 1) / 1e6;
    printf("kcons: consumed %lld of %lld in %.3f s: %.0f msg/s, %.2f MB/s\n", (long long)total,
           (long long)total_expected, secs, total / secs, bytes / secs / 1e6);
    for (int i = 0; i < n; i++) {
        struct part *p = &parts[i];
        if (!quiet || p->next < p->hi)
            printf("kcons: partition %d: [%lld, %lld) consumed %lld%s\n", p->id, (long long)p->lo,
                   (long long)p->hi, (long long)p->count,
                   p->next < p->hi ? " INCOMPLETE (timed out)" : "");
    }
    if (remaining > 0 || bad_order || bad_value || (contiguous && total != total_expected)) {
        fprintf(stderr,
                "kcons: FAILED: %d partitions incomplete, %lld out of order, %lld bad "
                "values\n",
                remaining, (long long)bad_order, (long long)bad_value);
        rc = 1;
    }
    for (int i = 0; i < n; i++) {
        if (parts[i].started)
            rd_kafka_consume_stop(rkt, parts[i].id);
    }
out:
    if (out && out != stdout && fclose(out) != 0) {
        perror(outpath);
        rc = 1;
    } else if (out == stdout) {
        fflush(stdout);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}
