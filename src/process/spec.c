/* The users job spec as data, and the decoder that checks a value against a spec.
 * Choices (docs/process.md): every field is required and must not be null (the producer
 * contract says all 12 are always there); unknown extra members are ignored, so a producer
 * that adds a field does not send the whole stream to the dead-letter topic; a member that
 * appears twice is an error (which one would win is not defined by JSON). */
#include "process/spec.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"
#include "core/uuid.h"

#define SPEC_CHUNK (1u << 20)

static const struct spec_field users_fields[] = {
    {"id", SPEC_UUID, true, "id", 36},
    {"first_name", SPEC_STRING, true, "first_name", 1024},
    {"last_name", SPEC_STRING, true, "last_name", 1024},
    {"gender", SPEC_STRING, true, "gender", 64},
    {"address", SPEC_STRING, true, "address", 4096},
    {"post_code", SPEC_STRING_OR_INT, true, "post_code", 64},
    {"email", SPEC_STRING, true, "email", 1024},
    {"username", SPEC_STRING, true, "username", 1024},
    {"dob", SPEC_STRING, true, "dob", 64},
    {"registered_date", SPEC_STRING, true, "registered_date", 64},
    {"phone", SPEC_STRING, true, "phone", 256},
    {"picture", SPEC_STRING, true, "picture", 4096},
};
#define USERS_NFIELDS ((int)(sizeof(users_fields) / sizeof(users_fields[0])))

/* Column names for the store, derived once from the table above. */
static const char *users_cols[USERS_NFIELDS];
static pthread_once_t users_once = PTHREAD_ONCE_INIT;

static struct job_spec users_spec = {
    .name = "users_created",
    .keyspace = "spark_streams",
    .table = "created_users",
    .fields = users_fields,
    .nfields = USERS_NFIELDS,
    .key_field = 0,
    .max_value_bytes = 64 * 1024,
    .layout = {"spark_streams", "created_users", USERS_NFIELDS, users_cols, 0},
};

static void users_init(void)
{
    for (int i = 0; i < USERS_NFIELDS; i++)
        users_cols[i] = users_fields[i].column;
}

const struct job_spec *spec_users(void)
{
    pthread_once(&users_once, users_init);
    return &users_spec;
}

struct spec_chunk {
    struct spec_chunk *next;
    size_t cap, used;
    char data[];
};

void spec_arena_init(struct spec_arena *a, size_t max)
{
    memset(a, 0, sizeof(*a));
    a->max = max;
}

void spec_arena_reset(struct spec_arena *a)
{
    if (!a->head)
        return;
    struct spec_chunk *c = a->head->next;
    while (c) {
        struct spec_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head->next = NULL;
    a->head->used = 0;
    a->used = 0;
}

void spec_arena_free(struct spec_arena *a)
{
    spec_arena_reset(a);
    free(a->head);
    a->head = NULL;
}

/* Copies n bytes into the arena; NULL when its maximum (or memory) is reached. */
static const char *arena_copy(struct spec_arena *a, const char *s, size_t n)
{
    if (a->used + n > a->max)
        return NULL;
    struct spec_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > SPEC_CHUNK ? n : SPEC_CHUNK;
        struct spec_chunk *nc = malloc(sizeof(*nc) + cap);
        if (!nc)
            return NULL;
        nc->cap = cap;
        nc->used = 0;
        /* The newest chunk is the head; the first chunk kept by reset is the newest one. */
        nc->next = c;
        a->head = nc;
        c = nc;
    }
    char *p = c->data + c->used;
    memcpy(p, s, n);
    c->used += n;
    a->used += n;
    return p;
}

/* cJSON allocates every node and string of a document on its own (~25 mallocs and frees for a
 * users record): malloc and free were 12 % of the stream job's CPU samples in a drain. While
 * spec_decode parses, they come from a buffer on its stack instead (JSON_SCRATCH bytes, bumped;
 * freeing them is a no-op), and from malloc once it is full. The hooks are cJSON's, so they are
 * process-wide: outside spec_decode, and for any pointer outside the buffer, they are malloc
 * and free. */
#define JSON_SCRATCH 8192

struct json_scratch {
    uintptr_t base;
    size_t cap, used;
};

static _Thread_local struct json_scratch *tl_scratch;

