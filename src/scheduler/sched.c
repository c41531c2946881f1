/* The scheduling loop. The metadata DB is the truth: each turn reads what it needs from it,
 * so that a restart (even after kill -9) carries on from the rows alone. In memory there are
 * only the parsed DAGs, the files' stat stamps and the running tries.
 *
 * One turn: re-read changed DAG files; heartbeat; (first turn) recover tries orphaned by a
 * dead scheduler; reap finished tries; apply runs marked by users; create runs per timetable;
 * start queued runs; move task instances along their dependencies; start scheduled tries. */
#include "scheduler/sched.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/units.h"
#include "core/uuid.h"
#include "scheduler/dagfile.h"
#include "scheduler/executor.h"
#include "scheduler/meta.h"

#define MOD "scheduler"
#define BUILTIN_DAG_ID "user_automation"
#define MAX_RUNS_PER_TURN 100

struct dag_ent {
    struct dag *dag;
    char *file; /* the file that defines it, or DAGFILE_BUILTIN_LOC */
    bool paused;
    bool import_error;
    /* the latest scheduled run, loaded once from the DB then kept up to date */
    bool last_loaded;
    bool has_last;
    int64_t last_logical, last_start, last_end;
    char next_written[32]; /* the next_dagrun_run_after last written, to skip rewrites */
};

struct file_ent {
    char *path;
    int64_t mtime_ns;
    int64_t size;
    bool seen;
};

struct sched {
    struct sched_opts o;
    char *dags_folder, *data_dir, *self_exe;
    char db_path[PATH_MAX];
    char logs_dir[PATH_MAX];
    char hostname[256];
    sqlite3 *db;
    struct executor ex;
    struct dag_ent *dags;
    int ndags;
    struct file_ent *files;
    int nfiles;
    int64_t last_parse_us;
    int64_t last_heartbeat_us;
    bool recovered;
    bool folder_warned;
};

struct run_info {
    int64_t logical, start, end, run_after; /* seconds */
};

/* --- small helpers --------------------------------------------------------------------- */

static int64_t now_us(struct sched *s)
{
    if (s->o.clock_us)
        return s->o.clock_us(s->o.clock_arg);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static char *xstrdup(const char *p)
{
    char *r = strdup(p ? p : "");
    if (!r)
        abort();
    return r;
}

/* Binds args described by fmt: s text (NULL = null), i int64, d double, n null. */
static void bindv(sqlite3_stmt *st, const char *fmt, va_list ap)
{
    for (int i = 0; fmt && fmt[i]; i++) {
        switch (fmt[i]) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
            break;
        }
        case 'i':
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        case 'd':
            sqlite3_bind_double(st, i + 1, va_arg(ap, double));
            break;
        default:
            sqlite3_bind_null(st, i + 1);
            break;
        }
    }
}

/* Runs one statement; returns the number of changed rows, or -1. */
static int sql(struct sched *s, const char *q, const char *fmt, ...)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) {
        log_error(MOD, "SQL error: %s in: %s", sqlite3_errmsg(s->db), q);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    bindv(st, fmt, ap);
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error(MOD, "SQL error: %s in: %s", sqlite3_errmsg(s->db), q);
        return -1;
    }
    return sqlite3_changes(s->db);
}

static sqlite3_stmt *query(struct sched *s, const char *q, const char *fmt, ...)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) {
        log_error(MOD, "SQL error: %s in: %s", sqlite3_errmsg(s->db), q);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    bindv(st, fmt, ap);
    va_end(ap);
    return st;
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static char *ts(int64_t us, char out[32])
{
    return ts_format_us(us, out);
}

static char *ts_s(int64_t sec, char out[32])
{
    return ts_format_us(sec * 1000000, out);
}

static int64_t parse_ts(const char *text)
{
    int64_t us = 0;
    if (!text || ts_parse_us(text, &us) != 0)
        return INT64_MIN;
    return us;
}

static void begin(struct sched *s)
{
    sql(s, "BEGIN IMMEDIATE", NULL);
}

static void commit(struct sched *s)
{
    sql(s, "COMMIT", NULL);
}

static struct dag_ent *find_dag(struct sched *s, const char *dag_id)
{
    for (int i = 0; i < s->ndags; i++) {
        if (strcmp(s->dags[i].dag->dag_id, dag_id) == 0)
            return &s->dags[i];
    }
    return NULL;
}

/* Path components of the log layout may not hold '/'. */
static void path_part(char *out, size_t cap, const char *in)
{
    snprintf(out, cap, "%s", in);
    for (char *p = out; *p; p++) {
        if (*p == '/')
            *p = '_';
    }
}

static void log_path(struct sched *s, const char *dag_id, const char *run_id, const char *task_id,
                     int try_number, char *out, size_t cap)
{
    char d[256], r[256], t[256];
    path_part(d, sizeof(d), dag_id);
    path_part(r, sizeof(r), run_id);
    path_part(t, sizeof(t), task_id);
    if (snprintf(out, cap, "%s/dag_id=%s/run_id=%s/task_id=%s/attempt=%d.log", s->logs_dir, d, r, t,
                 try_number) >= (int)cap)
        out[0] = '\0';
}

/* Appends one line in Airflow's log style to a try's log. */
static void try_log(struct sched *s, const char *path, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void try_log(struct sched *s, const char *path, const char *level, const char *fmt, ...)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        fs_mkdirs(dir, NULL);
    }
    char msg[2048], stamp[32], line[2200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int n = snprintf(line, sizeof(line), "[%s] {scheduler} %s - %s\n", ts(now_us(s), stamp), level,
                     msg);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t w = write(fd, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : strlen(line));
    (void)w;
    close(fd);
}

/* --- timetables ------------------------------------------------------------------------ */

static int64_t align_next(const struct cron *c, int64_t t)
{
    return cron_matches(c, t) ? t : cron_next(c, t);
}

static int64_t latest_fire(const struct cron *c, int64_t now)
{
    int64_t m = now - (now % 60 + 60) % 60;
    return cron_matches(c, m) ? m : cron_prev(c, m);
}

/* The next scheduled run after the last one (if any). Cron schedules with data intervals:
 * the interval [start, end) between two fire times, logical date = start, due at end (the
 * interval timetable). Without (Airflow 3's CronTriggerTimetable): logical date = interval
 * start = end = the fire time. @once: one run at start_date. Returns 0 when there is none. */
static int next_run(const struct sched *s, const struct dag_ent *e, int64_t now,
                    struct run_info *ri)
{
    const struct dag *d = e->dag;
    const struct schedule *sc = &d->schedule;
    bool has_start = d->start_date != INT64_MIN;
    memset(ri, 0, sizeof(*ri));
    if (sc->kind == SCHEDULE_NONE)
        return 0;
    if (sc->kind == SCHEDULE_ONCE) {
        if (e->has_last)
            return 0;
        int64_t t = has_start ? d->start_date : now - now % 60;
        *ri = (struct run_info){t, t, t, t};
        return 1;
    }
    const struct cron *c = &sc->cron;
    int64_t start;
    if (s->o.cron_data_intervals) {
        if (e->has_last)
            start = align_next(c, e->last_end);
        else if (has_start)
            start = align_next(c, d->start_date);
        else
            start = cron_prev(c, latest_fire(c, now));
        if (!d->catchup) {
            /* skip to the latest interval that has ended (not before start_date) */
            int64_t latest = cron_prev(c, latest_fire(c, now));
            if (has_start && latest < align_next(c, d->start_date))
                latest = align_next(c, d->start_date);
            if (latest > start)
                start = latest;
        }
        if (start < 0)
            return 0;
        int64_t end = cron_next(c, start);
        if (end < 0)
            return 0;
        *ri = (struct run_info){start, start, end, end};
    } else {
        if (e->has_last)
            start = cron_next(c, e->last_logical);
        else if (has_start)
            start = align_next(c, d->start_date);
        else
            start = latest_fire(c, now);
        if (!d->catchup) {
            int64_t latest = latest_fire(c, now);
            if (has_start && latest < align_next(c, d->start_date))
                latest = align_next(c, d->start_date);
            if (latest > start)
                start = latest;
        }
        if (start < 0)
            return 0;
        *ri = (struct run_info){start, start, start, start};
    }
    if (d->end_date != INT64_MIN && ri->start > d->end_date)
        return 0;
    return 1;
}

/* --- DAG files -------------------------------------------------------------------------- */

static char *json_strv(char **v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    char *out = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    if (!out)
        abort();
    return out;
}

static void load_last_run(struct sched *s, struct dag_ent *e)
{
    if (e->last_loaded)
        return;
    e->last_loaded = true;
    e->has_last = false;
    sqlite3_stmt *st = query(s,
                             "SELECT logical_date, data_interval_start, data_interval_end FROM "
                             "dag_run WHERE dag_id=? AND run_type='scheduled' AND logical_date "
                             "IS NOT NULL ORDER BY logical_date DESC LIMIT 1",
                             "s", e->dag->dag_id);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        int64_t l = parse_ts(col(st, 0)), a = parse_ts(col(st, 1)), b = parse_ts(col(st, 2));
        if (l != INT64_MIN) {
            e->has_last = true;
            e->last_logical = l / 1000000;
            e->last_start = a != INT64_MIN ? a / 1000000 : e->last_logical;
            e->last_end = b != INT64_MIN ? b / 1000000 : e->last_logical;
        }
    }
    sqlite3_finalize(st);
}

