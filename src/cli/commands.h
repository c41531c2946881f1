/* Entry points of the subcommands; each takes argv with argv[0] = the command's name and
 * returns the process exit code (0 ok, 1 failure, 2 usage error). */
#ifndef SLUICE_CLI_COMMANDS_H
#define SLUICE_CLI_COMMANDS_H

int broker_main(int argc, char **argv);
int topics_main(int argc, char **argv);
int ingest_main(int argc, char **argv);
int mockapi_main(int argc, char **argv);
int process_main(int argc, char **argv);
int query_main(int argc, char **argv);
int version_main(int argc, char **argv);
int up_main(int argc, char **argv);
int dags_main(int argc, char **argv);
int tasks_main(int argc, char **argv);
int scheduler_main(int argc, char **argv);

#endif
