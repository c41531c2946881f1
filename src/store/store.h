/* The sink interface of the stream job: a struct of callbacks per store (SQLite now, Cassandra
 * later), chosen by a URI. A store writes a batch of rows and the consumer's progress (offsets)
 * together, so that a store able to do so atomically (SQLite) makes the job exactly once.
 * Rows are described by a table layout taken from the job spec (src/process/spec.h). */
#ifndef SLUICE_STORE_STORE_H
#define SLUICE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define STORE_MAX_COLS 64
#define STORE_NAME_MAX 64

/* The table rows go to: keyspace.table(cols...), primary key = cols[key_col]. */
struct store_table {
    const char *keyspace;    /* "spark_streams" */
    const char *table;       /* "created_users" */
    int ncols;               /* 1..STORE_MAX_COLS */
    const char *const *cols; /* column names, all text */
    int key_col;             /* index of the primary key column */
};

/* One row: col[i] points at len[i] bytes of valid UTF-8 (not NUL-terminated), never NULL. */
struct store_row {
    const char *col[STORE_MAX_COLS];
    uint32_t len[STORE_MAX_COLS];
};

/* Progress of one partition in a batch. prev_next is the next_offset the writer believes is
 * stored (-1: none stored); the store refuses the batch (STORE_CONFLICT) when it differs, which
 * fences off an instance that lost the partition without knowing it. */
struct store_offset {
    int32_t partition;
    int64_t prev_next;
    int64_t next_offset;
};

/* Result codes besides 0 and -1. */
#define STORE_CONFLICT 1

/* Open flags. */
#define STORE_READONLY 1u

/* Values handed to a query callback: text form of each column (NULL for SQL NULL) and its
 * type. Valid only during the callback. */
enum store_type { STORE_T_NULL = 0, STORE_T_INT, STORE_T_REAL, STORE_T_TEXT, STORE_T_BLOB };
typedef int (*store_row_cb)(void *arg, int ncols, const char *const *names, const char *const *vals,
                            const enum store_type *types);

struct store;

struct store_ops {
    const char *name;
    /* Opens (creating unless STORE_READONLY) the store at location (the URI without its
     * scheme), for table t and consumer group `group` (may be NULL when read-only). */
    int (*open)(struct store **out, const char *location, const struct store_table *t,
                const char *group, unsigned flags, struct sl_err *err);
    /* Sets *next to the stored next offset of (group, topic, partition), -1 if none. */
    int (*load_offset)(struct store *st, const char *topic, int32_t partition, int64_t *next,
                       struct sl_err *err);
    /* Upserts rows (later rows win over earlier ones with the same key) and records offs,
     * all or nothing. Returns 0, STORE_CONFLICT (nothing written, err names the partition)
     * or -1 (nothing written). */
    int (*write_batch)(struct store *st, const char *topic, const struct store_row *rows,
                       size_t nrows, const struct store_offset *offs, size_t noffs,
                       struct sl_err *err);
    /* Runs one statement of the store's query language, calling cb for each row until it
     * returns non-zero; gives up after timeout_ms. */
    int (*query)(struct store *st, const char *q, int64_t timeout_ms, store_row_cb cb, void *arg,
                 struct sl_err *err);
    void (*close)(struct store *st);
};

/* Every store's handle starts with this. */
struct store {
    const struct store_ops *ops;
};

extern const struct store_ops sqlite_store_ops;

/* Opens the store named by uri: "sqlite:DIR[?param=value&...]" (see sqlite.c) or
 * "cassandra://..." (not supported yet). Caller closes with store_close. */
int store_open(const char *uri, const struct store_table *t, const char *group, unsigned flags,
               struct store **out, struct sl_err *err);
void store_close(struct store *st);

/* The default store URI for a data directory: "sqlite:DATA_DIR/store". */
int store_default_uri(const char *data_dir, char *out, size_t cap);

#endif
