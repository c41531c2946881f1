/* The randomuser-compatible generator. JSON is written by hand into a bounded buffer (see
 * core/jsonw.h): building cJSON trees and printing them costs several times more per user,
 * and the mock API is on the benchmark path. */
#include "mockapi/gen.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/jsonw.h"
#include "core/units.h"

/* Upper bound on the JSON of one user: the longest table strings, escaped, fit well below. */
#define USER_MAX 4096

static const char *const field_names[] = {"gender", "name",       "location", "email",
                                          "login",  "registered", "dob",      "phone",
                                          "cell",   "id",         "picture",  "nat"};

/* splitmix64: tiny, fast, and good enough for synthetic data; never used for secrets. */
struct prng {
    uint64_t s;
};

static uint64_t prng_next(struct prng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) for n < 2^32, by multiply-shift instead of a modulo. */
static uint32_t prng_below(struct prng *r, uint32_t n)
{
    return (uint32_t)(((prng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static int64_t prng_range(struct prng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(prng_next(r) % (uint64_t)(hi - lo + 1));
}

static uint64_t hash_seed(const char *seed)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)seed; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void prng_for_user(struct prng *r, uint64_t seedhash, int64_t page, int64_t index)
{
    struct prng m = {seedhash ^ ((uint64_t)page * 0xd6e8feb86659fd93ull)};
    r->s = prng_next(&m) ^ ((uint64_t)index * 0x9e6c63d0676a9a99ull);
    prng_next(r); /* decorrelate neighbouring indexes */
}

void mockapi_req_init(struct mockapi_req *req)
{
    memset(req, 0, sizeof(*req));
    req->results = 1;
    req->page = 1;
    req->fields = MF_ALL;
    req->gender = MG_ANY;
}

/* Calls fn for each comma-separated token of list (spaces trimmed); stops at the first error. */
static int for_each_token(const char *list, int (*fn)(const char *tok, void *ctx), void *ctx,
                          struct sl_err *err, const char *what)
{
    const char *p = list;
    int n = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len > 0) {
            char tok[32];
            if (len >= sizeof(tok))
                return sl_err_set(err, "%s '%.*s...' is too long", what, 16, p);
            memcpy(tok, p, len);
            tok[len] = '\0';
            if (fn(tok, ctx) != 0)
                return sl_err_set(err, "unknown %s '%s'", what, tok);
            n++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (n == 0)
        return sl_err_set(err, "empty %s list", what);
    return 0;
}

static int nat_token(const char *tok, void *ctx)
{
    uint32_t *mask = ctx;
    for (int i = 0; i < MOCKAPI_NNAT; i++) {
        if (strcasecmp(tok, mockapi_nats[i].code) == 0) {
            *mask |= 1u << i;
            return 0;
        }
    }
    return -1;
}

int mockapi_nat_parse(const char *list, uint32_t *mask, struct sl_err *err)
{
    *mask = 0;
    if (for_each_token(list, nat_token, mask, err, "nationality") != 0) {
        size_t n = strlen(err ? err->msg : "");
        if (err && n < sizeof(err->msg))
            snprintf(err->msg + n, sizeof(err->msg) - n,
                     " (known: AU BR CA CH DE DK ES FI FR GB IE IN IR MX NL NO NZ RS TR UA US)");
        return -1;
    }
    return 0;
}

static int field_token(const char *tok, void *ctx)
{
    unsigned *mask = ctx;
    for (unsigned i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++) {
        if (strcasecmp(tok, field_names[i]) == 0) {
            *mask |= 1u << i;
            return 0;
        }
    }
    return -1;
}

int mockapi_fields_parse(const char *list, unsigned *mask, struct sl_err *err)
{
    *mask = 0;
    return for_each_token(list, field_token, mask, err, "field");
}

int mockapi_req_parse(const struct mockapi_query *q, struct mockapi_req *req, struct sl_err *err)
{
    struct sl_err e;
    int64_t v;
    mockapi_req_init(req);
    if (q->results && *q->results) {
        if (parse_int(q->results, INT64_MIN, INT64_MAX, &v, &e) != 0)
            return sl_err_set(err, "results: %s", e.msg);
        req->results = v < 1 ? 1 : v > MOCKAPI_MAX_RESULTS ? MOCKAPI_MAX_RESULTS : (int)v;
    }
    if (q->page && *q->page) {
        if (parse_int(q->page, 1, 1000000000, &v, &e) != 0)
            return sl_err_set(err, "page: %s", e.msg);
        req->page = v;
    }
    if (q->seed && *q->seed) {
        size_t n = strlen(q->seed);
        if (n > MOCKAPI_SEED_MAX)
            return sl_err_set(err, "seed is longer than %d characters", MOCKAPI_SEED_MAX);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)q->seed[i];
            if (c <= 0x20 || c >= 0x7f)
                return sl_err_set(err, "seed must be printable ASCII without spaces");
        }
        memcpy(req->seed, q->seed, n + 1);
    }
    if (q->nat && *q->nat && mockapi_nat_parse(q->nat, &req->nat_mask, err) != 0)
        return -1;
    unsigned mask;
    if (q->inc && *q->inc) {
        if (mockapi_fields_parse(q->inc, &mask, err) != 0)
            return -1;
        req->fields = mask;
    }
    if (q->exc && *q->exc) {
        if (mockapi_fields_parse(q->exc, &mask, err) != 0)
            return -1;
        req->fields &= ~mask;
    }
    if (q->gender && *q->gender) {
        if (strcasecmp(q->gender, "male") == 0)
            req->gender = MG_MALE;
        else if (strcasecmp(q->gender, "female") == 0)
            req->gender = MG_FEMALE;
        else
            return sl_err_set(err, "gender must be male or female");
    }
    if (q->format && *q->format && strcasecmp(q->format, "json") != 0)
        return sl_err_set(err, "format '%.32s' is not supported here (json only)", q->format);
    req->noinfo = q->noinfo;
    return 0;
}

void mockapi_random_seed(char seed[MOCKAPI_SEED_MAX + 1])
{
    uint64_t v;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
        v = (uint64_t)mono_us() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    snprintf(seed, MOCKAPI_SEED_MAX + 1, "%016llx", (unsigned long long)v);
}

size_t mockapi_response_max(int n)
{
    return 256 + (size_t)MOCKAPI_SEED_MAX * 6 + (size_t)(n > 0 ? n : 1) * USER_MAX;
}

/* Civil date from days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's method). */
struct civil {
    int y, m, d;
};

static struct civil civil_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    struct civil c;
    c.d = (int)(doy - (153 * mp + 2) / 5 + 1);
    c.m = (int)(mp < 10 ? mp + 3 : mp - 9);
    c.y = (int)(yoe + era * 400 + (c.m <= 2));
    return c;
}

