/* usergen: produces users_created records for the stream job's tests and bench, and verifies
 * the job's result. Record i is a pure function of (seed, i): its id ends in i (hex), so the
 * verifier maps any row or dead letter back to the record that made it. Some records are bad
 * on purpose (8 kinds, each with the reason the job must give), some re-send an earlier id
 * with new content (the row must hold the last version), some carry \u escapes, surrogate
 * pairs, numeric post codes and unknown extra members.
 *   usergen produce -b HOST:PORT -t TOPIC -n N [-S SEED] [-k FIRST] [-B BAD_PERMILLE]
 *                   [-U UPDATE_PERMILLE] [-r RATE] [-T TIMEOUT_S] [-o ACKFILE] [-L LINGER_MS]
 *     (prints the acknowledgement latency, record timestamp -> delivery report, p50/p99)
 *   usergen verify  -b HOST:PORT -t TOPIC -n N [-S SEED] [-B ..] [-U ..] -d DB [-g GROUP]
 *                   [-D DLQ_TOPIC]
 * Exit 0 ok, 1 failure (or mismatch), 2 usage. */
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/units.h"

#define VAL_MAX 4096
#define NBADKINDS 8

struct opts {
    const char *bootstrap, *topic, *db, *group, *dlq, *ackfile;
    long long n, first, rate, timeout_s, linger_ms;
    unsigned long long seed;
    int bad_pm, update_pm;
};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t h(const struct opts *o, long long i, int salt)
{
    return mix(o->seed * 1000003ull + (uint64_t)i * 16 + (uint64_t)salt);
}

/* -1 good, else the bad kind of record i. */
static int bad_kind(const struct opts *o, long long i)
{
    if ((long long)(h(o, i, 1) % 1000) >= o->bad_pm)
        return -1;
    return (int)(h(o, i, 2) % NBADKINDS);
}

/* Index whose id record i carries: an earlier good original for updates, else i. */
static long long target_of(const struct opts *o, long long i)
{
    if (bad_kind(o, i) >= 0 || i < 1 || (long long)(h(o, i, 3) % 1000) >= o->update_pm)
        return i;
    long long back = 1 + (long long)(h(o, i, 4) % 1000);
    long long j = i - back;
    if (j < 0 || bad_kind(o, j) >= 0 || target_of(o, j) != j)
        return i;
    return j;
}

static const char *const bad_reason[NBADKINDS] = {
    "invalid JSON",
    "missing field 'email'",
    "field 'phone' must be a string",
    "field 'id' is not a UUID",
    "invalid UTF-8",
    "field 'id' is null",
    "not a JSON object",
    "field 'post_code' is a number but not an integer"};

static void id_of(const struct opts *o, long long t, char out[37])
{
    uint64_t a = h(o, t, 5);
    snprintf(out, 37, "%08x-%04x-4%03x-%x%03x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)(a >> 4) & 0xfff, 8 + (unsigned)(a & 3),
             (unsigned)(a >> 52) & 0xfff, (unsigned long long)t & 0xffffffffffffull);
}

static const char *const firsts[] = {"José",   "Zoë",  "Łukasz", "Anna",  "Mia",  "Noah",
                                     "Ólafur", "Иван", "佐藤",   "Ahmed", "Zoë😀", "Eliška"};
static const char *const lasts[] = {"García",   "O'Brien", "Müller",   "Smith",   "Nguyễn",
                                    "Kowalski", "Hansen",  "Ferreira", "al-Amin", "Øvergård"};
static const char *const streets[] = {"Rue de l'Église", "Main Street", "Hauptstraße",
                                      "Calle \"Mayor\"", "Back\\Lane",  "Åboulevarden"};

/* The 12 fields of record i (decoded form) and how to write them. */
struct rec {
    char f[12][512];
    bool post_numeric; /* post_code written as a JSON number */
    bool escape;       /* non-ASCII written as \u escapes */
    bool extra;        /* an unknown extra member */
};

