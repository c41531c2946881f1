/* Broker-wide state: cluster identity, the dirty-partition list behind group commit, durable
 * producer-id allocation, and the broker's place on the event loop: group commit runs before
 * each sleep, group deadlines, retention and the interval flush are timers. */
#include "broker/broker.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "broker/batch.h"
#include "broker/group_records.h"
#include "broker/kerr.h"
#include "broker/metrics.h"
#include "broker/server.h"
#include "broker/worker.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/units.h"
#include "core/uuid.h"

static void syncer_stop(struct broker *bk);

#define PRODUCER_ID_BLOCK 1000

static int load_meta(struct broker *bk, struct sl_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/meta.properties", bk->cfg.data_dir);
    char *text;
    struct sl_err e;
    if (fs_read_file(path, 4096, &text, NULL, &e) == 0) {
        char *p = strstr(text, "cluster.id=");
        if (p) {
            p += strlen("cluster.id=");
            size_t n = strcspn(p, "\r\n");
            if (n > 0 && n < sizeof(bk->cluster_id)) {
                memcpy(bk->cluster_id, p, n);
                bk->cluster_id[n] = '\0';
            }
        }
        free(text);
        if (bk->cluster_id[0])
            return 0;
        return sl_err_set(err, "%s has no cluster.id", path);
    }
    /* A new data directory: a random cluster id, base64url of a UUID like Kafka's. */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t u[18] = {0};
    uuid_v4(u);
    int j = 0;
    for (int i = 0; i < 18 && j < 22; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8 | u[i + 2];
        for (int k = 3; k >= 0 && j < 22; k--)
            bk->cluster_id[j++] = b64[(v >> (6 * k)) & 63];
    }
    bk->cluster_id[22] = '\0';
    char text2[256];
    int n = snprintf(text2, sizeof(text2), "cluster.id=%s\nnode.id=%d\nversion=1\n", bk->cluster_id,
                     (int)bk->cfg.node_id);
    return fs_write_atomic(path, text2, (size_t)n, err);
}

static int reserve_producer_ids(struct broker *bk, int64_t limit, struct sl_err *err)
{
    char path[PATH_MAX + 32], text[64];
    snprintf(path, sizeof(path), "%s/producer-ids", bk->cfg.data_dir);
    int n = snprintf(text, sizeof(text), "%" PRId64 "\n", limit);
    if (fs_write_atomic(path, text, (size_t)n, err) != 0)
        return -1;
    bk->producer_id_limit = limit;
    return 0;
}

static int load_producer_ids(struct broker *bk, struct sl_err *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/producer-ids", bk->cfg.data_dir);
    char *text;
    struct sl_err e;
    int64_t next = 0;
    if (fs_read_file(path, 64, &text, NULL, &e) == 0) {
        text[strcspn(text, "\r\n")] = '\0';
        if (parse_int(text, 0, INT64_MAX / 2, &next, &e) != 0) {
            free(text);
            return sl_err_set(err, "%s: %s", path, e.msg);
        }
        free(text);
    }
    /* Ids below the stored limit may have been handed out before a crash: skip them all. */
    bk->next_producer_id = next;
    return reserve_producer_ids(bk, next + PRODUCER_ID_BLOCK, err);
}

int broker_open(struct broker *bk, struct sl_err *err)
{
    if (fs_mkdirs(bk->cfg.data_dir, err) != 0 || load_meta(bk, err) != 0 ||
        load_producer_ids(bk, err) != 0)
        return -1;
    if (groups_open(&bk->groups, bk->cfg.data_dir, bk->cfg.group_initial_delay_ms, err) != 0)
        return -1;
    return registry_open(&bk->reg, bk->cfg.data_dir, err);
}

void broker_close(struct broker *bk)
{
    syncer_stop(bk);
    if (bk->srv) {
        server_destroy(bk->srv); /* ends every wait */
        bk->srv = NULL;
    }
    worker_stop(bk->worker); /* runs what is queued to its end */
    bk->worker = NULL;
    if (bk->loop) {
        loop_destroy(bk->loop); /* and the broker's timers */
        bk->loop = NULL;
    }
    broker_sync(bk);
    groups_close(&bk->groups);
    registry_close(&bk->reg);
    free(bk->dirty);
    bk->dirty = NULL;
}

