/* `sluice version`: the product version and the versions of the libraries it runs on. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <yaml.h>

#include "cli/commands.h"
#include "core/config.h"

static const struct opt_def version_opts[] = {{NULL, 0, NULL, NULL, NULL}};
static const struct cmd_def version_cmd = {"version", "Print sluice's version and its libraries'.",
                                           "sluice version", version_opts, NULL};

int version_main(int argc, char **argv)
{
    struct config *cfg;
    struct sl_err err;
    int rc = config_parse(&version_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice version: %s\n", err.msg);
        return 2;
    }
    config_free(cfg);
    printf("sluice %s\n", SLUICE_VERSION);
    printf("  librdkafka %s, libcurl %s, sqlite %s, libmicrohttpd %s, libyaml %s, cJSON %s\n",
           rd_kafka_version_str(), curl_version_info(CURLVERSION_NOW)->version,
           sqlite3_libversion(), MHD_get_version(), yaml_get_version_string(), cJSON_Version());
    return 0;
}
