/* The cluster (see cluster.h). Every request is an `op` run by run_ops: pick a node (the
 * token's owner when known and free, else the next connected node), send, collect, and on a
 * failure decide: retry later (bounded, with backoff), prepare again (UNPREPARED), or give up
 * with the server's message. When no node is reachable the loop waits with backoff, saying
 * what it waits for, up to opts.wait_ms. */
#include "store/cql/cluster.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/units.h"

#define MOD "cql"

struct node {
    char host[64];
    int port;
    char dc[64];
    struct cql_conn *conn;
    int64_t retry_at; /* monotonic ms of the next connection attempt */
    int64_t backoff_ms;
    char why[256]; /* why it is not connected */
};

struct ring_ent {
    int64_t token;
    int node;
};

struct cql_cluster {
    struct cql_cluster_opts o;
    char *hosts, *dc, *user, *password, *tls_ca; /* copies */
    struct node nodes[CQL_MAX_NODES];
    struct cql_conn *conns[CQL_MAX_NODES]; /* mirror of nodes[].conn, for cql_conn_poll */
    int nn;
    struct ring_ent *ring;
    int nring;
    int rr;
    char keyspace[64];
    int64_t last_wait_log;
};

enum { OP_WAITING, OP_INFLIGHT, OP_DONE, OP_FAILED };

struct op {
    const char *query;
    const struct cql_prepared *prep;
    const struct cql_value *values;
    int nv;
    int nbatch; /* > 1: an unlogged BATCH of nbatch executions of prep, values consecutive */
    uint16_t cl;
    int serial;
    int32_t page_size;
    const struct cql_str *paging;
    bool has_token;
    int64_t token;
    int force_node; /* -1: any */
    int state;
    int node;
    int attempts;
    int64_t ready_at;
    struct cql_req req;
    struct cql_result res; /* kept on success when asked */
    char err[400];
};

void cql_result_free(struct cql_result *res)
{
    if (!res)
        return;
    cql_resp_free(&res->r);
    free(res->body);
    memset(res, 0, sizeof(*res));
}

void cql_prepared_free(struct cql_prepared *p)
{
    if (!p)
        return;
    free(p->query);
    free(p);
}

/* ---- nodes and connections --------------------------------------------------------------- */

static int64_t backoff_next(int64_t cur)
{
    return cur <= 0 ? 200 : (cur * 2 > 5000 ? 5000 : cur * 2);
}

static void node_down(struct cql_cluster *cl, int i, const char *reason)
{
    struct node *n = &cl->nodes[i];
    char why[256]; /* reason may live in the connection freed below */
    snprintf(why, sizeof(why), "%s", reason);
    if (n->conn) {
        log_warn(MOD, "lost the connection to %s:%d: %s; reconnecting with backoff", n->host,
                 n->port, why);
        cql_conn_close(n->conn);
        n->conn = NULL;
        cl->conns[i] = NULL;
    }
    snprintf(n->why, sizeof(n->why), "%s", why);
    n->backoff_ms = backoff_next(n->backoff_ms);
    n->retry_at = mono_ms() + n->backoff_ms;
}

static int use_on(struct cql_cluster *cl, int i, struct sl_err *err);

static int node_connect(struct cql_cluster *cl, int i, struct sl_err *err)
{
    struct node *n = &cl->nodes[i];
    struct cql_conn *c;
    int rc = cql_conn_open(&c, n->host, n->port, &cl->o.conn, err);
    if (rc != 0) {
        node_down(cl, i, err->msg);
        return rc;
    }
    bool was_down = n->why[0] != '\0';
    n->conn = c;
    cl->conns[i] = c;
    n->backoff_ms = 0;
    n->why[0] = '\0';
    if (cl->keyspace[0] && use_on(cl, i, err) != 0) {
        node_down(cl, i, err->msg);
        return -1;
    }
    if (was_down)
        log_info(MOD, "connected to %s:%d again", n->host, n->port);
    return 0;
}

/* Tries the nodes whose backoff has passed. */
static void reconnect_due(struct cql_cluster *cl)
{
    int64_t now = mono_ms();
    for (int i = 0; i < cl->nn; i++) {
        struct node *n = &cl->nodes[i];
        if (!n->conn && now >= n->retry_at) {
            struct sl_err e;
            node_connect(cl, i, &e);
        }
    }
}

static void check_broken(struct cql_cluster *cl)
{
    for (int i = 0; i < cl->nn; i++) {
        if (cl->nodes[i].conn && !cql_conn_ok(cl->nodes[i].conn))
            node_down(cl, i, cql_conn_why(cl->nodes[i].conn));
    }
}

static bool any_up(const struct cql_cluster *cl)
{
    for (int i = 0; i < cl->nn; i++) {
        if (cql_conn_ok(cl->nodes[i].conn))
            return true;
    }
    return false;
}

