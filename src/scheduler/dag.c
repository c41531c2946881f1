/* DAG model: ownership (a dag owns every string and array in it), dependency resolution,
 * cycle detection by depth-first search, and the definition JSON. */
#include "scheduler/dag.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

struct dag *dag_new(const char *dag_id, const char *fileloc, int line)
{
    struct dag *d = calloc(1, sizeof(*d));
    if (!d)
        abort();
    d->dag_id = xstrdup(dag_id);
    d->fileloc = xstrdup(fileloc);
    d->line = line;
    d->max_active_runs = 16;
    d->max_active_tasks = 16;
    d->start_date = INT64_MIN;
    d->end_date = INT64_MIN;
    return d;
}

struct task *dag_add_task(struct dag *d, const char *task_id, int line)
{
    struct task *t = realloc(d->tasks, (size_t)(d->ntasks + 1) * sizeof(*t));
    if (!t)
        abort();
    d->tasks = t;
    t = &d->tasks[d->ntasks++];
    memset(t, 0, sizeof(*t));
    t->task_id = xstrdup(task_id);
    t->line = line;
    t->retry_delay_s = 300; /* Airflow's default_task_retry_delay */
    t->skip_on_exit_code = 99;
    return t;
}

static void free_strv(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void dag_free(struct dag *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->ntasks; i++) {
        struct task *t = &d->tasks[i];
        free(t->task_id);
        free(t->operator_name);
        free_strv(t->deps, t->ndeps);
        free(t->up);
        free(t->owner);
        free(t->bash_command);
        free_strv(t->env, t->nenv);
        free(t->cwd);
        free_strv(t->args, t->nargs);
    }
    free(d->tasks);
    free(d->dag_id);
    free(d->fileloc);
    free(d->description);
    free_strv(d->tags, d->ntags);
    free_strv(d->owners, d->nowners);
    free(d->definition);
    free(d);
}

struct task *dag_find_task(const struct dag *d, const char *task_id)
{
    for (int i = 0; i < d->ntasks; i++) {
        if (strcmp(d->tasks[i].task_id, task_id) == 0)
            return &d->tasks[i];
    }
    return NULL;
}

/* Depth-first search; color 0 unseen, 1 on the stack, 2 done. On a cycle, path gets it. */
static int visit(const struct dag *d, int i, int *color, int *stack, int depth, char *path,
                 size_t cap)
{
    color[i] = 1;
    stack[depth] = i;
    const struct task *t = &d->tasks[i];
    for (int k = 0; k < t->nup; k++) {
        int u = t->up[k];
        if (color[u] == 1) {
            /* stack[j] depends on stack[j + 1] and i on u: in run order u -> i -> ... -> u */
            int from = depth;
            while (from > 0 && stack[from] != u)
                from--;
            size_t n = (size_t)snprintf(path, cap, "%s", d->tasks[u].task_id);
            for (int j = depth; j >= from && n < cap; j--)
                n += (size_t)snprintf(path + n, cap - n, " -> %s", d->tasks[stack[j]].task_id);
            return -1;
        }
        if (color[u] == 0 && visit(d, u, color, stack, depth + 1, path, cap) != 0)
            return -1;
    }
    color[i] = 2;
    return 0;
}

static void build_definition(struct dag *d)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schedule", d->schedule.expr);
    cJSON_AddBoolToObject(root, "catchup", d->catchup);
    cJSON_AddNumberToObject(root, "max_active_runs", d->max_active_runs);
    cJSON_AddNumberToObject(root, "max_active_tasks", d->max_active_tasks);
    if (d->start_date != INT64_MIN)
        cJSON_AddNumberToObject(root, "start_date", (double)d->start_date);
    if (d->end_date != INT64_MIN)
        cJSON_AddNumberToObject(root, "end_date", (double)d->end_date);
    cJSON *tasks = cJSON_AddArrayToObject(root, "tasks");
    for (int i = 0; i < d->ntasks; i++) {
        const struct task *t = &d->tasks[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "task_id", t->task_id);
        cJSON_AddStringToObject(o, "operator", t->operator_name ? t->operator_name : "");
        cJSON *deps = cJSON_AddArrayToObject(o, "dependencies");
        for (int k = 0; k < t->ndeps; k++)
            cJSON_AddItemToArray(deps, cJSON_CreateString(t->deps[k]));
        cJSON_AddNumberToObject(o, "retries", t->retries);
        cJSON_AddNumberToObject(o, "retry_delay_s", (double)t->retry_delay_s);
        cJSON_AddBoolToObject(o, "retry_exponential_backoff", t->retry_exponential_backoff);
        if (t->max_retry_delay_s)
            cJSON_AddNumberToObject(o, "max_retry_delay_s", (double)t->max_retry_delay_s);
        if (t->execution_timeout_s)
            cJSON_AddNumberToObject(o, "execution_timeout_s", (double)t->execution_timeout_s);
        else
            cJSON_AddNullToObject(o, "execution_timeout_s");
        cJSON_AddStringToObject(o, "owner", t->owner ? t->owner : "airflow");
        if (t->op == OP_BASH) {
            cJSON_AddStringToObject(o, "bash_command", t->bash_command ? t->bash_command : "");
            if (t->has_env) {
                cJSON *env = cJSON_AddArrayToObject(o, "env");
                for (int k = 0; k < t->nenv; k++)
                    cJSON_AddItemToArray(env, cJSON_CreateString(t->env[k]));
                cJSON_AddBoolToObject(o, "append_env", t->append_env);
            }
            if (t->cwd)
                cJSON_AddStringToObject(o, "cwd", t->cwd);
            cJSON_AddNumberToObject(o, "skip_on_exit_code", t->skip_on_exit_code);
        } else {
            cJSON *args = cJSON_AddArrayToObject(o, "args");
            for (int k = 0; k < t->nargs; k++)
                cJSON_AddItemToArray(args, cJSON_CreateString(t->args[k]));
        }
        cJSON_AddItemToArray(tasks, o);
    }
    free(d->definition);
    d->definition = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!d->definition)
        abort();
}

