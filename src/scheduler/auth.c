/* Users and tokens of the scheduler (see auth.h). Passwords are kept only as PBKDF2-HMAC-SHA256
 * hashes with a per-user salt; tokens are HS512 JWTs {sub, role, iat, nbf, exp} signed with a
 * secret kept in DATA_DIR/scheduler/jwt-secret. HTTP Basic (Airflow 2 scripts, /api/v1) would
 * cost one PBKDF2 per request, so the last good password of each user is remembered as an
 * HMAC under the secret, and a repeat costs one HMAC. Secrets never reach the log. */
#include "scheduler/auth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "core/fsutil.h"
#include "core/log.h"

#define MOD "auth"
#define MAX_USERS 64
#define PBKDF2_ITER 100000
#define LEEWAY_S 10
#define MAX_TOKEN 4096

struct auth_user {
    char name[128];
    char role[16];
    unsigned char salt[16];
    unsigned char hash[32];
    unsigned char remembered[64]; /* HMAC(secret, password) of the last good check */
    bool has_remembered;
};

struct auth {
    bool enabled;
    int64_t ttl_s;
    unsigned char secret[64];
    struct auth_user users[MAX_USERS];
    int nusers;
    pthread_mutex_t mu;
};

/* ---- base64url ---- */

static size_t b64url_enc(const unsigned char *in, size_t n, char *out, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t emit = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
        for (size_t k = 0; k < emit; k++) {
            if (j + 1 >= cap)
                return 0;
            out[j++] = tbl[(v >> (18 - 6 * k)) & 63];
        }
    }
    out[j] = '\0';
    return j;
}

static int b64val(int c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Decodes base64 (url alphabet or standard, '=' padding optional); -1 on bad input. */
static int b64_dec(const char *in, size_t n, bool url, unsigned char *out, size_t cap,
                   size_t *outlen)
{
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i], url);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (j >= cap)
                return -1;
            out[j++] = (unsigned char)(acc >> bits);
        }
    }
    *outlen = j;
    return 0;
}

/* ---- users ---- */

static void hash_password(const char *pw, const unsigned char salt[16], unsigned char out[32])
{
    PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, 16, PBKDF2_ITER, EVP_sha256(), 32, out);
}

static void remember_mac(const struct auth *a, const char *pw, unsigned char out[64])
{
    unsigned int len = 64;
    HMAC(EVP_sha512(), a->secret, sizeof(a->secret), (const unsigned char *)pw, strlen(pw), out,
         &len);
}

static bool valid_role(const char *r)
{
    return strcmp(r, "viewer") == 0 || strcmp(r, "user") == 0 || strcmp(r, "op") == 0 ||
           strcmp(r, "admin") == 0;
}

static int add_user(struct auth *a, const char *name, const char *pw, const char *role,
                    struct sl_err *err)
{
    struct auth_user *u = NULL;
    for (int i = 0; i < a->nusers; i++) {
        if (strcmp(a->users[i].name, name) == 0)
            u = &a->users[i];
    }
    if (!u) {
        if (a->nusers >= MAX_USERS)
            return sl_err_set(err, "too many scheduler users (at most %d)", MAX_USERS);
        u = &a->users[a->nusers++];
    }
    memset(u, 0, sizeof(*u));
    if (strlen(name) >= sizeof(u->name) || !valid_role(role))
        return sl_err_set(err,
                          "scheduler user '%s': bad name or role '%s' (viewer, user, op, admin)",
                          name, role);
    snprintf(u->name, sizeof(u->name), "%s", name);
    snprintf(u->role, sizeof(u->role), "%s", role);
    fs_random(u->salt, sizeof(u->salt));
    hash_password(pw, u->salt, u->hash);
    return 0;
}

static void trim_eol(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Reads a small secret file; a file others can read is refused. */
static int read_secret_file(const char *path, char **out, struct sl_err *err)
{
    size_t len;
    if (fs_read_file(path, 4096, out, &len, err) != 0)
        return -1;
    trim_eol(*out);
    return 0;
}

/* Writes a new secret file with mode 0600 (never replacing one). */
static int write_secret_file(const char *path, const char *data, size_t len, struct sl_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return sl_err_errno(err, "cannot create %s", path);
    fchmod(fd, 0600);
    ssize_t w = write(fd, data, len);
    if (w != (ssize_t)len || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return sl_err_errno(err, "cannot write %s", path);
    }
    close(fd);
    return 0;
}

static void random_password(char *out, size_t n)
{
    static const char al[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    unsigned char r[64];
    fs_random(r, sizeof(r));
    for (size_t i = 0; i + 1 < n && i < sizeof(r); i++)
        out[i] = al[r[i] % (sizeof(al) - 1)];
    out[n - 1] = '\0';
}

static const char *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return (const char *)v->data.scalar.value;
    }
    return NULL;
}