static const char *const names[12] = {"id",      "first_name",      "last_name", "gender",
                                      "address", "post_code",       "email",     "username",
                                      "dob",     "registered_date", "phone",     "picture"};

static void build(const struct opts *o, long long i, struct rec *r)
{
    long long t = target_of(o, i);
    uint64_t a = h(o, i, 6), b = h(o, i, 7);
    id_of(o, t, r->f[0]);
    snprintf(r->f[1], 512, "%s", firsts[a % 12]);
    snprintf(r->f[2], 512, "%s", lasts[(a >> 8) % 10]);
    snprintf(r->f[3], 512, "%s", (a >> 16) & 1 ? "female" : "male");
    snprintf(r->f[4], 512, "%u %s, City%u, State%u, Country%u", (unsigned)(b % 9999),
             streets[(b >> 16) % 6], (unsigned)(b >> 24) % 500, (unsigned)(b >> 32) % 50,
             (unsigned)(b >> 40) % 30);
    r->post_numeric = (a >> 20) % 3 == 0;
    if (r->post_numeric)
        snprintf(r->f[5], 512, "%u", 10000 + (unsigned)(b >> 44) % 89999);
    else
        snprintf(r->f[5], 512, "%c%c%u %u", 'A' + (int)(b % 26), 'A' + (int)((b >> 5) % 26),
                 (unsigned)(b >> 10) % 10, (unsigned)(b >> 14) % 10);
    snprintf(r->f[6], 512, "user%lld.v%lld@example.com", t, i);
    snprintf(r->f[7], 512, "user%lld_%llx", i, (unsigned long long)(a % 0xfffff));
    snprintf(r->f[8], 512, "19%02u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(a >> 24) % 100,
             1 + (unsigned)(a >> 32) % 12, 1 + (unsigned)(a >> 36) % 28, (unsigned)(a >> 40) % 24,
             (unsigned)(a >> 44) % 60, (unsigned)(a >> 50) % 60, (unsigned)(b >> 20) % 1000);
    snprintf(r->f[9], 512, "20%02u-%02u-%02uT10:00:00.000Z", (unsigned)(b >> 28) % 24,
             1 + (unsigned)(b >> 34) % 12, 1 + (unsigned)(b >> 38) % 28);
    snprintf(r->f[10], 512, "(0%02u) %03u-%04u", (unsigned)(b >> 42) % 100,
             (unsigned)(b >> 48) % 1000, (unsigned)(i % 10000));
    snprintf(r->f[11], 512, "https://randomuser.me/api/portraits/med/%s/%u.jpg",
             (a >> 16) & 1 ? "women" : "men", (unsigned)(b >> 54) % 100);
    r->escape = (a >> 56) % 5 == 0;
    r->extra = (a >> 60) % 7 == 0;
}

static int put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + len >= cap)
        return -1;
    memcpy(out + *n, s, len);
    *n += len;
    return 0;
}

/* Writes s as a JSON string; with escape, every non-ASCII code point as \uXXXX (pairs above
 * U+FFFF). */
static int put_str(char *out, size_t cap, size_t *n, const char *s, bool escape)
{
    char tmp[16];
    if (put(out, cap, n, "\"", 1))
        return -1;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            if (put(out, cap, n, tmp, 2))
                return -1;
            p++;
        } else if (c >= 0x80 && escape) {
            int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            unsigned cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0F : 0x1F);
            for (int k = 1; k < len; k++)
                cp = (cp << 6) | (p[k] & 0x3F);
            p += len;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(tmp, sizeof(tmp), "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                         0xDC00 + (cp & 0x3FF));
            } else {
                snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
            }
            if (put(out, cap, n, tmp, strlen(tmp)))
                return -1;
        } else {
            if (put(out, cap, n, (const char *)p, 1))
                return -1;
            p++;
        }
    }
    return put(out, cap, n, "\"", 1);
}

