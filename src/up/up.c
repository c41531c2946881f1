/* `sluice up`: one supervisor for the whole pipeline on one machine. It runs the parts as
 * child processes of this same binary (broker, stream job, scheduler with the web UI, ingest),
 * restarts a long-running part that dies (with backoff), and on SIGINT/SIGTERM stops them in
 * reverse order. */
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/units.h"
#include "up/ready.h"

static const struct opt_def up_opts[] = {
    {"data-dir", OPT_STRING, "./sluice-data", "DIR", "where every part keeps its data"},
    {"listen", OPT_STRING, "127.0.0.1:9092", "HOST:PORT", "the embedded broker's address"},
    {"ingest", OPT_BOOL, "true", NULL, "run the stream_data_from_api task once at start"},
    {"ingest-duration", OPT_DURATION, "60s", "DURATION", "how long that ingest streams"},
    {"source", OPT_STRING, "auto", "auto|generator|URL", "where ingest gets users"},
    {"processes", OPT_INT, "1", "N", "stream-job instances (one consumer group)"},
    {"bootstrap", OPT_STRING, NULL, "HOST:PORT",
     "use this Kafka instead of starting the embedded broker"},
    {"store", OPT_STRING, NULL, "URI",
     "the stream job's store (sqlite:DIR or cassandra://...) [default: sqlite:DATA_DIR/store]"},
    {"scheduler", OPT_BOOL, "true", NULL, "run the scheduler with the web UI"},
    {"ui-listen", OPT_STRING, "127.0.0.1:8080", "HOST:PORT", "the scheduler's web UI and REST API"},
    {"dags-folder", OPT_STRING, "dags", "DIR", "the scheduler's DAG files"},
    {"trigger", OPT_BOOL, "false", NULL,
     "once up, switch user_automation on and trigger it (what `make run` does)"},
    {"metrics", OPT_BOOL, "true", NULL,
     "each part serves /metrics on a free loopback port (the UI's Pipeline page reads them)"},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def up_cmd = {
    "up",
    "Run the whole pipeline on this machine: broker, stream job, scheduler + web UI, ingest.",
    "sluice up [--data-dir DIR] [--listen HOST:PORT] [--ui-listen HOST:PORT] [--trigger]",
    up_opts,
    "Starts `sluice broker`, waits until it accepts connections and has created the topic\n"
    "users_created, then starts `sluice process` (--processes instances in one group), the\n"
    "scheduler serving the web UI on --ui-listen, and runs `sluice ingest` once for\n"
    "--ingest-duration, as the DAG user_automation would (--no-ingest: leave it to the DAG;\n"
    "--trigger switches the DAG on and triggers it). With --bootstrap no embedded broker is\n"
    "started. Long-running parts are restarted if they die (backoff 1 s doubling to 30 s).\n"
    "Once ready it prints the UI's address and login. Ctrl-C stops everything, newest first.\n"
    "Query the result with:\n"
    "sluice query \"SELECT count(*) FROM created_users\"",
};

#define MAX_CHILDREN 16

struct child {
    const char *name;
    char *argv[24];
    int argc;
    pid_t pid; /* 0 when not running */
    struct proc proc;
    bool restart; /* long-running: restart when it dies */
    bool done;    /* a one-shot part that finished */
    int64_t backoff_ms;
    int64_t next_start_ms;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void add_arg(struct child *c, const char *a)
{
    if (c->argc < 23)
        c->argv[c->argc++] = strdup(a);
    c->argv[c->argc] = NULL;
}

static int spawn(struct child *c, const char *self)
{
    (void)self;
    /* The supervisor decides when and in which order the parts stop: out of the terminal's
     * process group, a Ctrl-C reaches only the supervisor. If the supervisor itself dies (even
     * by SIGKILL), its parts are told to stop. */
    struct proc_spec spec = {
        .argv = (const char *const *)c->argv, .own_group = true, .die_with_parent = true};
    struct sl_err err;
    if (proc_spawn(&spec, &c->proc, &err) != 0) {
        log_error("up", "cannot start %s: %s", c->name, err.msg);
        return -1;
    }
    c->pid = c->proc.pid;
    log_info("up", "started %s (pid %d)", c->name, (int)c->pid);
    return 0;
}

static bool port_open(const char *host, int port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai;
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    if (getaddrinfo(host, p, &hints, &ai) != 0)
        return false;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return ok;
}

/* Has the embedded broker create the job's topic now, as a producer's metadata request does,
 * and waits (up to 5 s) until it has partitions. Without it the stream job subscribed to a
 * topic that did not exist yet: librdkafka noticed it ~2 s after the ingest created it, so the
 * first records of `make run` waited ~3.3 s (with it: the group's 1 s join delay). Nothing
 * depends on it: on failure the first producer creates the topic, as before. */
static void precreate_topic(const char *bootstrap, const char *topic)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "allow.auto.create.topics", "true", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return;
    }
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int64_t deadline = mono_ms() + 5000;
    bool ready = false;
    while (t && !ready && !stopping && mono_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, t, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
            ready = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    md->topics[0].partition_cnt > 0;
            rd_kafka_metadata_destroy(md);
        }
        if (!ready) {
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (t)
        rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    if (!ready)
        log_warn("up",
                 "topic %s not created ahead of the stream job; the first records will "
                 "create it",
                 topic);
}

/* A free loopback port for a part's /metrics, as "127.0.0.1:PORT"; "" when none is found. */
static void free_addr(char *out, size_t cap)
{
    out[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        snprintf(out, cap, "127.0.0.1:%d", (int)ntohs(a.sin_port));
    if (fd >= 0)
        close(fd);
}

static void stop_child(struct child *c)
{
    if (c->pid <= 0)
        return;
    if (proc_stop(&c->proc, 20000) == 1)
        log_warn("up", "%s did not stop within 20 s; killed it", c->name);
    else
        log_info("up", "%s stopped", c->name);
    c->pid = 0;
}

/* Once the scheduler answers: where the UI is, how to log in and query; with --trigger,
 * user_automation switched on and triggered through the REST API. */
static void announce(const char *data_dir, const char *store, const char *ui_host, int ui_port,
                     const char *bootstrap, bool trigger)
{
    const char *h = strcmp(ui_host, "0.0.0.0") ? ui_host : "127.0.0.1";
    int64_t deadline = mono_ms() + 60000;
    while (!port_open(h, ui_port) && !stopping && mono_ms() < deadline) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (stopping)
        return;
    char pw[256] = "";
    bool pw_ok = up_admin_password(data_dir, pw, sizeof(pw)) == 0;
    if (!pw_ok)
        snprintf(pw, sizeof(pw), "in DATA_DIR/scheduler/admin-password");
    char addr[300];
    snprintf(addr, sizeof(addr), "%s:%d", h, ui_port);
    bool triggered = false;
    if (trigger && pw_ok) {
        struct sl_err err;
        triggered = up_trigger_dag(addr, "admin", pw, "user_automation", 30000, &err) == 0;
        if (triggered)
            log_info("up", "user_automation switched on and triggered");
        else
            log_error("up", "could not trigger user_automation: %s", err.msg);
    } else if (trigger) {
        log_error("up", "cannot trigger user_automation: no admin password found");
    }
    char query[PATH_MAX + 64];
    if (store && *store)
        snprintf(query, sizeof(query), "--store %s", store);
    else
        snprintf(query, sizeof(query), "--data-dir %s", data_dir);
    printf("\n"
           "sluice is up.\n"
           "  web UI     http://%s/   user admin, password %s\n"
           "  Kafka      %s   (topic users_created)\n"
           "  the store  sluice query %s \"SELECT count(*) FROM created_users\"\n"
           "%s%s%s"
           "  Ctrl-C stops everything.\n\n",
           addr, pw, bootstrap, query,
           triggered ? "  running    user_automation (its task log: http://" : "",
           triggered ? addr : "", triggered ? "/ui/dags/user_automation)\n" : "");
    fflush(stdout);
}

int up_main(int argc, char **argv)
{
    struct config *cfg;
    struct sl_err err;
    int rc = config_parse(&up_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice up: %s\n", err.msg);
        return 2;
    }
    char host[256];
    int port;
    const char *listen = config_str(cfg, "listen");
    int64_t nproc = config_int(cfg, "processes");
    if (parse_hostport(listen, host, &port, &err) != 0 || port == 0 || nproc < 1 || nproc > 8) {
        fprintf(stderr, "sluice up: %s\n",
                nproc < 1 || nproc > 8 ? "--processes must be 1-8" : "--listen needs HOST:PORT");
        config_free(cfg);
        return 2;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        fprintf(stderr, "sluice up: cannot find my own binary\n");
        config_free(cfg);
        return 1;
    }
    self[n] = '\0';
    char data_dir[PATH_MAX];
    snprintf(data_dir, sizeof(data_dir), "%s", config_str(cfg, "data-dir"));
    char bootstrap[300], duration[32];
    const char *ext = config_str(cfg, "bootstrap");
    bool embedded = !ext || !*ext; /* an external Kafka: no embedded broker */
    snprintf(bootstrap, sizeof(bootstrap), "%s:%d", strcmp(host, "0.0.0.0") ? host : "127.0.0.1",
             port);
    if (!embedded)
        snprintf(bootstrap, sizeof(bootstrap), "%s", ext);
    snprintf(duration, sizeof(duration), "%lldms", (long long)config_ms(cfg, "ingest-duration"));
    char ui_listen[300], ui_host[256];
    int ui_port = 0;
    bool sched = config_bool(cfg, "scheduler");
    snprintf(ui_listen, sizeof(ui_listen), "%s", config_str(cfg, "ui-listen"));
    if (sched && (parse_hostport(ui_listen, ui_host, &ui_port, &err) != 0 || ui_port == 0)) {
        fprintf(stderr, "sluice up: --ui-listen needs HOST:PORT\n");
        config_free(cfg);
        return 2;
    }
    /* Every part's /metrics on a free loopback port; the scheduler's UI samples them all. */
    bool metrics = config_bool(cfg, "metrics");
    char broker_m[64] = "", proc_m[8][64], ingest_m[64] = "", targets[1024] = "";
    memset(proc_m, 0, sizeof(proc_m));
    if (metrics) {
        size_t tl = 0;
        if (embedded) {
            free_addr(broker_m, sizeof(broker_m));
            tl += (size_t)snprintf(targets + tl, sizeof(targets) - tl, "broker=%s,", broker_m);
        }
        for (int64_t i = 0; i < nproc; i++) {
            free_addr(proc_m[i], sizeof(proc_m[i]));
            tl += (size_t)snprintf(targets + tl, sizeof(targets) - tl, "process%s=%s,",
                                   i ? "-" : "", proc_m[i]);
        }
        free_addr(ingest_m, sizeof(ingest_m));
        snprintf(targets + tl, sizeof(targets) - tl, "ingest=%s", ingest_m);
    }

    /* The UI reads a SQLite store's file; another store it cannot show. */
    char store[PATH_MAX] = ""; /* a copy: cfg is freed before the banner */
    snprintf(store, sizeof(store), "%s", config_str(cfg, "store") ? config_str(cfg, "store") : "");
    char store_db[PATH_MAX + 32] = "";
    if (strncmp(store, "sqlite:", 7) == 0)
        snprintf(store_db, sizeof(store_db), "%.*s/spark_streams.db", (int)strcspn(store + 7, "?"),
                 store + 7);

    struct child kids[MAX_CHILDREN];
    int nkids = 0;
    memset(kids, 0, sizeof(kids));
    struct child *broker = NULL;
    if (embedded) {
        broker = &kids[nkids++];
        broker->name = "broker";
        broker->restart = true;
        add_arg(broker, self);
        add_arg(broker, "broker");
        add_arg(broker, "--listen");
        add_arg(broker, listen);
        add_arg(broker, "--data-dir");
        add_arg(broker, data_dir);
        /* A lone stream job has no other member to wait for: its group's first rebalance need
         * not wait the broker's default 1 s (meant for instances starting together). */
        if (nproc == 1) {
            add_arg(broker, "--group-initial-delay");
            add_arg(broker, "0");
        }
        if (broker_m[0]) {
            add_arg(broker, "--metrics-listen");
            add_arg(broker, broker_m);
        }
    }
    for (int64_t i = 0; i < nproc; i++) {
        struct child *p = &kids[nkids++];
        p->name = "process";
        p->restart = true;
        add_arg(p, self);
        add_arg(p, "process");
        add_arg(p, "--bootstrap");
        add_arg(p, bootstrap);
        add_arg(p, "--data-dir");
        add_arg(p, data_dir);
        if (store[0]) {
            add_arg(p, "--store");
            add_arg(p, store);
        }
        if (proc_m[i][0]) {
            add_arg(p, "--metrics-listen");
            add_arg(p, proc_m[i]);
        }
    }
    if (sched) {
        struct child *sc = &kids[nkids++];
        sc->name = "scheduler";
        sc->restart = true;
        add_arg(sc, self);
        add_arg(sc, "scheduler");
        add_arg(sc, "--listen");
        add_arg(sc, ui_listen);
        add_arg(sc, "--data-dir");
        add_arg(sc, data_dir);
        add_arg(sc, "--dags-folder");
        add_arg(sc, config_str(cfg, "dags-folder"));
        add_arg(sc, "--bootstrap");
        add_arg(sc, bootstrap);
        if (targets[0]) {
            add_arg(sc, "--metrics-targets");
            add_arg(sc, targets);
        }
        if (store_db[0]) {
            add_arg(sc, "--store-db");
            add_arg(sc, store_db);
        }
    }
    bool trigger = sched && config_bool(cfg, "trigger");
    if (config_bool(cfg, "ingest")) {
        struct child *in = &kids[nkids++];
        in->name = "ingest";
        add_arg(in, self);
        add_arg(in, "ingest");
        add_arg(in, "--bootstrap");
        add_arg(in, bootstrap);
        add_arg(in, "--duration");
        add_arg(in, duration);
        add_arg(in, "--source");
        add_arg(in, config_str(cfg, "source"));
        if (ingest_m[0]) {
            add_arg(in, "--metrics-listen");
            add_arg(in, ingest_m);
        }
    }
    config_free(cfg);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    log_info("up", "starting the pipeline: %s %s, data in %s", embedded ? "broker" : "Kafka",
             bootstrap, data_dir);
    rc = 0;
    if (broker && spawn(broker, self) != 0)
        return 1;
    int64_t deadline = mono_ms() + 60000;
    while (broker && !port_open(host, port)) {
        if (proc_poll(&broker->proc) == 1) {
            log_error("up", "the broker exited during start-up; see its messages above");
            return 1;
        }
        if (mono_ms() > deadline || stopping) {
            log_error("up", "the broker did not accept connections on %s within 60 s", bootstrap);
            stop_child(broker);
            return 1;
        }
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (broker)
        precreate_topic(bootstrap, "users_created"); /* the stream job's default --topic */
    for (int i = broker ? 1 : 0; i < nkids; i++)
        spawn(&kids[i], self);
    if (sched)
        announce(data_dir, store, ui_host, ui_port, bootstrap, trigger);

    while (!stopping) {
        int64_t now = mono_ms();
        bool reaped = false;
        for (int i = 0; i < nkids; i++) {
            struct child *c = &kids[i];
            if (c->pid <= 0 || proc_poll(&c->proc) != 1)
                continue;
            reaped = true;
            c->pid = 0;
            int code = proc_exit_code(&c->proc);
            if (!c->restart) {
                c->done = true;
                if (code == 0)
                    log_info("up", "%s finished", c->name);
                else
                    log_error("up", "%s failed with exit code %d", c->name, code);
                continue;
            }
            c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 1000;
            if (c->backoff_ms > 30000)
                c->backoff_ms = 30000;
            c->next_start_ms = now + c->backoff_ms;
            log_error("up", "%s exited with code %d; restarting in %lld ms", c->name, code,
                      (long long)c->backoff_ms);
        }
        for (int i = 0; i < nkids; i++) {
            struct child *c = &kids[i];
            if (c->restart && c->pid == 0 && c->next_start_ms && now >= c->next_start_ms) {
                c->next_start_ms = 0;
                spawn(c, self);
            }
        }
        if (!reaped) {
            struct timespec ts = {0, 200 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    log_info("up", "stopping the pipeline");
    for (int i = nkids - 1; i >= 0; i--)
        stop_child(&kids[i]);
    for (int i = 0; i < nkids; i++) {
        for (int j = 0; j < kids[i].argc; j++)
            free(kids[i].argv[j]);
    }
    return rc;
}
