/* The CQL v4 codec against byte-exact frames written from doc/native_protocol_v4.spec:
 * request encodings, every response type decoded, every truncation of a response refused,
 * oversized and foreign frames refused, Murmur3 tokens as Cassandra computes them; and the
 * connection + cluster layers against a scripted fake node on loopback (handshake with
 * PasswordAuthenticator, many requests in flight, retry after Overloaded, re-prepare after
 * UNPREPARED, a wrong password reported with the server's message). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "store/cql/cluster.h"
#include "store/cql/codec.h"

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Bytes from a hex string with spaces ignored; returns the length. */
static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    while (*h) {
        if (*h == ' ') {
            h++;
            continue;
        }
        out[n++] = (uint8_t)(hexval(h[0]) << 4 | hexval(h[1]));
        h += 2;
    }
    return n;
}

static bool bytes_eq(const struct buf *b, const char *hex)
{
    uint8_t want[1024];
    size_t n = unhex(hex, want);
    if (b->len != n || memcmp(b->data, want, n) != 0) {
        fprintf(stderr, "got: ");
        for (size_t i = 0; i < b->len; i++)
            fprintf(stderr, "%02x", b->data[i]);
        fprintf(stderr, "\n");
        return false;
    }
    return true;
}

static void test_encode(void)
{
    struct buf w;
    buf_init(&w, 1 << 20);
    /* STARTUP {CQL_VERSION: 3.0.0} on stream 1: body 2 + (2+11) + (2+5) = 22 bytes. */
    CHECK(cql_enc_startup(&w, 1, NULL) == 0);
    CHECK(bytes_eq(&w, "04 00 0001 01 00000016 0001 000b 43514c5f56455253494f4e 0005 332e302e30"));
    buf_reset(&w);
    /* QUERY "SELECT 1" at ONE, no flags. */
    CHECK(cql_enc_query(&w, 2, "SELECT 1", CQL_ONE, NULL, 0, 0, NULL, -1, -1) == 0);
    CHECK(bytes_eq(&w, "04 00 0002 07 0000000f 00000008 53454c4543542031 0001 00"));
    buf_reset(&w);
    /* QUERY with one value, page size 100, serial LOCAL_SERIAL. */
    struct cql_value v1 = {"ab", 2};
    CHECK(cql_enc_query(&w, 3, "Q", CQL_QUORUM, &v1, 1, 100, NULL, CQL_LOCAL_SERIAL, -1) == 0);
    CHECK(bytes_eq(&w, "04 00 0003 07 00000016 00000001 51 0004 15 0001 00000002 6162 00000064 "
                       "0009"));
    buf_reset(&w);
    /* EXECUTE id abcd, LOCAL_QUORUM, values "x" and null. */
    struct cql_str id = {"\xab\xcd", 2};
    struct cql_value v2[2] = {{"x", 1}, {NULL, CQL_NULL}};
    CHECK(cql_enc_execute(&w, 0x1234, &id, CQL_LOCAL_QUORUM, v2, 2, -1) == 0);
    CHECK(bytes_eq(&w, "04 00 1234 0a 00000012 0002 abcd 0006 01 0002 00000001 78 ffffffff"));
    buf_reset(&w);
    /* AUTH_RESPONSE "\0u\0p". */
    CHECK(cql_enc_auth_response(&w, 5, "\0u\0p", 4) == 0);
    CHECK(bytes_eq(&w, "04 00 0005 0f 00000008 00000004 00750070"));
    buf_reset(&w);
    /* BATCH unlogged of two executions of id abcd with one value each, at ONE. */
    struct cql_value v3[2] = {{"a", 1}, {"b", 1}};
    CHECK(cql_enc_batch(&w, 6, 1, &id, v3, 1, 2, CQL_ONE) == 0);
    CHECK(bytes_eq(&w, "04 00 0006 0d 0000001e 01 0002 01 0002abcd 0001 00000001 61 01 0002abcd "
                       "0001 00000001 62 0001 00"));
    buf_reset(&w);
    CHECK(cql_enc_prepare(&w, 7, "SELECT") == 0);
    CHECK(bytes_eq(&w, "04 00 0007 09 0000000a 00000006 53454c454354"));
    buf_reset(&w);
    CHECK(cql_enc_options(&w, 8) == 0);
    CHECK(bytes_eq(&w, "04 00 0008 05 00000000"));
    /* A frame that does not fit the buffer's bound fails and leaves nothing behind. */
    struct buf small;
    buf_init(&small, 12);
    CHECK(cql_enc_query(&small, 1, "SELECT * FROM x", CQL_ONE, NULL, 0, 0, NULL, -1, -1) == -1);
    CHECK_EQ_INT(small.len, 0);
    buf_free(&small);
    buf_free(&w);
}

