/* One HTTP server on libmicrohttpd (see http.h). The raw request URI is taken from MHD's URI
 * log callback, before MHD unescapes it, so path segments are split first and decoded after
 * ("%2F" inside a {param} stays inside it) and repeated query keys are all kept. Bodies are
 * accumulated up to max_body; a larger Content-Length is refused with 413 before reading. */
#include "core/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/units.h"

#define MAX_PARAMS 8
#define MAX_QUERY 64
#define MAX_HEADERS 16
#define MAX_URI 8192

struct http_server {
    struct http_config cfg;
    char name[64];
    const struct http_route *routes;
    void *ctx;
    struct MHD_Daemon *daemon;
    int port;
};

struct kv {
    char *key;
    char *value;
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    char *uri;  /* raw, as received */
    char *path; /* decoded */
    const char *method;
    struct kv params[MAX_PARAMS];
    int nparams;
    struct kv query[MAX_QUERY];
    int nquery;
    struct kv headers[MAX_HEADERS]; /* response headers to add */
    int nheaders;
    struct buf body;
    bool started, too_big, answered, bad_uri, too_many_params;
    char *user;
    char peer[INET6_ADDRSTRLEN];
    int64_t t0_us;
};

/* ---- helpers ---- */

/* Decodes s[0..n) into out; plus_space turns '+' into ' ' (query strings). */
static int decode_n(const char *s, size_t n, char *out, size_t cap, bool plus_space)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (j + 1 >= cap)
            return -1;
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int a = hex_digit((unsigned char)s[i + 1]), b = hex_digit((unsigned char)s[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            out[j++] = (char)(a * 16 + b);
            i += 2;
        } else if (c == '+' && plus_space) {
            out[j++] = ' ';
        } else {
            out[j++] = c;
        }
    }
    out[j] = '\0';
    return 0;
}

int http_url_decode(const char *s, char *out, size_t cap)
{
    return decode_n(s, strlen(s), out, cap, false);
}

