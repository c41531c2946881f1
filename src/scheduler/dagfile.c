/* Reads DAG files through libyaml's document loader (nodes keep their line numbers), in
 * dag-factory 1.x's format or Airflow 3.4's native YAML. Typed getters report
 * "FILE:LINE: message" for the node that is wrong. */
#include "scheduler/dagfile.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/units.h"

#define MAX_DAG_FILE (4 << 20)

const char dagfile_builtin_yaml[] = "user_automation:\n"
                                    "  default_args:\n"
                                    "    owner: airscholar\n"
                                    "    start_date: 2023-09-03T10:00:00\n"
                                    "    retries: 1\n"
                                    "    retry_delay: 5m\n"
                                    "  schedule: \"@daily\"\n"
                                    "  catchup: false\n"
                                    "  tasks:\n"
                                    "    - task_id: stream_data_from_api\n"
                                    "      operator: sluice.ingest\n"
                                    "      duration: 60s\n";

struct rd {
    yaml_document_t *doc;
    const char *file;
    /* dag-factory's defaults.yml beside the file: its own document and name */
    yaml_document_t *ddoc;
    const char *dfile;
    yaml_node_t *droot;
    /* per layer of defaults (apply_defaults): the document and file it comes from */
    yaml_document_t *layer_doc[3];
    const char *layer_file[3];
    struct sl_err *err;
    int64_t now_s;
};

static int fail(struct rd *r, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct rd *r, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_err_set(r->err, "%s:%d: %s", r->file, n ? (int)n->start_mark.line + 1 : 1, msg);
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        abort();
    return p;
}

static yaml_node_t *node(struct rd *r, int idx)
{
    return yaml_document_get_node(r->doc, idx);
}

static bool is_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE;
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    if (!n)
        return true;
    if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = sval(n);
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static const char *kind_name(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

static yaml_node_t *map_get(struct rd *r, const yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(r, p->key);
        if (is_scalar(k) && strcmp(sval(k), key) == 0)
            return node(r, p->value);
    }
    return NULL;
}

/* Airflow 3.4 native values: {$const: v} is v; templates and XComs are not supported. */
static int unwrap(struct rd *r, yaml_node_t **n)
{
    yaml_node_t *v = *n;
    if (!v || v->type != YAML_MAPPING_NODE)
        return 0;
    if (v->data.mapping.pairs.top - v->data.mapping.pairs.start != 1)
        return 0;
    yaml_node_t *k = node(r, v->data.mapping.pairs.start->key);
    if (!is_scalar(k))
        return 0;
    if (strcmp(sval(k), "$const") == 0) {
        *n = node(r, v->data.mapping.pairs.start->value);
        return 0;
    }
    if (strcmp(sval(k), "$t") == 0 || strcmp(sval(k), "$x") == 0)
        return fail(r, v, "'%s' values (templates, XComs) are not supported by sluice", sval(k));
    return 0;
}

static int get_str(struct rd *r, yaml_node_t *n, const char *key, char **out)
{
    if (unwrap(r, &n) != 0)
        return -1;
    if (!is_scalar(n))
        return fail(r, n, "'%s' must be a string, not %s", key, kind_name(n));
    free(*out);
    *out = xstrdup(sval(n));
    return 0;
}

static int get_int(struct rd *r, yaml_node_t *n, const char *key, int64_t min, int64_t max,
                   int64_t *out)
{
    if (unwrap(r, &n) != 0)
        return -1;
    struct sl_err e;
    if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        parse_int(sval(n), min, max, out, &e) != 0)
        return fail(r, n, "'%s' must be an integer between %lld and %lld, not %s%s%s", key,
                    (long long)min, (long long)max, is_scalar(n) ? "'" : kind_name(n),
                    is_scalar(n) ? sval(n) : "", is_scalar(n) ? "'" : "");
    return 0;
}

static int get_bool(struct rd *r, yaml_node_t *n, const char *key, bool *out)
{
    if (unwrap(r, &n) != 0)
        return -1;
    /* YAML 1.1 booleans, as PyYAML reads them */
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};
    if (is_scalar(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcmp(sval(n), yes[i]) == 0) {
                *out = true;
                return 0;
            }
            if (strcmp(sval(n), no[i]) == 0) {
                *out = false;
                return 0;
            }
        }
    }
    return fail(r, n, "'%s' must be true or false, not %s%s%s", key,
                is_scalar(n) ? "'" : kind_name(n), is_scalar(n) ? sval(n) : "",
                is_scalar(n) ? "'" : "");
}

