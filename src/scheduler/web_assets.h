/* The web UI's files (src/scheduler/web/), compiled into the binary by cmake/embed_assets.cmake
 * at build time. Each asset's data is followed by a NUL byte not counted in len. */
#ifndef SLUICE_SCHEDULER_WEB_ASSETS_H
#define SLUICE_SCHEDULER_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *path; /* "/app.js": the file's path under web/ */
    const char *content_type;
    const unsigned char *data;
    size_t len;
};

/* Ends with an entry whose path is NULL. */
extern const struct web_asset web_assets[];

#endif
