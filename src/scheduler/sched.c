/* The scheduling loop. The metadata DB is the truth: each turn reads what it needs from it,
 * so that a restart (even after kill -9) carries on from the rows alone. In memory there are
 * only the parsed DAGs, the files' stat stamps and the running tries.
 *
 * One turn: re-read changed DAG files; heartbeat; (first turn) recover tries orphaned by a
 * dead scheduler; reap finished tries; apply runs marked by users; create runs per timetable;
 * start queued runs; move task instances along their dependencies; start scheduled tries. */
#include "scheduler/sched.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/units.h"
#include "core/uuid.h"
#include "scheduler/dagfile.h"
#include "scheduler/executor.h"
#include "scheduler/meta.h"
#include "scheduler/sched_int.h"

/* --- task instances ---------------------------------------------------------------------- */

struct ti {
    char id[40];
    char dag_id[256], run_id[256], task_id[256];
    char state[24]; /* "" = no status */
    int try_number, max_tries;
    int64_t start_us;    /* INT64_MIN: none */
    int64_t next_try_us; /* INT64_MIN: none */
};

static void ti_from_row(sqlite3_stmt *st, struct ti *t)
{
    /* columns: id, dag_id, run_id, task_id, state, try_number, max_tries, start_date,
     * next_try_at */
    memset(t, 0, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "%s", sdb_col(st, 0) ? sdb_col(st, 0) : "");
    snprintf(t->dag_id, sizeof(t->dag_id), "%s", sdb_col(st, 1) ? sdb_col(st, 1) : "");
    snprintf(t->run_id, sizeof(t->run_id), "%s", sdb_col(st, 2) ? sdb_col(st, 2) : "");
    snprintf(t->task_id, sizeof(t->task_id), "%s", sdb_col(st, 3) ? sdb_col(st, 3) : "");
    snprintf(t->state, sizeof(t->state), "%s", sdb_col(st, 4) ? sdb_col(st, 4) : "");
    t->try_number = sqlite3_column_int(st, 5);
    t->max_tries = sqlite3_column_int(st, 6);
    t->start_us = sdb_parse_ts(sdb_col(st, 7));
    t->next_try_us = sdb_parse_ts(sdb_col(st, 8));
}

#define TI_COLS "id, dag_id, run_id, task_id, state, try_number, max_tries, start_date, next_try_at"

static const struct task *task_of(struct sched *s, const char *dag_id, const char *task_id)
{
    struct dag_ent *e = sched_find_dag(s, dag_id);
    return e ? dag_find_task(e->dag, task_id) : NULL;
}

/* The wait before the next try after try_number failed: retry_delay, doubled per try with
 * retry_exponential_backoff, capped by max_retry_delay (and a day). */
static int64_t retry_delay_s(const struct task *t, int try_number)
{
    int64_t delay = t ? t->retry_delay_s : 300;
    if (t && t->retry_exponential_backoff) {
        for (int i = 1; i < try_number && delay < 86400; i++)
            delay *= 2;
        if (t->max_retry_delay_s && delay > t->max_retry_delay_s)
            delay = t->max_retry_delay_s;
        if (delay > 86400)
            delay = 86400;
    }
    return delay;
}

/* A try ended without success: up_for_retry while tries remain, else failed. Returns -1 when
 * the new state could not be written (the caller tries again later). */
static int fail_try(struct sched *s, const struct ti *t, const char *logp, int64_t now)
{
    char end[32], next[32];
    double dur = t->start_us != INT64_MIN ? (double)(now - t->start_us) / 1e6 : 0.0;
    if (t->try_number <= t->max_tries) {
        const struct task *task = task_of(s, t->dag_id, t->task_id);
        int64_t delay = retry_delay_s(task, t->try_number);
        if (sdb_exec(s,
                     "UPDATE task_instance SET state='up_for_retry', end_date=?, duration=?, "
                     "next_try_at=?, pid=NULL WHERE id=?",
                     "sdss", sdb_ts(now, end), dur, sdb_ts(now + delay * 1000000, next), t->id) < 0)
            return -1;
        if (logp)
            sched_try_log(
                s, logp, "INFO",
                "Marking task as UP_FOR_RETRY. dag_id=%s, task_id=%s, run_id=%s, try %d of "
                "%d; next try in %lld s",
                t->dag_id, t->task_id, t->run_id, t->try_number, t->max_tries + 1,
                (long long)delay);
        log_info(SCHED_MOD, "%s.%s (%s) try %d failed; retrying in %lld s", t->dag_id, t->task_id,
                 t->run_id, t->try_number, (long long)delay);
    } else {
        if (sdb_exec(s,
                     "UPDATE task_instance SET state='failed', end_date=?, duration=?, "
                     "next_try_at=NULL, pid=NULL WHERE id=?",
                     "sds", sdb_ts(now, end), dur, t->id) < 0)
            return -1;
        if (logp)
            sched_try_log(s, logp, "ERROR",
                          "Marking task as FAILED. dag_id=%s, task_id=%s, run_id=%s, try %d of %d",
                          t->dag_id, t->task_id, t->run_id, t->try_number, t->max_tries + 1);
        log_warn(SCHED_MOD, "%s.%s (%s) failed after try %d", t->dag_id, t->task_id, t->run_id,
                 t->try_number);
    }
    return 0;
}

