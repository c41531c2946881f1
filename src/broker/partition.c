/* One partition's log: the ordered list of segments in its directory, with roll, retention,
 * recovery on open, reads that may span segments and grouped syncs. segment.c handles the
 * bytes inside one segment. The oldest segment's base offset is the log start, so the active
 * segment is kept (empty if need be) even when retention has deleted everything else. */
#include "broker/partition.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/batch.h"
#include "broker/proto.h"
#include "broker/segment.h"
#include "core/fsutil.h"
#include "core/log.h"

#define LOG_MOD "log"
#define DEFAULT_SEGMENT_BYTES (1024LL * 1024 * 1024)
#define DEFAULT_INDEX_INTERVAL 4096
#define RECOVERY_POINT "recovery-point"
/* Written when a sync or write of the log failed: the offset up to which it was synced. */
#define STORAGE_ERROR "storage-error"

struct partition {
    char *dir;
    struct partition_config cfg;
    struct segment *segs; /* oldest first; the last one is active (appended to) */
    size_t nsegs, cap;
    int64_t size_bytes;
    bool dirty;     /* appended since the last partition_sync */
    bool dir_dirty; /* segment files created since the last partition_sync */
    /* Segments with a base offset below this were fsynced whole (recorded in RECOVERY_POINT
     * after the sync that followed their roll): open trusts them; every other segment is
     * scanned and cut at its first bad batch. */
    int64_t clean_before;
    bool rp_failing; /* the last attempt to record the recovery point failed (logged) */
};

static struct segment *active(struct partition *p)
{
    return &p->segs[p->nsegs - 1];
}

static int grow_segs(struct partition *p, size_t need, struct sl_err *err)
{
    if (need <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap * 2 : 8;
    while (cap < need)
        cap *= 2;
    struct segment *s = realloc(p->segs, cap * sizeof(*s));
    if (!s)
        return sl_err_set(err, "out of memory");
    p->segs = s;
    p->cap = cap;
    return 0;
}

/* The recorded recovery point, or 0 when there is none (every segment is then scanned). */
static int64_t read_recovery_point(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, RECOVERY_POINT);
    char *text;
    if (fs_read_file(path, 64, &text, NULL, NULL) != 0)
        return 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    bool ok = end != text && (*end == '\n' || *end == '\0') && v >= 0;
    free(text);
    return ok ? (int64_t)v : 0;
}

/* The end of an attempt to record the recovery point `base`. The record only spares a restart
 * the scan of the segments before it: the records themselves are synced by then, so a failure
 * (a full disk) is not a storage error. It is logged (once until a record succeeds again), and
 * clean_before stays put, so the next sync tries again. */
static void recovery_point_done(struct partition *p, int64_t base, const struct sl_err *failed)
{
    if (failed) {
        if (!p->rp_failing)
            log_warn(LOG_MOD,
                     "%s: cannot record the recovery point (%s); the records are synced, a "
                     "restart would scan the segments from offset %" PRId64
                     "; tried again at each sync",
                     p->dir, failed->msg, p->clean_before);
        p->rp_failing = true;
        return;
    }
    if (p->rp_failing)
        log_info(LOG_MOD, "%s: recovery point recorded again (offset %" PRId64 ")", p->dir, base);
    p->rp_failing = false;
    p->clean_before = base;
}

/* Records durably that every segment before the active one has been fsynced whole. */
static void write_recovery_point(struct partition *p)
{
    int64_t base = active(p)->base_offset;
    if (base <= p->clean_before)
        return;
    char path[4200], text[32];
    snprintf(path, sizeof(path), "%s/%s", p->dir, RECOVERY_POINT);
    int n = snprintf(text, sizeof(text), "%" PRId64 "\n", base);
    struct sl_err err;
    recovery_point_done(p, base, fs_write_atomic(path, text, (size_t)n, &err) == 0 ? NULL : &err);
}

