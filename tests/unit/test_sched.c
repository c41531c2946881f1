/* scheduler/sched with a fake clock: timetables (interval and trigger semantics, catchup,
 * max_active_runs, @once, paused DAGs), task state transitions (retries with exponential
 * backoff waiting on the clock, upstream_failed, skipped by exit code 99, run states), file
 * re-reads bumping the version, import errors. Tasks are real (tiny) bash commands. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/units.h"
#include "scheduler/cron.h"
#include "scheduler/meta.h"
#include "scheduler/sched.h"

static char root[] = "/tmp/sluice-test-sched.XXXXXX";
static int64_t fake_now_us;
static int case_no;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now_us;
}

static void set_now(const char *iso)
{
    if (parse_iso_time_us(iso, 0, &fake_now_us) != 0)
        abort();
}

struct env {
    char dir[512], dags[600];
    struct sched *s;
    sqlite3 *db;
};

static void write_dag(struct env *e, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", e->dags, name);
    fs_write_atomic(path, text, strlen(text), NULL);
}

static void env_open(struct env *e, bool intervals, const char *name, const char *yaml)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "%s/case%d", root, ++case_no);
    snprintf(e->dags, sizeof(e->dags), "%s/dags", e->dir);
    fs_mkdirs(e->dags, NULL);
    write_dag(e, name, yaml);
    struct sched_opts o = {.dags_folder = e->dags,
                           .data_dir = e->dir,
                           .parallelism = 4,
                           .paused_at_creation = false,
                           .cron_data_intervals = intervals,
                           .clock_us = fake_clock,
                           .parse_interval_ms = 1};
    struct sl_err err;
    if (sched_open(&o, &e->s, &err) != 0) {
        fprintf(stderr, "sched_open: %s\n", err.msg);
        abort();
    }
    char db[700];
    snprintf(db, sizeof(db), "%s/scheduler/scheduler.db", e->dir);
    if (meta_open(db, &e->db, &err) != 0)
        abort();
}

static void env_close(struct env *e)
{
    sched_close(e->s);
    sqlite3_close(e->db);
}

/* Turns until nothing moves: no try running for a few turns (the clock stands still). */
static void settle(struct env *e)
{
    for (int idle = 0, i = 0; idle < 3 && i < 5000; i++) {
        sched_tick(e->s);
        if (sched_running(e->s) > 0) {
            idle = 0;
            usleep(2000);
        } else {
            idle++;
        }
    }
}

/* The rows of a query joined as "a|b\nc|d". */
static const char *rows(struct env *e, const char *sql)
{
    static char out[4096];
    out[0] = '\0';
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite3_errmsg(e->db);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < sizeof(out) - 200) {
        if (n)
            out[n++] = '\n';
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *v = (const char *)sqlite3_column_text(st, c);
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", c ? "|" : "", v ? v : "");
        }
    }
    sqlite3_finalize(st);
    return out;
}

static const char *daily_yaml = "d:\n"
                                "  default_args: {start_date: 2024-01-01}\n"
                                "  schedule: \"@daily\"\n"
                                "  catchup: %s\n"
                                "  max_active_runs: %d\n"
                                "  tasks: [{task_id: t, operator: bash, bash_command: 'true'}]\n";

static void daily(struct env *e, bool intervals, const char *catchup, int max_active)
{
    char y[512];
    snprintf(y, sizeof(y), daily_yaml, catchup, max_active);
    env_open(e, intervals, "d.yaml", y);
}

static void test_interval_catchup(void)
{
    struct env e;
    set_now("2024-01-04T12:00:00Z");
    daily(&e, true, "true", 16);
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT run_id, data_interval_start, data_interval_end, state FROM "
                          "dag_run ORDER BY logical_date"),
                 "scheduled__2024-01-01T00:00:00+00:00|2024-01-01T00:00:00.000000Z|2024-01-02T00:"
                 "00:00.000000Z|success\n"
                 "scheduled__2024-01-02T00:00:00+00:00|2024-01-02T00:00:00.000000Z|2024-01-03T00:"
                 "00:00.000000Z|success\n"
                 "scheduled__2024-01-03T00:00:00+00:00|2024-01-03T00:00:00.000000Z|2024-01-04T00:"
                 "00:00.000000Z|success");
    CHECK_EQ_STR(rows(&e, "SELECT next_dagrun_logical_date, next_dagrun_run_after FROM dag"),
                 "2024-01-04T00:00:00.000000Z|2024-01-05T00:00:00.000000Z");
    /* the next interval is due when it ends, not before */
    set_now("2024-01-04T23:59:00Z");
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT count(*) FROM dag_run"), "3");
    set_now("2024-01-05T00:00:00Z");
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT count(*), max(logical_date) FROM dag_run"),
                 "4|2024-01-04T00:00:00.000000Z");
    env_close(&e);
}