/* Bytes of a frame given as hex, with the header's length set to the body's (so test frames
 * need not count). */
static size_t frame_hex(const char *hex, uint8_t *f)
{
    size_t n = unhex(hex, f);
    uint32_t len = (uint32_t)(n - CQL_HEADER_LEN);
    f[5] = (uint8_t)(len >> 24), f[6] = (uint8_t)(len >> 16), f[7] = (uint8_t)(len >> 8);
    f[8] = (uint8_t)len;
    return n;
}

/* Decodes header+body given as hex; returns the decode result. */
static int decode_hex(const char *hex, struct cql_resp *r)
{
    static uint8_t f[4096];
    size_t n = frame_hex(hex, f);
    struct cql_header h;
    char why[200];
    memset(r, 0, sizeof(*r));
    if (cql_header_decode(f, n, 1 << 20, &h, why, sizeof(why)) != 0)
        return -2;
    if (n - CQL_HEADER_LEN != h.length)
        return -3;
    return cql_resp_decode(&h, f + CQL_HEADER_LEN, h.length, r, why, sizeof(why));
}

/* Every strict prefix of the body must be refused (and must not crash). */
static int prefixes_refused(const char *hex)
{
    static uint8_t f[4096];
    size_t n = frame_hex(hex, f);
    struct cql_header h;
    char why[200];
    if (cql_header_decode(f, n, 1 << 20, &h, why, sizeof(why)) != 0)
        return 0;
    int refused = 0;
    for (size_t k = 0; k < h.length; k++) {
        struct cql_resp r;
        uint8_t *copy = malloc(k ? k : 1); /* exact size: ASan sees any overread */
        memcpy(copy, f + CQL_HEADER_LEN, k);
        if (cql_resp_decode(&h, copy, k, &r, why, sizeof(why)) != 0)
            refused++;
        cql_resp_free(&r);
        free(copy);
    }
    return refused == (int)h.length;
}

#define ROWS_FRAME                                                                                 \
    "84 00 0001 08 00000040 00000002 00000001 00000002 0002 6b73 0001 74 0002 6964 000c 0001 6e "  \
    "0002 00000001 00000010 f47ac10b58cc4372a5670e02b2c3d479 00000008 000000000000002a"

#define PREPARED_FRAME                                                                             \
    "84 00 0002 08 00000029 00000004 0002 abcd 00000001 00000002 00000001 0000 0002 6b73 0001 74 " \
    "0002 6964 000c 0001 76 000d 00000004 00000000"