/* mkdir -p: the broker passes <data-dir>/<topic>-<partition>, and the data dir may be new. */
static int mkdir_all(const char *dir, struct sl_err *err)
{
    char *tmp = strdup(dir);
    int rc = -1;
    if (!tmp)
        return sl_err_set(err, "out of memory");
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            sl_err_errno(err, "mkdir %s", tmp);
            goto out;
        }
        *s = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        sl_err_errno(err, "mkdir %s", tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

/* Base offset from a segment file name "<20 digits>.log"; -1 for any other name. */
static int64_t parse_segment_name(const char *name)
{
    if (strlen(name) != 24 || strcmp(name + 20, ".log") != 0)
        return -1;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        if (v > (INT64_MAX - (name[i] - '0')) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Lists the base offsets of the segment files in dir, sorted. Caller frees *bases. */
static int list_segments(const char *dir, int64_t **bases, size_t *n, struct sl_err *err)
{
    DIR *d = opendir(dir);
    size_t cap = 0;
    *bases = NULL;
    *n = 0;
    if (!d)
        return sl_err_errno(err, "open directory %s", dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t base = parse_segment_name(de->d_name);
        if (base < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *b = realloc(*bases, cap * sizeof(**bases));
            if (!b) {
                closedir(d);
                free(*bases);
                *bases = NULL;
                return sl_err_set(err, "out of memory");
            }
            *bases = b;
        }
        (*bases)[(*n)++] = base;
    }
    closedir(d);
    if (*n > 0)
        qsort(*bases, *n, sizeof(**bases), cmp_i64);
    return 0;
}

/* The previous run's sync failed (STORAGE_ERROR holds how far the log was synced): what
 * follows may be in the page cache only, where a failed fsync leaves pages the disk may never
 * get, so a sync now would prove nothing. None of it was acknowledged: cut the log back to the
 * synced end (whole segments past it removed, the one holding it truncated at that batch) before
 * recovery scans it, then forget the mark. bases is updated. */
static int cut_after_storage_error(const char *dir, int64_t *bases, size_t *nbases,
                                   struct sl_err *err)
{
    char mark[4200], path[4200];
    snprintf(mark, sizeof(mark), "%s/%s", dir, STORAGE_ERROR);
    char *text;
    if (fs_read_file(mark, 64, &text, NULL, NULL) != 0)
        return 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    bool ok = end != text && (*end == '\n' || *end == '\0') && v >= 0;
    free(text);
    if (!ok)
        return sl_err_set(err, "%s: not an offset", mark);
    int64_t synced = (int64_t)v;
    int64_t dropped = 0;
    while (*nbases > 0 && bases[*nbases - 1] >= synced) {
        char name[64];
        segment_name(name, bases[*nbases - 1], ".log");
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        struct stat st;
        if (stat(path, &st) == 0)
            dropped += st.st_size;
        if (unlink(path) != 0 && errno != ENOENT)
            return sl_err_errno(err, "remove %s", path);
        segment_name(name, bases[*nbases - 1], ".index");
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (unlink(path) != 0 && errno != ENOENT)
            return sl_err_errno(err, "remove %s", path);
        (*nbases)--;
    }
    if (*nbases > 0) {
        char name[64];
        segment_name(name, bases[*nbases - 1], ".log");
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return sl_err_errno(err, "open %s", path);
        struct stat st;
        int64_t pos = 0;
        uint8_t h[12];
        int rc = fstat(fd, &st);
        while (rc == 0 && pos + 12 <= st.st_size && pread(fd, h, 12, pos) == 12) {
            int64_t base = 0;
            for (int i = 0; i < 8; i++)
                base = (int64_t)((uint64_t)base << 8 | h[i]);
            uint32_t len =
                (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
            if (base >= synced)
                break;
            pos += 12 + (int64_t)len;
        }
        if (rc == 0 && pos < st.st_size) {
            dropped += st.st_size - pos;
            rc = ftruncate(fd, (off_t)pos) == 0 && fdatasync(fd) == 0 ? 0 : -1;
        }
        if (rc != 0)
            sl_err_errno(err, "cut %s back", path);
        close(fd);
        if (rc != 0)
            return -1;
    }
    /* A sync that ended after the failure may have recorded a recovery point past the cut:
     * without one, recovery scans every segment. */
    snprintf(path, sizeof(path), "%s/%s", dir, RECOVERY_POINT);
    if (unlink(path) != 0 && errno != ENOENT)
        return sl_err_errno(err, "remove %s", path);
    if (fs_sync_dir(dir, err) != 0)
        return -1;
    if (unlink(mark) != 0 && errno != ENOENT)
        return sl_err_errno(err, "remove %s", mark);
    if (fs_sync_dir(dir, err) != 0)
        return -1;
    log_warn(LOG_MOD,
             "%s: the previous run had a storage error: log cut back to offset %" PRId64
             " (what it had synced), %" PRId64 " bytes of unacknowledged records dropped",
             dir, synced, dropped);
    return 0;
}

int partition_mark_storage_error(struct partition *p, int64_t synced_end, struct sl_err *err)
{
    char path[4200], text[32];
    snprintf(path, sizeof(path), "%s/%s", p->dir, STORAGE_ERROR);
    int n = snprintf(text, sizeof(text), "%" PRId64 "\n", synced_end);
    return fs_write_atomic(path, text, (size_t)n, err);
}

static void partition_free(struct partition *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsegs; i++)
        segment_close(&p->segs[i]);
    free(p->segs);
    free(p->dir);
    free(p);
}

int partition_open(const char *dir, const struct partition_config *cfg, struct partition **out,
                   struct sl_err *err)
{
    int64_t *bases = NULL;
    size_t nbases = 0;
    struct partition *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p || !(p->dir = strdup(dir))) {
        free(p);
        return sl_err_set(err, "out of memory");
    }
    p->cfg = *cfg;
    if (p->cfg.segment_bytes <= 0)
        p->cfg.segment_bytes = DEFAULT_SEGMENT_BYTES;
    /* Index positions are u32, so a segment cannot pass 4 GiB (except by one huge batch). */
    if (p->cfg.segment_bytes > (int64_t)UINT32_MAX)
        p->cfg.segment_bytes = UINT32_MAX;
    if (p->cfg.index_interval_bytes <= 0)
        p->cfg.index_interval_bytes = DEFAULT_INDEX_INTERVAL;

    if (mkdir_all(dir, err) != 0 || list_segments(dir, &bases, &nbases, err) != 0 ||
        cut_after_storage_error(dir, bases, &nbases, err) != 0)
        goto fail;
    p->clean_before = nbases > 0 ? read_recovery_point(dir) : 0;
    if (grow_segs(p, nbases ? nbases : 1, err) != 0)
        goto fail;
    if (nbases == 0) {
        if (segment_create(&p->segs[0], dir, 0, p->cfg.index_interval_bytes, err) != 0)
            goto fail;
        p->nsegs = 1;
        p->dir_dirty = true;
    }
    for (size_t i = 0; i < nbases; i++) {
        struct segment *seg = &p->segs[i];
        int64_t cut = 0;
        if (segment_open(seg, dir, bases[i], p->cfg.index_interval_bytes, err) != 0)
            goto fail;
        p->nsegs++;
        /* Any segment not known to be fsynced whole may have been torn by a crash (a roll
         * happens before the group fsync): check every batch's CRC. Segments below the
         * recovery point were synced whole; their index and tail are checked cheaply. */
        bool unclean = i + 1 == nbases || bases[i] >= p->clean_before;
        int rc = unclean ? segment_recover(seg, &cut, err) : segment_load(seg, &cut, err);
        if (rc != 0)
            goto fail;
        /* What recovery kept may exist only in the page cache (after kill -9): it is synced
         * below, before the log end can become anyone's high watermark. */
        seg->dirty = unclean;
        if (i > 0) {
            struct segment *prev = &p->segs[i - 1];
            if (prev->end_offset > seg->base_offset) {
                sl_err_set(err,
                           "%s: ends at offset %" PRId64 ", past the next segment's base %" PRId64,
                           prev->path, prev->end_offset, seg->base_offset);
                goto fail;
            }
            if (prev->end_offset < seg->base_offset)
                log_warn(LOG_MOD, "%s: offsets %" PRId64 "..%" PRId64 " are missing", dir,
                         prev->end_offset, seg->base_offset - 1);
        }
        p->size_bytes += seg->size;
    }
    if (nbases > 0) {
        /* Sync the recovered data and the directory entries of the segments before anything
         * is published (the previous run may have died before its group fsync). */
        p->dirty = true;
        p->dir_dirty = true;
        if (partition_sync(p, err) != 0)
            goto fail;
    }
    free(bases);
    log_debug(LOG_MOD, "%s: %zu segments, offsets %" PRId64 "..%" PRId64, dir, p->nsegs,
              partition_log_start(p), partition_log_end(p));
    *out = p;
    return 0;
fail:
    free(bases);
    partition_free(p);
    return -1;
}

void partition_close(struct partition *p)
{
    partition_free(p);
}

int partition_destroy(struct partition *p, struct sl_err *err)
{
    int rc = 0;
    char *dir = strdup(p->dir);
    partition_free(p);
    if (!dir)
        return sl_err_set(err, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        rc = sl_err_errno(err, "open directory %s", dir);
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT)
            rc = sl_err_errno(err, "delete %s/%s", dir, de->d_name);
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) != 0)
        rc = sl_err_errno(err, "remove %s", dir);
out:
    free(dir);
    return rc;
}

