/* CRC-32C (Castagnoli), as Kafka record batches use it. Uses the SSE4.2 instruction when the
 * CPU has it, else a slice-by-8 table. */
#ifndef SLUICE_CORE_CRC32C_H
#define SLUICE_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, p, n) gives the CRC of p; pass a previous result to continue over more data. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
