/* Unit tests for src/core: CRC-32C, units, bounded buffers, config precedence, UUIDs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crc32c.h"
#include "core/units.h"
#include "core/uuid.h"

static void test_crc32c(void)
{
    /* Standard check value for CRC-32C. */
    CHECK_EQ_INT(crc32c(0, "123456789", 9), 0xe3069283u);
    CHECK_EQ_INT(crc32c(0, "", 0), 0);
    /* Incremental equals one-shot, over odd lengths and alignments. */
    char data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (char)(i * 31 + 7);
    uint32_t whole = crc32c(0, data + 3, 997);
    uint32_t part = crc32c(crc32c(0, data + 3, 13), data + 16, 984);
    CHECK_EQ_INT(whole, part);
    /* Against a bit-at-a-time reference, over lengths around the 3-lane loop's blocks of
     * 1,536 bytes and every alignment: a wrong lane join changes every CRC past 1,536 bytes. */
    static uint8_t big[3 * 4096 + 16];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(big); i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (uint8_t)(x >> 16);
    }
    static const size_t lens[] = {0,    1,    7,    8,    1535, 1536,  1537,
                                  1543, 3071, 3072, 3079, 4608, 10000, 3 * 4096};
    int bad = 0, checked = 0;
    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
        for (size_t off = 0; off < 8; off++) {
            uint32_t ref = 0xffffffffu;
            for (size_t i = 0; i < lens[l]; i++) {
                ref ^= big[off + i];
                for (int k = 0; k < 8; k++)
                    ref = ref & 1 ? (ref >> 1) ^ 0x82f63b78u : ref >> 1;
            }
            ref = ~ref;
            bad += crc32c(0, big + off, lens[l]) != ref;
            /* and continued from a split in the middle */
            size_t h = lens[l] / 3;
            bad += crc32c(crc32c(0, big + off, h), big + off + h, lens[l] - h) != ref;
            checked += 2;
        }
    }
    printf("crc32c: %d of %d CRCs differ from the bitwise reference\n", bad, checked);
    CHECK_EQ_INT(bad, 0);
}

static void test_units(void)
{
    int64_t v;
    CHECK(parse_duration_ms("30s", &v, NULL) == 0 && v == 30000);
    CHECK(parse_duration_ms("5m", &v, NULL) == 0 && v == 300000);
    CHECK(parse_duration_ms("1h", &v, NULL) == 0 && v == 3600000);
    CHECK(parse_duration_ms("250ms", &v, NULL) == 0 && v == 250);
    CHECK(parse_duration_ms("60", &v, NULL) == 0 && v == 60000);
    CHECK(parse_duration_ms("5x", &v, NULL) == -1);
    CHECK(parse_duration_ms("-5s", &v, NULL) == -1);
    CHECK(parse_duration_ms("", &v, NULL) == -1);
    CHECK(parse_size("1GiB", &v, NULL) == 0 && v == 1073741824);
    CHECK(parse_size("64k", &v, NULL) == 0 && v == 65536);
    CHECK(parse_size("100", &v, NULL) == 0 && v == 100);
    CHECK(parse_size("1 zb", &v, NULL) == -1);
    CHECK(parse_int("12a", 0, 100, &v, NULL) == -1);
    CHECK(parse_int("101", 0, 100, &v, NULL) == -1);
    char host[256];
    int port;
    CHECK(parse_hostport("127.0.0.1:9092", host, &port, NULL) == 0 && port == 9092);
    CHECK_EQ_STR(host, "127.0.0.1");
    CHECK(parse_hostport("[::1]:80", host, &port, NULL) == 0 && port == 80);
    CHECK_EQ_STR(host, "::1");
    CHECK(parse_hostport("nohost", host, &port, NULL) == -1);
    CHECK(parse_hostport("h:70000", host, &port, NULL) == -1);
}

