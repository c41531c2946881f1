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

/* Fills value[0..len) for key: the key itself first (as much as fits), then letters. */
static inline void payload_value(char *value, size_t len, const char *key, size_t klen)
{
    uint32_t s = payload_seed(key, klen);
    size_t n = klen < len ? klen : len;
    memcpy(value, key, n);
    for (size_t i = n; i < len; i++)
        value[i] = (char)('a' + (s + (uint32_t)i * 7u) % 26u);
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
