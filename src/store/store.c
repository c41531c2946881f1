/* The sink registry and the store_*() wrappers. A URI's scheme (the text before the first ':')
 * picks a sink from store_sinks[]; adding a sink is one line there. Every call from the job,
 * `sluice query` and the benches goes through the wrappers, which check arguments once for all
 * sinks and keep per-handle counters. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#include "core/units.h"

#define STORE_DEFAULT_QUERY_TIMEOUT_MS 30000

const struct store_sink store_sinks[] = {
    {"sqlite", &sqlite_store_ops, STORE_CAP_ATOMIC_OFFSETS, "sqlite:DIR", 0},
    /* Every batch ends with a pause of the writes: its last rows' acknowledgements, then the
     * offsets' lightweight transactions (~20 ms a batch on a loaded node here). Larger batches
     * under load make it rarer: 5000 -> 20000 records drained 12-29 % faster
     * (docs/cassandra.md). */
    {"cassandra", &cassandra_store_ops, STORE_CAP_IDEMPOTENT_UPSERTS | STORE_CAP_FENCED_OFFSETS,
     "cassandra://[USER:PASS@]HOST[:PORT][,HOST...]/KEYSPACE", 20000},
    {NULL, NULL, 0, NULL, 0},
};

static const struct store_sink *sink_find(const char *uri, size_t *skip)
{
    const char *colon = strchr(uri, ':');
    if (!colon)
        return NULL;
    size_t n = (size_t)(colon - uri);
    for (const struct store_sink *s = store_sinks; s->scheme; s++) {
        if (strlen(s->scheme) == n && strncmp(uri, s->scheme, n) == 0) {
            *skip = n + 1;
            return s;
        }
    }
    return NULL;
}

int64_t store_batch_max(const char *uri)
{
    size_t skip;
    const struct store_sink *s = uri ? sink_find(uri, &skip) : NULL;
    return s ? s->batch_max : 0;
}

int store_open(const char *uri, const struct store_table *t, const char *group, unsigned flags,
               struct store **out, struct sl_err *err)
{
    *out = NULL;
    if (!uri || !t)
        return sl_err_set(err, "store: no URI or table");
    if (t->ncols < 1 || t->ncols > STORE_MAX_COLS || t->key_col < 0 || t->key_col >= t->ncols)
        return sl_err_set(err, "store: bad table layout");
    size_t skip = 0;
    const struct store_sink *s = sink_find(uri, &skip);
    if (!s) {
        char list[512];
        size_t n = 0;
        list[0] = '\0';
        for (const struct store_sink *k = store_sinks; k->scheme && n < sizeof(list); k++)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? " or " : "", k->usage);
        return sl_err_set(err, "--store '%.200s': expected %s", uri, list);
    }
    if (uri[skip] == '\0')
        return sl_err_set(err, "--store %s needs a location: %s", uri, s->usage);
    if (!(flags & STORE_READONLY) && (!group || !*group))
        return sl_err_set(err, "store: a consumer group name is needed to write");
    if (s->ops->open(out, uri + skip, t, group, flags, err) != 0) {
        *out = NULL;
        return -1;
    }
    (*out)->sink = s;
    memset(&(*out)->metrics, 0, sizeof((*out)->metrics));
    return 0;
}

int store_load_offset(struct store *st, const char *topic, int32_t partition, int64_t *next,
                      struct sl_err *err)
{
    if (!st || !topic || !*topic || partition < 0 || !next)
        return sl_err_set(err, "store: bad load_offset arguments");
    *next = -1;
    return st->ops->load_offset(st, topic, partition, next, err);
}

int store_write_batch(struct store *st, const char *topic, const struct store_row *rows,
                      size_t nrows, const struct store_offset *offs, size_t noffs,
                      struct sl_err *err)
{
    if (!st || !topic || !*topic || (nrows > 0 && !rows) || (noffs > 0 && !offs))
        return sl_err_set(err, "store: bad write_batch arguments");
    for (size_t i = 0; i < noffs; i++) {
        if (offs[i].partition < 0 || offs[i].next_offset < 0 || offs[i].prev_next < -1)
            return sl_err_set(err, "store: bad offset for partition %d", (int)offs[i].partition);
    }
    int64_t t0 = mono_us();
    int rc = st->ops->write_batch(st, topic, rows, nrows, offs, noffs, err);
    st->metrics.write_us += (uint64_t)(mono_us() - t0);
    if (rc == 0) {
        st->metrics.batches++;
        st->metrics.rows += nrows;
    } else if (rc == STORE_CONFLICT) {
        st->metrics.conflicts++;
    } else {
        st->metrics.failures++;
    }
    return rc;
}

int store_query(struct store *st, const char *q, int64_t timeout_ms, store_row_cb cb, void *arg,
                struct sl_err *err)
{
    if (!st || !q || !cb)
        return sl_err_set(err, "store: bad query arguments");
    if (timeout_ms <= 0)
        timeout_ms = STORE_DEFAULT_QUERY_TIMEOUT_MS;
    st->metrics.queries++;
    return st->ops->query(st, q, timeout_ms, cb, arg, err);
}

int store_tend(struct store *st, struct sl_err *err)
{
    if (!st)
        return sl_err_set(err, "store: bad tend arguments");
    return st->ops->tend ? st->ops->tend(st, err) : 0;
}

void store_close(struct store *st)
{
    if (st)
        st->ops->close(st);
}

unsigned store_caps(const struct store *st)
{
    return st && st->sink ? st->sink->caps : 0;
}

void store_uri_redact(const char *uri, char *out, size_t cap)
{
    const char *scheme_end = strstr(uri, "://");
    const char *at = scheme_end ? strchr(scheme_end + 3, '@') : NULL;
    const char *slash = scheme_end ? strchr(scheme_end + 3, '/') : NULL;
    if (slash && at && at > slash)
        at = NULL;
    const char *colon = at ? memchr(scheme_end + 3, ':', (size_t)(at - scheme_end - 3)) : NULL;
    if (!colon) {
        snprintf(out, cap, "%s", uri);
        return;
    }
    snprintf(out, cap, "%.*s:***%s", (int)(colon - uri), uri, at);
}

int store_default_uri(const char *data_dir, char *out, size_t cap)
{
    int n = snprintf(out, cap, "sqlite:%s/store", data_dir);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}
