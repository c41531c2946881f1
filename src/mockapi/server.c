/* `sluice mock-api`: a randomuser.me-compatible HTTP API on libmicrohttpd, so the pipeline and
 * its tests run offline, served by core/http. One thread per connection: a deliberately slow answer
 * (--slow-rate) then stalls only its own client. Fault options make the ingest's retry paths
 * testable. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/http.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/units.h"
#include "mockapi/gen.h"

#define MOD "mock-api"
#define RANDOMUSER_ERROR                                                                           \
    "Uh oh, something has gone wrong. Please tweet us @randomapi about the issue. Thank you."

struct mockapi_server {
    double error_rate, slow_rate, malformed_rate;
    int64_t slow_delay_ms;
    atomic_uint_fast64_t dice; /* request counter hashed into fault decisions */
    atomic_uint_fast64_t requests, users, errors, slows, malformed, rejected;
    atomic_bool stopping;
};

static const struct opt_def mockapi_opts[] = {
    {"listen", OPT_STRING, "127.0.0.1:8081", "HOST:PORT", "address to serve on (port 0: any)"},
    {"error-rate", OPT_STRING, "0", "F", "fraction of requests answered 500 {\"error\": ...}"},
    {"slow-rate", OPT_STRING, "0", "F", "fraction of requests answered after --slow-delay"},
    {"slow-delay", OPT_DURATION, "2s", "DURATION", "delay of slow answers"},
    {"malformed-rate", OPT_STRING, "0", "F", "fraction of requests answered with truncated JSON"},
    {"max-connections", OPT_INT, "256", "N", "concurrent connections (one thread each)"},
    {NULL, 0, NULL, NULL, NULL},
};

static const struct cmd_def mockapi_cmd = {
    "mock-api", "Serve a randomuser.me-compatible API (offline, deterministic per seed and page).",
    "sluice mock-api [--listen HOST:PORT] [fault options]", mockapi_opts,
    "Paths /api/ and /api/1.4/. Parameters: results (1..5000), seed, page, nat (comma list of\n"
    "AU BR CA CH DE DK ES FI FR GB IE IN IR MX NL NO NZ RS TR UA US), inc, exc, gender,\n"
    "format=json, noinfo. Example: curl 'http://127.0.0.1:8081/api/?results=5&nat=de,no&seed=x'"};

