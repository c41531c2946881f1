/* Event loop, connections and request framing for the broker. One thread owns everything:
 * handlers run inline; a response that must wait (acks=all until the group fsync, a Fetch long
 * poll) keeps its place in its connection's queue so responses still leave in request order. */
#include "broker/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "broker/metrics.h"
#include "core/log.h"
#include "core/units.h"

#define MAX_INFLIGHT 64 /* requests read ahead per connection before we stop reading */
#define READ_CHUNK 65536
#define MAX_EVENTS 128

enum resp_state { R_READY, R_WAIT_SYNC, R_WAIT_FETCH, R_HELD };

struct resp {
    struct resp *next;
    struct conn *conn;
    struct kwriter w; /* the whole frame: size, header, body */
    enum resp_state state;
    uint64_t wait_epoch;
    struct fetch_wait *fw;
    int64_t deadline_ms;
    size_t sent;       /* bytes of w.b written */
    int chunk;         /* next file chunk of w to send */
    size_t chunk_sent; /* bytes of that chunk sent */
    bool enqueued;
    void (*on_cancel)(void *ctx, struct resp *r); /* for R_HELD */
    void *cancel_ctx;
};

struct conn {
    struct conn *next, *prev;
    int fd;
    struct buf in;
    size_t rpos; /* bytes of `in` already handled */
    struct resp *head, *tail;
    int npending;
    bool dead;
    bool want_out;
    bool reading;
    char peer[64];
    char host[64]; /* "/ADDRESS", as Kafka reports client hosts */
};

struct server {
    struct broker *bk;
    int epfd;
    int lfd;
    int port;
    struct conn *conns;
    int nconns;
    int nwait_sync;
    struct resp **fetches;
    int nfetches, fetch_cap;
    volatile sig_atomic_t stop;
    int64_t next_retention_ms;
    int64_t next_flush_ms;
    int64_t last_conn_warn_ms;
};

static void resp_free(struct resp *r)
{
    if (r->state == R_HELD && r->on_cancel)
        r->on_cancel(r->cancel_ctx, r);
    if (r->fw)
        fetch_wait_free(r->fw);
    kw_free(&r->w);
    free(r);
}

