/* cql_token: prints sluice's Murmur3 token (src/store/cql/codec.c) of each UUID read from stdin,
 * one "UUID TOKEN" line each, so an engine test can compare with Cassandra's token(id).
 * Exit 1 on a line that is not a UUID. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/uuid.h"
#include "store/cql/codec.h"

int main(void)
{
    char line[128];
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        uint8_t u[16];
        if (uuid_parse(line, u) != 0) {
            fprintf(stderr, "cql_token: not a UUID: %s\n", line);
            return 1;
        }
        printf("%s %" PRId64 "\n", line, cql_murmur3_token(u, sizeof(u)));
    }
    return 0;
}
