/* The stream job's loop (see job.h). Exactly once into the store rests on three things:
 * a batch's rows and its partitions' next offsets are written in one store transaction;
 * every (re)assignment seeks to the offsets read back from the store; and each transaction
 * checks that the stored offsets are still the ones this instance started the batch from, so
 * an instance that lost a partition without noticing cannot write it again.
 *
 * Decoding and committing overlap: the loop thread polls and decodes into the open batch
 * while a writer thread commits the previous one (one batch in flight at most). A batch is
 * handed to the writer once it is due (full or older than --batch-linger) and the writer is
 * free, so under load batches grow on their own (up to --batch-max) as long as the writer is
 * busy. While no record comes (TEND_IDLE_MS), the writer also does the store's own work a
 * step at a time (store_tend: e.g. a SQLite run being built by copy), which batches otherwise
 * pay for as they come. The store is touched by one thread at a time: the loop thread reads
 * offsets only after waiting for the writer to be idle. */
#include "process/job.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
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
/* Progress goes to Kafka's committed offsets at most this often (and at revoke and close). */
#define KAFKA_COMMIT_INTERVAL_MS 1000

/* What this instance knows about one partition of its topic. */
struct part {
    bool assigned;
    bool in_batch;       /* the open batch holds records of this partition */
    int64_t stored_next; /* next offset stored in the store (-1: none): the fencing value */
    int64_t next;        /* records below are skipped (-1: none); = stored_next unless the
                            log was reset or --reset-offsets moved it */
    bool reset_done;     /* --reset-offsets applied to it */
    int64_t batch_next;  /* next offset after the batch's last record of it */
    int64_t kafka_next;  /* last next offset committed to Kafka (progress display only) */
};

/* A batch: the open one (filled by the loop thread) or the one in flight (the writer's). */
struct batch {
    /* rows point into arena; ts are the records' timestamps (ms, -1 none). */
    struct store_row *rows;
    int64_t *ts;
    int64_t *taken_us; /* wall clock when the loop took each row (stage latencies) */
    size_t nrows, cap;
    size_t nin;        /* records taken, good and bad */
    size_t nbad;       /* of which dead-lettered */
    bool poisoned;     /* a dead-letter send failed: the batch must be retried */
    int64_t start_us;  /* monotonic clock when its first record was taken */
    int64_t wall_off;  /* wall clock - monotonic clock then: taken_us from one clock read */
    int64_t handed_us; /* wall clock of the hand-over to the writer */
    struct spec_arena arena;
    struct store_offset *offs; /* progress, filled when the batch is handed over */
    size_t noffs, cap_offs;
    uint64_t dead_lettered; /* acknowledged dead letters, known before the commit */
    int dlq_slot;           /* its dead letters' slot (dlq_seal), waited for by the writer */
    /* The writer's result. */
    int rc;
    struct sl_err err;
    int64_t commit_ms, commit_us;
    struct hist e2e;
    struct hist to_job, queued, commit; /* the stages of e2e (see stats.h) */
};

/* The writer thread and its one slot. */
struct writer {
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct batch *todo; /* handed over, not yet written */
    struct batch *done; /* written (rc set), not yet collected */
    /* A step of the store's own work while no batch comes (store_tend): asked by the loop,
     * done by the writer, which then sets tend_done and tend_rc. Batches go first. */
    bool tend, tend_done;
    int tend_rc;
    struct sl_err tend_err;
    bool stop;
};

struct process_job {
    struct process_opts o;
    const struct job_spec *spec;
    struct store *store;
    struct dlq *dlq;
    rd_kafka_t *rk;
    rd_kafka_queue_t *cq; /* the consumer queue: the writer wakes the loop's poll on it */
    bool cooperative;
    bool closed;        /* the consumer left its group (consumer_close_bounded) */
    struct part *parts; /* indexed by partition id */
    int nparts;

    struct batch bufs[2];
    struct batch *cur;    /* the open batch */
    struct batch *flying; /* handed to the writer and not collected yet, or NULL */
    struct writer w;
    bool tending;          /* a store_tend step asked of the writer and not collected yet */
    bool tend_more;        /* the store may have work left (a batch committed since it said no) */
    int64_t last_input_us; /* monotonic: the last record taken or batch handed over */

    int64_t kafka_commit_ms; /* monotonic: last progress commit to Kafka */
    int failures;            /* consecutive failed batches */
    int retries; /* consecutive batches refused with STORE_RETRY (a pause, not a failure) */
    int64_t paused_since_ms, paused_said_ms; /* store paused (STORE_RETRY) since, last said */
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
            np[i] = (struct part){.stored_next = -1, .next = -1, .batch_next = -1};
        j->parts = np;
        j->nparts = n;
    }
    return &j->parts[p];
}

/* Wall clock in microseconds: record timestamps are wall clock (ms since the epoch). */
static int64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* b - a in microseconds, 0 when the clock went back. */
static uint64_t span_us(int64_t a, int64_t b)
{
    return b > a ? (uint64_t)(b - a) : 0;
}

static void batch_clear(struct batch *b)
{
    b->nrows = b->nin = b->nbad = 0;
    b->noffs = 0;
    b->dead_lettered = 0;
    b->poisoned = false;
    spec_arena_reset(&b->arena);
}

static void batch_reset(struct process_job *j)
{
    batch_clear(j->cur);
    for (int i = 0; i < j->nparts; i++)
        j->parts[i].in_batch = false;
}

