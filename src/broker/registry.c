/* The topic registry: DATA_DIR/topics/<topic>/topic.meta (key=value lines: id, partitions,
 * topic configs) and one partition log per DATA_DIR/topics/<topic>/<partition>/. A topic exists
 * once its topic.meta has been written durably; a directory without one is a creation that did
 * not finish and is removed on start. Deletion renames the directory into DATA_DIR/trash first,
 * so a crash never leaves half a topic. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/broker_config.h"
#include "broker/kerr.h"
#include "broker/registry.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/units.h"
#include "core/uuid.h"

#define META_MAX 4096
#define PRODUCER_REBUILD_WINDOW 100000 /* offsets scanned per partition on open */

bool topic_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

struct partition_config topic_partition_config(const struct topic *t)
{
    struct partition_config pc = {
        .segment_bytes = t->cfg.segment_bytes,
        .retention_bytes = t->cfg.retention_bytes,
        .retention_ms = t->cfg.retention_ms,
        .index_interval_bytes = 4096,
    };
    return pc;
}

/* Removals still running (registry_close waits for them). */
static pthread_mutex_t removals_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t removals_cv = PTHREAD_COND_INITIALIZER;
static int removals;

static int write_meta(const struct registry *reg, const struct topic *t, struct sl_err *err)
{
    char path[PATH_MAX + 300], idtxt[37], text[META_MAX];
    uuid_format(t->id, idtxt);
    int n = snprintf(text, sizeof(text),
                     "id=%s\npartitions=%d\nretention.ms=%" PRId64 "\nretention.bytes=%" PRId64
                     "\nsegment.bytes=%" PRId64 "\nmax.message.bytes=%" PRId64 "\n",
                     idtxt, (int)t->npartitions, t->cfg.retention_ms, t->cfg.retention_bytes,
                     t->cfg.segment_bytes, t->cfg.max_message_bytes);
    snprintf(path, sizeof(path), "%s/%s/topic.meta", reg->dir, t->name);
    return fs_write_atomic(path, text, (size_t)n, err);
}

static int read_meta(const struct registry *reg, struct topic *t, struct sl_err *err)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/%s/topic.meta", reg->dir, t->name);
    char *text;
    if (fs_read_file(path, META_MAX, &text, NULL, err) != 0)
        return -1;
    int rc = 0;
    bool have_id = false;
    t->npartitions = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        int64_t num = 0;
        if (strcmp(k, "id") == 0) {
            have_id = uuid_parse(v, t->id) == 0;
            continue;
        }
        if (parse_int(v, INT64_MIN, INT64_MAX, &num, NULL) != 0)
            continue;
        if (strcmp(k, "partitions") == 0 && num > 0 && num <= 100000)
            t->npartitions = (int32_t)num;
        else if (strcmp(k, "retention.ms") == 0)
            t->cfg.retention_ms = num;
        else if (strcmp(k, "retention.bytes") == 0)
            t->cfg.retention_bytes = num;
        else if (strcmp(k, "segment.bytes") == 0 && num > 0)
            t->cfg.segment_bytes = num;
        else if (strcmp(k, "max.message.bytes") == 0 && num > 0)
            t->cfg.max_message_bytes = num;
    }
    if (!have_id || t->npartitions <= 0)
        rc = sl_err_set(err, "%s: missing id or partitions", path);
    free(text);
    return rc;
}

static void topic_free(struct topic *t)
{
    if (!t)
        return;
    for (int32_t i = 0; t->parts && i < t->npartitions; i++) {
        if (t->parts[i].log)
            partition_close(t->parts[i].log);
        producers_free(&t->parts[i].producers);
    }
    free(t->parts);
    free(t);
}

/* Opens partitions [from, t->npartitions) into t->parts, which has room for them. */
static int open_partition_range(struct registry *reg, struct topic *t, int32_t from,
                                struct sl_err *err)
{
    struct partition_config pc = topic_partition_config(t);
    for (int32_t i = from; i < t->npartitions; i++) {
        char dir[PATH_MAX + 300];
        snprintf(dir, sizeof(dir), "%s/%s/%d", reg->dir, t->name, (int)i);
        struct tpart *tp = &t->parts[i];
        tp->topic = t;
        tp->index = i;
        if (partition_open(dir, &pc, &tp->log, err) != 0)
            return -1;
        /* Idempotent producers' recent sequences, so their retries stay exactly-once. */
        if (producers_rebuild(&tp->producers, tp->log, PRODUCER_REBUILD_WINDOW, err) != 0)
            return -1;
        tp->high_watermark = partition_log_end(tp->log);
    }
    return 0;
}

