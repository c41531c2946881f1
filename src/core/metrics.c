/* The metrics registry and Prometheus text exposition (format 0.0.4): families in a list under
 * a mutex, series values in atomics so that updates never lock. */
#include "core/metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define MAX_LABELS 8
#define MAX_BUCKETS 32
#define MAX_COLLECTORS 16

struct metric {
    struct metric *next;
    struct metric_family *fam;
    char *values[MAX_LABELS];
    _Atomic uint64_t count;   /* counter value; histogram count */
    _Atomic uint64_t bits;    /* gauge value or histogram sum, as a double's bits */
    _Atomic uint64_t *bucket; /* histogram: nbounds + 1 counts (not cumulative) */
};

struct metric_family {
    struct metric_family *next;
    enum metric_type type;
    char *name;
    char *help;
    int nlabels;
    char *labels[MAX_LABELS];
    double bounds[MAX_BUCKETS];
    size_t nbounds;
    struct metric *series, **tail;
};

struct collector {
    metrics_collect_fn fn;
    void *ctx;
};

struct metrics {
    pthread_mutex_t mu;
    struct metric_family *families, **tail;
    struct collector collectors[MAX_COLLECTORS];
    int ncollectors;
};

const double metrics_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                          1,      2.5,     5,      10,    30,     60};
const size_t metrics_latency_buckets_n =
    sizeof(metrics_latency_buckets) / sizeof(metrics_latency_buckets[0]);

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

struct metrics *metrics_create(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->tail = &m->families;
    return m;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static struct metrics *global_registry;

static void global_make(void)
{
    global_registry = metrics_create();
}

struct metrics *metrics_global(void)
{
    pthread_once(&global_once, global_make);
    return global_registry;
}

static void series_free(struct metric *s, int nlabels)
{
    for (int i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->bucket);
    free(s);
}

void metrics_destroy(struct metrics *m)
{
    if (!m)
        return;
    struct metric_family *f = m->families;
    while (f) {
        struct metric_family *fn = f->next;
        struct metric *s = f->series;
        while (s) {
            struct metric *sn = s->next;
            series_free(s, f->nlabels);
            s = sn;
        }
        for (int i = 0; i < f->nlabels; i++)
            free(f->labels[i]);
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool valid_name(const char *s, bool allow_colon)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool ok = isalpha(c) || c == '_' || (allow_colon && c == ':') || (p > s && isdigit(c));
        if (!ok || c > 127)
            return false;
    }
    return true;
}

/* Splits "a,b" into names; -1 on a bad or reserved name or too many. */
static int split_labels(const char *labels, char *out[MAX_LABELS])
{
    int n = 0;
    if (!labels || !*labels)
        return 0;
    const char *p = labels;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n == MAX_LABELS || len == 0 || len > 64)
            goto bad;
        out[n] = strndup(p, len);
        if (!out[n])
            goto bad;
        n++;
        if (!valid_name(out[n - 1], false) || strncmp(out[n - 1], "__", 2) == 0 ||
            strcmp(out[n - 1], "le") == 0)
            goto bad;
        if (!e)
            break;
        p = e + 1;
    }
    return n;
bad:
    for (int i = 0; i < n; i++)
        free(out[i]);
    return -1;
}

