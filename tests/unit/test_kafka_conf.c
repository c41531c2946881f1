/* core/kafka: the one librdkafka client constructor, user properties from flags, environment
 * and sluice.yaml (OPT_MAP in core/config), env:/file: secrets, validation by librdkafka with
 * its reason shown, redaction of secrets in messages and in librdkafka's log lines, and the
 * authentication-failure message. No broker is needed: no client here connects anywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/config.h"
#include "core/kafka.h"
#include "core/log.h"

static const struct opt_def opts[] = {
    {"bootstrap", OPT_STRING, "127.0.0.1:9092", "HOST:PORT", "brokers"},
    {"kafka-property", OPT_MAP, NULL, "KEY=VALUE", KAFKA_PROPERTY_HELP},
    {NULL, 0, NULL, NULL, NULL},
};
static const struct cmd_def cmd = {"kctest", "test", "kctest", opts, NULL};

static char tmpdir[] = "/tmp/test_kafka_conf.XXXXXX";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The value of key in the map option, or NULL. */
static const char *map_get(const struct config *cfg, const char *key, enum config_source *src)
{
    size_t n;
    const struct config_kv *kv = config_map(cfg, "kafka-property", &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0) {
            if (src)
                *src = kv[i].src;
            return kv[i].value;
        }
    }
    return NULL;
}

static void test_config_map(void)
{
    struct config *cfg;
    struct sl_err err;
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "%s/sluice.yaml", tmpdir);
    /* Top level, then the command's section (wins per key); scalars of any YAML type. */
    write_file(yaml, "kafka:\n"
                     "  security.protocol: SASL_PLAINTEXT\n"
                     "  client.id: from-top\n"
                     "  linger.ms: 7\n"
                     "kctest:\n"
                     "  bootstrap: 10.0.0.1:9092\n"
                     "  kafka:\n"
                     "    client.id: from-section\n"
                     "    sasl.username: alice\n");
    setenv("SLUICE_KCTEST_KAFKA_PROPERTY", "sasl.username=bob\nsasl.mechanism=PLAIN\n", 1);
    char *argv[] = {"kctest",
                    "--config",
                    yaml,
                    "--kafka-property",
                    "sasl.mechanism=SCRAM-SHA-256",
                    "--kafka-property=acks=all",
                    "--kafka-property",
                    "acks=1",
                    NULL};
    CHECK(config_parse(&cmd, 8, argv, &cfg, &err) == 0);
    if (cfg) {
        enum config_source src = SRC_DEFAULT;
        CHECK_EQ_STR(config_str(cfg, "bootstrap"), "10.0.0.1:9092");
        CHECK_EQ_STR(map_get(cfg, "security.protocol", &src), "SASL_PLAINTEXT");
        CHECK_EQ_INT(src, SRC_FILE);
        CHECK_EQ_STR(map_get(cfg, "linger.ms", NULL), "7");
        CHECK_EQ_STR(map_get(cfg, "client.id", NULL), "from-section");
        CHECK_EQ_STR(map_get(cfg, "sasl.username", &src), "bob"); /* env beats the file */
        CHECK_EQ_INT(src, SRC_ENV);
        CHECK_EQ_STR(map_get(cfg, "sasl.mechanism", &src), "SCRAM-SHA-256"); /* flag beats env */
        CHECK_EQ_INT(src, SRC_FLAG);
        CHECK_EQ_STR(map_get(cfg, "acks", NULL), "1"); /* the later flag wins */
        size_t n;
        config_map(cfg, "kafka-property", &n);
        CHECK_EQ_INT(n, 6);
        config_free(cfg);
    }
    unsetenv("SLUICE_KCTEST_KAFKA_PROPERTY");

    /* Not KEY=VALUE, an empty key, a missing value: usage errors naming the option. */
    char *bad1[] = {"kctest", "--config", yaml, "--kafka-property", "acks", NULL};
    CHECK(config_parse(&cmd, 5, bad1, &cfg, &err) == -1);
    CHECK(strstr(err.msg, "--kafka-property") && strstr(err.msg, "KEY=VALUE"));
    char *bad2[] = {"kctest", "--config", yaml, "--kafka-property", "=x", NULL};
    CHECK(config_parse(&cmd, 5, bad2, &cfg, &err) == -1);
    char *bad3[] = {"kctest", "--config", yaml, "--kafka-property", NULL};
    CHECK(config_parse(&cmd, 4, bad3, &cfg, &err) == -1);

    /* Nested maps are refused with the line, not silently ignored. */
    write_file(yaml, "kafka:\n  sasl:\n    mechanism: PLAIN\n");
    char *argv2[] = {"kctest", "--config", yaml, NULL};
    CHECK(config_parse(&cmd, 3, argv2, &cfg, &err) == -1);
    CHECK(strstr(err.msg, "sluice.yaml:2") != NULL);

    /* The full option name works as a file key too. */
    write_file(yaml, "kafka_property:\n  client.id: full\n");
    CHECK(config_parse(&cmd, 3, argv2, &cfg, &err) == 0);
    if (cfg) {
        CHECK_EQ_STR(map_get(cfg, "client.id", NULL), "full");
        config_free(cfg);
    }
}

