/* One error type for all of sluice: functions return 0 on success or -1 on failure and, when
 * given a non-NULL `struct sl_err *`, leave a message for the user there. The error is logged
 * once, by whoever decides what to do about it. */
#ifndef SLUICE_CORE_ERR_H
#define SLUICE_CORE_ERR_H

#include <stddef.h>

struct sl_err {
    char msg[512];
};

/* Formats a message into err (if not NULL) and returns -1, so callers can
 * `return sl_err_set(err, "...")`. */
int sl_err_set(struct sl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like sl_err_set, with ": strerror(errno)" appended. */
int sl_err_errno(struct sl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
