/* UUIDs: random version 4, canonical text form, strict parsing. */
#ifndef SLUICE_CORE_UUID_H
#define SLUICE_CORE_UUID_H

#include <stdbool.h>
#include <stdint.h>

void uuid_v4(uint8_t out[16]);
/* Writes the 36-character lower-case form plus NUL into out (37 bytes). */
void uuid_format(const uint8_t u[16], char out[37]);
/* Parses the 8-4-4-4-12 hex form (either case); -1 if s is anything else. */
int uuid_parse(const char *s, uint8_t out[16]);
bool uuid_valid(const char *s);

#endif