int64_t partition_log_start(const struct partition *p)
{
    return p->segs[0].base_offset;
}

int64_t partition_log_end(const struct partition *p)
{
    return p->segs[p->nsegs - 1].end_offset;
}

int64_t partition_size_bytes(const struct partition *p)
{
    return p->size_bytes;
}

bool partition_dirty(const struct partition *p)
{
    return p->dirty;
}

/* Starts a new active segment at the log end. The old one keeps its fd (for reads and the
 * next sync) but writes out and closes its index. */
static int partition_roll(struct partition *p, struct sl_err *err)
{
    if (grow_segs(p, p->nsegs + 1, err) != 0)
        return -1;
    int64_t base = active(p)->end_offset;
    segment_seal(active(p));
    if (segment_create(&p->segs[p->nsegs], p->dir, base, p->cfg.index_interval_bytes, err) != 0)
        return -1;
    p->nsegs++;
    p->dir_dirty = true;
    log_debug(LOG_MOD, "%s: rolled to a new segment at offset %" PRId64, p->dir, base);
    return 0;
}

int partition_append(struct partition *p, uint8_t *batch, size_t len, int64_t *base_offset,
                     struct sl_err *err)
{
    struct batch_header h;
    if (batch_parse_header(batch, len, &h, err) != 0)
        return -1;
    if ((size_t)h.length + BATCH_LOG_OVERHEAD != len || h.last_offset_delta < 0)
        return sl_err_set(err, "append: batch length or LastOffsetDelta is inconsistent");
    struct segment *seg = active(p);
    int64_t base = seg->end_offset;
    int64_t rel_last = base + h.last_offset_delta - seg->base_offset;
    /* Roll when the segment is full, or when a position or relative offset would no longer
     * fit the index's u32 fields. An empty segment takes any batch. */
    if (seg->size > 0 &&
        ((int64_t)len > p->cfg.segment_bytes - seg->size ||
         (int64_t)len > (int64_t)UINT32_MAX - seg->size || rel_last > (int64_t)UINT32_MAX)) {
        if (partition_roll(p, err) != 0)
            return -1;
        seg = active(p);
    }
    batch_set_base_offset(batch, base);
    h.base_offset = base;
    if (segment_append(seg, batch, len, &h, err) != 0)
        return -1;
    p->size_bytes += (int64_t)len;
    p->dirty = true;
    *base_offset = base;
    return 0;
}

