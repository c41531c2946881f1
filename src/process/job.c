/* The stream job's loop (see job.h). Exactly once into the store rests on three things:
 * a batch's rows and its partitions' next offsets are written in one store transaction;
 * every (re)assignment seeks to the offsets read back from the store; and each transaction
 * checks that the stored offsets are still the ones this instance started the batch from, so
 * an instance that lost a partition without noticing cannot write it again. */
#include "process/job.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kafka.h"
#include "core/log.h"
#include "core/units.h"
#include "process/dlq.h"
#include "process/spec.h"
#include "store/store.h"

#define MOD "process"
#define MAX_PARTITIONS 65536
#define MAX_CONSECUTIVE_FAILURES 20

/* What this instance knows about one partition of its topic. */
struct part {
    bool assigned;
    bool in_batch;       /* the open batch holds records of this partition */
    int64_t stored_next; /* next offset stored in the store (-1: none) */
    int64_t batch_next;  /* next offset after the batch's last record of it */
};

struct process_job {
    struct process_opts o;
    const struct job_spec *spec;
    struct store *store;
    struct dlq *dlq;
    rd_kafka_t *rk;
    bool cooperative;
    struct part *parts; /* indexed by partition id */
    int nparts;

    /* The open batch. rows point into arena; ts are the records' timestamps (ms, -1 none). */
    struct store_row *rows;
    int64_t *ts;
    size_t nrows;
    size_t nin;    /* records taken, good and bad */
    size_t nbad;   /* of which dead-lettered */
    bool poisoned; /* a dead-letter send failed: the batch must be retried */
    int64_t batch_start_us;
    struct spec_arena arena;
    struct store_offset *offs;

    int failures; /* consecutive failed batches */
    bool fatal;
    struct sl_err fatal_err;
    struct process_stats stats;
    uint64_t skipped; /* records below the stored offset (already written), dropped */
};

static void job_fatal(struct process_job *j, const char *msg)
{
    if (!j->fatal) {
        j->fatal = true;
        snprintf(j->fatal_err.msg, sizeof(j->fatal_err.msg), "%s", msg);
    }
}

