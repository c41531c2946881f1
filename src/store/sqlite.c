/* The SQLite sink: keyspace K is the file DIR/K.db, the table is created from the job spec, and
 * the consumer's offsets live in the same file (sluice_offsets), so one transaction per batch
 * commits rows and progress together: exactly once into SQLite, across kill -9.
 * Location: "DIR[?synchronous=normal|full&cache_mb=N&busy_timeout_ms=N&checkpoint_pages=N&
 * page_size=N&layout=delta|rowid|without_rowid&merge_rows=N&runs=N&merge_slices=1|16&
 * seal=auto|index|copy&copy_rows=N&sort=1|0]".
 * The defaults are the measured best (docs/process.md, bench/bench_sink.c): the two-level
 * layout (layout=delta: an append-only delta sealed every merge_rows = 1M rows into a run with
 * its own id index, runs beyond 16 moved into a main table in 16 id-range slices, the table a
 * view over all of them; see struct sqlite_idmap), batches sorted
 * by key, 16 MB page cache (64 MB was measured no faster at 1M rows and costs 50 MB of RSS),
 * synchronous=NORMAL. layout=rowid is the one-table layout (rows appended, only the id index is
 * random); a file keeps the layout it was made with. */
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

/* How a full delta is sealed: auto picks copy for a batch of at most SEAL_COPY_MAX_BATCH rows
 * (the writer keeps up: latency counts) and index for larger ones (a backlog: rows/s count). */
enum { SEAL_AUTO, SEAL_INDEX, SEAL_COPY };
#define SEAL_COPY_MAX_BATCH 1024
/* New rows one statement appends to the delta at most (write_delta). bench_sink -g and 3M-row
 * drains: the writer's CPU per row fell 15-20 % with 32 or 64 rows a statement. */
#define INS_GROUP 64
#define BOUND_MAX 80        /* a copy range bound, truncated from a stored id */
#define BOUND_OVERSAMPLE 16 /* ids sampled for each range bound kept (build_bounds) */

/* The sampling of a build's range bounds in progress: groups g..gmax are left to read, k ids
 * from each; n sampled so far (into sqlite_store.bounds). */
struct bound_sampling {
    int64_t run, g, gmin, gmax, rows, k, want;
    int n;
};

struct sqlite_store {
    struct store base; /* first: the generic handle */
    sqlite3 *db;
    const struct store_table *t;
    char group[256];
    bool readonly;
    bool sort;                    /* sort each batch by key before upserting */
    sqlite3_stmt *upsert;         /* rows */
    sqlite3_stmt *get_off;        /* SELECT next_offset */
    sqlite3_stmt *put_off;        /* upsert of sluice_offsets */
    struct sqlite_key *order;     /* reusable sort array, cap_order entries */
    struct sqlite_key *order_tmp; /* the radix sort's other half (sort_keys), cap_order */
    size_t cap_order;
    int64_t deadline_ms;      /* for the query progress handler */
    struct sqlite_ckpt *ckpt; /* background checkpointer, or NULL (inline autocheckpoint) */
    /* layout=delta (see "Two-level layout" below); false for a file in the one-table layout */
    bool delta;
    int64_t merge_rows;         /* merge the delta into the main table when it holds this many */
    sqlite3_stmt *main_upd;     /* UPDATE main ... WHERE id=?1 */
    sqlite3_stmt *delta_upd;    /* UPDATE delta ... WHERE rowid=?(ncols+1) */
    sqlite3_stmt *delta_ins;    /* INSERT INTO delta(cols, g) */
    sqlite3_stmt *delta_ins_n;  /* the same for ins_group rows (NULL when ins_group is 1) */
    int ins_group;              /* new rows appended by one statement (delta_append) */
    sqlite3_stmt *delta_id;     /* SELECT id FROM delta WHERE rowid=? */
    sqlite3_stmt *data_ver;     /* PRAGMA data_version */
    sqlite3_stmt *get_gen;      /* SELECT merges FROM sluice_merges */
    sqlite3_stmt *delta_from;   /* SELECT rowid, id FROM delta WHERE rowid > ? */
    struct sqlite_idmap *map;   /* the delta's ids: hash -> rowid */
    struct sqlite_bloom *bloom; /* the main table's ids, to skip looking up new ones there */
    bool map_ok;                /* map matches the delta as of data version seen_ver */
    int64_t seen_ver;
    int64_t map_gen; /* merges done when the map was (re)built: rows are only appended to the
                      * delta between merges, so while it is unchanged reading the rows
                      * after map_max brings the map up to date */
    int64_t map_max;
    int64_t live;      /* rows in the delta */
    int merge_slices;  /* 1 or 16 */
    int slice;         /* 0, or the next slice of the run being moved into T_main + 1 */
    int64_t slice_run; /* the run being moved */
    int max_runs;      /* sealed runs kept before the oldest is moved into T_main */
    int nruns;         /* sealed runs, oldest first: T_r<runs[i]> */
    int64_t *runs;
    sqlite3_stmt **run_upd; /* UPDATE T_r<runs[i]> ... WHERE id=?, prepared when first needed */
    bool runs_ok;           /* runs[] matches sluice_runs as of data version seen_ver */
    struct sqlite_bloom *bloom_next; /* a larger filter being filled (bloom_grow_step) */
    int grow_slice, grow_slices;     /* the next slice of the id space to add to it, of n */
    int64_t grow_budget;             /* ids the batches so far have paid to scan, not yet scanned */
    int64_t grow_gen;                /* the seal count of the ids it is being filled with */
    struct sqlite_hashes *grow_src;  /* their stored hashes, when complete (else NULL) */
    bool grow_listed;                /* grow_src was looked for */
    /* A seal by copy (see "Sealing by copy" below) in progress: run build_run's rows are in
     * T_p<run> (ids >= sluice_build.lo) and T_r<run> (ids below it) */
    int seal_mode;             /* SEAL_AUTO, SEAL_INDEX or SEAL_COPY */
    int64_t copy_rows;         /* rows a step of the copy (or of the delete after it) aims at */
    int64_t build_run;         /* 0: none (as of runs_load) */
    struct sqlite_idmap *pmap; /* T_p<pmap_run>'s ids: hash -> rowid, while its copy runs */
    int64_t pmap_run;
    size_t pmap_fed;           /* slots of pmap added to the filter so far */
    sqlite3_stmt *p_upd;       /* UPDATE T_p<pmap_run> ... WHERE rowid=? AND id=? AND id>=lo */
    int64_t build_budget;      /* rows the batches so far have paid to copy, not yet copied */
    char (*bounds)[BOUND_MAX]; /* the copy's range bounds for bounds_run, sorted (build_bounds) */
    int nbounds;
    int64_t bounds_run, copy_step_max;
    struct bound_sampling smp; /* the reading of bounds for smp.run, spread over steps */
    uint64_t merges, map_builds, bloom_builds, bloom_grows, bloom_loads, copy_seals, copy_steps,
        tend_steps, ids_scanned, hashes_read;
    int64_t fill_us;            /* time spent filling id filters (builds and growths) */
    int64_t filter_checked_gen; /* a filter of this seal count is known to be stored (-1) */
    char tmain[STORE_NAME_MAX + 8], tdelta[STORE_NAME_MAX + 8];
};

/* Two-level layout (layout=delta, issue 12). The id index of a one-table layout takes one
 * random 4 KB leaf per new row once the table outgrows the cache: written to the WAL, then
 * again by the checkpointer. Here a row whose id is new goes to the append-only table
 * T_delta, whose only index, (g, id) with g = row count / 4096, grows at its right edge; a row
 * whose id is already stored is updated in place where it is (T_main, a run or T_delta), so
 * no two tables hold the same id. When T_delta reaches merge_rows rows it is sealed: renamed
 * to the run T_r<n> and given an index on id, built in one sorted pass; its rows are not
 * copied (copying them into T_main in id order cost ~7 us a row, the index ~0.8). Past
 * max_runs runs the oldest is moved into T_main in id-sorted passes, one id range (slice)
 * after each batch, read through its id index (each leaf of T_main's id index is then written
 * once for many rows).
 * T is a view: T_main UNION ALL the runs UNION ALL T_delta. A point lookup by id stays
 * indexed: T_main by its primary key, each run by its id index, T_delta by a skip-scan of
 * (g, id) (sqlite_stat1 tells the planner that g has few values). The writer finds ids in
 * T_delta through an in-memory hash of them (rebuilt from the table when another connection
 * wrote, or a batch failed). */
/* The stored filter's format: id_hash, bloom_step and the 4 probes of bloom_add. Changing any
 * of them needs a new number, or a stored filter (or stored hashes, sluice_ids) would answer
 * "not stored" for stored ids. */
#define FILTER_FORMAT 1

/* A Bloom filter of the ids in the main table and the runs (4 probes, >= 8 bits an id). Valid
 * while no other connection has sealed (merge count gen); own seals add the delta's ids. A
 * negative answer means the id is certainly not in the main table or a run. */
struct sqlite_bloom {
    uint64_t *bits;
    uint64_t nbits; /* a power of two */
    uint64_t n, cap_n;
    int64_t gen;
    bool ok;
    bool nomem; /* no memory for it: not tried again */
};

/* The hashes of the sealed ids, seal by seal (sluice_ids; see hashes_save), as a list of the
 * rows to read and a position in it. */
struct sqlite_hashes {
    int64_t *rowid, *len; /* of each seal's row, by seal count */
    int n, at;            /* rows, and the one being read */
    int64_t off;          /* bytes of row at read */
};

