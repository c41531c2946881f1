/* sluice: one binary, subcommand dispatch only. Each subcommand lives in its module and is
 * listed once in the table below, which also drives `sluice help`. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "process/spec.h"

struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"up", "run the whole pipeline on this machine (broker, stream job, ingest)", up_main},
    {"broker", "run the embedded Kafka-compatible broker", broker_main},
    {"ingest", "stream users from randomuser.me (or its generator) to a topic", ingest_main},
    {"mock-api", "serve a randomuser.me-compatible API offline", mockapi_main},
    {"process", "run the stream job: topic -> store, exactly once, dead letters", process_main},
    {"query", "run a query against the store (spark_streams.created_users)", query_main},
    {"scheduler", "run DAGs on schedules, with retries, logs and Airflow's REST API",
     scheduler_main},
    {"topics", "list, create, describe, delete topics on any Kafka-protocol broker", topics_main},
    {"dags", "list, trigger, pause, unpause DAGs; list runs (scheduler API)", dags_main},
    {"tasks", "read a task's log (scheduler API)", tasks_main},
    {"version", "print the version", version_main},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f,
            "sluice %s: a single-binary real-time user-data pipeline\n\n"
            "Usage: sluice COMMAND [options]\n       sluice help COMMAND\n\nCommands:\n",
            SLUICE_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nEvery command takes --help. Options resolve as flags > SLUICE_* environment > "
               "sluice.yaml > defaults.\n");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    spec_json_init(); /* cJSON's allocator, before any thread uses cJSON */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0)
        return version_main(argc - 1, argv + 1);
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const struct command *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "sluice: unknown command '%s'\n", argv[2]);
            return 2;
        }
        char *hargv[] = {argv[2], "--help", NULL};
        return c->run(2, hargv);
    }
    const struct command *c = find(name);
    if (!c) {
        fprintf(stderr, "sluice: unknown command '%s' (see sluice --help)\n", name);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