/* Makes parts[p] exist. */
static struct part *part_get(struct process_job *j, int32_t p)
{
    if (p < 0 || p >= MAX_PARTITIONS)
        return NULL;
    if (p >= j->nparts) {
        int n = p + 1 > 2 * j->nparts ? p + 1 : 2 * j->nparts;
        if (n > MAX_PARTITIONS)
            n = MAX_PARTITIONS;
        struct part *np = realloc(j->parts, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        for (int i = j->nparts; i < n; i++)
            np[i] = (struct part){false, false, -1, -1};
        j->parts = np;
        j->nparts = n;
    }
    return &j->parts[p];
}

static void batch_reset(struct process_job *j)
{
    j->nrows = j->nin = j->nbad = 0;
    j->poisoned = false;
    spec_arena_reset(&j->arena);
    for (int i = 0; i < j->nparts; i++)
        j->parts[i].in_batch = false;
}

/* Seeks every partition of the failed batch back to what the store holds, so its records are
 * read again; the store is the only authority on where to resume. */
static void batch_fail(struct process_job *j, const char *why)
{
    j->failures++;
    process_stats_failure(&j->stats);
    log_warn(MOD,
             "batch of %zu record(s) not committed (%s); re-reading from the stored "
             "offsets (failure %d in a row)",
             j->nin, why, j->failures);
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < j->nparts; i++) {
        struct part *p = &j->parts[i];
        if (!p->in_batch || !p->assigned)
            continue;
        struct sl_err err;
        int64_t next;
        if (store_load_offset(j->store, j->o.topic, i, &next, &err) != 0) {
            job_fatal(j, err.msg);
            break;
        }
        p->stored_next = next;
        rd_kafka_topic_partition_list_add(seek, j->o.topic, i)->offset =
            next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
    }
    batch_reset(j);
    if (seek->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(j->rk, seek, 10000);
        if (e) {
            log_warn(MOD, "seek: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            job_fatal(j, "cannot seek back after a failed batch");
        }
    }
    rd_kafka_topic_partition_list_destroy(seek);
    if (j->failures >= MAX_CONSECUTIVE_FAILURES)
        job_fatal(j, "too many failed batches in a row; giving up (see the warnings above)");
    /* Back off a little so a store that is down is not hammered. */
    int64_t ms = 50LL << (j->failures < 6 ? j->failures : 6);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Commits the open batch: dead letters delivered first, then rows and offsets in one store
 * transaction, then (best effort) the offsets to Kafka. Returns 0 when committed or empty. */
static int batch_flush(struct process_job *j)
{
    if (j->nin == 0)
        return 0;
    struct sl_err err;
    if (j->poisoned) {
        batch_fail(j, "a dead-letter record could not be queued");
        return -1;
    }
    uint64_t dl = 0;
    if (dlq_pending(j->dlq) > 0 && dlq_flush(j->dlq, j->o.dlq_timeout_ms, &dl, &err) != 0) {
        batch_fail(j, err.msg);
        return -1;
    }
    size_t noffs = 0;
    rd_kafka_topic_partition_list_t *kc = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < j->nparts; i++) {
        struct part *p = &j->parts[i];
        if (!p->in_batch)
            continue;
        j->offs[noffs++] = (struct store_offset){i, p->stored_next, p->batch_next};
        rd_kafka_topic_partition_list_add(kc, j->o.topic, i)->offset = p->batch_next;
    }
    int rc = store_write_batch(j->store, j->o.topic, j->rows, j->nrows, j->offs, noffs, &err);
    if (rc != 0) {
        rd_kafka_topic_partition_list_destroy(kc);
        batch_fail(j, err.msg);
        return -1;
    }
    int64_t commit_ms = now_ms();
    uint64_t batch_us = (uint64_t)(mono_us() - j->batch_start_us);
    struct hist e2e;
    memset(&e2e, 0, sizeof(e2e));
    for (size_t i = 0; i < j->nrows; i++) {
        if (j->ts[i] >= 0)
            hist_add(&e2e, (uint64_t)(commit_ms > j->ts[i] ? commit_ms - j->ts[i] : 0) * 1000);
    }
    for (size_t i = 0; i < noffs; i++)
        j->parts[j->offs[i].partition].stored_next = j->offs[i].next_offset;
    /* Kafka's committed offsets only show progress (kafka-consumer-groups --describe). */
    rd_kafka_resp_err_t ke = rd_kafka_commit(j->rk, kc, 1);
    if (ke)
        log_debug(MOD, "offset commit to Kafka: %s", rd_kafka_err2str(ke));
    rd_kafka_topic_partition_list_destroy(kc);
    process_stats_batch(&j->stats, j->nin, j->nrows, dl, batch_us, &e2e);
    j->failures = 0;
    batch_reset(j);
    return 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct process_job *j = opaque;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            struct part *p = part_get(j, tp->partition);
            struct sl_err serr;
            int64_t next = -1;
            if (!p || strcmp(tp->topic, j->o.topic) != 0) {
                job_fatal(j, "assigned a partition this job cannot track");
                continue;
            }
            if (store_load_offset(j->store, j->o.topic, tp->partition, &next, &serr) != 0) {
                job_fatal(j, serr.msg);
                continue;
            }
            p->assigned = true;
            p->in_batch = false;
            p->stored_next = next;
            tp->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
            if (next >= 0)
                log_info(MOD, "assigned %s[%d], resuming at stored offset %" PRId64, tp->topic,
                         (int)tp->partition, next);
            else
                log_info(MOD, "assigned %s[%d], nothing stored: starting at the beginning",
                         tp->topic, (int)tp->partition);
        }
        if (j->fatal) {
            /* Without the stored offsets nothing can be consumed safely. */
            if (!j->cooperative)
                re = rd_kafka_assign(rk, NULL);
        } else if (j->cooperative) {
            e = rd_kafka_incremental_assign(rk, parts);
        } else {
            re = rd_kafka_assign(rk, parts);
        }
    } else {
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && rd_kafka_assignment_lost(rk))
            log_warn(MOD, "partitions lost (session timed out?); committing what is in flight "
                          "only if the store still agrees");
        /* Commit the batch in flight before the partitions go: the next owner resumes from
         * the store, so nothing is written twice and nothing is skipped. */
        if (j->fatal)
            batch_reset(j); /* the store is not trusted any more: write nothing */
        else
            batch_flush(j);
        for (int i = 0; i < parts->cnt; i++) {
            struct part *p = part_get(j, parts->elems[i].partition);
            if (p)
                p->assigned = false;
            log_info(MOD, "revoked %s[%d]", parts->elems[i].topic, (int)parts->elems[i].partition);
        }
        if (j->cooperative)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            re = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        log_error(MOD, "rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (re) {
        log_error(MOD, "rebalance: %s", rd_kafka_err2str(re));
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct process_job *j = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char msg[256];
        rd_kafka_fatal_error(rk, msg, sizeof(msg));
        job_fatal(j, msg);
        return;
    }
    char auth[512];
    if (kafka_auth_failure(rk, err, reason, auth, sizeof(auth))) {
        job_fatal(j, auth); /* retrying with the same credentials cannot succeed */
        return;
    }
    log_warn(MOD, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static int create_consumer(struct process_job *j, struct sl_err *err)
{
    char sess[32], hb[32];
    snprintf(sess, sizeof(sess), "%" PRId64, j->o.session_timeout_ms);
    /* Heartbeats must come well within the session timeout. */
    snprintf(hb, sizeof(hb), "%" PRId64,
             j->o.session_timeout_ms / 3 < 3000 ? j->o.session_timeout_ms / 3 : 3000);
    const char *defaults[][2] = {
        {"group.id", j->o.group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"allow.auto.create.topics", "true"},
        {"session.timeout.ms", sess},
        {"heartbeat.interval.ms", hb},
        {"socket.connection.setup.timeout.ms", "5000"},
        {"reconnect.backoff.max.ms", "1000"},
        {NULL, NULL},
    };
    struct kafka_conf_opts ko = {j->o.bootstrap, "sluice-process", defaults, j->o.kafka};
    rd_kafka_conf_t *conf = kafka_conf_create(&ko, err);
    if (!conf)
        return -1;
    rd_kafka_conf_set_opaque(conf, j);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_error_cb(conf, on_error);
    j->rk = kafka_new(RD_KAFKA_CONSUMER, conf, "the Kafka consumer", err);
    if (!j->rk)
        return -1;
    rd_kafka_poll_set_consumer(j->rk);
    j->cooperative = strcmp(rd_kafka_rebalance_protocol(j->rk), "COOPERATIVE") == 0;
    return 0;
}

int process_job_create(struct process_job **out, const struct process_opts *o, struct sl_err *err)
{
    *out = NULL;
    if (o->batch_max < 1 || o->batch_max > 1000000)
        return sl_err_set(err, "--batch-max must be 1-1000000");
    if (o->batch_max_bytes < 65536)
        return sl_err_set(err, "--batch-max-bytes must be at least 64KiB");
    struct process_job *j = calloc(1, sizeof(*j));
    if (!j)
        return sl_err_set(err, "out of memory");
    j->o = *o;
    j->spec = spec_users();
    process_stats_init(&j->stats);
    spec_arena_init(&j->arena, (size_t)o->batch_max_bytes);
    j->rows = calloc((size_t)o->batch_max, sizeof(*j->rows));
    j->ts = calloc((size_t)o->batch_max, sizeof(*j->ts));
    j->offs = calloc(MAX_PARTITIONS, sizeof(*j->offs));
    if (!j->rows || !j->ts || !j->offs) {
        sl_err_set(err, "out of memory");
        goto fail;
    }
    if (store_open(o->store_uri, &j->spec->layout, o->group, 0, &j->store, err) != 0)
        goto fail;
    if (dlq_create(&j->dlq, o->bootstrap, o->dlq_topic, o->dlq_timeout_ms, o->kafka, err) != 0)
        goto fail;
    if (create_consumer(j, err) != 0)
        goto fail;
    *out = j;
    return 0;
fail:
    process_job_destroy(j);
    return -1;
}

static void seek_one(struct process_job *j, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, j->o.topic, partition)->offset = offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(j->rk, l, 10000);
    if (e) {
        log_warn(MOD, "seek: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        job_fatal(j, "cannot seek back after a failed batch");
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Takes one consumed record into the open batch (decoded row or dead letter). */
static void take(struct process_job *j, const rd_kafka_message_t *m)
{
    struct part *p = m->partition < j->nparts ? &j->parts[m->partition] : NULL;
    if (!p || !p->assigned)
        return; /* fetched before a revoke; its new owner reads it */
    int64_t expect = p->in_batch ? p->batch_next : p->stored_next;
    if (expect >= 0 && m->offset < expect) {
        j->skipped++;
        return; /* already in the store or the batch */
    }
    if (j->nin == 0)
        j->batch_start_us = mono_us();
    char reason[256];
    struct store_row *row = &j->rows[j->nrows];
    int rc = spec_decode(j->spec, m->payload, m->len, &j->arena, row, reason, sizeof(reason));
    if (rc == -2) {
        /* The batch's byte bound is reached: commit it and decode into an empty arena. */
        bool was_in = p->in_batch;
        if (batch_flush(j) != 0) {
            /* Partitions of the batch were sought back; make sure this record comes again
             * even when its partition was not part of the batch. */
            if (!was_in)
                seek_one(j, m->partition, m->offset);
            return;
        }
        j->batch_start_us = mono_us();
        rc = spec_decode(j->spec, m->payload, m->len, &j->arena, row, reason, sizeof(reason));
        if (rc == -2) {
            snprintf(reason, sizeof(reason), "value too large for --batch-max-bytes");
            rc = -1;
        }
    }
    if (rc == 0) {
        rd_kafka_timestamp_type_t tt;
        j->ts[j->nrows] = rd_kafka_message_timestamp(m, &tt);
        row->partition = m->partition;
        row->offset = m->offset;
        row->ts_ms = j->ts[j->nrows++];
    } else {
        struct sl_err err;
        log_debug(MOD, "dead letter %s[%d]@%" PRId64 ": %s", rd_kafka_topic_name(m->rkt),
                  (int)m->partition, m->offset, reason);
        if (dlq_send(j->dlq, m, reason, &err) != 0) {
            log_warn(MOD, "%s", err.msg);
            j->poisoned = true;
        }
        j->nbad++;
    }
    p->in_batch = true;
    p->batch_next = m->offset + 1;
    j->nin++;
}

/* Consumer lag from the high watermarks librdkafka caches from fetch responses (no request). */
static void update_lag(struct process_job *j)
{
    int64_t lag = 0;
    int32_t assigned = 0;
    bool known = false;
    for (int i = 0; i < j->nparts; i++) {
        struct part *p = &j->parts[i];
        if (!p->assigned)
            continue;
        assigned++;
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(j->rk, j->o.topic, i, &lo, &hi) != 0 || hi < 0)
            continue;
        int64_t pos = p->stored_next >= 0 ? p->stored_next : (lo >= 0 ? lo : 0);
        lag += hi > pos ? hi - pos : 0;
        process_stats_partition_lag(j->o.topic, i, hi > pos ? hi - pos : 0);
        known = true;
    }
    process_stats_set_lag(&j->stats, known ? lag : -1, assigned);
}

static void log_stats(struct process_job *j, struct process_stats_snapshot *prev, int64_t dt_ms)
{
    struct process_stats_snapshot s;
    process_stats_snapshot(&j->stats, &s);
    struct hist b, e;
    hist_diff(&s.batch_us, &prev->batch_us, &b);
    hist_diff(&s.e2e_us, &prev->e2e_us, &e);
    if (s.records_in == prev->records_in && s.batch_failures == prev->batch_failures &&
        s.lag == prev->lag && s.assigned == prev->assigned) {
        *prev = s;
        return; /* idle: nothing new to say */
    }
    double secs = dt_ms > 0 ? dt_ms / 1000.0 : 1;
    log_info(MOD,
             "in %" PRIu64 " (%.0f/s) stored %" PRIu64 " (%.0f/s) dead-lettered %" PRIu64
             " batches %" PRIu64 " failed %" PRIu64 " | batch p50 %.1f ms p99 %.1f ms | "
             "end-to-end p50 %.0f ms p99 %.0f ms | lag %" PRId64 " | partitions %d",
             s.records_in, (s.records_in - prev->records_in) / secs, s.stored,
             (s.stored - prev->stored) / secs, s.dead_lettered, s.batches, s.batch_failures,
             hist_quantile(&b, 0.5) / 1000.0, hist_quantile(&b, 0.99) / 1000.0,
             hist_quantile(&e, 0.5) / 1000.0, hist_quantile(&e, 0.99) / 1000.0, s.lag,
             (int)s.assigned);
    *prev = s;
}

int process_job_run(struct process_job *j, const atomic_bool *stop, struct sl_err *err)
{
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, j->o.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(j->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (se)
        return sl_err_set(err, "subscribe to %s: %s", j->o.topic, rd_kafka_err2str(se));
    char shown[512];
    store_uri_redact(j->o.store_uri, shown, sizeof(shown)); /* no password in logs */
    log_info(MOD,
             "consuming %s as group %s from %s into %s (batches of up to %" PRId64
             " records or %" PRId64 " ms; dead letters to %s)",
             j->o.topic, j->o.group, j->o.bootstrap, shown, j->o.batch_max, j->o.batch_linger_ms,
             j->o.dlq_topic);
    struct process_stats_snapshot prev;
    process_stats_snapshot(&j->stats, &prev);
    int64_t last_stats = mono_ms(), last_lag = last_stats;
    while (!atomic_load(stop) && !j->fatal) {
        int timeout = 100;
        if (j->nin > 0) {
            int64_t left = j->o.batch_linger_ms - (mono_us() - j->batch_start_us) / 1000;
            timeout = left < 0 ? 0 : (left < 100 ? (int)left : 100);
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(j->rk, timeout);
        if (m) {
            if (!m->err)
                take(j, m);
            else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn(MOD, "consume: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        if (j->nin >= (size_t)j->o.batch_max ||
            (j->nin > 0 && mono_us() - j->batch_start_us >= j->o.batch_linger_ms * 1000))
            batch_flush(j);
        dlq_poll(j->dlq);
        int64_t now = mono_ms();
        if (now - last_lag >= 1000) { /* cached watermarks: no request; /metrics shows it */
            update_lag(j);
            last_lag = now;
        }
        if (j->o.stats_interval_ms > 0 && now - last_stats >= j->o.stats_interval_ms) {
            update_lag(j);
            log_stats(j, &prev, now - last_stats);
            last_stats = now;
        }
    }
    /* Finish the batch in flight, then leave the group (the revoke callback runs inside
     * close and finds nothing left to commit). */
    if (!j->fatal)
        batch_flush(j);
    log_info(MOD, "leaving group %s", j->o.group);
    rd_kafka_resp_err_t ce = rd_kafka_consumer_close(j->rk);
    if (ce)
        log_warn(MOD, "consumer close: %s", rd_kafka_err2str(ce));
    update_lag(j);
    log_stats(j, &prev, mono_ms() - last_stats);
    struct process_stats_snapshot s;
    process_stats_snapshot(&j->stats, &s);
    double span = s.last_commit_ms > s.first_in_ms ? (s.last_commit_ms - s.first_in_ms) / 1e3 : 0;
    log_info(MOD,
             "summary: in %" PRIu64 " stored %" PRIu64 " dead-lettered %" PRIu64 " batches %" PRIu64
             " failed %" PRIu64 " span %.3f s rate %.0f/s | batch p50 "
             "%.1f ms p99 %.1f ms | end-to-end p50 %.1f ms p99 %.1f ms",
             s.records_in, s.stored, s.dead_lettered, s.batches, s.batch_failures, span,
             span > 0 ? s.records_in / span : 0.0, hist_quantile(&s.batch_us, 0.5) / 1000.0,
             hist_quantile(&s.batch_us, 0.99) / 1000.0, hist_quantile(&s.e2e_us, 0.5) / 1000.0,
             hist_quantile(&s.e2e_us, 0.99) / 1000.0);
    if (j->skipped)
        log_info(MOD, "%" PRIu64 " record(s) below the stored offsets were skipped", j->skipped);
    if (j->fatal)
        return sl_err_set(err, "%s", j->fatal_err.msg);
    return 0;
}

struct process_stats *process_job_stats(struct process_job *j)
{
    return &j->stats;
}

void process_job_destroy(struct process_job *j)
{
    if (!j)
        return;
    if (j->rk)
        rd_kafka_destroy(j->rk);
    dlq_destroy(j->dlq);
    store_close(j->store);
    spec_arena_free(&j->arena);
    free(j->rows);
    free(j->ts);
    free(j->offs);
    free(j->parts);
    process_stats_destroy(&j->stats);
    free(j);
}
