/* libcrashsim.so: a power-loss simulator loaded with LD_PRELOAD, in the manner of SQLite's
 * crash-test VFS. For every file under CRASHSIM_ROOT it keeps a copy of the content as of the
 * last fsync/fdatasync (taken when the file is first seen, when it is created empty, and at
 * each sync), and it keeps two views of the directory entries: the live one and the durable
 * one (an entry created, renamed or unlinked becomes durable when its directory is fsynced).
 * At the crash point it rewrites the tree to what a power loss could leave -- every file back
 * to its synced copy, optionally followed by a random prefix of its unsynced tail (torn, the
 * end of that prefix possibly zeroed as if the size reached the disk before the data), every
 * entry back to its durable state -- and kills the process with SIGKILL.
 *
 * Environment:
 *   CRASHSIM_ROOT    absolute directory whose files are tracked (required; else inert)
 *   CRASHSIM_SHADOW  directory for the synced copies (required)
 *   CRASHSIM_SYNC_N  crash at the Nth fsync/fdatasync of a tracked file or directory
 *   CRASHSIM_AFTER   1: crash just after that sync completes; default just before it
 *   CRASHSIM_SEED    seed for the torn tails (default 1)
 *   CRASHSIM_TORN    0: drop unsynced data whole; default 1: keep a random prefix
 *   CRASHSIM_DROP_FDATASYNC  1: fdatasync does nothing (to show a test catches a missing sync)
 *   CRASHSIM_KILL9   1: at the crash point only write CRASHSIM_SHADOW/manifest (what is
 *                    durable) and SIGKILL, leaving the files as they are: kill -9, page cache
 *                    intact
 *   CRASHSIM_MANIFEST  a manifest from such a run: what it says is synced is the baseline here,
 *                    not what is on disk (so a later crash drops what kill -9 left unsynced)
 *   CRASHSIM_SYNC_GATE  a path: while that file exists, an fdatasync of a tracked file waits
 *                    (outside the simulator's lock) -- a disk that takes its time
 * The file CRASHSIM_SHADOW/crash-now, when it appears, also triggers the crash (checked every
 * 10 ms by a thread), and CRASHSIM_SHADOW/syncs always holds the number of syncs so far.
 * Descriptors made by dup and fcntl(F_DUPFD*) track the same file.
 * Directory renames are treated as durable at once (the broker renames directories only to
 * delete topics). Test-only code: simple arrays and linear searches, test-sized data.
 *
 * Fault injection (works with or without CRASHSIM_ROOT): failing syncs and writes, as a dying
 * disk gives them. Only regular files and directories are affected (never sockets or pipes).
 *   CRASHSIM_FAIL        comma-separated operations to fail: fsync (fsync, fdatasync,
 *                        sync_file_range), write (write, writev), pwrite (pwrite, pwrite64,
 *                        pwritev), or all
 *   CRASHSIM_FAIL_PATH   only descriptors whose path contains this substring
 *   CRASHSIM_FAIL_AFTER  the Nth matching call is the first to fail (default 1)
 *   CRASHSIM_FAIL_COUNT  how many calls fail from there on (default 0: every later one)
 *   CRASHSIM_FAIL_ERRNO  EIO (default), ENOSPC, EDQUOT, EROFS or a number
 *   CRASHSIM_FAIL_WHILE  a path: calls match only while that file exists (a test switches the
 *                        fault on and off)
 * A failed call does nothing and returns -1 with that errno; each is reported on stderr as
 * "crashsim: injected <errno name> into <call> of <path> (matching call N)". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 65536

/* A file object (an inode): its synced copy lives in the shadow directory. */
struct obj {
    char shadow[PATH_MAX];
    char live[PATH_MAX]; /* where it is now; "" once unlinked */
};

/* A path ever seen under the root: which object (or directory) it names live and durably. */
struct ent {
    char path[PATH_MAX];
    bool is_dir;
    int live;    /* object index, -1 absent; for directories 1 present, -1 absent */
    int durable; /* same, as a power loss would leave it */
};

static struct obj *objs;
static int nobjs, capobjs;
static struct ent *ents;
static int nents, capents;
static int fdmap[MAX_FDS]; /* fd -> ent index + 1 (0: untracked); directories */
static int fdobj[MAX_FDS]; /* fd -> obj index + 1 (0: none); files follow their object */

