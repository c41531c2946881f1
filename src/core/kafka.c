/* The librdkafka client constructor shared by every Kafka client in sluice (see kafka.h), in
 * the manner of Fluent Bit's flb_kafka_conf_create: defaults, one log policy, user properties
 * last, secrets resolved at start and kept out of every line sluice prints. */
#include "core/kafka.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

#define MAX_SECRETS 64
#define MAX_SECRET_FILE (1024 * 1024)

/* ---- secrets ---- */

static pthread_mutex_t secrets_mu = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[MAX_SECRETS]; /* kept for the life of the process */
static int nsecrets;

bool kafka_key_is_secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strcmp(key, "ssl.key.pem") == 0 ||
           strcmp(key, "sasl.oauthbearer.config") == 0;
}

void kafka_secret_register(const char *value)
{
    if (!value || !*value)
        return;
    pthread_mutex_lock(&secrets_mu);
    bool known = false;
    for (int i = 0; i < nsecrets && !known; i++)
        known = strcmp(secrets[i], value) == 0;
    if (!known && nsecrets < MAX_SECRETS) {
        char *copy = strdup(value);
        if (copy)
            secrets[nsecrets++] = copy;
    }
    pthread_mutex_unlock(&secrets_mu);
}

void kafka_redact(const char *in, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t o = 0;
    pthread_mutex_lock(&secrets_mu);
    while (*in && o + 1 < cap) {
        size_t hit = 0;
        for (int i = 0; i < nsecrets; i++) {
            size_t l = strlen(secrets[i]);
            if (l > hit && strncmp(in, secrets[i], l) == 0)
                hit = l; /* the longest secret that starts here */
        }
        if (hit) {
            for (const char *m = "***"; *m && o + 1 < cap; m++)
                out[o++] = *m;
            in += hit;
        } else {
            out[o++] = *in++;
        }
    }
    pthread_mutex_unlock(&secrets_mu);
    out[o] = '\0';
}

/* ---- logging: one policy for every client ---- */

/* librdkafka's levels are syslog's. Connection failures and errors also reach the clients'
 * error callbacks or delivery reports, which report them once and clearly, so librdkafka's
 * own FAIL/ERROR lines are for --log-level debug; other warnings (session timeouts, request
 * timeouts, configuration warnings) are worth a warning line. Called from librdkafka threads. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level lvl;
    if (level <= 2)
        lvl = LOG_LVL_ERROR;
    else if (level <= 4 && strcmp(fac, "FAIL") != 0 && strcmp(fac, "ERROR") != 0)
        lvl = LOG_LVL_WARN;
    else
        lvl = LOG_LVL_DEBUG;
    if (lvl > log_get_level())
        return;
    char line[2048];
    kafka_redact(buf, line, sizeof(line));
    log_write(lvl, "kafka", "%s %s: %s", rd_kafka_name(rk), fac, line);
}

static void on_log_silent(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

/* ---- properties ---- */

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, struct sl_err *err)
{
    char msg[256], clean[256];
    if (rd_kafka_conf_set(conf, key, value, msg, sizeof(msg)) == RD_KAFKA_CONF_OK)
        return 0;
    kafka_redact(msg, clean, sizeof(clean));
    if (kafka_key_is_secret(key))
        return sl_err_set(err, "Kafka setting %s: %s", key, clean);
    return sl_err_set(err, "Kafka setting %s=%s: %s", key, value, clean);
}

/* Applies a user property; the message names where it came from, not its value. */
static int set_user(rd_kafka_conf_t *conf, const struct kafka_props *p, size_t i,
                    struct sl_err *err)
{
    char msg[256], clean[256];
    if (rd_kafka_conf_set(conf, p->keys[i], p->values[i], msg, sizeof(msg)) == RD_KAFKA_CONF_OK)
        return 0;
    kafka_redact(msg, clean, sizeof(clean));
    return sl_err_set(err, "--kafka-property %s (from %s): %s", p->keys[i], p->origins[i], clean);
}

/* Reads a secret file: whole content, trailing CR/LF dropped. Caller frees *out. */
static int read_value_file(const char *key, const char *path, char **out, struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_errno(err, "--kafka-property %s: cannot open %s", key, path);
    char *buf = malloc(MAX_SECRET_FILE + 1);
    if (!buf) {
        fclose(f);
        return sl_err_set(err, "out of memory");
    }
    size_t n = fread(buf, 1, MAX_SECRET_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return sl_err_set(err, "--kafka-property %s: cannot read %s", key, path);
    }
    if (n > MAX_SECRET_FILE) {
        free(buf);
        return sl_err_set(err, "--kafka-property %s: %s is larger than %d bytes", key, path,
                          MAX_SECRET_FILE);
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* Resolves env:NAME and file:/path; anything else is taken as written. Caller frees *out. */
static int resolve_value(const char *key, const char *raw, char **out, struct sl_err *err)
{
    if (strncmp(raw, "env:", 4) == 0) {
        const char *name = raw + 4;
        const char *v = *name ? getenv(name) : NULL;
        if (!v)
            return sl_err_set(err, "--kafka-property %s: environment variable '%s' is not set", key,
                              name);
        *out = strdup(v);
    } else if (strncmp(raw, "file:", 5) == 0) {
        if (!raw[5])
            return sl_err_set(err, "--kafka-property %s: file: needs a path", key);
        return read_value_file(key, raw + 5, out, err);
    } else {
        *out = strdup(raw);
    }
    return *out ? 0 : sl_err_set(err, "out of memory");
}

int kafka_props_add(struct kafka_props *p, const char *key, const char *value, const char *origin,
                    struct sl_err *err)
{
    if (!*key)
        return sl_err_set(err, "--kafka-property: empty property name");
    char *v = NULL;
    if (resolve_value(key, value, &v, err) != 0)
        return -1;
    if (kafka_key_is_secret(key))
        kafka_secret_register(v);
    char **nk = realloc(p->keys, (p->n + 1) * sizeof(*nk));
    if (nk)
        p->keys = nk;
    char **nv = realloc(p->values, (p->n + 1) * sizeof(*nv));
    if (nv)
        p->values = nv;
    char **no = realloc(p->origins, (p->n + 1) * sizeof(*no));
    if (no)
        p->origins = no;
    char *k = strdup(key), *o = strdup(origin ? origin : "?");
    if (!nk || !nv || !no || !k || !o) {
        free(v);
        free(k);
        free(o);
        return sl_err_set(err, "out of memory");
    }
    p->keys[p->n] = k;
    p->values[p->n] = v;
    p->origins[p->n] = o;
    p->n++;
    return 0;
}

void kafka_props_free(struct kafka_props *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->values[i]);
        free(p->origins[i]);
    }
    free(p->keys);
    free(p->values);
    free(p->origins);
    free(p);
}