static char *decode_dup(const char *s, size_t n, bool plus_space)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    if (decode_n(s, n, out, n + 1, plus_space) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

int http_parse_listen(const char *listen, char *host, size_t hcap, int *port, struct sl_err *err)
{
    if (!listen || !*listen)
        return sl_err_set(err, "empty listen address");
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return sl_err_set(err, "'%s' is not HOST:PORT", listen);
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[') {
        if (hl < 2 || h[hl - 1] != ']')
            return sl_err_set(err, "'%s': bad [IPv6] address", listen);
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hcap)
        return sl_err_set(err, "'%s': bad host", listen);
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno || p < 0 || p > 65535)
        return sl_err_set(err, "'%s': bad port", listen);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

bool http_listen_is_loopback(const char *listen)
{
    char host[256];
    int port;
    if (http_parse_listen(listen, host, sizeof(host), &port, NULL) != 0)
        return false;
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return true;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return false;
}

const char *http_reason(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

/* ---- request parsing ---- */

static int parse_query(struct http_req *req, const char *q)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > 0) {
            if (req->nquery >= MAX_QUERY) {
                req->too_many_params = true;
                return -1;
            }
            const char *eq = memchr(q, '=', n);
            size_t kl = eq ? (size_t)(eq - q) : n;
            char *k = decode_dup(q, kl, true);
            char *v = eq ? decode_dup(eq + 1, n - kl - 1, true) : strdup("");
            if (!k || !v) {
                free(k);
                free(v);
                return -1;
            }
            req->query[req->nquery].key = k;
            req->query[req->nquery].value = v;
            req->nquery++;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* Splits the raw URI into the decoded path and the query. */
static int parse_uri(struct http_req *req)
{
    const char *u = req->uri;
    const char *qm = strchr(u, '?');
    size_t pl = qm ? (size_t)(qm - u) : strlen(u);
    req->path = decode_dup(u, pl, false);
    if (!req->path || req->path[0] != '/')
        return -1;
    if (qm && parse_query(req, qm + 1) != 0)
        return -1;
    return 0;
}

static void clear_params(struct http_req *req)
{
    for (int i = 0; i < req->nparams; i++) {
        free(req->params[i].value);
        req->params[i].value = NULL;
    }
    req->nparams = 0;
}

/* Matches the raw path (segments split before decoding) against a pattern; fills params. */
static bool route_match(struct http_req *req, const char *pattern)
{
    clear_params(req);
    const char *u = req->uri;
    size_t ulen = strcspn(u, "?");
    const char *p = pattern;
    const char *s = u;
    const char *uend = u + ulen;
    while (*p) {
        if (*p != '/' || s >= uend || *s != '/')
            return false;
        p++;
        s++;
        size_t pn = strcspn(p, "/");
        const char *slash = memchr(s, '/', (size_t)(uend - s));
        size_t sn = slash ? (size_t)(slash - s) : (size_t)(uend - s);
        if (pn == 1 && p[0] == '*' && p[1] == '\0') {
            if (req->nparams >= MAX_PARAMS)
                return false;
            char *v = decode_dup(s, (size_t)(uend - s), false);
            if (!v)
                return false;
            req->params[req->nparams].key = "*";
            req->params[req->nparams++].value = v;
            return true;
        }
        if (pn >= 2 && p[0] == '{' && p[pn - 1] == '}') {
            if (sn == 0 || req->nparams >= MAX_PARAMS)
                return false;
            char *v = decode_dup(s, sn, false);
            if (!v)
                return false;
            req->params[req->nparams].key = (char *)p; /* "{name}..." compared by length */
            req->params[req->nparams++].value = v;
        } else if (pn != sn || memcmp(p, s, pn) != 0) {
            return false;
        }
        p += pn;
        s += sn;
    }
    return s == uend;
}

/* ---- accessors ---- */

const char *http_method(const struct http_req *req)
{
    return req->method;
}

const char *http_path(const struct http_req *req)
{
    return req->path;
}

const char *http_param(const struct http_req *req, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < req->nparams; i++) {
        const char *k = req->params[i].key;
        if (strcmp(name, "*") == 0) {
            if (strcmp(k, "*") == 0)
                return req->params[i].value;
            continue;
        }
        if (k[0] == '{' && strncmp(k + 1, name, nl) == 0 && k[1 + nl] == '}')
            return req->params[i].value;
    }
    return NULL;
}

const char *http_query(const struct http_req *req, const char *key)
{
    for (int i = 0; i < req->nquery; i++) {
        if (strcmp(req->query[i].key, key) == 0)
            return req->query[i].value;
    }
    return NULL;
}

int http_query_each(const struct http_req *req, const char *key,
                    void (*fn)(const char *value, void *arg), void *arg)
{
    int n = 0;
    for (int i = 0; i < req->nquery; i++) {
        if (strcmp(req->query[i].key, key) == 0) {
            if (fn)
                fn(req->query[i].value, arg);
            n++;
        }
    }
    return n;
}

const char *http_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_cookie(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

const char *http_body(const struct http_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.len ? (const char *)req->body.data : "";
}

void http_set_user(struct http_req *req, const char *user)
{
    free(req->user);
    req->user = user ? strdup(user) : NULL;
}

const char *http_user(const struct http_req *req)
{
    return req->user;
}

const char *http_peer(const struct http_req *req)
{
    return req->peer;
}

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    if (req->nheaders >= MAX_HEADERS)
        return;
    req->headers[req->nheaders].key = strdup(name);
    req->headers[req->nheaders].value = strdup(value);
    req->nheaders++;
}

/* ---- replies ---- */

static void log_reply(struct http_req *req, unsigned status)
{
    if (!req->srv->cfg.log_requests)
        return;
    int64_t us = mono_us() - req->t0_us;
    log_info(req->srv->name, "%s %s %u %.1fms", req->method, req->path ? req->path : "?", status,
             (double)us / 1000.0);
}

static void queue(struct http_req *req, unsigned status, struct MHD_Response *resp,
                  const char *content_type)
{
    if (req->answered) {
        MHD_destroy_response(resp);
        log_error(req->srv->name, "%s %s: handler answered twice", req->method, req->path);
        return;
    }
    req->answered = true;
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    for (int i = 0; i < req->nheaders; i++) {
        if (req->headers[i].key && req->headers[i].value)
            MHD_add_response_header(resp, req->headers[i].key, req->headers[i].value);
    }
    MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    log_reply(req, status);
}

void http_reply_take(struct http_req *req, unsigned status, const char *content_type, char *body,
                     size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return;
    }
    queue(req, status, resp, content_type);
}

void http_reply(struct http_req *req, unsigned status, const char *content_type, const void *body,
                size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    if (len)
        memcpy(copy, body, len);
    http_reply_take(req, status, content_type, copy, len);
}

