/* Connections and request framing on the event loop. Handlers run inline; a response that must
 * wait (whatever for: the server does not know) keeps its place in its connection's queue, so
 * responses still leave in request order. Memory per connection is bounded: the input buffer
 * by the frame cap, the queue by an in-flight count and a byte budget; idle connections and
 * frames that never complete are closed by timeouts. */
#include "broker/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "broker/metrics.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/units.h"

#define MAX_INFLIGHT 64 /* requests read ahead per connection before we stop reading */
#define READ_CHUNK 65536
#define COMPACT_AT (1u << 20)   /* consumed input kept at most this long before compaction */
#define STREAM_BUF (64u * 1024) /* a streamed response's buffer is kept near this size */

enum resp_state { R_READY, R_WAIT };

struct resp {
    struct resp *next;
    struct conn *conn;
    struct kwriter w; /* the whole frame: size, header, body */
    enum resp_state state;
    size_t sent;       /* bytes of w.b written */
    int chunk;         /* next file chunk of w to send */
    size_t chunk_sent; /* bytes of that chunk sent */
    bool enqueued;
    size_t held;      /* what it counts for in its connection's held_bytes */
    size_t ctx_bytes; /* memory its wait context holds (kreq.hold_bytes) */
    int api_key;      /* of its request, -1 before the header is read */
    int64_t t0_us;    /* when its request was handled */
    /* while R_WAIT */
    server_try_fn try_fn;
    server_free_fn free_fn;
    void *ctx;
    struct loop_timer *deadline;
    struct resp *wprev, *wnext; /* the server's list of waiting responses */
    /* a streamed response (server_stream): gen_left bytes still to come from gen */
    server_gen_fn gen;
    server_free_fn gen_free;
    void *gen_ctx;
    size_t gen_left;
    size_t gen_bytes;
    bool pins; /* counted in its connection's nstreams: its request's bytes must stay */
};

struct conn {
    struct conn *next, *prev;
    struct server *srv;
    int fd;
    struct buf in;
    size_t rpos; /* bytes of `in` already handled */
    struct resp *head, *tail;
    int npending;
    size_t held_bytes; /* memory held by queued responses */
    int nstreams;      /* streamed responses queued: input is pinned (not read, not moved) */
    bool dead;
    bool want_out;
    int mask;               /* what the loop watches */
    bool queued;            /* on the server's to-do list */
    struct conn *todo;      /* next on that list */
    int64_t last_io_ms;     /* last read or write */
    int64_t frame_start_ms; /* when the first byte of the pending partial frame came */
    char peer[64];
    char host[64]; /* "/ADDRESS", as Kafka reports client hosts */
};

struct server {
    struct loop *loop;
    struct server_config cfg;
    server_dispatch_fn dispatch;
    struct broker *bk;
    int lfd;
    int port;
    bool accepting;
    struct conn *conns;
    int nconns;
    struct resp *waits; /* waiting responses */
    int nwaits;
    bool wake;                 /* retry waits at the next deferred run */
    struct conn *todo;         /* connections to revisit: closing, or input buffered */
    struct loop_timer *defer;  /* a zero-delay timer running the deferred work */
    struct loop_timer *reaper; /* idle and partial-frame timeouts */
    struct loop_timer *accept_backoff;
    int64_t last_conn_warn_ms;
    int nstreams; /* streamed responses in all connections' queues */
};

static void schedule(struct server *srv);

static void conn_todo(struct conn *c)
{
    if (c->queued)
        return;
    c->queued = true;
    c->todo = c->srv->todo;
    c->srv->todo = c;
    schedule(c->srv);
}

static void conn_kill(struct conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    conn_todo(c);
}

static void wait_unlink(struct server *srv, struct resp *r)
{
    if (r->wprev)
        r->wprev->wnext = r->wnext;
    else
        srv->waits = r->wnext;
    if (r->wnext)
        r->wnext->wprev = r->wprev;
    r->wprev = r->wnext = NULL;
    srv->nwaits--;
    if (r->deadline) {
        loop_del_timer(srv->loop, r->deadline);
        r->deadline = NULL;
    }
}

