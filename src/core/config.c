/* Option resolution: flags > SLUICE_* environment > sluice.yaml > defaults. Values are
 * validated by type whatever their source, and an error names where the bad value came from. */
#include "core/config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "core/log.h"
#include "core/units.h"

#define MAX_OPTS 96
#define MAX_ARGS 64
#define MAX_MAP_ENTRIES 256 /* per OPT_MAP option, and flags of all OPT_MAP options together */

struct config_value {
    const struct opt_def *def;
    char *raw; /* owned; NULL when unset */
    enum config_source src;
    int64_t num;
    bool flag;
    struct config_kv *kv; /* OPT_MAP entries, owned */
    size_t nkv;
};

struct config {
    const struct cmd_def *cmd;
    struct config_value values[MAX_OPTS];
    int nvalues;
    char *args[MAX_ARGS];
    int nargs;
};

/* Options every command has, resolved like the others. */
static const struct opt_def common_opts[] = {
    {"config", OPT_STRING, NULL, "FILE", "config file (default: ./sluice.yaml when present)"},
    {"log-level", OPT_STRING, "info", "LEVEL", "error, warn, info or debug"},
    {NULL, 0, NULL, NULL, NULL},
};

static void env_name(const char *opt, char *out, size_t n)
{
    size_t j = 0;
    const char *prefix = "SLUICE_";
    for (size_t i = 0; prefix[i] && j + 1 < n; i++)
        out[j++] = prefix[i];
    for (size_t i = 0; opt[i] && j + 1 < n; i++)
        out[j++] = opt[i] == '-' ? '_' : (char)toupper((unsigned char)opt[i]);
    out[j] = '\0';
}

static void scoped_env_name(const char *cmd, const char *opt, char *out, size_t n)
{
    char joined[256];
    snprintf(joined, sizeof(joined), "%s-%s", cmd, opt);
    env_name(joined, out, n);
}

/* Compares an option name with a file key, treating '-' and '_' alike. */
static bool key_matches(const char *opt, const char *key)
{
    for (; *opt && *key; opt++, key++) {
        char a = *opt == '_' ? '-' : *opt, b = *key == '_' ? '-' : *key;
        if (a != b)
            return false;
    }
    return *opt == *key;
}

static struct config_value *find_value(const struct config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nvalues; i++) {
        if (strcmp(cfg->values[i].def->name, name) == 0)
            return (struct config_value *)&cfg->values[i];
    }
    return NULL;
}

static const char *source_name(enum config_source src)
{
    switch (src) {
    case SRC_FLAG:
        return "flag";
    case SRC_ENV:
        return "environment";
    case SRC_FILE:
        return "config file";
    default:
        return "default";
    }
}

static void set_raw(struct config_value *v, const char *raw, enum config_source src)
{
    free(v->raw);
    v->raw = raw ? strdup(raw) : NULL;
    v->src = src;
}

/* Adds or replaces one OPT_MAP entry. */
static int map_put(struct config_value *v, const char *key, size_t klen, const char *value,
                   enum config_source src, struct sl_err *err)
{
    if (klen == 0)
        return sl_err_set(err, "--%s: empty key (expected KEY=VALUE)", v->def->name);
    for (size_t i = 0; i < v->nkv; i++) {
        if (strlen(v->kv[i].key) == klen && strncmp(v->kv[i].key, key, klen) == 0) {
            char *nv = strdup(value);
            if (!nv)
                return sl_err_set(err, "out of memory");
            free(v->kv[i].value);
            v->kv[i].value = nv;
            v->kv[i].src = src;
            return 0;
        }
    }
    if (v->nkv >= MAX_MAP_ENTRIES)
        return sl_err_set(err, "--%s: more than %d entries", v->def->name, MAX_MAP_ENTRIES);
    struct config_kv *nkv = realloc(v->kv, (v->nkv + 1) * sizeof(*nkv));
    if (!nkv)
        return sl_err_set(err, "out of memory");
    v->kv = nkv;
    struct config_kv *e = &v->kv[v->nkv];
    e->key = strndup(key, klen);
    e->value = strdup(value);
    e->src = src;
    if (!e->key || !e->value) {
        free(e->key);
        free(e->value);
        return sl_err_set(err, "out of memory");
    }
    v->nkv++;
    return 0;
}

/* Adds "KEY=VALUE" to an OPT_MAP option. */
static int map_put_pair(struct config_value *v, const char *pair, enum config_source src,
                        struct sl_err *err)
{
    const char *eq = strchr(pair, '=');
    if (!eq)
        return sl_err_set(err, "--%s (from %s): '%s' is not KEY=VALUE", v->def->name,
                          source_name(src), pair);
    return map_put(v, pair, (size_t)(eq - pair), eq + 1, src, err);
}

