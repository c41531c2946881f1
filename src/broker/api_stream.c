/* Streamed array answers: see api_stream.h. */
#include "broker/api_stream.h"

#include <stdlib.h>
#include <string.h>

#define STREAM_MIN (64u * 1024) /* answers up to this size are written whole */
#define PIECE (64u * 1024)      /* a streamed answer is produced this much at a time */

struct snap_entry {
    size_t klen, vlen;
    bool taken;     /* astream_take this pass */
    uint8_t data[]; /* key, then value */
};

static uint64_t hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct snap_entry **slot(const struct astream *s, const void *key, size_t klen)
{
    size_t i = (size_t)hash(key, klen) & (s->nslots - 1);
    for (;; i = (i + 1) & (s->nslots - 1)) {
        struct snap_entry *e = s->slots[i];
        if (!e || (e->klen == klen && memcmp(e->data, key, klen) == 0))
            return &s->slots[i];
    }
}

uint8_t *astream_get(const struct astream *s, const void *key, size_t klen, size_t *vlen)
{
    *vlen = 0;
    if (s->nused == 0)
        return NULL;
    struct snap_entry *e = *slot(s, key, klen);
    if (!e)
        return NULL;
    *vlen = e->vlen;
    return e->data + e->klen;
}

static int grow(struct astream *s)
{
    size_t n = s->nslots ? s->nslots * 2 : 16;
    struct snap_entry **old = s->slots;
    size_t oldn = s->nslots;
    s->slots = calloc(n, sizeof(*s->slots));
    if (!s->slots) {
        s->slots = old;
        return -1;
    }
    s->nslots = n;
    for (size_t i = 0; i < oldn; i++) {
        if (old[i])
            *slot(s, old[i]->data, old[i]->klen) = old[i];
    }
    free(old);
    s->snap_bytes += (n - oldn) * sizeof(*s->slots);
    return 0;
}

uint8_t *astream_put(struct astream *s, const void *key, size_t klen, const void *val, size_t vlen)
{
    if ((s->nused + 1) * 2 > s->nslots && grow(s) != 0) {
        s->oom = true;
        return NULL;
    }
    struct snap_entry **at = slot(s, key, klen);
    if (*at) { /* saved already: the first pass saw it first */
        return (*at)->data + (*at)->klen;
    }
    struct snap_entry *e = malloc(sizeof(*e) + klen + vlen);
    if (!e) {
        s->oom = true;
        return NULL;
    }
    e->klen = klen;
    e->vlen = vlen;
    e->taken = false;
    memcpy(e->data, key, klen);
    if (vlen > 0)
        memcpy(e->data + klen, val, vlen);
    *at = e;
    s->nused++;
    s->snap_bytes += sizeof(*e) + klen + vlen;
    return e->data + klen;
}

bool astream_take(struct astream *s, const void *key, size_t klen)
{
    if (s->nused == 0)
        return false;
    struct snap_entry *e = *slot(s, key, klen);
    if (!e || e->taken)
        return false;
    e->taken = true;
    return true;
}

void astream_free(struct astream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nslots; i++)
        free(s->slots[i]);
    free(s->slots);
    if (s->def->free_arg)
        s->def->free_arg(s->arg);
    free(s);
}

/* Answers the next part of the array (an element, an inner element, an element's end or the
 * tail) into w. Returns false when the answer is complete. */
static bool step(struct astream *s, struct kwriter *w)
{
    const struct astream_def *d = s->def;
    if (s->inner_left > 0) {
        d->inner(s, &s->r, w);
        s->inner_left--;
        return true;
    }
    if (s->open) {
        s->open = false;
        if (d->outer_end)
            d->outer_end(s, &s->r, w);
        return true;
    }
    if (s->outer_left > 0) {
        s->inner_n = 0;
        d->outer(s, &s->r, w);
        s->outer_left--;
        s->inner_left = d->inner && s->inner_n > 0 ? s->inner_n : 0;
        s->open = true;
        return true;
    }
    if (!s->tail_done) {
        s->tail_done = true;
        if (d->tail)
            d->tail(s, &s->r, w);
        return true;
    }
    return false;
}

