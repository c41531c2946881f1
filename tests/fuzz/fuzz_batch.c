/* Fuzz target: record batch validation and record iteration on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/batch.h"

static int count_record(int32_t delta, int64_t ts, void *ctx)
{
    (void)delta;
    (void)ts;
    (*(int *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct batch_header h;
    struct sl_err err;
    batch_validate(data, size, &h, &err);
    if (size >= BATCH_HEADER_SIZE)
        batch_parse_header(data, size, &h, &err);
    int n = 0;
    batch_each_record(data, size, count_record, &n);
    return 0;
}
