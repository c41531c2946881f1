/* CreateTopics and DeleteTopics. One node, so replication factor is 1 (or -1 for the
 * default); topic configs the broker honours are accepted, anything else is refused by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/api_stream.h"
#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/kerr.h"
#include "broker/worker.h"
#include "core/log.h"
#include "core/units.h"

/* Applies one topic config; returns 0, or -1 with msg set for an unknown or bad value. */
static int apply_config(struct topic_config *tc, const char *name, const char *value, char *msg,
                        size_t msglen)
{
    int64_t v;
    if (!value) {
        snprintf(msg, msglen, "config %s has no value", name);
        return -1;
    }
    if (strcmp(name, "retention.ms") == 0 || strcmp(name, "retention.bytes") == 0) {
        if (parse_int(value, -1, INT64_MAX, &v, NULL) != 0)
            goto bad;
        if (name[10] == 'm')
            tc->retention_ms = v;
        else
            tc->retention_bytes = v;
        return 0;
    }
    if (strcmp(name, "segment.bytes") == 0) {
        if (parse_int(value, 14, INT32_MAX, &v, NULL) != 0)
            goto bad;
        tc->segment_bytes = v;
        return 0;
    }
    if (strcmp(name, "max.message.bytes") == 0) {
        if (parse_int(value, 0, INT32_MAX, &v, NULL) != 0)
            goto bad;
        tc->max_message_bytes = v;
        return 0;
    }
    /* Settings that hold trivially on a single node with delete retention. */
    if ((strcmp(name, "cleanup.policy") == 0 && strcmp(value, "delete") == 0) ||
        (strcmp(name, "min.insync.replicas") == 0 && strcmp(value, "1") == 0))
        return 0;
    snprintf(msg, msglen, "config %.100s=%.100s is not supported by sluice broker", name, value);
    return -1;
bad:
    snprintf(msg, msglen, "config %.100s has an invalid value '%.100s'", name, value);
    return -1;
}

/* One topic of a CreateTopics request, checked but not yet acted on. */
struct req_topic {
    char name[256];
    bool name_ok;
    int32_t partitions;
    int16_t replication;
    bool has_assignments;
    struct topic_config cfg;
    char msg[300];
    bool cfg_bad;
};

static void read_topic(struct broker *bk, struct kreader *r, bool flex, struct req_topic *t)
{
    memset(t, 0, sizeof(*t));
    t->name_ok = kslice_cstr(kr_str(r, flex), t->name, sizeof(t->name)) == 0;
    t->partitions = kr_i32(r);
    t->replication = kr_i16(r);
    int32_t nassign = kr_array(r, flex);
    t->has_assignments = nassign > 0;
    for (int32_t j = 0; j < nassign && !r->err; j++) {
        kr_i32(r);
        int32_t nb = kr_array(r, flex);
        kr_skip(r, (size_t)(nb > 0 ? nb : 0) * 4);
        kr_tags(r, flex);
    }
    topic_config_defaults(&t->cfg, &bk->cfg);
    int32_t ncfg = kr_array(r, flex);
    for (int32_t j = 0; j < ncfg && !r->err; j++) {
        char name[256], value[256];
        struct kslice ks = kr_str(r, flex), vs = kr_str(r, flex);
        kr_tags(r, flex);
        if (r->err || t->cfg_bad)
            continue;
        if (kslice_cstr(ks, name, sizeof(name)) != 0) {
            snprintf(t->msg, sizeof(t->msg), "bad config name");
            t->cfg_bad = true;
            continue;
        }
        bool null_value = vs.len < 0;
        if (!null_value && kslice_cstr(vs, value, sizeof(value)) != 0) {
            snprintf(t->msg, sizeof(t->msg), "config %.100s value too long", name);
            t->cfg_bad = true;
            continue;
        }
        if (apply_config(&t->cfg, name, null_value ? NULL : value, t->msg, sizeof(t->msg)) != 0)
            t->cfg_bad = true;
    }
    kr_tags(r, flex);
}

/* --- topic creation on the admin worker --- */