static bool load_ti(struct sched *s, const char *id, struct ti *t)
{
    sqlite3_stmt *st = sdb_query(s, "SELECT " TI_COLS " FROM task_instance WHERE id=?", "s", id);
    bool ok = st && sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        ti_from_row(st, t);
    sqlite3_finalize(st);
    return ok;
}

/* Kills what is left of a dead scheduler's try: the processes of group pgid whose
 * environment carries the try's marker (so an unrelated group that reused the number is
 * left alone). */
static int kill_orphan_group(int pgid, const char *ti_id)
{
    char marker[64];
    int mlen = snprintf(marker, sizeof(marker), "SLUICE_TI_ID=%s", ti_id);
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    int killed = 0;
    struct dirent *de;
    while ((de = readdir(proc)) != NULL) {
        int pid = atoi(de->d_name);
        if (pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        char *stat = NULL;
        size_t len;
        if (fs_read_file(path, 4096, &stat, &len, NULL) != 0)
            continue;
        char *rp = strrchr(stat, ')');
        int ppid = 0, pgrp = 0;
        char state = 0;
        bool ok = rp && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3;
        free(stat);
        if (!ok || pgrp != pgid || state == 'Z')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/environ", pid);
        char *env = NULL;
        if (fs_read_file(path, 1 << 20, &env, &len, NULL) != 0)
            continue;
        bool mine = false;
        for (size_t off = 0; off < len && !mine; off += strlen(env + off) + 1)
            mine = strncmp(env + off, marker, (size_t)mlen) == 0 && env[off + mlen] == '\0';
        free(env);
        if (mine && kill(pid, SIGKILL) == 0)
            killed++;
    }
    closedir(proc);
    return killed;
}

/* First turn: tries a dead scheduler left queued or running. */
static void recover(struct sched *s, int64_t now)
{
    sqlite3_stmt *st = sdb_query(s,
                                 "SELECT " TI_COLS ", pid FROM task_instance WHERE state IN "
                                 "('queued','running')",
                                 NULL);
    struct ti *list = NULL;
    int *pids = NULL, n = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct ti *nl = realloc(list, (size_t)(n + 1) * sizeof(*nl));
        int *np = realloc(pids, (size_t)(n + 1) * sizeof(int));
        if (!nl || !np)
            abort();
        list = nl;
        pids = np;
        ti_from_row(st, &list[n]);
        pids[n] = sqlite3_column_int(st, 9);
        n++;
    }
    sqlite3_finalize(st);
    for (int i = 0; i < n; i++) {
        struct ti *t = &list[i];
        int killed = pids[i] > 0 ? kill_orphan_group(pids[i], t->id) : 0;
        char lp[PATH_MAX];
        sched_log_path(s, t->dag_id, t->run_id, t->task_id, t->try_number > 0 ? t->try_number : 1,
                       lp, sizeof(lp));
        log_warn(SCHED_MOD,
                 "%s.%s (%s) try %d was %s when the scheduler stopped; %d leftover process(es) "
                 "killed",
                 t->dag_id, t->task_id, t->run_id, t->try_number, t->state, killed);
        sched_try_log(
            s, lp, "ERROR",
            "The scheduler stopped while this try was %s (pid %d); %d leftover process(es) "
            "of its group killed. The try counts as failed.",
            t->state, pids[i], killed);
        if (t->try_number < 1)
            t->try_number = 1;
        fail_try(s, t, lp, now);
    }
    free(list);
    free(pids);
}

/* --- runs ------------------------------------------------------------------------------ */

static int count_runs(struct sched *s, const char *dag_id, const char *states)
{
    char q[256];
    snprintf(q, sizeof(q), "SELECT count(*) FROM dag_run WHERE dag_id=? AND state IN (%s)", states);
    sqlite3_stmt *st = sdb_query(s, q, "s", dag_id);
    int n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return n;
}

