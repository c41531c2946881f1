/* Fuzz target: Prometheus text exposition as the web UI reads it from the parts' /metrics
 * (metrics_parse), and every label lookup on what it hands back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

static void on_sample(const char *name, const char *labels, double v, void *arg)
{
    (void)v;
    (void)arg;
    char out[64];
    if (!name[0])
        abort();
    metrics_label(labels, "le", out, sizeof out);
    metrics_label(labels, "partition", out, sizeof out);
    metrics_label(labels, "x", out, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    metrics_parse((const char *)data, size, on_sample, NULL);
    /* and the label parser alone on a NUL-terminated copy */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char out[32];
    metrics_label(s, "le", out, sizeof out);
    free(s);
    return 0;
}
