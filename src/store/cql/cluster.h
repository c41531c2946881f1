/* A Cassandra cluster as sluice sees it: contact points, the nodes learned from system.local
 * and system.peers (optionally only those of one data center), one connection per node,
 * reconnection with backoff, token-aware routing (Murmur3, the primary replica of a partition
 * key), retries of the errors that say "try again" (Overloaded, Unavailable, Write/Read
 * timeout, lost connections) within limits and with backoff, re-preparing on UNPREPARED, and a
 * wait for schema agreement after DDL. Requests run many at a time within a bounded window.
 * Single-threaded: one thread owns a cluster handle. */
#ifndef SLUICE_STORE_CQL_CLUSTER_H
#define SLUICE_STORE_CQL_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/cql/codec.h"
#include "store/cql/conn.h"

#define CQL_MAX_NODES 64

struct cql_cluster_opts {
    const char *hosts; /* "HOST[:PORT][,HOST[:PORT]...]" */
    int port;          /* default port (9042) */
    struct cql_conn_opts conn;
    const char *dc;             /* only nodes of this data center (NULL: all) */
    int64_t request_timeout_ms; /* one request's deadline (default 12 s) */
    int64_t wait_ms;   /* how long an operation waits for an unreachable cluster (default 120 s) */
    int max_retries;   /* per request (default 10) */
    int window;        /* most requests in flight over all connections (default 1024) */
    bool wait_at_open; /* open waits up to wait_ms for a contact point that refuses TCP (a
                          node restarting: the stream job); false: open fails at once (query) */
};

struct cql_cluster;

/* A prepared statement: the same id is valid on every node (it is a digest of the query), and
 * a node that forgot it answers UNPREPARED, upon which the cluster prepares it there again. */
struct cql_prepared {
    char *query;
    uint8_t id[256];
    int idlen;
    int nbind;
    int pk_count;
    uint16_t pk_index[16];
};

/* A response kept for the caller: r points into body. */
struct cql_result {
    struct cql_resp r;
    uint8_t *body;
};

int cql_cluster_open(struct cql_cluster **out, const struct cql_cluster_opts *o,
                     struct sl_err *err);
void cql_cluster_close(struct cql_cluster *cl);

/* Runs one statement. out (may be NULL) gets the RESULT; free it with cql_result_free.
 * page_size > 0 pages (paging_state NULL for the first page). serial: -1 or a serial
 * consistency for lightweight transactions. */
int cql_cluster_query(struct cql_cluster *cl, const char *query, const struct cql_value *values,
                      int nvalues, uint16_t consistency, int serial, int32_t page_size,
                      const struct cql_str *paging_state, struct cql_result *out,
                      struct sl_err *err);
int cql_cluster_prepare(struct cql_cluster *cl, const char *query, struct cql_prepared **out,
                        struct sl_err *err);
void cql_prepared_free(struct cql_prepared *p);
/* One execution, routed by its partition key. */
int cql_cluster_execute(struct cql_cluster *cl, const struct cql_prepared *p,
                        const struct cql_value *values, uint16_t consistency, int serial,
                        struct cql_result *out, struct sl_err *err);
/* n executions of p (values of execution i at values[i * p->nbind]), up to the window in
 * flight, grouped by the node that owns their partition key into unlogged batches of up to
 * CQL_BATCH_ROWS partitions and CQL_BATCH_BYTES of values, each retried whole. 0 when every
 * one succeeded; -1 with the first error that gave up. */
#define CQL_BATCH_ROWS 10
#define CQL_BATCH_BYTES 4096
int cql_cluster_execute_many(struct cql_cluster *cl, const struct cql_prepared *p,
                             const struct cql_value *values, size_t n, uint16_t consistency,
                             struct sl_err *err);
/* Several executions (of any prepared statements) at once, each routed and retried on its own;
 * calls[i].res gets each RESULT (free each with cql_result_free, also after a failure). */
struct cql_call {
    const struct cql_prepared *p;
    const struct cql_value *values;
    uint16_t consistency;
    int serial;
    struct cql_result res;
};
int cql_cluster_execute_calls(struct cql_cluster *cl, struct cql_call *calls, size_t n,
                              struct sl_err *err);
/* Waits until every reachable node reports the same schema version (after DDL). */
int cql_cluster_schema_agreement(struct cql_cluster *cl, int64_t timeout_ms, struct sl_err *err);
/* "USE ks" on every connection, now and on reconnects. */
int cql_cluster_use(struct cql_cluster *cl, const char *keyspace, struct sl_err *err);
/* Nodes known and connected, for logs and tests. */
int cql_cluster_nodes(const struct cql_cluster *cl, int *connected);
/* The node (index) that owns token, -1 without a ring. */
int cql_cluster_owner(const struct cql_cluster *cl, int64_t token);

void cql_result_free(struct cql_result *res);

#endif
