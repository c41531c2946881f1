/* format_data against recorded randomuser-shaped responses (tests/data/randomuser/): every
 * one of the 12 fields of every user, several nationalities, postcodes as numbers and strings,
 * non-ASCII names, null id values, invalid UTF-8, bad uuids, rejected users, error bodies. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "check.h"
#include "core/jsonw.h"
#include "ingest/format.h"

struct expect {
    const char *id, *first_name, *last_name, *gender, *address, *post_code, *email, *username, *dob,
        *registered_date, *phone, *picture;
};

static const char *const field_order[12] = {"id",      "first_name",      "last_name", "gender",
                                            "address", "post_code",       "email",     "username",
                                            "dob",     "registered_date", "phone",     "picture"};

static char *read_data(const char *name, size_t *len)
{
    /* The data sits beside the tests: derive its directory from this file's path. */
    char path[1024];
    const char *file = __FILE__;
    const char *cut = strstr(file, "unit/test_format_data.c");
    if (!cut)
        return NULL;
    snprintf(path, sizeof(path), "%.*sdata/randomuser/%s", (int)(cut - file), file, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    buf_append(&b, "", 1);
    *len = b.len - 1;
    return (char *)buf_detach(&b, NULL);
}

/* Checks one formatted value: exactly the 12 fields, in order, all strings, equal to e
 * (e->id NULL: a random v4 UUID is expected). */
static void check_value(const char *value, size_t len, const char *key, const struct expect *e)
{
    CHECK_EQ_INT(utf8_valid_prefix(value, len), len);
    cJSON *v = cJSON_ParseWithLength(value, len);
    CHECK(v != NULL);
    if (!v)
        return;
    CHECK_EQ_INT(cJSON_GetArraySize(v), 12);
    int i = 0;
    for (const cJSON *f = v->child; f && i < 12; f = f->next, i++) {
        CHECK_EQ_STR(f->string, field_order[i]);
        CHECK(cJSON_IsString(f));
    }
    const char *want[12] = {e->id,      e->first_name,      e->last_name, e->gender,
                            e->address, e->post_code,       e->email,     e->username,
                            e->dob,     e->registered_date, e->phone,     e->picture};
    for (i = 0; i < 12; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, field_order[i]);
        if (!cJSON_IsString(f)) {
            CHECK(cJSON_IsString(f));
            continue;
        }
        if (i == 0 && !want[0]) {
            CHECK(fmt_uuid_valid(f->valuestring));
            CHECK(f->valuestring[14] == '4'); /* version 4 */
            CHECK(strchr("89ab", f->valuestring[19]) != NULL);
        } else {
            CHECK_EQ_STR(f->valuestring, want[i]);
        }
    }
    CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(v, "id")->valuestring, key);
    cJSON_Delete(v);
}

/* Formats every result of file; expects[i] NULL means user i must be rejected. */
static void check_file(const char *name, const struct expect *const *expects, int n,
                       int want_replaced)
{
    size_t len;
    char *body = read_data(name, &len);
    CHECK(body != NULL);
    if (!body)
        return;
    const cJSON *results;
    enum fmt_body_status st;
    struct sl_err err;
    cJSON *root = fmt_parse_body(body, len, &results, &st, &err);
    CHECK(root != NULL);
    CHECK_EQ_INT(st, FMT_BODY_OK);
    if (!root) {
        free(body);
        return;
    }
    CHECK_EQ_INT(cJSON_GetArraySize(results), n);
    int i = 0, replaced = 0;
    const cJSON *u;
    cJSON_ArrayForEach(u, results)
    {
        struct buf out;
        buf_init(&out, 1 << 20);
        buf_append(&out, "prefix", 6); /* values are appended: earlier bytes stay */
        char key[FMT_UUID_LEN + 1];
        int rc = fmt_user(u, &out, key, &replaced, &err);
        if (i < n && expects[i]) {
            CHECK_EQ_INT(rc, 0);
            if (rc == 0)
                check_value((const char *)out.data + 6, out.len - 6, key, expects[i]);
            else
                fprintf(stderr, "%s user %d: %s\n", name, i, err.msg);
        } else {
            CHECK_EQ_INT(rc, -1);
            CHECK_EQ_INT(out.len, 6); /* rolled back */
        }
        CHECK(memcmp(out.data, "prefix", 6) == 0);
        buf_free(&out);
        i++;
    }
    CHECK_EQ_INT(replaced, want_replaced);
    cJSON_Delete(root);
    free(body);
}

