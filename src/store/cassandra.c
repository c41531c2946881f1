/* The Cassandra sink, on sluice's own CQL client (src/store/cql/).
 * Location: "//[USER[:PASS]@]HOST[:PORT][,HOST...]/KEYSPACE[?consistency=LOCAL_QUORUM&
 * replication_factor=1&dc=DC&tls=0|1&tls_verify=0|1&tls_ca=FILE&window=N&timeout_ms=N&
 * wait_s=N]". The password may come from SLUICE_CASSANDRA_PASSWORD; it is never logged.
 *
 * Guarantees (store.h): idempotent upserts + fenced offsets, not atomicity. Each row is written
 * by a prepared INSERT ... USING TIMESTAMP v, v = version_base(partition) + offset: strictly
 * increasing with the Kafka offset within a partition (where all versions of a key live), and a
 * pure function of the record, so a replay writes the same cell with the same timestamp (no
 * change) and an older version can never win over a newer one, whatever the order of writes.
 * version_base is fixed once per (group, topic, partition) and stored with the offsets: the
 * first record's timestamp in microseconds minus its offset, so versions stay near real time.
 * Offsets go to sluice_offsets only after every row of the batch is acknowledged, by a
 * lightweight transaction (IF next_offset = expected / IF NOT EXISTS) so a stale owner is
 * refused (STORE_CONFLICT). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/units.h"
#include "core/uuid.h"
#include "store/cql/cluster.h"
#include "store/store.h"

#define MOD "cassandra"

/* sl_err_set with err's current message appended as the last %s argument (formatting a message
 * into itself would be undefined). */
static _Thread_local char cass_errbuf[512];
#define ERR_WRAP(err, ...)                                                                         \
    (snprintf(cass_errbuf, sizeof(cass_errbuf), "%s", (err)->msg),                                 \
     sl_err_set(err, __VA_ARGS__, cass_errbuf))
#define CASS_MAX_PART 65536
#define Q_MAX 4096

struct cass_store {
    struct store base; /* first: the generic handle */
    struct cql_cluster *cl;
    const struct store_table *t;
    char ks[STORE_NAME_MAX + 1];
    char group[256];
    bool readonly;
    uint16_t consistency;
    int serial; /* SERIAL or LOCAL_SERIAL */
    struct cql_prepared *insert, *get_off, *put_off_first, *put_off;
    int64_t *vbase; /* per partition: version base, INT64_MIN unknown */
    int nvbase;
    /* scratch, grown to the largest batch */
    struct cql_value *vals;
    uint8_t (*ids)[16];
    uint8_t (*tss)[8];
    size_t cap;
};

struct cass_params {
    char user[256], password[256], hosts[1024], ks[STORE_NAME_MAX + 1], dc[64], tls_ca[512];
    int64_t rf, window, timeout_ms, wait_s, tls, tls_verify;
    int consistency;
};

static bool ident_ok(const char *s)
{
    if (!s || !*s || strlen(s) > STORE_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= '0' && *p <= '9' && p != s);
        if (!ok)
            return false;
    }
    return true;
}

/* %XX-decodes src[0..n) into out (cap bytes); -1 if it does not fit or is malformed. */
static int pct_decode(const char *src, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            unsigned v;
            char hex[3] = {0, 0, 0};
            if (i + 2 >= n)
                return -1;
            memcpy(hex, src + i + 1, 2);
            if (sscanf(hex, "%2x", &v) != 1)
                return -1;
            c = (char)v;
            i += 2;
        }
        if (k + 1 >= cap)
            return -1;
        out[k++] = c;
    }
    out[k] = '\0';
    return 0;
}

