/* A durable append-only record log, the storage under the consumer-group coordinator
 * (DATA_DIR/groups/state.log). Each record is [u32 length][u32 CRC-32C][payload]; this file
 * knows nothing of what payloads mean. Open replays every whole record through a callback;
 * a record the callback cannot apply is skipped, never a reason to stop, so a later valid record
 * is never lost. Replay stops only where the framing or CRC fails (a torn tail after a crash),
 * and that tail is cut. A failed or partial append is cut back to the last whole record, so a
 * later append after a transient error (ENOSPC) is not hidden behind a torn one. Compaction
 * writes a new log beside the old one and renames it over, durably. Not thread safe. */
#ifndef SLUICE_BROKER_GROUP_STORE_H
#define SLUICE_BROKER_GROUP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Largest payload; group_store_append refuses larger ones. */
#define GROUP_STORE_MAX_RECORD (16 << 20)

struct group_store {
    int fd;
    char path[4096];
    int64_t end;  /* bytes of whole records: where the next append goes */
    bool dirty;   /* appended since the last group_store_sync */
    bool broken;  /* a failed append could not be cut back: appends are refused */
    int64_t nrec; /* records in the file (replayed or appended) */
    /* A compaction out on another thread (group_store_compact_*): the new log, to which every
     * append also goes until the owner switches to it. */
    bool shadow_on;
    int shadow_fd;
    int64_t shadow_end, shadow_nrec;
    bool shadow_bad; /* an append to it failed and could not be cut back */
};

/* Called for each record in order; returns 0 when applied, non-zero when the payload cannot be
 * applied (it is then skipped and counted). */
typedef int (*group_store_replay_fn)(void *ctx, const uint8_t *payload, size_t len);

/* Creates DATA_DIR/groups durably if needed, opens state.log and replays it through fn.
 * *skipped (may be NULL) counts records fn refused. The caller usually compacts right after. */
int group_store_open(struct group_store *st, const char *data_dir, group_store_replay_fn fn,
                     void *ctx, int64_t *skipped, struct sl_err *err);
/* Appends one record (page cache; durable after group_store_sync). On failure the file is cut
 * back to st->end and an error returned; nothing of the record remains. */
int group_store_append(struct group_store *st, const uint8_t *payload, size_t len,
                       struct sl_err *err);
/* fdatasync if anything was appended since the last sync. */
int group_store_sync(struct group_store *st, struct sl_err *err);
void group_store_close(struct group_store *st);

/* Compaction: a new log written beside the old one, then renamed over it. */
struct group_store_rewrite {
    int fd;
    int64_t end;
    int64_t nrec;
    char tmp[4200];
};
int group_store_rewrite_begin(const struct group_store *st, struct group_store_rewrite *rw,
                              struct sl_err *err);
int group_store_rewrite_add(struct group_store_rewrite *rw, const uint8_t *payload, size_t len,
                            struct sl_err *err);
/* Syncs the new log, renames it over the old one and syncs the directory; st then appends to
 * the new log. On failure before the rename the old log stays in use; a failure to sync the
 * directory after it is returned like any failed fsync (the caller stops). */
int group_store_rewrite_commit(struct group_store *st, struct group_store_rewrite *rw,
                               struct sl_err *err);
void group_store_rewrite_abort(struct group_store_rewrite *rw);

/* Compaction off the owner thread, with appends going on meanwhile. The owner frames the live
 * state into a buffer (group_store_frame), then: begin (owner) creates the new log beside the
 * old one, leaves room for that head and from now on writes every append to both logs (an
 * append that fails in either is cut back from both and fails); run (any thread) writes the
 * head, fdatasyncs the new log, renames it over the old one and fsyncs the directory; end
 * (owner) switches to the new log and hands back the old descriptor for the caller to close
 * off the owner thread too (closing the last descriptor of a big unlinked file frees its
 * blocks). While a compaction is out, whoever makes appends durable must fdatasync
 * st->shadow_fd as well as st->fd (group_store_sync does): an append acknowledged after that
 * is in both, whichever name a power loss leaves. */
struct group_store_compaction {
    uint8_t *head; /* framed records (owned; freed by end) */
    size_t head_len;
    int64_t head_nrec;
    int fd; /* run's own descriptor of the new log */
    char tmp[4200];
    char path[4096];
    int stage; /* what run got to: 0 failed before the rename, 1 renamed, 2 done */
    struct sl_err err;
    void *owner; /* the caller's */
};
/* Appends one framed record ([length][CRC][payload]) to b. */
int group_store_frame(struct buf *b, const uint8_t *payload, size_t len);
int group_store_compact_begin(struct group_store *st, struct group_store_compaction *c,
                              struct sl_err *err);
void group_store_compact_run(struct group_store_compaction *c);
/* 0 with *old_fd (-1 when none) after a switch or a compaction that failed before its rename
 * (the old log stays, err says why when *failed); -1 when the rename happened but the
 * directory could not be synced (like a failed fsync: the caller stops). */
int group_store_compact_end(struct group_store *st, struct group_store_compaction *c, int *old_fd,
                            bool *failed, struct sl_err *err);

#endif