struct create_job {
    struct broker *bk;
    struct topic_creation *c;
    char name[256];
    int16_t code;    /* once done: what the creation returned */
    struct topic *t; /* once done: the topic, when created */
    struct sl_err err;
    bool done;
    bool waited;             /* a request still wants the result (else the job frees itself) */
    struct create_job *next; /* the waiting request's list */
};

static void create_job_run(void *ctx)
{
    struct create_job *j = ctx;
    registry_create_run(j->c);
}

static void create_job_done(void *ctx)
{
    struct create_job *j = ctx;
    j->code = (int16_t)registry_create_finish(j->c, &j->t, &j->err);
    j->c = NULL;
    j->done = true;
    if (!j->waited) {
        free(j);
        return;
    }
    if (j->bk->srv)
        server_wake(j->bk->srv);
}

struct create_job *api_create_submit(struct broker *bk, struct topic_creation *c)
{
    struct create_job *j = calloc(1, sizeof(*j));
    if (!j) {
        c->code = KERR_KAFKA_STORAGE_ERROR;
        sl_err_set(&c->err, "out of memory");
        registry_create_finish(c, NULL, NULL);
        return NULL;
    }
    j->bk = bk;
    j->c = c;
    j->waited = true;
    snprintf(j->name, sizeof(j->name), "%s", c->t->name);
    worker_submit(bk->worker, create_job_run, create_job_done, j);
    return j;
}

bool api_create_done(const struct create_job *j)
{
    return j->done;
}

const char *api_create_name(const struct create_job *j)
{
    return j->name;
}

int16_t api_create_result(const struct create_job *j, struct topic **t, const char **msg)
{
    if (t)
        *t = j->t;
    if (msg)
        *msg = j->err.msg;
    return j->code;
}

struct create_job **api_create_next(struct create_job *j)
{
    return &j->next;
}

void api_create_release(struct create_job *j)
{
    if (!j)
        return;
    if (j->done)
        free(j);
    else
        j->waited = false; /* freed when the worker is done with it */
}

/* A CreateTopics answer in progress. The topics are walked in request order and answered as
 * they are decided; a topic to create goes to the admin worker and the walk resumes when it is
 * done. One creation at a time per request, so the request costs its own bytes (copied only
 * once it has to wait) whatever it declares. */
struct create_wait {
    struct broker *bk;
    struct kreader r; /* at the next topic to answer */
    int32_t left;     /* topics not yet answered */
    bool flex, validate_only;
    int16_t v;
    struct req_topic topic; /* the one being created */
    struct create_job *job; /* its creation, or NULL */
    uint8_t *copy;          /* the rest of the request, once waiting */
    /* a request naming many topics: outcomes saved in s, the answer streamed at the end */
    struct astream *s;
    struct kreader all; /* the whole topics array (the request stays pinned) */
    int32_t ntopics;
};

static void write_created(struct kwriter *w, bool flex, int16_t v, const struct req_topic *t,
                          int32_t nparts, int16_t error, const char *msg, const uint8_t *id)
{
    static const uint8_t zero[16];
    kw_str(w, flex, t->name_ok ? t->name : NULL);
    if (v >= 7)
        kw_uuid(w, id ? id : zero);
    kw_i16(w, error);
    if (v >= 1)
        kw_str(w, flex, error ? msg : NULL);
    if (v >= 5) {
        kw_i32(w, error ? -1 : nparts);
        kw_i16(w, error ? -1 : 1);
        kw_array(w, flex, 0); /* configs: none listed (Java clients need a list) */
    }
    kw_tags(w, flex);
}