static int parse_location(const char *loc, struct cass_params *p, struct sl_err *err)
{
    memset(p, 0, sizeof(*p));
    p->rf = 1;
    p->window = 1024;
    p->timeout_ms = 12000;
    p->wait_s = 120;
    p->tls_verify = 1;
    p->consistency = CQL_LOCAL_QUORUM;
    const char *usage = "expected cassandra://[USER:PASS@]HOST[:PORT][,HOST...]/KEYSPACE[?...]";
    if (strncmp(loc, "//", 2) != 0)
        return sl_err_set(err, "cassandra: %s", usage);
    const char *s = loc + 2;
    const char *q = strchr(s, '?');
    const char *end = q ? q : s + strlen(s);
    const char *slash = memchr(s, '/', (size_t)(end - s));
    /* The credentials end at the last '@' before the keyspace (a password may hold '@'). */
    const char *at = NULL;
    for (const char *c = s; c < (slash ? slash : end); c++) {
        if (*c == '@')
            at = c;
    }
    if (!slash || slash + 1 >= end)
        return sl_err_set(err, "cassandra: the URI needs a keyspace: %s", usage);
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t ul = (size_t)((colon ? colon : at) - s);
        if (ul == 0 || pct_decode(s, ul, p->user, sizeof(p->user)) != 0)
            return sl_err_set(err, "cassandra: bad user name in the URI");
        if (colon &&
            pct_decode(colon + 1, (size_t)(at - colon - 1), p->password, sizeof(p->password)) != 0)
            return sl_err_set(err, "cassandra: bad password in the URI");
        s = at + 1;
    }
    size_t hl = (size_t)(slash - s);
    if (hl == 0 || hl >= sizeof(p->hosts))
        return sl_err_set(err, "cassandra: the URI needs a host: %s", usage);
    memcpy(p->hosts, s, hl);
    size_t kl = (size_t)(end - slash - 1);
    if (kl >= sizeof(p->ks))
        return sl_err_set(err, "cassandra: keyspace name too long");
    memcpy(p->ks, slash + 1, kl);
    if (!ident_ok(p->ks))
        return sl_err_set(err, "cassandra: bad keyspace name '%s' (lower case, digits, _)", p->ks);
    while (q && *q) {
        q++;
        const char *e = strchr(q, '&');
        size_t n = e ? (size_t)(e - q) : strlen(q);
        char kv[600];
        if (n >= sizeof(kv))
            return sl_err_set(err, "cassandra: parameter too long");
        memcpy(kv, q, n);
        kv[n] = '\0';
        q = e;
        char *v = strchr(kv, '=');
        if (!v)
            return sl_err_set(err, "cassandra: expected name=value, got '%s'", kv);
        *v++ = '\0';
        struct sl_err e2;
        if (strcmp(kv, "consistency") == 0) {
            p->consistency = cql_consistency_parse(v);
            if (p->consistency < 0 || p->consistency == CQL_SERIAL ||
                p->consistency == CQL_LOCAL_SERIAL)
                return sl_err_set(err, "cassandra: unknown consistency '%s'", v);
        } else if (strcmp(kv, "replication_factor") == 0) {
            if (parse_int(v, 1, 100, &p->rf, &e2) != 0)
                return sl_err_set(err, "cassandra: replication_factor: %s", e2.msg);
        } else if (strcmp(kv, "window") == 0) {
            if (parse_int(v, 1, 32768, &p->window, &e2) != 0)
                return sl_err_set(err, "cassandra: window: %s", e2.msg);
        } else if (strcmp(kv, "timeout_ms") == 0) {
            if (parse_int(v, 100, 600000, &p->timeout_ms, &e2) != 0)
                return sl_err_set(err, "cassandra: timeout_ms: %s", e2.msg);
        } else if (strcmp(kv, "wait_s") == 0) {
            if (parse_int(v, 1, 86400, &p->wait_s, &e2) != 0)
                return sl_err_set(err, "cassandra: wait_s: %s", e2.msg);
        } else if (strcmp(kv, "tls") == 0) {
            if (parse_int(v, 0, 1, &p->tls, &e2) != 0)
                return sl_err_set(err, "cassandra: tls: 0 or 1");
        } else if (strcmp(kv, "tls_verify") == 0) {
            if (parse_int(v, 0, 1, &p->tls_verify, &e2) != 0)
                return sl_err_set(err, "cassandra: tls_verify: 0 or 1");
        } else if (strcmp(kv, "tls_ca") == 0 && strlen(v) < sizeof(p->tls_ca)) {
            snprintf(p->tls_ca, sizeof(p->tls_ca), "%s", v);
        } else if (strcmp(kv, "dc") == 0 && strlen(v) < sizeof(p->dc) && *v) {
            snprintf(p->dc, sizeof(p->dc), "%s", v);
        } else {
            return sl_err_set(err, "cassandra: unknown parameter '%s'", kv);
        }
    }
    if (p->user[0] && !p->password[0]) {
        const char *env = getenv("SLUICE_CASSANDRA_PASSWORD");
        if (env && strlen(env) < sizeof(p->password))
            snprintf(p->password, sizeof(p->password), "%s", env);
    }
    return 0;
}

