/* The scheduling loop: reads the DAGs folder, writes dag and import_error rows, creates runs
 * per each DAG's timetable, turns runs and task instances through Airflow's states, starts
 * tries through the executor, and recovers after a crash. It owns every state change of runs
 * and task instances in the metadata DB (scheduler/meta.h). Single-threaded. */
#ifndef SLUICE_SCHEDULER_SCHED_H
#define SLUICE_SCHEDULER_SCHED_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "scheduler/sched_opts.h"

struct sched;

int sched_open(const struct sched_opts *o, struct sched **out, struct sl_err *err);
/* One turn of the loop. */
void sched_tick(struct sched *s);
/* Turns until *stop is set; woken at once by scheduler_wake() and by child exits. */
void sched_run(struct sched *s, volatile sig_atomic_t *stop);
/* Stops running tries (their rows are recovered at the next start) and frees. */
void sched_close(struct sched *s);

/* Tries running now (for tests). */
int sched_running(const struct sched *s);

/* scheduler_wake_fd() and scheduler_wake_from_signal() are declared in meta.h, beside
 * scheduler_wake(), which meta.c defines with them. */

#endif