void http_reply_json(struct http_req *req, unsigned status, char *body, size_t len)
{
    http_reply_take(req, status, "application/json", body, len);
}

static void reply_error_style(struct http_req *req, enum http_error_style style, unsigned status,
                              const char *msg)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    int rc = 0;
    const char *ctype = "application/json";
    switch (style) {
    case HTTP_ERR_ERROR:
        rc |= jsonw_raw(&b, "{\"error\":");
        rc |= jsonw_cstr(&b, msg);
        break;
    case HTTP_ERR_PROBLEM:
        ctype = "application/problem+json";
        rc |= jsonw_raw(&b, "{\"type\":\"about:blank\",\"title\":");
        rc |= jsonw_cstr(&b, http_reason(status));
        rc |= jsonw_raw(&b, ",\"status\":");
        rc |= jsonw_int(&b, status);
        rc |= jsonw_raw(&b, ",\"detail\":");
        rc |= jsonw_cstr(&b, msg);
        break;
    default:
        rc |= jsonw_raw(&b, "{\"detail\":");
        rc |= jsonw_cstr(&b, msg);
        break;
    }
    rc |= jsonw_raw(&b, "}");
    if (rc != 0) {
        buf_reset(&b);
        buf_append_str(&b, "{}");
    }
    size_t len;
    char *body = (char *)buf_detach(&b, &len);
    http_reply_take(req, status, ctype, body, len);
}

void http_reply_error(struct http_req *req, unsigned status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_error_style(req, req->srv->cfg.error_style, status, msg);
}

void http_reply_file(struct http_req *req, const char *path, const char *content_type,
                     uint64_t from)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        http_reply_error(req, 404, "not found");
        return;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (from >= size) {
        close(fd);
        http_reply(req, 200, content_type, "", 0);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(size - from, fd, from);
    if (!resp) {
        close(fd);
        http_reply_error(req, 500, "cannot send file");
        return;
    }
    queue(req, 200, resp, content_type);
}

/* ---- MHD callbacks ---- */

/* A connection's request state is made in uri_log and freed in completed. libmicrohttpd
 * does not call completed for a request it drops before the handler ran (e.g. a request
 * line whose query parameters fill its memory pool: it fails to build its own 431 and holds
 * the connection until the idle timeout), so each connection keeps a slot naming its current
 * request, and the connection's close frees a request still named there. */
struct conn_slot {
    struct http_req *req;
};

static struct conn_slot *slot_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void req_free(struct http_req *req);

static void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = calloc(1, sizeof(struct conn_slot));
        return;
    }
    struct conn_slot *slot = *socket_context;
    if (slot && slot->req)
        req_free(slot->req);
    free(slot);
    *socket_context = NULL;
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_req *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    struct conn_slot *slot = slot_of(conn);
    if (slot)
        slot->req = req;
    req->srv = cls;
    req->conn = conn;
    req->t0_us = mono_us();
    size_t n = strlen(uri);
    if (n > MAX_URI) {
        req->bad_uri = true;
        n = 0;
    }
    req->uri = strndup(uri, n);
    return req;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    struct http_req *req = *con_cls;
    if (!req)
        return;
    struct conn_slot *slot = slot_of(conn);
    if (slot && slot->req == req)
        slot->req = NULL;
    req_free(req);
    *con_cls = NULL;
}

static void req_free(struct http_req *req)
{
    clear_params(req);
    for (int i = 0; i < req->nquery; i++) {
        free(req->query[i].key);
        free(req->query[i].value);
    }
    for (int i = 0; i < req->nheaders; i++) {
        free(req->headers[i].key);
        free(req->headers[i].value);
    }
    buf_free(&req->body);
    free(req->uri);
    free(req->path);
    free(req->user);
    free(req);
}

static void set_peer(struct http_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->peer,
                  sizeof(req->peer));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->peer,
                  sizeof(req->peer));
}

