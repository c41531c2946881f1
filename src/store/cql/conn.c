/* A CQL connection (see conn.h): non-blocking socket, optional TLS, the v4 handshake, and
 * requests multiplexed on stream ids. A request whose deadline passes is completed as failed;
 * its stream id stays reserved (orphaned) until the late response arrives, so a late answer is
 * never taken for another request's. */
#include "store/cql/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/units.h"

#define CQL_CONN_MAX_POLL 256
#define CQL_READ_CHUNK 65536

struct cql_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char name[128];
    struct buf out; /* frames queued to send */
    size_t out_off; /* bytes of out already sent */
    uint8_t *in;    /* bytes received, not yet a whole frame */
    size_t in_len, in_cap;
    size_t max_frame;
    struct cql_req **slots; /* by stream id; &orphan for a request given up on */
    int16_t *free_ids;
    int nfree, window;
    bool broken;
    char why[256];
    int64_t next_expiry_ms;
};

static struct cql_req orphan;

bool cql_conn_ok(const struct cql_conn *c)
{
    return c && !c->broken;
}

const char *cql_conn_why(const struct cql_conn *c)
{
    return c ? c->why : "no connection";
}

const char *cql_conn_name(const struct cql_conn *c)
{
    return c ? c->name : "?";
}

int cql_conn_room(const struct cql_conn *c)
{
    return c && !c->broken ? c->nfree : 0;
}

void cql_req_clear(struct cql_req *req)
{
    free(req->body);
    memset(req, 0, sizeof(*req));
}

static void req_fail(struct cql_req *req, const char *why)
{
    req->done = true;
    req->failed = true;
    snprintf(req->why, sizeof(req->why), "%.199s", why);
}

/* Marks c broken and fails every pending request. */
static void conn_break(struct cql_conn *c, const char *fmt, const char *detail)
{
    if (!c->broken) {
        c->broken = true;
        snprintf(c->why, sizeof(c->why), fmt, detail);
    }
    char msg[400];
    snprintf(msg, sizeof(msg), "%.127s: %.255s", c->name, c->why);
    for (int i = 0; i < c->window; i++) {
        struct cql_req *r = c->slots[i];
        if (r && r != &orphan)
            req_fail(r, msg);
        c->slots[i] = NULL;
    }
    c->nfree = 0; /* nothing more goes out on it */
}

struct buf *cql_conn_begin(struct cql_conn *c, struct cql_req *req)
{
    if (!c || c->broken || c->nfree == 0)
        return NULL;
    int16_t id = c->free_ids[--c->nfree];
    c->slots[id] = req;
    free(req->body);
    req->body = NULL;
    req->len = 0;
    req->stream = id;
    req->done = req->failed = false;
    req->why[0] = '\0';
    return &c->out;
}

void cql_conn_commit(struct cql_conn *c, struct cql_req *req)
{
    (void)c, (void)req; /* the frame is in c->out; poll sends it */
}

void cql_conn_cancel(struct cql_conn *c, struct cql_req *req)
{
    if (!c || c->broken || req->stream < 0 || req->stream >= c->window)
        return;
    if (c->slots[req->stream] == req) {
        c->slots[req->stream] = NULL;
        c->free_ids[c->nfree++] = req->stream;
    }
}

/* ---- byte I/O (plain or TLS): n > 0 bytes, 0 would block, -1 failed (c broken) ----------- */

static ssize_t io_read(struct cql_conn *c, void *p, size_t n)
{
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        conn_break(c, "TLS read failed: %s",
                   e == SSL_ERROR_ZERO_RETURN ? "closed by the server"
                   : ERR_reason_error_string(ERR_peek_error())
                       ? ERR_reason_error_string(ERR_peek_error())
                       : "connection lost");
        return -1;
    }
    ssize_t r = recv(c->fd, p, n, 0);
    if (r > 0)
        return r;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    conn_break(c, "%s", r == 0 ? "connection closed by the server" : strerror(errno));
    return -1;
}

static ssize_t io_write(struct cql_conn *c, const void *p, size_t n)
{
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        conn_break(c, "TLS write failed%s", "");
        return -1;
    }
    ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    conn_break(c, "%s", strerror(errno));
    return -1;
}

