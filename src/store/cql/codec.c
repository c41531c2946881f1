/* CQL native protocol v4 codec (see codec.h). Encoding writes a frame header with a zero
 * length, the body, then patches the length. Decoding goes through a reader with a sticky error
 * flag: once a read would pass the end every later read fails, and the caller checks once. */
#include "store/cql/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- encoding ---------------------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A frame under construction: appends keep going after a failure and report it at the end. */
struct enc {
    struct buf *w;
    size_t start;
    bool fail;
};

static void e_raw(struct enc *e, const void *p, size_t n)
{
    if (!e->fail && buf_append(e->w, p, n) != 0)
        e->fail = true;
}

static void e_u8(struct enc *e, uint8_t v)
{
    e_raw(e, &v, 1);
}

static void e_u16(struct enc *e, uint16_t v)
{
    uint8_t b[2];
    put_u16(b, v);
    e_raw(e, b, 2);
}

static void e_i32(struct enc *e, int32_t v)
{
    uint8_t b[4];
    put_u32(b, (uint32_t)v);
    e_raw(e, b, 4);
}

static void e_i64(struct enc *e, int64_t v)
{
    e_i32(e, (int32_t)(uint32_t)((uint64_t)v >> 32));
    e_i32(e, (int32_t)(uint32_t)(uint64_t)v);
}

static void e_string(struct enc *e, const char *s)
{
    size_t n = strlen(s);
    if (n > 0xFFFF) {
        e->fail = true;
        return;
    }
    e_u16(e, (uint16_t)n);
    e_raw(e, s, n);
}

static void e_long_string(struct enc *e, const char *s)
{
    size_t n = strlen(s);
    if (n > INT32_MAX) {
        e->fail = true;
        return;
    }
    e_i32(e, (int32_t)n);
    e_raw(e, s, n);
}

static void e_short_bytes(struct enc *e, const struct cql_str *b)
{
    if (b->len < 0 || b->len > 0xFFFF) {
        e->fail = true;
        return;
    }
    e_u16(e, (uint16_t)b->len);
    e_raw(e, b->p, (size_t)b->len);
}

static void e_value(struct enc *e, const struct cql_value *v)
{
    if (v->len < 0) {
        e_i32(e, -1);
        return;
    }
    e_i32(e, v->len);
    e_raw(e, v->p, (size_t)v->len);
}

static void e_begin(struct enc *e, struct buf *w, int16_t stream, uint8_t opcode)
{
    e->w = w;
    e->start = w->len;
    e->fail = false;
    uint8_t h[CQL_HEADER_LEN] = {CQL_VERSION_REQ, 0, 0, 0, opcode, 0, 0, 0, 0};
    put_u16(h + 2, (uint16_t)stream);
    e_raw(e, h, sizeof(h));
}

static int e_end(struct enc *e)
{
    if (e->fail) {
        e->w->len = e->start; /* drop the partial frame */
        return -1;
    }
    size_t body = e->w->len - e->start - CQL_HEADER_LEN;
    if (body > CQL_MAX_BODY) {
        e->w->len = e->start;
        return -1;
    }
    put_u32(e->w->data + e->start + 5, (uint32_t)body);
    return 0;
}

int cql_enc_startup(struct buf *w, int16_t stream, const char *compression)
{
    struct enc e;
    e_begin(&e, w, stream, CQL_OP_STARTUP);
    e_u16(&e, compression ? 2 : 1);
    e_string(&e, "CQL_VERSION");
    e_string(&e, "3.0.0");
    if (compression) {
        e_string(&e, "COMPRESSION");
        e_string(&e, compression);
    }
    return e_end(&e);
}

int cql_enc_options(struct buf *w, int16_t stream)
{
    struct enc e;
    e_begin(&e, w, stream, CQL_OP_OPTIONS);
    return e_end(&e);
}