/* Seconds: an integer, "30s"/"5m"/"1h", or {__type__: datetime.timedelta, seconds: N, ...}. */
static int get_duration(struct rd *r, yaml_node_t *n, const char *key, int64_t *out)
{
    if (unwrap(r, &n) != 0)
        return -1;
    if (is_scalar(n)) {
        int64_t ms;
        struct sl_err e;
        char *end;
        double f = strtod(sval(n), &end);
        if (*sval(n) && !*end && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && f >= 0 &&
            f < 1e12) {
            *out = (int64_t)(f + 0.5);
            return 0;
        }
        if (parse_duration_ms(sval(n), &ms, &e) == 0 && ms >= 0) {
            *out = (ms + 999) / 1000;
            return 0;
        }
        return fail(r, n,
                    "'%s' must be a duration (seconds, \"30s\", \"5m\", \"1h\" or a "
                    "datetime.timedelta), not '%s'",
                    key, sval(n));
    }
    if (n && n->type == YAML_MAPPING_NODE) {
        yaml_node_t *type = map_get(r, n, "__type__");
        if (!is_scalar(type) || strcmp(sval(type), "datetime.timedelta") != 0)
            return fail(r, n,
                        "'%s' must be a duration; a mapping needs __type__: "
                        "datetime.timedelta",
                        key);
        double total = 0;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
            if (!is_scalar(k) || strcmp(sval(k), "__type__") == 0)
                continue;
            static const struct {
                const char *name;
                double mult;
            } units[] = {{"weeks", 604800},         {"days", 86400}, {"hours", 3600},
                         {"minutes", 60},           {"seconds", 1},  {"milliseconds", 0.001},
                         {"microseconds", 0.000001}};
            double mult = -1;
            for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(sval(k), units[i].name) == 0)
                    mult = units[i].mult;
            }
            if (mult < 0)
                return fail(r, k, "timedelta() got an unexpected keyword argument '%s'", sval(k));
            char *end;
            double f = is_scalar(v) ? strtod(sval(v), &end) : 0;
            if (!is_scalar(v) || !*sval(v) || *end)
                return fail(r, v, "timedelta %s must be a number", sval(k));
            total += f * mult;
        }
        if (total < 0)
            return fail(r, n, "'%s' must not be negative", key);
        *out = (int64_t)(total + 0.5);
        return 0;
    }
    return fail(r, n, "'%s' must be a duration, not %s", key, kind_name(n));
}

/* A date or datetime (its offset attached as UTC, as dag-factory does), or a relative
 * "N days" (before today's midnight). */
static int get_datetime(struct rd *r, yaml_node_t *n, const char *key, int64_t *out)
{
    if (unwrap(r, &n) != 0)
        return -1;
    if (!is_scalar(n))
        return fail(r, n, "'%s' must be a date, not %s", key, kind_name(n));
    const char *s = sval(n);
    char text[64];
    snprintf(text, sizeof(text), "%s", s);
    /* the zone is attached, not converted: drop the offset */
    if (strlen(text) > 19 && (text[10] == 'T' || text[10] == ' ')) {
        for (char *p = text + 11; *p; p++) {
            if (*p == '+' || *p == '-' || *p == 'Z' || *p == 'z') {
                *p = '\0';
                break;
            }
        }
    }
    int64_t us;
    if (parse_iso_time_us(text, 0, &us) == 0) {
        *out = us / 1000000;
        return 0;
    }
    /* "N days", "1 day 2 hours", "3 hours ago" */
    int64_t secs = 0;
    const char *p = s;
    bool any = false;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (strcmp(p, "ago") == 0)
            break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0)
            goto bad;
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        static const struct {
            const char *name;
            int64_t mult;
        } units[] = {{"weeks", 604800}, {"week", 604800}, {"days", 86400}, {"day", 86400},
                     {"hours", 3600},   {"hour", 3600},   {"minutes", 60}, {"minute", 60},
                     {"seconds", 1},    {"second", 1}};
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !mult; i++) {
            size_t l = strlen(units[i].name);
            if (strncmp(p, units[i].name, l) == 0 && !isalpha((unsigned char)p[l])) {
                mult = units[i].mult;
                p += l;
            }
        }
        if (!mult)
            goto bad;
        secs += v * mult;
        any = true;
    }
    if (!any)
        goto bad;
    *out = (r->now_s / 86400) * 86400 - secs;
    return 0;
bad:
    return fail(r, n,
                "'%s' must be a date (2024-01-01, 2024-01-01T10:00:00) or \"N days\", not "
                "'%s'",
                key, s);
}

static int get_strlist(struct rd *r, yaml_node_t *n, const char *key, char ***out, int *count)
{
    if (unwrap(r, &n) != 0)
        return -1;
    if (is_null(n))
        return 0;
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return fail(r, n, "'%s' must be a list of strings, not %s", key, kind_name(n));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node(r, *it);
        if (unwrap(r, &v) != 0)
            return -1;
        if (!is_scalar(v))
            return fail(r, v, "'%s' must be a list of strings; an item is %s", key, kind_name(v));
        char **nv = realloc(*out, (size_t)(*count + 1) * sizeof(char *));
        if (!nv)
            abort();
        *out = nv;
        nv[(*count)++] = xstrdup(sval(v));
    }
    return 0;
}

bool dagfile_is_bash_operator(const char *name)
{
    return strcmp(name, "bash") == 0 || strcmp(name, "BashOperator") == 0 ||
           strcmp(name, "airflow.operators.bash.BashOperator") == 0 ||
           strcmp(name, "airflow.operators.bash_operator.BashOperator") == 0 ||
           strcmp(name, "airflow.providers.standard.operators.bash.BashOperator") == 0;
}

