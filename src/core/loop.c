/* The event loop: epoll for file events, a binary min-heap of timers, a before-sleep hook,
 * and an eventfd so another thread (or a signal handler) can wake a sleeping loop. */
#include "core/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/units.h"

#define MAX_EVENTS 128

struct file_event {
    loop_file_fn fn;
    void *ctx;
    int mask;
    bool used;
};

struct loop_timer {
    int64_t when;
    loop_timer_fn fn;
    void *ctx;
    int idx;        /* position in the heap, -1 while firing or not queued */
    bool cancelled; /* deleted while its own callback ran */
};

struct loop {
    int epfd;
    int wakefd;
    struct file_event *files; /* indexed by fd */
    int nfiles;
    struct loop_timer **heap;
    int nheap, heap_cap;
    loop_hook_fn before_sleep;
    void *before_sleep_ctx;
    bool no_sleep;
    int64_t (*now)(void *ctx);
    void *now_ctx;
    volatile sig_atomic_t stop;
};

static int64_t default_now(void *ctx)
{
    (void)ctx;
    return mono_ms();
}

int loop_create(struct loop **out, struct sl_err *err)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l)
        return sl_err_set(err, "out of memory");
    l->now = default_now;
    l->wakefd = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        sl_err_errno(err, "epoll_create1");
        free(l);
        return -1;
    }
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = -1};
    if (l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0) {
        sl_err_errno(err, "eventfd");
        if (l->wakefd >= 0)
            close(l->wakefd);
        close(l->epfd);
        free(l);
        return -1;
    }
    *out = l;
    return 0;
}

void loop_destroy(struct loop *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    free(l->files);
    close(l->wakefd);
    close(l->epfd);
    free(l);
}

static uint32_t epoll_mask(int mask)
{
    return (mask & LOOP_READ ? EPOLLIN | EPOLLRDHUP : 0) | (mask & LOOP_WRITE ? EPOLLOUT : 0);
}

int loop_add_file(struct loop *l, int fd, int mask, loop_file_fn fn, void *ctx)
{
    if (fd < 0)
        return -1;
    if (fd >= l->nfiles) {
        int n = l->nfiles ? l->nfiles : 64;
        while (n <= fd)
            n *= 2;
        struct file_event *f = realloc(l->files, (size_t)n * sizeof(*f));
        if (!f)
            return -1;
        memset(f + l->nfiles, 0, (size_t)(n - l->nfiles) * sizeof(*f));
        l->files = f;
        l->nfiles = n;
    }
    struct epoll_event ev = {.events = epoll_mask(mask), .data.fd = fd};
    int op = l->files[fd].used ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0)
        return -1;
    l->files[fd] = (struct file_event){.fn = fn, .ctx = ctx, .mask = mask, .used = true};
    return 0;
}

int loop_mod_file(struct loop *l, int fd, int mask)
{
    if (fd < 0 || fd >= l->nfiles || !l->files[fd].used)
        return -1;
    if (l->files[fd].mask == mask)
        return 0;
    struct epoll_event ev = {.events = epoll_mask(mask), .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
        return -1;
    l->files[fd].mask = mask;
    return 0;
}

void loop_del_file(struct loop *l, int fd)
{
    if (fd < 0 || fd >= l->nfiles || !l->files[fd].used)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&l->files[fd], 0, sizeof(l->files[fd]));
}

/* --- timers: a binary min-heap on `when` --- */

static void heap_set(struct loop *l, int i, struct loop_timer *t)
{
    l->heap[i] = t;
    t->idx = i;
}

static void heap_up(struct loop *l, int i)
{
    struct loop_timer *t = l->heap[i];
    while (i > 0) {
        int p = (i - 1) / 2;
        if (l->heap[p]->when <= t->when)
            break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, t);
}