/* The refusals that follow from the request alone; false if there is none. */
static bool topic_refused(const struct req_topic *t, int32_t nparts, int16_t *error,
                          struct sl_err *err)
{
    if (!t->name_ok || !topic_name_valid(t->name)) {
        *error = KERR_INVALID_TOPIC_EXCEPTION;
        snprintf(err->msg, sizeof(err->msg), "invalid topic name");
    } else if (t->has_assignments) {
        *error = KERR_INVALID_REQUEST;
        snprintf(err->msg, sizeof(err->msg), "manual replica assignment is not supported");
    } else if (t->replication != -1 && t->replication != 1) {
        *error = KERR_INVALID_REPLICATION_FACTOR;
        snprintf(err->msg, sizeof(err->msg),
                 "replication factor %d is larger than the 1 available broker",
                 (int)t->replication);
    } else if (t->cfg_bad) {
        *error = KERR_INVALID_CONFIG;
        snprintf(err->msg, sizeof(err->msg), "%s", t->msg);
    } else if (nparts <= 0 || nparts > 10000) {
        *error = KERR_INVALID_PARTITIONS;
        snprintf(err->msg, sizeof(err->msg), "number of partitions must be 1-10000");
    } else {
        return false;
    }
    return true;
}

/* CreateTopics naming many topics, streamed (api_stream.h): a topic's answer (with a topic id
 * and a message, 28 bytes or more) can be several times its request entry. The topics are
 * decided in request order as below (creations one at a time on the admin worker, the request
 * pinned meanwhile); a valid name's outcome is saved once per distinct name, unless it is the
 * default (NONE when validating only, else "the broker is stopping"); a name already decided
 * is not decided again (a failed creation is not retried in the request). When all are
 * decided, the answer is sized and streamed: the first occurrence of a name answers its
 * outcome, later ones "already exists" after a creation (or the same error), refusals from the
 * request alone are written from its bytes. */
#define CREATE_STREAM_MIN (32 * 1024) /* topics sections up to this size are answered whole */

static void save_created(struct astream *s, const char *name, int16_t error, const char *msg,
                         const uint8_t *id)
{
    uint8_t val[2 + 16 + 512];
    size_t ml = error && msg ? strnlen(msg, 512) : 0;
    val[0] = (uint8_t)((uint16_t)error >> 8);
    val[1] = (uint8_t)error;
    memset(val + 2, 0, 16);
    if (id)
        memcpy(val + 2, id, 16);
    memcpy(val + 18, msg, ml);
    astream_put(s, name, strlen(name), val, 18 + ml);
}

static void create_topics_elem(struct astream *s, struct kreader *r, struct kwriter *w)
{
    bool validate_only = *(const bool *)s->arg;
    struct req_topic t;
    read_topic(s->bk, r, s->flex, &t);
    if (r->err)
        return;
    int32_t nparts = t.partitions == -1 ? s->bk->cfg.default_partitions : t.partitions;
    int16_t error = KERR_NONE;
    struct sl_err err = {{0}};
    const uint8_t *id = NULL;
    if (!topic_refused(&t, nparts, &error, &err)) {
        size_t klen = strlen(t.name), len = 0;
        const uint8_t *saved = astream_get(s, t.name, klen, &len);
        int16_t first = saved ? be16(saved) : KERR_NONE;
        if (saved && (astream_take(s, t.name, klen) ||
                      (first != KERR_NONE && first != KERR_TOPIC_ALREADY_EXISTS))) {
            error = first;
            id = error ? NULL : saved + 2;
            snprintf(err.msg, sizeof(err.msg), "%.*s", (int)(len - 18), (const char *)saved + 18);
        } else if (saved) {
            error = KERR_TOPIC_ALREADY_EXISTS;
            snprintf(err.msg, sizeof(err.msg), "topic '%.249s' already exists", t.name);
        } else if (!validate_only) {
            error = KERR_REQUEST_TIMED_OUT;
            snprintf(err.msg, sizeof(err.msg), "the broker is stopping");
        }
    }
    write_created(w, s->flex, s->v, &t, nparts, error, err.msg, id);
}

static const struct astream_def create_topics_def = {
    .outer = create_topics_elem,
    .tail = astream_tags_tail,
    .free_arg = free,
};

