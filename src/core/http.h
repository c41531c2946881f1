/* One HTTP server for every part of sluice that serves HTTP (mock API, scheduler REST API and
 * web UI, /metrics): libmicrohttpd underneath, a route table with {param} captures, bounded
 * request bodies, JSON replies and errors, request logging and an authentication hook.
 * Handlers run on libmicrohttpd's threads (a pool, or one thread per connection). */
#ifndef SLUICE_CORE_HTTP_H
#define SLUICE_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct http_server;
struct http_req; /* valid only during the handler call */

/* A handler must answer exactly once with one of the http_reply* calls below; a handler that
 * returns without answering gets a 500. ctx is the server's ctx (http_server_start). */
typedef void (*http_handler_fn)(struct http_req *req, void *ctx);

/* Route flags. */
#define HTTP_PUBLIC 1u /* no authentication needed (health, login, static assets) */

/* A route: method "GET", "POST", "PATCH", "PUT", "DELETE" or "*" (any); pattern is a path
 * whose segments may be "{name}" (one segment, URL-decoded, read with http_param) and whose
 * last segment may be "*" (the rest of the path, read with http_param(req, "*")). Routes are
 * tried in order; the first match wins. A path that matches a pattern but not the method gets
 * 405, no match at all 404. The table ends with an entry whose pattern is NULL. */
struct http_route {
    const char *method;
    const char *pattern;
    http_handler_fn fn;
    unsigned flags;
};

/* How http_reply_error shapes its body. */
enum http_error_style {
    HTTP_ERR_DETAIL = 0, /* {"detail": "msg"}: Airflow 3 / FastAPI */
    HTTP_ERR_ERROR,      /* {"error": "msg"}: randomuser.me */
    HTTP_ERR_PROBLEM,    /* {"type","title","status","detail"}: RFC 7807, Airflow 2 */
};

struct http_config {
    const char *name;           /* log module, e.g. "scheduler" */
    const char *listen;         /* "HOST:PORT"; port 0 = any free port */
    size_t max_body;            /* request bodies above this get 413 (0: 1 MiB) */
    unsigned max_connections;   /* 0: 256 */
    unsigned timeout_s;         /* idle connection timeout (0: 30 s) */
    unsigned threads;           /* pool size (0: 2); ignored with thread_per_connection */
    bool thread_per_connection; /* a slow handler then stalls only its own client */
    bool log_requests;          /* one info line per request: method path status ms */
    enum http_error_style error_style;
    /* Called before every route without HTTP_PUBLIC. Return 0 to go on (after
     * http_set_user), or answer the request itself (e.g. 401) and return -1. May be NULL:
     * then every route is public. */
    int (*auth)(struct http_req *req, void *auth_ctx);
    void *auth_ctx;
};

/* Starts serving routes (the table must outlive the server). Returns 0 and *out, or -1 with
 * err set (bad address, port in use). */
int http_server_start(const struct http_config *cfg, const struct http_route *routes, void *ctx,
                      struct http_server **out, struct sl_err *err);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *srv);
/* Stops accepting, waits for running handlers, frees. NULL is fine. */
void http_server_stop(struct http_server *srv);

/* Request accessors. Strings are owned by the request. */
const char *http_method(const struct http_req *req);
const char *http_path(const struct http_req *req); /* decoded path, without the query */
const char *http_param(const struct http_req *req, const char *name); /* {name} capture */
const char *http_query(const struct http_req *req, const char *key);  /* first value or NULL */
/* Calls fn for each value of a repeated query key (?state=a&state=b); returns the count. */
int http_query_each(const struct http_req *req, const char *key,
                    void (*fn)(const char *value, void *arg), void *arg);
const char *http_header(const struct http_req *req, const char *name); /* case-insensitive */
const char *http_cookie(const struct http_req *req, const char *name);
/* The body (NUL-terminated for convenience; len excludes the NUL); "" when there is none. */
const char *http_body(const struct http_req *req, size_t *len);
/* The authenticated user name set by the auth hook, or NULL. */
void http_set_user(struct http_req *req, const char *user);
const char *http_user(const struct http_req *req);
/* The peer's address as text ("127.0.0.1"). */
const char *http_peer(const struct http_req *req);

/* Adds a response header to the coming reply (e.g. Set-Cookie, Cache-Control). */
void http_add_header(struct http_req *req, const char *name, const char *value);

/* Replies. http_reply copies body; http_reply_take takes ownership of a malloc'ed body. */
void http_reply(struct http_req *req, unsigned status, const char *content_type, const void *body,
                size_t len);
void http_reply_take(struct http_req *req, unsigned status, const char *content_type, char *body,
                     size_t len);
/* application/json; takes ownership of a malloc'ed body. */
void http_reply_json(struct http_req *req, unsigned status, char *body, size_t len);
/* The reason phrase of a status ("Not Found"); "Error" for an unlisted error status. */
const char *http_reason(unsigned status);
/* An error in the server's error_style; msg is formatted printf-style. */
void http_reply_error(struct http_req *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends a file's contents (logs) from byte offset `from`; 404 when it does not exist. */
void http_reply_file(struct http_req *req, const char *path, const char *content_type,
                     uint64_t from);

/* Helpers for handlers. */
/* Percent-decodes s into out (at most cap-1 bytes); -1 on bad escapes or overflow. */
int http_url_decode(const char *s, char *out, size_t cap);
/* Parses "HOST:PORT" (IPv4 or [IPv6]); -1 with err set. */
int http_parse_listen(const char *listen, char *host, size_t hcap, int *port, struct sl_err *err);
/* Whether a listen address is loopback-only (127.0.0.0/8, ::1, localhost). */
bool http_listen_is_loopback(const char *listen);

#endif