static const struct expect us = {"0b7c6a7e-5d1f-4c3a-9e2b-8f4d3c2b1a09",
                                 "Brittany",
                                 "Howell",
                                 "female",
                                 "4412 Pecan Acres Ln, Fresno, California, United States",
                                 "93722",
                                 "brittany.howell@example.com",
                                 "orangeswan441",
                                 "1986-11-02T07:21:44.512Z",
                                 "2011-04-19T12:03:55.027Z",
                                 "(559) 555-0143",
                                 "https://randomuser.me/api/portraits/med/women/12.jpg"};
static const struct expect gb = {"9f2e1d0c-8b7a-4f69-a5e4-d3c2b1a09f8e",
                                 "Callum",
                                 "O'Brien",
                                 "male",
                                 "7023 Station Road, Leeds, West Yorkshire, United Kingdom",
                                 "LS6 2QD",
                                 "callum.o'brien@example.com",
                                 "bigfrog902",
                                 "1975-06-30T23:59:59.999Z",
                                 "2004-01-01T00:00:00.000Z",
                                 "016977 3412",
                                 "https://randomuser.me/api/portraits/med/men/33.jpg"};
static const struct expect de = {"4d3c2b1a-0f9e-4d8c-b7a6-958473625140",
                                 "Jördis",
                                 "Größ",
                                 "female",
                                 "312 Schulstraße, Nürnberg, Bayern, Germany",
                                 "90402",
                                 "jördis.größ@example.com",
                                 "silverkoala77",
                                 "1962-02-14T04:05:06.070Z",
                                 "2016-08-08T16:16:16.161Z",
                                 "0911-4815162",
                                 "https://randomuser.me/api/portraits/med/women/5.jpg"};
static const struct expect ir = {"c1b2a3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                                 "آرمین",
                                 "رضایی",
                                 "male",
                                 "8765 شهید رجایی, تهران, تهران, Iran",
                                 "52104",
                                 "آرمین.رضایی@example.com",
                                 "lazylion313",
                                 "1990-09-23T11:11:11.111Z",
                                 "2019-03-21T08:30:00.250Z",
                                 "021-55443322",
                                 "https://randomuser.me/api/portraits/med/men/64.jpg"};
static const struct expect no = {"e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9",
                                 "Åse",
                                 "Ødegård",
                                 "female",
                                 "45 Kirkeveien, Oslo, Oslo, Norway",
                                 "0150",
                                 "åse.ødegård@example.com",
                                 "tinyduck210",
                                 "2001-12-31T18:45:00.500Z",
                                 "2020-02-29T02:02:02.202Z",
                                 "22345678",
                                 "https://randomuser.me/api/portraits/med/women/90.jpg"};
static const struct expect ca = {"18273645-5463-4a2b-9c1d-0e9f8a7b6c5d",
                                 "Émile",
                                 "Côté",
                                 "male",
                                 "2290 Rue Principale, Québec, Québec, Canada",
                                 "G1R 4P5",
                                 "émile.côté@example.com",
                                 "bluepanda555",
                                 "1958-07-04T09:00:00.000Z",
                                 "2003-05-05T05:05:05.005Z",
                                 "418-555-0199",
                                 "https://randomuser.me/api/portraits/med/men/41.jpg"};

static const struct expect ua = {"a1b2c3d4-e5f6-4789-abcd-ef0123456789",
                                 "Олена",
                                 "Шевченко",
                                 "female",
                                 "17 Хрещатик, Київ, Київська, Ukraine",
                                 "1001",
                                 "олена.шевченко@example.com",
                                 "whitegoose648",
                                 "1983-03-08T10:20:30.400Z",
                                 "2012-10-10T10:10:10.100Z",
                                 "(044) 555-1234",
                                 "https://randomuser.me/api/portraits/med/women/22.jpg"};
