/* CQL native protocol v4 frames (doc/native_protocol_v4.spec): requests are encoded into a
 * bounded buffer, responses are decoded from a frame body with every read bounds-checked.
 * Decoding never trusts a count or a length: a bad frame yields -1 and a reason, never a crash.
 * Decoded strings and byte values point into the body; the body must outlive the response. */
#ifndef SLUICE_STORE_CQL_CODEC_H
#define SLUICE_STORE_CQL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CQL_HEADER_LEN 9
#define CQL_VERSION_REQ 0x04
#define CQL_VERSION_RESP 0x84
#define CQL_MAX_BODY (256u << 20) /* the protocol's limit */
#define CQL_MAX_STREAMS 32768
#define CQL_MAX_TYPE_DEPTH 16

/* Header flags. */
#define CQL_FLAG_COMPRESSION 0x01
#define CQL_FLAG_TRACING 0x02
#define CQL_FLAG_CUSTOM_PAYLOAD 0x04
#define CQL_FLAG_WARNING 0x08

enum cql_opcode {
    CQL_OP_ERROR = 0x00,
    CQL_OP_STARTUP = 0x01,
    CQL_OP_READY = 0x02,
    CQL_OP_AUTHENTICATE = 0x03,
    CQL_OP_OPTIONS = 0x05,
    CQL_OP_SUPPORTED = 0x06,
    CQL_OP_QUERY = 0x07,
    CQL_OP_RESULT = 0x08,
    CQL_OP_PREPARE = 0x09,
    CQL_OP_EXECUTE = 0x0A,
    CQL_OP_REGISTER = 0x0B,
    CQL_OP_EVENT = 0x0C,
    CQL_OP_BATCH = 0x0D,
    CQL_OP_AUTH_CHALLENGE = 0x0E,
    CQL_OP_AUTH_RESPONSE = 0x0F,
    CQL_OP_AUTH_SUCCESS = 0x10,
};

enum cql_consistency {
    CQL_ANY = 0x0000,
    CQL_ONE = 0x0001,
    CQL_TWO = 0x0002,
    CQL_THREE = 0x0003,
    CQL_QUORUM = 0x0004,
    CQL_ALL = 0x0005,
    CQL_LOCAL_QUORUM = 0x0006,
    CQL_EACH_QUORUM = 0x0007,
    CQL_SERIAL = 0x0008,
    CQL_LOCAL_SERIAL = 0x0009,
    CQL_LOCAL_ONE = 0x000A,
};

enum cql_error_code {
    CQL_E_SERVER = 0x0000,
    CQL_E_PROTOCOL = 0x000A,
    CQL_E_AUTH = 0x0100,
    CQL_E_UNAVAILABLE = 0x1000,
    CQL_E_OVERLOADED = 0x1001,
    CQL_E_BOOTSTRAPPING = 0x1002,
    CQL_E_TRUNCATE = 0x1003,
    CQL_E_WRITE_TIMEOUT = 0x1100,
    CQL_E_READ_TIMEOUT = 0x1200,
    CQL_E_READ_FAILURE = 0x1300,
    CQL_E_FUNCTION_FAILURE = 0x1400,
    CQL_E_WRITE_FAILURE = 0x1500,
    CQL_E_SYNTAX = 0x2000,
    CQL_E_UNAUTHORIZED = 0x2100,
    CQL_E_INVALID = 0x2200,
    CQL_E_CONFIG = 0x2300,
    CQL_E_ALREADY_EXISTS = 0x2400,
    CQL_E_UNPREPARED = 0x2500,
};

enum cql_result_kind {
    CQL_RESULT_VOID = 1,
    CQL_RESULT_ROWS = 2,
    CQL_RESULT_SET_KEYSPACE = 3,
    CQL_RESULT_PREPARED = 4,
    CQL_RESULT_SCHEMA_CHANGE = 5,
};

/* Type option ids (the ones sluice reads; others are decoded and shown as hex). */
enum cql_type_id {
    CQL_T_CUSTOM = 0x0000,
    CQL_T_ASCII = 0x0001,
    CQL_T_BIGINT = 0x0002,
    CQL_T_BLOB = 0x0003,
    CQL_T_BOOLEAN = 0x0004,
    CQL_T_COUNTER = 0x0005,
    CQL_T_DECIMAL = 0x0006,
    CQL_T_DOUBLE = 0x0007,
    CQL_T_FLOAT = 0x0008,
    CQL_T_INT = 0x0009,
    CQL_T_TIMESTAMP = 0x000B,
    CQL_T_UUID = 0x000C,
    CQL_T_VARCHAR = 0x000D,
    CQL_T_VARINT = 0x000E,
    CQL_T_TIMEUUID = 0x000F,
    CQL_T_INET = 0x0010,
    CQL_T_DATE = 0x0011,
    CQL_T_TIME = 0x0012,
    CQL_T_SMALLINT = 0x0013,
    CQL_T_TINYINT = 0x0014,
    CQL_T_LIST = 0x0020,
    CQL_T_MAP = 0x0021,
    CQL_T_SET = 0x0022,
    CQL_T_UDT = 0x0030,
    CQL_T_TUPLE = 0x0031,
};