static void create_runs(struct sched *s, struct dag_ent *e, int64_t now)
{
    const struct dag *d = e->dag;
    if (e->paused || d->schedule.kind == SCHEDULE_NONE)
        return;
    dagbag_load_last_run(s, e);
    int active = -1;
    int64_t now_s = now / 1000000;
    for (int k = 0; k < MAX_RUNS_PER_TURN; k++) {
        struct run_info ri;
        if (!sched_next_run(s, e, now_s, &ri) || ri.run_after > now_s)
            break;
        if (active < 0)
            active = count_runs(s, d->dag_id, "'queued','running'");
        if (active >= d->max_active_runs)
            break;
        char run_id[64], lt[32], a[32], b[32], ra[32], q[32], rid[32];
        snprintf(run_id, sizeof(run_id), "scheduled__%s", ts_format_runid(ri.logical, rid));
        sqlite3_stmt *vs = sdb_query(s, "SELECT version FROM dag WHERE dag_id=?", "s", d->dag_id);
        int64_t version = vs && sqlite3_step(vs) == SQLITE_ROW ? sqlite3_column_int64(vs, 0) : 1;
        sqlite3_finalize(vs);
        int ch =
            sdb_exec(s,
                     "INSERT OR IGNORE INTO dag_run (dag_id, run_id, run_type, triggered_by, "
                     "state, logical_date, data_interval_start, data_interval_end, run_after, "
                     "queued_at, conf, dag_version) VALUES "
                     "(?,?,'scheduled','timetable','queued',?,?,?,?,?,'{}',?)",
                     "sssssssi", d->dag_id, run_id, sdb_ts_s(ri.logical, lt), sdb_ts_s(ri.start, a),
                     sdb_ts_s(ri.end, b), sdb_ts_s(ri.run_after, ra), sdb_ts(now, q), version);
        if (ch > 0) {
            active++;
            log_info(SCHED_MOD, "created run %s of %s (data interval %s .. %s)", run_id, d->dag_id,
                     a, b);
        } else if (ch == 0) {
            log_warn(SCHED_MOD, "run %s of %s not created: a run with that logical date exists",
                     run_id, d->dag_id);
        }
        e->has_last = true;
        e->last_logical = ri.logical;
        e->last_start = ri.start;
        e->last_end = ri.end;
        if (ch < 0)
            break;
    }
    dagbag_write_next(s, e, now_s);
}

static void start_queued_runs(struct sched *s, int64_t now)
{
    sqlite3_stmt *st = sdb_query(
        s, "SELECT dag_id, run_id FROM dag_run WHERE state='queued' ORDER BY run_after, id", NULL);
    char(*ids)[2][256] = NULL;
    int n = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        void *nv = realloc(ids, (size_t)(n + 1) * sizeof(*ids));
        if (!nv)
            abort();
        ids = nv;
        snprintf(ids[n][0], 256, "%s", sdb_col(st, 0));
        snprintf(ids[n][1], 256, "%s", sdb_col(st, 1));
        n++;
    }
    sqlite3_finalize(st);
    for (int i = 0; i < n; i++) {
        struct dag_ent *e = sched_find_dag(s, ids[i][0]);
        if (!e || e->paused)
            continue;
        const struct dag *d = e->dag;
        if (count_runs(s, d->dag_id, "'running'") >= d->max_active_runs)
            continue;
        char stamp[32];
        sdb_ts(now, stamp);
        sdb_begin(s);
        int ch = sdb_exec(s,
                          "UPDATE dag_run SET state='running', start_date=COALESCE(start_date, ?), "
                          "end_date=NULL WHERE dag_id=? AND run_id=? AND state='queued'",
                          "sss", stamp, d->dag_id, ids[i][1]);
        for (int k = 0; ch > 0 && k < d->ntasks; k++) {
            const struct task *t = &d->tasks[k];
            uint8_t u[16];
            char uid[37];
            uuid_v4(u);
            uuid_format(u, uid);
            if (sdb_exec(s,
                         "INSERT OR IGNORE INTO task_instance (id, dag_id, run_id, task_id, state, "
                         "try_number, max_tries, operator) VALUES (?,?,?,?,NULL,0,?,?)",
                         "ssssis", uid, d->dag_id, ids[i][1], t->task_id, (int64_t)t->retries,
                         t->operator_name) == 0) {
                /* the run was re-queued (cleared): its tasks start over */
                sdb_exec(
                    s,
                    "UPDATE task_instance SET state=NULL, max_tries=try_number+?, "
                    "next_try_at=NULL, pid=NULL, end_date=NULL WHERE dag_id=? AND run_id=? AND "
                    "task_id=?",
                    "isss", (int64_t)t->retries, d->dag_id, ids[i][1], t->task_id);
            }
        }
        sdb_commit(s);
        if (ch > 0)
            log_info(SCHED_MOD, "run %s of %s is running", ids[i][1], d->dag_id);
    }
    free(ids);
}