/* The value of record i; returns its length. */
static size_t value_of(const struct opts *o, long long i, char *out, size_t cap)
{
    struct rec r;
    build(o, i, &r);
    int kind = bad_kind(o, i);
    size_t n = 0;
    if (kind == 6)
        put(out, cap, &n, "[", 1);
    else
        put(out, cap, &n, "{", 1);
    for (int f = 0; f < 12; f++) {
        if (kind == 1 && f == 6)
            continue; /* missing email */
        if (n > 1)
            put(out, cap, &n, ",", 1);
        if (kind != 6) {
            put_str(out, cap, &n, names[f], false);
            put(out, cap, &n, ":", 1);
        }
        if (f == 0 && kind == 3) {
            char bad[64];
            snprintf(bad, sizeof(bad), "not-a-uuid-%lld", i);
            put_str(out, cap, &n, bad, false);
        } else if (f == 0 && kind == 5) {
            put(out, cap, &n, "null", 4);
        } else if (f == 10 && kind == 2) {
            put(out, cap, &n, "5551234", 7);
        } else if (f == 5 && kind == 7) {
            put(out, cap, &n, "12.5", 4);
        } else if (f == 5 && r.post_numeric) {
            put(out, cap, &n, r.f[5], strlen(r.f[5]));
        } else if (f == 1 && kind == 4) {
            put(out, cap, &n, "\"Jo\xc3\x28\"", 6); /* invalid UTF-8 */
        } else {
            put_str(out, cap, &n, r.f[f], r.escape);
        }
    }
    static const char extra[] = ",\"nat\":\"XX\",\"extra\":{\"a\":[1,2]}";
    if (r.extra && kind != 6)
        put(out, cap, &n, extra, sizeof(extra) - 1);
    put(out, cap, &n, kind == 6 ? "]" : "}", 1);
    if (kind == 0) {
        n = n / 2; /* truncated, at a character boundary so that it is bad JSON, not UTF-8 */
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

static int set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char e[256];
    if (rd_kafka_conf_set(c, k, v, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "usergen: %s=%s: %s\n", k, v, e);
        return -1;
    }
    return 0;
}

static long long delivered, failed;
/* Acknowledgement latency (record timestamp -> delivery report) in 1 ms buckets. */
#define ACK_BUCKETS 60001
static long long ack_ms[ACK_BUCKETS];

static long long ack_quantile(double q)
{
    long long rank = (long long)(q * (double)delivered + 0.5), seen = 0;
    for (int i = 0; i < ACK_BUCKETS; i++) {
        seen += ack_ms[i];
        if (seen >= rank && seen > 0)
            return i;
    }
    return ACK_BUCKETS - 1;
}
static FILE *ackf; /* -o: one "key partition offset index" line per acknowledged record */

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op)
{
    (void)rk;
    (void)op;
    if (m->err) {
        if (failed++ == 0)
            fprintf(stderr, "usergen: delivery: %s\n", rd_kafka_err2str(m->err));
    } else {
        delivered++;
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        if (ts > 0) {
            int64_t lat = now_ms() - ts;
            ack_ms[lat < 0 ? 0 : (lat >= ACK_BUCKETS ? ACK_BUCKETS - 1 : lat)]++;
        }
        if (ackf)
            fprintf(ackf, "%.*s %d %lld %lld\n", (int)m->key_len, (const char *)m->key,
                    (int)m->partition, (long long)m->offset, (long long)(intptr_t)m->_private);
    }
}