static void write_next_dagrun(struct sched *s, struct dag_ent *e, int64_t now)
{
    struct run_info ri;
    load_last_run(s, e);
    char a[32], b[32], c[32], d[32];
    if (next_run(s, e, now, &ri)) {
        ts_s(ri.run_after, d);
        if (strcmp(d, e->next_written) == 0)
            return;
        sql(s,
            "UPDATE dag SET next_dagrun_logical_date=?, next_dagrun_data_interval_start=?, "
            "next_dagrun_data_interval_end=?, next_dagrun_run_after=? WHERE dag_id=?",
            "sssss", ts_s(ri.logical, a), ts_s(ri.start, b), ts_s(ri.end, c), d, e->dag->dag_id);
        snprintf(e->next_written, sizeof(e->next_written), "%s", d);
    } else if (strcmp(e->next_written, "none") != 0) {
        sql(s,
            "UPDATE dag SET next_dagrun_logical_date=NULL, next_dagrun_data_interval_start=NULL, "
            "next_dagrun_data_interval_end=NULL, next_dagrun_run_after=NULL WHERE dag_id=?",
            "s", e->dag->dag_id);
        snprintf(e->next_written, sizeof(e->next_written), "none");
    }
}

/* Takes ownership of d. */
static void register_dag(struct sched *s, struct dag *d, const char *file, int64_t now)
{
    struct dag_ent *e = find_dag(s, d->dag_id);
    if (!e) {
        struct dag_ent *nv = realloc(s->dags, (size_t)(s->ndags + 1) * sizeof(*nv));
        if (!nv)
            abort();
        s->dags = nv;
        e = &s->dags[s->ndags++];
        memset(e, 0, sizeof(*e));
    } else {
        dag_free(e->dag);
        free(e->file);
    }
    e->dag = d;
    e->file = xstrdup(file);
    e->import_error = false;
    e->next_written[0] = '\0';

    char stamp[32], sd[32], uuid_txt[37];
    uint8_t u[16];
    ts(now, stamp);
    char *owners = json_strv(d->owners, d->nowners);
    char *tags = json_strv(d->tags, d->ntags);
    const char *schedule = d->schedule.kind == SCHEDULE_NONE ? NULL : d->schedule.expr;
    const char *summary = d->schedule.kind == SCHEDULE_NONE ? NULL : d->schedule.summary;
    const char *start = d->start_date != INT64_MIN ? ts_s(d->start_date, sd) : NULL;
    sqlite3_stmt *st =
        query(s, "SELECT version, definition, is_paused FROM dag WHERE dag_id=?", "s", d->dag_id);
    int exists = st && sqlite3_step(st) == SQLITE_ROW;
    int64_t version = exists ? sqlite3_column_int64(st, 0) : 0;
    bool changed = !exists || !col(st, 1) || strcmp(col(st, 1), d->definition) != 0;
    e->paused = exists ? sqlite3_column_int(st, 2) != 0 : s->o.paused_at_creation;
    sqlite3_finalize(st);
    uuid_v4(u);
    uuid_format(u, uuid_txt);
    if (!exists) {
        sql(s,
            "INSERT INTO dag (dag_id, is_paused, is_stale, fileloc, description, owners, tags, "
            "schedule, timetable_summary, timetable_description, catchup, max_active_runs, "
            "max_active_tasks, start_date, last_parsed_time, has_import_errors, version, "
            "version_id, version_created_at, definition) VALUES "
            "(?,?,0,?,?,?,?,?,?,?,?,?,?,?,?,0,1,?,?,?)",
            "sisssssssiiisssss", d->dag_id, (int64_t)s->o.paused_at_creation, file, d->description,
            owners, tags, schedule, summary, d->schedule.description, (int64_t)d->catchup,
            (int64_t)d->max_active_runs, (int64_t)d->max_active_tasks, start, stamp, uuid_txt,
            stamp, d->definition);
        log_info(MOD, "new DAG %s from %s (%s)", d->dag_id, file,
                 s->o.paused_at_creation ? "paused" : "active");
    } else {
        sql(s,
            "UPDATE dag SET is_stale=0, fileloc=?, description=?, owners=?, tags=?, schedule=?, "
            "timetable_summary=?, timetable_description=?, catchup=?, max_active_runs=?, "
            "max_active_tasks=?, start_date=?, last_parsed_time=?, has_import_errors=0 WHERE "
            "dag_id=?",
            "sssssssiiisss", file, d->description, owners, tags, schedule, summary,
            d->schedule.description, (int64_t)d->catchup, (int64_t)d->max_active_runs,
            (int64_t)d->max_active_tasks, start, stamp, d->dag_id);
        if (changed) {
            sql(s,
                "UPDATE dag SET version=?, version_id=?, version_created_at=?, definition=? "
                "WHERE dag_id=?",
                "issss", version + 1, uuid_txt, stamp, d->definition, d->dag_id);
            log_info(MOD, "DAG %s changed: version %lld", d->dag_id, (long long)version + 1);
        }
    }
    free(owners);
    free(tags);
    write_next_dagrun(s, e, now / 1000000);
}

