/* Fuzz target: what a client can put in `Authorization: Bearer ...` or the session cookie,
 * through the scheduler's JWT check (split, base64url, HMAC, header and payload JSON), and
 * the HTTP server's percent-decoding. A forged token must never verify. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/http.h"
#include "core/log.h"
#include "scheduler/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth *a;
    if (!a) {
        char dir[256];
        const char *tmp = getenv("TMPDIR"); /* run.sh gives each run its own */
        if (!tmp || !*tmp)
            tmp = "/tmp";
        snprintf(dir, sizeof(dir), "%s/sluice-fuzz-token-%d", tmp, (int)getpid());
        log_set_level(LOG_LVL_ERROR);
        setenv("SLUICE_SCHEDULER_ADMIN_PASSWORD", "fuzz", 1);
        struct auth_opts o = {.data_dir = dir, .enabled = true};
        struct sl_err err;
        if (auth_open(&o, &a, &err) != 0)
            abort();
    }
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char user[128], out[256];
    if (auth_verify(a, s, user, sizeof(user)) == 0)
        abort(); /* nobody can sign without the secret */
    http_url_decode(s, out, sizeof(out));
    free(s);
    return 0;
}