static char root[PATH_MAX];
static size_t rootlen;
static char shadow[PATH_MAX];
static long sync_n = -1, syncs;
static const char *sync_gate;
static bool crash_after, torn = true, drop_fdatasync, active, kill9;
static uint64_t rng = 1;

static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static __thread int inside;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_rmdir)(const char *);
static int (*real_remove)(const char *);
static int (*real_fcntl)(int, int, ...);
static int (*real_dup)(int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);

static void crash(const char *why);
static void fault_init(void);

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void die(const char *what)
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "crashsim: %s: %s\n", what, strerror(errno));
    if (n > 0)
        (void)!real_write(2, msg, (size_t)n);
    _exit(99);
}

/* ---- plain file helpers on the real functions ---- */

static void copy_file(const char *from, const char *to)
{
    int in = real_open(from, O_RDONLY | O_CLOEXEC);
    int out = real_open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        die(to);
    if (in >= 0) {
        char buf[65536];
        ssize_t n;
        while ((n = read(in, buf, sizeof(buf))) > 0)
            if (real_write(out, buf, (size_t)n) != n)
                die(to);
        real_close(in);
    }
    real_close(out);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ---- paths ---- */

static bool tracked(const char *path)
{
    return active && strncmp(path, root, rootlen) == 0 &&
           (path[rootlen] == '\0' || path[rootlen] == '/');
}

/* Absolute form of path given relative to dirfd (AT_FDCWD or a directory descriptor). */
static bool absolute(int dirfd, const char *path, char *out)
{
    if (!path)
        return false;
    if (path[0] == '/') {
        snprintf(out, PATH_MAX, "%s", path);
        return true;
    }
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof(base)))
            return false;
    } else {
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof(base) - 1);
        if (n < 0)
            return false;
        base[n] = '\0';
    }
    snprintf(out, PATH_MAX, "%s/%s", base, path);
    return true;
}

static void parent_of(const char *path, char *out)
{
    snprintf(out, PATH_MAX, "%s", path);
    char *s = strrchr(out, '/');
    if (s && s != out)
        *s = '\0';
}

/* ---- the model ---- */

static int find_ent(const char *path)
{
    for (int i = 0; i < nents; i++)
        if (strcmp(ents[i].path, path) == 0)
            return i;
    return -1;
}

static int add_ent(const char *path, bool is_dir, int live, int durable)
{
    if (nents == capents) {
        capents = capents ? capents * 2 : 256;
        ents = realloc(ents, (size_t)capents * sizeof(*ents));
        if (!ents)
            die("out of memory");
    }
    struct ent *e = &ents[nents];
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->is_dir = is_dir;
    e->live = live;
    e->durable = durable;
    return nents++;
}

static int new_obj(const char *live, bool copy_now)
{
    if (nobjs == capobjs) {
        capobjs = capobjs ? capobjs * 2 : 256;
        objs = realloc(objs, (size_t)capobjs * sizeof(*objs));
        if (!objs)
            die("out of memory");
    }
    struct obj *o = &objs[nobjs];
    snprintf(o->shadow, sizeof(o->shadow), "%s/obj%d", shadow, nobjs);
    snprintf(o->live, sizeof(o->live), "%s", live);
    if (copy_now)
        copy_file(live, o->shadow);
    else
        copy_file("/nonexistent/crashsim", o->shadow); /* an empty copy */
    return nobjs++;
}

/* The entry for path, creating it from what is on disk now (which is taken to be durable:
 * everything that existed before this process was synced by whoever made it). */
static int see(const char *path)
{
    int i = find_ent(path);
    if (i >= 0)
        return i;
    struct stat st;
    if (lstat(path, &st) != 0)
        return add_ent(path, false, -1, -1);
    if (S_ISDIR(st.st_mode))
        return add_ent(path, true, 1, 1);
    int o = new_obj(path, true);
    return add_ent(path, false, o, o);
}

/* Makes the entries directly inside dir durable as they are now. */
static void sync_dir(const char *dir)
{
    size_t n = strlen(dir);
    for (int i = 0; i < nents; i++) {
        const char *p = ents[i].path;
        if (strncmp(p, dir, n) == 0 && p[n] == '/' && !strchr(p + n + 1, '/'))
            ents[i].durable = ents[i].live;
    }
}