static void drop_dag(struct sched *s, struct dag_ent *e)
{
    log_info(MOD, "DAG %s is gone from %s", e->dag->dag_id, e->file);
    sql(s, "UPDATE dag SET is_stale=1 WHERE dag_id=?", "s", e->dag->dag_id);
    dag_free(e->dag);
    free(e->file);
    *e = s->dags[--s->ndags];
}

static void set_import_error(struct sched *s, const char *file, const char *msg, int64_t now)
{
    char stamp[32];
    sql(s,
        "INSERT INTO import_error (filename, timestamp, stack_trace) VALUES (?,?,?) ON "
        "CONFLICT(filename) DO UPDATE SET timestamp=excluded.timestamp, "
        "stack_trace=excluded.stack_trace",
        "sss", file, ts(now, stamp), msg);
}

static void load_file(struct sched *s, const char *path, int64_t now)
{
    struct dagfile f;
    dagfile_load(path, now / 1000000, &f);
    if (f.error) {
        log_error(MOD, "import error: %s", f.error);
        set_import_error(s, path, f.error, now);
        /* its DAGs keep their last good definition, as Airflow keeps the last parsed one */
        for (int i = 0; i < s->ndags; i++) {
            if (strcmp(s->dags[i].file, path) == 0) {
                s->dags[i].import_error = true;
                sql(s, "UPDATE dag SET has_import_errors=1 WHERE dag_id=?", "s",
                    s->dags[i].dag->dag_id);
            }
        }
        dagfile_free(&f);
        return;
    }
    char dup[1024] = "";
    bool *keep = calloc((size_t)s->ndags + 1, sizeof(bool));
    if (!keep)
        abort();
    for (int i = 0; i < f.ndags; i++) {
        struct dag *d = f.dags[i];
        struct dag_ent *e = find_dag(s, d->dag_id);
        if (e && strcmp(e->file, path) != 0 && strcmp(e->file, DAGFILE_BUILTIN_LOC) != 0) {
            if (snprintf(dup, sizeof(dup), "%s:%d: DAG id '%s' is already defined in %s", path,
                         d->line, d->dag_id, e->file) >= (int)sizeof(dup))
                dup[sizeof(dup) - 1] = '\0';
            dag_free(d);
            f.dags[i] = NULL;
            continue;
        }
        if (e)
            keep[e - s->dags] = true;
    }
    /* DAGs this file defined before and no longer does */
    for (int i = s->ndags - 1; i >= 0; i--) {
        if (strcmp(s->dags[i].file, path) == 0 && !keep[i]) {
            bool still = false;
            for (int k = 0; k < f.ndags; k++)
                still |= f.dags[k] && strcmp(f.dags[k]->dag_id, s->dags[i].dag->dag_id) == 0;
            if (!still)
                drop_dag(s, &s->dags[i]);
        }
    }
    free(keep);
    for (int i = 0; i < f.ndags; i++) {
        if (f.dags[i])
            register_dag(s, f.dags[i], path, now);
        f.dags[i] = NULL;
    }
    if (dup[0]) {
        log_error(MOD, "import error: %s", dup);
        set_import_error(s, path, dup, now);
    } else {
        sql(s, "DELETE FROM import_error WHERE filename=?", "s", path);
    }
    dagfile_free(&f);
}

static bool is_dag_file(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

static void refresh_dags(struct sched *s, int64_t now)
{
    for (int i = 0; i < s->nfiles; i++)
        s->files[i].seen = false;
    DIR *dir = opendir(s->dags_folder);
    if (!dir && !s->folder_warned) {
        log_warn(MOD, "DAGs folder %s: %s", s->dags_folder, strerror(errno));
        s->folder_warned = true;
    }
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (!is_dag_file(de->d_name))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", s->dags_folder, de->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        int64_t mt = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        struct file_ent *fe = NULL;
        for (int i = 0; i < s->nfiles && !fe; i++) {
            if (strcmp(s->files[i].path, path) == 0)
                fe = &s->files[i];
        }
        if (!fe) {
            struct file_ent *nv = realloc(s->files, (size_t)(s->nfiles + 1) * sizeof(*nv));
            if (!nv)
                abort();
            s->files = nv;
            fe = &s->files[s->nfiles++];
            fe->path = xstrdup(path);
            fe->mtime_ns = -1;
            fe->size = -1;
        }
        fe->seen = true;
        if (fe->mtime_ns != mt || fe->size != (int64_t)sb.st_size) {
            fe->mtime_ns = mt;
            fe->size = (int64_t)sb.st_size;
            load_file(s, path, now);
        }
    }
    if (dir)
        closedir(dir);
    for (int i = s->nfiles - 1; i >= 0; i--) {
        if (s->files[i].seen)
            continue;
        for (int k = s->ndags - 1; k >= 0; k--) {
            if (strcmp(s->dags[k].file, s->files[i].path) == 0)
                drop_dag(s, &s->dags[k]);
        }
        sql(s, "DELETE FROM import_error WHERE filename=?", "s", s->files[i].path);
        free(s->files[i].path);
        s->files[i] = s->files[--s->nfiles];
    }
    if (s->o.builtin_dags && !find_dag(s, BUILTIN_DAG_ID)) {
        struct dagfile f;
        dagfile_parse(DAGFILE_BUILTIN_LOC, dagfile_builtin_yaml, strlen(dagfile_builtin_yaml),
                      now / 1000000, &f);
        if (f.ndags == 1) {
            register_dag(s, f.dags[0], DAGFILE_BUILTIN_LOC, now);
            f.dags[0] = NULL;
        }
        dagfile_free(&f);
    }
}

