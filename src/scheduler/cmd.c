/* `sluice scheduler`: the scheduling loop on the main thread and, when built with the REST API
 * (scheduler/api.c, scheduler/auth.c, core/http.c), Airflow's REST API on libmicrohttpd's
 * threads, both over one metadata DB. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/log.h"
#include "scheduler/sched.h"

#if __has_include("scheduler/api.c") && __has_include("scheduler/auth.c") &&                       \
                                                      __has_include("core/http.c")
#define SCHED_HTTP 1
#include "core/http.h"
#include "scheduler/api.h"
#include "scheduler/auth.h"
#include "scheduler/ui.h"
#else
#define SCHED_HTTP 0
#endif

static const struct opt_def sched_opts[] = {
    {"dags-folder", OPT_STRING, "dags", "DIR", "where the DAG files (*.yaml, *.yml) are"},
    {"listen", OPT_STRING, "127.0.0.1:8080", "HOST:PORT", "the REST API's address"},
    {"data-dir", OPT_STRING, "./sluice-data", "DIR",
     "metadata in DIR/scheduler/scheduler.db, task logs in DIR/scheduler/logs"},
    {"parallelism", OPT_INT, "32", "N", "task tries running at once"},
    {"dags-paused-at-creation", OPT_BOOL, "true", NULL, "new DAGs start paused (as Airflow's)"},
    {"auth", OPT_BOOL, "true", NULL,
     "require a token (POST /auth/token); off is allowed only on loopback"},
    {"cron-data-intervals", OPT_BOOL, "true", NULL,
     "cron schedules get data intervals (the interval timetable); off: Airflow 3's "
     "CronTriggerTimetable (logical date = fire time)"},
    {"builtin-dags", OPT_BOOL, "true", NULL,
     "add the built-in user_automation DAG when no file defines it"},
    {"ui", OPT_BOOL, "true", NULL, "serve the web UI (/ui) and /metrics on the same address"},
    {"bootstrap", OPT_STRING, "127.0.0.1:9092", "HOST:PORT",
     "Kafka, for the UI's Topics and Pipeline pages and the default of sluice.ingest tasks"},
    {"topic", OPT_STRING, "users_created", "TOPIC", "the pipeline's topic (Pipeline page)"},
    {"store-db", OPT_STRING, NULL, "FILE",
     "the store's SQLite file (Pipeline page) [default: DATA_DIR/store/spark_streams.db]"},
    {"metrics-targets", OPT_STRING, NULL, "NAME=HOST:PORT,...",
     "the parts' /metrics the Pipeline page samples every second (e.g. "
     "process=127.0.0.1:9642,ingest=127.0.0.1:9643); an ingest target is also given to "
     "ingest tasks as their --metrics-listen"},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def sched_cmd = {
    "scheduler",
    "Run DAGs: schedules, runs, retries, logs, and Airflow's REST API.",
    "sluice scheduler [--dags-folder DIR] [--listen HOST:PORT] [--data-dir DIR]",
    sched_opts,
    "Reads DAG files in dag-factory 1.x's YAML format or Airflow 3.4's YAML Dag documents\n"
    "from --dags-folder (re-read when they change), creates runs per their schedules and\n"
    "runs their tasks as child processes. New DAGs start paused: unpause them with\n"
    "`sluice dags unpause DAG` or PATCH /api/v2/dags/DAG. See docs/scheduler.md.",
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

int scheduler_main(int argc, char **argv)
{
    struct config *cfg;
    struct sl_err err = {{0}};
    int rc = config_parse(&sched_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice scheduler: %s\n", err.msg);
        return 2;
    }
    if (config_nargs(cfg) > 0) {
        fprintf(stderr,
                "sluice scheduler: unexpected argument '%s' (on/off options take --opt=false "
                "or --no-opt)\n",
                config_arg(cfg, 0));
        config_free(cfg);
        return 2;
    }
    const char *listen = config_str(cfg, "listen");
    bool auth_on = config_bool(cfg, "auth");
    int64_t par = config_int(cfg, "parallelism");
    if (par < 1 || par > 1024) {
        fprintf(stderr, "sluice scheduler: --parallelism must be 1-1024\n");
        config_free(cfg);
        return 2;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';

    struct sched_opts o = {
        .dags_folder = config_str(cfg, "dags-folder"),
        .data_dir = config_str(cfg, "data-dir"),
        .parallelism = (int)par,
        .paused_at_creation = config_bool(cfg, "dags-paused-at-creation"),
        .cron_data_intervals = config_bool(cfg, "cron-data-intervals"),
        .builtin_dags = config_bool(cfg, "builtin-dags"),
        .self_exe = self,
    };

#if SCHED_HTTP
    if (!auth_on && !http_listen_is_loopback(listen)) {
        fprintf(stderr,
                "sluice scheduler: refusing to serve %s without authentication: --no-auth is "
                "allowed only on a loopback address\n",
                listen);
        config_free(cfg);
        return 2;
    }
#else
    (void)listen;
    (void)auth_on;
#endif

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

#if SCHED_HTTP
    /* Ingest tasks serve their metrics where the Pipeline page looks for them (set before
     * any thread starts; children inherit it). */
    const char *targets = config_str(cfg, "metrics-targets");
    const char *ing = targets ? strstr(targets, "ingest=") : NULL;
    if (ing && (ing == targets || ing[-1] == ',')) {
        char addr[256];
        snprintf(addr, sizeof addr, "%.*s", (int)strcspn(ing + 7, ","), ing + 7);
        setenv("SLUICE_INGEST_METRICS_LISTEN", addr, 0);
    }
    /* ... and produce to the Kafka the UI watches, unless told otherwise. */
    setenv("SLUICE_INGEST_BOOTSTRAP", config_str(cfg, "bootstrap"), 0);