int partition_sync(struct partition *p, struct sl_err *err)
{
    /* Only the active segment and those rolled since the last sync can be dirty, and they
     * sit at the end of the list: walk back until a clean, older segment. */
    for (size_t i = p->nsegs; i-- > 0;) {
        struct segment *seg = &p->segs[i];
        if (!seg->dirty && i + 1 < p->nsegs && seg->base_offset < p->clean_before)
            break;
        if (segment_sync(seg, err) != 0)
            return -1;
    }
    if (p->dir_dirty) {
        /* New segment files must survive a crash as directory entries, too. */
        if (fs_sync_dir(p->dir, err) != 0)
            return -1;
        p->dir_dirty = false;
    }
    /* Every segment before the active one is now durable whole: say so, once per roll. */
    write_recovery_point(p);
    p->dirty = false;
    return 0;
}

static void ticket_release(struct partition_sync_ticket *t)
{
    free(t->path);
    t->path = NULL;
    for (int i = 0; i < t->nold; i++)
        free(t->old[i]);
    free(t->old);
    t->old = NULL;
    t->nold = 0;
    free(t->dir);
    t->dir = NULL;
    free(t->rp_path);
    t->rp_path = NULL;
}

/* Drop-behind works in whole units of this many bytes. */
#define DROP_UNIT ((int64_t)1 << 20)

