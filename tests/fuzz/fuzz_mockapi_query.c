/* Fuzz target: the mock API's query parameters (one per input line: results, seed, page, nat,
 * inc, exc, gender, format), validated and, when valid, a small page generated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mockapi/gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *fields[8] = {0};
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    for (int i = 0; i < 8 && line; i++, line = strtok_r(NULL, "\n", &save))
        fields[i] = line;
    struct mockapi_query q = {fields[0], fields[1], fields[2], fields[3],    fields[4],
                              fields[5], fields[6], fields[7], size % 2 == 0};
    struct mockapi_req req;
    struct sl_err err;
    mockapi_req_init(&req);
    if (mockapi_req_parse(&q, &req, &err) == 0) {
        if (!req.seed[0])
            strcpy(req.seed, "fuzz");
        if (req.results > 3)
            req.results = 3; /* keep each run fast; generation is exercised, not scaled */
        struct buf out;
        buf_init(&out, mockapi_response_max(req.results));
        mockapi_generate(&req, &out, &err);
        buf_free(&out);
    }
    free(text);
    return 0;
}