static struct metric_family *family_add(struct metrics *m, enum metric_type type, const char *name,
                                        const char *help, const char *labels, const double *bounds,
                                        size_t nbounds)
{
    if (!m)
        return NULL;
    if (!valid_name(name, true)) {
        log_error("metrics", "invalid metric name '%s'", name ? name : "");
        return NULL;
    }
    if (nbounds > MAX_BUCKETS) {
        log_error("metrics", "%s: too many buckets", name);
        return NULL;
    }
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
            log_error("metrics", "%s: buckets must be finite and increasing", name);
            return NULL;
        }
    }
    char *lab[MAX_LABELS];
    int nl = split_labels(labels, lab);
    if (nl < 0) {
        log_error("metrics", "%s: invalid label names '%s'", name, labels);
        return NULL;
    }
    struct metric_family *f = NULL;
    bool made = false;
    pthread_mutex_lock(&m->mu);
    for (struct metric_family *g = m->families; g; g = g->next) {
        if (strcmp(g->name, name) != 0)
            continue;
        bool same = g->type == type && g->nlabels == nl && g->nbounds == nbounds;
        for (int i = 0; same && i < nl; i++)
            same = strcmp(g->labels[i], lab[i]) == 0;
        for (size_t i = 0; same && i < nbounds; i++)
            same = g->bounds[i] == bounds[i];
        if (!same)
            log_error("metrics", "metric '%s' registered twice with different shapes", name);
        f = same ? g : NULL;
        goto out;
    }
    f = calloc(1, sizeof *f);
    if (!f)
        goto out;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
        free(f->name);
        free(f->help);
        free(f);
        f = NULL;
        goto out;
    }
    f->nlabels = nl;
    for (int i = 0; i < nl; i++) {
        f->labels[i] = lab[i];
        lab[i] = NULL;
    }
    nl = 0;
    if (nbounds)
        memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    f->nbounds = nbounds;
    f->tail = &f->series;
    *m->tail = f;
    m->tail = &f->next;
    made = true;
out:
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < nl; i++)
        free(lab[i]);
    if (made && f->nlabels == 0)
        metric_getv(f, NULL); /* an unlabelled family always shows its one series */
    return f;
}

/* The family's registry is needed for the series lock: families keep no back pointer, so a
 * process-wide lock guards series lists (creation is rare: once per label set). */
static pthread_mutex_t series_mu = PTHREAD_MUTEX_INITIALIZER;

struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *labels)
{
    return family_add(m, METRIC_COUNTER, name, help, labels, NULL, 0);
}

struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *labels)
{
    return family_add(m, METRIC_GAUGE, name, help, labels, NULL, 0);
}

struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *labels, const double *bounds, size_t nbounds)
{
    return family_add(m, METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

struct metric *metric_getv(struct metric_family *f, const char *const *values)
{
    if (!f)
        return NULL;
    struct metric *s;
    pthread_mutex_lock(&series_mu);
    for (s = f->series; s; s = s->next) {
        int i = 0;
        while (i < f->nlabels && strcmp(s->values[i], values[i] ? values[i] : "") == 0)
            i++;
        if (i == f->nlabels)
            goto out;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        goto out;
    s->fam = f;
    for (int i = 0; i < f->nlabels; i++) {
        s->values[i] = strdup(values[i] ? values[i] : "");
        if (!s->values[i]) {
            series_free(s, i);
            s = NULL;
            goto out;
        }
    }
    if (f->type == METRIC_HISTOGRAM) {
        s->bucket = calloc(f->nbounds + 1, sizeof *s->bucket);
        if (!s->bucket) {
            series_free(s, f->nlabels);
            s = NULL;
            goto out;
        }
    }
    atomic_init(&s->bits, dbits(0.0));
    *f->tail = s;
    f->tail = &s->next;
out:
    pthread_mutex_unlock(&series_mu);
    return s;
}

struct metric *metric_get(struct metric_family *f, ...)
{
    if (!f)
        return NULL;
    const char *values[MAX_LABELS];
    va_list ap;
    va_start(ap, f);
    for (int i = 0; i < f->nlabels; i++)
        values[i] = va_arg(ap, const char *);
    va_end(ap);
    return metric_getv(f, values);
}

void metric_inc(struct metric *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void metric_add(struct metric *s, uint64_t n)
{
    if (s)
        atomic_fetch_add_explicit(&s->count, n, memory_order_relaxed);
}

void metric_counter_set(struct metric *s, uint64_t v)
{
    if (s)
        atomic_store_explicit(&s->count, v, memory_order_relaxed);
}

void metric_set(struct metric *s, double v)
{
    if (s)
        atomic_store_explicit(&s->bits, dbits(v), memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *bits, double d)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, dbits(bitsd(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metric_gauge_add(struct metric *s, double d)
{
    if (s)
        add_double(&s->bits, d);
}

void metric_observe_n(struct metric *s, double v, uint64_t n)
{
    if (!s || !s->bucket || n == 0)
        return;
    const struct metric_family *f = s->fam;
    size_t i = 0;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->bucket[i], n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, n, memory_order_relaxed);
    add_double(&s->bits, v * (double)n);
}

void metric_observe(struct metric *s, double v)
{
    metric_observe_n(s, v, 1);
}

double metric_value(const struct metric *s)
{
    if (!s)
        return 0;
    if (s->fam->type == METRIC_GAUGE)
        return bitsd(atomic_load_explicit(&s->bits, memory_order_relaxed));
    return (double)atomic_load_explicit(&s->count, memory_order_relaxed);
}

uint64_t metric_hist_count(const struct metric *s)
{
    return s ? atomic_load_explicit(&s->count, memory_order_relaxed) : 0;
}

double metric_hist_sum(const struct metric *s)
{
    return s ? bitsd(atomic_load_explicit(&s->bits, memory_order_relaxed)) : 0;
}

int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *ctx)
{
    int rc = -1;
    pthread_mutex_lock(&m->mu);
    if (m->ncollectors < MAX_COLLECTORS) {
        m->collectors[m->ncollectors++] = (struct collector){fn, ctx};
        rc = 0;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->ncollectors; i++) {
        if (m->collectors[i].fn == fn && m->collectors[i].ctx == ctx) {
            memmove(&m->collectors[i], &m->collectors[i + 1],
                    (size_t)(m->ncollectors - i - 1) * sizeof m->collectors[0]);
            m->ncollectors--;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ---- */

/* Shortest text that reads back as the same double; Prometheus's spellings for the rest. */
static int put_double(struct buf *out, double v)
{
    if (isnan(v))
        return buf_append_str(out, "NaN");
    if (isinf(v))
        return buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 1e15)
        return buf_printf(out, "%.0f", v);
    char tmp[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return buf_append_str(out, tmp);
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static int put_escaped(struct buf *out, const char *s, bool quote)
{
    for (const char *p = s; *p; p++) {
        int rc;
        if (*p == '\\')
            rc = buf_append_str(out, "\\\\");
        else if (*p == '\n')
            rc = buf_append_str(out, "\\n");
        else if (quote && *p == '"')
            rc = buf_append_str(out, "\\\"");
        else
            rc = buf_append(out, p, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* name{labels[,le="x"]} */
static int put_series_name(struct buf *out, const struct metric *s, const char *suffix,
                           const double *le)
{
    const struct metric_family *f = s->fam;
    if (buf_append_str(out, f->name) < 0 || buf_append_str(out, suffix) < 0)
        return -1;
    if (f->nlabels == 0 && !le)
        return 0;
    if (buf_append_str(out, "{") < 0)
        return -1;
    for (int i = 0; i < f->nlabels; i++) {
        if (buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]) < 0 ||
            put_escaped(out, s->values[i], true) < 0 || buf_append_str(out, "\"") < 0)
            return -1;
    }
    if (le) {
        if (buf_printf(out, "%sle=\"", f->nlabels ? "," : "") < 0 || put_double(out, *le) < 0 ||
            buf_append_str(out, "\"") < 0)
            return -1;
    }
    return buf_append_str(out, "}");
}

static int render_series(struct buf *out, const struct metric *s)
{
    const struct metric_family *f = s->fam;
    if (f->type != METRIC_HISTOGRAM) {
        if (put_series_name(out, s, "", NULL) < 0 || buf_append_str(out, " ") < 0 ||
            put_double(out, metric_value(s)) < 0)
            return -1;
        return buf_append_str(out, "\n");
    }
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        double le = i < f->nbounds ? f->bounds[i] : INFINITY;
        cum += atomic_load_explicit(&s->bucket[i], memory_order_relaxed);
        if (put_series_name(out, s, "_bucket", &le) < 0 ||
            buf_printf(out, " %llu\n", (unsigned long long)cum) < 0)
            return -1;
    }
    /* _count from the buckets read, so that it equals the +Inf bucket as parsers demand. */
    if (put_series_name(out, s, "_sum", NULL) < 0 || buf_append_str(out, " ") < 0 ||
        put_double(out, metric_hist_sum(s)) < 0 || buf_append_str(out, "\n") < 0 ||
        put_series_name(out, s, "_count", NULL) < 0 ||
        buf_printf(out, " %llu\n", (unsigned long long)cum) < 0)
        return -1;
    return 0;
}

int metrics_render(struct metrics *m, struct buf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    struct collector cs[MAX_COLLECTORS];
    pthread_mutex_lock(&m->mu);
    int nc = m->ncollectors;
    memcpy(cs, m->collectors, sizeof cs);
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < nc; i++)
        cs[i].fn(m, cs[i].ctx);

    int rc = 0;
    pthread_mutex_lock(&m->mu);
    pthread_mutex_lock(&series_mu);
    for (struct metric_family *f = m->families; f && rc == 0; f = f->next) {
        if (!f->series)
            continue; /* a labelled family with no series yet says nothing */
        rc = buf_printf(out, "# HELP %s ", f->name);
        if (rc == 0)
            rc = put_escaped(out, f->help, false);
        if (rc == 0)
            rc = buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (struct metric *s = f->series; s && rc == 0; s = s->next)
            rc = render_series(out, s);
    }
    pthread_mutex_unlock(&series_mu);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- parsing ---- */

static const char *skip_sp(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

int metrics_parse(const char *text, size_t len, metrics_sample_fn fn, void *arg)
{
    const char *p = text, *end = text + len;
    int n = 0;
    char name[256], labels[2048], num[64];
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *q = skip_sp(p, eol);
        if (q == eol || *q == '#') {
            p = eol + (eol < end);
            continue;
        }
        /* name */
        const char *ns = q;
        while (q < eol && (isalnum((unsigned char)*q) || *q == '_' || *q == ':'))
            q++;
        size_t nlen = (size_t)(q - ns);
        if (nlen == 0 || nlen >= sizeof name || isdigit((unsigned char)*ns))
            return -1;
        memcpy(name, ns, nlen);
        name[nlen] = '\0';
        /* labels: up to the closing brace outside quotes */
        bool has_labels = false;
        if (q < eol && *q == '{') {
            const char *ls = ++q;
            bool in_str = false;
            while (q < eol) {
                if (in_str && *q == '\\' && q + 1 < eol)
                    q += 2;
                else if (*q == '"')
                    in_str = !in_str, q++;
                else if (!in_str && *q == '}')
                    break;
                else
                    q++;
            }
            if (q >= eol || (size_t)(q - ls) >= sizeof labels)
                return -1;
            memcpy(labels, ls, (size_t)(q - ls));
            labels[q - ls] = '\0';
            has_labels = true;
            q++;
        }
        const char *vs = skip_sp(q, eol);
        if (vs == q)
            return -1;
        const char *ve = vs;
        while (ve < eol && *ve != ' ' && *ve != '\t' && *ve != '\r')
            ve++;
        size_t vlen = (size_t)(ve - vs);
        if (vlen == 0 || vlen >= sizeof num)
            return -1;
        memcpy(num, vs, vlen);
        num[vlen] = '\0';
        double v;
        if (strcmp(num, "+Inf") == 0)
            v = INFINITY;
        else if (strcmp(num, "-Inf") == 0)
            v = -INFINITY;
        else if (strcmp(num, "NaN") == 0)
            v = NAN;
        else {
            char *e;
            v = strtod(num, &e);
            if (*e)
                return -1;
        }
        fn(name, has_labels ? labels : NULL, v, arg);
        n++;
        p = eol + (eol < end);
    }
    return n;
}

int metrics_label(const char *labels, const char *key, char *out, size_t cap)
{
    if (!labels || cap == 0)
        return -1;
    size_t klen = strlen(key);
    const char *p = labels;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *k = p;
        while (*p && *p != '=')
            p++;
        if (*p != '=' || p[1] != '"')
            return -1;
        bool match = (size_t)(p - k) == klen && memcmp(k, key, klen) == 0;
        p += 2;
        size_t n = 0;
        while (*p && *p != '"') {
            char c = *p++;
            if (c == '\\' && *p) {
                c = *p++;
                if (c == 'n')
                    c = '\n';
            }
            if (match) {
                if (n + 1 >= cap)
                    return -1;
                out[n++] = c;
            }
        }
        if (*p != '"')
            return -1;
        p++;
        if (match) {
            out[n] = '\0';
            return 0;
        }
    }
    return -1;
}