struct astream *astream_begin(struct kreq *rq, const struct astream_def *def, int32_t n, void *arg)
{
    return astream_start(rq->bk, rq->api_version, rq->flex, &rq->r, rq->w->b.max, def, n, arg);
}

struct astream *astream_new(struct broker *bk, int16_t v, bool flex, const struct astream_def *def,
                            void *arg)
{
    struct astream *s = calloc(1, sizeof(*s));
    if (!s) {
        if (def->free_arg)
            def->free_arg(arg);
        return NULL;
    }
    s->def = def;
    s->bk = bk;
    s->v = v;
    s->flex = flex;
    s->arg = arg;
    return s;
}

bool astream_size(struct astream *s, struct kreader *r, size_t max, int32_t n)
{
    s->r = *r;
    s->outer_left = n < 0 ? 0 : n;
    s->inner_left = 0;
    s->open = false;
    s->tail_done = false;
    s->total = 0;
    struct kreader start = *r;
    /* the first pass: each part is written into a scratch writer only to be counted; an
     * answer over the response limit stops it (the server then refuses the answer) */
    struct kwriter scratch;
    kw_init(&scratch, SIZE_MAX);
    s->sizing = true;
    for (;;) {
        kw_reset(&scratch);
        bool more = step(s, &scratch);
        if (s->oom || scratch.err || s->r.err || !more)
            break;
        s->total += kw_size(&scratch);
        if (s->total > max)
            break;
    }
    kw_free(&scratch);
    if (s->oom || scratch.err || s->r.err) {
        r->err = true;
        return false;
    }
    *r = s->r; /* after the array: the caller reads on from there */
    /* the second pass starts over from the first element */
    s->sizing = false;
    for (size_t i = 0; i < s->nslots; i++) {
        if (s->slots[i])
            s->slots[i]->taken = false;
    }
    s->r = start;
    s->outer_left = n < 0 ? 0 : n;
    s->inner_left = 0;
    s->open = false;
    s->tail_done = false;
    return true;
}

struct astream *astream_start(struct broker *bk, int16_t v, bool flex, struct kreader *r,
                              size_t max, const struct astream_def *def, int32_t n, void *arg)
{
    struct astream *s = astream_new(bk, v, flex, def, arg);
    if (!s) {
        r->err = true;
        return NULL;
    }
    if (!astream_size(s, r, max, n)) {
        astream_free(s);
        return NULL;
    }
    return s;
}

static bool gen(void *ctx, struct kwriter *w)
{
    struct astream *s = ctx;
    while (kw_size(w) < PIECE && step(s, w)) {
    }
    return !w->err && !s->r.err;
}

static void gen_free(void *ctx)
{
    astream_free(ctx);
}

bool astream_send(struct kwriter *w, struct astream *s)
{
    if ((s->total <= STREAM_MIN && !s->always_stream) || s->whole) {
        while (step(s, w)) {
        }
        bool bad = s->r.err;
        astream_free(s);
        return !bad;
    }
    server_stream(w, s->total, gen, gen_free, s, sizeof(*s) + s->snap_bytes);
    return true;
}

enum handler_result astream_finish(struct kreq *rq, struct astream *s)
{
    if (!s)
        return H_CLOSE;
    return astream_send(rq->w, s) ? H_DONE : H_CLOSE;
}

void astream_topic(struct astream *s, struct kreader *r, struct kwriter *w)
{
    struct kslice name = kr_str(r, s->flex);
    s->name_ok = kslice_cstr(name, s->name, sizeof(s->name)) == 0;
    int32_t nparts = kr_array(r, s->flex);
    if (nparts < 0)
        r->err = true;
    if (r->err)
        return;
    kw_strn(w, s->flex, (const char *)name.p, name.len);
    kw_array(w, s->flex, nparts);
    s->inner_n = nparts;
}

void astream_tags_end(struct astream *s, struct kreader *r, struct kwriter *w)
{
    kr_tags(r, s->flex);
    kw_tags(w, s->flex);
}

void astream_tags_tail(struct astream *s, struct kreader *r, struct kwriter *w)
{
    (void)r;
    kw_tags(w, s->flex);
}
