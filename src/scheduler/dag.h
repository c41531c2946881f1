/* The in-memory DAG model: a DAG's settings, its tasks and their operators, dependencies by
 * index, validation (unknown dependencies, cycles) and the canonical definition JSON stored in
 * the metadata DB (whose change bumps the DAG's version). Built by dagfile.c. */
#ifndef SLUICE_SCHEDULER_DAG_H
#define SLUICE_SCHEDULER_DAG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "scheduler/cron.h"

enum op_kind { OP_BASH = 0, OP_INGEST };

struct task {
    char *task_id;
    int line; /* where the task starts in its file */
    enum op_kind op;
    char *operator_name; /* as shown by the API: "BashOperator", "sluice.ingest" */
    char **deps;         /* upstream task ids, as written */
    int ndeps;
    int *up; /* upstream task indexes (dag_validate) */
    int nup;
    char *owner;
    int retries;
    int64_t retry_delay_s;
    bool retry_exponential_backoff;
    int64_t max_retry_delay_s;   /* 0: none */
    int64_t execution_timeout_s; /* 0: none */
    /* bash */
    char *bash_command;
    char **env; /* "KEY=VALUE"; with env given the task sees only these (plus the context
                   variables), unless append_env, as Airflow's BashOperator does */
    int nenv;
    bool has_env;
    bool append_env;
    char *cwd;
    int skip_on_exit_code; /* 99 unless set; -1: none */
    /* sluice.ingest: "--name", "value" pairs passed to `sluice ingest` */
    char **args;
    int nargs;
};

struct dag {
    char *dag_id;
    char *fileloc; /* path, or "<builtin>" */
    int line;
    char *description;
    char **tags;
    int ntags;
    char **owners;
    int nowners;
    struct schedule schedule;
    bool catchup;
    int max_active_runs;
    int max_active_tasks;
    int64_t start_date; /* seconds UTC; INT64_MIN: none */
    int64_t end_date;   /* INT64_MIN: none */
    struct task *tasks;
    int ntasks;
    char *definition; /* canonical JSON (dag_build_definition) */
};

/* Allocation helpers used by the file readers. */
struct dag *dag_new(const char *dag_id, const char *fileloc, int line);
struct task *dag_add_task(struct dag *d, const char *task_id, int line);
void dag_free(struct dag *d);
struct task *dag_find_task(const struct dag *d, const char *task_id);

/* Resolves dependencies to indexes and rejects unknown ones, duplicates and cycles; errors
 * read "FILE:LINE: message". Then builds d->definition. */
int dag_validate(struct dag *d, struct sl_err *err);

/* The task indexes in an order where every task comes after its upstreams (after
 * dag_validate). Caller frees. */
int *dag_topo_order(const struct dag *d);

#endif