/* Parses argv and builds the validated property set; returns kafka_props_from_config's rc. */
static int props_from(int argc, char **argv, struct kafka_props **out, struct sl_err *err)
{
    struct config *cfg;
    *out = NULL;
    if (config_parse(&cmd, argc, argv, &cfg, err) != 0)
        return -2;
    int rc = kafka_props_from_config(cfg, "kafka-property",
                                     KAFKA_VALIDATE_PRODUCER | KAFKA_VALIDATE_CONSUMER, out, err);
    config_free(cfg);
    return rc;
}

static void test_props(void)
{
    struct kafka_props *p;
    struct sl_err err;
    char empty[512], pwfile[512];
    snprintf(empty, sizeof(empty), "%s/empty.yaml", tmpdir);
    snprintf(pwfile, sizeof(pwfile), "%s/pw", tmpdir);
    write_file(empty, "");
    write_file(pwfile, "s3cr3t-from-file\n");
    setenv("KCTEST_USER", "alice", 1);
    char fileval[600];
    snprintf(fileval, sizeof(fileval), "sasl.password=file:%s", pwfile);

    /* A valid SASL/PLAIN set: env: and file: resolved, the file's newline dropped. */
    char *ok[] = {"kctest",
                  "--config",
                  empty,
                  "--kafka-property",
                  "security.protocol=SASL_PLAINTEXT",
                  "--kafka-property",
                  "sasl.mechanism=PLAIN",
                  "--kafka-property",
                  "sasl.username=env:KCTEST_USER",
                  "--kafka-property",
                  fileval,
                  NULL};
    CHECK(props_from(11, ok, &p, &err) == 0);
    if (p) {
        CHECK_EQ_INT(p->n, 4);
        CHECK_EQ_STR(p->keys[2], "sasl.username");
        CHECK_EQ_STR(p->values[2], "alice");
        CHECK_EQ_STR(p->values[3], "s3cr3t-from-file");
        CHECK_EQ_STR(p->origins[3], "flag");
        kafka_props_free(p);
    }
    /* The secret read from the file is redacted from now on. */
    char out[256];
    kafka_redact("password is s3cr3t-from-file, ok", out, sizeof(out));
    CHECK_EQ_STR(out, "password is ***, ok");

    /* No properties: an empty set, nothing built. */
    char *none[] = {"kctest", "--config", empty, NULL};
    CHECK(props_from(3, none, &p, &err) == 0);
    CHECK(p && p->n == 0);
    kafka_props_free(p);

    /* Unknown property: librdkafka's reason and the property's name. */
    char *unknown[] = {"kctest", "--config", empty, "--kafka-property", "no.such.thing=1", NULL};
    CHECK(props_from(5, unknown, &p, &err) == -1);
    CHECK(p == NULL);
    CHECK(strstr(err.msg, "--kafka-property no.such.thing (from flag)") != NULL);
    CHECK(strstr(err.msg, "No such configuration property") != NULL);

    /* Bad value. */
    char *badval[] = {
        "kctest", "--config", empty, "--kafka-property", "security.protocol=CARRIER_PIGEON", NULL};
    CHECK(props_from(5, badval, &p, &err) == -1);
    CHECK(strstr(err.msg, "security.protocol") && strstr(err.msg, "CARRIER_PIGEON"));

    /* A set librdkafka accepts key by key but refuses as a whole (PLAIN without a user). */
    char *nouser[] = {"kctest",
                      "--config",
                      empty,
                      "--kafka-property",
                      "security.protocol=SASL_PLAINTEXT",
                      "--kafka-property",
                      "sasl.mechanism=PLAIN",
                      NULL};
    CHECK(props_from(7, nouser, &p, &err) == -1);
    CHECK(strstr(err.msg, "librdkafka refuses") != NULL);

    /* env: of an unset variable, file: of a missing file. */
    unsetenv("KCTEST_NOPE");
    char *noenv[] = {
        "kctest", "--config", empty, "--kafka-property", "sasl.password=env:KCTEST_NOPE", NULL};
    CHECK(props_from(5, noenv, &p, &err) == -1);
    CHECK(strstr(err.msg, "KCTEST_NOPE") && strstr(err.msg, "not set"));
    char *nofile[] = {"kctest",
                      "--config",
                      empty,
                      "--kafka-property",
                      "ssl.key.password=file:/nonexistent/kctest",
                      NULL};
    CHECK(props_from(5, nofile, &p, &err) == -1);
    CHECK(strstr(err.msg, "/nonexistent/kctest") != NULL);

    /* A secret given in clear on a property librdkafka refuses never shows in the message. */
    char *typo[] = {
        "kctest", "--config", empty, "--kafka-property", "sasl.password.typo=hunter2-typo", NULL};
    CHECK(props_from(5, typo, &p, &err) == -1);
    CHECK(strstr(err.msg, "sasl.password.typo") != NULL);
    CHECK(strstr(err.msg, "hunter2-typo") == NULL);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK(kafka_conf_set(conf, "ssl.keystore.password.x", "hunter3", &err) == -1);
    CHECK(strstr(err.msg, "hunter3") == NULL);
    CHECK(kafka_conf_set(conf, "acks", "most", &err) == -1);
    CHECK(strstr(err.msg, "acks=most") != NULL); /* not a secret: the value helps */
    rd_kafka_conf_destroy(conf);

    CHECK(kafka_key_is_secret("sasl.password"));
    CHECK(kafka_key_is_secret("ssl.key.password"));
    CHECK(kafka_key_is_secret("ssl.keystore.password"));
    CHECK(kafka_key_is_secret("sasl.oauthbearer.client.secret"));
    CHECK(kafka_key_is_secret("ssl.key.pem"));
    CHECK(!kafka_key_is_secret("sasl.username"));
    CHECK(!kafka_key_is_secret("security.protocol"));
}

