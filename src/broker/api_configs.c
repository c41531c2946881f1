/* DescribeConfigs and DescribeCluster: what Kafka's admin tools ask before they show a topic
 * or the cluster. Topic configs are the ones this broker honours plus the fixed facts of a
 * single node (cleanup.policy=delete, min.insync.replicas=1). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/api_stream.h"
#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/kerr.h"

#define RES_TOPIC 2
#define RES_BROKER 4
#define SRC_DYNAMIC_TOPIC 1
#define SRC_STATIC_BROKER 4
#define SRC_DEFAULT 5
#define TYPE_STRING 2
#define TYPE_INT 3
#define TYPE_LONG 5

struct config_entry {
    const char *name;
    char value[64];
    int8_t source;
    int8_t type;
};

static int topic_entries(const struct broker *bk, const struct topic *t, struct config_entry *e)
{
    struct topic_config def;
    topic_config_defaults(&def, &bk->cfg);
    int n = 0;
#define ENTRY(NAME, VAL, DEFVAL, TYPE)                                                             \
    do {                                                                                           \
        e[n].name = NAME;                                                                          \
        snprintf(e[n].value, sizeof(e[n].value), "%" PRId64, (int64_t)(VAL));                      \
        e[n].source = (VAL) == (DEFVAL) ? SRC_DEFAULT : SRC_DYNAMIC_TOPIC;                         \
        e[n].type = TYPE;                                                                          \
        n++;                                                                                       \
    } while (0)
    ENTRY("retention.ms", t->cfg.retention_ms, def.retention_ms, TYPE_LONG);
    ENTRY("retention.bytes", t->cfg.retention_bytes, def.retention_bytes, TYPE_LONG);
    ENTRY("segment.bytes", t->cfg.segment_bytes, def.segment_bytes, TYPE_INT);
    ENTRY("max.message.bytes", t->cfg.max_message_bytes, def.max_message_bytes, TYPE_INT);
    ENTRY("min.insync.replicas", 1, 1, TYPE_INT);
#undef ENTRY
    e[n].name = "cleanup.policy";
    snprintf(e[n].value, sizeof(e[n].value), "delete");
    e[n].source = SRC_DEFAULT;
    e[n].type = TYPE_STRING;
    n++;
    e[n].name = "compression.type";
    snprintf(e[n].value, sizeof(e[n].value), "producer");
    e[n].source = SRC_DEFAULT;
    e[n].type = TYPE_STRING;
    n++;
    e[n].name = "message.timestamp.type";
    snprintf(e[n].value, sizeof(e[n].value), "CreateTime");
    e[n].source = SRC_DEFAULT;
    e[n].type = TYPE_STRING;
    n++;
    return n;
}

static int broker_entries(const struct broker *bk, struct config_entry *e)
{
    int n = 0;
    const struct broker_config *c = &bk->cfg;
    struct {
        const char *name;
        int64_t v;
        int8_t type;
    } nums[] = {
        {"broker.id", c->node_id, TYPE_INT},
        {"num.partitions", c->default_partitions, TYPE_INT},
        {"log.segment.bytes", c->log.segment_bytes, TYPE_INT},
        {"log.retention.ms", c->log.retention_ms, TYPE_LONG},
        {"log.retention.bytes", c->log.retention_bytes, TYPE_LONG},
        {"message.max.bytes", c->max_message_bytes, TYPE_INT},
        {"socket.request.max.bytes", c->max_request_bytes, TYPE_INT},
        {"default.replication.factor", 1, TYPE_INT},
        {"offsets.topic.replication.factor", 1, TYPE_INT},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        e[n].name = nums[i].name;
        snprintf(e[n].value, sizeof(e[n].value), "%" PRId64, nums[i].v);
        e[n].source = SRC_STATIC_BROKER;
        e[n].type = nums[i].type;
        n++;
    }
    e[n].name = "auto.create.topics.enable";
    snprintf(e[n].value, sizeof(e[n].value), "%s", c->auto_create ? "true" : "false");
    e[n].source = SRC_STATIC_BROKER;
    e[n].type = 1; /* BOOLEAN */
    n++;
    return n;
}

/* True if name is among the requested keys (null keys = all). */
static bool wanted(const struct kslice *keys, int32_t nkeys, const char *name)
{
    if (nkeys < 0)
        return true;
    for (int32_t i = 0; i < nkeys; i++) {
        if (kslice_eq(keys[i], name))
            return true;
    }
    return false;
}

/* One resource of a DescribeConfigs request; keys beyond the first 64 are ignored. */
struct res {
    int8_t type;
    struct kslice name;
    int32_t nkeys; /* -1: all */
    struct kslice keys[64];
};

static void read_res(struct kreader *r, bool flex, struct res *res)
{
    res->type = kr_i8(r);
    res->name = kr_str(r, flex);
    res->nkeys = kr_array(r, flex);
    int32_t k = 0;
    for (int32_t j = 0; j < res->nkeys && !r->err; j++) {
        struct kslice key = kr_str(r, flex);
        if (k < 64)
            res->keys[k++] = key;
    }
    if (res->nkeys > 0)
        res->nkeys = k;
    kr_tags(r, flex);
}

