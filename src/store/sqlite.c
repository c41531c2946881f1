/* The SQLite sink: keyspace K is the file DIR/K.db, the table is created from the job spec, and
 * the consumer's offsets live in the same file (sluice_offsets), so one transaction per batch
 * commits rows and progress together: exactly once into SQLite, across kill -9.
 * Location: "DIR[?synchronous=normal|full&cache_mb=N&busy_timeout_ms=N&checkpoint_pages=N&
 * page_size=N&layout=rowid|without_rowid&sort=1|0]". The defaults are the measured best
 * (docs/process.md, bench/bench_sink.c): a rowid table (rows appended, only the small id index is
 * random), batches sorted by key, 16 MB page cache (64 MB was measured no faster at 1M rows and
 * costs 50 MB of RSS), synchronous=NORMAL. */
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/units.h"
#include "store/store.h"

#define SQL_MAX 8192

struct sqlite_store {
    struct store base; /* first: the generic handle */
    sqlite3 *db;
    const struct store_table *t;
    char group[256];
    bool readonly;
    bool sort;                /* sort each batch by key before upserting */
    sqlite3_stmt *upsert;     /* rows */
    sqlite3_stmt *get_off;    /* SELECT next_offset */
    sqlite3_stmt *put_off;    /* upsert of sluice_offsets */
    struct sqlite_key *order; /* reusable sort array, cap_order entries */
    size_t cap_order;
    int64_t deadline_ms;      /* for the query progress handler */
    struct sqlite_ckpt *ckpt; /* background checkpointer, or NULL (inline autocheckpoint) */
};

/* Background checkpointing: the writer's WAL hook wakes a thread that copies WAL pages into
 * the database file on its own connection, so batches do not stall behind checkpoints. If the
 * WAL passes 4x the threshold anyway, the writer checkpoints inline (bounding the WAL). */
struct sqlite_ckpt {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool wake, stop;
    sqlite3 *db; /* the thread's own connection */
    int64_t pages;
    uint64_t runs;
    bool failed;       /* a checkpoint hit a failing disk (guarded by mu) */
    struct sl_err why; /* what it said */
};

/* A row's key and position in the batch, for sorting. */
struct sqlite_key {
    const char *key;
    uint32_t len;
    uint32_t idx;
};

struct sqlite_params {
    bool sync_full;
    int64_t cache_mb;
    int64_t busy_timeout_ms;
    bool rowid;
    bool sort;
    int64_t checkpoint_pages;
    int64_t page_size; /* 0: SQLite's default; applies to a new file only */
    int64_t mmap_mb;   /* PRAGMA mmap_size: 0 = reads by pread into the page cache */
    bool ckpt_background;
    char dir[PATH_MAX];
};