static void test_decode(void)
{
    struct cql_resp r;
    CHECK(decode_hex("84 00 0001 02 00000000", &r) == 0 && r.opcode == CQL_OP_READY);
    cql_resp_free(&r);
    /* AUTHENTICATE with the authenticator's class. */
    CHECK(decode_hex("84 00 0001 03 00000007 0005 4175746821", &r) == 0);
    CHECK(r.opcode == CQL_OP_AUTHENTICATE && r.authenticator.len == 5 &&
          memcmp(r.authenticator.p, "Auth!", 5) == 0);
    cql_resp_free(&r);
    /* AUTH_SUCCESS with a null token; SUPPORTED with one option. */
    CHECK(decode_hex("84 00 0001 10 00000004 ffffffff", &r) == 0 && r.token.len == -1);
    CHECK(decode_hex("84 00 0001 06 0000000b 0001 0001 43 0001 0002 3334", &r) == 0 &&
          r.nsupported == 1);
    /* ERROR Unavailable: cl, required, alive. */
    const char *unavail = "84 00 0001 00 00000014 00001000 0004 646f776e 0006 00000003 00000001";
    CHECK(decode_hex(unavail, &r) == 0);
    CHECK(r.err_code == CQL_E_UNAVAILABLE && r.err_cl == CQL_LOCAL_QUORUM && r.err_blockfor == 3 &&
          r.err_alive == 1 && r.err_msg.len == 4);
    CHECK(prefixes_refused(unavail));
    /* ERROR Write_timeout with its write type. */
    const char *wt = "84 00 0001 00 0000001a 00001100 0002 7774 0001 00000000 00000001 0006 "
                     "53494d504c45";
    CHECK(decode_hex(wt, &r) == 0);
    CHECK(r.err_code == CQL_E_WRITE_TIMEOUT && r.err_write_type.len == 6 && r.err_blockfor == 1);
    CHECK(prefixes_refused(wt));
    /* ERROR Unprepared with the id; Already_exists with keyspace and table. */
    const char *unp = "84 00 0001 00 0000000c 00002500 0002 6e6f 0002 abcd";
    CHECK(decode_hex(unp, &r) == 0 && r.err_code == CQL_E_UNPREPARED && r.err_id.len == 2 &&
          (uint8_t)r.err_id.p[0] == 0xab);
    CHECK(prefixes_refused(unp));
    CHECK(decode_hex("84 00 0001 00 0000000f 00002400 0001 78 0002 6b73 0002 7462", &r) == 0 &&
          r.err_ks.len == 2 && r.err_table.len == 2);
    CHECK(decode_hex("84 00 0001 00 0000000b 00002000 0005 6f6f707321", &r) == 0 &&
          r.err_code == CQL_E_SYNTAX && strcmp(cql_error_name(r.err_code), "Syntax error") == 0);
    /* RESULT Void, Set_keyspace, Schema_change. */
    CHECK(decode_hex("84 00 0001 08 00000004 00000001", &r) == 0 && r.kind == CQL_RESULT_VOID);
    CHECK(decode_hex("84 00 0001 08 00000008 00000003 0002 6b73", &r) == 0 &&
          r.kind == CQL_RESULT_SET_KEYSPACE && r.keyspace.len == 2);
    const char *sc = "84 00 0001 08 0000001a 00000005 0007 43524541544544 0005 5441424c45 0002 "
                     "6b73 0001 74";
    CHECK(decode_hex(sc, &r) == 0 && r.kind == CQL_RESULT_SCHEMA_CHANGE && r.name.len == 1);
    CHECK(prefixes_refused(sc));
    /* RESULT Rows: global table spec, id uuid + n bigint, one row. */
    CHECK(decode_hex(ROWS_FRAME, &r) == 0);
    CHECK(r.kind == CQL_RESULT_ROWS && r.meta.ncols == 2 && r.nrows == 1);
    CHECK(r.meta.types && r.meta.types[0] == CQL_T_UUID && r.meta.types[1] == CQL_T_BIGINT);
    CHECK(r.meta.names && r.meta.names[1].len == 1 && r.meta.names[1].p[0] == 'n');
    int64_t v = 0;
    CHECK(r.cells && r.cells[0].len == 16 && cql_get_bigint(&r.cells[1], &v) == 0 && v == 42);
    CHECK(r.meta.paging_state.len == -1);
    cql_resp_free(&r);
    CHECK(prefixes_refused(ROWS_FRAME));
    /* RESULT Prepared: id abcd, bind metadata with the partition key at position 0. */
    CHECK(decode_hex(PREPARED_FRAME, &r) == 0);
    CHECK(r.kind == CQL_RESULT_PREPARED && r.prepared_id.len == 2 && r.meta.ncols == 2 &&
          r.meta.pk_count == 1 && r.meta.pk_index && r.meta.pk_index[0] == 0 &&
          r.meta.types[1] == CQL_T_VARCHAR && r.result_meta.ncols == 0);
    cql_resp_free(&r);
    CHECK(prefixes_refused(PREPARED_FRAME));
    /* A warning prefix (flag 0x08) before a Void result. */
    CHECK(decode_hex("84 08 0001 08 0000000b 0001 0003 776f77 00000001", &r) == 0 &&
          r.nwarnings == 1 && r.kind == CQL_RESULT_VOID);
    /* Tracing id (flag 0x02) before a Void result. */
    CHECK(decode_hex("84 02 0001 08 00000014 00112233445566778899aabbccddeeff 00000001", &r) == 0 &&
          r.kind == CQL_RESULT_VOID);
    /* Collections in metadata: list<text>, map<text, int>. */
    CHECK(decode_hex("84 00 0001 08 00000026 00000002 00000001 00000002 0001 6b 0001 74 0001 61 "
                     "0020 000d 0001 62 0021 000d 0009 00000000",
                     &r) == 0 &&
          r.meta.types[0] == CQL_T_LIST && r.meta.elems[0] == CQL_T_VARCHAR &&
          r.meta.types[1] == CQL_T_MAP && r.meta.elems[1] == CQL_T_INT && r.nrows == 0);
    cql_resp_free(&r);
}

