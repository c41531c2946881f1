/* The scheduler's metadata database: SQLite in WAL mode at DATA_DIR/scheduler/scheduler.db,
 * shared by the scheduling loop (which owns every state change of runs and task instances)
 * and the REST API / web UI (which read it, and write only the three user actions below).
 * This file is the contract between them, as Airflow's metadata DB is between its scheduler
 * and its API server.
 *
 * Times are ISO 8601 UTC text with microseconds, "2023-09-03T10:00:00.000000Z", or NULL.
 * States use Airflow's words. Run: queued | running | success | failed. Task instance:
 * NULL (no status) | scheduled | queued | running | success | failed | up_for_retry |
 * upstream_failed | skipped.
 *
 * User actions (REST/UI), each one statement or transaction, followed by scheduler_wake():
 *  - pause/unpause:  UPDATE dag SET is_paused=? WHERE dag_id=?
 *  - trigger:        INSERT INTO dag_run (dag_id, run_id, run_type='manual',
 *                    triggered_by='rest_api'|'ui'|'cli', state='queued', logical_date,
 *                    data_interval_start, data_interval_end, run_after, queued_at, conf,
 *                    note, dag_version = dag.version); the loop creates its task instances.
 *  - mark run:       UPDATE dag_run SET state=? (queued|success|failed), note=?
 * Task logs: DATA_DIR/scheduler/logs/dag_id=<dag>/run_id=<run>/task_id=<task>/attempt=<n>.log
 * (Airflow's layout), one file per try, appended while the try runs. */
#ifndef SLUICE_SCHEDULER_META_H
#define SLUICE_SCHEDULER_META_H

#include <sqlite3.h>

#include "core/err.h"

