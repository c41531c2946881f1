/* Schedules: 5-field cron expressions (ranges, steps, lists, month and day names), Airflow's
 * presets (@once @hourly @daily @weekly @monthly @quarterly @yearly) and none/null; next and
 * previous fire times in UTC. Also the ISO 8601 time text of the metadata DB. Times here are
 * seconds since the epoch (UTC) unless a name says _us. */
#ifndef SLUICE_SCHEDULER_CRON_H
#define SLUICE_SCHEDULER_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct cron {
    uint64_t minute; /* bit n: minute n matches (0-59) */
    uint32_t hour;   /* 0-23 */
    uint32_t dom;    /* 1-31 */
    uint32_t month;  /* 1-12 */
    uint32_t dow;    /* 0-6, Sunday 0 (7 accepted as Sunday) */
    bool dom_any;    /* the field was '*' (then day-of-week alone decides, and vice versa) */
    bool dow_any;
};

enum schedule_kind { SCHEDULE_NONE = 0, SCHEDULE_ONCE, SCHEDULE_CRON };

struct schedule {
    enum schedule_kind kind;
    struct cron cron;
    char expr[128];        /* as written, e.g. "@daily"; "" for none */
    char summary[128];     /* the cron expression a preset stands for; "" for none */
    char description[160]; /* "At 00:00", "Every 5 minutes", "Never, external triggers only" */
};

/* Parses a 5-field cron expression. Errors name the field and the offending text. */
int cron_parse(const char *expr, struct cron *c, struct sl_err *err);
/* The first fire time strictly after t, or -1 if there is none within 10 years. */
int64_t cron_next(const struct cron *c, int64_t t);
/* The last fire time strictly before t, or -1 if there is none within 10 years. */
int64_t cron_prev(const struct cron *c, int64_t t);
/* Whether t (a whole minute) is a fire time. */
bool cron_matches(const struct cron *c, int64_t t);

/* Parses a DAG's schedule: NULL, "", "none", "None", "null" mean no schedule; "@once";
 * presets; else a cron expression. */
int schedule_parse(const char *text, struct schedule *s, struct sl_err *err);

/* "2023-09-03T10:00:00.000000Z" (out holds 32 bytes) from microseconds since the epoch. */
char *ts_format_us(int64_t us, char out[32]);
/* Airflow's run id form of a time: "2023-09-03T10:00:00+00:00" (out holds 32 bytes). */
char *ts_format_runid(int64_t t, char out[32]);

#endif