static void describe_down(const struct cql_cluster *cl, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < cl->nn && k < cap; i++) {
        const struct node *n = &cl->nodes[i];
        int w = snprintf(out + k, cap - k, "%s%s:%d: %s", k ? "; " : "", n->host, n->port,
                         n->why[0] ? n->why : "not connected");
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

int cql_cluster_owner(const struct cql_cluster *cl, int64_t token)
{
    if (cl->nring == 0)
        return -1;
    /* The first ring token >= token owns it; past the last, the ring wraps to the first. */
    int lo = 0, hi = cl->nring;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cl->ring[mid].token < token)
            lo = mid + 1;
        else
            hi = mid;
    }
    return cl->ring[lo == cl->nring ? 0 : lo].node;
}

static int pick(struct cql_cluster *cl, const struct op *op)
{
    if (op->force_node >= 0)
        return cql_conn_room(cl->nodes[op->force_node].conn) > 0 ? op->force_node : -1;
    if (op->has_token) {
        int o = cql_cluster_owner(cl, op->token);
        if (o >= 0 && cql_conn_room(cl->nodes[o].conn) > 0)
            return o;
    }
    for (int k = 0; k < cl->nn; k++) {
        int i = (cl->rr + k) % cl->nn;
        if (cql_conn_room(cl->nodes[i].conn) > 0) {
            cl->rr = i + 1;
            return i;
        }
    }
    return -1;
}

/* ---- running requests -------------------------------------------------------------------- */

static int encode(struct op *op, struct buf *w)
{
    if (op->prep) {
        struct cql_str id = {(const char *)op->prep->id, op->prep->idlen};
        if (op->nbatch > 1)
            return cql_enc_batch(w, op->req.stream, 1, &id, op->values, op->nv, op->nbatch, op->cl);
        return cql_enc_execute(w, op->req.stream, &id, op->cl, op->values, op->nv, op->serial);
    }
    return cql_enc_query(w, op->req.stream, op->query, op->cl, op->values, op->nv, op->page_size,
                         op->paging, op->serial, -1);
}

static bool retryable(int32_t code)
{
    return code == CQL_E_OVERLOADED || code == CQL_E_UNAVAILABLE || code == CQL_E_WRITE_TIMEOUT ||
           code == CQL_E_READ_TIMEOUT || code == CQL_E_BOOTSTRAPPING || code == CQL_E_TRUNCATE;
}

static void op_retry(struct cql_cluster *cl, struct op *op, const char *why)
{
    op->attempts++;
    if (op->attempts > cl->o.max_retries) {
        snprintf(op->err, sizeof(op->err), "gave up after %d attempts: %.300s", op->attempts, why);
        op->state = OP_FAILED;
        return;
    }
    int64_t b = 50LL << (op->attempts < 6 ? op->attempts : 6);
    op->ready_at = mono_ms() + (b > 2000 ? 2000 : b);
    op->state = OP_WAITING;
    log_debug(MOD, "retrying in %" PRId64 " ms (attempt %d): %s", op->ready_at - mono_ms(),
              op->attempts + 1, why);
}

static int prepare_on(struct cql_cluster *cl, int i, const char *query, struct cql_result *res,
                      struct sl_err *err);

/* Handles a finished request of op. */
static void op_collect(struct cql_cluster *cl, struct op *op, bool keep)
{
    struct cql_req *req = &op->req;
    if (req->failed) {
        op_retry(cl, op, req->why);
        return;
    }
    struct cql_resp r;
    char why[200];
    if (cql_resp_decode(&req->h, req->body, req->len, &r, why, sizeof(why)) != 0) {
        cql_resp_free(&r);
        snprintf(op->err, sizeof(op->err), "bad response from %s: %s", cl->nodes[op->node].host,
                 why);
        op->state = OP_FAILED;
        return;
    }
    if (r.opcode == CQL_OP_ERROR) {
        char msg[320];
        snprintf(msg, sizeof(msg), "%s from %s: %.*s", cql_error_name(r.err_code),
                 cl->nodes[op->node].host, r.err_msg.len > 250 ? 250 : (int)r.err_msg.len,
                 r.err_msg.p);
        int32_t code = r.err_code;
        cql_resp_free(&r);
        if (code == CQL_E_UNPREPARED && op->prep) {
            struct sl_err e;
            struct cql_result pr = {0};
            int rc = prepare_on(cl, op->node, op->prep->query, &pr, &e);
            cql_result_free(&pr);
            if (rc == 0) {
                op->state = OP_WAITING; /* at once, on the same node */
                op->ready_at = 0;
                if (++op->attempts > cl->o.max_retries) {
                    snprintf(op->err, sizeof(op->err), "%s", msg);
                    op->state = OP_FAILED;
                }
            } else {
                op_retry(cl, op, e.msg);
            }
            return;
        }
        if (retryable(code)) {
            op_retry(cl, op, msg);
            return;
        }
        snprintf(op->err, sizeof(op->err), "%s", msg);
        op->state = OP_FAILED;
        return;
    }
    if (keep) {
        op->res.r = r;
        op->res.body = req->body;
        req->body = NULL;
    } else {
        cql_resp_free(&r);
    }
    op->state = OP_DONE;
}