static void test_constructor(void)
{
    struct sl_err err;
    struct kafka_props *p = calloc(1, sizeof(*p));
    CHECK(kafka_props_add(p, "client.id", "user-client", "flag", &err) == 0);
    CHECK(kafka_props_add(p, "linger.ms", "42", "config file", &err) == 0);
    const char *defaults[][2] = {{"linger.ms", "5"}, {"acks", "all"}, {NULL, NULL}};
    struct kafka_conf_opts o = {"127.0.0.1:1", "sluice-test", defaults, p};
    rd_kafka_conf_t *conf = kafka_conf_create(&o, &err);
    CHECK(conf != NULL);
    if (conf) {
        char v[128];
        size_t sz = sizeof(v);
        CHECK(rd_kafka_conf_get(conf, "bootstrap.servers", v, &sz) == RD_KAFKA_CONF_OK);
        CHECK_EQ_STR(v, "127.0.0.1:1");
        sz = sizeof(v);
        rd_kafka_conf_get(conf, "client.id", v, &sz);
        CHECK_EQ_STR(v, "user-client"); /* the user's value is applied last */
        sz = sizeof(v);
        rd_kafka_conf_get(conf, "linger.ms", v, &sz);
        CHECK_EQ_STR(v, "42");
        sz = sizeof(v);
        rd_kafka_conf_get(conf, "acks", v, &sz);
        CHECK_EQ_STR(v, "-1"); /* librdkafka's spelling of all */
        rd_kafka_conf_destroy(conf);
    }
    /* Without user properties, sluice's own. */
    o.props = NULL;
    conf = kafka_conf_create(&o, &err);
    CHECK(conf != NULL);
    if (conf) {
        char v[128];
        size_t sz = sizeof(v);
        rd_kafka_conf_get(conf, "client.id", v, &sz);
        CHECK_EQ_STR(v, "sluice-test");
        rd_kafka_conf_destroy(conf);
    }
    /* A refused default is an error naming it. */
    const char *bad[][2] = {{"acks", "most"}, {NULL, NULL}};
    o.defaults = bad;
    CHECK(kafka_conf_create(&o, &err) == NULL);
    CHECK(strstr(err.msg, "acks") != NULL);
    kafka_props_free(p);
}

