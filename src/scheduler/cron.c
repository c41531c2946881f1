/* Cron expressions as bit sets per field, searched day by day (a day that cannot match is
 * skipped whole), so a rare schedule such as "0 0 29 2 *" costs a few thousand steps. */
#include "scheduler/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SEARCH_DAYS (366 * 10)

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct field_def {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value min + i */
    int nnames;
};

static const struct field_def fields[5] = {
    {"minute", 0, 59, NULL, 0},          {"hour", 0, 23, NULL, 0},
    {"day of month", 1, 31, NULL, 0},    {"month", 1, 12, month_names, 12},
    {"day of week", 0, 7, dow_names, 7},
};

static int parse_value(const struct field_def *f, const char *s, size_t n, int *out)
{
    if (n == 0)
        return -1;
    if (isalpha((unsigned char)s[0])) {
        for (int i = 0; i < f->nnames; i++) {
            if (n == 3 && strncasecmp(s, f->names[i], 3) == 0) {
                *out = f->min + i;
                return 0;
            }
        }
        return -1;
    }
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) || v > 1000)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < f->min || v > f->max)
        return -1;
    *out = v;
    return 0;
}

/* One comma-separated item: '*' | V | V-V, optionally followed by /STEP. */
static int parse_item(const struct field_def *f, const char *s, size_t n, uint64_t *bits,
                      struct sl_err *err)
{
    const char *slash = memchr(s, '/', n);
    size_t rn = slash ? (size_t)(slash - s) : n;
    int lo, hi, step = 1;
    if (slash) {
        const char *st = slash + 1;
        size_t sn = n - rn - 1;
        step = 0;
        for (size_t i = 0; i < sn; i++) {
            if (!isdigit((unsigned char)st[i]) || step > 1000) {
                step = -1;
                break;
            }
            step = step * 10 + (st[i] - '0');
        }
        if (sn == 0 || step <= 0)
            return sl_err_set(err, "bad step in %s field '%.*s'", f->name, (int)n, s);
    }
    if (rn == 1 && s[0] == '*') {
        lo = f->min;
        hi = f->max == 7 ? 6 : f->max;
    } else {
        const char *dash = memchr(s, '-', rn);
        if (dash) {
            if (parse_value(f, s, (size_t)(dash - s), &lo) != 0 ||
                parse_value(f, dash + 1, rn - (size_t)(dash - s) - 1, &hi) != 0)
                return sl_err_set(err, "bad range in %s field '%.*s' (allowed %d-%d)", f->name,
                                  (int)n, s, f->min, f->max);
            if (lo > hi)
                return sl_err_set(err, "backwards range in %s field '%.*s'", f->name, (int)n, s);
        } else {
            if (parse_value(f, s, rn, &lo) != 0)
                return sl_err_set(err, "bad value in %s field '%.*s' (allowed %d-%d)", f->name,
                                  (int)n, s, f->min, f->max);
            hi = slash ? (f->max == 7 ? 6 : f->max) : lo;
        }
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ull << (f->max == 7 && v == 7 ? 0 : v);
    return 0;
}

int cron_parse(const char *expr, struct cron *c, struct sl_err *err)
{
    memset(c, 0, sizeof(*c));
    if (!expr)
        return sl_err_set(err, "empty cron expression");
    const char *p = expr;
    int nf = 0;
    uint64_t bits[5] = {0};
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (nf == 5)
            return sl_err_set(err, "cron expression '%s' has more than 5 fields", expr);
        size_t n = (size_t)(p - start);
        if (nf == 2)
            c->dom_any = start[0] == '*';
        if (nf == 4)
            c->dow_any = start[0] == '*';
        const char *q = start;
        while (q < start + n) {
            const char *comma = memchr(q, ',', (size_t)(start + n - q));
            size_t in = comma ? (size_t)(comma - q) : (size_t)(start + n - q);
            if (in == 0)
                return sl_err_set(err, "empty list item in %s field '%.*s'", fields[nf].name,
                                  (int)n, start);
            if (parse_item(&fields[nf], q, in, &bits[nf], err) != 0)
                return -1;
            q += in + (comma ? 1 : 0);
            if (comma && q == start + n)
                return sl_err_set(err, "empty list item in %s field '%.*s'", fields[nf].name,
                                  (int)n, start);
        }
        nf++;
    }
    if (nf != 5)
        return sl_err_set(err,
                          "cron expression '%s' has %d fields; expected 5 (minute hour "
                          "day-of-month month day-of-week)",
                          expr, nf);
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint32_t)bits[3];
    c->dow = (uint32_t)bits[4];
    if (cron_next(c, 946684800) < 0) /* from 2000-01-01 */
        return sl_err_set(err, "cron expression '%s' never fires", expr);
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool day_matches(const struct cron *c, int64_t day_start)
{
    time_t t = (time_t)day_start;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (!(c->month & (1u << (tm.tm_mon + 1))))
        return false;
    bool dom = (c->dom >> tm.tm_mday) & 1u;
    bool dow = (c->dow >> tm.tm_wday) & 1u;
    if (c->dom_any && c->dow_any)
        return true;
    if (c->dom_any)
        return dow;
    if (c->dow_any)
        return dom;
    return dom || dow; /* both restricted: either one (Vixie cron, croniter) */
}