int cql_enc_auth_response(struct buf *w, int16_t stream, const void *token, size_t len)
{
    struct enc e;
    e_begin(&e, w, stream, CQL_OP_AUTH_RESPONSE);
    if (len > INT32_MAX)
        e.fail = true;
    e_i32(&e, (int32_t)len);
    e_raw(&e, token, len);
    return e_end(&e);
}

/* <consistency><flags byte>[values][page_size][paging_state][serial][timestamp] */
static void e_params(struct enc *e, uint16_t consistency, const struct cql_value *values,
                     int nvalues, int32_t page_size, const struct cql_str *paging_state, int serial,
                     int64_t timestamp)
{
    uint8_t flags = 0;
    if (nvalues > 0)
        flags |= 0x01;
    if (page_size > 0)
        flags |= 0x04;
    if (paging_state && paging_state->len >= 0)
        flags |= 0x08;
    if (serial >= 0)
        flags |= 0x10;
    if (timestamp >= 0)
        flags |= 0x20;
    e_u16(e, consistency);
    e_u8(e, flags);
    if (nvalues > 0) {
        if (nvalues > 0xFFFF) {
            e->fail = true;
            return;
        }
        e_u16(e, (uint16_t)nvalues);
        for (int i = 0; i < nvalues; i++)
            e_value(e, &values[i]);
    }
    if (page_size > 0)
        e_i32(e, page_size);
    if (flags & 0x08) {
        e_i32(e, paging_state->len);
        e_raw(e, paging_state->p, (size_t)paging_state->len);
    }
    if (serial >= 0)
        e_u16(e, (uint16_t)serial);
    if (timestamp >= 0)
        e_i64(e, timestamp);
}

int cql_enc_query(struct buf *w, int16_t stream, const char *query, uint16_t consistency,
                  const struct cql_value *values, int nvalues, int32_t page_size,
                  const struct cql_str *paging_state, int serial, int64_t timestamp)
{
    struct enc e;
    e_begin(&e, w, stream, CQL_OP_QUERY);
    e_long_string(&e, query);
    e_params(&e, consistency, values, nvalues, page_size, paging_state, serial, timestamp);
    return e_end(&e);
}

int cql_enc_prepare(struct buf *w, int16_t stream, const char *query)
{
    struct enc e;
    e_begin(&e, w, stream, CQL_OP_PREPARE);
    e_long_string(&e, query);
    return e_end(&e);
}

int cql_enc_execute(struct buf *w, int16_t stream, const struct cql_str *id, uint16_t consistency,
                    const struct cql_value *values, int nvalues, int serial)
{
    struct enc e;
    e_begin(&e, w, stream, CQL_OP_EXECUTE);
    e_short_bytes(&e, id);
    e_params(&e, consistency, values, nvalues, 0, NULL, serial, -1);
    return e_end(&e);
}

int cql_enc_batch(struct buf *w, int16_t stream, uint8_t type, const struct cql_str *id,
                  const struct cql_value *values, int nvalues, int n, uint16_t consistency)
{
    struct enc e;
    e_begin(&e, w, stream, CQL_OP_BATCH);
    if (n < 0 || n > 0xFFFF || nvalues < 0 || nvalues > 0xFFFF)
        e.fail = true;
    e_u8(&e, type);
    e_u16(&e, (uint16_t)n);
    for (int i = 0; i < n && !e.fail; i++) {
        e_u8(&e, 1); /* prepared */
        e_short_bytes(&e, id);
        e_u16(&e, (uint16_t)nvalues);
        for (int k = 0; k < nvalues; k++)
            e_value(&e, &values[(size_t)i * (size_t)nvalues + (size_t)k]);
    }
    e_u16(&e, consistency);
    e_u8(&e, 0);
    return e_end(&e);
}