/* --- task instances ---------------------------------------------------------------------- */

struct ti {
    char id[40];
    char dag_id[256], run_id[256], task_id[256];
    char state[24]; /* "" = no status */
    int try_number, max_tries;
    int64_t start_us;    /* INT64_MIN: none */
    int64_t next_try_us; /* INT64_MIN: none */
};

static void ti_from_row(sqlite3_stmt *st, struct ti *t)
{
    /* columns: id, dag_id, run_id, task_id, state, try_number, max_tries, start_date,
     * next_try_at */
    memset(t, 0, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "%s", col(st, 0) ? col(st, 0) : "");
    snprintf(t->dag_id, sizeof(t->dag_id), "%s", col(st, 1) ? col(st, 1) : "");
    snprintf(t->run_id, sizeof(t->run_id), "%s", col(st, 2) ? col(st, 2) : "");
    snprintf(t->task_id, sizeof(t->task_id), "%s", col(st, 3) ? col(st, 3) : "");
    snprintf(t->state, sizeof(t->state), "%s", col(st, 4) ? col(st, 4) : "");
    t->try_number = sqlite3_column_int(st, 5);
    t->max_tries = sqlite3_column_int(st, 6);
    t->start_us = parse_ts(col(st, 7));
    t->next_try_us = parse_ts(col(st, 8));
}

#define TI_COLS "id, dag_id, run_id, task_id, state, try_number, max_tries, start_date, next_try_at"

static const struct task *task_of(struct sched *s, const char *dag_id, const char *task_id)
{
    struct dag_ent *e = find_dag(s, dag_id);
    return e ? dag_find_task(e->dag, task_id) : NULL;
}

/* The wait before the next try after try_number failed: retry_delay, doubled per try with
 * retry_exponential_backoff, capped by max_retry_delay (and a day). */
static int64_t retry_delay_s(const struct task *t, int try_number)
{
    int64_t delay = t ? t->retry_delay_s : 300;
    if (t && t->retry_exponential_backoff) {
        for (int i = 1; i < try_number && delay < 86400; i++)
            delay *= 2;
        if (t->max_retry_delay_s && delay > t->max_retry_delay_s)
            delay = t->max_retry_delay_s;
        if (delay > 86400)
            delay = 86400;
    }
    return delay;
}

/* A try ended without success: up_for_retry while tries remain, else failed. */
static void fail_try(struct sched *s, const struct ti *t, const char *logp, int64_t now)
{
    char end[32], next[32];
    double dur = t->start_us != INT64_MIN ? (double)(now - t->start_us) / 1e6 : 0.0;
    if (t->try_number <= t->max_tries) {
        const struct task *task = task_of(s, t->dag_id, t->task_id);
        int64_t delay = retry_delay_s(task, t->try_number);
        sql(s,
            "UPDATE task_instance SET state='up_for_retry', end_date=?, duration=?, "
            "next_try_at=?, pid=NULL WHERE id=?",
            "sdss", ts(now, end), dur, ts(now + delay * 1000000, next), t->id);
        if (logp)
            try_log(s, logp, "INFO",
                    "Marking task as UP_FOR_RETRY. dag_id=%s, task_id=%s, run_id=%s, try %d of "
                    "%d; next try in %lld s",
                    t->dag_id, t->task_id, t->run_id, t->try_number, t->max_tries + 1,
                    (long long)delay);
        log_info(MOD, "%s.%s (%s) try %d failed; retrying in %lld s", t->dag_id, t->task_id,
                 t->run_id, t->try_number, (long long)delay);
    } else {
        sql(s,
            "UPDATE task_instance SET state='failed', end_date=?, duration=?, next_try_at=NULL, "
            "pid=NULL WHERE id=?",
            "sds", ts(now, end), dur, t->id);
        if (logp)
            try_log(s, logp, "ERROR",
                    "Marking task as FAILED. dag_id=%s, task_id=%s, run_id=%s, try %d of %d",
                    t->dag_id, t->task_id, t->run_id, t->try_number, t->max_tries + 1);
        log_warn(MOD, "%s.%s (%s) failed after try %d", t->dag_id, t->task_id, t->run_id,
                 t->try_number);
    }
}

static bool load_ti(struct sched *s, const char *id, struct ti *t)
{
    sqlite3_stmt *st = query(s, "SELECT " TI_COLS " FROM task_instance WHERE id=?", "s", id);
    bool ok = st && sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        ti_from_row(st, t);
    sqlite3_finalize(st);
    return ok;
}

/* Kills what is left of a dead scheduler's try: the processes of group pgid whose
 * environment carries the try's marker (so an unrelated group that reused the number is
 * left alone). */
static int kill_orphan_group(int pgid, const char *ti_id)
{
    char marker[64];
    int mlen = snprintf(marker, sizeof(marker), "SLUICE_TI_ID=%s", ti_id);
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    int killed = 0;
    struct dirent *de;
    while ((de = readdir(proc)) != NULL) {
        int pid = atoi(de->d_name);
        if (pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        char *stat = NULL;
        size_t len;
        if (fs_read_file(path, 4096, &stat, &len, NULL) != 0)
            continue;
        char *rp = strrchr(stat, ')');
        int ppid = 0, pgrp = 0;
        char state = 0;
        bool ok = rp && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3;
        free(stat);
        if (!ok || pgrp != pgid || state == 'Z')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/environ", pid);
        char *env = NULL;
        if (fs_read_file(path, 1 << 20, &env, &len, NULL) != 0)
            continue;
        bool mine = false;
        for (size_t off = 0; off < len && !mine; off += strlen(env + off) + 1)
            mine = strncmp(env + off, marker, (size_t)mlen) == 0 && env[off + mlen] == '\0';
        free(env);
        if (mine && kill(pid, SIGKILL) == 0)
            killed++;
    }
    closedir(proc);
    return killed;
}

/* First turn: tries a dead scheduler left queued or running. */
static void recover(struct sched *s, int64_t now)
{
    sqlite3_stmt *st = query(s,
                             "SELECT " TI_COLS ", pid FROM task_instance WHERE state IN "
                             "('queued','running')",
                             NULL);
    struct ti *list = NULL;
    int *pids = NULL, n = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct ti *nl = realloc(list, (size_t)(n + 1) * sizeof(*nl));
        int *np = realloc(pids, (size_t)(n + 1) * sizeof(int));
        if (!nl || !np)
            abort();
        list = nl;
        pids = np;
        ti_from_row(st, &list[n]);
        pids[n] = sqlite3_column_int(st, 9);
        n++;
    }
    sqlite3_finalize(st);
    for (int i = 0; i < n; i++) {
        struct ti *t = &list[i];
        int killed = pids[i] > 0 ? kill_orphan_group(pids[i], t->id) : 0;
        char lp[PATH_MAX];
        log_path(s, t->dag_id, t->run_id, t->task_id, t->try_number > 0 ? t->try_number : 1, lp,
                 sizeof(lp));
        log_warn(MOD,
                 "%s.%s (%s) try %d was %s when the scheduler stopped; %d leftover process(es) "
                 "killed",
                 t->dag_id, t->task_id, t->run_id, t->try_number, t->state, killed);
        try_log(s, lp, "ERROR",
                "The scheduler stopped while this try was %s (pid %d); %d leftover process(es) "
                "of its group killed. The try counts as failed.",
                t->state, pids[i], killed);
        if (t->try_number < 1)
            t->try_number = 1;
        fail_try(s, t, lp, now);
    }
    free(list);
    free(pids);
}

