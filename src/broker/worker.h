/* The broker's admin worker: slow file work that must not hold up the event loop (creating a
 * topic's partitions, deleting the segments retention let go) runs here, one job at a time in
 * the order submitted, and each job's done callback then runs on the loop thread, where the
 * result is published. The sync thread (group commit) stays separate so that a long creation
 * never delays an acks=all answer. */
#ifndef SLUICE_BROKER_WORKER_H
#define SLUICE_BROKER_WORKER_H

#include "core/err.h"

struct loop;
struct worker;

/* run: on the worker thread, must not touch loop-owned state; done: on the loop thread. */
typedef void (*worker_run_fn)(void *ctx);
typedef void (*worker_done_fn)(void *ctx);

/* Starts the thread and watches its completions on l. */
int worker_start(struct loop *l, struct worker **out, struct sl_err *err);
/* Queues a job; with wk NULL (no loop: tests, tools) or without memory for the queue entry it
 * runs run then done right here instead. */
void worker_submit(struct worker *wk, worker_run_fn run, worker_done_fn done, void *ctx);
/* Jobs submitted and not yet done (loop thread's view). */
int worker_pending(const struct worker *wk);
/* Runs every queued job to its end (done callbacks included, on this thread) and stops the
 * thread. wk may be NULL. */
void worker_stop(struct worker *wk);

#endif
