/* Command options, declared as a table and resolved with one precedence everywhere:
 * flags > SLUICE_* environment > the config file (sluice.yaml) > built-in defaults.
 *
 * An option named "data-dir" is the flag --data-dir, the variable SLUICE_<COMMAND>_DATA_DIR or
 * else SLUICE_DATA_DIR (e.g. SLUICE_BROKER_DATA_DIR beats SLUICE_DATA_DIR), and the key
 * data_dir (or data-dir) in the file, looked up first under the command's own section
 * (`broker: {data_dir: ...}`) and then at the top level. Every command also takes --config FILE
 * (SLUICE_CONFIG; default ./sluice.yaml when present), --log-level and --help.
 *
 * An OPT_MAP option holds KEY=VALUE pairs merged by key with the same precedence (a key given
 * later wins): in the file a mapping under the option's name or under its name without a
 * trailing "-property" (`kafka: {security.protocol: SASL_SSL}` for "kafka-property"), top level
 * first then the command's section; in the environment one KEY=VALUE per line; as a flag
 * repeated (`--kafka-property K=V --kafka-property K2=V2`). */
#ifndef SLUICE_CORE_CONFIG_H
#define SLUICE_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

enum opt_type { OPT_STRING, OPT_INT, OPT_BOOL, OPT_DURATION, OPT_SIZE, OPT_MAP };

struct opt_def {
    const char *name; /* long flag name without dashes */
    enum opt_type type;
    const char *def;     /* default as a user would type it; NULL = unset */
    const char *metavar; /* shown in --help, e.g. "HOST:PORT" */
    const char *help;
};

struct cmd_def {
    const char *name;           /* "broker"; also the config file section */
    const char *summary;        /* one line */
    const char *usage;          /* e.g. "sluice broker [options]" */
    const struct opt_def *opts; /* terminated by an entry with name == NULL */
    const char *details;        /* extra paragraphs for --help; may be NULL */
};

enum config_source { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV, SRC_FLAG };

struct config;

/* Parses argv (argv[0] is the command name) for cmd. Returns 0 and sets *out, or 1 when
 * --help was given (help printed to stdout, *out NULL), or -1 with err set. Caller frees *out
 * with config_free. Also applies --log-level. */
int config_parse(const struct cmd_def *cmd, int argc, char **argv, struct config **out,
                 struct sl_err *err);
void config_free(struct config *cfg);
void config_print_help(const struct cmd_def *cmd, FILE *f);

/* Typed values; the option must be declared in the table with that type. Strings may be NULL
 * when the option has no default and was not given. */
const char *config_str(const struct config *cfg, const char *name);
int64_t config_int(const struct config *cfg, const char *name);
bool config_bool(const struct config *cfg, const char *name);
int64_t config_ms(const struct config *cfg, const char *name);   /* OPT_DURATION */
int64_t config_size(const struct config *cfg, const char *name); /* OPT_SIZE */
enum config_source config_source_of(const struct config *cfg, const char *name);

/* One entry of an OPT_MAP option. */
struct config_kv {
    char *key;
    char *value;
    enum config_source src;
};

/* The entries of an OPT_MAP option, in the order their keys first appeared; *n is set. Owned
 * by cfg (valid until config_free). */
const struct config_kv *config_map(const struct config *cfg, const char *name, size_t *n);

/* Positional arguments, in order. */
int config_nargs(const struct config *cfg);
const char *config_arg(const struct config *cfg, int i);

#endif