bool cron_matches(const struct cron *c, int64_t t)
{
    if (t % 60 != 0)
        return false;
    int64_t day = floor_div(t, 86400) * 86400;
    int64_t sec = t - day;
    return day_matches(c, day) && ((c->hour >> (sec / 3600)) & 1u) &&
           ((c->minute >> ((sec % 3600) / 60)) & 1u);
}

int64_t cron_next(const struct cron *c, int64_t t)
{
    int64_t cur = floor_div(t, 60) * 60 + 60;
    int64_t day = floor_div(cur, 86400) * 86400;
    int first_h = (int)((cur - day) / 3600), first_m = (int)(((cur - day) % 3600) / 60);
    for (int d = 0; d < SEARCH_DAYS; d++, day += 86400, first_h = 0, first_m = 0) {
        if (!day_matches(c, day))
            continue;
        for (int h = first_h; h < 24; h++) {
            if (!((c->hour >> h) & 1u))
                continue;
            for (int m = h == first_h ? first_m : 0; m < 60; m++) {
                if ((c->minute >> m) & 1u)
                    return day + h * 3600 + m * 60;
            }
        }
    }
    return -1;
}

int64_t cron_prev(const struct cron *c, int64_t t)
{
    int64_t cur = floor_div(t - 1, 60) * 60;
    int64_t day = floor_div(cur, 86400) * 86400;
    int first_h = (int)((cur - day) / 3600), first_m = (int)(((cur - day) % 3600) / 60);
    for (int d = 0; d < SEARCH_DAYS; d++, day -= 86400, first_h = 23, first_m = 59) {
        if (!day_matches(c, day))
            continue;
        for (int h = first_h; h >= 0; h--) {
            if (!((c->hour >> h) & 1u))
                continue;
            for (int m = h == first_h ? first_m : 59; m >= 0; m--) {
                if ((c->minute >> m) & 1u)
                    return day + h * 3600 + m * 60;
            }
        }
    }
    return -1;
}

static int popcount64(uint64_t v)
{
    return __builtin_popcountll(v);
}

static int lowest(uint64_t v)
{
    return v ? __builtin_ctzll(v) : -1;
}

/* A short English description for the common shapes; the expression otherwise. */
static void describe(struct schedule *s)
{
    const struct cron *c = &s->cron;
    char *out = s->description;
    size_t cap = sizeof(s->description);
    bool all_days = c->dom_any && c->dow_any && c->month == 0x1FFE;
    bool all_hours = c->hour == 0xFFFFFF;
    if (popcount64(c->minute) == 1 && popcount64(c->hour) == 1 && all_days)
        snprintf(out, cap, "At %02d:%02d", lowest(c->hour), lowest(c->minute));
    else if (popcount64(c->minute) == 1 && all_hours && all_days)
        snprintf(out, cap, "At %d minutes past the hour", lowest(c->minute));
    else if (c->minute == 0x0FFFFFFFFFFFFFFFull && all_hours && all_days)
        snprintf(out, cap, "Every minute");
    else
        snprintf(out, cap, "Cron: %s", s->summary);
}

int schedule_parse(const char *text, struct schedule *s, struct sl_err *err)
{
    memset(s, 0, sizeof(*s));
    if (!text || !*text || strcasecmp(text, "none") == 0 || strcmp(text, "null") == 0) {
        snprintf(s->description, sizeof(s->description), "Never, external triggers only");
        return 0;
    }
    if (strlen(text) >= sizeof(s->expr))
        return sl_err_set(err, "schedule is too long");
    snprintf(s->expr, sizeof(s->expr), "%s", text);
    static const struct {
        const char *name, *cron;
    } presets[] = {
        {"@hourly", "0 * * * *"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@weekly", "0 0 * * 0"}, {"@monthly", "0 0 1 * *"},  {"@quarterly", "0 0 1 */3 *"},
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},
    };
    if (strcmp(text, "@once") == 0) {
        s->kind = SCHEDULE_ONCE;
        snprintf(s->summary, sizeof(s->summary), "@once");
        snprintf(s->description, sizeof(s->description), "Once, as soon as possible");
        return 0;
    }
    const char *cron = text;
    if (text[0] == '@') {
        cron = NULL;
        for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
            if (strcmp(text, presets[i].name) == 0)
                cron = presets[i].cron;
        }
        if (!cron)
            return sl_err_set(err,
                              "unknown schedule preset '%s' (known: @once @hourly @daily "
                              "@weekly @monthly @quarterly @yearly, or none)",
                              text);
    }
    if (cron_parse(cron, &s->cron, err) != 0)
        return -1;
    s->kind = SCHEDULE_CRON;
    snprintf(s->summary, sizeof(s->summary), "%s", cron);
    describe(s);
    return 0;
}

char *ts_format_us(int64_t us, char out[32])
{
    int64_t sec = floor_div(us, 1000000);
    int64_t frac = us - sec * 1000000;
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    snprintf(out, 32, "%.31s", tmp);
    return out;
}

char *ts_format_runid(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    snprintf(out, 32, "%.31s", tmp);
    return out;
}
