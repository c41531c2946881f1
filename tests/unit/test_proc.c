/* core/proc: spawn with environment and output file, exec failures, exit codes, group stop
 * (a grandchild dies with its group), TERM then KILL for a child that ignores TERM. */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "core/proc.h"

static char dir[] = "/tmp/sluice-test-proc.XXXXXX";

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t len;
    if (fs_read_file(path, 1 << 20, &data, &len, NULL) != 0)
        return NULL;
    return data;
}

static void test_output_env_exit(void)
{
    char out[256];
    snprintf(out, sizeof(out), "%s/sub/dir/out.log", dir);
    const char *argv[] = {"sh", "-c", "echo \"hello $PROC_TEST\"; echo err >&2; exit 3", NULL};
    const char *env[] = {"PROC_TEST=world", NULL};
    struct proc_spec spec = {.argv = argv, .env = env, .output = out, .null_stdin = true};
    struct proc p;
    struct sl_err err;
    CHECK_EQ_INT(proc_spawn(&spec, &p, &err), 0);
    CHECK(p.pid > 0);
    CHECK_EQ_INT(proc_wait(&p, -1), 1);
    CHECK(p.exited);
    CHECK_EQ_INT(proc_exit_code(&p), 3);
    char buf[64];
    CHECK_EQ_STR(proc_describe(&p, buf, sizeof(buf)), "exited with 3");
    char *text = slurp(out);
    CHECK_EQ_STR(text, "hello world\nerr\n");
    free(text);
    /* appended, not truncated */
    CHECK_EQ_INT(proc_spawn(&spec, &p, &err), 0);
    proc_wait(&p, -1);
    text = slurp(out);
    CHECK_EQ_STR(text, "hello world\nerr\nhello world\nerr\n");
    free(text);
}

static void test_env_replaces(void)
{
    setenv("PROC_TEST_REPL", "old", 1);
    char out[256];
    snprintf(out, sizeof(out), "%s/env.log", dir);
    const char *argv[] = {"sh", "-c", "echo $PROC_TEST_REPL; env | grep -c ^PROC_TEST_REPL=", NULL};
    const char *env[] = {"PROC_TEST_REPL=new", NULL};
    struct proc_spec spec = {.argv = argv, .env = env, .output = out};
    struct proc p;
    CHECK_EQ_INT(proc_spawn(&spec, &p, NULL), 0);
    proc_wait(&p, -1);
    char *text = slurp(out);
    CHECK_EQ_STR(text, "new\n1\n");
    free(text);
    unsetenv("PROC_TEST_REPL");
}

static void test_exec_failure(void)
{
    const char *argv[] = {"/nonexistent/sluice-no-such-program", NULL};
    struct proc_spec spec = {.argv = argv};
    struct proc p;
    struct sl_err err = {{0}};
    CHECK_EQ_INT(proc_spawn(&spec, &p, &err), -1);
    CHECK(strstr(err.msg, "No such file") != NULL);
    CHECK_EQ_INT(p.pid, 0);
}

static void test_group_stop(void)
{
    char pidfile[256];
    snprintf(pidfile, sizeof(pidfile), "%s/grandchild.pid", dir);
    char script[1024];
    /* the grandchild ignores nothing; the leader ignores TERM: KILL is needed for it */
    snprintf(script, sizeof(script),
             "trap '' TERM; sleep 300 & echo $! > %s.tmp; mv %s.tmp %s; while :; do sleep 1; "
             "done",
             pidfile, pidfile, pidfile);
    const char *argv[] = {"sh", "-c", script, NULL};
    struct proc_spec spec = {.argv = argv, .own_group = true, .die_with_parent = true};
    struct proc p;
    CHECK_EQ_INT(proc_spawn(&spec, &p, NULL), 0);
    CHECK_EQ_INT(getpgid(p.pid), p.pid);
    char *text = NULL;
    for (int i = 0; i < 500 && !text; i++) {
        text = slurp(pidfile);
        if (!text)
            usleep(10000);
    }
    CHECK(text != NULL);
    pid_t grandchild = text ? (pid_t)atoi(text) : 0;
    free(text);
    CHECK(grandchild > 0);
    CHECK_EQ_INT(proc_poll(&p), 0);
    CHECK_EQ_INT(proc_wait(&p, 20), 0);
    CHECK_EQ_INT(proc_stop(&p, 200), 1);
    CHECK(p.exited);
    CHECK_EQ_INT(proc_exit_code(&p), 128 + SIGKILL);
    char buf[64];
    CHECK_EQ_STR(proc_describe(&p, buf, sizeof(buf)), "killed by SIGKILL");
    /* the grandchild was in the group: it is gone (it may linger as a zombie of init for a
     * moment; wait for it to be reaped) */
    bool gone = false;
    for (int i = 0; i < 500 && !gone; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)grandchild);
        char *st = slurp(path);
        char *rp = st ? strrchr(st, ')') : NULL;
        gone = !st || (rp && rp[1] == ' ' && rp[2] == 'Z');
        free(st);
        if (!gone)
            usleep(10000);
    }
    CHECK(gone);
    /* stop on an exited proc is a no-op */
    CHECK_EQ_INT(proc_stop(&p, 100), 0);
}

static void test_term_suffices(void)
{
    const char *argv[] = {"sleep", "300", NULL};
    struct proc_spec spec = {.argv = argv, .own_group = true};
    struct proc p;
    CHECK_EQ_INT(proc_spawn(&spec, &p, NULL), 0);
    CHECK_EQ_INT(proc_stop(&p, 5000), 0);
    CHECK_EQ_INT(proc_exit_code(&p), 128 + SIGTERM);
    CHECK_EQ_INT(proc_signal(&p, 0), -1); /* nothing left of the group */
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_output_env_exit();
    test_env_replaces();
    test_exec_failure();
    test_group_stop();
    test_term_suffices();
    fs_remove_tree(dir, NULL);
    return check_summary();
}