static void write_syncs(void)
{
    char path[PATH_MAX + 16], text[32];
    snprintf(path, sizeof(path), "%s/syncs", shadow);
    int fd = real_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        int n = snprintf(text, sizeof(text), "%ld\n", syncs);
        (void)!real_write(fd, text, (size_t)n);
        real_close(fd);
    }
}

/* A sync of fd: returns the real call's result, crashing before or after as configured. */
static int do_sync(int fd, bool data_only)
{
    int e = fd >= 0 && fd < MAX_FDS ? fdmap[fd] - 1 : -1;
    int o = fd >= 0 && fd < MAX_FDS ? fdobj[fd] - 1 : -1;
    if (e < 0 && o < 0)
        return data_only ? real_fdatasync(fd) : real_fsync(fd);
    syncs++;
    write_syncs();
    if (syncs == sync_n && !crash_after)
        crash("sync point reached (before the sync)");
    int rc = 0;
    if (!(data_only && drop_fdatasync))
        rc = data_only ? real_fdatasync(fd) : real_fsync(fd);
    if (rc == 0 && !(data_only && drop_fdatasync)) {
        if (o >= 0) {
            if (objs[o].live[0]) /* the file wherever it is now (renamed or not) */
                copy_file(objs[o].live, objs[o].shadow);
        } else if (ents[e].is_dir) {
            sync_dir(ents[e].path);
        }
    }
    if (syncs == sync_n && crash_after)
        crash("sync point reached (after the sync)");
    return rc;
}

/* ---- the crash ---- */

static void mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            real_mkdir(tmp, 0755);
            *p = '/';
        }
    }
    real_mkdir(tmp, 0755);
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[PATH_MAX];
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            rm_tree(sub);
        }
        closedir(d);
        real_rmdir(path);
    } else {
        real_unlink(path);
    }
}

/* Writes the file a power loss leaves for an object: its synced copy, and maybe a torn prefix
 * of what was written after it. */
static void restore_file(const char *path, const struct obj *o, FILE *log)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s/restore.tmp", shadow);
    copy_file(o->shadow, tmp);
    off_t synced = file_size(o->shadow);
    off_t live = o->live[0] ? file_size(o->live) : -1;
    off_t keep = 0;
    if (torn && live > synced) {
        keep = (off_t)(next_rand() % (uint64_t)(live - synced + 1));
        int in = real_open(o->live, O_RDONLY | O_CLOEXEC);
        int out = real_open(tmp, O_WRONLY | O_CLOEXEC);
        if (in < 0 || out < 0)
            die("torn tail");
        char *buf = malloc((size_t)keep + 1);
        if (!buf)
            die("out of memory");
        ssize_t got = pread(in, buf, (size_t)keep, synced);
        if (got < 0)
            got = 0;
        /* sometimes the size reached the disk but not the last data blocks */
        if (got > 0 && next_rand() % 4 == 0) {
            off_t z = (off_t)(next_rand() % (uint64_t)got);
            memset(buf + z, 0, (size_t)(got - z));
        }
        if (real_pwrite(out, buf, (size_t)got, synced) != got)
            die("torn tail");
        free(buf);
        real_close(in);
        real_close(out);
    }
    char dir[PATH_MAX];
    parent_of(path, dir);
    mkdirs(dir);
    if (real_rename(tmp, path) != 0)
        die(path);
    if (log)
        fprintf(log, "file %s synced %lld live %lld torn-kept %lld\n", path, (long long)synced,
                (long long)live, (long long)keep);
}

/* kill -9 at the crash point: record the model for the next run, touch nothing on disk. */
static void write_manifest(void)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/manifest", shadow);
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    for (int i = 0; i < nents; i++) {
        const struct ent *e = &ents[i];
        if (e->is_dir)
            fprintf(f, "D %d %d %s\n", e->live > 0, e->durable > 0, e->path);
        else
            fprintf(f, "F %s %s %s\n", e->live >= 0 ? objs[e->live].shadow : "-",
                    e->durable >= 0 ? objs[e->durable].shadow : "-", e->path);
    }
    fclose(f);
}

