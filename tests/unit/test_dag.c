/* scheduler/dag + dagfile: both YAML formats (dag-factory 1.x and Airflow 3.4 native), the
 * duration forms, the `default` block, $VAR expansion, and errors naming file and line:
 * cycles, unknown dependencies, wrong types, unknown operators and arguments. */
#include <stdlib.h>

#include "check.h"
#include "scheduler/dagfile.h"

#define NOW 1717243200 /* 2024-06-01T12:00:00Z */

static struct dagfile F;

static void parse(const char *text)
{
    dagfile_free(&F);
    dagfile_parse("dags/t.yaml", text, strlen(text), NOW, &F);
}

static const char *err_of(const char *text)
{
    parse(text);
    return F.error ? F.error : "(no error)";
}

static void test_factory(void)
{
    parse("default:\n"
          "  default_args:\n"
          "    owner: team\n"
          "    retries: 2\n"
          "example:\n"
          "  default_args:\n"
          "    start_date: 2024-01-01\n"
          "    retry_delay: {__type__: datetime.timedelta, seconds: 7}\n"
          "    execution_timeout: 5m\n"
          "    retry_exponential_backoff: true\n"
          "  schedule: \"0 6 * * 1-5\"\n"
          "  catchup: yes\n"
          "  max_active_runs: 2\n"
          "  description: hello\n"
          "  tags: [a, b]\n"
          "  tasks:\n"
          "    - task_id: a\n"
          "      operator: airflow.providers.standard.operators.bash.BashOperator\n"
          "      bash_command: echo a\n"
          "    - task_id: b\n"
          "      operator: bash\n"
          "      bash_command: echo b\n"
          "      retries: 1\n"
          "      retry_delay: 30\n"
          "      env: {X: \"1\"}\n"
          "      dependencies: [a]\n"
          "    - task_id: c\n"
          "      operator: sluice.ingest\n"
          "      duration: 10s\n"
          "      source: generator\n"
          "      dependencies: [a]\n");
    CHECK(F.error == NULL);
    if (F.error)
        fprintf(stderr, "%s\n", F.error);
    CHECK_EQ_INT(F.ndags, 1);
    if (F.ndags != 1)
        return;
    struct dag *d = F.dags[0];
    CHECK_EQ_STR(d->dag_id, "example");
    CHECK_EQ_INT(d->line, 5);
    CHECK_EQ_INT(d->schedule.kind, SCHEDULE_CRON);
    CHECK_EQ_STR(d->schedule.summary, "0 6 * * 1-5");
    CHECK(d->catchup);
    CHECK_EQ_INT(d->max_active_runs, 2);
    CHECK_EQ_STR(d->description, "hello");
    CHECK_EQ_INT(d->ntags, 3); /* dag-factory adds its tag */
    CHECK_EQ_STR(d->tags[2], "dagfactory");
    CHECK_EQ_INT(d->start_date, 1704067200);
    CHECK_EQ_INT(d->ntasks, 3);
    struct task *a = dag_find_task(d, "a"), *b = dag_find_task(d, "b"), *c = dag_find_task(d, "c");
    CHECK(a && b && c);
    if (!a || !b || !c)
        return;
    CHECK_EQ_STR(a->owner, "team");
    CHECK_EQ_INT(a->retries, 2);
    CHECK_EQ_INT(a->retry_delay_s, 7);
    CHECK_EQ_INT(a->execution_timeout_s, 300);
    CHECK(a->retry_exponential_backoff);
    CHECK_EQ_STR(a->operator_name, "BashOperator");
    CHECK_EQ_INT(b->retries, 1);
    CHECK_EQ_INT(b->retry_delay_s, 30);
    CHECK_EQ_INT(b->nup, 1);
    CHECK(b->has_env && b->nenv == 1 && strcmp(b->env[0], "X=1") == 0);
    CHECK_EQ_INT(c->op, OP_INGEST);
    CHECK_EQ_INT(c->nargs, 4);
    CHECK_EQ_STR(c->args[0], "--duration");
    CHECK_EQ_STR(c->args[1], "10s");
    CHECK_EQ_STR(c->args[2], "--source");
    CHECK_EQ_INT(d->nowners, 1);
    CHECK(d->definition && strstr(d->definition, "\"task_id\":\"b\"") != NULL);
}