static int sqlite_store_fail(sqlite3 *db, struct sl_err *err, const char *what)
{
    return sl_err_set(err, "sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(sqlite3 *db, const char *sql, struct sl_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        sl_err_set(err, "sqlite: %.200s: %s", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Identifiers come from the job spec, but are checked anyway since they are pasted into SQL. */
static bool ident_ok(const char *s)
{
    if (!s || !*s || strlen(s) > STORE_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= '0' && *p <= '9' && p != s);
        if (!ok)
            return false;
    }
    return true;
}

/* parse_int with the parameter's name in front of its message (formatted from a copy: a
 * message formatted into itself is undefined behaviour and came out garbled). */
static int param_int(const char *name, const char *v, int64_t lo, int64_t hi, int64_t *out,
                     struct sl_err *err)
{
    struct sl_err e;
    if (parse_int(v, lo, hi, out, &e) != 0)
        return sl_err_set(err, "sqlite: %s: %s", name, e.msg);
    return 0;
}

static int parse_params(const char *loc, struct sqlite_params *p, struct sl_err *err)
{
    memset(p, 0, sizeof(*p));
    p->cache_mb = 16;
    p->busy_timeout_ms = 10000;
    p->sort = true;
    p->rowid = true;
    p->checkpoint_pages = 10000;
    p->ckpt_background = true;
    const char *q = strchr(loc, '?');
    size_t dlen = q ? (size_t)(q - loc) : strlen(loc);
    if (dlen == 0 || dlen >= sizeof(p->dir))
        return sl_err_set(err, "sqlite: bad directory in '%s'", loc);
    memcpy(p->dir, loc, dlen);
    p->dir[dlen] = '\0';
    while (q && *q) {
        q++;
        const char *end = strchr(q, '&');
        size_t n = end ? (size_t)(end - q) : strlen(q);
        char kv[128];
        if (n >= sizeof(kv))
            return sl_err_set(err, "sqlite: parameter too long in '%s'", loc);
        memcpy(kv, q, n);
        kv[n] = '\0';
        char *v = strchr(kv, '=');
        if (!v)
            return sl_err_set(err, "sqlite: expected name=value, got '%s'", kv);
        *v++ = '\0';
        if (strcmp(kv, "synchronous") == 0 && strcmp(v, "normal") == 0)
            p->sync_full = false;
        else if (strcmp(kv, "synchronous") == 0 && strcmp(v, "full") == 0)
            p->sync_full = true;
        else if (strcmp(kv, "cache_mb") == 0) {
            if (param_int("cache_mb", v, 1, 65536, &p->cache_mb, err) != 0)
                return -1;
        } else if (strcmp(kv, "busy_timeout_ms") == 0) {
            if (param_int("busy_timeout_ms", v, 0, 3600000, &p->busy_timeout_ms, err) != 0)
                return -1;
        } else if (strcmp(kv, "checkpoint_pages") == 0) {
            if (param_int("checkpoint_pages", v, 0, 10000000, &p->checkpoint_pages, err) != 0)
                return -1;
        } else if (strcmp(kv, "mmap_mb") == 0) {
            if (param_int("mmap_mb", v, 0, 1 << 20, &p->mmap_mb, err) != 0)
                return -1;
        } else if (strcmp(kv, "page_size") == 0) {
            if (parse_int(v, 512, 65536, &p->page_size, err) != 0 ||
                (p->page_size & (p->page_size - 1)) != 0)
                return sl_err_set(err, "sqlite: page_size: a power of two from 512 to 65536");
        } else if (strcmp(kv, "checkpoint") == 0 && strcmp(v, "background") == 0) {
            p->ckpt_background = true;
        } else if (strcmp(kv, "checkpoint") == 0 && strcmp(v, "inline") == 0) {
            p->ckpt_background = false;
        } else if (strcmp(kv, "layout") == 0 && strcmp(v, "without_rowid") == 0)
            p->rowid = false;
        else if (strcmp(kv, "layout") == 0 && strcmp(v, "rowid") == 0)
            p->rowid = true;
        else if (strcmp(kv, "sort") == 0 && (strcmp(v, "1") == 0 || strcmp(v, "0") == 0))
            p->sort = v[0] == '1';
        else
            return sl_err_set(err,
                              "sqlite: unknown parameter %s=%s (known: synchronous=normal|"
                              "full, cache_mb=N, busy_timeout_ms=N, checkpoint_pages=N, "
                              "checkpoint=background|inline, page_size=N, mmap_mb=N, "
                              "layout=rowid|without_rowid, sort=1|0)",
                              kv, v);
        q = end;
    }
    return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct sl_err *err)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return sqlite_store_fail(db, err, sql);
    return 0;
}

