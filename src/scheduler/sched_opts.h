/* The scheduling loop's options (sched.h), apart so that the loop's internal header
 * (sched_int.h) can hold them without including the public one. */
#ifndef SLUICE_SCHEDULER_SCHED_OPTS_H
#define SLUICE_SCHEDULER_SCHED_OPTS_H

#include <stdbool.h>
#include <stdint.h>

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

#endif
