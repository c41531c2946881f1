/* The SQLite sink: rows and offsets commit together or not at all (a failing row, a stale
 * offset, and kill -9 in the middle of transactions), loaded offsets are what was committed,
 * upserts keep the last version of a key, and read-only queries see the table under both
 * created_users and spark_streams.created_users. */
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "process/spec.h"
#include "store/store.h"

static char dir[] = "/tmp/sluice-test-store-XXXXXX";
static char uri[256], dbpath[256];
/* The table rows are inserted into: created_users, or created_users_delta when created_users
 * is the two-level layout's view. */
static const char *insert_table = "created_users";

/* Row i of batch b: key, then 11 text columns derived from it. */
static char cells[20000][12][48];

static void make_rows(struct store_row *rows, int n, int b, int version)
{
    for (int i = 0; i < n; i++) {
        snprintf(cells[i][0], 48, "%08d-0000-4000-8000-%012d", b, i);
        for (int c = 1; c < 12; c++)
            snprintf(cells[i][c], 48, "b%d r%d c%d v%d", b, i, c, version);
        for (int c = 0; c < 12; c++) {
            rows[i].col[c] = cells[i][c];
            rows[i].len[c] = (uint32_t)strlen(cells[i][c]);
        }
    }
}

static long long count_rows(const char *where)
{
    sqlite3 *db;
    sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM created_users %s", where ? where : "");
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static long long q1(const char *path, const char *sql, const char *arg);

static struct store *open_rw(const char *group)
{
    struct store *st = NULL;
    struct sl_err err;
    if (store_open(uri, &spec_users()->layout, group, 0, &st, &err) != 0)
        fprintf(stderr, "open: %s\n", err.msg);
    return st;
}

static void test_uri(void)
{
    struct store *st;
    struct sl_err err;
    CHECK(store_open("cassandra://127.0.0.1:9042", &spec_users()->layout, "g", 0, &st, &err) == -1);
    CHECK(strstr(err.msg, "keyspace") != NULL); /* refused before any connection */
    CHECK(store_open("cassandra://u:p@/spark_streams", &spec_users()->layout, "g", 0, &st, &err) ==
          -1);
    CHECK(strstr(err.msg, "p@") == NULL); /* a password is never echoed */
    CHECK(store_open("nosuch:x", &spec_users()->layout, "g", 0, &st, &err) == -1);
    CHECK(strstr(err.msg, "sqlite:DIR") != NULL && strstr(err.msg, "cassandra://") != NULL);
    CHECK(store_open("mysql://x", &spec_users()->layout, "g", 0, &st, &err) == -1);
    CHECK(store_open("sqlite:", &spec_users()->layout, "g", 0, &st, &err) == -1);
    char bad[400];
    snprintf(bad, sizeof(bad), "%s?cache_mb=zero", uri);
    CHECK(store_open(bad, &spec_users()->layout, "g", 0, &st, &err) == -1);
    /* The message names the parameter once and keeps the reason whole (it was formatted into
     * itself and came out as "sqlite: cache_mb: sqlite: cache_mb: teger"). */
    CHECK_EQ_STR(err.msg, "sqlite: cache_mb: 'zero' is not an integer");
    snprintf(bad, sizeof(bad), "%s?nope=1", uri);
    CHECK(store_open(bad, &spec_users()->layout, "g", 0, &st, &err) == -1);
    /* Read-only on a missing store says so. */
    CHECK(store_open("sqlite:/nonexistent/dir", &spec_users()->layout, NULL, STORE_READONLY, &st,
                     &err) == -1);
    CHECK(strstr(err.msg, "no store") != NULL);
    /* The stream job's batch size under load when --batch-max is not given: Cassandra's sink
     * asks for larger batches; SQLite and unknown schemes leave the job's default. */
    CHECK(store_batch_max("cassandra://127.0.0.1/spark_streams") == 20000);
    CHECK(store_batch_max(uri) == 0);
    CHECK(store_batch_max("nosuch:x") == 0);
    CHECK(store_batch_max("cassandra") == 0);
    CHECK(store_batch_max(NULL) == 0);
    char def[256];
    CHECK(store_default_uri("./sluice-data", def, sizeof(def)) == 0);
    CHECK_EQ_STR(def, "sqlite:./sluice-data/store");
}

static void test_atomic(void)
{
    struct store *st = open_rw("g1");
    CHECK(st != NULL);
    if (!st)
        return;
    struct sl_err err;
    int64_t next = 7;
    CHECK(store_load_offset(st, "t", 0, &next, &err) == 0);
    CHECK_EQ_INT(next, -1); /* nothing stored */

    static struct store_row rows[100];
    make_rows(rows, 100, 1, 1);
    struct store_offset offs[2] = {{0, -1, 60}, {1, -1, 40}};
    /* The registry says what the sink guarantees; the wrappers check arguments and count. */
    CHECK_EQ_INT(store_caps(st), STORE_CAP_ATOMIC_OFFSETS);
    struct store_offset badoff[1] = {{-1, -1, 5}};
    CHECK_EQ_INT(store_write_batch(st, "t", rows, 100, badoff, 1, &err), -1);
    CHECK_EQ_INT(store_write_batch(st, "", rows, 100, offs, 2, &err), -1);
    CHECK(store_load_offset(st, "t", -3, &next, &err) == -1);
    CHECK_EQ_INT(st->metrics.batches, 0);
    CHECK_EQ_INT(store_write_batch(st, "t", rows, 100, offs, 2, &err), 0);
    CHECK_EQ_INT(st->metrics.batches, 1);
    CHECK_EQ_INT(st->metrics.rows, 100);
    CHECK(store_load_offset(st, "t", 0, &next, &err) == 0 && next == 60);
    CHECK(store_load_offset(st, "t", 1, &next, &err) == 0 && next == 40);
    CHECK(store_load_offset(st, "t", 2, &next, &err) == 0 && next == -1);
    CHECK(store_load_offset(st, "other", 0, &next, &err) == 0 && next == -1);
    CHECK_EQ_INT(count_rows(NULL), 100);

    /* A stale expectation (another instance moved the partition on): nothing is written. */
    make_rows(rows, 100, 2, 1);
    struct store_offset stale[2] = {{0, 60, 70}, {1, 39, 50}};
    CHECK_EQ_INT(store_write_batch(st, "t", rows, 100, stale, 2, &err), STORE_CONFLICT);
    CHECK(strstr(err.msg, "t[1]") != NULL);
    CHECK_EQ_INT(count_rows(NULL), 100);
    CHECK(store_load_offset(st, "t", 0, &next, &err) == 0 && next == 60);
    /* Nor when a partition is believed new but is stored. */
    struct store_offset fresh[1] = {{0, -1, 10}};
    CHECK_EQ_INT(store_write_batch(st, "t", rows, 100, fresh, 1, &err), STORE_CONFLICT);
    CHECK_EQ_INT(count_rows(NULL), 100);

    /* A row that fails half-way (a trigger refuses it) rolls back rows and offsets. */
    sqlite3 *db;
    sqlite3_open(dbpath, &db);
    insert_table = q1(dbpath,
                      "SELECT count(*) FROM sqlite_master WHERE name='created_users' AND "
                      "type='view'",
                      NULL) == 1
                       ? "created_users_delta"
                       : "created_users";
    char trig[256];
    snprintf(trig, sizeof(trig),
             "CREATE TRIGGER boom BEFORE INSERT ON %s WHEN NEW.first_name = 'boom' BEGIN "
             "SELECT RAISE(ABORT, 'boom'); END",
             insert_table);
    CHECK(sqlite3_exec(db, trig, NULL, NULL, NULL) == SQLITE_OK);
    make_rows(rows, 100, 3, 1);
    static char boom[] = "boom";
    rows[77].col[1] = boom;
    rows[77].len[1] = 4;
    struct store_offset ok[2] = {{0, 60, 80}, {1, 40, 50}};
    CHECK_EQ_INT(store_write_batch(st, "t", rows, 100, ok, 2, &err), -1);
    CHECK_EQ_INT(count_rows(NULL), 100);
    CHECK(store_load_offset(st, "t", 0, &next, &err) == 0 && next == 60);
    CHECK(store_load_offset(st, "t", 1, &next, &err) == 0 && next == 40);
    sqlite3_exec(db, "DROP TRIGGER boom", NULL, NULL, NULL);
    /* The same batch goes through once the cause is gone. */
    make_rows(rows, 100, 3, 1);
    CHECK_EQ_INT(store_write_batch(st, "t", rows, 100, ok, 2, &err), 0);
    CHECK_EQ_INT(count_rows(NULL), 200);

    /* A writer holding the lock past busy_timeout: the batch is refused cleanly as one to try
     * again (STORE_RETRY: the job pauses instead of counting a failure), nothing written. */
    struct store *quick = NULL;
    char u2[400];
    snprintf(u2, sizeof(u2), "%s%sbusy_timeout_ms=50", uri, strchr(uri, '?') ? "&" : "?");
    CHECK(store_open(u2, &spec_users()->layout, "g1", 0, &quick, &err) == 0);
    CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    make_rows(rows, 10, 4, 1);
    struct store_offset o4[1] = {{0, 80, 90}};
    CHECK_EQ_INT(store_write_batch(quick, "t", rows, 10, o4, 1, &err), STORE_RETRY);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    CHECK_EQ_INT(count_rows(NULL), 200);
    CHECK_EQ_INT(store_write_batch(quick, "t", rows, 10, o4, 1, &err), 0);
    CHECK_EQ_INT(count_rows(NULL), 210);
    store_close(quick);
    sqlite3_close(db);

    /* Offsets are per group. */
    struct store *g2 = open_rw("g2");
    CHECK(g2 && store_load_offset(g2, "t", 0, &next, &err) == 0 && next == -1);
    store_close(g2);
    store_close(st);
}

static void test_upsert(void)
{
    struct store *st = open_rw("g-upsert");
    struct sl_err err;
    /* More rows than the two-level layout appends in one statement (INS_GROUP, 64). */
    enum { N = 100 };
    static struct store_row rows[2 * N];
    make_rows(rows, N, 9, 1);
    /* Same keys again in the same batch with newer content: the later row wins, also when
     * the batch is sorted by key before writing, and when it is not (sort=0). */
    static char v2[N][12][48];
    for (int i = 0; i < N; i++) {
        rows[N + i] = rows[i];
        for (int c = 1; c < 12; c++) {
            snprintf(v2[i][c], 48, "newer %d %d", i, c);
            rows[N + i].col[c] = v2[i][c];
            rows[N + i].len[c] = (uint32_t)strlen(v2[i][c]);
        }
    }
    struct store_offset o[1] = {{5, -1, 6}};
    CHECK_EQ_INT(store_write_batch(st, "u", rows, 2 * N, o, 1, &err), 0);
    CHECK_EQ_INT(count_rows("WHERE id LIKE '00000009-%'"), N);
    CHECK_EQ_INT(count_rows("WHERE first_name LIKE 'newer %'"), N);
    /* And across batches. */
    make_rows(rows, N, 9, 2);
    struct store_offset o2[1] = {{5, 6, 9}};
    CHECK_EQ_INT(store_write_batch(st, "u", rows, N, o2, 1, &err), 0);
    CHECK_EQ_INT(count_rows("WHERE first_name LIKE '% v2'"), N);
    CHECK_EQ_INT(count_rows("WHERE id LIKE '00000009-%'"), N);
    store_close(st);
}

struct qres {
    int rows;
    char first[128];
    int ncols;
};

static int qcb(void *arg, int ncols, const char *const *names, const char *const *vals,
               const enum store_type *types)
{
    struct qres *q = arg;
    if (q->rows++ == 0 && vals[0])
        snprintf(q->first, sizeof(q->first), "%s", vals[0]);
    q->ncols = ncols;
    (void)names;
    (void)types;
    return 0;
}

static void test_query(void)
{
    struct store *ro = NULL;
    struct sl_err err;
    CHECK(store_open(uri, &spec_users()->layout, NULL, STORE_READONLY, &ro, &err) == 0);
    if (!ro)
        return;
    struct qres q = {0};
    CHECK(store_query(ro, "SELECT count(*) FROM created_users", 5000, qcb, &q, &err) == 0);
    CHECK_EQ_STR(q.first, "310"); /* test_atomic 210, test_upsert 100 */
    memset(&q, 0, sizeof(q));
    CHECK(store_query(ro, "select count(*) from spark_streams.created_users;", 5000, qcb, &q,
                      &err) == 0);
    CHECK_EQ_STR(q.first, "310"); /* test_atomic 210, test_upsert 100 */
    memset(&q, 0, sizeof(q));
    CHECK(store_query(ro, "SELECT * FROM created_users LIMIT 3", 5000, qcb, &q, &err) == 0);
    CHECK_EQ_INT(q.rows, 3);
    CHECK_EQ_INT(q.ncols, 12);
    /* Read-only, one statement, errors reported. */
    CHECK(store_query(ro, "DELETE FROM created_users", 5000, qcb, &q, &err) == -1);
    CHECK(store_query(ro, "INSERT INTO spark_streams.created_users(id) VALUES('x')", 5000, qcb, &q,
                      &err) == -1);
    CHECK(store_query(ro, "SELECT 1; DELETE FROM created_users", 5000, qcb, &q, &err) == -1);
    CHECK(strstr(err.msg, "one statement") != NULL);
    CHECK(store_query(ro, "SELEC nonsense", 5000, qcb, &q, &err) == -1);
    CHECK(store_query(ro, "   ", 5000, qcb, &q, &err) == -1);
    /* A runaway query is interrupted. */
    CHECK(store_query(ro,
                      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
                      "SELECT count(*) FROM c",
                      200, qcb, &q, &err) == -1);
    CHECK(strstr(err.msg, "longer than") != NULL);
    store_close(ro);
    CHECK_EQ_INT(count_rows(NULL), 310);
}

/* The child writes batches of 5000 rows forever, each resuming from the stored offset; the
 * parent kills it with SIGKILL at random moments. After every kill the store must hold
 * exactly the rows of the committed batches: count(rows) == stored next offset. */
static void crash_child(void)
{
    struct store *st = open_rw("crash");
    if (!st)
        _exit(1);
    struct sl_err err;
    static struct store_row rows[5000];
    for (;;) {
        int64_t next;
        if (store_load_offset(st, "c", 0, &next, &err) != 0)
            _exit(1);
        int64_t from = next < 0 ? 0 : next;
        int b = (int)(from / 5000);
        make_rows(rows, 5000, 1000 + b, 1);
        struct store_offset o[1] = {{0, next, from + 5000}};
        if (store_write_batch(st, "c", rows, 5000, o, 1, &err) != 0)
            _exit(1);
    }
}

static void test_kill9(void)
{
    srand((unsigned)time(NULL));
    long long before = count_rows(NULL);
    int64_t last = -1;
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        if (pid == 0)
            crash_child();
        struct timespec ts = {0, (30 + rand() % 250) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        struct store *st = open_rw("crash");
        struct sl_err err;
        int64_t next = -2;
        CHECK(st && store_load_offset(st, "c", 0, &next, &err) == 0);
        store_close(st);
        long long rows = count_rows(NULL) - before;
        if (rows != (next < 0 ? 0 : next))
            fprintf(stderr, "round %d: rows %lld, stored offset %lld\n", round, rows,
                    (long long)next);
        CHECK_EQ_INT(rows, next < 0 ? 0 : next);
        CHECK(next >= last);
        last = next;
    }
    printf("kill -9: 6 rounds, %lld rows committed, all consistent\n", (long long)last);
}

/* An empty batch moves offsets (how --reset-offsets and a detected log reset are stored),
 * fenced like any other. */
static void test_offsets_only(void)
{
    struct store *st = open_rw("g-off");
    CHECK(st != NULL);
    if (!st)
        return;
    struct sl_err err;
    long long before = count_rows(NULL);
    struct store_offset o = {5, -1, 1000};
    CHECK_EQ_INT(st->ops->write_batch(st, "t", NULL, 0, &o, 1, &err), 0);
    int64_t next = -1;
    CHECK(st->ops->load_offset(st, "t", 5, &next, &err) == 0 && next == 1000);
    struct store_offset back = {5, 1000, 0}; /* a reset to the log start */
    CHECK_EQ_INT(st->ops->write_batch(st, "t", NULL, 0, &back, 1, &err), 0);
    CHECK(st->ops->load_offset(st, "t", 5, &next, &err) == 0 && next == 0);
    struct store_offset stale = {5, 1000, 7};
    CHECK_EQ_INT(st->ops->write_batch(st, "t", NULL, 0, &stale, 1, &err), STORE_CONFLICT);
    CHECK_EQ_INT(count_rows(NULL), before);
    store_close(st);
}

/* The background checkpointer copies the WAL into the database file once the WAL passes
 * checkpoint_pages, before the writer's inline fallback at 4x that. (Its connection used to
 * do nothing: it had never read the file, so it did not know the file was in WAL mode.) */
/* Opens a writer (group "g") on the store DIR/name?params; db gets its file's path. */
static struct store *open_at(const char *name, const char *params, char db[300])
{
    char u[400];
    snprintf(u, sizeof(u), "sqlite:%s/%s%s%s", dir, name, *params ? "?" : "", params);
    snprintf(db, 300, "%s/%s/spark_streams.db", dir, name);
    struct store *st = NULL;
    struct sl_err err;
    CHECK(store_open(u, &spec_users()->layout, "g", 0, &st, &err) == 0);
    return st;
}

static void test_checkpointer(void)
{
    char ck_db[300];
    struct sl_err err;
    struct store *st = open_at("ck", "checkpoint_pages=100", ck_db);
    if (!st)
        return;
    /* ~2000 rows of ~300 bytes: about 200 WAL pages, between 100 and 400. */
    static struct store_row rows[2000];
    make_rows(rows, 2000, 9, 1);
    struct store_offset o = {0, -1, 2000};
    CHECK_EQ_INT(st->ops->write_batch(st, "t", rows, 2000, &o, 1, &err), 0);
    struct stat sb = {0};
    for (int i = 0; i < 200; i++) { /* the thread runs as soon as it is woken */
        if (stat(ck_db, &sb) == 0 && sb.st_size > 300 * 1024)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK(sb.st_size > 300 * 1024);
    printf("checkpointer: database file %lld bytes after one 2000-row batch\n",
           (long long)sb.st_size);
    store_close(st);
}

/* One SELECT's first column as an integer (-1 on error), on a read-only connection. */
static long long q1(const char *path, const char *sql, const char *arg)
{
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (arg)
            sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Whether EXPLAIN QUERY PLAN of sql shows a full scan of a table (any "SCAN " step). */
static int plan_scans(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    char eqp[512];
    snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st;
    int scans = -1, searches = 0;
    if (sqlite3_prepare_v2(db, eqp, -1, &st, NULL) == SQLITE_OK) {
        scans = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 3);
            scans += d && strncmp(d, "SCAN ", 5) == 0;
            searches += d && strncmp(d, "SEARCH ", 7) == 0;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return scans < 0 || searches < 2 ? -1 : scans;
}

/* How many sealed runs (created_users_r<n> tables) the file holds. */
static long long run_tables_in(const char *path)
{
    return q1(path,
              "SELECT count(*) FROM sqlite_master WHERE type='table' AND name GLOB "
              "'created_users_r[0-9]*'",
              NULL);
}

/* The two-level layout (layout=delta): ids stay unique and the newest version wins across
 * seals of the delta into runs, updates of ids in a run or the delta, two connections
 * writing in turn (each must notice the other's rows and runs), and a lookup by id stays
 * indexed in every table. */
static void test_delta(void)
{
    char u[400], path[300];
    snprintf(u, sizeof(u), "sqlite:%s/delta?layout=delta&merge_rows=400&merge_slices=1", dir);
    snprintf(path, sizeof(path), "%s/delta/spark_streams.db", dir);
    struct store *a = NULL, *b = NULL;
    struct sl_err err;
    CHECK(store_open(u, &spec_users()->layout, "ga", 0, &a, &err) == 0);
    CHECK(store_open(u, &spec_users()->layout, "gb", 0, &b, &err) == 0);
    if (!a || !b)
        return;
    CHECK_EQ_INT(q1(path,
                    "SELECT count(*) FROM sqlite_master WHERE name='created_users' AND "
                    "type='view'",
                    NULL),
                 1);
    static struct store_row rows[200];
    int64_t na = -1, nb = -1;
    /* Batch k writes 200 rows: 150 new ids (batch k) and, from k = 1 on, 50 ids of batch k-1
     * again (version k), which are in the delta or, after a seal, in a run. The connections
     * alternate. */
    for (int k = 0; k < 8; k++) {
        make_rows(rows, 150, 500 + k, 0);
        int n = 150;
        if (k > 0) {
            static char cells2[50][12][48];
            for (int i = 0; i < 50; i++) {
                snprintf(cells2[i][0], 48, "%08d-0000-4000-8000-%012d", 500 + k - 1, i * 3);
                for (int c = 1; c < 12; c++)
                    snprintf(cells2[i][c], 48, "newest b%d r%d c%d v%d", 500 + k - 1, i * 3, c, k);
                for (int c = 0; c < 12; c++) {
                    rows[n + i].col[c] = cells2[i][c];
                    rows[n + i].len[c] = (uint32_t)strlen(cells2[i][c]);
                }
            }
            n += 50;
        }
        struct store *st = k % 2 ? b : a;
        int64_t *next = k % 2 ? &nb : &na;
        struct store_offset o = {0, *next, *next + n + 1};
        CHECK_EQ_INT(store_write_batch(st, "d", rows, (size_t)n, &o, 1, &err), 0);
        *next = *next + n + 1;
        CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), 150LL * (k + 1));
        CHECK_EQ_INT(q1(path, "SELECT count(DISTINCT id) FROM created_users", NULL),
                     150LL * (k + 1));
    }
    /* Seals happened (at 400 rows: after batches 2 and 5), each into a run of its own with an
     * id index, nothing was moved into the main table (at most 16 runs are kept), and the
     * last two batches are in the delta. */
    long long in_main = q1(path, "SELECT count(*) FROM created_users_main", NULL);
    long long in_delta = q1(path, "SELECT count(*) FROM created_users_delta", NULL);
    long long nruns = q1(path, "SELECT count(*) FROM sluice_runs", NULL);
    long long run_tables = run_tables_in(path);
    long long run_indexes = q1(path,
                               "SELECT count(*) FROM sqlite_master WHERE type='index' AND name "
                               "GLOB 'created_users_r[0-9]*_id'",
                               NULL);
    printf("delta layout: %lld rows in the main table, %lld runs, %lld in the delta\n", in_main,
           nruns, in_delta);
    CHECK(in_main == 0 && in_delta == 300 && nruns == 2 && run_tables == 2 && run_indexes == 2);
    /* Every id written again holds its newest version: 50 ids of each of batches 500..506. */
    CHECK_EQ_INT(
        q1(path, "SELECT count(*) FROM created_users WHERE first_name LIKE 'newest %'", NULL), 350);
    for (int k = 1; k < 8; k++) {
        char id[48];
        snprintf(id, sizeof(id), "%08d-0000-4000-8000-%012d", 500 + k - 1, 30);
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM created_users WHERE id=? AND "
                 "first_name LIKE '%%v%d'",
                 k);
        CHECK_EQ_INT(q1(path, sql, id), 1);
    }
    /* One writer alone: 450 new ids (a seal follows: the ids go into its filter of the sealed
     * ids), then 50 of them again: updated in their run, not added twice. */
    static struct store_row big[450];
    make_rows(big, 150, 600, 1);
    for (int part = 1; part < 3; part++) {
        static char more[300][12][48];
        for (int i = 0; i < 150; i++) {
            int m = (part - 1) * 150 + i;
            snprintf(more[m][0], 48, "%08d-0000-4000-8000-%012d", 600 + part, i);
            for (int c = 1; c < 12; c++)
                snprintf(more[m][c], 48, "p%d r%d c%d", part, i, c);
            for (int c = 0; c < 12; c++) {
                big[150 * part + i].col[c] = more[m][c];
                big[150 * part + i].len[c] = (uint32_t)strlen(more[m][c]);
            }
        }
    }
    struct store_offset oa = {1, -1, 450};
    CHECK_EQ_INT(store_write_batch(a, "d", big, 450, &oa, 1, &err), 0);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users_delta", NULL), 0);
    make_rows(rows, 50, 600, 2);
    struct store_offset ob = {1, 450, 500};
    CHECK_EQ_INT(store_write_batch(a, "d", rows, 50, &ob, 1, &err), 0);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), 1650);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users_delta", NULL), 0);
    CHECK_EQ_INT(
        q1(path, "SELECT count(*) FROM created_users WHERE first_name LIKE 'b600 % v2'", NULL), 50);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_runs", NULL), 3);
    /* A lookup by id searches every table by index; nothing is scanned. */
    CHECK_EQ_INT(plan_scans(path, "SELECT * FROM created_users WHERE id='x'"), 0);
    CHECK_EQ_INT(plan_scans(path, "SELECT * FROM created_users WHERE id IN ('x', 'y')"), 0);
    store_close(a);
    store_close(b);
}

