/* One partition's log on disk: a directory of segments. Each segment is a file
 * `<20-digit base offset>.log` of record batches stored as received (BaseOffset rewritten in
 * place) and a sparse index `<base>.index` of (relative offset u32, file position u32) entries,
 * one every index_interval_bytes. Segments roll at segment_bytes; retention deletes whole old
 * segments by size and time. On open, the active (last) segment's tail is scanned and anything
 * torn or corrupt after the last good batch is truncated away, keeping everything before it.
 *
 * Not thread safe: the broker's event loop owns each partition. partition_sync may be called
 * from another thread only if the caller serialises it with appends. */
#ifndef SLUICE_BROKER_PARTITION_H
#define SLUICE_BROKER_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct partition_config {
    int64_t segment_bytes;        /* roll when the active segment would pass this */
    int64_t retention_bytes;      /* -1 = unlimited; otherwise keep the log at most this big */
    int64_t retention_ms;         /* -1 = unlimited; delete segments whose newest record is older */
    int64_t index_interval_bytes; /* one index entry per this many bytes of log (e.g. 4096) */
};

struct partition;

/* Opens (creating if missing) the partition log in dir, recovering the tail of the active
 * segment. On success *out owns the open files. Recovery that truncates logs a warning
 * saying how many bytes were cut and at which offset. */
int partition_open(const char *dir, const struct partition_config *cfg, struct partition **out,
                   struct sl_err *err);
void partition_close(struct partition *p);
/* Closes and removes the directory with all its files. */
int partition_destroy(struct partition *p, struct sl_err *err);

int64_t partition_log_start(const struct partition *p); /* first offset still kept */
int64_t partition_log_end(const struct partition *p);   /* offset the next record gets */
int64_t partition_size_bytes(const struct partition *p);

/* Appends one already validated batch of len bytes, rewriting its BaseOffset in place to the
 * log end (the caller's buffer is modified). Returns the assigned base offset via *base_offset.
 * The data is written (page cache) but not synced. Rolls the segment first if needed. */
int partition_append(struct partition *p, uint8_t *batch, size_t len, int64_t *base_offset,
                     struct sl_err *err);

/* fdatasyncs everything appended so far (including segments rolled since the last sync).
 * Returns 0 when nothing was pending. After a roll it also records the recovery point; failing
 * to (a full disk) only logs a warning, and the next sync tries again. */
int partition_sync(struct partition *p, struct sl_err *err);
/* Sync off the loop thread, in three steps: prepare (owner thread) returns 1 with a ticket
 * for the active segment's data up to t->end_offset and, after a roll, for what the roll left
 * to make durable (older segments, the directory, then the recovery point), or 0 when nothing
 * is pending; run (any thread) does that file work (opening each file only while it syncs it,
so thousands of tickets hold no descriptors) and releases the ticket;
 * finish (owner thread) records it. Appends may go on meanwhile; they need a later sync. -1 on
 * error. keep > 0 turns on drop-behind: once synced, whole MiBs of the active segment older than
 * its newest keep bytes are dropped from the page cache (a rolled segment keeps its tail), so
 * appends reuse the memory of older ones instead of growing the cache (see broker-storage.md). */
struct partition_sync_ticket {
    char *path; /* the active segment's file, or NULL when it is clean */
    int64_t base_offset;
    int64_t end_offset;         /* everything before this is durable once run succeeds */
    int64_t drop_from, drop_to; /* bytes of path to drop from the page cache once synced */
    char **old;                 /* rolled segments' files not yet synced */
    int nold;
    char *dir;       /* the directory to fsync, or NULL */
    char *rp_path;   /* the recovery point to write once all of the above is durable */
    int64_t rp_base; /* its value (-1: none) */
    /* Writing it failed (run still succeeds: the records are synced; finish logs it). */
    bool rp_failed;
    struct sl_err rp_err;
};
int partition_sync_prepare(struct partition *p, int64_t keep, struct partition_sync_ticket *t,
                           struct sl_err *err);
int partition_sync_run(struct partition_sync_ticket *t, struct sl_err *err);
void partition_sync_finish(struct partition *p, const struct partition_sync_ticket *t);
/* Records durably (a file in the partition's directory) that a sync or write of the log failed
 * and that only offsets below synced_end were synced: the next partition_open cuts the log back
 * there, since after a failed fsync the page cache may show records the disk does not have. */
int partition_mark_storage_error(struct partition *p, int64_t synced_end, struct sl_err *err);
/* True when appends have happened since the last partition_sync. */
bool partition_dirty(const struct partition *p);

/* Appends to out whole batches starting with the batch that contains `offset`, stopping before
 * the batch that would take out past max_bytes -- except that the first batch is always
 * returned whole even if larger than max_bytes (so a consumer can always progress). Reads at
 * most up to `limit_offset` (exclusive; batches whose base offset >= limit are not returned),
 * which lets the broker hide unsynced data. offset < log start or > log end is an error the
 * caller reports as OFFSET_OUT_OF_RANGE: returns 1 in that case (0 ok, -1 I/O error). */
int partition_read(struct partition *p, int64_t offset, int64_t limit_offset, size_t max_bytes,
                   struct buf *out, struct sl_err *err);

/* A byte range of one segment file, for sending without copying. fd is the caller's (a dup of
 * the segment's descriptor, which the descriptor pool may close at any time): release the
 * slices with log_slices_close. */
struct log_slice {
    int fd;
    int64_t pos;
    size_t len;
};

/* Like partition_read, but returns where the bytes are instead of copying them: at most
 * max_slices ranges starting at the batch that contains `offset`, ending before the batch that
 * holds limit_offset, about max_bytes in all. The first batch is always whole; the last range
 * may end inside a batch when max_bytes runs out (consumers drop a partial trailing batch and
 * fetch it again, as Apache Kafka's zero-copy reads also make them do). *total is the sum of
 * the lengths. Returns 1 for an offset out of range, 0 ok, -1 on I/O error. */
int partition_slices(struct partition *p, int64_t offset, int64_t limit_offset, size_t max_bytes,
                     struct log_slice *out, int max_slices, int *nslices, size_t *total,
                     struct sl_err *err);
/* Closes the descriptors of n slices from partition_slices. */
void log_slices_close(struct log_slice *s, int n);

/* Earliest offset whose record timestamp is >= ts, and that record's timestamp; *offset = -1
 * when no record qualifies. Uses batch MaxTimestamp to find the batch, then the records for
 * uncompressed batches (the batch's base offset for compressed ones). */
int partition_offset_for_timestamp(struct partition *p, int64_t ts, int64_t *offset,
                                   int64_t *timestamp, struct sl_err *err);

/* Deletes whole segments past retention (never the active one; when everything has expired it
 * first rolls to an empty active segment and syncs that). Returns the number deleted. */
int partition_enforce_retention(struct partition *p, int64_t now_ms, struct sl_err *err);
/* The same in two steps, so that the file work can run off the owner thread: take (owner
 * thread) detaches the segments past retention -- the log start moves at once -- and appends
 * them to *gone; *rolled says it rolled to an empty active segment, whose directory entry the
 * next partition sync must make durable (mark the partition dirty). Segments with unsynced
 * appends are left for a later round. partition_gone_delete (any thread) then deletes the
 * detached segments' files and empties *gone. */
struct segment;
struct partition_gone {
    struct segment *segs;
    size_t n, cap;
};
int partition_retention_take(struct partition *p, int64_t now_ms, struct partition_gone *gone,
                             bool *rolled, struct sl_err *err);
int partition_gone_delete(struct partition_gone *gone, struct sl_err *err);

#endif