/* Creates the tables (idempotent) and prepares the write statements. */
static int setup_writer(struct sqlite_store *s, const struct sqlite_params *p, struct sl_err *err)
{
    const struct store_table *t = s->t;
    char sql[SQL_MAX];
    int n = snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s(", t->table);
    for (int i = 0; i < t->ncols; i++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s%s TEXT%s", i ? ", " : "", t->cols[i],
                      i == t->key_col ? " PRIMARY KEY NOT NULL" : "");
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, ")%s", p->rowid ? "" : " WITHOUT ROWID");
    if (n >= (int)sizeof(sql))
        return sl_err_set(err, "sqlite: table definition too long");
    if (exec(s->db, sql, err) != 0 ||
        exec(s->db,
             "CREATE TABLE IF NOT EXISTS sluice_offsets(group_id TEXT NOT NULL, topic TEXT NOT "
             "NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, updated_ms INTEGER "
             "NOT NULL, PRIMARY KEY(group_id, topic, partition)) WITHOUT ROWID",
             err) != 0)
        return -1;

    n = snprintf(sql, sizeof(sql), "INSERT INTO %s(", t->table);
    for (int i = 0; i < t->ncols; i++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s%s", i ? "," : "", t->cols[i]);
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, ") VALUES(");
    for (int i = 0; i < t->ncols; i++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s?", i ? "," : "");
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, ") ON CONFLICT(%s) DO UPDATE SET ",
                  t->cols[t->key_col]);
    bool first = true;
    for (int i = 0; i < t->ncols; i++) {
        if (i == t->key_col)
            continue;
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s%s=excluded.%s", first ? "" : ",",
                      t->cols[i], t->cols[i]);
        first = false;
    }
    if (first) /* a key-only table: nothing to update */
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s=excluded.%s", t->cols[t->key_col],
                      t->cols[t->key_col]);
    if (n >= (int)sizeof(sql))
        return sl_err_set(err, "sqlite: upsert statement too long");
    if (prepare(s->db, sql, &s->upsert, err) != 0 ||
        prepare(s->db,
                "SELECT next_offset FROM sluice_offsets WHERE group_id=? AND topic=? AND "
                "partition=?",
                &s->get_off, err) != 0 ||
        prepare(s->db,
                "INSERT INTO sluice_offsets(group_id, topic, partition, next_offset, updated_ms) "
                "VALUES(?,?,?,?,?) ON CONFLICT(group_id, topic, partition) DO UPDATE SET "
                "next_offset=excluded.next_offset, updated_ms=excluded.updated_ms",
                &s->put_off, err) != 0)
        return -1;
    return 0;
}

/* Whether the connection's last error means a failing disk: a failed fsync (the kernel may have
 * dropped the unsynced pages, so a later fsync that succeeds proves nothing) or a read or write
 * that failed for another reason than a full disk (SQLite reports ENOSPC as SQLITE_FULL, which
 * passes when space is freed). sqlite3_system_errno is not used: it is the errno at the time
 * the error was reported, which later calls may have changed. */
static bool disk_failed(sqlite3 *db)
{
    int ec = sqlite3_extended_errcode(db);
    return ec == SQLITE_IOERR_FSYNC || ec == SQLITE_IOERR_DIR_FSYNC || ec == SQLITE_IOERR_WRITE ||
           ec == SQLITE_IOERR_READ;
}

