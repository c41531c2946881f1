/* Fuzz target: CQL v4 response decoding (src/store/cql/codec.c). The input is taken as one
 * response frame: its header is checked as the connection does, then its body (as sent, also
 * when shorter or longer than the header says) is decoded as the header's opcode and as every
 * other response type, so each decoder sees every input. Cell readers run on what decodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/cql/codec.h"

static const uint8_t opcodes[] = {
    CQL_OP_ERROR,  CQL_OP_READY, CQL_OP_AUTHENTICATE,   CQL_OP_SUPPORTED,
    CQL_OP_RESULT, CQL_OP_EVENT, CQL_OP_AUTH_CHALLENGE, CQL_OP_AUTH_SUCCESS,
};

static void decode_as(const struct cql_header *h0, uint8_t op, const uint8_t *body, size_t len)
{
    struct cql_header h = *h0;
    h.opcode = op;
    struct cql_resp r;
    char why[200];
    /* An exact-size copy so any read past the end is caught by ASan. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, body, len);
    if (cql_resp_decode(&h, copy, len, &r, why, sizeof(why)) == 0 && r.cells) {
        int64_t v;
        int32_t i;
        bool b;
        for (int32_t k = 0; k < r.nrows * r.meta.ncols; k++) {
            cql_get_bigint(&r.cells[k], &v);
            cql_get_int(&r.cells[k], &i);
            cql_get_bool(&r.cells[k], &b);
        }
    }
    cql_resp_free(&r);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cql_header h;
    char why[200];
    int rc = cql_header_decode(data, size, 1u << 20, &h, why, sizeof(why));
    if (size < CQL_HEADER_LEN)
        return 0;
    if (rc != 0) {
        /* Decode anyway as a v4 response: the body decoders must hold on their own. */
        h.version = CQL_VERSION_RESP;
        h.flags = data[1];
        h.opcode = data[4];
    }
    const uint8_t *body = data + CQL_HEADER_LEN;
    size_t len = size - CQL_HEADER_LEN;
    /* As the connection would see it: only the announced length (truncated frames stop). */
    if (rc == 0 && h.length <= len)
        decode_as(&h, h.opcode, body, h.length);
    /* The whole rest as each response type (oversized or undersized bodies). */
    for (size_t i = 0; i < sizeof(opcodes); i++)
        decode_as(&h, opcodes[i], body, len);
    cql_murmur3_token(data, size);
    return 0;
}
