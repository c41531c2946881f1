/* Units users type: durations, sizes, integers, addresses; and clocks. */
#include "core/units.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int parse_int(const char *s, int64_t min, int64_t max, int64_t *out, struct sl_err *err)
{
    if (!s || !*s)
        return sl_err_set(err, "expected an integer, got an empty value");
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return sl_err_set(err, "'%s' is not an integer", s);
    if (v < min || v > max)
        return sl_err_set(err, "%s is out of range [%lld, %lld]", s, (long long)min,
                          (long long)max);
    *out = v;
    return 0;
}

/* Splits "123unit" into a non-negative number and its unit; number may be fractional. */
static int split_number(const char *s, double *num, const char **unit)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s) && *s != '.')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    *num = v;
    *unit = end;
    return 0;
}

int parse_duration_ms(const char *s, int64_t *ms, struct sl_err *err)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1000},     {"ms", 1},      {"s", 1000},     {"sec", 1000},     {"m", 60000},
                 {"min", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000.0}};
    double v;
    const char *unit;
    if (!s || split_number(s, &v, &unit) != 0)
        return sl_err_set(err, "'%s' is not a duration (use e.g. 30s, 5m, 1h, 250ms)", s ? s : "");
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i].unit) == 0) {
            double r = v * units[i].ms;
            if (r > 9.0e15)
                return sl_err_set(err, "duration '%s' is too long", s);
            *ms = (int64_t)r;
            return 0;
        }
    }
    return sl_err_set(err, "'%s' has an unknown duration unit '%s' (use ms, s, m, h, d)", s, unit);
}

int parse_size(const char *s, int64_t *bytes, struct sl_err *err)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1024.0},
                 {"kb", 1024.0},
                 {"kib", 1024.0},
                 {"m", 1048576.0},
                 {"mb", 1048576.0},
                 {"mib", 1048576.0},
                 {"g", 1073741824.0},
                 {"gb", 1073741824.0},
                 {"gib", 1073741824.0},
                 {"t", 1099511627776.0},
                 {"tb", 1099511627776.0},
                 {"tib", 1099511627776.0}};
    double v;
    const char *unit;
    if (!s || split_number(s, &v, &unit) != 0)
        return sl_err_set(err, "'%s' is not a size (use e.g. 512, 64KiB, 1GiB)", s ? s : "");
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i].unit) == 0) {
            double r = v * units[i].mult;
            if (r > 9.0e18)
                return sl_err_set(err, "size '%s' is too large", s);
            *bytes = (int64_t)r;
            return 0;
        }
    }
    return sl_err_set(err, "'%s' has an unknown size unit '%s' (use KiB, MiB, GiB)", s, unit);
}

int parse_hostport(const char *s, char *host, int *port, struct sl_err *err)
{
    if (!s)
        return sl_err_set(err, "missing address");
    const char *colon = strrchr(s, ':');
    if (!colon)
        return sl_err_set(err, "'%s' is not HOST:PORT", s);
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= 256)
        return sl_err_set(err, "host in '%s' is too long", s);
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (hl == 0)
        strcpy(host, "0.0.0.0");
    int64_t p = 0; /* set by parse_int on success; 0 keeps -Wmaybe-uninitialized quiet */
    if (parse_int(colon + 1, 0, 65535, &p, NULL) != 0)
        return sl_err_set(err, "'%s' has no valid port (0-65535)", s);
    *port = (int)p;
    return 0;
}

static int iso_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int parse_iso_time_us(const char *s, unsigned flags, int64_t *us)
{
    if (!s)
        return -1;
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, se = 0, offset_s = 0;
    int64_t frac = 0;
    if (iso_digits(&p, 4, &y) || *p++ != '-' || iso_digits(&p, 2, &mo) || *p++ != '-' ||
        iso_digits(&p, 2, &d))
        return -1;
    bool zoned = false;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (iso_digits(&p, 2, &h) || *p++ != ':' || iso_digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (iso_digits(&p, 2, &se))
                return -1;
            if (*p == '.' || *p == ',') {
                p++;
                if (!isdigit((unsigned char)*p))
                    return -1;
                for (int64_t scale = 100000; isdigit((unsigned char)*p); p++, scale /= 10)
                    frac += (*p - '0') * scale;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
            zoned = true;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om = 0;
            p++;
            if (iso_digits(&p, 2, &oh))
                return -1;
            if (*p == ':') {
                p++;
                if (iso_digits(&p, 2, &om))
                    return -1;
            } else if (*p && iso_digits(&p, 2, &om)) {
                return -1;
            }
            if (oh > 23 || om > 59)
                return -1;
            offset_s = sign * (oh * 3600 + om * 60);
            zoned = true;
        }
    } else if (flags & ISO_NEED_TIME) {
        return -1;
    }
    if (*p || ((flags & ISO_NEED_ZONE) && !zoned))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = se};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != d) /* Feb 30 and the like */
        return -1;
    *us = ((int64_t)t - offset_s) * 1000000 + frac;
    return 0;
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
