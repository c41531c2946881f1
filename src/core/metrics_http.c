/* GET /metrics for every part: the global registry rendered per request. */
#include "core/metrics_http.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"

#define METRICS_MAX_TEXT (16u << 20)

void metrics_http_handler(struct http_req *req, void *ctx)
{
    (void)ctx;
    struct buf b;
    buf_init(&b, METRICS_MAX_TEXT);
    if (metrics_render(metrics_global(), &b) != 0) {
        buf_free(&b);
        http_reply_error(req, 500, "metrics exceed %u bytes", METRICS_MAX_TEXT);
        return;
    }
    size_t len;
    char *text = (char *)buf_detach(&b, &len);
    if (!text) {
        text = strdup("");
        len = 0;
    }
    http_add_header(req, "Cache-Control", "no-store");
    http_reply_take(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static void index_handler(struct http_req *req, void *ctx)
{
    (void)ctx;
    static const char body[] = "sluice: metrics at /metrics\n";
    http_reply(req, 200, "text/plain; charset=utf-8", body, sizeof body - 1);
}

static const struct http_route metrics_routes[] = {
    {"GET", "/metrics", metrics_http_handler, HTTP_PUBLIC},
    {"GET", "/", index_handler, HTTP_PUBLIC},
    {NULL, NULL, NULL, 0},
};

int metrics_server_start(const char *name, const char *listen, struct http_server **out,
                         struct sl_err *err)
{
    struct http_config cfg = {
        .name = name,
        .listen = listen,
        .max_body = 4096,
        .max_connections = 16,
        .threads = 1,
        .error_style = HTTP_ERR_DETAIL,
    };
    return http_server_start(&cfg, metrics_routes, NULL, out, err);
}

int metrics_listen(const char *name, const char *listen, struct http_server **out,
                   struct sl_err *err)
{
    *out = NULL;
    if (!listen || !*listen)
        return 0;
    if (!http_listen_is_loopback(listen))
        return sl_err_set(err, "--metrics-listen %s: metrics are served on loopback addresses only",
                          listen);
    struct sl_err e;
    if (metrics_server_start(name, listen, out, &e) != 0) {
        /* A busy port must not stop a broker or a stream job: they run on without. */
        log_warn(name, "no /metrics: %s", e.msg);
        *out = NULL;
        return 0;
    }
    char host[256];
    int port;
    if (http_parse_listen(listen, host, sizeof host, &port, NULL) == 0)
        log_info(name, "metrics at http://%s%s%s:%d/metrics", strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", http_server_port(*out));
    return 0;
}
