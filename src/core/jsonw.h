/* A small JSON text writer into bounded buffers, used where sluice emits JSON on hot paths
 * (format_data values, the mock API's responses). Strings are checked as UTF-8 on the way out:
 * invalid sequences become U+FFFD, so nothing downstream (Cassandra text, browsers) ever sees
 * invalid text. Every function returns 0, or -1 when the buffer's maximum would be passed. */
#ifndef SLUICE_CORE_JSONW_H
#define SLUICE_CORE_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Appends s[0..n) as a quoted JSON string. If replaced is not NULL, adds to it the number of
 * invalid UTF-8 sequences that were replaced with U+FFFD. */
int jsonw_str(struct buf *b, const char *s, size_t n, int *replaced);
/* Same for a NUL-terminated string. */
int jsonw_cstr(struct buf *b, const char *s);
/* Appends a decimal integer. */
int jsonw_int(struct buf *b, int64_t v);
/* Appends literal JSON text (punctuation, keys known to need no escaping). */
int jsonw_raw(struct buf *b, const char *s);
/* Appends `"key":` for a key that needs no escaping. */
int jsonw_key(struct buf *b, const char *key);

/* Length of the longest valid UTF-8 prefix of s[0..n); returns n when all of it is valid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
size_t utf8_valid_prefix(const char *s, size_t n);

#endif