static void cass_close(struct store *st)
{
    struct cass_store *s = (struct cass_store *)st;
    if (!s)
        return;
    cql_prepared_free(s->insert);
    cql_prepared_free(s->get_off);
    cql_prepared_free(s->put_off_first);
    cql_prepared_free(s->put_off);
    cql_cluster_close(s->cl);
    free(s->vbase);
    free(s->vals);
    free(s->ids);
    free(s->tss);
    free(s);
}

static int ddl(struct cass_store *s, const char *q, struct sl_err *err)
{
    if (cql_cluster_query(s->cl, q, NULL, 0, s->consistency, -1, 0, NULL, NULL, err) != 0)
        return ERR_WRAP(err, "cassandra: %.200s: %s", q);
    return 0;
}

static int prepare(struct cass_store *s, const char *q, struct cql_prepared **out,
                   struct sl_err *err)
{
    if (cql_cluster_prepare(s->cl, q, out, err) != 0)
        return ERR_WRAP(err, "cassandra: prepare %.200s: %s", q);
    return 0;
}

static int create_schema(struct cass_store *s, const struct cass_params *p, struct sl_err *err)
{
    char q[Q_MAX];
    const struct store_table *t = s->t;
    if (p->dc[0])
        snprintf(q, sizeof(q),
                 "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': "
                 "'NetworkTopologyStrategy', '%s': %" PRId64 "}",
                 s->ks, p->dc, p->rf);
    else
        snprintf(q, sizeof(q),
                 "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': "
                 "'SimpleStrategy', 'replication_factor': %" PRId64 "}",
                 s->ks, p->rf);
    if (ddl(s, q, err) != 0)
        return -1;
    /* The seed's table: id uuid PRIMARY KEY, the other columns text. */
    size_t n =
        (size_t)snprintf(q, sizeof(q), "CREATE TABLE IF NOT EXISTS %s.%s (", s->ks, t->table);
    for (int i = 0; i < t->ncols && n < sizeof(q); i++)
        n += (size_t)snprintf(q + n, sizeof(q) - n, "%s%s %s", i ? ", " : "", t->cols[i],
                              i == t->key_col ? "uuid PRIMARY KEY" : "text");
    if (n < sizeof(q))
        n += (size_t)snprintf(q + n, sizeof(q) - n, ")");
    if (n >= sizeof(q))
        return sl_err_set(err, "cassandra: table definition too long");
    if (ddl(s, q, err) != 0)
        return -1;
    snprintf(q, sizeof(q),
             "CREATE TABLE IF NOT EXISTS %s.sluice_offsets (group_id text, topic text, "
             "partition int, next_offset bigint, version_base bigint, "
             "PRIMARY KEY ((group_id, topic, partition)))",
             s->ks);
    if (ddl(s, q, err) != 0)
        return -1;
    if (cql_cluster_schema_agreement(s->cl, 30000, err) != 0)
        return ERR_WRAP(err, "cassandra: after creating the schema: %s");
    /* Prepared statements. */
    n = (size_t)snprintf(q, sizeof(q), "INSERT INTO %s.%s (", s->ks, t->table);
    for (int i = 0; i < t->ncols && n < sizeof(q); i++)
        n += (size_t)snprintf(q + n, sizeof(q) - n, "%s%s", i ? ", " : "", t->cols[i]);
    if (n < sizeof(q))
        n += (size_t)snprintf(q + n, sizeof(q) - n, ") VALUES (");
    for (int i = 0; i < t->ncols && n < sizeof(q); i++)
        n += (size_t)snprintf(q + n, sizeof(q) - n, "%s?", i ? ", " : "");
    if (n < sizeof(q))
        n += (size_t)snprintf(q + n, sizeof(q) - n, ") USING TIMESTAMP ?");
    if (n >= sizeof(q))
        return sl_err_set(err, "cassandra: insert statement too long");
    if (prepare(s, q, &s->insert, err) != 0)
        return -1;
    if (s->insert->nbind != t->ncols + 1)
        return sl_err_set(err, "cassandra: the insert takes %d values, expected %d",
                          s->insert->nbind, t->ncols + 1);
    snprintf(q, sizeof(q),
             "SELECT next_offset, version_base FROM %s.sluice_offsets WHERE group_id = ? AND "
             "topic = ? AND partition = ?",
             s->ks);
    if (prepare(s, q, &s->get_off, err) != 0)
        return -1;
    snprintf(q, sizeof(q),
             "INSERT INTO %s.sluice_offsets (group_id, topic, partition, next_offset, "
             "version_base) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
             s->ks);
    if (prepare(s, q, &s->put_off_first, err) != 0)
        return -1;
    snprintf(q, sizeof(q),
             "UPDATE %s.sluice_offsets SET next_offset = ? WHERE group_id = ? AND topic = ? AND "
             "partition = ? IF next_offset = ?",
             s->ks);
    return prepare(s, q, &s->put_off, err);
}

