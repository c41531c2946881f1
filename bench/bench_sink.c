/* bench_sink: the SQLite sink's levers measured through the store interface itself, on
 * 12-column user rows keyed by random UUIDs (the case DESIGN.md calls the bottleneck):
 * transaction size, table layout (rowid vs WITHOUT ROWID vs the two-level layout=delta),
 * sorting a batch by key, page cache size, synchronous=NORMAL vs FULL. Each variant writes into
 * a fresh database.
 *   bench_sink [-n ROWS] [-b BATCH] [-d DIR] [-v VARIANT]   (prints one line per variant)
 * Growth mode: one store (location parameters PARAMS, "" for the defaults) grows from empty to
 * ROWS rows, 1% of them updates of earlier ids, rows made on the fly; prints rows/s and batch
 * p99 per STEP rows:
 *   bench_sink -g -n ROWS [-s STEP] [-b BATCH] [-p PARAMS] [-d DIR] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/units.h"
#include "core/uuid.h"
#include "process/spec.h"
#include "process/stats.h"
#include "store/store.h"

struct variant {
    const char *name;
    const char *params; /* sqlite location parameters */
    int batch;          /* 0: the -b value */
    double share;       /* fraction of -n rows to write (slow variants write fewer) */
};

static const struct variant variants[] = {
    {"naive: 1 row per transaction, SQLite defaults",
     "layout=rowid&sort=0&cache_mb=2&checkpoint=inline&checkpoint_pages=1000", 1, 0.05},
    {"batch, rowid table, unsorted, 2 MB cache", "layout=rowid&sort=0&cache_mb=2", 0, 1},
    {"batch, rowid table, sorted, 2 MB cache", "layout=rowid&sort=1&cache_mb=2", 0, 1},
    {"batch, rowid, sorted, 64 MB, background ckpt 10000 (default before issue 12)",
     "layout=rowid&sort=1&cache_mb=64", 0, 1},
    {"batch, rowid table, sorted, 256 MB cache", "layout=rowid&sort=1&cache_mb=256", 0, 1},
    {"inline checkpoint every 1000 pages (SQLite default)",
     "layout=rowid&checkpoint=inline&checkpoint_pages=1000", 0, 1},
    {"inline checkpoint every 10000 pages", "layout=rowid&checkpoint=inline&checkpoint_pages=10000",
     0, 1},
    {"inline checkpoint every 40000 pages", "layout=rowid&checkpoint=inline&checkpoint_pages=40000",
     0, 1},
    {"background checkpoint every 40000 pages", "layout=rowid&checkpoint_pages=40000", 0, 1},

    {"batch, WITHOUT ROWID, unsorted, 64 MB cache", "layout=without_rowid&sort=0&cache_mb=64", 0,
     1},
    {"batch, WITHOUT ROWID, sorted, 64 MB cache", "layout=without_rowid&sort=1&cache_mb=64", 0, 1},
    {"one table, synchronous=FULL", "layout=rowid&synchronous=full", 0, 1},
    {"two-level layout (layout=delta, the default since issue 12)", "layout=delta", 0, 1},
    {"two-level layout, merge every 100k rows", "layout=delta&merge_rows=100000", 0, 1},
};
#define NVARIANTS ((int)(sizeof(variants) / sizeof(variants[0])))

/* Text of one user row; rows are generated once and reused by every variant. */
struct urow {
    char c[12][96];
};

/* Row i's columns but the id. */
static void fill_cols(struct urow *u, long i)
{
    snprintf(u->c[1], 96, "First%ld", i % 5000);
    snprintf(u->c[2], 96, "Last%ld", (i * 7) % 9000);
    snprintf(u->c[3], 96, "%s", i & 1 ? "female" : "male");
    snprintf(u->c[4], 96, "%ld Main Street, Springfield %ld, State %ld, Country %ld", i % 9999,
             i % 700, i % 50, i % 30);
    snprintf(u->c[5], 96, "%05ld", (i * 13) % 99999);
    snprintf(u->c[6], 96, "first%ld.last%ld@example.com", i % 5000, i);
    snprintf(u->c[7], 96, "user%ld", i);
    snprintf(u->c[8], 96, "1980-01-%02ldT10:00:00.000Z", 1 + i % 28);
    snprintf(u->c[9], 96, "2015-06-%02ldT10:00:00.000Z", 1 + i % 28);
    snprintf(u->c[10], 96, "(0%02ld) %07ld", i % 100, i % 10000000);
    snprintf(u->c[11], 96, "https://randomuser.me/api/portraits/med/women/%ld.jpg", i % 100);
}

