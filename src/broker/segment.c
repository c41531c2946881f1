/* One log segment file and its sparse index: append (one pwrite per batch), locate and read
 * batches (pread), recovery scans that cut a torn or corrupt tail, and timestamp lookups.
 * Bytes read back from disk are checked like any other input: a bad Length or magic means the
 * data ends there, never an out-of-bounds read. */
#include "broker/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define LOG_MOD "log"
/* Read window for header walks: small batches are parsed many to a pread. */
#define WALK_WINDOW (64 * 1024)
/* Read window for recovery scans, which read every byte anyway. */
#define SCAN_WINDOW (1024 * 1024)

/* Segment file descriptors come from one process-wide pool of at most `pool_max` open files,
 * reused with the clock algorithm (an approximation of least recently used). A segment holds
 * the number of its slot and that slot's generation; when the slot is given to another
 * segment the generation changes and the file is opened again on its next use. Closing a
 * segment's fd loses nothing: its unsynced pages stay in the page cache, and fdatasync on any
 * later descriptor of the file writes them (fsync works on the inode). The pool is guarded by a
 * mutex so that segment_sync may run on another thread: it never takes a pooled descriptor
 * itself, only a dup of one (or its own open), so no eviction can pull a descriptor from under
 * the loop thread, and none from under the sync. */
struct fd_slot {
    int fd;
    uint32_t gen;
    bool ref; /* used since the clock hand last passed */
};

static struct fd_slot *pool;
static int pool_n, pool_cap, pool_hand, pool_open;
static int pool_max = SEGMENT_DEFAULT_MAX_OPEN;
static int *pool_free;
static int pool_nfree;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
/* Set on a thread that creates segments for the loop's later use (the admin worker): it must
 * not put descriptors in the pool, whose eviction could close one the loop thread is using. */
static _Thread_local bool no_pool;

void segment_pool_bypass(bool on)
{
    no_pool = on;
}

void segment_set_max_open(int max)
{
    pool_max = max < 4 ? 4 : max;
}

int segment_open_fds(void)
{
    pthread_mutex_lock(&pool_mu);
    int n = pool_open;
    pthread_mutex_unlock(&pool_mu);
    return n;
}

static bool slot_valid(const struct segment *seg)
{
    return seg->slot >= 0 && seg->slot < pool_n && pool[seg->slot].gen == seg->slot_gen &&
           pool[seg->slot].fd >= 0;
}

static void slot_release(int s)
{
    close(pool[s].fd);
    pool[s].fd = -1;
    pool[s].gen++;
    pool_open--;
    pool_free[pool_nfree++] = s;
}

/* Closes the descriptor the clock hand finds least recently used; false when none is open. */
static bool pool_evict(void)
{
    if (pool_open == 0)
        return false;
    for (;;) {
        int s = pool_hand;
        pool_hand = (pool_hand + 1) % pool_n;
        if (pool[s].fd < 0)
            continue;
        if (pool[s].ref) {
            pool[s].ref = false;
            continue;
        }
        slot_release(s);
        return true;
    }
}

/* A slot for fd (evicting if the pool is full); -1 when out of memory. */
static int pool_put(int fd)
{
    while (pool_open >= pool_max && pool_evict())
        ;
    int s;
    if (pool_nfree > 0) {
        s = pool_free[--pool_nfree];
    } else {
        if (pool_n == pool_cap) {
            int cap = pool_cap ? pool_cap * 2 : 64;
            struct fd_slot *p = realloc(pool, (size_t)cap * sizeof(*p));
            if (!p)
                return -1;
            pool = p;
            int *f = realloc(pool_free, (size_t)cap * sizeof(*f));
            if (!f)
                return -1;
            pool_free = f;
            pool_cap = cap;
        }
        s = pool_n++;
        pool[s].gen = 0;
    }
    pool[s].fd = fd;
    pool[s].ref = true;
    pool_open++;
    return s;
}

