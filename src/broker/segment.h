/* One log segment: a file `<20-digit base offset>.log` of record batches stored as received
 * (BaseOffset already rewritten) plus its sparse offset index. Appends are one pwrite each;
 * reads are pread. The partition (partition.c) owns the list of segments and decides when to
 * roll, delete and sync; this file knows only about one segment. Not thread safe. */
#ifndef SLUICE_BROKER_SEGMENT_H
#define SLUICE_BROKER_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/batch.h"
#include "broker/index.h"
#include "core/buf.h"
#include "core/err.h"

/* max_timestamp before it has been computed (old segments whose index loaded cleanly). */
#define SEGMENT_TS_UNKNOWN INT64_MIN
/* 20 digits, ".index", NUL. */
#define SEGMENT_NAME_MAX 32

struct segment {
    int64_t base_offset;
    int64_t end_offset;    /* offset after the last batch; base_offset when empty */
    int64_t size;          /* bytes of valid batches in the .log file */
    int64_t max_timestamp; /* largest batch MaxTimestamp, -1 if empty, or SEGMENT_TS_UNKNOWN */
    int64_t index_interval;
    int64_t bytes_since_index; /* log bytes appended since the last index entry */
    int slot;                  /* in the descriptor pool (segment.c), -1 when never opened */
    uint32_t slot_gen;         /* the slot's generation when it was ours: stale once reused */
    bool dirty;                /* appended to since the last segment_sync */
    int64_t uncached;          /* bytes below this were dropped from the page cache */
    char *path;                /* the .log file */
    struct offset_index index;
};

/* Segment files are opened on demand and at most this many are kept open at once (least
 * recently used closed first), so the number of partitions is not bounded by RLIMIT_NOFILE. */
#define SEGMENT_DEFAULT_MAX_OPEN 256
/* Sets the process-wide cap on open segment descriptors (at least 4). */
void segment_set_max_open(int max);
/* On for a thread that creates segments for the loop thread's later use (the admin worker):
 * it opens no pooled descriptor (creation closes its own; reading through the pool fails). */
void segment_pool_bypass(bool on);
/* Segment descriptors open right now (for tests and stats). */
int segment_open_fds(void);
/* The segment file's descriptor, opened if need be. It stays valid until the next call into
 * segment.c that may open another segment: dup it to keep it longer. -1 with err set. */
int segment_fd(struct segment *seg, struct sl_err *err);

/* Writes "<20-digit base><ext>" into name (SEGMENT_NAME_MAX bytes). */
void segment_name(char *name, int64_t base_offset, const char *ext);

/* Creates a new empty segment file in dir. seg is filled in; release it with segment_close. */
int segment_create(struct segment *seg, const char *dir, int64_t base_offset,
                   int64_t index_interval, struct sl_err *err);

/* Opens an existing segment file; its end offset is not known until segment_load or
 * segment_recover has run. */
int segment_open(struct segment *seg, const char *dir, int64_t base_offset, int64_t index_interval,
                 struct sl_err *err);

/* For an old (not active) segment: loads the index file if sane and checks the batch headers
 * after the last index entry, which also gives the end offset; falls back to segment_recover
 * when anything looks wrong. *cut_bytes as for segment_recover. */
int segment_load(struct segment *seg, int64_t *cut_bytes, struct sl_err *err);

/* Scans every batch (Length, magic, CRC, offsets following on from the previous batch),
 * rebuilds the index and the end offset, and truncates the file at the first batch that fails,
 * keeping everything before it. *cut_bytes is the number of bytes removed (0 if none). */
int segment_recover(struct segment *seg, int64_t *cut_bytes, struct sl_err *err);

/* Appends a batch of len bytes whose BaseOffset already holds h->base_offset (== end_offset)
 * with one pwrite, adding an index entry when index_interval bytes have passed. On a failed or
 * short write the file is cut back so it never holds a partial batch. */
int segment_append(struct segment *seg, const uint8_t *batch, size_t len,
                   const struct batch_header *h, struct sl_err *err);

/* Byte position of the batch containing offset (base <= offset <= base + LastOffsetDelta);
 * seg->size when offset >= end_offset. offset must be >= base_offset. */
int segment_find(struct segment *seg, int64_t offset, int64_t *pos, struct sl_err *err);

/* Appends to out whole batches starting at byte pos, at most budget bytes in total -- except
 * that when first_whole is set the first batch is taken even if larger -- and never a batch
 * whose base offset is >= limit_offset. *added is the number of bytes appended; *stopped is set
 * when reading ended because of the budget or the limit (rather than the segment's end). */
int segment_read(struct segment *seg, int64_t pos, int64_t limit_offset, size_t budget,
                 bool first_whole, struct buf *out, size_t *added, bool *stopped,
                 struct sl_err *err);

/* Fills seg->max_timestamp if unknown (a scan of the batch headers) and returns it via *ts. */
int segment_max_timestamp(struct segment *seg, int64_t *ts, struct sl_err *err);

/* Earliest offset in the segment whose record timestamp is >= ts. Returns 1 when found (with
 * *offset and *timestamp), 0 when no record here qualifies, -1 on error. */
int segment_offset_for_timestamp(struct segment *seg, int64_t ts, int64_t *offset,
                                 int64_t *timestamp, struct sl_err *err);

/* fdatasync if dirty, through a descriptor of its own (never one the pool could close): may
 * run on another thread if the caller serialises it with appends to this segment. */
int segment_sync(struct segment *seg, struct sl_err *err);
/* Writes out pending index entries and closes the index file (the segment is no longer
 * active); failures are only logged since the index is rebuilt when it looks wrong. */
void segment_seal(struct segment *seg);
/* Writes pending index entries (best effort), closes the files and frees seg's memory. */
void segment_close(struct segment *seg);
/* Closes the segment and deletes its .log and .index files. */
int segment_remove(struct segment *seg, struct sl_err *err);

#endif