static int cass_open(struct store **out, const char *location, const struct store_table *t,
                     const char *group, unsigned flags, struct sl_err *err)
{
    struct cass_params p;
    if (parse_location(location, &p, err) != 0)
        return -1;
    if (!ident_ok(t->table))
        return sl_err_set(err, "cassandra: bad table name");
    for (int i = 0; i < t->ncols; i++) {
        if (!ident_ok(t->cols[i]))
            return sl_err_set(err, "cassandra: bad column name");
    }
    bool ro = (flags & STORE_READONLY) != 0;
    if (!ro && (!group || strlen(group) >= 256))
        return sl_err_set(err, "cassandra: a consumer group name (< 256 bytes) is needed to write");
    struct cass_store *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, "out of memory");
    s->base.ops = &cassandra_store_ops;
    s->t = t;
    s->readonly = ro;
    s->consistency = (uint16_t)p.consistency;
    s->serial = p.dc[0] ? CQL_LOCAL_SERIAL : CQL_SERIAL;
    snprintf(s->ks, sizeof(s->ks), "%s", p.ks);
    if (group)
        snprintf(s->group, sizeof(s->group), "%s", group);
    struct cql_cluster_opts co = {
        .hosts = p.hosts,
        .port = 9042,
        .conn =
            {
                .user = p.user[0] ? p.user : NULL,
                .password = p.user[0] ? p.password : NULL,
                .tls = p.tls != 0,
                .tls_verify = p.tls_verify != 0,
                .tls_ca = p.tls_ca[0] ? p.tls_ca : NULL,
                .connect_timeout_ms = 5000,
                .window = (int)p.window,
                .max_frame = 256u << 20,
            },
        .dc = p.dc[0] ? p.dc : NULL,
        .request_timeout_ms = p.timeout_ms,
        .wait_ms = p.wait_s * 1000,
        .max_retries = 10,
        .window = (int)p.window,
        .wait_at_open = !ro, /* the stream job waits for a restarting node; query does not */
    };
    int rc = cql_cluster_open(&s->cl, &co, err);
    memset(p.password, 0, sizeof(p.password));
    if (rc != 0) {
        ERR_WRAP(err, "cassandra: %s");
        goto fail;
    }
    if (ro) {
        if (cql_cluster_use(s->cl, s->ks, err) != 0) {
            ERR_WRAP(err,
                     "cassandra: no keyspace %s (has sluice process run with this "
                     "--store?): %s",
                     s->ks);
            goto fail;
        }
    } else if (create_schema(s, &p, err) != 0) {
        goto fail;
    }
    if (!ro) {
        int up = 0, nn = cql_cluster_nodes(s->cl, &up);
        log_info(MOD,
                 "keyspace %s on %s: %d of %d node(s) connected (consistency %s, window %" PRId64
                 "%s)",
                 s->ks, p.hosts, up, nn, cql_consistency_name(s->consistency), p.window,
                 p.tls ? ", TLS" : "");
    }
    *out = &s->base;
    return 0;
fail:
    cass_close(&s->base);
    return -1;
}

static int64_t *vbase_slot(struct cass_store *s, int32_t partition)
{
    if (partition < 0 || partition >= CASS_MAX_PART)
        return NULL;
    if (partition >= s->nvbase) {
        int n = partition + 1 > 2 * s->nvbase ? partition + 1 : 2 * s->nvbase;
        int64_t *v = realloc(s->vbase, (size_t)n * sizeof(*v));
        if (!v)
            return NULL;
        for (int i = s->nvbase; i < n; i++)
            v[i] = INT64_MIN;
        s->vbase = v;
        s->nvbase = n;
    }
    return &s->vbase[partition];
}

