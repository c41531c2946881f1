/* The users job spec as data, and the decoder that checks a value against a spec.
 * Choices (docs/process.md): every field is required and must not be null (the producer
 * contract says all 12 are always there); unknown extra members are ignored, so a producer
 * that adds a field does not send the whole stream to the dead-letter topic; a member that
 * appears twice is an error (which one would win is not defined by JSON). */
#include "process/spec.h"

#include <cjson/cJSON.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"
#include "core/units.h"
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
static size_t users_name_lens[USERS_NFIELDS];
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
    for (int i = 0; i < USERS_NFIELDS; i++) {
        users_cols[i] = users_fields[i].column;
        users_name_lens[i] = strlen(users_fields[i].name);
    }
    users_spec.name_lens = users_name_lens;
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

/* n bytes of the arena; NULL when its maximum (or memory) is reached. */
static char *arena_alloc(struct spec_arena *a, size_t n)
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
    c->used += n;
    a->used += n;
    return p;
}

/* Copies n bytes into the arena; NULL when its maximum (or memory) is reached. */
static const char *arena_copy(struct spec_arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
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
 * Backslashes only occur inside strings in valid JSON, so a plain scan of escapes is exact.
 * v starts at a backslash; memchr jumps between them (a memmem for the escape first was 4 %
 * of the loop thread, for records with any backslash). */
static bool has_escaped_nul(const char *v, size_t len)
{
    const char *end = v + len;
    for (const char *p = v; p && end - p >= 6; p = memchr(p + 2, '\\', (size_t)(end - p - 2))) {
        if (p[1] == 'u' && memcmp(p + 2, "0000", 4) == 0)
            return true;
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

/* A member value of a plain record, as text: a string ('s', its body between the quotes), null
 * ('n'), an integer ('i') or any other value ('x'). */
struct plain_val {
    const char *s;
    size_t n;
    size_t dn; /* a string's length once its escapes are decoded */
    bool esc;  /* a string with escapes */
    char kind; /* 0: member not seen */
};

#define PLAIN_DEPTH 32 /* deeper values go to cJSON (its limit is 1000) */

static size_t skip_ws(const char *v, size_t len, size_t i)
{
    while (i < len && json_ws(v[i]))
        i++;
    return i;
}

static bool hex4(const char *v, size_t len, size_t i, unsigned *out)
{
    if (len < 4 || i > len - 4)
        return false;
    unsigned x = 0;
    for (size_t k = i; k < i + 4; k++) {
        int d = hex_digit((unsigned char)v[k]);
        if (d < 0)
            return false;
        x = x << 4 | (unsigned)d;
    }
    *out = x;
    return true;
}

/* The first index from i on of a byte in stop (or len). With SSE2 (every x86-64), 16 bytes at
 * a time: '"', '\\' and the bytes up to 0x1F, which is what stop holds. */
static size_t plain_run_end(const char *v, size_t len, size_t i, const unsigned char *stop)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i ctl = _mm_set1_epi8(0x1F);
    while (len - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(v + i));
        /* max(x, 0x1F) == 0x1F: x <= 0x1F as an unsigned byte */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                 _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
        i += 16;
    }
#endif
    while (i < len && !stop[(unsigned char)v[i]])
        i++;
    return i;
}

/* Scans a string's body from v[i] (after its opening quote) to its closing quote. Escapes are
 * taken when cJSON decodes them the same way into valid UTF-8: the two-character ones, and
 * \uXXXX of a code point that is not a surrogate or of a high and low surrogate pair. Returns
 * the index of the closing quote, or len for anything else (a control character, a lone
 * surrogate, a bad escape, no closing quote). *dn gets the decoded length, *esc whether it
 * has escapes. */
static size_t plain_string_end(const char *v, size_t len, size_t i, size_t *dn, bool *esc)
{
    /* 1: a byte that ends a run of plain ones: '"', '\\' or a control character */
    static const unsigned char stop[256] = {
        [0] = 1,  [1] = 1,  [2] = 1,  [3] = 1,  [4] = 1,  [5] = 1,   [6] = 1,    [7] = 1,  [8] = 1,
        [9] = 1,  [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1,  [15] = 1,   [16] = 1, [17] = 1,
        [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1, [23] = 1,  [24] = 1,   [25] = 1, [26] = 1,
        [27] = 1, [28] = 1, [29] = 1, [30] = 1, [31] = 1, ['"'] = 1, ['\\'] = 1,
    };
    size_t n = 0;
    *esc = false;
    while (i < len) {
        size_t run = i;
        i = plain_run_end(v, len, i, stop);
        n += i - run;
        if (i == len)
            break;
        unsigned char c = (unsigned char)v[i];
        if (c == '"') {
            *dn = n;
            return i;
        }
        if (c < 0x20)
            return len;
        *esc = true;
        if (i + 1 >= len)
            return len;
        char e = v[i + 1];
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
            e == 't') {
            n++;
            i += 2;
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || !hex4(v, len, i + 2, &cp) || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return len;
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i + 1 >= len || v[i] != '\\' || v[i + 1] != 'u' || !hex4(v, len, i + 2, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return len;
            i += 6;
            n += 4;
            continue;
        }
        n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
    }
    return len;
}

/* Writes the decoded body of a string that plain_string_end took (s[0..n)) to out; returns its
 * length. */
static size_t plain_unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        char e = s[i + 1];
        if (e != 'u') {
            out[o++] = e == 'b'   ? '\b'
                       : e == 'f' ? '\f'
                       : e == 'n' ? '\n'
                       : e == 'r' ? '\r'
                       : e == 't' ? '\t'
                                  : e;
            i += 2;
            continue;
        }
        unsigned cp = 0, lo = 0xDC00;
        hex4(s, n, i + 2, &cp);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            hex4(s, n, i + 2, &lo);
            i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | cp >> 12);
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | cp >> 18);
            out[o++] = (char)(0x80 | (cp >> 12 & 0x3F));
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

/* Skips the JSON value at v[i]: returns the index after it, or len when the direct path does
 * not take it. Strict RFC 8259 (which cJSON accepts), with plain_string_end's strings, numbers
 * of at most 32 characters (cJSON reads at most 63) and PLAIN_DEPTH levels. */
static size_t plain_skip(const char *v, size_t len, size_t i, int depth)
{
    if (i >= len)
        return len;
    char c = v[i];
    size_t dn;
    bool esc;
    if (c == '"') {
        size_t e = plain_string_end(v, len, i + 1, &dn, &esc);
        return e == len ? len : e + 1;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        if (depth >= PLAIN_DEPTH)
            return len;
        i = skip_ws(v, len, i + 1);
        if (i < len && v[i] == close)
            return i + 1;
        for (;;) {
            if (c == '{') {
                if (i >= len || v[i] != '"')
                    return len;
                i = plain_string_end(v, len, i + 1, &dn, &esc);
                if (i == len)
                    return len;
                i = skip_ws(v, len, i + 1);
                if (i >= len || v[i] != ':')
                    return len;
                i = skip_ws(v, len, i + 1);
            }
            i = plain_skip(v, len, i, depth + 1);
            if (i == len)
                return len;
            i = skip_ws(v, len, i);
            if (i < len && v[i] == ',') {
                i = skip_ws(v, len, i + 1);
                continue;
            }
            return i < len && v[i] == close ? i + 1 : len;
        }
    }
    if (len - i >= 4 && (memcmp(v + i, "null", 4) == 0 || memcmp(v + i, "true", 4) == 0))
        return i + 4;
    if (len - i >= 5 && memcmp(v + i, "false", 5) == 0)
        return i + 5;
    size_t s = i;
    if (v[i] == '-')
        i++;
    if (i < len && v[i] == '0') {
        i++;
    } else if (i < len && v[i] >= '1' && v[i] <= '9') {
        while (i < len && v[i] >= '0' && v[i] <= '9')
            i++;
    } else {
        return len;
    }
    if (i < len && v[i] == '.') {
        size_t d = ++i;
        while (i < len && v[i] >= '0' && v[i] <= '9')
            i++;
        if (i == d)
            return len;
    }
    if (i < len && (v[i] == 'e' || v[i] == 'E')) {
        i++;
        if (i < len && (v[i] == '+' || v[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && v[i] >= '0' && v[i] <= '9')
            i++;
        if (i == d)
            return len;
    }
    return i - s > 32 ? len : i;
}

/* Classifies the value v[vs..ve), not a string, that plain_skip took. */
static struct plain_val plain_classify(const char *v, size_t vs, size_t ve)
{
    struct plain_val pv = {v + vs, ve - vs, 0, false, 'x'};
    if (ve - vs == 4 && memcmp(v + vs, "null", 4) == 0) {
        pv.kind = 'n';
        return pv;
    }
    /* An integer of up to 15 digits is exact as a double, and "%.0f" of it (the cJSON path)
     * gives back its digits: no fraction or exponent, no leading zero, no "-0". */
    size_t ds = vs + (v[vs] == '-');
    size_t nd = ve - ds;
    if (nd == 0 || nd > 15 || (v[ds] == '0' && (nd > 1 || ds > vs)))
        return pv;
    for (size_t k = ds; k < ve; k++) {
        if (v[k] < '0' || v[k] > '9')
            return pv;
    }
    pv.kind = 'i';
    pv.dn = pv.n;
    return pv;
}

/* The direct path for a plain record, which is what producers send: one JSON object whose spec
 * fields are strings (escapes that decode to valid UTF-8 included) or, for post_code, integers,
 * each present once and valid, and whose other members are any JSON within plain_skip's
 * limits. It parses in place, with no tree, and copies (or decodes) each field once into the
 * arena. Returns 1 with the row filled, -2 when the arena is full, or 0 for anything else (a
 * bad record, an escaped member name, a float post_code, a lone surrogate...), which the cJSON
 * path then decodes, or refuses with its reason: what this path accepts, that path accepts the
 * same way (the fuzz_record target compares the two on every input). */
static int decode_plain(const struct job_spec *spec, const char *v, size_t len,
                        struct spec_arena *arena, struct store_row *row)
{
    struct plain_val seen[STORE_MAX_COLS] = {0};
    size_t i = skip_ws(v, len, 0);
    if (i == len || v[i] != '{')
        return 0;
    i++;
    int hint = 0;
    for (;;) {
        i = skip_ws(v, len, i);
        if (i == len || v[i] != '"') /* also an empty object: fields are missing */
            return 0;
        size_t ks = i + 1, kdn;
        bool kesc;
        i = plain_string_end(v, len, ks, &kdn, &kesc);
        if (i == len || kesc)
            return 0;
        size_t kn = i - ks;
        i = skip_ws(v, len, i + 1);
        if (i == len || v[i] != ':')
            return 0;
        size_t vs = skip_ws(v, len, i + 1);
        struct plain_val pv;
        if (vs < len && v[vs] == '"') {
            i = plain_string_end(v, len, vs + 1, &pv.dn, &pv.esc);
            if (i == len)
                return 0;
            pv.s = v + vs + 1;
            pv.n = i - vs - 1;
            pv.kind = 's';
            i++;
        } else {
            i = plain_skip(v, len, vs, 1);
            if (i == len)
                return 0;
            pv = plain_classify(v, vs, i);
        }
        i = skip_ws(v, len, i);
        if (i == len || (v[i] != ',' && v[i] != '}'))
            return 0;
        for (int t = 0; t < spec->nfields; t++) {
            int f = hint + t < spec->nfields ? hint + t : hint + t - spec->nfields;
            const char *name = spec->fields[f].name;
            size_t nl = spec->name_lens ? spec->name_lens[f] : strlen(name);
            if (nl == kn && memcmp(name, v + ks, kn) == 0) {
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
    if (skip_ws(v, len, i) != len)
        return 0;
    for (int f = 0; f < spec->nfields; f++) {
        const struct spec_field *fd = &spec->fields[f];
        const struct plain_val *pv = &seen[f];
        if (pv->kind == 0 || pv->kind == 'n') {
            if (fd->required)
                return 0;
            continue;
        }
        if (pv->kind == 'x' || (pv->kind == 'i' && fd->type != SPEC_STRING_OR_INT) ||
            pv->dn > (size_t)fd->max_len)
            return 0;
        if (fd->type == SPEC_UUID) {
            char id[37];
            if (pv->esc || pv->n != 36)
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
        const char *copy;
        if (pv->esc) {
            char *out = arena_alloc(arena, pv->dn);
            if (out)
                plain_unescape(pv->s, pv->n, out);
            copy = out;
        } else {
            copy = arena_copy(arena, pv->s, pv->n);
        }
        if (!copy && pv->dn > 0)
            return -2;
        row->col[f] = copy ? copy : "";
        row->len[f] = (uint32_t)pv->dn;
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
    int rc = decode_plain(spec, value, len, arena, row);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
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