/* The one ISO 8601 parser the scheduler, its API and `process --reset-offsets` share. */
static void test_iso_time(void)
{
    int64_t us = 0;
    const int64_t base = 1693735200LL * 1000000; /* 2023-09-03T10:00:00Z */
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T10:00:00Z", 0, &us), 0);
    CHECK(us == base);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03 10:00", 0, &us), 0); /* naive = UTC */
    CHECK(us == base);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03t12:00:00+02:00", 0, &us), 0);
    CHECK(us == base);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T15:30:00+0530", 0, &us), 0);
    CHECK(us == base);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T07:00:00-03", 0, &us), 0);
    CHECK(us == base);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T10:00:00,25Z", 0, &us), 0);
    CHECK(us == base + 250000);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T10:00:00.1234567Z", 0, &us), 0);
    CHECK(us == base + 123456); /* digits past the sixth are ignored */
    CHECK_EQ_INT(parse_iso_time_us("1969-12-31T23:59:59.5Z", 0, &us), 0);
    CHECK(us == -500000);
    CHECK_EQ_INT(parse_iso_time_us("2024-02-29", 0, &us), 0);
    CHECK(us == 1709164800LL * 1000000);
    /* flags */
    CHECK_EQ_INT(parse_iso_time_us("2024-02-29", ISO_NEED_TIME, &us), -1);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T10:00:00", ISO_NEED_ZONE, &us), -1);
    CHECK_EQ_INT(parse_iso_time_us("2023-09-03T10:00:00Z", ISO_NEED_TIME | ISO_NEED_ZONE, &us), 0);
    /* rejected */
    const char *bad[] = {"",
                         "yesterday",
                         "2023-02-29",
                         "2023-13-01",
                         "2023-09-03T24:00",
                         "2023-09-03T10",
                         "2023-09-03T10:00:00.",
                         "2023-09-03T10:00:00+02:",
                         "2023-09-03T10:00:00+24:00",
                         "2023-09-03T10:00:00Zjunk",
                         "2023-9-3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(parse_iso_time_us(bad[i], 0, &us), -1);
    CHECK_EQ_INT(parse_iso_time_us(NULL, 0, &us), -1);
}

static void test_buf(void)
{
    struct buf b;
    buf_init(&b, 10);
    CHECK(buf_append(&b, "hello", 5) == 0);
    CHECK(buf_append(&b, "world", 5) == 0);
    CHECK(buf_append(&b, "!", 1) == -1); /* past the maximum */
    CHECK_EQ_INT(b.len, 10);
    buf_consume(&b, 5);
    CHECK(b.len == 5 && memcmp(b.data, "world", 5) == 0);
    buf_free(&b);
}

static const struct opt_def opts[] = {
    {"listen", OPT_STRING, "127.0.0.1:9092", "HOST:PORT", "address"},
    {"segment-bytes", OPT_SIZE, "1GiB", "SIZE", "segment size"},
    {"auto-create", OPT_BOOL, "true", NULL, "auto-create topics"},
    {"flush-interval", OPT_DURATION, "0", "DURATION", "flush"},
    {NULL, 0, NULL, NULL, NULL},
};
static const struct cmd_def cmd = {"broker", "test", "test", opts, NULL};

static void test_config(void)
{
    char dir[] = "/tmp/sluice-test-config-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[300];
    snprintf(path, sizeof(path), "%s/sluice.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "listen: 1.2.3.4:1\nsegment_bytes: 1MiB\nbroker:\n  listen: 5.6.7.8:2\n");
    fclose(f);

    struct config *cfg;
    struct sl_err err;
    char *argv1[] = {"broker", "--config", path, NULL};
    unsetenv("SLUICE_LISTEN");
    CHECK(config_parse(&cmd, 3, argv1, &cfg, &err) == 0);
    CHECK_EQ_STR(config_str(cfg, "listen"), "5.6.7.8:2"); /* section beats top level */
    CHECK_EQ_INT(config_size(cfg, "segment-bytes"), 1048576);
    CHECK(config_bool(cfg, "auto-create"));
    CHECK(config_source_of(cfg, "listen") == SRC_FILE);
    config_free(cfg);

    setenv("SLUICE_LISTEN", "9.9.9.9:3", 1);
    CHECK(config_parse(&cmd, 3, argv1, &cfg, &err) == 0);
    CHECK_EQ_STR(config_str(cfg, "listen"), "9.9.9.9:3"); /* env beats file */
    config_free(cfg);
    setenv("SLUICE_BROKER_LISTEN", "8.8.8.8:5", 1);
    CHECK(config_parse(&cmd, 3, argv1, &cfg, &err) == 0);
    CHECK_EQ_STR(config_str(cfg, "listen"), "8.8.8.8:5"); /* the command's own variable wins */
    config_free(cfg);
    unsetenv("SLUICE_BROKER_LISTEN");

    char *argv2[] = {"broker",           "--config", path, "--listen=0.0.0.0:4",
                     "--no-auto-create", "pos",      NULL};
    CHECK(config_parse(&cmd, 6, argv2, &cfg, &err) == 0);
    CHECK_EQ_STR(config_str(cfg, "listen"), "0.0.0.0:4"); /* flag beats env */
    CHECK(!config_bool(cfg, "auto-create"));
    CHECK_EQ_INT(config_nargs(cfg), 1);
    CHECK_EQ_STR(config_arg(cfg, 0), "pos");
    config_free(cfg);
    unsetenv("SLUICE_LISTEN");

    char *argv3[] = {"broker", "--segment-bytes", "lots", NULL};
    CHECK(config_parse(&cmd, 3, argv3, &cfg, &err) == -1);
    CHECK(strstr(err.msg, "segment-bytes") != NULL);
    char *argv4[] = {"broker", "--bogus", NULL};
    CHECK(config_parse(&cmd, 2, argv4, &cfg, &err) == -1);
    CHECK(strstr(err.msg, "unknown option") != NULL);
    setenv("SLUICE_FLUSH_INTERVAL", "soon", 1);
    char *argv5[] = {"broker", NULL};
    CHECK(config_parse(&cmd, 1, argv5, &cfg, &err) == -1);
    CHECK(strstr(err.msg, "environment") != NULL);
    unsetenv("SLUICE_FLUSH_INTERVAL");

    unlink(path);
    rmdir(dir);
}

/* uuid_parse against a byte-by-byte reading of the 8-4-4-4-12 form with hex_digit: every
 * byte value at every position of a valid id, lengths 35 to 37, and the bytes it decodes. */
static int ref_uuid(const char *s, uint8_t out[16])
{
    if (strlen(s) != 36)
        return -1;
    for (int i = 0, j = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -1;
            continue;
        }
        int hi = hex_digit((unsigned char)s[i]), lo = hex_digit((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[j++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return 0;
}

static void test_uuid(void)
{
    const char *good[] = {
        "7a0eed16-9430-4d68-901f-c0d4c1c3bf00", "7A0EED16-9430-4D68-901F-C0D4C1C3BF00",
        "00000000-0000-0000-0000-000000000000", "ffffffff-FFFF-aBcD-9999-0123456789ef"};
    for (size_t g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
        uint8_t a[16], b[16];
        CHECK(uuid_parse(good[g], a) == 0);
        CHECK(ref_uuid(good[g], b) == 0);
        CHECK(memcmp(a, b, 16) == 0);
        char txt[37];
        uuid_format(a, txt);
        CHECK(strcasecmp(txt, good[g]) == 0);
        int differ = 0;
        for (int i = 0; i < 36; i++)
            for (int c = 1; c < 256; c++) {
                char s[37];
                memcpy(s, good[g], 37);
                s[i] = (char)c;
                int want = ref_uuid(s, b), got = uuid_parse(s, a);
                differ += want != got || (got == 0 && memcmp(a, b, 16) != 0);
            }
        CHECK_EQ_INT(differ, 0);
        char s[40];
        snprintf(s, sizeof(s), "%sa", good[g]);
        CHECK(uuid_parse(s, a) == -1);
        snprintf(s, sizeof(s), "%.35s", good[g]);
        CHECK(uuid_parse(s, a) == -1);
    }
    CHECK(uuid_parse(NULL, (uint8_t[16]){0}) == -1);
    CHECK(!uuid_valid("7a0eed16-9430-4d68-901f-c0d4c1c3bfg0"));
    CHECK(uuid_valid("7a0eed16-9430-4d68-901f-c0d4c1c3bf00"));
}

int main(void)
{
    test_crc32c();
    test_units();
    test_iso_time();
    test_buf();
    test_config();
    test_uuid();
    return check_summary();
}