static void be64(uint8_t out[8], int64_t v)
{
    for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
        out[i] = (uint8_t)v;
}

static void be32(uint8_t out[4], int32_t v)
{
    out[0] = (uint8_t)((uint32_t)v >> 24);
    out[1] = (uint8_t)((uint32_t)v >> 16);
    out[2] = (uint8_t)((uint32_t)v >> 8);
    out[3] = (uint8_t)v;
}

static int col_of(const struct cql_resp *r, const char *name)
{
    for (int i = 0; i < r->meta.ncols && r->meta.names; i++) {
        if ((size_t)r->meta.names[i].len == strlen(name) &&
            memcmp(r->meta.names[i].p, name, strlen(name)) == 0)
            return i;
    }
    return -1;
}

/* Reads (next_offset, version_base) of one partition, at serial consistency so an offset
 * written by a lightweight transaction is seen even if its commit is still in progress. */
static int read_offset(struct cass_store *s, const char *topic, int32_t partition, int64_t *next,
                       int64_t *vb, struct sl_err *err)
{
    uint8_t pb[4];
    be32(pb, partition);
    struct cql_value v[3] = {
        {s->group, (int32_t)strlen(s->group)}, {topic, (int32_t)strlen(topic)}, {pb, 4}};
    struct cql_result res = {0};
    *next = -1;
    *vb = INT64_MIN;
    if (cql_cluster_execute(s->cl, s->get_off, v, (uint16_t)s->serial, -1, &res, err) != 0)
        return ERR_WRAP(err, "cassandra: reading the offset of %s[%d]: %s", topic, (int)partition);
    int ret = 0;
    if (res.r.kind == CQL_RESULT_ROWS && res.r.nrows > 0 && res.r.meta.ncols == 2) {
        if (cql_get_bigint(&res.r.cells[0], next) != 0)
            *next = -1;
        if (cql_get_bigint(&res.r.cells[1], vb) != 0)
            *vb = INT64_MIN;
    } else if (res.r.kind != CQL_RESULT_ROWS) {
        ret = sl_err_set(err, "cassandra: unexpected result reading an offset");
    }
    cql_result_free(&res);
    return ret;
}

static int cass_load_offset(struct store *st, const char *topic, int32_t partition, int64_t *next,
                            struct sl_err *err)
{
    struct cass_store *s = (struct cass_store *)st;
    if (s->readonly)
        return sl_err_set(err, "cassandra: opened read-only");
    int64_t vb;
    if (read_offset(s, topic, partition, next, &vb, err) != 0)
        return -1;
    int64_t *slot = vbase_slot(s, partition);
    if (slot)
        *slot = vb;
    return 0;
}

static int grow(struct cass_store *s, size_t nrows)
{
    if (nrows <= s->cap)
        return 0;
    size_t cap = nrows < 1024 ? 1024 : nrows;
    size_t nb = (size_t)s->insert->nbind;
    struct cql_value *v = realloc(s->vals, cap * nb * sizeof(*v));
    if (v)
        s->vals = v;
    uint8_t(*ids)[16] = realloc(s->ids, cap * sizeof(*ids));
    if (ids)
        s->ids = ids;
    uint8_t(*tss)[8] = realloc(s->tss, cap * sizeof(*tss));
    if (tss)
        s->tss = tss;
    if (!v || !ids || !tss)
        return -1;
    s->cap = cap;
    return 0;
}

/* The [applied] column of a lightweight transaction's result, and the next_offset it found. */
static int lwt_outcome(const struct cql_result *res, bool *applied, int64_t *found)
{
    *found = -1;
    if (res->r.kind != CQL_RESULT_ROWS || res->r.nrows < 1 || res->r.meta.ncols < 1)
        return -1;
    if (cql_get_bool(&res->r.cells[0], applied) != 0)
        return -1;
    int k = col_of(&res->r, "next_offset");
    if (k >= 0 && cql_get_bigint(&res->r.cells[k], found) != 0)
        *found = -1;
    return 0;
}

/* The bound values of one partition's fenced offset write. */
struct off_write {
    uint8_t pb[4], nb[8], prevb[8], vbb[8];
    struct cql_value v[5];
};

/* Moves every partition's stored offset from prev_next to next_offset, all at once, each by a
 * lightweight transaction; STORE_CONFLICT when one was moved by someone else. */
