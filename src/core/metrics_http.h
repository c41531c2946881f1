/* /metrics over core/http: the handler (for servers that have other routes, like the
 * scheduler's) and a server of its own for parts started with --metrics-listen. */
#ifndef SLUICE_CORE_METRICS_HTTP_H
#define SLUICE_CORE_METRICS_HTTP_H

#include "core/err.h"
#include "core/http.h"

/* GET /metrics: the global registry in text format 0.0.4. Public (no auth). */
void metrics_http_handler(struct http_req *req, void *ctx);

/* Serves GET /metrics (and GET / with a pointer to it) on listen ("HOST:PORT"), as the part
 * `name`. Returns 0 and *out, or -1 with err set. Stop with http_server_stop. */
int metrics_server_start(const char *name, const char *listen, struct http_server **out,
                         struct sl_err *err);

/* The option every long-running part has. */
#define METRICS_LISTEN_OPT                                                                         \
    {                                                                                              \
        "metrics-listen", OPT_STRING, NULL, "HOST:PORT",                                           \
            "serve Prometheus metrics at http://HOST:PORT/metrics (loopback only; default: off)"   \
    }

/* Starts the server for --metrics-listen: NULL or "" means off (0, *out NULL); an address
 * that is not loopback is refused (-1: metrics carry no authentication); an address that
 * cannot be bound (in use) is warned about and the part runs on without metrics (0, *out
 * NULL). Logs where it listens. */
int metrics_listen(const char *name, const char *listen, struct http_server **out,
                   struct sl_err *err);

#endif