/* --- runs ------------------------------------------------------------------------------ */

static int count_runs(struct sched *s, const char *dag_id, const char *states)
{
    char q[256];
    snprintf(q, sizeof(q), "SELECT count(*) FROM dag_run WHERE dag_id=? AND state IN (%s)", states);
    sqlite3_stmt *st = query(s, q, "s", dag_id);
    int n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return n;
}

static void create_runs(struct sched *s, struct dag_ent *e, int64_t now)
{
    const struct dag *d = e->dag;
    if (e->paused || d->schedule.kind == SCHEDULE_NONE)
        return;
    load_last_run(s, e);
    int active = -1;
    int64_t now_s = now / 1000000;
    for (int k = 0; k < MAX_RUNS_PER_TURN; k++) {
        struct run_info ri;
        if (!next_run(s, e, now_s, &ri) || ri.run_after > now_s)
            break;
        if (active < 0)
            active = count_runs(s, d->dag_id, "'queued','running'");
        if (active >= d->max_active_runs)
            break;
        char run_id[64], lt[32], a[32], b[32], ra[32], q[32], rid[32];
        snprintf(run_id, sizeof(run_id), "scheduled__%s", ts_format_runid(ri.logical, rid));
        sqlite3_stmt *vs = query(s, "SELECT version FROM dag WHERE dag_id=?", "s", d->dag_id);
        int64_t version = vs && sqlite3_step(vs) == SQLITE_ROW ? sqlite3_column_int64(vs, 0) : 1;
        sqlite3_finalize(vs);
        int ch = sql(s,
                     "INSERT OR IGNORE INTO dag_run (dag_id, run_id, run_type, triggered_by, "
                     "state, logical_date, data_interval_start, data_interval_end, run_after, "
                     "queued_at, conf, dag_version) VALUES "
                     "(?,?,'scheduled','timetable','queued',?,?,?,?,?,'{}',?)",
                     "sssssssi", d->dag_id, run_id, ts_s(ri.logical, lt), ts_s(ri.start, a),
                     ts_s(ri.end, b), ts_s(ri.run_after, ra), ts(now, q), version);
        if (ch > 0) {
            active++;
            log_info(MOD, "created run %s of %s (data interval %s .. %s)", run_id, d->dag_id, a, b);
        } else if (ch == 0) {
            log_warn(MOD, "run %s of %s not created: a run with that logical date exists", run_id,
                     d->dag_id);
        }
        e->has_last = true;
        e->last_logical = ri.logical;
        e->last_start = ri.start;
        e->last_end = ri.end;
        if (ch < 0)
            break;
    }
    write_next_dagrun(s, e, now_s);
}

static void start_queued_runs(struct sched *s, int64_t now)
{
    sqlite3_stmt *st = query(
        s, "SELECT dag_id, run_id FROM dag_run WHERE state='queued' ORDER BY run_after, id", NULL);
    char(*ids)[2][256] = NULL;
    int n = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        void *nv = realloc(ids, (size_t)(n + 1) * sizeof(*ids));
        if (!nv)
            abort();
        ids = nv;
        snprintf(ids[n][0], 256, "%s", col(st, 0));
        snprintf(ids[n][1], 256, "%s", col(st, 1));
        n++;
    }
    sqlite3_finalize(st);
    for (int i = 0; i < n; i++) {
        struct dag_ent *e = find_dag(s, ids[i][0]);
        if (!e || e->paused)
            continue;
        const struct dag *d = e->dag;
        if (count_runs(s, d->dag_id, "'running'") >= d->max_active_runs)
            continue;
        char stamp[32];
        ts(now, stamp);
        begin(s);
        int ch = sql(s,
                     "UPDATE dag_run SET state='running', start_date=COALESCE(start_date, ?), "
                     "end_date=NULL WHERE dag_id=? AND run_id=? AND state='queued'",
                     "sss", stamp, d->dag_id, ids[i][1]);
        for (int k = 0; ch > 0 && k < d->ntasks; k++) {
            const struct task *t = &d->tasks[k];
            uint8_t u[16];
            char uid[37];
            uuid_v4(u);
            uuid_format(u, uid);
            if (sql(s,
                    "INSERT OR IGNORE INTO task_instance (id, dag_id, run_id, task_id, state, "
                    "try_number, max_tries, operator) VALUES (?,?,?,?,NULL,0,?,?)",
                    "ssssis", uid, d->dag_id, ids[i][1], t->task_id, (int64_t)t->retries,
                    t->operator_name) == 0) {
                /* the run was re-queued (cleared): its tasks start over */
                sql(s,
                    "UPDATE task_instance SET state=NULL, max_tries=try_number+?, "
                    "next_try_at=NULL, pid=NULL, end_date=NULL WHERE dag_id=? AND run_id=? AND "
                    "task_id=?",
                    "isss", (int64_t)t->retries, d->dag_id, ids[i][1], t->task_id);
            }
        }
        commit(s);
        if (ch > 0)
            log_info(MOD, "run %s of %s is running", ids[i][1], d->dag_id);
    }
    free(ids);
}

/* Runs a user marked success or failed while tasks were unfinished: stop them, and finish
 * their rows as Airflow does (success: success; failed: running ones failed, others
 * skipped). */
