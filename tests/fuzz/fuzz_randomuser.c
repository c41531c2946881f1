/* Fuzz target: a randomuser.me response body through the ingest parser and format_data. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/buf.h"
#include "ingest/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const cJSON *results = NULL;
    enum fmt_body_status st;
    struct sl_err err;
    cJSON *root = fmt_parse_body((const char *)data, size, &results, &st, &err);
    if (!root)
        return 0;
    struct buf out;
    buf_init(&out, 1 << 20);
    const cJSON *user;
    cJSON_ArrayForEach(user, results)
    {
        char key[FMT_UUID_LEN + 1];
        int replaced = 0;
        buf_reset(&out);
        fmt_user(user, &out, key, &replaced, &err);
    }
    buf_free(&out);
    cJSON_Delete(root);
    return 0;
}
