/* The executor: each task try is a child process (core/proc) in its own process group with
 * its output appended to the try's log file; at most `parallelism` at once; a try past its
 * execution_timeout gets SIGTERM on its whole group, then SIGKILL 5 s later. Single-threaded:
 * the scheduling loop calls it. */
#ifndef SLUICE_SCHEDULER_EXECUTOR_H
#define SLUICE_SCHEDULER_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/proc.h"

struct exec_slot {
    bool used;
    char ti_id[40];
    char dag_id[256];
    char run_id[256];
    char task_id[256];
    int try_number;
    struct proc proc;
    int64_t started_us;
    int64_t deadline_us; /* 0: no timeout */
    int64_t term_sent_us;
    bool timed_out;
    bool cancelled;   /* stopped because its run was marked by a user */
    int64_t ended_us; /* when the try was first seen ended (0: still running) */
    bool end_logged;  /* the scheduler wrote the try's last log lines */
    char log_path[1024];
};

struct executor {
    struct exec_slot *slots;
    int cap; /* parallelism */
    int used;
};

int executor_init(struct executor *ex, int parallelism);
void executor_free(struct executor *ex);
int executor_free_slots(const struct executor *ex);
int executor_running_for_dag(const struct executor *ex, const char *dag_id);
struct exec_slot *executor_find(struct executor *ex, const char *ti_id);

/* Starts a try; slot fields ti_id.. log_path and deadline_us are copied from tmpl. */
int executor_start(struct executor *ex, const struct exec_slot *tmpl, const struct proc_spec *spec,
                   struct sl_err *err);

/* Enforces timeouts (now_us) and reaps: calls done for each finished try, then frees its
 * slot, unless done returns false (its result could not be recorded, e.g. the disk is full):
 * then done is called again at the next poll, with slot->ended_us still the first end time.
 * Returns how many finished. */
int executor_poll(struct executor *ex, int64_t now_us,
                  bool (*done)(struct exec_slot *slot, void *arg), void *arg);

/* Stops a try's whole group now (TERM, then KILL after grace_ms). */
void executor_cancel(struct exec_slot *slot, int64_t grace_ms);

/* Stops every try (scheduler shutdown); the rows are left for the next start's recovery. */
void executor_stop_all(struct executor *ex, int64_t grace_ms);

#endif