static int set_operator(struct rd *r, struct task *t, yaml_node_t *n)
{
    char *name = NULL;
    if (get_str(r, n, "operator", &name) != 0)
        return -1;
    int rc = 0;
    if (dagfile_is_bash_operator(name)) {
        t->op = OP_BASH;
        t->operator_name = xstrdup("BashOperator");
    } else if (strcmp(name, "sluice.ingest") == 0) {
        t->op = OP_INGEST;
        t->operator_name = xstrdup("sluice.ingest");
    } else {
        rc = fail(r, n,
                  "task '%s': unknown operator '%s' (sluice runs sluice.ingest and bash / "
                  "airflow.providers.standard.operators.bash.BashOperator)",
                  t->task_id, name);
    }
    free(name);
    return rc;
}

static const char *const ingest_opts[] = {"source",
                                          "bootstrap",
                                          "topic",
                                          "duration",
                                          "count",
                                          "batch",
                                          "rate",
                                          "nat",
                                          "seed",
                                          "compression",
                                          "linger",
                                          "idempotence",
                                          "fetchers",
                                          "delivery-timeout",
                                          "broker-timeout",
                                          "retry-max",
                                          "http-timeout",
                                          "connect-timeout",
                                          NULL};

static void add_str(char ***v, int *n, const char *s)
{
    char **nv = realloc(*v, (size_t)(*n + 1) * sizeof(char *));
    if (!nv)
        abort();
    *v = nv;
    nv[(*n)++] = xstrdup(s);
}

/* One task argument (from the task, or from default_args when from_defaults: unknown keys
 * are then ignored, as Airflow ignores default_args an operator does not take). Returns 0
 * handled or ignored, -1 error. */
static int task_arg(struct rd *r, struct task *t, const char *key, yaml_node_t *v,
                    bool from_defaults)
{
    int64_t i;
    if (strcmp(key, "retries") == 0) {
        if (get_int(r, v, key, 0, 1000, &i) != 0)
            return -1;
        t->retries = (int)i;
        return 0;
    }
    if (strcmp(key, "retry_delay") == 0)
        return get_duration(r, v, key, &t->retry_delay_s);
    if (strcmp(key, "max_retry_delay") == 0)
        return is_null(v) ? 0 : get_duration(r, v, key, &t->max_retry_delay_s);
    if (strcmp(key, "execution_timeout") == 0) {
        t->execution_timeout_s = 0;
        return is_null(v) ? 0 : get_duration(r, v, key, &t->execution_timeout_s);
    }
    if (strcmp(key, "retry_exponential_backoff") == 0)
        return get_bool(r, v, key, &t->retry_exponential_backoff);
    if (strcmp(key, "owner") == 0)
        return get_str(r, v, key, &t->owner);
    if (strcmp(key, "trigger_rule") == 0) {
        if (!is_scalar(v) || strcmp(sval(v), "all_success") != 0)
            return fail(r, v, "task '%s': only trigger_rule all_success is supported", t->task_id);
        return 0;
    }
    static const char *const ignored[] = {"start_date",
                                          "end_date",
                                          "task_group_name",
                                          "doc_md",
                                          "doc",
                                          "pool",
                                          "priority_weight",
                                          "queue",
                                          "depends_on_past",
                                          "email",
                                          "email_on_failure",
                                          "email_on_retry",
                                          "task_display_name",
                                          "weight_rule",
                                          "wait_for_downstream",
                                          "pool_slots",
                                          "timezone",
                                          NULL};
    for (int k = 0; ignored[k]; k++) {
        if (strcmp(key, ignored[k]) == 0)
            return 0;
    }
    if (t->op == OP_BASH && !from_defaults) {
        if (strcmp(key, "bash_command") == 0)
            return get_str(r, v, key, &t->bash_command);
        if (strcmp(key, "cwd") == 0)
            return is_null(v) ? 0 : get_str(r, v, key, &t->cwd);
        if (strcmp(key, "append_env") == 0)
            return get_bool(r, v, key, &t->append_env);
        if (strcmp(key, "skip_on_exit_code") == 0) {
            if (is_null(v)) {
                t->skip_on_exit_code = -1;
                return 0;
            }
            if (get_int(r, v, key, 0, 255, &i) != 0)
                return -1;
            t->skip_on_exit_code = (int)i;
            return 0;
        }
        if (strcmp(key, "env") == 0) {
            if (unwrap(r, &v) != 0)
                return -1;
            if (is_null(v))
                return 0;
            if (v->type != YAML_MAPPING_NODE)
                return fail(r, v, "task '%s': env must be a mapping of names to values",
                            t->task_id);
            t->has_env = true;
            for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
                 p++) {
                yaml_node_t *k = node(r, p->key), *val = node(r, p->value);
                if (unwrap(r, &val) != 0)
                    return -1;
                if (!is_scalar(k) || !is_scalar(val))
                    return fail(r, val ? val : k, "task '%s': env values must be strings",
                                t->task_id);
                if (!*sval(k) || strchr(sval(k), '='))
                    return fail(r, k, "task '%s': bad environment variable name '%s'", t->task_id,
                                sval(k));
                size_t len = strlen(sval(k)) + strlen(sval(val)) + 2;
                char *kv = malloc(len);
                if (!kv)
                    abort();
                snprintf(kv, len, "%s=%s", sval(k), sval(val));
                char **nv = realloc(t->env, (size_t)(t->nenv + 1) * sizeof(char *));
                if (!nv)
                    abort();
                t->env = nv;
                nv[t->nenv++] = kv;
            }
            return 0;
        }
    }
    if (t->op == OP_INGEST && !from_defaults) {
        char opt[64];
        snprintf(opt, sizeof(opt), "%s", key);
        for (char *p = opt; *p; p++) {
            if (*p == '_')
                *p = '-';
        }
        for (int k = 0; ingest_opts[k]; k++) {
            if (strcmp(opt, ingest_opts[k]) != 0)
                continue;
            if (unwrap(r, &v) != 0)
                return -1;
            if (!is_scalar(v))
                return fail(r, v, "task '%s': '%s' must be a scalar", t->task_id, key);
            char flag[80];
            snprintf(flag, sizeof(flag), "--%s", opt);
            add_str(&t->args, &t->nargs, flag);
            add_str(&t->args, &t->nargs, sval(v));
            return 0;
        }
    }
    if (from_defaults)
        return 0;
    return fail(r, v, "task '%s': %s got an unexpected argument '%s'", t->task_id, t->operator_name,
                key);
}