/* Fills row from cells whose first (the id) is set: first_name "v<version>", the others
 * fixed. */
static void versioned_row(char cell[12][48], struct store_row *row, int version)
{
    snprintf(cell[1], 48, "v%d", version);
    for (int c = 2; c < 12; c++)
        snprintf(cell[c], 48, "c%d", c);
    for (int c = 0; c < 12; c++) {
        row->col[c] = cell[c];
        row->len[c] = (uint32_t)strlen(cell[c]);
    }
}

/* Two writers of the users table on store u, groups "ga" and "gb"; false (a check failed)
 * unless both opened. */
static bool open_writers(const char *u, struct store *w[2])
{
    struct sl_err err;
    CHECK(store_open(u, &spec_users()->layout, "ga", 0, &w[0], &err) == 0);
    CHECK(store_open(u, &spec_users()->layout, "gb", 0, &w[1], &err) == 0);
    return w[0] && w[1];
}

/* Batch k of ids spread over every first hex digit: nnew new ids (k * nnew on), then, from
 * k = 1 on, nupd updates of earlier ones picked by seed; version[id] counts each write and is
 * the row's first_name. Returns the rows made (cell and rows hold nnew + nupd). */
static int mixed_batch(int k, int nnew, int nupd, unsigned *seed, int *version,
                       char (*cell)[12][48], struct store_row *rows)
{
    int n = 0;
    for (int i = 0; i < nnew + (k > 0 ? nupd : 0); i++) {
        int id = i < nnew ? k * nnew + i : 0;
        if (i >= nnew) {
            *seed = *seed * 1103515245u + 12345u;
            id = (int)((*seed >> 8) % (unsigned)(k * nnew));
        }
        version[id]++;
        snprintf(cell[n][0], 48, "%x%07d-0000-4000-8000-%012d", id % 16, id / 16, id);
        versioned_row(cell[n], &rows[n], version[id]);
        n++;
    }
    return n;
}

