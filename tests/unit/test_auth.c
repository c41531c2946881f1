/* scheduler/auth: the admin password generated once (0600) or taken from the environment,
 * users from sluice.yaml, token roundtrip, expiry, tampering, wrong passwords, and the HTTP hook
 * (bearer, basic on /api/v1 only, session cookie, viewer read-only) through a real server. */
#include <curl/curl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "scheduler/auth.h"

static char dir[256];

static int file_mode(const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/scheduler/%s", dir, name);
    struct stat st;
    if (stat(p, &st) != 0)
        return -1;
    return (int)(st.st_mode & 0777);
}

static void read_admin(char *out, size_t cap)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/scheduler/admin-password", dir);
    char *d = NULL;
    size_t n;
    struct sl_err err;
    out[0] = '\0';
    if (fs_read_file(p, 4096, &d, &n, &err) == 0)
        snprintf(out, cap, "%s", d);
    free(d);
}

static void test_generated_admin(void)
{
    unsetenv("SLUICE_SCHEDULER_ADMIN_PASSWORD");
    struct auth_opts o = {.data_dir = dir, .enabled = true};
    struct auth *a = NULL;
    struct sl_err err;
    CHECK(auth_open(&o, &a, &err) == 0);
    CHECK_EQ_INT(file_mode("admin-password"), 0600);
    CHECK_EQ_INT(file_mode("jwt-secret"), 0600);
    char pw[64];
    read_admin(pw, sizeof(pw));
    CHECK_EQ_INT(strlen(pw), 16);

    char tok[4096], user[64];
    CHECK(auth_login(a, "admin", pw, tok, sizeof(tok), &err) == 0);
    CHECK(auth_verify(a, tok, user, sizeof(user)) == 0);
    CHECK_EQ_STR(user, "admin");
    CHECK(auth_login(a, "admin", "wrong", tok, sizeof(tok), &err) == -1);
    CHECK_EQ_STR(err.msg, "Invalid credentials");
    CHECK(auth_login(a, "nobody", pw, tok, sizeof(tok), &err) == -1);
    CHECK_EQ_STR(err.msg, "Invalid credentials");

    /* tampering: a changed payload or signature, another alg, garbage */
    CHECK(auth_login(a, "admin", pw, tok, sizeof(tok), &err) == 0);
    char bad[4096];
    snprintf(bad, sizeof(bad), "%s", tok);
    char *dot = strchr(bad, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    CHECK(auth_verify(a, bad, user, sizeof(user)) == -1);
    snprintf(bad, sizeof(bad), "%s", tok);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    CHECK(auth_verify(a, bad, user, sizeof(user)) == -1);
    CHECK(auth_verify(a, "a.b.c", user, sizeof(user)) == -1);
    CHECK(auth_verify(a, "", user, sizeof(user)) == -1);
    CHECK(auth_verify(a, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", user, sizeof(user)) == -1);
    auth_close(a);

    /* a second start keeps the password and the secret: old tokens stay valid */
    CHECK(auth_open(&o, &a, &err) == 0);
    char pw2[64];
    read_admin(pw2, sizeof(pw2));
    CHECK_EQ_STR(pw2, pw);
    CHECK(auth_verify(a, tok, user, sizeof(user)) == 0);
    auth_close(a);

    /* expired: a TTL in the past (beyond the 10 s leeway) */
    o.token_ttl_s = -100;
    CHECK(auth_open(&o, &a, &err) == 0);
    CHECK(auth_login(a, "admin", pw, tok, sizeof(tok), &err) == 0);
    CHECK(auth_verify(a, tok, user, sizeof(user)) == -2);
    auth_close(a);
}

static void test_env_and_yaml(void)
{
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "%s/sluice.yaml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "scheduler:\n  users:\n"
               "    - {username: viewer1, password: v-pass, role: viewer}\n"
               "    - username: op1\n      password_env: TEST_AUTH_OP_PW\n      role: op\n");
    fclose(f);
    setenv("TEST_AUTH_OP_PW", "op-pass", 1);
    setenv("SLUICE_SCHEDULER_ADMIN_PASSWORD", "env-admin", 1);
    struct auth_opts o = {.data_dir = dir, .config_path = cfg, .enabled = true};
    struct auth *a = NULL;
    struct sl_err err;
    CHECK(auth_open(&o, &a, &err) == 0);
    char tok[4096], user[64];
    CHECK(auth_login(a, "admin", "env-admin", tok, sizeof(tok), &err) == 0);
    CHECK(auth_login(a, "op1", "op-pass", tok, sizeof(tok), &err) == 0);
    CHECK(auth_verify(a, tok, user, sizeof(user)) == 0);
    CHECK_EQ_STR(user, "op1");
    CHECK(auth_login(a, "viewer1", "v-pass", tok, sizeof(tok), &err) == 0);
    auth_close(a);

    f = fopen(cfg, "w");
    fprintf(f, "scheduler:\n  users:\n    - {username: x}\n");
    fclose(f);
    CHECK(auth_open(&o, &a, &err) == -1);
    CHECK(strstr(err.msg, "sluice.yaml:3") != NULL);
    unsetenv("SLUICE_SCHEDULER_ADMIN_PASSWORD");
}

static long get(int port, const char *path, const char *hdr, const char *method)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    FILE *null = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, null);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *h = hdr ? curl_slist_append(NULL, hdr) : NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    fclose(null);
    return status;
}

