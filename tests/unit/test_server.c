/* The server alone, with a dispatch function of its own and connections fed through
 * socketpairs: framing (frames in pieces, many in one write), responses in request order
 * around a waiting one, the in-flight cap, deadlines and wakes, a frame at the size cap behind
 * handled input, bad frame sizes, waits freed when their connection closes, the idle and
 * partial-frame timeouts on a fake clock. */
#include <errno.h>
#include <fcntl.h>
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
    kw_i32(rq->w, (int32_t)kr_remaining(&rq->r));
    return SR_DONE;
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