static int run_ops(struct cql_cluster *cl, struct op *ops, size_t n, bool keep, struct sl_err *err)
{
    size_t left = n, inflight = 0, first_open = 0;
    int64_t unreachable_since = 0;
    int ret = 0;
    struct op *failed = NULL;
    for (size_t i = 0; i < n; i++) {
        ops[i].state = OP_WAITING;
        ops[i].req.stream = -1;
    }
    while (left > 0) {
        int64_t now = mono_ms();
        bool blocked = false;
        while (first_open < n &&
               (ops[first_open].state == OP_DONE || ops[first_open].state == OP_FAILED))
            first_open++;
        int64_t next_ready = 0;
        for (size_t i = first_open; i < n && inflight < (size_t)cl->o.window; i++) {
            struct op *op = &ops[i];
            if (op->state != OP_WAITING)
                continue;
            if (op->ready_at > now) {
                if (!next_ready || op->ready_at < next_ready)
                    next_ready = op->ready_at;
                continue;
            }
            int k = pick(cl, op);
            if (k < 0) {
                blocked = true;
                break;
            }
            struct cql_conn *c = cl->nodes[k].conn;
            struct buf *w = cql_conn_begin(c, &op->req);
            if (!w || encode(op, w) != 0) {
                if (w)
                    cql_conn_cancel(c, &op->req);
                snprintf(op->err, sizeof(op->err), "request too large to send");
                op->state = OP_FAILED;
                left--;
                if (!failed)
                    failed = op;
                continue;
            }
            cql_conn_commit(c, &op->req);
            op->req.deadline_ms = now + cl->o.request_timeout_ms;
            op->node = k;
            op->state = OP_INFLIGHT;
            inflight++;
        }
        if (blocked && inflight == 0) {
            /* Nothing can go out: every usable connection is gone. */
            reconnect_due(cl);
            if (!any_up(cl)) {
                if (!unreachable_since)
                    unreachable_since = now;
                char down[600];
                describe_down(cl, down, sizeof(down));
                if (now - unreachable_since >= cl->o.wait_ms) {
                    ret = sl_err_set(err, "Cassandra unreachable for %" PRId64 " s (%s)",
                                     (now - unreachable_since) / 1000, down);
                    break;
                }
                if (now - cl->last_wait_log >= 5000) {
                    log_warn(MOD,
                             "waiting for Cassandra (no node reachable: %s); retrying with "
                             "backoff, giving up after %" PRId64 " s",
                             down, cl->o.wait_ms / 1000);
                    cl->last_wait_log = now;
                }
                int64_t soonest = now + 1000;
                for (int i = 0; i < cl->nn; i++) {
                    if (!cl->nodes[i].conn && cl->nodes[i].retry_at < soonest)
                        soonest = cl->nodes[i].retry_at;
                }
                struct timespec ts = {0, (long)(soonest > now ? soonest - now : 10) * 1000000L};
                if (ts.tv_nsec >= 1000000000L)
                    ts.tv_sec = 1, ts.tv_nsec = 0;
                nanosleep(&ts, NULL);
                continue;
            }
            if (unreachable_since)
                log_info(MOD, "Cassandra is reachable again after %" PRId64 " s",
                         (now - unreachable_since) / 1000);
            unreachable_since = 0;
        }
        int timeout = 100;
        if (inflight == 0 && next_ready)
            timeout = next_ready > now ? (int)(next_ready - now) : 0;
        if (timeout > 100)
            timeout = 100;
        cql_conn_poll(cl->conns, cl->nn, timeout);
        for (size_t i = first_open; i < n && inflight > 0; i++) {
            struct op *op = &ops[i];
            if (op->state != OP_INFLIGHT || !op->req.done)
                continue;
            inflight--;
            op_collect(cl, op, keep);
            if (op->state == OP_DONE || op->state == OP_FAILED)
                left--;
            if (op->state == OP_FAILED && !failed)
                failed = op;
        }
        check_broken(cl);
        if (!any_up(cl))
            reconnect_due(cl);
        /* Stop early on a request that gave up: the caller fails the whole batch. */
        if (failed) {
            ret = sl_err_set(err, "%s", failed->err);
            goto drain;
        }
    }
    if (ret != 0)
        goto drain;
    return 0;
drain:
    /* Requests still out reference ops: wait for them (bounded by their deadlines). */
    for (size_t i = 0; i < n; i++) {
        if (ops[i].state == OP_INFLIGHT)
            cql_conn_wait(cl->conns, cl->nn, &ops[i].req,
                          ops[i].req.deadline_ms ? ops[i].req.deadline_ms : mono_ms() + 1000);
    }
    check_broken(cl);
    return -1;
}

static void op_init(struct op *op)
{
    memset(op, 0, sizeof(*op));
    op->serial = -1;
    op->force_node = -1;
}

