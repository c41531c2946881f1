/* The group record log: framing, replay, append with cut-back, compaction by rewrite. */
#include "broker/group_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/fsutil.h"
#include "core/log.h"

#define LOG_MOD "group"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes head and payload at pos with pwrite (no shared file offset to go wrong). */
static int write_record(int fd, int64_t pos, const uint8_t *payload, size_t len)
{
    uint8_t head[8];
    put32(head, (uint32_t)len);
    put32(head + 4, crc32c(0, payload, len));
    const uint8_t *parts[2] = {head, payload};
    size_t sizes[2] = {8, len};
    for (int i = 0; i < 2; i++) {
        size_t done = 0;
        while (done < sizes[i]) {
            ssize_t w = pwrite(fd, parts[i] + done, sizes[i] - done, (off_t)pos);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                if (w == 0)
                    errno = EIO;
                return -1;
            }
            done += (size_t)w;
            pos += w;
        }
    }
    return 0;
}

int group_store_open(struct group_store *st, const char *data_dir, group_store_replay_fn fn,
                     void *ctx, int64_t *skipped, struct sl_err *err)
{
    char dir[4000];
    memset(st, 0, sizeof(*st));
    st->fd = -1;
    st->shadow_fd = -1;
    if (skipped)
        *skipped = 0;
    snprintf(dir, sizeof(dir), "%s/groups", data_dir);
    if (fs_mkdirs(dir, err) != 0)
        return -1;
    snprintf(st->path, sizeof(st->path), "%s/state.log", dir);
    int fd = open(st->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_err_errno(err, "cannot open %s", st->path);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return sl_err_errno(err, "cannot stat %s", st->path);
    }
    size_t size = (size_t)sb.st_size, got = 0;
    uint8_t *data = size > 0 ? malloc(size) : NULL;
    if (size > 0 && !data) {
        close(fd);
        return sl_err_set(err, "out of memory reading %s", st->path);
    }
    while (got < size) {
        ssize_t n = pread(fd, data + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    size_t pos = 0;
    int64_t bad = 0;
    while (pos + 8 <= got) {
        uint32_t len = get32(data + pos);
        uint32_t crc = get32(data + pos + 4);
        if (len > GROUP_STORE_MAX_RECORD || len > got - pos - 8 ||
            crc32c(0, data + pos + 8, len) != crc)
            break;
        /* A whole, CRC-valid record that cannot be applied is skipped: what follows it is
         * as valid as anything before it. */
        if (fn(ctx, data + pos + 8, len) != 0)
            bad++;
        pos += 8 + len;
        st->nrec++;
    }
    free(data);
    if (bad > 0)
        log_warn(LOG_MOD, "%s: skipped %" PRId64 " record(s) that could not be applied", st->path,
                 bad);
    if (pos < got) {
        log_warn(LOG_MOD,
                 "%s: cut %zu bytes of torn or corrupt records after %" PRId64 " good ones",
                 st->path, got - pos, st->nrec);
        if (ftruncate(fd, (off_t)pos) != 0) {
            close(fd);
            return sl_err_errno(err, "cannot truncate %s", st->path);
        }
        st->dirty = true;
    }
    st->fd = fd;
    st->end = (int64_t)pos;
    if (skipped)
        *skipped = bad;
    return 0;
}

int group_store_append(struct group_store *st, const uint8_t *payload, size_t len,
                       struct sl_err *err)
{
    if (st->broken)
        return sl_err_set(err, "%s: an earlier failed write could not be undone", st->path);
    if (len > GROUP_STORE_MAX_RECORD)
        return sl_err_set(err, "group record of %zu bytes is over the %d-byte limit", len,
                          GROUP_STORE_MAX_RECORD);
    if (write_record(st->fd, st->end, payload, len) != 0) {
        sl_err_errno(err, "cannot append to %s", st->path);
        /* Cut back whatever part went in, so the next append follows the last whole record
         * and replay never stops at this one. */
        if (ftruncate(st->fd, (off_t)st->end) != 0) {
            log_error(LOG_MOD, "%s: cannot cut back a failed append: %s", st->path,
                      strerror(errno));
            st->broken = true;
        }
        return -1;
    }
    if (st->shadow_on && write_record(st->shadow_fd, st->shadow_end, payload, len) != 0) {
        /* The new log must hold exactly what the old one does: the append fails in both. */
        sl_err_errno(err, "cannot append to %s.new", st->path);
        if (ftruncate(st->shadow_fd, (off_t)st->shadow_end) != 0) {
            /* a torn record at its end: nothing may follow it, in either log */
            st->shadow_bad = true;
            st->broken = true;
        }
        if (ftruncate(st->fd, (off_t)st->end) != 0)
            st->broken = true;
        return -1;
    }
    if (st->shadow_on) {
        st->shadow_end += 8 + (int64_t)len;
        st->shadow_nrec++;
    }
    st->end += 8 + (int64_t)len;
    st->nrec++;
    st->dirty = true;
    return 0;
}

int group_store_sync(struct group_store *st, struct sl_err *err)
{
    if (!st->dirty)
        return 0;
    if (fdatasync(st->fd) != 0)
        return sl_err_errno(err, "cannot sync %s", st->path);
    if (st->shadow_on && fdatasync(st->shadow_fd) != 0)
        return sl_err_errno(err, "cannot sync %s.new", st->path);
    st->dirty = false;
    return 0;
}

void group_store_close(struct group_store *st)
{
    if (st->shadow_on) { /* a compaction never ended: the old log is whole */
        close(st->shadow_fd);
        st->shadow_on = false;
        st->shadow_fd = -1;
    }
    if (st->fd >= 0) {
        if (st->dirty)
            fdatasync(st->fd);
        close(st->fd);
    }
    st->fd = -1;
}

int group_store_rewrite_begin(const struct group_store *st, struct group_store_rewrite *rw,
                              struct sl_err *err)
{
    memset(rw, 0, sizeof(*rw));
    snprintf(rw->tmp, sizeof(rw->tmp), "%s.new", st->path);
    rw->fd = open(rw->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (rw->fd < 0)
        return sl_err_errno(err, "cannot create %s", rw->tmp);
    return 0;
}

int group_store_rewrite_add(struct group_store_rewrite *rw, const uint8_t *payload, size_t len,
                            struct sl_err *err)
{
    if (len > GROUP_STORE_MAX_RECORD)
        return sl_err_set(err, "group record of %zu bytes is over the %d-byte limit", len,
                          GROUP_STORE_MAX_RECORD);
    if (write_record(rw->fd, rw->end, payload, len) != 0)
        return sl_err_errno(err, "cannot write %s", rw->tmp);
    rw->end += 8 + (int64_t)len;
    rw->nrec++;
    return 0;
}

void group_store_rewrite_abort(struct group_store_rewrite *rw)
{
    if (rw->fd >= 0) {
        close(rw->fd);
        unlink(rw->tmp);
    }
    rw->fd = -1;
}

int group_store_rewrite_commit(struct group_store *st, struct group_store_rewrite *rw,
                               struct sl_err *err)
{
    if (fsync(rw->fd) != 0) {
        sl_err_errno(err, "cannot sync %s", rw->tmp);
        group_store_rewrite_abort(rw);
        return -1;
    }
    if (rename(rw->tmp, st->path) != 0) {
        sl_err_errno(err, "cannot replace %s", st->path);
        group_store_rewrite_abort(rw);
        return -1;
    }
    if (st->fd >= 0)
        close(st->fd);
    st->fd = rw->fd;
    st->end = rw->end;
    st->nrec = rw->nrec;
    st->dirty = false;
    st->broken = false;
    rw->fd = -1;
    /* Until the directory is synced the rename may be undone by a power loss, and the old log
     * would come back without what is appended to the new one from now on. */
    char dir[sizeof(st->path)];
    snprintf(dir, sizeof(dir), "%s", st->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return fs_sync_dir(dir, err);
}

int group_store_frame(struct buf *b, const uint8_t *payload, size_t len)
{
    if (len > GROUP_STORE_MAX_RECORD)
        return -1;
    uint8_t head[8];
    put32(head, (uint32_t)len);
    put32(head + 4, crc32c(0, payload, len));
    return buf_append(b, head, 8) == 0 && buf_append(b, payload, len) == 0 ? 0 : -1;
}

int group_store_compact_begin(struct group_store *st, struct group_store_compaction *c,
                              struct sl_err *err)
{
    if (st->shadow_on)
        return sl_err_set(err, "a compaction of %s is already out", st->path);
    snprintf(c->tmp, sizeof(c->tmp), "%s.new", st->path);
    snprintf(c->path, sizeof(c->path), "%s", st->path);
    c->stage = 0;
    int fd = open(c->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_err_errno(err, "cannot create %s", c->tmp);
    c->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (c->fd < 0) {
        close(fd);
        unlink(c->tmp);
        return sl_err_errno(err, "cannot dup a descriptor of %s", c->tmp);
    }
    st->shadow_on = true;
    st->shadow_fd = fd;
    st->shadow_end = (int64_t)c->head_len; /* appends go after the head run writes */
    st->shadow_nrec = c->head_nrec;
    st->shadow_bad = false;
    return 0;
}

void group_store_compact_run(struct group_store_compaction *c)
{
    size_t done = 0;
    while (done < c->head_len) {
        ssize_t w = pwrite(c->fd, c->head + done, c->head_len - done, (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            sl_err_errno(&c->err, "cannot write %s", c->tmp);
            goto out;
        }
        done += (size_t)w;
    }
    if (fdatasync(c->fd) != 0) {
        sl_err_errno(&c->err, "cannot sync %s", c->tmp);
        goto out;
    }
    if (rename(c->tmp, c->path) != 0) {
        sl_err_errno(&c->err, "cannot replace %s", c->path);
        goto out;
    }
    c->stage = 1;
    char dir[sizeof(c->path)];
    snprintf(dir, sizeof(dir), "%s", c->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (fs_sync_dir(dir, &c->err) == 0)
        c->stage = 2;
out:
    close(c->fd);
    c->fd = -1;
    if (c->stage == 0)
        unlink(c->tmp);
}

int group_store_compact_end(struct group_store *st, struct group_store_compaction *c, int *old_fd,
                            bool *failed, struct sl_err *err)
{
    free(c->head);
    c->head = NULL;
    *old_fd = -1;
    *failed = c->stage != 2;
    if (c->stage == 1) {
        sl_err_set(err, "%s", c->err.msg);
        return -1;
    }
    if (c->stage == 0) {
        sl_err_set(err, "%s", c->err.msg);
        close(st->shadow_fd);
    } else {
        *old_fd = st->fd;
        st->fd = st->shadow_fd;
        st->end = st->shadow_end;
        st->nrec = st->shadow_nrec;
        st->dirty = true;
        /* a failed append the old log could not cut back is not in the new one */
        st->broken = st->shadow_bad;
    }
    st->shadow_on = false;
    st->shadow_fd = -1;
    return 0;
}