int partition_sync_prepare(struct partition *p, int64_t keep, struct partition_sync_ticket *t,
                           struct sl_err *err)
{
    struct segment *seg = active(p);
    *t = (struct partition_sync_ticket){.rp_base = -1};
    bool others_dirty = p->nsegs > 1 && p->segs[p->nsegs - 2].dirty;
    bool roll = p->dir_dirty || others_dirty || seg->base_offset > p->clean_before;
    if (!roll && !seg->dirty)
        return 0;
    t->base_offset = seg->base_offset;
    t->end_offset = seg->end_offset;
    if (roll) {
        /* What a roll left: the rolled segments not yet synced (at the end of the list, as in
         * partition_sync), the new files' directory entries, then the recovery point. */
        size_t first = p->nsegs - 1;
        while (first > 0) {
            struct segment *o = &p->segs[first - 1];
            if (!o->dirty && o->base_offset < p->clean_before)
                break;
            first--;
        }
        size_t n = p->nsegs - 1 - first;
        if (n > 0 && !(t->old = malloc(n * sizeof(*t->old))))
            goto oom;
        for (size_t i = first; i < p->nsegs - 1; i++) {
            if (!p->segs[i].dirty)
                continue;
            if (!(t->old[t->nold] = strdup(p->segs[i].path)))
                goto oom;
            t->nold++;
        }
        if (p->dir_dirty && !(t->dir = strdup(p->dir)))
            goto oom;
        if (seg->base_offset > p->clean_before) {
            size_t len = strlen(p->dir) + sizeof(RECOVERY_POINT) + 2;
            if (!(t->rp_path = malloc(len)))
                goto oom;
            snprintf(t->rp_path, len, "%s/%s", p->dir, RECOVERY_POINT);
            t->rp_base = seg->base_offset;
        }
        p->dir_dirty = false; /* a roll from now on sets it again, for the next sync */
    }
    if (seg->dirty && !(t->path = strdup(seg->path)))
        goto oom;
    /* Drop-behind: whole MiBs of the active segment older than its newest `keep` bytes leave
     * the page cache once synced (the sync thread calls fadvise after the fdatasync). */
    int64_t upto = keep > 0 && seg->size > keep ? (seg->size - keep) / DROP_UNIT * DROP_UNIT : 0;
    if (t->path && upto > seg->uncached) {
        t->drop_from = seg->uncached;
        t->drop_to = upto;
        seg->uncached = upto;
    }
    return 1;
oom:
    ticket_release(t);
    return sl_err_set(err, "out of memory");
}

/* fdatasyncs path's data; then, with drop_to > drop_from, asks the kernel to drop that range
 * from the page cache (the pages are clean now, so it can). */
static int sync_file(const char *path, int64_t drop_from, int64_t drop_to, struct sl_err *err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return sl_err_errno(err, "open %s", path);
    int rc = fdatasync(fd) == 0 ? 0 : sl_err_errno(err, "fdatasync %s", path);
    if (rc == 0 && drop_to > drop_from)
        posix_fadvise(fd, drop_from, drop_to - drop_from, POSIX_FADV_DONTNEED);
    close(fd);
    return rc;
}

int partition_sync_run(struct partition_sync_ticket *t, struct sl_err *err)
{
    int rc = 0;
    for (int i = 0; i < t->nold && rc == 0; i++)
        rc = sync_file(t->old[i], 0, 0, err);
    if (rc == 0 && t->path)
        rc = sync_file(t->path, t->drop_from, t->drop_to, err);
    if (rc == 0 && t->dir)
        rc = fs_sync_dir(t->dir, err);
    if (rc == 0 && t->rp_path) {
        /* every segment before the active one is now durable whole: say so */
        char text[32];
        int n = snprintf(text, sizeof(text), "%" PRId64 "\n", t->rp_base);
        t->rp_failed = fs_write_atomic(t->rp_path, text, (size_t)n, &t->rp_err) != 0;
    }
    ticket_release(t); /* finish needs only the offsets */
    return rc;
}

void partition_sync_finish(struct partition *p, const struct partition_sync_ticket *t)
{
    /* Rolled segments older than the ticket's active one were all synced (none is appended to
     * after its roll); the ticket's segment is clean if nothing was appended since. */
    for (size_t i = p->nsegs; i-- > 0;) {
        struct segment *seg = &p->segs[i];
        if (seg->base_offset < t->base_offset) {
            if (!seg->dirty)
                break;
            seg->dirty = false;
        } else if (seg->base_offset == t->base_offset && seg->end_offset == t->end_offset &&
                   i + 1 == p->nsegs) {
            seg->dirty = false;
        }
    }
    if (t->rp_base > p->clean_before)
        recovery_point_done(p, t->rp_base, t->rp_failed ? &t->rp_err : NULL);
}

