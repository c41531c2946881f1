/* The scheduler's REST API in Airflow 3's shape (/api/v2) and Airflow 2's (/api/v1), plus
 * POST /auth/token. Handlers read the metadata DB (scheduler/meta.h) and the task logs; the
 * only writes are the user actions listed in meta.h. */
#ifndef SLUICE_SCHEDULER_API_H
#define SLUICE_SCHEDULER_API_H

#include <stddef.h>

#include "core/http.h"

struct auth;

/* What every handler gets as its ctx (the http server's ctx). Owned by the caller. */
struct api_ctx {
    const char *db_path;  /* DATA_DIR/scheduler/scheduler.db; one connection per thread */
    const char *logs_dir; /* DATA_DIR/scheduler/logs */
    const char *dags_folder;
    struct auth *auth;
    void *ui; /* the web UI's state (scheduler/ui.h), NULL when the UI is off */
};

/* The API's routes (ending with a NULL-pattern entry). The scheduler's command concatenates
 * them with the UI's routes into one table. */
const struct http_route *api_routes(void);
/* Number of routes in api_routes() without the terminator. */
size_t api_routes_count(void);

#endif
