/* The admin worker: a FIFO of jobs run on one thread; finished jobs come back through an
 * eventfd the loop watches, and their done callbacks run there in order. */
#include "broker/worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "broker/segment.h"
#include "core/loop.h"

struct job {
    worker_run_fn run;
    worker_done_fn done;
    void *ctx;
    struct job *next;
};

struct worker {
    struct loop *loop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *todo, **todo_tail; /* for the thread */
    struct job *done, **done_tail; /* back from the thread */
    int running;                   /* jobs taken by the thread and not yet in done */
    int pending;                   /* submitted, done callback not yet run (loop thread) */
    bool quit;
    int efd;
};

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    segment_pool_bypass(true); /* the pool belongs to the loop thread */
    pthread_mutex_lock(&wk->mu);
    for (;;) {
        while (!wk->todo && !wk->quit)
            pthread_cond_wait(&wk->cv, &wk->mu);
        struct job *j = wk->todo;
        if (!j)
            break;
        wk->todo = j->next;
        if (!wk->todo)
            wk->todo_tail = &wk->todo;
        wk->running++;
        pthread_mutex_unlock(&wk->mu);
        j->run(j->ctx);
        j->next = NULL;
        pthread_mutex_lock(&wk->mu);
        wk->running--;
        *wk->done_tail = j;
        wk->done_tail = &j->next;
        pthread_cond_broadcast(&wk->cv);
        uint64_t one = 1;
        ssize_t w = write(wk->efd, &one, sizeof(one));
        (void)w;
    }
    pthread_mutex_unlock(&wk->mu);
    return NULL;
}

/* Runs the done callbacks of finished jobs (loop thread). */
static void collect(struct worker *wk)
{
    pthread_mutex_lock(&wk->mu);
    struct job *j = wk->done;
    wk->done = NULL;
    wk->done_tail = &wk->done;
    pthread_mutex_unlock(&wk->mu);
    while (j) {
        struct job *next = j->next;
        wk->pending--;
        if (j->done)
            j->done(j->ctx);
        free(j);
        j = next;
    }
}

static void on_done(struct loop *l, int fd, void *ctx, int mask)
{
    (void)l;
    (void)mask;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
    collect(ctx);
}

int worker_start(struct loop *l, struct worker **out, struct sl_err *err)
{
    struct worker *wk = calloc(1, sizeof(*wk));
    if (!wk)
        return sl_err_set(err, "out of memory");
    wk->loop = l;
    wk->todo_tail = &wk->todo;
    wk->done_tail = &wk->done;
    wk->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wk->efd < 0) {
        free(wk);
        return sl_err_errno(err, "eventfd");
    }
    pthread_mutex_init(&wk->mu, NULL);
    pthread_cond_init(&wk->cv, NULL);
    if (pthread_create(&wk->thread, NULL, worker_main, wk) != 0) {
        close(wk->efd);
        pthread_mutex_destroy(&wk->mu);
        pthread_cond_destroy(&wk->cv);
        free(wk);
        return sl_err_set(err, "cannot start the admin worker thread");
    }
    *out = wk;
    if (loop_add_file(l, wk->efd, LOOP_READ, on_done, wk) != 0)
        return sl_err_errno(err, "cannot watch the admin worker's eventfd");
    return 0;
}

void worker_submit(struct worker *wk, worker_run_fn run, worker_done_fn done, void *ctx)
{
    struct job *j = wk && !wk->quit ? calloc(1, sizeof(*j)) : NULL;
    if (!j) {
        run(ctx);
        if (done)
            done(ctx);
        return;
    }
    j->run = run;
    j->done = done;
    j->ctx = ctx;
    wk->pending++;
    pthread_mutex_lock(&wk->mu);
    *wk->todo_tail = j;
    wk->todo_tail = &j->next;
    pthread_cond_broadcast(&wk->cv);
    pthread_mutex_unlock(&wk->mu);
}

int worker_pending(const struct worker *wk)
{
    return wk ? wk->pending : 0;
}

void worker_stop(struct worker *wk)
{
    if (!wk)
        return;
    pthread_mutex_lock(&wk->mu);
    wk->quit = true; /* the thread still empties todo first */
    pthread_cond_broadcast(&wk->cv);
    pthread_mutex_unlock(&wk->mu);
    pthread_join(wk->thread, NULL);
    collect(wk);
    loop_del_file(wk->loop, wk->efd);
    close(wk->efd);
    pthread_mutex_destroy(&wk->mu);
    pthread_cond_destroy(&wk->cv);
    free(wk);
}