/* Runs beyond the first moved into the main table in 16 id-range slices, one after each
 * batch, while two writers alternate (then one writes alone): ids over every first hex digit,
 * each batch 100 new ids and 30 updates of older ones (in the delta, a run, the main table,
 * or a slice being moved). After every batch: one row per id; at the end every id holds its
 * newest version, and moved runs are gone. */
static void test_delta_slices(void)
{
    char u[400], path[300];
    snprintf(u, sizeof(u), "sqlite:%s/slices?layout=delta&merge_rows=300&merge_slices=16&runs=1",
             dir);
    snprintf(path, sizeof(path), "%s/slices/spark_streams.db", dir);
    struct store *w[2] = {NULL, NULL};
    struct sl_err err;
    if (!open_writers(u, w))
        return;
    enum { NB = 45, NEW = 100, UPD = 30 };
    static int version[NB * NEW];
    static char cell[NEW + UPD][12][48];
    static struct store_row rows[NEW + UPD];
    int64_t next[2] = {-1, -1};
    long long vsum = 0;
    unsigned seed = 12345;
    int moved_seen = 0;
    for (int k = 0; k < NB; k++) {
        int n = mixed_batch(k, NEW, UPD, &seed, version, cell, rows);
        int wi = k < 20 ? k % 2 : 0; /* then one writer alone: its own filter must follow */
        struct store_offset o = {0, next[wi], next[wi] + n + 1};
        CHECK_EQ_INT(store_write_batch(w[wi], "s", rows, (size_t)n, &o, 1, &err), 0);
        next[wi] += n + 1;
        CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), (k + 1) * NEW);
        CHECK_EQ_INT(q1(path, "SELECT count(DISTINCT id) FROM created_users", NULL), (k + 1) * NEW);
        long long in_main = q1(path, "SELECT count(*) FROM created_users_main", NULL);
        moved_seen += in_main > 0;
    }
    for (int id = 0; id < NB * NEW; id++)
        vsum += version[id];
    CHECK_EQ_INT(
        q1(path, "SELECT sum(CAST(substr(first_name, 2) AS INTEGER)) FROM created_users", NULL),
        vsum);
    long long in_main = q1(path, "SELECT count(*) FROM created_users_main", NULL);
    long long seals = q1(path, "SELECT merges FROM sluice_merges", NULL);
    long long nruns = q1(path, "SELECT count(*) FROM sluice_runs", NULL);
    long long run_tables = run_tables_in(path);
    printf("delta slices: %lld rows in the main table, %lld seals, %lld runs left\n", in_main,
           seals, nruns);
    CHECK(in_main >= 600 && seals >= 12 && moved_seen > 0 && nruns == run_tables && nruns < seals);
    store_close(w[0]);
    store_close(w[1]);
}