/* Runs a user marked success or failed while tasks were unfinished: stop them, and finish
 * their rows as Airflow does (success: success; failed: running ones failed, others
 * skipped). */
static void apply_marked_runs(struct sched *s, int64_t now)
{
    sqlite3_stmt *st =
        sdb_query(s,
                  "SELECT ti.id, r.state, ti.state FROM task_instance ti JOIN dag_run "
                  "r ON r.dag_id=ti.dag_id AND r.run_id=ti.run_id WHERE (ti.state IS "
                  "NULL OR ti.state IN ('scheduled','queued','running','up_for_retry'"
                  ")) AND r.state IN ('success','failed')",
                  NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *id = sdb_col(st, 0), *rs = sdb_col(st, 1), *ts_ = sdb_col(st, 2);
        struct exec_slot *slot = executor_find(&s->ex, id);
        if (slot)
            executor_cancel(slot, 2000);
        const char *to = strcmp(rs, "success") == 0           ? "success"
                         : ts_ && strcmp(ts_, "running") == 0 ? "failed"
                                                              : "skipped";
        char stamp[32];
        sdb_exec(s, "UPDATE task_instance SET state=?, end_date=?, pid=NULL WHERE id=?", "sss", to,
                 sdb_ts(now, stamp), id);
    }
    sqlite3_finalize(st);
}

static bool terminal(const char *st)
{
    return strcmp(st, "success") == 0 || strcmp(st, "failed") == 0 ||
           strcmp(st, "upstream_failed") == 0 || strcmp(st, "skipped") == 0;
}

struct launch {
    struct ti ti;
    char conf[4096];
    char logical[32];
};

/* Moves a running run's task instances along; adds scheduled ones to the launch list. */
static void evaluate_run(struct sched *s, struct dag_ent *e, const char *run_id, const char *conf,
                         const char *logical, int64_t now, struct launch **list, int *nlist)
{
    const struct dag *d = e->dag;
    struct ti *tis = calloc((size_t)d->ntasks + 1, sizeof(*tis));
    bool *have = calloc((size_t)d->ntasks + 1, sizeof(bool));
    if (!tis || !have)
        abort();
    sqlite3_stmt *st =
        sdb_query(s, "SELECT " TI_COLS " FROM task_instance WHERE dag_id=? AND run_id=?", "ss",
                  d->dag_id, run_id);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct ti t;
        ti_from_row(st, &t);
        for (int k = 0; k < d->ntasks; k++) {
            if (strcmp(d->tasks[k].task_id, t.task_id) == 0) {
                tis[k] = t;
                have[k] = true;
            }
        }
    }
    sqlite3_finalize(st);
    int *order = dag_topo_order(d);
    bool all_done = true, any_failed = false;
    for (int oi = 0; oi < d->ntasks; oi++) {
        int k = order[oi];
        if (!have[k]) /* a task added to the DAG after the run started */
            continue;
        struct ti *t = &tis[k];
        const struct task *task = &d->tasks[k];
        const char *to = NULL;
        if (!t->state[0]) {
            bool all_ok = true, failed = false, skipped = false;
            for (int u = 0; u < task->nup; u++) {
                const char *us = have[task->up[u]] ? tis[task->up[u]].state : "success";
                failed |= strcmp(us, "failed") == 0 || strcmp(us, "upstream_failed") == 0;
                skipped |= strcmp(us, "skipped") == 0;
                all_ok &= strcmp(us, "success") == 0;
            }
            if (failed)
                to = "upstream_failed";
            else if (all_ok)
                to = "scheduled";
            else if (skipped) {
                bool all_term = true;
                for (int u = 0; u < task->nup; u++)
                    all_term &= !have[task->up[u]] || terminal(tis[task->up[u]].state);
                if (all_term)
                    to = "skipped";
            }
        } else if (strcmp(t->state, "up_for_retry") == 0 &&
                   (t->next_try_us == INT64_MIN || t->next_try_us <= now)) {
            to = "scheduled";
        }
        if (to) {
            char stamp[32];
            if (strcmp(to, "scheduled") == 0)
                sdb_exec(s, "UPDATE task_instance SET state='scheduled' WHERE id=?", "s", t->id);
            else
                sdb_exec(s, "UPDATE task_instance SET state=?, end_date=? WHERE id=?", "sss", to,
                         sdb_ts(now, stamp), t->id);
            snprintf(t->state, sizeof(t->state), "%s", to);
        }
        if (strcmp(t->state, "scheduled") == 0) {
            struct launch *nv = realloc(*list, (size_t)(*nlist + 1) * sizeof(*nv));
            if (!nv)
                abort();
            *list = nv;
            struct launch *l = &nv[(*nlist)++];
            l->ti = *t;
            snprintf(l->conf, sizeof(l->conf), "%s", conf ? conf : "{}");
            snprintf(l->logical, sizeof(l->logical), "%s", logical ? logical : "");
        }
        all_done &= terminal(t->state);
        any_failed |= strcmp(t->state, "failed") == 0 || strcmp(t->state, "upstream_failed") == 0;
    }
    free(order);
    free(tis);
    free(have);
    if (all_done) {
        char stamp[32];
        const char *final = any_failed ? "failed" : "success";
        sdb_exec(s,
                 "UPDATE dag_run SET state=?, end_date=? WHERE dag_id=? AND run_id=? AND "
                 "state='running'",
                 "ssss", final, sdb_ts(now, stamp), d->dag_id, run_id);
        log_info(SCHED_MOD, "run %s of %s: %s", run_id, d->dag_id, final);
        s->again = true;
    }
}