/* open() that makes room in the pool when the process is out of descriptors. */
static int open_evicting(const char *path, int flags)
{
    for (;;) {
        int fd = open(path, flags, 0644);
        if (fd >= 0 || (errno != EMFILE && errno != ENFILE) || !pool_evict())
            return fd;
    }
}

static int attach_fd(struct segment *seg, int fd, struct sl_err *err)
{
    int s = pool_put(fd);
    if (s < 0) {
        close(fd);
        return sl_err_set(err, "out of memory for %s", seg->path);
    }
    seg->slot = s;
    seg->slot_gen = pool[s].gen;
    return 0;
}

/* The segment's descriptor, opening the file if it is not open. -1 with err set on failure.
 * Loop thread only. */
static int seg_fd(struct segment *seg, struct sl_err *err)
{
    if (no_pool)
        return sl_err_set(err, "%s: no pooled descriptors on this thread", seg->path);
    pthread_mutex_lock(&pool_mu);
    int fd;
    if (slot_valid(seg)) {
        pool[seg->slot].ref = true;
        fd = pool[seg->slot].fd;
    } else {
        fd = open_evicting(seg->path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            sl_err_errno(err, "open %s", seg->path);
        else if (attach_fd(seg, fd, err) != 0)
            fd = -1;
    }
    pthread_mutex_unlock(&pool_mu);
    return fd;
}

/* A descriptor of the segment's file that belongs to the caller (close it): a dup of the
 * pooled one if open, else a fresh open outside the pool. Safe on any thread. */
static int seg_private_fd(struct segment *seg, struct sl_err *err)
{
    pthread_mutex_lock(&pool_mu);
    int fd = slot_valid(seg) ? fcntl(pool[seg->slot].fd, F_DUPFD_CLOEXEC, 0) : -1;
    pthread_mutex_unlock(&pool_mu);
    if (fd < 0)
        fd = open(seg->path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        sl_err_errno(err, "open %s", seg->path);
    return fd;
}

static void seg_fd_close(struct segment *seg)
{
    pthread_mutex_lock(&pool_mu);
    if (slot_valid(seg))
        slot_release(seg->slot);
    seg->slot = -1;
    pthread_mutex_unlock(&pool_mu);
}

int segment_fd(struct segment *seg, struct sl_err *err)
{
    return seg_fd(seg, err);
}

/* Sequential reader over the first `limit` bytes of a segment file, through a window buffer. */
struct reader {
    int fd;
    int64_t limit;
    uint8_t *buf;
    size_t cap;
    int64_t at; /* file position of buf[0] */
    size_t len;
};

static int reader_init(struct reader *r, struct segment *seg, int64_t limit, size_t cap,
                       struct sl_err *err)
{
    r->fd = seg_fd((struct segment *)seg, err);
    if (r->fd < 0)
        return -1;
    r->limit = limit;
    r->cap = cap;
    r->at = 0;
    r->len = 0;
    r->buf = malloc(cap);
    if (!r->buf)
        return sl_err_set(err, "out of memory reading %s", seg->path);
    return 0;
}

static void reader_free(struct reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* pread that retries short reads and EINTR. Returns bytes read (less than n only at EOF). */
static ssize_t pread_full(int fd, void *buf, size_t n, int64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + (int64_t)done));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

/* Points *p at bytes [pos, pos + n) of the file; the caller ensures pos + n <= limit. The
 * pointer is valid until the next reader_get. */
static int reader_get(struct reader *r, int64_t pos, size_t n, const uint8_t **p,
                      struct sl_err *err)
{
    if (pos >= r->at && (uint64_t)(pos - r->at) + n <= r->len) {
        *p = r->buf + (pos - r->at);
        return 0;
    }
    if (n > r->cap) {
        uint8_t *b = realloc(r->buf, n);
        if (!b)
            return sl_err_set(err, "out of memory for a %zu-byte batch", n);
        r->buf = b;
        r->cap = n;
    }
    size_t want = r->cap;
    if ((int64_t)want > r->limit - pos)
        want = (size_t)(r->limit - pos);
    ssize_t got = pread_full(r->fd, r->buf, want, pos);
    if (got < 0)
        return sl_err_errno(err, "read segment at %" PRId64, pos);
    r->at = pos;
    r->len = (size_t)got;
    if ((size_t)got < n)
        return sl_err_set(err, "segment shorter than expected at %" PRId64, pos);
    *p = r->buf;
    return 0;
}

/* Reads the header of the batch at pos and checks its structure (magic 2, Length inside the
 * readable bytes, LastOffsetDelta >= 0). Returns 0 with h filled, 1 when the bytes there are
 * not a plausible batch, -1 on I/O error. */
static int read_header(struct reader *r, int64_t pos, struct batch_header *h, struct sl_err *err)
{
    const uint8_t *p;
    if (r->limit - pos < BATCH_HEADER_SIZE)
        return 1;
    if (reader_get(r, pos, BATCH_HEADER_SIZE, &p, err) != 0)
        return -1;
    if (batch_parse_header(p, BATCH_HEADER_SIZE, h, NULL) != 0)
        return 1;
    if ((int64_t)h->length + BATCH_LOG_OVERHEAD > r->limit - pos || h->last_offset_delta < 0)
        return 1;
    return 0;
}

static int64_t batch_total(const struct batch_header *h)
{
    return (int64_t)h->length + BATCH_LOG_OVERHEAD;
}

/* Adds an index entry for the batch at pos when index_interval bytes have passed since the
 * last one, then counts the batch's bytes. Index trouble is only logged: lookups just scan a
 * little further without the entry. */
static void index_note(struct segment *seg, int64_t base_offset, int64_t pos, int64_t total)
{
    int64_t rel = base_offset - seg->base_offset;
    if (pos > 0 && seg->bytes_since_index >= seg->index_interval && pos <= (int64_t)UINT32_MAX &&
        rel >= 0 && rel <= (int64_t)UINT32_MAX) {
        struct sl_err e;
        if (index_add(&seg->index, (uint32_t)rel, (uint32_t)pos, &e) != 0)
            log_warn(LOG_MOD, "%s", e.msg);
        seg->bytes_since_index = 0;
    }
    seg->bytes_since_index += total;
}

void segment_name(char *name, int64_t base_offset, const char *ext)
{
    snprintf(name, SEGMENT_NAME_MAX, "%020" PRId64 "%s", base_offset, ext);
}

/* Fills the parts of seg common to create and open; opens nothing. */
static int segment_init(struct segment *seg, const char *dir, int64_t base_offset,
                        int64_t index_interval, struct sl_err *err)
{
    char name[SEGMENT_NAME_MAX];
    memset(seg, 0, sizeof(*seg));
    seg->slot = -1;
    seg->base_offset = base_offset;
    seg->end_offset = base_offset;
    seg->max_timestamp = -1;
    seg->index_interval = index_interval;
    segment_name(name, base_offset, ".log");
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    seg->path = malloc(n);
    if (!seg->path)
        return sl_err_set(err, "out of memory");
    snprintf(seg->path, n, "%s/%s", dir, name);
    segment_name(name, base_offset, ".index");
    char *ipath = malloc(strlen(dir) + 1 + strlen(name) + 1);
    if (!ipath) {
        free(seg->path);
        seg->path = NULL;
        return sl_err_set(err, "out of memory");
    }
    sprintf(ipath, "%s/%s", dir, name);
    int rc = index_init(&seg->index, ipath, err);
    free(ipath);
    if (rc != 0) {
        free(seg->path);
        seg->path = NULL;
    }
    return rc;
}

int segment_create(struct segment *seg, const char *dir, int64_t base_offset,
                   int64_t index_interval, struct sl_err *err)
{
    if (segment_init(seg, dir, base_offset, index_interval, err) != 0)
        return -1;
    int rc;
    if (no_pool) { /* created here, opened on demand by the loop later */
        int fd = open(seg->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        rc = fd < 0 ? sl_err_errno(err, "create %s", seg->path) : close(fd);
    } else {
        pthread_mutex_lock(&pool_mu);
        int fd = open_evicting(seg->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC);
        rc = fd < 0 ? sl_err_errno(err, "create %s", seg->path) : attach_fd(seg, fd, err);
        pthread_mutex_unlock(&pool_mu);
    }
    if (rc != 0) {
        segment_close(seg);
        return -1;
    }
    /* A leftover index file with this name belongs to nothing: rewrite it on first flush. */
    seg->index.stale = true;
    return 0;
}

int segment_open(struct segment *seg, const char *dir, int64_t base_offset, int64_t index_interval,
                 struct sl_err *err)
{
    if (segment_init(seg, dir, base_offset, index_interval, err) != 0)
        return -1;
    struct stat st;
    if (stat(seg->path, &st) != 0) {
        sl_err_errno(err, "open %s", seg->path);
        segment_close(seg);
        return -1;
    }
    seg->size = st.st_size;
    seg->max_timestamp = SEGMENT_TS_UNKNOWN;
    return 0;
}

int segment_recover(struct segment *seg, int64_t *cut_bytes, struct sl_err *err)
{
    struct reader r = {0};
    struct batch_header h;
    struct stat st;
    const char *why = NULL;
    int rc = -1;
    *cut_bytes = 0;
    int fd = seg_fd(seg, err);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0)
        return sl_err_errno(err, "stat %s", seg->path);
    if (reader_init(&r, seg, st.st_size, SCAN_WINDOW, err) != 0)
        return -1;

    index_reset(&seg->index);
    seg->bytes_since_index = 0;
    int64_t pos = 0, end = seg->base_offset, max_ts = -1;
    while (pos < st.st_size) {
        int hr = read_header(&r, pos, &h, err);
        if (hr < 0)
            goto out;
        if (hr > 0) {
            why = "torn or invalid batch header";
            break;
        }
        if (h.base_offset != end) {
            why = "batch offset does not follow the previous batch";
            break;
        }
        const uint8_t *p;
        if (reader_get(&r, pos, (size_t)batch_total(&h), &p, err) != 0)
            goto out;
        if (!batch_crc_ok(p, (size_t)batch_total(&h), &h)) {
            why = "CRC mismatch";
            break;
        }
        index_note(seg, h.base_offset, pos, batch_total(&h));
        end = h.base_offset + h.last_offset_delta + 1;
        if (h.max_timestamp > max_ts)
            max_ts = h.max_timestamp;
        pos += batch_total(&h);
    }
    if (pos < st.st_size) {
        if (ftruncate(fd, (off_t)pos) != 0) {
            sl_err_errno(err, "truncate %s", seg->path);
            goto out;
        }
        *cut_bytes = st.st_size - pos;
        log_warn(LOG_MOD,
                 "%s: %s at byte %" PRId64 " (offset %" PRId64 "): cut %" PRId64
                 " bytes, log now ends at offset %" PRId64,
                 seg->path, why, pos, end, *cut_bytes, end);
    }
    seg->size = pos;
    seg->end_offset = end;
    seg->max_timestamp = max_ts;
    struct sl_err e;
    if (index_flush(&seg->index, &e) != 0)
        log_warn(LOG_MOD, "%s", e.msg);
    rc = 0;
out:
    reader_free(&r);
    return rc;
}

int segment_load(struct segment *seg, int64_t *cut_bytes, struct sl_err *err)
{
    struct reader r = {0};
    struct batch_header h;
    *cut_bytes = 0;
    int lr = index_load(&seg->index, seg->size, err);
    if (lr < 0)
        return -1;
    if (lr > 0) {
        log_info(LOG_MOD, "%s: index missing or damaged, rebuilding", seg->path);
        return segment_recover(seg, cut_bytes, err);
    }
    /* Walk the batch headers after the last index entry: this finds the end offset and checks
     * the tail, and re-adds any entries the index file lost. */
    int64_t pos = 0, end = seg->base_offset;
    if (seg->index.n > 0) {
        pos = seg->index.e[seg->index.n - 1].pos;
        end = seg->base_offset + seg->index.e[seg->index.n - 1].rel;
    }
    seg->bytes_since_index = 0;
    if (reader_init(&r, seg, seg->size, WALK_WINDOW, err) != 0)
        return -1;
    bool bad = false;
    while (pos < seg->size) {
        int hr = read_header(&r, pos, &h, err);
        if (hr < 0) {
            reader_free(&r);
            return -1;
        }
        if (hr > 0 || h.base_offset != end) {
            bad = true;
            break;
        }
        index_note(seg, h.base_offset, pos, batch_total(&h));
        end = h.base_offset + h.last_offset_delta + 1;
        pos += batch_total(&h);
    }
    reader_free(&r);
    if (bad) {
        log_warn(LOG_MOD, "%s: tail does not match the index, rescanning", seg->path);
        return segment_recover(seg, cut_bytes, err);
    }
    seg->end_offset = end;
    return 0;
}

int segment_append(struct segment *seg, const uint8_t *batch, size_t len,
                   const struct batch_header *h, struct sl_err *err)
{
    size_t done = 0;
    int fd = seg_fd(seg, err);
    if (fd < 0)
        return -1;
    while (done < len) {
        ssize_t put = pwrite(fd, batch + done, len - done, (off_t)(seg->size + (int64_t)done));
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0) {
            sl_err_errno(err, "write %s", seg->path);
            /* Never leave half a batch where the next append would go after it. */
            if (done > 0 && ftruncate(fd, (off_t)seg->size) != 0)
                log_error(LOG_MOD, "%s: cannot cut a partial write: %s", seg->path,
                          strerror(errno));
            return -1;
        }
        done += (size_t)put;
    }
    index_note(seg, h->base_offset, seg->size, (int64_t)len);
    seg->size += (int64_t)len;
    seg->end_offset = h->base_offset + h->last_offset_delta + 1;
    if (seg->max_timestamp != SEGMENT_TS_UNKNOWN && h->max_timestamp > seg->max_timestamp)
        seg->max_timestamp = h->max_timestamp;
    seg->dirty = true;
    return 0;
}

int segment_find(struct segment *seg, int64_t offset, int64_t *pos, struct sl_err *err)
{
    struct reader r;
    struct batch_header h;
    int rc = -1;
    if (offset >= seg->end_offset) {
        *pos = seg->size;
        return 0;
    }
    uint32_t entry_rel;
    int64_t rel = offset - seg->base_offset;
    int64_t at = index_lookup(&seg->index, rel > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)rel,
                              &entry_rel);
    /* The batch sought starts within about one index interval of the entry: read little. */
    size_t window = (size_t)seg->index_interval + 2 * BATCH_HEADER_SIZE;
    if (window > WALK_WINDOW)
        window = WALK_WINDOW;
    if (reader_init(&r, seg, seg->size, window, err) != 0)
        return -1;
    while (at < seg->size) {
        int hr = read_header(&r, at, &h, err);
        if (hr < 0)
            goto out;
        if (hr > 0) {
            sl_err_set(err, "%s: corrupt batch header at byte %" PRId64, seg->path, at);
            goto out;
        }
        if (offset - h.last_offset_delta <= h.base_offset) /* offset <= last, no overflow */
            break;
        at += batch_total(&h);
    }
    *pos = at;
    rc = 0;
out:
    reader_free(&r);
    return rc;
}