static int open_partitions(struct registry *reg, struct topic *t, struct sl_err *err)
{
    t->parts = calloc((size_t)t->npartitions, sizeof(*t->parts));
    if (!t->parts)
        return sl_err_set(err, "out of memory");
    return open_partition_range(reg, t, 0, err);
}

int registry_add_partitions(struct registry *reg, struct topic *t, int32_t npartitions,
                            struct sl_err *err)
{
    if (npartitions <= t->npartitions || npartitions > 10000) {
        sl_err_set(err,
                   "topic '%s' has %d partitions; the new count must be larger (at most "
                   "10000)",
                   t->name, (int)t->npartitions);
        return KERR_INVALID_PARTITIONS;
    }
    struct tpart *parts = realloc(t->parts, (size_t)npartitions * sizeof(*parts));
    if (!parts) {
        sl_err_set(err, "out of memory");
        return KERR_KAFKA_STORAGE_ERROR;
    }
    memset(parts + t->npartitions, 0, (size_t)(npartitions - t->npartitions) * sizeof(*parts));
    for (int32_t i = 0; i < t->npartitions; i++)
        parts[i].topic = t;
    t->parts = parts;
    int32_t old = t->npartitions;
    t->npartitions = npartitions;
    if (open_partition_range(reg, t, old, err) != 0 || write_meta(reg, t, err) != 0) {
        /* keep what opened: a partition directory without meta is harmless */
        int32_t opened = old;
        while (opened < npartitions && t->parts[opened].log)
            opened++;
        t->npartitions = opened;
        return KERR_KAFKA_STORAGE_ERROR;
    }
    log_info("broker", "topic %s now has %d partitions", t->name, (int)npartitions);
    return KERR_NONE;
}

static int add_topic(struct registry *reg, struct topic *t, struct sl_err *err)
{
    if (reg->ntopics == reg->cap) {
        int cap = reg->cap ? reg->cap * 2 : 16;
        struct topic **p = realloc(reg->topics, (size_t)cap * sizeof(*p));
        if (!p)
            return sl_err_set(err, "out of memory");
        reg->topics = p;
        reg->cap = cap;
    }
    reg->topics[reg->ntopics++] = t;
    reg->index_stale = true;
    return 0;
}

int registry_open(struct registry *reg, const char *data_dir, struct sl_err *err)
{
    memset(reg, 0, sizeof(*reg));
    char trash[PATH_MAX + 16];
    snprintf(reg->dir, sizeof(reg->dir), "%s/topics", data_dir);
    snprintf(trash, sizeof(trash), "%s/trash", data_dir);
    if (fs_remove_tree(trash, err) != 0 || fs_mkdirs(reg->dir, err) != 0)
        return -1;
    DIR *d = opendir(reg->dir);
    if (!d)
        return sl_err_errno(err, "cannot open %s", reg->dir);
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
            continue;
        if (!topic_name_valid(de->d_name))
            continue;
        struct topic *t = calloc(1, sizeof(*t));
        if (!t) {
            rc = sl_err_set(err, "out of memory");
            break;
        }
        snprintf(t->name, sizeof(t->name), "%s", de->d_name);
        struct sl_err e;
        if (read_meta(reg, t, &e) != 0) {
            char path[PATH_MAX + 300];
            snprintf(path, sizeof(path), "%s/%s", reg->dir, t->name);
            log_warn("broker", "removing incomplete topic directory %s (%s)", path, e.msg);
            fs_remove_tree(path, NULL);
            free(t);
            continue;
        }
        if (open_partitions(reg, t, err) != 0 || add_topic(reg, t, err) != 0) {
            topic_free(t);
            rc = -1;
            break;
        }
    }
    closedir(d);
    if (rc != 0)
        registry_close(reg);
    return rc;
}