static const struct expect fi = {"b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e",
                                 "Väinö",
                                 "Mäkelä",
                                 "male",
                                 "5501 Hämeenkatu, Tampere, Pirkanmaa, Finland",
                                 "33100",
                                 "väinö.mäkelä@example.com",
                                 "heavybear823",
                                 "1969-12-31T23:59:59.000Z",
                                 "2002-06-15T14:00:00.000Z",
                                 "03-555-123",
                                 "https://randomuser.me/api/portraits/med/men/3.jpg"};
static const struct expect tr = {"c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f",
                                 "Gülsüm",
                                 "Öztürk",
                                 "female",
                                 "9012 Atatürk Sk, İstanbul, İstanbul, Turkey",
                                 "34710",
                                 "gülsüm.öztürk@example.com",
                                 "sadtiger104",
                                 "1995-05-19T19:19:19.190Z",
                                 "2018-11-11T11:11:11.111Z",
                                 "(212)-555-0101",
                                 "https://randomuser.me/api/portraits/med/women/77.jpg"};
static const struct expect rs = {"d4e5f6a7-b8c9-4d0e-9f1a-3b4c5d6e7f80",
                                 "Ђорђе",
                                 "Јовановић",
                                 "male",
                                 "66 Кнеза Милоша, Београд, Београд, Serbia",
                                 "11000",
                                 "ђорђе.јовановић@example.com",
                                 "greenwolf999",
                                 "1979-01-07T07:07:07.070Z",
                                 "2009-09-09T09:09:09.090Z",
                                 "011-5551-234",
                                 "https://randomuser.me/api/portraits/med/men/58.jpg"};
static const struct expect br = {"e5f6a7b8-c9d0-4e1f-8a2b-4c5d6e7f8091",
                                 "Conceição",
                                 "Araújo",
                                 "female",
                                 "1234 Rua São Jorge, Niterói, Rio de Janeiro, Brazil",
                                 "24020",
                                 "conceição.araújo@example.com",
                                 "redpeacock352",
                                 "1988-08-08T08:08:08.080Z",
                                 "2014-04-14T14:14:14.140Z",
                                 "(21) 5555-1234",
                                 "https://randomuser.me/api/portraits/med/women/19.jpg"};
static const struct expect nz = {"f6a7b8c9-d0e1-4f2a-9b3c-5d6e7f8091a2",
                                 "Nikau",
                                 "Te Rangi",
                                 "male",
                                 "88 Cuba Street, Wellington, Wellington, New Zealand",
                                 "6011",
                                 "nikau.terangi@example.com",
                                 "purplezebra612",
                                 "1999-10-10T10:10:10.010Z",
                                 "2021-07-07T07:07:07.070Z",
                                 "(049)-555-0134",
                                 "https://randomuser.me/api/portraits/med/men/8.jpg"};

static const struct expect e_upper = {"0b7c6a7e-5d1f-4c3a-9e2b-8f4d3c2b1a10",
                                      "Dwayne",
                                      "Fuller",
                                      "male",
                                      "12B Main St, Austin, Texas, United States",
                                      "73301",
                                      "dwayne.fuller@example.com",
                                      "yellowdog101",
                                      "1970-01-01T00:00:00.000Z",
                                      "2010-10-10T10:10:10.000Z",
                                      "(512) 555-0100",
                                      "https://randomuser.me/api/portraits/med/men/1.jpg"};
static const struct expect e_baduuid = {NULL,
                                        "Ruby",
                                        "Walker",
                                        "female",
                                        "7 George St, Sydney, New South Wales, Australia",
                                        "2000",
                                        "ruby.walker@example.com",
                                        "tinycat007",
                                        "1991-01-01T01:01:01.001Z",
                                        "2011-01-01T01:01:01.001Z",
                                        "02-5555-1234",
                                        "https://randomuser.me/api/portraits/med/women/2.jpg"};
