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

struct sched_opts {
    const char *dags_folder;
    const char *data_dir; /* metadata in DATA_DIR/scheduler/scheduler.db, logs beside it */
    int parallelism;      /* tries running at once (0: 32) */
    bool paused_at_creation;
    bool cron_data_intervals;  /* true: cron schedules have data intervals (see
                                  docs/scheduler.md); false: Airflow 3's CronTriggerTimetable */
    bool builtin_dags;         /* add the built-in user_automation when no file defines it */
    const char *self_exe;      /* the sluice binary, for sluice.ingest tasks */
    int64_t parse_interval_ms; /* how often files are checked for changes (0: 2000) */
    /* A clock for tests (microseconds since the epoch); NULL: the real one. */
    int64_t (*clock_us)(void *arg);
    void *clock_arg;
};

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

/* The wake-up file descriptor (an eventfd) behind scheduler_wake(). */
int scheduler_wake_fd(void);
/* scheduler_wake() for signal handlers (after scheduler_wake_fd() was called once). */
void scheduler_wake_from_signal(void);

#endif