static void test_interval_no_catchup(void)
{
    struct env e;
    set_now("2024-01-04T12:00:00Z");
    daily(&e, true, "false", 16);
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT logical_date, data_interval_end FROM dag_run"),
                 "2024-01-03T00:00:00.000000Z|2024-01-04T00:00:00.000000Z");
    /* two days later: only the latest interval, none of the ones skipped */
    set_now("2024-01-06T01:00:00Z");
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT logical_date FROM dag_run ORDER BY 1"),
                 "2024-01-03T00:00:00.000000Z\n2024-01-05T00:00:00.000000Z");
    env_close(&e);
}

static void test_trigger_timetable(void)
{
    struct env e;
    set_now("2024-01-04T12:00:00Z");
    daily(&e, false, "true", 16);
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT group_concat(substr(logical_date, 1, 10), ' '), "
                          "sum(data_interval_start = data_interval_end) FROM dag_run"),
                 "2024-01-01 2024-01-02 2024-01-03 2024-01-04|4");
    env_close(&e);
    set_now("2024-01-04T12:00:00Z");
    daily(&e, false, "false", 16);
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT logical_date FROM dag_run"), "2024-01-04T00:00:00.000000Z");
    env_close(&e);
}

static void test_max_active_runs_and_pause(void)
{
    struct env e;
    set_now("2024-01-04T12:00:00Z");
    char y[512];
    snprintf(y, sizeof(y),
             "d:\n"
             "  default_args: {start_date: 2024-01-01}\n"
             "  schedule: \"@daily\"\n"
             "  catchup: true\n"
             "  max_active_runs: 1\n"
             "  tasks: [{task_id: t, operator: bash, bash_command: 'sleep 0.2'}]\n");
    env_open(&e, true, "d.yaml", y);
    sched_tick(e.s);
    /* one run at a time: the others wait until it is done */
    CHECK_EQ_STR(rows(&e, "SELECT count(*), max(state) FROM dag_run"), "1|running");
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT count(*), min(state), max(state) FROM dag_run"),
                 "3|success|success");
    /* paused: no new run even when one is due */
    sqlite3_exec(e.db, "UPDATE dag SET is_paused=1", NULL, NULL, NULL);
    set_now("2024-01-06T12:00:00Z");
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT count(*) FROM dag_run"), "3");
    sqlite3_exec(e.db, "UPDATE dag SET is_paused=0", NULL, NULL, NULL);
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT count(*), min(state) FROM dag_run"), "5|success");
    env_close(&e);
}

static void test_retries_and_states(void)
{
    struct env e;
    set_now("2024-03-01T00:00:00Z");
    env_open(&e, true, "s.yaml",
             "s:\n"
             "  default_args: {start_date: 2024-01-01}\n"
             "  schedule: \"@once\"\n"
             "  tasks:\n"
             "    - task_id: flaky\n"
             "      operator: bash\n"
             "      bash_command: exit 1\n"
             "      retries: 2\n"
             "      retry_delay: 10\n"
             "      retry_exponential_backoff: true\n"
             "    - task_id: after_flaky\n"
             "      operator: bash\n"
             "      bash_command: 'true'\n"
             "      dependencies: [flaky]\n"
             "    - task_id: skipper\n"
             "      operator: bash\n"
             "      bash_command: exit 99\n"
             "    - task_id: after_skip\n"
             "      operator: bash\n"
             "      bash_command: 'true'\n"
             "      dependencies: [skipper]\n"
             "    - task_id: ok\n"
             "      operator: bash\n"
             "      bash_command: 'test \"$SLUICE_CONF\" = \"{}\" && test \"$AIRFLOW_CTX_DAG_ID\" "
             "= s'\n");
    settle(&e);
    const char *q = "SELECT task_id, ifnull(state, 'none'), try_number FROM task_instance ORDER "
                    "BY task_id";
    CHECK_EQ_STR(rows(&e, q), "after_flaky|none|0\n"
                              "after_skip|skipped|0\n"
                              "flaky|up_for_retry|1\n"
                              "ok|success|1\n"
                              "skipper|skipped|1");
    CHECK_EQ_STR(rows(&e, "SELECT next_try_at FROM task_instance WHERE task_id='flaky'"),
                 "2024-03-01T00:00:10.000000Z");
    CHECK_EQ_STR(rows(&e, "SELECT state FROM dag_run"), "running");
    /* not before next_try_at */
    set_now("2024-03-01T00:00:09Z");
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT state, try_number FROM task_instance WHERE task_id='flaky'"),
                 "up_for_retry|1");
    set_now("2024-03-01T00:00:10Z");
    settle(&e);
    /* try 2 failed: the delay doubles */
    CHECK_EQ_STR(rows(&e, "SELECT state, try_number, next_try_at FROM task_instance WHERE "
                          "task_id='flaky'"),
                 "up_for_retry|2|2024-03-01T00:00:30.000000Z");
    set_now("2024-03-01T00:00:30Z");
    settle(&e);
    CHECK_EQ_STR(rows(&e, q), "after_flaky|upstream_failed|0\n"
                              "after_skip|skipped|0\n"
                              "flaky|failed|3\n"
                              "ok|success|1\n"
                              "skipper|skipped|1");
    CHECK_EQ_STR(rows(&e, "SELECT state, end_date FROM dag_run"),
                 "failed|2024-03-01T00:00:30.000000Z");
    env_close(&e);
}