struct sqlite_idmap {
    uint32_t *h;   /* the id's hash, 32 bits (it also picks the slot) */
    uint32_t *rid; /* rowid in the delta; slot empty when 0 */
    size_t cap, n; /* cap a power of two; 8 bytes a slot, at most half full */
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

/* A row's key and position in the batch, for sorting, and the key's id_hash (layout=delta).
 * pre is the key's first 8 bytes as a big-endian number (zeros after a shorter key): ordering
 * by it agrees with memcmp, so sort_keys radix-sorts on it and compares only keys sharing it. */
struct sqlite_key {
    const char *key;
    uint64_t pre;
    uint32_t len;
    uint32_t idx;
    uint32_t h;
};

struct sqlite_params {
    bool sync_full;
    int64_t cache_mb;
    int64_t busy_timeout_ms;
    bool rowid;
    bool delta; /* layout=delta: main table + append-only delta (applies to a new file) */
    int64_t merge_rows;
    int64_t merge_slices;
    int64_t max_runs;
    int64_t seal_mode;
    int64_t copy_rows;
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

/* Switches the file to WAL. Changing the journal mode takes an exclusive lock, and SQLite
 * answers SQLITE_BUSY at once, without calling the busy handler, to a connection that loses
 * that race (it holds a shared lock while another waits for the exclusive one). Two jobs
 * opening a new store together hit this, so a busy answer is retried until the busy timeout
 * runs out. */
static int set_wal(sqlite3 *db, int64_t timeout_ms, struct sl_err *err)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (unsigned tries = 0;; tries++) {
        sqlite3_stmt *q = NULL;
        int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &q, NULL);
        char mode[16] = "";
        if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            const unsigned char *m = sqlite3_column_text(q, 0);
            snprintf(mode, sizeof(mode), "%s", m ? (const char *)m : "");
            rc = SQLITE_OK;
        }
        sqlite3_finalize(q);
        if (rc == SQLITE_OK && strcmp(mode, "wal") == 0)
            return 0;
        bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
        if (rc != SQLITE_OK && (!busy || mono_ms() >= deadline))
            return sl_err_set(err, "sqlite: PRAGMA journal_mode=WAL: %s", sqlite3_errmsg(db));
        if (rc == SQLITE_OK && mono_ms() >= deadline)
            return sl_err_set(err, "sqlite: PRAGMA journal_mode=WAL: the file stays in %s mode",
                              mode);
        /* 1-8 ms, varied so that the racers do not retry in step. */
        struct timespec ts = {0, (long)(1 + (tries * 7 + (unsigned)getpid()) % 8) * 1000000L};
        nanosleep(&ts, NULL);
    }
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
    p->delta = true;
    p->merge_rows = 1000000;
    p->merge_slices = 16;
    p->max_runs = 16;
    p->seal_mode = SEAL_AUTO;
    p->copy_rows = 2048;
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
        } else if (strcmp(kv, "merge_slices") == 0 &&
                   (strcmp(v, "1") == 0 || strcmp(v, "16") == 0)) {
            p->merge_slices = atoi(v);
        } else if (strcmp(kv, "runs") == 0) {
            if (param_int("runs", v, 0, 64, &p->max_runs, err) != 0)
                return -1;
        } else if (strcmp(kv, "seal") == 0 && strcmp(v, "auto") == 0) {
            p->seal_mode = SEAL_AUTO;
        } else if (strcmp(kv, "seal") == 0 && strcmp(v, "index") == 0) {
            p->seal_mode = SEAL_INDEX;
        } else if (strcmp(kv, "seal") == 0 && strcmp(v, "copy") == 0) {
            p->seal_mode = SEAL_COPY;
        } else if (strcmp(kv, "copy_rows") == 0) {
            if (param_int("copy_rows", v, 1, 1000000, &p->copy_rows, err) != 0)
                return -1;
        } else if (strcmp(kv, "merge_rows") == 0) {
            if (param_int("merge_rows", v, 1, 100000000, &p->merge_rows, err) != 0)
                return -1;
        } else if (strcmp(kv, "layout") == 0 && strcmp(v, "without_rowid") == 0) {
            p->rowid = false;
            p->delta = false;
        } else if (strcmp(kv, "layout") == 0 && strcmp(v, "rowid") == 0) {
            p->rowid = true;
            p->delta = false;
        } else if (strcmp(kv, "layout") == 0 && strcmp(v, "delta") == 0) {
            p->rowid = true;
            p->delta = true;
        } else if (strcmp(kv, "sort") == 0 && (strcmp(v, "1") == 0 || strcmp(v, "0") == 0))
            p->sort = v[0] == '1';
        else
            return sl_err_set(err,
                              "sqlite: unknown parameter %s=%s (known: synchronous=normal|"
                              "full, cache_mb=N, busy_timeout_ms=N, checkpoint_pages=N, "
                              "checkpoint=background|inline, page_size=N, mmap_mb=N, "
                              "layout=delta|rowid|without_rowid, merge_rows=N, runs=N, "
                              "merge_slices=1|16, seal=auto|index|copy, copy_rows=N, sort=1|0)",
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

/* CREATE TABLE name(cols TEXT, key PRIMARY KEY) in the one-table layout's form. */
static int create_table(struct sqlite_store *s, const char *name, bool rowid, struct sl_err *err)
{
    const struct store_table *t = s->t;
    char sql[SQL_MAX];
    int n = snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s(", name);
    for (int i = 0; i < t->ncols; i++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s%s TEXT%s", i ? ", " : "", t->cols[i],
                      i == t->key_col ? " PRIMARY KEY NOT NULL" : "");
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, ")%s", rowid ? "" : " WITHOUT ROWID");
    if (n >= (int)sizeof(sql))
        return sl_err_set(err, "sqlite: table definition too long");
    return exec(s->db, sql, err);
}

/* Appends the column list "a,b,c" (prefixed by pre, e.g. "excluded.") to sql at *n. */
static void col_list(const struct store_table *t, char *sql, int *n, const char *pre)
{
    for (int i = 0; i < t->ncols; i++)
        *n += snprintf(sql + *n, SQL_MAX - (size_t)*n, "%s%s%s", i ? "," : "", pre, t->cols[i]);
}

/* Appends "c1=?2,c2=?3" for every non-key column (?k binds column k-1), or "key=?K" when the
 * table has no other column. */
static void set_list(const struct store_table *t, char *sql, int *n)
{
    bool first = true;
    for (int i = 0; i < t->ncols; i++) {
        if (i == t->key_col)
            continue;
        *n += snprintf(sql + *n, SQL_MAX - (size_t)*n, "%s%s=?%d", first ? "" : ",", t->cols[i],
                       i + 1);
        first = false;
    }
    if (first)
        *n +=
            snprintf(sql + *n, SQL_MAX - (size_t)*n, "%s=?%d", t->cols[t->key_col], t->key_col + 1);
}

/* Appends "c1=excluded.c1,..." for every non-key column (an upsert's DO UPDATE SET), or
 * "key=excluded.key" when the table has no other column. */
static void excluded_list(const struct store_table *t, char *sql, int *n)
{
    bool first = true;
    for (int i = 0; i < t->ncols; i++) {
        if (i == t->key_col)
            continue;
        *n += snprintf(sql + *n, SQL_MAX - (size_t)*n, "%s%s=excluded.%s", first ? "" : ",",
                       t->cols[i], t->cols[i]);
        first = false;
    }
    if (first)
        *n += snprintf(sql + *n, SQL_MAX - (size_t)*n, "%s=excluded.%s", t->cols[t->key_col],
                       t->cols[t->key_col]);
}

/* Table i of the sealed ids: T_main (i = 0), then run i-1. */
static void sealed_name(const struct sqlite_store *s, int i, char *out, size_t size)
{
    if (i == 0)
        snprintf(out, size, "%s", s->tmain);
    else
        snprintf(out, size, "%s_r%lld", s->t->table, (long long)s->runs[i - 1]);
}

/* Prepares "UPDATE table SET <every other column> WHERE key=?" (binds as set_list). */
static int prepare_update_by_key(struct sqlite_store *s, const char *table, sqlite3_stmt **st,
                                 struct sl_err *err)
{
    const struct store_table *t = s->t;
    char sql[SQL_MAX];
    int n = snprintf(sql, sizeof(sql), "UPDATE %s SET ", table);
    set_list(t, sql, &n);
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, " WHERE %s=?%d", t->cols[t->key_col],
                  t->key_col + 1);
    if (n >= (int)sizeof(sql))
        return sl_err_set(err, "sqlite: statement too long");
    return prepare(s->db, sql, st, err);
}

/* "CREATE TABLE IF NOT EXISTS name(<columns>, sluice_g)": the delta's definition, also used
 * for a run filled by copy. 0, or -1 when it does not fit (err set). */
static int delta_ddl(const struct sqlite_store *s, const char *name, char *sql, size_t size,
                     struct sl_err *err)
{
    const struct store_table *t = s->t;
    int n = snprintf(sql, size, "CREATE TABLE IF NOT EXISTS %s(", name);
    for (int i = 0; i < t->ncols && n < (int)size; i++)
        n += snprintf(sql + n, size - (size_t)n, "%s%s TEXT%s", i ? ", " : "", t->cols[i],
                      i == t->key_col ? " NOT NULL" : "");
    if (n < (int)size)
        n += snprintf(sql + n, size - (size_t)n, ", sluice_g INTEGER NOT NULL)");
    return n >= (int)size ? sl_err_set(err, "sqlite: table definition too long") : 0;
}

/* The name of an index on table (into out): 0, 1 when it has none, -1 on error. */
static int table_index(struct sqlite_store *s, const char *table, char *out, size_t size,
                       struct sl_err *err)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=? "
                           "AND sql IS NOT NULL ORDER BY name LIMIT 1",
                           -1, &q, NULL) != SQLITE_OK)
        return sqlite_store_fail(s->db, err, "schema");
    sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q), ret = 1;
    if (rc == SQLITE_ROW) {
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(q, 0));
        ret = 0;
    } else if (rc != SQLITE_DONE) {
        ret = sqlite_store_fail(s->db, err, "schema");
    }
    sqlite3_finalize(q);
    return ret;
}

/* The delta table and its (g, id) index, with the statistics that make the planner
 * skip-scan that index for "id = ?" (without them it would scan the delta): sluice_g has few
 * values, 4096 rows each. Also used when a seal has renamed the previous delta to a run. The
 * index is named after run (the run a seal by copy is building keeps the index it had as the
 * delta, and index names cannot change); 0 gives the name of files made before. */
static int create_delta(struct sqlite_store *s, int64_t run, struct sl_err *err)
{
    const struct store_table *t = s->t;
    char sql[SQL_MAX], idx[STORE_NAME_MAX + 64];
    const char *key = t->cols[t->key_col];
    if (delta_ddl(s, s->tdelta, sql, sizeof(sql), err) != 0 || exec(s->db, sql, err) != 0)
        return -1;
    int have = table_index(s, s->tdelta, idx, sizeof(idx), err);
    if (have < 0)
        return -1;
    if (have == 1) {
        if (run > 0)
            snprintf(idx, sizeof(idx), "%s_g%lld_%s", s->tdelta, (long long)run, key);
        else
            snprintf(idx, sizeof(idx), "%s_g_%s", s->tdelta, key);
        snprintf(sql, sizeof(sql), "CREATE INDEX %s ON %s(sluice_g, %s)", idx, s->tdelta, key);
        if (exec(s->db, sql, err) != 0)
            return -1;
    }
    snprintf(sql, sizeof(sql),
             "ANALYZE sqlite_master; DELETE FROM sqlite_stat1 WHERE tbl='%s'; "
             "INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES('%s', '%s', '1000000 4096 1')",
             s->tdelta, s->tdelta, idx);
    return exec(s->db, sql, err);
}

/* (Re)creates the view T over T_main, the sealed runs oldest first, and T_delta. */
static int create_view(struct sqlite_store *s, bool replace, struct sl_err *err)
{
    const struct store_table *t = s->t;
    size_t cap = (size_t)SQL_MAX * 4;
    char *sql = malloc(cap);
    if (!sql)
        return sl_err_set(err, "out of memory");
    int n = replace ? snprintf(sql, cap, "DROP VIEW IF EXISTS %s; CREATE VIEW %s AS SELECT ",
                               t->table, t->table)
                    : snprintf(sql, cap, "CREATE VIEW IF NOT EXISTS %s AS SELECT ", t->table);
    for (int i = 0; i < t->ncols; i++)
        n += snprintf(sql + n, cap - (size_t)n, "%s%s", i ? "," : "", t->cols[i]);
    n += snprintf(sql + n, cap - (size_t)n, " FROM %s", s->tmain);
    for (int r = 0; r <= s->nruns && n < (int)cap; r++) {
        n += snprintf(sql + n, cap - (size_t)n, " UNION ALL SELECT ");
        for (int i = 0; i < t->ncols && n < (int)cap; i++)
            n += snprintf(sql + n, cap - (size_t)n, "%s%s", i ? "," : "", t->cols[i]);
        char name[STORE_NAME_MAX + 32];
        if (r < s->nruns)
            sealed_name(s, r + 1, name, sizeof(name));
        n += snprintf(sql + n, cap - (size_t)n, " FROM %s", r < s->nruns ? name : s->tdelta);
    }
    if (s->build_run) { /* a run being filled by copy: the ids not copied yet */
        n += snprintf(sql + n, cap - (size_t)n, " UNION ALL SELECT ");
        for (int i = 0; i < t->ncols && n < (int)cap; i++)
            n += snprintf(sql + n, cap - (size_t)n, "%s%s", i ? "," : "", t->cols[i]);
        n += snprintf(sql + n, cap - (size_t)n,
                      " FROM %s_p%lld WHERE %s >= (SELECT lo FROM sluice_build WHERE tbl='%s')",
                      t->table, (long long)s->build_run, t->cols[t->key_col], t->table);
    }
    int rc =
        n >= (int)cap ? sl_err_set(err, "sqlite: view definition too long") : exec(s->db, sql, err);
    free(sql);
    return rc;
}

/* Writes "INSERT INTO T_delta(cols,sluice_g) VALUES(?,...),..." for nrows rows (a bare
 * "VALUES)" for 0) into sql; returns its length (SQL_MAX or more: too long). */
static int delta_insert_sql(const struct sqlite_store *s, int nrows, char sql[SQL_MAX])
{
    int n = snprintf(sql, SQL_MAX, "INSERT INTO %s(", s->tdelta);
    col_list(s->t, sql, &n, "");
    n += snprintf(sql + n, SQL_MAX - (size_t)n, ",sluice_g) VALUES");
    for (int r = 0; r < nrows && n < SQL_MAX; r++) /* no write past the end once too long */
        for (int i = 0; i <= s->t->ncols && n < SQL_MAX; i++)
            n += snprintf(sql + n, SQL_MAX - (size_t)n, "%s?", i ? "," : r ? "),(" : "(");
    return n < SQL_MAX ? n + snprintf(sql + n, SQL_MAX - (size_t)n, ")") : n;
}

/* The two-level layout's tables, view and statements (see struct sqlite_idmap); fresh when the
 * file had no layout for the table yet. */
