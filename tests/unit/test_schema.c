/* The job spec decoder: good users_created values become rows (post_code numbers as decimal
 * text, \u escapes decoded, unknown members ignored), and every kind of bad value is refused
 * with a reason that names the problem; the arena bound is honoured. */
#include <stdlib.h>

#include "check.h"
#include "core/jsonw.h"
#include "process/spec.h"

#define GOOD_ID "0b3c1c0e-8f3a-4d6e-9a7b-3c2d1e0f4a5b"

static char vbuf[8192];

/* A value with every field; override one member with `member` (raw JSON `"name":value`),
 * or drop it with drop. */
static const char *user(const char *drop, const char *member)
{
    static const char *const fields[12][2] = {
        {"id", "\"" GOOD_ID "\""},
        {"first_name", "\"Zoë\""},
        {"last_name", "\"O'Brien\""},
        {"gender", "\"female\""},
        {"address", "\"1 Main St, Springfield, IL, United States\""},
        {"post_code", "\"62704\""},
        {"email", "\"zoe@example.com\""},
        {"username", "\"zoe42\""},
        {"dob", "\"1990-01-02T03:04:05.678Z\""},
        {"registered_date", "\"2020-01-02T03:04:05.678Z\""},
        {"phone", "\"(555) 123-4567\""},
        {"picture", "\"https://randomuser.me/api/portraits/med/women/1.jpg\""},
    };
    size_t n = 0;
    n += (size_t)snprintf(vbuf + n, sizeof(vbuf) - n, "{");
    bool first = true;
    const char *mname_end = member ? strchr(member + 1, '"') : NULL;
    for (int i = 0; i < 12; i++) {
        if (drop && strcmp(drop, fields[i][0]) == 0)
            continue;
        if (member && mname_end && strlen(fields[i][0]) == (size_t)(mname_end - member - 1) &&
            strncmp(member + 1, fields[i][0], strlen(fields[i][0])) == 0)
            continue; /* replaced below */
        n += (size_t)snprintf(vbuf + n, sizeof(vbuf) - n, "%s\"%s\":%s", first ? "" : ",",
                              fields[i][0], fields[i][1]);
        first = false;
    }
    if (member)
        n += (size_t)snprintf(vbuf + n, sizeof(vbuf) - n, "%s%s", first ? "" : ",", member);
    snprintf(vbuf + n, sizeof(vbuf) - n, "}");
    return vbuf;
}

static int decode(const char *v, size_t len, struct store_row *row, char *reason)
{
    struct spec_arena a;
    spec_arena_init(&a, 1 << 20);
    int rc = spec_decode(spec_users(), v, len, &a, row, reason, 256);
    /* Copy out what the test looks at before the arena goes. */
    static char keep[12][1024];
    if (rc == 0) {
        for (int i = 0; i < 12; i++) {
            snprintf(keep[i], sizeof(keep[i]), "%.*s", (int)row->len[i], row->col[i]);
            row->col[i] = keep[i];
        }
    }
    spec_arena_free(&a);
    return rc;
}

/* Expects a refusal whose reason contains want. */
static void expect_bad(const char *v, size_t len, const char *want)
{
    struct store_row row;
    char reason[256] = "";
    int rc = decode(v, len, &row, reason);
    CHECK_EQ_INT(rc, -1);
    if (!strstr(reason, want)) {
        fprintf(stderr, "reason '%s' lacks '%s' for value %.120s\n", reason, want, v);
        CHECK(0);
    }
}

static void expect_bad_s(const char *v, const char *want)
{
    expect_bad(v, strlen(v), want);
}

static void test_spec_table(void)
{
    const struct job_spec *s = spec_users();
    CHECK_EQ_INT(s->nfields, 12);
    CHECK_EQ_STR(s->keyspace, "spark_streams");
    CHECK_EQ_STR(s->table, "created_users");
    CHECK_EQ_INT(s->layout.ncols, 12);
    for (int i = 0; i < s->nfields; i++)
        CHECK_EQ_STR(s->layout.cols[i], s->fields[i].column);
    CHECK_EQ_STR(s->layout.cols[s->layout.key_col], "id");
    CHECK_EQ_STR(s->fields[8].name, "dob"); /* the seed schema, dob included */
}

