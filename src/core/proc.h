/* Child processes for the supervisor (`sluice up`) and the scheduler's executor: spawn in its
 * own process group with output captured to a file, poll and reap without blocking, stop the
 * whole group with SIGTERM and then SIGKILL after a grace period. */
#ifndef SLUICE_CORE_PROC_H
#define SLUICE_CORE_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"

struct proc_spec {
    const char *const *argv; /* argv[0] is looked up in PATH; NULL-terminated */
    const char *const *env;  /* "KEY=VALUE" entries added to (or replacing in) the inherited
                                environment; NULL-terminated; may be NULL */
    const char *cwd;         /* may be NULL */
    const char *output;      /* file appended with stdout and stderr (created 0644, parent
                                directories made); NULL: inherit */
    bool own_group;          /* setpgid(0, 0): signals reach the child and its descendants */
    bool die_with_parent;    /* PR_SET_PDEATHSIG(SIGTERM): no orphans if we are killed */
    bool null_stdin;         /* stdin from /dev/null */
};

struct proc {
    pid_t pid;   /* 0 when none */
    bool exited; /* reaped */
    int status;  /* raw wait status once exited */
};

/* Starts the child; an exec failure is reported through err (not as a child exit 127). */
int proc_spawn(const struct proc_spec *spec, struct proc *p, struct sl_err *err);
/* Reaps without blocking: 1 exited (status set), 0 still running, -1 error. */
int proc_poll(struct proc *p);
/* Waits up to timeout_ms (-1: forever): 1 exited, 0 still running. */
int proc_wait(struct proc *p, int64_t timeout_ms);
/* Sends sig to the child's group when it has one (own_group), else to the child. */
int proc_signal(const struct proc *p, int sig);
/* SIGTERM to the group, waits up to grace_ms, then SIGKILL to the group and reaps. Returns
 * 1 when SIGKILL was needed, 0 otherwise. Safe on an exited proc. */
int proc_stop(struct proc *p, int64_t grace_ms);
/* The exit code of an exited child: its exit status, or 128 + the signal that killed it. */
int proc_exit_code(const struct proc *p);
/* A one-line description: "exited with 3", "killed by SIGKILL". */
const char *proc_describe(const struct proc *p, char *out, size_t cap);

#endif