/* Index of the segment that holds offset: the last one whose base is <= offset. */
static size_t find_segment(const struct partition *p, int64_t offset)
{
    size_t lo = 0, hi = p->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid].base_offset <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}

int partition_read(struct partition *p, int64_t offset, int64_t limit_offset, size_t max_bytes,
                   struct buf *out, struct sl_err *err)
{
    if (offset < partition_log_start(p) || offset > partition_log_end(p))
        return 1;
    size_t total = 0;
    for (size_t i = find_segment(p, offset); i < p->nsegs; i++) {
        struct segment *seg = &p->segs[i];
        int64_t pos = 0;
        if (offset > seg->base_offset && segment_find(seg, offset, &pos, err) != 0)
            return -1;
        size_t added;
        bool stopped;
        size_t budget = max_bytes > total ? max_bytes - total : 0;
        if (segment_read(seg, pos, limit_offset, budget, total == 0, out, &added, &stopped, err) !=
            0)
            return -1;
        total += added;
        if (stopped)
            break;
    }
    return 0;
}

int partition_slices(struct partition *p, int64_t offset, int64_t limit_offset, size_t max_bytes,
                     struct log_slice *out, int max_slices, int *nslices, size_t *total,
                     struct sl_err *err)
{
    *nslices = 0;
    *total = 0;
    if (offset < partition_log_start(p) || offset > partition_log_end(p))
        return 1;
    for (size_t i = find_segment(p, offset); i < p->nsegs && *nslices < max_slices; i++) {
        struct segment *seg = &p->segs[i];
        if (limit_offset <= seg->base_offset)
            break;
        int64_t pos = 0, end = seg->size;
        if (offset > seg->base_offset && segment_find(seg, offset, &pos, err) != 0)
            goto fail;
        bool last = limit_offset < seg->end_offset;
        if (last && segment_find(seg, limit_offset, &end, err) != 0)
            goto fail; /* the batch holding limit_offset is the first one not to send */
        if (pos >= end) {
            if (last)
                break;
            continue; /* offset sits in a gap after this segment's end: the next one has it */
        }
        int fd = segment_fd(seg, err);
        if (fd < 0)
            goto fail;
        size_t len = (size_t)(end - pos);
        size_t budget = max_bytes > *total ? max_bytes - *total : 0;
        if (len > budget) {
            uint8_t head[BATCH_LOG_OVERHEAD];
            if (pread(fd, head, sizeof(head), pos) != (ssize_t)sizeof(head)) {
                sl_err_errno(err, "read %s", seg->path);
                goto fail;
            }
            size_t first = (size_t)be32(head + 8) + BATCH_LOG_OVERHEAD;
            if (*total == 0 && first > budget)
                budget = first; /* the first batch goes whole, however large (KIP-74) */
            else if (first > budget)
                budget = 0; /* never a partial batch alone: the consumer gets it next time */
            if (budget < len)
                len = budget;
            last = true;
        }
        if (len == 0)
            break;
        /* A dup: the segment's own descriptor may be closed by the pool before the caller
         * sends these bytes (a Fetch slices many partitions before it writes any). */
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dfd < 0) {
            sl_err_errno(err, "dup %s", seg->path);
            goto fail;
        }
        out[(*nslices)++] = (struct log_slice){dfd, pos, len};
        *total += len;
        if (last)
            break;
        offset = seg->end_offset; /* continue at the start of the next segment */
    }
    return 0;
fail:
    log_slices_close(out, *nslices);
    *nslices = 0;
    *total = 0;
    return -1;
}

void log_slices_close(struct log_slice *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (s[i].fd >= 0)
            close(s[i].fd);
        s[i].fd = -1;
    }
}

int partition_offset_for_timestamp(struct partition *p, int64_t ts, int64_t *offset,
                                   int64_t *timestamp, struct sl_err *err)
{
    *offset = -1;
    *timestamp = -1;
    for (size_t i = 0; i < p->nsegs; i++) {
        int64_t max_ts;
        if (segment_max_timestamp(&p->segs[i], &max_ts, err) != 0)
            return -1;
        if (max_ts < ts || p->segs[i].size == 0)
            continue;
        int rc = segment_offset_for_timestamp(&p->segs[i], ts, offset, timestamp, err);
        if (rc < 0)
            return -1;
        if (rc > 0)
            return 0;
    }
    *offset = -1;
    *timestamp = -1;
    return 0;
}