int64_t broker_alloc_producer_id(struct broker *bk)
{
    if (bk->next_producer_id >= bk->producer_id_limit) {
        struct sl_err err;
        if (reserve_producer_ids(bk, bk->producer_id_limit + PRODUCER_ID_BLOCK, &err) != 0) {
            log_error("broker", "cannot reserve producer ids: %s", err.msg);
            return -1;
        }
    }
    return bk->next_producer_id++;
}

void broker_storage_failed(struct broker *bk, struct tpart *tp, const char *why)
{
    if (tp->storage_failed)
        return;
    tp->storage_failed = true;
    bk->io_failures++;
    bk->hw_advanced = true; /* wake the held answers: those for its data become errors */
    log_error("broker",
              "storage error on %s-%d: %s; the partition is offline for writes until a restart "
              "(produce gets KAFKA_STORAGE_ERROR; offsets below %" PRId64
              " were synced and stay readable)",
              tp->topic->name, (int)tp->index, why, tp->high_watermark);
    /* With --flush group the high watermark is the synced end: a restart cuts the log back
     * to it. (--flush interval promises nothing beyond the last interval's sync.) */
    struct sl_err err;
    if (bk->cfg.flush == FLUSH_GROUP &&
        partition_mark_storage_error(tp->log, tp->high_watermark, &err) != 0)
        log_error("broker",
                  "%s-%d: cannot record the storage error (%s): a restart may keep records "
                  "past offset %" PRId64 " that were never acknowledged",
                  tp->topic->name, (int)tp->index, err.msg, tp->high_watermark);
}

void broker_mark_dirty(struct broker *bk, struct tpart *tp)
{
    if (bk->cfg.flush == FLUSH_INTERVAL) {
        tp->high_watermark = partition_log_end(tp->log);
        bk->hw_advanced = true;
    }
    if (tp->in_dirty_list)
        return;
    if (bk->ndirty == bk->dirty_cap) {
        int cap = bk->dirty_cap ? bk->dirty_cap * 2 : 64;
        struct tpart **p = realloc(bk->dirty, (size_t)cap * sizeof(*p));
        if (!p) {
            /* cannot track it: make it durable right away instead */
            broker_sync(bk);
            struct sl_err err;
            if (partition_sync(tp->log, &err) != 0) {
                log_error("broker", "fsync of %s-%d failed: %s; stopping", tp->topic->name,
                          (int)tp->index, err.msg);
                exit(1);
            }
            tp->high_watermark = partition_log_end(tp->log);
            bk->hw_advanced = true;
            return;
        }
        bk->dirty = p;
        bk->dirty_cap = cap;
    }
    bk->dirty[bk->ndirty++] = tp;
    tp->in_dirty_list = true;
}

void broker_append(struct broker *bk, struct tpart *tp, uint8_t *records, int32_t len,
                   struct append_result *res)
{
    static char msg[512];
    res->error = KERR_NONE;
    res->base_offset = -1;
    res->message = NULL;
    res->durable_wait = false;
    res->log_start = partition_log_start(tp->log);
    if (tp->storage_failed) {
        res->error = KERR_KAFKA_STORAGE_ERROR;
        res->message = "the partition is offline after a storage error (see the broker's log)";
        return;
    }
    if (len <= 0) {
        res->error = KERR_INVALID_RECORD;
        res->message = "no records";
        return;
    }
    if (len > tp->topic->cfg.max_message_bytes) {
        res->error = KERR_MESSAGE_TOO_LARGE;
        return;
    }
    struct batch_header h;
    struct sl_err err;
    int code = batch_validate(records, (size_t)len, &h, &err);
    if (code != 0) {
        log_warn("broker", "produce to %s-%d refused (error %d): %s", tp->topic->name,
                 (int)tp->index, code, err.msg);
        snprintf(msg, sizeof(msg), "%s", err.msg);
        res->error = (int16_t)code;
        res->message = msg;
        return;
    }
    int64_t base;
    int16_t perr = KERR_NONE;
    switch (producers_check(&tp->producers, &h, &base, &perr)) {
    case PRODUCER_DUPLICATE:
        /* Acknowledged with its original offset; like the original, the answer waits for the
         * sync that makes it durable. */
        res->durable_wait = true;
        res->base_offset = base;
        return;
    case PRODUCER_REFUSE:
        res->error = perr;
        return;
    case PRODUCER_APPEND:
        break;
    }
    errno = 0;
    if (partition_append(tp->log, records, (size_t)len, &base, &err) != 0) {
        /* A full disk passes (space is freed); an I/O error means a failing disk. */
        if (errno == EIO || errno == EROFS)
            broker_storage_failed(bk, tp, err.msg);
        else
            log_error("broker", "append to %s-%d failed: %s", tp->topic->name, (int)tp->index,
                      err.msg);
        res->error = KERR_KAFKA_STORAGE_ERROR;
        return;
    }
    producers_record(&tp->producers, &h, base);
    broker_mark_dirty(bk, tp);
    res->durable_wait = true;
    res->base_offset = base;
    res->log_start = partition_log_start(tp->log);
}

