/* Fuzz target: a users_created record value through the stream job's decoder (spec_decode:
 * UTF-8 check, the direct path for plain records, cJSON on its stack allocator for the rest,
 * the field rules). It must decode exactly as the cJSON path alone (spec_decode_cjson): the
 * same result, the same reason, the same columns; the same twice (the allocator's buffer is
 * reused); and a record it accepts must have a UUID id and no column past its field's limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"
#include "process/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct job_spec *spec = spec_users();
    struct spec_arena a1, a2, a3;
    spec_arena_init(&a1, 1u << 20);
    spec_arena_init(&a2, 1u << 20);
    spec_arena_init(&a3, 1u << 20);
    struct store_row r1, r2, r3;
    char why1[256], why2[256], why3[256];
    int rc1 = spec_decode(spec, (const char *)data, size, &a1, &r1, why1, sizeof(why1));
    int rc2 = spec_decode(spec, (const char *)data, size, &a2, &r2, why2, sizeof(why2));
    int rc3 = spec_decode_cjson(spec, (const char *)data, size, &a3, &r3, why3, sizeof(why3));
    if (rc1 != rc2 || rc1 != rc3 || rc1 == -2)
        abort();
    if (rc1 == 0) {
        char id[37] = ""; /* columns are not NUL-terminated */
        if (r1.len[spec->key_field] < sizeof(id))
            memcpy(id, r1.col[spec->key_field], r1.len[spec->key_field]);
        if (!uuid_valid(id))
            abort();
        for (int f = 0; f < spec->nfields; f++) {
            if (r1.len[f] != r2.len[f] || memcmp(r1.col[f], r2.col[f], r1.len[f]) != 0 ||
                r1.len[f] != r3.len[f] || memcmp(r1.col[f], r3.col[f], r1.len[f]) != 0 ||
                r1.len[f] > (uint32_t)spec->fields[f].max_len)
                abort();
        }
    } else if (strcmp(why1, why2) != 0 || strcmp(why1, why3) != 0) {
        abort();
    }
    spec_arena_free(&a1);
    spec_arena_free(&a2);
    spec_arena_free(&a3);
    return 0;
}