static int put_offsets(struct cass_store *s, const char *topic, const struct store_offset *offs,
                       size_t noffs, struct sl_err *err)
{
    struct off_write *w = calloc(noffs, sizeof(*w));
    struct cql_call *calls = calloc(noffs, sizeof(*calls));
    int ret = 0;
    if (!w || !calls) {
        ret = sl_err_set(err, "out of memory");
        goto out;
    }
    struct cql_value g = {s->group, (int32_t)strlen(s->group)};
    struct cql_value tp = {topic, (int32_t)strlen(topic)};
    for (size_t k = 0; k < noffs; k++) {
        const struct store_offset *o = &offs[k];
        be32(w[k].pb, o->partition);
        be64(w[k].nb, o->next_offset);
        be64(w[k].prevb, o->prev_next);
        be64(w[k].vbb, s->vbase[o->partition]);
        if (o->prev_next < 0) {
            struct cql_value v[5] = {g, tp, {w[k].pb, 4}, {w[k].nb, 8}, {w[k].vbb, 8}};
            memcpy(w[k].v, v, sizeof(v));
            calls[k].p = s->put_off_first;
        } else {
            struct cql_value v[5] = {{w[k].nb, 8}, g, tp, {w[k].pb, 4}, {w[k].prevb, 8}};
            memcpy(w[k].v, v, sizeof(v));
            calls[k].p = s->put_off;
        }
        calls[k].values = w[k].v;
        calls[k].consistency = s->consistency;
        calls[k].serial = s->serial;
    }
    if (cql_cluster_execute_calls(s->cl, calls, noffs, err) != 0) {
        ret = ERR_WRAP(err, "cassandra: writing the offsets of %s: %s", topic);
        goto out;
    }
    for (size_t k = 0; k < noffs && ret == 0; k++) {
        bool applied = false;
        int64_t found = -1;
        if (lwt_outcome(&calls[k].res, &applied, &found) != 0) {
            ret = sl_err_set(err, "cassandra: unexpected answer to the offset write of %s[%d]",
                             topic, (int)offs[k].partition);
        } else if (!applied && found != offs[k].next_offset) {
            /* (Not applied but already at our value: an earlier attempt of this very write
             * succeeded, its answer lost to a timeout, and was retried.) */
            sl_err_set(err,
                       "cassandra: offset of %s[%d] refused: stored %" PRId64 ", this instance "
                       "expected %" PRId64 " (another instance owns the partition now)",
                       topic, (int)offs[k].partition, found, offs[k].prev_next);
            ret = STORE_CONFLICT;
        }
    }
out:
    for (size_t k = 0; calls && k < noffs; k++)
        cql_result_free(&calls[k].res);
    free(calls);
    free(w);
    return ret;
}

