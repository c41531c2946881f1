/* Idempotent-producer sequence tracking and its rebuild from the log. */
#include "broker/producer.h"

#include <stdlib.h>
#include <string.h>

#include "broker/kerr.h"
#include "broker/proto.h"

static struct producer_state *find(const struct producers *ps, int64_t pid)
{
    for (int i = 0; i < ps->n; i++) {
        if (ps->all[i].producer_id == pid)
            return &ps->all[i];
    }
    return NULL;
}

static int32_t last_seq_of(const struct batch_header *h)
{
    int64_t last = (int64_t)h->base_sequence + h->last_offset_delta;
    return (int32_t)(last > INT32_MAX ? last - INT32_MAX - 1 : last); /* sequences wrap to 0 */
}

enum producer_verdict producers_check(const struct producers *ps, const struct batch_header *h,
                                      int64_t *dup_base, int16_t *error)
{
    if (h->producer_id < 0)
        return PRODUCER_APPEND;
    const struct producer_state *st = find(ps, h->producer_id);
    if (!st || st->nbatches == 0)
        return PRODUCER_APPEND; /* unknown producer (new, or older than what we keep) */
    if (h->producer_epoch < st->epoch) {
        *error = KERR_INVALID_PRODUCER_EPOCH;
        return PRODUCER_REFUSE;
    }
    if (h->producer_epoch > st->epoch) {
        if (h->base_sequence != 0) {
            *error = KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
            return PRODUCER_REFUSE;
        }
        return PRODUCER_APPEND;
    }
    int32_t last = last_seq_of(h);
    for (int i = 0; i < st->nbatches; i++) {
        const struct producer_batch *b = &st->batches[i];
        if (b->first_seq == h->base_sequence && b->last_seq == last) {
            *dup_base = b->base_offset;
            return PRODUCER_DUPLICATE;
        }
    }
    const struct producer_batch *newest =
        &st->batches[(st->next + PRODUCER_BATCHES - 1) % PRODUCER_BATCHES];
    int32_t expected = newest->last_seq == INT32_MAX ? 0 : newest->last_seq + 1;
    if (h->base_sequence != expected) {
        *error = KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
        return PRODUCER_REFUSE;
    }
    return PRODUCER_APPEND;
}

void producers_record(struct producers *ps, const struct batch_header *h, int64_t base_offset)
{
    if (h->producer_id < 0)
        return;
    struct producer_state *st = find(ps, h->producer_id);
    if (!st) {
        if (ps->n == ps->cap) {
            int cap = ps->cap ? ps->cap * 2 : 8;
            struct producer_state *p = realloc(ps->all, (size_t)cap * sizeof(*p));
            if (!p)
                return; /* forgetting a producer only weakens duplicate detection */
            ps->all = p;
            ps->cap = cap;
        }
        st = &ps->all[ps->n++];
        memset(st, 0, sizeof(*st));
        st->producer_id = h->producer_id;
        st->epoch = h->producer_epoch;
    }
    if (h->producer_epoch != st->epoch) {
        st->epoch = h->producer_epoch;
        st->nbatches = 0;
        st->next = 0;
    }
    struct producer_batch *b = &st->batches[st->next];
    b->first_seq = h->base_sequence;
    b->last_seq = last_seq_of(h);
    b->base_offset = base_offset;
    st->next = (st->next + 1) % PRODUCER_BATCHES;
    if (st->nbatches < PRODUCER_BATCHES)
        st->nbatches++;
}

int producers_rebuild(struct producers *ps, struct partition *p, int64_t window, struct sl_err *err)
{
    int64_t end = partition_log_end(p);
    int64_t offset = partition_log_start(p);
    if (end - window > offset)
        offset = end - window;
    struct buf b;
    buf_init(&b, 64 << 20);
    int rc = 0;
    while (offset < end) {
        buf_reset(&b);
        int r = partition_read(p, offset, end, 4 << 20, &b, err);
        if (r != 0) {
            rc = r < 0 ? -1 : 0;
            break;
        }
        if (b.len == 0)
            break;
        size_t pos = 0;
        int64_t next = offset;
        while (pos + BATCH_HEADER_SIZE <= b.len) {
            struct batch_header h;
            if (batch_parse_header(b.data + pos, b.len - pos, &h, NULL) != 0)
                break;
            size_t size = (size_t)h.length + BATCH_LOG_OVERHEAD;
            if (pos + size > b.len)
                break;
            if (!(h.attributes & BATCH_ATTR_CONTROL))
                producers_record(ps, &h, h.base_offset);
            next = h.base_offset + h.last_offset_delta + 1;
            pos += size;
        }
        if (next <= offset)
            break; /* no progress: nothing more to learn */
        offset = next;
    }
    buf_free(&b);
    return rc;
}

void producers_free(struct producers *ps)
{
    free(ps->all);
    ps->all = NULL;
    ps->n = ps->cap = 0;
}
