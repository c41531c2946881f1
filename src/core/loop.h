/* An event loop in the manner of Redis's ae.c: file events on epoll, one-shot or repeating
 * timers kept in a binary heap, a hook run before each sleep, and stop. One thread owns a
 * loop; everything registered on it runs on that thread. The clock can be replaced (tests
 * drive timers with a fake clock). */
#ifndef SLUICE_CORE_LOOP_H
#define SLUICE_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct loop;
struct loop_timer;

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

/* mask: LOOP_READ / LOOP_WRITE that are ready, plus LOOP_READ on hang-up or error (the read
 * then sees it). */
typedef void (*loop_file_fn)(struct loop *l, int fd, void *ctx, int mask);
/* Returns the delay in ms after which it runs again, or LOOP_TIMER_DONE to end the timer
 * (the loop then frees it: its handle must not be used afterwards). */
typedef int64_t (*loop_timer_fn)(struct loop *l, struct loop_timer *t, void *ctx);
#define LOOP_TIMER_DONE (-1)
typedef void (*loop_hook_fn)(struct loop *l, void *ctx);

int loop_create(struct loop **out, struct sl_err *err);
/* Frees the loop and any timers left; file descriptors are not closed. */
void loop_destroy(struct loop *l);

/* Watches fd for mask (replacing an earlier registration of the same fd). */
int loop_add_file(struct loop *l, int fd, int mask, loop_file_fn fn, void *ctx);
/* Changes what fd is watched for (0 = nothing, it stays registered). */
int loop_mod_file(struct loop *l, int fd, int mask);
void loop_del_file(struct loop *l, int fd);

/* Runs fn(ctx) after ms milliseconds. The handle stays valid until fn returns
 * LOOP_TIMER_DONE or loop_del_timer is called. NULL when memory is short. */
struct loop_timer *loop_add_timer(struct loop *l, int64_t ms, loop_timer_fn fn, void *ctx);
void loop_del_timer(struct loop *l, struct loop_timer *t);
/* Moves a timer to fire ms from now. */
void loop_timer_reset(struct loop *l, struct loop_timer *t, int64_t ms);
/* When a timer fires next (loop clock), INT64_MAX when none. */
int64_t loop_next_timer(const struct loop *l);

/* Runs before the loop sleeps, after every turn's events and timers. When it leaves work
 * behind it calls loop_no_sleep so the next wait does not block. */
void loop_set_before_sleep(struct loop *l, loop_hook_fn fn, void *ctx);
void loop_no_sleep(struct loop *l);

/* The clock timers run on (default: a monotonic clock in ms). */
void loop_set_clock(struct loop *l, int64_t (*now)(void *ctx), void *ctx);
int64_t loop_now(const struct loop *l);

/* One turn: waits at most max_wait_ms (-1: until the next timer) for file events, runs them,
 * runs due timers, then the before-sleep hook. Returns the number of events handled, -1 on
 * an epoll error (err set). */
int loop_run_once(struct loop *l, int64_t max_wait_ms, struct sl_err *err);
/* Turns until loop_stop. */
int loop_run(struct loop *l, struct sl_err *err);
/* Thread-safe and async-signal-safe: a sleeping loop wakes up and runs a turn. */
void loop_wake(struct loop *l);
/* Async-signal-safe: the loop returns after its current turn (within 1 s at most). */
void loop_stop(struct loop *l);
bool loop_stopped(const struct loop *l);

#endif
