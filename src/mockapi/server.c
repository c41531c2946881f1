/* `sluice mock-api`: a randomuser.me-compatible HTTP API on libmicrohttpd, so the pipeline and
 * its tests run offline. One thread per connection: a deliberately slow answer (--slow-rate)
 * then stalls only its own client. Fault options make the ingest's retry paths testable. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cli/commands.h"
#include "core/config.h"
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

/* Queues a response; takes ownership of body (malloc'ed) when must_free is set. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                             bool must_free)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Answers {"error": msg} with the given status. */
static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    struct buf b;
    buf_init(&b, 4096);
    if (jsonw_raw(&b, "{\"error\":") != 0 || jsonw_cstr(&b, msg) != 0 || jsonw_raw(&b, "}") != 0) {
        buf_free(&b);
        return MHD_NO;
    }
    size_t len;
    char *body = (char *)buf_detach(&b, &len);
    return reply(conn, status, body, len, true);
}

static const char *arg(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct mockapi_server *srv = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is supported");
    if (strcmp(url, "/api/") != 0 && strcmp(url, "/api") != 0 && strcmp(url, "/api/1.4/") != 0 &&
        strcmp(url, "/api/1.4") != 0)
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "not found: use /api/ or /api/1.4/");
    atomic_fetch_add(&srv->requests, 1);

    struct mockapi_query q = {
        .results = arg(conn, "results"),
        .seed = arg(conn, "seed"),
        .page = arg(conn, "page"),
        .nat = arg(conn, "nat"),
        .inc = arg(conn, "inc"),
        .exc = arg(conn, "exc"),
        .gender = arg(conn, "gender"),
        .format = arg(conn, "format"),
    };
    const char *v;
    size_t vlen;
    q.noinfo = MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "noinfo", 6, &v, &vlen) ==
               MHD_YES;
    struct mockapi_req req;
    struct sl_err err;
    if (mockapi_req_parse(&q, &req, &err) != 0) {
        atomic_fetch_add(&srv->rejected, 1);
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, err.msg);
    }
    if (!req.seed[0])
        mockapi_random_seed(req.seed);

    if (srv->slow_rate > 0 && server_dice(srv) < srv->slow_rate) {
        atomic_fetch_add(&srv->slows, 1);
        slow_sleep(srv, srv->slow_delay_ms);
    }
    if (srv->error_rate > 0 && server_dice(srv) < srv->error_rate) {
        atomic_fetch_add(&srv->errors, 1);
        return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, RANDOMUSER_ERROR);
    }

    struct buf b;
    buf_init(&b, mockapi_response_max(req.results));
    if (mockapi_generate(&req, &b, &err) != 0) {
        buf_free(&b);
        log_error(MOD, "%s", err.msg);
        return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg);
    }
    atomic_fetch_add(&srv->users, (uint_fast64_t)req.results);
    size_t len;
    char *body = (char *)buf_detach(&b, &len);
    if (srv->malformed_rate > 0 && server_dice(srv) < srv->malformed_rate) {
        atomic_fetch_add(&srv->malformed, 1);
        len = len / 2; /* cut mid-document: the client must detect it and retry */
    }
    return reply(conn, MHD_HTTP_OK, body, len, true);
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

static int bind_address(const char *listen, struct sockaddr_storage *ss, bool *v6,
                        struct sl_err *err)
{
    char host[256];
    int port;
    if (parse_hostport(listen, host, &port, err) != 0)
        return -1;
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *v6 = false;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return 0;
    }
    return sl_err_set(err, "--listen: '%s' is not a numeric IPv4 or IPv6 address", host);
}

int mockapi_main(int argc, char **argv)
{
    struct config *cfg = NULL;
    struct sl_err err;
    struct MHD_Daemon *d = NULL;
    int ret = 1;
    int rc = config_parse(&mockapi_cmd, argc, argv, &cfg, &err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "sluice mock-api: %s\n", err.msg);
        return 2;
    }

    static struct mockapi_server srv; /* outlives the daemon's threads; one per process */
    memset(&srv, 0, sizeof(srv));
    struct sockaddr_storage ss;
    bool v6 = false;
    int64_t maxconn = config_int(cfg, "max-connections");
    if (parse_rate(cfg, "error-rate", &srv.error_rate, &err) != 0 ||
        parse_rate(cfg, "slow-rate", &srv.slow_rate, &err) != 0 ||
        parse_rate(cfg, "malformed-rate", &srv.malformed_rate, &err) != 0 ||
        bind_address(config_str(cfg, "listen"), &ss, &v6, &err) != 0) {
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

    /* Block the stop signals before MHD starts its threads, so they inherit the mask and the
     * main thread alone receives them through sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    d = MHD_start_daemon(flags, 0, NULL, NULL, handle, &srv, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)maxconn,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                         MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256, MHD_OPTION_END);
    if (!d) {
        log_error(MOD, "cannot listen on %s (address in use or not permitted?)",
                  config_str(cfg, "listen"));
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[256];
    int port;
    parse_hostport(config_str(cfg, "listen"), host, &port, NULL);
    log_info(MOD,
             "serving a randomuser-compatible API on http://%s%s%s:%u/api/ (errors %.0f%%, "
             "slow %.0f%%, malformed %.0f%%)",
             v6 ? "[" : "", host, v6 ? "]" : "", info ? (unsigned)info->port : (unsigned)port,
             srv.error_rate * 100, srv.slow_rate * 100, srv.malformed_rate * 100);

    int sig = 0;
    sigwait(&stop, &sig);
    log_info(MOD, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&srv.stopping, true);
    ret = 0;
out:
    if (d)
        MHD_stop_daemon(d);
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