static void *json_alloc(size_t n)
{
    struct json_scratch *s = tl_scratch;
    size_t need = (n + 15) & ~(size_t)15;
    if (s && need >= n && s->cap - s->used >= need) {
        void *p = (void *)(s->base + s->used);
        s->used += need;
        return p;
    }
    return malloc(n);
}

static void json_free(void *p)
{
    const struct json_scratch *s = tl_scratch;
    if (s && (uintptr_t)p >= s->base && (uintptr_t)p < s->base + s->cap)
        return;
    free(p);
}

static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void json_hooks(void)
{
    cJSON_Hooks h = {json_alloc, json_free};
    cJSON_InitHooks(&h);
}

void spec_json_init(void)
{
    pthread_once(&json_once, json_hooks);
}

/* True when the JSON text escapes a NUL (\u0000): cJSON would silently cut the string there.
 * Backslashes only occur inside strings in valid JSON, so a plain scan of escapes is exact. */
static bool has_escaped_nul(const char *v, size_t len)
{
    if (!memmem(v, len, "\\u0000", 6))
        return false;
    for (size_t i = 0; i + 1 < len; i++) {
        if (v[i] != '\\')
            continue;
        if (v[i + 1] == 'u' && i + 5 < len && memcmp(v + i + 2, "0000", 4) == 0)
            return true;
        i++; /* skip the escaped character */
    }
    return false;
}

static int bad(char *reason, size_t cap, const char *fmt, const char *name)
{
    snprintf(reason, cap, fmt, name);
    return -1;
}

/* The checks before parsing: size, UTF-8, no escaped NUL. Sets *bs to the first backslash
 * (NULL: none). */
static int precheck(const struct job_spec *spec, const char *value, size_t len, const char **bs,
                    char *reason, size_t cap)
{
    if (!value || len == 0)
        return bad(reason, cap, "%sempty value", "");
    if (len > spec->max_value_bytes) {
        snprintf(reason, cap, "value of %zu bytes is larger than %zu", len, spec->max_value_bytes);
        return -1;
    }
    size_t okp = utf8_valid_prefix(value, len);
    if (okp != len) {
        snprintf(reason, cap, "invalid UTF-8 at byte %zu", okp);
        return -1;
    }
    /* Most records have no backslash at all: one memchr instead of two memmem. The first
     * backslash starts an escape, so the scans can start there. */
    *bs = memchr(value, '\\', len);
    size_t blen = *bs ? len - (size_t)(*bs - value) : 0;
    if (*bs && has_escaped_nul(*bs, blen))
        return bad(reason, cap, "%sNUL character (\\u0000) in a string", "");
    return 0;
}

static bool json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A member value of a plain record: a string ('s'), null ('n') or an integer ('i'), as text. */
struct plain_val {
    const char *s;
    size_t n;
    char kind; /* 0: member not seen */
};

/* Scans a string's body from v[i] (after its opening quote) to its closing quote; no escapes
 * (the caller saw no backslash) and no control characters. Returns the index of the closing
 * quote, or len when the string is not plain. */
static size_t plain_string_end(const char *v, size_t len, size_t i)
{
    for (; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"')
            return i;
        if (c < 0x20)
            return len;
    }
    return len;
}

/* The direct path for a plain record, which is what producers send: one flat JSON object whose
 * members are strings without escapes, nulls or integers, every spec field present once and
 * valid. It parses in place, with no tree, and copies each field once into the arena. Returns
 * 1 with the row filled, -2 when the arena is full, or 0 for anything else (a bad record, an
 * escape, a nested value, a float...), which the cJSON path then decodes, or refuses with its
 * reason: what this path accepts, that path accepts the same way (the fuzz_record target
 * compares the two on every input). */