static void op_clear(struct op *op)
{
    cql_req_clear(&op->req);
    cql_result_free(&op->res);
}

int cql_cluster_query(struct cql_cluster *cl, const char *query, const struct cql_value *values,
                      int nvalues, uint16_t consistency, int serial, int32_t page_size,
                      const struct cql_str *paging_state, struct cql_result *out,
                      struct sl_err *err)
{
    struct op op;
    op_init(&op);
    op.query = query;
    op.values = values;
    op.nv = nvalues;
    op.cl = consistency;
    op.serial = serial;
    op.page_size = page_size;
    op.paging = paging_state;
    int rc = run_ops(cl, &op, 1, out != NULL, err);
    if (rc == 0 && out) {
        *out = op.res;
        memset(&op.res, 0, sizeof(op.res));
    }
    op_clear(&op);
    return rc;
}

/* Sends PREPARE to node i and waits (other requests in flight progress meanwhile). */
static int prepare_on(struct cql_cluster *cl, int i, const char *query, struct cql_result *res,
                      struct sl_err *err)
{
    struct cql_conn *c = cl->nodes[i].conn;
    struct cql_req req = {0};
    struct buf *w = cql_conn_begin(c, &req);
    if (!w)
        return sl_err_set(err, "%s:%d: no room to prepare", cl->nodes[i].host, cl->nodes[i].port);
    if (cql_enc_prepare(w, req.stream, query) != 0) {
        cql_conn_cancel(c, &req);
        return sl_err_set(err, "statement too large to prepare");
    }
    cql_conn_commit(c, &req);
    int64_t deadline = mono_ms() + cl->o.request_timeout_ms;
    req.deadline_ms = deadline;
    cql_conn_wait(cl->conns, cl->nn, &req, deadline);
    int ret = -1;
    char why[200];
    if (req.failed) {
        sl_err_set(err, "prepare: %s", req.why);
    } else if (cql_resp_decode(&req.h, req.body, req.len, &res->r, why, sizeof(why)) != 0) {
        sl_err_set(err, "prepare: bad response: %s", why);
    } else if (res->r.opcode == CQL_OP_ERROR) {
        sl_err_set(err, "%s: %.*s", cql_error_name(res->r.err_code), (int)res->r.err_msg.len,
                   res->r.err_msg.p);
    } else if (res->r.opcode != CQL_OP_RESULT || res->r.kind != CQL_RESULT_PREPARED ||
               res->r.prepared_id.len <= 0 || res->r.prepared_id.len > 256) {
        sl_err_set(err, "prepare: unexpected response");
    } else {
        res->body = req.body;
        req.body = NULL;
        ret = 0;
    }
    cql_req_clear(&req);
    return ret;
}

