/* `sluice query`: runs one read-only statement against the store and prints the rows as an
 * aligned table or a JSON array. For SQLite the keyspace file is opened read-only and also
 * attached under the keyspace's name, so created_users and spark_streams.created_users both
 * work. Output is bounded by --limit rows (and each table cell by QUERY_CELL_MAX). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/config.h"
#include "process/spec.h"
#include "store/store.h"

#define QUERY_CELL_MAX 200 /* characters shown per table cell */

static const struct opt_def query_opts[] = {
    {"store", OPT_STRING, NULL, "URI",
     "sqlite:DIR or cassandra://[USER:PASS@]HOST[:PORT][,...]/KEYSPACE [default: "
     "sqlite:DATA_DIR/store]"},
    {"data-dir", OPT_STRING, "./sluice-data", "DIR", "data directory"},
    {"json", OPT_BOOL, "false", NULL, "print a JSON array of objects instead of a table"},
    {"limit", OPT_INT, "1000", "N", "print at most N rows (says so when more exist)"},
    {"timeout", OPT_DURATION, "30s", "DURATION", "give up on a query after this long"},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def query_cmd = {
    "query",
    "Run one read-only query against the store and print the rows.",
    "sluice query [--store sqlite:DIR|cassandra://...] [--json] [--limit N] \"QUERY\"",
    query_opts,
    "SQLite: the statement runs as given on DIR/spark_streams.db, opened read-only; the file is\n"
    "also attached as spark_streams, so both of these work:\n"
    "  sluice query \"SELECT count(*) FROM created_users\"\n"
    "  sluice query \"SELECT id, email FROM spark_streams.created_users LIMIT 5\"\n"
    "The job's progress is in the table sluice_offsets(group_id, topic, partition, next_offset).\n"
    "Cassandra: one CQL SELECT, run in the URI's keyspace (paged, at the URI's consistency):\n"
    "  sluice query --store cassandra://127.0.0.1/spark_streams \"SELECT count(*) FROM "
    "created_users\"",
};

struct result {
    int ncols;
    char **names; /* ncols */
    char **cells; /* nrows * ncols; NULL = SQL NULL */
    enum store_type *types;
    size_t nrows, cap;
    size_t limit;
    bool truncated;
    bool oom;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int collect(void *arg, int ncols, const char *const *names, const char *const *vals,
                   const enum store_type *types)
{
    struct result *r = arg;
    if (!r->names) {
        r->ncols = ncols;
        r->names = calloc((size_t)ncols + 1, sizeof(char *));
        if (!r->names)
            goto oom;
        for (int i = 0; i < ncols; i++)
            r->names[i] = strdup(names[i] ? names[i] : "");
    }
    if (r->nrows >= r->limit) {
        r->truncated = true;
        return 1;
    }
    if (r->nrows == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        char **c = realloc(r->cells, cap * (size_t)ncols * sizeof(char *) + 1);
        enum store_type *t = realloc(r->types, cap * (size_t)ncols * sizeof(*t) + 1);
        if (c)
            r->cells = c;
        if (t)
            r->types = t;
        if (!c || !t)
            goto oom;
        r->cap = cap;
    }
    for (int i = 0; i < ncols; i++) {
        r->cells[r->nrows * (size_t)ncols + (size_t)i] = dup_or_null(vals[i]);
        r->types[r->nrows * (size_t)ncols + (size_t)i] = types[i];
    }
    r->nrows++;
    return 0;
oom:
    r->oom = true;
    return 1;
}

/* Display width in code points (close enough for alignment of mostly-Latin text). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        w += (*p & 0xC0) != 0x80;
    return w;
}

/* Prints s padded to w columns, cut at QUERY_CELL_MAX characters. */
static void print_cell(const char *s, size_t w, bool last)
{
    size_t shown = 0;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *cut = p;
    while (*cut && shown < QUERY_CELL_MAX) {
        cut++;
        while ((*cut & 0xC0) == 0x80)
            cut++;
        shown++;
    }
    fwrite(p, 1, (size_t)(cut - p), stdout);
    if (*cut) {
        fputs("…", stdout);
        shown++;
    }
    if (!last) {
        for (size_t i = shown; i < w; i++)
            putchar(' ');
        fputs(" | ", stdout);
    }
}

static void print_table(const struct result *r)
{
    size_t w[STORE_MAX_COLS * 4];
    for (int c = 0; c < r->ncols; c++) {
        w[c] = width(r->names[c]);
        for (size_t i = 0; i < r->nrows; i++) {
            const char *v = r->cells[i * (size_t)r->ncols + (size_t)c];
            size_t x = width(v ? v : "NULL");
            if (x > QUERY_CELL_MAX)
                x = QUERY_CELL_MAX + 1;
            if (x > w[c])
                w[c] = x;
        }
    }
    for (int c = 0; c < r->ncols; c++)
        print_cell(r->names[c], w[c], c == r->ncols - 1);
    putchar('\n');
    for (int c = 0; c < r->ncols; c++) {
        for (size_t i = 0; i < w[c]; i++)
            putchar('-');
        if (c < r->ncols - 1)
            fputs("-+-", stdout);
    }
    putchar('\n');
    for (size_t i = 0; i < r->nrows; i++) {
        for (int c = 0; c < r->ncols; c++) {
            const char *v = r->cells[i * (size_t)r->ncols + (size_t)c];
            print_cell(v ? v : "NULL", w[c], c == r->ncols - 1);
        }
        putchar('\n');
    }
    printf("(%zu row%s)\n", r->nrows, r->nrows == 1 ? "" : "s");
}

static int print_json(const struct result *r)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return -1;
    for (size_t i = 0; i < r->nrows; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o))
            goto oom;
        for (int c = 0; c < r->ncols; c++) {
            size_t k = i * (size_t)r->ncols + (size_t)c;
            const char *v = r->cells[k];
            cJSON *item;
            if (!v) {
                item = cJSON_CreateNull();
            } else if (r->types[k] == STORE_T_INT) {
                item = cJSON_CreateRaw(v); /* SQLite's integer text is a JSON number */
            } else if (r->types[k] == STORE_T_REAL) {
                double d = strtod(v, NULL);
                item = isfinite(d) ? cJSON_CreateNumber(d) : cJSON_CreateNull();
            } else {
                item = cJSON_CreateString(v);
            }
            if (!item || !cJSON_AddItemToObject(o, r->names[c], item))
                goto oom;
        }
    }
    char *s = cJSON_Print(arr);
    cJSON_Delete(arr);
    if (!s)
        return -1;
    puts(s);
    free(s);
    return 0;
