/* JSON text writer with UTF-8 validation on output. Escapes only what JSON requires (quote,
 * backslash, control characters); non-ASCII text is written as UTF-8, not as \u escapes, to
 * keep values compact and readable in kcat. */
#include "core/jsonw.h"

#include <stdint.h>
#include <string.h>

/* Length (1..4) of the valid UTF-8 sequence starting at s, or 0 when it is invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2 || c > 0xf4) /* continuation byte, overlong 2-byte lead, or > U+10FFFF */
        return 0;
    if (c < 0xe0) {
        if (n < 2 || (s[1] & 0xc0) != 0x80)
            return 0;
        return 2;
    }
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0) /* overlong */
            return 0;
        if (c == 0xed && s[1] >= 0xa0) /* UTF-16 surrogates */
            return 0;
        return 3;
    }
    if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
        return 0;
    if (c == 0xf0 && s[1] < 0x90) /* overlong */
        return 0;
    if (c == 0xf4 && s[1] >= 0x90) /* above U+10FFFF */
        return 0;
    return 4;
}

size_t utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs, most of any text here, 8 bytes at a time; each multi-byte sequence is
         * checked on its own (the stream job's decode spent 10 % of its time here when one
         * accented letter sent the rest of the record through the byte loop) */
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull)
                break;
        }
        while (i < n && p[i] < 0x80)
            i++;
        if (i == n)
            break;
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            return i;
        i += k;
    }
    return n;
}

/* Exact length of the escaped form of p[0..n), without the quotes. */
static size_t escaped_len(const unsigned char *p, size_t n)
{
    size_t len = 0, i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(p + i, n - i);
            len += k ? k : 3;
            i += k ? k : 1;
            continue;
        }
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
            len += 2;
        else if (c < 0x20)
            len += 6;
        else
            len += 1;
        i++;
    }
    return len;
}

int jsonw_str(struct buf *b, const char *s, size_t n, int *replaced)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    /* Worst case per input byte is 6 output bytes (\u00XX): reserve that once rather than per
     * byte; near the buffer's maximum, fall back to the exact size. */
    if (n > SIZE_MAX / 8 || buf_reserve(b, n * 6 + 2) != 0) {
        if (buf_reserve(b, escaped_len(p, n) + 2) != 0)
            return -1;
    }
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = c;
            i++;
            continue;
        }
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"':
                *o++ = '"';
                break;
            case '\\':
                *o++ = '\\';
                break;
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = (uint8_t)hex[c >> 4];
                *o++ = (uint8_t)hex[c & 15];
            }
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) {
            /* U+FFFD, then resynchronise on the next byte. */
            *o++ = 0xef;
            *o++ = 0xbf;
            *o++ = 0xbd;
            if (replaced)
                (*replaced)++;
            i++;
            continue;
        }
        memcpy(o, p + i, k);
        o += k;
        i += k;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

int jsonw_cstr(struct buf *b, const char *s)
{
    return jsonw_str(b, s, strlen(s), NULL);
}

int jsonw_int(struct buf *b, int64_t v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    return buf_append(b, tmp + i, sizeof(tmp) - (size_t)i);
}

int jsonw_raw(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int jsonw_key(struct buf *b, const char *key)
{
    size_t n = strlen(key);
    if (buf_reserve(b, n + 3) != 0)
        return -1;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    memcpy(o, key, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    b->len += n + 3;
    return 0;
}