/* Ends a wait (answered or not): the context is released. */
static void wait_end(struct server *srv, struct resp *r)
{
    wait_unlink(srv, r);
    if (r->free_fn)
        r->free_fn(r->ctx);
    r->free_fn = NULL;
    r->try_fn = NULL;
    r->ctx = NULL;
}

static void resp_free(struct server *srv, struct resp *r)
{
    if (r->state == R_WAIT)
        wait_end(srv, r);
    if (r->gen_free)
        r->gen_free(r->gen_ctx);
    kw_free(&r->w);
    free(r);
}

static size_t resp_bytes(const struct resp *r)
{
    return sizeof(*r) + r->w.b.cap + (size_t)r->w.nchunks * sizeof(struct kchunk) +
           (r->state == R_WAIT ? r->ctx_bytes : 0) + (r->gen ? r->gen_bytes : 0);
}

/* Brings r's share of its connection's held bytes up to date. */
static void resp_recount(struct conn *c, struct resp *r)
{
    size_t now = resp_bytes(r);
    c->held_bytes = c->held_bytes - r->held + now;
    r->held = now;
}

/* Reading pauses while too many requests are in flight or too much memory is held. */
static bool conn_may_read(const struct conn *c)
{
    return c->nstreams == 0 && c->npending < MAX_INFLIGHT &&
           c->held_bytes <= (size_t)c->srv->cfg.max_conn_bytes;
}

static void conn_update_events(struct conn *c)
{
    int mask = (conn_may_read(c) ? LOOP_READ : 0) | (c->want_out ? LOOP_WRITE : 0);
    if (mask != c->mask && !c->dead && c->fd >= 0) {
        loop_mod_file(c->srv->loop, c->fd, mask);
        c->mask = mask;
    }
}

/* Sends a response that has file chunks: buffer bytes with write, file ranges with sendfile,
 * in order. Returns 1 when all is sent, 0 when the socket is full, -1 on error. */
static int resp_send_chunked(struct conn *c, struct resp *r)
{
    struct kwriter *w = &r->w;
    for (;;) {
        size_t upto = r->chunk < w->nchunks ? w->chunks[r->chunk].at : w->b.len;
        if (r->sent < upto) {
            ssize_t n = write(c->fd, w->b.data + r->sent, upto - r->sent);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
            }
            r->sent += (size_t)n;
            broker_metrics_bytes_out((size_t)n);
            continue;
        }
        if (r->chunk >= w->nchunks)
            return 1;
        struct kchunk *ch = &w->chunks[r->chunk];
        off_t off = (off_t)(ch->pos + (int64_t)r->chunk_sent);
        ssize_t n = sendfile(c->fd, ch->fd, &off, ch->len - r->chunk_sent);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        if (n == 0) {
            /* the file is shorter than the log said: the frame can no longer be completed */
            log_error("broker", "%s: log file ended early while sending a fetch", c->peer);
            return -1;
        }
        r->chunk_sent += (size_t)n;
        broker_metrics_bytes_out((size_t)n);
        if (r->chunk_sent == ch->len) {
            r->chunk++;
            r->chunk_sent = 0;
        }
    }
}

/* Sends a streamed response: what w holds, then gen's next piece, until gen_left is 0.
 * Returns 1 when all is sent, 0 when the socket is full, -1 on error. */
static int resp_send_stream(struct conn *c, struct resp *r)
{
    struct kwriter *w = &r->w;
    for (;;) {
        int rc = resp_send_chunked(c, r);
        if (rc <= 0)
            return rc;
        c->last_io_ms = loop_now(c->srv->loop);
        if (r->gen_left == 0)
            return 1;
        kw_reset(w);
        r->sent = 0;
        r->chunk = 0;
        r->chunk_sent = 0;
        if (w->b.cap > 2 * STREAM_BUF) {
            buf_free(&w->b); /* a large first piece is not kept for the rest */
            resp_recount(c, r);
        }
        if (!r->gen(r->gen_ctx, w) || w->err || kw_size(w) == 0 || kw_size(w) > r->gen_left) {
            log_error("broker", "%s: a streamed response failed (%zu bytes left, piece %zu)",
                      c->peer, r->gen_left, kw_size(w));
            errno = EPROTO;
            return -1;
        }
        r->gen_left -= kw_size(w);
        resp_recount(c, r);
    }
}