static int decode_plain(const struct job_spec *spec, const char *v, size_t len,
                        struct spec_arena *arena, struct store_row *row)
{
    struct plain_val seen[STORE_MAX_COLS] = {0};
    size_t i = 0;
    while (i < len && json_ws(v[i]))
        i++;
    if (i == len || v[i] != '{')
        return 0;
    i++;
    int hint = 0;
    for (;;) {
        while (i < len && json_ws(v[i]))
            i++;
        if (i == len || v[i] != '"') /* also an empty object: fields are missing */
            return 0;
        size_t ks = i + 1;
        i = plain_string_end(v, len, ks);
        if (i == len)
            return 0;
        size_t kn = i - ks;
        i++;
        while (i < len && json_ws(v[i]))
            i++;
        if (i == len || v[i] != ':')
            return 0;
        i++;
        while (i < len && json_ws(v[i]))
            i++;
        if (i == len)
            return 0;
        struct plain_val pv;
        if (v[i] == '"') {
            size_t vs = i + 1;
            i = plain_string_end(v, len, vs);
            if (i == len)
                return 0;
            pv = (struct plain_val){v + vs, i - vs, 's'};
            i++;
        } else if (len - i >= 4 && memcmp(v + i, "null", 4) == 0) {
            pv = (struct plain_val){NULL, 0, 'n'};
            i += 4;
        } else {
            /* An integer of up to 15 digits is exact as a double, and "%.0f" of it (the cJSON
             * path) gives back its digits: no leading zero, no "-0". */
            size_t vs = i;
            if (v[i] == '-')
                i++;
            size_t ds = i;
            while (i < len && v[i] >= '0' && v[i] <= '9')
                i++;
            size_t nd = i - ds;
            if (nd == 0 || nd > 15 || (v[ds] == '0' && (nd > 1 || ds > vs)))
                return 0;
            pv = (struct plain_val){v + vs, i - vs, 'i'};
        }
        while (i < len && json_ws(v[i]))
            i++;
        if (i == len || (v[i] != ',' && v[i] != '}'))
            return 0;
        for (int t = 0; t < spec->nfields; t++) {
            int f = hint + t < spec->nfields ? hint + t : hint + t - spec->nfields;
            const char *name = spec->fields[f].name;
            if (strncmp(name, v + ks, kn) == 0 && name[kn] == '\0') {
                if (seen[f].kind) /* a duplicate: the cJSON path says so */
                    return 0;
                seen[f] = pv;
                hint = f + 1 < spec->nfields ? f + 1 : 0;
                break;
            }
        }
        if (v[i++] == '}')
            break;
    }
    while (i < len && json_ws(v[i]))
        i++;
    if (i != len)
        return 0;
    for (int f = 0; f < spec->nfields; f++) {
        const struct spec_field *fd = &spec->fields[f];
        const struct plain_val *pv = &seen[f];
        if (pv->kind == 0 || pv->kind == 'n') {
            if (fd->required)
                return 0;
            continue;
        }
        if ((pv->kind == 'i' && fd->type != SPEC_STRING_OR_INT) || pv->n > (size_t)fd->max_len)
            return 0;
        if (fd->type == SPEC_UUID) {
            char id[37];
            if (pv->n != 36)
                return 0;
            memcpy(id, pv->s, 36);
            id[36] = '\0';
            if (!uuid_valid(id))
                return 0;
        }
    }
    for (int f = 0; f < spec->nfields; f++) {
        const struct plain_val *pv = &seen[f];
        if (pv->kind == 0 || pv->kind == 'n') {
            row->col[f] = "";
            row->len[f] = 0;
            continue;
        }
        const char *copy = arena_copy(arena, pv->s, pv->n);
        if (!copy && pv->n > 0)
            return -2;
        row->col[f] = copy ? copy : "";
        row->len[f] = (uint32_t)pv->n;
    }
    return 1;
}