static int setup_delta(struct sqlite_store *s, bool fresh, struct sl_err *err)
{
    const struct store_table *t = s->t;
    char sql[SQL_MAX];
    const char *key = t->cols[t->key_col];
    int n;
    if (create_table(s, s->tmain, true, err) != 0 || create_delta(s, 0, err) != 0 ||
        exec(s->db,
             "CREATE TABLE IF NOT EXISTS sluice_runs(tbl TEXT NOT NULL, run INTEGER NOT NULL, "
             "PRIMARY KEY(tbl, run)) WITHOUT ROWID; CREATE TABLE IF NOT EXISTS "
             "sluice_filter(tbl TEXT PRIMARY KEY NOT NULL, gen INTEGER NOT NULL, format INTEGER "
             "NOT NULL, nbits INTEGER NOT NULL, n INTEGER NOT NULL, bits BLOB NOT NULL); "
             "CREATE TABLE IF NOT EXISTS sluice_build(tbl TEXT PRIMARY KEY NOT NULL, run "
             "INTEGER NOT NULL, lo TEXT) WITHOUT ROWID; CREATE TABLE IF NOT EXISTS "
             "sluice_ids(tbl TEXT NOT NULL, gen INTEGER NOT NULL, format INTEGER NOT NULL, "
             "h BLOB NOT NULL, UNIQUE(tbl, gen))",
             err) != 0 ||
        create_view(s, false, err) != 0)
        return -1;

    if (prepare_update_by_key(s, s->tmain, &s->main_upd, err) != 0)
        return -1;
    n = snprintf(sql, sizeof(sql), "UPDATE %s SET ", s->tdelta);
    set_list(t, sql, &n);
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, " WHERE rowid=?%d", t->ncols + 1);
    if (n >= (int)sizeof(sql) || prepare(s->db, sql, &s->delta_upd, err) != 0)
        return n >= (int)sizeof(sql) ? sl_err_set(err, "sqlite: statement too long") : -1;
    /* One new row a statement, and up to INS_GROUP: as many as the statement's length and
     * SQLite's limit on parameters allow; one at a time when batches are not sorted (they may
     * repeat an id, whose second row must find the first). */
    int np = t->ncols + 1;
    int group = ((int)sizeof(sql) - delta_insert_sql(s, 0, sql)) / (2 * np + 2);
    int vars = sqlite3_limit(s->db, SQLITE_LIMIT_VARIABLE_NUMBER, -1) / np;
    group = group < vars ? group : vars;
    s->ins_group = !s->sort || group < 2 ? 1 : group < INS_GROUP ? group : INS_GROUP;
    n = delta_insert_sql(s, 1, sql);
    if (n >= (int)sizeof(sql) || prepare(s->db, sql, &s->delta_ins, err) != 0)
        return n >= (int)sizeof(sql) ? sl_err_set(err, "sqlite: statement too long") : -1;
    n = s->ins_group > 1 ? delta_insert_sql(s, s->ins_group, sql) : 0;
    if (s->ins_group > 1 &&
        (n >= (int)sizeof(sql) || prepare(s->db, sql, &s->delta_ins_n, err) != 0))
        return n >= (int)sizeof(sql) ? sl_err_set(err, "sqlite: statement too long") : -1;
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE rowid=?", key, s->tdelta);
    if (prepare(s->db, sql, &s->delta_id, err) != 0 ||
        prepare(s->db, "PRAGMA data_version", &s->data_ver, err) != 0)
        return -1;
    snprintf(sql, sizeof(sql), "SELECT rowid, %s FROM %s WHERE rowid > ?", key, s->tdelta);
    if (prepare(s->db, sql, &s->delta_from, err) != 0)
        return -1;
    /* How many merges the delta has seen, for writers that share the file (delta_sync). */
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS sluice_merges(tbl TEXT PRIMARY KEY NOT NULL, merges "
             "INTEGER NOT NULL) WITHOUT ROWID; INSERT OR IGNORE INTO sluice_merges VALUES('%s', 0)",
             t->table);
    if (exec(s->db, sql, err) != 0)
        return -1;
    /* Seal count 0's row of sluice_ids, with no hash: the hashes of every sealed id are stored
     * from the first seal on (hashes_list). Not for a file that has sealed ids already. */
    snprintf(sql, sizeof(sql),
             "INSERT OR IGNORE INTO sluice_ids(tbl, gen, format, h) SELECT '%s', 0, %d, x'' "
             "WHERE NOT EXISTS(SELECT 1 FROM %s) AND (SELECT merges FROM sluice_merges WHERE "
             "tbl='%s') = 0",
             t->table, FILTER_FORMAT, s->tmain, t->table);
    if (fresh && exec(s->db, sql, err) != 0)
        return -1;
    snprintf(sql, sizeof(sql), "SELECT merges FROM sluice_merges WHERE tbl='%s'", t->table);
    if (prepare(s->db, sql, &s->get_gen, err) != 0)
        return -1;
    return 0;
}

/* What the file holds already: 1 the one-table layout (T is a table), 2 the two-level one (T
 * is a view), 0 nothing yet, -1 on error. */
static int file_layout(struct sqlite_store *s, struct sl_err *err)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT type FROM sqlite_master WHERE name=?", -1, &q, NULL) !=
        SQLITE_OK)
        return sqlite_store_fail(s->db, err, "schema");
    sqlite3_bind_text(q, 1, s->t->table, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q), ret = 0;
    if (rc == SQLITE_ROW) {
        const char *ty = (const char *)sqlite3_column_text(q, 0);
        ret = ty && strcmp(ty, "view") == 0 ? 2 : 1;
    } else if (rc != SQLITE_DONE) {
        ret = sqlite_store_fail(s->db, err, "schema");
    }
    sqlite3_finalize(q);
    return ret;
}

/* Creates the tables (idempotent) and prepares the write statements. The layout of a file
 * that has one already is kept whatever p asks for (a file made before layout=delta existed
 * keeps its one table). */
static int setup_writer(struct sqlite_store *s, const struct sqlite_params *p, struct sl_err *err)
{
    const struct store_table *t = s->t;
    char sql[SQL_MAX];
    snprintf(s->tmain, sizeof(s->tmain), "%s_main", t->table);
    snprintf(s->tdelta, sizeof(s->tdelta), "%s_delta", t->table);
    if (exec(s->db, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    int have = file_layout(s, err);
    s->delta = have == 2 || (have == 0 && p->delta);
    s->merge_rows = p->merge_rows;
    s->merge_slices = (int)p->merge_slices;
    s->max_runs = (int)p->max_runs;
    s->seal_mode = (int)p->seal_mode;
    s->copy_rows = p->copy_rows;
    if (have < 0 ||
        (s->delta ? setup_delta(s, have == 0, err) : create_table(s, t->table, p->rowid, err)) !=
            0 ||
        exec(s->db,
             "CREATE TABLE IF NOT EXISTS sluice_offsets(group_id TEXT NOT NULL, topic TEXT NOT "
             "NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, updated_ms INTEGER "
             "NOT NULL, PRIMARY KEY(group_id, topic, partition)) WITHOUT ROWID",
             err) != 0 ||
        exec(s->db, "COMMIT", err) != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }

    int n = snprintf(sql, sizeof(sql), "INSERT INTO %s(", t->table);
    for (int i = 0; i < t->ncols; i++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s%s", i ? "," : "", t->cols[i]);
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, ") VALUES(");
    for (int i = 0; i < t->ncols; i++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s?", i ? "," : "");
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, ") ON CONFLICT(%s) DO UPDATE SET ",
                  t->cols[t->key_col]);
    excluded_list(t, sql, &n);
    if (n >= (int)sizeof(sql))
        return sl_err_set(err, "sqlite: upsert statement too long");
    if ((!s->delta && prepare(s->db, sql, &s->upsert, err) != 0) ||
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

static void idmap_free(struct sqlite_idmap *m)
{
    if (!m)
        return;
    free(m->h);
    free(m->rid);
    free(m);
}

/* The first column of a one-row query as an integer: 0, or -1 (no row, or an error). */
static int sql_int(sqlite3 *db, const char *sql, int64_t *v)
{
    sqlite3_stmt *q = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        *v = sqlite3_column_int64(q, 0);
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

static uint32_t id_hash(const char *k, uint32_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, then a final mix */
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(h ^ (h >> 32));
}

static void idmap_clear(struct sqlite_idmap *m)
{
    memset(m->rid, 0, m->cap * sizeof(*m->rid));
    m->n = 0;
}

/* Adds (h, rid); grows at half full. -1 when memory is short (or rid is beyond 32 bits,
 * which would take 4 billion rows in the delta). */
static int idmap_add(struct sqlite_idmap *m, uint32_t h, int64_t rid)
{
    if (rid <= 0 || rid > (int64_t)UINT32_MAX)
        return -1;
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        uint32_t *nh = malloc(cap * sizeof(*nh));
        uint32_t *nr = calloc(cap, sizeof(*nr));
        if (!nh || !nr) {
            free(nh);
            free(nr);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->rid[i])
                continue;
            size_t j = (size_t)m->h[i] & (cap - 1);
            while (nr[j])
                j = (j + 1) & (cap - 1);
            nh[j] = m->h[i];
            nr[j] = m->rid[i];
        }
        free(m->h);
        free(m->rid);
        m->h = nh;
        m->rid = nr;
        m->cap = cap;
    }
    size_t j = (size_t)h & (m->cap - 1);
    while (m->rid[j])
        j = (j + 1) & (m->cap - 1);
    m->h[j] = h;
    m->rid[j] = (uint32_t)rid;
    m->n++;
    return 0;
}

/* The first column of a one-row statement as an integer. */
static int step_int(sqlite3_stmt *q, int64_t *v)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

static uint64_t bloom_step(uint32_t h)
{
    uint64_t x = h * 0x9e3779b97f4a7c15ull;
    return (x ^ (x >> 31)) | 1;
}

static void bloom_add(struct sqlite_bloom *b, uint32_t h)
{
    uint64_t pos = h, step = bloom_step(h);
    for (int i = 0; i < 4; i++, pos += step)
        b->bits[(pos & (b->nbits - 1)) >> 6] |= 1ull << (pos & 63);
    b->n++;
}

static bool bloom_maybe(const struct sqlite_bloom *b, uint32_t h)
{
    uint64_t pos = h, step = bloom_step(h);
    for (int i = 0; i < 4; i++, pos += step) {
        if (!(b->bits[(pos & (b->nbits - 1)) >> 6] & (1ull << (pos & 63))))
            return false;
    }
    return true;
}

/* Gives b nbits bits (contents undefined), keeping its array when it has that size. -1 when
 * memory is short (b then has no bits). */
static int bloom_alloc(struct sqlite_bloom *b, uint64_t nbits)
{
    if (nbits == b->nbits)
        return 0;
    free(b->bits);
    b->nbits = 0;
    if (!(b->bits = malloc(nbits / 8)))
        return -1;
    b->nbits = nbits;
    return 0;
}

/* Gives b room for nids ids at 8 bits an id (a power of two, at least 2^16 bits), empty.
 * -1 when memory is short (b then has no bits). */
static int bloom_size(struct sqlite_bloom *b, uint64_t nids)
{
    uint64_t want = 8 * nids, nbits = 1 << 16;
    while (nbits < want)
        nbits <<= 1;
    if (bloom_alloc(b, nbits) != 0)
        return -1;
    memset(b->bits, 0, nbits / 8);
    b->n = 0;
    b->cap_n = nbits / 8;
    return 0;
}

/* Adds the ids of the main table and the runs to b: all of them (lo and hi NULL), or those
 * in [lo, hi) (either bound may be NULL), read through each table's id index. */
static int bloom_scan(struct sqlite_store *s, struct sqlite_bloom *b, const char *lo,
                      const char *hi, struct sl_err *err)
{
    const char *key = s->t->cols[s->t->key_col];
    char sql[512], name[STORE_NAME_MAX + 32];
    for (int i = 0; i <= s->nruns + (s->build_run > 0); i++) {
        int n;
        if (i <= s->nruns) {
            sealed_name(s, i, name, sizeof(name));
            n = snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE true", key, name);
        } else { /* the ids of a run being filled by copy that are not copied yet */
            n = snprintf(sql, sizeof(sql),
                         "SELECT %s FROM %s_p%lld WHERE %s >= (SELECT lo FROM sluice_build "
                         "WHERE tbl='%s')",
                         key, s->t->table, (long long)s->build_run, key, s->t->table);
        }
        if (lo)
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, " AND %s >= ?1", key);
        if (hi)
            snprintf(sql + n, sizeof(sql) - (size_t)n, " AND %s < ?2", key);
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
            return sqlite_store_fail(s->db, err, "read the stored ids");
        if (lo)
            sqlite3_bind_text(q, 1, lo, -1, SQLITE_STATIC);
        if (hi)
            sqlite3_bind_text(q, 2, hi, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            bloom_add(b, id_hash((const char *)sqlite3_column_blob(q, 0),
                                 (uint32_t)sqlite3_column_bytes(q, 0)));
            s->ids_scanned++;
        }
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return sqlite_store_fail(s->db, err, "read the stored ids");
    }
    return 0;
}

/* The stored hashes of the sealed ids (issue 12). Reading every stored id through the tables'
 * id indexes, to fill a larger filter or to build one, cost ~0.4 us an id (9M ids in 3.8 s),
 * and paged the indexes through the cache. So each seal also stores the 32-bit hashes of the
 * ids it seals (those of the delta's map, 4 bytes an id, little-endian) as one row of
 * sluice_ids(tbl, gen, format, h), in the seal's transaction; a fresh file gets an empty row for
 * seal count 0 (setup_delta). Ids are never deleted or moved out of the sealed tables (a run's
 * move into T_main and a build by copy keep them sealed), so the rows of seal counts 0..gen are
 * the hashes of every id sealed as of gen. A file that lacks one of them (made before, or by an
 * older writer) is read through the tables instead. */
static int hashes_save(struct sqlite_store *s, int64_t gen, const struct sqlite_idmap *m,
                       struct sl_err *err)
{
    if ((int64_t)m->n != s->live)
        return 0; /* not the delta's ids: no row, the tables are read instead */
    uint8_t *buf = malloc(m->n * 4 + 4);
    if (!buf)
        return sl_err_set(err, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->rid[i])
            continue;
        uint32_t h = m->h[i];
        buf[k++] = (uint8_t)h;
        buf[k++] = (uint8_t)(h >> 8);
        buf[k++] = (uint8_t)(h >> 16);
        buf[k++] = (uint8_t)(h >> 24);
    }
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "INSERT OR REPLACE INTO sluice_ids(tbl, gen, format, h) "
                                "VALUES(?1, ?2, ?3, ?4)",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, s->t->table, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, gen);
        sqlite3_bind_int(q, 3, FILTER_FORMAT);
        sqlite3_bind_blob64(q, 4, buf, k, SQLITE_STATIC);
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    free(buf);
    return rc == SQLITE_DONE ? 0 : sqlite_store_fail(s->db, err, "save the sealed ids' hashes");
}