/* Seals by copy (seal=copy): the run is filled from the sealed delta one id range after each
 * batch (copy_rows=16: many ranges), then the delta's old table is emptied and dropped, while
 * two writers alternate, one of them reopened mid-build, with updates of older ids wherever
 * they are (the old table, the run being filled, older runs, the main table). After every
 * batch: one row per id, and a lookup by id stays indexed; at the end every id holds its
 * newest version and no build is left. */
static void test_delta_copy(void)
{
    char u[400], path[300];
    snprintf(u, sizeof(u),
             "sqlite:%s/copy?layout=delta&merge_rows=600&runs=2&seal=copy&copy_rows=4", dir);
    snprintf(path, sizeof(path), "%s/copy/spark_streams.db", dir);
    struct store *w[2] = {NULL, NULL};
    struct sl_err err;
    if (!open_writers(u, w))
        return;
    enum { NB = 60, NEW = 100, UPD = 30 };
    static int version[NB * NEW];
    static char cell[NEW + UPD][12][48];
    static struct store_row rows[NEW + UPD];
    int64_t next[2] = {-1, -1};
    long long vsum = 0;
    unsigned seed = 777;
    int building_seen = 0, midway_seen = 0, reopened = 0;
    for (int k = 0; k < NB; k++) {
        int n = mixed_batch(k, NEW, UPD, &seed, version, cell, rows);
        int wi = k < 40 ? k % 2 : 0;
        struct store_offset o = {0, next[wi], next[wi] + n + 1};
        CHECK_EQ_INT(store_write_batch(w[wi], "c", rows, (size_t)n, &o, 1, &err), 0);
        next[wi] += n + 1;
        CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), (k + 1) * NEW);
        CHECK_EQ_INT(q1(path, "SELECT count(DISTINCT id) FROM created_users", NULL), (k + 1) * NEW);
        long long building = q1(path, "SELECT count(*) FROM sluice_build", NULL);
        building_seen += building > 0;
        midway_seen += q1(path, "SELECT count(*) FROM sluice_build WHERE lo > ''", NULL) > 0;
        if (building > 0)
            CHECK_EQ_INT(plan_scans(path, "SELECT * FROM created_users WHERE id='x'"), 0);
        if (building > 0 && !reopened && k > 20) { /* a writer restarts mid-build */
            store_close(w[1]);
            w[1] = NULL;
            CHECK(store_open(u, &spec_users()->layout, "gb", 0, &w[1], &err) == 0);
            if (!w[1])
                break;
            reopened = 1;
        }
    }
    for (int id = 0; id < NB * NEW; id++)
        vsum += version[id];
    CHECK_EQ_INT(
        q1(path, "SELECT sum(CAST(substr(first_name, 2) AS INTEGER)) FROM created_users", NULL),
        vsum);
    struct store_sqlite_stats ss;
    CHECK_EQ_INT(store_sqlite_stats(w[0], &ss), 0);
    long long seals = q1(path, "SELECT merges FROM sluice_merges", NULL);
    long long in_main = q1(path, "SELECT count(*) FROM created_users_main", NULL);
    printf("seal by copy: %lld seals (%llu by this writer by copy, %llu steps), %lld rows in the "
           "main table, build seen in %d batches (midway in %d)\n",
           seals, (unsigned long long)ss.copy_seals, (unsigned long long)ss.copy_steps, in_main,
           building_seen, midway_seen);
    CHECK(seals >= 8 && ss.copy_seals >= 4 && ss.copy_steps > ss.copy_seals * 4);
    CHECK(building_seen > 10 && midway_seen > 2 && reopened && in_main > 0);
    /* The last build ends after enough batches (updates only, of ids in the delta). */
    for (int k = 0; k < 200 && q1(path, "SELECT count(*) FROM sluice_build", NULL) > 0; k++) {
        for (int i = 0; i < 50; i++) {
            int id = (NB - 1) * NEW + i;
            version[id]++;
            vsum++;
            snprintf(cell[i][0], 48, "%x%07d-0000-4000-8000-%012d", id % 16, id / 16, id);
            versioned_row(cell[i], &rows[i], version[id]);
        }
        struct store_offset o = {0, next[0], next[0] + 51};
        CHECK_EQ_INT(store_write_batch(w[0], "c", rows, 50, &o, 1, &err), 0);
        next[0] += 51;
    }
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_build", NULL), 0);
    CHECK_EQ_INT(q1(path,
                    "SELECT count(*) FROM sqlite_master WHERE name GLOB 'created_users_p[0-9]*'",
                    NULL),
                 0);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), NB * NEW);
    CHECK_EQ_INT(
        q1(path, "SELECT sum(CAST(substr(first_name, 2) AS INTEGER)) FROM created_users", NULL),
        vsum);
    /* The writer that never reopened built its filter from the tables once, at its first
     * batch: at the other's seals by copy it took their ids from the map it read. */
    CHECK_EQ_INT(store_sqlite_stats(w[0], &ss), 0);
    printf("seal by copy: filter built %llu times\n", (unsigned long long)ss.filter_builds);
    CHECK(ss.filter_builds <= 2);
    store_close(w[0]);
    store_close(w[1]);
    /* Seals by copy do not store the filter; a clean close does, and a reopened writer reads
     * it back (updates of ids sealed by copy stay updates). */
    w[0] = NULL;
    CHECK(store_open(u, &spec_users()->layout, "ga", 0, &w[0], &err) == 0);
    if (!w[0])
        return;
    for (int i = 0; i < 50; i++) {
        int id = i * 97;
        version[id]++;
        vsum++;
        snprintf(cell[i][0], 48, "%x%07d-0000-4000-8000-%012d", id % 16, id / 16, id);
        versioned_row(cell[i], &rows[i], version[id]);
    }
    struct store_offset o = {0, next[0], next[0] + 51};
    CHECK_EQ_INT(store_write_batch(w[0], "c", rows, 50, &o, 1, &err), 0);
    CHECK_EQ_INT(store_sqlite_stats(w[0], &ss), 0);
    printf("seal by copy, reopened: filter read back %llu, built %llu\n",
           (unsigned long long)ss.filter_loads, (unsigned long long)ss.filter_builds);
    CHECK(ss.filter_loads == 1 && ss.filter_builds == 0);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), NB * NEW);
    CHECK_EQ_INT(
        q1(path, "SELECT sum(CAST(substr(first_name, 2) AS INTEGER)) FROM created_users", NULL),
        vsum);
    store_close(w[0]);
}