static void heap_down(struct loop *l, int i)
{
    struct loop_timer *t = l->heap[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[c]->when)
            c++;
        if (l->heap[c]->when >= t->when)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

static int heap_push(struct loop *l, struct loop_timer *t)
{
    if (l->nheap == l->heap_cap) {
        int cap = l->heap_cap ? l->heap_cap * 2 : 16;
        struct loop_timer **h = realloc(l->heap, (size_t)cap * sizeof(*h));
        if (!h)
            return -1;
        l->heap = h;
        l->heap_cap = cap;
    }
    l->heap[l->nheap] = t;
    t->idx = l->nheap++;
    heap_up(l, t->idx);
    return 0;
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
    int i = t->idx;
    t->idx = -1;
    struct loop_timer *last = l->heap[--l->nheap];
    if (i == l->nheap)
        return;
    heap_set(l, i, last);
    heap_down(l, i);
    heap_up(l, last->idx);
}

struct loop_timer *loop_add_timer(struct loop *l, int64_t ms, loop_timer_fn fn, void *ctx)
{
    struct loop_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->when = loop_now(l) + (ms > 0 ? ms : 0);
    t->fn = fn;
    t->ctx = ctx;
    if (heap_push(l, t) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void loop_del_timer(struct loop *l, struct loop_timer *t)
{
    if (!t)
        return;
    if (t->idx < 0) { /* firing: freed when its callback returns */
        t->cancelled = true;
        return;
    }
    heap_remove(l, t);
    free(t);
}

void loop_timer_reset(struct loop *l, struct loop_timer *t, int64_t ms)
{
    t->when = loop_now(l) + (ms > 0 ? ms : 0);
    if (t->idx < 0)
        return; /* firing: its callback's return value decides */
    heap_down(l, t->idx);
    heap_up(l, t->idx);
}

int64_t loop_next_timer(const struct loop *l)
{
    return l->nheap > 0 ? l->heap[0]->when : INT64_MAX;
}

/* Runs the timers due now. A timer re-armed with delay 0 runs again next turn, not now. */
static void run_timers(struct loop *l)
{
    int64_t now = loop_now(l);
    int budget = l->nheap;
    while (budget-- > 0 && l->nheap > 0 && l->heap[0]->when <= now) {
        struct loop_timer *t = l->heap[0];
        heap_remove(l, t);
        int64_t again = t->fn(l, t, t->ctx);
        if (again < 0 || t->cancelled) {
            free(t);
            continue;
        }
        t->when = loop_now(l) + again;
        if (heap_push(l, t) != 0)
            free(t); /* out of memory: the timer is lost rather than the loop */
    }
}

void loop_set_before_sleep(struct loop *l, loop_hook_fn fn, void *ctx)
{
    l->before_sleep = fn;
    l->before_sleep_ctx = ctx;
}

void loop_no_sleep(struct loop *l)
{
    l->no_sleep = true;
}

void loop_set_clock(struct loop *l, int64_t (*now)(void *ctx), void *ctx)
{
    l->now = now ? now : default_now;
    l->now_ctx = ctx;
}

int64_t loop_now(const struct loop *l)
{
    return l->now(l->now_ctx);
}

int loop_run_once(struct loop *l, int64_t max_wait_ms, struct sl_err *err)
{
    l->no_sleep = false;
    if (l->before_sleep)
        l->before_sleep(l, l->before_sleep_ctx);
    int64_t wait = max_wait_ms;
    int64_t next = loop_next_timer(l);
    if (next != INT64_MAX) {
        int64_t d = next - loop_now(l);
        if (d < 0)
            d = 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    if (l->no_sleep || l->stop)
        wait = 0;
    if (wait > 1000 || wait < 0)
        wait = 1000; /* a stop request from a signal handler is seen within a second */
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(l->epfd, evs, MAX_EVENTS, (int)wait);
    if (n < 0) {
        if (errno != EINTR)
            return sl_err_errno(err, "epoll_wait");
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd < 0) {
            uint64_t v;
            ssize_t rd = read(l->wakefd, &v, sizeof(v));
            (void)rd;
            continue;
        }
        if (fd >= l->nfiles || !l->files[fd].used)
            continue; /* deleted by an earlier callback of this turn */
        struct file_event *f = &l->files[fd];
        uint32_t e = evs[i].events;
        int mask = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            mask |= LOOP_READ;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            mask |= LOOP_WRITE;
        mask &= f->mask | ((e & (EPOLLHUP | EPOLLERR)) ? LOOP_READ : 0);
        if (mask)
            f->fn(l, fd, f->ctx, mask);
    }
    run_timers(l);
    return n;
}

int loop_run(struct loop *l, struct sl_err *err)
{
    while (!l->stop) {
        if (loop_run_once(l, -1, err) < 0)
            return -1;
    }
    return 0;
}

void loop_wake(struct loop *l)
{
    uint64_t one = 1;
    ssize_t w = write(l->wakefd, &one, sizeof(one)); /* write(2) is async-signal-safe */
    (void)w;
}

void loop_stop(struct loop *l)
{
    l->stop = 1;
    loop_wake(l);
}

bool loop_stopped(const struct loop *l)
{
    return l->stop != 0;
}