static void apply_marked_runs(struct sched *s, int64_t now)
{
    sqlite3_stmt *st = query(s,
                             "SELECT ti.id, r.state, ti.state FROM task_instance ti JOIN dag_run "
                             "r ON r.dag_id=ti.dag_id AND r.run_id=ti.run_id WHERE (ti.state IS "
                             "NULL OR ti.state IN ('scheduled','queued','running','up_for_retry'"
                             ")) AND r.state IN ('success','failed')",
                             NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *id = col(st, 0), *rs = col(st, 1), *ts_ = col(st, 2);
        struct exec_slot *slot = executor_find(&s->ex, id);
        if (slot)
            executor_cancel(slot, 2000);
        const char *to = strcmp(rs, "success") == 0           ? "success"
                         : ts_ && strcmp(ts_, "running") == 0 ? "failed"
                                                              : "skipped";
        char stamp[32];
        sql(s, "UPDATE task_instance SET state=?, end_date=?, pid=NULL WHERE id=?", "sss", to,
            ts(now, stamp), id);
    }
    sqlite3_finalize(st);
}

static bool terminal(const char *st)
{
    return strcmp(st, "success") == 0 || strcmp(st, "failed") == 0 ||
           strcmp(st, "upstream_failed") == 0 || strcmp(st, "skipped") == 0;
}

struct launch {
    struct ti ti;
    char conf[4096];
    char logical[32];
};

/* Moves a running run's task instances along; adds scheduled ones to the launch list. */
static void evaluate_run(struct sched *s, struct dag_ent *e, const char *run_id, const char *conf,
                         const char *logical, int64_t now, struct launch **list, int *nlist)
{
    const struct dag *d = e->dag;
    struct ti *tis = calloc((size_t)d->ntasks + 1, sizeof(*tis));
    bool *have = calloc((size_t)d->ntasks + 1, sizeof(bool));
    if (!tis || !have)
        abort();
    sqlite3_stmt *st = query(s, "SELECT " TI_COLS " FROM task_instance WHERE dag_id=? AND run_id=?",
                             "ss", d->dag_id, run_id);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct ti t;
        ti_from_row(st, &t);
        for (int k = 0; k < d->ntasks; k++) {
            if (strcmp(d->tasks[k].task_id, t.task_id) == 0) {
                tis[k] = t;
                have[k] = true;
            }
        }
    }
    sqlite3_finalize(st);
    int *order = dag_topo_order(d);
    bool all_done = true, any_failed = false;
    for (int oi = 0; oi < d->ntasks; oi++) {
        int k = order[oi];
        if (!have[k]) /* a task added to the DAG after the run started */
            continue;
        struct ti *t = &tis[k];
        const struct task *task = &d->tasks[k];
        const char *to = NULL;
        if (!t->state[0]) {
            bool all_ok = true, failed = false, skipped = false;
            for (int u = 0; u < task->nup; u++) {
                const char *us = have[task->up[u]] ? tis[task->up[u]].state : "success";
                failed |= strcmp(us, "failed") == 0 || strcmp(us, "upstream_failed") == 0;
                skipped |= strcmp(us, "skipped") == 0;
                all_ok &= strcmp(us, "success") == 0;
            }
            if (failed)
                to = "upstream_failed";
            else if (all_ok)
                to = "scheduled";
            else if (skipped) {
                bool all_term = true;
                for (int u = 0; u < task->nup; u++)
                    all_term &= !have[task->up[u]] || terminal(tis[task->up[u]].state);
                if (all_term)
                    to = "skipped";
            }
        } else if (strcmp(t->state, "up_for_retry") == 0 &&
                   (t->next_try_us == INT64_MIN || t->next_try_us <= now)) {
            to = "scheduled";
        }
        if (to) {
            char stamp[32];
            if (strcmp(to, "scheduled") == 0)
                sql(s, "UPDATE task_instance SET state='scheduled' WHERE id=?", "s", t->id);
            else
                sql(s, "UPDATE task_instance SET state=?, end_date=? WHERE id=?", "sss", to,
                    ts(now, stamp), t->id);
            snprintf(t->state, sizeof(t->state), "%s", to);
        }
        if (strcmp(t->state, "scheduled") == 0) {
            struct launch *nv = realloc(*list, (size_t)(*nlist + 1) * sizeof(*nv));
            if (!nv)
                abort();
            *list = nv;
            struct launch *l = &nv[(*nlist)++];
            l->ti = *t;
            snprintf(l->conf, sizeof(l->conf), "%s", conf ? conf : "{}");
            snprintf(l->logical, sizeof(l->logical), "%s", logical ? logical : "");
        }
        all_done &= terminal(t->state);
        any_failed |= strcmp(t->state, "failed") == 0 || strcmp(t->state, "upstream_failed") == 0;
    }
    free(order);
    free(tis);
    free(have);
    if (all_done) {
        char stamp[32];
        const char *final = any_failed ? "failed" : "success";
        sql(s,
            "UPDATE dag_run SET state=?, end_date=? WHERE dag_id=? AND run_id=? AND "
            "state='running'",
            "ssss", final, ts(now, stamp), d->dag_id, run_id);
        log_info(MOD, "run %s of %s: %s", run_id, d->dag_id, final);
    }
}

static void add_env(char ***v, int *n, const char *k, const char *val)
{
    size_t len = strlen(k) + strlen(val ? val : "") + 2;
    char *kv = malloc(len);
    char **nv = realloc(*v, (size_t)(*n + 2) * sizeof(char *));
    if (!kv || !nv)
        abort();
    snprintf(kv, len, "%s=%s", k, val ? val : "");
    *v = nv;
    nv[(*n)++] = kv;
    nv[*n] = NULL;
}

