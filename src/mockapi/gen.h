/* The randomuser.me-compatible user generator, shared by `sluice mock-api` (over HTTP) and
 * `sluice ingest --source generator` (in-process), so both emit exactly the same documents.
 * Output is deterministic for a given seed and page: each user draws from its own small PRNG
 * seeded from a hash of (seed, page, index), so a page's users do not depend on `results`. */
#ifndef SLUICE_MOCKAPI_GEN_H
#define SLUICE_MOCKAPI_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "mockapi/natdata.h"

#define MOCKAPI_MAX_RESULTS 5000
#define MOCKAPI_SEED_MAX 64

/* Top-level fields of a user, as named by the `inc` and `exc` parameters. */
enum mockapi_field {
    MF_GENDER = 1 << 0,
    MF_NAME = 1 << 1,
    MF_LOCATION = 1 << 2,
    MF_EMAIL = 1 << 3,
    MF_LOGIN = 1 << 4,
    MF_REGISTERED = 1 << 5,
    MF_DOB = 1 << 6,
    MF_PHONE = 1 << 7,
    MF_CELL = 1 << 8,
    MF_ID = 1 << 9,
    MF_PICTURE = 1 << 10,
    MF_NAT = 1 << 11,
};
#define MF_ALL 0xfffu

enum mockapi_gender { MG_ANY = 0, MG_MALE, MG_FEMALE };

struct mockapi_req {
    int results;                     /* 1..MOCKAPI_MAX_RESULTS */
    char seed[MOCKAPI_SEED_MAX + 1]; /* never empty when generating */
    int64_t page;                    /* >= 1 */
    uint32_t nat_mask;               /* bit i = mockapi_nats[i]; 0 means all */
    unsigned fields;                 /* subset of MF_ALL */
    enum mockapi_gender gender;
    bool noinfo;
};

/* Defaults: 1 result, page 1, all nationalities and fields, seed left empty. */
void mockapi_req_init(struct mockapi_req *req);
/* Parses a comma list of nationality codes (case-insensitive) into a mask. */
int mockapi_nat_parse(const char *list, uint32_t *mask, struct sl_err *err);
/* Parses a comma list of field names (gender, name, location, ...) into a mask. */
int mockapi_fields_parse(const char *list, unsigned *mask, struct sl_err *err);
/* Writes a fresh random seed (16 hex digits, as randomuser does) into seed. */
void mockapi_random_seed(char seed[MOCKAPI_SEED_MAX + 1]);

/* Raw query parameters of one request (NULL when absent). */
struct mockapi_query {
    const char *results, *seed, *page, *nat, *inc, *exc, *gender, *format;
    bool noinfo;
};

/* Validates q into req like randomuser does: results outside 1..5000 is clamped; anything
 * unparsable (results "abc", page 0, unknown nat/field/gender, format other than json, a seed
 * that is too long or not printable ASCII) is an error for a 400 answer. A missing seed is
 * left empty for the caller to fill. */
int mockapi_req_parse(const struct mockapi_query *q, struct mockapi_req *req, struct sl_err *err);

/* Appends the whole response document {"results": [...], "info": {...}} for req to out.
 * Returns -1 with err set if out's maximum is too small. Thread-safe (no shared state). */
int mockapi_generate(const struct mockapi_req *req, struct buf *out, struct sl_err *err);

/* Bytes a response of n users may take at most; size output buffers with it. */
size_t mockapi_response_max(int n);

#endif
