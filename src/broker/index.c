/* Sparse offset index of a log segment: a sorted in-memory array mirrored to a `.index` file.
 * The file is only a cache: when it is missing or looks wrong the segment is rescanned, so it
 * is written in chunks and never synced. */
#include "broker/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Entries gathered before a write: 8 KiB at a time keeps index syscalls rare. */
#define INDEX_FLUSH_ENTRIES 1024

int index_init(struct offset_index *ix, const char *path, struct sl_err *err)
{
    memset(ix, 0, sizeof(*ix));
    ix->path = strdup(path);
    if (!ix->path)
        return sl_err_set(err, "out of memory");
    return 0;
}

void index_close(struct offset_index *ix)
{
    free(ix->e);
    free(ix->path);
    memset(ix, 0, sizeof(*ix));
}

static int index_grow(struct offset_index *ix, size_t need, struct sl_err *err)
{
    if (need <= ix->cap)
        return 0;
    size_t cap = ix->cap ? ix->cap : 256;
    while (cap < need)
        cap *= 2;
    struct index_entry *e = realloc(ix->e, cap * sizeof(*e));
    if (!e)
        return sl_err_set(err, "out of memory for index %s", ix->path);
    ix->e = e;
    ix->cap = cap;
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int index_load(struct offset_index *ix, int64_t seg_size, struct sl_err *err)
{
    int rc = -1;
    uint8_t *raw = NULL;
    int fd = open(ix->path, O_RDONLY | O_CLOEXEC);
    ix->n = ix->flushed = 0;
    if (fd < 0) {
        if (errno != ENOENT)
            return sl_err_errno(err, "open %s", ix->path);
        ix->stale = true;
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sl_err_errno(err, "stat %s", ix->path);
        goto out;
    }
    /* An index never has more entries than the segment has bytes. */
    if (st.st_size % INDEX_ENTRY_SIZE != 0 || st.st_size > seg_size) {
        rc = 1;
        goto out;
    }
    size_t n = (size_t)st.st_size / INDEX_ENTRY_SIZE;
    if (n == 0) {
        rc = 0;
        goto out;
    }
    raw = malloc((size_t)st.st_size);
    if (!raw || index_grow(ix, n, err) != 0) {
        sl_err_set(err, "out of memory for index %s", ix->path);
        goto out;
    }
    ssize_t got = pread(fd, raw, (size_t)st.st_size, 0);
    if (got != st.st_size) {
        rc = 1; /* short read of a file that changed under us: rebuild */
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t rel = rd32(raw + i * INDEX_ENTRY_SIZE);
        uint32_t pos = rd32(raw + i * INDEX_ENTRY_SIZE + 4);
        /* Position 0 is never indexed (the segment start needs no entry), so a zeroed tail
         * left by a crash fails here. */
        if (pos == 0 || (int64_t)pos >= seg_size ||
            (i > 0 && (rel <= ix->e[i - 1].rel || pos <= ix->e[i - 1].pos))) {
            rc = 1;
            goto out;
        }
        ix->e[i].rel = rel;
        ix->e[i].pos = pos;
    }
    ix->n = ix->flushed = n;
    rc = 0;
out:
    if (rc == 1) {
        ix->n = ix->flushed = 0;
        ix->stale = true;
    }
    free(raw);
    close(fd);
    return rc;
}

int index_flush(struct offset_index *ix, struct sl_err *err)
{
    int rc = -1;
    uint8_t *raw = NULL;
    if (ix->flushed == ix->n && !ix->stale)
        return 0;
    /* Opened for each flush (one per INDEX_FLUSH_ENTRIES entries) and closed again: an index
     * never holds a descriptor, whatever the number of partitions. */
    int fd = open(ix->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_err_errno(err, "open %s", ix->path);
    if (ix->stale && ftruncate(fd, (off_t)(ix->flushed * INDEX_ENTRY_SIZE)) != 0) {
        sl_err_errno(err, "truncate %s", ix->path);
        close(fd);
        return -1;
    }
    ix->stale = false;
    size_t count = ix->n - ix->flushed;
    if (count == 0) {
        close(fd);
        return 0;
    }
    size_t bytes = count * INDEX_ENTRY_SIZE;
    raw = malloc(bytes);
    if (!raw) {
        sl_err_set(err, "out of memory writing index %s", ix->path);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        wr32(raw + i * INDEX_ENTRY_SIZE, ix->e[ix->flushed + i].rel);
        wr32(raw + i * INDEX_ENTRY_SIZE + 4, ix->e[ix->flushed + i].pos);
    }
    ssize_t put = pwrite(fd, raw, bytes, (off_t)(ix->flushed * INDEX_ENTRY_SIZE));
    if (put < 0 || (size_t)put != bytes) {
        /* A partial entry would make the file insane; it is rebuilt on the next load. */
        ix->stale = true;
        sl_err_errno(err, "write %s", ix->path);
        goto out;
    }
    ix->flushed = ix->n;
    rc = 0;
out:
    close(fd);
    free(raw);
    return rc;
}

int index_add(struct offset_index *ix, uint32_t rel, uint32_t pos, struct sl_err *err)
{
    if (index_grow(ix, ix->n + 1, err) != 0)
        return -1;
    ix->e[ix->n].rel = rel;
    ix->e[ix->n].pos = pos;
    ix->n++;
    if (ix->n - ix->flushed >= INDEX_FLUSH_ENTRIES)
        return index_flush(ix, err);
    return 0;
}

int index_close_file(struct offset_index *ix, struct sl_err *err)
{
    return index_flush(ix, err);
}

void index_reset(struct offset_index *ix)
{
    ix->n = ix->flushed = 0;
    ix->stale = true;
}

void index_truncate(struct offset_index *ix, uint32_t pos)
{
    while (ix->n > 0 && ix->e[ix->n - 1].pos >= pos)
        ix->n--;
    if (ix->flushed > ix->n) {
        ix->flushed = ix->n;
        ix->stale = true;
    }
}

uint32_t index_lookup(const struct offset_index *ix, uint32_t rel, uint32_t *entry_rel)
{
    /* Binary search for the last entry with e.rel <= rel. */
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->e[mid].rel <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) {
        *entry_rel = 0;
        return 0;
    }
    *entry_rel = ix->e[lo - 1].rel;
    return ix->e[lo - 1].pos;
}