/* ---- decoding ---------------------------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    size_t len, pos;
    bool err;
};

static bool rd_need(struct rd *r, size_t n)
{
    if (r->err || r->len - r->pos < n) {
        r->err = true;
        return false;
    }
    return true;
}

static uint8_t rd_u8(struct rd *r)
{
    if (!rd_need(r, 1))
        return 0;
    return r->p[r->pos++];
}

static uint16_t rd_u16(struct rd *r)
{
    if (!rd_need(r, 2))
        return 0;
    uint16_t v = (uint16_t)((r->p[r->pos] << 8) | r->p[r->pos + 1]);
    r->pos += 2;
    return v;
}

static int32_t rd_i32(struct rd *r)
{
    if (!rd_need(r, 4))
        return 0;
    const uint8_t *b = r->p + r->pos;
    uint32_t v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    r->pos += 4;
    return (int32_t)v;
}

static struct cql_str rd_take(struct rd *r, int32_t n)
{
    struct cql_str s = {NULL, -1};
    if (n < 0 || !rd_need(r, (size_t)n))
        return s;
    s.p = (const char *)r->p + r->pos;
    s.len = n;
    r->pos += (size_t)n;
    return s;
}

static struct cql_str rd_string(struct rd *r)
{
    uint16_t n = rd_u16(r);
    struct cql_str s = rd_take(r, n);
    if (s.len < 0)
        s.len = 0, s.p = "";
    return s;
}

/* [bytes]: a negative length is null. */
static struct cql_str rd_bytes(struct rd *r)
{
    int32_t n = rd_i32(r);
    struct cql_str s = {NULL, -1};
    if (r->err || n < 0)
        return s;
    return rd_take(r, n);
}

static struct cql_str rd_short_bytes(struct rd *r)
{
    uint16_t n = rd_u16(r);
    return rd_take(r, n);
}

static void rd_string_list(struct rd *r, int *count)
{
    uint16_t n = rd_u16(r);
    for (uint16_t i = 0; i < n && !r->err; i++)
        rd_string(r);
    if (count)
        *count = n;
}

/* A type option, recursively (bounded depth). *id gets the top-level id, *elem the element or
 * value type of a collection. */
static void rd_option(struct rd *r, int depth, uint16_t *id, uint16_t *elem)
{
    if (depth > CQL_MAX_TYPE_DEPTH) {
        r->err = true;
        return;
    }
    uint16_t t = rd_u16(r), sub = 0, dummy;
    switch (t) {
    case CQL_T_CUSTOM:
        rd_string(r);
        break;
    case CQL_T_LIST:
    case CQL_T_SET:
        rd_option(r, depth + 1, &sub, &dummy);
        break;
    case CQL_T_MAP:
        rd_option(r, depth + 1, &dummy, &dummy);
        rd_option(r, depth + 1, &sub, &dummy);
        break;
    case CQL_T_UDT: {
        rd_string(r);
        rd_string(r);
        uint16_t n = rd_u16(r);
        for (uint16_t i = 0; i < n && !r->err; i++) {
            rd_string(r);
            rd_option(r, depth + 1, &dummy, &dummy);
        }
        break;
    }
    case CQL_T_TUPLE: {
        uint16_t n = rd_u16(r);
        for (uint16_t i = 0; i < n && !r->err; i++)
            rd_option(r, depth + 1, &dummy, &dummy);
        break;
    }
    default:
        if (t > CQL_T_TINYINT && t != 0x0015 /* duration */)
            r->err = true; /* unknown type id: we could not skip its parameters */
        break;
    }
    if (id)
        *id = t;
    if (elem)
        *elem = sub;
}

