/* Fuzz target: DAG files (dag-factory and Airflow native YAML) through libyaml, the DAG model's
 * validation, and the schedule parser (cron expressions) on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/cron.h"
#include "scheduler/dagfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dagfile f;
    dagfile_parse("fuzz.yaml", (const char *)data, size, 1717243200, &f);
    dagfile_free(&f);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct schedule s;
    if (schedule_parse(text, &s, NULL) == 0 && s.kind == SCHEDULE_CRON) {
        int64_t t = cron_next(&s.cron, 1717243200);
        if (t >= 0)
            cron_prev(&s.cron, t);
    }
    free(text);
    return 0;
}