static void put_digits(char *o, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        o[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL) for ms since the epoch; returns the date. */
static struct civil iso_date(int64_t ms, char out[25])
{
    /* Floor division: dates before 1970 have negative ms. */
    int64_t msec = ((ms % 1000) + 1000) % 1000;
    int64_t secs = (ms - msec) / 1000;
    int64_t sod = ((secs % 86400) + 86400) % 86400;
    int64_t days = (secs - sod) / 86400;
    struct civil c = civil_from_days(days);
    put_digits(out, c.y, 4);
    out[4] = '-';
    put_digits(out + 5, c.m, 2);
    out[7] = '-';
    put_digits(out + 8, c.d, 2);
    out[10] = 'T';
    put_digits(out + 11, sod / 3600, 2);
    out[13] = ':';
    put_digits(out + 14, sod / 60 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, sod % 60, 2);
    out[19] = '.';
    put_digits(out + 20, msec, 3);
    out[23] = 'Z';
    out[24] = '\0';
    return c;
}

static int age_at(struct civil born, struct civil today)
{
    int age = today.y - born.y;
    if (today.m < born.m || (today.m == born.m && today.d < born.d))
        age--;
    return age < 0 ? 0 : age;
}

/* Expands a pattern ('#' digit, 'N' 1-9, 'A' letter) into out (NUL-terminated). */
static void fill_pattern(struct prng *r, const char *pat, char *out, size_t cap)
{
    size_t i = 0;
    for (; pat[i] && i + 1 < cap; i++) {
        switch (pat[i]) {
        case '#':
            out[i] = (char)('0' + prng_below(r, 10));
            break;
        case 'N':
            out[i] = (char)('1' + prng_below(r, 9));
            break;
        case 'A':
            out[i] = (char)('A' + prng_below(r, 26));
            break;
        default:
            out[i] = pat[i];
        }
    }
    out[i] = '\0';
}

static void fill_charset(struct prng *r, const char *set, size_t nset, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = set[prng_below(r, (uint32_t)nset)];
    out[n] = '\0';
}

static void fill_uuid4(struct prng *r, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = prng_next(r), b = prng_next(r);
    unsigned char bytes[16];
    for (int i = 0; i < 8; i++) {
        bytes[i] = (unsigned char)(a >> (i * 8));
        bytes[8 + i] = (unsigned char)(b >> (i * 8));
    }
    bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40); /* version 4 */
    bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[bytes[i] >> 4];
        out[o++] = hex[bytes[i] & 15];
    }
    out[o] = '\0';
}

