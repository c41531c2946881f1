/* Fuzz target: request targets (path and query string) and bodies of the scheduler's REST API,
 * sent over a socket to the real HTTP server (core/http on libmicrohttpd) serving the API's
 * routes over a metadata DB holding one DAG, one run and its task: routing, percent-decoding,
 * {param} captures, repeated query keys, limit/offset/order_by, strict JSON bodies. Every
 * request must get a complete HTTP answer: a crash, a hang (60 s without an answer) or a 5xx is
 * a finding. (A store lock waited out ends in a 5xx, so it is caught without a shorter bound;
 * 5 s was too short when the machine was loaded and the fuzzer ran at a low priority.)
 * Input: first byte picks the method, then the target up to the first newline, then the body.
 * Authentication is off here (admin), so that writes (PATCH, POST) run too. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/http.h"
#include "core/log.h"
#include "scheduler/api.h"
#include "scheduler/auth.h"
#include "scheduler/meta.h"

static int port;

static void setup(void)
{
    static char dir[256], db[320], logs[320];
    const char *tmp = getenv("TMPDIR"); /* run.sh gives each run its own */
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(dir, sizeof(dir), "%s/sluice-fuzz-api-%d", tmp, (int)getpid());
    snprintf(db, sizeof(db), "%s/scheduler/scheduler.db", dir);
    snprintf(logs, sizeof(logs), "%s/scheduler/logs", dir);
    mkdir(dir, 0755);
    char sub[320];
    snprintf(sub, sizeof(sub), "%s/scheduler", dir);
    mkdir(sub, 0755);
    log_set_level(LOG_LVL_ERROR);
    struct sl_err err;
    sqlite3 *h;
    if (meta_open(db, &h, &err) != 0)
        abort();
    const char *fill =
        "INSERT OR IGNORE INTO dag(dag_id, is_paused, fileloc, owners, schedule, "
        "timetable_summary, version_id, version_created_at, definition) VALUES ('d', 1, "
        "'/dags/d.yaml', '[\"o\"]', '@daily', '0 0 * * *', "
        "'0a1b2c3d-0000-4000-8000-000000000001', '2024-01-01T00:00:00.000000Z', "
        "'{\"tasks\":[{\"task_id\":\"t\",\"operator\":\"bash\",\"dependencies\":[]}]}');"
        "INSERT OR IGNORE INTO dag_run(dag_id, run_id, run_type, state, logical_date, "
        "run_after, conf) VALUES ('d', 'r', 'manual', 'success', "
        "'2024-01-01T00:00:00.000000Z', '2024-01-01T00:00:00.000000Z', '{}');"
        "INSERT OR IGNORE INTO task_instance(id, dag_id, run_id, task_id, state, try_number) "
        "VALUES ('0a1b2c3d-0000-4000-8000-000000000002', 'd', 'r', 't', 'success', 1);"
        "INSERT OR IGNORE INTO import_error(filename, timestamp, stack_trace) VALUES "
        "('/dags/x.yaml', '2024-01-01T00:00:00.000000Z', '/dags/x.yaml:1: bad');";
    if (sqlite3_exec(h, fill, NULL, NULL, NULL) != SQLITE_OK)
        abort();
    sqlite3_close(h);
    static struct auth *a;
    struct auth_opts ao = {.data_dir = dir, .enabled = false};
    if (auth_open(&ao, &a, &err) != 0)
        abort();
    static struct api_ctx ctx;
    ctx.db_path = db;
    ctx.logs_dir = logs;
    ctx.dags_folder = dir;
    ctx.auth = a;
    static struct http_config hc;
    hc.name = "fuzz";
    hc.listen = "127.0.0.1:0";
    hc.error_style = HTTP_ERR_DETAIL;
    hc.auth = auth_http_hook;
    hc.auth_ctx = a;
    struct http_server *srv;
    if (http_server_start(&hc, api_routes(), &ctx, &srv, &err) != 0)
        abort();
    port = http_server_port(srv);
}

/* Sends one request and reads the whole answer; returns its status (0: none). */
static int roundtrip(const char *req, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        abort();
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "fuzz_api: connect: %s\n", strerror(errno));
        abort();
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, req + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    /* The status line is in the first bytes; the rest of a long answer (a run list grows as
     * the fuzzer POSTs runs) is read into scratch, never over the start of buf. */
    char buf[4096], scratch[4096];
    size_t got = 0;
    int status = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        ssize_t n = read(fd, got < sizeof(buf) ? buf + got : scratch,
                         got < sizeof(buf) ? sizeof(buf) - got : sizeof(scratch));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            /* EAGAIN: the 60 s bound passed; anything else (a reset) is a finding too. */
            int e = errno;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            fprintf(stderr,
                    "fuzz_api: reading the answer failed after %.3f s (%s; %zu bytes of it "
                    "read) to:\n%.*s\n",
                    s, strerror(e), got, (int)len, req);
            if (got)
                fprintf(stderr, "fuzz_api: answer so far:\n%.*s\n",
                        (int)(got < sizeof(buf) ? got : sizeof(buf)), buf);
            abort();
        }
        if (n == 0)
            break;
        if (got < sizeof(buf))
            got += (size_t)n;
    }
    close(fd);
    if (got >= 12 && memcmp(buf, "HTTP/1.", 7) == 0)
        status = atoi(buf + 9);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!port)
        setup();
    if (size < 1 || size > 8192)
        return 0;
    static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE"};
    const char *method = methods[data[0] % 4];
    data++;
    size--;
    size_t tl = 0;
    while (tl < size && data[tl] != '\n')
        tl++;
    /* The target as a client would send it: printable ASCII, anything else percent-encoded. */
    char target[8192 * 3 + 2];
    size_t n = 0;
    if (tl == 0 || data[0] != '/')
        target[n++] = '/';
    for (size_t i = 0; i < tl; i++) {
        unsigned c = data[i];
        if (c > 0x20 && c < 0x7f)
            target[n++] = (char)c;
        else
            n += (size_t)snprintf(target + n, 4, "%%%02X", c);
    }
    target[n] = '\0';
    const uint8_t *body = tl < size ? data + tl + 1 : data + size;
    size_t blen = tl < size ? size - tl - 1 : 0;
    char *req = malloc(n + blen + 256);
    if (!req)
        return 0;
    int hl = sprintf(req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, target, blen);
    memcpy(req + hl, body, blen);
    /* More than 64 query parameters are answered 400; libmicrohttpd keeps a record per
     * parameter (empty ones too) in the connection's 64 KiB memory pool, and past about 900
     * it drops the request and holds the connection until the idle timeout (30 s): that is
     * tested in unit/test_http (the request's state is freed, others are served meanwhile),
     * and not sent here, where each such input would stall the fuzzer for 30 s. */
    size_t params = 0;
    for (const char *q = strchr(target, '?'); q && *q; q++)
        params += *q == '&' || *q == '?';
    if (params > 512) {
        free(req);
        return 0;
    }
    int status = roundtrip(req, (size_t)hl + blen);
    if (status == 0 || status >= 500) {
        fprintf(stderr, "fuzz_api: status %d for %s %s\n", status, method, target);
        abort();
    }
    free(req);
    return 0;
}