/* A store in dir/name sealing by copy at merge_rows rows, copy_rows rows a step; its file's
 * path in path. NULL (a failed check) if it does not open. */
static struct store *open_copy_store(const char *name, int merge_rows, int copy_rows,
                                     const char *extra, const char *group, char *path, size_t cap)
{
    char u[400];
    snprintf(u, sizeof(u), "sqlite:%s/%s?layout=delta&merge_rows=%d&seal=copy&copy_rows=%d%s", dir,
             name, merge_rows, copy_rows, extra);
    snprintf(path, cap, "%s/%s/spark_streams.db", dir, name);
    struct store *st = NULL;
    struct sl_err err;
    CHECK(store_open(u, &spec_users()->layout, group, 0, &st, &err) == 0);
    return st;
}

/* Writes batches k = 0, 1, ... of 100 new ids each (random uuid-like ones, or time-ordered
 * "K" and 9 digits) into st, from batch min_k on stopping after the first that leaves no build
 * in the file at path, and at max_k at the latest. Returns the last k. */
static int write_until_built(struct store *st, const char *path, const char *topic, bool random,
                             int min_k, int max_k)
{
    static char cell[100][12][48];
    static struct store_row rows[100];
    struct sl_err err;
    int64_t next = -1;
    int k = 0;
    for (; k < max_k; k++) {
        for (int i = 0; i < 100; i++) {
            uint32_t h = (uint32_t)(k * 100 + i) * 2654435761u;
            if (random)
                snprintf(cell[i][0], 48, "%08x-0000-4000-8000-%012d", h, k * 100 + i);
            else
                snprintf(cell[i][0], 48, "K%09d", k * 100 + i);
            versioned_row(cell[i], &rows[i], 1);
        }
        struct store_offset o = {0, next, next + 101};
        CHECK_EQ_INT(store_write_batch(st, topic, rows, 100, &o, 1, &err), 0);
        next += 101;
        if (k >= min_k && q1(path, "SELECT count(*) FROM sluice_build", NULL) == 0)
            break;
    }
    return k;
}