static void test_good(void)
{
    struct store_row row;
    char reason[256];
    const char *v = user(NULL, NULL);
    CHECK_EQ_INT(decode(v, strlen(v), &row, reason), 0);
    CHECK_EQ_STR(row.col[0], GOOD_ID);
    CHECK_EQ_STR(row.col[1], "Zoë");
    CHECK_EQ_STR(row.col[2], "O'Brien");
    CHECK_EQ_STR(row.col[5], "62704");
    CHECK_EQ_STR(row.col[8], "1990-01-02T03:04:05.678Z");
    CHECK_EQ_STR(row.col[11], "https://randomuser.me/api/portraits/med/women/1.jpg");

    /* post_code as a JSON number is stored as its decimal text. */
    v = user(NULL, "\"post_code\":12345");
    CHECK_EQ_INT(decode(v, strlen(v), &row, reason), 0);
    CHECK_EQ_STR(row.col[5], "12345");
    v = user(NULL, "\"post_code\":0");
    CHECK_EQ_INT(decode(v, strlen(v), &row, reason), 0);
    CHECK_EQ_STR(row.col[5], "0");

    /* Escapes decode, including a surrogate pair; unknown members are ignored. */
    v = user(NULL, "\"first_name\":\"Jos\\u00e9 \\ud83d\\ude00 \\\"Q\\\" \\\\\"");
    CHECK_EQ_INT(decode(v, strlen(v), &row, reason), 0);
    CHECK_EQ_STR(row.col[1], "José 😀 \"Q\" \\");
    v = user(NULL, "\"nat\":\"DE\",\"extra\":{\"deep\":[1,2,{\"x\":null}]}");
    CHECK_EQ_INT(decode(v, strlen(v), &row, reason), 0);
    /* Empty strings are strings. */
    v = user(NULL, "\"phone\":\"\"");
    CHECK_EQ_INT(decode(v, strlen(v), &row, reason), 0);
    CHECK_EQ_STR(row.col[10], "");
    /* Upper-case UUIDs are UUIDs. */
    v = user(NULL, "\"id\":\"0B3C1C0E-8F3A-4D6E-9A7B-3C2D1E0F4A5B\"");
    CHECK_EQ_INT(decode(v, strlen(v), &row, reason), 0);
    /* Whitespace around the object is fine. */
    char ws[8300];
    snprintf(ws, sizeof(ws), " \n%s\r\n ", user(NULL, NULL));
    CHECK_EQ_INT(decode(ws, strlen(ws), &row, reason), 0);
}

