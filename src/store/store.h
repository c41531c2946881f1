/* The sink interface of the stream job. Sinks register in one table (store.c) as
 * {scheme, ops, capabilities}, in the manner of Fluent Bit's output plugins; a URI's scheme
 * picks one. Callers never call ops directly: they go through the store_*() wrappers below,
 * the one place for argument checks, metrics and timeouts. A store writes a batch of rows and
 * the consumer's progress (offsets); what it guarantees about the two is its capabilities
 * (SQLite: atomic, so the job is exactly once; Cassandra: idempotent upserts + fenced offsets).
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

/* One row: col[i] points at len[i] bytes of valid UTF-8 (not NUL-terminated), never NULL.
 * partition/offset/ts_ms say where the row came from (the Kafka record; ts_ms -1 if unknown):
 * a store without transactions derives a write version from them (see cassandra.c). */
struct store_row {
    const char *col[STORE_MAX_COLS];
    uint32_t len[STORE_MAX_COLS];
    int32_t partition;
    int64_t offset;
    int64_t ts_ms;
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
/* The store cannot take writes for now (disk full, database locked, node unreachable): nothing
 * was written; the same batch may succeed later, so the caller waits and retries instead of
 * giving up. */
#define STORE_RETRY 2
/* The store's disk is failing (an I/O error, a failed fsync: what is on disk is no longer
 * known): the batch may or may not be stored, together with its offsets; the caller stops
 * rather than write on, and a restart goes on from the stored offsets. */
#define STORE_FATAL 3

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
     * all or nothing. Returns 0, STORE_CONFLICT (nothing written, err names the partition),
     * STORE_RETRY (nothing written, a passing condition such as a full disk),
     * STORE_FATAL (the disk is failing: stop) or -1 (nothing written). */
    int (*write_batch)(struct store *st, const char *topic, const struct store_row *rows,
                       size_t nrows, const struct store_offset *offs, size_t noffs,
                       struct sl_err *err);
    /* Runs one statement of the store's query language, calling cb for each row until it
     * returns non-zero; gives up after timeout_ms. */
    int (*query)(struct store *st, const char *q, int64_t timeout_ms, store_row_cb cb, void *arg,
                 struct sl_err *err);
    void (*close)(struct store *st);
    /* Optional: one step of the layout work that batches pay for as they come (SQLite: a run
     * being built by copy, a run moved into the main table), for when no batch comes. A step
     * is about as long as what a batch pays for. Returns 1 when work is left, 0 when none,
     * -1 on error (the store is as it was; tried again after the next batch). */
    int (*tend)(struct store *st, struct sl_err *err);
};

/* What a sink guarantees (store_sink.caps). */
#define STORE_CAP_ATOMIC_OFFSETS 0x1u /* rows and offsets commit together (exactly once) */
#define STORE_CAP_IDEMPOTENT_UPSERTS                                                               \
    0x2u                              /* writing a row again, or an older version of it,           \
                                         never changes what a newer write left */
#define STORE_CAP_FENCED_OFFSETS 0x4u /* an offset write from a stale owner is refused */

/* One registered sink. The URI "SCHEME:rest" goes to ops->open as location "rest" (for
 * "cassandra://h/ks" the location is "//h/ks"). */
struct store_sink {
    const char *scheme;
    const struct store_ops *ops;
    unsigned caps;
    const char *usage; /* URI shape, for error messages */
    /* Records per batch the stream job uses under load when --batch-max is not given (0: the
     * job's own default). */
    int64_t batch_max;
};

/* Counters kept by the wrappers for every handle. */
struct store_metrics {
    uint64_t batches, rows, conflicts, failures;
    uint64_t write_us; /* total time in write_batch */
    uint64_t queries;
};

/* Every store's handle starts with this. ops is set by the sink's open, the rest by
 * store_open. */
struct store {
    const struct store_ops *ops;
    const struct store_sink *sink;
    struct store_metrics metrics;
};

extern const struct store_ops sqlite_store_ops;
extern const struct store_ops cassandra_store_ops;

/* The registered sinks, terminated by an entry with scheme NULL. */
extern const struct store_sink store_sinks[];

/* The sink's batch_max for uri (see struct store_sink); 0 when it has none or uri names no
 * sink. */
int64_t store_batch_max(const char *uri);

/* Opens the store named by uri: "sqlite:DIR[?param=value&...]" (see sqlite.c) or
 * "cassandra://[USER:PASS@]HOST[:PORT][,HOST...]/KEYSPACE[?...]" (see cassandra.c).
 * Caller closes with store_close. */
int store_open(const char *uri, const struct store_table *t, const char *group, unsigned flags,
               struct store **out, struct sl_err *err);
/* The wrappers of store_ops (same contracts as there), with argument checks and metrics. */
int store_load_offset(struct store *st, const char *topic, int32_t partition, int64_t *next,
                      struct sl_err *err);
int store_write_batch(struct store *st, const char *topic, const struct store_row *rows,
                      size_t nrows, const struct store_offset *offs, size_t noffs,
                      struct sl_err *err);
/* timeout_ms <= 0 means the default of 30 s. */
int store_query(struct store *st, const char *q, int64_t timeout_ms, store_row_cb cb, void *arg,
                struct sl_err *err);
void store_close(struct store *st);
/* ops->tend, or 0 for a store without one. */
int store_tend(struct store *st, struct sl_err *err);
/* The capabilities of st's sink (STORE_CAP_*). */
unsigned store_caps(const struct store *st);

/* The SQLite sink's own layout work on one handle (for tests and stats). */
struct store_sqlite_stats {
    uint64_t seals;          /* deltas this handle sealed into runs */
    uint64_t filter_builds;  /* id filters built by reading every stored id */
    uint64_t filter_grows;   /* id filters replaced by a larger one filled slice by slice */
    uint64_t filter_loads;   /* id filters read back from the file (stored by the last seal) */
    uint64_t copy_seals;     /* of the seals, those that fill their run by copy, step by step */
    uint64_t copy_steps;     /* steps of those builds this handle did */
    uint64_t copy_step_max;  /* the most rows one copy step of this handle copied */
    uint64_t tend_steps;     /* steps of builds or moves done by store_tend (no batch) */
    uint64_t ids_scanned;    /* stored ids read from the tables into id filters */
    uint64_t hashes_read;    /* stored hashes of sealed ids read into id filters instead */
    uint64_t filter_fill_us; /* time spent filling id filters (builds, reads back, growths) */
};
/* -1 when st is not an SQLite store. */
int store_sqlite_stats(const struct store *st, struct store_sqlite_stats *out);

/* Copies uri into out with any password ("USER:PASS@") replaced by "***", for logs. */
void store_uri_redact(const char *uri, char *out, size_t cap);

/* The default store URI for a data directory: "sqlite:DATA_DIR/store". */
int store_default_uri(const char *data_dir, char *out, size_t cap);

#endif