/* Rows / prepared metadata. prepared: the v4 bind metadata with pk indexes. */
static int rd_meta(struct rd *r, struct cql_meta *m, bool prepared, char *why, size_t cap)
{
    m->flags = rd_i32(r);
    m->ncols = rd_i32(r);
    m->paging_state.len = -1;
    if (r->err)
        goto trunc;
    /* Each column spec takes at least 4 bytes (name + type id); no metadata: 0 bytes, but
     * then each cell of a row still takes 4. Both bound ncols by what is left. */
    if (m->ncols < 0 || m->ncols > 65535 || (size_t)m->ncols > (r->len - r->pos) / 2 + 1) {
        snprintf(why, cap, "bad column count %d", (int)m->ncols);
        return -1;
    }
    if (prepared) {
        m->pk_count = rd_i32(r);
        if (r->err)
            goto trunc;
        if (m->pk_count < 0 || m->pk_count > m->ncols) {
            snprintf(why, cap, "bad partition key count %d", (int)m->pk_count);
            return -1;
        }
        if (m->pk_count > 0) {
            m->pk_index = calloc((size_t)m->pk_count, sizeof(*m->pk_index));
            if (!m->pk_index)
                goto oom;
            for (int32_t i = 0; i < m->pk_count; i++) {
                m->pk_index[i] = rd_u16(r);
                if (m->pk_index[i] >= m->ncols && !r->err) {
                    snprintf(why, cap, "partition key index out of range");
                    return -1;
                }
            }
        }
    } else if (m->flags & 0x0002) {
        m->paging_state = rd_bytes(r);
    }
    if (r->err)
        goto trunc;
    if (m->flags & 0x0004) /* no metadata */
        return 0;
    bool global = (m->flags & 0x0001) != 0;
    if (global) {
        rd_string(r);
        rd_string(r);
    }
    if (m->ncols > 0) {
        m->names = calloc((size_t)m->ncols, sizeof(*m->names));
        m->types = calloc((size_t)m->ncols, sizeof(*m->types));
        m->elems = calloc((size_t)m->ncols, sizeof(*m->elems));
        if (!m->names || !m->types || !m->elems)
            goto oom;
    }
    for (int32_t i = 0; i < m->ncols && !r->err; i++) {
        if (!global) {
            rd_string(r);
            rd_string(r);
        }
        m->names[i] = rd_string(r);
        rd_option(r, 0, &m->types[i], &m->elems[i]);
    }
    if (r->err)
        goto trunc;
    return 0;
trunc:
    snprintf(why, cap, "truncated or malformed metadata");
    return -1;
oom:
    snprintf(why, cap, "out of memory");
    return -1;
}

static void meta_free(struct cql_meta *m)
{
    free(m->names);
    free(m->types);
    free(m->elems);
    free(m->pk_index);
    m->names = NULL;
    m->types = m->elems = m->pk_index = NULL;
}

static int rd_error(struct rd *r, struct cql_resp *out)
{
    out->err_code = rd_i32(r);
    out->err_msg = rd_string(r);
    switch (out->err_code) {
    case CQL_E_UNAVAILABLE:
        out->err_cl = rd_u16(r);
        out->err_blockfor = rd_i32(r);
        out->err_alive = rd_i32(r);
        break;
    case CQL_E_WRITE_TIMEOUT:
        out->err_cl = rd_u16(r);
        out->err_received = rd_i32(r);
        out->err_blockfor = rd_i32(r);
        out->err_write_type = rd_string(r);
        break;
    case CQL_E_READ_TIMEOUT:
        out->err_cl = rd_u16(r);
        out->err_received = rd_i32(r);
        out->err_blockfor = rd_i32(r);
        rd_u8(r);
        break;
    case CQL_E_READ_FAILURE:
        out->err_cl = rd_u16(r);
        out->err_received = rd_i32(r);
        out->err_blockfor = rd_i32(r);
        rd_i32(r);
        rd_u8(r);
        break;
    case CQL_E_WRITE_FAILURE:
        out->err_cl = rd_u16(r);
        out->err_received = rd_i32(r);
        out->err_blockfor = rd_i32(r);
        rd_i32(r);
        out->err_write_type = rd_string(r);
        break;
    case CQL_E_FUNCTION_FAILURE:
        rd_string(r);
        rd_string(r);
        rd_string_list(r, NULL);
        break;
    case CQL_E_ALREADY_EXISTS:
        out->err_ks = rd_string(r);
        out->err_table = rd_string(r);
        break;
    case CQL_E_UNPREPARED:
        out->err_id = rd_short_bytes(r);
        break;
    default:
        break;
    }
    return r->err ? -1 : 0;
}