/* Loads a manifest written by write_manifest in an earlier run. */
static void load_manifest(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(path);
    char line[3 * PATH_MAX + 16];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == 'D') {
            int live, durable, n = 0;
            if (sscanf(line, "D %d %d %n", &live, &durable, &n) < 2 || n == 0)
                continue;
            add_ent(line + n, true, live ? 1 : -1, durable ? 1 : -1);
        } else if (line[0] == 'F') {
            char ls[PATH_MAX], ds[PATH_MAX];
            int n = 0;
            if (sscanf(line, "F %4095s %4095s %n", ls, ds, &n) < 2 || n == 0)
                continue;
            const char *p = line + n;
            int lo = -1, dob = -1;
            if (strcmp(ls, "-") != 0) {
                lo = new_obj(p, false);
                copy_file(ls, objs[lo].shadow); /* synced then; the disk may hold more */
            }
            if (strcmp(ds, "-") != 0) {
                if (strcmp(ds, ls) == 0) {
                    dob = lo;
                } else {
                    dob = new_obj("", false);
                    copy_file(ds, objs[dob].shadow);
                }
            }
            add_ent(p, false, lo, dob);
        }
    }
    fclose(f);
}

static void crash(const char *why)
{
    pthread_mutex_lock(&mu);
    inside++;
    if (kill9) {
        write_manifest();
        kill(getpid(), SIGKILL);
        _exit(137);
    }
    char logpath[PATH_MAX + 16];
    snprintf(logpath, sizeof(logpath), "%s/crash.log", shadow);
    FILE *log = fopen(logpath, "w");
    if (log)
        fprintf(log, "crash: %s at sync %ld\n", why, syncs);
    /* Files first (entries that are durably files), then entries that must not exist, then
     * directories that must not exist (with whatever is under them). */
    for (int i = 0; i < nents; i++) {
        struct ent *e = &ents[i];
        if (!e->is_dir && e->durable >= 0)
            restore_file(e->path, &objs[e->durable], log);
    }
    for (int i = 0; i < nents; i++) {
        struct ent *e = &ents[i];
        if (!e->is_dir && e->durable < 0 && e->live >= 0) {
            real_unlink(e->path);
            if (log)
                fprintf(log, "drop %s (entry never synced)\n", e->path);
        }
        if (e->is_dir && e->durable > 0)
            mkdirs(e->path);
    }
    for (int i = 0; i < nents; i++) {
        struct ent *e = &ents[i];
        if (e->is_dir && e->durable < 0 && e->live > 0) {
            rm_tree(e->path);
            if (log)
                fprintf(log, "drop directory %s (entry never synced)\n", e->path);
        }
    }
    if (log)
        fclose(log);
    kill(getpid(), SIGKILL);
    _exit(137);
}

static void *watcher(void *arg)
{
    (void)arg;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/crash-now", shadow);
    for (;;) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (access(path, F_OK) == 0)
            crash("crash-now file");
    }
    return NULL;
}

__attribute__((constructor)) static void init(void)
{
    real_open = dlsym(RTLD_NEXT, "open");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_close = dlsym(RTLD_NEXT, "close");
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
    real_mkdir = dlsym(RTLD_NEXT, "mkdir");
    real_rmdir = dlsym(RTLD_NEXT, "rmdir");
    real_remove = dlsym(RTLD_NEXT, "remove");
    real_fcntl = dlsym(RTLD_NEXT, "fcntl");
    real_dup = dlsym(RTLD_NEXT, "dup");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_sync_file_range = dlsym(RTLD_NEXT, "sync_file_range");
    fault_init();
    const char *r = getenv("CRASHSIM_ROOT"), *s = getenv("CRASHSIM_SHADOW");
    if (!r || !s || r[0] != '/')
        return;
    snprintf(root, sizeof(root), "%s", r);
    rootlen = strlen(root);
    while (rootlen > 1 && root[rootlen - 1] == '/')
        root[--rootlen] = '\0';
    snprintf(shadow, sizeof(shadow), "%s", s);
    const char *v;
    if ((v = getenv("CRASHSIM_SYNC_N")) != NULL)
        sync_n = atol(v);
    crash_after = (v = getenv("CRASHSIM_AFTER")) != NULL && atoi(v) == 1;
    torn = !((v = getenv("CRASHSIM_TORN")) != NULL && atoi(v) == 0);
    drop_fdatasync = (v = getenv("CRASHSIM_DROP_FDATASYNC")) != NULL && atoi(v) == 1;
    if ((v = getenv("CRASHSIM_SEED")) != NULL)
        rng = (uint64_t)atoll(v) * 2654435761u + 1;
    kill9 = (v = getenv("CRASHSIM_KILL9")) != NULL && atoi(v) == 1;
    if ((v = getenv("CRASHSIM_SYNC_GATE")) != NULL && v[0])
        sync_gate = v;
    mkdirs(shadow);
    if ((v = getenv("CRASHSIM_MANIFEST")) != NULL && v[0]) {
        inside++;
        load_manifest(v);
        inside--;
    }
    active = true;
    pthread_t t;
    pthread_create(&t, NULL, watcher, NULL);
    pthread_detach(t);
}