static void flush_out(struct cql_conn *c)
{
    while (!c->broken && c->out_off < c->out.len) {
        ssize_t w = io_write(c, c->out.data + c->out_off, c->out.len - c->out_off);
        if (w <= 0)
            break;
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out.len) {
        buf_reset(&c->out);
        c->out_off = 0;
    } else if (c->out_off > (1u << 20)) {
        buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
}

/* Hands every whole frame in c->in to its request. */
static void take_frames(struct cql_conn *c)
{
    size_t pos = 0;
    while (!c->broken) {
        struct cql_header h;
        char why[160];
        int rc =
            cql_header_decode(c->in + pos, c->in_len - pos, c->max_frame, &h, why, sizeof(why));
        if (rc == 1)
            break;
        if (rc < 0) {
            conn_break(c, "bad frame from the server: %s", why);
            return;
        }
        if (c->in_len - pos - CQL_HEADER_LEN < h.length)
            break;
        const uint8_t *body = c->in + pos + CQL_HEADER_LEN;
        pos += CQL_HEADER_LEN + h.length;
        if (h.stream < 0)
            continue; /* an event: sluice registers for none */
        if (h.stream >= c->window || !c->slots[h.stream]) {
            conn_break(c, "response on stream %s, which has no request", "?");
            return;
        }
        struct cql_req *r = c->slots[h.stream];
        c->slots[h.stream] = NULL;
        c->free_ids[c->nfree++] = h.stream;
        if (r == &orphan)
            continue;
        r->h = h;
        r->body = malloc(h.length ? h.length : 1);
        if (!r->body) {
            req_fail(r, "out of memory");
            continue;
        }
        memcpy(r->body, body, h.length);
        r->len = h.length;
        r->done = true;
    }
    if (pos > 0) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
}

static void read_in(struct cql_conn *c)
{
    for (int rounds = 0; rounds < 64 && !c->broken; rounds++) {
        /* Room for the frame being read (bounded by max_frame), at least a chunk. */
        size_t want = c->in_len + CQL_READ_CHUNK;
        if (want > c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 2 * CQL_READ_CHUNK;
            while (cap < want)
                cap *= 2;
            if (cap > c->max_frame + CQL_HEADER_LEN + CQL_READ_CHUNK)
                cap = c->max_frame + CQL_HEADER_LEN + CQL_READ_CHUNK;
            if (cap < want) {
                conn_break(c, "%s", "response larger than the frame limit");
                return;
            }
            uint8_t *p = realloc(c->in, cap);
            if (!p) {
                conn_break(c, "%s", "out of memory");
                return;
            }
            c->in = p;
            c->in_cap = cap;
        }
        ssize_t r = io_read(c, c->in + c->in_len, c->in_cap - c->in_len);
        if (r <= 0)
            break;
        c->in_len += (size_t)r;
        take_frames(c);
    }
}

static void expire(struct cql_conn *c, int64_t now)
{
    if (now < c->next_expiry_ms)
        return;
    c->next_expiry_ms = now + 50;
    for (int i = 0; i < c->window; i++) {
        struct cql_req *r = c->slots[i];
        if (r && r != &orphan && r->deadline_ms > 0 && now >= r->deadline_ms) {
            char msg[400];
            snprintf(msg, sizeof(msg), "%.127s: no response in time", c->name);
            req_fail(r, msg);
            c->slots[i] = &orphan;
        }
    }
}

void cql_conn_poll(struct cql_conn **cs, int n, int timeout_ms)
{
    struct pollfd pfd[CQL_CONN_MAX_POLL];
    int map[CQL_CONN_MAX_POLL];
    int np = 0;
    for (int i = 0; i < n && np < CQL_CONN_MAX_POLL; i++) {
        struct cql_conn *c = cs[i];
        if (!c || c->broken)
            continue;
        flush_out(c);
        if (c->broken)
            continue;
        if (c->ssl && SSL_pending(c->ssl) > 0)
            timeout_ms = 0;
        pfd[np].fd = c->fd;
        pfd[np].events = POLLIN | (c->out.len > c->out_off ? POLLOUT : 0);
        pfd[np].revents = 0;
        map[np++] = i;
    }
    int rc = np > 0 ? poll(pfd, (nfds_t)np, timeout_ms) : 0;
    if (np == 0 && timeout_ms > 0) {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int k = 0; k < np && rc >= 0; k++) {
        struct cql_conn *c = cs[map[k]];
        if (pfd[k].revents & (POLLIN | POLLERR | POLLHUP) || (c->ssl && SSL_pending(c->ssl) > 0))
            read_in(c);
        if (!c->broken && (pfd[k].revents & POLLOUT))
            flush_out(c);
    }
    int64_t now = mono_ms();
    for (int i = 0; i < n; i++) {
        if (cs[i] && !cs[i]->broken)
            expire(cs[i], now);
    }
}

void cql_conn_wait(struct cql_conn **cs, int n, struct cql_req *req, int64_t deadline_ms)
{
    while (!req->done) {
        int64_t left = deadline_ms - mono_ms();
        if (left <= 0) {
            req_fail(req, "no response in time");
            /* The stream is orphaned by whichever connection holds it. */
            for (int i = 0; i < n; i++) {
                struct cql_conn *c = cs[i];
                if (c && !c->broken && req->stream >= 0 && req->stream < c->window &&
                    c->slots[req->stream] == req)
                    c->slots[req->stream] = &orphan;
            }
            return;
        }
        cql_conn_poll(cs, n, left < 100 ? (int)left : 100);
    }
}

/* ---- connecting and the handshake -------------------------------------------------------- */

static int tcp_connect(const char *host, int port, int64_t deadline, char *why, size_t cap)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &res);
    if (gai != 0) {
        snprintf(why, cap, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    snprintf(why, cap, "no address");
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int64_t left = deadline - mono_ms();
            rc = -1;
            if (left > 0 && poll(&p, 1, (int)left) == 1) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr == 0)
                    rc = 0;
                else
                    errno = soerr;
            } else {
                errno = ETIMEDOUT;
            }
        }
        if (rc == 0)
            break;
        snprintf(why, cap, "%s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

static int tls_start(struct cql_conn *c, const char *host, const struct cql_conn_opts *o,
                     int64_t deadline, struct sl_err *err)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        return sl_err_set(err, "%s: cannot create a TLS context", c->name);
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    if (o->tls_verify) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        if (o->tls_ca ? SSL_CTX_load_verify_locations(c->ctx, o->tls_ca, NULL) != 1
                      : SSL_CTX_set_default_verify_paths(c->ctx) != 1)
            return sl_err_set(err, "%s: cannot load CA certificates%s%s", c->name,
                              o->tls_ca ? " from " : "", o->tls_ca ? o->tls_ca : "");
    }
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl)
        return sl_err_set(err, "%s: cannot create a TLS session", c->name);
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* An address literal is checked against the certificate's IP entries and gets no SNI. */
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (!is_ip)
        SSL_set_tlsext_host_name(c->ssl, host);
    if (o->tls_verify) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(vp, host);
        else
            X509_VERIFY_PARAM_set1_host(vp, host, 0);
    }
    SSL_set_fd(c->ssl, c->fd);
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(c->ssl, r);
        int64_t left = deadline - mono_ms();
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || left <= 0) {
            unsigned long le = ERR_peek_error();
            long vr = SSL_get_verify_result(c->ssl);
            return sl_err_set(err, "%s: TLS handshake failed: %s%s%s", c->name,
                              left <= 0 ? "timed out"
                              : le      ? ERR_reason_error_string(le)
                                        : "connection closed",
                              vr != X509_V_OK ? "; certificate: " : "",
                              vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
        }
        struct pollfd p = {c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, 0};
        poll(&p, 1, left > 1000 ? 1000 : (int)left);
    }
}