static void hashes_free(struct sqlite_hashes *l)
{
    if (l) {
        free(l->rowid);
        free(l->len);
    }
    free(l);
}

/* The rows of sluice_ids for seal counts 0..gen into *out, when there is one of each, in the
 * filter's format (else *out is NULL: the tables are to be read). */
static int hashes_list(struct sqlite_store *s, int64_t gen, struct sqlite_hashes **out,
                       struct sl_err *err)
{
    *out = NULL;
    if (gen < 0 || gen >= INT_MAX)
        return 0;
    struct sqlite_hashes *l = calloc(1, sizeof(*l));
    if (l) {
        l->rowid = malloc((size_t)(gen + 1) * sizeof(*l->rowid));
        l->len = malloc((size_t)(gen + 1) * sizeof(*l->len));
    }
    if (!l || !l->rowid || !l->len) {
        hashes_free(l);
        return 0; /* the tables are read instead */
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT gen, rowid, length(h), format FROM sluice_ids WHERE tbl=?1 AND "
                           "gen BETWEEN 0 AND ?2 ORDER BY gen",
                           -1, &q, NULL) != SQLITE_OK) {
        hashes_free(l);
        return sqlite_store_fail(s->db, err, "list the sealed ids' hashes");
    }
    sqlite3_bind_text(q, 1, s->t->table, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, gen);
    int rc;
    bool whole = true;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t len = sqlite3_column_int64(q, 2);
        if (sqlite3_column_int64(q, 0) != l->n || len % 4 != 0 ||
            sqlite3_column_int(q, 3) != FILTER_FORMAT) {
            whole = false;
            break;
        }
        l->rowid[l->n] = sqlite3_column_int64(q, 1);
        l->len[l->n++] = len;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        hashes_free(l);
        return sqlite_store_fail(s->db, err, "list the sealed ids' hashes");
    }
    if (!whole || l->n != gen + 1) {
        hashes_free(l);
        return 0;
    }
    *out = l;
    return 0;
}

/* Whether l has been read to its end (moving past rows read to their end). */
static bool hashes_done(struct sqlite_hashes *l)
{
    while (l->at < l->n && l->off >= l->len[l->at]) {
        l->at++;
        l->off = 0;
    }
    return l->at >= l->n;
}

/* Adds up to max hashes from l's position on to b and moves past them: how many were added,
 * or -1 on error. */
static int64_t hashes_feed(struct sqlite_store *s, struct sqlite_hashes *l, struct sqlite_bloom *b,
                           int64_t max, struct sl_err *err)
{
    uint8_t buf[16384];
    int64_t got = 0;
    while (got < max && !hashes_done(l)) {
        sqlite3_blob *blob = NULL;
        if (sqlite3_blob_open(s->db, "main", "sluice_ids", "h", l->rowid[l->at], 0, &blob) !=
            SQLITE_OK)
            return sqlite_store_fail(s->db, err, "read the sealed ids' hashes");
        while (got < max && l->off < l->len[l->at]) {
            int64_t chunk = l->len[l->at] - l->off;
            if (chunk > (int64_t)sizeof(buf))
                chunk = (int64_t)sizeof(buf);
            if (chunk / 4 > max - got)
                chunk = (max - got) * 4;
            if (sqlite3_blob_read(blob, buf, (int)chunk, (int)l->off) != SQLITE_OK) {
                sqlite3_blob_close(blob);
                return sqlite_store_fail(s->db, err, "read the sealed ids' hashes");
            }
            for (int64_t i = 0; i < chunk; i += 4)
                bloom_add(b, (uint32_t)buf[i] | (uint32_t)buf[i + 1] << 8 |
                                 (uint32_t)buf[i + 2] << 16 | (uint32_t)buf[i + 3] << 24);
            l->off += chunk;
            got += chunk / 4;
        }
        sqlite3_blob_close(blob);
    }
    s->hashes_read += (uint64_t)got;
    return got;
}

/* Drops a filter being grown (bloom_grow_step). */
static void bloom_grow_stop(struct sqlite_store *s)
{
    if (s->bloom_next)
        free(s->bloom_next->bits);
    free(s->bloom_next);
    s->bloom_next = NULL;
    s->grow_slice = 0;
    hashes_free(s->grow_src);
    s->grow_src = NULL;
    s->grow_listed = false;
}

/* The filter is stored in the file (sluice_filter) by each seal, in the seal's transaction,
 * for the seal count it leaves (gen). A writer that opens the file, or sees another writer's
 * seal, reads it back instead of reading every stored id (3.8 s at 9M ids). Only a filter of
 * the current gen and format is used; any other means a scan. */
static int filter_save(struct sqlite_store *s, int64_t gen, struct sl_err *err)
{
    const struct sqlite_bloom *b = s->bloom;
    /* Past SQLite's largest value (1 GB by default: 8G bits, some 250M ids) it is not stored;
     * the one stored has an older gen and is not used. */
    if (b->nbits / 8 > (uint64_t)sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, -1))
        return 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO sluice_filter(tbl, gen, format, nbits, n, bits) "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &q, NULL) != SQLITE_OK)
        return sqlite_store_fail(s->db, err, "save the id filter");
    sqlite3_bind_text(q, 1, s->t->table, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, gen);
    sqlite3_bind_int(q, 3, FILTER_FORMAT);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)b->nbits);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)b->n);
    sqlite3_bind_blob64(q, 6, b->bits, b->nbits / 8, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : sqlite_store_fail(s->db, err, "save the id filter");
}

/* 1 if the stored filter of gen was read into s->bloom, 0 if there is none to use (or memory
 * is short), -1 on a read error. */
static int filter_load(struct sqlite_store *s, int64_t gen, struct sl_err *err)
{
    struct sqlite_bloom *b = s->bloom;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT rowid, nbits, n, length(bits) FROM sluice_filter WHERE tbl=?1 "
                           "AND gen=?2 AND format=?3",
                           -1, &q, NULL) != SQLITE_OK)
        return sqlite_store_fail(s->db, err, "read the id filter");
    sqlite3_bind_text(q, 1, s->t->table, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, gen);
    sqlite3_bind_int(q, 3, FILTER_FORMAT);
    int rc = sqlite3_step(q);
    int64_t rowid = 0, nbits = 0, n = 0, len = 0;
    if (rc == SQLITE_ROW) {
        rowid = sqlite3_column_int64(q, 0);
        nbits = sqlite3_column_int64(q, 1);
        n = sqlite3_column_int64(q, 2);
        len = sqlite3_column_int64(q, 3);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sqlite_store_fail(s->db, err, "read the id filter");
    /* a power of two from 2^16 to 2^40 bits, as many bytes as it says */
    if (rc != SQLITE_ROW || nbits < (1 << 16) || nbits > (1ll << 40) || (nbits & (nbits - 1)) ||
        len != nbits / 8 || n < 0)
        return 0;
    if (bloom_alloc(b, (uint64_t)nbits) != 0)
        return 0;
    sqlite3_blob *blob = NULL;
    if (sqlite3_blob_open(s->db, "main", "sluice_filter", "bits", rowid, 0, &blob) != SQLITE_OK)
        return sqlite_store_fail(s->db, err, "read the id filter");
    for (int64_t off = 0; off < len;) {
        int chunk = len - off > (1 << 26) ? 1 << 26 : (int)(len - off);
        if (sqlite3_blob_read(blob, (uint8_t *)b->bits + off, chunk, (int)off) != SQLITE_OK) {
            sqlite3_blob_close(blob);
            return sqlite_store_fail(s->db, err, "read the id filter");
        }
        off += chunk;
    }
    sqlite3_blob_close(blob);
    b->n = (uint64_t)n;
    b->cap_n = b->nbits / 8;
    return 1;
}

/* Builds the filter from the stored hashes of the sealed ids, else from the ids of the main
 * table and the runs (scans of their id indexes), sized for four times what they hold plus a
 * seal. Leaves it invalid (every id looked up) when memory is short. */
static int bloom_fill(struct sqlite_store *s, int64_t gen, struct sl_err *err)
{
    struct sqlite_bloom *b = s->bloom;
    b->ok = false;
    bloom_grow_stop(s);
    int got = filter_load(s, gen, err);
    if (got < 0)
        return -1;
    if (got > 0) {
        b->ok = true;
        b->gen = gen;
        s->bloom_loads++;
        return 0;
    }
    struct sqlite_hashes *l = NULL;
    if (hashes_list(s, gen, &l, err) != 0)
        return -1;
    if (l) { /* from the stored hashes (10x faster than the tables' ids at 9M) */
        int64_t nh = 0;
        for (int i = 0; i < l->n; i++)
            nh += l->len[i] / 4;
        int64_t fed = -2;
        if (bloom_size(b, 4 * (uint64_t)nh + (uint64_t)s->merge_rows) != 0)
            b->nomem = true;
        else
            fed = hashes_feed(s, l, b, INT64_MAX, err);
        hashes_free(l);
        if (fed == -1)
            return -1;
        if (fed >= 0) {
            b->ok = true;
            b->gen = gen;
            s->bloom_builds++;
        }
        return 0;
    }
    char sql[256], name[STORE_NAME_MAX + 32];
    sqlite3_stmt *q = NULL;
    int64_t nsealed = 0;
    for (int i = 0; i <= s->nruns; i++) {
        int64_t m = 0;
        sealed_name(s, i, name, sizeof(name));
        snprintf(sql, sizeof(sql), "SELECT coalesce(max(rowid), 0) FROM %s", name);
        if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK || step_int(q, &m) != 0) {
            sqlite3_finalize(q);
            return sqlite_store_fail(s->db, err, "table size");
        }
        sqlite3_finalize(q);
        q = NULL;
        nsealed += m;
    }
    if (bloom_size(b, 4 * (uint64_t)nsealed + (uint64_t)s->merge_rows) != 0) {
        b->nomem = true;
        return 0; /* no filter: correct, only slower */
    }
    if (bloom_scan(s, b, NULL, NULL, err) != 0)
        return -1;
    b->ok = true;
    b->gen = gen;
    s->bloom_builds++;
    return 0;
}

/* bloom_fill, timed (fill_us). */
static int bloom_build(struct sqlite_store *s, int64_t gen, struct sl_err *err)
{
    int64_t t0 = mono_us();
    int rc = bloom_fill(s, gen, err);
    s->fill_us += mono_us() - t0;
    return rc;
}

/* Slice k of n (a power of two, at most 65536) of the id space, as bounds: lo is NULL for the
 * first slice, hi for the last; between them, 4-hex-digit prefixes. Every string falls in
 * exactly one slice; hex ids (uuids) fall evenly. */
static void grow_bounds(int k, int n, char lo[8], char hi[8])
{
    int step = 65536 / n;
    snprintf(lo, 8, "%04x", (unsigned)(k * step));
    snprintf(hi, 8, "%04x", (unsigned)((k + 1) * step));
}

/* The filter is grown without stopping the writer (a rebuild in one go read 9M ids in 3.8 s,
 * in one batch). Once it holds half the ids it was sized for, a filter for four times as many
 * is started, and each batch adds slices of the ids sealed as of then to it: about
 * GROW_PER_ROW of them for each row the batch writes, in slices of about GROW_SLICE_IDS. They
 * come from the stored hashes (hashes_list), else from the tables, one range of the id space a
 * slice. Seals meanwhile add their ids to both filters. After the last slice the new filter
 * replaces the old one, which stays in use until then. Only the writer's own seals are followed
 * this way; another writer's seal makes it rebuild (delta_sync), as before. */