/* A uniform double in [0, 1) from a hashed counter: thread-safe without locks. */
static double server_dice(struct mockapi_server *srv)
{
    uint64_t z = atomic_fetch_add(&srv->dice, 0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* Answers with the randomuser content type; takes ownership of body (malloc'ed). */
static void reply(struct http_req *req, unsigned status, char *body, size_t len)
{
    http_add_header(req, "Access-Control-Allow-Origin", "*");
    http_reply_take(req, status, "application/json; charset=utf-8", body, len);
}

/* Answers {"error": msg} with the given status. */
static void reply_error(struct http_req *req, unsigned status, const char *msg)
{
    http_add_header(req, "Access-Control-Allow-Origin", "*");
    http_reply_error(req, status, "%s", msg);
}

/* Sleeps ms in short slices so shutdown is not held up by a slow answer for long. */
static void slow_sleep(struct mockapi_server *srv, int64_t ms)
{
    while (ms > 0 && !atomic_load(&srv->stopping)) {
        int64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {step / 1000, (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void handle(struct http_req *hreq, void *ctx)
{
    struct mockapi_server *srv = ctx;
    const char *method = http_method(hreq), *url = http_path(hreq);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        reply_error(hreq, 405, "only GET is supported");
        return;
    }
    if (strcmp(url, "/api/") != 0 && strcmp(url, "/api") != 0 && strcmp(url, "/api/1.4/") != 0 &&
        strcmp(url, "/api/1.4") != 0) {
        reply_error(hreq, 404, "not found: use /api/ or /api/1.4/");
        return;
    }
    atomic_fetch_add(&srv->requests, 1);

    struct mockapi_query q = {
        .results = http_query(hreq, "results"),
        .seed = http_query(hreq, "seed"),
        .page = http_query(hreq, "page"),
        .nat = http_query(hreq, "nat"),
        .inc = http_query(hreq, "inc"),
        .exc = http_query(hreq, "exc"),
        .gender = http_query(hreq, "gender"),
        .format = http_query(hreq, "format"),
    };
    q.noinfo = http_query(hreq, "noinfo") != NULL;
    struct mockapi_req req;
    struct sl_err err;
    if (mockapi_req_parse(&q, &req, &err) != 0) {
        atomic_fetch_add(&srv->rejected, 1);
        reply_error(hreq, 400, err.msg);
        return;
    }
    if (!req.seed[0])
        mockapi_random_seed(req.seed);

    if (srv->slow_rate > 0 && server_dice(srv) < srv->slow_rate) {
        atomic_fetch_add(&srv->slows, 1);
        slow_sleep(srv, srv->slow_delay_ms);
    }
    if (srv->error_rate > 0 && server_dice(srv) < srv->error_rate) {
        atomic_fetch_add(&srv->errors, 1);
        reply_error(hreq, 500, RANDOMUSER_ERROR);
        return;
    }

    struct buf b;
    buf_init(&b, mockapi_response_max(req.results));
    if (mockapi_generate(&req, &b, &err) != 0) {
        buf_free(&b);
        log_error(MOD, "%s", err.msg);
        reply_error(hreq, 500, err.msg);
        return;
    }
    atomic_fetch_add(&srv->users, (uint_fast64_t)req.results);
    size_t len;
    char *body = (char *)buf_detach(&b, &len);
    if (srv->malformed_rate > 0 && server_dice(srv) < srv->malformed_rate) {
        atomic_fetch_add(&srv->malformed, 1);
        len = len / 2; /* cut mid-document: the client must detect it and retry */
    }
    reply(hreq, 200, body, len);
}

static int parse_rate(const struct config *cfg, const char *name, double *out, struct sl_err *err)
{
    const char *s = config_str(cfg, name);
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return sl_err_set(err, "--%s: '%s' is not a fraction between 0 and 1", name, s);
    *out = v;
    return 0;
}

static const struct http_route mockapi_routes[] = {
    {"*", "/*", handle, HTTP_PUBLIC}, /* the handler answers 404/405 in randomuser's words */
    {NULL, NULL, NULL, 0},
};

int mockapi_main(int argc, char **argv)
{
    struct config *cfg = NULL;
    struct sl_err err;
    struct http_server *hs = NULL;
    int ret = 1;
    int rc = config_parse(&mockapi_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice mock-api: %s\n", err.msg);
        return 2;
    }

    static struct mockapi_server srv; /* outlives the server's threads; one per process */
    memset(&srv, 0, sizeof(srv));
    const char *listen = config_str(cfg, "listen");
    char host[256];
    int port;
    int64_t maxconn = config_int(cfg, "max-connections");
    if (parse_rate(cfg, "error-rate", &srv.error_rate, &err) != 0 ||
        parse_rate(cfg, "slow-rate", &srv.slow_rate, &err) != 0 ||
        parse_rate(cfg, "malformed-rate", &srv.malformed_rate, &err) != 0 ||
        http_parse_listen(listen, host, sizeof(host), &port, &err) != 0) {
        fprintf(stderr, "sluice mock-api: %s\n", err.msg);
        ret = 2;
        goto out;
    }
    if (maxconn < 1 || maxconn > 10000) {
        fprintf(stderr, "sluice mock-api: --max-connections must be 1..10000\n");
        ret = 2;
        goto out;
    }
    srv.slow_delay_ms = config_ms(cfg, "slow-delay");
    atomic_store(&srv.dice, (uint_fast64_t)mono_us());

    /* Block the stop signals before the server starts its threads, so they inherit the mask
     * and the main thread alone receives them through sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct http_config hc = {
        .name = MOD,
        .listen = listen,
        .max_connections = (unsigned)maxconn,
        .timeout_s = 60,
        .thread_per_connection = true,
        .error_style = HTTP_ERR_ERROR,
    };
    if (http_server_start(&hc, mockapi_routes, &srv, &hs, &err) != 0) {
        log_error(MOD, "%s", err.msg);
        goto out;
    }
    bool v6 = strchr(host, ':') != NULL;
    log_info(MOD,
             "serving a randomuser-compatible API on http://%s%s%s:%d/api/ (errors %.0f%%, "
             "slow %.0f%%, malformed %.0f%%)",
             v6 ? "[" : "", host, v6 ? "]" : "", http_server_port(hs), srv.error_rate * 100,
             srv.slow_rate * 100, srv.malformed_rate * 100);

    int sig = 0;
    sigwait(&stop, &sig);
    log_info(MOD, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&srv.stopping, true);
    ret = 0;
out:
    http_server_stop(hs);
    if (ret == 0)
        log_info(MOD,
                 "served %llu requests, %llu users; injected %llu errors, %llu slow, %llu "
                 "malformed; rejected %llu bad requests",
                 (unsigned long long)srv.requests, (unsigned long long)srv.users,
                 (unsigned long long)srv.errors, (unsigned long long)srv.slows,
                 (unsigned long long)srv.malformed, (unsigned long long)srv.rejected);
    config_free(cfg);
    return ret;
}