static void add_env(char ***v, int *n, const char *k, const char *val)
{
    size_t len = strlen(k) + strlen(val ? val : "") + 2;
    char *kv = malloc(len);
    char **nv = realloc(*v, (size_t)(*n + 2) * sizeof(char *));
    if (!kv || !nv)
        abort();
    snprintf(kv, len, "%s=%s", k, val ? val : "");
    *v = nv;
    nv[(*n)++] = kv;
    nv[*n] = NULL;
}

static void launch_try(struct sched *s, struct launch *l, int64_t now)
{
    struct ti *t = &l->ti;
    struct dag_ent *e = sched_find_dag(s, t->dag_id);
    const struct task *task = e ? dag_find_task(e->dag, t->task_id) : NULL;
    if (!task)
        return;
    int try_number = t->try_number + 1;
    char stamp[32];
    if (sdb_exec(
            s,
            "UPDATE task_instance SET state='queued', try_number=?, queued_when=?, hostname=?, "
            "next_try_at=NULL, start_date=NULL, end_date=NULL, duration=NULL, pid=NULL WHERE "
            "id=? AND state='scheduled'",
            "isss", (int64_t)try_number, sdb_ts(now, stamp), s->hostname, t->id) != 1)
        return;
    t->try_number = try_number;
    t->start_us = now;
    struct exec_slot tmpl;
    memset(&tmpl, 0, sizeof(tmpl));
    snprintf(tmpl.ti_id, sizeof(tmpl.ti_id), "%s", t->id);
    snprintf(tmpl.dag_id, sizeof(tmpl.dag_id), "%s", t->dag_id);
    snprintf(tmpl.run_id, sizeof(tmpl.run_id), "%s", t->run_id);
    snprintf(tmpl.task_id, sizeof(tmpl.task_id), "%s", t->task_id);
    tmpl.try_number = try_number;
    tmpl.started_us = now;
    tmpl.deadline_us = task->execution_timeout_s ? now + task->execution_timeout_s * 1000000 : 0;
    sched_log_path(s, t->dag_id, t->run_id, t->task_id, try_number, tmpl.log_path,
                   sizeof(tmpl.log_path));

    /* the run's context reaches the task as environment, never inside its command */
    char **ctx = NULL, tn[16];
    int nctx = 0;
    snprintf(tn, sizeof(tn), "%d", try_number);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_DAG_ID", t->dag_id);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_TASK_ID", t->task_id);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_DAG_RUN_ID", t->run_id);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_TRY_NUMBER", tn);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_LOGICAL_DATE", l->logical);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_DAG_OWNER", task->owner ? task->owner : "airflow");
    add_env(&ctx, &nctx, "SLUICE_CONF", l->conf);
    add_env(&ctx, &nctx, "SLUICE_TI_ID", t->id);

    const char *argv_fixed[8];
    const char **argv = argv_fixed;
    const char **dyn = NULL;
    struct proc_spec spec = {.own_group = true,
                             .die_with_parent = true,
                             .null_stdin = true,
                             .output = tmpl.log_path,
                             .cwd = task->cwd};
    if (task->op == OP_BASH && task->has_env && !task->append_env) {
        /* Airflow's BashOperator: with env, the command sees only env (and the context) */
        dyn = calloc((size_t)(task->nenv + nctx + 8), sizeof(char *));
        if (!dyn)
            abort();
        int n = 0;
        dyn[n++] = "env";
        dyn[n++] = "-i";
        for (int i = 0; i < task->nenv; i++)
            dyn[n++] = task->env[i];
        for (int i = 0; i < nctx; i++)
            dyn[n++] = ctx[i];
        dyn[n++] = "bash";
        dyn[n++] = "-c";
        dyn[n++] = task->bash_command;
        dyn[n] = NULL;
        argv = dyn;
    } else if (task->op == OP_BASH) {
        for (int i = 0; i < task->nenv; i++) {
            char **nv = realloc(ctx, (size_t)(nctx + 2) * sizeof(char *));
            if (!nv)
                abort();
            ctx = nv;
            ctx[nctx++] = sched_strdup(task->env[i]);
            ctx[nctx] = NULL;
        }
        argv_fixed[0] = "bash";
        argv_fixed[1] = "-c";
        argv_fixed[2] = task->bash_command;
        argv_fixed[3] = NULL;
        spec.env = (const char *const *)ctx;
    } else {
        dyn = calloc((size_t)task->nargs + 4, sizeof(char *));
        if (!dyn)
            abort();
        int n = 0;
        dyn[n++] = s->self_exe;
        dyn[n++] = "ingest";
        for (int i = 0; i < task->nargs; i++)
            dyn[n++] = task->args[i];
        dyn[n] = NULL;
        argv = dyn;
        spec.env = (const char *const *)ctx;
    }
    spec.argv = argv;
    sched_try_log(s, tmpl.log_path, "INFO",
                  "Starting attempt %d of %d: dag_id=%s, task_id=%s, run_id=%s", try_number,
                  t->max_tries + 1, t->dag_id, t->task_id, t->run_id);
    if (task->op == OP_BASH)
        sched_try_log(s, tmpl.log_path, "INFO", "Running command: ['bash', '-c', %s]",
                      task->bash_command);
    struct sl_err err;
    if (executor_start(&s->ex, &tmpl, &spec, &err) != 0) {
        sched_try_log(s, tmpl.log_path, "ERROR", "Could not start the task: %s", err.msg);
        log_error(SCHED_MOD, "%s.%s: cannot start: %s", t->dag_id, t->task_id, err.msg);
        fail_try(s, t, tmpl.log_path, now);
    } else {
        struct exec_slot *slot = executor_find(&s->ex, t->id);
        sdb_exec(s, "UPDATE task_instance SET state='running', pid=?, start_date=? WHERE id=?",
                 "iss", (int64_t)(slot ? slot->proc.pid : 0), sdb_ts(now, stamp), t->id);
        log_info(SCHED_MOD, "%s.%s (%s) try %d running (pid %d)", t->dag_id, t->task_id, t->run_id,
                 try_number, slot ? (int)slot->proc.pid : 0);
    }
    for (int i = 0; i < nctx; i++)
        free(ctx[i]);
    free(ctx);
    free(dyn);
}

