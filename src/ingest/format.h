/* format_data: turns one randomuser.me result into the value sluice writes to users_created,
 * exactly the seed's 12 fields (DESIGN.md "Contracts"), and the message key (the user id).
 * Also parses whole API response bodies and classifies their failures for the retry logic. */
#ifndef SLUICE_INGEST_FORMAT_H
#define SLUICE_INGEST_FORMAT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define FMT_UUID_LEN 36
/* A formatted value never exceeds this; a user whose fields would is rejected. */
#define FMT_VALUE_MAX (16 * 1024)

enum fmt_body_status {
    FMT_BODY_OK = 0,
    FMT_BODY_MALFORMED, /* not JSON, or JSON without a "results" array */
    FMT_BODY_API_ERROR, /* {"error": "..."} */
};

/* Parses a response body (need not be NUL-terminated). On FMT_BODY_OK returns the document
 * (caller frees with cJSON_Delete) and points *results at its "results" array; otherwise
 * returns NULL, sets *status and leaves a message in err. */
cJSON *fmt_parse_body(const char *body, size_t len, const cJSON **results,
                      enum fmt_body_status *status, struct sl_err *err);

/* Appends the users_created value for user to out, a JSON object with exactly: id, first_name,
 * last_name, gender, address, post_code, email, username, dob, registered_date, phone, picture;
 * and writes the id (lowercase canonical UUID, the message key) to key. The id is login.uuid
 * when that is a valid UUID, else a fresh random UUIDv4. Strings are emitted as valid UTF-8:
 * invalid sequences become U+FFFD and are counted in *replaced (if not NULL).
 * Returns 0, or -1 with err naming the missing or ill-typed field; out is then unchanged. */
int fmt_user(const cJSON *user, struct buf *out, char key[FMT_UUID_LEN + 1], int *replaced,
             struct sl_err *err);

/* True for a canonical 8-4-4-4-12 hex UUID other than the nil UUID. */
bool fmt_uuid_valid(const char *s);
/* Writes a random (version 4) UUID from the kernel's CSPRNG. */
void fmt_uuid_random(char out[FMT_UUID_LEN + 1]);

#endif