/* --- group commit off the loop thread ---
 * Before each sleep the loop prepares a sync job: for each dirty partition a ticket for its
 * active segment and what a roll left to make durable (older segments, the directory, the
 * recovery point: partition_sync_prepare). The sync threads fdatasync the tickets, several at
 * once (concurrent fdatasyncs share the filesystem's journal commits and the disk's cache
 * flushes: three files synced by three threads took 1.0 ms at p50 here, one after the other
 * 5.9 ms, bench/fsync_probe.py), and the last to finish signals an eventfd; the loop then records
 * them, advances high watermarks and releases acks=all responses. acks=1 traffic meanwhile goes
 * on. One job at a time; everything dirtied while it runs goes into the next. */

#define SYNC_THREADS 4

struct sync_item {
    struct tpart *tp;
    struct partition_sync_ticket t;
    bool failed; /* the sync thread could not make it durable: why */
    struct sl_err why;
};

struct sync_job {
    uint64_t epoch;
    int64_t t0_us; /* handed out */
    struct sync_item *items;
    int n, cap;
    int group_fd;  /* a dup of the group log's descriptor, or -1 */
    int group_fd2; /* a dup of the new group log's while a compaction is out, or -1 */
    int claimed;   /* units (items, then the group logs) taken by a thread */
    int left;      /* units not finished yet */
};

struct syncer {
    pthread_t threads[SYNC_THREADS];
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work for the threads, or quit */
    pthread_cond_t done_cv; /* a job is back */
    struct sync_job *todo;  /* for the thread */
    struct sync_job *done;  /* back from the thread */
    bool busy;              /* a job is out (loop thread's view) */
    bool quit;
    int efd;
};

static void fatal_sync(const struct tpart *tp, const char *msg)
{
    /* The data may not be on disk and we cannot say which: acknowledging anything more would
     * be a lie, so stop like Kafka does on a log-directory failure. A sync thread and the loop
     * may fail together: the first exits, the other waits for that. */
    static atomic_flag stopping = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&stopping))
        for (;;)
            pause();
    if (tp)
        log_error("broker", "fsync of %s-%d failed: %s; stopping", tp->topic->name, (int)tp->index,
                  msg);
    else
        log_error("broker", "%s; stopping", msg);
    exit(1);
}

/* The job's units: its partitions' tickets, then the group log if it has one, then the new
 * group log while a compaction is out (only ever with the first). */
static int sync_job_units(const struct sync_job *job)
{
    return job->n + (job->group_fd >= 0 ? 1 : 0) + (job->group_fd2 >= 0 ? 1 : 0);
}

static void sync_unit_run(struct sync_job *job, int i)
{
    if (i < job->n) {
        struct sl_err err;
        int64_t t0 = mono_us();
        int rc = partition_sync_run(&job->items[i].t, &err);
        broker_metrics_fsync(mono_us() - t0);
        if (rc != 0) { /* the loop takes the partition offline (sync_complete) */
            job->items[i].failed = true;
            job->items[i].why = err;
        }
        return;
    }
    if (i == job->n && job->group_fd >= 0) {
        if (fdatasync(job->group_fd) != 0)
            fatal_sync(NULL, "cannot sync the group log");
        close(job->group_fd);
        return;
    }
    if (fdatasync(job->group_fd2) != 0)
        fatal_sync(NULL, "cannot sync the new group log");
    close(job->group_fd2);
}