/* A topic decided: written now, or (streamed) its outcome saved. */
static void decided(struct create_wait *cw, struct kwriter *w, const struct req_topic *t,
                    int32_t nparts, int16_t error, const char *msg, const struct topic *created)
{
    if (!cw->s) {
        write_created(w, cw->flex, cw->v, t, nparts, error, msg, created ? created->id : NULL);
        return;
    }
    if (!t->name_ok || (error == KERR_NONE && cw->validate_only) || error == KERR_REQUEST_TIMED_OUT)
        return; /* refused from the request alone, or the default */
    save_created(cw->s, t->name, error, msg, created ? created->id : NULL);
}

static int32_t topic_nparts(const struct create_wait *cw, const struct req_topic *t)
{
    return t->partitions == -1 ? cw->bk->cfg.default_partitions : t->partitions;
}

/* Answers topics until one must be created (true once the whole response is written). */
static bool create_step(void *ctx, struct kwriter *w, bool expired)
{
    struct create_wait *cw = ctx;
    struct broker *bk = cw->bk;
    if (cw->job) {
        if (!api_create_done(cw->job) && !expired)
            return false;
        struct topic *created = NULL;
        const char *msg = "the broker is stopping";
        int16_t error = KERR_REQUEST_TIMED_OUT;
        if (api_create_done(cw->job))
            error = api_create_result(cw->job, &created, &msg);
        decided(cw, w, &cw->topic, topic_nparts(cw, &cw->topic), error, msg, created);
        api_create_release(cw->job);
        cw->job = NULL;
    }
    for (; cw->left > 0; cw->left--) {
        struct req_topic *t = &cw->topic;
        struct kreader at = cw->r;
        read_topic(bk, &cw->r, cw->flex, t);
        int32_t nparts = topic_nparts(cw, t);
        int16_t error = KERR_NONE;
        struct sl_err err = {{0}};
        if (topic_refused(t, nparts, &error, &err)) {
            if (cw->s)
                continue; /* answered from the request's bytes */
        } else if (cw->s && astream_get(cw->s, t->name, strlen(t->name), &(size_t){0})) {
            continue; /* decided already */
        } else if (registry_find(&bk->reg, t->name) || registry_creating(&bk->reg, t->name)) {
            error = KERR_TOPIC_ALREADY_EXISTS;
            snprintf(err.msg, sizeof(err.msg), "topic '%.249s' already exists", t->name);
        } else if (!cw->validate_only && !expired && bk->reg.ncreating >= REGISTRY_MAX_CREATING) {
            cw->r = at; /* as many creations as allowed are out: again when one is done */
            return false;
        } else if (!cw->validate_only && !expired) {
            struct topic_creation *c;
            error = (int16_t)registry_create_begin(&bk->reg, t->name, nparts, &t->cfg, &c, &err);
            if (error == KERR_NONE) {
                cw->job = api_create_submit(bk, c);
                if (!cw->job) {
                    error = KERR_KAFKA_STORAGE_ERROR;
                    snprintf(err.msg, sizeof(err.msg), "out of memory");
                } else {
                    cw->left--;
                    if (!api_create_done(cw->job))
                        return false;
                    return create_step(ctx, w, expired); /* ran here (no worker) */
                }
            }
        } else if (!cw->validate_only) {
            error = KERR_REQUEST_TIMED_OUT;
            snprintf(err.msg, sizeof(err.msg), "the broker is stopping");
        }
        decided(cw, w, t, nparts, error, err.msg, NULL);
        if (cw->s && cw->s->oom)
            break;
    }
    if (cw->s) {
        /* all decided: the answer is sized and streamed (w->err closes the connection) */
        struct astream *s = cw->s;
        cw->s = NULL;
        struct kreader all = cw->all;
        if (s->oom || !astream_size(s, &all, w->b.max, cw->ntopics)) {
            astream_free(s);
            w->err = true;
        } else if (!astream_send(w, s)) {
            w->err = true;
        }
        return true;
    }
    kw_tags(w, cw->flex);
    return true;
}

static void create_wait_free(void *ctx)
{
    struct create_wait *cw = ctx;
    api_create_release(cw->job);
    astream_free(cw->s);
    free(cw->copy);
    free(cw);
}

