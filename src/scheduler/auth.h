/* Users and tokens of the scheduler's API and UI, as Airflow 3's simple auth manager does it:
 * users from sluice.yaml (`scheduler: users: [{username, password | password_file |
 * password_env, role}]`), the admin's password from SLUICE_SCHEDULER_ADMIN_PASSWORD or
 * generated once into DATA_DIR/scheduler/admin-password (0600) and printed at start;
 * passwords kept hashed (PBKDF2-HMAC-SHA256), never logged; POST /auth/token issues a JWT
 * (HS512, secret kept in DATA_DIR/scheduler/jwt-secret, 0600) that the API takes as a bearer
 * token (and the UI as a cookie). */
#ifndef SLUICE_SCHEDULER_AUTH_H
#define SLUICE_SCHEDULER_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/http.h"

struct auth;

struct auth_opts {
    const char *data_dir;    /* DATA_DIR; files go under DATA_DIR/scheduler/ */
    const char *config_path; /* sluice.yaml to read users from; NULL or missing: admin only */
    bool enabled;            /* false: every request passes as "admin" (loopback only, warned) */
    int64_t token_ttl_s;     /* 0: 86400 (negative: already expired, for tests) */
};

/* Loads or creates the users and the signing secret; prints the generated admin password
 * once to stdout when it was just made. Returns -1 with err set on unreadable files. */
int auth_open(const struct auth_opts *o, struct auth **out, struct sl_err *err);
void auth_close(struct auth *a);

/* The http_config.auth hook: accepts "Authorization: Bearer <jwt>", HTTP Basic (for /api/v1
 * scripts) and the UI's session cookie; else answers 401 {"detail": "Not authenticated"}
 * (403 "Invalid JWT token" for a bad token) and returns -1. */
int auth_http_hook(struct http_req *req, void *auth);

/* Checks a user's password; on success writes a signed token into out. 0 ok, -1 bad
 * credentials (err says so without naming which part was wrong). */
int auth_login(struct auth *a, const char *user, const char *password, char *out, size_t cap,
               struct sl_err *err);

/* Verifies a token; on success copies the user name into user and returns 0; -1 for an
 * invalid token, -2 for an expired one (beyond a 10 s leeway). */
int auth_verify(struct auth *a, const char *token, char *user, size_t cap);

#endif