/* Each sync thread takes the job's units one at a time; the one finishing the last hands the
 * job back to the loop. */
static void *sync_main(void *arg)
{
    struct syncer *sy = arg;
    pthread_mutex_lock(&sy->mu);
    for (;;) {
        while (!sy->quit && !(sy->todo && sy->todo->claimed < sync_job_units(sy->todo)))
            pthread_cond_wait(&sy->cv, &sy->mu);
        struct sync_job *job = sy->todo;
        if (!job || job->claimed >= sync_job_units(job))
            break; /* quitting (the loop collected every job first) */
        int i = job->claimed++;
        pthread_mutex_unlock(&sy->mu);
        sync_unit_run(job, i);
        pthread_mutex_lock(&sy->mu);
        if (--job->left == 0) {
            sy->todo = NULL;
            sy->done = job;
            pthread_cond_signal(&sy->done_cv);
            uint64_t one = 1;
            ssize_t w = write(sy->efd, &one, sizeof(one));
            (void)w;
        }
    }
    pthread_mutex_unlock(&sy->mu);
    return NULL;
}

static void advance_hw(struct broker *bk, struct tpart *tp, int64_t end)
{
    if (end > tp->high_watermark) {
        tp->high_watermark = end;
        bk->hw_advanced = true;
    }
}

/* Records a job the thread finished (loop thread). */
static void sync_complete(struct broker *bk, struct sync_job *job)
{
    for (int i = 0; i < job->n; i++) {
        struct sync_item *it = &job->items[i];
        if (it->failed || it->tp->storage_failed) {
            /* also when a write failed meanwhile: the restart cuts back to the high watermark,
             * so it must not move past what the failure recorded */
            if (it->failed)
                broker_storage_failed(bk, it->tp, it->why.msg);
            continue;
        }
        partition_sync_finish(it->tp->log, &it->t);
        advance_hw(bk, it->tp, it->t.end_offset);
    }
    bk->sync_epoch = job->epoch;
    if (job->t0_us)
        broker_metrics_sync_round(mono_us() - job->t0_us);
    free(job->items);
    free(job);
    bk->syncer->busy = false;
}

/* Takes a finished job, if any; with `wait`, waits for the one out first. */
static void sync_collect(struct broker *bk, bool wait)
{
    struct syncer *sy = bk->syncer;
    if (!sy || !sy->busy)
        return;
    pthread_mutex_lock(&sy->mu);
    while (wait && !sy->done)
        pthread_cond_wait(&sy->done_cv, &sy->mu);
    struct sync_job *job = sy->done;
    sy->done = NULL;
    pthread_mutex_unlock(&sy->mu);
    if (job)
        sync_complete(bk, job);
}

static void on_sync_done(struct loop *l, int fd, void *ctx, int mask)
{
    (void)l;
    (void)mask;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
    sync_collect(ctx, false);
}

/* --- group-log compaction on the admin worker --- */

static void compaction_run(void *ctx)
{
    group_store_compact_run(ctx);
}

static void close_run(void *ctx)
{
    close((int)(intptr_t)ctx);
}

static void compaction_done(void *ctx)
{
    struct group_store_compaction *c = ctx;
    struct broker *bk = c->owner;
    struct sl_err err;
    int old_fd;
    bool failed;
    if (group_store_compact_end(&bk->groups.store, c, &old_fd, &failed, &err) != 0)
        fatal_sync(NULL, err.msg); /* renamed, but the directory could not be synced */
    if (failed)
        log_error("broker", "group log compaction failed (the old log stays): %s", err.msg);
    else
        log_info("broker", "group log compacted to %" PRId64 " bytes", bk->groups.store.end);
    if (old_fd >= 0) /* the last descriptor of a big unlinked file: its blocks are freed */
        worker_submit(bk->worker, close_run, NULL, (void *)(intptr_t)old_fd);
    free(c);
}

/* Starts compacting the group log when it is mostly superseded records (loop thread). */
static void compaction_start(struct broker *bk)
{
    struct sl_err err;
    struct group_store_compaction *c = groups_compact_begin(&bk->groups, &err);
    if (!c)
        return;
    c->owner = bk;
    worker_submit(bk->worker, compaction_run, compaction_done, c);
}