static void test_malformed(void)
{
    struct cql_resp r;
    struct cql_header h;
    char why[200];
    uint8_t f[64];
    /* Not a response / wrong version. */
    size_t n = unhex("04 00 0001 02 00000000", f);
    CHECK(cql_header_decode(f, n, 1 << 20, &h, why, sizeof(why)) == -1);
    n = unhex("85 00 0001 02 00000000", f);
    CHECK(cql_header_decode(f, n, 1 << 20, &h, why, sizeof(why)) == -1);
    /* Oversized: over the caller's bound and over the protocol's 256 MB. */
    n = unhex("84 00 0001 08 00100001", f);
    CHECK(cql_header_decode(f, n, 1 << 20, &h, why, sizeof(why)) == -1);
    CHECK(strstr(why, "limit") != NULL);
    n = unhex("84 00 0001 08 7fffffff", f);
    CHECK(cql_header_decode(f, n, (size_t)1 << 40, &h, why, sizeof(why)) == -1);
    /* Short header: need more. */
    CHECK(cql_header_decode(f, 8, 1 << 20, &h, why, sizeof(why)) == 1);
    /* A row count far beyond the bytes present is refused before any allocation. */
    CHECK(decode_hex("84 00 0001 08 00000019 00000002 00000001 00000001 0001 6b 0001 74 0001 61 "
                     "000d 7fffffff",
                     &r) == -1);
    cql_resp_free(&r);
    /* A column count far beyond the bytes present. */
    CHECK(decode_hex("84 00 0001 08 0000000c 00000002 00000000 7ffffff0", &r) == -1);
    cql_resp_free(&r);
    /* Unknown result kind, unknown opcode, compressed body, unknown type id. */
    CHECK(decode_hex("84 00 0001 08 00000004 00000009", &r) == -1);
    CHECK(decode_hex("84 00 0001 7f 00000000", &r) == -1);
    CHECK(decode_hex("84 01 0001 08 00000004 00000001", &r) == -1);
    CHECK(decode_hex("84 00 0001 08 00000018 00000002 00000001 00000001 0001 6b 0001 74 0001 61 "
                     "0099",
                     &r) == -1);
    cql_resp_free(&r);
    /* Type nesting deeper than the bound. */
    char deep[2048] = "84 00 0001 08 0000003d 00000002 00000001 00000001 0001 6b 0001 74 0001 61";
    for (int i = 0; i < 20; i++)
        strcat(deep, " 0020");
    strcat(deep, " 000d 00000000");
    CHECK(decode_hex(deep, &r) == -1);
    cql_resp_free(&r);
    /* A partition key index outside the columns. */
    CHECK(decode_hex("84 00 0001 08 0000001a 00000004 0002 abcd 00000000 00000001 00000001 0005 "
                     "00000004 00000000",
                     &r) == -1);
    cql_resp_free(&r);
}