struct done_ctx {
    struct sched *s;
    int64_t now;
};

/* Records how a try ended. Returns false when that could not be written (e.g. the disk is
 * full): the executor keeps the slot and calls again at the next turn, so a finished try is
 * never left 'running' in the metadata. */
static bool on_try_done(struct exec_slot *slot, void *arg)
{
    struct done_ctx *dc = arg;
    struct sched *s = dc->s;
    int64_t now = slot->ended_us ? slot->ended_us : dc->now;
    bool first = !slot->end_logged; /* the try's log gets its last lines once */
    slot->end_logged = true;
    char desc[64], stamp[32];
    proc_describe(&slot->proc, desc, sizeof(desc));
    int code = proc_exit_code(&slot->proc);
    struct ti t;
    if (!load_ti(s, slot->ti_id, &t))
        return true;
    double dur = (double)(now - slot->started_us) / 1e6;
    int rc;
    if (slot->cancelled || strcmp(t.state, "running") != 0) {
        /* its run was marked by a user, who decided the state */
        if (first)
            sched_try_log(s, slot->log_path, "INFO",
                          "Task stopped (%s): its run was marked by a user", desc);
        rc = sdb_exec(s, "UPDATE task_instance SET duration=?, pid=NULL WHERE id=?", "ds", dur,
                      t.id);
    } else {
        const struct task *task = task_of(s, t.dag_id, t.task_id);
        t.start_us = slot->started_us;
        if (slot->timed_out) {
            if (first)
                sched_try_log(s, slot->log_path, "ERROR",
                              "Timeout: the task ran past its execution_timeout of %lld s; its "
                              "process group was killed (%s)",
                              task ? (long long)task->execution_timeout_s : 0LL, desc);
            rc = fail_try(s, &t, first ? slot->log_path : NULL, now);
        } else if (code == 0) {
            if (first) {
                sched_try_log(s, slot->log_path, "INFO", "Task exited with return code 0");
                sched_try_log(s, slot->log_path, "INFO",
                              "Marking task as SUCCESS. dag_id=%s, task_id=%s, run_id=%s", t.dag_id,
                              t.task_id, t.run_id);
            }
            rc = sdb_exec(s,
                          "UPDATE task_instance SET state='success', end_date=?, duration=?, "
                          "pid=NULL WHERE id=?",
                          "sds", sdb_ts(now, stamp), dur, t.id);
            if (rc >= 0)
                log_info(SCHED_MOD, "%s.%s (%s) try %d succeeded", t.dag_id, t.task_id, t.run_id,
                         t.try_number);
        } else if (task && task->op == OP_BASH && task->skip_on_exit_code >= 0 &&
                   code == task->skip_on_exit_code) {
            if (first)
                sched_try_log(s, slot->log_path, "INFO",
                              "Task exited with return code %d: skipping", code);
            rc = sdb_exec(s,
                          "UPDATE task_instance SET state='skipped', end_date=?, duration=?, "
                          "pid=NULL WHERE id=?",
                          "sds", sdb_ts(now, stamp), dur, t.id);
        } else {
            if (first) {
                sched_try_log(s, slot->log_path, "ERROR", "Task failed: %s", desc);
                /* Also here: the try's own log may be on a disk that is full. */
                log_warn(SCHED_MOD, "%s.%s (%s) try %d: %s", t.dag_id, t.task_id, t.run_id,
                         t.try_number, desc);
            }
            rc = fail_try(s, &t, first ? slot->log_path : NULL, now);
        }
    }
    if (rc < 0) {
        if (first)
            log_warn(SCHED_MOD,
                     "%s.%s (%s): cannot record the end of try %d in the metadata DB (see the "
                     "SQL error above, e.g. a full disk); trying again every turn",
                     t.dag_id, t.task_id, t.run_id, t.try_number);
        return false;
    }
    return true;
}

