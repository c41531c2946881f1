/* The scheduling loop's small shared helpers: its clock, SQL with bound arguments, the DB's
 * time text, and the per-try log files. */
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

/* --- small helpers --------------------------------------------------------------------- */

int64_t sched_now_us(struct sched *s)
{
    if (s->o.clock_us)
        return s->o.clock_us(s->o.clock_arg);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

char *sched_strdup(const char *p)
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
int sdb_exec(struct sched *s, const char *q, const char *fmt, ...)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) {
        log_error(SCHED_MOD, "SQL error: %s in: %s", sqlite3_errmsg(s->db), q);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    bindv(st, fmt, ap);
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error(SCHED_MOD, "SQL error: %s in: %s", sqlite3_errmsg(s->db), q);
        return -1;
    }
    return sqlite3_changes(s->db);
}

sqlite3_stmt *sdb_query(struct sched *s, const char *q, const char *fmt, ...)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) {
        log_error(SCHED_MOD, "SQL error: %s in: %s", sqlite3_errmsg(s->db), q);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    bindv(st, fmt, ap);
    va_end(ap);
    return st;
}

const char *sdb_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

char *sdb_ts(int64_t us, char out[32])
{
    return ts_format_us(us, out);
}

char *sdb_ts_s(int64_t sec, char out[32])
{
    return ts_format_us(sec * 1000000, out);
}

int64_t sdb_parse_ts(const char *text)
{
    int64_t us = 0;
    if (!text || parse_iso_time_us(text, 0, &us) != 0)
        return INT64_MIN;
    return us;
}

void sdb_begin(struct sched *s)
{
    sdb_exec(s, "BEGIN IMMEDIATE", NULL);
}

void sdb_commit(struct sched *s)
{
    sdb_exec(s, "COMMIT", NULL);
}

struct dag_ent *sched_find_dag(struct sched *s, const char *dag_id)
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

void sched_log_path(struct sched *s, const char *dag_id, const char *run_id, const char *task_id,
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
void sched_try_log(struct sched *s, const char *path, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void sched_try_log(struct sched *s, const char *path, const char *level, const char *fmt, ...)
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
    int n = snprintf(line, sizeof(line), "[%s] {scheduler} %s - %s\n",
                     sdb_ts(sched_now_us(s), stamp), level, msg);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t w = write(fd, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : strlen(line));
    (void)w;
    close(fd);
}
