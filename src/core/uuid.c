/* UUID generation and parsing. */
#include "core/uuid.h"

#include <string.h>

#include "core/fsutil.h"

void uuid_v4(uint8_t out[16])
{
    fs_random(out, 16);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

void uuid_format(const uint8_t u[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    int j = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[j++] = '-';
        out[j++] = hex[u[i] >> 4];
        out[j++] = hex[u[i] & 15];
    }
    out[j] = '\0';
}

/* 16 + the value of a hex digit (either case); 0 for any other byte. */
#define H(c, v) [c] = 16 + (v)
static const uint8_t hexval[256] = {
    H('0', 0),  H('1', 1),  H('2', 2),  H('3', 3),  H('4', 4),  H('5', 5),  H('6', 6),  H('7', 7),
    H('8', 8),  H('9', 9),  H('a', 10), H('b', 11), H('c', 12), H('d', 13), H('e', 14), H('f', 15),
    H('A', 10), H('B', 11), H('C', 12), H('D', 13), H('E', 14), H('F', 15),
};
#undef H
/* Where each byte's two digits start in the text. */
static const uint8_t digit_at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};

/* By table, without a branch a digit: the stream job checks every record's id with it, and
 * hex_digit's branches on random digits and letters took 8 % of its loop thread. */
int uuid_parse(const char *s, uint8_t out[16])
{
    if (!s || strnlen(s, 37) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return -1;
    const unsigned char *p = (const unsigned char *)s;
    unsigned ok = 16;
    for (int i = 0; i < 16; i++) {
        unsigned hi = hexval[p[digit_at[i]]], lo = hexval[p[digit_at[i] + 1]];
        ok &= hi & lo;
        out[i] = (uint8_t)((hi & 15) << 4 | (lo & 15));
    }
    return ok ? 0 : -1;
}

bool uuid_valid(const char *s)
{
    uint8_t u[16];
    return uuid_parse(s, u) == 0;
}