/* Points r at the document a layer of defaults comes from (defaults.yml is its own). */
static void enter_layer(struct rd *r, int l, yaml_document_t **doc, const char **file)
{
    *doc = r->doc;
    *file = r->file;
    if (l < 3 && r->layer_doc[l]) {
        r->doc = r->layer_doc[l];
        r->file = r->layer_file[l];
    }
}

static int apply_defaults(struct rd *r, struct task *t, yaml_node_t *const *defaults, int ndef)
{
    /* lowest precedence first: defaults.yml, the `default` block, the DAG's default_args */
    for (int d = 0; d < ndef; d++) {
        yaml_node_t *m = defaults[d];
        if (!m)
            continue;
        yaml_document_t *doc;
        const char *file;
        enter_layer(r, d, &doc, &file);
        int rc = 0;
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
             p < m->data.mapping.pairs.top && rc == 0; p++) {
            yaml_node_t *k = node(r, p->key);
            if (is_scalar(k) && task_arg(r, t, sval(k), node(r, p->value), true) != 0)
                rc = -1;
        }
        r->doc = doc;
        r->file = file;
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* A dag-factory task: {task_id?, operator, dependencies, kwargs...}. */
static int read_factory_task(struct rd *r, struct dag *d, const char *task_id, yaml_node_t *tn,
                             yaml_node_t *const *defaults, int ndef)
{
    if (!tn || tn->type != YAML_MAPPING_NODE)
        return fail(r, tn, "task '%s' must be a mapping, not %s", task_id, kind_name(tn));
    struct task *t = dag_add_task(d, task_id, (int)tn->start_mark.line + 1);
    yaml_node_t *op = map_get(r, tn, "operator");
    if (!op)
        return fail(r, tn, "task '%s' has no operator", task_id);
    if (set_operator(r, t, op) != 0 || apply_defaults(r, t, defaults, ndef) != 0)
        return -1;
    for (yaml_node_pair_t *p = tn->data.mapping.pairs.start; p < tn->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        if (!is_scalar(k))
            return fail(r, k, "task '%s': keys must be strings", task_id);
        const char *key = sval(k);
        if (strcmp(key, "task_id") == 0 || strcmp(key, "operator") == 0)
            continue;
        if (strcmp(key, "dependencies") == 0) {
            if (get_strlist(r, v, key, &t->deps, &t->ndeps) != 0)
                return -1;
            continue;
        }
        if (task_arg(r, t, key, v, false) != 0)
            return -1;
    }
    return 0;
}

static int check_id(struct rd *r, yaml_node_t *n, const char *what, const char *id)
{
    if (!*id || strlen(id) > 250)
        return fail(r, n, "%s '%s' must be 1 to 250 characters", what, id);
    for (const char *p = id; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return fail(r, n,
                        "%s '%s' may contain only letters, digits, '_', '-' and '.' (as in "
                        "Airflow)",
                        what, id);
    }
    return 0;
}

static int finish_dag(struct rd *r, struct dag *d)
{
    /* owners: the tasks' owners, once each, in order */
    for (int i = 0; i < d->ntasks; i++) {
        const char *o = d->tasks[i].owner ? d->tasks[i].owner : "airflow";
        bool seen = false;
        for (int k = 0; k < d->nowners; k++)
            seen |= strcmp(d->owners[k], o) == 0;
        if (!seen)
            add_str(&d->owners, &d->nowners, o);
    }
    return dag_validate(d, r->err);
}

/* A DAG-level key of dag-factory (or of a native document). Returns 0 handled, -1 error,
 * 1 unknown. */
static int dag_arg(struct rd *r, struct dag *d, const char *key, yaml_node_t *v)
{
    int64_t i;
    if (strcmp(key, "schedule") == 0) {
        if (unwrap(r, &v) != 0)
            return -1;
        if (is_null(v))
            return schedule_parse(NULL, &d->schedule, r->err);
        if (!is_scalar(v))
            return fail(r, v,
                        "schedule must be a cron expression, a preset or null (timetable "
                        "and asset schedules are not supported)");
        struct sl_err e;
        if (schedule_parse(sval(v), &d->schedule, &e) != 0)
            return fail(r, v, "%s", e.msg);
        return 0;
    }
    if (strcmp(key, "schedule_interval") == 0)
        return fail(r, v,
                    "schedule_interval is not accepted by dag-factory 1.x and Airflow 3: "
                    "use schedule");
    if (strcmp(key, "catchup") == 0)
        return get_bool(r, v, key, &d->catchup);
    if (strcmp(key, "description") == 0)
        return is_null(v) ? 0 : get_str(r, v, key, &d->description);
    if (strcmp(key, "tags") == 0)
        return get_strlist(r, v, key, &d->tags, &d->ntags);
    if (strcmp(key, "max_active_runs") == 0) {
        if (get_int(r, v, key, 1, 10000, &i) != 0)
            return -1;
        d->max_active_runs = (int)i;
        return 0;
    }
    if (strcmp(key, "max_active_tasks") == 0 || strcmp(key, "concurrency") == 0) {
        if (get_int(r, v, key, 1, 10000, &i) != 0)
            return -1;
        d->max_active_tasks = (int)i;
        return 0;
    }
    if (strcmp(key, "start_date") == 0)
        return get_datetime(r, v, key, &d->start_date);
    if (strcmp(key, "end_date") == 0)
        return is_null(v) ? 0 : get_datetime(r, v, key, &d->end_date);
    if (strcmp(key, "timezone") == 0) {
        if (!is_scalar(v) || (strcmp(sval(v), "UTC") != 0 && strcmp(sval(v), "Etc/UTC") != 0))
            return fail(r, v, "time zone '%s' is not supported yet: sluice schedules in UTC",
                        is_scalar(v) ? sval(v) : "?");
        return 0;
    }
    static const char *const ignored[] = {"dag_display_name",
                                          "doc_md",
                                          "params",
                                          "dagrun_timeout",
                                          "is_paused_upon_creation",
                                          "render_template_as_native_obj",
                                          "owner_links",
                                          "default_view",
                                          "orientation",
                                          "access_control",
                                          "max_consecutive_failed_dag_runs",
                                          "$schema",
                                          NULL};
    for (int k = 0; ignored[k]; k++) {
        if (strcmp(key, ignored[k]) == 0)
            return 0;
    }
    return 1;
}

static int read_factory_dag(struct rd *r, const char *dag_id, yaml_node_t *kn, yaml_node_t *dn,
                            yaml_node_t *defblock, struct dagfile *out)
{
    if (check_id(r, kn, "DAG id", dag_id) != 0)
        return -1;
    if (!dn || dn->type != YAML_MAPPING_NODE)
        return fail(r, dn ? dn : kn, "DAG '%s' must be a mapping, not %s", dag_id, kind_name(dn));
    struct dag *d = dag_new(dag_id, r->file, (int)kn->start_mark.line + 1);
    schedule_parse(NULL, &d->schedule, NULL);
    yaml_node_t *layers[3] = {r->droot, defblock, dn};
    yaml_node_t *defaults[3] = {NULL, NULL, NULL};
    yaml_node_t *tasks = NULL;
    int rc = 0;
    memset(r->layer_doc, 0, sizeof(r->layer_doc));
    r->layer_doc[0] = r->ddoc;
    r->layer_file[0] = r->dfile;
    for (int l = 0; l < 3 && rc == 0; l++) {
        yaml_node_t *m = layers[l];
        if (!m)
            continue;
        yaml_document_t *saved_doc;
        const char *saved_file;
        enter_layer(r, l, &saved_doc, &saved_file);
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
             p < m->data.mapping.pairs.top && rc == 0; p++) {
            yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
            if (!is_scalar(k)) {
                rc = fail(r, k, "DAG '%s': keys must be strings", dag_id);
                break;
            }
            const char *key = sval(k);
            if (strcmp(key, "default_args") == 0) {
                if (is_null(v))
                    continue;
                if (v->type != YAML_MAPPING_NODE) {
                    rc = fail(r, v, "default_args must be a mapping, not %s", kind_name(v));
                    break;
                }
                defaults[l] = v;
                yaml_node_t *sd = map_get(r, v, "start_date");
                if (sd && get_datetime(r, sd, "start_date", &d->start_date) != 0)
                    rc = -1;
                yaml_node_t *ed = map_get(r, v, "end_date");
                if (rc == 0 && ed && !is_null(ed) &&
                    get_datetime(r, ed, "end_date", &d->end_date) != 0)
                    rc = -1;
                yaml_node_t *tz = map_get(r, v, "timezone");
                if (rc == 0 && tz && dag_arg(r, d, "timezone", tz) != 0)
                    rc = -1;
                continue;
            }
            if (strcmp(key, "tasks") == 0) {
                tasks = v;
                continue;
            }
            if (strcmp(key, "task_groups") == 0)
                continue;
            int a = dag_arg(r, d, key, v);
            if (a < 0)
                rc = -1;
            else if (a > 0)
                rc = fail(r, k, "DAG '%s': unknown DAG argument '%s'", dag_id, key);
        }
        r->doc = saved_doc;
        r->file = saved_file;
    }
    if (rc == 0 && !tasks)
        rc = fail(r, dn, "DAG '%s' has no tasks", dag_id);
    if (rc == 0 && tasks->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = tasks->data.sequence.items.start;
             it < tasks->data.sequence.items.top && rc == 0; it++) {
            yaml_node_t *tn = node(r, *it);
            yaml_node_t *idn = map_get(r, tn, "task_id");
            if (!tn || tn->type != YAML_MAPPING_NODE)
                rc = fail(r, tn, "DAG '%s': each task must be a mapping with a task_id, not %s",
                          dag_id, kind_name(tn));
            else if (!is_scalar(idn))
                rc = fail(r, tn, "DAG '%s': a task has no task_id", dag_id);
            else if (check_id(r, idn, "task id", sval(idn)) != 0)
                rc = -1;
            else
                rc = read_factory_task(r, d, sval(idn), tn, defaults, 3);
        }
    } else if (rc == 0 && tasks->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = tasks->data.mapping.pairs.start;
             p < tasks->data.mapping.pairs.top && rc == 0; p++) {
            yaml_node_t *k = node(r, p->key);
            if (!is_scalar(k))
                rc = fail(r, k, "DAG '%s': task ids must be strings", dag_id);
            else if (check_id(r, k, "task id", sval(k)) != 0)
                rc = -1;
            else
                rc = read_factory_task(r, d, sval(k), node(r, p->value), defaults, 3);
        }
    } else if (rc == 0) {
        rc = fail(r, tasks, "DAG '%s': tasks must be a list or a mapping, not %s", dag_id,
                  kind_name(tasks));
    }
    bool tagged = false;
    for (int i = 0; i < d->ntags; i++)
        tagged |= strcmp(d->tags[i], "dagfactory") == 0;
    if (rc == 0 && !tagged) /* as dag-factory tags every DAG it builds */
        add_str(&d->tags, &d->ntags, "dagfactory");
    if (rc == 0)
        rc = finish_dag(r, d);
    if (rc != 0) {
        dag_free(d);
        return -1;
    }
    struct dag **nv = realloc(out->dags, (size_t)(out->ndags + 1) * sizeof(*nv));
    if (!nv)
        abort();
    out->dags = nv;
    nv[out->ndags++] = d;
    return 0;
}