/* librdkafka's own log lines go through core/log with one policy, secrets redacted: a
 * consumer-only property on a producer makes librdkafka warn (CONFWARN, level 4) at
 * rd_kafka_new; the word "consumer" registered as a secret must be masked in that line. */
static void test_log_policy(void)
{
    struct sl_err err;
    char path[512];
    snprintf(path, sizeof(path), "%s/stderr", tmpdir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *cap = fopen(path, "w+");
    CHECK(cap != NULL);
    if (!cap)
        return;
    dup2(fileno(cap), STDERR_FILENO);
    log_set_level(LOG_LVL_INFO);

    kafka_secret_register("consumer");
    const char *defaults[][2] = {{"group.id", "g"}, {NULL, NULL}};
    struct kafka_conf_opts o = {NULL, "sluice-logtest", defaults, NULL};
    rd_kafka_conf_t *conf = kafka_conf_create(&o, &err);
    rd_kafka_t *rk = conf ? kafka_new(RD_KAFKA_PRODUCER, conf, "a test producer", &err) : NULL;
    CHECK(rk != NULL);
    if (rk)
        rd_kafka_destroy(rk);

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char text[8192] = "";
    rewind(cap);
    size_t n = fread(text, 1, sizeof(text) - 1, cap);
    text[n] = '\0';
    fclose(cap);
    CHECK(strstr(text, "WARN  kafka: sluice-logtest#producer") != NULL);
    CHECK(strstr(text, "CONFWARN") != NULL);
    CHECK(strstr(text, "group.id is a *** property") != NULL);
    CHECK(strstr(text, "consumer") == NULL);
    if (check_failed)
        fprintf(stderr, "captured: %s\n", text);
}

static void test_auth_failure(void)
{
    struct sl_err err;
    struct kafka_props *p = calloc(1, sizeof(*p));
    CHECK(kafka_props_add(p, "security.protocol", "SASL_PLAINTEXT", "flag", &err) == 0);
    CHECK(kafka_props_add(p, "sasl.mechanism", "PLAIN", "flag", &err) == 0);
    CHECK(kafka_props_add(p, "sasl.username", "alice", "flag", &err) == 0);
    CHECK(kafka_props_add(p, "sasl.password", "pw-in-reason", "flag", &err) == 0);
    struct kafka_conf_opts o = {NULL, "sluice-authtest", NULL, p};
    rd_kafka_conf_t *conf = kafka_conf_create(&o, &err);
    rd_kafka_t *rk = conf ? kafka_new(RD_KAFKA_PRODUCER, conf, "a test producer", &err) : NULL;
    CHECK(rk != NULL);
    if (rk) {
        char msg[512];
        CHECK(kafka_auth_failure(rk, RD_KAFKA_RESP_ERR__AUTHENTICATION,
                                 "SASL authentication error: bad pw-in-reason", msg, sizeof(msg)));
        CHECK(strstr(msg, "SASL authentication failed (PLAIN, user 'alice')") != NULL);
        CHECK(strstr(msg, "bad ***") != NULL);
        CHECK(strstr(msg, "pw-in-reason") == NULL);
        CHECK(!kafka_auth_failure(rk, RD_KAFKA_RESP_ERR__TRANSPORT, "refused", msg, sizeof(msg)));
        rd_kafka_destroy(rk);
    }
    kafka_props_free(p);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_config_map();
    test_props();
    test_constructor();
    test_log_policy();
    test_auth_failure();
    char cmdline[600];
    snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", tmpdir);
    if (system(cmdline) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