int segment_read(struct segment *seg, int64_t pos, int64_t limit_offset, size_t budget,
                 bool first_whole, struct buf *out, size_t *added, bool *stopped,
                 struct sl_err *err)
{
    *added = 0;
    *stopped = false;
    if (pos >= seg->size)
        return 0;
    size_t avail = (size_t)(seg->size - pos);
    size_t room = out->max - out->len;
    /* Read as much as might be returned in one pread, then cut at a batch boundary. */
    size_t want = budget;
    if (first_whole && want < BATCH_HEADER_SIZE)
        want = BATCH_HEADER_SIZE;
    if (want > avail)
        want = avail;
    if (want > room)
        want = room;
    if (want < BATCH_LOG_OVERHEAD) {
        *stopped = true;
        if (first_whole)
            return sl_err_set(err, "fetch buffer too small for one batch");
        return 0;
    }
    if (buf_reserve(out, want) != 0)
        return sl_err_set(err, "out of memory for a %zu-byte read", want);
    int fd = seg_fd(seg, err);
    if (fd < 0)
        return -1;
    uint8_t *dst = out->data + out->len;
    ssize_t got = pread_full(fd, dst, want, pos);
    if (got < 0)
        return sl_err_errno(err, "read %s", seg->path);
    size_t have = (size_t)got, off = 0;
    while (off + BATCH_LOG_OVERHEAD <= have) {
        int64_t base = (int64_t)((uint64_t)dst[off] << 56 | (uint64_t)dst[off + 1] << 48 |
                                 (uint64_t)dst[off + 2] << 40 | (uint64_t)dst[off + 3] << 32 |
                                 (uint64_t)dst[off + 4] << 24 | (uint64_t)dst[off + 5] << 16 |
                                 (uint64_t)dst[off + 6] << 8 | (uint64_t)dst[off + 7]);
        int32_t length = (int32_t)((uint32_t)dst[off + 8] << 24 | (uint32_t)dst[off + 9] << 16 |
                                   (uint32_t)dst[off + 10] << 8 | dst[off + 11]);
        if (length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
            (size_t)length + BATCH_LOG_OVERHEAD > avail - off)
            return sl_err_set(err, "%s: corrupt batch at byte %" PRId64, seg->path,
                              pos + (int64_t)off);
        if (base >= limit_offset) {
            *stopped = true;
            break;
        }
        size_t total = (size_t)length + BATCH_LOG_OVERHEAD;
        if (total > have - off) {
            if (off > 0 || !first_whole) {
                *stopped = true;
                break;
            }
            /* The first batch is bigger than the budget: fetch the rest of it. */
            if (total > room)
                return sl_err_set(err, "fetch buffer too small for a %zu-byte batch", total);
            if (buf_reserve(out, total) != 0)
                return sl_err_set(err, "out of memory for a %zu-byte batch", total);
            dst = out->data + out->len;
            got = pread_full(fd, dst + have, total - have, pos + (int64_t)have);
            if (got < 0)
                return sl_err_errno(err, "read %s", seg->path);
            if ((size_t)got != total - have)
                return sl_err_set(err, "%s: short read", seg->path);
            have = total;
        }
        off += total;
    }
    if (off < avail && !*stopped)
        *stopped = true; /* budget ran out inside a batch header */
    out->len += off;
    *added = off;
    return 0;
}