/* ---- fault injection ---- */

enum { FOP_FSYNC = 1, FOP_WRITE = 2, FOP_PWRITE = 4 };

static unsigned fail_ops;
static const char *fail_path, *fail_while;
static long fail_after = 1, fail_count;
static int fail_errno = EIO;
static long fail_seen; /* matching calls so far (atomic) */

static void fault_init(void)
{
    const char *v = getenv("CRASHSIM_FAIL");
    if (!v || !v[0])
        return;
    char list[256];
    snprintf(list, sizeof(list), "%s", v);
    for (char *save = NULL, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (strcmp(t, "fsync") == 0)
            fail_ops |= FOP_FSYNC;
        else if (strcmp(t, "write") == 0)
            fail_ops |= FOP_WRITE;
        else if (strcmp(t, "pwrite") == 0)
            fail_ops |= FOP_PWRITE;
        else if (strcmp(t, "all") == 0)
            fail_ops |= FOP_FSYNC | FOP_WRITE | FOP_PWRITE;
        else {
            errno = EINVAL;
            die("CRASHSIM_FAIL: unknown operation (fsync, write, pwrite, all)");
        }
    }
    if ((v = getenv("CRASHSIM_FAIL_PATH")) != NULL && v[0])
        fail_path = v;
    if ((v = getenv("CRASHSIM_FAIL_WHILE")) != NULL && v[0])
        fail_while = v;
    if ((v = getenv("CRASHSIM_FAIL_AFTER")) != NULL && atol(v) > 0)
        fail_after = atol(v);
    if ((v = getenv("CRASHSIM_FAIL_COUNT")) != NULL)
        fail_count = atol(v);
    if ((v = getenv("CRASHSIM_FAIL_ERRNO")) != NULL && v[0]) {
        if (strcmp(v, "EIO") == 0)
            fail_errno = EIO;
        else if (strcmp(v, "ENOSPC") == 0)
            fail_errno = ENOSPC;
        else if (strcmp(v, "EDQUOT") == 0)
            fail_errno = EDQUOT;
        else if (strcmp(v, "EROFS") == 0)
            fail_errno = EROFS;
        else if (atoi(v) > 0)
            fail_errno = atoi(v);
        else {
            errno = EINVAL;
            die("CRASHSIM_FAIL_ERRNO: EIO, ENOSPC, EDQUOT, EROFS or a number");
        }
    }
}

/* Whether this call of `what` (an operation of class op) on fd fails; sets errno when so. */
static bool fault(unsigned op, int fd, const char *what)
{
    if (!(fail_ops & op) || inside || fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return false;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n < 0)
        return false;
    path[n] = '\0';
    if (fail_path && !strstr(path, fail_path))
        return false;
    if (fail_while && access(fail_while, F_OK) != 0)
        return false;
    long k = __atomic_add_fetch(&fail_seen, 1, __ATOMIC_SEQ_CST);
    if (k < fail_after || (fail_count > 0 && k >= fail_after + fail_count))
        return false;
    char msg[PATH_MAX + 128];
    int len =
        snprintf(msg, sizeof(msg), "crashsim: injected %s into %s of %s (matching call %ld)\n",
                 fail_errno == EIO      ? "EIO"
                 : fail_errno == ENOSPC ? "ENOSPC"
                                        : strerror(fail_errno),
                 what, path, k);
    if (len > 0)
        (void)!real_write(2, msg, (size_t)len < sizeof(msg) ? (size_t)len : sizeof(msg) - 1);
    errno = fail_errno;
    return true;
}

