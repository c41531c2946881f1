/* format_data. The API's JSON is parsed with cJSON (fast enough: ~1.3 M records/s per core);
 * the output is written with jsonw so that it is valid UTF-8 whatever the input held (cJSON
 * passes bytes through unchecked). Users missing a required field are rejected, not padded:
 * an empty name in the store is worse than a counted, logged rejection. */
#include "ingest/format.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/jsonw.h"
#include "core/units.h"
#include "core/uuid.h"

cJSON *fmt_parse_body(const char *body, size_t len, const cJSON **results,
                      enum fmt_body_status *status, struct sl_err *err)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        *status = FMT_BODY_MALFORMED;
        sl_err_set(err, "malformed JSON body (%zu bytes)", len);
        return NULL;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (e) {
        *status = FMT_BODY_API_ERROR;
        sl_err_set(err, "API error: %.200s", cJSON_IsString(e) ? e->valuestring : "(not a string)");
        cJSON_Delete(root);
        return NULL;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "results");
    if (!cJSON_IsArray(r)) {
        *status = FMT_BODY_MALFORMED;
        sl_err_set(err, "JSON body has no \"results\" array");
        cJSON_Delete(root);
        return NULL;
    }
    *status = FMT_BODY_OK;
    *results = r;
    return root;
}

bool fmt_uuid_valid(const char *s)
{
    /* the nil UUID is well-formed but no user's id: replays would collide on it */
    static const uint8_t nil[16];
    uint8_t u[16];
    return s && uuid_parse(s, u) == 0 && memcmp(u, nil, 16) != 0;
}

void fmt_uuid_random(char out[FMT_UUID_LEN + 1])
{
    uint8_t u[16];
    uuid_v4(u);
    uuid_format(u, out);
}

/* Looks up a dotted path ("location.street.name") of object members. */
static const cJSON *get_path(const cJSON *obj, const char *path)
{
    char part[32];
    const char *p = path;
    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, part) : NULL;
        p = dot ? dot + 1 : p + n;
    }
    return obj;
}

static const char *get_str(const cJSON *user, const char *path, struct sl_err *err)
{
    const cJSON *v = get_path(user, path);
    if (!cJSON_IsString(v) || !v->valuestring) {
        sl_err_set(err, "%s %s", v ? "non-string" : "missing", path);
        return NULL;
    }
    return v->valuestring;
}

/* A string, or a number written as an integer when it is one (postcodes, street numbers:
 * randomuser sends either). Writes into out; -1 with err if missing or another type. */
static int get_str_or_num(const cJSON *user, const char *path, char *out, size_t cap,
                          struct sl_err *err)
{
    const cJSON *v = get_path(user, path);
    if (cJSON_IsString(v) && v->valuestring) {
        size_t n = strlen(v->valuestring);
        if (n >= cap)
            return sl_err_set(err, "%s is longer than %zu bytes", path, cap - 1);
        memcpy(out, v->valuestring, n + 1);
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 1e15)
            snprintf(out, cap, "%lld", (long long)d);
        else
            snprintf(out, cap, "%.15g", d);
        return 0;
    }
    return sl_err_set(err, "%s %s", v ? "non-string, non-number" : "missing", path);
}

/* ISO 8601 as randomuser writes it: YYYY-MM-DDTHH:MM:SS, then optional fraction and zone. */
static bool iso_like(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t n = strlen(s);
    if (n < sizeof(shape) - 1 || n > 40)
        return false;
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    }
    for (size_t i = sizeof(shape) - 1; i < n; i++) {
        if (!strchr("0123456789.:+-Z", s[i]))
            return false;
    }
    return true;
}

static int put_field(struct buf *b, const char *key, const char *val, size_t n, int *replaced)
{
    int rc = jsonw_key(b, key);
    rc |= jsonw_str(b, val, n, replaced);
    return rc;
}

int fmt_user(const cJSON *user, struct buf *out, char key[FMT_UUID_LEN + 1], int *replaced,
             struct sl_err *err)
{
    if (!cJSON_IsObject(user))
        return sl_err_set(err, "result is not a JSON object");
    const char *first = get_str(user, "name.first", err);
    const char *last = first ? get_str(user, "name.last", err) : NULL;
    const char *gender = last ? get_str(user, "gender", err) : NULL;
    const char *sname = gender ? get_str(user, "location.street.name", err) : NULL;
    const char *city = sname ? get_str(user, "location.city", err) : NULL;
    const char *state = city ? get_str(user, "location.state", err) : NULL;
    const char *country = state ? get_str(user, "location.country", err) : NULL;
    const char *email = country ? get_str(user, "email", err) : NULL;
    const char *username = email ? get_str(user, "login.username", err) : NULL;
    const char *dob = username ? get_str(user, "dob.date", err) : NULL;
    const char *reg = dob ? get_str(user, "registered.date", err) : NULL;
    const char *phone = reg ? get_str(user, "phone", err) : NULL;
    const char *picture = phone ? get_str(user, "picture.medium", err) : NULL;
    if (!picture)
        return -1;
    char number[64], postcode[64];
    if (get_str_or_num(user, "location.street.number", number, sizeof(number), err) != 0 ||
        get_str_or_num(user, "location.postcode", postcode, sizeof(postcode), err) != 0)
        return -1;
    if (!iso_like(dob))
        return sl_err_set(err, "dob.date '%.40s' is not an ISO 8601 timestamp", dob);
    if (!iso_like(reg))
        return sl_err_set(err, "registered.date '%.40s' is not an ISO 8601 timestamp", reg);

    const cJSON *uuid = get_path(user, "login.uuid");
    if (cJSON_IsString(uuid) && fmt_uuid_valid(uuid->valuestring)) {
        for (int i = 0; i <= FMT_UUID_LEN; i++)
            key[i] = (char)tolower((unsigned char)uuid->valuestring[i]);
    } else {
        fmt_uuid_random(key);
    }

    /* "<street.number> <street.name>, <city>, <state>, <country>", as the seed builds it. */
    char addr[4096];
    int alen =
        snprintf(addr, sizeof(addr), "%s %s, %s, %s, %s", number, sname, city, state, country);
    if (alen < 0 || (size_t)alen >= sizeof(addr))
        return sl_err_set(err, "address is longer than %zu bytes", sizeof(addr) - 1);

    /* Write into out, capped so one record stays below FMT_VALUE_MAX; roll back on failure. */
    size_t start = out->len, saved_max = out->max;
    if (out->max - start > FMT_VALUE_MAX)
        out->max = start + FMT_VALUE_MAX;
    int rc = jsonw_raw(out, "{");
    rc |= put_field(out, "id", key, FMT_UUID_LEN, replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "first_name", first, strlen(first), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "last_name", last, strlen(last), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "gender", gender, strlen(gender), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "address", addr, (size_t)alen, replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "post_code", postcode, strlen(postcode), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "email", email, strlen(email), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "username", username, strlen(username), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "dob", dob, strlen(dob), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "registered_date", reg, strlen(reg), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "phone", phone, strlen(phone), replaced);
    rc |= jsonw_raw(out, ",");
    rc |= put_field(out, "picture", picture, strlen(picture), replaced);
    rc |= jsonw_raw(out, "}");
    out->max = saved_max;
    if (rc != 0) {
        out->len = start;
        return sl_err_set(err, "formatted record would pass %d bytes (or the batch is full)",
                          FMT_VALUE_MAX);
    }
    return 0;
}