static void test_factory_mapping_and_forms(void)
{
    parse("m:\n"
          "  default_args:\n"
          "    start_date: 2023-09-03T10:00:00+02:00\n"
          "    retry_delay: 1h\n"
          "  schedule: null\n"
          "  tasks:\n"
          "    first:\n"
          "      operator: airflow.operators.bash.BashOperator\n"
          "      bash_command: 'true'\n"
          "    second:\n"
          "      operator: bash\n"
          "      bash_command: 'true'\n"
          "      execution_timeout: {__type__: datetime.timedelta, minutes: 2, seconds: 5}\n"
          "      dependencies: [first]\n"
          "rel:\n"
          "  default_args: {start_date: 5 days}\n"
          "  schedule: \"@once\"\n"
          "  tasks: [{task_id: t, operator: bash, bash_command: x}]\n");
    CHECK(F.error == NULL);
    if (F.error)
        fprintf(stderr, "%s\n", F.error);
    CHECK_EQ_INT(F.ndags, 2);
    if (F.ndags != 2)
        return;
    struct dag *d = F.dags[0];
    CHECK_EQ_INT(d->schedule.kind, SCHEDULE_NONE);
    /* the offset is attached, not converted: 10:00 UTC */
    CHECK_EQ_INT(d->start_date, 1693735200);
    CHECK_EQ_INT(d->tasks[0].retry_delay_s, 3600);
    CHECK_EQ_INT(d->tasks[1].execution_timeout_s, 125);
    CHECK_EQ_STR(d->tasks[1].deps[0], "first");
    CHECK_EQ_INT(F.dags[1]->start_date, 1717200000 - 5 * 86400);
    CHECK_EQ_INT(F.dags[1]->schedule.kind, SCHEDULE_ONCE);
}

static void test_env_expansion(void)
{
    setenv("SLUICE_TEST_CMD", "echo from-env", 1);
    unsetenv("SLUICE_TEST_UNSET");
    parse("e:\n"
          "  tasks:\n"
          "    - task_id: t\n"
          "      operator: bash\n"
          "      bash_command: \"$SLUICE_TEST_CMD ${SLUICE_TEST_CMD} $SLUICE_TEST_UNSET $$\"\n");
    CHECK(F.ndags == 1);
    if (F.ndags == 1)
        CHECK_EQ_STR(F.dags[0]->tasks[0].bash_command,
                     "echo from-env echo from-env $SLUICE_TEST_UNSET $$");
}

static void test_defaults_file(void)
{
    const char *defaults = "default_args:\n"
                           "  owner: from-defaults\n"
                           "  retries: 4\n"
                           "catchup: true\n"
                           "schedule: \"@hourly\"\n";
    const char *text = "d:\n"
                       "  default_args: {retries: 1}\n"
                       "  tasks: [{task_id: t, operator: bash, bash_command: x}]\n";
    dagfile_free(&F);
    dagfile_parse_with_defaults("dags/t.yaml", text, strlen(text), "dags/defaults.yml", defaults,
                                strlen(defaults), NOW, &F);
    CHECK(F.error == NULL);
    CHECK_EQ_INT(F.ndags, 1);
    if (F.ndags == 1) {
        CHECK_EQ_STR(F.dags[0]->tasks[0].owner, "from-defaults");
        CHECK_EQ_INT(F.dags[0]->tasks[0].retries, 1);
        CHECK(F.dags[0]->catchup);
        CHECK_EQ_STR(F.dags[0]->schedule.summary, "0 * * * *");
    }
    const char *bad = "default_args:\n  retries: lots\n";
    dagfile_free(&F);
    dagfile_parse_with_defaults("dags/t.yaml", text, strlen(text), "dags/defaults.yml", bad,
                                strlen(bad), NOW, &F);
    CHECK_EQ_STR(
        F.error,
        "dags/defaults.yml:2: 'retries' must be an integer between 0 and 1000, not 'lots'");
    CHECK(dagfile_is_defaults("dags/defaults.yml") && dagfile_is_defaults("defaults.yaml") &&
          !dagfile_is_defaults("dags/my_defaults.yml"));
}

