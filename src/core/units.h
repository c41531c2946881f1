/* Parsing of the units users type: durations ("30s", "5m", "1h", "250ms", "2d" or bare
 * integer seconds), byte sizes ("512", "64KiB", "1MB", "1GiB"), rates ("500/s"), and
 * host:port addresses. Each rejects trailing garbage and overflow. Also hex digits. */
#ifndef SLUICE_CORE_UNITS_H
#define SLUICE_CORE_UNITS_H

#include <stdint.h>

#include "core/err.h"

/* The value of a hex digit (either case), or -1. Inline: \u escapes are parsed with it for
 * every record the stream job takes (UUIDs go by a table: core/uuid.c). */
static inline int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Duration in milliseconds. A bare integer means seconds. */
int parse_duration_ms(const char *s, int64_t *ms, struct sl_err *err);
/* Size in bytes. A bare integer means bytes; k/K/KB/KiB = 1024 (sizes here are binary). */
int parse_size(const char *s, int64_t *bytes, struct sl_err *err);
/* Plain decimal integer within [min, max]. */
int parse_int(const char *s, int64_t min, int64_t max, int64_t *out, struct sl_err *err);
/* "HOST:PORT" (HOST may be empty, meaning 0.0.0.0, or "[v6]"). host must hold 256 bytes. */
int parse_hostport(const char *s, char *host, int *port, struct sl_err *err);

/* ISO 8601 time to microseconds since the epoch: "YYYY-MM-DD", then optionally 'T', 't' or
 * ' ' and "HH:MM[:SS[.frac]]" (',' also starts the fraction; digits past the sixth are
 * ignored), then optionally 'Z'/'z' or an offset "+HH", "+HHMM", "+HH:MM" ('-' likewise). A
 * time without a zone is UTC. Flags: ISO_NEED_TIME rejects a bare date, ISO_NEED_ZONE a time
 * without a zone. Impossible dates (2023-02-30) are rejected. 0, or -1 when s is not one. */
enum { ISO_NEED_TIME = 1, ISO_NEED_ZONE = 2 };
int parse_iso_time_us(const char *s, unsigned flags, int64_t *us);

/* Wall clock in ms since the epoch, and a monotonic clock in ms. */
int64_t now_ms(void);
int64_t mono_ms(void);
/* Monotonic clock in microseconds. */
int64_t mono_us(void);

#endif