#define GROW_SLICE_IDS 16384
#define GROW_PER_ROW 2

static void bloom_grow_start(struct sqlite_store *s)
{
    struct sqlite_bloom *b = s->bloom;
    if (s->bloom_next || !b->ok || b->n <= b->cap_n / 2)
        return;
    struct sqlite_bloom *nb = calloc(1, sizeof(*nb));
    if (!nb || bloom_size(nb, 4 * b->n + (uint64_t)s->merge_rows) != 0) {
        if (nb)
            free(nb->bits);
        free(nb);
        return; /* the old filter stays; it is rebuilt if it overflows */
    }
    int slices = 1;
    while (slices < 65536 && (uint64_t)slices * GROW_SLICE_IDS < b->n)
        slices <<= 1;
    s->bloom_next = nb;
    s->grow_slices = slices;
    s->grow_slice = 0;
    s->grow_budget = 0;
    s->grow_gen = b->gen;
    s->grow_listed = false;
}

/* The slices of a growing filter that a batch of nw rows pays for, and the swap after the
 * last. In a write transaction. */
static int bloom_grow_fill(struct sqlite_store *s, long nw, struct sl_err *err)
{
    struct sqlite_bloom *nb = s->bloom_next, *b = s->bloom;
    s->grow_budget += (int64_t)nw * GROW_PER_ROW;
    if (!s->grow_listed) {
        if (hashes_list(s, s->grow_gen, &s->grow_src, err) != 0)
            return -1;
        s->grow_listed = true;
    }
    struct sqlite_hashes *l = s->grow_src;
    if (l) {
        while (s->grow_budget > 0 && !hashes_done(l)) {
            int64_t got = hashes_feed(s, l, nb, GROW_SLICE_IDS, err);
            if (got < 0)
                return -1;
            s->grow_budget -= got + 1;
        }
        if (!hashes_done(l))
            return 0;
    } else {
        while (s->grow_budget > 0 && s->grow_slice < s->grow_slices) {
            char lo[8], hi[8];
            int k = s->grow_slice, n = s->grow_slices;
            uint64_t before = nb->n;
            grow_bounds(k, n, lo, hi);
            if (bloom_scan(s, nb, k > 0 ? lo : NULL, k < n - 1 ? hi : NULL, err) != 0)
                return -1;
            s->grow_budget -= (int64_t)(nb->n - before) + 1;
            s->grow_slice++;
        }
        if (s->grow_slice < s->grow_slices)
            return 0;
    }
    free(b->bits);
    b->bits = nb->bits;
    b->nbits = nb->nbits;
    b->n = nb->n;
    b->cap_n = nb->cap_n;
    nb->bits = NULL; /* now b's */
    bloom_grow_stop(s);
    s->bloom_grows++;
    return 0;
}

static int bloom_grow_step(struct sqlite_store *s, long nw, struct sl_err *err)
{
    if (!s->bloom_next)
        return 0;
    int64_t t0 = mono_us();
    int rc = bloom_grow_fill(s, nw, err);
    s->fill_us += mono_us() - t0;
    return rc;
}

/* The rowid of key in the delta, 0 if it is not there, -1 on error. Equal hashes are checked
 * against the stored id. */
static int64_t delta_find(struct sqlite_store *s, const char *key, uint32_t len, uint32_t h)
{
    struct sqlite_idmap *m = s->map;
    if (m->cap == 0)
        return 0;
    for (size_t j = (size_t)h & (m->cap - 1); m->rid[j]; j = (j + 1) & (m->cap - 1)) {
        if (m->h[j] != h)
            continue;
        sqlite3_stmt *q = s->delta_id;
        sqlite3_bind_int64(q, 1, m->rid[j]);
        int rc = sqlite3_step(q);
        bool same = rc == SQLITE_ROW && (uint32_t)sqlite3_column_bytes(q, 0) == len &&
                    memcmp(sqlite3_column_blob(q, 0), key, len) == 0;
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return -1;
        if (same)
            return m->rid[j];
    }
    return 0;
}

static void runs_free_stmts(struct sqlite_store *s)
{
    for (int i = 0; i < s->nruns; i++)
        sqlite3_finalize(s->run_upd[i]);
    if (s->run_upd)
        memset(s->run_upd, 0, (size_t)s->nruns * sizeof(*s->run_upd));
}

/* Reads the list of sealed runs (another writer may have sealed or dropped one). */
static int runs_load(struct sqlite_store *s, struct sl_err *err)
{
    runs_free_stmts(s);
    s->nruns = 0;
    s->runs_ok = false;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT run FROM sluice_runs WHERE tbl='%s' ORDER BY run",
             s->t->table);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sqlite_store_fail(s->db, err, "list the runs");
    int rc, cap = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (s->nruns == cap) {
            int nc = cap ? cap * 2 : 32;
            int64_t *r = realloc(s->runs, (size_t)nc * sizeof(*r));
            sqlite3_stmt **u = r ? realloc(s->run_upd, (size_t)nc * sizeof(*u)) : NULL;
            if (r)
                s->runs = r;
            if (!u) {
                sqlite3_finalize(q);
                return sl_err_set(err, "out of memory");
            }
            s->run_upd = u;
            cap = nc;
        }
        s->run_upd[s->nruns] = NULL;
        s->runs[s->nruns++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sqlite_store_fail(s->db, err, "list the runs");
    snprintf(sql, sizeof(sql), "SELECT coalesce(max(run), 0) FROM sluice_build WHERE tbl='%s'",
             s->t->table);
    if (sql_int(s->db, sql, &s->build_run) != 0)
        return sqlite_store_fail(s->db, err, "read the seal by copy");
    s->runs_ok = true;
    return 0;
}

static int pmap_sync(struct sqlite_store *s, struct sl_err *err);

/* Makes s->map match the delta. Nothing to do unless another connection has committed since
 * (data_version) or the map is not valid; then the rows appended since are read, or all of
 * them after a seal by another writer (and the run list again). In a write transaction. */
static int delta_sync(struct sqlite_store *s, struct sl_err *err)
{
    int64_t ver, gen;
    if (!s->bloom && !(s->bloom = calloc(1, sizeof(*s->bloom))))
        return sl_err_set(err, "out of memory");
    if (step_int(s->data_ver, &ver) != 0)
        return sqlite_store_fail(s->db, err, "data_version");
    if (s->map_ok && s->runs_ok && ver == s->seen_ver) {
        if (s->bloom->ok || s->bloom->nomem)
            return 0;
        return bloom_build(s, s->map_gen, err);
    }
    if (runs_load(s, err) != 0 || pmap_sync(s, err) != 0)
        return -1;
    if (step_int(s->get_gen, &gen) != 0)
        return sqlite_store_fail(s->db, err, "merge count");
    if (!s->map && !(s->map = calloc(1, sizeof(*s->map))))
        return sl_err_set(err, "out of memory");
    if (!s->map_ok || gen != s->map_gen) {
        if (s->map->cap)
            idmap_clear(s->map);
        s->map_max = 0;
        s->live = 0;
        s->map_builds++;
    }
    sqlite3_stmt *q = s->delta_from;
    sqlite3_bind_int64(q, 1, s->map_max);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t rid = sqlite3_column_int64(q, 0);
        if (idmap_add(s->map,
                      id_hash((const char *)sqlite3_column_blob(q, 1),
                              (uint32_t)sqlite3_column_bytes(q, 1)),
                      rid) != 0) {
            sqlite3_reset(q);
            s->map_ok = false;
            return sl_err_set(err, "out of memory");
        }
        if (rid > s->map_max)
            s->map_max = rid;
        s->live++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        s->map_ok = false;
        return sqlite_store_fail(s->db, err, "read the delta");
    }
    s->map_ok = true;
    s->seen_ver = ver;
    s->map_gen = gen;
    /* The one seal since the filter's was another writer's by copy: its ids came in with the
     * map of the run being built (pmap_sync), so the filter holds every sealed id. */
    if (s->bloom->ok && s->bloom->gen == gen - 1 && s->build_run == gen && s->pmap &&
        s->pmap_run == gen)
        s->bloom->gen = gen;
    if (!s->bloom->nomem && (!s->bloom->ok || s->bloom->gen != gen))
        return bloom_build(s, gen, err);
    return 0;
}

/* Slice k of n of the id space, as a WHERE clause: 16 slices split at the first character
 * 1..9, a..f (hex ids); 1 slice is everything. Other keys are correct too, only unevenly
 * split. */
static void slice_where(int k, int n, const char *key, char *out, size_t size)
{
    static const char *const bounds[] = {"1", "2", "3", "4", "5", "6", "7", "8",
                                         "9", "a", "b", "c", "d", "e", "f"};
    int m = snprintf(out, size, "WHERE true");
    if (n > 1 && k > 0)
        m += snprintf(out + m, size - (size_t)m, " AND %s >= '%s'", key, bounds[k - 1]);
    if (n > 1 && k < n - 1)
        snprintf(out + m, size - (size_t)m, " AND %s < '%s'", key, bounds[k]);
}

/* Sealing by copy (seal=copy, or auto for a batch of at most SEAL_COPY_MAX_BATCH rows). An
 * index seal stops the writer for the whole index build (~0.8 s at 1M rows on this machine's
 * disk, more with the filter): records that arrive meanwhile wait that long. A seal by copy
 * renames T_delta to T_p<n> (it keeps its (g, id) index) and creates the run T_r<n> empty,
 * with its id index; sluice_build(tbl, run, lo) says that ids below lo are in T_r<n> and the
 * others in T_p<n>. After batches, steps fill T_r<n> from T_p<n> in id order, one range of ids
 * (between bounds sampled from the ids, build_bounds) at a time, so its table and index only grow
 * at their right edge; lo is NULL once all are copied, and later steps delete T_p<n>'s rows in
 * rowid order, then drop it. Each step is a transaction of about copy_rows rows; batches pay for
 * BUILD_PER_ROW rows of steps per row they write, so a run is built well before the next
 * seal. The view shows T_p<n>'s rows at or above lo. The writer finds ids in T_p<n> through
 * the sealed delta's map (pmap), kept until the copy ends; its hashes go into the filter a
 * part at each step, all of them by the end. A new seal waits for the build to end (finishing
 * it at once), and so does a move of the run. */
#define BUILD_PER_ROW 4

/* Adds pmap's slots [pmap_fed, upto) to the filters. */
static void pmap_feed(struct sqlite_store *s, size_t upto)
{
    struct sqlite_idmap *m = s->pmap;
    if (!m)
        return;
    if (upto > m->cap)
        upto = m->cap;
    for (size_t i = s->pmap_fed; i < upto; i++) {
        if (!m->rid[i])
            continue;
        if (s->bloom && s->bloom->ok)
            bloom_add(s->bloom, m->h[i]);
        if (s->bloom_next)
            bloom_add(s->bloom_next, m->h[i]);
    }
    if (upto > s->pmap_fed)
        s->pmap_fed = upto;
}

/* The copy's ids are all in the run (or the filter was rebuilt from the tables): the map of
 * T_p<n> goes, after its ids are in the filter. */
static void pmap_retire(struct sqlite_store *s)
{
    if (!s->pmap)
        return;
    pmap_feed(s, s->pmap->cap);
    idmap_free(s->pmap);
    s->pmap = NULL;
    s->pmap_run = 0;
    s->pmap_fed = 0;
    sqlite3_finalize(s->p_upd);
    s->p_upd = NULL;
}

/* The copy's lower bound into lo (size >= 64): 1 while ids are copied, 0 once all are (lo
 * NULL), -1 on error. */
static int build_lo(struct sqlite_store *s, char *lo, size_t size, struct sl_err *err)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT lo FROM sluice_build WHERE tbl='%s'", s->t->table);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sqlite_store_fail(s->db, err, "read the seal by copy");
    int rc = sqlite3_step(q), ret = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
        const char *v = (const char *)sqlite3_column_text(q, 0);
        if (strlen(v) >= size)
            ret = sl_err_set(err, "sqlite: seal by copy: bad bound");
        else
            snprintf(lo, size, "%s", v);
        ret = ret < 0 ? -1 : 1;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ret = sqlite_store_fail(s->db, err, "read the seal by copy");
    }
    sqlite3_finalize(q);
    return ret;
}

/* Makes pmap match the run being built (read from T_p<n> when this writer did not seal it:
 * its ids then go into the filter at once). In a write transaction, after runs_load. */