static void test_bad(void)
{
    expect_bad_s("", "empty value");
    expect_bad_s("{\"id\":", "invalid JSON");
    expect_bad_s("not json", "invalid JSON");
    char tr[8300];
    snprintf(tr, sizeof(tr), "%s}", user(NULL, NULL));
    expect_bad_s(tr, "trailing data");
    expect_bad_s("[1,2,3]", "not a JSON object");
    expect_bad_s("\"just a string\"", "not a JSON object");
    expect_bad_s("null", "not a JSON object");
    expect_bad_s(user("email", NULL), "missing field 'email'");
    expect_bad_s(user("id", NULL), "missing field 'id'");
    expect_bad_s(user("dob", NULL), "missing field 'dob'");
    expect_bad_s(user(NULL, "\"id\":null"), "field 'id' is null");
    expect_bad_s(user(NULL, "\"phone\":null"), "field 'phone' is null");
    expect_bad_s(user(NULL, "\"phone\":5551234"), "field 'phone' must be a string");
    expect_bad_s(user(NULL, "\"gender\":true"), "field 'gender' must be a string");
    expect_bad_s(user(NULL, "\"address\":{\"street\":\"x\"}"), "field 'address' must be a string");
    expect_bad_s(user(NULL, "\"post_code\":12.5"), "not an integer");
    expect_bad_s(user(NULL, "\"post_code\":[1]"), "field 'post_code' must be a string or");
    expect_bad_s(user(NULL, "\"id\":\"not-a-uuid\""), "field 'id' is not a UUID");
    expect_bad_s(user(NULL, "\"id\":\"0b3c1c0e-8f3a-4d6e-9a7b-3c2d1e0f4a5\""), "not a UUID");
    expect_bad_s(user(NULL, "\"id\":12345"), "field 'id' must be a string");
    /* Member names match exactly: "ID" is an unknown member, so id is missing. */
    char up[8300];
    snprintf(up, sizeof(up), "%s", user("id", "\"ID\":\"" GOOD_ID "\""));
    expect_bad_s(up, "missing field 'id'");
    /* Duplicates are ambiguous. */
    char dup[8300];
    snprintf(dup, sizeof(dup), "%s", user(NULL, NULL));
    dup[strlen(dup) - 1] = '\0';
    strcat(dup, ",\"email\":\"other@example.com\"}");
    expect_bad_s(dup, "duplicate field 'email'");
    /* Invalid UTF-8 anywhere in the value, and escapes that cJSON would pass through. */
    expect_bad_s(user(NULL, "\"first_name\":\"Jo\xc3\x28\""), "invalid UTF-8");
    expect_bad_s(user(NULL, "\"nat\":\"\xff\""), "invalid UTF-8");
    expect_bad_s(user(NULL, "\"last_name\":\"\xed\xa0\x80\""), "invalid UTF-8");     /* surrogate */
    expect_bad_s(user(NULL, "\"last_name\":\"\xc0\xaf\""), "invalid UTF-8");         /* overlong */
    expect_bad_s(user(NULL, "\"last_name\":\"\xf4\x90\x80\x80\""), "invalid UTF-8"); /* >10FFFF */
    expect_bad_s(user(NULL, "\"last_name\":\"abc\xe2\x82\""), "invalid UTF-8");      /* truncated */
    {
        struct store_row row;
        char reason[256];
        const char *v = user(NULL, "\"last_name\":\"\\ud800\"");
        CHECK_EQ_INT(decode(v, strlen(v), &row, reason), -1); /* lone surrogate escape */
        v = user(NULL, "\"last_name\":\"\\udc00x\"");
        CHECK_EQ_INT(decode(v, strlen(v), &row, reason), -1);
    }
    expect_bad_s(user(NULL, "\"last_name\":\"a\\u0000b\""), "NUL character");
    /* after other escapes, after an escaped backslash, and as a string's last character */
    expect_bad_s(user(NULL, "\"last_name\":\"\\n\\t\\u0041\\u0000\""), "NUL character");
    expect_bad_s(user(NULL, "\"last_name\":\"a\\\\\\u0000\""), "NUL character");
    expect_bad_s(user(NULL, "\"x\":\"\\/\",\"last_name\":\"\\u0000\""), "NUL character");
    /* An escaped backslash before u0000 is just text. */
    {
        struct store_row row;
        char reason[256];
        const char *v = user(NULL, "\"last_name\":\"a\\\\u0000b\"");
        CHECK_EQ_INT(decode(v, strlen(v), &row, reason), 0);
        CHECK_EQ_STR(row.col[2], "a\\u0000b");
    }
    /* Bounds: the value and each field. */
    char *big = malloc(70000);
    memset(big, ' ', 69999);
    big[0] = '{';
    big[69998] = '}';
    big[69999] = '\0';
    expect_bad(big, 69999, "larger than");
    char *longname = malloc(3000);
    memset(longname, 'a', 2999);
    longname[2999] = '\0';
    char member[3100];
    snprintf(member, sizeof(member), "\"first_name\":\"%s\"", longname);
    expect_bad_s(user(NULL, member), "field 'first_name' is longer than");
    free(big);
    free(longname);
    /* A NUL byte inside the buffer is not JSON. */
    char nul[] = "{\"id\":\"a\0b\"}";
    expect_bad(nul, sizeof(nul) - 1, "");
}

