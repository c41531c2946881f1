/* Child processes: fork + exec with the environment built before the fork (the child only
 * calls async-signal-safe functions, so spawning from a threaded process is safe), an exec
 * failure reported back through a close-on-exec pipe, and group-wide stop. */
#include "core/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/units.h"

extern char **environ;

static size_t key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* The inherited environment with spec->env added or replacing. Caller frees the array only
 * (the strings belong to environ or to spec). */
static char **build_env(const char *const *add)
{
    size_t n = 0, nadd = 0;
    while (environ && environ[n])
        n++;
    while (add && add[nadd])
        nadd++;
    char **out = calloc(n + nadd + 1, sizeof(*out));
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        size_t kl = key_len(environ[i]);
        for (size_t j = 0; j < nadd && !replaced; j++)
            replaced = key_len(add[j]) == kl && strncmp(add[j], environ[i], kl) == 0;
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < nadd; j++)
        out[k++] = (char *)add[j];
    out[k] = NULL;
    return out;
}

static int open_output(const char *path, struct sl_err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (fs_mkdirs(dir, err) != 0)
            return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        sl_err_errno(err, "cannot open %s", path);
    return fd;
}

/* Child side; only async-signal-safe calls from here on. Reports errno on the pipe. */
static void child_exec(const struct proc_spec *spec, char **envp, int out_fd, int null_fd,
                       int report_fd, pid_t parent)
{
    int e = 0;
    if (spec->own_group && setpgid(0, 0) != 0)
        goto fail;
    if (spec->die_with_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
            goto fail;
        if (getppid() != parent)
            _exit(1);
    }
    /* The parent's signal dispositions set to handlers are reset by exec; ignored ones and
     * the mask are inherited: give the child a clean slate. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0 && dup2(null_fd, STDIN_FILENO) < 0)
        goto fail;
    if (out_fd >= 0 && (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0))
        goto fail;
    if (spec->cwd && chdir(spec->cwd) != 0)
        goto fail;
    execvpe(spec->argv[0], (char *const *)spec->argv, envp);
fail:
    e = errno;
    ssize_t w = write(report_fd, &e, sizeof(e));
    (void)w;
    _exit(127);
}

int proc_spawn(const struct proc_spec *spec, struct proc *p, struct sl_err *err)
{
    memset(p, 0, sizeof(*p));
    if (!spec->argv || !spec->argv[0])
        return sl_err_set(err, "no program to run");
    int out_fd = -1, null_fd = -1, pipefd[2] = {-1, -1}, rc = -1;
    char **envp = build_env(spec->env);
    if (!envp)
        return sl_err_set(err, "out of memory");
    if (spec->output && (out_fd = open_output(spec->output, err)) < 0)
        goto out;
    if (spec->null_stdin && (null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        sl_err_errno(err, "cannot open /dev/null");
        goto out;
    }
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        sl_err_errno(err, "pipe");
        goto out;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        sl_err_errno(err, "cannot start %s", spec->argv[0]);
        goto out;
    }
    if (pid == 0)
        child_exec(spec, envp, out_fd, null_fd, pipefd[1], parent);
    /* Both sides set the group, so that signals to it work as soon as we return. */
    if (spec->own_group)
        setpgid(pid, pid);
    close(pipefd[1]);
    pipefd[1] = -1;
    int child_errno = 0;
    ssize_t r;
    do {
        r = read(pipefd[0], &child_errno, sizeof(child_errno));
    } while (r < 0 && errno == EINTR);
    if (r == (ssize_t)sizeof(child_errno)) {
        waitpid(pid, NULL, 0);
        sl_err_set(err, "cannot run %s: %s", spec->argv[0], strerror(child_errno));
        goto out;
    }
    p->pid = pid;
    rc = 0;
out:
    if (out_fd >= 0)
        close(out_fd);
    if (null_fd >= 0)
        close(null_fd);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    free(envp);
    return rc;
}

int proc_poll(struct proc *p)
{
    if (p->pid <= 0)
        return -1;
    if (p->exited)
        return 1;
    int st;
    pid_t r;
    do {
        r = waitpid(p->pid, &st, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r < 0)
        return -1;
    p->exited = true;
    p->status = st;
    return 1;
}

int proc_wait(struct proc *p, int64_t timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    int64_t nap_ms = 1;
    for (;;) {
        int r = proc_poll(p);
        if (r != 0)
            return r > 0 ? 1 : 0;
        int64_t now = mono_ms();
        if (now >= deadline)
            return 0;
        int64_t left = deadline - now;
        int64_t nap = nap_ms < left ? nap_ms : left;
        struct timespec ts = {nap / 1000, (long)(nap % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (nap_ms < 50)
            nap_ms *= 2;
    }
}

int proc_signal(const struct proc *p, int sig)
{
    if (p->pid <= 0)
        return -1;
    /* A reaped leader: only its group's survivors can still be signalled. */
    if (p->exited)
        return kill(-p->pid, sig);
    if (getpgid(p->pid) == p->pid)
        return kill(-p->pid, sig);
    return kill(p->pid, sig);
}

int proc_stop(struct proc *p, int64_t grace_ms)
{
    if (p->pid <= 0)
        return 0;
    bool group = p->exited || getpgid(p->pid) == p->pid;
    int killed = 0;
    if (!p->exited) {
        proc_signal(p, SIGTERM);
        if (proc_wait(p, grace_ms) == 0) {
            proc_signal(p, SIGKILL);
            proc_wait(p, -1);
            killed = 1;
        }
    }
    /* Whatever of the group outlived its leader goes too. */
    if (group)
        kill(-p->pid, SIGKILL);
    return killed;
}

int proc_exit_code(const struct proc *p)
{
    if (!p->exited)
        return -1;
    if (WIFEXITED(p->status))
        return WEXITSTATUS(p->status);
    if (WIFSIGNALED(p->status))
        return 128 + WTERMSIG(p->status);
    return -1;
}

const char *proc_describe(const struct proc *p, char *out, size_t cap)
{
    if (!p->exited)
        snprintf(out, cap, "running (pid %d)", (int)p->pid);
    else if (WIFEXITED(p->status))
        snprintf(out, cap, "exited with %d", WEXITSTATUS(p->status));
    else if (WIFSIGNALED(p->status)) {
        const char *name = sigabbrev_np(WTERMSIG(p->status));
        if (name)
            snprintf(out, cap, "killed by SIG%s", name);
        else
            snprintf(out, cap, "killed by signal %d", WTERMSIG(p->status));
    } else
        snprintf(out, cap, "ended with status %d", p->status);
    return out;
}