void registry_close(struct registry *reg)
{
    pthread_mutex_lock(&removals_mu);
    while (removals > 0)
        pthread_cond_wait(&removals_cv, &removals_mu);
    pthread_mutex_unlock(&removals_mu);
    for (int i = 0; i < reg->ntopics; i++)
        topic_free(reg->topics[i]);
    free(reg->topics);
    reg->topics = NULL;
    reg->ntopics = reg->cap = 0;
    free(reg->index);
    reg->index = NULL;
    reg->index_cap = 0;
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The name index: open addressing, at most half full, rebuilt after topics come or go. */
static int index_build(struct registry *reg)
{
    int cap = 64;
    while (cap < 2 * reg->ntopics)
        cap *= 2;
    if (cap != reg->index_cap) {
        int *ix = malloc((size_t)cap * sizeof(*ix));
        if (!ix)
            return -1;
        free(reg->index);
        reg->index = ix;
        reg->index_cap = cap;
    }
    memset(reg->index, 0, (size_t)cap * sizeof(*reg->index));
    uint32_t m = (uint32_t)cap - 1;
    for (int i = 0; i < reg->ntopics; i++) {
        uint32_t h = name_hash(reg->topics[i]->name);
        while (reg->index[h & m])
            h++;
        reg->index[h & m] = i + 1;
    }
    reg->index_stale = false;
    return 0;
}

struct topic *registry_find(struct registry *reg, const char *name)
{
    if ((reg->index_stale || !reg->index) && index_build(reg) == 0)
        reg->index_stale = false;
    if (reg->index && !reg->index_stale) {
        uint32_t m = (uint32_t)reg->index_cap - 1;
        for (uint32_t h = name_hash(name);; h++) {
            int i = reg->index[h & m];
            if (!i)
                return NULL;
            if (strcmp(reg->topics[i - 1]->name, name) == 0)
                return reg->topics[i - 1];
        }
    }
    for (int i = 0; i < reg->ntopics; i++) { /* no memory for the index */
        if (strcmp(reg->topics[i]->name, name) == 0)
            return reg->topics[i];
    }
    return NULL;
}

struct tpart *registry_part(struct registry *reg, const char *name, int32_t partition)
{
    struct topic *t = registry_find(reg, name);
    if (!t || partition < 0 || partition >= t->npartitions)
        return NULL;
    return &t->parts[partition];
}

bool registry_creating(const struct registry *reg, const char *name)
{
    for (const struct topic_creation *c = reg->creating; c; c = c->next) {
        if (strcmp(c->t->name, name) == 0)
            return true;
    }
    return false;
}

int registry_create_begin(struct registry *reg, const char *name, int32_t npartitions,
                          const struct topic_config *cfg, struct topic_creation **out,
                          struct sl_err *err)
{
    *out = NULL;
    if (!topic_name_valid(name)) {
        sl_err_set(err, "topic name '%s' is not valid: 1-249 of [a-zA-Z0-9._-]", name);
        return KERR_INVALID_TOPIC_EXCEPTION;
    }
    if (registry_find(reg, name) || registry_creating(reg, name)) {
        sl_err_set(err, "topic '%s' already exists", name);
        return KERR_TOPIC_ALREADY_EXISTS;
    }
    if (npartitions <= 0 || npartitions > 10000) {
        sl_err_set(err, "number of partitions must be between 1 and 10000");
        return KERR_INVALID_PARTITIONS;
    }
    struct topic_creation *c = calloc(1, sizeof(*c));
    struct topic *t = calloc(1, sizeof(*t));
    if (!c || !t) {
        free(c);
        free(t);
        sl_err_set(err, "out of memory");
        return KERR_KAFKA_STORAGE_ERROR;
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    uuid_v4(t->id);
    t->npartitions = npartitions;
    t->cfg = *cfg;
    c->reg = reg;
    c->t = t;
    c->code = KERR_NONE;
    c->next = reg->creating;
    reg->creating = c;
    reg->ncreating++;
    *out = c;
    return KERR_NONE;
}

/* Any thread: reads only reg->dir, which never changes. */
void registry_create_run(struct topic_creation *c)
{
    struct registry *reg = c->reg;
    struct topic *t = c->t;
    char dir[PATH_MAX + 300];
    snprintf(dir, sizeof(dir), "%s/%s", reg->dir, t->name);
    if (fs_mkdirs(dir, &c->err) != 0 || open_partitions(reg, t, &c->err) != 0 ||
        write_meta(reg, t, &c->err) != 0 || fs_sync_dir(reg->dir, &c->err) != 0) {
        topic_free(t);
        c->t = NULL;
        fs_remove_tree(dir, NULL);
        c->code = KERR_KAFKA_STORAGE_ERROR;
    }
}

int registry_create_finish(struct topic_creation *c, struct topic **out, struct sl_err *err)
{
    struct registry *reg = c->reg;
    for (struct topic_creation **pp = &reg->creating; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            reg->ncreating--;
            break;
        }
    }
    int code = c->code;
    struct topic *t = c->t;
    if (code == KERR_NONE && add_topic(reg, t, &c->err) != 0) {
        /* the files are complete: the topic is there after a restart */
        code = KERR_KAFKA_STORAGE_ERROR;
    }
    if (code != KERR_NONE)
        topic_free(t); /* NULL when run already removed it */
    if (code == KERR_NONE)
        log_info("broker", "created topic %s with %d partitions", t->name, (int)t->npartitions);
    if (out)
        *out = code == KERR_NONE ? t : NULL;
    if (err)
        *err = c->err;
    free(c);
    return code;
}

int registry_create(struct registry *reg, const char *name, int32_t npartitions,
                    const struct topic_config *cfg, struct topic **out, struct sl_err *err)
{
    struct topic_creation *c;
    int code = registry_create_begin(reg, name, npartitions, cfg, &c, err);
    if (code != KERR_NONE)
        return code;
    registry_create_run(c);
    return registry_create_finish(c, out, err);
}

static void *remove_main(void *arg)
{
    fs_remove_tree(arg, NULL);
    free(arg);
    pthread_mutex_lock(&removals_mu);
    removals--;
    pthread_cond_broadcast(&removals_cv);
    pthread_mutex_unlock(&removals_mu);
    return NULL;
}

/* A deleted topic's files go on another thread: removing thousands of partitions must not hold
 * up the loop. The directory is already in the trash, and the trash is emptied on start. */
static void remove_later(const char *path)
{
    char *copy = strdup(path);
    pthread_attr_t attr;
    pthread_t th;
    bool started = false;
    if (copy && pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&removals_mu);
        started = pthread_create(&th, &attr, remove_main, copy) == 0;
        removals += started;
        pthread_mutex_unlock(&removals_mu);
        pthread_attr_destroy(&attr);
    }
    if (!started) {
        free(copy);
        fs_remove_tree(path, NULL);
    }
}

