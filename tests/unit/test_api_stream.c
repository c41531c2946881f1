/* api_stream on its own, through a server fed by a socketpair: a request's two-level array
 * (groups of i32 values) answered element by element with answers of varying sizes (larger than
 * the request) and a snapshot that the first pass fills and the answer reads back, even after
 * the "state" it copied changed. A small request is answered whole, a large one streamed; both
 * must be exactly the answer computed here, and the snapshot must hold each distinct key once. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/api_stream.h"
#include "check.h"
#include "core/loop.h"

/* The "broker state": a value per key 0..15, changed after each request's first pass. */
static int32_t state[16];
static size_t last_nused;

/* A group's head: its i32 id, then the count of its values; answered as id, count. */
static void group_head(struct astream *s, struct kreader *r, struct kwriter *w)
{
    int32_t id = kr_i32(r);
    int32_t n = kr_array(r, false);
    if (n < 0)
        r->err = true;
    if (r->err)
        return;
    kw_i32(w, id);
    kw_i32(w, n);
    s->inner_n = n;
}

/* A value v: answered as (v % 7) + 1 bytes of v, then the state of key v % 16 as the first
 * pass saw it (saved once per key). */
static void value(struct astream *s, struct kreader *r, struct kwriter *w)
{
    int32_t v = kr_i32(r);
    if (r->err)
        return;
    for (int i = 0; i <= v % 7; i++)
        kw_i8(w, (int8_t)v);
    uint8_t key = (uint8_t)(v % 16);
    size_t len = 0;
    uint8_t *saved = astream_get(s, &key, 1, &len);
    if (!saved && s->sizing)
        saved = astream_put(s, &key, 1, &state[key], sizeof(int32_t));
    int32_t st = -1;
    if (saved)
        memcpy(&st, saved, sizeof(st));
    kw_i32(w, st);
}

static void group_end(struct astream *s, struct kreader *r, struct kwriter *w)
{
    (void)s;
    (void)r;
    kw_i8(w, 'E');
}

static void tail(struct astream *s, struct kreader *r, struct kwriter *w)
{
    (void)s;
    (void)r;
    kw_i8(w, 'T');
}

static const struct astream_def def = {
    .outer = group_head, .inner = value, .outer_end = group_end, .tail = tail};

static enum server_result dispatch(struct kreq *rq)
{
    kr_i16(&rq->r);
    kr_i16(&rq->r);
    int32_t corr = kr_i32(&rq->r);
    kw_i32(rq->w, corr);
    int32_t n = kr_array(&rq->r, false);
    if (rq->r.err || n < 0)
        return SR_CLOSE;
    struct astream *s = astream_start(NULL, 0, false, &rq->r, rq->w->b.max, &def, n, NULL);
    if (!s)
        return SR_CLOSE;
    last_nused = s->nused;
    for (int i = 0; i < 16; i++)
        state[i] += 1000; /* changes after the first pass: the answer must not see it */
    return astream_send(rq->w, s) ? SR_DONE : SR_CLOSE;
}

static uint8_t req[1 << 20], want[4 << 20], got[4 << 20]; /* requests stay under 1 MiB */

static void put32(uint8_t *p, int32_t v)
{
    put_be32(p, v);
}

/* A request of ngroups groups of per values each (value j of group g: g * 31 + j); the answer
 * it must get goes to want. Returns the request's length. */
static size_t build(int32_t corr, int ngroups, int per, size_t *wantlen)
{
    size_t q = 4, a = 4;
    put32(req + q, 0); /* key, version */
    put32(req + q + 4, corr);
    put32(req + q + 8, ngroups);
    q += 12;
    put32(want + a, corr);
    a += 4;
    for (int g = 0; g < ngroups; g++) {
        put32(req + q, g);
        put32(req + q + 4, per);
        q += 8;
        put32(want + a, g);
        put32(want + a + 4, per);
        a += 8;
        for (int j = 0; j < per; j++) {
            int32_t v = g * 31 + j;
            put32(req + q, v);
            q += 4;
            for (int i = 0; i <= v % 7; i++)
                want[a++] = (uint8_t)v;
            put32(want + a, state[v % 16]);
            a += 4;
        }
        want[a++] = 'E';
    }
    want[a++] = 'T';
    put32(req, (int32_t)(q - 4));
    put32(want, (int32_t)(a - 4));
    *wantlen = a;
    return q;
}

static size_t read_all(struct loop *l, int fd, uint8_t *buf, size_t n)
{
    size_t have = 0;
    for (int idle = 0; have < n && idle < 100;) {
        ssize_t k = recv(fd, buf + have, n - have, MSG_DONTWAIT);
        if (k > 0) {
            have += (size_t)k;
            idle = 0;
        } else {
            idle++;
        }
        struct sl_err err;
        loop_run_once(l, 0, &err);
    }
    return have;
}

static void roundtrip(struct loop *l, struct server *srv, int fd, int32_t corr, int ngroups,
                      int per, size_t keys, bool streamed)
{
    size_t wantlen;
    size_t len = build(corr, ngroups, per, &wantlen);
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(fd, req + off, len - off);
        if (k > 0)
            off += (size_t)k;
        struct sl_err err;
        loop_run_once(l, 0, &err);
    }
    /* a large answer is still being streamed: the socket holds far less */
    CHECK_EQ_INT(server_streaming(srv), streamed ? 1 : 0);
    size_t have = read_all(l, fd, got, wantlen);
    CHECK_EQ_INT(have, wantlen);
    CHECK(memcmp(got, want, wantlen) == 0);
    CHECK_EQ_INT(last_nused, keys); /* each distinct key once, however often it came */
    CHECK_EQ_INT(server_streaming(srv), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct loop *l;
    struct sl_err err;
    CHECK(loop_create(&l, &err) == 0);
    struct server_config cfg = {.host = "127.0.0.1",
                                .max_request_bytes = 1 << 20,
                                .max_response_bytes = 4 << 20,
                                .max_connections = 10,
                                .max_conn_bytes = 1 << 24};
    struct server *srv;
    CHECK(server_create(l, &cfg, dispatch, NULL, &srv, &err) == 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(server_add_conn(srv, sv[0], "pair") == 0);

    /* small: written whole (under 64 KiB); large: streamed (about 2.7 MB from 800 KB) */
    roundtrip(l, srv, sv[1], 1, 4, 50, 16, false);
    roundtrip(l, srv, sv[1], 2, 200, 1000, 16, true);
    /* a group with no values, a group with 3, and two long groups */
    roundtrip(l, srv, sv[1], 3, 1, 0, 0, false);
    roundtrip(l, srv, sv[1], 4, 1, 3, 3, false);
    roundtrip(l, srv, sv[1], 5, 2, 120000, 16, true);

    /* a malformed request (a group's count larger than what follows) closes the connection */
    size_t wantlen;
    size_t len = build(6, 3, 10, &wantlen);
    put32(req + 4 + 12 + 4, 1000000);
    CHECK(write(sv[1], req, len) == (ssize_t)len);
    for (int i = 0; i < 8; i++)
        loop_run_once(l, 0, &err);
    char b;
    CHECK(recv(sv[1], &b, 1, MSG_DONTWAIT) == 0);
    close(sv[1]);

    server_destroy(srv);
    loop_destroy(l);
    return check_summary();
}