static void fill(struct urow *u, long i)
{
    uint8_t id[16];
    uuid_v4(id);
    uuid_format(id, u->c[0]);
    fill_cols(u, i);
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Row i of the growth mode: a deterministic random-looking UUID per id index. */
static void fill_id(struct urow *u, long i, long idx)
{
    fill_cols(u, i); /* no random id: a getrandom call a row was 4 % of the run's samples */
    uint64_t a = mix64((uint64_t)idx), b = mix64(a);
    snprintf(u->c[0], 96, "%08x-%04x-4%03x-%x%03x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)(a >> 4) & 0xfff, 8 + (unsigned)(b & 3),
             (unsigned)(b >> 8) & 0xfff, (unsigned long long)(b >> 16) & 0xffffffffffffull);
}

static int grow(long n, long step, long batch, const char *dir, const char *params)
{
    char uri[4400];
    snprintf(uri, sizeof(uri), "sqlite:%s/grow%s%s", dir, *params ? "?" : "", params);
    struct store *st;
    struct sl_err err;
    if (store_open(uri, &spec_users()->layout, "bench", 0, &st, &err) != 0) {
        fprintf(stderr, "bench_sink: %s\n", err.msg);
        return 1;
    }
    struct urow *u = malloc((size_t)batch * sizeof(*u));
    struct store_row *rows = malloc((size_t)batch * sizeof(*rows));
    if (!u || !rows)
        return 1;
    printf("%12s %10s %12s %12s %12s\n", "rows", "rows/s", "batch p50 ms", "batch p99 ms",
           "batch max ms");
    int64_t off = -1, t0 = mono_us(), step_t0 = t0;
    long next_step = step;
    struct hist lat = {0};
    int64_t lat_max = 0;
    for (long i = 0; i < n; i += batch) {
        long k = n - i < batch ? n - i : batch;
        for (long r = 0; r < k; r++) {
            long at = i + r;
            /* 1% updates of one of the last 1000 ids */
            long idx = (mix64((uint64_t)at * 7 + 1) % 100 == 0 && at > 1000)
                           ? at - 1 - (long)(mix64((uint64_t)at) % 1000)
                           : at;
            fill_id(&u[r], at, idx);
            for (int col = 0; col < 12; col++) {
                rows[r].col[col] = u[r].c[col];
                rows[r].len[col] = (uint32_t)strlen(u[r].c[col]);
            }
        }
        struct store_offset o = {0, off, i + k};
        int64_t b0 = mono_us();
        if (st->ops->write_batch(st, "bench", rows, (size_t)k, &o, 1, &err) != 0) {
            fprintf(stderr, "bench_sink: %s\n", err.msg);
            return 1;
        }
        off = i + k;
        int64_t took = mono_us() - b0;
        hist_add(&lat, (uint64_t)took);
        lat_max = took > lat_max ? took : lat_max;
        if (i + k >= next_step || i + k == n) {
            int64_t now = mono_us();
            printf("%12ld %10.0f %12.1f %12.1f %12.1f\n", i + k,
                   (double)(i + k - (next_step - step)) * 1e6 / (double)(now - step_t0),
                   hist_quantile(&lat, 0.5) / 1000.0, hist_quantile(&lat, 0.99) / 1000.0,
                   lat_max / 1000.0);
            fflush(stdout);
            memset(&lat, 0, sizeof(lat));
            lat_max = 0;
            step_t0 = now;
            next_step += step;
        }
    }
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    printf("total %ld rows in %.1f s: %.0f rows/s, CPU %.1f s (%.1f us per row)\n", n,
           (mono_us() - t0) / 1e6, n * 1e6 / (double)(mono_us() - t0),
           (double)cpu.tv_sec + cpu.tv_nsec / 1e9,
           ((double)cpu.tv_sec * 1e6 + cpu.tv_nsec / 1e3) / (double)n);
    struct store_sqlite_stats ss;
    if (store_sqlite_stats(st, &ss) == 0) {
        printf("seals %llu (by copy %llu: %llu steps, at most %llu rows a copy step)\n",
               (unsigned long long)ss.seals, (unsigned long long)ss.copy_seals,
               (unsigned long long)ss.copy_steps, (unsigned long long)ss.copy_step_max);
        printf("id filter: built %llu, grown %llu times; %llu ids read from the tables, %llu "
               "stored hashes; %.2f s\n",
               (unsigned long long)ss.filter_builds, (unsigned long long)ss.filter_grows,
               (unsigned long long)ss.ids_scanned, (unsigned long long)ss.hashes_read,
               ss.filter_fill_us / 1e6);
    }
    store_close(st);
    free(u);
    free(rows);
    return 0;
}

int main(int argc, char **argv)
{
    bool growth = false;
    long step = 1000000;
    const char *params = "";
    long n = 300000, batch = 5000;
    const char *dir = NULL;
    int only = -1, c;
    while ((c = getopt(argc, argv, "n:b:d:v:gs:p:")) != -1) {
        switch (c) {
        case 'n':
            n = atol(optarg);
            break;
        case 'b':
            batch = atol(optarg);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'v':
            only = atoi(optarg);
            break;
        case 'g':
            growth = true;
            break;
        case 's':
            step = atol(optarg);
            break;
        case 'p':
            params = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_sink [-n ROWS] [-b BATCH] [-d DIR] [-v VARIANT]\n");
            return 2;
        }
    }
    if (n < 1000 || batch < 1)
        return 2;
    char tmp[] = "/tmp/sluice-bench-sink-XXXXXX";
    if (!dir && !(dir = mkdtemp(tmp)))
        return 1;
    if (growth) {
        int rc = step > 0 ? grow(n, step, batch, dir, params) : 2;
        if (dir == tmp)
            fs_remove_tree(tmp, NULL);
        return rc;
    }
    struct urow *u = malloc((size_t)n * sizeof(*u));
    struct store_row *rows = malloc((size_t)batch * sizeof(*rows));
    if (!u || !rows)
        return 1;
    for (long i = 0; i < n; i++)
        fill(&u[i], i);
    const struct store_table *t = &spec_users()->layout;
    printf("%-60s %8s %8s %12s\n", "variant", "rows", "rows/s", "batch p99 ms");
    for (int v = 0; v < NVARIANTS; v++) {
        if (only >= 0 && v != only)
            continue;
        char sub[4200], uri[4400];
        snprintf(sub, sizeof(sub), "%s/v%d", dir, v);
        fs_remove_tree(sub, NULL);
        snprintf(uri, sizeof(uri), "sqlite:%s?%s", sub, variants[v].params);
        struct store *st;
        struct sl_err err;
        if (store_open(uri, t, "bench", 0, &st, &err) != 0) {
            fprintf(stderr, "bench_sink: %s\n", err.msg);
            return 1;
        }
        long total = (long)(n * variants[v].share),
             b = variants[v].batch ? variants[v].batch : batch;
        int64_t off = -1, t0 = mono_us();
        struct hist lat = {0};
        for (long i = 0; i < total; i += b) {
            long k = total - i < b ? total - i : b;
            for (long r = 0; r < k; r++) {
                for (int col = 0; col < 12; col++) {
                    rows[r].col[col] = u[i + r].c[col];
                    rows[r].len[col] = (uint32_t)strlen(u[i + r].c[col]);
                }
            }
            struct store_offset o = {0, off, i + k};
            int64_t b0 = mono_us();
            if (store_write_batch(st, "bench", rows, (size_t)k, &o, 1, &err) != 0) {
                fprintf(stderr, "bench_sink: %s\n", err.msg);
                return 1;
            }
            off = i + k;
            hist_add(&lat, (uint64_t)(mono_us() - b0));
        }
        double secs = (mono_us() - t0) / 1e6;
        printf("%-60s %8ld %8.0f %12.1f\n", variants[v].name, total, total / secs,
               hist_quantile(&lat, 0.99) / 1000.0);
        fflush(stdout);
        store_close(st);
        fs_remove_tree(sub, NULL);
    }
    if (dir == tmp)
        fs_remove_tree(tmp, NULL);
    free(u);
    free(rows);
    return 0;
}