/* "-12.3456" from a value in ten-thousandths. */
static void fmt_coord(int64_t v, char *out, size_t cap)
{
    int64_t a = v < 0 ? -v : v;
    snprintf(out, cap, "%s%lld.%04lld", v < 0 ? "-" : "", (long long)(a / 10000),
             (long long)(a % 10000));
}

/* Lower-cases ASCII letters and drops spaces and apostrophes, as randomuser's emails do. */
static size_t email_part(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ' || c == '\'')
            continue;
        out[o++] = (char)(c < 0x80 ? tolower(c) : c);
    }
    out[o] = '\0';
    return o;
}

static int put_str_field(struct buf *b, const char *key, const char *val)
{
    int rc = jsonw_key(b, key);
    rc |= jsonw_cstr(b, val);
    return rc;
}

static int gen_user(struct buf *b, const struct mockapi_req *req, const uint8_t *nats, int nnats,
                    struct prng *r, struct civil today)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static const char hexd[] = "0123456789abcdef";
    const struct mockapi_nat *nat = &mockapi_nats[nats[prng_below(r, (uint32_t)nnats)]];
    bool male = req->gender == MG_MALE || (req->gender == MG_ANY && prng_below(r, 2) == 0);
    bool ch = strcmp(nat->code, "CH") == 0;
    const char *title;
    if (male) {
        title = ch ? "Monsieur" : "Mr";
    } else {
        static const char *const ft[] = {"Ms", "Mrs", "Miss"};
        static const char *const ft_ch[] = {"Madame", "Mademoiselle", "Madame"};
        uint32_t t = prng_below(r, 3);
        title = ch ? ft_ch[t] : ft[t];
    }
    const char *first = male ? nat->male[prng_below(r, (uint32_t)nat->nmale)]
                             : nat->female[prng_below(r, (uint32_t)nat->nfemale)];
    const char *last = nat->last[prng_below(r, (uint32_t)nat->nlast)];
    const char *street = nat->streets[prng_below(r, (uint32_t)nat->nstreets)];
    const struct mockapi_city *city = &nat->cities[prng_below(r, (uint32_t)nat->ncities)];
    int street_no = (int)prng_range(r, 1, 9999);
    char postcode[16], lat[16], lon[16], phone[24], cell[24], idval[24];
    fill_pattern(r, nat->postcode, postcode, sizeof(postcode));
    fmt_coord(prng_range(r, -900000, 900000), lat, sizeof(lat));
    fmt_coord(prng_range(r, -1800000, 1800000), lon, sizeof(lon));
    const struct mockapi_tz *tz = &mockapi_tzs[prng_below(r, (uint32_t)mockapi_ntzs)];

    char uuid[37], username[48], salt[9], md5[33], sha1[41], sha256[65];
    fill_uuid4(r, uuid);
    snprintf(username, sizeof(username), "%s%s%d",
             mockapi_adjectives[prng_below(r, (uint32_t)mockapi_nadjectives)],
             mockapi_animals[prng_below(r, (uint32_t)mockapi_nanimals)],
             (int)prng_range(r, 100, 999));
    const char *password = mockapi_passwords[prng_below(r, (uint32_t)mockapi_npasswords)];
    fill_charset(r, alnum, sizeof(alnum) - 1, salt, 8);
    /* Hash-shaped hex, not real digests of password+salt: nothing downstream checks them. */
    fill_charset(r, hexd, 16, md5, 32);
    fill_charset(r, hexd, 16, sha1, 40);
    fill_charset(r, hexd, 16, sha256, 64);

    /* dob 1944..2004, registered 2002..2022, both with millisecond precision. */
    char dob[25], reg[25];
    struct civil dob_c = iso_date(prng_range(r, -820454400000LL, 1104537599999LL), dob);
    struct civil reg_c = iso_date(prng_range(r, 1009843200000LL, 1672531199999LL), reg);
    fill_pattern(r, nat->phone, phone, sizeof(phone));
    fill_pattern(r, nat->cell, cell, sizeof(cell));
    if (nat->id_value)
        fill_pattern(r, nat->id_value, idval, sizeof(idval));
    int pic = (int)prng_below(r, 100);

    unsigned f = req->fields;
    int rc = 0;
    bool first_field = true;
