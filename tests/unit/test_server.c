/* The server alone, with a dispatch function of its own and connections fed through
 * socketpairs: framing (frames in pieces, many in one write), responses in request order
 * around a waiting one, the in-flight cap, deadlines and wakes, a frame at the size cap behind
 * handled input, bad frame sizes, waits freed when their connection closes, the idle and
 * partial-frame timeouts on a fake clock; streamed responses (the request pinned while gen reads
 * it, requests behind one answered after it, in order; freed when the connection closes). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/server.h"
#include "check.h"
#include "core/loop.h"

#define CAP 65536

static int64_t now = 1000000;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return now;
}

/* key 0: answered at once; key 1: waits until `open_gate` (deadline: body's i32, -1 none);
 * key 2: malformed (close). Responses carry the body length. */
static bool open_gate;
static int waits_freed, waits_expired;

static bool gate_try(void *ctx, struct kwriter *w, bool expired)
{
    (void)ctx;
    if (!open_gate && !expired)
        return false;
    waits_expired += expired && !open_gate;
    kw_i8(w, expired && !open_gate ? 'E' : 'W');
    return true;
}

static void gate_free(void *ctx)
{
    (void)ctx;
    waits_freed++;
}

/* key 3: a streamed answer of the body's i32 bytes: the rest of the request's body repeated,
 * read from the request itself while the answer is sent. */
struct stream_ctx {
    const uint8_t *pat;
    size_t npat, pos, left;
};
static int streams_freed;

static bool stream_gen(void *ctx, struct kwriter *w)
{
    struct stream_ctx *sc = ctx;
    size_t piece = sc->left < 1000 ? sc->left : 1000;
    for (size_t i = 0; i < piece; i++, sc->pos++)
        kw_i8(w, (int8_t)sc->pat[sc->pos % sc->npat]);
    sc->left -= piece;
    return true;
}

static void stream_free(void *ctx)
{
    free(ctx);
    streams_freed++;
}

static enum server_result dispatch(struct kreq *rq)
{
    int16_t key = kr_i16(&rq->r);
    kr_i16(&rq->r);
    int32_t corr = kr_i32(&rq->r);
    if (rq->r.err || key == 2)
        return SR_CLOSE;
    kw_i32(rq->w, corr);
    if (key == 1) {
        int32_t deadline = kr_i32(&rq->r);
        server_wait(rq, deadline < 0 ? -1 : now + deadline, gate_try, gate_free, NULL);
        return SR_DEFER;
    }
    if (key == 3) {
        struct stream_ctx *sc = calloc(1, sizeof(*sc));
        if (!sc)
            return SR_CLOSE;
        sc->left = (size_t)kr_i32(&rq->r);
        sc->npat = kr_remaining(&rq->r);
        sc->pat = rq->r.p;
        kw_i8(rq->w, 'S');
        server_stream(rq->w, sc->left, stream_gen, stream_free, sc, sizeof(*sc));
        return SR_DONE;
    }
    kw_i32(rq->w, (int32_t)kr_remaining(&rq->r));
    return SR_DONE;
}

/* Reads n bytes from fd, running the loop while they come. */
static size_t read_all(struct loop *l, int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    for (int idle = 0; got < n && idle < 50;) {
        ssize_t k = recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (k > 0) {
            got += (size_t)k;
            idle = 0;
        } else {
            idle++;
        }
        struct sl_err err;
        loop_run_once(l, 0, &err);
    }
    return got;
}

static size_t frame(uint8_t *out, int16_t key, int32_t corr, size_t extra)
{
    size_t size = 8 + extra;
    uint8_t *p = out;
    p[0] = (uint8_t)(size >> 24);
    p[1] = (uint8_t)(size >> 16);
    p[2] = (uint8_t)(size >> 8);
    p[3] = (uint8_t)size;
    p[4] = (uint8_t)(key >> 8);
    p[5] = (uint8_t)key;
    p[6] = p[7] = 0;
    p[8] = (uint8_t)(corr >> 24);
    p[9] = (uint8_t)(corr >> 16);
    p[10] = (uint8_t)(corr >> 8);
    p[11] = (uint8_t)corr;
    memset(p + 12, 0, extra);
    return 12 + extra;
}

static void pump(struct loop *l)
{
    struct sl_err err;
    for (int i = 0; i < 8; i++)
        loop_run_once(l, 0, &err);
}

/* Reads what the server sent; returns the correlation ids of whole responses. */
static int read_corrs(int fd, int32_t *corrs, int max, uint8_t *first_byte_after_corr)
{
    static uint8_t buf[1 << 20];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0)
        return n == 0 ? -1 : 0;
    int k = 0;
    size_t pos = 0;
    while (pos + 8 <= (size_t)n && k < max) {
        int32_t size = be32(buf + pos);
        corrs[k] = be32(buf + pos + 4);
        if (first_byte_after_corr && size > 4)
            first_byte_after_corr[k] = buf[pos + 8];
        k++;
        pos += 4 + (size_t)size;
    }
    return k;
}