static int read_factory(struct rd *r, yaml_node_t *root, struct dagfile *out)
{
    if (!root || root->type != YAML_MAPPING_NODE)
        return fail(r, root, "a dag-factory file is a mapping of DAG ids to DAGs, not %s",
                    kind_name(root));
    yaml_node_t *defblock = map_get(r, root, "default");
    if (defblock && defblock->type != YAML_MAPPING_NODE)
        return fail(r, defblock, "'default' must be a mapping, not %s", kind_name(defblock));
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(r, p->key);
        if (!is_scalar(k))
            return fail(r, k, "DAG ids must be strings");
        if (strcmp(sval(k), "default") == 0)
            continue;
        if (read_factory_dag(r, sval(k), k, node(r, p->value), defblock, out) != 0)
            return -1;
    }
    return 0;
}

/* An Airflow 3.4 native document: one DAG. */
static int read_native(struct rd *r, yaml_node_t *root, struct dagfile *out)
{
    yaml_node_t *idn = map_get(r, root, "dag_id");
    if (!is_scalar(idn))
        return fail(r, idn ? idn : root, "dag_id must be a string");
    const char *dag_id = sval(idn);
    if (check_id(r, idn, "DAG id", dag_id) != 0)
        return -1;
    struct dag *d = dag_new(dag_id, r->file, (int)root->start_mark.line + 1);
    schedule_parse(NULL, &d->schedule, NULL);
    yaml_node_t *tasks = map_get(r, root, "tasks");
    yaml_node_t *defaults[1] = {NULL};
    memset(r->layer_doc, 0, sizeof(r->layer_doc));
    int rc = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top && rc == 0; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *key = is_scalar(k) ? sval(k) : "";
        if (strcmp(key, "dag_id") == 0 || strcmp(key, "tasks") == 0)
            continue;
        if (strcmp(key, "default_args") == 0 && v->type == YAML_MAPPING_NODE) {
            defaults[0] = v;
            continue;
        }
        if (strcmp(key, "templates") == 0 || strcmp(key, "extends") == 0) {
            rc = fail(r, k, "'%s' is not supported by sluice yet", key);
            break;
        }
        int a = dag_arg(r, d, key, v);
        if (a < 0)
            rc = -1;
        else if (a > 0)
            rc = fail(r, k, "DAG '%s': unknown DAG argument '%s'", dag_id, key);
    }
    if (rc == 0 && (!tasks || tasks->type != YAML_SEQUENCE_NODE))
        rc = fail(r, tasks ? tasks : root, "DAG '%s': tasks must be a list", dag_id);
    for (yaml_node_item_t *it = rc == 0 ? tasks->data.sequence.items.start : NULL;
         rc == 0 && it < tasks->data.sequence.items.top; it++) {
        yaml_node_t *tn = node(r, *it);
        yaml_node_t *tid = map_get(r, tn, "id");
        if (!tn || tn->type != YAML_MAPPING_NODE || !is_scalar(tid)) {
            rc = fail(r, tn, "DAG '%s': each task needs an id", dag_id);
            break;
        }
        if (check_id(r, tid, "task id", sval(tid)) != 0) {
            rc = -1;
            break;
        }
        struct task *t = dag_add_task(d, sval(tid), (int)tn->start_mark.line + 1);
        yaml_node_t *uses = map_get(r, tn, "uses"), *run = map_get(r, tn, "run");
        if ((uses != NULL) == (run != NULL)) {
            rc = fail(r, tn, "task '%s' needs exactly one of uses or run", t->task_id);
            break;
        }
        if (uses)
            rc = set_operator(r, t, uses);
        else {
            t->op = OP_BASH;
            t->operator_name = xstrdup("BashOperator");
            rc = get_str(r, run, "run", &t->bash_command);
        }
        if (rc == 0)
            rc = apply_defaults(r, t, defaults, 1);
        for (yaml_node_pair_t *p = tn->data.mapping.pairs.start;
             rc == 0 && p < tn->data.mapping.pairs.top; p++) {
            yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
            const char *key = is_scalar(k) ? sval(k) : "";
            if (strcmp(key, "id") == 0 || strcmp(key, "uses") == 0 || strcmp(key, "run") == 0)
                continue;
            if (strcmp(key, "needs") == 0) {
                rc = get_strlist(r, v, key, &t->deps, &t->ndeps);
            } else if (strcmp(key, "with") == 0) {
                if (is_null(v))
                    continue;
                if (v->type != YAML_MAPPING_NODE) {
                    rc = fail(r, v, "task '%s': with must be a mapping", t->task_id);
                    break;
                }
                for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                     rc == 0 && q < v->data.mapping.pairs.top; q++) {
                    yaml_node_t *wk = node(r, q->key);
                    rc = task_arg(r, t, is_scalar(wk) ? sval(wk) : "", node(r, q->value), false);
                }
            } else {
                rc = task_arg(r, t, key, v, false);
            }
        }
    }
    if (rc == 0)
        rc = finish_dag(r, d);
    if (rc != 0) {
        dag_free(d);
        return -1;
    }
    struct dag **nv = realloc(out->dags, (size_t)(out->ndags + 1) * sizeof(*nv));
    if (!nv)
        abort();
    out->dags = nv;
    nv[out->ndags++] = d;
    return 0;
}