/* Moves the oldest segment (never the only one) to the end of *gone, whose files the caller
 * deletes. */
static int detach_oldest(struct partition *p, struct partition_gone *gone, struct sl_err *err)
{
    struct segment *seg = &p->segs[0];
    if (gone->n == gone->cap) {
        size_t cap = gone->cap ? gone->cap * 2 : 4;
        struct segment *g = realloc(gone->segs, cap * sizeof(*g));
        if (!g)
            return sl_err_set(err, "out of memory");
        gone->segs = g;
        gone->cap = cap;
    }
    log_info(LOG_MOD, "%s: retention deletes segment %" PRId64 "..%" PRId64 " (%" PRId64 " bytes)",
             p->dir, seg->base_offset, seg->end_offset - 1, seg->size);
    gone->segs[gone->n++] = *seg;
    p->size_bytes -= seg->size;
    memmove(&p->segs[0], &p->segs[1], (p->nsegs - 1) * sizeof(*p->segs));
    p->nsegs--;
    return 0;
}

/* The newest record time of a segment for retention: its largest batch MaxTimestamp, or the
 * file's modification time when its records carry no timestamps (-1), as Kafka does. */
static int retention_time(struct segment *seg, int64_t *ts, struct sl_err *err)
{
    if (segment_max_timestamp(seg, ts, err) != 0)
        return -1;
    if (*ts < 0) {
        struct stat st;
        if (stat(seg->path, &st) != 0)
            return sl_err_errno(err, "stat %s", seg->path);
        *ts = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    }
    return 0;
}

/* keep_dirty: a segment with appends not yet synced may be named by a sync ticket that is out
 * (whose thread would then not find its file): it is left for a later round. */
static int retention_take(struct partition *p, int64_t now_ms, struct partition_gone *gone,
                          bool *rolled, bool keep_dirty, struct sl_err *err)
{
    *rolled = false;
    if (p->cfg.retention_ms >= 0) {
        int64_t cutoff = now_ms - p->cfg.retention_ms;
        while (p->nsegs > 0 && !(keep_dirty && p->segs[0].dirty)) {
            struct segment *seg = &p->segs[0];
            int64_t ts;
            if (p->nsegs == 1 && seg->size == 0)
                break;
            if (seg->size > 0) {
                if (retention_time(seg, &ts, err) != 0)
                    return -1;
                if (ts >= cutoff)
                    break;
            }
            /* Everything has expired: start an empty active segment at the log end first so
             * the log start (its name) is remembered. */
            if (p->nsegs == 1) {
                if (partition_roll(p, err) != 0)
                    return -1;
                *rolled = true;
            }
            if (detach_oldest(p, gone, err) != 0)
                return -1;
        }
    }
    if (p->cfg.retention_bytes >= 0) {
        while (p->nsegs > 1 && !(keep_dirty && p->segs[0].dirty) &&
               p->size_bytes - p->segs[0].size >= p->cfg.retention_bytes) {
            if (detach_oldest(p, gone, err) != 0)
                return -1;
        }
    }
    return 0;
}

int partition_retention_take(struct partition *p, int64_t now_ms, struct partition_gone *gone,
                             bool *rolled, struct sl_err *err)
{
    return retention_take(p, now_ms, gone, rolled, true, err);
}

int partition_gone_delete(struct partition_gone *gone, struct sl_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < gone->n; i++) {
        struct sl_err e;
        if (segment_remove(&gone->segs[i], &e) != 0 && rc == 0)
            rc = sl_err_set(err, "%s", e.msg);
    }
    free(gone->segs);
    *gone = (struct partition_gone){0};
    return rc;
}

int partition_enforce_retention(struct partition *p, int64_t now_ms, struct sl_err *err)
{
    struct partition_gone gone = {0};
    bool rolled;
    int rc = retention_take(p, now_ms, &gone, &rolled, false, err);
    int n = (int)gone.n;
    if (partition_gone_delete(&gone, rc == 0 ? err : NULL) != 0)
        rc = -1;
    /* The new active segment's directory entry is what remembers the log start: make it
     * durable now, as a produce-driven roll's is by the next group sync. */
    if (rc == 0 && rolled && partition_sync(p, err) != 0)
        rc = -1;
    return rc == 0 ? n : -1;
}