/* clang-format off */
#define META_SCHEMA                                                                                \
    "CREATE TABLE IF NOT EXISTS dag ("                                                             \
    " dag_id TEXT PRIMARY KEY,"                                                                    \
    " is_paused INTEGER NOT NULL DEFAULT 1,"                                                       \
    " is_stale INTEGER NOT NULL DEFAULT 0,"   /* its file or its entry is gone */                 \
    " fileloc TEXT NOT NULL,"                 /* file path; "<builtin>" for the built-in DAG */   \
    " description TEXT,"                                                                           \
    " owners TEXT NOT NULL DEFAULT '[]',"     /* JSON array of strings */                         \
    " tags TEXT NOT NULL DEFAULT '[]',"       /* JSON array of strings */                         \
    " schedule TEXT,"                         /* as written: cron or preset; NULL = manual */     \
    " timetable_summary TEXT,"                /* e.g. "0 0 * * *"; NULL for manual */             \
    " timetable_description TEXT,"            /* e.g. "At 00:00" */                               \
    " catchup INTEGER NOT NULL DEFAULT 0,"                                                         \
    " max_active_runs INTEGER NOT NULL DEFAULT 16,"                                                \
    " max_active_tasks INTEGER NOT NULL DEFAULT 16,"                                               \
    " start_date TEXT,"                                                                            \
    " timezone TEXT NOT NULL DEFAULT 'UTC',"                                                       \
    " next_dagrun_logical_date TEXT,"                                                              \
    " next_dagrun_data_interval_start TEXT,"                                                       \
    " next_dagrun_data_interval_end TEXT,"                                                         \
    " next_dagrun_run_after TEXT,"                                                                 \
    " last_parsed_time TEXT,"                                                                      \
    " has_import_errors INTEGER NOT NULL DEFAULT 0,"                                               \
    " version INTEGER NOT NULL DEFAULT 1,"    /* bumped when the parsed definition changes */     \
    " version_id TEXT NOT NULL,"              /* a UUID per version (dag_versions[].id) */        \
    " version_created_at TEXT NOT NULL,"                                                           \
    " definition TEXT NOT NULL"               /* JSON: {"tasks":[{"task_id","operator",          \
                                                 "dependencies":[..],"retries","retry_delay_s",   \
                                                 "retry_exponential_backoff",                     \
                                                 "execution_timeout_s","owner"}]} */              \
    ");"                                                                                           \
    "CREATE TABLE IF NOT EXISTS dag_run ("                                                         \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " dag_id TEXT NOT NULL,"                                                                       \
    " run_id TEXT NOT NULL,"                                                                       \
    " run_type TEXT NOT NULL,"                /* scheduled | manual */                            \
    " triggered_by TEXT,"                     /* timetable | rest_api | ui | cli */               \
    " state TEXT NOT NULL,"                                                                        \
    " logical_date TEXT,"                                                                          \
    " data_interval_start TEXT,"                                                                   \
    " data_interval_end TEXT,"                                                                     \
    " run_after TEXT NOT NULL,"                                                                    \
    " queued_at TEXT,"                                                                             \
    " start_date TEXT,"                                                                            \
    " end_date TEXT,"                                                                              \
    " conf TEXT NOT NULL DEFAULT '{}',"       /* JSON object */                                   \
    " note TEXT,"                                                                                  \
    " dag_version INTEGER NOT NULL DEFAULT 1,"                                                     \
    " UNIQUE(dag_id, run_id));"                                                                    \
    "CREATE UNIQUE INDEX IF NOT EXISTS dag_run_logical ON dag_run(dag_id, logical_date)"           \
    " WHERE logical_date IS NOT NULL;"                                                             \
    "CREATE INDEX IF NOT EXISTS dag_run_state ON dag_run(state);"                                  \
    "CREATE TABLE IF NOT EXISTS task_instance ("                                                   \
    " id TEXT PRIMARY KEY,"                   /* UUID */                                          \
    " dag_id TEXT NOT NULL,"                                                                       \
    " run_id TEXT NOT NULL,"                                                                       \
    " task_id TEXT NOT NULL,"                                                                      \
    " state TEXT,"                                                                                 \
    " try_number INTEGER NOT NULL DEFAULT 0," /* tries started so far */                          \
    " max_tries INTEGER NOT NULL DEFAULT 0,"  /* = retries */                                     \
    " operator TEXT,"                         /* e.g. "BashOperator", "sluice.ingest" */          \
    " start_date TEXT,"                                                                            \
    " end_date TEXT,"                                                                              \
    " duration REAL,"                         /* seconds */                                       \
    " queued_when TEXT,"                                                                           \
    " next_try_at TEXT,"                      /* up_for_retry: not before this */                 \
    " pid INTEGER,"                                                                                \
    " hostname TEXT,"                                                                              \
    " priority_weight INTEGER NOT NULL DEFAULT 1,"                                                 \
    " UNIQUE(dag_id, run_id, task_id));"                                                           \
    "CREATE TABLE IF NOT EXISTS import_error ("                                                    \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " filename TEXT NOT NULL UNIQUE,"                                                              \
    " timestamp TEXT NOT NULL,"                                                                    \
    " stack_trace TEXT NOT NULL);"            /* "file:line: message" lines */                    \
    "CREATE TABLE IF NOT EXISTS scheduler_state ("                                                 \
    " key TEXT PRIMARY KEY,"                  /* e.g. 'heartbeat' (ISO time of the last turn) */  \
    " value TEXT);"
/* clang-format on */

/* Opens (creating the schema if needed) the metadata DB at path with WAL, a busy timeout and
 * foreign-key-free plain tables. Each thread uses its own connection. */
int meta_open(const char *path, sqlite3 **out, struct sl_err *err);

/* Wakes the scheduling loop at once (after a user action); safe from any thread. */
void scheduler_wake(void);
/* The wake-up file descriptor (an eventfd) behind scheduler_wake(). */
int scheduler_wake_fd(void);
/* scheduler_wake() for signal handlers (after scheduler_wake_fd() was called once). */
void scheduler_wake_from_signal(void);

#endif
