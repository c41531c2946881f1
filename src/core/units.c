/* Units users type: durations, sizes, integers, addresses; and clocks. */
#include "core/units.h"

#include <ctype.h>
#include <errno.h>
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
    int64_t p;
    if (parse_int(colon + 1, 0, 65535, &p, NULL) != 0)
        return sl_err_set(err, "'%s' has no valid port (0-65535)", s);
    *port = (int)p;
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