static int produce(const struct opts *o)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char linger[24];
    snprintf(linger, sizeof(linger), "%lld", o->linger_ms);
    if (set(c, "bootstrap.servers", o->bootstrap) || set(c, "enable.idempotence", "true") ||
        set(c, "acks", "all") || set(c, "linger.ms", linger) ||
        set(c, "compression.codec", "lz4") || set(c, "batch.size", "1000000") ||
        set(c, "message.timeout.ms", "60000"))
        return 1;
    rd_kafka_conf_set_dr_msg_cb(c, on_dr);
    if (o->ackfile) {
        ackf = fopen(o->ackfile, "a");
        if (!ackf) {
            fprintf(stderr, "usergen: %s: cannot open\n", o->ackfile);
            rd_kafka_conf_destroy(c);
            return 1;
        }
        setvbuf(ackf, NULL, _IOLBF, 0); /* a kill -9 loses at most the line being written */
    }
    char e[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof(e));
    if (!rk) {
        fprintf(stderr, "usergen: %s\n", e);
        return 1;
    }
    int64_t start = mono_ms(), deadline = start + o->timeout_s * 1000, last = start;
    long long bad = 0, upd = 0;
    char val[VAL_MAX];
    for (long long k = 0; k < o->n; k++) {
        long long i = o->first + k;
        while (o->rate > 0 && k * 1000 > o->rate * (mono_ms() - start))
            rd_kafka_poll(rk, 1);
        size_t vl = value_of(o, i, val, sizeof(val));
        char key[37];
        id_of(o, i, key); /* the record's own id, also for bad and update records */
        if (bad_kind(o, i) >= 0)
            bad++;
        else if (target_of(o, i) != i)
            upd++;
        long long t = target_of(o, i);
        if (t != i)
            id_of(o, t, key); /* updates are keyed by the id they update: same partition */
        char ix[24];
        int ixl = snprintf(ix, sizeof(ix), "%lld", i); /* lets checkers map a record back to i */
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(key, 36), RD_KAFKA_V_VALUE(val, vl),
                RD_KAFKA_V_HEADER("usergen-index", ix, ixl), RD_KAFKA_V_OPAQUE((void *)(intptr_t)i),
                RD_KAFKA_V_END);
            if (!err)
                break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || mono_ms() > deadline) {
                fprintf(stderr, "usergen: produce: %s\n", rd_kafka_err2str(err));
                rd_kafka_destroy(rk);
                return 1;
            }
            rd_kafka_poll(rk, 5);
        }
        rd_kafka_poll(rk, 0);
        if (mono_ms() - last >= 2000) {
            last = mono_ms();
            fprintf(stderr, "usergen: produced %lld delivered %lld\n", k + 1, delivered);
        }
    }
    while (rd_kafka_outq_len(rk) > 0 && mono_ms() < deadline)
        rd_kafka_poll(rk, 50);
    double secs = (mono_ms() - start) / 1000.0;
    printf("usergen: ack latency (linger.ms %lld) p50 %lld ms p99 %lld ms p99.9 %lld ms\n",
           o->linger_ms, ack_quantile(0.5), ack_quantile(0.99), ack_quantile(0.999));
    printf("usergen: produced %lld (bad %lld, updates %lld) delivered %lld failed %lld in %.2f s "
           "(%.0f/s)\n",
           o->n, bad, upd, delivered, failed, secs, delivered / (secs > 0 ? secs : 1));
    rd_kafka_destroy(rk);
    if (ackf)
        fclose(ackf);
    return delivered == o->n ? 0 : 1;
}

