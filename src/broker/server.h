/* The network server: accepts connections on a loop, frames length-prefixed requests (the
 * Kafka framing), hands each to a dispatch function and writes responses back in request
 * order per connection (requests may be pipelined). A response that cannot be answered yet
 * waits with server_wait, whatever it waits for: the server knows no API. */
#ifndef SLUICE_BROKER_SERVER_H
#define SLUICE_BROKER_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/proto.h"
#include "core/err.h"

struct loop;
struct server;
struct conn;
struct resp;
struct broker;

/* One request: the reader is over the whole frame (after its size), the writer is the
 * response frame (its size is filled in by the server). Filled in further by the dispatcher. */
struct kreq {
    struct broker *bk; /* the dispatcher's context, passed through */
    struct server *srv;
    struct conn *conn;
    struct resp *resp;
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    bool flex;
    struct kslice client_id;
    struct kreader r;
    struct kwriter *w;
    size_t hold_bytes; /* memory a wait's context holds, counted against the connection */
};

enum server_result {
    SR_DONE,   /* the response in w is complete */
    SR_NORESP, /* send nothing */
    SR_DEFER,  /* server_wait was called: the response comes later */
    SR_CLOSE,  /* malformed: close the connection */
};

typedef enum server_result (*server_dispatch_fn)(struct kreq *rq);

struct server_config {
    char host[256];
    int port;                   /* 0 picks a free port */
    int64_t max_request_bytes;  /* a frame outside [8, this] closes the connection */
    int64_t max_response_bytes; /* a response beyond this closes the connection */
    int max_connections;        /* connections beyond this are refused */
    int64_t idle_timeout_ms;    /* nothing in flight for this long: closed (0 = never) */
    int64_t partial_timeout_ms; /* a frame not whole this long after it began: closed (0 = never) */
    int64_t max_conn_bytes;     /* reading pauses while a connection holds more than this */
};

/* Binds the listener and watches it on l. bk is handed to the dispatcher in each kreq. */
int server_create(struct loop *l, const struct server_config *cfg, server_dispatch_fn dispatch,
                  struct broker *bk, struct server **out, struct sl_err *err);
int server_port(const struct server *srv);
/* Closes every connection (running their waits' free functions) and the listener. */
void server_destroy(struct server *srv);
int server_connections(const struct server *srv);

/* A waiting response: try writes the response body into w and returns true when it can be
 * answered (it must when `expired`); free releases ctx once the wait ends either way (answered
 * or its connection closed). */
typedef bool (*server_try_fn)(void *ctx, struct kwriter *w, bool expired);
typedef void (*server_free_fn)(void *ctx);
/* Parks rq's response until try succeeds: tried again after each server_wake and once at
 * deadline_ms (loop clock; -1 = no deadline). The dispatcher then returns SR_DEFER. Takes
 * ownership of ctx (free_fn runs even when parking fails). The response keeps its place in
 * the connection's queue. */
void server_wait(struct kreq *rq, int64_t deadline_ms, server_try_fn try_fn, server_free_fn free_fn,
                 void *ctx);
/* A response too large to hold whole: the handler (or a wait's try function) writes the start
 * of the response into w as usual (header and the fields before the streamed part), then calls
 * server_stream with that same w (rq->w, or the w try was given): `rest` more bytes follow,
 * which gen appends to w piece by piece as the socket drains (the server sends w's contents,
 * file chunks included, and empties w between calls). Each call appends at least one byte and
 * at most what is left, or returns false to close the connection. The frame's size counts
 * `rest`, so gen must produce exactly that many bytes. While a stream is queued its connection
 * reads and handles nothing more, so a request's bytes stay where they are and gen may read
 * them (a stream started from a wait must own what it reads). free_fn releases ctx once the
 * stream ends, sent or not; ctx_bytes is the memory ctx holds, counted against the connection.
 * A response over the response limit closes the connection, as any other. */
typedef bool (*server_gen_fn)(void *ctx, struct kwriter *w);
void server_stream(struct kwriter *w, size_t rest, server_gen_fn gen, server_free_fn free_fn,
                   void *ctx, size_t ctx_bytes);
/* Streamed or pinned responses queued in all connections. */
int server_streaming(const struct server *srv);
/* Keeps rq's request bytes where they are until its response is sent (as a stream does): a
 * handler that waits (server_wait) and reads its request again afterwards, instead of copying
 * it. The connection reads and handles nothing more meanwhile. */
void server_pin(struct kreq *rq);

/* Something waits may be waiting for happened: retry them (in a timer of this loop turn). */
void server_wake(struct server *srv);
int server_waiting(const struct server *srv);

/* Serves an already connected socket as a client connection (tests; takes ownership of fd).
 * Returns 0, or -1 (fd closed) when it cannot. */
int server_add_conn(struct server *srv, int fd, const char *peer);

/* The client's address as "/ADDRESS". */
const char *server_conn_host(const struct conn *c);

/* Feeds bytes as if read from a new connection, runs what they ask, then closes it. For fuzz
 * targets and tests; the responses are discarded. */
int server_feed_for_test(struct server *srv, const uint8_t *data, size_t len);

#endif