enum handler_result api_create_topics(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    int32_t ntopics = kr_array(r, flex);
    if (r->err || ntopics < 0)
        return H_CLOSE;

    /* The request's options come after the topic list: the topics are read once to check
     * the request and again to act, instead of being copied (a request then costs its own
     * size, whatever count it declares). */
    struct create_wait *cw = calloc(1, sizeof(*cw));
    if (!cw)
        return H_CLOSE;
    cw->bk = bk;
    cw->r = *r;
    cw->left = ntopics;
    cw->flex = flex;
    cw->v = v;
    for (int32_t i = 0; i < ntopics && !r->err; i++)
        read_topic(bk, r, flex, &cw->topic);
    kr_i32(r); /* timeout_ms */
    cw->validate_only = v >= 1 ? kr_i8(r) != 0 : false;
    kr_tags(r, flex);
    if (r->err) {
        free(cw);
        return H_CLOSE;
    }

    if (v >= 2)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_array(w, flex, ntopics);
    if (kr_remaining(&cw->r) > CREATE_STREAM_MIN) {
        bool *validate_only = malloc(sizeof(*validate_only));
        if (validate_only)
            *validate_only = cw->validate_only;
        cw->s = validate_only ? astream_new(bk, v, flex, &create_topics_def, validate_only) : NULL;
        if (!cw->s) {
            free(validate_only);
            free(cw);
            return H_CLOSE;
        }
        cw->all = cw->r;
        cw->ntopics = ntopics;
    }
    if (create_step(cw, w, false)) {
        create_wait_free(cw);
        return H_DONE;
    }
    if (cw->s) {
        /* the topics are read again to answer: the request stays where it is */
        server_pin(rq);
        server_wait(rq, -1, create_step, create_wait_free, cw);
        return H_DEFER;
    }
    /* A creation is out on the worker: the topics after it must outlive the request buffer. */
    size_t rest = kr_remaining(&cw->r);
    cw->copy = malloc(rest + 1);
    if (!cw->copy) {
        create_step(cw, w, true);
        create_wait_free(cw);
        return H_DONE;
    }
    memcpy(cw->copy, cw->r.p, rest);
    kr_init(&cw->r, cw->copy, rest);
    rq->hold_bytes = sizeof(*cw) + rest;
    server_wait(rq, -1, create_step, create_wait_free, cw);
    return H_DEFER;
}

/* DeleteTopics, streamed (api_stream.h): 2 bytes of a name get 4 or more in the answer. The
 * topics are deleted in the first pass; a name whose deletion was tried (its topic existed)
 * has its result saved once: its first occurrence answers that, later ones answer "does not
 * exist" after a deletion (or the same error again: it is not retried). Any other name's
 * answer comes from the request alone. */
struct delete_topics_arg {
    bool deleted;
};

static void delete_topic_elem(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct broker *bk = s->bk;
    int16_t v = s->v;
    struct kslice tname = kr_str(r, s->flex);
    if (v >= 6) {
        kr_skip(r, 16); /* topic_id: we delete by name */
        kr_tags(r, s->flex);
    }
    if (r->err)
        return;
    char name[256];
    struct sl_err err = {{0}};
    int16_t error;
    if (kslice_cstr(tname, name, sizeof(name)) != 0) {
        error = v >= 6 ? KERR_UNKNOWN_TOPIC_ID : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        snprintf(err.msg, sizeof(err.msg), "topic must be given by name");
    } else {
        size_t klen = (size_t)tname.len, len = 0;
        const uint8_t *saved = astream_get(s, tname.p, klen, &len);
        struct topic *t = !saved && s->sizing ? registry_find(&bk->reg, name) : NULL;
        if (t) {
            broker_forget_topic(bk, t);
            int16_t e = (int16_t)registry_delete(&bk->reg, name, &err);
            if (e == KERR_NONE) {
                groups_forget_topic(&bk->groups, name); /* committed offsets go with it */
                ((struct delete_topics_arg *)s->arg)->deleted = true;
            }
            /* the result: error, then the message */
            uint8_t val[2 + sizeof(err.msg)];
            size_t ml = e ? strlen(err.msg) : 0;
            val[0] = (uint8_t)((uint16_t)e >> 8);
            val[1] = (uint8_t)e;
            memcpy(val + 2, err.msg, ml);
            saved = astream_put(s, tname.p, klen, val, 2 + ml);
            len = 2 + ml;
        }
        int16_t first = saved ? be16(saved) : KERR_NONE;
        if (saved && (astream_take(s, tname.p, klen) || first != KERR_NONE)) {
            error = first;
            snprintf(err.msg, sizeof(err.msg), "%.*s", (int)(len - 2), (const char *)saved + 2);
        } else {
            error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            snprintf(err.msg, sizeof(err.msg), "topic '%s' does not exist", name);
        }
    }
    kw_strn(w, s->flex, (const char *)tname.p, tname.len);
    if (v >= 6) {
        static const uint8_t zero[16];
        kw_uuid(w, zero);
    }
    kw_i16(w, error);
    if (v >= 5)
        kw_str(w, s->flex, error ? err.msg : NULL);
    kw_tags(w, s->flex);
}