/* Parses the index out of an id's last 12 hex digits; -1 if it is not ours. */
static long long index_of(const char *id, size_t len)
{
    if (len != 36)
        return -1;
    long long v = 0;
    for (int k = 24; k < 36; k++) {
        char ch = id[k];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static int verify_rows(const struct opts *o, long long *rows_out)
{
    long long lo = o->first, n = o->n;
    long long *last = malloc((size_t)n * sizeof(*last)); /* last record index per target */
    unsigned char *seen = calloc((size_t)n, 1);
    if (!last || !seen)
        return 1;
    long long distinct = 0;
    for (long long k = 0; k < n; k++)
        last[k] = -1;
    for (long long k = 0; k < n; k++) {
        long long i = lo + k;
        if (bad_kind(o, i) >= 0)
            continue;
        long long t = target_of(o, i);
        if (last[t - lo] < 0)
            distinct++;
        last[t - lo] = i;
    }
    sqlite3 *db;
    if (sqlite3_open_v2(o->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "usergen: open %s: %s\n", o->db, sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, first_name, last_name, gender, address, post_code, email,"
                           " username, dob, registered_date, phone, picture FROM created_users",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "usergen: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    long long rows = 0, bad = 0, dup = 0, shown = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        const char *id = (const char *)sqlite3_column_text(st, 0);
        long long t = index_of(id, (size_t)sqlite3_column_bytes(st, 0));
        if (t < lo || t >= lo + n || last[t - lo] < 0) {
            if (shown++ < 5)
                fprintf(stderr, "usergen: unexpected row id %s\n", id);
            bad++;
            continue;
        }
        if (seen[t - lo]++) {
            dup++;
            continue;
        }
        struct rec r;
        build(o, last[t - lo], &r);
        for (int f = 0; f < 12; f++) {
            const char *v = (const char *)sqlite3_column_text(st, f);
            if (!v || strcmp(v, r.f[f]) != 0) {
                if (shown++ < 5)
                    fprintf(stderr,
                            "usergen: row %s field %s: got '%s', want '%s' (record %lld)"
                            "\n",
                            id, names[f], v ? v : "NULL", r.f[f], last[t - lo]);
                bad++;
                break;
            }
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    printf("usergen: rows %lld, expected %lld distinct ids; mismatched %lld, duplicated %lld\n",
           rows, distinct, bad, dup);
    *rows_out = rows;
    free(last);
    free(seen);
    return rows == distinct && bad == 0 && dup == 0 ? 0 : 1;
}

static int set_consumer(rd_kafka_t **out, const struct opts *o)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (set(c, "bootstrap.servers", o->bootstrap) || set(c, "group.id", "usergen-verify") ||
        set(c, "enable.auto.commit", "false") || set(c, "enable.partition.eof", "true"))
        return -1;
    char e[256];
    *out = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof(e));
    if (!*out) {
        fprintf(stderr, "usergen: %s\n", e);
        return -1;
    }
    rd_kafka_poll_set_consumer(*out);
    return 0;
}

/* Partition count of topic (0 if unknown). */
static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = 0;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t cap)
{
    rd_kafka_headers_t *hs;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &hs) || rd_kafka_header_get_last(hs, name, &v, &len))
        return NULL;
    snprintf(buf, cap, "%.*s", (int)len, (const char *)v);
    return buf;
}

