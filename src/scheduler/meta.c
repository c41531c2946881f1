/* The metadata DB's connection setup (WAL, busy timeout, schema) and the scheduling loop's
 * wake-up: one process-wide eventfd that user actions (REST handlers) and SIGCHLD write to
 * and the loop polls. */
#include "scheduler/meta.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int meta_open(const char *path, sqlite3 **out, struct sl_err *err)
{
    sqlite3 *db = NULL;
    *out = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        sl_err_set(err, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    /* WAL: readers (the API) never block the loop's writes. synchronous=NORMAL in WAL keeps
     * every commit across a process crash (kill -9); only a power loss may drop the last
     * ones. */
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                     "PRAGMA foreign_keys=OFF;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, META_SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        sl_err_set(err, "cannot set up %s: %s", path, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

static pthread_once_t wake_once = PTHREAD_ONCE_INIT;
static int wake_fd = -1;

static void wake_init(void)
{
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

int scheduler_wake_fd(void)
{
    pthread_once(&wake_once, wake_init);
    return wake_fd;
}

void scheduler_wake(void)
{
    int fd = scheduler_wake_fd();
    if (fd < 0)
        return;
    uint64_t one = 1;
    int saved = errno;
    ssize_t w = write(fd, &one, sizeof(one));
    (void)w;
    errno = saved;
}

void scheduler_wake_from_signal(void)
{
    /* async-signal-safe: the fd exists before the handler is installed */
    if (wake_fd < 0)
        return;
    uint64_t one = 1;
    int saved = errno;
    ssize_t w = write(wake_fd, &one, sizeof(one));
    (void)w;
    errno = saved;
}