int segment_max_timestamp(struct segment *seg, int64_t *ts, struct sl_err *err)
{
    struct reader r;
    struct batch_header h;
    if (seg->max_timestamp != SEGMENT_TS_UNKNOWN) {
        *ts = seg->max_timestamp;
        return 0;
    }
    if (reader_init(&r, seg, seg->size, WALK_WINDOW, err) != 0)
        return -1;
    int64_t pos = 0, max_ts = -1;
    while (pos < seg->size) {
        int hr = read_header(&r, pos, &h, err);
        if (hr != 0) {
            reader_free(&r);
            if (hr > 0)
                sl_err_set(err, "%s: corrupt batch header at byte %" PRId64, seg->path, pos);
            return -1;
        }
        if (h.max_timestamp > max_ts)
            max_ts = h.max_timestamp;
        pos += batch_total(&h);
    }
    reader_free(&r);
    seg->max_timestamp = max_ts;
    *ts = max_ts;
    return 0;
}

struct ts_search {
    int64_t target;
    int32_t delta;
    int64_t ts;
    bool found;
};

static int ts_search_record(int32_t offset_delta, int64_t timestamp, void *ctx)
{
    struct ts_search *s = ctx;
    if (timestamp < s->target)
        return 0;
    s->delta = offset_delta;
    s->ts = timestamp;
    s->found = true;
    return 1;
}