static void resp_pop(struct conn *c)
{
    struct resp *r = c->head;
    c->head = r->next;
    if (!c->head)
        c->tail = NULL;
    c->npending--;
    broker_metrics_response(r->api_key, mono_us() - r->t0_us);
    c->held_bytes -= r->held;
    if (r->pins) {
        c->nstreams--;
        c->srv->nstreams--;
        conn_todo(c); /* the input is free again: handle what waited, compact */
    }
    resp_free(c->srv, r);
}

/* Writes as many ready responses from the head of the queue as the socket takes. */
static void conn_flush(struct conn *c)
{
    bool could_read = conn_may_read(c);
    while (!c->dead && c->head && c->head->state == R_READY) {
        if (c->head->w.nchunks > 0 || c->head->gen) {
            int rc = c->head->gen ? resp_send_stream(c, c->head) : resp_send_chunked(c, c->head);
            if (rc < 0) {
                log_debug("broker", "write to %s failed: %s", c->peer, strerror(errno));
                conn_kill(c);
                return;
            }
            if (rc == 0)
                break;
            resp_pop(c);
            continue;
        }
        /* plain responses: as many as are ready, in one writev */
        struct iovec iov[32];
        int n = 0;
        for (struct resp *r = c->head;
             r && r->state == R_READY && r->w.nchunks == 0 && !r->gen && n < 32; r = r->next) {
            iov[n].iov_base = r->w.b.data + r->sent;
            iov[n].iov_len = r->w.b.len - r->sent;
            n++;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            log_debug("broker", "write to %s failed: %s", c->peer, strerror(errno));
            conn_kill(c);
            return;
        }
        c->last_io_ms = loop_now(c->srv->loop);
        size_t left = (size_t)w;
        broker_metrics_bytes_out(left);
        while (left > 0 && c->head) {
            struct resp *r = c->head;
            size_t rem = r->w.b.len - r->sent;
            if (left < rem) {
                r->sent += left;
                left = 0;
                break;
            }
            left -= rem;
            resp_pop(c);
        }
    }
    c->want_out = c->head && c->head->state == R_READY;
    conn_update_events(c);
    /* Requests buffered behind the in-flight cap: answers sent made room. They must be handled
     * now, since no more socket data may ever arrive to wake us. */
    if (!could_read && conn_may_read(c) && c->in.len - c->rpos >= 4)
        conn_todo(c);
}

static void resp_enqueue(struct conn *c, struct resp *r)
{
    r->next = NULL;
    r->enqueued = true;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->npending++;
    if (r->pins) {
        c->nstreams++;
        c->srv->nstreams++;
    }
    r->held = 0;
    resp_recount(c, r);
}

static void resp_finish_frame(struct resp *r)
{
    kw_patch_i32(&r->w, 0, (int32_t)(kw_size(&r->w) - 4 + r->gen_left));
}

const char *server_conn_host(const struct conn *c)
{
    return c->host;
}

/* A wait is over with its response written: send it. */
static void wait_complete(struct server *srv, struct resp *r)
{
    wait_end(srv, r);
    r->state = R_READY;
    struct conn *c = r->conn;
    if (r->w.err) {
        log_error("broker", "%s: response exceeds %zu bytes; closing", c->peer, r->w.b.max);
        conn_kill(c);
        return;
    }
    resp_finish_frame(r);
    if (r->enqueued) {
        resp_recount(c, r); /* the response grew while it waited */
        conn_flush(c);
    }
}

static int64_t on_deadline(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)l;
    (void)t;
    struct resp *r = ctx;
    r->deadline = NULL; /* this timer ends now */
    struct server *srv = r->conn->srv;
    if (!r->conn->dead) {
        r->try_fn(r->ctx, &r->w, true);
        wait_complete(srv, r);
    }
    return LOOP_TIMER_DONE;
}

