/* The DAGs folder as the loop sees it: which file defines which DAG, re-reading changed
 * files into dag and import_error rows (a broken file keeps its DAGs at their last good
 * definition), the built-in user_automation, and the timetables that give each DAG its next
 * run. */
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

#include "core/fsutil.h"
#include "core/log.h"
#include "core/units.h"
#include "core/uuid.h"
#include "scheduler/dagfile.h"
#include "scheduler/meta.h"
#include "scheduler/sched.h"
#include "scheduler/sched_int.h"

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
int sched_next_run(const struct sched *s, const struct dag_ent *e, int64_t now, struct run_info *ri)
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

void dagbag_load_last_run(struct sched *s, struct dag_ent *e)
{
    if (e->last_loaded)
        return;
    e->last_loaded = true;
    e->has_last = false;
    sqlite3_stmt *st = sdb_query(s,
                                 "SELECT logical_date, data_interval_start, data_interval_end FROM "
                                 "dag_run WHERE dag_id=? AND run_type='scheduled' AND logical_date "
                                 "IS NOT NULL ORDER BY logical_date DESC LIMIT 1",
                                 "s", e->dag->dag_id);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        int64_t l = sdb_parse_ts(sdb_col(st, 0)), a = sdb_parse_ts(sdb_col(st, 1)),
                b = sdb_parse_ts(sdb_col(st, 2));
        if (l != INT64_MIN) {
            e->has_last = true;
            e->last_logical = l / 1000000;
            e->last_start = a != INT64_MIN ? a / 1000000 : e->last_logical;
            e->last_end = b != INT64_MIN ? b / 1000000 : e->last_logical;
        }
    }
    sqlite3_finalize(st);
}

void dagbag_write_next(struct sched *s, struct dag_ent *e, int64_t now)
{
    struct run_info ri;
    dagbag_load_last_run(s, e);
    char a[32], b[32], c[32], d[32];
    if (sched_next_run(s, e, now, &ri)) {
        sdb_ts_s(ri.run_after, d);
        if (strcmp(d, e->next_written) == 0)
            return;
        sdb_exec(s,
                 "UPDATE dag SET next_dagrun_logical_date=?, next_dagrun_data_interval_start=?, "
                 "next_dagrun_data_interval_end=?, next_dagrun_run_after=? WHERE dag_id=?",
                 "sssss", sdb_ts_s(ri.logical, a), sdb_ts_s(ri.start, b), sdb_ts_s(ri.end, c), d,
                 e->dag->dag_id);
        snprintf(e->next_written, sizeof(e->next_written), "%s", d);
    } else if (strcmp(e->next_written, "none") != 0) {
        sdb_exec(
            s,
            "UPDATE dag SET next_dagrun_logical_date=NULL, next_dagrun_data_interval_start=NULL, "
            "next_dagrun_data_interval_end=NULL, next_dagrun_run_after=NULL WHERE dag_id=?",
            "s", e->dag->dag_id);
        snprintf(e->next_written, sizeof(e->next_written), "none");
    }
}

/* Takes ownership of d. */
static void register_dag(struct sched *s, struct dag *d, const char *file, int64_t now)
{
    struct dag_ent *e = sched_find_dag(s, d->dag_id);
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
    e->file = sched_strdup(file);
    e->import_error = false;
    e->next_written[0] = '\0';

    char stamp[32], sd[32], uuid_txt[37];
    uint8_t u[16];
    sdb_ts(now, stamp);
    char *owners = json_strv(d->owners, d->nowners);
    char *tags = json_strv(d->tags, d->ntags);
    const char *schedule = d->schedule.kind == SCHEDULE_NONE ? NULL : d->schedule.expr;
    const char *summary = d->schedule.kind == SCHEDULE_NONE ? NULL : d->schedule.summary;
    const char *start = d->start_date != INT64_MIN ? sdb_ts_s(d->start_date, sd) : NULL;
    sqlite3_stmt *st = sdb_query(s, "SELECT version, definition, is_paused FROM dag WHERE dag_id=?",
                                 "s", d->dag_id);
    int exists = st && sqlite3_step(st) == SQLITE_ROW;
    int64_t version = exists ? sqlite3_column_int64(st, 0) : 0;
    bool changed = !exists || !sdb_col(st, 1) || strcmp(sdb_col(st, 1), d->definition) != 0;
    e->paused = exists ? sqlite3_column_int(st, 2) != 0 : s->o.paused_at_creation;
    sqlite3_finalize(st);
    uuid_v4(u);
    uuid_format(u, uuid_txt);
    if (!exists) {
        sdb_exec(
            s,
            "INSERT INTO dag (dag_id, is_paused, is_stale, fileloc, description, owners, tags, "
            "schedule, timetable_summary, timetable_description, catchup, max_active_runs, "
            "max_active_tasks, start_date, last_parsed_time, has_import_errors, version, "
            "version_id, version_created_at, definition) VALUES "
            "(?,?,0,?,?,?,?,?,?,?,?,?,?,?,?,0,1,?,?,?)",
            "sisssssssiiisssss", d->dag_id, (int64_t)s->o.paused_at_creation, file, d->description,
            owners, tags, schedule, summary, d->schedule.description, (int64_t)d->catchup,
            (int64_t)d->max_active_runs, (int64_t)d->max_active_tasks, start, stamp, uuid_txt,
            stamp, d->definition);
        log_info(SCHED_MOD, "new DAG %s from %s (%s)", d->dag_id, file,
                 s->o.paused_at_creation ? "paused" : "active");
    } else {
        sdb_exec(
            s,
            "UPDATE dag SET is_stale=0, fileloc=?, description=?, owners=?, tags=?, schedule=?, "
            "timetable_summary=?, timetable_description=?, catchup=?, max_active_runs=?, "
            "max_active_tasks=?, start_date=?, last_parsed_time=?, has_import_errors=0 WHERE "
            "dag_id=?",
            "sssssssiiisss", file, d->description, owners, tags, schedule, summary,
            d->schedule.description, (int64_t)d->catchup, (int64_t)d->max_active_runs,
            (int64_t)d->max_active_tasks, start, stamp, d->dag_id);
        if (changed) {
            sdb_exec(s,
                     "UPDATE dag SET version=?, version_id=?, version_created_at=?, definition=? "
                     "WHERE dag_id=?",
                     "issss", version + 1, uuid_txt, stamp, d->definition, d->dag_id);
            log_info(SCHED_MOD, "DAG %s changed: version %lld", d->dag_id, (long long)version + 1);
        }
    }
    free(owners);
    free(tags);
    dagbag_write_next(s, e, now / 1000000);
}