static int pmap_sync(struct sqlite_store *s, struct sl_err *err)
{
    char lo[BOUND_MAX + 8];
    int copying = s->build_run ? build_lo(s, lo, sizeof(lo), err) : 0;
    if (copying < 0)
        return -1;
    if (s->pmap && (s->pmap_run != s->build_run || !copying))
        pmap_retire(s);
    if (!copying || s->pmap)
        return 0;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT rowid, %s FROM %s_p%lld", s->t->cols[s->t->key_col],
             s->t->table, (long long)s->build_run);
    sqlite3_stmt *q = NULL;
    struct sqlite_idmap *m = calloc(1, sizeof(*m));
    if (!m)
        return sl_err_set(err, "out of memory");
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        idmap_free(m);
        return sqlite_store_fail(s->db, err, "read the run being copied");
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (idmap_add(m,
                      id_hash((const char *)sqlite3_column_blob(q, 1),
                              (uint32_t)sqlite3_column_bytes(q, 1)),
                      sqlite3_column_int64(q, 0)) != 0) {
            sqlite3_finalize(q);
            idmap_free(m);
            return sl_err_set(err, "out of memory");
        }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        idmap_free(m);
        return sqlite_store_fail(s->db, err, "read the run being copied");
    }
    s->pmap = m;
    s->pmap_run = s->build_run;
    s->pmap_fed = 0;
    pmap_feed(s, m->cap);
    return 0;
}

/* Updates r's row where it is in the run being copied, found through pmap: 1 if updated, 0
 * if not there (hint: pmap has the hash; the id may have been copied into the run), -1 on
 * error. */
static int pmap_update(struct sqlite_store *s, const struct store_row *r, uint32_t h, bool *hint,
                       struct sl_err *err)
{
    struct sqlite_idmap *m = s->pmap;
    const struct store_table *t = s->t;
    *hint = false;
    if (!m || m->cap == 0)
        return 0;
    for (size_t j = (size_t)h & (m->cap - 1); m->rid[j]; j = (j + 1) & (m->cap - 1)) {
        if (m->h[j] != h)
            continue;
        *hint = true;
        if (!s->p_upd) {
            char sql[SQL_MAX];
            int n = snprintf(sql, sizeof(sql), "UPDATE %s_p%lld SET ", t->table,
                             (long long)s->pmap_run);
            set_list(t, sql, &n);
            n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                          " WHERE rowid=?%d AND %s=?%d AND %s >= (SELECT lo FROM sluice_build "
                          "WHERE tbl='%s')",
                          t->ncols + 1, t->cols[t->key_col], t->key_col + 1, t->cols[t->key_col],
                          t->table);
            if (n >= (int)sizeof(sql))
                return sl_err_set(err, "sqlite: statement too long");
            if (prepare(s->db, sql, &s->p_upd, err) != 0)
                return -1;
        }
        for (int c = 0; c < t->ncols; c++)
            sqlite3_bind_text(s->p_upd, c + 1, r->col[c], (int)r->len[c], SQLITE_STATIC);
        sqlite3_bind_int64(s->p_upd, t->ncols + 1, m->rid[j]);
        int rc = sqlite3_step(s->p_upd);
        sqlite3_reset(s->p_upd);
        if (rc != SQLITE_DONE)
            return sqlite_store_fail(s->db, err, "update");
        if (sqlite3_changes(s->db) > 0)
            return 1;
    }
    return 0;
}

/* Ends a seal or a move that failed: the file is as it was; the map and the run list are
 * read again at the next batch. */
static int layout_abort(struct sqlite_store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->map_ok = false;
    s->runs_ok = false;
    return -1;
}

static int layout_commit(struct sqlite_store *s, struct sl_err *err)
{
    return exec(s->db, "COMMIT", err) == 0 ? 0 : layout_abort(s);
}

static int bound_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void bounds_reset(struct sqlite_store *s)
{
    free(s->bounds);
    s->bounds = NULL;
    s->nbounds = 0;
    s->bounds_run = 0;
    s->smp = (struct bound_sampling){0};
}

/* The copy's range bounds for run: ids sampled from T_p<run> through its (g, id) index, in
 * every group of 4096 rows, so that consecutive bounds hold about copy_rows rows between them
 * whatever the ids look like (random uuids, upper case, time-ordered ones: each group then
 * holds its own range of ids). Each group is read in id order and BOUND_OVERSAMPLE times as
 * many ids are taken from it as there will be bounds; once all groups are read, the samples
 * are sorted, repeats dropped, and evenly spaced ones kept, one for every range but the
 * last. (Taking only the bounds needed, a couple an ordinary group, left gaps as uneven as
 * random points: a step of 14,179 rows at copy_rows=2048.) The reading is spread over steps:
 * each reads groups until about 32 copy_rows of index entries (1M entries at 1M rows in all).
 * 0 when the bounds are ready (bounds_run = run), 1 when groups are left to read, -1 on an
 * error. */
static int build_bounds(struct sqlite_store *s, int64_t run, struct sl_err *err)
{
    const struct store_table *t = s->t;
    char sql[512];
    struct bound_sampling *m = &s->smp;
    if (m->run != run) { /* a new sampling: the table's size and groups */
        bounds_reset(s);
        int64_t gmin = 0, gmax = 0, rows = 0;
        snprintf(sql, sizeof(sql), "SELECT coalesce(max(rowid), 0) FROM %s_p%lld", t->table,
                 (long long)run);
        if (sql_int(s->db, sql, &rows) != 0)
            return sqlite_store_fail(s->db, err, "seal by copy");
        snprintf(sql, sizeof(sql), "SELECT coalesce(min(sluice_g), 0) FROM %s_p%lld", t->table,
                 (long long)run);
        if (sql_int(s->db, sql, &gmin) != 0)
            return sqlite_store_fail(s->db, err, "seal by copy");
        snprintf(sql, sizeof(sql), "SELECT coalesce(max(sluice_g), 0) FROM %s_p%lld", t->table,
                 (long long)run);
        if (sql_int(s->db, sql, &gmax) != 0)
            return sqlite_store_fail(s->db, err, "seal by copy");
        int64_t groups = gmax - gmin + 1, want = rows / s->copy_rows;
        if (want > 65536 / BOUND_OVERSAMPLE)
            want = 65536 / BOUND_OVERSAMPLE;
        if (want <= 0 || groups <= 0) {
            s->bounds_run = run; /* one range: everything (not sampled again at each step) */
            return 0;
        }
        int64_t k = (want + groups - 1) / groups * BOUND_OVERSAMPLE;
        if (k > 4096)
            k = 4096;
        if (!(s->bounds = malloc((size_t)(groups * k) * sizeof(*s->bounds))))
            return sl_err_set(err, "out of memory");
        *m = (struct bound_sampling){
            .run = run, .g = gmin, .gmin = gmin, .gmax = gmax, .rows = rows, .k = k, .want = want};
    }
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s_p%lld WHERE sluice_g=?1 ORDER BY %s",
             t->cols[t->key_col], t->table, (long long)run, t->cols[t->key_col]);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sqlite_store_fail(s->db, err, "seal by copy");
    int rc = SQLITE_DONE;
    for (int64_t read = 0; m->g <= m->gmax && read < s->copy_rows * 32; m->g++) {
        /* group g holds about the rowids [4096 g, 4096 (g + 1)) of 1..rows */
        int64_t g = m->g, from = g * 4096 > 1 ? g * 4096 : 1,
                to = (g + 1) * 4096 < m->rows + 1 ? (g + 1) * 4096 : m->rows + 1;
        double size = (double)(to > from ? to - from : 1), k = (double)m->k;
        /* offsets staggered from group to group (golden-ratio steps): random ids give every
         * group the same distribution, so the same offsets everywhere would sample the same
         * quantiles over and over */
        double u = (double)(g - m->gmin) * 0.6180339887498949;
        u -= (double)(int64_t)u;
        int64_t i = 0, j = 0, next = (int64_t)(u * size / k);
        sqlite3_bind_int64(q, 1, g);
        while (i < m->k && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            if (j == next) {
                const char *v = (const char *)sqlite3_column_text(q, 0);
                snprintf(s->bounds[m->n++], BOUND_MAX, "%s", v ? v : "");
                while (i < m->k && next <= j)
                    next = (int64_t)(((double)++i + u) * size / k);
            }
            j++;
        }
        read += j;
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            break;
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sqlite_store_fail(s->db, err, "seal by copy");
    if (m->g <= m->gmax)
        return 1;
    qsort(s->bounds, (size_t)m->n, sizeof(*s->bounds), bound_cmp);
    int n = 0, kept = 0;
    for (int i = 0; i < m->n; i++) {
        if (!s->bounds[i][0] || (n > 0 && strcmp(s->bounds[i], s->bounds[n - 1]) == 0))
            continue;
        memmove(s->bounds[n++], s->bounds[i], BOUND_MAX);
    }
    /* want ranges: want - 1 bounds, evenly spaced among the samples (a small table has fewer
     * distinct ids than samples) */
    for (int64_t j = 1; j < m->want; j++) {
        int64_t i = n > m->want ? j * n / m->want : j - 1;
        if (i >= n)
            break;
        if (i != kept)
            memmove(s->bounds[kept], s->bounds[i], BOUND_MAX);
        kept++;
    }
    *m = (struct bound_sampling){0};
    s->nbounds = kept;
    s->bounds_run = run;
    return 0;
}

/* One step of the run being built by copy (see "Sealing by copy"), in its own transaction:
 * the next range of ids copied into T_r<n>, or, once all are, up to copy_rows rows of
 * T_p<n> deleted (and T_p<n> dropped when empty, which ends the build). The rows it copied or
 * deleted, or -1 (the file is as it was). */
static int64_t build_step(struct sqlite_store *s, struct sl_err *err)
{
    const struct store_table *t = s->t;
    const char *key = t->cols[t->key_col];
    char sql[SQL_MAX], lo[BOUND_MAX + 8];
    bool last = false;
    if (exec(s->db, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    if (delta_sync(s, err) != 0)
        return layout_abort(s);
    if (!s->build_run) { /* another writer ended it */
        pmap_retire(s);
        return layout_commit(s, err);
    }
    long long run = (long long)s->build_run;
    int copying = build_lo(s, lo, sizeof(lo), err);
    if (copying < 0)
        return layout_abort(s);
    int64_t done = 0;
    size_t feed_to = 0;
    if (copying) {
        if (s->bounds_run != s->build_run) {
            int more = build_bounds(s, s->build_run, err);
            if (more < 0)
                return layout_abort(s);
            if (more) /* this step read groups for the bounds; it costs what a copy does */
                return layout_commit(s, err) == 0 ? s->copy_rows : -1;
        }
        int a = 0, b = s->nbounds; /* the first bound above lo; none: the last range */
        while (a < b) {
            int m = a + (b - a) / 2;
            if (strcmp(s->bounds[m], lo) > 0)
                b = m;
            else
                a = m + 1;
        }
        const char *hi = a < s->nbounds ? s->bounds[a] : NULL;
        last = !hi;
        int n = snprintf(sql, sizeof(sql), "INSERT INTO %s_r%lld(", t->table, run);
        col_list(t, sql, &n, "");
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, ",sluice_g) SELECT ");
        col_list(t, sql, &n, "");
        n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                      ",sluice_g FROM %s_p%lld WHERE %s >= ?1%s%s%s ORDER BY %s", t->table, run,
                      key, hi ? " AND " : "", hi ? key : "", hi ? " < ?2" : "", key);
        if (n >= (int)sizeof(sql)) {
            sl_err_set(err, "sqlite: copy statement too long");
            return layout_abort(s);
        }
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
            sqlite_store_fail(s->db, err, "seal by copy");
            return layout_abort(s);
        }
        sqlite3_bind_text(q, 1, lo, -1, SQLITE_STATIC);
        if (hi)
            sqlite3_bind_text(q, 2, hi, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE) {
            sqlite_store_fail(s->db, err, "seal by copy");
            return layout_abort(s);
        }
        done = sqlite3_changes(s->db);
        snprintf(sql, sizeof(sql), "UPDATE sluice_build SET lo=?1 WHERE tbl='%s'", t->table);
        q = NULL;
        if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
            sqlite_store_fail(s->db, err, "seal by copy");
            return layout_abort(s);
        }
        if (hi)
            sqlite3_bind_text(q, 1, hi, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(q, 1);
        rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE) {
            sqlite_store_fail(s->db, err, "seal by copy");
            return layout_abort(s);
        }
        if (done > s->copy_step_max)
            s->copy_step_max = done;
        if (s->pmap && s->pmap_run == s->build_run)
            feed_to =
                hi ? (size_t)((double)s->pmap->cap * (a + 1) / (s->nbounds + 1)) : s->pmap->cap;
    } else {
        snprintf(sql, sizeof(sql),
                 "DELETE FROM %s_p%lld WHERE rowid < (SELECT min(rowid) FROM %s_p%lld) + %lld",
                 t->table, run, t->table, run, (long long)s->copy_rows);
        if (exec(s->db, sql, err) != 0)
            return layout_abort(s);
        done = sqlite3_changes(s->db);
        int64_t left = 0;
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM %s_p%lld LIMIT 1)",
                 t->table, run);
        if (sql_int(s->db, sql, &left) != 0) {
            sqlite_store_fail(s->db, err, "seal by copy");
            return layout_abort(s);
        }
        if (left == 0) {
            pmap_retire(s); /* its statement names the table */
            snprintf(sql, sizeof(sql),
                     "DROP VIEW IF EXISTS %s; DROP TABLE %s_p%lld; DELETE FROM sluice_build "
                     "WHERE tbl='%s'",
                     t->table, t->table, run, t->table);
            if (exec(s->db, sql, err) != 0 || runs_load(s, err) != 0 ||
                create_view(s, true, err) != 0)
                return layout_abort(s);
        }
    }
    if (exec(s->db, "COMMIT", err) != 0)
        return layout_abort(s);
    s->copy_steps++;
    if (copying && s->pmap) {
        pmap_feed(s, feed_to);
        if (last)
            pmap_retire(s); /* every id is in the run now */
    }
    if (!s->build_run || (copying && last))
        bounds_reset(s);
    return done;
}