static int cass_write_batch(struct store *st, const char *topic, const struct store_row *rows,
                            size_t nrows, const struct store_offset *offs, size_t noffs,
                            struct sl_err *err)
{
    struct cass_store *s = (struct cass_store *)st;
    if (s->readonly)
        return sl_err_set(err, "cassandra: opened read-only");
    const struct store_table *t = s->t;
    /* Version bases: known from load_offset, or fixed now from the partition's first record. */
    for (size_t k = 0; k < noffs; k++) {
        int64_t *vb = vbase_slot(s, offs[k].partition);
        if (!vb)
            return sl_err_set(err, "cassandra: partition %d out of range", (int)offs[k].partition);
        if (*vb == INT64_MIN && offs[k].prev_next >= 0) {
            int64_t next;
            if (read_offset(s, topic, offs[k].partition, &next, vb, err) != 0)
                return -1;
        }
        if (*vb == INT64_MIN) {
            const struct store_row *first = NULL;
            for (size_t i = 0; i < nrows; i++) {
                if (rows[i].partition == offs[k].partition &&
                    (!first || rows[i].offset < first->offset))
                    first = &rows[i];
            }
            int64_t ts = first && first->ts_ms >= 0 ? first->ts_ms : now_ms();
            *vb = ts * 1000 - (first                   ? first->offset
                               : offs[k].prev_next > 0 ? offs[k].prev_next
                                                       : 0);
        }
    }
    if (grow(s, nrows) != 0)
        return sl_err_set(err, "out of memory");
    size_t nb = (size_t)s->insert->nbind;
    for (size_t i = 0; i < nrows; i++) {
        const struct store_row *r = &rows[i];
        struct cql_value *v = &s->vals[i * nb];
        for (int c = 0; c < t->ncols; c++) {
            if (c == t->key_col) {
                char key[37];
                if (r->len[c] != 36)
                    return sl_err_set(err, "cassandra: key '%.*s' is not a UUID",
                                      (int)(r->len[c] > 40 ? 40 : r->len[c]), r->col[c]);
                memcpy(key, r->col[c], 36);
                key[36] = '\0';
                if (uuid_parse(key, s->ids[i]) != 0)
                    return sl_err_set(err, "cassandra: key '%s' is not a UUID", key);
                v[c] = (struct cql_value){s->ids[i], 16};
            } else {
                v[c] = (struct cql_value){r->col[c], (int32_t)r->len[c]};
            }
        }
        int64_t *vb = vbase_slot(s, r->partition);
        int64_t version =
            vb && *vb != INT64_MIN ? *vb + r->offset : (r->ts_ms >= 0 ? r->ts_ms : now_ms()) * 1000;
        be64(s->tss[i], version);
        v[t->ncols] = (struct cql_value){s->tss[i], 8};
    }
    if (cql_cluster_execute_many(s->cl, s->insert, s->vals, nrows, s->consistency, err) != 0)
        return ERR_WRAP(err, "cassandra: writing %zu row(s): %s", nrows);
    /* Every row is acknowledged: now the progress, one fenced write per partition. */
    return put_offsets(s, topic, offs, noffs, err);
}

/* ---- queries ----------------------------------------------------------------------------- */

static bool read_only_statement(const char *q)
{
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
        q++;
    if (strncasecmp(q, "SELECT", 6) != 0 || !(q[6] == ' ' || q[6] == '\t' || q[6] == '\n'))
        return false;
    const char *semi = strchr(q, ';');
    if (semi) {
        for (const char *p = semi + 1; *p; p++) {
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
                return false;
        }
    }
    return true;
}