static const struct astream_def delete_topics_def = {
    .outer = delete_topic_elem,
    .tail = astream_tags_tail,
    .free_arg = free,
};

enum handler_result api_delete_topics(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    int32_t n = kr_array(r, flex);
    if (r->err || n < 0)
        return H_CLOSE;
    /* the request is checked whole before anything is deleted */
    struct kreader check = *r;
    for (int32_t i = 0; i < n && !check.err; i++) {
        kr_str(&check, flex);
        if (v >= 6) {
            kr_skip(&check, 16);
            kr_tags(&check, flex);
        }
    }
    kr_i32(&check); /* timeout_ms */
    kr_tags(&check, flex);
    if (check.err)
        return H_CLOSE;
    struct delete_topics_arg *arg = calloc(1, sizeof(*arg));
    if (!arg)
        return H_CLOSE;
    if (v >= 1)
        kw_i32(w, 0); /* throttle_time_ms */
    kw_array(w, flex, n);
    struct astream *s = astream_begin(rq, &delete_topics_def, n, arg);
    kr_i32(r); /* timeout_ms */
    kr_tags(r, flex);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    bool deleted = arg->deleted;
    enum handler_result res = astream_finish(rq, s);
    /* answered once the dropped offsets' tombstone is on disk */
    return res == H_DONE && deleted && bk->cfg.flush == FLUSH_GROUP ? H_WAIT_SYNC : res;
}

struct req_part {
    struct kslice name;
    int32_t count;
    bool bad_assignment;
};