static void test_murmur3(void)
{
    /* Expected tokens from the DataStax Python driver's murmur3 (which follows Cassandra's
     * MurmurHash.hash3_x64_128 with its sign-extended tail bytes). */
    static const struct {
        const char *hex;
        int64_t token;
    } vec[] = {
        {"", 0},
        {"61", -8839064797231613815LL},
        {"68656c6c6f", -3758069500696749310LL},
        {"80", -5284281814142962636LL},
        {"ffffffffffffff", 4860178782003914630LL},
        {"707172737475767778797a7b7c7d7e", -508656383252457381LL},
        {"f47ac10b58cc4372a5670e02b2c3d479", 3078397264688283949LL},
        {"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff808182838485868788898a8b8c8d8e8f90",
         -4403264154629621261LL},
        {"54686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f67",
         -2068352364225029268LL},
    };
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        uint8_t b[128];
        size_t n = unhex(vec[i].hex, b);
        int64_t t = cql_murmur3_token(b, n);
        if (t != vec[i].token)
            fprintf(stderr, "murmur3 %s: %" PRId64 " want %" PRId64 "\n", vec[i].hex, t,
                    vec[i].token);
        CHECK(t == vec[i].token);
    }
    CHECK_EQ_INT(cql_consistency_parse("local_quorum"), CQL_LOCAL_QUORUM);
    CHECK_EQ_INT(cql_consistency_parse("nope"), -1);
}

/* ---- a scripted fake node ------------------------------------------------------------------ */

struct fake {
    int lfd, port;
    int overloaded_left;  /* answer this many EXECUTEs with Overloaded first */
    bool forget_prepared; /* answer the first EXECUTE with Unprepared */
    int prepares, executes, max_inflight_seen;
    int rows_done, max_batch; /* executions in answered EXECUTEs and BATCHes; largest BATCH */
    const char *password;
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void send_frame(int fd, const uint8_t *hdr_stream, uint8_t op, const void *body, size_t n)
{
    uint8_t h[9] = {0x84, 0, hdr_stream[0], hdr_stream[1], op, 0, 0, 0, 0};
    put32(h + 5, (uint32_t)n);
    if (write(fd, h, 9) != 9 || (n && write(fd, body, n) != (ssize_t)n))
        return;
}

static bool read_full(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    uint8_t h[9];
    static uint8_t body[1 << 16];
    /* Pending EXECUTE streams, answered in reverse order once 8 are in (out-of-order replies). */
    uint8_t pend[64][2];
    int pend_rows[64], npend = 0;
    for (;;) {
        /* Idle for 50 ms with answers held back: send them (reverse order). */
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 50) == 0) {
            while (npend > 0) {
                f->rows_done += pend_rows[--npend];
                send_frame(fd, pend[npend], CQL_OP_RESULT, "\x00\x00\x00\x01", 4);
            }
            continue;
        }
        if (!read_full(fd, h, 9))
            break;
        uint32_t len =
            ((uint32_t)h[5] << 24) | ((uint32_t)h[6] << 16) | ((uint32_t)h[7] << 8) | h[8];
        if (len > sizeof(body) || !read_full(fd, body, len))
            break;
        uint8_t op = h[4];
        const uint8_t *st = h + 2;
        if (op == CQL_OP_STARTUP) {
            const char auth[] = "\x00\x2forg.apache.cassandra.auth.PasswordAuthenticator";
            send_frame(fd, st, CQL_OP_AUTHENTICATE, auth, sizeof(auth) - 1);
        } else if (op == CQL_OP_AUTH_RESPONSE) {
            char want[64];
            int wn = snprintf(want + 1, sizeof(want) - 1, "u%c%s", 0, f->password) + 1;
            want[0] = 0;
            if (len == (uint32_t)wn + 4 && memcmp(body + 4, want, (size_t)wn) == 0) {
                send_frame(fd, st, CQL_OP_AUTH_SUCCESS, "\xff\xff\xff\xff", 4);
            } else {
                uint8_t e[64] = {0, 0, 1, 0};
                const char *m = "Provided username u and/or password are incorrect";
                e[4] = 0, e[5] = (uint8_t)strlen(m);
                memcpy(e + 6, m, strlen(m));
                send_frame(fd, st, CQL_OP_ERROR, e, 6 + strlen(m));
            }
        } else if (op == CQL_OP_QUERY) {
            /* system.local / system.peers / anything: an empty Rows result without columns. */
            uint8_t r[16];
            put32(r, 2), put32(r + 4, 4), put32(r + 8, 0), put32(r + 12, 0);
            send_frame(fd, st, CQL_OP_RESULT, r, 16);
        } else if (op == CQL_OP_PREPARE) {
            f->prepares++;
            /* id abcd; bind metadata: no metadata flag... one column k (varchar) as pk. */
            const char p[] = "\x00\x00\x00\x04\x00\x02\xab\xcd"
                             "\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00"
                             "\x00\x02ks\x00\x01t\x00\x01k\x00\x0d"
                             "\x00\x00\x00\x04\x00\x00\x00\x00";
            send_frame(fd, st, CQL_OP_RESULT, p, sizeof(p) - 1);
        } else if (op == CQL_OP_EXECUTE || op == CQL_OP_BATCH) {
            f->executes++;
            /* BATCH: <type><n>...; each execution counts as a row */
            int rows = op == CQL_OP_BATCH && len >= 3 ? (body[1] << 8) | body[2] : 1;
            if (rows > f->max_batch)
                f->max_batch = rows;
            if (f->forget_prepared) {
                f->forget_prepared = false;
                const char e[] = "\x00\x00\x25\x00\x00\x02no\x00\x02\xab\xcd";
                send_frame(fd, st, CQL_OP_ERROR, e, sizeof(e) - 1);
                continue;
            }
            if (f->overloaded_left > 0) {
                f->overloaded_left--;
                const char e[] = "\x00\x00\x10\x01\x00\x04"
                                 "busy";
                send_frame(fd, st, CQL_OP_ERROR, e, sizeof(e) - 1);
                continue;
            }
            pend_rows[npend] = rows;
            memcpy(pend[npend++], st, 2);
            if (npend > f->max_inflight_seen)
                f->max_inflight_seen = npend;
            /* Reply once 8 wait (or when the line goes idle, above). */
            if (npend >= 8) {
                while (npend > 0) {
                    f->rows_done += pend_rows[--npend];
                    send_frame(fd, pend[npend], CQL_OP_RESULT, "\x00\x00\x00\x01", 4);
                }
            }
        }
    }
    close(fd);
    return NULL;
}

