/* The broker's network server: an epoll loop on one thread that accepts connections, frames
 * Kafka requests, dispatches them through the API table and writes responses back in request
 * order per connection (requests may be pipelined). Group commit happens here: after each turn
 * of the loop, one fsync per dirty partition releases every acks=all response of that turn. */
#ifndef SLUICE_BROKER_SERVER_H
#define SLUICE_BROKER_SERVER_H

#include "broker/broker.h"

struct server;

/* Binds the listener (port 0 picks a free port). */
int server_create(struct broker *bk, struct server **out, struct sl_err *err);
/* The port actually bound. */
int server_port(const struct server *srv);
/* Runs until server_stop (async-signal-safe) is called; then syncs and closes connections. */
int server_run(struct server *srv, struct sl_err *err);
void server_stop(struct server *srv);
void server_destroy(struct server *srv);
/* Holds rq's response for another module (the group coordinator), which fills it later
 * through server_held_writer and sends it with server_release; the handler then returns
 * H_DEFER. If the connection closes first, on_cancel(ctx, r) runs and r is gone. */
struct resp *server_hold(struct kreq *rq, void (*on_cancel)(void *ctx, struct resp *r), void *ctx);
struct kwriter *server_held_writer(struct resp *r);
void server_release(struct server *srv, struct resp *r);

/* The client's address as "/ADDRESS". */
const char *server_conn_host(const struct conn *c);

/* Feeds bytes as if read from a new connection, runs what they ask, then closes it. For fuzz
 * targets and tests; the responses are discarded. */
int server_feed_for_test(struct server *srv, const uint8_t *data, size_t len);

#endif
