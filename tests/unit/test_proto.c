/* Unit tests for the Kafka codec primitives: round trips, compact encodings, and that
 * truncated or hostile input sets the reader's error instead of reading past the end. */
#include "broker/proto.h"
#include "check.h"

static void test_roundtrip(void)
{
    struct kwriter w;
    kw_init(&w, 1 << 16);
    kw_i8(&w, -3);
    kw_i16(&w, -12345);
    kw_i32(&w, 0x12345678);
    kw_i64(&w, -1234567890123LL);
    kw_uvarint(&w, 300);
    kw_str(&w, false, "classic");
    kw_str(&w, true, "compact");
    kw_str(&w, true, NULL);
    kw_bytes(&w, false, "xyz", 3);
    kw_bytes(&w, true, NULL, -1);
    kw_array(&w, true, 2);
    kw_tags(&w, true);
    CHECK(!w.err);

    struct kreader r;
    kr_init(&r, w.b.data, w.b.len);
    CHECK_EQ_INT(kr_i8(&r), -3);
    CHECK_EQ_INT(kr_i16(&r), -12345);
    CHECK_EQ_INT(kr_i32(&r), 0x12345678);
    CHECK_EQ_INT(kr_i64(&r), -1234567890123LL);
    CHECK_EQ_INT(kr_uvarint(&r), 300);
    CHECK(kslice_eq(kr_str(&r, false), "classic"));
    CHECK(kslice_eq(kr_str(&r, true), "compact"));
    CHECK_EQ_INT(kr_str(&r, true).len, -1);
    struct kslice b = kr_bytes(&r, false);
    CHECK(b.len == 3 && b.p[0] == 'x');
    CHECK_EQ_INT(kr_bytes(&r, true).len, -1);
    /* an array count larger than the remaining bytes is malformed */
    kr_array(&r, true);
    CHECK(r.err);
    kw_free(&w);
}

static void test_hostile(void)
{
    struct kreader r;
    /* string length beyond the end */
    const uint8_t s1[] = {0x00, 0x10, 'a', 'b'};
    kr_init(&r, s1, sizeof(s1));
    struct kslice s = kr_str(&r, false);
    CHECK(r.err && s.len == -1);
    /* reads after an error return zero */
    CHECK_EQ_INT(kr_i32(&r), 0);
    /* negative length other than -1 */
    const uint8_t s2[] = {0xff, 0xfe};
    kr_init(&r, s2, sizeof(s2));
    kr_str(&r, false);
    CHECK(r.err);
    /* an unterminated varint and one wider than 32 bits */
    const uint8_t v1[] = {0x80, 0x80};
    kr_init(&r, v1, sizeof(v1));
    kr_uvarint(&r);
    CHECK(r.err);
    const uint8_t v2[] = {0xff, 0xff, 0xff, 0xff, 0x7f};
    kr_init(&r, v2, sizeof(v2));
    kr_uvarint(&r);
    CHECK(r.err);
    /* a huge array count */
    const uint8_t a1[] = {0x7f, 0xff, 0xff, 0xff, 0x00};
    kr_init(&r, a1, sizeof(a1));
    kr_array(&r, false);
    CHECK(r.err);
    /* tagged fields whose size runs past the end */
    const uint8_t t1[] = {0x01, 0x00, 0x20, 0x00};
    kr_init(&r, t1, sizeof(t1));
    kr_tags(&r, true);
    CHECK(r.err);
    /* zigzag */
    const uint8_t z[] = {0x01, 0x02, 0x03};
    kr_init(&r, z, sizeof(z));
    CHECK_EQ_INT(kr_varint(&r), -1);
    CHECK_EQ_INT(kr_varint(&r), 1);
    CHECK_EQ_INT(kr_varint(&r), -2);
    CHECK(!r.err);
}

static void test_writer_cap(void)
{
    struct kwriter w;
    kw_init(&w, 6);
    kw_i32(&w, 1);
    CHECK(!w.err);
    kw_i32(&w, 2);
    CHECK(w.err);
    size_t pos = 0;
    kw_patch_i32(&w, pos, 7); /* no effect after an error */
    kw_free(&w);
}

int main(void)
{
    test_roundtrip();
    test_hostile();
    test_writer_cap();
    return check_summary();
}