static void schedule_tasks(struct sched *s, int64_t now)
{
    sqlite3_stmt *st = sdb_query(s,
                                 "SELECT dag_id, run_id, conf, logical_date FROM dag_run WHERE "
                                 "state='running' ORDER BY run_after, id",
                                 NULL);
    struct launch *list = NULL;
    int nlist = 0;
    struct row {
        char dag_id[256], run_id[256], conf[4096], logical[32];
    } *rows = NULL;
    int nrows = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct row *nv = realloc(rows, (size_t)(nrows + 1) * sizeof(*nv));
        if (!nv)
            abort();
        rows = nv;
        struct row *r = &rows[nrows++];
        snprintf(r->dag_id, sizeof(r->dag_id), "%s", sdb_col(st, 0));
        snprintf(r->run_id, sizeof(r->run_id), "%s", sdb_col(st, 1));
        snprintf(r->conf, sizeof(r->conf), "%s", sdb_col(st, 2) ? sdb_col(st, 2) : "{}");
        snprintf(r->logical, sizeof(r->logical), "%s", sdb_col(st, 3) ? sdb_col(st, 3) : "");
    }
    sqlite3_finalize(st);
    for (int i = 0; i < nrows; i++) {
        struct dag_ent *e = sched_find_dag(s, rows[i].dag_id);
        if (!e)
            continue;
        evaluate_run(s, e, rows[i].run_id, rows[i].conf, rows[i].logical, now, &list, &nlist);
    }
    free(rows);
    for (int i = 0; i < nlist && executor_free_slots(&s->ex) > 0; i++) {
        struct dag_ent *e = sched_find_dag(s, list[i].ti.dag_id);
        if (!e || e->paused ||
            executor_running_for_dag(&s->ex, e->dag->dag_id) >= e->dag->max_active_tasks)
            continue;
        launch_try(s, &list[i], now);
    }
    free(list);
}

static void read_paused(struct sched *s)
{
    sqlite3_stmt *st = sdb_query(s, "SELECT dag_id, is_paused FROM dag WHERE is_stale=0", NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct dag_ent *e = sched_find_dag(s, sdb_col(st, 0));
        if (e) {
            bool p = sqlite3_column_int(st, 1) != 0;
            if (p != e->paused)
                e->next_written[0] = '\0';
            e->paused = p;
        }
    }
    sqlite3_finalize(st);
}