static int rd_result(struct rd *r, struct cql_resp *out, char *why, size_t cap)
{
    out->kind = rd_i32(r);
    if (r->err)
        goto trunc;
    switch (out->kind) {
    case CQL_RESULT_VOID:
        return 0;
    case CQL_RESULT_ROWS: {
        if (rd_meta(r, &out->meta, false, why, cap) != 0)
            return -1;
        out->nrows = rd_i32(r);
        if (r->err)
            goto trunc;
        size_t ncols = (size_t)out->meta.ncols;
        /* Every cell takes at least its 4-byte length: bound rows*cols by the bytes left. */
        if (out->nrows < 0 || (ncols > 0 && (size_t)out->nrows > (r->len - r->pos) / (4 * ncols)) ||
            (ncols == 0 && out->nrows > 0 && r->pos != r->len)) {
            snprintf(why, cap, "bad row count %d for %zu columns", (int)out->nrows, ncols);
            return -1;
        }
        size_t ncells = (size_t)out->nrows * ncols;
        if (ncells > 0) {
            out->cells = calloc(ncells, sizeof(*out->cells));
            if (!out->cells) {
                snprintf(why, cap, "out of memory");
                return -1;
            }
        }
        for (size_t i = 0; i < ncells && !r->err; i++)
            out->cells[i] = rd_bytes(r);
        if (r->err)
            goto trunc;
        return 0;
    }
    case CQL_RESULT_SET_KEYSPACE:
        out->keyspace = rd_string(r);
        return r->err ? (snprintf(why, cap, "truncated keyspace"), -1) : 0;
    case CQL_RESULT_PREPARED:
        out->prepared_id = rd_short_bytes(r);
        if (r->err)
            goto trunc;
        if (rd_meta(r, &out->meta, true, why, cap) != 0)
            return -1;
        if (rd_meta(r, &out->result_meta, false, why, cap) != 0)
            return -1;
        return 0;
    case CQL_RESULT_SCHEMA_CHANGE:
        out->change_type = rd_string(r);
        out->target = rd_string(r);
        out->keyspace = rd_string(r);
        if (!r->err && out->target.len > 0 && strncmp(out->target.p, "KEYSPACE", 8) != 0) {
            out->name = rd_string(r);
            if (out->target.len >= 8 && (strncmp(out->target.p, "FUNCTION", 8) == 0 ||
                                         strncmp(out->target.p, "AGGREGATE", 9) == 0))
                rd_string_list(r, NULL);
        }
        if (r->err)
            goto trunc;
        return 0;
    default:
        snprintf(why, cap, "unknown result kind %d", (int)out->kind);
        return -1;
    }
trunc:
    snprintf(why, cap, "truncated result");
    return -1;
}

int cql_header_decode(const uint8_t *p, size_t n, size_t max_body, struct cql_header *h, char *why,
                      size_t cap)
{
    if (n < CQL_HEADER_LEN)
        return 1;
    h->version = p[0];
    h->flags = p[1];
    h->stream = (int16_t)(uint16_t)((p[2] << 8) | p[3]);
    h->opcode = p[4];
    h->length = ((uint32_t)p[5] << 24) | ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 8) | p[8];
    if (h->version != CQL_VERSION_RESP) {
        snprintf(why, cap, "not a CQL v4 response (version byte 0x%02x)", h->version);
        return -1;
    }
    if (h->length > max_body || h->length > CQL_MAX_BODY) {
        snprintf(why, cap, "response body of %u bytes passes the limit of %zu", h->length,
                 max_body);
        return -1;
    }
    return 0;
}

