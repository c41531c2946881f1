/* scheduler/cron: parsing (ranges, steps, lists, names, presets), next and previous fire
 * times across month ends and leap years (UTC), bad expressions with clear errors, ISO times. */
#include <stdlib.h>

#include "check.h"
#include "core/units.h"
#include "scheduler/cron.h"

static int64_t T(const char *iso)
{
    int64_t us = 0;
    if (parse_iso_time_us(iso, 0, &us) != 0) {
        fprintf(stderr, "bad test time %s\n", iso);
        abort();
    }
    return us / 1000000;
}

static const char *S(int64_t t)
{
    static char buf[4][32];
    static int i;
    i = (i + 1) % 4;
    if (t < 0)
        return "never";
    return ts_format_runid(t, buf[i]);
}

static const char *next_of(const char *expr, const char *from)
{
    struct cron c;
    static struct sl_err err;
    if (cron_parse(expr, &c, &err) != 0)
        return err.msg;
    return S(cron_next(&c, T(from)));
}

static const char *prev_of(const char *expr, const char *from)
{
    struct cron c;
    static struct sl_err err;
    if (cron_parse(expr, &c, &err) != 0)
        return err.msg;
    return S(cron_prev(&c, T(from)));
}

static const char *error_of(const char *expr)
{
    static struct sl_err err;
    struct cron c;
    memset(&err, 0, sizeof(err));
    if (cron_parse(expr, &c, &err) == 0)
        return "(accepted)";
    return err.msg;
}

static void test_next(void)
{
    CHECK_EQ_STR(next_of("0 0 * * *", "2024-01-31T15:00:00Z"), "2024-02-01T00:00:00+00:00");
    /* strictly after */
    CHECK_EQ_STR(next_of("0 0 * * *", "2024-02-01T00:00:00Z"), "2024-02-02T00:00:00+00:00");
    CHECK_EQ_STR(next_of("*/15 * * * *", "2024-03-10T23:59:30Z"), "2024-03-11T00:00:00+00:00");
    CHECK_EQ_STR(next_of("30 2 31 * *", "2024-04-01T00:00:00Z"), "2024-05-31T02:30:00+00:00");
    /* leap years: Feb 29 */
    CHECK_EQ_STR(next_of("0 12 29 2 *", "2023-03-01T00:00:00Z"), "2024-02-29T12:00:00+00:00");
    CHECK_EQ_STR(next_of("0 12 29 2 *", "2024-02-29T12:00:00Z"), "2028-02-29T12:00:00+00:00");
    /* 2100 is not a leap year */
    CHECK_EQ_STR(next_of("0 0 29 2 *", "2097-01-01T00:00:00Z"), "2104-02-29T00:00:00+00:00");
    /* month end: the last day of Feb in a non-leap year rolls to March */
    CHECK_EQ_STR(next_of("0 0 * * *", "2023-02-28T10:00:00Z"), "2023-03-01T00:00:00+00:00");
    CHECK_EQ_STR(next_of("0 0 1 * *", "2023-12-15T00:00:00Z"), "2024-01-01T00:00:00+00:00");
    /* names, lists, ranges with steps */
    CHECK_EQ_STR(next_of("0 9 * * mon-fri", "2024-06-07T10:00:00Z"), "2024-06-10T09:00:00+00:00");
    CHECK_EQ_STR(next_of("0 0 1 jan,jul *", "2024-02-01T00:00:00Z"), "2024-07-01T00:00:00+00:00");
    CHECK_EQ_STR(next_of("5-20/5 * * * *", "2024-01-01T00:12:00Z"), "2024-01-01T00:15:00+00:00");
    CHECK_EQ_STR(next_of("10/20 * * * *", "2024-01-01T00:31:00Z"), "2024-01-01T00:50:00+00:00");
    /* Sunday is 0 and 7 */
    CHECK_EQ_STR(next_of("0 0 * * 7", "2024-06-05T00:00:00Z"), "2024-06-09T00:00:00+00:00");
    CHECK_EQ_STR(next_of("0 0 * * SUN", "2024-06-05T00:00:00Z"), "2024-06-09T00:00:00+00:00");
    /* both day fields restricted: either matches (13th or any Friday) */
    CHECK_EQ_STR(next_of("0 0 13 * 5", "2024-09-01T00:00:00Z"), "2024-09-06T00:00:00+00:00");
    CHECK_EQ_STR(next_of("0 0 13 * 5", "2024-09-10T00:00:00Z"), "2024-09-13T00:00:00+00:00");
}