/* os.path.expandvars: $NAME and ${NAME} from the environment; unset ones stay as written. */
static char *expand_vars(const char *text, size_t len, size_t *outlen)
{
    struct buf b;
    buf_init(&b, MAX_DAG_FILE * 2);
    size_t i = 0;
    while (i < len) {
        if (text[i] == '$' && i + 1 < len) {
            size_t start = i + 1, end;
            bool brace = text[start] == '{';
            if (brace) {
                end = start + 1;
                while (end < len && text[end] != '}' && text[end] != '/')
                    end++;
                if (end < len && text[end] == '}') {
                    char name[256];
                    size_t n = end - start - 1;
                    if (n < sizeof(name)) {
                        memcpy(name, text + start + 1, n);
                        name[n] = '\0';
                        const char *val = getenv(name);
                        if (val) {
                            buf_append(&b, val, strlen(val));
                            i = end + 1;
                            continue;
                        }
                    }
                    buf_append(&b, text + i, end + 1 - i);
                    i = end + 1;
                    continue;
                }
            } else {
                end = start;
                while (end < len && (isalnum((unsigned char)text[end]) || text[end] == '_'))
                    end++;
                if (end > start) {
                    char name[256];
                    size_t n = end - start;
                    if (n < sizeof(name)) {
                        memcpy(name, text + start, n);
                        name[n] = '\0';
                        const char *val = getenv(name);
                        if (val) {
                            buf_append(&b, val, strlen(val));
                            i = end;
                            continue;
                        }
                    }
                    buf_append(&b, text + i, end - i);
                    i = end;
                    continue;
                }
            }
        }
        buf_append(&b, text + i, 1);
        i++;
    }
    buf_append(&b, "", 1);
    size_t n = 0;
    char *out = (char *)buf_detach(&b, &n);
    *outlen = n ? n - 1 : 0;
    if (!out)
        abort();
    return out;
}