void server_wait(struct kreq *rq, int64_t deadline_ms, server_try_fn try_fn, server_free_fn free_fn,
                 void *ctx)
{
    struct server *srv = rq->srv;
    struct resp *r = rq->resp;
    r->state = R_WAIT;
    r->try_fn = try_fn;
    r->free_fn = free_fn;
    r->ctx = ctx;
    r->wnext = srv->waits;
    r->wprev = NULL;
    if (srv->waits)
        srv->waits->wprev = r;
    srv->waits = r;
    srv->nwaits++;
    if (deadline_ms >= 0) {
        r->deadline = loop_add_timer(srv->loop, deadline_ms - loop_now(srv->loop), on_deadline, r);
        if (!r->deadline) { /* cannot wait: answer now with what there is */
            try_fn(ctx, &r->w, true);
            wait_end(srv, r);
            r->state = R_READY;
        }
    }
}

/* Keeps r's connection from reading or moving its input until r is sent. */
static void resp_pin(struct resp *r)
{
    if (r->pins)
        return;
    r->pins = true;
    if (r->enqueued) { /* from a wait: counted now */
        r->conn->nstreams++;
        r->conn->srv->nstreams++;
    }
}

void server_pin(struct kreq *rq)
{
    resp_pin(rq->resp);
}

void server_stream(struct kwriter *w, size_t rest, server_gen_fn gen, server_free_fn free_fn,
                   void *ctx, size_t ctx_bytes)
{
    struct resp *r = (struct resp *)(void *)((char *)w - offsetof(struct resp, w));
    if (r->gen_free) /* one stream per response */
        r->gen_free(r->gen_ctx);
    r->gen = gen;
    r->gen_free = free_fn;
    r->gen_ctx = ctx;
    r->gen_left = rest;
    r->gen_bytes = ctx_bytes;
    resp_pin(r);
    size_t max = w->b.max;
    if (rest > max || kw_size(w) > max - rest || rest == 0)
        w->err = true; /* over the response limit: the connection is closed */
}

int server_streaming(const struct server *srv)
{
    return srv->nstreams;
}

void server_wake(struct server *srv)
{
    if (srv->nwaits == 0)
        return;
    srv->wake = true;
    schedule(srv);
}

int server_waiting(const struct server *srv)
{
    return srv->nwaits;
}

int server_connections(const struct server *srv)
{
    return srv->nconns;
}

/* Handles one complete request frame (without its size prefix). Returns -1 to close. */
static int handle_request(struct server *srv, struct conn *c, const uint8_t *frame, size_t len)
{
    struct resp *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->conn = c;
    r->state = R_READY;
    r->t0_us = mono_us();
    kw_init(&r->w, (size_t)srv->cfg.max_response_bytes);
    kw_mark(&r->w); /* frame size */
    struct kreq rq = {
        .bk = srv->bk,
        .srv = srv,
        .conn = c,
        .resp = r,
        .w = &r->w,
        .api_key = -1,
    };
    kr_init(&rq.r, frame, len);
    enum server_result res = srv->dispatch(&rq);
    r->ctx_bytes = rq.hold_bytes;
    r->api_key = rq.api_key;
    if (r->w.err && r->state == R_READY) {
        log_error("broker", "%s: response to API %d v%d exceeds %zu bytes; closing", c->peer,
                  rq.api_key, rq.api_version, r->w.b.max);
        res = SR_CLOSE;
    }
    switch (res) {
    case SR_DONE:
        resp_finish_frame(r);
        resp_enqueue(c, r);
        break;
    case SR_DEFER:
        if (r->state == R_READY) /* answered at once after all */
            resp_finish_frame(r);
        resp_enqueue(c, r);
        break;
    case SR_NORESP:
        resp_free(srv, r);
        break;
    case SR_CLOSE:
        resp_free(srv, r);
        return -1;
    }
    return 0;
}

