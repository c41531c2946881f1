/* DAG files in YAML: dag-factory 1.x (top-level keys are DAG ids, a `default` block,
 * default_args, tasks as a list or a mapping, `$VAR` expanded from the environment first) and
 * Airflow 3.4's native YAML Dag documents (dag_id, schedule, start_date, tasks of
 * id/uses/with/needs). A file is read whole or not at all: any error leaves it with no DAGs
 * and one import error whose lines read "FILE:LINE: message". */
#ifndef SLUICE_SCHEDULER_DAGFILE_H
#define SLUICE_SCHEDULER_DAGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "scheduler/dag.h"

struct dagfile {
    struct dag **dags; /* validated */
    int ndags;
    char *error; /* NULL, or "FILE:LINE: message" */
};

/* Reads the file at path. now_s resolves relative start dates ("5 days" = five days before
 * today's midnight UTC). Always fills out; free it with dagfile_free. */
void dagfile_load(const char *path, int64_t now_s, struct dagfile *out);
/* The same from text; fileloc names it in errors. */
void dagfile_parse(const char *fileloc, const char *text, size_t len, int64_t now_s,
                   struct dagfile *out);
/* The same with dag-factory's defaults.yml (its name and text; NULL: none) as the lowest layer
 * of every DAG's arguments. dagfile_load finds it beside the file. */
void dagfile_parse_with_defaults(const char *fileloc, const char *text, size_t len,
                                 const char *dloc, const char *dtext, size_t dlen, int64_t now_s,
                                 struct dagfile *out);
void dagfile_free(struct dagfile *f);
/* Whether a path names a defaults file (defaults.yml / defaults.yaml), which is no DAG file. */
bool dagfile_is_defaults(const char *path);

/* The shipped DAG (dags/user_automation.yaml), built in: used when the DAGs folder has no DAG
 * with its id. */
extern const char dagfile_builtin_yaml[];
#define DAGFILE_BUILTIN_LOC "<builtin>"

/* Operator names accepted for bash tasks. */
bool dagfile_is_bash_operator(const char *name);

#endif