#define SEP()                                                                                      \
    do {                                                                                           \
        if (!first_field)                                                                          \
            rc |= jsonw_raw(b, ",");                                                               \
        first_field = false;                                                                       \
    } while (0)

    rc |= jsonw_raw(b, "{");
    if (f & MF_GENDER) {
        SEP();
        rc |= put_str_field(b, "gender", male ? "male" : "female");
    }
    if (f & MF_NAME) {
        SEP();
        rc |= jsonw_raw(b, "\"name\":{");
        rc |= put_str_field(b, "title", title);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "first", first);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "last", last);
        rc |= jsonw_raw(b, "}");
    }
    if (f & MF_LOCATION) {
        SEP();
        rc |= jsonw_raw(b, "\"location\":{\"street\":{\"number\":");
        rc |= jsonw_int(b, street_no);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "name", street);
        rc |= jsonw_raw(b, "},");
        rc |= put_str_field(b, "city", city->city);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "state", city->state);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "country", nat->country);
        rc |= jsonw_raw(b, ",\"postcode\":");
        rc |= nat->postcode_num ? jsonw_raw(b, postcode) : jsonw_cstr(b, postcode);
        rc |= jsonw_raw(b, ",\"coordinates\":{");
        rc |= put_str_field(b, "latitude", lat);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "longitude", lon);
        rc |= jsonw_raw(b, "},\"timezone\":{");
        rc |= put_str_field(b, "offset", tz->offset);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "description", tz->description);
        rc |= jsonw_raw(b, "}}");
    }
    if (f & MF_EMAIL) {
        char email[256];
        size_t n = email_part(first, email, 100);
        email[n++] = '.';
        n += email_part(last, email + n, 100);
        snprintf(email + n, sizeof(email) - n, "@example.com");
        SEP();
        rc |= put_str_field(b, "email", email);
    }
    if (f & MF_LOGIN) {
        SEP();
        rc |= jsonw_raw(b, "\"login\":{");
        rc |= put_str_field(b, "uuid", uuid);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "username", username);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "password", password);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "salt", salt);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "md5", md5);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "sha1", sha1);
        rc |= jsonw_raw(b, ",");
        rc |= put_str_field(b, "sha256", sha256);
        rc |= jsonw_raw(b, "}");
    }
    if (f & MF_DOB) {
        SEP();
        rc |= jsonw_raw(b, "\"dob\":{");
        rc |= put_str_field(b, "date", dob);
        rc |= jsonw_raw(b, ",\"age\":");
        rc |= jsonw_int(b, age_at(dob_c, today));
        rc |= jsonw_raw(b, "}");
    }
    if (f & MF_REGISTERED) {
        SEP();
        rc |= jsonw_raw(b, "\"registered\":{");
        rc |= put_str_field(b, "date", reg);
        rc |= jsonw_raw(b, ",\"age\":");
        rc |= jsonw_int(b, age_at(reg_c, today));
        rc |= jsonw_raw(b, "}");
    }
    if (f & MF_PHONE) {
        SEP();
        rc |= put_str_field(b, "phone", phone);
    }
    if (f & MF_CELL) {
        SEP();
        rc |= put_str_field(b, "cell", cell);
    }
    if (f & MF_ID) {
        SEP();
        rc |= jsonw_raw(b, "\"id\":{");
        rc |= put_str_field(b, "name", nat->id_name);
        rc |= jsonw_raw(b, ",\"value\":");
        rc |= nat->id_value ? jsonw_cstr(b, idval) : jsonw_raw(b, "null");
        rc |= jsonw_raw(b, "}");
    }
    if (f & MF_PICTURE) {
        const char *who = male ? "men" : "women";
        char url[96];
        SEP();
        rc |= jsonw_raw(b, "\"picture\":{");
        snprintf(url, sizeof(url), "https://randomuser.me/api/portraits/%s/%d.jpg", who, pic);
        rc |= put_str_field(b, "large", url);
        rc |= jsonw_raw(b, ",");
        snprintf(url, sizeof(url), "https://randomuser.me/api/portraits/med/%s/%d.jpg", who, pic);
        rc |= put_str_field(b, "medium", url);
        rc |= jsonw_raw(b, ",");
        snprintf(url, sizeof(url), "https://randomuser.me/api/portraits/thumb/%s/%d.jpg", who, pic);
        rc |= put_str_field(b, "thumbnail", url);
        rc |= jsonw_raw(b, "}");
    }
    if (f & MF_NAT) {
        SEP();
        rc |= put_str_field(b, "nat", nat->code);
    }
