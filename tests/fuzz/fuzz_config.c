/* Fuzz target: sluice.yaml as written by a user, through libyaml and the option resolver. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

static const struct opt_def opts[] = {
    {"listen", OPT_STRING, "127.0.0.1:9092", "HOST:PORT", "address"},
    {"segment-bytes", OPT_SIZE, "1GiB", "SIZE", "size"},
    {"retention", OPT_DURATION, "7d", "DURATION", "duration"},
    {"partitions", OPT_INT, "3", "N", "count"},
    {"auto-create", OPT_BOOL, "true", NULL, "flag"},
    {NULL, 0, NULL, NULL, NULL},
};
static const struct cmd_def cmd = {"broker", "fuzz", "fuzz", opts, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR"); /* run.sh gives each run its own */
        if (!tmp || !*tmp)
            tmp = "/tmp";
        snprintf(path, sizeof(path), "%s/sluice-fuzz-config-%d.yaml", tmp, (int)getpid());
        log_set_level(LOG_LVL_ERROR);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char *argv[] = {"broker", "--config", path, NULL};
    struct config *cfg = NULL;
    struct sl_err err;
    if (config_parse(&cmd, 3, argv, &cfg, &err) == 0)
        config_free(cfg);
    log_set_level(LOG_LVL_ERROR); /* a fuzzed log-level must not make the run noisy */
    return 0;
}