static void test_native(void)
{
    parse("$schema: https://airflow.apache.org/schemas/dag/2026-10-30.json\n"
          "dag_id: native\n"
          "schedule: \"@hourly\"\n"
          "start_date: 2024-01-01\n"
          "catchup: false\n"
          "tasks:\n"
          "  - id: extract\n"
          "    uses: airflow.providers.standard.operators.bash.BashOperator\n"
          "    with:\n"
          "      bash_command: {$const: echo hi}\n"
          "    retries: 3\n"
          "  - id: load\n"
          "    run: echo load\n"
          "    needs: [extract]\n"
          "---\n"
          "dag_id: second\n"
          "tasks:\n"
          "  - id: x\n"
          "    uses: sluice.ingest\n"
          "    with: {count: 10}\n");
    CHECK(F.error == NULL);
    if (F.error)
        fprintf(stderr, "%s\n", F.error);
    CHECK_EQ_INT(F.ndags, 2);
    if (F.ndags != 2)
        return;
    struct dag *d = F.dags[0];
    CHECK_EQ_STR(d->dag_id, "native");
    CHECK_EQ_INT(d->ntags, 0);
    CHECK_EQ_STR(d->schedule.summary, "0 * * * *");
    CHECK_EQ_STR(d->tasks[0].bash_command, "echo hi");
    CHECK_EQ_INT(d->tasks[0].retries, 3);
    CHECK_EQ_STR(d->tasks[1].bash_command, "echo load");
    CHECK_EQ_INT(d->tasks[1].nup, 1);
    CHECK_EQ_STR(F.dags[1]->tasks[0].args[0], "--count");
}