/* ---- interposed calls ---- */

#define ENTER()                                                                                    \
    pthread_mutex_lock(&mu);                                                                       \
    inside++
#define LEAVE()                                                                                    \
    inside--;                                                                                      \
    pthread_mutex_unlock(&mu)

static int track_open(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
    char abs[PATH_MAX];
    bool t = !inside && active && absolute(dirfd, path, abs) && tracked(abs);
    if (!t)
        return at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
    ENTER();
    int e = find_ent(abs);
    bool existed = access(abs, F_OK) == 0;
    if (e < 0 && existed)
        e = see(abs);
    int fd = at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
    int saved = errno;
    if (fd >= 0) {
        if (!existed) { /* created: an empty object, its entry not durable until synced */
            int o = new_obj(abs, false);
            if (e < 0)
                e = add_ent(abs, false, o, -1);
            else
                ents[e].live = o;
        } else if (e >= 0 && !ents[e].is_dir && ents[e].live < 0) {
            ents[e].live = new_obj(abs, true);
        }
        /* O_TRUNC is an unsynced change like any write: the synced copy stays as it was */
        if (fd < MAX_FDS) {
            fdmap[fd] = e >= 0 && ents[e].is_dir ? e + 1 : 0;
            fdobj[fd] = e >= 0 && !ents[e].is_dir && ents[e].live >= 0 ? ents[e].live + 1 : 0;
        }
    }
    LEAVE();
    errno = saved;
    return fd;
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return track_open(AT_FDCWD, path, flags, mode, false);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return track_open(dirfd, path, flags, mode, true);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int close(int fd)
{
    if (inside || !active)
        return real_close(fd);
    ENTER();
    if (fd >= 0 && fd < MAX_FDS)
        fdmap[fd] = fdobj[fd] = 0;
    int rc = real_close(fd);
    int saved = errno;
    LEAVE();
    errno = saved;
    return rc;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (fault(FOP_WRITE, fd, "write"))
        return -1;
    if (inside || !active || fd < 0 || fd >= MAX_FDS || !fdobj[fd])
        return real_write(fd, buf, n);
    ENTER();
    ssize_t rc = real_write(fd, buf, n);
    int saved = errno;
    LEAVE();
    errno = saved;
    return rc;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (fault(FOP_PWRITE, fd, "pwrite"))
        return -1;
    if (inside || !active || fd < 0 || fd >= MAX_FDS || !fdobj[fd])
        return real_pwrite(fd, buf, n, off);
    ENTER();
    ssize_t rc = real_pwrite(fd, buf, n, off);
    int saved = errno;
    LEAVE();
    errno = saved;
    return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (fault(FOP_WRITE, fd, "writev"))
        return -1;
    if (inside || !active || fd < 0 || fd >= MAX_FDS || !fdobj[fd])
        return real_writev(fd, iov, cnt);
    ENTER();
    ssize_t rc = real_writev(fd, iov, cnt);
    int saved = errno;
    LEAVE();
    errno = saved;
    return rc;
}

/* Not tracked by the crash model (the product does not use them); faults only. */
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    if (fault(FOP_PWRITE, fd, "pwritev"))
        return -1;
    return real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
    __attribute__((alias("pwritev")));

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    if (fault(FOP_FSYNC, fd, "sync_file_range"))
        return -1;
    return real_sync_file_range(fd, off, n, flags);
}

int ftruncate(int fd, off_t len)
{
    if (inside || !active)
        return real_ftruncate(fd, len);
    ENTER();
    int rc = real_ftruncate(fd, len);
    int saved = errno;
    LEAVE();
    errno = saved;
    return rc;
}

int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

int fsync(int fd)
{
    if (fault(FOP_FSYNC, fd, "fsync"))
        return -1;
    if (inside || !active)
        return real_fsync(fd);
    ENTER();
    int rc = do_sync(fd, false);
    int saved = errno;
    LEAVE();
    errno = saved;
    return rc;
}