/* The cJSON path: any valid JSON, and the reason for a bad record. */
static int decode_cjson(const struct job_spec *spec, const char *value, size_t len, const char *bs,
                        struct spec_arena *arena, struct store_row *row, char *reason, size_t cap)
{
    const cJSON *seen[STORE_MAX_COLS] = {0};
    size_t blen = bs ? len - (size_t)(bs - value) : 0;
    /* Without a \u escape the decoded strings are pieces of the (valid) text itself. */
    bool escapes = bs && memmem(bs, blen, "\\u", 2) != NULL;
    const char *end = NULL;
    _Alignas(16) char scratch[JSON_SCRATCH];
    struct json_scratch js = {(uintptr_t)scratch, sizeof(scratch), 0};
    spec_json_init();
    tl_scratch = &js;
    cJSON *doc = cJSON_ParseWithLengthOpts(value, len, &end, 0);
    if (!doc) {
        tl_scratch = NULL;
        size_t at = end && end >= value ? (size_t)(end - value) : 0;
        snprintf(reason, cap, "invalid JSON near byte %zu", at);
        return -1;
    }
    int ret = -1;
    for (size_t i = (size_t)(end - value); i < len; i++) {
        if (value[i] != ' ' && value[i] != '\t' && value[i] != '\n' && value[i] != '\r') {
            snprintf(reason, cap, "invalid JSON: trailing data at byte %zu", i);
            goto out;
        }
    }
    if (!cJSON_IsObject(doc)) {
        bad(reason, cap, "%snot a JSON object", "");
        goto out;
    }
    /* Fields usually come in the spec's order: the search starts after the last match. */
    int hint = 0;
    for (const cJSON *m = doc->child; m; m = m->next) {
        for (int t = 0; m->string && t < spec->nfields; t++) {
            int f = hint + t < spec->nfields ? hint + t : hint + t - spec->nfields;
            if (strcmp(m->string, spec->fields[f].name) == 0) {
                if (seen[f]) {
                    bad(reason, cap, "duplicate field '%s'", m->string);
                    goto out;
                }
                seen[f] = m;
                hint = f + 1 < spec->nfields ? f + 1 : 0;
                break;
            }
        }
    }
    for (int f = 0; f < spec->nfields; f++) {
        const struct spec_field *fd = &spec->fields[f];
        const cJSON *m = seen[f];
        if (!m || cJSON_IsNull(m)) {
            if (fd->required) {
                bad(reason, cap, m ? "field '%s' is null" : "missing field '%s'", fd->name);
                goto out;
            }
            row->col[f] = "";
            row->len[f] = 0;
            continue;
        }
        char num[32];
        const char *s;
        size_t n;
        if (cJSON_IsString(m)) {
            s = m->valuestring;
            n = strlen(s);
        } else if (fd->type == SPEC_STRING_OR_INT && cJSON_IsNumber(m)) {
            double d = m->valuedouble;
            if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) {
                bad(reason, cap, "field '%s' is a number but not an integer", fd->name);
                goto out;
            }
            snprintf(num, sizeof(num), "%.0f", d == 0 ? 0.0 : d);
            s = num;
            n = strlen(num);
        } else {
            bad(reason, cap,
                fd->type == SPEC_STRING_OR_INT ? "field '%s' must be a string or an integer"
                                               : "field '%s' must be a string",
                fd->name);
            goto out;
        }
        if (n > (size_t)fd->max_len) {
            snprintf(reason, cap, "field '%s' is longer than %d bytes", fd->name, fd->max_len);
            goto out;
        }
        /* cJSON turns \uXXXX escapes into bytes without checking them (lone surrogates). */
        if (escapes && utf8_valid_prefix(s, n) != n) {
            bad(reason, cap, "field '%s' is not valid UTF-8", fd->name);
            goto out;
        }
        if (fd->type == SPEC_UUID && !uuid_valid(s)) {
            bad(reason, cap, "field '%s' is not a UUID", fd->name);
            goto out;
        }
        const char *copy = arena_copy(arena, s, n);
        if (!copy && n > 0) {
            ret = -2;
            goto out;
        }
        row->col[f] = copy ? copy : "";
        row->len[f] = (uint32_t)n;
    }
    ret = 0;
out:
    cJSON_Delete(doc);
    tl_scratch = NULL;
    return ret;
}

int spec_decode(const struct job_spec *spec, const char *value, size_t len,
                struct spec_arena *arena, struct store_row *row, char *reason, size_t cap)
{
    const char *bs;
    if (precheck(spec, value, len, &bs, reason, cap) != 0)
        return -1;
    if (!bs) {
        int rc = decode_plain(spec, value, len, arena, row);
        if (rc != 0)
            return rc == 1 ? 0 : rc;
    }
    return decode_cjson(spec, value, len, bs, arena, row, reason, cap);
}

int spec_decode_cjson(const struct job_spec *spec, const char *value, size_t len,
                      struct spec_arena *arena, struct store_row *row, char *reason, size_t cap)
{
    const char *bs;
    if (precheck(spec, value, len, &bs, reason, cap) != 0)
        return -1;
    return decode_cjson(spec, value, len, bs, arena, row, reason, cap);
}