int dag_validate(struct dag *d, struct sl_err *err)
{
    if (d->ntasks == 0)
        return sl_err_set(err, "%s:%d: DAG '%s' has no tasks", d->fileloc, d->line, d->dag_id);
    for (int i = 0; i < d->ntasks; i++) {
        struct task *t = &d->tasks[i];
        for (int j = 0; j < i; j++) {
            if (strcmp(d->tasks[j].task_id, t->task_id) == 0)
                return sl_err_set(err, "%s:%d: task id '%s' is used twice in DAG '%s'", d->fileloc,
                                  t->line, t->task_id, d->dag_id);
        }
        if (t->op == OP_BASH && (!t->bash_command || !*t->bash_command))
            return sl_err_set(err, "%s:%d: task '%s' (BashOperator) needs a bash_command",
                              d->fileloc, t->line, t->task_id);
        free(t->up);
        t->up = calloc((size_t)t->ndeps + 1, sizeof(int));
        if (!t->up)
            abort();
        t->nup = 0;
        for (int k = 0; k < t->ndeps; k++) {
            int found = -1;
            for (int j = 0; j < d->ntasks; j++) {
                if (strcmp(d->tasks[j].task_id, t->deps[k]) == 0)
                    found = j;
            }
            if (found < 0)
                return sl_err_set(err, "%s:%d: task '%s' depends on unknown task '%s'", d->fileloc,
                                  t->line, t->task_id, t->deps[k]);
            if (found == i)
                return sl_err_set(err, "%s:%d: task '%s' depends on itself", d->fileloc, t->line,
                                  t->task_id);
            bool dup = false;
            for (int j = 0; j < t->nup; j++)
                dup |= t->up[j] == found;
            if (!dup)
                t->up[t->nup++] = found;
        }
    }
    int *color = calloc((size_t)d->ntasks, sizeof(int));
    int *stack = calloc((size_t)d->ntasks, sizeof(int));
    if (!color || !stack)
        abort();
    int rc = 0;
    for (int i = 0; i < d->ntasks && rc == 0; i++) {
        char path[300] = "";
        if (color[i] == 0 && visit(d, i, color, stack, 0, path, sizeof(path)) != 0) {
            rc = sl_err_set(err, "%s:%d: cycle detected in DAG '%s': %s", d->fileloc,
                            d->tasks[i].line, d->dag_id, path);
        }
    }
    free(color);
    free(stack);
    if (rc == 0)
        build_definition(d);
    return rc;
}

int *dag_topo_order(const struct dag *d)
{
    int *order = calloc((size_t)d->ntasks + 1, sizeof(int));
    bool *done = calloc((size_t)d->ntasks + 1, sizeof(bool));
    if (!order || !done)
        abort();
    int n = 0;
    while (n < d->ntasks) {
        int before = n;
        for (int i = 0; i < d->ntasks; i++) {
            if (done[i])
                continue;
            bool ready = true;
            for (int k = 0; k < d->tasks[i].nup; k++)
                ready &= done[d->tasks[i].up[k]];
            if (ready) {
                done[i] = true;
                order[n++] = i;
            }
        }
        if (n == before)
            break; /* a cycle: dag_validate was not called */
    }
    free(done);
    return order;
}