int segment_offset_for_timestamp(struct segment *seg, int64_t ts, int64_t *offset,
                                 int64_t *timestamp, struct sl_err *err)
{
    struct reader r;
    struct batch_header h;
    int rc = -1;
    if (reader_init(&r, seg, seg->size, WALK_WINDOW, err) != 0)
        return -1;
    int64_t pos = 0;
    while (pos < seg->size) {
        int hr = read_header(&r, pos, &h, err);
        if (hr != 0) {
            if (hr > 0)
                sl_err_set(err, "%s: corrupt batch header at byte %" PRId64, seg->path, pos);
            goto out;
        }
        if (h.max_timestamp >= ts) {
            bool plain = (h.attributes & BATCH_ATTR_COMPRESSION_MASK) == 0 &&
                         !(h.attributes & BATCH_ATTR_LOG_APPEND_TIME);
            if (!plain) {
                /* Compressed records are not decoded here; LogAppendTime records all carry
                 * MaxTimestamp. Either way the batch's first offset is the answer. */
                *offset = h.base_offset;
                *timestamp = h.max_timestamp;
                rc = 1;
                goto out;
            }
            const uint8_t *p;
            if (reader_get(&r, pos, (size_t)batch_total(&h), &p, err) != 0)
                goto out;
            struct ts_search s = {.target = ts};
            if (batch_each_record(p, (size_t)batch_total(&h), ts_search_record, &s) == 0 &&
                s.found) {
                *offset = (int64_t)((uint64_t)h.base_offset + (uint64_t)s.delta);
                *timestamp = s.ts;
                rc = 1;
                goto out;
            }
        }
        pos += batch_total(&h);
    }
    rc = 0;
out:
    reader_free(&r);
    return rc;
}