/* Random ids over several groups of 4,096 rows, merge_rows of them then a seal by copy:
 * every group has the same distribution, so the samples must come from different offsets in
 * each (the same two offsets everywhere made steps of 200,000 rows at 1M), and ranges drawn
 * from a couple of samples a group are as uneven as random points: no copy step may take more
 * than max_step rows. */
static void copy_random(const char *name, int merge_rows, int copy_rows, uint64_t max_step)
{
    char path[300];
    struct store *st = open_copy_store(name, merge_rows, copy_rows, "", "gr", path, sizeof(path));
    if (!st)
        return;
    int k = write_until_built(st, path, "r", true, merge_rows / 100 + 1, 4 * merge_rows / 100);
    struct store_sqlite_stats ss;
    CHECK_EQ_INT(store_sqlite_stats(st, &ss), 0);
    printf("seal by copy, %d random ids, copy_rows=%d: %llu seals by copy, %llu steps, at most "
           "%llu rows a copy step\n",
           merge_rows, copy_rows, (unsigned long long)ss.copy_seals,
           (unsigned long long)ss.copy_steps, (unsigned long long)ss.copy_step_max);
    CHECK(ss.copy_seals == 1 && ss.copy_step_max <= max_step);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_build", NULL), 0);
    CHECK_EQ_INT(q1(path, "SELECT count(DISTINCT id) FROM created_users", NULL), (k + 1) * 100LL);
    store_close(st);
}

/* A seal by copy of time-ordered, upper-case ids ("K" and 9 digits, in arrival order): the
 * copy's ranges come from the ids themselves, so no step copies much more than copy_rows
 * rows (ranges of hex prefixes put them all in one step of 2,000). */
static void test_copy_bounds(void)
{
    char path[300];
    struct store *st = open_copy_store("bounds", 2000, 64, "", "gk", path, sizeof(path));
    if (!st)
        return;
    int k = write_until_built(st, path, "k", false, 25, 200);
    struct store_sqlite_stats ss;
    CHECK_EQ_INT(store_sqlite_stats(st, &ss), 0);
    printf("seal by copy, time-ordered ids: %llu seals by copy, %llu steps, at most %llu rows "
           "a copy step\n",
           (unsigned long long)ss.copy_seals, (unsigned long long)ss.copy_steps,
           (unsigned long long)ss.copy_step_max);
    CHECK(ss.copy_seals == 1 && ss.copy_steps >= 20 && ss.copy_step_max <= 4 * 64);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_build", NULL), 0);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), (k + 1) * 100LL);
    CHECK_EQ_INT(q1(path, "SELECT count(DISTINCT id) FROM created_users", NULL), (k + 1) * 100LL);
    store_close(st);

    copy_random("bounds2", 20000, 256, 256 + 256 / 4);
    /* as at 1M rows and copy_rows=2048: about two ranges a group of 4,096 rows */
    copy_random("bounds3", 40000, 2048, 2048 + 2048 / 4);
}

/* One writer past several sizes of its id filter: the filter is replaced by larger ones
 * filled slice by slice between batches, never rebuilt in one go after the first batch, and
 * no stored id is missed meanwhile (a missed id would be appended a second time: count(*)
 * would pass count(DISTINCT id)). Each batch: 1000 new ids spread over the id space and 100
 * updates of older ones, wherever they are (seals wait while runs are moved). */
/* store_tend: a seal by copy whose batches stop before its build ends, in a store that keeps
 * no run (runs=0, so the run is then moved into the main table). Tend steps finish the build
 * and the move with no batch, one short step at a time, store the filter the seal did not,
 * then say there is nothing left. */
static void test_tend(void)
{
    char path[300];
    struct sl_err err;
    struct store *st = open_copy_store("tend", 600, 4, "&runs=0", "gt", path, sizeof(path));
    if (!st)
        return;
    CHECK_EQ_INT(store_tend(st, &err), 0);                /* an empty store: nothing to do */
    int k = write_until_built(st, path, "t", true, 7, 7); /* 700 rows: sealed at 600 */
    CHECK_EQ_INT(k, 7);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_build", NULL), 1);
    long long copied0 = q1(path, "SELECT count(*) FROM created_users_r1", NULL);
    /* a seal by copy does not store the filter (it lacks the copied ids until the end) */
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_filter WHERE gen=1", NULL), 0);
    int steps = 0, rc;
    long long mid_rows = -1;
    while ((rc = store_tend(st, &err)) == 1 && steps < 100000) {
        if (++steps == 20)
            mid_rows = q1(path, "SELECT count(*) FROM created_users", NULL);
    }
    CHECK_EQ_INT(rc, 0);
    struct store_sqlite_stats ss;
    CHECK_EQ_INT(store_sqlite_stats(st, &ss), 0);
    printf("tend: build at %lld of 600 rows copied after the last batch; %d tend steps (%llu "
           "counted) ended it and moved the run\n",
           copied0, steps + 1, (unsigned long long)ss.tend_steps);
    CHECK(copied0 < 600);
    CHECK(steps > 16 && ss.tend_steps == (uint64_t)steps + 1);
    CHECK_EQ_INT(mid_rows, 700);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_build", NULL), 0);
    CHECK_EQ_INT(
        q1(path, "SELECT count(*) FROM sqlite_master WHERE name GLOB 'created_users_[pr]*'", NULL),
        0);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_runs", NULL), 0);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users_main", NULL), 600);
    CHECK_EQ_INT(q1(path, "SELECT count(DISTINCT id) FROM created_users", NULL), 700);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), 700);
    /* the idle writer stored it once the build was done: a crash now costs no id scan */
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_filter WHERE gen=1", NULL), 1);
    CHECK_EQ_INT(store_tend(st, &err), 0);
    store_close(st);
}