static void read_part_req(struct broker *bk, struct kreader *r, bool flex, struct req_part *req)
{
    req->name = kr_str(r, flex);
    req->count = kr_i32(r);
    req->bad_assignment = false;
    int32_t na = kr_array(r, flex);
    for (int32_t j = 0; j < na && !r->err; j++) {
        int32_t nb = kr_array(r, flex);
        for (int32_t k = 0; k < nb && !r->err; k++)
            req->bad_assignment |= kr_i32(r) != bk->cfg.node_id;
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
}

/* CreatePartitions, streamed (api_stream.h): 7 bytes of a flexible topic in the request get 18
 * or more in the answer. Partitions are added in the first pass. A topic that existed then has
 * its course through the request saved once: its partition count when first named, and the
 * addition that failed if one did (later ones are then not tried and answer the same); both
 * passes replay that course to answer each occurrence as it was handled. A topic that did not
 * exist is unknown, whatever happens meanwhile. */
struct part_course {
    int32_t np[2];       /* its partition count as each pass goes (first pass, then second) */
    int32_t attempts[2]; /* additions reached so far in each pass */
    int32_t fail_at;     /* the addition that failed (-1: none) */
    int32_t np_failed;   /* its partition count after that */
    int16_t fail_err;
    char fail_msg[sizeof(((struct sl_err *)0)->msg)];
};

struct create_partitions_arg {
    bool validate_only;
};

static void create_partitions_elem(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct broker *bk = s->bk;
    struct req_part req;
    read_part_req(bk, r, s->flex, &req);
    if (r->err)
        return;
    bool validate_only = ((struct create_partitions_arg *)s->arg)->validate_only;
    char name[256];
    struct sl_err err = {{0}};
    int16_t error = KERR_NONE;
    uint8_t *saved = NULL;
    size_t len = 0;
    if (kslice_cstr(req.name, name, sizeof(name)) == 0) {
        size_t klen = (size_t)req.name.len;
        saved = astream_get(s, req.name.p, klen, &len);
        struct topic *t = !saved && s->sizing ? registry_find(&bk->reg, name) : NULL;
        if (t) {
            struct part_course pc = {.np = {t->npartitions, t->npartitions}, .fail_at = -1};
            saved = astream_put(s, req.name.p, klen, &pc, sizeof(pc));
            if (!saved)
                return;
        }
    }
    if (!saved) {
        error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        snprintf(err.msg, sizeof(err.msg), "unknown topic");
    } else {
        struct part_course pc;
        memcpy(&pc, saved, sizeof(pc));
        int p = s->sizing ? 0 : 1;
        if (req.bad_assignment) {
            error = KERR_INVALID_REQUEST;
            snprintf(err.msg, sizeof(err.msg), "replicas can only be on broker %d",
                     (int)bk->cfg.node_id);
        } else if (req.count <= pc.np[p] || req.count > 10000) {
            error = KERR_INVALID_PARTITIONS;
            snprintf(err.msg, sizeof(err.msg),
                     "topic has %d partitions; the new count must be "
                     "larger (at most 10000)",
                     (int)pc.np[p]);
        } else if (!validate_only) {
            int32_t a = pc.attempts[p]++;
            if (pc.fail_at >= 0 && a >= pc.fail_at) {
                error = pc.fail_err;
                snprintf(err.msg, sizeof(err.msg), "%s", pc.fail_msg);
                pc.np[p] = pc.np_failed;
            } else if (s->sizing) {
                struct topic *t = registry_find(&bk->reg, name);
                /* the partition array moves: nothing may still point into it */
                broker_sync(bk);
                broker_forget_topic(bk, t);
                error = (int16_t)registry_add_partitions(&bk->reg, t, req.count, &err);
                if (error == KERR_NONE) {
                    pc.np[p] = req.count;
                } else {
                    pc.fail_at = a;
                    pc.fail_err = error;
                    snprintf(pc.fail_msg, sizeof(pc.fail_msg), "%s", err.msg);
                    pc.np_failed = pc.np[p] = t->npartitions;
                }
            } else {
                pc.np[p] = req.count; /* as it went in the first pass */
            }
        }
        memcpy(saved, &pc, sizeof(pc));
    }
    kw_strn(w, s->flex, (const char *)req.name.p, req.name.len);
    kw_i16(w, error);
    kw_str(w, s->flex, error ? err.msg : NULL);
    kw_tags(w, s->flex);
}

static const struct astream_def create_partitions_def = {
    .outer = create_partitions_elem,
    .tail = astream_tags_tail,
    .free_arg = free,
};

enum handler_result api_create_partitions(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int32_t n = kr_array(r, flex);
    if (r->err || n < 0)
        return H_CLOSE;
    /* the request is checked whole (and validate_only read) before anything is changed */
    struct kreader check = *r;
    struct req_part req;
    for (int32_t i = 0; i < n && !check.err; i++)
        read_part_req(bk, &check, flex, &req);
    kr_i32(&check); /* timeout_ms */
    bool validate_only = kr_i8(&check) != 0;
    kr_tags(&check, flex);
    if (check.err)
        return H_CLOSE;
    struct create_partitions_arg *arg = calloc(1, sizeof(*arg));
    if (!arg)
        return H_CLOSE;
    arg->validate_only = validate_only;
    kw_i32(w, 0);
    kw_array(w, flex, n);
    struct astream *s = astream_begin(rq, &create_partitions_def, n, arg);
    kr_i32(r); /* timeout_ms */
    kr_i8(r);  /* validate_only */
    kr_tags(r, flex);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    return astream_finish(rq, s);
}