static void conn_update_events(struct server *srv, struct conn *c)
{
    bool reading = c->npending < MAX_INFLIGHT;
    struct epoll_event ev = {0};
    ev.events = (reading ? EPOLLIN : 0) | (c->want_out ? EPOLLOUT : 0) | EPOLLRDHUP;
    ev.data.ptr = c;
    epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->reading = reading;
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

static void resp_pop(struct conn *c)
{
    struct resp *r = c->head;
    c->head = r->next;
    if (!c->head)
        c->tail = NULL;
    c->npending--;
    resp_free(r);
}

/* Writes as many ready responses from the head of the queue as the socket takes. */
static void conn_flush(struct server *srv, struct conn *c)
{
    while (!c->dead && c->head && c->head->state == R_READY) {
        if (c->head->w.nchunks > 0) {
            int rc = resp_send_chunked(c, c->head);
            if (rc < 0) {
                log_debug("broker", "write to %s failed: %s", c->peer, strerror(errno));
                c->dead = true;
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
        for (struct resp *r = c->head; r && r->state == R_READY && r->w.nchunks == 0 && n < 32;
             r = r->next) {
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
            c->dead = true;
            return;
        }
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
    bool want_out = c->head && c->head->state == R_READY;
    if (want_out != c->want_out || (c->npending < MAX_INFLIGHT) != c->reading) {
        c->want_out = want_out;
        conn_update_events(srv, c);
    }
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
}

static void resp_finish_frame(struct resp *r)
{
    kw_patch_i32(&r->w, 0, (int32_t)(kw_size(&r->w) - 4));
}

struct resp *server_hold(struct kreq *rq, void (*on_cancel)(void *ctx, struct resp *r), void *ctx)
{
    struct resp *r = rq->resp;
    r->state = R_HELD;
    r->on_cancel = on_cancel;
    r->cancel_ctx = ctx;
    return r;
}

struct kwriter *server_held_writer(struct resp *r)
{
    return &r->w;
}

const char *server_conn_host(const struct conn *c)
{
    return c->host;
}

void server_release(struct server *srv, struct resp *r)
{
    if (r->state != R_HELD)
        return;
    r->state = R_READY;
    r->on_cancel = NULL;
    if (r->w.err) {
        r->conn->dead = true;
        return;
    }
    resp_finish_frame(r);
    /* A handler may release its own response before the server has queued it. */
    if (r->enqueued)
        conn_flush(srv, r->conn);
}

void server_defer_fetch(struct kreq *rq, struct fetch_wait *fw, int64_t deadline_ms)
{
    struct server *srv = rq->bk->srv;
    struct resp *r = rq->resp;
    r->fw = fw;
    r->deadline_ms = deadline_ms;
    r->state = R_WAIT_FETCH;
    if (srv->nfetches == srv->fetch_cap) {
        int cap = srv->fetch_cap ? srv->fetch_cap * 2 : 64;
        struct resp **p = realloc(srv->fetches, (size_t)cap * sizeof(*p));
        if (!p) {
            /* cannot wait: answer now with what there is */
            fetch_wait_try(rq->bk, fw, &r->w, true);
            r->state = R_READY;
            return;
        }
        srv->fetches = p;
        srv->fetch_cap = cap;
    }
    srv->fetches[srv->nfetches++] = r;
}

/* Handles one complete request frame (without its size prefix). Returns -1 to close. */
static int handle_request(struct server *srv, struct conn *c, const uint8_t *frame, size_t len)
{
    struct broker *bk = srv->bk;
    struct kreader hr;
    kr_init(&hr, frame, len);
    int16_t key = kr_i16(&hr);
    int16_t version = kr_i16(&hr);
    int32_t corr = kr_i32(&hr);
    if (hr.err) {
        log_warn("broker", "%s: request header too short (%zu bytes); closing", c->peer, len);
        return -1;
    }
    const struct api_def *api = api_find(key);
    if (!api) {
        log_warn("broker", "%s: unknown API key %d; closing", c->peer, key);
        return -1;
    }
    broker_metrics_request(key, api->name);
    bool supported = version >= api->min_version && version <= api->max_version;
    if (!supported && key != 18) {
        log_warn("broker", "%s: %s v%d is not supported (range %d-%d); closing", c->peer, api->name,
                 version, api->min_version, api->max_version);
        return -1;
    }
    bool flex = version >= api->first_flexible;
    struct kslice client_id = kr_str(&hr, false);
    if (flex && supported)
        kr_tags(&hr, true);
    if (hr.err) {
        log_warn("broker", "%s: malformed %s request header; closing", c->peer, api->name);
        return -1;
    }

    struct resp *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->conn = c;
    r->state = R_READY;
    kw_init(&r->w,
            (size_t)bk->cfg.max_fetch_bytes + (size_t)bk->cfg.max_request_bytes + (1u << 20));
    kw_mark(&r->w); /* frame size */
    kw_i32(&r->w, corr);
    if (flex && key != 18) /* ApiVersions always answers with response header v0 */
        kw_tags(&r->w, true);

    struct kreq rq = {
        .bk = bk,
        .conn = c,
        .resp = r,
        .api_key = key,
        .api_version = version,
        .correlation_id = corr,
        .flex = flex,
        .client_id = client_id,
        .r = hr,
        .w = &r->w,
    };
    enum handler_result res = api->handle(&rq);
    if (r->w.err) {
        log_error("broker", "%s: %s v%d response exceeds %zu bytes; closing", c->peer, api->name,
                  version, r->w.b.max);
        res = H_CLOSE;
    }
    switch (res) {
    case H_DONE:
        resp_finish_frame(r);
        resp_enqueue(c, r);
        break;
    case H_WAIT_SYNC:
        resp_finish_frame(r);
        r->state = R_WAIT_SYNC;
        r->wait_epoch = bk->sync_epoch + 1;
        srv->nwait_sync++;
        resp_enqueue(c, r);
        break;
    case H_DEFER:
        resp_enqueue(c, r);
        if (r->state == R_READY) /* answered at once after all */
            resp_finish_frame(r);
        break;
    case H_NORESP:
        resp_free(r);
        break;
    case H_CLOSE:
        /* a wait registered before the failure would dangle: handlers register last */
        resp_free(r);
        log_warn("broker", "%s: malformed %s v%d request; closing", c->peer, api->name, version);
        return -1;
    }
    return 0;
}

/* Handles every complete frame buffered for c, as long as it may have requests in flight. */
static void conn_process_input(struct server *srv, struct conn *c)
{
    while (!c->dead && c->npending < MAX_INFLIGHT) {
        size_t avail = c->in.len - c->rpos;
        if (avail < 4)
            break;
        int32_t size = be32(c->in.data + c->rpos);
        if (size < 8 || size > srv->bk->cfg.max_request_bytes) {
            log_warn("broker", "%s: request size %d outside [8, %lld]; closing", c->peer, size,
                     (long long)srv->bk->cfg.max_request_bytes);
            c->dead = true;
            break;
        }
        if (avail < 4 + (size_t)size)
            break;
        if (handle_request(srv, c, c->in.data + c->rpos + 4, (size_t)size) != 0) {
            c->dead = true;
            break;
        }
        c->rpos += 4 + (size_t)size;
    }
    if (c->rpos > 0 && (c->rpos == c->in.len || c->rpos > (1u << 20))) {
        buf_consume(&c->in, c->rpos);
        c->rpos = 0;
    }
    conn_flush(srv, c);
}

static void conn_read(struct server *srv, struct conn *c)
{
    for (int rounds = 0; rounds < 16 && !c->dead; rounds++) {
        if (c->npending >= MAX_INFLIGHT)
            break;
        size_t room = c->in.max - c->in.len;
        if (room == 0) {
            /* cannot happen for a valid frame (sizes are checked); treat as abuse */
            c->dead = true;
            break;
        }
        size_t want = room < READ_CHUNK ? room : READ_CHUNK;
        if (buf_reserve(&c->in, want) != 0) {
            c->dead = true;
            break;
        }
        ssize_t n = read(c->fd, c->in.data + c->in.len, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = true;
            break;
        }
        if (n == 0) {
            c->dead = true;
            break;
        }
        c->in.len += (size_t)n;
        broker_metrics_bytes_in((size_t)n);
        conn_process_input(srv, c);
        if ((size_t)n < want)
            break;
    }
}

static void conn_close(struct server *srv, struct conn *c)
{
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    while (c->head) {
        struct resp *r = c->head;
        c->head = r->next;
        if (r->state == R_WAIT_SYNC)
            srv->nwait_sync--;
        resp_free(r);
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

/* Closes dead connections, first dropping their waiting fetches from the wait list. */
static void sweep_dead(struct server *srv)
{
    int j = 0;
    for (int i = 0; i < srv->nfetches; i++) {
        if (!srv->fetches[i]->conn->dead)
            srv->fetches[j++] = srv->fetches[i];
    }
    srv->nfetches = j;
    struct conn *c = srv->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->dead)
            conn_close(srv, c);
        c = next;
    }
}

static void accept_conns(struct server *srv)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof(sa);
        int fd = accept4(srv->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warn("broker", "accept failed: %s", strerror(errno));
            return;
        }
        if (srv->nconns >= srv->bk->cfg.max_connections) {
            int64_t now = mono_ms();
            if (now - srv->last_conn_warn_ms > 10000) {
                log_warn("broker", "connection limit %d reached; refusing connections",
                         srv->bk->cfg.max_connections);
                srv->last_conn_warn_ms = now;
            }
            close(fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        buf_init(&c->in, (size_t)srv->bk->cfg.max_request_bytes + 4);
        char host[NI_MAXHOST], port[NI_MAXSERV];
        if (getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
            snprintf(c->peer, sizeof(c->peer), "%.40s:%.8s", host, port);
            snprintf(c->host, sizeof(c->host), "/%.60s", host);
        } else
            snprintf(c->peer, sizeof(c->peer), "?");
        c->reading = true;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
        srv->nconns++;
        log_debug("broker", "connection from %s", c->peer);
    }
}

/* After a sync: every acks=all response whose data is now durable can go. */
static void release_synced(struct server *srv)
{
    if (srv->nwait_sync == 0)
        return;
    uint64_t epoch = srv->bk->sync_epoch;
    for (struct conn *c = srv->conns; c; c = c->next) {
        bool any = false;
        for (struct resp *r = c->head; r; r = r->next) {
            if (r->state == R_WAIT_SYNC && r->wait_epoch <= epoch) {
                r->state = R_READY;
                srv->nwait_sync--;
                any = true;
            }
        }
        if (any)
            conn_flush(srv, c);
    }
}

static void run_fetches(struct server *srv, bool data_arrived)
{
    int64_t now = mono_ms();
    int j = 0;
    for (int i = 0; i < srv->nfetches; i++) {
        struct resp *r = srv->fetches[i];
        bool expired = now >= r->deadline_ms;
        if ((data_arrived || expired) && !r->conn->dead &&
            fetch_wait_try(srv->bk, r->fw, &r->w, expired)) {
            fetch_wait_free(r->fw);
            r->fw = NULL;
            if (r->w.err) {
                r->conn->dead = true;
                continue;
            }
            resp_finish_frame(r);
            r->state = R_READY;
            conn_flush(srv, r->conn);
            continue;
        }
        srv->fetches[j++] = r;
    }
    srv->nfetches = j;
}

static int next_timeout(struct server *srv)
{
    struct broker *bk = srv->bk;
    /* appends or commits waiting for the group fsync: do not sleep before it */
    if (bk->cfg.flush == FLUSH_GROUP && (bk->ndirty > 0 || srv->nwait_sync > 0 || bk->groups.dirty))
        return 0;
    int64_t now = mono_ms();
    int64_t t = srv->next_retention_ms;
    if (srv->bk->cfg.flush == FLUSH_INTERVAL && srv->next_flush_ms < t)
        t = srv->next_flush_ms;
    for (int i = 0; i < srv->nfetches; i++) {
        if (srv->fetches[i]->deadline_ms < t)
            t = srv->fetches[i]->deadline_ms;
    }
    int64_t d = t - now;
    if (d < 0)
        d = 0;
    /* group timeouts are checked on every turn; with members about, turn often enough */
    int64_t cap = groups_active(&srv->bk->groups) ? 100 : 1000;
    if (d > cap)
        d = cap;
    return (int)d;
}

static void enforce_retention(struct server *srv)
{
    struct registry *reg = &srv->bk->reg;
    int64_t now = now_ms();
    for (int i = 0; i < reg->ntopics; i++) {
        struct topic *t = reg->topics[i];
        for (int32_t p = 0; p < t->npartitions; p++) {
            struct sl_err err;
            int n = partition_enforce_retention(t->parts[p].log, now, &err);
            if (n < 0)
                log_error("broker", "retention on %s-%d: %s", t->name, (int)p, err.msg);
            else if (n > 0)
                log_info("broker", "retention deleted %d segment(s) of %s-%d", n, t->name, (int)p);
        }
    }
}

int server_create(struct broker *bk, struct server **out, struct sl_err *err)
{
    struct server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return sl_err_set(err, "out of memory");
    srv->bk = bk;
    srv->lfd = -1;
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (srv->epfd < 0) {
        sl_err_errno(err, "epoll_create1");
        goto fail;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", bk->cfg.listen_port);
    int gai = getaddrinfo(bk->cfg.listen_host, port, &hints, &ai);
    if (gai != 0) {
        sl_err_set(err, "cannot resolve listen address %s: %s", bk->cfg.listen_host,
                   gai_strerror(gai));
        goto fail;
    }
    srv->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (srv->lfd < 0 || setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(srv->lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(srv->lfd, 512) != 0) {
        sl_err_errno(err, "cannot listen on %s:%d", bk->cfg.listen_host, bk->cfg.listen_port);
        freeaddrinfo(ai);
        goto fail;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    getsockname(srv->lfd, (struct sockaddr *)&sa, &sl);
    srv->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ev) != 0) {
        sl_err_errno(err, "epoll_ctl");
        goto fail;
    }
    bk->srv = srv;
    *out = srv;
    return 0;
fail:
    if (srv->lfd >= 0)
        close(srv->lfd);
    if (srv->epfd >= 0)
        close(srv->epfd);
    free(srv);
    return -1;
}

int server_port(const struct server *srv)
{
    return srv->port;
}

void server_stop(struct server *srv)
{
    srv->stop = 1;
}

int server_run(struct server *srv, struct sl_err *err)
{
    struct broker *bk = srv->bk;
    struct epoll_event evs[MAX_EVENTS];
    srv->next_retention_ms = mono_ms() + bk->cfg.retention_check_ms;
    srv->next_flush_ms = mono_ms() + bk->cfg.flush_interval_ms;
    while (!srv->stop) {
        int n = epoll_wait(srv->epfd, evs, MAX_EVENTS, next_timeout(srv));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sl_err_errno(err, "epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                accept_conns(srv);
                continue;
            }
            if (c->dead)
                continue;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                c->dead = true;
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                conn_flush(srv, c);
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
                conn_read(srv, c);
        }
        int64_t now = mono_ms();
        broker_metrics_turn(bk, srv->nconns, now);
        groups_tick(bk, now);
        /* Group commit: one fsync per dirty partition for everything this turn appended. */
        if (bk->cfg.flush == FLUSH_GROUP) {
            if (bk->ndirty > 0 || srv->nwait_sync > 0 || bk->groups.dirty)
                broker_sync(bk);
        } else if (now >= srv->next_flush_ms) {
            broker_sync(bk);
            srv->next_flush_ms = now + bk->cfg.flush_interval_ms;
        }
        release_synced(srv);
        run_fetches(srv, bk->hw_advanced);
        bk->hw_advanced = false;
        /* Requests already buffered behind the in-flight cap: answers sent above made room.
         * They must be handled now, since no more socket data may ever arrive to wake us. */
        for (struct conn *c = srv->conns; c; c = c->next) {
            if (!c->dead && c->npending < MAX_INFLIGHT && c->in.len - c->rpos >= 4)
                conn_process_input(srv, c);
        }
        if (now >= srv->next_retention_ms) {
            enforce_retention(srv);
            srv->next_retention_ms = now + bk->cfg.retention_check_ms;
        }
        sweep_dead(srv);
    }
    broker_sync(bk);
    release_synced(srv);
    for (struct conn *c = srv->conns; c; c = c->next)
        c->dead = true;
    sweep_dead(srv);
    return 0;
}

int server_feed_for_test(struct server *srv, const uint8_t *data, size_t len)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->fd = -1; /* writes fail, which marks the connection dead: responses are dropped */
    snprintf(c->peer, sizeof(c->peer), "test");
    buf_init(&c->in, (size_t)srv->bk->cfg.max_request_bytes + 4);
    c->reading = true;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (buf_append(&c->in, data, len) == 0)
        conn_process_input(srv, c);
    if (srv->bk->ndirty > 0 || srv->nwait_sync > 0)
        broker_sync(srv->bk);
    release_synced(srv);
    run_fetches(srv, true);
    c->dead = true;
    sweep_dead(srv);
    return 0;
}

void server_destroy(struct server *srv)
{
    if (!srv)
        return;
    for (struct conn *c = srv->conns; c; c = c->next)
        c->dead = true;
    sweep_dead(srv);
    free(srv->fetches);
    close(srv->lfd);
    close(srv->epfd);
    free(srv);
}