int kafka_props_validate(const struct kafka_props *p, int kinds, struct sl_err *err)
{
    static const rd_kafka_type_t types[] = {RD_KAFKA_PRODUCER, RD_KAFKA_CONSUMER};
    for (int t = 0; t < 2; t++) {
        if (!(kinds & (1 << t)))
            continue;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (!conf)
            return sl_err_set(err, "out of memory");
        rd_kafka_conf_set_log_cb(conf, on_log_silent);
        for (size_t i = 0; i < p->n; i++) {
            if (set_user(conf, p, i, err) != 0) {
                rd_kafka_conf_destroy(conf);
                return -1;
            }
        }
        /* No bootstrap.servers: the client is built (which checks the combination, e.g. SASL
         * settings) but connects nowhere. */
        char msg[512], clean[512];
        rd_kafka_t *rk = rd_kafka_new(types[t], conf, msg, sizeof(msg));
        if (!rk) {
            rd_kafka_conf_destroy(conf);
            kafka_redact(msg, clean, sizeof(clean));
            return sl_err_set(err, "--kafka-property: librdkafka refuses these client settings: %s",
                              clean);
        }
        rd_kafka_destroy(rk);
    }
    return 0;
}

static const char *source_label(enum config_source src)
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

int kafka_props_from_config(const struct config *cfg, const char *name, int kinds,
                            struct kafka_props **out, struct sl_err *err)
{
    *out = NULL;
    struct kafka_props *p = calloc(1, sizeof(*p));
    if (!p)
        return sl_err_set(err, "out of memory");
    size_t n;
    const struct config_kv *kv = config_map(cfg, name, &n);
    for (size_t i = 0; i < n; i++) {
        if (kafka_props_add(p, kv[i].key, kv[i].value, source_label(kv[i].src), err) != 0)
            goto fail;
    }
    if (p->n > 0 && kafka_props_validate(p, kinds, err) != 0)
        goto fail;
    *out = p;
    return 0;
fail:
    kafka_props_free(p);
    return -1;
}

/* ---- the constructor ---- */

rd_kafka_conf_t *kafka_conf_create(const struct kafka_conf_opts *o, struct sl_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        sl_err_set(err, "out of memory");
        return NULL;
    }
    if ((o->bootstrap && kafka_conf_set(conf, "bootstrap.servers", o->bootstrap, err) != 0) ||
        (o->client_id && kafka_conf_set(conf, "client.id", o->client_id, err) != 0))
        goto fail;
    for (const char *const(*d)[2] = o->defaults; d && (*d)[0]; d++) {
        if (kafka_conf_set(conf, (*d)[0], (*d)[1], err) != 0)
            goto fail;
    }
    for (size_t i = 0; o->props && i < o->props->n; i++) {
        if (set_user(conf, o->props, i, err) != 0)
            goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                      struct sl_err *err)
{
    char msg[512], clean[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, msg, sizeof(msg));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        kafka_redact(msg, clean, sizeof(clean));
        sl_err_set(err, "cannot create %s: %s", what, clean);
    }
    return rk;
}

bool kafka_auth_failure(rd_kafka_t *rk, int err, const char *reason, char *msg, size_t cap)
{
    if (err != RD_KAFKA_RESP_ERR__AUTHENTICATION &&
        err != RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)
        return false;
    char mech[64] = "", user[128] = "", clean[512];
    size_t sz = sizeof(mech);
    const rd_kafka_conf_t *conf = rd_kafka_conf(rk);
    if (rd_kafka_conf_get(conf, "sasl.mechanisms", mech, &sz) != RD_KAFKA_CONF_OK)
        snprintf(mech, sizeof(mech), "?");
    sz = sizeof(user);
    if (rd_kafka_conf_get(conf, "sasl.username", user, &sz) != RD_KAFKA_CONF_OK)
        user[0] = '\0';
    kafka_redact(reason ? reason : "", clean, sizeof(clean));
    if (user[0])
        snprintf(msg, cap,
                 "SASL authentication failed (%s, user '%s'): %s; check sasl.username and "
                 "sasl.password",
                 mech, user, clean);
    else
        snprintf(msg, cap, "SASL authentication failed (%s): %s", mech, clean);
    return true;
}