/* Ends the build in progress at once (before a seal, or at a move of its run). */
static int build_finish(struct sqlite_store *s, struct sl_err *err)
{
    for (int i = 0; s->build_run && i < (1 << 24); i++) {
        if (build_step(s, err) < 0)
            return -1;
    }
    return 0;
}

/* Seals the delta once it holds merge_rows rows, in one transaction. An index seal: T_delta
 * is renamed to the run T_r<n> (n = the merge count after this one, so never reused), its
 * (g, id) index is replaced by an index on id, built in one sorted pass, and an empty T_delta
 * takes its place. The rows are not copied. The ids' hashes are stored (hashes_save) and go
 * into the filter (from the map: no table read), which is stored with the seal. A seal by copy
 * (by_copy): T_delta is renamed to T_p<n> instead, T_r<n> is created empty and build_step fills it
 * later (see "Sealing by copy"). A failure leaves the file as it was. */
static int delta_seal(struct sqlite_store *s, bool by_copy, struct sl_err *err)
{
    const struct store_table *t = s->t;
    const char *key = t->cols[t->key_col];
    char sql[SQL_MAX], idx[STORE_NAME_MAX + 64];
    if (exec(s->db, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    int64_t gen = 0;
    if (delta_sync(s, err) != 0)
        goto fail;
    /* another writer sealed it first, or is building a run (ended before a seal) */
    if (s->live < s->merge_rows || s->build_run)
        return layout_commit(s, err);
    if (step_int(s->get_gen, &gen) != 0) {
        sqlite_store_fail(s->db, err, "merge count");
        goto fail;
    }
    if (table_index(s, s->tdelta, idx, sizeof(idx), err) != 0) {
        sl_err_set(err, "sqlite: the delta has no index");
        goto fail;
    }
    int64_t run = gen + 1;
    if (hashes_save(s, run, s->map, err) != 0)
        goto fail;
    int n;
    if (by_copy) {
        n = snprintf(sql, sizeof(sql),
                     "DROP VIEW IF EXISTS %s; ALTER TABLE %s RENAME TO %s_p%lld; DELETE FROM "
                     "sqlite_stat1 WHERE tbl='%s_p%lld'; INSERT INTO sqlite_stat1(tbl, idx, stat) "
                     "VALUES('%s_p%lld', '%s', '1000000 4096 1'); INSERT INTO sluice_build(tbl, "
                     "run, lo) VALUES('%s', %lld, ''); ",
                     t->table, s->tdelta, t->table, (long long)run, t->table, (long long)run,
                     t->table, (long long)run, idx, t->table, (long long)run);
        char rname[STORE_NAME_MAX + 32];
        snprintf(rname, sizeof(rname), "%s_r%lld", t->table, (long long)run);
        if (n < (int)sizeof(sql) && delta_ddl(s, rname, sql + n, sizeof(sql) - (size_t)n, err) != 0)
            goto fail;
        n += (int)strlen(sql + n);
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "; CREATE INDEX %s_%s ON %s(%s)", rname,
                      key, rname, key);
    } else {
        n = snprintf(sql, sizeof(sql),
                     "DROP VIEW IF EXISTS %s; ALTER TABLE %s RENAME TO %s_r%lld; DROP INDEX %s; "
                     "CREATE INDEX %s_r%lld_%s ON %s_r%lld(%s)",
                     t->table, s->tdelta, t->table, (long long)run, idx, t->table, (long long)run,
                     key, t->table, (long long)run, key);
    }
    if (n < (int)sizeof(sql))
        n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                      "; INSERT INTO sluice_runs(tbl, run) VALUES('%s', %lld); UPDATE "
                      "sluice_merges SET merges=merges+1 WHERE tbl='%s'",
                      t->table, (long long)run, t->table);
    if (n >= (int)sizeof(sql)) {
        sl_err_set(err, "sqlite: seal statement too long");
        goto fail;
    }
    if (exec(s->db, sql, err) != 0 || create_delta(s, run, err) != 0 || runs_load(s, err) != 0 ||
        create_view(s, true, err) != 0)
        goto fail;
    if (by_copy) {
        /* The delta's map becomes the run's (pmap); the filter gets its ids step by step. */
        struct sqlite_idmap *fresh = calloc(1, sizeof(*fresh));
        if (!fresh) {
            sl_err_set(err, "out of memory");
            goto fail;
        }
        if (exec(s->db, "COMMIT", err) != 0) {
            free(fresh);
            goto fail;
        }
        pmap_retire(s);
        s->pmap = s->map;
        s->pmap_run = run;
        s->pmap_fed = 0;
        s->map = fresh;
        if (s->bloom->ok && s->bloom->gen == s->map_gen)
            s->bloom->gen = s->map_gen + 1;
        s->live = 0;
        s->map_max = 0;
        s->map_gen++;
        s->merges++;
        s->copy_seals++;
        s->build_budget = 0;
        return 0;
    }
    struct sqlite_bloom *b = s->bloom;
    struct sqlite_idmap *m = s->map;
    /* The sealed ids go into the filter before the commit, so that the filter stored with the
     * seal holds them (should the commit fail, the filter has ids that are not sealed: only a
     * few lookups more). A filter past twice its planned load (its replacement not ready) is
     * rebuilt instead, at the next batch. */
    bool keep = b->ok && b->gen == s->map_gen && b->n + m->n <= 2 * b->cap_n;
    if (keep) {
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->rid[i])
                continue;
            bloom_add(b, m->h[i]);
            if (s->bloom_next)
                bloom_add(s->bloom_next, m->h[i]);
        }
        if (filter_save(s, run, err) != 0)
            goto fail;
    }
    if (exec(s->db, "COMMIT", err) != 0)
        goto fail;
    if (keep) {
        b->gen = s->map_gen + 1;
    } else {
        b->ok = false;
        bloom_grow_stop(s);
    }
    idmap_clear(m);
    s->live = 0;
    s->map_max = 0;
    s->map_gen++;
    s->merges++;
    return 0;
fail:
    return layout_abort(s);
}

/* The next slice (s->slice) of the oldest run, moved into the main table in id order (a range
 * of the run's id index: no sort), in its own transaction; after the last slice the run is
 * dropped if it is empty (another writer may have moved part of it meanwhile; then its slices
 * start again). Only while there are more than max_runs runs: each run costs a probe per point
 * lookup and per update of an older id, and the main table's id index is written once for
 * many rows. What the view shows does not change; a failure leaves the tables as they were. */
static int run_move(struct sqlite_store *s, int nslices, struct sl_err *err)
{
    const struct store_table *t = s->t;
    const char *key = t->cols[t->key_col];
    char sql[SQL_MAX], where[128], src[STORE_NAME_MAX + 32];
    if (exec(s->db, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    if (delta_sync(s, err) != 0)
        goto fail;
    /* another writer moved it; or it is being built by copy (the move waits for the build) */
    if (s->nruns <= s->max_runs || (s->build_run && s->runs[0] == s->build_run)) {
        s->slice = 0;
        return layout_commit(s, err);
    }
    int64_t run = s->runs[0];
    if (s->slice == 0 || s->slice_run != run) {
        s->slice = 1;
        s->slice_run = run;
    }
    int k = s->slice - 1;
    sealed_name(s, 1, src, sizeof(src));
    slice_where(k, nslices, key, where, sizeof(where));
    int n = snprintf(sql, sizeof(sql), "INSERT INTO %s(", s->tmain);
    col_list(t, sql, &n, "");
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, ") SELECT ");
    col_list(t, sql, &n, "");
    /* The tables never share an id; the upsert only makes sure the newer version wins if
     * they ever did. (A WHERE is needed before ON CONFLICT.) */
    n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                  " FROM %s %s ORDER BY %s ON CONFLICT(%s) DO UPDATE SET ", src, where, key, key);
    excluded_list(t, sql, &n);
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, "; DELETE FROM %s %s", src, where);
    if (n >= (int)sizeof(sql)) {
        sl_err_set(err, "sqlite: move statement too long");
        goto fail;
    }
    if (exec(s->db, sql, err) != 0)
        goto fail;
    bool last = k == nslices - 1, empty = false;
    if (last) {
        sqlite3_stmt *q = NULL;
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1)", src);
        int64_t left = 1;
        if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK || step_int(q, &left) != 0) {
            sqlite3_finalize(q);
            sqlite_store_fail(s->db, err, "move");
            goto fail;
        }
        sqlite3_finalize(q);
        empty = left == 0;
    }
    if (empty) {
        snprintf(sql, sizeof(sql),
                 "DROP VIEW IF EXISTS %s; DROP TABLE %s; DELETE FROM sluice_runs WHERE tbl='%s' "
                 "AND run=%lld",
                 t->table, src, t->table, (long long)run);
        if (exec(s->db, sql, err) != 0 || runs_load(s, err) != 0 || create_view(s, true, err) != 0)
            goto fail;
    }
    if (exec(s->db, "COMMIT", err) != 0)
        goto fail;
    s->slice = last ? 0 : k + 2;
    return 0;
fail:
    return layout_abort(s);
}

int store_sqlite_stats(const struct store *st, struct store_sqlite_stats *out)
{
    if (!st || st->ops != &sqlite_store_ops)
        return -1;
    const struct sqlite_store *s = (const struct sqlite_store *)st;
    out->seals = s->merges;
    out->filter_builds = s->bloom_builds;
    out->filter_grows = s->bloom_grows;
    out->filter_loads = s->bloom_loads;
    out->copy_seals = s->copy_seals;
    out->copy_steps = s->copy_steps;
    out->copy_step_max = (uint64_t)s->copy_step_max;
    out->tend_steps = s->tend_steps;
    out->ids_scanned = s->ids_scanned;
    out->hashes_read = s->hashes_read;
    out->filter_fill_us = (uint64_t)s->fill_us;
    return 0;
}

/* Stores the filter when it holds every sealed id of the file's seal count and no filter of
 * that count is stored yet (after a seal by copy, which does not store it), so that the next
 * writer reads it back instead of reading every stored id. Done at close and by an idle job
 * (sqlite_store_tend), once per seal count; nothing on any doubt. */
static void filter_save_missing(struct sqlite_store *s)
{
    struct sl_err e;
    if (!s->delta || !s->put_off || !s->bloom || !s->bloom->ok || !s->map_ok || !s->runs_ok ||
        s->bloom->gen == s->filter_checked_gen)
        return;
    if (s->pmap)
        pmap_feed(s, s->pmap->cap);
    if (exec(s->db, "BEGIN IMMEDIATE", &e) != 0)
        return;
    int64_t ver = -1, gen = -1, have = 1;
    sqlite3_stmt *q = NULL;
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM sluice_filter WHERE tbl='%s' AND gen=?1 AND format=%d",
             s->t->table, FILTER_FORMAT);
    if (step_int(s->data_ver, &ver) == 0 && ver == s->seen_ver && step_int(s->get_gen, &gen) == 0 &&
        gen == s->map_gen && s->bloom->gen == gen &&
        sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, gen);
        if (step_int(q, &have) != 0)
            have = 1;
        else if (have > 0)
            s->filter_checked_gen = gen;
    }
    sqlite3_finalize(q);
    if (have == 0 && filter_save(s, gen, &e) == 0 && exec(s->db, "COMMIT", &e) == 0) {
        s->filter_checked_gen = gen;
        return;
    }
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Whether a run move is under way or due (more runs than max_runs), as the layout was last
 * read: each batch, and an idle job's tend, then move a slice. */
static bool move_due(const struct sqlite_store *s)
{
    return s->runs_ok && (s->slice > 0 || s->nruns > s->max_runs);
}

/* ops->tend: one step of a build by copy, or one slice of a run move, the work that batches
 * pay for after their commit (sqlite_store_write_batch) when no batch comes: without it a
 * build stopped where the last batch left it, with its old table kept, until traffic came
 * back. A step is what a batch pays for at a time (copy_rows rows, or a slice). */