static int verify_dlq(const struct opts *o, rd_kafka_t *rk)
{
    int np = partitions_of(rk, o->dlq);
    long long expect = 0;
    for (long long k = 0; k < o->n; k++)
        expect += bad_kind(o, o->first + k) >= 0;
    unsigned char *got = calloc((size_t)o->n, 1);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(l, o->dlq, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    int eof = 0;
    long long msgs = 0, wrong = 0, shown = 0;
    int64_t deadline = mono_ms() + 120000;
    char val[VAL_MAX], hb[256], hsrc[256];
    while (eof < np && mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof++;
        } else if (!m->err) {
            msgs++;
            long long i = index_of(m->key, m->key_len);
            int kind = i >= o->first && i < o->first + o->n ? bad_kind(o, i) : -1;
            const char *err = header(m, "error", hb, sizeof(hb));
            const char *src = header(m, "source.topic", hsrc, sizeof(hsrc));
            char pb[32], ob[32];
            const char *sp = header(m, "source.partition", pb, sizeof(pb));
            const char *so = header(m, "source.offset", ob, sizeof(ob));
            size_t vl = kind >= 0 ? value_of(o, i, val, sizeof(val)) : 0;
            if (kind < 0 || !err || !strstr(err, bad_reason[kind]) || !src ||
                strcmp(src, o->topic) != 0 || !sp || !so || atoll(so) < 0 || vl != m->len ||
                memcmp(val, m->payload, vl) != 0) {
                if (shown++ < 5)
                    fprintf(stderr,
                            "usergen: bad dead letter (record %lld kind %d): error='%s'"
                            " source=%s[%s]@%s\n",
                            i, kind, err ? err : "-", src ? src : "-", sp ? sp : "-",
                            so ? so : "-");
                wrong++;
            } else {
                got[i - o->first] = 1;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_topic_partition_list_destroy(l);
    long long missing = 0;
    for (long long k = 0; k < o->n; k++)
        missing += bad_kind(o, o->first + k) >= 0 && !got[k];
    free(got);
    printf("usergen: dead letters %lld (expected %lld distinct bad records), wrong %lld, "
           "missing %lld\n",
           msgs, expect, wrong, missing);
    return wrong == 0 && missing == 0 ? 0 : 1;
}

/* Stored offsets (group, topic) equal the topic's end offsets. */
static int verify_offsets(const struct opts *o, rd_kafka_t *rk)
{
    int np = partitions_of(rk, o->topic);
    sqlite3 *db;
    if (sqlite3_open_v2(o->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return 1;
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT next_offset FROM sluice_offsets WHERE group_id=? AND topic=? "
                       "AND partition=?",
                       -1, &st, NULL);
    int bad = 0;
    long long total = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo, &hi, 10000)) {
            bad++;
            continue;
        }
        sqlite3_bind_text(st, 1, o->group, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, o->topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, p);
        long long stored = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
        sqlite3_reset(st);
        printf("usergen: %s[%d] end offset %lld stored %lld%s\n", o->topic, p, (long long)hi,
               stored, stored == hi ? "" : "  MISMATCH");
        bad += stored != hi;
        total += hi;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    printf("usergen: offsets %s (%d partitions, %lld records in the topic)\n",
           bad ? "MISMATCH" : "ok", np, total);
    return bad || np == 0 ? 1 : 0;
}

static int verify(const struct opts *o)
{
    long long rows;
    int rc = verify_rows(o, &rows);
    rd_kafka_t *rk;
    if (set_consumer(&rk, o) != 0)
        return 1;
    rc |= verify_offsets(o, rk);
    rc |= verify_dlq(o, rk);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    printf("usergen: verify %s\n", rc ? "FAILED" : "ok");
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = {.group = "sluice-process",
                     .linger_ms = 20,
                     .seed = 1,
                     .bad_pm = 10,
                     .update_pm = 5,
                     .timeout_s = 300,
                     .n = -1};
    if (argc < 2) {
        fprintf(stderr, "usage: usergen produce|verify -b HOST:PORT -t TOPIC -n N ...\n");
        return 2;
    }
    const char *mode = argv[1];
    int c;
    optind = 2;
    while ((c = getopt(argc, argv, "b:t:n:S:k:B:U:r:T:d:g:D:o:L:")) != -1) {
        switch (c) {
        case 'b':
            o.bootstrap = optarg;
            break;
        case 't':
            o.topic = optarg;
            break;
        case 'n':
            o.n = atoll(optarg);
            break;
        case 'S':
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case 'k':
            o.first = atoll(optarg);
            break;
        case 'B':
            o.bad_pm = atoi(optarg);
            break;
        case 'U':
            o.update_pm = atoi(optarg);
            break;
        case 'r':
            o.rate = atoll(optarg);
            break;
        case 'T':
            o.timeout_s = atoll(optarg);
            break;
        case 'd':
            o.db = optarg;
            break;
        case 'g':
            o.group = optarg;
            break;
        case 'D':
            o.dlq = optarg;
            break;
        case 'o':
            o.ackfile = optarg;
            break;
        case 'L':
            o.linger_ms = atoll(optarg);
            break;
        default:
            return 2;
        }
    }
    if (!o.bootstrap || !o.topic || o.n < 0 || o.first < 0 || o.timeout_s <= 0)
        return 2;
    char dlq[300];
    if (!o.dlq) {
        snprintf(dlq, sizeof(dlq), "%s.dlq", o.topic);
        o.dlq = dlq;
    }
    if (strcmp(mode, "produce") == 0)
        return produce(&o);
    if (strcmp(mode, "verify") == 0 && o.db)
        return verify(&o);
    fprintf(stderr, "usergen: unknown mode '%s' (or verify without -d DB)\n", mode);
    return 2;
}