int cql_resp_decode(const struct cql_header *h, const uint8_t *body, size_t len, struct cql_resp *r,
                    char *why, size_t cap)
{
    memset(r, 0, sizeof(*r));
    r->opcode = h->opcode;
    r->meta.paging_state.len = -1;
    struct rd rd = {body, len, 0, false};
    if (h->flags & CQL_FLAG_COMPRESSION) {
        snprintf(why, cap, "compressed response, but no compression was asked for");
        return -1;
    }
    if (h->flags & CQL_FLAG_TRACING)
        rd_take(&rd, 16);
    if (h->flags & CQL_FLAG_WARNING)
        rd_string_list(&rd, &r->nwarnings);
    if (h->flags & CQL_FLAG_CUSTOM_PAYLOAD) {
        uint16_t n = rd_u16(&rd);
        for (uint16_t i = 0; i < n && !rd.err; i++) {
            rd_string(&rd);
            rd_bytes(&rd);
        }
    }
    if (rd.err) {
        snprintf(why, cap, "truncated frame prefix (tracing/warnings/payload)");
        return -1;
    }
    switch (h->opcode) {
    case CQL_OP_ERROR:
        if (rd_error(&rd, r) != 0) {
            snprintf(why, cap, "truncated ERROR");
            return -1;
        }
        return 0;
    case CQL_OP_READY:
        return 0;
    case CQL_OP_AUTHENTICATE:
        r->authenticator = rd_string(&rd);
        break;
    case CQL_OP_SUPPORTED: {
        uint16_t n = rd_u16(&rd);
        for (uint16_t i = 0; i < n && !rd.err; i++) {
            rd_string(&rd);
            rd_string_list(&rd, NULL);
        }
        r->nsupported = n;
        break;
    }
    case CQL_OP_RESULT:
        return rd_result(&rd, r, why, cap);
    case CQL_OP_EVENT:
        r->event_type = rd_string(&rd);
        break; /* the rest depends on the event; sluice registers for none */
    case CQL_OP_AUTH_CHALLENGE:
    case CQL_OP_AUTH_SUCCESS:
        r->token = rd_bytes(&rd);
        break;
    default:
        snprintf(why, cap, "unexpected response opcode 0x%02x", h->opcode);
        return -1;
    }
    if (rd.err) {
        snprintf(why, cap, "truncated response (opcode 0x%02x)", h->opcode);
        return -1;
    }
    return 0;
}

void cql_resp_free(struct cql_resp *r)
{
    meta_free(&r->meta);
    meta_free(&r->result_meta);
    free(r->cells);
    r->cells = NULL;
}

/* ---- names and values -------------------------------------------------------------------- */

const char *cql_error_name(int32_t code)
{
    switch (code) {
    case CQL_E_SERVER:
        return "Server error";
    case CQL_E_PROTOCOL:
        return "Protocol error";
    case CQL_E_AUTH:
        return "Authentication error";
    case CQL_E_UNAVAILABLE:
        return "Unavailable";
    case CQL_E_OVERLOADED:
        return "Overloaded";
    case CQL_E_BOOTSTRAPPING:
        return "Is_bootstrapping";
    case CQL_E_TRUNCATE:
        return "Truncate error";
    case CQL_E_WRITE_TIMEOUT:
        return "Write timeout";
    case CQL_E_READ_TIMEOUT:
        return "Read timeout";
    case CQL_E_READ_FAILURE:
        return "Read failure";
    case CQL_E_FUNCTION_FAILURE:
        return "Function failure";
    case CQL_E_WRITE_FAILURE:
        return "Write failure";
    case CQL_E_SYNTAX:
        return "Syntax error";
    case CQL_E_UNAUTHORIZED:
        return "Unauthorized";
    case CQL_E_INVALID:
        return "Invalid";
    case CQL_E_CONFIG:
        return "Config error";
    case CQL_E_ALREADY_EXISTS:
        return "Already exists";
    case CQL_E_UNPREPARED:
        return "Unprepared";
    default:
        return "Unknown error";
    }
}