/* Handles every complete frame buffered for c, as long as it may have requests in flight. */
static void conn_process_input(struct conn *c)
{
    struct server *srv = c->srv;
    while (!c->dead && conn_may_read(c)) {
        size_t avail = c->in.len - c->rpos;
        if (avail < 4)
            break;
        int32_t size = be32(c->in.data + c->rpos);
        if (size < 8 || size > srv->cfg.max_request_bytes) {
            log_warn("broker", "%s: request size %d outside [8, %lld]; closing", c->peer, size,
                     (long long)srv->cfg.max_request_bytes);
            conn_kill(c);
            break;
        }
        if (avail < 4 + (size_t)size)
            break;
        if (handle_request(srv, c, c->in.data + c->rpos + 4, (size_t)size) != 0) {
            conn_kill(c);
            break;
        }
        c->rpos += 4 + (size_t)size;
        c->frame_start_ms = 0;
    }
    if (c->in.len > c->rpos && c->frame_start_ms == 0)
        c->frame_start_ms = loop_now(srv->loop);
    /* Consumed input goes once it is all handled, or once it is large: the buffer's maximum
     * holds one whole frame only after what came before it is dropped. Not while a streamed
     * response still reads its request there. */
    if (c->nstreams == 0 && c->rpos > 0 && (c->rpos == c->in.len || c->rpos >= COMPACT_AT)) {
        buf_consume(&c->in, c->rpos);
        c->rpos = 0;
    }
    if (c->nstreams == 0 && c->in.len == 0 && c->in.cap > COMPACT_AT)
        buf_free(&c->in); /* a large frame's memory is not kept for an idle connection */
    conn_flush(c);
}

static void conn_read(struct conn *c)
{
    for (int rounds = 0; rounds < 16 && !c->dead; rounds++) {
        if (!conn_may_read(c))
            break;
        if (c->rpos > 0 && c->in.max - c->in.len < READ_CHUNK) {
            /* make room: what is already handled can go */
            buf_consume(&c->in, c->rpos);
            c->rpos = 0;
        }
        size_t room = c->in.max - c->in.len;
        if (room == 0) {
            /* cannot happen for a valid frame (sizes are checked); treat as abuse */
            conn_kill(c);
            break;
        }
        size_t want = room < READ_CHUNK ? room : READ_CHUNK;
        if (buf_reserve(&c->in, want) != 0) {
            conn_kill(c);
            break;
        }
        ssize_t n = read(c->fd, c->in.data + c->in.len, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_kill(c);
            break;
        }
        if (n == 0) {
            conn_kill(c);
            break;
        }
        c->in.len += (size_t)n;
        broker_metrics_bytes_in((size_t)n);
        c->last_io_ms = loop_now(c->srv->loop);
        conn_process_input(c);
        if ((size_t)n < want)
            break;
    }
}

static void conn_close(struct server *srv, struct conn *c)
{
    if (c->fd >= 0) {
        loop_del_file(srv->loop, c->fd);
        close(c->fd);
    }
    while (c->head) {
        struct resp *r = c->head;
        c->head = r->next;
        if (r->pins)
            srv->nstreams--;
        resp_free(srv, r);
    }
    buf_free(&c->in);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    log_debug("broker", "connection from %s closed", c->peer);
    free(c);
}

/* The deferred work of a turn: retry waits after a wake, then revisit connections (closing
 * dead ones, handling input buffered behind the in-flight cap). */
static int64_t run_deferred(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)l;
    (void)t;
    struct server *srv = ctx;
    srv->defer = NULL;
    if (srv->wake) {
        srv->wake = false;
        struct resp *next;
        for (struct resp *r = srv->waits; r; r = next) {
            next = r->wnext;
            if (!r->conn->dead && r->try_fn(r->ctx, &r->w, false)) {
                /* completing may close r's connection: only the next wait's must stay */
                wait_complete(srv, r);
            }
        }
    }
    while (srv->todo) {
        struct conn *c = srv->todo;
        srv->todo = c->todo;
        c->queued = false;
        if (c->dead)
            conn_close(srv, c);
        else
            conn_process_input(c);
    }
    return LOOP_TIMER_DONE;
}