int cql_cluster_prepare(struct cql_cluster *cl, const char *query, struct cql_prepared **out,
                        struct sl_err *err)
{
    *out = NULL;
    struct op probe;
    op_init(&probe);
    int k = -1;
    int64_t deadline = mono_ms() + cl->o.wait_ms;
    while ((k = pick(cl, &probe)) < 0) {
        reconnect_due(cl);
        if (mono_ms() > deadline) {
            char down[600];
            describe_down(cl, down, sizeof(down));
            return sl_err_set(err, "prepare: no node reachable (%s)", down);
        }
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    struct cql_result res = {0};
    if (prepare_on(cl, k, query, &res, err) != 0) {
        cql_result_free(&res);
        return -1;
    }
    struct cql_prepared *p = calloc(1, sizeof(*p));
    if (!p || !(p->query = strdup(query))) {
        free(p);
        cql_result_free(&res);
        return sl_err_set(err, "out of memory");
    }
    p->idlen = res.r.prepared_id.len;
    memcpy(p->id, res.r.prepared_id.p, (size_t)p->idlen);
    p->nbind = res.r.meta.ncols;
    p->pk_count = res.r.meta.pk_count > 16 ? 0 : res.r.meta.pk_count;
    for (int i = 0; i < p->pk_count; i++)
        p->pk_index[i] = res.r.meta.pk_index[i];
    cql_result_free(&res);
    *out = p;
    return 0;
}

/* The routing key of one execution: the partition key's bytes, or for a composite key each
 * component as [u16 len][bytes][0]. */
static bool routing_token(const struct cql_prepared *p, const struct cql_value *v, int64_t *tok)
{
    if (p->pk_count == 1) {
        const struct cql_value *k = &v[p->pk_index[0]];
        if (k->len < 0)
            return false;
        *tok = cql_murmur3_token(k->p, (size_t)k->len);
        return true;
    }
    if (p->pk_count < 2)
        return false;
    uint8_t key[1024];
    size_t n = 0;
    for (int i = 0; i < p->pk_count; i++) {
        const struct cql_value *k = &v[p->pk_index[i]];
        if (k->len < 0 || k->len > 0xFFFF || n + 3 + (size_t)k->len > sizeof(key))
            return false;
        key[n++] = (uint8_t)(k->len >> 8);
        key[n++] = (uint8_t)k->len;
        memcpy(key + n, k->p, (size_t)k->len);
        n += (size_t)k->len;
        key[n++] = 0;
    }
    *tok = cql_murmur3_token(key, n);
    return true;
}

int cql_cluster_execute(struct cql_cluster *cl, const struct cql_prepared *p,
                        const struct cql_value *values, uint16_t consistency, int serial,
                        struct cql_result *out, struct sl_err *err)
{
    struct op op;
    op_init(&op);
    op.prep = p;
    op.values = values;
    op.nv = p->nbind;
    op.cl = consistency;
    op.serial = serial;
    op.has_token = routing_token(p, values, &op.token);
    int rc = run_ops(cl, &op, 1, out != NULL, err);
    if (rc == 0 && out) {
        *out = op.res;
        memset(&op.res, 0, sizeof(op.res));
    }
    op_clear(&op);
    return rc;
}

/* Bytes of one execution's values, as sent. */
static size_t values_size(const struct cql_value *v, int n)
{
    size_t z = 0;
    for (int k = 0; k < n; k++)
        z += 4 + (v[k].len > 0 ? (size_t)v[k].len : 0);
    return z;
}

int cql_cluster_execute_many(struct cql_cluster *cl, const struct cql_prepared *p,
                             const struct cql_value *values, size_t n, uint16_t consistency,
                             struct sl_err *err)
{
    if (n == 0)
        return 0;
    size_t nb = (size_t)p->nbind;
    struct op *ops = malloc(n * sizeof(*ops));
    struct cql_value *perm = malloc(n * nb * sizeof(*perm));
    int *owner = malloc(n * sizeof(*owner));
    size_t *order = malloc(n * sizeof(*order));
    if (!ops || !perm || !owner || !order) {
        free(ops);
        free(perm);
        free(owner);
        free(order);
        return sl_err_set(err, "out of memory");
    }
    /* Executions owned by one node go out as unlogged batches of up to CQL_BATCH_ROWS
     * partitions and CQL_BATCH_BYTES of values (under Cassandra's warning thresholds: 10
     * partitions, 5 KiB), sent to that node: a batch is one request to parse, dispatch and
     * answer instead of ten, and each of its mutations is local there. The versions
     * (USING TIMESTAMP) make a batch as idempotent as its rows, so a failed one is retried
     * whole. */
    size_t no = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t tok;
        owner[i] = routing_token(p, values + i * nb, &tok) ? cql_cluster_owner(cl, tok) : -1;
    }
    for (int node = -1; node < cl->nn; node++) {
        for (size_t i = 0; i < n; i++) {
            if (owner[i] == node)
                order[no++] = i;
        }
    }
    size_t nops = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a, bytes = 0;
        while (b < n && b - a < CQL_BATCH_ROWS && owner[order[b]] == owner[order[a]]) {
            size_t z = values_size(values + order[b] * nb, p->nbind);
            if (b > a && bytes + z > CQL_BATCH_BYTES)
                break;
            bytes += z;
            memcpy(perm + b * nb, values + order[b] * nb, nb * sizeof(*perm));
            b++;
        }
        struct op *o = &ops[nops++];
        op_init(o);
        o->prep = p;
        o->values = perm + a * nb;
        o->nv = p->nbind;
        o->nbatch = (int)(b - a);
        o->cl = consistency;
        o->has_token = routing_token(p, o->values, &o->token);
        a = b;
    }
    int rc = run_ops(cl, ops, nops, false, err);
    for (size_t i = 0; i < nops; i++)
        op_clear(&ops[i]);
    free(ops);
    free(perm);
    free(owner);
    free(order);
    return rc;
}

int cql_cluster_execute_calls(struct cql_cluster *cl, struct cql_call *calls, size_t n,
                              struct sl_err *err)
{
    if (n == 0)
        return 0;
    struct op *ops = malloc(n * sizeof(*ops));
    if (!ops)
        return sl_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        op_init(&ops[i]);
        ops[i].prep = calls[i].p;
        ops[i].values = calls[i].values;
        ops[i].nv = calls[i].p->nbind;
        ops[i].cl = calls[i].consistency;
        ops[i].serial = calls[i].serial;
        ops[i].has_token = routing_token(calls[i].p, calls[i].values, &ops[i].token);
        memset(&calls[i].res, 0, sizeof(calls[i].res));
    }
    int rc = run_ops(cl, ops, n, true, err);
    for (size_t i = 0; i < n; i++) {
        calls[i].res = ops[i].res;
        memset(&ops[i].res, 0, sizeof(ops[i].res));
        op_clear(&ops[i]);
    }
    free(ops);
    return rc;
}

/* ---- discovery, schema, keyspace --------------------------------------------------------- */