static void test_reload_and_import_error(void)
{
    struct env e;
    set_now("2024-03-01T00:00:00Z");
    env_open(&e, true, "r.yaml",
             "r:\n  tasks: [{task_id: t, operator: bash, bash_command: 'true'}]\n");
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT dag_id, version, schedule IS NULL, is_paused FROM dag"),
                 "r|1|1|0");
    CHECK_EQ_STR(rows(&e, "SELECT count(*) FROM dag_run"), "0");
    write_dag(&e, "r.yaml",
              "r:\n  tasks: [{task_id: t, operator: bash, bash_command: 'echo changed'}]\n");
    fake_now_us += 1000000;
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT version FROM dag"), "2");
    write_dag(&e, "r.yaml", "r:\n  tasks: [{task_id: t, operator: bash, bash_command: 'x'\n");
    fake_now_us += 1000000;
    settle(&e);
    CHECK(strstr(rows(&e, "SELECT stack_trace FROM import_error"), "/r.yaml:3: YAML error") !=
          NULL);
    CHECK_EQ_STR(rows(&e, "SELECT version, has_import_errors FROM dag"), "2|1");
    write_dag(&e, "r.yaml",
              "r:\n  tasks: [{task_id: t, operator: bash, bash_command: 'echo changed'}]\n");
    fake_now_us += 1000000;
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT count(*) FROM import_error"), "0");
    CHECK_EQ_STR(rows(&e, "SELECT version, has_import_errors, is_stale FROM dag"), "2|0|0");
    /* dag-factory's defaults.yml is no DAG file; a change to it re-reads every file */
    write_dag(&e, "defaults.yml", "default_args: {owner: ops}\n");
    fake_now_us += 1000000;
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT count(*) FROM import_error"), "0");
    CHECK_EQ_STR(rows(&e, "SELECT owners, version FROM dag"), "[\"ops\"]|3");
    char path[700];
    snprintf(path, sizeof(path), "%s/r.yaml", e.dags);
    unlink(path);
    fake_now_us += 1000000;
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT is_stale FROM dag"), "1");
    env_close(&e);
}

/* The API's user actions (meta.h): a trigger, then marking the run failed while its task runs
 * stops the task; marking it queued again starts it over. */
static void test_user_actions(void)
{
    struct env e;
    set_now("2024-03-01T00:00:00Z");
    env_open(&e, true, "m.yaml",
             "m:\n"
             "  schedule: null\n"
             "  tasks:\n"
             "    - {task_id: long, operator: bash, bash_command: 'sleep 60'}\n"
             "    - {task_id: next, operator: bash, bash_command: 'true', dependencies: [long]}\n");
    sched_tick(e.s);
    CHECK_EQ_STR(rows(&e, "SELECT count(*) FROM dag_run"), "0");
    sqlite3_exec(e.db,
                 "INSERT INTO dag_run (dag_id, run_id, run_type, triggered_by, state, "
                 "logical_date, run_after, queued_at, conf, dag_version) VALUES ('m', 'manual1', "
                 "'manual', 'rest_api', 'queued', NULL, '2024-03-01T00:00:00.000000Z', "
                 "'2024-03-01T00:00:00.000000Z', '{\"k\": 1}', 1)",
                 NULL, NULL, NULL);
    scheduler_wake();
    sched_tick(e.s);
    CHECK_EQ_STR(rows(&e, "SELECT task_id, ifnull(state, 'none') FROM task_instance ORDER BY 1"),
                 "long|running\nnext|none");
    CHECK_EQ_INT(sched_running(e.s), 1);
    sqlite3_exec(e.db, "UPDATE dag_run SET state='failed' WHERE run_id='manual1'", NULL, NULL,
                 NULL);
    settle(&e);
    CHECK_EQ_INT(sched_running(e.s), 0);
    CHECK_EQ_STR(rows(&e, "SELECT task_id, state FROM task_instance ORDER BY 1"),
                 "long|failed\nnext|skipped");
    /* cleared: queued again, its tasks start over (try numbers kept) */
    sqlite3_exec(e.db, "UPDATE dag_run SET state='queued' WHERE run_id='manual1'", NULL, NULL,
                 NULL);
    sched_tick(e.s);
    CHECK_EQ_STR(rows(&e, "SELECT task_id, ifnull(state, 'none'), try_number FROM task_instance "
                          "ORDER BY 1"),
                 "long|running|2\nnext|none|0");
    sqlite3_exec(e.db, "UPDATE dag_run SET state='success' WHERE run_id='manual1'", NULL, NULL,
                 NULL);
    settle(&e);
    CHECK_EQ_STR(rows(&e, "SELECT task_id, state FROM task_instance ORDER BY 1"),
                 "long|success\nnext|success");
    env_close(&e);
}

int main(void)
{
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    log_set_level(LOG_LVL_ERROR);
    test_interval_catchup();
    test_interval_no_catchup();
    test_trigger_timetable();
    test_max_active_runs_and_pause();
    test_retries_and_states();
    test_reload_and_import_error();
    test_user_actions();
    fs_remove_tree(root, NULL);
    return check_summary();
}
