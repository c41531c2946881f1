/* ApiVersions and Metadata: what the broker supports and where topics live (all on this one
 * node). Metadata may auto-create the topics it is asked about. */
#include <string.h>

#include "broker/apis.h"
#include "broker/broker.h"
#include "broker/kerr.h"
#include "core/log.h"

enum handler_result api_versions(struct kreq *rq)
{
    const struct api_def *self = api_find(18);
    bool too_new = rq->api_version > self->max_version;
    /* A too-new request is answered in v0 shape with UNSUPPORTED_VERSION and our ranges, so the
     * client can retry with a version we speak (KIP-511). Its body is not parsed. */
    bool flex = !too_new && rq->flex;
    if (flex) {
        kr_str(&rq->r, true); /* client_software_name */
        kr_str(&rq->r, true); /* client_software_version */
        kr_tags(&rq->r, true);
        if (rq->r.err)
            return H_CLOSE;
    }
    kw_i16(rq->w, too_new ? KERR_UNSUPPORTED_VERSION : KERR_NONE);
    kw_array(rq->w, flex, api_table_len);
    for (int i = 0; i < api_table_len; i++) {
        kw_i16(rq->w, api_table[i].key);
        kw_i16(rq->w, api_table[i].min_version);
        kw_i16(rq->w, api_table[i].max_version);
        kw_tags(rq->w, flex);
    }
    if (!too_new && rq->api_version >= 1)
        kw_i32(rq->w, 0); /* throttle_time_ms */
    kw_tags(rq->w, flex);
    return H_DONE;
}

static void write_partition(struct kreq *rq, int32_t index)
{
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    int32_t node = rq->bk->cfg.node_id;
    kw_i16(rq->w, KERR_NONE);
    kw_i32(rq->w, index);
    kw_i32(rq->w, node); /* leader */
    if (v >= 7)
        kw_i32(rq->w, 0); /* leader_epoch */
    kw_array(rq->w, flex, 1);
    kw_i32(rq->w, node); /* replicas */
    kw_array(rq->w, flex, 1);
    kw_i32(rq->w, node); /* isr */
    if (v >= 5)
        kw_array(rq->w, flex, 0); /* offline replicas */
    kw_tags(rq->w, flex);
}

static void write_topic(struct kreq *rq, int16_t error, const char *name, int32_t namelen,
                        const struct topic *t)
{
    bool flex = rq->flex;
    int16_t v = rq->api_version;
    static const uint8_t zero_id[16];
    kw_i16(rq->w, error);
    kw_strn(rq->w, flex, name, namelen);
    if (v >= 10)
        kw_uuid(rq->w, t ? t->id : zero_id);
    if (v >= 1)
        kw_i8(rq->w, 0); /* is_internal */
    kw_array(rq->w, flex, t ? t->npartitions : 0);
    for (int32_t p = 0; t && p < t->npartitions; p++)
        write_partition(rq, p);
    if (v >= 8)
        kw_i32(rq->w, INT32_MIN); /* topic_authorized_operations: not computed */
    kw_tags(rq->w, flex);
}

enum handler_result api_metadata(struct kreq *rq)
{
    struct broker *bk = rq->bk;
    struct kreader *r = &rq->r;
    bool flex = rq->flex;
    int16_t v = rq->api_version;

    /* Request: topics (v0: empty = all; v1+: null = all), then flags. Parsed into a list of
     * slices first, since the response comes after the brokers section. */
    int32_t ntopics = kr_array(r, flex);
    if (v == 0 && ntopics == 0)
        ntopics = -1;
    struct kslice names[1024];
    int32_t nnames = 0;
    bool too_many = false;
    for (int32_t i = 0; i < ntopics && !r->err; i++) {
        struct kslice name;
        if (v >= 10) {
            kr_skip(r, 16); /* topic_id: we answer by name */
            name = kr_str(r, flex);
        } else {
            name = kr_str(r, flex);
        }
        kr_tags(r, flex);
        if (nnames < 1024)
            names[nnames++] = name;
        else
            too_many = true;
    }
    bool allow_auto = true;
    if (v >= 4)
        allow_auto = kr_i8(r) != 0;
    if (v >= 8 && v <= 10)
        kr_i8(r); /* include_cluster_authorized_operations */
    if (v >= 8)
        kr_i8(r); /* include_topic_authorized_operations */
    kr_tags(r, flex);
    if (r->err)
        return H_CLOSE;
    if (too_many)
        log_warn("broker", "metadata request for more than 1024 topics: answering the first 1024");

    if (v >= 3)
        kw_i32(rq->w, 0); /* throttle_time_ms */
    kw_array(rq->w, flex, 1);
    kw_i32(rq->w, bk->cfg.node_id);
    kw_str(rq->w, flex, bk->cfg.advertised_host);
    kw_i32(rq->w, bk->cfg.advertised_port);
    if (v >= 1)
        kw_str(rq->w, flex, NULL); /* rack */
    kw_tags(rq->w, flex);
    if (v >= 2)
        kw_str(rq->w, flex, bk->cluster_id);
    if (v >= 1)
        kw_i32(rq->w, bk->cfg.node_id); /* controller */

    if (ntopics < 0) {
        kw_array(rq->w, flex, bk->reg.ntopics);
        for (int i = 0; i < bk->reg.ntopics; i++) {
            struct topic *t = bk->reg.topics[i];
            write_topic(rq, KERR_NONE, t->name, (int32_t)strlen(t->name), t);
        }
    } else {
        kw_array(rq->w, flex, nnames);
        int32_t created = 0;
        for (int32_t i = 0; i < nnames; i++) {
            char name[256];
            if (kslice_cstr(names[i], name, sizeof(name)) != 0 || !topic_name_valid(name)) {
                write_topic(rq, KERR_INVALID_TOPIC_EXCEPTION, (const char *)names[i].p,
                            names[i].len, NULL);
                continue;
            }
            struct topic *t = registry_find(&bk->reg, name);
            int16_t error = KERR_NONE;
            if (!t && allow_auto && bk->cfg.auto_create && created >= bk->cfg.max_auto_create) {
                /* creation blocks the loop: a few per request; the client asks again */
                error = KERR_LEADER_NOT_AVAILABLE;
            } else if (!t && allow_auto && bk->cfg.auto_create) {
                created++;
                struct topic_config tc;
                struct sl_err err;
                topic_config_defaults(&tc, &bk->cfg);
                int rc = registry_create(&bk->reg, name, bk->cfg.default_partitions, &tc, &t, &err);
                if (rc != KERR_NONE) {
                    log_error("broker", "auto-creating topic %s: %s", name, err.msg);
                    error = (int16_t)rc;
                }
            } else if (!t) {
                error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            }
            write_topic(rq, error, name, (int32_t)strlen(name), t);
        }
    }
    if (v >= 8 && v <= 10)
        kw_i32(rq->w, INT32_MIN); /* cluster_authorized_operations */
    kw_tags(rq->w, flex);
    return H_DONE;
}