static int use_on(struct cql_cluster *cl, int i, struct sl_err *err)
{
    char q[96];
    snprintf(q, sizeof(q), "USE \"%s\"", cl->keyspace);
    struct cql_conn *c = cl->nodes[i].conn;
    struct cql_req req = {0};
    struct buf *w = cql_conn_begin(c, &req);
    if (!w || cql_enc_query(w, req.stream, q, CQL_ONE, NULL, 0, 0, NULL, -1, -1) != 0) {
        if (w)
            cql_conn_cancel(c, &req);
        return sl_err_set(err, "cannot send USE");
    }
    int64_t deadline = mono_ms() + cl->o.request_timeout_ms;
    req.deadline_ms = deadline;
    cql_conn_wait(&c, 1, &req, deadline);
    struct cql_resp r;
    char why[200];
    int ret = 0;
    if (req.failed)
        ret = sl_err_set(err, "USE %s: %s", cl->keyspace, req.why);
    else if (cql_resp_decode(&req.h, req.body, req.len, &r, why, sizeof(why)) != 0)
        ret = sl_err_set(err, "USE %s: %s", cl->keyspace, why);
    else if (r.opcode == CQL_OP_ERROR)
        ret = sl_err_set(err, "USE %s: %s: %.*s", cl->keyspace, cql_error_name(r.err_code),
                         (int)r.err_msg.len, r.err_msg.p);
    if (!req.failed)
        cql_resp_free(&r);
    cql_req_clear(&req);
    return ret;
}

int cql_cluster_use(struct cql_cluster *cl, const char *keyspace, struct sl_err *err)
{
    if (strlen(keyspace) >= sizeof(cl->keyspace) || strchr(keyspace, '"'))
        return sl_err_set(err, "bad keyspace name");
    snprintf(cl->keyspace, sizeof(cl->keyspace), "%s", keyspace);
    for (int i = 0; i < cl->nn; i++) {
        if (cql_conn_ok(cl->nodes[i].conn) && use_on(cl, i, err) != 0)
            return -1;
    }
    return 0;
}

static void cell_text(const struct cql_str *v, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", v->len > 0 ? (int)v->len : 0, v->len > 0 ? v->p : "");
}

static void cell_inet(const struct cql_str *v, char *out, size_t cap)
{
    out[0] = '\0';
    if (v->len == 4)
        inet_ntop(AF_INET, v->p, out, (socklen_t)cap);
    else if (v->len == 16)
        inet_ntop(AF_INET6, v->p, out, (socklen_t)cap);
}

/* Adds the tokens of a set<text> cell to the ring for node i. */
static void add_tokens(struct cql_cluster *cl, const struct cql_str *v, int node)
{
    if (v->len < 4)
        return;
    const uint8_t *p = (const uint8_t *)v->p;
    size_t len = (size_t)v->len, pos = 4;
    uint32_t n = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    if (n > 65536 || n > len / 4)
        return;
    struct ring_ent *r = realloc(cl->ring, ((size_t)cl->nring + n) * sizeof(*r));
    if (!r)
        return;
    cl->ring = r;
    for (uint32_t i = 0; i < n && pos + 4 <= len; i++) {
        uint32_t l = ((uint32_t)p[pos] << 24) | ((uint32_t)p[pos + 1] << 16) |
                     ((uint32_t)p[pos + 2] << 8) | p[pos + 3];
        pos += 4;
        if (l > 32 || pos + l > len)
            return;
        char t[40];
        memcpy(t, p + pos, l);
        t[l] = '\0';
        pos += l;
        char *end;
        long long tok = strtoll(t, &end, 10);
        if (*end == '\0' && end != t)
            cl->ring[cl->nring++] = (struct ring_ent){tok, node};
    }
}

static int ring_cmp(const void *a, const void *b)
{
    const struct ring_ent *x = a, *y = b;
    return x->token < y->token ? -1 : x->token > y->token;
}

static int col_index(const struct cql_resp *r, const char *name)
{
    for (int i = 0; i < r->meta.ncols && r->meta.names; i++) {
        if ((size_t)r->meta.names[i].len == strlen(name) &&
            memcmp(r->meta.names[i].p, name, strlen(name)) == 0)
            return i;
    }
    return -1;
}

static int add_node(struct cql_cluster *cl, const char *host, int port)
{
    for (int i = 0; i < cl->nn; i++) {
        if (strcmp(cl->nodes[i].host, host) == 0 && cl->nodes[i].port == port)
            return i;
    }
    if (cl->nn >= CQL_MAX_NODES || strlen(host) >= sizeof(cl->nodes[0].host))
        return -1;
    struct node *n = &cl->nodes[cl->nn];
    memset(n, 0, sizeof(*n));
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    return cl->nn++;
}

