/* Small filesystem helpers: recursive mkdir and remove, durable file replace, random bytes. */
#ifndef SLUICE_CORE_FSUTIL_H
#define SLUICE_CORE_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* mkdir -p; each directory it creates is made durable (its parent is fsynced). */
int fs_mkdirs(const char *path, struct sl_err *err);
/* rm -rf; a missing path is not an error. */
int fs_remove_tree(const char *path, struct sl_err *err);
/* Writes data to path durably: a temporary file, fsync, rename over path, fsync the directory. */
int fs_write_atomic(const char *path, const void *data, size_t len, struct sl_err *err);
/* fsyncs a directory so that entries created or renamed in it persist. */
int fs_sync_dir(const char *path, struct sl_err *err);
/* Reads a whole file of at most max bytes; caller frees *data (NUL-terminated). */
int fs_read_file(const char *path, size_t max, char **data, size_t *len, struct sl_err *err);
/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force. */
int64_t fs_raise_nofile(void);
/* Fills p with n cryptographically random bytes (getrandom). */
void fs_random(void *p, size_t n);

#endif
