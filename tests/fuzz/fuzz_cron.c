/* Fuzz target: DAG schedules (cron expressions, presets, none) and the ISO times of the
 * scheduler. Whatever parses must behave: the next fire time after t is later than t and
 * matches the expression; the previous one is earlier and matches too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/units.h"
#include "scheduler/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 512)
        return 0;
    char s[513];
    memcpy(s, data, size);
    s[size] = '\0';
    struct schedule sch;
    struct sl_err err;
    if (schedule_parse(s, &sch, &err) == 0 && sch.kind == SCHEDULE_CRON) {
        static const int64_t times[] = {0, 951782400 /* 2000-02-29 */, 1700000000, 4102444800};
        for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
            int64_t t = times[i];
            int64_t nx = cron_next(&sch.cron, t);
            if (nx != -1 && (nx <= t || !cron_matches(&sch.cron, nx)))
                abort();
            int64_t pv = cron_prev(&sch.cron, t);
            if (pv != -1 && (pv >= t || !cron_matches(&sch.cron, pv)))
                abort();
        }
    }
    int64_t us;
    if (parse_iso_time_us(s, 0, &us) == 0) {
        char out[32];
        ts_format_us(us, out);
    }
    return 0;
}