/* Learns the nodes and their tokens from node 0. */
static void discover(struct cql_cluster *cl)
{
    struct op op;
    op_init(&op);
    op.force_node = 0;
    op.cl = CQL_ONE;
    op.query = "SELECT data_center, tokens FROM system.local";
    struct sl_err e;
    if (run_ops(cl, &op, 1, true, &e) == 0 && op.res.r.kind == CQL_RESULT_ROWS &&
        op.res.r.nrows == 1) {
        struct cql_resp *r = &op.res.r;
        int dc = col_index(r, "data_center"), tk = col_index(r, "tokens");
        if (dc >= 0)
            cell_text(&r->cells[dc], cl->nodes[0].dc, sizeof(cl->nodes[0].dc));
        if (tk >= 0)
            add_tokens(cl, &r->cells[tk], 0);
    }
    op_clear(&op);
    op_init(&op);
    op.force_node = 0;
    op.cl = CQL_ONE;
    op.query = "SELECT peer, rpc_address, data_center, tokens FROM system.peers";
    if (run_ops(cl, &op, 1, true, &e) == 0 && op.res.r.kind == CQL_RESULT_ROWS) {
        struct cql_resp *r = &op.res.r;
        int pc = col_index(r, "peer"), rc = col_index(r, "rpc_address"),
            dc = col_index(r, "data_center"), tk = col_index(r, "tokens");
        int nc = r->meta.ncols;
        for (int32_t row = 0; row < r->nrows && pc >= 0 && rc >= 0 && dc >= 0 && tk >= 0; row++) {
            char host[64], pdc[64];
            cell_inet(&r->cells[row * nc + rc], host, sizeof(host));
            if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
                cell_inet(&r->cells[row * nc + pc], host, sizeof(host));
            cell_text(&r->cells[row * nc + dc], pdc, sizeof(pdc));
            if (!host[0] || (cl->dc && strcmp(pdc, cl->dc) != 0))
                continue;
            int k = add_node(cl, host, cl->nodes[0].port);
            if (k < 0)
                continue;
            snprintf(cl->nodes[k].dc, sizeof(cl->nodes[k].dc), "%s", pdc);
            add_tokens(cl, &r->cells[row * nc + tk], k);
        }
    }
    op_clear(&op);
    if (cl->nring > 0)
        qsort(cl->ring, (size_t)cl->nring, sizeof(*cl->ring), ring_cmp);
}