static int sqlite_store_tend(struct store *st, struct sl_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    if (!s->delta || !s->map)
        return 0;
    if (s->build_run) {
        if (build_step(s, err) < 0)
            return -1;
        s->tend_steps++;
    } else if (move_due(s)) {
        if (run_move(s, s->merge_slices, err) != 0)
            return -1;
        s->tend_steps++;
    }
    if (s->build_run || move_due(s))
        return 1;
    filter_save_missing(s); /* once the build is done: a restart then reads it back */
    return 0;
}

static void sqlite_store_close(struct store *st)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    if (!s)
        return;
    if (s->db)
        filter_save_missing(s);
    if (s->db && s->ckpt)
        sqlite3_wal_hook(s->db, NULL, NULL);
    ckpt_stop(s);
    sqlite3_finalize(s->upsert);
    sqlite3_finalize(s->get_off);
    sqlite3_finalize(s->put_off);
    sqlite3_finalize(s->main_upd);
    sqlite3_finalize(s->delta_upd);
    sqlite3_finalize(s->delta_ins);
    sqlite3_finalize(s->delta_ins_n);
    sqlite3_finalize(s->delta_id);
    sqlite3_finalize(s->data_ver);
    sqlite3_finalize(s->get_gen);
    sqlite3_finalize(s->delta_from);
    runs_free_stmts(s);
    free(s->runs);
    free(s->run_upd);
    idmap_free(s->map);
    idmap_free(s->pmap);
    free(s->bounds);
    sqlite3_finalize(s->p_upd);
    if (s->bloom)
        free(s->bloom->bits);
    free(s->bloom);
    bloom_grow_stop(s);
    if (s->db)
        sqlite3_close_v2(s->db);
    free(s->order);
    free(s->order_tmp);
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
    s->filter_checked_gen = -1;
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
        if (set_wal(s->db, p.busy_timeout_ms, err) != 0)
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
        /* A merge grows the WAL to about the size of the delta plus the main table's id
         * index (~1 GB at 10M rows); once checkpointed, the file shrinks back to this bound
         * instead of keeping its largest size. */
        snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld",
                 4LL * (long long)(p.checkpoint_pages > 0 ? p.checkpoint_pages : 1000) * 4096);
        if (exec(s->db, sql, err) != 0)
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

static uint64_t key_prefix(const char *k, uint32_t len)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < 8; i++)
        v = v << 8 | (i < len ? (unsigned char)k[i] : 0u);
    return v;
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

/* Sorts o[0..n) as key_cmp does: a stable radix sort on pre, a byte a pass (a pass whose byte
 * is the same in every key is skipped), then each run of keys with the same pre by key_cmp.
 * tmp has room for n. The drain's writer spent about 7 % of its time in qsort and key_cmp:
 * 204 ns a row for batches of 5,000 random ids, 40 ns this way (ids sharing their first 8
 * bytes: 278 and 310 ns). */
static void sort_keys(struct sqlite_key *o, struct sqlite_key *tmp, size_t n)
{
    size_t cnt[256];
    struct sqlite_key *src = o, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 8) {
        memset(cnt, 0, sizeof(cnt));
        for (size_t i = 0; i < n; i++)
            cnt[(src[i].pre >> shift) & 255]++;
        if (cnt[(src[0].pre >> shift) & 255] == n)
            continue;
        size_t sum = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i].pre >> shift) & 255]++] = src[i];
        struct sqlite_key *t = src;
        src = dst;
        dst = t;
    }
    if (src != o)
        memcpy(o, src, n * sizeof(*o));
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && o[j].pre == o[i].pre)
            j++;
        if (j - i > 1)
            qsort(o + i, j - i, sizeof(*o), key_cmp);
        i = j;
    }
}

/* Fills s->order with the rows to write, in writing order: by key when sorting (only the last
 * row of each key kept), else as given; with each key's id_hash in the two-level layout.
 * Returns how many, or -1 when memory is short. */
static long plan_rows(struct sqlite_store *s, const struct store_row *rows, size_t nrows)
{
    if (nrows == 0)
        return 0;
    if (nrows > s->cap_order) {
        struct sqlite_key *o = realloc(s->order, nrows * sizeof(*o));
        if (!o)
            return -1;
        s->order = o;
        o = realloc(s->order_tmp, nrows * sizeof(*o));
        if (!o)
            return -1;
        s->order_tmp = o;
        s->cap_order = nrows;
    }
    int k = s->t->key_col;
    for (size_t i = 0; i < nrows; i++)
        s->order[i] = (struct sqlite_key){
            rows[i].col[k], key_prefix(rows[i].col[k], rows[i].len[k]), rows[i].len[k], (uint32_t)i,
            s->delta ? id_hash(rows[i].col[k], rows[i].len[k]) : 0};
    if (!s->sort)
        return (long)nrows;
    sort_keys(s->order, s->order_tmp, nrows);
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

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Updates the row of r's id where it is sealed: the main table, then the runs newest first.
 * 1 if found, 0 if not, -1 on error (in err). */
static int sealed_update(struct sqlite_store *s, const struct store_row *r, struct sl_err *err)
{
    const struct store_table *t = s->t;
    for (int ri = s->nruns; ri >= 0; ri--) { /* ri = nruns: the main table */
        sqlite3_stmt *u = s->main_upd;
        if (ri < s->nruns) {
            char name[STORE_NAME_MAX + 32];
            sealed_name(s, ri + 1, name, sizeof(name));
            if (!s->run_upd[ri] && prepare_update_by_key(s, name, &s->run_upd[ri], err) != 0)
                return -1;
            u = s->run_upd[ri];
        }
        for (int c = 0; c < t->ncols; c++)
            sqlite3_bind_text(u, c + 1, r->col[c], (int)r->len[c], SQLITE_STATIC);
        if (step_done(u) != 0)
            return sqlite_store_fail(s->db, err, "update");
        if (sqlite3_changes(s->db) > 0)
            return 1;
    }
    return 0;
}

/* Each row looks its id up in the delta's map and, when new, in the filter: a cache miss in
 * each (16 MB and 16-32 MB arrays at 1M delta and 10M sealed rows), which were about half of
 * write_delta's own time in a perf profile. Their lines, and the row's, are asked for
 * PREFETCH_AHEAD rows early. */
#define PREFETCH_AHEAD 8

static void prefetch_row(const struct sqlite_store *s, const struct store_row *rows,
                         const struct sqlite_key *o)
{
    const struct sqlite_idmap *m = s->map;
    const struct sqlite_bloom *b = s->bloom;
    __builtin_prefetch(&rows[o->idx]);
    if (m->cap) {
        __builtin_prefetch(&m->rid[o->h & (m->cap - 1)]);
        __builtin_prefetch(&m->h[o->h & (m->cap - 1)]);
    }
    if (b->ok && b->nbits) {
        uint64_t pos = o->h, step = bloom_step(o->h);
        __builtin_prefetch(&b->bits[(pos & (b->nbits - 1)) >> 6]);
        __builtin_prefetch(&b->bits[((pos + step) & (b->nbits - 1)) >> 6]);
    }
}

/* Appends n rows (1 or ins_group) with new ids to the delta in one statement, so that SQLite's
 * cost per statement (opening the cursors, starting and ending the VM, the reset) is shared.
 * Their rowids are consecutive (each the table's largest + 1), so the last one gives them all. */
static int delta_append(struct sqlite_store *s, const struct store_row *const *rs,
                        const uint32_t *hs, int n, struct sl_err *err)
{
    const struct store_table *t = s->t;
    sqlite3_stmt *q = n == 1 ? s->delta_ins : s->delta_ins_n;
    int np = t->ncols + 1;
    for (int j = 0; j < n; j++) {
        for (int c = 0; c < t->ncols; c++)
            sqlite3_bind_text(q, j * np + c + 1, rs[j]->col[c], (int)rs[j]->len[c], SQLITE_STATIC);
        /* rows come in groups of 4096 rowids (sorted within a batch), so (g, id) grows at its
         * end */
        sqlite3_bind_int64(q, j * np + np, (s->map_max + 1 + j) >> 12);
    }
    if (step_done(q) != 0)
        return sqlite_store_fail(s->db, err, "insert");
    int64_t last = sqlite3_last_insert_rowid(s->db);
    for (int j = 0; j < n; j++)
        if (idmap_add(s->map, hs[j], last - (n - 1) + j) != 0)
            return sl_err_set(err, "out of memory");
    if (last > s->map_max)
        s->map_max = last;
    s->live += n;
    return 0;
}

/* The rows of a batch in the two-level layout: an id in the delta or in the main table is
 * updated where it is, a new one is appended to the delta. In the batch's transaction. */
static int write_delta(struct sqlite_store *s, const struct store_row *rows, long nw,
                       struct sl_err *err)
{
    const struct store_table *t = s->t;
    int k = t->key_col;
    if (delta_sync(s, err) != 0)
        return -1;
    bloom_grow_start(s);
    if (bloom_grow_step(s, nw, err) != 0)
        return -1;
    /* New rows wait here until ins_group of them are appended at once. The batch's ids are
     * distinct (plan_rows), so no later row is looked for among them. */
    const struct store_row *pend[INS_GROUP];
    uint32_t pend_h[INS_GROUP];
    int npend = 0;
    for (long i = 0; i < nw; i++) {
        if (i + PREFETCH_AHEAD < nw)
            prefetch_row(s, rows, &s->order[i + PREFETCH_AHEAD]);
        const struct store_row *r = &rows[s->order[i].idx];
        uint32_t h = s->order[i].h;
        int64_t rid = delta_find(s, r->col[k], r->len[k], h);
        if (rid < 0)
            return sqlite_store_fail(s->db, err, "delta lookup");
        if (rid > 0) {
            for (int c = 0; c < t->ncols; c++)
                sqlite3_bind_text(s->delta_upd, c + 1, r->col[c], (int)r->len[c], SQLITE_STATIC);
            sqlite3_bind_int64(s->delta_upd, t->ncols + 1, rid);
            if (step_done(s->delta_upd) != 0)
                return sqlite_store_fail(s->db, err, "update");
            continue;
        }
        bool hint = false;
        if (s->pmap) { /* in the run being built by copy? */
            int in_p = pmap_update(s, r, h, &hint, err);
            if (in_p < 0)
                return -1;
            if (in_p)
                continue;
        }
        if (hint || !s->bloom->ok || bloom_maybe(s->bloom, h)) {
            int found = sealed_update(s, r, err);
            if (found < 0)
                return -1;
            if (found)
                continue;
        }
        pend[npend] = r;
        pend_h[npend++] = h;
        if (npend == s->ins_group) {
            if (delta_append(s, pend, pend_h, npend, err) != 0)
                return -1;
            npend = 0;
        }
    }
    for (int j = 0; j < npend; j++) /* the rest one at a time */
        if (delta_append(s, &pend[j], &pend_h[j], 1, err) != 0)
            return -1;
    return 0;
}

static int sqlite_store_write_batch(struct store *st, const char *topic,
                                    const struct store_row *rows, size_t nrows,
                                    const struct store_offset *offs, size_t noffs,
                                    struct sl_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    if (!s->put_off)
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
    if (s->delta) {
        if (write_delta(s, rows, nw, err) != 0)
            goto rollback;
    } else {
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
    if (s->upsert)
        sqlite3_clear_bindings(s->upsert);
    if (s->delta && s->map) {
        /* The batch is stored; a seal or a move (slice) that fails is tried again after the
         * next batch. */
        struct sl_err merr;
        if (s->build_run) { /* steps of a seal by copy, paid for by the rows */
            s->build_budget += (int64_t)nw * BUILD_PER_ROW;
            for (int i = 0; i < 64 && s->build_run && s->build_budget > 0; i++) {
                int64_t done = build_step(s, &merr);
                if (done < 0)
                    break;
                s->build_budget -= done > 0 ? done : 1;
            }
        }
        /* Seals wait while moves lag far behind (tiny merge_rows): the view stays short. */
        if (s->live >= s->merge_rows && s->nruns <= s->max_runs + 16 &&
            (!s->build_run || build_finish(s, &merr) == 0))
            delta_seal(s,
                       s->seal_mode == SEAL_COPY ||
                           (s->seal_mode == SEAL_AUTO && nw <= SEAL_COPY_MAX_BATCH),
                       &merr);
        if (move_due(s))
            run_move(s, s->merge_slices, &merr);
    }
    return 0;
rollback:
    if (ret == -1 && disk_failed(s->db))
        ret = STORE_FATAL;
    else if (ret == -1 && passing_error(s->db))
        ret = STORE_RETRY;
    /* Fails harmlessly when SQLite already rolled back on its own (e.g. SQLITE_FULL). */
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (s->upsert)
        sqlite3_clear_bindings(s->upsert);
    s->map_ok = false; /* it may hold rows of the batch rolled back */
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
    .tend = sqlite_store_tend,
};