/* Starts a sync of everything appended so far (loop thread, no job out). */
static void sync_start(struct broker *bk)
{
    struct sync_job *job = calloc(1, sizeof(*job));
    if (job && bk->ndirty > 0)
        job->items = malloc((size_t)bk->ndirty * sizeof(*job->items));
    if (!job || (bk->ndirty > 0 && !job->items)) {
        if (job)
            free(job);
        broker_sync(bk); /* no memory for a job: sync here */
        return;
    }
    job->epoch = ++bk->submitted_epoch;
    for (int i = 0; i < bk->ndirty; i++) {
        struct tpart *tp = bk->dirty[i];
        struct sl_err err;
        struct sync_item *it = &job->items[job->n];
        tp->in_dirty_list = false;
        if (tp->storage_failed)
            continue; /* never synced again: a later fsync could succeed over lost pages */
        it->failed = false;
        int rc = partition_sync_prepare(tp->log, bk->cfg.cache_window, &it->t, &err);
        if (rc < 0)
            fatal_sync(tp, err.msg);
        if (rc == 0)
            advance_hw(bk, tp, partition_log_end(tp->log)); /* nothing pending */
        else
            it->tp = tp, job->n++;
    }
    bk->ndirty = 0;
    /* The group log: synced by the thread too (and, while a compaction is out, the new log
     * beside it); every 8 MiB it grows the loop checks whether it is worth compacting, which
     * the admin worker then does. */
    struct groups *gs = &bk->groups;
    job->group_fd = job->group_fd2 = -1;
    if (gs->dirty || gs->store.dirty) {
        if (gs->store.fd >= 0)
            job->group_fd = dup(gs->store.fd);
        if (gs->store.shadow_on && job->group_fd >= 0) {
            job->group_fd2 = dup(gs->store.shadow_fd);
            if (job->group_fd2 < 0) {
                close(job->group_fd);
                job->group_fd = -1;
            }
        }
        if (job->group_fd >= 0) {
            gs->dirty = false; /* appends from now on need the next sync */
            gs->store.dirty = false;
        } else {
            struct sl_err gerr;
            if (groups_sync(gs, &gerr) != 0)
                fatal_sync(NULL, gerr.msg);
        }
    }
    if (gs->store.end >= bk->group_check_at) {
        bk->group_check_at = gs->store.end + (8 << 20);
        compaction_start(bk);
    }
    struct syncer *sy = bk->syncer;
    sy->busy = true;
    if (job->n == 0 && job->group_fd < 0 && job->group_fd2 < 0) {
        sync_complete(bk, job);
        return;
    }
    job->left = sync_job_units(job);
    job->t0_us = mono_us();
    pthread_mutex_lock(&sy->mu);
    sy->todo = job;
    /* as many threads as there are units: a one-partition job wakes one */
    for (int i = 0; i < job->left && i < sy->nthreads; i++)
        pthread_cond_signal(&sy->cv);
    pthread_mutex_unlock(&sy->mu);
}

static int syncer_start(struct broker *bk, struct sl_err *err)
{
    struct syncer *sy = calloc(1, sizeof(*sy));
    if (!sy)
        return sl_err_set(err, "out of memory");
    sy->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sy->efd < 0) {
        free(sy);
        return sl_err_errno(err, "eventfd");
    }
    pthread_mutex_init(&sy->mu, NULL);
    pthread_cond_init(&sy->cv, NULL);
    pthread_cond_init(&sy->done_cv, NULL);
    bk->syncer = sy;
    for (int i = 0; i < SYNC_THREADS; i++) {
        if (pthread_create(&sy->threads[i], NULL, sync_main, sy) != 0)
            break;
        sy->nthreads++;
    }
    if (sy->nthreads == 0) {
        bk->syncer = NULL;
        close(sy->efd);
        pthread_mutex_destroy(&sy->mu);
        pthread_cond_destroy(&sy->cv);
        pthread_cond_destroy(&sy->done_cv);
        free(sy);
        return sl_err_set(err, "cannot start the sync thread");
    }
    if (loop_add_file(bk->loop, sy->efd, LOOP_READ, on_sync_done, bk) != 0)
        return sl_err_errno(err, "cannot watch the sync thread's eventfd");
    return 0;
}