/* One resource's answer from its entries. */
static void write_res(struct kwriter *w, bool flex, int16_t v, const struct res *res,
                      const struct config_entry *e, int ne, int16_t error, const char *msg)
{
    int32_t count = 0;
    for (int k = 0; k < ne; k++)
        count += wanted(res->keys, res->nkeys, e[k].name);
    kw_i16(w, error);
    kw_str(w, flex, msg);
    kw_i8(w, res->type);
    kw_strn(w, flex, (const char *)res->name.p, res->name.len);
    kw_array(w, flex, count);
    for (int k = 0; k < ne; k++) {
        if (!wanted(res->keys, res->nkeys, e[k].name))
            continue;
        kw_str(w, flex, e[k].name);
        kw_str(w, flex, e[k].value);
        kw_i8(w, 1); /* read_only: configs are fixed at creation */
        if (v == 0)
            kw_i8(w, e[k].source == SRC_DEFAULT);
        else
            kw_i8(w, e[k].source);
        kw_i8(w, 0); /* is_sensitive */
        if (v >= 1)
            kw_array(w, flex, 0); /* synonyms */
        if (v >= 3) {
            kw_i8(w, e[k].type);
            kw_str(w, flex, NULL); /* documentation */
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

/* One resource of the request. A topic's entries are what the first pass saw (saved once per
 * distinct name: a topic may be deleted or re-created meanwhile); a topic that did not exist
 * then is unknown, whatever happens later; the broker's own entries do not change. */
static void describe_configs_elem(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct res res;
    read_res(r, s->flex, &res);
    if (r->err)
        return;
    struct config_entry e[32];
    int ne = 0;
    if (res.type == RES_TOPIC) {
        size_t len = 0;
        const uint8_t *saved =
            res.name.len >= 0 ? astream_get(s, res.name.p, (size_t)res.name.len, &len) : NULL;
        char name[256] = "";
        kslice_cstr(res.name, name, sizeof(name));
        struct topic *t =
            s->sizing && !saved && res.name.len >= 0 ? registry_find(&s->bk->reg, name) : NULL;
        if (saved) {
            ne = (int)(len / sizeof(e[0]));
            memcpy(e, saved, (size_t)ne * sizeof(e[0]));
        } else if (t) {
            ne = topic_entries(s->bk, t, e);
            astream_put(s, res.name.p, (size_t)res.name.len, e, (size_t)ne * sizeof(e[0]));
        } else {
            write_res(w, s->flex, s->v, &res, NULL, 0, KERR_UNKNOWN_TOPIC_OR_PARTITION,
                      "unknown topic");
            return;
        }
    } else if (res.type == RES_BROKER) {
        ne = broker_entries(s->bk, e);
    } else {
        write_res(w, s->flex, s->v, &res, NULL, 0, KERR_INVALID_REQUEST,
                  "only topic and broker configs are described");
        return;
    }
    write_res(w, s->flex, s->v, &res, e, ne, KERR_NONE, NULL);
}

static const struct astream_def describe_configs_def = {
    .outer = describe_configs_elem,
    .tail = astream_tags_tail,
};

/* The resources are read where they are, never copied, and the answer (several times the
 * request: 4 bytes of a flexible resource get 20 or more) is streamed (api_stream.h): what a
 * request costs is then its own size, whatever count it declares. */
enum handler_result api_describe_configs(struct kreq *rq)
{
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    int32_t n = kr_array(r, flex);
    if (r->err || n < 0)
        return H_CLOSE;
    kw_i32(w, 0);
    kw_array(w, flex, n);
    struct astream *s = astream_begin(rq, &describe_configs_def, n, NULL);
    if (v >= 1)
        kr_i8(r); /* include_synonyms */
    if (v >= 3)
        kr_i8(r); /* include_documentation */
    kr_tags(r, flex);
    if (!s || r->err) {
        astream_free(s);
        return H_CLOSE;
    }
    return astream_finish(rq, s);
}

enum handler_result api_describe_cluster(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    struct kwriter *w = rq->w;
    int16_t v = rq->api_version;
    kr_i8(r); /* include_cluster_authorized_operations */
    int8_t endpoint_type = v >= 1 ? kr_i8(r) : 1;
    kr_tags(r, true);
    if (r->err)
        return H_CLOSE;
    kw_i32(w, 0);
    bool ok = endpoint_type == 1; /* brokers; controllers are not exposed */
    kw_i16(w, ok ? KERR_NONE : KERR_UNSUPPORTED_VERSION);
    kw_str(w, true, ok ? NULL : "only broker endpoints are described");
    if (v >= 1)
        kw_i8(w, endpoint_type);
    kw_str(w, true, bk->cluster_id);
    kw_i32(w, bk->cfg.node_id);
    kw_array(w, true, ok ? 1 : 0);
    if (ok) {
        kw_i32(w, bk->cfg.node_id);
        kw_str(w, true, bk->cfg.advertised_host);
        kw_i32(w, bk->cfg.advertised_port);
        kw_str(w, true, NULL);
        kw_tags(w, true);
    }
    kw_i32(w, INT32_MIN);
    kw_tags(w, true);
    return H_DONE;
}
