/* tests/tools/payload.h: the filler made by periodic copies (payload_letters) is byte for byte
 * the one its definition gives, 'a' + (s + 7i) % 26 in 32-bit arithmetic, including seeds
 * where s + 7i wraps inside the value; payload_check (the definition, byte by byte) accepts
 * what payload_value makes and refuses a changed byte. */
#include <stdlib.h>

#include "../tools/payload.h"
#include "check.h"

/* The definition, one byte at a time. */
static void reference(char *value, size_t from, size_t to, uint32_t s)
{
    for (size_t i = from; i < to; i++)
        value[i] = (char)('a' + (s + (uint32_t)i * 7u) % 26u);
}

static bool same_letters(size_t from, size_t to, uint32_t s)
{
    char *a = malloc(to + 1), *b = malloc(to + 1);
    if (!a || !b)
        abort();
    memset(a, '#', to + 1);
    memset(b, '#', to + 1);
    payload_letters(a, from, to, s);
    reference(b, from, to, s);
    bool ok = memcmp(a, b, to + 1) == 0; /* the byte past the end untouched as well */
    free(a);
    free(b);
    return ok;
}

static void test_letters(void)
{
    static const size_t lens[] = {0, 1, 11, 12, 25, 26, 27, 51, 52, 53, 100, 1024, 4097, 65536};
    /* seeds that wrap at the start, inside and past the end of the value */
    static const uint32_t seeds[] = {0,
                                     1,
                                     7,
                                     2166136261u,
                                     4294967295u,
                                     4294967290u,
                                     4294967289u,
                                     4294967296u - 7u * 30u,
                                     4294967296u - 7u * 30u - 3u,
                                     4294967296u - 7u * 600u};
    int bad = 0;
    for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++)
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
            for (size_t from = 0; from <= 12 && from <= lens[li]; from += 11)
                bad += !same_letters(from, lens[li], seeds[si]);
    CHECK_EQ_INT(bad, 0);
    /* every seed residue and wrap position in a small window */
    bad = 0;
    for (uint32_t k = 0; k < 7u * 64u; k++)
        bad += !same_letters(0, 300, 4294967295u - k) + !same_letters(5, 77, k * 9973u);
    CHECK_EQ_INT(bad, 0);
}

static void test_value_check(void)
{
    char key[PAYLOAD_KEY_LEN + 1], value[2048];
    int bad = 0, caught = 0;
    for (int64_t i = 0; i < 2000; i++) {
        payload_key(key, i * 7919);
        size_t len = (size_t)(i % 2048);
        payload_value(value, len, key, PAYLOAD_KEY_LEN);
        bad += !payload_check(value, len, key, PAYLOAD_KEY_LEN);
        if (len > 0) {
            value[len / 2] ^= 1;
            caught += !payload_check(value, len, key, PAYLOAD_KEY_LEN);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(caught, 1999);
    /* a short value is a prefix of the key */
    payload_key(key, 42);
    payload_value(value, 5, key, PAYLOAD_KEY_LEN);
    CHECK(memcmp(value, "k0000", 5) == 0);
}

int main(void)
{
    test_letters();
    test_value_check();
    return check_summary();
}