static void test_arena(void)
{
    struct spec_arena a;
    spec_arena_init(&a, 1000); /* room for a couple of users */
    struct store_row rows[16];
    char reason[256];
    const char *v = user(NULL, NULL);
    int ok = 0, rc = 0;
    for (int i = 0; i < 16 && rc == 0; i++) {
        rc = spec_decode(spec_users(), v, strlen(v), &a, &rows[i], reason, sizeof(reason));
        ok += rc == 0;
    }
    CHECK_EQ_INT(rc, -2); /* full: the caller flushes and retries */
    CHECK(ok >= 1 && ok <= 4);
    CHECK(a.used <= 1000);
    /* Earlier rows are intact. */
    CHECK(rows[0].len[0] == 36 && memcmp(rows[0].col[0], GOOD_ID, 36) == 0);
    spec_arena_reset(&a);
    CHECK_EQ_INT(spec_decode(spec_users(), v, strlen(v), &a, &rows[0], reason, 256), 0);
    spec_arena_free(&a);

    /* Many chunks: pointers stay valid while the arena grows. */
    spec_arena_init(&a, 64 << 20);
    static struct store_row many[20000];
    int bad = 0;
    for (int i = 0; i < 20000; i++)
        bad += spec_decode(spec_users(), v, strlen(v), &a, &many[i], reason, 256) != 0;
    for (int i = 0; i < 20000; i++)
        bad += many[i].len[1] != strlen("Zoë") || memcmp(many[i].col[1], "Zoë", 4) != 0;
    CHECK_EQ_INT(bad, 0);
    spec_arena_free(&a);
}

/* A record whose cJSON tree is larger than spec_decode's stack buffer for it (8 KB): the rest
 * comes from malloc, and every field still decodes whole; the next small record reuses the
 * buffer. */
static void test_large(void)
{
    static char v[16384];
    char *addr = malloc(4001), *pic = malloc(4001), *extra = malloc(5001);
    if (!addr || !pic || !extra)
        return;
    for (int i = 0; i < 4000; i++) {
        addr[i] = (char)('a' + i % 26);
        pic[i] = (char)('A' + i % 26);
    }
    memset(extra, 'x', 5000);
    addr[4000] = pic[4000] = extra[5000] = '\0';
    int n = snprintf(v, sizeof(v),
                     "{\"id\":\"%s\",\"first_name\":\"Big\",\"last_name\":\"Record\","
                     "\"gender\":\"female\",\"extra\":\"%s\",\"address\":\"%s\",\"post_code\":1,"
                     "\"email\":\"b@example.com\",\"username\":\"big\",\"dob\":\"1990-01-01\","
                     "\"registered_date\":\"2015-01-01\",\"phone\":\"1\",\"picture\":\"%s\"}",
                     GOOD_ID, extra, addr, pic);
    CHECK(n > 13000 && n < (int)sizeof(v));
    struct spec_arena a;
    spec_arena_init(&a, 1 << 20);
    struct store_row row;
    char reason[256] = "";
    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(spec_decode(spec_users(), v, (size_t)n, &a, &row, reason, sizeof(reason)), 0);
        CHECK_EQ_INT(row.len[4], 4000);
        CHECK(memcmp(row.col[4], addr, 4000) == 0);
        CHECK_EQ_INT(row.len[11], 4000);
        CHECK(memcmp(row.col[11], pic, 4000) == 0);
        CHECK_EQ_INT(row.len[1], 3);
        CHECK(memcmp(row.col[1], "Big", 3) == 0);
        const char *small = user(NULL, NULL);
        CHECK_EQ_INT(spec_decode(spec_users(), small, strlen(small), &a, &row, reason, 256), 0);
        CHECK(row.len[0] == strlen(GOOD_ID) && memcmp(row.col[0], GOOD_ID, row.len[0]) == 0);
    }
    spec_arena_free(&a);
    free(addr);
    free(pic);
    free(extra);
}