int registry_delete(struct registry *reg, const char *name, struct sl_err *err)
{
    int idx = -1;
    for (int i = 0; i < reg->ntopics; i++) {
        if (strcmp(reg->topics[i]->name, name) == 0)
            idx = i;
    }
    if (idx < 0) {
        sl_err_set(err, "topic '%s' does not exist", name);
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    struct topic *t = reg->topics[idx];
    char dir[PATH_MAX + 300], trash_dir[PATH_MAX + 16], trash[PATH_MAX + 600];
    snprintf(dir, sizeof(dir), "%s/%s", reg->dir, name);
    /* reg->dir is DATA_DIR/topics: its parent holds trash/ */
    snprintf(trash_dir, sizeof(trash_dir), "%.*s/trash",
             (int)(strlen(reg->dir) - strlen("/topics")), reg->dir);
    snprintf(trash, sizeof(trash), "%s/%s-%" PRId64, trash_dir, name, mono_us());
    if (fs_mkdirs(trash_dir, err) != 0)
        return KERR_KAFKA_STORAGE_ERROR;
    if (rename(dir, trash) != 0) {
        sl_err_errno(err, "cannot move %s to %s", dir, trash);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    fs_sync_dir(reg->dir, NULL);
    reg->topics[idx] = reg->topics[--reg->ntopics];
    reg->index_stale = true;
    topic_free(t);
    remove_later(trash);
    log_info("broker", "deleted topic %s", name);
    return KERR_NONE;
}

void topic_config_defaults(struct topic_config *cfg, const struct broker_config *bc)
{
    cfg->retention_ms = bc->log.retention_ms;
    cfg->retention_bytes = bc->log.retention_bytes;
    cfg->segment_bytes = bc->log.segment_bytes;
    cfg->max_message_bytes = bc->max_message_bytes;
}
