/* Message contents shared by the test clients (kprod writes them, kcons checks them): the key
 * of message i is "k" + 10 digits, and its value is derived from the key alone, so a consumer
 * can tell a corrupted or misattributed value without knowing how it was produced. */
#ifndef SLUICE_TESTS_TOOLS_PAYLOAD_H
#define SLUICE_TESTS_TOOLS_PAYLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PAYLOAD_KEY_LEN 11

static inline void payload_key(char *key, int64_t i)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "k%010lld", (long long)(i % 10000000000LL));
    memcpy(key, tmp, PAYLOAD_KEY_LEN);
}

/* FNV-1a of the key: a seed so different keys give different filler. */
static inline uint32_t payload_seed(const char *key, size_t klen)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    return h;
}

/* value[from..to) = 'a' + (s + 7i) % 26 in 32-bit arithmetic, the filler of payload_value. The
 * letters repeat every 26 bytes until s + 7i wraps, so each side of the wrap is made as one
 * 26-byte period copied forward in doubling runs: a memcpy a byte, not a division (at 1 KiB
 * the byte loop was half of kprod's CPU, which held the broker bench to the client's pace). */
static inline void payload_letters(char *value, size_t from, size_t to, uint32_t s)
{
    while (from < to) {
        size_t end = to;
        uint64_t at = (uint64_t)s + 7u * (uint64_t)from;
        if (at < ((uint64_t)1 << 32)) {
            uint64_t wrap = (((uint64_t)1 << 32) - s + 6) / 7; /* first i with s + 7i >= 2^32 */
            if (wrap < end)
                end = wrap;
        }
        size_t n = end - from, m = n < 26 ? n : 26;
        for (size_t i = 0; i < m; i++)
            value[from + i] = (char)('a' + (s + (uint32_t)(from + i) * 7u) % 26u);
        while (m < n) {
            size_t k = m < n - m ? m : n - m;
            memcpy(value + from + m, value + from, k);
            m += k;
        }
        from = end;
    }
}

/* Fills value[0..len) for key: the key itself first (as much as fits), then letters.
 * len < 2^29, so 7i does not wrap. */
static inline void payload_value(char *value, size_t len, const char *key, size_t klen)
{
    size_t n = klen < len ? klen : len;
    memcpy(value, key, n);
    payload_letters(value, n, len, payload_seed(key, klen));
}

static inline bool payload_check(const char *value, size_t len, const char *key, size_t klen)
{
    uint32_t s = payload_seed(key, klen);
    size_t n = klen < len ? klen : len;
    if (memcmp(value, key, n) != 0)
        return false;
    for (size_t i = n; i < len; i++) {
        if (value[i] != (char)('a' + (s + (uint32_t)i * 7u) % 26u))
            return false;
    }
    return true;
}

#endif