int segment_sync(struct segment *seg, struct sl_err *err)
{
    if (!seg->dirty)
        return 0;
    int fd = seg_private_fd(seg, err);
    if (fd < 0)
        return -1;
    int rc = fdatasync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    if (rc != 0)
        return sl_err_errno(err, "fdatasync %s", seg->path);
    seg->dirty = false;
    return 0;
}

void segment_seal(struct segment *seg)
{
    struct sl_err e;
    if (index_close_file(&seg->index, &e) != 0)
        log_warn(LOG_MOD, "%s", e.msg);
}

void segment_close(struct segment *seg)
{
    if (seg->path) {
        struct sl_err e;
        if (index_flush(&seg->index, &e) != 0)
            log_warn(LOG_MOD, "%s", e.msg);
    }
    seg_fd_close(seg);
    index_close(&seg->index);
    free(seg->path);
    seg->path = NULL;
}

int segment_remove(struct segment *seg, struct sl_err *err)
{
    int rc = 0;
    seg_fd_close(seg);
    if (unlink(seg->path) != 0 && errno != ENOENT)
        rc = sl_err_errno(err, "delete %s", seg->path);
    if (seg->index.path && unlink(seg->index.path) != 0 && errno != ENOENT)
        rc = sl_err_errno(err, "delete %s", seg->index.path);
    index_close(&seg->index);
    free(seg->path);
    seg->path = NULL;
    return rc;
}
