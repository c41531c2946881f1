/* Answers whose size a request's array drives, bounded by the request instead of by the answer.
 * Kafka's encoding makes some answers several times larger than their requests (a DescribeGroups
 * v0 group id is 2 bytes, its answer at least 14), so an answer built whole can cost the broker
 * many times a request at the frame cap. An astream encodes such an array element by element
 * from the request's own bytes: a first pass reads every element, checks the request and adds
 * up the answer's exact size, saving in a snapshot whatever part of an element's answer comes
 * from broker state that may change before it is sent (bounded by that state: each distinct
 * name once); the answer is then produced in pieces as the socket drains (server_stream), from
 * the request and the snapshot, so the bytes sent are exactly the size announced. A small
 * answer is written straight into the response by the same functions.
 *
 * An array is flat (`outer` only) or has one level of inner arrays (`outer` reads and writes an
 * element's head and sets s->inner_n, `inner` is called that many times, then `outer_end`).
 * Each callback reads its request element from r and writes its answer to w; while s->sizing it
 * may save to the snapshot, afterwards it must only read it. */
#ifndef SLUICE_BROKER_API_STREAM_H
#define SLUICE_BROKER_API_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/apis.h"

struct astream;
typedef void (*astream_fn)(struct astream *s, struct kreader *r, struct kwriter *w);

struct astream_def {
    astream_fn outer;     /* one element of the request's array */
    astream_fn inner;     /* one element of its inner array (NULL: flat) */
    astream_fn outer_end; /* after an element's inner elements (may be NULL) */
    astream_fn tail;      /* writes what follows the answer's array (reads nothing; may be NULL) */
    void (*free_arg)(void *arg);
};

struct snap_entry;

struct astream {
    const struct astream_def *def;
    struct broker *bk;
    int16_t v;
    bool flex;
    bool sizing;        /* the first pass */
    bool oom;           /* a snapshot could not be saved: the request fails */
    bool whole;         /* set by the handler: write the answer whole, never stream it */
    bool always_stream; /* set by the handler: stream it even when small */
    int32_t inner_n;    /* set by outer */
    void *arg;          /* the API's own state (free_arg releases it) */
    char name[256];     /* room for an outer element's name, for its inner elements */
    bool name_ok;       /* whether name holds one */
    /* where the answer stands */
    struct kreader r; /* the request elements not yet answered */
    int32_t outer_left, inner_left;
    bool open; /* between an outer element and its outer_end */
    bool tail_done;
    size_t total; /* the answer's size from the first pass */
    /* the snapshot: key -> value, open addressing */
    struct snap_entry **slots;
    size_t nslots, nused;
    size_t snap_bytes;
};

/* The first pass over the array of n elements at rq->r (already past the count): checks and
 * sizes the answer and fills the snapshot; rq->r then stands after the array. Returns NULL when
 * out of memory or the request is malformed (rq->r.err is set then). arg is the API's state
 * (released with free_arg even on failure). */
struct astream *astream_begin(struct kreq *rq, const struct astream_def *def, int32_t n, void *arg);
/* astream_start in two steps, for a request that saves to the snapshot before its answer is
 * sized (CreateTopics: its creations end on the admin worker): astream_new (NULL when out of
 * memory; arg is then released), then astream_size, the first pass over the n elements at r
 * (false when malformed or out of memory: r->err set; free s then). */
struct astream *astream_new(struct broker *bk, int16_t v, bool flex, const struct astream_def *def,
                            void *arg);
bool astream_size(struct astream *s, struct kreader *r, size_t max, int32_t n);
/* astream_begin for a caller that is not a handler (a wait's try function): the request's
 * version and encoding given, r over the array's elements, max the response limit. */
struct astream *astream_start(struct broker *bk, int16_t v, bool flex, struct kreader *r,
                              size_t max, const struct astream_def *def, int32_t n, void *arg);
/* Sends the answer into w (a response writer of the server): now when small, else streamed.
 * False when the request turned out malformed. s is freed or owned by the stream. */
bool astream_send(struct kwriter *w, struct astream *s);
/* Sends the answer: written into rq->w now when small, else streamed. Returns H_DONE, or
 * H_CLOSE when it cannot (s is freed either way). */
enum handler_result astream_finish(struct kreq *rq, struct astream *s);
void astream_free(struct astream *s);

/* The snapshot. get returns the value saved under key (NULL, 0 if none); put saves a copy
 * (s->oom on failure) and returns it (the one saved first if key is saved already). Values are
 * not aligned (memcpy them) and may be changed in place. */
uint8_t *astream_get(const struct astream *s, const void *key, size_t klen, size_t *vlen);
uint8_t *astream_put(struct astream *s, const void *key, size_t klen, const void *val, size_t vlen);

/* True the first time key is taken in a pass (false if it is not saved): for answers that differ
 * between the first occurrence of a name in the request and later ones (a topic is deleted
 * once). */
bool astream_take(struct astream *s, const void *key, size_t klen);

/* Shared element functions. astream_topic: an outer element that is a topic name and an array
 * of partitions, echoed as such (the name kept in s->name for the inner elements).
 * astream_tags_end: an outer_end that reads and writes the element's tagged fields.
 * astream_tags_tail: a tail that writes only the answer's tagged fields. */
void astream_topic(struct astream *s, struct kreader *r, struct kwriter *w);
void astream_tags_end(struct astream *s, struct kreader *r, struct kwriter *w);
void astream_tags_tail(struct astream *s, struct kreader *r, struct kwriter *w);

#endif