static void syncer_stop(struct broker *bk)
{
    struct syncer *sy = bk->syncer;
    if (!sy)
        return;
    sync_collect(bk, true);
    pthread_mutex_lock(&sy->mu);
    sy->quit = true;
    pthread_cond_broadcast(&sy->cv);
    pthread_mutex_unlock(&sy->mu);
    for (int i = 0; i < sy->nthreads; i++)
        pthread_join(sy->threads[i], NULL);
    if (bk->loop)
        loop_del_file(bk->loop, sy->efd);
    close(sy->efd);
    pthread_mutex_destroy(&sy->mu);
    pthread_cond_destroy(&sy->cv);
    pthread_cond_destroy(&sy->done_cv);
    free(sy);
    bk->syncer = NULL;
}

void broker_sync(struct broker *bk)
{
    sync_collect(bk, true); /* a job out first: its partitions may be about to change */
    for (int i = 0; i < bk->ndirty; i++) {
        struct tpart *tp = bk->dirty[i];
        struct sl_err err;
        tp->in_dirty_list = false;
        if (tp->storage_failed)
            continue;
        if (partition_sync(tp->log, &err) != 0) {
            broker_storage_failed(bk, tp, err.msg);
            continue;
        }
        advance_hw(bk, tp, partition_log_end(tp->log));
    }
    bk->ndirty = 0;
    struct sl_err gerr;
    if (groups_sync(&bk->groups, &gerr) != 0)
        fatal_sync(NULL, gerr.msg);
    bk->sync_epoch = ++bk->submitted_epoch;
}

void broker_forget_topic(struct broker *bk, struct topic *t)
{
    sync_collect(bk, true); /* a job out may name the topic's partitions */
    int j = 0;
    for (int i = 0; i < bk->ndirty; i++) {
        if (bk->dirty[i]->topic != t)
            bk->dirty[j++] = bk->dirty[i];
    }
    bk->ndirty = j;
}

/* --- the loop --- */

static int64_t group_timer_fire(struct loop *l, struct loop_timer *t, void *ctx);

/* (Re)arms the group timer for the coordinator's next deadline. */
static void group_timer_arm(struct broker *bk, int64_t next)
{
    if (next == INT64_MAX) {
        if (bk->group_timer) {
            loop_del_timer(bk->loop, bk->group_timer);
            bk->group_timer = NULL;
        }
        return;
    }
    int64_t delay = next - loop_now(bk->loop);
    if (bk->group_timer)
        loop_timer_reset(bk->loop, bk->group_timer, delay);
    else
        bk->group_timer = loop_add_timer(bk->loop, delay, group_timer_fire, bk);
}

static int64_t group_timer_fire(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)t;
    struct broker *bk = ctx;
    int64_t next = groups_tick(&bk->groups);
    if (next == INT64_MAX) {
        bk->group_timer = NULL;
        return LOOP_TIMER_DONE;
    }
    int64_t delay = next - loop_now(l);
    return delay > 0 ? delay : 0;
}

/* Segments retention let go, deleted on the admin worker. */
struct retention_job {
    struct partition_gone gone;
};

static void retention_run(void *ctx)
{
    struct retention_job *j = ctx;
    struct sl_err err;
    if (partition_gone_delete(&j->gone, &err) != 0)
        log_error("broker", "retention: %s", err.msg);
}

static void retention_done(void *ctx)
{
    free(ctx);
}

/* Retention: the loop detaches expired segments (the log start moves at once) and the admin
 * worker deletes their files. A roll it causes is made durable by the sync thread like any
 * other (the partition is marked dirty). Segments a sync job out may name are left for the
 * next round, so nothing here waits for the sync thread. */