static const struct expect e_escape = {"11111111-2222-4333-8444-555555555555",
                                       "Zoë \"Zo\"",
                                       "Back\\slash",
                                       "female",
                                       "10 Tab\tStreet, New\nport, Gwent, United Kingdom",
                                       "NP20 1AA",
                                       "zoë \"zo\".back\\slash@example.com",
                                       "bigbird111",
                                       "1980-02-02T02:02:02.002Z",
                                       "2005-05-05T05:05:05.005Z",
                                       "01632 960000",
                                       "https://randomuser.me/api/portraits/med/women/3.jpg"};
static const struct expect e_nil = {NULL,
                                    "Daan",
                                    "de Jong",
                                    "male",
                                    "3 Dorpsstraat, Utrecht, Utrecht, Netherlands",
                                    "1234.5",
                                    "daan.dejong@example.com",
                                    "blackcat444",
                                    "1972-07-07T07:07:07.007Z",
                                    "2008-08-08T08:08:08.008Z",
                                    "(030) 5551234",
                                    "https://randomuser.me/api/portraits/med/men/6.jpg"};
/* 0xff, a truncated 2-byte sequence before '(', and an overlong 2-byte '/' (two bytes, each
 * invalid on its own): four replacements. */
static const struct expect e_utf8 = {"44444444-5555-4666-8777-888888888888",
                                     "Léa",
                                     "Le\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbdx",
                                     "female",
                                     "9 Rue Principale, Lyon, Rhône, France",
                                     "69001",
                                     "léa.badbytes@example.com",
                                     "redfrog555",
                                     "1993-07-20T09:44:18.674Z",
                                     "2013-03-13T13:13:13.013Z",
                                     "04-55-55-12-34",
                                     "https://randomuser.me/api/portraits/med/women/7.jpg"};

static void test_bodies(void)
{
    size_t len;
    const cJSON *results;
    enum fmt_body_status st = FMT_BODY_OK;
    struct sl_err err;
    char *body = read_data("error.json", &len);
    CHECK(body && fmt_parse_body(body, len, &results, &st, &err) == NULL);
    CHECK_EQ_INT(st, FMT_BODY_API_ERROR);
    CHECK(strstr(err.msg, "Uh oh") != NULL);
    free(body);
    body = read_data("truncated.json", &len);
    CHECK(body && fmt_parse_body(body, len, &results, &st, &err) == NULL);
    CHECK_EQ_INT(st, FMT_BODY_MALFORMED);
    free(body);
    CHECK(fmt_parse_body("{\"info\":{}}", 11, &results, &st, &err) == NULL);
    CHECK_EQ_INT(st, FMT_BODY_MALFORMED);
    CHECK(fmt_parse_body("", 0, &results, &st, &err) == NULL);
    CHECK(fmt_parse_body("[1,2]", 5, &results, &st, &err) == NULL);
}

/* Valid UTF-8 prefix by decoding code points (a formulation independent of jsonw.c's): a
 * sequence is valid when its continuation bytes are there, it is the shortest form of its
 * code point, and the code point is not a surrogate and at most U+10FFFF. */
static size_t utf8_prefix_ref(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], len = c < 0x80         ? 1
                                 : (c >> 5) == 6  ? 2
                                 : (c >> 4) == 14 ? 3
                                 : (c >> 3) == 30 ? 4
                                                  : 0;
        if (len == 0 || i + len > n)
            return i;
        unsigned cp = len == 1 ? c : c & (0x7fu >> len);
        for (unsigned k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (p[i + k] & 0x3fu);
        }
        static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return i;
        i += len;
    }
    return n;
}

/* The word-at-a-time validator against the reference on random text: ASCII runs of every
 * length around 8-byte words, valid sequences, and stray bytes. */