/* A string or byte value inside a decoded body. len -1: null (bytes only). */
struct cql_str {
    const char *p;
    int32_t len;
};

/* A bound value for a request: len >= 0 bytes at p, or CQL_NULL. */
struct cql_value {
    const void *p;
    int32_t len;
};
#define CQL_NULL (-1)

struct cql_header {
    uint8_t version;
    uint8_t flags;
    int16_t stream;
    uint8_t opcode;
    uint32_t length;
};

/* Column metadata of a Rows result or a prepared statement. type is the top-level type id;
 * elem the element type of a list/set (value type of a map). */
struct cql_meta {
    int32_t flags;
    int32_t ncols;
    struct cql_str paging_state; /* len -1: none (last page) */
    struct cql_str *names;       /* ncols, or NULL when the server sent no metadata */
    uint16_t *types;             /* ncols */
    uint16_t *elems;             /* ncols */
    int32_t pk_count;            /* prepared only: bind positions of partition-key columns */
    uint16_t *pk_index;
};

struct cql_resp {
    uint8_t opcode;
    int nwarnings;
    /* ERROR */
    int32_t err_code;
    struct cql_str err_msg;
    uint16_t err_cl;
    int32_t err_received, err_blockfor, err_alive;
    struct cql_str err_write_type; /* write timeout/failure: SIMPLE, BATCH, CAS, ... */
    struct cql_str err_id;         /* unprepared id */
    struct cql_str err_ks, err_table;
    /* AUTHENTICATE */
    struct cql_str authenticator;
    /* AUTH_CHALLENGE / AUTH_SUCCESS */
    struct cql_str token;
    /* RESULT */
    int32_t kind;
    struct cql_meta meta;        /* rows: result metadata; prepared: bind metadata */
    struct cql_meta result_meta; /* prepared only */
    int32_t nrows;
    struct cql_str *cells;   /* nrows * meta.ncols, row-major */
    struct cql_str keyspace; /* set_keyspace; schema_change keyspace */
    struct cql_str prepared_id;
    struct cql_str change_type, target, name;
    /* EVENT */
    struct cql_str event_type;
    /* SUPPORTED */
    int32_t nsupported;
};

/* Encoding. Each cql_enc_* appends one whole frame to w (bounded by w's maximum) and returns
 * 0, or -1 when it does not fit. */
int cql_enc_startup(struct buf *w, int16_t stream, const char *compression);
int cql_enc_options(struct buf *w, int16_t stream);
int cql_enc_auth_response(struct buf *w, int16_t stream, const void *token, size_t len);
/* page_size <= 0: no paging; paging_state NULL: first page; serial -1: default;
 * timestamp < 0: none (the server's clock). */
int cql_enc_query(struct buf *w, int16_t stream, const char *query, uint16_t consistency,
                  const struct cql_value *values, int nvalues, int32_t page_size,
                  const struct cql_str *paging_state, int serial, int64_t timestamp);
int cql_enc_prepare(struct buf *w, int16_t stream, const char *query);
int cql_enc_execute(struct buf *w, int16_t stream, const struct cql_str *id, uint16_t consistency,
                    const struct cql_value *values, int nvalues, int serial);
/* A batch of n executions of one prepared statement, values[i*nvalues ...]. type: 0 logged,
 * 1 unlogged. */
int cql_enc_batch(struct buf *w, int16_t stream, uint8_t type, const struct cql_str *id,
                  const struct cql_value *values, int nvalues, int n, uint16_t consistency);

/* Decoding. cql_header_decode: 0 with *h filled, 1 when fewer than 9 bytes are there, -1 when
 * the header is not a v4 response or its length passes max_body (why says which). */
int cql_header_decode(const uint8_t *p, size_t n, size_t max_body, struct cql_header *h, char *why,
                      size_t cap);
/* Decodes the body of a response frame into r (zeroed first). 0, or -1 with why. Arrays in r
 * are allocated: release with cql_resp_free (also after a failure). */
int cql_resp_decode(const struct cql_header *h, const uint8_t *body, size_t len, struct cql_resp *r,
                    char *why, size_t cap);
void cql_resp_free(struct cql_resp *r);

/* Name of an error code ("Overloaded", ...) and of a consistency ("LOCAL_QUORUM"). */
const char *cql_error_name(int32_t code);
const char *cql_consistency_name(uint16_t cl);
/* Parses a consistency name (case-insensitive); -1 if unknown. */
int cql_consistency_parse(const char *s);

/* Readers of cell values: 0 or -1 when the length does not fit the type. */
int cql_get_bigint(const struct cql_str *v, int64_t *out);
int cql_get_int(const struct cql_str *v, int32_t *out);
int cql_get_bool(const struct cql_str *v, bool *out);

/* Cassandra's Murmur3Partitioner token of a partition key: h1 of MurmurHash3_x64_128 with seed
 * 0, tail bytes sign-extended as Java does, and Long.MIN_VALUE mapped to Long.MAX_VALUE. */
int64_t cql_murmur3_token(const void *key, size_t len);

#endif