static void test_prev(void)
{
    CHECK_EQ_STR(prev_of("0 0 * * *", "2024-03-01T00:00:00Z"), "2024-02-29T00:00:00+00:00");
    CHECK_EQ_STR(prev_of("0 0 * * *", "2024-03-01T00:00:01Z"), "2024-03-01T00:00:00+00:00");
    CHECK_EQ_STR(prev_of("0 0 31 * *", "2024-03-01T00:00:00Z"), "2024-01-31T00:00:00+00:00");
    CHECK_EQ_STR(prev_of("0 * * * *", "2024-01-01T00:30:00Z"), "2024-01-01T00:00:00+00:00");
    CHECK_EQ_STR(prev_of("0 0 1 1 *", "2024-01-01T00:00:00Z"), "2023-01-01T00:00:00+00:00");
}

static void test_errors(void)
{
    CHECK(strstr(error_of("0 0 * *"), "has 4 fields; expected 5") != NULL);
    CHECK(strstr(error_of("0 0 * * * *"), "more than 5 fields") != NULL);
    CHECK(strstr(error_of("60 * * * *"), "minute field '60'") != NULL);
    CHECK(strstr(error_of("* 24 * * *"), "hour field '24'") != NULL);
    CHECK(strstr(error_of("* * 0 * *"), "day of month field '0'") != NULL);
    CHECK(strstr(error_of("* * * 13 *"), "month field '13'") != NULL);
    CHECK(strstr(error_of("* * * * funday"), "day of week field 'funday'") != NULL);
    CHECK(strstr(error_of("*/0 * * * *"), "bad step") != NULL);
    CHECK(strstr(error_of("5-1 * * * *"), "backwards range") != NULL);
    CHECK(strstr(error_of("1,,2 * * * *"), "empty list item") != NULL);
    CHECK(strstr(error_of("0 0 30 2 *"), "never fires") != NULL);
    CHECK(strstr(error_of(""), "has 0 fields") != NULL);
}

static void test_presets(void)
{
    struct schedule s;
    struct sl_err err;
    CHECK_EQ_INT(schedule_parse("@daily", &s, &err), 0);
    CHECK_EQ_INT(s.kind, SCHEDULE_CRON);
    CHECK_EQ_STR(s.summary, "0 0 * * *");
    CHECK_EQ_STR(s.description, "At 00:00");
    CHECK_EQ_INT(schedule_parse("@hourly", &s, &err), 0);
    CHECK_EQ_STR(s.summary, "0 * * * *");
    CHECK_EQ_INT(schedule_parse("@weekly", &s, &err), 0);
    CHECK_EQ_STR(s.summary, "0 0 * * 0");
    CHECK_EQ_INT(schedule_parse("@monthly", &s, &err), 0);
    CHECK_EQ_STR(s.summary, "0 0 1 * *");
    CHECK_EQ_INT(schedule_parse("@quarterly", &s, &err), 0);
    CHECK_EQ_STR(s.summary, "0 0 1 */3 *");
    CHECK_EQ_STR(S(cron_next(&s.cron, T("2024-04-02T00:00:00Z"))), "2024-07-01T00:00:00+00:00");
    CHECK_EQ_INT(schedule_parse("@yearly", &s, &err), 0);
    CHECK_EQ_STR(s.summary, "0 0 1 1 *");
    CHECK_EQ_INT(schedule_parse("@once", &s, &err), 0);
    CHECK_EQ_INT(s.kind, SCHEDULE_ONCE);
    const char *nones[] = {NULL, "", "none", "None", "null"};
    for (size_t i = 0; i < 5; i++) {
        CHECK_EQ_INT(schedule_parse(nones[i], &s, &err), 0);
        CHECK_EQ_INT(s.kind, SCHEDULE_NONE);
    }
    CHECK_EQ_INT(schedule_parse("@fortnightly", &s, &err), -1);
    CHECK(strstr(err.msg, "unknown schedule preset '@fortnightly'") != NULL);
    CHECK_EQ_INT(schedule_parse("*/5 * * * *", &s, &err), 0);
    CHECK_EQ_INT(s.kind, SCHEDULE_CRON);
}

static void test_times(void)
{
    int64_t us;
    char buf[32];
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T10:00:00", 0, &us), 0);
    CHECK_EQ_STR(ts_format_us(us, buf), "2023-09-03T10:00:00.000000Z");
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T10:00:00.25+02:00", 0, &us), 0);
    CHECK_EQ_STR(ts_format_us(us, buf), "2023-09-03T08:00:00.250000Z");
    CHECK_EQ_INT(parse_iso_time_us("2024-02-29", 0, &us), 0);
    CHECK_EQ_STR(ts_format_us(us, buf), "2024-02-29T00:00:00.000000Z");
    CHECK_EQ_INT(parse_iso_time_us("2023-02-29", 0, &us), -1);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T10:00:00Zjunk", 0, &us), -1);
    CHECK_EQ_INT(parse_iso_time_us("yesterday", 0, &us), -1);
}

int main(void)
{
    test_next();
    test_prev();
    test_errors();
    test_presets();
    test_times();
    return check_summary();
}