int cql_cluster_open(struct cql_cluster **out, const struct cql_cluster_opts *o, struct sl_err *err)
{
    *out = NULL;
    struct cql_cluster *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return sl_err_set(err, "out of memory");
    cl->o = *o;
    cl->hosts = strdup(o->hosts ? o->hosts : "127.0.0.1");
    cl->dc = o->dc ? strdup(o->dc) : NULL;
    cl->user = o->conn.user ? strdup(o->conn.user) : NULL;
    cl->password = o->conn.password ? strdup(o->conn.password) : NULL;
    cl->tls_ca = o->conn.tls_ca ? strdup(o->conn.tls_ca) : NULL;
    cl->o.conn.user = cl->user;
    cl->o.conn.password = cl->password;
    cl->o.conn.tls_ca = cl->tls_ca;
    cl->o.dc = cl->dc;
    if (cl->o.port <= 0)
        cl->o.port = 9042;
    if (cl->o.request_timeout_ms <= 0)
        cl->o.request_timeout_ms = 12000;
    if (cl->o.wait_ms <= 0)
        cl->o.wait_ms = 120000;
    if (cl->o.max_retries <= 0)
        cl->o.max_retries = 10;
    if (cl->o.window <= 0)
        cl->o.window = 1024;
    if (!cl->hosts) {
        cql_cluster_close(cl);
        return sl_err_set(err, "out of memory");
    }
    /* Contact points, in order; the first that answers becomes node 0 and tells the rest. */
    char *save = NULL;
    char *hosts = strdup(cl->hosts);
    int first = -1;
    for (char *h = hosts ? strtok_r(hosts, ",", &save) : NULL; h; h = strtok_r(NULL, ",", &save)) {
        int port = cl->o.port;
        char *colon = strrchr(h, ':');
        if (colon && strchr(h, ':') == colon) { /* host:port (IPv6 literals: no port) */
            *colon = '\0';
            port = atoi(colon + 1);
            if (port <= 0 || port > 65535) {
                free(hosts);
                cql_cluster_close(cl);
                return sl_err_set(err, "bad port in contact point '%s'", h);
            }
        }
        if (add_node(cl, h, port) < 0) {
            free(hosts);
            cql_cluster_close(cl);
            return sl_err_set(err, "too many contact points or host name too long");
        }
    }
    free(hosts);
    /* With wait_at_open, a cluster that is down or restarting (no contact point accepts a TCP
     * connection) is waited for, as run_ops waits for one that goes away later: up to wait_ms,
     * with backoff. Anything else (TLS, handshake, a refused login) fails at once. */
    char firsterr[512] = "no contact point given";
    int64_t since = mono_ms(), last_log = 0, backoff = 0;
    for (;;) {
        bool unreachable = cl->nn > 0;
        for (int i = 0; i < cl->nn; i++) {
            struct sl_err e;
            int rc = node_connect(cl, i, &e);
            if (rc == 0) {
                first = i;
                break;
            }
            if (rc != CQL_CONN_UNREACHABLE)
                unreachable = false;
            snprintf(firsterr, sizeof(firsterr), "%s", e.msg);
        }
        if (first >= 0 || !unreachable || !cl->o.wait_at_open)
            break;
        int64_t now = mono_ms();
        if (now - since >= cl->o.wait_ms) {
            char down[400];
            describe_down(cl, down, sizeof(down));
            snprintf(firsterr, sizeof(firsterr), "Cassandra unreachable for %" PRId64 " s (%s)",
                     (now - since) / 1000, down);
            break;
        }
        if (now - last_log >= 5000) {
            char down[600];
            describe_down(cl, down, sizeof(down));
            log_warn(MOD,
                     "waiting for Cassandra (no node reachable: %s); retrying with backoff, "
                     "giving up after %" PRId64 " s",
                     down, cl->o.wait_ms / 1000);
            last_log = now;
        }
        backoff = backoff <= 0 ? 200 : (backoff * 2 > 2000 ? 2000 : backoff * 2);
        int64_t nap =
            backoff < cl->o.wait_ms - (now - since) ? backoff : cl->o.wait_ms - (now - since);
        struct timespec ts = {(time_t)(nap / 1000), (long)(nap % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (first < 0) {
        cql_cluster_close(cl);
        return sl_err_set(err, "%s", firsterr);
    }
    if (first != 0) { /* node 0 is the one that answered */
        struct node t = cl->nodes[0];
        cl->nodes[0] = cl->nodes[first];
        cl->nodes[first] = t;
        cl->conns[0] = cl->nodes[0].conn;
        cl->conns[first] = cl->nodes[first].conn;
    }
    discover(cl);
    for (int i = 1; i < cl->nn; i++) {
        struct sl_err e;
        if (!cl->nodes[i].conn && node_connect(cl, i, &e) != 0)
            log_warn(MOD, "%s (will retry)", e.msg);
    }
    int up = 0;
    cql_cluster_nodes(cl, &up);
    log_debug(MOD, "connected to %d of %d Cassandra node(s) (data center %s, %d tokens)", up,
              cl->nn, cl->nodes[0].dc[0] ? cl->nodes[0].dc : "?", cl->nring);
    *out = cl;
    return 0;
}

int cql_cluster_schema_agreement(struct cql_cluster *cl, int64_t timeout_ms, struct sl_err *err)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int k = -1;
        for (int i = 0; i < cl->nn && k < 0; i++) {
            if (cql_conn_ok(cl->nodes[i].conn))
                k = i;
        }
        char v0[40] = "", msg[64] = "no node connected";
        bool agree = false;
        if (k >= 0) {
            struct op q[2];
            op_init(&q[0]);
            op_init(&q[1]);
            q[0].query = "SELECT schema_version FROM system.local";
            q[1].query = "SELECT schema_version FROM system.peers";
            q[0].force_node = q[1].force_node = k;
            q[0].cl = q[1].cl = CQL_ONE;
            struct sl_err e;
            if (run_ops(cl, q, 2, true, &e) == 0 && q[0].res.r.nrows == 1 &&
                q[0].res.r.meta.ncols == 1) {
                const struct cql_str *c = &q[0].res.r.cells[0];
                snprintf(v0, sizeof(v0), "%.*s", c->len == 16 ? 16 : 0, c->p ? c->p : "");
                agree = c->len == 16;
                for (int32_t i = 0; agree && i < q[1].res.r.nrows; i++) {
                    const struct cql_str *pc = &q[1].res.r.cells[i];
                    /* A peer with no schema version yet is not in agreement. */
                    if (pc->len != 16 || memcmp(pc->p, c->p, 16) != 0)
                        agree = false;
                }
                snprintf(msg, sizeof(msg), "schema versions differ");
            } else {
                snprintf(msg, sizeof(msg), "cannot read schema versions");
            }
            op_clear(&q[0]);
            op_clear(&q[1]);
        }
        if (agree)
            return 0;
        if (mono_ms() > deadline)
            return sl_err_set(err, "no schema agreement after %" PRId64 " ms (%s)", timeout_ms,
                              msg);
        struct timespec ts = {0, 200000000L};
        nanosleep(&ts, NULL);
    }
}

int cql_cluster_nodes(const struct cql_cluster *cl, int *connected)
{
    int up = 0;
    for (int i = 0; i < cl->nn; i++)
        up += cql_conn_ok(cl->nodes[i].conn);
    if (connected)
        *connected = up;
    return cl->nn;
}

void cql_cluster_close(struct cql_cluster *cl)
{
    if (!cl)
        return;
    for (int i = 0; i < cl->nn; i++)
        cql_conn_close(cl->nodes[i].conn);
    free(cl->ring);
    free(cl->hosts);
    free(cl->dc);
    if (cl->password) {
        memset(cl->password, 0, strlen(cl->password));
        free(cl->password);
    }
    free(cl->user);
    free(cl->tls_ca);
    free(cl);
}