/* Decodes v with spec_decode and with the cJSON path alone (spec_decode_cjson) and checks they
 * agree: result, reason, every column. Returns the result; *post_code gets column 5. */
static int both_agree(const char *v, size_t len, char post_code[64])
{
    struct spec_arena a1, a2;
    spec_arena_init(&a1, 1 << 20);
    spec_arena_init(&a2, 1 << 20);
    struct store_row r1, r2;
    char why1[256] = "", why2[256] = "";
    int rc1 = spec_decode(spec_users(), v, len, &a1, &r1, why1, sizeof(why1));
    int rc2 = spec_decode_cjson(spec_users(), v, len, &a2, &r2, why2, sizeof(why2));
    CHECK_EQ_INT(rc1, rc2);
    if (rc1 == 0 && rc2 == 0) {
        for (int f = 0; f < 12; f++) {
            if (r1.len[f] != r2.len[f] || memcmp(r1.col[f], r2.col[f], r1.len[f]) != 0) {
                fprintf(stderr, "column %d differs for %.160s\n", f, v);
                CHECK(0);
            }
        }
        snprintf(post_code, 64, "%.*s", (int)r1.len[5], r1.col[5]);
    } else {
        CHECK_EQ_STR(why1, why2);
        post_code[0] = '\0';
    }
    spec_arena_free(&a1);
    spec_arena_free(&a2);
    return rc1;
}

/* Strings are scanned 16 bytes at a time where SSE2 is there: a stopping byte (a quote, a
 * backslash, a control character) at each place of a 16-byte block, and bytes of 0x7F and
 * above, which do not stop a string, before it. Both paths agree on each (both_agree compares
 * the decoded columns). */
static void test_string_blocks(void)
{
    static const char *const stops[] = {"\"", "\\n", "\\u00e9", "\x01", "\x1f", "\t"};
    char body[128], member[256], got[64];
    for (size_t k = 0; k < sizeof(stops) / sizeof(stops[0]); k++) {
        for (int at = 0; at < 40; at++) {
            size_t n = 0;
            for (int i = 0; i < at; i++) /* "a", then "é" and DEL by turns */
                n += (size_t)snprintf(body + n, sizeof(body) - n, "%s",
                                      i % 3 == 0   ? "a"
                                      : i % 3 == 1 ? "\xc3\xa9"
                                                   : "\x7f");
            n += (size_t)snprintf(body + n, sizeof(body) - n, "%s", stops[k]);
            snprintf(body + n, sizeof(body) - n, "%s", "0123456789abcdefXYZ");
            snprintf(member, sizeof(member), "\"address\":\"%s\"", body);
            const char *v = user(NULL, member);
            int rc = both_agree(v, strlen(v), got);
            /* a quote ends the string early; cJSON takes a raw control character, and the
             * direct path leaves such a string to it */
            CHECK_EQ_INT(rc, (k == 0 ? -1 : 0));
        }
    }
}

/* The direct path for plain records (strings without escapes, nulls, integers) decodes exactly
 * as cJSON does, and leaves everything else to it: integers in every form cJSON reads, nulls,
 * unknown members of every kind, whitespace, duplicates, missing fields, bad ids, truncations. */