int fdatasync(int fd)
{
    if (fault(FOP_FSYNC, fd, "fdatasync"))
        return -1;
    if (inside || !active)
        return real_fdatasync(fd);
    while (sync_gate && fd >= 0 && fd < MAX_FDS && fdobj[fd] && access(sync_gate, F_OK) == 0)
        usleep(10000);
    ENTER();
    int rc = do_sync(fd, true);
    int saved = errno;
    LEAVE();
    errno = saved;
    return rc;
}

static void note_rename(const char *from, const char *to)
{
    int f = see(from), t = see(to);
    if (ents[f].is_dir) {
        /* not modelled: a directory rename (topic deletion) counts as durable at once */
        size_t n = strlen(from);
        for (int i = 0; i < nents; i++) {
            if (strncmp(ents[i].path, from, n) == 0 && ents[i].path[n] == '/') {
                char np[PATH_MAX * 2];
                snprintf(np, sizeof(np), "%s%s", to, ents[i].path + n);
                snprintf(ents[i].path, sizeof(ents[i].path), "%s", np);
            }
        }
        snprintf(ents[f].path, sizeof(ents[f].path), "%s", to);
        if (t >= 0 && t != f)
            ents[t].live = ents[t].durable = -1;
        return;
    }
    ents[t].is_dir = false;
    ents[t].live = ents[f].live;
    ents[f].live = -1;
    if (ents[t].live >= 0)
        snprintf(objs[ents[t].live].live, PATH_MAX, "%s", to);
}

int renameat(int ofd, const char *from, int nfd, const char *to)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (inside || !active || !absolute(ofd, from, a) || !absolute(nfd, to, b) ||
        !(tracked(a) || tracked(b)))
        return real_renameat(ofd, from, nfd, to);
    ENTER();
    see(a);
    see(b);
    int rc = real_renameat(ofd, from, nfd, to);
    int saved = errno;
    if (rc == 0)
        note_rename(a, b);
    LEAVE();
    errno = saved;
    return rc;
}

int rename(const char *from, const char *to)
{
    return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

static void note_unlink(const char *path)
{
    int e = see(path);
    if (ents[e].is_dir) {
        ents[e].live = -1;
        return;
    }
    if (ents[e].live >= 0)
        objs[ents[e].live].live[0] = '\0';
    ents[e].live = -1;
}

int unlinkat(int dirfd, const char *path, int flags)
{
    char a[PATH_MAX];
    if (inside || !active || !absolute(dirfd, path, a) || !tracked(a))
        return real_unlinkat(dirfd, path, flags);
    ENTER();
    see(a);
    int rc = real_unlinkat(dirfd, path, flags);
    int saved = errno;
    if (rc == 0)
        note_unlink(a);
    LEAVE();
    errno = saved;
    return rc;
}

int unlink(const char *path)
{
    return unlinkat(AT_FDCWD, path, 0);
}

int rmdir(const char *path)
{
    return unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

int remove(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return rmdir(path);
    return unlink(path);
}

int mkdir(const char *path, mode_t mode)
{
    char a[PATH_MAX];
    if (inside || !active || !absolute(AT_FDCWD, path, a) || !tracked(a))
        return real_mkdir(path, mode);
    ENTER();
    int e = find_ent(a);
    bool existed = access(a, F_OK) == 0;
    int rc = real_mkdir(path, mode);
    int saved = errno;
    if (rc == 0 && !existed) {
        if (e < 0)
            add_ent(a, true, 1, -1);
        else {
            ents[e].is_dir = true;
            ents[e].live = 1;
        }
    }
    LEAVE();
    errno = saved;
    return rc;
}

/* A duplicated descriptor tracks the same file (an fdatasync through it is a sync). */
static void note_dup(int from, int to)
{
    if (to >= 0 && to < MAX_FDS && from >= 0 && from < MAX_FDS) {
        fdmap[to] = fdmap[from];
        fdobj[to] = fdobj[from];
    }
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (inside || !active || (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC))
        return real_fcntl(fd, cmd, arg);
    ENTER();
    int rc = real_fcntl(fd, cmd, arg);
    int saved = errno;
    note_dup(fd, rc);
    LEAVE();
    errno = saved;
    return rc;
}

int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

int dup(int fd)
{
    if (inside || !active)
        return real_dup(fd);
    ENTER();
    int rc = real_dup(fd);
    int saved = errno;
    note_dup(fd, rc);
    LEAVE();
    errno = saved;
    return rc;
}