static void test_errors(void)
{
    CHECK_EQ_STR(err_of("d:\n"
                        "  tasks:\n"
                        "    - task_id: a\n"
                        "      operator: bash\n"
                        "      bash_command: x\n"
                        "      dependencies: [c]\n"
                        "    - task_id: b\n"
                        "      operator: bash\n"
                        "      bash_command: x\n"
                        "      dependencies: [a]\n"
                        "    - task_id: c\n"
                        "      operator: bash\n"
                        "      bash_command: x\n"
                        "      dependencies: [b]\n"),
                 "dags/t.yaml:3: cycle detected in DAG 'd': a -> b -> c -> a");
    CHECK_EQ_STR(err_of("d:\n"
                        "  tasks:\n"
                        "    - task_id: a\n"
                        "      operator: bash\n"
                        "      bash_command: x\n"
                        "      dependencies: [nope]\n"),
                 "dags/t.yaml:3: task 'a' depends on unknown task 'nope'");
    CHECK_EQ_STR(err_of("d:\n"
                        "  default_args:\n"
                        "    retries: many\n"
                        "  tasks: [{task_id: a, operator: bash, bash_command: x}]\n"),
                 "dags/t.yaml:3: 'retries' must be an integer between 0 and 1000, not 'many'");
    CHECK_EQ_STR(err_of("d:\n"
                        "  catchup: sometimes\n"
                        "  tasks: [{task_id: a, operator: bash, bash_command: x}]\n"),
                 "dags/t.yaml:2: 'catchup' must be true or false, not 'sometimes'");
    CHECK_EQ_STR(err_of("d:\n"
                        "  tasks:\n"
                        "    - task_id: a\n"
                        "      operator: bash\n"
                        "      bash_command: x\n"
                        "      retry_delay: soon\n"),
                 "dags/t.yaml:6: 'retry_delay' must be a duration (seconds, \"30s\", \"5m\", "
                 "\"1h\" or a datetime.timedelta), not 'soon'");
    CHECK_EQ_STR(err_of("d:\n"
                        "  tasks: [{task_id: a, operator: bash, bash_command: x}]\n"
                        "  tags: nope\n"),
                 "dags/t.yaml:3: 'tags' must be a list of strings, not a scalar");
    CHECK(strstr(err_of("d:\n"
                        "  schedule: \"61 * * * *\"\n"
                        "  tasks: [{task_id: a, operator: bash, bash_command: x}]\n"),
                 "dags/t.yaml:2: bad value in minute field '61'") != NULL);
    CHECK(strstr(err_of("d:\n"
                        "  tasks:\n"
                        "    - task_id: a\n"
                        "      operator: my.CustomOperator\n"),
                 "dags/t.yaml:4: task 'a': unknown operator 'my.CustomOperator'") != NULL);
    CHECK_EQ_STR(err_of("d:\n"
                        "  tasks:\n"
                        "    - task_id: a\n"
                        "      operator: bash\n"
                        "      bash_command: x\n"
                        "      colour: red\n"),
                 "dags/t.yaml:6: task 'a': BashOperator got an unexpected argument 'colour'");
    CHECK(strstr(err_of("d:\n"
                        "  schedule_interval: \"@daily\"\n"
                        "  tasks: [{task_id: a, operator: bash, bash_command: x}]\n"),
                 "dags/t.yaml:2: schedule_interval is not accepted") != NULL);
    CHECK(strstr(err_of("d:\n  tasks:\n    - task_id: a\n      operator: bash\n  x: [\n"),
                 "dags/t.yaml:") == F.error);
    CHECK(strstr(F.error, "YAML error") != NULL);
    CHECK_EQ_STR(err_of("d:\n  tasks:\n    - task_id: a\n      operator: bash\n"),
                 "dags/t.yaml:3: task 'a' (BashOperator) needs a bash_command");
    CHECK_EQ_STR(err_of("dag_id: n\ntasks:\n  - id: a\n    run: x\n    needs: [zz]\n"),
                 "dags/t.yaml:3: task 'a' depends on unknown task 'zz'");
    CHECK_EQ_INT(F.ndags, 0);
}

static void test_builtin(void)
{
    parse(dagfile_builtin_yaml);
    CHECK(F.error == NULL);
    CHECK_EQ_INT(F.ndags, 1);
    if (F.ndags != 1)
        return;
    struct dag *d = F.dags[0];
    CHECK_EQ_STR(d->dag_id, "user_automation");
    CHECK_EQ_STR(d->schedule.summary, "0 0 * * *");
    CHECK(!d->catchup);
    CHECK_EQ_INT(d->start_date, 1693735200);
    CHECK_EQ_STR(d->tasks[0].task_id, "stream_data_from_api");
    CHECK_EQ_STR(d->tasks[0].owner, "airscholar");
    CHECK_EQ_INT(d->tasks[0].retries, 1);
    CHECK_EQ_INT(d->tasks[0].retry_delay_s, 300);
    CHECK_EQ_STR(d->tasks[0].args[1], "60s");
    /* the shipped file is the same DAG */
    char path[512];
    const char *src = getenv("SRC_DIR");
    if (src) {
        snprintf(path, sizeof(path), "%s/dags/user_automation.yaml", src);
    } else { /* this file's path, less tests/unit/test_dag.c */
        snprintf(path, sizeof(path), "%s", __FILE__);
        char *cut = strstr(path, "tests/unit/test_dag.c");
        if (cut)
            snprintf(cut, sizeof(path) - (size_t)(cut - path), "dags/user_automation.yaml");
    }
    struct dagfile f2;
    dagfile_load(path, NOW, &f2);
    CHECK(f2.error == NULL);
    CHECK(f2.ndags == 1 && strcmp(f2.dags[0]->definition, d->definition) == 0);
    dagfile_free(&f2);
}

int main(void)
{
    test_factory();
    test_factory_mapping_and_forms();
    test_env_expansion();
    test_defaults_file();
    test_native();
    test_errors();
    test_builtin();
    dagfile_free(&F);
    return check_summary();
}