static void drop_dag(struct sched *s, struct dag_ent *e)
{
    log_info(SCHED_MOD, "DAG %s is gone from %s", e->dag->dag_id, e->file);
    sdb_exec(s, "UPDATE dag SET is_stale=1 WHERE dag_id=?", "s", e->dag->dag_id);
    dag_free(e->dag);
    free(e->file);
    *e = s->dags[--s->ndags];
}

static void set_import_error(struct sched *s, const char *file, const char *msg, int64_t now)
{
    char stamp[32];
    sdb_exec(s,
             "INSERT INTO import_error (filename, timestamp, stack_trace) VALUES (?,?,?) ON "
             "CONFLICT(filename) DO UPDATE SET timestamp=excluded.timestamp, "
             "stack_trace=excluded.stack_trace",
             "sss", file, sdb_ts(now, stamp), msg);
}

static void load_file(struct sched *s, const char *path, int64_t now)
{
    struct dagfile f;
    dagfile_load(path, now / 1000000, &f);
    if (f.error) {
        log_error(SCHED_MOD, "import error: %s", f.error);
        set_import_error(s, path, f.error, now);
        /* its DAGs keep their last good definition, as Airflow keeps the last parsed one */
        for (int i = 0; i < s->ndags; i++) {
            if (strcmp(s->dags[i].file, path) == 0) {
                s->dags[i].import_error = true;
                sdb_exec(s, "UPDATE dag SET has_import_errors=1 WHERE dag_id=?", "s",
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
        struct dag_ent *e = sched_find_dag(s, d->dag_id);
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
        log_error(SCHED_MOD, "import error: %s", dup);
        set_import_error(s, path, dup, now);
    } else {
        sdb_exec(s, "DELETE FROM import_error WHERE filename=?", "s", path);
    }
    dagfile_free(&f);
}

static bool is_dag_file(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && !dagfile_is_defaults(name) &&
           ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
            (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

/* A stamp of dag-factory's defaults files in the folder: when it changes, every file is read
 * again. */
static int64_t defaults_stamp(const struct sched *s)
{
    int64_t stamp = 0;
    static const char *const names[] = {"defaults.yml", "defaults.yaml"};
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", s->dags_folder, names[i]);
        if (stat(path, &sb) == 0)
            stamp = stamp * 31 + (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec +
                    (int64_t)sb.st_size;
    }
    return stamp;
}

void dagbag_refresh(struct sched *s, int64_t now)
{
    int64_t ds = defaults_stamp(s);
    bool reread_all = ds != s->defaults_stamp;
    s->defaults_stamp = ds;
    for (int i = 0; i < s->nfiles; i++) {
        s->files[i].seen = false;
        if (reread_all)
            s->files[i].size = -1;
    }
    DIR *dir = opendir(s->dags_folder);
    if (!dir && !s->folder_warned) {
        log_warn(SCHED_MOD, "DAGs folder %s: %s", s->dags_folder, strerror(errno));
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
            fe->path = sched_strdup(path);
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
        sdb_exec(s, "DELETE FROM import_error WHERE filename=?", "s", s->files[i].path);
        free(s->files[i].path);
        s->files[i] = s->files[--s->nfiles];
    }
    if (s->o.builtin_dags && !sched_find_dag(s, BUILTIN_DAG_ID)) {
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