/* Room for one more row in the open batch (rows grow on demand up to --batch-max). */
static bool batch_room(struct process_job *j)
{
    struct batch *b = j->cur;
    if (b->nrows < b->cap)
        return true;
    size_t cap = b->cap ? b->cap * 2 : 1024;
    if (cap > (size_t)j->o.batch_max)
        cap = (size_t)j->o.batch_max;
    if (cap <= b->cap)
        return false;
    struct store_row *r = realloc(b->rows, cap * sizeof(*r));
    if (!r)
        return false;
    b->rows = r;
    int64_t *ts = realloc(b->ts, cap * sizeof(*ts));
    if (!ts)
        return false;
    b->ts = ts;
    int64_t *tk = realloc(b->taken_us, cap * sizeof(*tk));
    if (!tk)
        return false;
    b->taken_us = tk;
    b->cap = cap;
    return true;
}

static void *writer_main(void *arg)
{
    struct process_job *j = arg;
    struct writer *w = &j->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->tend && !w->stop)
            pthread_cond_wait(&w->cond, &w->mu);
        if (!w->todo && (w->stop || !w->tend))
            break;
        if (!w->todo) { /* a tend step: nothing else touches the store meanwhile */
            pthread_mutex_unlock(&w->mu);
            struct sl_err terr = {0};
            int rc = store_tend(j->store, &terr);
            pthread_mutex_lock(&w->mu);
            w->tend = false;
            w->tend_done = true;
            w->tend_rc = rc;
            w->tend_err = terr;
            pthread_cond_broadcast(&w->cond);
            if (j->cq)
                rd_kafka_queue_yield(j->cq); /* the loop asks for the next step at once */
            continue;
        }
        struct batch *b = w->todo;
        pthread_mutex_unlock(&w->mu);
        /* The batch's dead letters must be on the broker before its offsets are stored. The
         * wait is here, not on the loop thread, which meanwhile keeps taking records. */
        uint64_t dl = 0;
        if (dlq_wait(j->dlq, b->dlq_slot, j->o.dlq_timeout_ms, &dl, &b->err) != 0) {
            b->rc = -1;
        } else {
            b->dead_lettered = dl;
            b->rc = store_write_batch(j->store, j->o.topic, b->rows, b->nrows, b->offs, b->noffs,
                                      &b->err);
        }
        b->commit_ms = now_ms();
        b->commit_us = mono_us();
        int64_t commit_wall = wall_us();
        memset(&b->e2e, 0, sizeof(b->e2e));
        memset(&b->to_job, 0, sizeof(b->to_job));
        memset(&b->queued, 0, sizeof(b->queued));
        memset(&b->commit, 0, sizeof(b->commit));
        if (b->rc == 0) {
            for (size_t i = 0; i < b->nrows; i++) {
                if (b->ts[i] >= 0) {
                    hist_add(&b->e2e,
                             (uint64_t)(b->commit_ms > b->ts[i] ? b->commit_ms - b->ts[i] : 0) *
                                 1000);
                    hist_add(&b->to_job, span_us(b->ts[i] * 1000, b->taken_us[i]));
                }
                hist_add(&b->queued, span_us(b->taken_us[i], b->handed_us));
                hist_add(&b->commit, span_us(b->handed_us, commit_wall));
            }
        }
        pthread_mutex_lock(&w->mu);
        w->todo = NULL;
        w->done = b;
        pthread_cond_broadcast(&w->cond);
        /* The loop may be blocked in its poll with a batch ready to go: wake it now (its
         * current or next poll returns at once) rather than at its poll timeout. */
        if (j->cq)
            rd_kafka_queue_yield(j->cq);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Where partition `pid` resumes, given its stored next offset (-1: none), after checking it
 * against the log: a stored offset beyond the log end means the topic was deleted and
 * re-created (or the broker's data wiped) and the log starts over, below it; one before the
 * log start means retention deleted records nobody read. Both are said loudly. Kafka's
 * own topic ids would tell a re-created topic apart directly, but librdkafka 2.0 does not
 * expose them. --reset-offsets applies once per partition, at its first assignment. Returns
 * the offset to assign (RD_KAFKA_OFFSET_BEGINNING when everything is to be read). */
static int64_t resume_at(struct process_job *j, int32_t pid, int64_t stored)
{
    struct part *p = &j->parts[pid];
    const char *t = j->o.topic;
    bool reset = j->o.reset_offsets && !p->reset_done;
    if (stored < 0 && !reset) {
        p->next = -1;
        return RD_KAFKA_OFFSET_BEGINNING;
    }
    /* One round trip per partition, on (re)assignment only. If it fails, take() still sees a
     * reset when records arrive below the expected offset with the log's end below it. */
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(j->rk, t, pid, &lo, &hi, 5000);
    if (reset) {
        p->reset_done = true;
        int64_t to = -1;
        if (strcmp(j->o.reset_offsets, "earliest") == 0) {
            to = e ? RD_KAFKA_OFFSET_BEGINNING : lo;
        } else if (strcmp(j->o.reset_offsets, "latest") == 0) {
            to = e ? RD_KAFKA_OFFSET_END : hi;
        } else {
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, t, pid)->offset = j->o.reset_time_ms;
            rd_kafka_resp_err_t fe = rd_kafka_offsets_for_times(j->rk, l, 10000);
            to = fe ? RD_KAFKA_OFFSET_END : l->elems[0].offset;
            if (fe)
                log_warn(MOD, "--reset-offsets: offsets for time of %s[%d]: %s; using the log end",
                         t, (int)pid, rd_kafka_err2str(fe));
            if (to < 0)
                to = e ? RD_KAFKA_OFFSET_END : hi; /* no record at or after that time */
            rd_kafka_topic_partition_list_destroy(l);
        }
        if (to >= 0 && stored >= 0 && to > stored)
            log_warn(MOD,
                     "--reset-offsets %s: %s[%d] moves from stored offset %" PRId64 " to %" PRId64
                     ": %" PRId64 " record(s) skipped",
                     j->o.reset_offsets, t, (int)pid, stored, to, to - stored);
        else
            log_warn(MOD,
                     "--reset-offsets %s: %s[%d] moves from stored offset %" PRId64 " to %" PRId64
                     " (-2: the log start, -1: the log end)",
                     j->o.reset_offsets, t, (int)pid, stored, to);
        p->next = to >= 0 ? to : (to == RD_KAFKA_OFFSET_BEGINNING || e ? -1 : hi);
        return to;
    }
    if (e) {
        log_warn(MOD,
                 "%s[%d]: cannot read the log's watermarks (%s); resuming at stored offset %" PRId64
                 " unchecked",
                 t, (int)pid, rd_kafka_err2str(e), stored);
        p->next = stored;
        return stored;
    }
    if (stored > hi) {
        log_error(MOD,
                  "%s[%d]: THE LOG WAS RESET: the stored offset %" PRId64
                  " is beyond the log end %" PRId64
                  " (the topic was deleted and re-created, or the broker lost its data). Reading "
                  "it again from its start (%" PRId64 "); rows already stored stay, rows are "
                  "upserted by id. Use --reset-offsets to start elsewhere.",
                  t, (int)pid, stored, hi, lo);
        p->next = lo;
        return lo;
    }
    if (stored < lo) {
        log_warn(MOD,
                 "%s[%d]: offsets %" PRId64 "..%" PRId64
                 " were deleted (retention) before this job "
                 "read them: %" PRId64 " record(s) skipped; resuming at the log start %" PRId64,
                 t, (int)pid, stored, lo - 1, lo - stored, lo);
        p->next = lo;
        return lo;
    }
    p->next = stored;
    return stored;
}