#endif
    struct sched *s = NULL;
    if (sched_open(&o, &s, &err) != 0) {
        log_error("scheduler", "%s", err.msg);
        config_free(cfg);
        return 1;
    }
    rc = 0;
#if SCHED_HTTP
    struct auth *auth = NULL;
    struct http_server *srv = NULL;
    struct ui *ui = NULL;
    struct http_route *routes = NULL;
    char db_path[PATH_MAX], logs_dir[PATH_MAX];
    snprintf(db_path, sizeof(db_path), "%s/scheduler/scheduler.db", o.data_dir);
    snprintf(logs_dir, sizeof(logs_dir), "%s/scheduler/logs", o.data_dir);
    struct api_ctx actx = {.db_path = db_path, .logs_dir = logs_dir, .dags_folder = o.dags_folder};
    /* Users from the same config file the options came from (scheduler: users: [...]). */
    const char *cfg_file = config_str(cfg, "config");
    if (!cfg_file || !*cfg_file)
        cfg_file = access("sluice.yaml", R_OK) == 0 ? "sluice.yaml" : NULL;
    struct auth_opts ao = {.data_dir = o.data_dir, .config_path = cfg_file, .enabled = auth_on};
    if (!auth_on)
        log_warn("scheduler",
                 "AUTHENTICATION IS OFF: anyone who can reach %s can pause, trigger and read "
                 "every DAG (loopback only)",
                 listen);
    if (auth_open(&ao, &auth, &err) != 0) {
        log_error("scheduler", "%s", err.msg);
        rc = 1;
        goto out;
    }
    actx.auth = auth;
    size_t nroutes = api_routes_count();
    if (config_bool(cfg, "ui")) {
        struct ui_opts uo = {.data_dir = o.data_dir,
                             .db_path = db_path,
                             .bootstrap = config_str(cfg, "bootstrap"),
                             .topic = config_str(cfg, "topic"),
                             .store_db = config_str(cfg, "store-db"),
                             .targets = targets,
                             .auth_off = !auth_on};
        if (ui_create(&uo, &ui, &err) != 0) {
            log_error("scheduler", "%s", err.msg);
            rc = 1;
            goto out;
        }
        actx.ui = ui;
    }
    /* The API's routes, then the UI's. */
    routes = calloc(nroutes + (ui ? ui_routes_count() : 0) + 1, sizeof(*routes));
    if (!routes) {
        rc = 1;
        goto out;
    }
    memcpy(routes, api_routes(), nroutes * sizeof(*routes));
    if (ui)
        memcpy(routes + nroutes, ui_routes(), ui_routes_count() * sizeof(*routes));
    struct http_config hc = {.name = "scheduler",
                             .listen = listen,
                             .thread_per_connection = true,
                             .error_style = HTTP_ERR_DETAIL,
                             .auth = auth_http_hook,
                             .auth_ctx = auth};
    if (http_server_start(&hc, routes, &actx, &srv, &err) != 0) {
        log_error("scheduler", "cannot serve the REST API on %s: %s", listen, err.msg);
        rc = 1;
        goto out;
    }
    log_info("scheduler", "REST API on http://%s (Airflow /api/v2 and /api/v1)", listen);
    if (ui)
        log_info("scheduler", "web UI on http://%s/ui/ (metrics at /metrics)", listen);
#else
    log_warn("scheduler", "built without the REST API: running the scheduling loop only");
#endif
    log_info("scheduler", "DAGs from %s, metadata in %s/scheduler/scheduler.db", o.dags_folder,
             o.data_dir);
    sched_run(s, &stopping);
    log_info("scheduler", "stopping");
#if SCHED_HTTP
out:
    http_server_stop(srv);
    ui_destroy(ui);
    free(routes);
    auth_close(auth);
#endif
    sched_close(s);
    config_free(cfg);
    return rc;
}