static const struct {
    const char *name;
    uint16_t cl;
} cl_names[] = {
    {"ANY", CQL_ANY},
    {"ONE", CQL_ONE},
    {"TWO", CQL_TWO},
    {"THREE", CQL_THREE},
    {"QUORUM", CQL_QUORUM},
    {"ALL", CQL_ALL},
    {"LOCAL_QUORUM", CQL_LOCAL_QUORUM},
    {"EACH_QUORUM", CQL_EACH_QUORUM},
    {"SERIAL", CQL_SERIAL},
    {"LOCAL_SERIAL", CQL_LOCAL_SERIAL},
    {"LOCAL_ONE", CQL_LOCAL_ONE},
};

const char *cql_consistency_name(uint16_t cl)
{
    for (size_t i = 0; i < sizeof(cl_names) / sizeof(cl_names[0]); i++) {
        if (cl_names[i].cl == cl)
            return cl_names[i].name;
    }
    return "?";
}

int cql_consistency_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(cl_names) / sizeof(cl_names[0]); i++) {
        if (strcasecmp(cl_names[i].name, s) == 0)
            return cl_names[i].cl;
    }
    return -1;
}

int cql_get_bigint(const struct cql_str *v, int64_t *out)
{
    if (v->len != 8)
        return -1;
    const uint8_t *b = (const uint8_t *)v->p;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | b[i];
    *out = (int64_t)x;
    return 0;
}

int cql_get_int(const struct cql_str *v, int32_t *out)
{
    if (v->len != 4)
        return -1;
    const uint8_t *b = (const uint8_t *)v->p;
    *out =
        (int32_t)(((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3]);
    return 0;
}

int cql_get_bool(const struct cql_str *v, bool *out)
{
    if (v->len != 1)
        return -1;
    *out = v->p[0] != 0;
    return 0;
}

/* ---- Murmur3 token ----------------------------------------------------------------------- */

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* Java reads a byte as signed and widens it to long: bytes >= 0x80 become 0xFFFF...FFxx. */
static uint64_t sbyte(const uint8_t *p, size_t i)
{
    return (uint64_t)(int64_t)(int8_t)p[i];
}

int64_t cql_murmur3_token(const void *key, size_t len)
{
    const uint8_t *p = key;
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    uint64_t h1 = 0, h2 = 0;
    size_t nblocks = len / 16;
    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1 = 0, k2 = 0;
        for (int b = 7; b >= 0; b--) { /* little-endian longs */
            k1 = (k1 << 8) | p[i * 16 + (size_t)b];
            k2 = (k2 << 8) | p[i * 16 + 8 + (size_t)b];
        }
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }
    const uint8_t *t = p + nblocks * 16;
    uint64_t k1 = 0, k2 = 0;
    switch (len & 15) {
    case 15:
        k2 ^= sbyte(t, 14) << 48; /* fall through */
    case 14:
        k2 ^= sbyte(t, 13) << 40; /* fall through */
    case 13:
        k2 ^= sbyte(t, 12) << 32; /* fall through */
    case 12:
        k2 ^= sbyte(t, 11) << 24; /* fall through */
    case 11:
        k2 ^= sbyte(t, 10) << 16; /* fall through */
    case 10:
        k2 ^= sbyte(t, 9) << 8; /* fall through */
    case 9:
        k2 ^= sbyte(t, 8);
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        /* fall through */
    case 8:
        k1 ^= sbyte(t, 7) << 56; /* fall through */
    case 7:
        k1 ^= sbyte(t, 6) << 48; /* fall through */
    case 6:
        k1 ^= sbyte(t, 5) << 40; /* fall through */
    case 5:
        k1 ^= sbyte(t, 4) << 32; /* fall through */
    case 4:
        k1 ^= sbyte(t, 3) << 24; /* fall through */
    case 3:
        k1 ^= sbyte(t, 2) << 16; /* fall through */
    case 2:
        k1 ^= sbyte(t, 1) << 8; /* fall through */
    case 1:
        k1 ^= sbyte(t, 0);
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        break;
    default:
        break;
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    int64_t token = (int64_t)h1;
    return token == INT64_MIN ? INT64_MAX : token;
}