static void *ckpt_main(void *arg)
{
    struct sqlite_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (!c->wake) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&c->cond, &c->mu, &ts);
            continue;
        }
        c->wake = false;
        pthread_mutex_unlock(&c->mu);
        /* PASSIVE: copies what it can without waiting for the writer or readers. */
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        bool bad = rc != SQLITE_OK && disk_failed(c->db);
        pthread_mutex_lock(&c->mu);
        c->runs++;
        if (bad && !c->failed) { /* the writer stops at its next batch */
            c->failed = true;
            sl_err_set(&c->why, "sqlite: checkpoint: %s", sqlite3_errmsg(c->db));
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Runs on the writer's thread after each commit; n = pages now in the WAL. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int n)
{
    struct sqlite_store *s = arg;
    struct sqlite_ckpt *c = s->ckpt;
    if (n >= 4 * c->pages) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (n >= c->pages) {
        pthread_mutex_lock(&c->mu);
        c->wake = true;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void ckpt_stop(struct sqlite_store *s)
{
    struct sqlite_ckpt *c = s->ckpt;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    sqlite3_close_v2(c->db);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    free(c);
    s->ckpt = NULL;
}

static int ckpt_start(struct sqlite_store *s, const char *path, int64_t pages, struct sl_err *err)
{
    struct sqlite_ckpt *c = calloc(1, sizeof(*c));
    if (!c)
        return sl_err_set(err, "out of memory");
    c->pages = pages > 0 ? pages : 1;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sl_err_set(err, "sqlite: checkpointer: %s", c->db ? sqlite3_errmsg(c->db) : "no memory");
        sqlite3_close_v2(c->db);
        free(c);
        return -1;
    }
    sqlite3_busy_timeout(c->db, 1000);
    /* A connection learns that the file is in WAL mode only when it first reads it; until
     * then sqlite3_wal_checkpoint_v2 silently does nothing (log and ckpt counts -1). */
    if (sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
        sl_err_set(err, "sqlite: checkpointer: %s", sqlite3_errmsg(c->db));
        sqlite3_close_v2(c->db);
        free(c);
        return -1;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        sqlite3_close_v2(c->db);
        free(c);
        return sl_err_set(err, "sqlite: cannot start the checkpoint thread");
    }
    s->ckpt = c;
    sqlite3_wal_hook(s->db, wal_hook, s);
    return 0;
}

static void sqlite_store_close(struct store *st)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    if (!s)
        return;
    if (s->db && s->ckpt)
        sqlite3_wal_hook(s->db, NULL, NULL);
    ckpt_stop(s);
    sqlite3_finalize(s->upsert);
    sqlite3_finalize(s->get_off);
    sqlite3_finalize(s->put_off);
    if (s->db)
        sqlite3_close_v2(s->db);
    free(s->order);
    free(s);
}

static int sqlite_store_open(struct store **out, const char *loc, const struct store_table *t,
                             const char *group, unsigned flags, struct sl_err *err)
{
    struct sqlite_params p;
    if (parse_params(loc, &p, err) != 0)
        return -1;
    if (!ident_ok(t->keyspace) || !ident_ok(t->table))
        return sl_err_set(err, "sqlite: bad keyspace or table name");
    for (int i = 0; i < t->ncols; i++) {
        if (!ident_ok(t->cols[i]))
            return sl_err_set(err, "sqlite: bad column name");
    }
    bool ro = (flags & STORE_READONLY) != 0;
    if (!ro && (!group || strlen(group) >= 256))
        return sl_err_set(err, "sqlite: a consumer group name (< 256 bytes) is needed to write");
    char path[PATH_MAX + 80];
    if (snprintf(path, sizeof(path), "%s/%s.db", p.dir, t->keyspace) >= (int)sizeof(path))
        return sl_err_set(err, "sqlite: path too long");
    if (!ro && fs_mkdirs(p.dir, err) != 0)
        return -1;
    if (ro && access(path, R_OK) != 0)
        return sl_err_set(err,
                          "no store at %s (has sluice process run with this --store or "
                          "--data-dir?)",
                          path);

    struct sqlite_store *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, "out of memory");
    s->base.ops = &sqlite_store_ops;
    s->t = t;
    s->readonly = ro;
    s->sort = p.sort;
    if (group)
        snprintf(s->group, sizeof(s->group), "%s", group);
    int oflags = ro ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    /* NOMUTEX: a handle is used by one thread at a time (the job's loop or the query). */
    if (sqlite3_open_v2(path, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sl_err_set(err, "sqlite: cannot open %s: %s", path,
                   s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, (int)p.busy_timeout_ms);
    sqlite3_extended_result_codes(s->db, 1);
    char sql[256];
    /* A negative cache_size is in KiB. */
    snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%lld", (long long)p.cache_mb * 1024);
    if (exec(s->db, sql, err) != 0)
        goto fail;
    if (p.mmap_mb > 0) {
        snprintf(sql, sizeof(sql), "PRAGMA mmap_size=%lld", (long long)p.mmap_mb << 20);
        if (exec(s->db, sql, err) != 0)
            goto fail;
    }
    if (ro) {
        /* Also proves the file is a database with our table; ATTACH gives the keyspace name
         * so that both created_users and spark_streams.created_users resolve. */
        if (exec(s->db, "PRAGMA query_only=1", err) != 0)
            goto fail;
        sqlite3_stmt *at = NULL;
        snprintf(sql, sizeof(sql), "ATTACH DATABASE ? AS %s", t->keyspace);
        if (sqlite3_prepare_v2(s->db, sql, -1, &at, NULL) != SQLITE_OK) {
            sqlite_store_fail(s->db, err, "attach");
            goto fail;
        }
        sqlite3_bind_text(at, 1, path, -1, SQLITE_STATIC);
        int rc = sqlite3_step(at);
        sqlite3_finalize(at);
        if (rc != SQLITE_DONE) {
            sqlite_store_fail(s->db, err, "attach");
            goto fail;
        }
    } else {
        if (p.page_size > 0) {
            snprintf(sql, sizeof(sql), "PRAGMA page_size=%lld", (long long)p.page_size);
            if (exec(s->db, sql, err) != 0)
                goto fail;
        }
        if (exec(s->db, "PRAGMA journal_mode=WAL", err) != 0)
            goto fail;
        /* NORMAL in WAL mode: a commit survives kill -9 (it is in the WAL, in the page
         * cache); a power loss can drop the last commits, rows and offsets together. */
        if (exec(s->db, p.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                 err) != 0)
            goto fail;
        snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint=%lld",
                 p.ckpt_background ? 0LL : (long long)p.checkpoint_pages);
        if (exec(s->db, sql, err) != 0 || setup_writer(s, &p, err) != 0)
            goto fail;
        if (p.ckpt_background && ckpt_start(s, path, p.checkpoint_pages, err) != 0)
            goto fail;
    }
    *out = &s->base;
    return 0;
fail:
    sqlite_store_close(&s->base);
    return -1;
}

static int sqlite_store_load_offset(struct store *st, const char *topic, int32_t partition,
                                    int64_t *next, struct sl_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    *next = -1;
    if (!s->get_off)
        return sl_err_set(err, "sqlite: store opened read-only");
    sqlite3_stmt *q = s->get_off;
    sqlite3_bind_text(q, 1, s->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, partition);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *next = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sqlite_store_fail(s->db, err, "load offset");
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const struct sqlite_key *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Fills s->order with the rows to write, in writing order: by key when sorting (only the last
 * row of each key kept), else as given. Returns how many, or -1 when memory is short. */
static long plan_rows(struct sqlite_store *s, const struct store_row *rows, size_t nrows)
{
    if (nrows == 0)
        return 0;
    if (nrows > s->cap_order) {
        struct sqlite_key *o = realloc(s->order, nrows * sizeof(*o));
        if (!o)
            return -1;
        s->order = o;
        s->cap_order = nrows;
    }
    int k = s->t->key_col;
    for (size_t i = 0; i < nrows; i++)
        s->order[i] = (struct sqlite_key){rows[i].col[k], rows[i].len[k], (uint32_t)i};
    if (!s->sort)
        return (long)nrows;
    qsort(s->order, nrows, sizeof(*s->order), key_cmp);
    size_t w = 0;
    for (size_t i = 0; i < nrows; i++) {
        bool last_of_key = i + 1 == nrows || s->order[i + 1].len != s->order[i].len ||
                           memcmp(s->order[i + 1].key, s->order[i].key, s->order[i].len) != 0;
        if (last_of_key)
            s->order[w++] = s->order[i];
    }
    return (long)w;
}

/* Whether the connection's last error is one that passes by itself (space freed, a lock
 * released, a transient I/O error), so the job should wait and retry rather than give up. */
static bool passing_error(sqlite3 *db)
{
    int ec = sqlite3_errcode(db);
    return ec == SQLITE_FULL || ec == SQLITE_BUSY || ec == SQLITE_LOCKED || ec == SQLITE_IOERR;
}

static int sqlite_store_write_batch(struct store *st, const char *topic,
                                    const struct store_row *rows, size_t nrows,
                                    const struct store_offset *offs, size_t noffs,
                                    struct sl_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    if (!s->upsert)
        return sl_err_set(err, "sqlite: store opened read-only");
    if (nrows > UINT32_MAX)
        return sl_err_set(err, "sqlite: batch too large");
    long nw = plan_rows(s, rows, nrows);
    if (nw < 0)
        return sl_err_set(err, "out of memory");
    if (s->ckpt) {
        pthread_mutex_lock(&s->ckpt->mu);
        bool failed = s->ckpt->failed;
        if (failed)
            *err = s->ckpt->why;
        pthread_mutex_unlock(&s->ckpt->mu);
        if (failed)
            return STORE_FATAL;
    }
    /* IMMEDIATE takes the write lock up front (waiting up to busy_timeout for another
     * instance's batch), so the offset check below cannot race with another writer. */
    if (exec(s->db, "BEGIN IMMEDIATE", err) != 0)
        return disk_failed(s->db) ? STORE_FATAL : passing_error(s->db) ? STORE_RETRY : -1;
    int ret = -1;
    for (size_t i = 0; i < noffs; i++) {
        int64_t cur;
        if (sqlite_store_load_offset(st, topic, offs[i].partition, &cur, err) != 0)
            goto rollback;
        if (cur != offs[i].prev_next) {
            sl_err_set(err,
                       "partition %s[%d]: stored offset is %lld, expected %lld (another "
                       "instance owns it now)",
                       topic, (int)offs[i].partition, (long long)cur, (long long)offs[i].prev_next);
            ret = STORE_CONFLICT;
            goto rollback;
        }
    }
    for (long i = 0; i < nw; i++) {
        const struct store_row *r = &rows[s->order[i].idx];
        for (int c = 0; c < s->t->ncols; c++)
            sqlite3_bind_text(s->upsert, c + 1, r->col[c], (int)r->len[c], SQLITE_STATIC);
        int rc = sqlite3_step(s->upsert);
        sqlite3_reset(s->upsert);
        if (rc != SQLITE_DONE) {
            sqlite_store_fail(s->db, err, "upsert");
            goto rollback;
        }
    }
    int64_t now = now_ms();
    for (size_t i = 0; i < noffs; i++) {
        sqlite3_stmt *p = s->put_off;
        sqlite3_bind_text(p, 1, s->group, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 2, topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(p, 3, offs[i].partition);
        sqlite3_bind_int64(p, 4, offs[i].next_offset);
        sqlite3_bind_int64(p, 5, now);
        int rc = sqlite3_step(p);
        sqlite3_reset(p);
        if (rc != SQLITE_DONE) {
            sqlite_store_fail(s->db, err, "store offsets");
            goto rollback;
        }
    }
    if (exec(s->db, "COMMIT", err) != 0)
        goto rollback;
    sqlite3_clear_bindings(s->upsert);
    return 0;
rollback:
    if (ret == -1 && disk_failed(s->db))
        ret = STORE_FATAL;
    else if (ret == -1 && passing_error(s->db))
        ret = STORE_RETRY;
    /* Fails harmlessly when SQLite already rolled back on its own (e.g. SQLITE_FULL). */
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_clear_bindings(s->upsert);
    return ret;
}

static int progress_cb(void *arg)
{
    struct sqlite_store *s = arg;
    return mono_ms() > s->deadline_ms; /* non-zero interrupts the statement */
}

static int sqlite_store_query(struct store *st, const char *q, int64_t timeout_ms, store_row_cb cb,
                              void *arg, struct sl_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(s->db, q, -1, &stmt, &tail) != SQLITE_OK)
        return sl_err_set(err, "%s", sqlite3_errmsg(s->db));
    if (!stmt)
        return sl_err_set(err, "empty query");
    while (tail &&
           (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';'))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(stmt);
        return sl_err_set(err, "one statement at a time (left over: '%.40s')", tail);
    }
    s->deadline_ms = mono_ms() + timeout_ms;
    sqlite3_progress_handler(s->db, 1000, progress_cb, s);
    int ncols = sqlite3_column_count(stmt);
    if (ncols > STORE_MAX_COLS * 4)
        ncols = STORE_MAX_COLS * 4; /* bounded output; extra columns are not shown */
    const char *names[STORE_MAX_COLS * 4];
    const char *vals[STORE_MAX_COLS * 4];
    enum store_type types[STORE_MAX_COLS * 4];
    for (int i = 0; i < ncols; i++)
        names[i] = sqlite3_column_name(stmt, i);
    int rc, ret = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++) {
            switch (sqlite3_column_type(stmt, i)) {
            case SQLITE_INTEGER:
                types[i] = STORE_T_INT;
                break;
            case SQLITE_FLOAT:
                types[i] = STORE_T_REAL;
                break;
            case SQLITE_BLOB:
                types[i] = STORE_T_BLOB;
                break;
            case SQLITE_NULL:
                types[i] = STORE_T_NULL;
                break;
            default:
                types[i] = STORE_T_TEXT;
            }
            vals[i] = types[i] == STORE_T_NULL ? NULL : (const char *)sqlite3_column_text(stmt, i);
        }
        if (cb(arg, ncols, names, vals, types) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        if (rc == SQLITE_INTERRUPT)
            ret = sl_err_set(err, "query took longer than %lld ms", (long long)timeout_ms);
        else
            ret = sl_err_set(err, "%s", sqlite3_errmsg(s->db));
    }
    sqlite3_progress_handler(s->db, 0, NULL, NULL);
    sqlite3_finalize(stmt);
    return ret;
}

const struct store_ops sqlite_store_ops = {
    .name = "sqlite",
    .open = sqlite_store_open,
    .load_offset = sqlite_store_load_offset,
    .write_batch = sqlite_store_write_batch,
    .query = sqlite_store_query,
    .close = sqlite_store_close,
};
