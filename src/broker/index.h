/* The sparse offset index of one log segment: (offset relative to the segment base, byte
 * position in the segment) pairs, both u32 big-endian on disk, one entry every
 * index_interval_bytes of log. Held in memory as a sorted array for binary search; new entries
 * are buffered and written to the `.index` file in chunks, not one syscall per entry. */
#ifndef SLUICE_BROKER_INDEX_H
#define SLUICE_BROKER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define INDEX_ENTRY_SIZE 8

struct index_entry {
    uint32_t rel; /* offset - segment base offset */
    uint32_t pos; /* byte position of the batch with that base offset */
};

struct offset_index {
    char *path;
    struct index_entry *e;
    size_t n, cap;
    size_t flushed; /* entries [0, flushed) are in the file */
    bool stale;     /* the file may hold entries past `flushed` that are no longer valid */
};

/* Sets up an empty index for the file at path (copied). Does not touch the file. */
int index_init(struct offset_index *ix, const char *path, struct sl_err *err);
/* Frees memory and closes the file without writing pending entries. */
void index_close(struct offset_index *ix);

/* Loads the file if present. Returns 0 when it loaded and looks sane (positions and offsets
 * strictly increasing, every position inside a segment of seg_size bytes), 1 when it is
 * missing or not sane (the index is then empty and marked for rewrite), -1 on I/O error. */
int index_load(struct offset_index *ix, int64_t seg_size, struct sl_err *err);

/* Appends an entry in memory (rel and pos must be larger than the last entry's); writes the
 * pending entries out once enough have accumulated. */
int index_add(struct offset_index *ix, uint32_t rel, uint32_t pos, struct sl_err *err);
/* Writes all pending entries to the file (creating it if needed). */
int index_flush(struct offset_index *ix, struct sl_err *err);
/* Flushes pending entries (entries stay in memory for lookups). Used when a segment stops being
 * the active one. No index keeps a descriptor open between flushes. */
int index_close_file(struct offset_index *ix, struct sl_err *err);
/* Drops every entry, marking the file for rewrite on the next flush. */
void index_reset(struct offset_index *ix);
/* Drops entries whose position is >= pos (after a log truncation). */
void index_truncate(struct offset_index *ix, uint32_t pos);

/* Position of the last entry whose rel <= the given rel (0 when none: the segment start), and
 * that entry's rel in *entry_rel (0 when none). */
uint32_t index_lookup(const struct offset_index *ix, uint32_t rel, uint32_t *entry_rel);

#endif