static void fake_start(struct fake *f, pthread_t *t)
{
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(f->lfd, (struct sockaddr *)&a, sizeof(a));
    socklen_t sl = sizeof(a);
    getsockname(f->lfd, (struct sockaddr *)&a, &sl);
    f->port = ntohs(a.sin_port);
    listen(f->lfd, 4);
    pthread_create(t, NULL, fake_main, f);
}

static int free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t sl = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &sl);
    close(fd);
    return ntohs(a.sin_port);
}

/* A fake node that listens on f->port only after 700 ms, then serves one connection. */
static void *late_main(void *arg)
{
    struct fake *f = arg;
    struct timespec ts = {0, 700 * 1000000L};
    nanosleep(&ts, NULL);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)f->port)};
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(f->lfd, 4) != 0) {
        close(f->lfd);
        f->lfd = -1;
        return NULL;
    }
    return fake_main(f);
}

static void test_fake_cluster(void)
{
    struct fake f = {.overloaded_left = 3, .forget_prepared = true, .password = "pw"};
    pthread_t t;
    fake_start(&f, &t);
    char hosts[64];
    snprintf(hosts, sizeof(hosts), "127.0.0.1:%d", f.port);
    struct cql_cluster_opts o = {
        .hosts = hosts,
        .conn = {.user = "u", .password = "pw", .connect_timeout_ms = 5000, .window = 64},
        .request_timeout_ms = 5000,
        .wait_ms = 2000,
        .window = 16,
    };
    struct cql_cluster *cl = NULL;
    struct sl_err err;
    CHECK(cql_cluster_open(&cl, &o, &err) == 0);
    if (!cl) {
        fprintf(stderr, "open: %s\n", err.msg);
        close(f.lfd);
        pthread_join(t, NULL);
        return;
    }
    struct cql_prepared *p = NULL;
    CHECK(cql_cluster_prepare(cl, "INSERT", &p, &err) == 0);
    CHECK(p && p->pk_count == 1 && p->nbind == 1 && p->idlen == 2);
    if (p) {
        /* 400 executions, sent as 40 unlogged batches of CQL_BATCH_ROWS (10) with at most 16
         * in flight; the fake answers 8 at a time, in reverse order; the first is UNPREPARED
         * (re-prepared), three are Overloaded (each retried whole). */
        static struct cql_value v[400];
        static char keys[400][8];
        for (int i = 0; i < 400; i++) {
            snprintf(keys[i], sizeof(keys[i]), "k%d", i);
            v[i] = (struct cql_value){keys[i], (int32_t)strlen(keys[i])};
        }
        int rc = cql_cluster_execute_many(cl, p, v, 400, CQL_ONE, &err);
        if (rc != 0)
            fprintf(stderr, "execute_many: %s\n", err.msg);
        CHECK(rc == 0);
        CHECK_EQ_INT(f.prepares, 2);      /* once, and again after UNPREPARED */
        CHECK_EQ_INT(f.executes, 40 + 4); /* 1 unprepared + 3 overloaded retried */
        CHECK_EQ_INT(f.rows_done, 400);   /* every execution acknowledged once */
        CHECK_EQ_INT(f.max_batch, CQL_BATCH_ROWS);
        CHECK(f.max_inflight_seen >= 8); /* requests really were in flight together */
    }
    cql_prepared_free(p);
    cql_cluster_close(cl);
    pthread_join(t, NULL);
    close(f.lfd);

    /* A wrong password: a clear error naming the login, not a hang. */
    struct fake g = {.password = "right"};
    fake_start(&g, &t);
    snprintf(hosts, sizeof(hosts), "127.0.0.1:%d", g.port);
    o.conn.password = "wrong";
    CHECK(cql_cluster_open(&cl, &o, &err) == -1);
    CHECK(strstr(err.msg, "login as 'u' refused") != NULL);
    CHECK(strstr(err.msg, "incorrect") != NULL);
    CHECK(strstr(err.msg, "wrong") == NULL); /* the password is never shown */
    pthread_join(t, NULL);
    close(g.lfd);

    /* Nobody listening: open fails fast with the address (sluice query); with wait_at_open
     * (the stream job) it waits wait_ms for a node that may be restarting, then fails with the
     * address and the reason. */
    o.conn.password = "pw";
    snprintf(hosts, sizeof(hosts), "127.0.0.1:%d", g.port);
    CHECK(cql_cluster_open(&cl, &o, &err) == -1);
    CHECK(strstr(err.msg, "cannot connect to 127.0.0.1") != NULL);
    CHECK(strstr(err.msg, "unreachable for") == NULL);
    o.wait_at_open = true;
    o.wait_ms = 1000;
    CHECK(cql_cluster_open(&cl, &o, &err) == -1);
    CHECK(strstr(err.msg, "cannot connect to 127.0.0.1") != NULL);
    CHECK(strstr(err.msg, "Cassandra unreachable for") != NULL);

    /* A node that starts listening only after open began (a Cassandra restart, as in the
     * chaos run, where a job started during the restart used to exit at once): open waits for
     * it and succeeds. */
    struct fake late = {.password = "pw"};
    late.port = free_tcp_port();
    pthread_create(&t, NULL, late_main, &late);
    snprintf(hosts, sizeof(hosts), "127.0.0.1:%d", late.port);
    o.wait_ms = 60000;
    cl = NULL;
    int rc = cql_cluster_open(&cl, &o, &err);
    if (rc != 0)
        fprintf(stderr, "open of a late node: %s\n", err.msg);
    CHECK(rc == 0);
    cql_cluster_close(cl);
    pthread_join(t, NULL);
    if (late.lfd >= 0)
        close(late.lfd);
}

int main(void)
{
    test_encode();
    test_decode();
    test_malformed();
    test_murmur3();
    test_fake_cluster();
    return check_summary();
}