/* legacy: a file without the hashes of its first seals (as one made before they were stored):
 * the filter is then filled from the tables' ids. */
static void test_filter_grow(bool legacy)
{
    char u[400], path[300];
    const char *sub = legacy ? "grow_legacy" : "grow";
    snprintf(u, sizeof(u), "sqlite:%s/%s?layout=delta&merge_rows=1500&runs=2", dir, sub);
    snprintf(path, sizeof(path), "%s/%s/spark_streams.db", dir, sub);
    struct store *st = NULL;
    struct sl_err err;
    CHECK(store_open(u, &spec_users()->layout, "g", 0, &st, &err) == 0);
    if (!st)
        return;
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_ids WHERE gen=0 AND length(h)=0", NULL), 1);
    if (legacy) {
        sqlite3 *db = NULL;
        CHECK(sqlite3_open(path, &db) == SQLITE_OK &&
              sqlite3_exec(db, "DELETE FROM sluice_ids", NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_changes(db) == 1);
        sqlite3_close(db);
    }
    enum { NB = 110, NEW = 1000, UPD = 100 };
    static int version[NB * NEW];
    static char cell[NEW + UPD][12][48];
    static struct store_row rows[NEW + UPD];
    long long vsum = 0;
    unsigned seed = 777;
    int64_t next = -1;
    for (int k = 0; k < NB; k++) {
        int n = 0;
        for (int i = 0; i < NEW + UPD && (i < NEW || k > 0); i++) {
            int id = k * NEW + i;
            if (i >= NEW) {
                seed = seed * 1103515245u + 12345u;
                id = (int)((seed >> 8) % (unsigned)(k * NEW));
            }
            version[id]++;
            snprintf(cell[n][0], 48, "%08x-0000-4000-8000-%012d", (unsigned)id * 2654435761u, id);
            versioned_row(cell[n], &rows[n], version[id]);
            n++;
        }
        struct store_offset o = {0, next, next + n};
        CHECK_EQ_INT(store_write_batch(st, "f", rows, (size_t)n, &o, 1, &err), 0);
        next += n;
        if (k % 10 == 9 || k == NB - 1)
            CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), (k + 1) * NEW);
    }
    for (int id = 0; id < NB * NEW; id++)
        vsum += version[id];
    CHECK_EQ_INT(q1(path, "SELECT count(DISTINCT id) FROM created_users", NULL), NB * NEW);
    CHECK_EQ_INT(
        q1(path, "SELECT sum(CAST(substr(first_name, 2) AS INTEGER)) FROM created_users", NULL),
        vsum);
    struct store_sqlite_stats ss;
    CHECK_EQ_INT(store_sqlite_stats(st, &ss), 0);
    printf("filter grow%s: %llu seals, filter built %llu times, grown %llu times; %llu ids "
           "read from the tables, %llu stored hashes\n",
           legacy ? " (legacy)" : "", (unsigned long long)ss.seals,
           (unsigned long long)ss.filter_builds, (unsigned long long)ss.filter_grows,
           (unsigned long long)ss.ids_scanned, (unsigned long long)ss.hashes_read);
    CHECK(ss.seals >= 20);
    CHECK_EQ_INT(ss.filter_builds, 1);
    CHECK(ss.filter_grows >= 3);
    CHECK_EQ_INT(ss.filter_loads, 0);
    /* each growth read the ids sealed by then: some 1500 (first) + 3000 + ... */
    CHECK((legacy ? ss.ids_scanned : ss.hashes_read) >= 10000);
    CHECK_EQ_INT(legacy ? ss.hashes_read : ss.ids_scanned, 0);
    /* one row of hashes per seal, 4 bytes for each id it sealed */
    int64_t nsealed = NB * NEW - q1(path, "SELECT count(*) FROM created_users_delta", NULL);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sluice_ids WHERE gen>0", NULL), ss.seals);
    CHECK_EQ_INT(q1(path, "SELECT sum(length(h)) FROM sluice_ids", NULL), 4 * nsealed);
    store_close(st);

    /* Reopened, the writer reads the filter its last seal stored instead of every stored id,
     * and that filter knows them: updates of the oldest ids (sealed first) and of the newest
     * sealed ones stay updates. With the stored filter made stale (another gen), it reads the
     * ids again. */
    for (int round = 0; round < 2; round++) {
        st = NULL;
        if (round == 1) {
            sqlite3 *db = NULL;
            CHECK(sqlite3_open(path, &db) == SQLITE_OK &&
                  sqlite3_exec(db, "UPDATE sluice_filter SET gen=gen-1", NULL, NULL, NULL) ==
                      SQLITE_OK &&
                  sqlite3_changes(db) == 1);
            sqlite3_close(db);
        }
        CHECK(store_open(u, &spec_users()->layout, "g", 0, &st, &err) == 0);
        if (!st)
            return;
        int n = 0, sealed = (int)(ss.seals * 1500);
        for (int i = 0; i < 400; i++, n++) {
            int id = i < 200 ? i : sealed - 400 + i;
            version[id]++;
            snprintf(cell[n][0], 48, "%08x-0000-4000-8000-%012d", (unsigned)id * 2654435761u, id);
            versioned_row(cell[n], &rows[n], version[id]);
        }
        struct store_offset o = {0, next, next + n};
        CHECK_EQ_INT(store_write_batch(st, "f", rows, (size_t)n, &o, 1, &err), 0);
        next += n;
        vsum += n;
        CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users", NULL), NB * NEW);
        CHECK_EQ_INT(
            q1(path, "SELECT sum(CAST(substr(first_name, 2) AS INTEGER)) FROM created_users", NULL),
            vsum);
        struct store_sqlite_stats rs;
        CHECK_EQ_INT(store_sqlite_stats(st, &rs), 0);
        printf("filter reopened%s%s: read back %llu, built %llu from %llu ids and %llu hashes\n",
               legacy ? " (legacy)" : "", round ? " (stale)" : "",
               (unsigned long long)rs.filter_loads, (unsigned long long)rs.filter_builds,
               (unsigned long long)rs.ids_scanned, (unsigned long long)rs.hashes_read);
        CHECK_EQ_INT(rs.filter_loads, round == 0 ? 1 : 0);
        CHECK_EQ_INT(rs.filter_builds, round == 0 ? 0 : 1);
        /* a build reads every sealed id, from the hashes unless some are missing */
        CHECK_EQ_INT(legacy ? rs.ids_scanned : rs.hashes_read, round == 0 ? 0 : nsealed);
        CHECK_EQ_INT(legacy ? rs.hashes_read : rs.ids_scanned, 0);
        store_close(st);
    }
}