static void test_utf8_random(void)
{
    static const char *const seqs[] = {"\xc3\xa9",     "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                       "\xed\xa0\x80", "\xc0\xaf",     "\xf4\x90\x80\x80",
                                       "\xe0\xa0\x80", "\x80",         "\xff",
                                       "\xc3",         "\xf0\x9f\x98"};
    unsigned seed = 4242;
    int bad = 0;
    unsigned char buf[96];
    for (int round = 0; round < 20000; round++) {
        size_t n = 0;
        while (n < sizeof(buf) - 8) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 8) % 100;
            if (r < 70) {
                size_t run = (seed >> 16) % 20;
                for (size_t k = 0; k < run && n < sizeof(buf) - 8; k++)
                    buf[n++] = (unsigned char)('a' + (k % 26));
            } else {
                const char *q = seqs[r < 90 ? (seed >> 16) % 3 : (seed >> 16) % 11];
                size_t l = strlen(q);
                memcpy(buf + n, q, l);
                n += l;
            }
            if (((seed >> 12) & 7) == 0)
                break;
        }
        for (size_t from = 0; from < 3 && from <= n; from++)
            bad += utf8_valid_prefix((const char *)buf + from, n - from) !=
                   utf8_prefix_ref(buf + from, n - from);
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_uuid_and_utf8(void)
{
    CHECK(fmt_uuid_valid("7a0eed16-9430-4d68-901f-c0d4c1c3bf00"));
    CHECK(fmt_uuid_valid("7A0EED16-9430-4D68-901F-C0D4C1C3BF00"));
    CHECK(!fmt_uuid_valid("00000000-0000-0000-0000-000000000000"));
    CHECK(!fmt_uuid_valid("7a0eed16-9430-4d68-901f-c0d4c1c3bf0"));
    CHECK(!fmt_uuid_valid("7a0eed16x9430-4d68-901f-c0d4c1c3bf00"));
    CHECK(!fmt_uuid_valid("7a0eed16-9430-4d68-901f-c0d4c1c3bf0g"));
    CHECK(!fmt_uuid_valid(NULL));
    char a[FMT_UUID_LEN + 1], b[FMT_UUID_LEN + 1];
    fmt_uuid_random(a);
    fmt_uuid_random(b);
    CHECK(fmt_uuid_valid(a) && fmt_uuid_valid(b) && strcmp(a, b) != 0);

    CHECK_EQ_INT(utf8_valid_prefix("a\xc3\xa9", 3), 3);
    CHECK_EQ_INT(utf8_valid_prefix("\xed\xa0\x80", 3), 0);     /* surrogate */
    CHECK_EQ_INT(utf8_valid_prefix("\xe0\x80\xaf", 3), 0);     /* overlong */
    CHECK_EQ_INT(utf8_valid_prefix("\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
    CHECK_EQ_INT(utf8_valid_prefix("\xf0\x9f\x98\x80", 4), 4); /* emoji */
    CHECK_EQ_INT(utf8_valid_prefix("ab\xe2\x82", 4), 2);       /* truncated */

    struct buf o;
    buf_init(&o, 64);
    int rep = 0;
    CHECK(jsonw_str(&o, "a\x01\"\xff", 4, &rep) == 0);
    CHECK_EQ_INT(rep, 1);
    CHECK(o.len == 14 && memcmp(o.data, "\"a\\u0001\\\"\xef\xbf\xbd\"", 14) == 0);
    buf_reset(&o);
    CHECK(jsonw_int(&o, -9223372036854775807LL - 1) == 0);
    CHECK(o.len == 20 && memcmp(o.data, "-9223372036854775808", 20) == 0);
    /* Near the maximum the exact size is used, and past it the write fails cleanly. */
    struct buf small;
    buf_init(&small, 8);
    CHECK(jsonw_str(&small, "abcdef", 6, NULL) == 0);
    CHECK(jsonw_str(&small, "x", 1, NULL) == -1);
    CHECK_EQ_INT(small.len, 8);
    buf_free(&small);
    buf_free(&o);
}

int main(void)
{
    const struct expect *mixed[] = {&us, &gb, &de, &ir, &no, &ca};
    check_file("mixed_nat.json", mixed, 6, 0);
    const struct expect *more[] = {&ua, &fi, &tr, &rs, &br, &nz};
    check_file("more_nat.json", more, 6, 0);
    const struct expect *edge[] = {&e_upper, &e_baduuid, &e_escape, NULL, NULL, &e_nil, &e_utf8};
    check_file("edge_cases.json", edge, 7, 4);
    test_bodies();
    test_uuid_and_utf8();
    test_utf8_random();
    return check_summary();
}