/* Loads every document of text; calls fn on each root. */
static int load_docs(struct rd *r, const char *text, size_t len,
                     int (*fn)(struct rd *, yaml_node_t *, struct dagfile *, bool *),
                     struct dagfile *out, bool *native)
{
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0, ndocs = 0;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            rc = sl_err_set(r->err, "%s:%d: YAML error: %s%s%s", r->file,
                            (int)parser.problem_mark.line + 1,
                            parser.problem ? parser.problem : "malformed",
                            parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            yaml_document_delete(&doc);
            break;
        }
        r->doc = &doc;
        ndocs++;
        rc = fn(r, root, out, native);
        r->doc = NULL;
        yaml_document_delete(&doc);
        if (rc != 0)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

static int on_doc(struct rd *r, yaml_node_t *root, struct dagfile *out, bool *native)
{
    bool is_native = root->type == YAML_MAPPING_NODE && map_get(r, root, "dag_id") != NULL;
    if (!*native && !is_native && out->ndags == 0 && !out->dags) {
        /* first document decides; dag-factory files are read once more after $VAR
         * expansion, by the caller */
        *native = false;
        return 1;
    }
    if (!is_native)
        return fail(r, root,
                    "in a file of Airflow YAML Dag documents each document needs a "
                    "dag_id");
    *native = true;
    return read_native(r, root, out);
}

static int on_factory_doc(struct rd *r, yaml_node_t *root, struct dagfile *out, bool *native)
{
    (void)native;
    if (out->ndags > 0)
        return fail(r, root, "a dag-factory file holds one YAML document");
    return read_factory(r, root, out);
}

void dagfile_parse_with_defaults(const char *fileloc, const char *text, size_t len,
                                 const char *dloc, const char *dtext, size_t dlen, int64_t now_s,
                                 struct dagfile *out)
{
    memset(out, 0, sizeof(*out));
    struct sl_err err;
    struct rd r = {.file = fileloc, .err = &err, .now_s = now_s};
    bool native = false;
    int rc = load_docs(&r, text, len, on_doc, out, &native);
    yaml_document_t ddoc;
    bool have_ddoc = false;
    if (rc == 1 && dtext) {
        /* dag-factory's defaults.yml, $VAR-expanded like the file itself */
        size_t xlen;
        char *x = expand_vars(dtext, dlen, &xlen);
        yaml_parser_t parser;
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_string(&parser, (const unsigned char *)x, xlen);
        if (!yaml_parser_load(&parser, &ddoc)) {
            rc = sl_err_set(&err, "%s:%d: YAML error: %s", dloc, (int)parser.problem_mark.line + 1,
                            parser.problem ? parser.problem : "malformed");
        } else {
            have_ddoc = true;
            yaml_node_t *root = yaml_document_get_root_node(&ddoc);
            if (root && root->type != YAML_MAPPING_NODE)
                rc = sl_err_set(&err, "%s:%d: defaults must be a mapping of DAG arguments", dloc,
                                (int)root->start_mark.line + 1);
            r.ddoc = &ddoc;
            r.dfile = dloc;
            r.droot = root && root->type == YAML_MAPPING_NODE ? root : NULL;
        }
        yaml_parser_delete(&parser);
        free(x);
    }
    if (rc == 1) {
        size_t xlen;
        char *x = expand_vars(text, len, &xlen);
        rc = load_docs(&r, x, xlen, on_factory_doc, out, &native);
        free(x);
    }
    if (have_ddoc)
        yaml_document_delete(&ddoc);
    if (rc != 0) {
        for (int i = 0; i < out->ndags; i++)
            dag_free(out->dags[i]);
        free(out->dags);
        out->dags = NULL;
        out->ndags = 0;
        out->error = xstrdup(err.msg);
    }
}

void dagfile_parse(const char *fileloc, const char *text, size_t len, int64_t now_s,
                   struct dagfile *out)
{
    dagfile_parse_with_defaults(fileloc, text, len, NULL, NULL, 0, now_s, out);
}

bool dagfile_is_defaults(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    return strcmp(base, "defaults.yml") == 0 || strcmp(base, "defaults.yaml") == 0;
}

void dagfile_load(const char *path, int64_t now_s, struct dagfile *out)
{
    char *text = NULL;
    size_t len = 0;
    struct sl_err err;
    if (fs_read_file(path, MAX_DAG_FILE, &text, &len, &err) != 0) {
        memset(out, 0, sizeof(*out));
        size_t n = strlen(path) + strlen(err.msg) + 16;
        out->error = malloc(n);
        if (!out->error)
            abort();
        snprintf(out->error, n, "%s:1: %s", path, err.msg);
        return;
    }
    /* defaults.yml (or .yaml) in the file's folder, as dag-factory reads it */
    char dloc[4096], *dtext = NULL;
    size_t dlen = 0;
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    static const char *const names[] = {"defaults.yml", "defaults.yaml"};
    for (int i = 0; i < 2 && !dtext; i++) {
        snprintf(dloc, sizeof(dloc), "%.*s/%s", dirlen, dir, names[i]);
        if (fs_read_file(dloc, MAX_DAG_FILE, &dtext, &dlen, NULL) != 0)
            dtext = NULL;
    }
    dagfile_parse_with_defaults(path, text, len, dtext ? dloc : NULL, dtext, dlen, now_s, out);
    free(dtext);
    free(text);
}

void dagfile_free(struct dagfile *f)
{
    for (int i = 0; i < f->ndags; i++)
        dag_free(f->dags[i]);
    free(f->dags);
    free(f->error);
    memset(f, 0, sizeof(*f));
}