static void test_plain_path(void)
{
    static const struct {
        const char *member; /* replaces post_code (NULL: the default "62704") */
        int rc;
        const char *post_code; /* when rc == 0 */
    } pc[] = {
        {NULL, 0, "62704"},
        {"\"post_code\":12345", 0, "12345"},
        {"\"post_code\":-42", 0, "-42"},
        {"\"post_code\":0", 0, "0"},
        {"\"post_code\":-0", 0, "0"},
        {"\"post_code\":007", 0, "7"},
        {"\"post_code\":1e3", 0, "1000"},
        {"\"post_code\":12.0", 0, "12"},
        {"\"post_code\":123456789012345", 0, "123456789012345"},
        {"\"post_code\":1234567890123456", 0, "1234567890123456"},
        {"\"post_code\":12.5", -1, NULL},
        {"\"post_code\":null", -1, NULL},
        {"\"post_code\":true", -1, NULL},
        {"\"post_code\":\"\"", 0, ""},
        {"\"post_code\":[1]", -1, NULL},
        {"\"post_code\":-", -1, NULL},
        {"\"post_code\":12a", -1, NULL},
        {"\"post_code\":nul", -1, NULL},
        {"\"post_code\":nullx", -1, NULL},
    };
    char got[64], w[8192];
    for (size_t i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
        const char *v = user(NULL, pc[i].member);
        int rc = both_agree(v, strlen(v), got);
        CHECK_EQ_INT(rc, pc[i].rc);
        if (rc == 0 && pc[i].rc == 0)
            CHECK_EQ_STR(got, pc[i].post_code);
    }
    /* Members the job ignores, of every kind, and whitespace everywhere JSON allows it. */
    char v[8192];
    snprintf(v, sizeof(v), " \t\r\n{ \"x\" : 1 , %s", user(NULL, NULL) + 1);
    size_t n = strlen(v);
    snprintf(v + n - 1, sizeof(v) - n + 1,
             " , \"n\" : null , \"s\" : \"t\" , \"f\" : 1.5 , \"o\" : {\"a\":[true,false]} } \n");
    CHECK_EQ_INT(both_agree(v, strlen(v), got), 0);
    CHECK_EQ_STR(got, "62704");
    const char *cases[] = {
        user("email", NULL),                 /* missing */
        user(NULL, "\"email\":null"),        /* null */
        user(NULL, "\"email\":5"),           /* an integer where a string goes */
        user(NULL, "\"id\":\"not-a-uuid\""), /* bad id */
        user(NULL, "\"id\":\"0B3C1C0E-8F3A-4D6E-9A7B-3C2D1E0F4A5B\""), /* upper case */
        user(NULL, "\"gender\":\"x\\ty\""),                            /* an escape */
        user(NULL, "\"gender\":\"\\u00e9\""),                          /* a \u escape */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(v, sizeof(v), "%s", cases[i]);
        both_agree(v, strlen(v), got);
    }
    /* Escapes the direct path decodes (every two-character one, \u in one to three bytes, a
     * surrogate pair) and ones it leaves to cJSON (a lone surrogate, a bad escape, an escaped
     * member name, which cJSON matches after decoding: taking it for an unknown member would
     * miss the duplicate). */
    static const struct {
        const char *member;
        int rc;
        const char *first_name; /* when rc == 0 */
    } esc[] = {
        {"\"first_name\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", 0, "a\"b\\c/d\be\ff\ng\rh\ti"},
        {"\"first_name\":\"Zo\\u00eb \\u0041\\u20AC\\ud83d\\ude00\"", 0,
         "Zo\xc3\xab A\xe2\x82\xac\xf0\x9f\x98\x80"},
        {"\"first_name\":\"\\ud83d\"", -1, NULL},
        {"\"first_name\":\"\\ud83dx\"", -1, NULL},
        {"\"first_name\":\"\\ud83d\\u0041\"", -1, NULL},
        {"\"first_name\":\"\\ude00\"", -1, NULL},
        {"\"first_name\":\"\\u12\"", -1, NULL},
        {"\"first_name\":\"\\x41\"", -1, NULL},
        /* first_name is there too: a duplicate once the name is decoded */
        {"\"first\\u005fname\":\"Esc\",\"x\":1", -1, NULL},
        {"\"first_name\":\"Zo\xc3\xab\",\"nat\":\"XX\",\"extra\":{\"a\":[1,2.5e+3,-0.0,true,false,"
         "null,\"\\u00e9\",{}]}",
         0, "Zo\xc3\xab"},
        {"\"first_name\":\"A\",\"n\":01", 0, "A"},
        {"\"first_name\":\"A\",\"n\":[1,]", -1, NULL},
        {"\"first_name\":\"A\",\"n\":{\"k\":\"\\ud800\"}", -1, NULL},
    };
    for (size_t i = 0; i < sizeof(esc) / sizeof(esc[0]); i++) {
        snprintf(v, sizeof(v), "%s", user(NULL, esc[i].member));
        struct spec_arena a;
        spec_arena_init(&a, 1 << 20);
        struct store_row row;
        char why[256];
        int rc = spec_decode(spec_users(), v, strlen(v), &a, &row, why, sizeof(why));
        CHECK_EQ_INT(rc, esc[i].rc);
        if (rc == 0 && esc[i].rc == 0) {
            CHECK(row.len[1] == strlen(esc[i].first_name) &&
                  memcmp(row.col[1], esc[i].first_name, row.len[1]) == 0);
        }
        spec_arena_free(&a);
        both_agree(v, strlen(v), got);
    }
    /* Nesting past the direct path's depth, which cJSON still takes. */
    snprintf(v, sizeof(v), "%s", user(NULL, NULL));
    n = (size_t)snprintf(w, sizeof(w), "%.*s,\"deep\":", (int)(strlen(v) - 1), v);
    for (int d = 0; d < 40; d++)
        w[n++] = '[';
    for (int d = 0; d < 40; d++)
        w[n++] = ']';
    snprintf(w + n, sizeof(w) - n, "}");
    CHECK_EQ_INT(both_agree(w, strlen(w), got), 0);
    /* A duplicate field, a raw control character, an empty object, trailing data, and every
     * truncation of a good record. */

    snprintf(v, sizeof(v), "%s", user(NULL, NULL));
    n = strlen(v);
    snprintf(w, sizeof(w), "%.*s,\"email\":\"b@c.d\"}", (int)(n - 1), v);
    CHECK_EQ_INT(both_agree(w, strlen(w), got), -1);
    snprintf(w, sizeof(w), "%.*s,\"c\":\"a\x01z\"}", (int)(n - 1), v);
    both_agree(w, strlen(w), got);
    CHECK_EQ_INT(both_agree("{}", 2, got), -1);
    CHECK_EQ_INT(both_agree("{} x", 4, got), -1);
    snprintf(w, sizeof(w), "%s x", v);
    CHECK_EQ_INT(both_agree(w, strlen(w), got), -1);
    for (size_t k = 1; k < n; k++)
        CHECK_EQ_INT(both_agree(v, k, got), -1);
}

static void test_utf8(void)
{
    CHECK_EQ_INT(utf8_valid_prefix("abc", 3), 3);
    CHECK_EQ_INT(utf8_valid_prefix("Zoë😀", strlen("Zoë😀")), strlen("Zoë😀"));
    CHECK_EQ_INT(utf8_valid_prefix("ab\x80", 3), 2);
    CHECK_EQ_INT(utf8_valid_prefix("\xe0\x80\x80", 3), 0); /* overlong */
    CHECK_EQ_INT(utf8_valid_prefix("\xf0\x9f\x98", 3), 0); /* cut short */
    CHECK_EQ_INT(utf8_valid_prefix("\xf5\x80\x80\x80", 4), 0);
    CHECK_EQ_INT(utf8_valid_prefix("\xef\xbf\xbf", 3), 3); /* U+FFFF is allowed */
}

int main(void)
{
    test_spec_table();
    test_good();
    test_bad();
    test_arena();
    test_large();
    test_plain_path();
    test_string_blocks();
    test_utf8();
    return check_summary();
}
