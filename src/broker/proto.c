/* Kafka wire-protocol reader and writer. The reader never reads past its end: the first bad
 * read sets `err` and every later read returns zero, so handlers check once at the end. */
#include "broker/proto.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void kr_init(struct kreader *r, const uint8_t *p, size_t n)
{
    r->p = p;
    r->end = p + n;
    r->err = false;
}

size_t kr_remaining(const struct kreader *r)
{
    return r->err ? 0 : (size_t)(r->end - r->p);
}

static bool need(struct kreader *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = true;
        return false;
    }
    return true;
}

int8_t kr_i8(struct kreader *r)
{
    if (!need(r, 1))
        return 0;
    return (int8_t)*r->p++;
}

int16_t kr_i16(struct kreader *r)
{
    if (!need(r, 2))
        return 0;
    int16_t v = be16(r->p);
    r->p += 2;
    return v;
}

int32_t kr_i32(struct kreader *r)
{
    if (!need(r, 4))
        return 0;
    int32_t v = be32(r->p);
    r->p += 4;
    return v;
}

int64_t kr_i64(struct kreader *r)
{
    if (!need(r, 8))
        return 0;
    int64_t v = be64(r->p);
    r->p += 8;
    return v;
}

uint32_t kr_uvarint(struct kreader *r)
{
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (!need(r, 1))
            return 0;
        uint8_t b = *r->p++;
        if (shift == 28 && (b & 0xf0)) {
            r->err = true; /* more than 32 bits */
            return 0;
        }
        v |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->err = true;
    return 0;
}

int32_t kr_varint(struct kreader *r)
{
    uint32_t u = kr_uvarint(r);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

static struct kslice take(struct kreader *r, int64_t len)
{
    struct kslice s = {NULL, -1};
    if (len < 0)
        return s;
    if (!need(r, (size_t)len))
        return s;
    s.p = r->p;
    s.len = (int32_t)len;
    r->p += len;
    return s;
}

struct kslice kr_str(struct kreader *r, bool flex)
{
    int64_t len = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i16(r);
    if (r->err) {
        struct kslice s = {NULL, -1};
        return s;
    }
    if (!flex && len < -1)
        r->err = true;
    return take(r, len);
}

struct kslice kr_bytes(struct kreader *r, bool flex)
{
    int64_t len = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i32(r);
    if (r->err) {
        struct kslice s = {NULL, -1};
        return s;
    }
    if (len < -1)
        r->err = true;
    return take(r, len);
}

int32_t kr_array(struct kreader *r, bool flex)
{
    int64_t n = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i32(r);
    if (r->err)
        return 0;
    if (n < -1 || (n > 0 && (size_t)n > kr_remaining(r))) {
        r->err = true;
        return 0;
    }
    return (int32_t)n;
}

void kr_tags(struct kreader *r, bool flex)
{
    if (!flex)
        return;
    uint32_t n = kr_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        kr_uvarint(r); /* tag */
        uint32_t size = kr_uvarint(r);
        kr_skip(r, size);
    }
}

void kr_skip(struct kreader *r, size_t n)
{
    if (need(r, n))
        r->p += n;
}

int kslice_cstr(struct kslice s, char *out, size_t cap)
{
    if (s.len < 0 || (size_t)s.len >= cap)
        return -1;
    memcpy(out, s.p, (size_t)s.len);
    out[s.len] = '\0';
    return 0;
}

bool kslice_eq(struct kslice s, const char *c)
{
    size_t n = strlen(c);
    return s.len >= 0 && (size_t)s.len == n && memcmp(s.p, c, n) == 0;
}

void kw_init(struct kwriter *w, size_t max)
{
    buf_init(&w->b, max);
    w->err = false;
    w->chunks = NULL;
    w->nchunks = 0;
    w->chunk_bytes = 0;
}

void kw_free(struct kwriter *w)
{
    buf_free(&w->b);
    for (int i = 0; i < w->nchunks; i++)
        close(w->chunks[i].fd);
    free(w->chunks);
    w->chunks = NULL;
    w->nchunks = 0;
    w->chunk_bytes = 0;
}

void kw_reset(struct kwriter *w)
{
    buf_reset(&w->b);
    for (int i = 0; i < w->nchunks; i++)
        close(w->chunks[i].fd);
    w->nchunks = 0;
    w->chunk_bytes = 0;
}

void kw_file(struct kwriter *w, int fd, int64_t pos, size_t len)
{
    if (w->err || len == 0)
        return;
    struct kchunk *c = realloc(w->chunks, (size_t)(w->nchunks + 1) * sizeof(*c));
    if (!c) {
        w->err = true;
        return;
    }
    w->chunks = c;
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0) {
        w->err = true;
        return;
    }
    c[w->nchunks++] = (struct kchunk){w->b.len, dfd, pos, len};
    w->chunk_bytes += len;
}

size_t kw_size(const struct kwriter *w)
{
    return w->b.len + w->chunk_bytes;
}

void kw_raw(struct kwriter *w, const void *p, size_t n)
{
    if (!w->err && buf_append(&w->b, p, n) != 0)
        w->err = true;
}

void kw_i8(struct kwriter *w, int8_t v)
{
    kw_raw(w, &v, 1);
}

void kw_i16(struct kwriter *w, int16_t v)
{
    uint8_t b[2] = {(uint8_t)((uint16_t)v >> 8), (uint8_t)v};
    kw_raw(w, b, 2);
}

void kw_i32(struct kwriter *w, int32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    kw_raw(w, b, 4);
}

void kw_i64(struct kwriter *w, int64_t v)
{
    uint8_t b[8];
    put_be64(b, v);
    kw_raw(w, b, 8);
}

void kw_uvarint(struct kwriter *w, uint32_t v)
{
    uint8_t b[5];
    int n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    kw_raw(w, b, (size_t)n);
}

void kw_strn(struct kwriter *w, bool flex, const char *s, int32_t len)
{
    if (!s)
        len = -1;
    if (flex)
        kw_uvarint(w, (uint32_t)(len + 1));
    else
        kw_i16(w, (int16_t)len);
    if (len > 0)
        kw_raw(w, s, (size_t)len);
}

void kw_str(struct kwriter *w, bool flex, const char *s)
{
    kw_strn(w, flex, s, s ? (int32_t)strlen(s) : -1);
}

void kw_bytes(struct kwriter *w, bool flex, const void *p, int32_t len)
{
    if (flex)
        kw_uvarint(w, (uint32_t)(len + 1));
    else
        kw_i32(w, len);
    if (len > 0)
        kw_raw(w, p, (size_t)len);
}

void kw_array(struct kwriter *w, bool flex, int32_t n)
{
    if (flex)
        kw_uvarint(w, (uint32_t)(n + 1));
    else
        kw_i32(w, n);
}

void kw_tags(struct kwriter *w, bool flex)
{
    if (flex)
        kw_uvarint(w, 0);
}

void kw_uuid(struct kwriter *w, const uint8_t uuid[16])
{
    kw_raw(w, uuid, 16);
}

size_t kw_mark(struct kwriter *w)
{
    size_t pos = w->b.len;
    kw_i32(w, 0);
    return pos;
}

void kw_patch_i32(struct kwriter *w, size_t pos, int32_t v)
{
    if (!w->err && pos + 4 <= w->b.len)
        put_be32(w->b.data + pos, v);
}