static void schedule(struct server *srv)
{
    if (!srv->defer)
        srv->defer = loop_add_timer(srv->loop, 0, run_deferred, srv);
}

static void on_conn_event(struct loop *l, int fd, void *ctx, int mask)
{
    (void)l;
    (void)fd;
    struct conn *c = ctx;
    if (c->dead)
        return;
    if (mask & LOOP_WRITE)
        conn_flush(c);
    if ((mask & LOOP_READ) && !c->dead)
        conn_read(c);
}

static struct conn *conn_new(struct server *srv, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->srv = srv;
    c->fd = fd;
    buf_init(&c->in, (size_t)srv->cfg.max_request_bytes + 4);
    c->last_io_ms = loop_now(srv->loop);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    return c;
}

static int64_t resume_accept(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)t;
    struct server *srv = ctx;
    srv->accept_backoff = NULL;
    srv->accepting = true;
    loop_mod_file(l, srv->lfd, LOOP_READ);
    return LOOP_TIMER_DONE;
}

static void on_accept(struct loop *l, int fd, void *ctx, int mask)
{
    (void)fd;
    (void)mask;
    struct server *srv = ctx;
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof(sa);
        int cfd = accept4(srv->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: a level-triggered listener would spin; pause it */
                int64_t now = loop_now(l);
                if (now - srv->last_conn_warn_ms > 10000) {
                    log_warn("broker", "accept failed: %s; pausing accepts", strerror(errno));
                    srv->last_conn_warn_ms = now;
                }
                if (!srv->accept_backoff) {
                    srv->accepting = false;
                    loop_mod_file(l, srv->lfd, 0);
                    srv->accept_backoff = loop_add_timer(l, 100, resume_accept, srv);
                }
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_warn("broker", "accept failed: %s", strerror(errno));
            }
            return;
        }
        if (srv->nconns >= srv->cfg.max_connections) {
            int64_t now = loop_now(l);
            if (now - srv->last_conn_warn_ms > 10000) {
                log_warn("broker", "connection limit %d reached; refusing connections",
                         srv->cfg.max_connections);
                srv->last_conn_warn_ms = now;
            }
            close(cfd);
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = conn_new(srv, cfd);
        if (!c) {
            close(cfd);
            continue;
        }
        char host[NI_MAXHOST], port[NI_MAXSERV];
        if (getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
            snprintf(c->peer, sizeof(c->peer), "%.40s:%.8s", host, port);
            snprintf(c->host, sizeof(c->host), "/%.60s", host);
        } else
            snprintf(c->peer, sizeof(c->peer), "?");
        c->mask = LOOP_READ;
        if (loop_add_file(l, cfd, LOOP_READ, on_conn_event, c) != 0) {
            c->fd = -1;
            close(cfd);
            conn_close(srv, c);
            continue;
        }
        log_debug("broker", "connection from %s", c->peer);
    }
}

/* Idle connections and frames that never complete are closed. */
static int64_t reap(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)t;
    struct server *srv = ctx;
    int64_t now = loop_now(l);
    int idle = 0, partial = 0;
    for (struct conn *c = srv->conns; c; c = c->next) {
        if (c->dead)
            continue;
        bool buffered = c->in.len > c->rpos;
        bool due = (buffered && srv->cfg.partial_timeout_ms > 0 && c->frame_start_ms > 0 &&
                    now - c->frame_start_ms > srv->cfg.partial_timeout_ms) ||
                   (!buffered && !c->head && srv->cfg.idle_timeout_ms > 0 &&
                    now - c->last_io_ms > srv->cfg.idle_timeout_ms);
        int unread = 0;
        if (due && c->fd >= 0 && ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0) {
            /* bytes wait in the socket: the loop was busy, not the client */
            c->last_io_ms = now;
            continue;
        }
        if (buffered && srv->cfg.partial_timeout_ms > 0 && c->frame_start_ms > 0 &&
            now - c->frame_start_ms > srv->cfg.partial_timeout_ms && conn_may_read(c)) {
            partial++;
            conn_kill(c);
        } else if (!buffered && !c->head && srv->cfg.idle_timeout_ms > 0 &&
                   now - c->last_io_ms > srv->cfg.idle_timeout_ms) {
            idle++;
            conn_kill(c);
        }
    }
    if (idle + partial > 0)
        log_info("broker", "closed %d idle connection(s) and %d with a frame unfinished", idle,
                 partial);
    int64_t every = INT64_MAX;
    if (srv->cfg.idle_timeout_ms > 0)
        every = srv->cfg.idle_timeout_ms;
    if (srv->cfg.partial_timeout_ms > 0 && srv->cfg.partial_timeout_ms < every)
        every = srv->cfg.partial_timeout_ms;
    every /= 4;
    return every < 50 ? 50 : every > 1000 ? 1000 : every;
}

