/* Inside the scheduling loop (not for other modules): its state, the small DB helpers its
 * files share (sched_db.c), timetables and the DAG files' registry (dagbag.c). Single-threaded:
 * everything here runs on the loop's thread. */
#ifndef SLUICE_SCHEDULER_SCHED_INT_H
#define SLUICE_SCHEDULER_SCHED_INT_H

#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/dag.h"
#include "scheduler/executor.h"
#include "scheduler/sched_opts.h"

#define SCHED_MOD "scheduler"
#define BUILTIN_DAG_ID "user_automation"
#define MAX_RUNS_PER_TURN 100

struct dag_ent {
    struct dag *dag;
    char *file; /* the file that defines it, or DAGFILE_BUILTIN_LOC */
    bool paused;
    bool import_error;
    /* the latest scheduled run, loaded once from the DB then kept up to date */
    bool last_loaded;
    bool has_last;
    int64_t last_logical, last_start, last_end;
    char next_written[32]; /* the next_dagrun_run_after last written, to skip rewrites */
};

struct file_ent {
    char *path;
    int64_t mtime_ns;
    int64_t size;
    bool seen;
};

struct sched {
    struct sched_opts o;
    char *dags_folder, *data_dir, *self_exe;
    char db_path[PATH_MAX];
    char logs_dir[PATH_MAX];
    char hostname[256];
    sqlite3 *db;
    struct executor ex;
    struct dag_ent *dags;
    int ndags;
    struct file_ent *files;
    int nfiles;
    int64_t last_parse_us;
    int64_t defaults_stamp; /* of defaults.yml / defaults.yaml in the DAGs folder */
    int64_t last_heartbeat_us;
    bool recovered;
    bool folder_warned;
    bool again; /* a run finished: turn again at once (the next one may start) */
};

struct run_info {
    int64_t logical, start, end, run_after; /* seconds */
};

/* sched_db.c: clock, SQL with bound arguments ("s" text or NULL, "i" int64, "d" double, "n"
 * null), times as the DB writes them, log paths and lines. */
int64_t sched_now_us(struct sched *s);
char *sched_strdup(const char *p); /* aborts when memory is out */
/* Runs one statement; the number of changed rows, or -1 (logged). */
int sdb_exec(struct sched *s, const char *q, const char *fmt, ...);
/* A prepared statement with its arguments bound (caller finalizes), or NULL (logged). */
sqlite3_stmt *sdb_query(struct sched *s, const char *q, const char *fmt, ...);
const char *sdb_col(sqlite3_stmt *st, int i);
char *sdb_ts(int64_t us, char out[32]);    /* microseconds -> ISO text */
char *sdb_ts_s(int64_t sec, char out[32]); /* seconds -> ISO text */
int64_t sdb_parse_ts(const char *text);    /* ISO text -> microseconds; INT64_MIN if none */
void sdb_begin(struct sched *s);
void sdb_commit(struct sched *s);
struct dag_ent *sched_find_dag(struct sched *s, const char *dag_id);
/* DATA_DIR/scheduler/logs/dag_id=D/run_id=R/task_id=T/attempt=N.log */
void sched_log_path(struct sched *s, const char *dag_id, const char *run_id, const char *task_id,
                    int try_number, char *out, size_t cap);
/* Appends one line in Airflow's log style to a try's log. */
void sched_try_log(struct sched *s, const char *path, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* dagbag.c */
/* The next scheduled run of a DAG after its last one; 0 when there is none. */
int sched_next_run(const struct sched *s, const struct dag_ent *e, int64_t now,
                   struct run_info *ri);
/* Re-reads changed files of the DAGs folder, writes dag and import_error rows. */
void dagbag_refresh(struct sched *s, int64_t now);
/* Loads the latest scheduled run of a DAG from the DB, once. */
void dagbag_load_last_run(struct sched *s, struct dag_ent *e);
/* Writes the DAG's next_dagrun_* columns when they changed (now in seconds). */
void dagbag_write_next(struct sched *s, struct dag_ent *e, int64_t now);

#endif