/* Records a moved start (a detected reset, --reset-offsets) in the store at once, so that it
 * holds even if no record follows before a restart. The writer must be idle. */
static void persist_move(struct process_job *j, int32_t pid)
{
    struct part *p = &j->parts[pid];
    if (p->next < 0 || p->next == p->stored_next)
        return;
    struct store_offset o = {pid, p->stored_next, p->next};
    struct sl_err err;
    if (store_write_batch(j->store, j->o.topic, NULL, 0, &o, 1, &err) != 0) {
        log_warn(MOD, "%s[%d]: cannot store the new start offset %" PRId64 ": %s", j->o.topic,
                 (int)pid, p->next, err.msg);
        return;
    }
    p->stored_next = p->next;
}

/* Re-reads every assigned partition's offset from the store and seeks it there, so the
 * records of failed or discarded batches are read again; the store is the only authority on
 * where to resume. The writer must be idle. */
static void reseek_all(struct process_job *j)
{
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < j->nparts; i++) {
        struct part *p = &j->parts[i];
        if (!p->assigned)
            continue;
        struct sl_err err;
        int64_t next;
        /* A store that just refused a batch (e.g. a full disk) may refuse a read for a moment
         * too: try for a while before giving up. */
        int rc, tries = 0;
        while ((rc = store_load_offset(j->store, j->o.topic, i, &next, &err)) != 0 &&
               ++tries < 40) {
            if (tries == 1)
                log_warn(MOD, "%s[%d]: cannot read the stored offset (%s); retrying", j->o.topic, i,
                         err.msg);
            struct timespec ts = {0, 250 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (rc != 0) {
            job_fatal(j, err.msg);
            break;
        }
        p->stored_next = next;
        rd_kafka_topic_partition_list_add(seek, j->o.topic, i)->offset = resume_at(j, i, next);
        persist_move(j, i);
    }
    /* A seek waits for librdkafka's broker thread, which a loaded machine can delay past the
     * timeout (seen in CI); seeking again to the same offsets is harmless, so try a few times
     * before giving up. */
    for (int attempt = 1; seek->cnt > 0 && !j->fatal; attempt++) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(j->rk, seek, 10000);
        if (!e)
            break;
        log_warn(MOD, "seek back to the stored offsets (attempt %d of 5): %s", attempt,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        if (attempt == 5)
            job_fatal(j, "cannot seek back after a failed batch");
    }
    rd_kafka_topic_partition_list_destroy(seek);
}

/* A batch was not committed (b: the failed one, records counted for the message): the open
 * batch, whose records follow it, is dropped too, and every partition goes back to the
 * store's offsets. The writer must be idle. */
static void batch_fail(struct process_job *j, size_t nin, int rc, const char *why)
{
    process_stats_failure(&j->stats);
    dlq_abort(j->dlq); /* both batches are read again: so are their dead letters */
    int64_t ms;
    if (rc == STORE_FATAL) {
        /* A failing disk: writing on could store rows the disk then loses. The batch and its
         * offsets went in together or not at all, so a restart goes on exactly once. */
        char msg[sizeof(j->fatal_err.msg)];
        snprintf(msg, sizeof(msg),
                 "the store's disk is failing (%s); stopping: nothing after the last stored "
                 "offsets is counted as stored, and a restart once the disk is fixed goes on "
                 "from them",
                 why);
        job_fatal(j, msg);
        batch_reset(j);
        return;
    }
    if (rc == STORE_RETRY) {
        /* The store cannot take writes for now (e.g. its disk is full): pause, say so now and
         * then, and retry the same records without giving up. */
        int64_t now = mono_ms();
        if (!j->paused_since_ms) {
            j->paused_since_ms = now;
            j->paused_said_ms = now;
            log_warn(MOD, "the store cannot take writes (%s); paused, retrying until it can", why);
        } else if (now - j->paused_said_ms >= 30000) {
            j->paused_said_ms = now;
            log_warn(MOD, "still paused for %lld s: the store cannot take writes (%s)",
                     (long long)((now - j->paused_since_ms) / 1000), why);
        }
        j->retries++;
        ms = 100LL << (j->retries < 5 ? j->retries : 5); /* up to 3.2 s */
    } else {
        j->failures++;
        log_warn(MOD,
                 "batch of %zu record(s) not committed (%s); re-reading from the stored "
                 "offsets (failure %d in a row)",
                 nin, why, j->failures);
        ms = 50LL << (j->failures < 6 ? j->failures : 6);
    }
    batch_reset(j);
    reseek_all(j);
    if (j->failures >= MAX_CONSECUTIVE_FAILURES)
        job_fatal(j, "too many failed batches in a row; giving up (see the warnings above)");
    /* Back off so a store that is down is not hammered. */
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Kafka's committed offsets only show progress (kafka-consumer-groups --describe): the store
 * holds the real ones. They are sent at most every KAFKA_COMMIT_INTERVAL_MS unless `force`:
 * an offset commit per batch would cost the broker a sync of its group state per batch, in
 * the way of the produce path's fsyncs (issue 12: batches are small at a steady rate). Called
 * with nothing in flight, when stored_next is what the store holds. */
static void commit_progress(struct process_job *j, bool force)
{
    int64_t now = mono_ms();
    if (!force && now - j->kafka_commit_ms < KAFKA_COMMIT_INTERVAL_MS)
        return;
    j->kafka_commit_ms = now;
    rd_kafka_topic_partition_list_t *kc = NULL;
    for (int i = 0; i < j->nparts; i++) {
        struct part *p = &j->parts[i];
        if (!p->assigned || p->stored_next < 0 || p->stored_next == p->kafka_next)
            continue;
        if (!kc)
            kc = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(kc, j->o.topic, i)->offset = p->stored_next;
        p->kafka_next = p->stored_next;
    }
    if (!kc)
        return;
    rd_kafka_resp_err_t ke = rd_kafka_commit(j->rk, kc, 1);
    if (ke)
        log_debug(MOD, "offset commit to Kafka: %s", rd_kafka_err2str(ke));
    rd_kafka_topic_partition_list_destroy(kc);
}

/* Takes the result of the tend step asked of the writer, waiting for it when `wait` (a step
 * is short: what a batch pays for at a time). The loop thread touches the store itself only
 * after collect(j, true), which waits for it. */
static void tend_collect(struct process_job *j, bool wait)
{
    if (!j->tending)
        return;
    pthread_mutex_lock(&j->w.mu);
    while (wait && !j->w.tend_done)
        pthread_cond_wait(&j->w.cond, &j->w.mu);
    bool done = j->w.tend_done;
    int rc = j->w.tend_rc;
    j->w.tend_done = false;
    pthread_mutex_unlock(&j->w.mu);
    if (!done)
        return;
    j->tending = false;
    j->tend_more = rc > 0;
    if (rc < 0) /* tried again once a batch has committed */
        log_warn(MOD, "the store's own work while idle failed (%s); it goes on with the batches",
                 j->w.tend_err.msg);
}

/* While no record comes for TEND_IDLE_MS, the writer takes on the store's own work (the steps
 * batches pay for: a SQLite run being built by copy, a run moved), a step at a time. */
#define TEND_IDLE_MS 200

static void tend_maybe(struct process_job *j)
{
    if (!j->tend_more || j->tending || j->flying || j->cur->nin > 0 || j->fatal ||
        mono_us() - j->last_input_us < TEND_IDLE_MS * 1000)
        return;
    pthread_mutex_lock(&j->w.mu);
    j->w.tend = true;
    pthread_cond_broadcast(&j->w.cond);
    pthread_mutex_unlock(&j->w.mu);
    j->tending = true;
}

/* Takes the writer's result for the batch in flight, waiting for it when `wait`. Returns 0
 * when nothing was in flight or it committed, 1 when it is still running (no wait), -1 when
 * it failed (the open batch is then dropped and the partitions sought back). */
static int collect_batch(struct process_job *j, bool wait)
{
    if (!j->flying)
        return 0;
    pthread_mutex_lock(&j->w.mu);
    while (wait && !j->w.done)
        pthread_cond_wait(&j->w.cond, &j->w.mu);
    struct batch *b = j->w.done;
    j->w.done = NULL;
    pthread_mutex_unlock(&j->w.mu);
    if (!b)
        return 1;
    j->flying = NULL;
    if (b->rc != 0) {
        batch_fail(j, b->nin, b->rc, b->err.msg);
        batch_clear(b);
        return -1;
    }
    commit_progress(j, false);
    j->tend_more = true;
    process_stats_batch(&j->stats, b->nin, b->nrows, b->dead_lettered,
                        (uint64_t)(b->commit_us - b->start_us), &b->e2e);
    process_stats_stages(&j->stats, &b->to_job, &b->queued, &b->commit);
    j->failures = 0;
    j->retries = 0;
    if (j->paused_since_ms) {
        log_info(MOD, "the store takes writes again after %lld s; resumed",
                 (long long)((mono_ms() - j->paused_since_ms) / 1000));
        j->paused_since_ms = 0;
    }
    batch_clear(b);
    return 0;
}

/* collect_batch, and the tend step asked of the writer: with `wait`, the writer is idle after
 * it, so the loop thread may touch the store. */
static int collect(struct process_job *j, bool wait)
{
    tend_collect(j, wait);
    return collect_batch(j, wait);
}

/* Whether the open batch is younger than --batch-min-wait (it then waits for more records
 * even when everything fetched is in it, unless it is full). */
static bool batch_young(const struct process_job *j, const struct batch *b)
{
    return j->o.batch_min_wait_ms > 0 && mono_us() - b->start_us < j->o.batch_min_wait_ms * 1000;
}

/* Hands the open batch to the writer (waiting for the batch in flight first) with the slot of
 * its dead letters (the writer waits for their acknowledgement before the commit) and the
 * progress of each partition in the batch. The open batch becomes the other buffer. Returns -1 when
 * the batch failed before it could be handed over. */
static int handoff(struct process_job *j)
{
    struct batch *b = j->cur;
    if (b->nin == 0)
        return 0;
    /* A tend step still running need not be waited for: the writer takes the batch next. */
    tend_collect(j, false);
    if (collect_batch(j, true) < 0)
        return -1; /* the open batch was dropped with the failed one */
    if (b->poisoned) {
        batch_fail(j, b->nin, -1, "a dead-letter record could not be queued");
        return -1;
    }
    b->dead_lettered = 0;
    b->dlq_slot = dlq_seal(j->dlq); /* the writer waits for them before the commit */
    if (b->cap_offs < (size_t)j->nparts) {
        struct store_offset *o = realloc(b->offs, (size_t)j->nparts * sizeof(*o));
        if (!o) {
            batch_fail(j, b->nin, -1, "out of memory");
            return -1;
        }
        b->offs = o;
        b->cap_offs = (size_t)j->nparts;
    }
    b->noffs = 0;
    for (int i = 0; i < j->nparts; i++) {
        struct part *p = &j->parts[i];
        if (!p->in_batch)
            continue;
        b->offs[b->noffs++] = (struct store_offset){i, p->stored_next, p->batch_next};
        /* What the store holds once this batch commits; the next batch is fenced on it. If
         * it fails, every partition is read back from the store. */
        p->stored_next = p->next = p->batch_next;
        p->in_batch = false;
    }
    b->handed_us = wall_us();
    j->last_input_us = mono_us();
    pthread_mutex_lock(&j->w.mu);
    j->w.todo = b;
    pthread_cond_broadcast(&j->w.cond);
    pthread_mutex_unlock(&j->w.mu);
    j->flying = b;
    j->cur = b == &j->bufs[0] ? &j->bufs[1] : &j->bufs[0];
    batch_clear(j->cur);
    return 0;
}

/* Commits everything taken so far and waits for it. Returns 0 when all of it committed. */
static int batch_flush(struct process_job *j)
{
    if (handoff(j) != 0)
        return -1;
    return collect(j, true) < 0 ? -1 : 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct process_job *j = opaque;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* The store is read below: the batch in flight must be done first. */
        collect(j, true);
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
            p->kafka_next = -1;
            tp->offset = resume_at(j, tp->partition, next);
            persist_move(j, tp->partition);
            if (next >= 0)
                log_info(MOD, "assigned %s[%d], stored offset %" PRId64 ", resuming at %" PRId64,
                         tp->topic, (int)tp->partition, next, tp->offset);
            else
                log_info(MOD, "assigned %s[%d], nothing stored: starting at %s", tp->topic,
                         (int)tp->partition,
                         tp->offset == RD_KAFKA_OFFSET_BEGINNING ? "the beginning" : "an offset");
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
        if (j->fatal) {
            collect(j, true);
            batch_reset(j); /* the store is not trusted any more: write nothing more */
        } else if (batch_flush(j) == 0) {
            commit_progress(j, true);
        }
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
    char sess[32], hb[32], qkb[32], mpf[32];
    /* librdkafka prefetches up to this much per consumer. A partition whose queue is over it
     * is looked at again only on its broker thread's next 1 s wake-up (librdkafka 2.0; 2.2
     * made it fetch.queue.backoff.ms), so what is queued must last longer than that, plus a
     * fetch, or the job starves: 8 MiB held a backlog drain to 30k rows/s, 64 MiB let it run
     * at 78k, and with the writer at 160-190k the queue was found empty at the wake-up (debug
     * log), so the default is 96 MiB (about 230k users records, 1.2-1.4 s of the writer). */
    snprintf(qkb, sizeof(qkb), "%" PRId64,
             j->o.fetch_queue_bytes / 1024 > 1 ? j->o.fetch_queue_bytes / 1024 : 1);
    /* And what one fetch brings per partition: librdkafka's 1 MiB held a 3M-record backlog
     * drain to 113k rows/s once the store kept up (issue 12). A fetch lands whole, on top of
     * what is queued; a twelfth of the queue (8 MiB, ~50k compressed users records per
     * partition) keeps the peak no higher than a quarter of 64 MiB had it (10M drain: RSS
     * 457-473 MB against 478-483), while the bound that decides a fetch is higher. A steady rate
     * fetches little at a time. */
    int64_t part_fetch = j->o.fetch_queue_bytes / 12;
    snprintf(mpf, sizeof(mpf), "%" PRId64, part_fetch > (1 << 20) ? part_fetch : (1 << 20));
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
        {"queued.max.messages.kbytes", qkb},
        /* Bytes are the bound (--fetch-queue): librdkafka's default of 100,000 records is
         * about 42 MB of users records, and it bound first, with the wait above. */
        {"queued.min.messages", "10000000"},
        {"max.partition.fetch.bytes", mpf},
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
    j->cq = rd_kafka_queue_get_consumer(j->rk);
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
    for (int i = 0; i < 2; i++)
        spec_arena_init(&j->bufs[i].arena, (size_t)o->batch_max_bytes);
    j->cur = &j->bufs[0];
    j->tend_more = true; /* a build left unfinished by an earlier run goes on while idle */
    pthread_mutex_init(&j->w.mu, NULL);
    pthread_cond_init(&j->w.cond, NULL);
    if (store_open(o->store_uri, &j->spec->layout, o->group, 0, &j->store, err) != 0)
        goto fail;
    if (pthread_create(&j->w.thread, NULL, writer_main, j) != 0) {
        sl_err_set(err, "cannot start the writer thread");
        goto fail;
    }
    j->w.started = true;
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
        job_fatal(j, "cannot seek");
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* The open batch's first record is taken at monotonic time now. */
static void batch_start(struct batch *b, int64_t now)
{
    b->start_us = now;
    b->wall_off = wall_us() - now;
}

/* Takes one consumed record into the open batch (decoded row or dead letter). Returns the
 * monotonic time it read for the row, or 0 when it took none. */
static int64_t take(struct process_job *j, const rd_kafka_message_t *m)
{
    struct part *p = m->partition < j->nparts ? &j->parts[m->partition] : NULL;
    if (!p || !p->assigned)
        return 0; /* fetched before a revoke; its new owner reads it */
    int64_t expect = p->in_batch ? p->batch_next : p->next;
    if (expect >= 0 && m->offset < expect) {
        /* Already in the store or the batch (a stale prefetch) -- unless the log was reset
         * under the running job (topic re-created): then its end is below what we expect. */
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(j->rk, j->o.topic, m->partition, &lo, &hi) == 0 &&
            hi >= 0 && hi < expect) {
            log_error(MOD,
                      "%s[%d]: THE LOG WAS RESET while the job ran: it ends at %" PRId64
                      " but the job was at %" PRId64
                      " (topic deleted and re-created, or the broker lost its data). Reading it "
                      "again from its start.",
                      j->o.topic, (int)m->partition, hi, expect);
            if (batch_flush(j) != 0)
                return 0; /* everything sought back to the store, which checks again */
            p->next = lo >= 0 ? lo : 0;
            seek_one(j, m->partition, p->next);
            return 0;
        }
        j->skipped++;
        return 0;
    }
    if (expect >= 0 && m->offset > expect)
        log_warn(MOD,
                 "%s[%d]: offsets %" PRId64 "..%" PRId64 " are gone (deleted by retention before "
                 "they were read?): %" PRId64 " record(s) skipped",
                 j->o.topic, (int)m->partition, expect, m->offset - 1, m->offset - expect);
    /* A failed hand-over sought every partition back to the store's offsets: this record
     * comes again. */
    if (!batch_room(j)) {
        if (handoff(j) != 0)
            return 0;
        if (!batch_room(j)) {
            job_fatal(j, "out of memory");
            return 0;
        }
    }
    /* One clock read a record, not two (wall and monotonic clock reads, with librdkafka's
     * own in each poll, were 11 % of the loop thread's time): it stamps the row, and the
     * loop's --batch-linger check after this take uses it too. */
    int64_t now = mono_us();
    if (j->cur->nin == 0)
        batch_start(j->cur, now);
    char reason[256];
    struct store_row *row = &j->cur->rows[j->cur->nrows];
    int rc = spec_decode(j->spec, m->payload, m->len, &j->cur->arena, row, reason, sizeof(reason));
    if (rc == -2) {
        /* The batch's byte bound is reached: hand it over and decode into the other arena. */
        if (handoff(j) != 0)
            return 0; /* sought back: this record comes again */
        now = mono_us();
        batch_start(j->cur, now);
        if (!batch_room(j)) {
            job_fatal(j, "out of memory");
            return 0;
        }
        row = &j->cur->rows[j->cur->nrows];
        rc = spec_decode(j->spec, m->payload, m->len, &j->cur->arena, row, reason, sizeof(reason));
        if (rc == -2) {
            snprintf(reason, sizeof(reason), "value too large for --batch-max-bytes");
            rc = -1;
        }
    }
    if (rc == 0) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        row->partition = m->partition;
        row->offset = m->offset;
        row->ts_ms = ts;
        j->cur->taken_us[j->cur->nrows] = now + j->cur->wall_off;
        j->cur->ts[j->cur->nrows++] = ts;
    } else {
        struct sl_err err;
        log_debug(MOD, "dead letter %s[%d]@%" PRId64 ": %s", rd_kafka_topic_name(m->rkt),
                  (int)m->partition, m->offset, reason);
        if (dlq_send(j->dlq, m, reason, &err) != 0) {
            log_warn(MOD, "%s", err.msg);
            j->cur->poisoned = true;
        }
        j->cur->nbad++;
    }
    p->in_batch = true;
    p->batch_next = m->offset + 1;
    j->cur->nin++;
    return now;
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

/* "stages p50/p99 ms: to-job A/B queued C/D commit E/F": where end-to-end latency goes. */
static void stages_text(const struct hist st[3], char *out, size_t n)
{
    snprintf(out, n, "stages p50/p99 ms: to-job %.1f/%.1f queued %.1f/%.1f commit %.1f/%.1f",
             hist_quantile(&st[0], 0.5) / 1000.0, hist_quantile(&st[0], 0.99) / 1000.0,
             hist_quantile(&st[1], 0.5) / 1000.0, hist_quantile(&st[1], 0.99) / 1000.0,
             hist_quantile(&st[2], 0.5) / 1000.0, hist_quantile(&st[2], 0.99) / 1000.0);
}

static void log_stats(struct process_job *j, struct process_stats_snapshot *prev, int64_t dt_ms)
{
    struct process_stats_snapshot s;
    process_stats_snapshot(&j->stats, &s);
    struct hist b, e, st[3];
    hist_diff(&s.batch_us, &prev->batch_us, &b);
    hist_diff(&s.e2e_us, &prev->e2e_us, &e);
    hist_diff(&s.to_job_us, &prev->to_job_us, &st[0]);
    hist_diff(&s.queued_us, &prev->queued_us, &st[1]);
    hist_diff(&s.commit_us, &prev->commit_us, &st[2]);
    char stages[160];
    stages_text(st, stages, sizeof(stages));
    if (s.records_in == prev->records_in && s.batch_failures == prev->batch_failures &&
        s.lag == prev->lag && s.assigned == prev->assigned) {
        *prev = s;
        return; /* idle: nothing new to say */
    }
    double secs = dt_ms > 0 ? dt_ms / 1000.0 : 1;
    log_info(MOD,
             "in %" PRIu64 " (%.0f/s) stored %" PRIu64 " (%.0f/s) dead-lettered %" PRIu64
             " batches %" PRIu64 " failed %" PRIu64 " | batch p50 %.1f ms p99 %.1f ms | "
             "end-to-end p50 %.0f ms p99 %.0f ms | lag %" PRId64 " | partitions %d | %s",
             s.records_in, (s.records_in - prev->records_in) / secs, s.stored,
             (s.stored - prev->stored) / secs, s.dead_lettered, s.batches, s.batch_failures,
             hist_quantile(&b, 0.5) / 1000.0, hist_quantile(&b, 0.99) / 1000.0,
             hist_quantile(&e, 0.5) / 1000.0, hist_quantile(&e, 0.99) / 1000.0, s.lag,
             (int)s.assigned, stages);
    *prev = s;
}

/* How long leaving the group may take at shutdown. */
#define CLOSE_TIMEOUT_MS 10000

/* Leaves the group like rd_kafka_consumer_close, but gives up after timeout_ms: when the broker
 * goes away at the same moment (`sluice up` stopping every part), librdkafka would wait for it
 * for a long time. Giving up loses nothing: rows and offsets are already in the store, and the
 * group notices the missing member after its session timeout. Returns true when closed. */
static bool consumer_close_bounded(struct process_job *j, int64_t timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(j->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(j->rk, q);
    if (e) {
        log_warn(MOD, "consumer close: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_queue_destroy(q);
        return false;
    }
    int64_t deadline = mono_ms() + timeout_ms;
    while (!rd_kafka_consumer_closed(j->rk) && mono_ms() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (!ev)
            continue;
        /* The partitions are handed back; the batch was flushed before closing. */
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
            if (j->cooperative) {
                rd_kafka_error_t *ue =
                    rd_kafka_incremental_unassign(j->rk, rd_kafka_event_topic_partition_list(ev));
                if (ue)
                    rd_kafka_error_destroy(ue);
            } else {
                rd_kafka_assign(j->rk, NULL);
            }
        }
        rd_kafka_event_destroy(ev);
    }
    bool closed = rd_kafka_consumer_closed(j->rk);
    if (!closed)
        log_warn(MOD,
                 "could not leave group %s within %d s (is the broker gone?); stopping anyway, "
                 "nothing is lost: rows and offsets are in the store",
                 j->o.group, (int)(timeout_ms / 1000));
    rd_kafka_queue_destroy(q);
    return closed;
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
        struct batch *b = j->cur;
        /* The writer idle and records taken: take what is already fetched, no more (issue
         * 12). Otherwise wait for a record, or with a batch in flight for the writer, which
         * wakes the poll when it is done (queue yield): the open batch cannot go before that,
         * so an open batch older than --batch-linger must not make the loop spin. The 100 ms
         * bound is only a safety. */
        int timeout = b->nin > 0 && !j->flying && !batch_young(j, b) ? 0 : 100;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(j->rk, timeout);
        /* Nothing more fetched: the open batch need not wait for --batch-linger. */
        bool drained = m == NULL;
        int64_t took_us = 0; /* the clock take() read, if it took the record */
        if (m) {
            if (!m->err)
                took_us = take(j, m);
            else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn(MOD, "consume: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        b = j->cur;
        if (collect(j, false) == 0 && b == j->cur &&
            (b->nin >= (size_t)j->o.batch_max ||
             (b->nin > 0 &&
              ((drained && !batch_young(j, b)) ||
               (took_us ? took_us : mono_us()) - b->start_us >= j->o.batch_linger_ms * 1000)))) {
            /* Due and the writer is free: full, or everything fetched is in it, or older than
             * --batch-linger. Records do not wait for more to come while the writer idles:
             * the next batch fills while this one commits, so under load batches still grow
             * (a batch still in flight when this one is due only lets it grow, up to
             * --batch-max, where handoff waits for the writer). */
            handoff(j);
        } else if (b == j->cur && b->nin >= (size_t)j->o.batch_max) {
            handoff(j);
        }
        tend_maybe(j);
        dlq_poll(j->dlq);
        int64_t now = mono_ms();
        if (now - last_lag >= 1000) { /* cached watermarks: no request; /metrics shows it */
            update_lag(j);
            last_lag = now;
            /* Progress of the last batches before a pause in the input: without this, Kafka's
             * committed offsets (what --describe and lag monitors read) stayed behind the store
             * while the job idled, until it was closed. */
            if (!j->flying)
                commit_progress(j, false);
        }
        if (j->o.stats_interval_ms > 0 && now - last_stats >= j->o.stats_interval_ms) {
            update_lag(j);
            log_stats(j, &prev, now - last_stats);
            last_stats = now;
        }
    }
    /* Finish the batch in flight, then leave the group (the revoke callback runs inside
     * close and finds nothing left to commit). */
    if (!j->fatal) {
        if (batch_flush(j) == 0)
            commit_progress(j, true);
    } else
        collect(j, true);
    log_info(MOD, "leaving group %s", j->o.group);
    j->closed = consumer_close_bounded(j, CLOSE_TIMEOUT_MS);
    update_lag(j);
    log_stats(j, &prev, mono_ms() - last_stats);
    struct process_stats_snapshot s;
    process_stats_snapshot(&j->stats, &s);
    double span = s.last_commit_ms > s.first_in_ms ? (s.last_commit_ms - s.first_in_ms) / 1e3 : 0;
    struct hist st[3] = {s.to_job_us, s.queued_us, s.commit_us};
    char stages[160];
    stages_text(st, stages, sizeof(stages));
    log_info(MOD,
             "summary: in %" PRIu64 " stored %" PRIu64 " dead-lettered %" PRIu64 " batches %" PRIu64
             " failed %" PRIu64 " span %.3f s rate %.0f/s | batch p50 "
             "%.1f ms p99 %.1f ms | end-to-end p50 %.1f ms p99 %.1f ms | %s",
             s.records_in, s.stored, s.dead_lettered, s.batches, s.batch_failures, span,
             span > 0 ? s.records_in / span : 0.0, hist_quantile(&s.batch_us, 0.5) / 1000.0,
             hist_quantile(&s.batch_us, 0.99) / 1000.0, hist_quantile(&s.e2e_us, 0.5) / 1000.0,
             hist_quantile(&s.e2e_us, 0.99) / 1000.0, stages);
    /* What the SQLite store did on the side: a slow start or stall shows here (a filter built
     * by reading every stored id, seals by copy and their steps). */
    struct store_sqlite_stats ss;
    if (j->store && store_sqlite_stats(j->store, &ss) == 0)
        log_info(MOD,
                 "store: seals %" PRIu64 " (by copy %" PRIu64 ", %" PRIu64 " copy steps); %" PRIu64
                 " build or move steps while idle; id filter read back %" PRIu64 ", built %" PRIu64
                 ", grown %" PRIu64 " times (%" PRIu64 " ids read from the tables, %" PRIu64
                 " stored hashes, %.2f s)",
                 ss.seals, ss.copy_seals, ss.copy_steps, ss.tend_steps, ss.filter_loads,
                 ss.filter_builds, ss.filter_grows, ss.ids_scanned, ss.hashes_read,
                 ss.filter_fill_us / 1e6);
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
    if (j->cq)
        rd_kafka_queue_destroy(j->cq);
    if (j->rk)
        rd_kafka_destroy_flags(j->rk, j->closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (j->w.started) {
        pthread_mutex_lock(&j->w.mu);
        j->w.stop = true;
        pthread_cond_broadcast(&j->w.cond);
        pthread_mutex_unlock(&j->w.mu);
        pthread_join(j->w.thread, NULL);
    }
    pthread_mutex_destroy(&j->w.mu);
    pthread_cond_destroy(&j->w.cond);
    dlq_destroy(j->dlq);
    store_close(j->store);
    for (int i = 0; i < 2; i++) {
        spec_arena_free(&j->bufs[i].arena);
        free(j->bufs[i].rows);
        free(j->bufs[i].ts);
        free(j->bufs[i].taken_us);
        free(j->bufs[i].offs);
    }
    free(j->parts);
    process_stats_destroy(&j->stats);
    free(j);
}