/* The file key of an OPT_MAP option: its name, or its name without "-property". */
static bool map_key_matches(const char *opt, const char *key)
{
    if (key_matches(opt, key))
        return true;
    size_t n = strlen(opt), sl = strlen("-property");
    if (n <= sl || strcmp(opt + n - sl, "-property") != 0)
        return false;
    char base[128];
    if (n - sl >= sizeof(base))
        return false;
    memcpy(base, opt, n - sl);
    base[n - sl] = '\0';
    return key_matches(base, key);
}

/* Applies a YAML mapping of scalars to an OPT_MAP option. */
static int apply_file_map(yaml_document_t *doc, yaml_node_t *map, struct config_value *v,
                          const char *path, struct sl_err *err)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *val = yaml_document_get_node(doc, p->value);
        if (!k || !val || k->type != YAML_SCALAR_NODE || val->type != YAML_SCALAR_NODE)
            return sl_err_set(err,
                              "%s:%zu: the values of this mapping must be plain KEY: VALUE "
                              "scalars (write e.g. sasl.mechanism: PLAIN, not nested maps)",
                              path, (k ? k->start_mark.line : map->start_mark.line) + 1);
        const char *key = (const char *)k->data.scalar.value;
        if (map_put(v, key, strlen(key), (const char *)val->data.scalar.value, SRC_FILE, err) != 0)
            return -1;
    }
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int validate(struct config_value *v, struct sl_err *err)
{
    if (!v->raw)
        return 0;
    struct sl_err e;
    int rc = 0;
    switch (v->def->type) {
    case OPT_STRING:
    case OPT_MAP:
        break;
    case OPT_INT:
        rc = parse_int(v->raw, INT64_MIN, INT64_MAX, &v->num, &e);
        break;
    case OPT_DURATION:
        rc = parse_duration_ms(v->raw, &v->num, &e);
        break;
    case OPT_SIZE:
        rc = parse_size(v->raw, &v->num, &e);
        break;
    case OPT_BOOL:
        if (parse_bool(v->raw, &v->flag) != 0) {
            snprintf(e.msg, sizeof(e.msg), "'%s' is not true or false", v->raw);
            rc = -1;
        }
        break;
    }
    if (rc != 0)
        return sl_err_set(err, "--%s (from %s): %s", v->def->name, source_name(v->src), e.msg);
    return 0;
}

/* Reads the YAML file and applies scalar keys: the command's section first, then top level. */
static int apply_file(struct config *cfg, const char *path, bool required, struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (!required)
            return 0;
        return sl_err_errno(err, "cannot open config file %s", path);
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = sl_err_set(err, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        fclose(f);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type != YAML_MAPPING_NODE) {
        rc = sl_err_set(err, "%s: the top level must be a mapping of keys to values", path);
        goto out;
    }
    /* Two passes: top level (lower priority) then the command's section. */
    for (int pass = 0; root && pass < 2; pass++) {
        yaml_node_t *map = root;
        if (pass == 1) {
            map = NULL;
            for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
                 p < root->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(&doc, p->key);
                yaml_node_t *v = yaml_document_get_node(&doc, p->value);
                if (k && k->type == YAML_SCALAR_NODE && v && v->type == YAML_MAPPING_NODE &&
                    strcmp((char *)k->data.scalar.value, cfg->cmd->name) == 0)
                    map = v;
            }
            if (!map)
                break;
        }
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            yaml_node_t *v = yaml_document_get_node(&doc, p->value);
            if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_MAPPING_NODE) {
                for (int i = 0; i < cfg->nvalues; i++) {
                    if (cfg->values[i].def->type == OPT_MAP &&
                        map_key_matches(cfg->values[i].def->name, (char *)k->data.scalar.value) &&
                        apply_file_map(&doc, v, &cfg->values[i], path, err) != 0) {
                        rc = -1;
                        goto out;
                    }
                }
                continue;
            }
            if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
                continue;
            for (int i = 0; i < cfg->nvalues; i++) {
                if (key_matches(cfg->values[i].def->name, (char *)k->data.scalar.value))
                    set_raw(&cfg->values[i], (char *)v->data.scalar.value, SRC_FILE);
            }
        }
    }
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

static void add_defs(struct config *cfg, const struct opt_def *defs)
{
    for (const struct opt_def *d = defs; d && d->name; d++) {
        if (cfg->nvalues >= MAX_OPTS)
            break;
        struct config_value *v = &cfg->values[cfg->nvalues++];
        memset(v, 0, sizeof(*v));
        v->def = d;
        set_raw(v, d->def, SRC_DEFAULT);
    }
}