/* Text form of one cell, by type, into out (cap bytes; longer values are cut). */
static enum store_type cell_to_text(uint16_t type, const struct cql_str *v, char *out, size_t cap)
{
    int64_t i64;
    int32_t i32;
    switch (type) {
    case CQL_T_ASCII:
    case CQL_T_VARCHAR:
        snprintf(out, cap, "%.*s", (int)v->len, v->p);
        return STORE_T_TEXT;
    case CQL_T_UUID:
    case CQL_T_TIMEUUID:
        if (v->len == 16) {
            char u[37];
            uuid_format((const uint8_t *)v->p, u);
            snprintf(out, cap, "%s", u);
            return STORE_T_TEXT;
        }
        break;
    case CQL_T_BIGINT:
    case CQL_T_COUNTER:
        if (cql_get_bigint(v, &i64) == 0) {
            snprintf(out, cap, "%" PRId64, i64);
            return STORE_T_INT;
        }
        break;
    case CQL_T_INT:
        if (cql_get_int(v, &i32) == 0) {
            snprintf(out, cap, "%" PRId32, i32);
            return STORE_T_INT;
        }
        break;
    case CQL_T_SMALLINT:
        if (v->len == 2) {
            snprintf(out, cap, "%d", (int16_t)(((uint8_t)v->p[0] << 8) | (uint8_t)v->p[1]));
            return STORE_T_INT;
        }
        break;
    case CQL_T_TINYINT:
        if (v->len == 1) {
            snprintf(out, cap, "%d", (int8_t)v->p[0]);
            return STORE_T_INT;
        }
        break;
    case CQL_T_BOOLEAN:
        if (v->len == 1) {
            snprintf(out, cap, "%s", v->p[0] ? "true" : "false");
            return STORE_T_TEXT;
        }
        break;
    case CQL_T_DOUBLE:
        if (cql_get_bigint(v, &i64) == 0) {
            double d;
            memcpy(&d, &i64, sizeof(d));
            snprintf(out, cap, "%.17g", d);
            return STORE_T_REAL;
        }
        break;
    case CQL_T_FLOAT:
        if (cql_get_int(v, &i32) == 0) {
            float f;
            memcpy(&f, &i32, sizeof(f));
            snprintf(out, cap, "%.9g", (double)f);
            return STORE_T_REAL;
        }
        break;
    case CQL_T_TIMESTAMP:
        if (cql_get_bigint(v, &i64) == 0) {
            time_t secs = (time_t)(i64 >= 0 ? i64 / 1000 : (i64 - 999) / 1000);
            struct tm tm;
            gmtime_r(&secs, &tm);
            char b[40];
            strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
            snprintf(out, cap, "%s.%03dZ", b, (int)(((i64 % 1000) + 1000) % 1000));
            return STORE_T_TEXT;
        }
        break;
    default:
        break;
    }
    /* Anything else: hex, as cqlsh shows blobs. */
    size_t k = (size_t)snprintf(out, cap, "0x");
    for (int32_t i = 0; i < v->len && k + 3 < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%02x", (uint8_t)v->p[i]);
    return STORE_T_BLOB;
}

static int cass_query(struct store *st, const char *q, int64_t timeout_ms, store_row_cb cb,
                      void *arg, struct sl_err *err)
{
    struct cass_store *s = (struct cass_store *)st;
    if (!read_only_statement(q))
        return sl_err_set(err, "cassandra: only one SELECT statement is allowed here");
    int64_t deadline = mono_ms() + timeout_ms;
    struct cql_result res = {0}, prev = {0};
    struct cql_str paging = {NULL, -1};
    int ret = 0;
    bool stop = false;
    char **names = NULL;
    int names_n = 0;
    char **vals = NULL;
    enum store_type *types = NULL;
    char *cellbuf = NULL;
    const size_t cellcap = 65536;
    for (;;) {
        if (mono_ms() > deadline) {
            ret = sl_err_set(err, "cassandra: query timed out after %" PRId64 " ms", timeout_ms);
            break;
        }
        if (cql_cluster_query(s->cl, q, NULL, 0, s->consistency, -1, 5000,
                              paging.len >= 0 ? &paging : NULL, &res, err) != 0) {
            ret = ERR_WRAP(err, "cassandra: %s");
            break;
        }
        cql_result_free(&prev);
        if (res.r.kind != CQL_RESULT_ROWS) {
            cql_result_free(&res);
            break; /* nothing to show */
        }
        int nc = res.r.meta.ncols;
        if (names && nc != names_n) {
            ret = sl_err_set(err, "cassandra: column count changed between pages");
            cql_result_free(&res);
            break;
        }
        if (!names) {
            if (!res.r.meta.names || nc <= 0) {
                ret = sl_err_set(err, "cassandra: result without column metadata");
                cql_result_free(&res);
                break;
            }
            names = calloc((size_t)nc, sizeof(*names));
            vals = calloc((size_t)nc, sizeof(*vals));
            types = calloc((size_t)nc, sizeof(*types));
            cellbuf = malloc((size_t)nc * cellcap);
            if (!names || !vals || !types || !cellbuf) {
                ret = sl_err_set(err, "out of memory");
                cql_result_free(&res);
                break;
            }
            names_n = nc;
            for (int c = 0; c < nc; c++)
                names[c] = strndup(res.r.meta.names[c].p, (size_t)res.r.meta.names[c].len);
        }
        for (int32_t r = 0; r < res.r.nrows && !stop; r++) {
            for (int c = 0; c < nc; c++) {
                const struct cql_str *v = &res.r.cells[(size_t)r * (size_t)nc + (size_t)c];
                if (v->len < 0) {
                    vals[c] = NULL;
                    types[c] = STORE_T_NULL;
                } else {
                    vals[c] = cellbuf + (size_t)c * cellcap;
                    types[c] = cell_to_text(res.r.meta.types[c], v, vals[c], cellcap);
                }
            }
            stop = cb(arg, nc, (const char *const *)names, (const char *const *)vals, types) != 0;
        }
        paging = res.r.meta.paging_state;
        prev = res; /* paging points into it */
        memset(&res, 0, sizeof(res));
        if (stop || paging.len < 0)
            break;
    }
    cql_result_free(&prev);
    for (int c = 0; names && c < names_n; c++)
        free(names[c]);
    free(cellbuf);
    free(vals);
    free(types);
    free(names);
    return ret;
}

const struct store_ops cassandra_store_ops = {
    .name = "cassandra",
    .open = cass_open,
    .load_offset = cass_load_offset,
    .write_batch = cass_write_batch,
    .query = cass_query,
    .close = cass_close,
};