/* --- the loop ---------------------------------------------------------------------------- */

void sched_tick(struct sched *s)
{
    int64_t now = sched_now_us(s);
    int64_t interval = (s->o.parse_interval_ms ? s->o.parse_interval_ms : 2000) * 1000;
    if (s->last_parse_us == 0 || now - s->last_parse_us >= interval || now < s->last_parse_us) {
        s->last_parse_us = now;
        dagbag_refresh(s, now);
    }
    if (now - s->last_heartbeat_us >= 1000000 || now < s->last_heartbeat_us) {
        char stamp[32];
        s->last_heartbeat_us = now;
        sdb_exec(
            s,
            "INSERT INTO scheduler_state (key, value) VALUES ('heartbeat', ?) ON CONFLICT(key) "
            "DO UPDATE SET value=excluded.value",
            "s", sdb_ts(now, stamp));
    }
    if (!s->recovered) {
        s->recovered = true;
        recover(s, now);
    }
    read_paused(s);
    struct done_ctx dc = {s, now};
    executor_poll(&s->ex, now, on_try_done, &dc);
    apply_marked_runs(s, now);
    for (int i = 0; i < s->ndags; i++)
        create_runs(s, &s->dags[i], now);
    start_queued_runs(s, now);
    schedule_tasks(s, now);
}

static void on_sigchld(int sig)
{
    (void)sig;
    scheduler_wake_from_signal();
}

void sched_run(struct sched *s, volatile sig_atomic_t *stop)
{
    int fd = scheduler_wake_fd();
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    while (!*stop) {
        sched_tick(s);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        /* a turn at least every 250 ms: retries and schedules come due, rows change */
        int timeout = s->again ? 0 : 250;
        s->again = false;
        if (poll(&pfd, 1, timeout) > 0) {
            uint64_t v;
            ssize_t r = read(fd, &v, sizeof(v));
            (void)r;
        }
    }
    signal(SIGCHLD, SIG_DFL);
}

int sched_running(const struct sched *s)
{
    return s->ex.used;
}

int sched_open(const struct sched_opts *o, struct sched **out, struct sl_err *err)
{
    struct sched *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, "out of memory");
    s->o = *o;
    s->dags_folder = sched_strdup(o->dags_folder ? o->dags_folder : "dags");
    s->data_dir = sched_strdup(o->data_dir ? o->data_dir : "./sluice-data");
    s->self_exe = sched_strdup(o->self_exe ? o->self_exe : "sluice");
    s->o.dags_folder = s->dags_folder;
    s->o.data_dir = s->data_dir;
    s->o.self_exe = s->self_exe;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/scheduler", s->data_dir);
    if (snprintf(s->db_path, sizeof(s->db_path), "%s/scheduler.db", dir) >=
            (int)sizeof(s->db_path) ||
        snprintf(s->logs_dir, sizeof(s->logs_dir), "%s/logs", dir) >= (int)sizeof(s->logs_dir)) {
        sched_close(s);
        return sl_err_set(err, "data directory path is too long");
    }
    if (gethostname(s->hostname, sizeof(s->hostname)) != 0)
        snprintf(s->hostname, sizeof(s->hostname), "localhost");
    if (fs_mkdirs(s->logs_dir, err) != 0 || meta_open(s->db_path, &s->db, err) != 0 ||
        executor_init(&s->ex, o->parallelism > 0 ? o->parallelism : 32) != 0) {
        if (!err || !err->msg[0])
            sl_err_set(err, "cannot start the scheduler");
        sched_close(s);
        return -1;
    }
    /* the loop's frequent lookups of unfinished task instances */
    sdb_exec(s, "CREATE INDEX IF NOT EXISTS task_instance_state ON task_instance(state)", NULL);
    scheduler_wake_fd();
    *out = s;
    return 0;
}

void sched_close(struct sched *s)
{
    if (!s)
        return;
    if (s->ex.slots)
        executor_stop_all(&s->ex, 5000);
    executor_free(&s->ex);
    for (int i = 0; i < s->ndags; i++) {
        dag_free(s->dags[i].dag);
        free(s->dags[i].file);
    }
    free(s->dags);
    for (int i = 0; i < s->nfiles; i++)
        free(s->files[i].path);
    free(s->files);
    if (s->db)
        sqlite3_close(s->db);
    free(s->dags_folder);
    free(s->data_dir);
    free(s->self_exe);
    free(s);
}
