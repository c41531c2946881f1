/* Filesystem helpers used wherever state must survive a crash (topic metadata, id blocks). */
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Creates one directory; when it is new, syncs its parent so the entry survives a power loss
 * (an fsync of the new directory's contents alone would not keep the directory). */
static int mkdir_durable(char *path, struct sl_err *err)
{
    if (mkdir(path, 0755) != 0) {
        if (errno == EEXIST)
            return 0;
        return sl_err_errno(err, "cannot create directory %s", path);
    }
    char *slash = strrchr(path, '/');
    if (!slash)
        return fs_sync_dir(".", err);
    if (slash == path)
        return fs_sync_dir("/", err);
    *slash = '\0';
    int rc = fs_sync_dir(path, err);
    *slash = '/';
    return rc;
}

int fs_mkdirs(const char *path, struct sl_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return sl_err_set(err, "path too long: %s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            int rc = mkdir_durable(tmp, err);
            *p = '/';
            if (rc != 0)
                return -1;
        }
    }
    return mkdir_durable(tmp, err);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path, struct sl_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : sl_err_errno(err, "cannot stat %s", path);
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return sl_err_errno(err, "cannot remove %s", path);
    return 0;
}

int fs_sync_dir(const char *path, struct sl_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sl_err_errno(err, "cannot open directory %s", path);
    int rc = fsync(fd);
    close(fd);
    if (rc != 0)
        return sl_err_errno(err, "cannot sync directory %s", path);
    return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, struct sl_err *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return sl_err_set(err, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_err_errno(err, "cannot create %s", tmp);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            sl_err_errno(err, "cannot write %s", tmp);
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        sl_err_errno(err, "cannot sync %s", tmp);
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        sl_err_errno(err, "cannot rename %s to %s", tmp, path);
        unlink(tmp);
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    return fs_sync_dir(dirname(dir), err);
}

int fs_read_file(const char *path, size_t max, char **data, size_t *len, struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_errno(err, "cannot open %s", path);
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return sl_err_set(err, "out of memory reading %s", path);
    }
    size_t n = fread(buf, 1, max + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        free(buf);
        return sl_err_set(err, "%s: %s", path, bad ? "read error" : "file too large");
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

void fs_random(void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* no entropy source: nothing sensible to do */
        }
        b += r;
        n -= (size_t)r;
    }
}

int64_t fs_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)INT32_MAX ? INT32_MAX
                                                                           : (int64_t)rl.rlim_cur;
}
