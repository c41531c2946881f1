/* The event loop: timers in order on a fake clock, repeating and deleted timers, a timer
 * deleting another, file events on a socketpair, the before-sleep hook and stop. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/loop.h"

static int64_t fake_now;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static char order[64];
static int norder;

static int64_t once(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)l;
    (void)t;
    order[norder++] = *(const char *)ctx;
    return LOOP_TIMER_DONE;
}

static int repeats;
static int64_t every_10(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)l;
    (void)t;
    (void)ctx;
    return ++repeats < 3 ? 10 : LOOP_TIMER_DONE;
}

static struct loop_timer *victim;
static int64_t killer(struct loop *l, struct loop_timer *t, void *ctx)
{
    (void)t;
    (void)ctx;
    loop_del_timer(l, victim);
    victim = NULL;
    return LOOP_TIMER_DONE;
}

static void test_timers(void)
{
    struct loop *l;
    struct sl_err err;
    CHECK(loop_create(&l, &err) == 0);
    loop_set_clock(l, fake_clock, NULL);
    fake_now = 1000;
    static const char a = 'a', b = 'b', c = 'c', d = 'd';
    loop_add_timer(l, 30, once, (void *)&c);
    loop_add_timer(l, 10, once, (void *)&a);
    loop_add_timer(l, 20, once, (void *)&b);
    struct loop_timer *gone = loop_add_timer(l, 15, once, (void *)&d);
    loop_del_timer(l, gone);
    CHECK_EQ_INT(loop_next_timer(l), 1010);
    fake_now = 1005;
    loop_run_once(l, 0, &err);
    CHECK_EQ_INT(norder, 0);
    fake_now = 1020;
    loop_run_once(l, 0, &err);
    CHECK_EQ_INT(norder, 2);
    fake_now = 1100;
    loop_run_once(l, 0, &err);
    order[norder] = '\0';
    CHECK_EQ_STR(order, "abc");
    CHECK_EQ_INT(loop_next_timer(l), INT64_MAX);

    /* repeating: runs at 10, 20, 30 after the start, then ends */
    loop_add_timer(l, 10, every_10, NULL);
    for (int i = 0; i < 10; i++) {
        fake_now += 10;
        loop_run_once(l, 0, &err);
    }
    CHECK_EQ_INT(repeats, 3);
    CHECK_EQ_INT(loop_next_timer(l), INT64_MAX);

    /* a timer that deletes another due in the same turn: the victim never runs */
    norder = 0;
    static const char v = 'v';
    loop_add_timer(l, 5, killer, NULL);
    victim = loop_add_timer(l, 6, once, (void *)&v);
    fake_now += 10;
    loop_run_once(l, 0, &err);
    CHECK_EQ_INT(norder, 0);
    CHECK(victim == NULL);

    /* reset moves a timer */
    struct loop_timer *t = loop_add_timer(l, 5, once, (void *)&a);
    loop_timer_reset(l, t, 50);
    fake_now += 10;
    loop_run_once(l, 0, &err);
    CHECK_EQ_INT(norder, 0);
    fake_now += 50;
    loop_run_once(l, 0, &err);
    CHECK_EQ_INT(norder, 1);

    /* many timers come out in order */
    norder = 0;
    static char keys[40];
    for (int i = 0; i < 40; i++) {
        keys[i] = (char)('A' + (i * 7) % 40);
        loop_add_timer(l, 100 + (i * 7) % 40, once, &keys[i]);
    }
    fake_now += 200;
    loop_run_once(l, 0, &err);
    CHECK_EQ_INT(norder, 40);
    bool sorted = true;
    for (int i = 1; i < norder; i++)
        sorted = sorted && order[i - 1] < order[i];
    CHECK(sorted);
    loop_add_timer(l, 1000, once, (void *)&a); /* left over: freed by destroy */
    loop_destroy(l);
}

struct file_ctx {
    int reads;
    char got[16];
};

static void on_readable(struct loop *l, int fd, void *ctx, int mask)
{
    struct file_ctx *fc = ctx;
    if (!(mask & LOOP_READ))
        return;
    ssize_t n = read(fd, fc->got, sizeof(fc->got) - 1);
    if (n > 0)
        fc->got[n] = '\0';
    fc->reads++;
    if (n <= 0)
        loop_del_file(l, fd);
}

static int hooks;
static void before_sleep(struct loop *l, void *ctx)
{
    (void)ctx;
    hooks++;
    if (hooks == 5)
        loop_stop(l);
}

static void test_files(void)
{
    struct loop *l;
    struct sl_err err;
    CHECK(loop_create(&l, &err) == 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct file_ctx fc = {0};
    CHECK(loop_add_file(l, sv[0], LOOP_READ, on_readable, &fc) == 0);
    CHECK_EQ_INT(loop_run_once(l, 0, &err), 0);
    CHECK(write(sv[1], "ping", 4) == 4);
    CHECK_EQ_INT(loop_run_once(l, 1000, &err), 1);
    CHECK_EQ_STR(fc.got, "ping");
    /* not watched for reading: data waits */
    CHECK(loop_mod_file(l, sv[0], 0) == 0);
    CHECK(write(sv[1], "pong", 4) == 4);
    CHECK_EQ_INT(loop_run_once(l, 0, &err), 0);
    CHECK_EQ_INT(fc.reads, 1);
    CHECK(loop_mod_file(l, sv[0], LOOP_READ) == 0);
    loop_run_once(l, 1000, &err);
    CHECK_EQ_STR(fc.got, "pong");
    /* hang-up is reported as readable; the callback removes the fd */
    close(sv[1]);
    loop_run_once(l, 1000, &err);
    CHECK_EQ_INT(fc.reads, 3);
    CHECK(loop_mod_file(l, sv[0], LOOP_READ) != 0);
    close(sv[0]);

    /* the before-sleep hook runs each turn; stop ends loop_run */
    loop_set_before_sleep(l, before_sleep, NULL);
    loop_no_sleep(l);
    static const char z = 'z';
    for (int i = 0; i < 10; i++)
        loop_add_timer(l, 0, once, (void *)&z);
    CHECK(loop_run(l, &err) == 0);
    CHECK(loop_stopped(l));
    CHECK(hooks >= 5);
    loop_destroy(l);
}

int main(void)
{
    test_timers();
    test_files();
    return check_summary();
}