oom:
    cJSON_Delete(arr);
    return -1;
}

static void result_free(struct result *r)
{
    for (size_t i = 0; i < r->nrows * (size_t)r->ncols; i++)
        free(r->cells[i]);
    if (r->names) {
        for (int i = 0; i < r->ncols; i++)
            free(r->names[i]);
    }
    free(r->names);
    free(r->cells);
    free(r->types);
}

int query_main(int argc, char **argv)
{
    struct config *cfg;
    struct sl_err err;
    int rc = config_parse(&query_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice query: %s\n", err.msg);
        return 2;
    }
    struct store *st = NULL;
    struct result r = {0};
    int ret = 2;
    char uri[4096];
    if (config_nargs(cfg) != 1) {
        fprintf(stderr, "sluice query: expected exactly one query argument, e.g. "
                        "sluice query \"SELECT count(*) FROM created_users\"\n");
        goto out;
    }
    int64_t limit = config_int(cfg, "limit");
    if (limit < 0 || limit > 10000000) {
        fprintf(stderr, "sluice query: --limit must be 0-10000000\n");
        goto out;
    }
    r.limit = (size_t)limit;
    const char *u = config_str(cfg, "store");
    if (u)
        snprintf(uri, sizeof(uri), "%s", u);
    else if (store_default_uri(config_str(cfg, "data-dir"), uri, sizeof(uri)) != 0) {
        fprintf(stderr, "sluice query: --data-dir is too long\n");
        goto out;
    }
    ret = 1;
    if (store_open(uri, &spec_users()->layout, NULL, STORE_READONLY, &st, &err) != 0) {
        fprintf(stderr, "sluice query: %s\n", err.msg);
        goto out;
    }
    if (store_query(st, config_arg(cfg, 0), config_ms(cfg, "timeout"), collect, &r, &err) != 0) {
        fprintf(stderr, "sluice query: %s\n", err.msg);
        goto out;
    }
    if (r.oom) {
        fprintf(stderr, "sluice query: out of memory\n");
        goto out;
    }
    if (config_bool(cfg, "json")) {
        if (print_json(&r) != 0) {
            fprintf(stderr, "sluice query: out of memory\n");
            goto out;
        }
    } else if (r.names) {
        print_table(&r);
    } else {
        printf("(0 rows)\n");
    }
    if (r.truncated)
        fprintf(stderr, "sluice query: output stopped at %zu rows (--limit); more rows exist\n",
                r.nrows);
    ret = 0;
out:
    result_free(&r);
    store_close(st);
    config_free(cfg);
    return ret;
}