static void launch_try(struct sched *s, struct launch *l, int64_t now)
{
    struct ti *t = &l->ti;
    struct dag_ent *e = find_dag(s, t->dag_id);
    const struct task *task = e ? dag_find_task(e->dag, t->task_id) : NULL;
    if (!task)
        return;
    int try_number = t->try_number + 1;
    char stamp[32];
    if (sql(s,
            "UPDATE task_instance SET state='queued', try_number=?, queued_when=?, hostname=?, "
            "next_try_at=NULL, start_date=NULL, end_date=NULL, duration=NULL, pid=NULL WHERE "
            "id=? AND state='scheduled'",
            "isss", (int64_t)try_number, ts(now, stamp), s->hostname, t->id) != 1)
        return;
    t->try_number = try_number;
    t->start_us = now;
    struct exec_slot tmpl;
    memset(&tmpl, 0, sizeof(tmpl));
    snprintf(tmpl.ti_id, sizeof(tmpl.ti_id), "%s", t->id);
    snprintf(tmpl.dag_id, sizeof(tmpl.dag_id), "%s", t->dag_id);
    snprintf(tmpl.run_id, sizeof(tmpl.run_id), "%s", t->run_id);
    snprintf(tmpl.task_id, sizeof(tmpl.task_id), "%s", t->task_id);
    tmpl.try_number = try_number;
    tmpl.started_us = now;
    tmpl.deadline_us = task->execution_timeout_s ? now + task->execution_timeout_s * 1000000 : 0;
    log_path(s, t->dag_id, t->run_id, t->task_id, try_number, tmpl.log_path, sizeof(tmpl.log_path));

    /* the run's context reaches the task as environment, never inside its command */
    char **ctx = NULL, tn[16];
    int nctx = 0;
    snprintf(tn, sizeof(tn), "%d", try_number);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_DAG_ID", t->dag_id);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_TASK_ID", t->task_id);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_DAG_RUN_ID", t->run_id);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_TRY_NUMBER", tn);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_LOGICAL_DATE", l->logical);
    add_env(&ctx, &nctx, "AIRFLOW_CTX_DAG_OWNER", task->owner ? task->owner : "airflow");
    add_env(&ctx, &nctx, "SLUICE_CONF", l->conf);
    add_env(&ctx, &nctx, "SLUICE_TI_ID", t->id);

    const char *argv_fixed[8];
    const char **argv = argv_fixed;
    const char **dyn = NULL;
    struct proc_spec spec = {.own_group = true,
                             .die_with_parent = true,
                             .null_stdin = true,
                             .output = tmpl.log_path,
                             .cwd = task->cwd};
    if (task->op == OP_BASH && task->has_env && !task->append_env) {
        /* Airflow's BashOperator: with env, the command sees only env (and the context) */
        dyn = calloc((size_t)(task->nenv + nctx + 8), sizeof(char *));
        if (!dyn)
            abort();
        int n = 0;
        dyn[n++] = "env";
        dyn[n++] = "-i";
        for (int i = 0; i < task->nenv; i++)
            dyn[n++] = task->env[i];
        for (int i = 0; i < nctx; i++)
            dyn[n++] = ctx[i];
        dyn[n++] = "bash";
        dyn[n++] = "-c";
        dyn[n++] = task->bash_command;
        dyn[n] = NULL;
        argv = dyn;
    } else if (task->op == OP_BASH) {
        for (int i = 0; i < task->nenv; i++) {
            char **nv = realloc(ctx, (size_t)(nctx + 2) * sizeof(char *));
            if (!nv)
                abort();
            ctx = nv;
            ctx[nctx++] = xstrdup(task->env[i]);
            ctx[nctx] = NULL;
        }
        argv_fixed[0] = "bash";
        argv_fixed[1] = "-c";
        argv_fixed[2] = task->bash_command;
        argv_fixed[3] = NULL;
        spec.env = (const char *const *)ctx;
    } else {
        dyn = calloc((size_t)task->nargs + 4, sizeof(char *));
        if (!dyn)
            abort();
        int n = 0;
        dyn[n++] = s->self_exe;
        dyn[n++] = "ingest";
        for (int i = 0; i < task->nargs; i++)
            dyn[n++] = task->args[i];
        dyn[n] = NULL;
        argv = dyn;
        spec.env = (const char *const *)ctx;
    }
    spec.argv = argv;
    try_log(s, tmpl.log_path, "INFO", "Starting attempt %d of %d: dag_id=%s, task_id=%s, run_id=%s",
            try_number, t->max_tries + 1, t->dag_id, t->task_id, t->run_id);
    if (task->op == OP_BASH)
        try_log(s, tmpl.log_path, "INFO", "Running command: ['bash', '-c', %s]",
                task->bash_command);
    struct sl_err err;
    if (executor_start(&s->ex, &tmpl, &spec, &err) != 0) {
        try_log(s, tmpl.log_path, "ERROR", "Could not start the task: %s", err.msg);
        log_error(MOD, "%s.%s: cannot start: %s", t->dag_id, t->task_id, err.msg);
        fail_try(s, t, tmpl.log_path, now);
    } else {
        struct exec_slot *slot = executor_find(&s->ex, t->id);
        sql(s, "UPDATE task_instance SET state='running', pid=?, start_date=? WHERE id=?", "iss",
            (int64_t)(slot ? slot->proc.pid : 0), ts(now, stamp), t->id);
        log_info(MOD, "%s.%s (%s) try %d running (pid %d)", t->dag_id, t->task_id, t->run_id,
                 try_number, slot ? (int)slot->proc.pid : 0);
    }
    for (int i = 0; i < nctx; i++)
        free(ctx[i]);
    free(ctx);
    free(dyn);
}

struct done_ctx {
    struct sched *s;
    int64_t now;
};

static void on_try_done(struct exec_slot *slot, void *arg)
{
    struct done_ctx *dc = arg;
    struct sched *s = dc->s;
    int64_t now = dc->now;
    char desc[64], stamp[32];
    proc_describe(&slot->proc, desc, sizeof(desc));
    int code = proc_exit_code(&slot->proc);
    struct ti t;
    if (!load_ti(s, slot->ti_id, &t))
        return;
    double dur = (double)(now - slot->started_us) / 1e6;
    if (slot->cancelled || strcmp(t.state, "running") != 0) {
        /* its run was marked by a user, who decided the state */
        try_log(s, slot->log_path, "INFO", "Task stopped (%s): its run was marked by a user", desc);
        sql(s, "UPDATE task_instance SET duration=?, pid=NULL WHERE id=?", "ds", dur, t.id);
        return;
    }
    const struct task *task = task_of(s, t.dag_id, t.task_id);
    t.start_us = slot->started_us;
    if (slot->timed_out) {
        try_log(s, slot->log_path, "ERROR",
                "Timeout: the task ran past its execution_timeout of %lld s; its process group "
                "was killed (%s)",
                task ? (long long)task->execution_timeout_s : 0LL, desc);
        fail_try(s, &t, slot->log_path, now);
    } else if (code == 0) {
        try_log(s, slot->log_path, "INFO", "Task exited with return code 0");
        try_log(s, slot->log_path, "INFO",
                "Marking task as SUCCESS. dag_id=%s, task_id=%s, run_id=%s", t.dag_id, t.task_id,
                t.run_id);
        sql(s,
            "UPDATE task_instance SET state='success', end_date=?, duration=?, pid=NULL WHERE "
            "id=?",
            "sds", ts(now, stamp), dur, t.id);
        log_info(MOD, "%s.%s (%s) try %d succeeded", t.dag_id, t.task_id, t.run_id, t.try_number);
    } else if (task && task->op == OP_BASH && task->skip_on_exit_code >= 0 &&
               code == task->skip_on_exit_code) {
        try_log(s, slot->log_path, "INFO", "Task exited with return code %d: skipping", code);
        sql(s,
            "UPDATE task_instance SET state='skipped', end_date=?, duration=?, pid=NULL WHERE "
            "id=?",
            "sds", ts(now, stamp), dur, t.id);
    } else {
        try_log(s, slot->log_path, "ERROR", "Task failed: %s", desc);
        fail_try(s, &t, slot->log_path, now);
    }
}