static void h_ok(struct http_req *r, void *ctx)
{
    http_reply(r, 200, "text/plain", http_user(r), strlen(http_user(r)));
}

static void test_hook(void)
{
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "%s/sluice.yaml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "scheduler:\n  users:\n    - {username: viewer1, password: v-pass, role: viewer}\n");
    fclose(f);
    setenv("SLUICE_SCHEDULER_ADMIN_PASSWORD", "pw", 1);
    struct auth_opts o = {.data_dir = dir, .config_path = cfg, .enabled = true};
    struct auth *a = NULL;
    struct sl_err err;
    CHECK(auth_open(&o, &a, &err) == 0);
    static const struct http_route rs[] = {{"*", "/*", h_ok, 0}, {NULL, NULL, NULL, 0}};
    struct http_config hc = {.listen = "127.0.0.1:0", .auth = auth_http_hook, .auth_ctx = a};
    struct http_server *srv = NULL;
    CHECK(http_server_start(&hc, rs, NULL, &srv, &err) == 0);
    int port = http_server_port(srv);
    char tok[4096], bearer[4200], cookie[4200], vtok[4096], vbearer[4200];
    CHECK(auth_login(a, "admin", "pw", tok, sizeof(tok), &err) == 0);
    CHECK(auth_login(a, "viewer1", "v-pass", vtok, sizeof(vtok), &err) == 0);
    snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", tok);
    snprintf(vbearer, sizeof(vbearer), "Authorization: Bearer %s", vtok);
    snprintf(cookie, sizeof(cookie), "Cookie: sluice_session=%s", tok);
    CHECK_EQ_INT(get(port, "/api/v2/dags", NULL, "GET"), 401);
    CHECK_EQ_INT(get(port, "/api/v2/dags", bearer, "GET"), 200);
    CHECK_EQ_INT(get(port, "/api/v2/dags", "Authorization: Bearer x.y.z", "GET"), 403);
    CHECK_EQ_INT(get(port, "/ui/", cookie, "GET"), 200);
    /* admin:pw and admin:bad in base64 */
    CHECK_EQ_INT(get(port, "/api/v1/dags", "Authorization: Basic YWRtaW46cHc=", "GET"), 200);
    CHECK_EQ_INT(get(port, "/api/v1/dags", "Authorization: Basic YWRtaW46cHc=", "GET"), 200);
    CHECK_EQ_INT(get(port, "/api/v1/dags", "Authorization: Basic YWRtaW46YmFk", "GET"), 401);
    CHECK_EQ_INT(get(port, "/api/v2/dags", "Authorization: Basic YWRtaW46cHc=", "GET"), 401);
    CHECK_EQ_INT(get(port, "/api/v2/dags", vbearer, "GET"), 200);
    CHECK_EQ_INT(get(port, "/api/v2/dags/x", vbearer, "PATCH"), 403);
    CHECK_EQ_INT(get(port, "/api/v2/dags/x", bearer, "PATCH"), 200);
    http_server_stop(srv);
    auth_close(a);

    o.enabled = false; /* auth off: everyone is admin */
    CHECK(auth_open(&o, &a, &err) == 0);
    hc.auth_ctx = a;
    CHECK(http_server_start(&hc, rs, NULL, &srv, &err) == 0);
    CHECK_EQ_INT(get(http_server_port(srv), "/api/v2/dags", NULL, "GET"), 200);
    http_server_stop(srv);
    auth_close(a);
    unsetenv("SLUICE_SCHEDULER_ADMIN_PASSWORD");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(dir, sizeof(dir), "/tmp/test_auth_%d", (int)getpid());
    struct sl_err err;
    fs_remove_tree(dir, &err);
    test_generated_admin();
    test_env_and_yaml();
    test_hook();
    fs_remove_tree(dir, &err);
    curl_global_cleanup();
    return check_summary();
}