/* Sends one handshake request built by enc and waits for its response, decoded into r. */
static int handshake_step(struct cql_conn *c, struct cql_req *req, struct cql_resp *r,
                          int64_t deadline, struct sl_err *err)
{
    cql_conn_wait(&c, 1, req, deadline);
    if (req->failed)
        return sl_err_set(err, "%s: %s", c->name, c->broken ? c->why : req->why);
    char why[200];
    if (cql_resp_decode(&req->h, req->body, req->len, r, why, sizeof(why)) != 0)
        return sl_err_set(err, "%s: bad handshake response: %s", c->name, why);
    return 0;
}

static int handshake(struct cql_conn *c, const struct cql_conn_opts *o, int64_t deadline,
                     struct sl_err *err)
{
    struct cql_req req = {0};
    struct cql_resp r;
    int ret = -1;
    struct buf *w = cql_conn_begin(c, &req);
    if (!w || cql_enc_startup(w, req.stream, NULL) != 0) {
        sl_err_set(err, "%s: cannot encode STARTUP", c->name);
        goto out;
    }
    if (handshake_step(c, &req, &r, deadline, err) != 0)
        goto out_free;
    if (r.opcode == CQL_OP_READY) {
        ret = 0;
        goto out_free;
    }
    if (r.opcode == CQL_OP_ERROR) {
        sl_err_set(err, "%s: STARTUP refused: %s: %.*s", c->name, cql_error_name(r.err_code),
                   (int)r.err_msg.len, r.err_msg.p);
        goto out_free;
    }
    if (r.opcode != CQL_OP_AUTHENTICATE) {
        sl_err_set(err, "%s: unexpected answer 0x%02x to STARTUP", c->name, r.opcode);
        goto out_free;
    }
    char auth[200];
    snprintf(auth, sizeof(auth), "%.*s", (int)r.authenticator.len, r.authenticator.p);
    cql_resp_free(&r);
    if (!o->user || !o->password) {
        sl_err_set(err,
                   "%s: Cassandra requires a login (authenticator %s): give "
                   "cassandra://USER:PASS@HOST/... or USER@ with SLUICE_CASSANDRA_PASSWORD",
                   c->name, auth);
        goto out;
    }
    /* SASL PLAIN: "\0user\0password". */
    size_t ul = strlen(o->user), pl = strlen(o->password);
    if (ul > 4096 || pl > 4096) {
        sl_err_set(err, "%s: user name or password too long", c->name);
        goto out;
    }
    char token[8194];
    token[0] = '\0';
    memcpy(token + 1, o->user, ul);
    token[1 + ul] = '\0';
    memcpy(token + 2 + ul, o->password, pl);
    w = cql_conn_begin(c, &req);
    int erc = w ? cql_enc_auth_response(w, req.stream, token, 2 + ul + pl) : -1;
    memset(token, 0, sizeof(token));
    if (erc != 0) {
        sl_err_set(err, "%s: cannot encode AUTH_RESPONSE", c->name);
        goto out;
    }
    if (handshake_step(c, &req, &r, deadline, err) != 0)
        goto out_free;
    if (r.opcode == CQL_OP_AUTH_SUCCESS)
        ret = 0;
    else if (r.opcode == CQL_OP_ERROR)
        sl_err_set(err, "%s: login as '%s' refused (%s, PasswordAuthenticator): %.*s", c->name,
                   o->user, cql_error_name(r.err_code), (int)r.err_msg.len, r.err_msg.p);
    else
        sl_err_set(err, "%s: unexpected answer 0x%02x to AUTH_RESPONSE (authenticator %s)", c->name,
                   r.opcode, auth);
out_free:
    cql_resp_free(&r);
out:
    cql_req_clear(&req);
    return ret;
}