/* A file made in the one-table layout keeps it when opened with layout=delta (and the other
 * way round): the file's layout wins. */
static void test_layout_detect(void)
{
    char u1[400], u2[400], path[300];
    snprintf(u1, sizeof(u1), "sqlite:%s/old?layout=rowid", dir);
    snprintf(u2, sizeof(u2), "sqlite:%s/old?layout=delta&merge_rows=10", dir);
    snprintf(path, sizeof(path), "%s/old/spark_streams.db", dir);
    struct store *st = NULL;
    struct sl_err err;
    static struct store_row rows[100];
    CHECK(store_open(u1, &spec_users()->layout, "g", 0, &st, &err) == 0);
    if (!st)
        return;
    make_rows(rows, 100, 700, 1);
    struct store_offset o = {0, -1, 100};
    CHECK_EQ_INT(store_write_batch(st, "t", rows, 100, &o, 1, &err), 0);
    store_close(st);
    st = NULL;
    CHECK(store_open(u2, &spec_users()->layout, "g", 0, &st, &err) == 0);
    if (!st)
        return;
    make_rows(rows, 100, 700, 2); /* the same ids, newer */
    struct store_offset o2 = {0, 100, 200};
    CHECK_EQ_INT(store_write_batch(st, "t", rows, 100, &o2, 1, &err), 0);
    store_close(st);
    CHECK_EQ_INT(q1(path,
                    "SELECT count(*) FROM sqlite_master WHERE name='created_users' AND "
                    "type='table'",
                    NULL),
                 1);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM sqlite_master WHERE name LIKE '%_delta'", NULL), 0);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users WHERE first_name LIKE '% v2'", NULL),
                 100);
}

/* Several writers opening one new store at the same moment (two jobs of one group started
 * together, as test_process does) all open it: the first one's switch to WAL must not make
 * another fail with "database is locked". */
static void test_open_together(void)
{
    enum { ROUNDS = 40, WRITERS = 4 };
    int failed = 0;
    for (int r = 0; r < ROUNDS; r++) {
        char u[400];
        snprintf(u, sizeof(u), "sqlite:%s/together%d", dir, r);
        pid_t pids[WRITERS];
        for (int w = 0; w < WRITERS; w++) {
            pids[w] = fork();
            if (pids[w] == 0) {
                struct store *st = NULL;
                struct sl_err err;
                char group[16];
                snprintf(group, sizeof(group), "g%d", w);
                if (store_open(u, &spec_users()->layout, group, 0, &st, &err) != 0) {
                    fprintf(stderr, "round %d writer %d: %s\n", r, w, err.msg);
                    _exit(1);
                }
                static struct store_row rows[10];
                make_rows(rows, 10, 800 + w, 1);
                struct store_offset o = {0, -1, 10};
                int rc = store_write_batch(st, "t", rows, 10, &o, 1, &err);
                if (rc != 0)
                    fprintf(stderr, "round %d writer %d: %s\n", r, w, err.msg);
                store_close(st);
                _exit(rc != 0);
            }
        }
        for (int w = 0; w < WRITERS; w++) {
            int status = 0;
            waitpid(pids[w], &status, 0);
            failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    printf("open together: %d rounds of %d writers, %d failed\n", ROUNDS, WRITERS, failed);
    CHECK_EQ_INT(failed, 0);
}

/* A batch of random ids, some twice, goes into the delta in id order (the batch is sorted by
 * key: its first 8 bytes by radix, the rest by comparison), each id once with its later row. */
static void test_batch_order(void)
{
    char path[300];
    struct sl_err err;
    struct store *st = open_at("order", "", path);
    if (!st)
        return;
    enum { N = 400, DUP = 40 };
    static struct store_row rows[N + DUP];
    make_rows(rows, N, 77, 1);
    srand(12345);
    for (int i = 0; i < N; i++) { /* random ids; every 10th shares its first 8 bytes with the
                                   * one before, so runs of equal prefixes are sorted too */
        char *id = cells[i][0];
        for (int c = 0; c < 36; c++)
            if (c != 8 && c != 13 && c != 18 && c != 23)
                id[c] = "0123456789abcdef"[rand() % 16];
        if (i % 10 == 1)
            memcpy(id, cells[i - 1][0], 8);
    }
    static char newer[DUP][12][48];
    for (int i = 0; i < DUP; i++) { /* ids 0, 10, 20...: a later row with newer content */
        rows[N + i] = rows[i * 10];
        for (int c = 1; c < 12; c++) {
            snprintf(newer[i][c], 48, "newer %d", i);
            rows[N + i].col[c] = newer[i][c];
            rows[N + i].len[c] = (uint32_t)strlen(newer[i][c]);
        }
    }
    struct store_offset o[1] = {{0, -1, N + DUP}};
    CHECK_EQ_INT(store_write_batch(st, "u", rows, N + DUP, o, 1, &err), 0);
    store_close(st);
    CHECK_EQ_INT(q1(path, "SELECT count(*) FROM created_users_delta", NULL), N);
    CHECK_EQ_INT(q1(path, "SELECT count(DISTINCT id) FROM created_users_delta", NULL), N);
    CHECK_EQ_INT(
        q1(path, "SELECT count(*) FROM created_users_delta WHERE first_name LIKE 'newer %'", NULL),
        DUP);
    /* rows were appended in id order: no row has a smaller id than the one before it */
    CHECK_EQ_INT(q1(path,
                    "SELECT count(*) FROM (SELECT id, lag(id) OVER (ORDER BY rowid) AS prev FROM "
                    "created_users_delta) WHERE prev IS NOT NULL AND id <= prev",
                    NULL),
                 0);
}

/* The tests of the sink's contract on one store location (layout given by params, "" for
 * the default). */
static void core_suite(const char *name, const char *params)
{
    snprintf(uri, sizeof(uri), "sqlite:%s/%s%s%s", dir, name, *params ? "?" : "", params);
    snprintf(dbpath, sizeof(dbpath), "%s/%s/spark_streams.db", dir, name);
    printf("suite %s (%s)\n", name, *params ? params : "default layout");
    test_atomic();
    test_upsert();
    test_query();
    test_kill9();
    test_offsets_only();
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(uri, sizeof(uri), "sqlite:%s/store", dir);
    snprintf(dbpath, sizeof(dbpath), "%s/store/spark_streams.db", dir);
    test_uri();
    core_suite("store", "");
    core_suite("store_delta", "layout=delta&merge_rows=7000");
    core_suite("store_rowid", "layout=rowid");
    core_suite("store_unsorted", "sort=0");
    test_checkpointer();
    test_batch_order();
    test_delta();
    test_delta_slices();
    test_delta_copy();
    test_copy_bounds();
    test_tend();
    test_layout_detect();
    test_filter_grow(false);
    test_filter_grow(true);
    test_open_together();
    fs_remove_tree(dir, NULL);
    return check_summary();
}
