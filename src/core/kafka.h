/* One constructor for every librdkafka client in sluice (ingest's producer, the stream job's
 * consumer and dead-letter producer, `sluice topics`): sluice's defaults for the client, the
 * log callback routed into core/log with one policy, and the user's client properties
 * (--kafka-property KEY=VALUE, the `kafka:` map of sluice.yaml) applied last, so that
 * security.protocol, sasl.*, ssl.*, client.id and the rest reach librdkafka as given.
 *
 * Secrets: a property value written `env:NAME` or `file:/path` is read at start (a file's
 * trailing newlines dropped). The values of secret-looking properties (see kafka_key_is_secret)
 * are remembered and replaced by "***" in every librdkafka log line and in every message these
 * functions produce; they are never printed. */
#ifndef SLUICE_CORE_KAFKA_H
#define SLUICE_CORE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct config;

/* --help text of the kafka-property option every Kafka-using command declares (OPT_MAP). */
#define KAFKA_PROPERTY_HELP                                                                        \
    "librdkafka client property (security.protocol, sasl.*, ssl.*, client.id, ...), applied "      \
    "after sluice's own; a value env:NAME or file:PATH is read at start; also a kafka: map in "    \
    "sluice.yaml"

/* User-given client properties, values resolved (env:/file: read). */
struct kafka_props {
    size_t n;
    char **keys;
    char **values;
    char **origins; /* where each came from, for messages: "flag", "config file", ... */
};

/* Which client kinds kafka_props_validate builds to check the properties. */
enum { KAFKA_VALIDATE_PRODUCER = 1, KAFKA_VALIDATE_CONSUMER = 2 };

/* Reads the OPT_MAP option `name` (e.g. "kafka-property") of cfg, resolves env:/file: values,
 * registers secret values for redaction and validates the whole set with librdkafka by
 * building a client of each kind in `kinds` (no connection is made). Returns 0 and *out
 * (caller frees with kafka_props_free; an empty set when nothing was given), or -1 with err
 * naming the property and showing librdkafka's reason (never a secret value). */
int kafka_props_from_config(const struct config *cfg, const char *name, int kinds,
                            struct kafka_props **out, struct sl_err *err);
/* Appends one property (value resolved as above). For callers without a config and tests. */
int kafka_props_add(struct kafka_props *p, const char *key, const char *value, const char *origin,
                    struct sl_err *err);
int kafka_props_validate(const struct kafka_props *p, int kinds, struct sl_err *err);
void kafka_props_free(struct kafka_props *p);

/* What one client needs. defaults: the {KEY, VALUE} pairs sluice sets for this client, ended by
 * {NULL, NULL}; the user's properties come after and win. */
struct kafka_conf_opts {
    const char *bootstrap; /* bootstrap.servers */
    const char *client_id; /* client.id unless the user gives one */
    const char *const (*defaults)[2];
    const struct kafka_props *props; /* may be NULL */
};

/* Builds a conf with the options above and the shared log callback. Caller owns the conf
 * (rd_kafka_new takes it; kafka_new below destroys it on failure). NULL with err on a refused
 * property. */
rd_kafka_conf_t *kafka_conf_create(const struct kafka_conf_opts *o, struct sl_err *err);
/* rd_kafka_new that always takes conf (destroyed when the client cannot be made); NULL with
 * err ("cannot create WHAT: reason", redacted). */
rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                      struct sl_err *err);

/* Sets one librdkafka property; -1 with a message naming the property when it is refused
 * (the value is not shown for secret-looking keys). */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, struct sl_err *err);

/* For error callbacks: when err is an authentication or TLS failure (which retrying will not
 * fix), writes a message for the user naming the mechanism and user, e.g. "SASL
 * authentication failed (PLAIN, user 'alice'): <librdkafka's reason>", and returns true. */
bool kafka_auth_failure(rd_kafka_t *rk, int err, const char *reason, char *msg, size_t cap);

/* True for properties whose values are secrets: *password*, *secret*, ssl.key.pem,
 * sasl.oauthbearer.config. */
bool kafka_key_is_secret(const char *key);
/* Remembers a secret value (copied) so that redaction hides it. Thread safe. */
void kafka_secret_register(const char *value);
/* Copies in to out with every registered secret replaced by "***" (truncated to cap). */
void kafka_redact(const char *in, char *out, size_t cap);

#endif