static bool peer_closed(int fd)
{
    char b[4096];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n < 0)
            return errno == ECONNRESET;
    }
}

static int connect_pair(struct server *srv)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        return -1;
    server_add_conn(srv, sv[0], "pair");
    return sv[1];
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the broker does: a peer gone is a write error */
    struct loop *l;
    struct sl_err err;
    CHECK(loop_create(&l, &err) == 0);
    loop_set_clock(l, fake_clock, NULL);
    struct server_config cfg = {.host = "127.0.0.1",
                                .max_request_bytes = CAP,
                                .max_response_bytes = 1 << 20,
                                .max_connections = 100,
                                .idle_timeout_ms = 10000,
                                .partial_timeout_ms = 5000,
                                .max_conn_bytes = 1 << 24};
    struct server *srv;
    CHECK(server_create(l, &cfg, dispatch, NULL, &srv, &err) == 0);
    CHECK(server_port(srv) > 0);
    static uint8_t out[CAP * 3];
    int32_t corrs[512];

    /* a frame arriving a byte at a time */
    int fd = connect_pair(srv);
    size_t n = frame(out, 0, 7, 5);
    for (size_t i = 0; i < n; i++) {
        CHECK(write(fd, out + i, 1) == 1);
        pump(l);
    }
    CHECK_EQ_INT(read_corrs(fd, corrs, 512, NULL), 1);
    CHECK_EQ_INT(corrs[0], 7);

    /* 100 frames in one write: 100 answers, in order */
    size_t len = 0;
    for (int i = 0; i < 100; i++)
        len += frame(out + len, 0, 100 + i, 3);
    CHECK(write(fd, out, len) == (ssize_t)len);
    pump(l);
    int got = read_corrs(fd, corrs, 512, NULL);
    CHECK_EQ_INT(got, 100);
    bool in_order = true;
    for (int i = 0; i < got; i++)
        in_order = in_order && corrs[i] == 100 + i;
    CHECK(in_order);

    /* a waiting request holds back the answers behind it; beyond 64 in flight the server
     * stops reading; a wake lets everything through, in order (regression 001) */
    len = frame(out, 1, 1, 4);
    memset(out + 12, 0xff, 4); /* no deadline */
    for (int i = 0; i < 199; i++)
        len += frame(out + len, 0, 2 + i, 0);
    CHECK(write(fd, out, len) == (ssize_t)len);
    pump(l);
    CHECK_EQ_INT(read_corrs(fd, corrs, 512, NULL), 0);
    CHECK_EQ_INT(server_waiting(srv), 1);
    open_gate = true;
    server_wake(srv);
    pump(l);
    got = 0;
    for (int r = 0; r < 10 && got < 200; r++) {
        int k = read_corrs(fd, corrs + got, 512 - got, NULL);
        got += k > 0 ? k : 0;
        pump(l);
    }
    CHECK_EQ_INT(got, 200);
    in_order = true;
    for (int i = 0; i < got; i++)
        in_order = in_order && corrs[i] == 1 + i;
    CHECK(in_order);
    CHECK_EQ_INT(waits_freed, 1);
    open_gate = false;

    /* a deadline answers a wait that nothing wakes */
    len = frame(out, 1, 300, 4);
    memset(out + 12, 0, 4);
    out[15] = 100; /* 100 ms */
    CHECK(write(fd, out, len) == (ssize_t)len);
    pump(l);
    CHECK_EQ_INT(read_corrs(fd, corrs, 512, NULL), 0);
    now += 100;
    pump(l);
    uint8_t firsts[512];
    CHECK_EQ_INT(read_corrs(fd, corrs, 512, firsts), 1);
    CHECK_EQ_INT(corrs[0], 300);
    CHECK_EQ_INT(firsts[0], 'E');
    CHECK_EQ_INT(waits_expired, 1);
    CHECK_EQ_INT(waits_freed, 2);

    /* a frame at the size cap right behind a small handled one (regression 101) */
    len = frame(out, 0, 400, 0);
    len += frame(out + len, 0, 401, CAP - 8);
    size_t part = len - 1000;
    CHECK(write(fd, out, part) == (ssize_t)part);
    pump(l);
    for (size_t off = part; off < len;) {
        ssize_t w = write(fd, out + off, len - off);
        if (w > 0)
            off += (size_t)w;
        pump(l);
    }
    pump(l);
    got = read_corrs(fd, corrs, 512, NULL);
    CHECK_EQ_INT(got, 2);
    CHECK_EQ_INT(corrs[1], 401);
    CHECK(!peer_closed(fd));

    /* closing with a request waiting: the wait is freed */
    int fd2 = connect_pair(srv);
    len = frame(out, 1, 500, 4);
    memset(out + 12, 0xff, 4);
    CHECK(write(fd2, out, len) == (ssize_t)len);
    pump(l);
    CHECK_EQ_INT(server_waiting(srv), 1);
    close(fd2);
    pump(l);
    CHECK_EQ_INT(server_waiting(srv), 0);
    CHECK_EQ_INT(waits_freed, 3);

    /* bad frames close the connection: too small, too large, malformed */
    int bad[3];
    for (int i = 0; i < 3; i++)
        bad[i] = connect_pair(srv);
    uint8_t small[4] = {0, 0, 0, 7};
    uint8_t huge[4] = {0, 0x10, 0, 0};
    CHECK(write(bad[0], small, 4) == 4);
    CHECK(write(bad[1], huge, 4) == 4);
    len = frame(out, 2, 1, 0);
    CHECK(write(bad[2], out, len) == (ssize_t)len);
    pump(l);
    for (int i = 0; i < 3; i++) {
        CHECK(peer_closed(bad[i]));
        close(bad[i]);
    }

    /* a streamed answer (larger than the socket takes at once) with requests pipelined behind
     * it: the stream reads its request while it is sent, the rest follow in order */
    {
        int sfd = connect_pair(srv);
        const size_t total = 300000, npat = 7;
        len = frame(out, 3, 600, 4 + npat);
        out[12] = (uint8_t)(total >> 24);
        out[13] = (uint8_t)(total >> 16);
        out[14] = (uint8_t)(total >> 8);
        out[15] = (uint8_t)total;
        for (size_t i = 0; i < npat; i++)
            out[16 + i] = (uint8_t)('a' + i);
        for (int i = 0; i < 5; i++)
            len += frame(out + len, 0, 601 + i, 2);
        CHECK(write(sfd, out, len) == (ssize_t)len);
        pump(l);
        CHECK_EQ_INT(server_streaming(srv), 1);
        static uint8_t in[400000];
        size_t want = 4 + 4 + 1 + total + 5 * 12;
        CHECK_EQ_INT(read_all(l, sfd, in, want), want);
        CHECK_EQ_INT(be32(in), 4 + 1 + total);
        CHECK_EQ_INT(be32(in + 4), 600);
        CHECK_EQ_INT(in[8], 'S');
        bool same = true;
        for (size_t i = 0; i < total; i++)
            same = same && in[9 + i] == 'a' + i % npat;
        CHECK(same);
        bool order = true;
        for (int i = 0; i < 5; i++)
            order = order && be32(in + 9 + total + 12 * (size_t)i + 4) == 601 + i &&
                    be32(in + 9 + total + 12 * (size_t)i + 8) == 2;
        CHECK(order);
        CHECK_EQ_INT(streams_freed, 1);
        CHECK_EQ_INT(server_streaming(srv), 0);

        /* the client goes away in the middle of a stream: it is freed */
        len = frame(out, 3, 700, 4 + npat);
        memcpy(out + 12, (uint8_t[]){0, 0x0f, 0, 0}, 4); /* 983040 bytes */
        CHECK(write(sfd, out, len) == (ssize_t)len);
        pump(l);
        CHECK_EQ_INT(read_all(l, sfd, in, 100000), 100000);
        CHECK_EQ_INT(server_streaming(srv), 1);
        close(sfd);
        for (int i = 0; i < 4; i++)
            pump(l);
        CHECK_EQ_INT(server_streaming(srv), 0);
        CHECK_EQ_INT(streams_freed, 2);

        /* a stream over the response limit closes the connection, freed too */
        sfd = connect_pair(srv);
        len = frame(out, 3, 800, 4 + npat);
        memcpy(out + 12, (uint8_t[]){0, 0x20, 0, 0}, 4); /* 2 MiB > 1 MiB */
        CHECK(write(sfd, out, len) == (ssize_t)len);
        pump(l);
        CHECK(peer_closed(sfd));
        CHECK_EQ_INT(streams_freed, 3);
        close(sfd);
        pump(l);
    }

    /* timeouts on the fake clock: a half-sent frame, then an idle connection */
    int half = connect_pair(srv);
    len = frame(out, 0, 1, 10);
    CHECK(write(half, out, 6) == 6);
    pump(l);
    CHECK_EQ_INT(server_connections(srv), 2);
    now += 5001;
    pump(l);
    now += 1000; /* the reaper's next round */
    pump(l);
    CHECK(peer_closed(half));
    CHECK(!peer_closed(fd)); /* fd was busy 6 s ago: not idle yet */
    now += 10001;
    pump(l);
    now += 1000;
    pump(l);
    CHECK(peer_closed(fd));
    CHECK_EQ_INT(server_connections(srv), 0);
    close(half);
    close(fd);

    server_destroy(srv);
    loop_destroy(l);
    return check_summary();
}