static int64_t retention_fire(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)l;
    (void)t;
    struct broker *bk = ctx;
    struct registry *reg = &bk->reg;
    int64_t now = now_ms();
    struct retention_job *job = calloc(1, sizeof(*job));
    if (!job)
        return bk->cfg.retention_check_ms;
    for (int i = 0; i < reg->ntopics; i++) {
        struct topic *tp = reg->topics[i];
        for (int32_t p = 0; p < tp->npartitions; p++) {
            struct sl_err err;
            size_t before = job->gone.n;
            bool rolled = false;
            if (partition_retention_take(tp->parts[p].log, now, &job->gone, &rolled, &err) != 0)
                log_error("broker", "retention on %s-%d: %s", tp->name, (int)p, err.msg);
            if (rolled)
                broker_mark_dirty(bk, &tp->parts[p]);
            if (job->gone.n > before)
                log_info("broker", "retention deleted %d segment(s) of %s-%d",
                         (int)(job->gone.n - before), tp->name, (int)p);
        }
    }
    if (job->gone.n == 0) {
        free(job->gone.segs);
        free(job);
    } else {
        worker_submit(bk->worker, retention_run, retention_done, job);
    }
    return bk->cfg.retention_check_ms;
}

static int64_t flush_fire(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)l;
    (void)t;
    struct broker *bk = ctx;
    compaction_start(bk); /* on the worker, when the group log is worth it */
    broker_sync(bk);
    return bk->cfg.flush_interval_ms;
}

/* Before each sleep: group deadlines that moved, then group commit (one fsync per dirty
 * partition for everything this turn appended), then wake the waits it may have released. */
static void before_sleep(struct loop *l, void *ctx)
{
    struct broker *bk = ctx;
    broker_metrics_turn(&bk->reg, server_connections(bk->srv), loop_now(l));
    if (bk->groups.deadlines)
        group_timer_arm(bk, groups_tick(&bk->groups));
    if (bk->cfg.flush == FLUSH_GROUP && (!bk->syncer || !bk->syncer->busy) &&
        (bk->ndirty > 0 || bk->groups.dirty || bk->want_epoch > bk->submitted_epoch)) {
        if (bk->syncer)
            sync_start(bk);
        else
            broker_sync(bk);
    }
    if (bk->hw_advanced || bk->groups.answered || bk->woken_epoch != bk->sync_epoch) {
        bk->hw_advanced = false;
        bk->groups.answered = false;
        bk->woken_epoch = bk->sync_epoch;
        server_wake(bk->srv);
    }
}

int broker_start(struct broker *bk, server_dispatch_fn dispatch, struct sl_err *err)
{
    if (loop_create(&bk->loop, err) != 0)
        return -1;
    struct server_config sc = {
        .port = bk->cfg.listen_port,
        .max_request_bytes = bk->cfg.max_request_bytes,
        .max_response_bytes =
            bk->cfg.max_fetch_bytes + bk->cfg.max_request_bytes + ((int64_t)1 << 20),
        .max_connections = bk->cfg.max_connections,
        .idle_timeout_ms = bk->cfg.idle_timeout_ms,
        .partial_timeout_ms = bk->cfg.partial_timeout_ms,
        .max_conn_bytes = bk->cfg.max_conn_bytes,
    };
    snprintf(sc.host, sizeof(sc.host), "%s", bk->cfg.listen_host);
    if (server_create(bk->loop, &sc, dispatch, bk, &bk->srv, err) != 0)
        return -1;
    loop_set_before_sleep(bk->loop, before_sleep, bk);
    if (worker_start(bk->loop, &bk->worker, err) != 0)
        return -1;
    bk->retention_timer = loop_add_timer(bk->loop, bk->cfg.retention_check_ms, retention_fire, bk);
    if (bk->cfg.flush == FLUSH_GROUP && syncer_start(bk, err) != 0)
        return -1;
    if (bk->cfg.flush == FLUSH_INTERVAL)
        bk->flush_timer = loop_add_timer(bk->loop, bk->cfg.flush_interval_ms, flush_fire, bk);
    bk->groups.deadlines = true; /* restored members' sessions */
    if (!bk->retention_timer || (bk->cfg.flush == FLUSH_INTERVAL && !bk->flush_timer))
        return sl_err_set(err, "out of memory");
    return 0;
}

int broker_run(struct broker *bk, struct sl_err *err)
{
    int rc = loop_run(bk->loop, err);
    /* a last sync, and one more turn to send what it released */
    broker_sync(bk);
    server_wake(bk->srv);
    struct sl_err e2;
    loop_run_once(bk->loop, 0, &e2);
    return rc;
}

void broker_stop(struct broker *bk)
{
    if (bk->loop)
        loop_stop(bk->loop);
}