static void schedule_tasks(struct sched *s, int64_t now)
{
    sqlite3_stmt *st = query(s,
                             "SELECT dag_id, run_id, conf, logical_date FROM dag_run WHERE "
                             "state='running' ORDER BY run_after, id",
                             NULL);
    struct launch *list = NULL;
    int nlist = 0;
    struct row {
        char dag_id[256], run_id[256], conf[4096], logical[32];
    } *rows = NULL;
    int nrows = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct row *nv = realloc(rows, (size_t)(nrows + 1) * sizeof(*nv));
        if (!nv)
            abort();
        rows = nv;
        struct row *r = &rows[nrows++];
        snprintf(r->dag_id, sizeof(r->dag_id), "%s", col(st, 0));
        snprintf(r->run_id, sizeof(r->run_id), "%s", col(st, 1));
        snprintf(r->conf, sizeof(r->conf), "%s", col(st, 2) ? col(st, 2) : "{}");
        snprintf(r->logical, sizeof(r->logical), "%s", col(st, 3) ? col(st, 3) : "");
    }
    sqlite3_finalize(st);
    for (int i = 0; i < nrows; i++) {
        struct dag_ent *e = find_dag(s, rows[i].dag_id);
        if (!e)
            continue;
        evaluate_run(s, e, rows[i].run_id, rows[i].conf, rows[i].logical, now, &list, &nlist);
    }
    free(rows);
    for (int i = 0; i < nlist && executor_free_slots(&s->ex) > 0; i++) {
        struct dag_ent *e = find_dag(s, list[i].ti.dag_id);
        if (!e || e->paused ||
            executor_running_for_dag(&s->ex, e->dag->dag_id) >= e->dag->max_active_tasks)
            continue;
        launch_try(s, &list[i], now);
    }
    free(list);
}

static void read_paused(struct sched *s)
{
    sqlite3_stmt *st = query(s, "SELECT dag_id, is_paused FROM dag WHERE is_stale=0", NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        struct dag_ent *e = find_dag(s, col(st, 0));
        if (e) {
            bool p = sqlite3_column_int(st, 1) != 0;
            if (p != e->paused)
                e->next_written[0] = '\0';
            e->paused = p;
        }
    }
    sqlite3_finalize(st);
}

/* --- the loop ---------------------------------------------------------------------------- */

void sched_tick(struct sched *s)
{
    int64_t now = now_us(s);
    int64_t interval = (s->o.parse_interval_ms ? s->o.parse_interval_ms : 2000) * 1000;
    if (s->last_parse_us == 0 || now - s->last_parse_us >= interval || now < s->last_parse_us) {
        s->last_parse_us = now;
        refresh_dags(s, now);
    }
    if (now - s->last_heartbeat_us >= 1000000 || now < s->last_heartbeat_us) {
        char stamp[32];
        s->last_heartbeat_us = now;
        sql(s,
            "INSERT INTO scheduler_state (key, value) VALUES ('heartbeat', ?) ON CONFLICT(key) "
            "DO UPDATE SET value=excluded.value",
            "s", ts(now, stamp));
    }
    if (!s->recovered) {
        s->recovered = true;
        recover(s, now);
    }
    read_paused(s);
    struct done_ctx dc = {s, now};
    executor_poll(&s->ex, now, on_try_done, &dc);
    apply_marked_runs(s, now);
    for (int i = 0; i < s->ndags; i++)
        create_runs(s, &s->dags[i], now);
    start_queued_runs(s, now);
    schedule_tasks(s, now);
}

static void on_sigchld(int sig)
{
    (void)sig;
    scheduler_wake_from_signal();
}

void sched_run(struct sched *s, volatile sig_atomic_t *stop)
{
    int fd = scheduler_wake_fd();
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    while (!*stop) {
        sched_tick(s);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        /* a turn at least every 250 ms: retries and schedules come due, rows change */
        if (poll(&pfd, 1, 250) > 0) {
            uint64_t v;
            ssize_t r = read(fd, &v, sizeof(v));
            (void)r;
        }
    }
    signal(SIGCHLD, SIG_DFL);
}

int sched_running(const struct sched *s)
{
    return s->ex.used;
}

int sched_open(const struct sched_opts *o, struct sched **out, struct sl_err *err)
{
    struct sched *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, "out of memory");
    s->o = *o;
    s->dags_folder = xstrdup(o->dags_folder ? o->dags_folder : "dags");
    s->data_dir = xstrdup(o->data_dir ? o->data_dir : "./sluice-data");
    s->self_exe = xstrdup(o->self_exe ? o->self_exe : "sluice");
    s->o.dags_folder = s->dags_folder;
    s->o.data_dir = s->data_dir;
    s->o.self_exe = s->self_exe;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/scheduler", s->data_dir);
    if (snprintf(s->db_path, sizeof(s->db_path), "%s/scheduler.db", dir) >=
            (int)sizeof(s->db_path) ||
        snprintf(s->logs_dir, sizeof(s->logs_dir), "%s/logs", dir) >= (int)sizeof(s->logs_dir)) {
        sched_close(s);
        return sl_err_set(err, "data directory path is too long");
    }
    if (gethostname(s->hostname, sizeof(s->hostname)) != 0)
        snprintf(s->hostname, sizeof(s->hostname), "localhost");
    if (fs_mkdirs(s->logs_dir, err) != 0 || meta_open(s->db_path, &s->db, err) != 0 ||
        executor_init(&s->ex, o->parallelism > 0 ? o->parallelism : 32) != 0) {
        if (!err || !err->msg[0])
            sl_err_set(err, "cannot start the scheduler");
        sched_close(s);
        return -1;
    }
    /* the loop's frequent lookups of unfinished task instances */
    sql(s, "CREATE INDEX IF NOT EXISTS task_instance_state ON task_instance(state)", NULL);
    scheduler_wake_fd();
    *out = s;
    return 0;
}

void sched_close(struct sched *s)
{
    if (!s)
        return;
    if (s->ex.slots)
        executor_stop_all(&s->ex, 5000);
    executor_free(&s->ex);
    for (int i = 0; i < s->ndags; i++) {
        dag_free(s->dags[i].dag);
        free(s->dags[i].file);
    }
    free(s->dags);
    for (int i = 0; i < s->nfiles; i++)
        free(s->files[i].path);
    free(s->files);
    if (s->db)
        sqlite3_close(s->db);
    free(s->dags_folder);
    free(s->data_dir);
    free(s->self_exe);
    free(s);
}