int config_parse(const struct cmd_def *cmd, int argc, char **argv, struct config **out,
                 struct sl_err *err)
{
    *out = NULL;
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return sl_err_set(err, "out of memory");
    cfg->cmd = cmd;
    add_defs(cfg, cmd->opts);
    add_defs(cfg, common_opts);

    /* Flags are collected first (they name the config file), applied last. */
    const char *flag_vals[MAX_OPTS] = {0};
    /* Repeated OPT_MAP flags: option index and "KEY=VALUE", in order. */
    int map_idx[MAX_MAP_ENTRIES];
    const char *map_vals[MAX_MAP_ENTRIES];
    int nmap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (cfg->nargs >= MAX_ARGS)
                    goto too_many;
                cfg->args[cfg->nargs++] = strdup(argv[i]);
            }
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            config_print_help(cmd, stdout);
            config_free(cfg);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (cfg->nargs >= MAX_ARGS)
                goto too_many;
            cfg->args[cfg->nargs++] = strdup(a);
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        bool negated = false;
        int idx = -1;
        for (int pass = 0; pass < 2 && idx < 0; pass++) {
            const char *n = name;
            size_t l = nl;
            if (pass == 1) {
                if (nl <= 3 || strncmp(name, "no-", 3) != 0)
                    break;
                n += 3;
                l -= 3;
                negated = true;
            }
            for (int j = 0; j < cfg->nvalues; j++) {
                const char *dn = cfg->values[j].def->name;
                if (strlen(dn) == l && strncmp(dn, n, l) == 0)
                    idx = j;
            }
        }
        if (idx < 0) {
            sl_err_set(err, "unknown option '--%.*s' for 'sluice %s' (see sluice %s --help)",
                       (int)nl, name, cmd->name, cmd->name);
            config_free(cfg);
            return -1;
        }
        const struct opt_def *d = cfg->values[idx].def;
        if (d->type == OPT_MAP) {
            const char *val = eq ? eq + 1 : NULL;
            if (!val && i + 1 < argc)
                val = argv[++i];
            if (negated || !val) {
                sl_err_set(err, "--%s needs a value (%s)", d->name, d->metavar ? d->metavar : "");
                config_free(cfg);
                return -1;
            }
            if (nmap >= MAX_MAP_ENTRIES) {
                sl_err_set(err, "too many --%s flags (at most %d)", d->name, MAX_MAP_ENTRIES);
                config_free(cfg);
                return -1;
            }
            map_idx[nmap] = idx;
            map_vals[nmap++] = val;
            continue;
        }
        if (d->type == OPT_BOOL && !eq) {
            flag_vals[idx] = negated ? "false" : "true";
        } else if (negated) {
            sl_err_set(err, "--no-%s only applies to on/off options", d->name);
            config_free(cfg);
            return -1;
        } else if (eq) {
            flag_vals[idx] = eq + 1;
        } else {
            if (i + 1 >= argc) {
                sl_err_set(err, "--%s needs a value (%s)", d->name, d->metavar ? d->metavar : "");
                config_free(cfg);
                return -1;
            }
            flag_vals[idx] = argv[++i];
        }
    }

    /* The config file: --config, then SLUICE_CONFIG, then ./sluice.yaml if present. */
    struct config_value *cv = find_value(cfg, "config");
    const char *path = NULL;
    bool required = true;
    for (int j = 0; j < cfg->nvalues; j++) {
        if (&cfg->values[j] == cv && flag_vals[j])
            path = flag_vals[j];
    }
    if (!path)
        path = getenv("SLUICE_CONFIG");
    if (!path || !*path) {
        path = "sluice.yaml";
        required = false;
    }
    if (apply_file(cfg, path, required, err) != 0) {
        config_free(cfg);
        return -1;
    }

    for (int j = 0; j < cfg->nvalues; j++) {
        /* SLUICE_<COMMAND>_<NAME> beats the shared SLUICE_<NAME>, so that e.g. the broker's
         * and the mock API's --listen can be set apart. */
        char env[256], scoped[256];
        env_name(cfg->values[j].def->name, env, sizeof(env));
        scoped_env_name(cmd->name, cfg->values[j].def->name, scoped, sizeof(scoped));
        const char *e = getenv(scoped);
        if (!e || !*e)
            e = getenv(env);
        if (e && *e && cfg->values[j].def->type == OPT_MAP) {
            /* One KEY=VALUE per line. */
            for (const char *line = e; *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                char *one = strndup(line, len);
                int prc = one ? (len == 0 ? 0 : map_put_pair(&cfg->values[j], one, SRC_ENV, err))
                              : sl_err_set(err, "out of memory");
                free(one);
                if (prc != 0) {
                    config_free(cfg);
                    return -1;
                }
                line += len + (nl ? 1 : 0);
            }
        } else if (e && *e) {
            set_raw(&cfg->values[j], e, SRC_ENV);
        }
        if (flag_vals[j])
            set_raw(&cfg->values[j], flag_vals[j], SRC_FLAG);
        if (validate(&cfg->values[j], err) != 0) {
            config_free(cfg);
            return -1;
        }
    }

    for (int m = 0; m < nmap; m++) {
        if (map_put_pair(&cfg->values[map_idx[m]], map_vals[m], SRC_FLAG, err) != 0) {
            config_free(cfg);
            return -1;
        }
    }

    enum log_level lvl;
    const char *ls = config_str(cfg, "log-level");
    if (ls && log_parse_level(ls, &lvl) != 0) {
        sl_err_set(err, "--log-level: '%s' is not one of error, warn, info, debug", ls);
        config_free(cfg);
        return -1;
    }
    if (ls)
        log_set_level(lvl);
    *out = cfg;
    return 0;