int server_create(struct loop *l, const struct server_config *cfg, server_dispatch_fn dispatch,
                  struct broker *bk, struct server **out, struct sl_err *err)
{
    struct server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return sl_err_set(err, "out of memory");
    srv->loop = l;
    srv->cfg = *cfg;
    if (srv->cfg.max_conn_bytes <= 0)
        srv->cfg.max_conn_bytes = INT64_MAX;
    srv->dispatch = dispatch;
    srv->bk = bk;
    srv->lfd = -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0) {
        sl_err_set(err, "cannot resolve listen address %s: %s", cfg->host, gai_strerror(gai));
        goto fail;
    }
    srv->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (srv->lfd < 0 || setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(srv->lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(srv->lfd, 4096) != 0) {
        sl_err_errno(err, "cannot listen on %s:%d", cfg->host, cfg->port);
        freeaddrinfo(ai);
        goto fail;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    getsockname(srv->lfd, (struct sockaddr *)&sa, &sl);
    srv->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    if (loop_add_file(l, srv->lfd, LOOP_READ, on_accept, srv) != 0) {
        sl_err_errno(err, "cannot watch the listener");
        goto fail;
    }
    srv->accepting = true;
    if (cfg->idle_timeout_ms > 0 || cfg->partial_timeout_ms > 0) {
        srv->reaper = loop_add_timer(l, 50, reap, srv);
        if (!srv->reaper) {
            loop_del_file(l, srv->lfd);
            sl_err_set(err, "out of memory");
            goto fail;
        }
    }
    *out = srv;
    return 0;
fail:
    if (srv->lfd >= 0)
        close(srv->lfd);
    free(srv);
    return -1;
}

int server_port(const struct server *srv)
{
    return srv->port;
}

int server_add_conn(struct server *srv, int fd, const char *peer)
{
    struct conn *c = conn_new(srv, fd);
    if (!c) {
        close(fd);
        return -1;
    }
    snprintf(c->peer, sizeof(c->peer), "%.60s", peer);
    snprintf(c->host, sizeof(c->host), "/%.60s", peer);
    c->mask = LOOP_READ;
    if (loop_add_file(srv->loop, fd, LOOP_READ, on_conn_event, c) != 0) {
        c->fd = -1;
        close(fd);
        conn_close(srv, c);
        return -1;
    }
    return 0;
}

int server_feed_for_test(struct server *srv, const uint8_t *data, size_t len)
{
    struct conn *c = conn_new(srv, -1); /* writes fail: responses are dropped */
    if (!c)
        return -1;
    snprintf(c->peer, sizeof(c->peer), "test");
    if (buf_append(&c->in, data, len) == 0)
        conn_process_input(c);
    conn_kill(c);
    return 0;
}

void server_destroy(struct server *srv)
{
    if (!srv)
        return;
    while (srv->conns)
        conn_close(srv, srv->conns);
    srv->todo = NULL;
    if (srv->defer)
        loop_del_timer(srv->loop, srv->defer);
    if (srv->reaper)
        loop_del_timer(srv->loop, srv->reaper);
    if (srv->accept_backoff)
        loop_del_timer(srv->loop, srv->accept_backoff);
    loop_del_file(srv->loop, srv->lfd);
    close(srv->lfd);
    free(srv);
}