static bool method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, "*") == 0 || strcmp(route_method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

static void dispatch(struct http_req *req)
{
    struct http_server *srv = req->srv;
    if (req->bad_uri || parse_uri(req) != 0) {
        if (!req->path)
            req->path = strdup("?");
        if (req->too_many_params)
            http_reply_error(req, 400, "more than %d query parameters", MAX_QUERY);
        else
            http_reply_error(req, 400, "malformed request URI");
        return;
    }
    if (req->too_big) {
        http_reply_error(req, 413, "request body larger than %zu bytes", srv->cfg.max_body);
        return;
    }
    bool path_seen = false;
    char allow[128] = "";
    for (const struct http_route *r = srv->routes; r->pattern; r++) {
        if (!route_match(req, r->pattern))
            continue;
        if (!method_matches(r->method, req->method)) {
            if (!path_seen || strlen(allow) + strlen(r->method) + 3 < sizeof(allow)) {
                if (allow[0])
                    strcat(allow, ", ");
                strcat(allow, r->method);
            }
            path_seen = true;
            continue;
        }
        if (!(r->flags & HTTP_PUBLIC) && srv->cfg.auth) {
            if (srv->cfg.auth(req, srv->cfg.auth_ctx) != 0) {
                if (!req->answered)
                    http_reply_error(req, 401, "Not authenticated");
                return;
            }
        }
        r->fn(req, srv->ctx);
        if (!req->answered) {
            log_error(srv->name, "%s %s: handler did not answer", req->method, req->path);
            http_reply_error(req, 500, "Internal Server Error");
        }
        return;
    }
    clear_params(req);
    if (path_seen) {
        http_add_header(req, "Allow", allow);
        http_reply_error(req, 405, "Method Not Allowed");
    } else {
        http_reply_error(req, 404, "Not Found");
    }
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_req *req = *con_cls;
    if (!req)
        return MHD_NO;
    if (!req->started) {
        req->started = true;
        req->conn = conn;
        req->method = method;
        set_peer(req);
        buf_init(&req->body, srv->cfg.max_body + 1); /* + the NUL */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
            /* Refuse before reading: MHD closes the connection after this answer. */
            req->too_big = true;
            dispatch(req);
            return MHD_YES;
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!req->too_big && !req->answered &&
            (req->body.len + *upload_data_size > srv->cfg.max_body ||
             buf_append(&req->body, upload_data, *upload_data_size) != 0))
            req->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->answered)
        return MHD_YES;
    if (req->body.len > 0 && buf_append(&req->body, "", 1) == 0)
        req->body.len--; /* NUL-terminate for http_body's convenience */
    else if (req->body.len > 0)
        req->too_big = true;
    dispatch(req);
    return MHD_YES;
}

static int bind_addr(const char *listen, struct sockaddr_storage *ss, bool *v6, struct sl_err *err)
{
    char host[256];
    int port;
    if (http_parse_listen(listen, host, sizeof(host), &port, err) != 0)
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
    return sl_err_set(err, "'%s' is not a numeric IPv4 or IPv6 address", host);
}

int http_server_start(const struct http_config *cfg, const struct http_route *routes, void *ctx,
                      struct http_server **out, struct sl_err *err)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    if (bind_addr(cfg->listen, &ss, &v6, err) != 0)
        return -1;
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return sl_err_set(err, "out of memory");
    srv->cfg = *cfg;
    snprintf(srv->name, sizeof(srv->name), "%s", cfg->name ? cfg->name : "http");
    srv->cfg.name = srv->name;
    srv->cfg.listen = NULL;
    if (!srv->cfg.max_body)
        srv->cfg.max_body = 1024 * 1024;
    if (!srv->cfg.max_connections)
        srv->cfg.max_connections = 256;
    if (!srv->cfg.timeout_s)
        srv->cfg.timeout_s = 30;
    if (!srv->cfg.threads)
        srv->cfg.threads = 2;
    srv->routes = routes;
    srv->ctx = ctx;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    if (srv->cfg.thread_per_connection)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    else
        flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
    unsigned pool = srv->cfg.thread_per_connection ? 0 : srv->cfg.threads;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, srv->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        srv->cfg.timeout_s, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_URI_LOG_CALLBACK, uri_log,
        srv, MHD_OPTION_NOTIFY_COMPLETED, completed, srv, MHD_OPTION_NOTIFY_CONNECTION, conn_notify,
        srv, pool > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool, MHD_OPTION_END);
    if (!srv->daemon) {
        free(srv);
        return sl_err_set(err, "cannot listen on %s (address in use or not permitted?)",
                          cfg->listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? (int)info->port : 0;
    *out = srv;
    return 0;
}

int http_server_port(const struct http_server *srv)
{
    return srv ? srv->port : 0;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