too_many:
    sl_err_set(err, "too many arguments (at most %d)", MAX_ARGS);
    config_free(cfg);
    return -1;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < cfg->nvalues; i++) {
        free(cfg->values[i].raw);
        for (size_t k = 0; k < cfg->values[i].nkv; k++) {
            free(cfg->values[i].kv[k].key);
            free(cfg->values[i].kv[k].value);
        }
        free(cfg->values[i].kv);
    }
    for (int i = 0; i < cfg->nargs; i++)
        free(cfg->args[i]);
    free(cfg);
}

static void print_opts(const char *cmd, const struct opt_def *defs, FILE *f)
{
    for (const struct opt_def *d = defs; d && d->name; d++) {
        char left[96];
        if (d->type == OPT_BOOL)
            snprintf(left, sizeof(left), "--[no-]%s", d->name);
        else if (d->type == OPT_MAP)
            snprintf(left, sizeof(left), "--%s %s (repeatable)", d->name,
                     d->metavar ? d->metavar : "KEY=VALUE");
        else
            snprintf(left, sizeof(left), "--%s %s", d->name, d->metavar ? d->metavar : "VALUE");
        char env[256], scoped[256];
        env_name(d->name, env, sizeof(env));
        scoped_env_name(cmd, d->name, scoped, sizeof(scoped));
        fprintf(f, "  %s\n      %s", left, d->help ? d->help : "");
        if (d->def)
            fprintf(f, " [default: %s]", d->def);
        if (d->type == OPT_MAP)
            fprintf(f, "\n      env: %s or %s (one KEY=VALUE per line)", scoped, env);
        else
            fprintf(f, "\n      env: %s or %s", scoped, env);
        fprintf(f, "\n");
    }
}

void config_print_help(const struct cmd_def *cmd, FILE *f)
{
    fprintf(f, "%s\n\nUsage: %s\n\nOptions:\n", cmd->summary, cmd->usage);
    print_opts(cmd->name, cmd->opts, f);
    print_opts(cmd->name, common_opts, f);
    fprintf(f, "  --help\n      show this help\n");
    if (cmd->details)
        fprintf(f, "\n%s\n", cmd->details);
    fprintf(f,
            "\nPrecedence: flags > SLUICE_* environment > config file (section '%s', then top "
            "level) > defaults.\n",
            cmd->name);
}

static struct config_value *must_find(const struct config *cfg, const char *name)
{
    struct config_value *v = find_value(cfg, name);
    if (!v) {
        log_error("config", "internal: option '%s' is not declared for '%s'", name, cfg->cmd->name);
        abort();
    }
    return v;
}

const char *config_str(const struct config *cfg, const char *name)
{
    return must_find(cfg, name)->raw;
}

int64_t config_int(const struct config *cfg, const char *name)
{
    struct config_value *v = must_find(cfg, name);
    return v->raw ? v->num : 0;
}

bool config_bool(const struct config *cfg, const char *name)
{
    struct config_value *v = must_find(cfg, name);
    return v->raw ? v->flag : false;
}

int64_t config_ms(const struct config *cfg, const char *name)
{
    return config_int(cfg, name);
}

int64_t config_size(const struct config *cfg, const char *name)
{
    return config_int(cfg, name);
}

enum config_source config_source_of(const struct config *cfg, const char *name)
{
    return must_find(cfg, name)->src;
}

const struct config_kv *config_map(const struct config *cfg, const char *name, size_t *n)
{
    struct config_value *v = must_find(cfg, name);
    *n = v->nkv;
    return v->kv;
}

int config_nargs(const struct config *cfg)
{
    return cfg->nargs;
}

const char *config_arg(const struct config *cfg, int i)
{
    return i >= 0 && i < cfg->nargs ? cfg->args[i] : NULL;
}
