/* A fixed array of slots, one per running try; no threads. Timeouts are enforced without
 * blocking the loop: SIGTERM to the group when the deadline passes, SIGKILL on a later turn. */
#include "scheduler/executor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KILL_GRACE_US 5000000

int executor_init(struct executor *ex, int parallelism)
{
    memset(ex, 0, sizeof(*ex));
    if (parallelism < 1)
        parallelism = 1;
    ex->slots = calloc((size_t)parallelism, sizeof(*ex->slots));
    if (!ex->slots)
        return -1;
    ex->cap = parallelism;
    return 0;
}

void executor_free(struct executor *ex)
{
    free(ex->slots);
    memset(ex, 0, sizeof(*ex));
}

int executor_free_slots(const struct executor *ex)
{
    return ex->cap - ex->used;
}

int executor_running_for_dag(const struct executor *ex, const char *dag_id)
{
    int n = 0;
    for (int i = 0; i < ex->cap; i++)
        n += ex->slots[i].used && strcmp(ex->slots[i].dag_id, dag_id) == 0;
    return n;
}

struct exec_slot *executor_find(struct executor *ex, const char *ti_id)
{
    for (int i = 0; i < ex->cap; i++) {
        if (ex->slots[i].used && strcmp(ex->slots[i].ti_id, ti_id) == 0)
            return &ex->slots[i];
    }
    return NULL;
}

int executor_start(struct executor *ex, const struct exec_slot *tmpl, const struct proc_spec *spec,
                   struct sl_err *err)
{
    struct exec_slot *s = NULL;
    for (int i = 0; i < ex->cap && !s; i++) {
        if (!ex->slots[i].used)
            s = &ex->slots[i];
    }
    if (!s)
        return sl_err_set(err, "no free executor slot");
    *s = *tmpl;
    s->used = false;
    s->timed_out = false;
    s->cancelled = false;
    s->term_sent_us = 0;
    s->ended_us = 0;
    s->end_logged = false;
    if (proc_spawn(spec, &s->proc, err) != 0)
        return -1;
    s->used = true;
    ex->used++;
    return 0;
}

void executor_cancel(struct exec_slot *slot, int64_t grace_ms)
{
    if (!slot->used || slot->proc.exited)
        return;
    slot->cancelled = true;
    proc_stop(&slot->proc, grace_ms);
}

int executor_poll(struct executor *ex, int64_t now_us,
                  bool (*done)(struct exec_slot *slot, void *arg), void *arg)
{
    int n = 0;
    for (int i = 0; i < ex->cap; i++) {
        struct exec_slot *s = &ex->slots[i];
        if (!s->used)
            continue;
        int r = proc_poll(&s->proc);
        if (r == 0 && s->deadline_us && now_us >= s->deadline_us) {
            if (!s->timed_out) {
                s->timed_out = true;
                s->term_sent_us = now_us;
                proc_signal(&s->proc, SIGTERM);
            } else if (now_us - s->term_sent_us >= KILL_GRACE_US) {
                proc_signal(&s->proc, SIGKILL);
            }
            r = proc_poll(&s->proc);
        }
        if (r == 0)
            continue;
        if (!s->ended_us) {
            s->ended_us = now_us;
            if (s->timed_out || s->cancelled)
                proc_signal(&s->proc, SIGKILL); /* what is left of the group */
        }
        if (!done(s, arg))
            continue; /* not recorded yet: again at the next poll */
        s->used = false;
        ex->used--;
        n++;
    }
    return n;
}

void executor_stop_all(struct executor *ex, int64_t grace_ms)
{
    for (int i = 0; i < ex->cap; i++) {
        if (ex->slots[i].used)
            proc_signal(&ex->slots[i].proc, SIGTERM);
    }
    for (int i = 0; i < ex->cap; i++) {
        if (ex->slots[i].used) {
            proc_stop(&ex->slots[i].proc, grace_ms);
            ex->slots[i].used = false;
        }
    }
    ex->used = 0;
}