int cql_conn_open(struct cql_conn **out, const char *host, int port, const struct cql_conn_opts *o,
                  struct sl_err *err)
{
    *out = NULL;
    int window = o->window > 0 && o->window <= CQL_MAX_STREAMS ? o->window : 1024;
    struct cql_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return sl_err_set(err, "out of memory");
    c->fd = -1;
    snprintf(c->name, sizeof(c->name), "%.100s:%d", host, port);
    c->max_frame = o->max_frame ? o->max_frame : (64u << 20);
    c->window = window;
    buf_init(&c->out, (size_t)1 << 30);
    c->slots = calloc((size_t)window, sizeof(*c->slots));
    c->free_ids = calloc((size_t)window, sizeof(*c->free_ids));
    if (!c->slots || !c->free_ids) {
        cql_conn_close(c);
        return sl_err_set(err, "out of memory");
    }
    for (int i = 0; i < window; i++)
        c->free_ids[i] = (int16_t)(window - 1 - i); /* low ids first */
    c->nfree = window;
    int64_t deadline = mono_ms() + (o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000);
    char why[200];
    c->fd = tcp_connect(host, port, deadline, why, sizeof(why));
    if (c->fd < 0) {
        sl_err_set(err, "cannot connect to %s: %s", c->name, why);
        cql_conn_close(c);
        return CQL_CONN_UNREACHABLE;
    }
    if ((o->tls && tls_start(c, host, o, deadline, err) != 0) ||
        handshake(c, o, deadline, err) != 0) {
        cql_conn_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

void cql_conn_close(struct cql_conn *c)
{
    if (!c)
        return;
    if (c->slots)
        conn_break(c, "%s", "connection closed");
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    buf_free(&c->out);
    free(c->in);
    free(c->slots);
    free(c->free_ids);
    free(c);
}