#undef SEP
    rc |= jsonw_raw(b, "}");
    return rc ? -1 : 0;
}

int mockapi_generate(const struct mockapi_req *req, struct buf *out, struct sl_err *err)
{
    if (req->results < 1 || req->results > MOCKAPI_MAX_RESULTS)
        return sl_err_set(err, "results must be 1..%d", MOCKAPI_MAX_RESULTS);
    if (req->page < 1)
        return sl_err_set(err, "page must be >= 1");
    uint8_t nats[MOCKAPI_NNAT];
    int nnats = 0;
    for (int i = 0; i < MOCKAPI_NNAT; i++) {
        if (req->nat_mask == 0 || (req->nat_mask & (1u << i)))
            nats[nnats++] = (uint8_t)i;
    }
    if (nnats == 0)
        return sl_err_set(err, "no nationality selected");

    /* Ages are relative to today, as randomuser's are; everything else depends only on the
     * seed, the page and the index. */
    struct civil today = civil_from_days(now_ms() / 86400000);
    uint64_t seedhash = hash_seed(req->seed);
    int rc = jsonw_raw(out, "{\"results\":[");
    for (int i = 0; i < req->results && rc == 0; i++) {
        if (i > 0)
            rc |= jsonw_raw(out, ",");
        /* Reserving the per-user bound up front makes the many small appends below cheap
         * and makes running out of room an all-or-nothing event. */
        if (buf_reserve(out, USER_MAX) != 0) {
            rc = -1;
            break;
        }
        struct prng r;
        prng_for_user(&r, seedhash, req->page, i);
        rc |= gen_user(out, req, nats, nnats, &r, today);
    }
    rc |= jsonw_raw(out, "]");
    if (!req->noinfo) {
        rc |= jsonw_raw(out, ",\"info\":{");
        rc |= put_str_field(out, "seed", req->seed);
        rc |= jsonw_raw(out, ",\"results\":");
        rc |= jsonw_int(out, req->results);
        rc |= jsonw_raw(out, ",\"page\":");
        rc |= jsonw_int(out, req->page);
        rc |= jsonw_raw(out, ",\"version\":\"1.4\"}");
    }
    rc |= jsonw_raw(out, "}");
    if (rc != 0)
        return sl_err_set(err, "response for %d users passes the buffer limit of %zu bytes",
                          req->results, out->max);
    return 0;
}