static yaml_node_t *map_node(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* Loads `scheduler: users:` from the config file. Sets *admin_given when the file gives the
 * admin user a password. */
static int load_yaml_users(struct auth *a, const char *path, bool *admin_given, struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : sl_err_errno(err, "cannot open %s", path);
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        sl_err_set(err, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                   parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *users = map_node(&doc, map_node(&doc, root, "scheduler"), "users");
    if (users && users->type != YAML_SEQUENCE_NODE) {
        rc = sl_err_set(err, "%s:%zu: scheduler.users must be a list", path,
                        users->start_mark.line + 1);
        users = NULL;
    }
    for (yaml_node_item_t *it = users ? users->data.sequence.items.start : NULL;
         users && it < users->data.sequence.items.top && rc == 0; it++) {
        yaml_node_t *u = yaml_document_get_node(&doc, *it);
        size_t line = u ? u->start_mark.line + 1 : 0;
        const char *name = map_get(&doc, u, "username");
        const char *pw = map_get(&doc, u, "password");
        const char *pw_file = map_get(&doc, u, "password_file");
        const char *pw_env = map_get(&doc, u, "password_env");
        const char *role = map_get(&doc, u, "role");
        char *filepw = NULL;
        if (!name || !*name) {
            rc = sl_err_set(err, "%s:%zu: a scheduler user needs a username", path, line);
            break;
        }
        if (pw_env) {
            pw = getenv(pw_env);
            if (!pw) {
                rc = sl_err_set(err, "%s:%zu: user '%s': environment variable %s is not set", path,
                                line, name, pw_env);
                break;
            }
        } else if (pw_file) {
            if (read_secret_file(pw_file, &filepw, err) != 0) {
                rc = -1;
                break;
            }
            pw = filepw;
        }
        if (!pw) {
            if (strcmp(name, "admin") == 0) { /* admin's password comes from env/file */
                if (role && strcmp(role, "admin") != 0)
                    log_warn(MOD, "user admin keeps the admin role");
                continue;
            }
            rc = sl_err_set(err, "%s:%zu: user '%s' needs password, password_file or password_env",
                            path, line, name);
            break;
        }
        if (strcmp(name, "admin") == 0)
            *admin_given = true;
        rc = add_user(a, name, pw, role ? role : "viewer", err);
        if (filepw) {
            OPENSSL_cleanse(filepw, strlen(filepw));
            free(filepw);
        }
        if (rc == 0)
            log_info(MOD, "user '%s' (%s) from %s", name, role ? role : "viewer", path);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

static int load_secret(struct auth *a, const char *dir, struct sl_err *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/jwt-secret", dir);
    char *hex = NULL;
    if (access(path, F_OK) != 0) {
        unsigned char raw[64];
        fs_random(raw, sizeof(raw));
        char out[129];
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(out + 2 * i, 3, "%02x", raw[i]);
        if (write_secret_file(path, out, 128, err) != 0)
            return -1;
    }
    if (read_secret_file(path, &hex, err) != 0)
        return -1;
    size_t n = strlen(hex);
    if (n < 32) {
        free(hex);
        return sl_err_set(err, "%s: secret too short", path);
    }
    /* The file's bytes, whatever they are, keyed down to 64 bytes. */
    unsigned int len = 64;
    HMAC(EVP_sha512(), "sluice-jwt", 10, (unsigned char *)hex, n, a->secret, &len);
    OPENSSL_cleanse(hex, n);
    free(hex);
    return 0;
}

int auth_open(const struct auth_opts *o, struct auth **out, struct sl_err *err)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a)
        return sl_err_set(err, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    a->enabled = o->enabled;
    a->ttl_s = o->token_ttl_s != 0 ? o->token_ttl_s : 86400;
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/scheduler", o->data_dir ? o->data_dir : ".");
    if (fs_mkdirs(dir, err) != 0)
        goto fail;
    if (load_secret(a, dir, err) != 0)
        goto fail;
    bool admin_given = false;
    if (o->config_path && load_yaml_users(a, o->config_path, &admin_given, err) != 0)
        goto fail;
    const char *envpw = getenv("SLUICE_SCHEDULER_ADMIN_PASSWORD");
    if (envpw && *envpw) {
        if (add_user(a, "admin", envpw, "admin", err) != 0)
            goto fail;
    } else if (!admin_given) {
        snprintf(path, sizeof(path), "%s/admin-password", dir);
        char *pw = NULL;
        if (access(path, F_OK) != 0) {
            char gen[17];
            random_password(gen, sizeof(gen));
            if (write_secret_file(path, gen, strlen(gen), err) != 0)
                goto fail;
            /* As Airflow's simple auth manager: shown once, at start, on stdout only. */
            printf("Password for user 'admin': %s\n", gen);
            fflush(stdout);
            OPENSSL_cleanse(gen, sizeof(gen));
        }
        if (read_secret_file(path, &pw, err) != 0)
            goto fail;
        struct stat st;
        if (stat(path, &st) == 0 && (st.st_mode & 077))
            log_warn(MOD, "%s is readable by others (mode %03o): chmod 600 it", path,
                     (unsigned)(st.st_mode & 0777));
        int rc = add_user(a, "admin", pw, "admin", err);
        OPENSSL_cleanse(pw, strlen(pw));
        free(pw);
        if (rc != 0)
            goto fail;
    }
    *out = a;
    return 0;
fail:
    auth_close(a);
    return -1;
}

void auth_close(struct auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
}

/* Checks a password; fills role. 0 ok, -1 bad. */
static int check_password(struct auth *a, const char *user, const char *pw, char role[16])
{
    unsigned char mac[64];
    remember_mac(a, pw, mac);
    struct auth_user *u = NULL;
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < a->nusers; i++) {
        if (strcmp(a->users[i].name, user) == 0)
            u = &a->users[i];
    }
    if (u && u->has_remembered && CRYPTO_memcmp(u->remembered, mac, 64) == 0) {
        snprintf(role, 16, "%s", u->role);
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    unsigned char salt[16], want[32];
    if (u) {
        memcpy(salt, u->salt, 16);
        memcpy(want, u->hash, 32);
        snprintf(role, 16, "%s", u->role);
    } else {
        memset(salt, 0, 16);
        memset(want, 0xff, 32);
    }
    pthread_mutex_unlock(&a->mu);
    unsigned char got[32];
    hash_password(pw, salt, got); /* also for unknown users: same time either way */
    if (!u || CRYPTO_memcmp(got, want, 32) != 0)
        return -1;
    pthread_mutex_lock(&a->mu);
    memcpy(u->remembered, mac, 64);
    u->has_remembered = true;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

static int make_token(struct auth *a, const char *user, const char *role, char *out, size_t cap,
                      struct sl_err *err)
{
    static const char hdr[] = "{\"alg\":\"HS512\",\"typ\":\"JWT\"}";
    cJSON *p = cJSON_CreateObject();
    int64_t now = (int64_t)time(NULL);
    cJSON_AddStringToObject(p, "sub", user);
    cJSON_AddStringToObject(p, "role", role);
    cJSON_AddNumberToObject(p, "iat", (double)now);
    cJSON_AddNumberToObject(p, "nbf", (double)now);
    cJSON_AddNumberToObject(p, "exp", (double)(now + a->ttl_s));
    char *payload = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    if (!payload)
        return sl_err_set(err, "out of memory");
    size_t n = b64url_enc((const unsigned char *)hdr, strlen(hdr), out, cap);
    if (n == 0 || n + 2 >= cap) {
        free(payload);
        return sl_err_set(err, "token buffer too small");
    }
    out[n++] = '.';
    size_t m = b64url_enc((unsigned char *)payload, strlen(payload), out + n, cap - n);
    free(payload);
    if (m == 0)
        return sl_err_set(err, "token buffer too small");
    n += m;
    unsigned char sig[64];
    unsigned int sl = 64;
    HMAC(EVP_sha512(), a->secret, sizeof(a->secret), (unsigned char *)out, n, sig, &sl);
    if (n + 2 >= cap)
        return sl_err_set(err, "token buffer too small");
    out[n++] = '.';
    if (b64url_enc(sig, sl, out + n, cap - n) == 0)
        return sl_err_set(err, "token buffer too small");
    return 0;
}

int auth_login(struct auth *a, const char *user, const char *password, char *out, size_t cap,
               struct sl_err *err)
{
    char role[16];
    if (!user || !password || check_password(a, user, password, role) != 0)
        return sl_err_set(err, "Invalid credentials");
    return make_token(a, user, role, out, cap, err);
}

/* 0 ok (user and role filled), -1 invalid, -2 expired. */
static int verify(struct auth *a, const char *token, char *user, size_t cap, char role[16])
{
    size_t tl = strlen(token);
    if (tl == 0 || tl > MAX_TOKEN)
        return -1;
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return -1;
    unsigned char sig[64], want[64];
    size_t sl;
    if (b64_dec(d2 + 1, strlen(d2 + 1), true, sig, sizeof(sig), &sl) != 0 || sl != 64)
        return -1;
    unsigned int wl = 64;
    HMAC(EVP_sha512(), a->secret, sizeof(a->secret), (const unsigned char *)token,
         (size_t)(d2 - token), want, &wl);
    if (CRYPTO_memcmp(sig, want, 64) != 0)
        return -1;
    unsigned char hdr[256];
    size_t hl;
    if (b64_dec(token, (size_t)(d1 - token), true, hdr, sizeof(hdr) - 1, &hl) != 0)
        return -1;
    hdr[hl] = '\0';
    cJSON *h = cJSON_Parse((char *)hdr);
    cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    bool alg_ok = cJSON_IsString(alg) && strcmp(alg->valuestring, "HS512") == 0;
    cJSON_Delete(h);
    if (!alg_ok)
        return -1;
    unsigned char pl[MAX_TOKEN];
    size_t pn;
    if (b64_dec(d1 + 1, (size_t)(d2 - d1 - 1), true, pl, sizeof(pl) - 1, &pn) != 0)
        return -1;
    pl[pn] = '\0';
    cJSON *p = cJSON_Parse((char *)pl);
    cJSON *sub = cJSON_GetObjectItemCaseSensitive(p, "sub");
    cJSON *rl = cJSON_GetObjectItemCaseSensitive(p, "role");
    cJSON *exp = cJSON_GetObjectItemCaseSensitive(p, "exp");
    int rc = -1;
    if (cJSON_IsString(sub) && cJSON_IsNumber(exp) && strlen(sub->valuestring) < cap) {
        if ((double)time(NULL) > exp->valuedouble + LEEWAY_S) {
            rc = -2;
        } else {
            snprintf(user, cap, "%s", sub->valuestring);
            snprintf(role, 16, "%s", cJSON_IsString(rl) ? rl->valuestring : "viewer");
            rc = 0;
        }
    }
    cJSON_Delete(p);
    return rc;
}

int auth_verify(struct auth *a, const char *token, char *user, size_t cap)
{
    char role[16];
    return verify(a, token, user, cap, role);
}

/* ---- the HTTP hook ---- */

static bool is_v1(struct http_req *req)
{
    return strncmp(http_path(req), "/api/v1/", 8) == 0;
}

/* An auth error in the shape of the API the path belongs to. */
static void deny(struct http_req *req, unsigned status, const char *msg)
{
    char body[512];
    if (is_v1(req)) {
        int n = snprintf(body, sizeof(body),
                         "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%u,"
                         "\"detail\":\"%s\"}",
                         status == 401 ? "Unauthorized" : "Forbidden", status, msg);
        if (status == 401)
            http_add_header(req, "WWW-Authenticate", "Basic realm=\"sluice\"");
        http_reply(req, status, "application/problem+json", body, (size_t)n);
    } else {
        int n = snprintf(body, sizeof(body), "{\"detail\":\"%s\"}", msg);
        http_reply(req, status, "application/json", body, (size_t)n);
    }
}

static bool read_only(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Checks a token from a header or cookie and sets the user; answers and returns -1 if bad. */
static int accept_token(struct http_req *req, struct auth *a, const char *tok)
{
    char user[128], role[16];
    int rc = verify(a, tok, user, sizeof(user), role);
    if (rc == -2) {
        deny(req, 401, "Token Expired");
        return -1;
    }
    if (rc != 0) {
        deny(req, 403, "Invalid JWT token");
        return -1;
    }
    if (strcmp(role, "viewer") == 0 && !read_only(http_method(req))) {
        deny(req, 403, "Forbidden");
        return -1;
    }
    http_set_user(req, user);
    return 0;
}

int auth_http_hook(struct http_req *req, void *ctx)
{
    struct auth *a = ctx;
    if (!a || !a->enabled) {
        http_set_user(req, "admin");
        return 0;
    }
    const char *h = http_header(req, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        return accept_token(req, a, h + 7);
    if (h && strncasecmp(h, "Basic ", 6) == 0 && is_v1(req)) {
        unsigned char dec[512];
        size_t n;
        if (b64_dec(h + 6, strlen(h + 6), false, dec, sizeof(dec) - 1, &n) != 0) {
            deny(req, 401, "Invalid credentials");
            return -1;
        }
        dec[n] = '\0';
        char *colon = strchr((char *)dec, ':');
        char role[16], user[128] = "";
        int ok = -1;
        if (colon && (size_t)(colon - (char *)dec) < sizeof(user)) {
            *colon = '\0';
            size_t ul = strnlen((char *)dec, sizeof(user) - 1);
            memcpy(user, dec, ul);
            user[ul] = '\0';
            ok = check_password(a, user, colon + 1, role);
        }
        OPENSSL_cleanse(dec, sizeof(dec));
        if (ok != 0) {
            deny(req, 401, "Invalid credentials");
            return -1;
        }
        if (strcmp(role, "viewer") == 0 && !read_only(http_method(req))) {
            deny(req, 403, "Forbidden");
            return -1;
        }
        http_set_user(req, user);
        return 0;
    }
    const char *ck = http_cookie(req, "sluice_session");
    if (ck && *ck)
        return accept_token(req, a, ck);
    deny(req, 401, "Not authenticated");
    return -1;
}
