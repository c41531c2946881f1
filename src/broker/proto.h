/* Kafka wire-protocol primitives: a bounds-checked reader with a sticky error flag and a
 * writer over a bounded buffer. Both speak classic and flexible (KIP-482) encodings: with
 * `flex` set, strings, arrays and bytes are compact (unsigned varint length + 1) and
 * structures end in tagged fields. */
#ifndef SLUICE_BROKER_PROTO_H
#define SLUICE_BROKER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* A string or byte slice pointing into the request; len -1 means null. */
struct kslice {
    const uint8_t *p;
    int32_t len;
};

struct kreader {
    const uint8_t *p;
    const uint8_t *end;
    bool err; /* set on the first out-of-bounds or malformed read; later reads return zero */
};

void kr_init(struct kreader *r, const uint8_t *p, size_t n);
size_t kr_remaining(const struct kreader *r);
int8_t kr_i8(struct kreader *r);
int16_t kr_i16(struct kreader *r);
int32_t kr_i32(struct kreader *r);
int64_t kr_i64(struct kreader *r);
uint32_t kr_uvarint(struct kreader *r);
int32_t kr_varint(struct kreader *r);                 /* zigzag */
struct kslice kr_str(struct kreader *r, bool flex);   /* nullable string */
struct kslice kr_bytes(struct kreader *r, bool flex); /* nullable bytes */
/* Array length; -1 for null. A count larger than the bytes left (each element needs >= 1 byte)
 * is malformed, which bounds every loop over it. */
int32_t kr_array(struct kreader *r, bool flex);
/* Skips a tagged-field section when flex (no-op otherwise). */
void kr_tags(struct kreader *r, bool flex);
void kr_skip(struct kreader *r, size_t n);
/* Copies a slice into a NUL-terminated string of at most cap-1 bytes; -1 if null or too long. */
int kslice_cstr(struct kslice s, char *out, size_t cap);
bool kslice_eq(struct kslice s, const char *c);

/* A range of a file that belongs in the output at byte `at` of the writer's buffer: record
 * data a Fetch response sends straight from the log with sendfile instead of copying it. */
struct kchunk {
    size_t at;
    int fd; /* a dup the writer owns, so the range outlives a segment deleted meanwhile */
    int64_t pos;
    size_t len;
};

struct kwriter {
    struct buf b;
    bool err; /* set when the buffer's maximum was hit; the response is then not sent */
    struct kchunk *chunks;
    int nchunks;
    size_t chunk_bytes; /* total of the chunks' lengths */
};

void kw_init(struct kwriter *w, size_t max);
void kw_free(struct kwriter *w);
/* Empties w (its file chunks closed), keeping its buffer and maximum. */
void kw_reset(struct kwriter *w);
void kw_i8(struct kwriter *w, int8_t v);
void kw_i16(struct kwriter *w, int16_t v);
void kw_i32(struct kwriter *w, int32_t v);
void kw_i64(struct kwriter *w, int64_t v);
void kw_uvarint(struct kwriter *w, uint32_t v);
void kw_raw(struct kwriter *w, const void *p, size_t n);
void kw_str(struct kwriter *w, bool flex, const char *s); /* NULL writes null */
void kw_strn(struct kwriter *w, bool flex, const char *s, int32_t len);
void kw_bytes(struct kwriter *w, bool flex, const void *p, int32_t len); /* len -1 = null */
void kw_array(struct kwriter *w, bool flex, int32_t n);
void kw_tags(struct kwriter *w, bool flex); /* an empty tagged-field section */
void kw_uuid(struct kwriter *w, const uint8_t uuid[16]);
/* Places len bytes of file fd from pos here in the output (fd is duplicated). */
void kw_file(struct kwriter *w, int fd, int64_t pos, size_t len);
/* Bytes of output so far, file chunks included. */
size_t kw_size(const struct kwriter *w);
/* Reserves 4 bytes for a length/int filled in later with kw_patch_i32. Returns its position. */
size_t kw_mark(struct kwriter *w);
void kw_patch_i32(struct kwriter *w, size_t pos, int32_t v);

/* Big-endian helpers for code that handles raw bytes. */
static inline int16_t be16(const uint8_t *p)
{
    return (int16_t)((p[0] << 8) | p[1]);
}
static inline int32_t be32(const uint8_t *p)
{
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
                     p[3]);
}
static inline int64_t be64(const uint8_t *p)
{
    return (int64_t)(((uint64_t)(uint32_t)be32(p) << 32) | (uint32_t)be32(p + 4));
}
static inline void put_be32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)(u >> 24);
    p[1] = (uint8_t)(u >> 16);
    p[2] = (uint8_t)(u >> 8);
    p[3] = (uint8_t)u;
}
static inline void put_be64(uint8_t *p, int64_t v)
{
    put_be32(p, (int32_t)((uint64_t)v >> 32));
    put_be32(p + 4, (int32_t)(uint32_t)v);
}

#endif
