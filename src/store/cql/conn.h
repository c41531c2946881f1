/* One connection to one Cassandra node: TCP (TLS through OpenSSL when asked), STARTUP with
 * CQL_VERSION 3.0.0, PasswordAuthenticator via AUTH_RESPONSE, then many requests in flight on
 * stream ids, bounded by a window (backpressure: no free stream, no new request). Sockets are
 * non-blocking; cql_conn_poll drives any number of connections at once and every wait has a
 * deadline. Single-threaded: one thread owns a connection. */
#ifndef SLUICE_STORE_CQL_CONN_H
#define SLUICE_STORE_CQL_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/cql/codec.h"

struct cql_conn_opts {
    const char *user;     /* NULL: no credentials (refused if the server asks for them) */
    const char *password; /* never logged */
    bool tls;
    bool tls_verify;    /* check the server's certificate and name */
    const char *tls_ca; /* CA file (NULL: the system's) */
    int64_t connect_timeout_ms;
    int window;       /* most requests in flight on this connection (1..32768) */
    size_t max_frame; /* largest response body accepted */
};

/* One request in flight. The caller owns it and keeps it alive until done (or the connection
 * is closed, which completes it as failed). */
struct cql_req {
    int16_t stream;
    bool done;
    bool failed; /* no response: connection lost or deadline passed; why says which */
    char why[200];
    int64_t deadline_ms; /* monotonic; 0: none */
    struct cql_header h;
    uint8_t *body; /* response body (owned; cql_req_clear frees) */
    size_t len;
};

struct cql_conn;

/* Connects to host:port and runs the handshake; 0, or CQL_CONN_UNREACHABLE with err when the TCP
 * connection itself failed (nobody listening, no route, connect timeout: the node may be down or
 * restarting), or -1 with err for any other failure (TLS, handshake, login refused). */
#define CQL_CONN_UNREACHABLE (-2)
int cql_conn_open(struct cql_conn **out, const char *host, int port, const struct cql_conn_opts *o,
                  struct sl_err *err);
/* Completes every pending request as failed, closes, frees. */
void cql_conn_close(struct cql_conn *c);
bool cql_conn_ok(const struct cql_conn *c);
const char *cql_conn_why(const struct cql_conn *c);  /* why it broke */
const char *cql_conn_name(const struct cql_conn *c); /* "host:port" */
int cql_conn_room(const struct cql_conn *c);         /* free places in the window */

/* Takes a stream id for req and returns the buffer to encode its frame into (with req->stream);
 * NULL when the connection is broken or its window is full. After encoding call
 * cql_conn_commit (0) or, when encoding failed, cql_conn_cancel. */
struct buf *cql_conn_begin(struct cql_conn *c, struct cql_req *req);
void cql_conn_commit(struct cql_conn *c, struct cql_req *req);
void cql_conn_cancel(struct cql_conn *c, struct cql_req *req);

/* One round of I/O on n connections (NULLs skipped): waits up to timeout_ms for any of them,
 * sends what is queued, reads responses into their requests, expires requests past their
 * deadline. A connection that fails is marked broken and its requests fail. */
void cql_conn_poll(struct cql_conn **cs, int n, int timeout_ms);
/* Runs cql_conn_poll on cs until req is done or deadline_ms (monotonic) passes. */
void cql_conn_wait(struct cql_conn **cs, int n, struct cql_req *req, int64_t deadline_ms);

void cql_req_clear(struct cql_req *req);

#endif
