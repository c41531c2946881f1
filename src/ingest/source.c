/* The ingest source: libcurl against randomuser.me (or any compatible URL such as
 * `sluice mock-api`), or the generator in-process. One easy handle is reused so HTTP
 * keep-alive saves a connection per request. Retryable failures (timeouts, connection errors,
 * 429, 5xx, malformed JSON, {"error": ...}) back off exponentially with jitter, capped. */
#include "ingest/source.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/units.h"
#include "ingest/format.h"
#include "mockapi/gen.h"

#define MOD "ingest"
/* randomuser's 5000 users are ~5.5 MB; the generator's bound for 5000 is ~20 MB. */
#define BODY_MAX (64u << 20)
/* Fields format_data reads: asking only for them cuts the bytes to fetch and parse. */
#define INC_FIELDS "gender,name,location,email,login,dob,registered,phone,picture"

enum outcome { OK = 0, RETRY, FATAL, STOPPED };

struct source {
    char *url; /* NULL: generator */
    char *nat;
    char seed[MOCKAPI_SEED_MAX + 1]; /* empty: no seed sent (URL source) */
    struct source_opts o;
    uint32_t nat_mask;
    int64_t page;
    uint64_t jitter;
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
    struct buf body;
    bool too_big;
    char label[256];
    struct source_stats own;
    struct source_stats *st; /* &own or shared */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct source *s = ud;
    if (buf_append(&s->body, p, size * n) != 0) {
        s->too_big = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    return size * n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct source *s = ud;
    return s->o.stop && atomic_load(s->o.stop) ? 1 : 0;
}

int source_create(struct source **out, const struct source_opts *o, struct sl_err *err)
{
    struct source *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, "out of memory");
    s->o = *o;
    s->page = 1;
    s->st = o->stats ? o->stats : &s->own;
    s->jitter = (uint64_t)mono_us() | 1;
    buf_init(&s->body, BODY_MAX);
    if (o->nat && *o->nat) {
        if (mockapi_nat_parse(o->nat, &s->nat_mask, err) != 0)
            goto fail;
        s->nat = strdup(o->nat);
    }
    if (o->seed && *o->seed) {
        if (strlen(o->seed) > MOCKAPI_SEED_MAX) {
            sl_err_set(err, "--seed is longer than %d characters", MOCKAPI_SEED_MAX);
            goto fail;
        }
        snprintf(s->seed, sizeof(s->seed), "%s", o->seed);
    }
    if (!o->url) {
        /* The generator always needs a seed; a random one per run still gives fresh users. */
        if (!s->seed[0])
            mockapi_random_seed(s->seed);
        snprintf(s->label, sizeof(s->label), "generator");
        *out = s;
        return 0;
    }
    s->url = strdup(o->url);
    if (strcmp(o->url, SOURCE_RANDOMUSER_URL) == 0)
        snprintf(s->label, sizeof(s->label), "randomuser.me");
    else
        snprintf(s->label, sizeof(s->label), "%.*s", (int)strcspn(o->url, "?"), o->url);
    s->curl = curl_easy_init();
    if (!s->url || !s->curl) {
        sl_err_set(err, "cannot initialise the HTTP client");
        goto fail;
    }
    CURL *c = s->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    /* A stalled read fails after 10 s even when the overall timeout is longer. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 10L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice/" SLUICE_VERSION);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    *out = s;
    return 0;
fail:
    source_destroy(s);
    return -1;
}

void source_destroy(struct source *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    buf_free(&s->body);
    free(s->url);
    free(s->nat);
    free(s);
}

void source_set_patience(struct source *s, int max_attempts, int64_t connect_timeout_ms)
{
    s->o.max_attempts = max_attempts;
    s->o.connect_timeout_ms = connect_timeout_ms;
    if (s->curl)
        curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
}

struct source_stats *source_stats(const struct source *s)
{
    return s->st;
}

const char *source_label(const struct source *s)
{
    return s->label;
}

uint64_t source_failures(const struct source_stats *st)
{
    return st->timeouts + st->connect_errors + st->http_429 + st->http_5xx + st->malformed +
           st->api_errors + st->other_errors;
}

/* Parses s->body; OK with *root set, or RETRY with the failure counted. */
static enum outcome parse_body(struct source *s, cJSON **root, const cJSON **results,
                               struct sl_err *err)
{
    enum fmt_body_status st;
    *root = fmt_parse_body((const char *)s->body.data, s->body.len, results, &st, err);
    if (*root)
        return OK;
    atomic_fetch_add(st == FMT_BODY_API_ERROR ? &s->st->api_errors : &s->st->malformed, 1);
    return RETRY;
}

static enum outcome fetch_generated(struct source *s, int n, int64_t page, cJSON **root,
                                    const cJSON **results, struct sl_err *err)
{
    struct mockapi_req req;
    mockapi_req_init(&req);
    req.results = n;
    req.page = page;
    req.nat_mask = s->nat_mask;
    memcpy(req.seed, s->seed, sizeof(req.seed));
    buf_reset(&s->body);
    if (mockapi_generate(&req, &s->body, err) != 0)
        return FATAL;
    atomic_fetch_add(&s->st->requests, 1);
    return parse_body(s, root, results, err);
}

static enum outcome fetch_http(struct source *s, int n, int64_t page, cJSON **root,
                               const cJSON **results, int64_t *retry_after_ms, struct sl_err *err)
{
    struct buf url;
    buf_init(&url, 8192);
    int rc = buf_printf(&url, "%s%cresults=%d&inc=" INC_FIELDS, s->url,
                        strchr(s->url, '?') ? '&' : '?', n);
    if (s->nat)
        rc |= buf_printf(&url, "&nat=%s", s->nat);
    if (s->seed[0]) {
        char *esc = curl_easy_escape(s->curl, s->seed, 0);
        rc |= esc ? buf_printf(&url, "&seed=%s&page=%lld", esc, (long long)page) : -1;
        curl_free(esc);
    }
    rc |= buf_append(&url, "", 1);
    if (rc != 0) {
        buf_free(&url);
        sl_err_set(err, "request URL is too long");
        return FATAL;
    }
    curl_easy_setopt(s->curl, CURLOPT_URL, (const char *)url.data);
    buf_free(&url);
    buf_reset(&s->body);
    s->too_big = false;
    s->curl_err[0] = '\0';
    atomic_fetch_add(&s->st->requests, 1);
    CURLcode cc = curl_easy_perform(s->curl);
    if (cc != CURLE_OK) {
        const char *why = s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc);
        switch (cc) {
        case CURLE_ABORTED_BY_CALLBACK:
            return STOPPED;
        case CURLE_WRITE_ERROR:
            if (s->too_big) {
                sl_err_set(err, "response from %s is larger than %u MiB", s->label, BODY_MAX >> 20);
                return FATAL;
            }
            break;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            sl_err_set(err, "bad source URL '%s': %s", s->url, why);
            return FATAL;
        case CURLE_OPERATION_TIMEDOUT:
            atomic_fetch_add(&s->st->timeouts, 1);
            sl_err_set(err, "timeout: %s", why);
            return RETRY;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_SSL_CONNECT_ERROR:
            atomic_fetch_add(&s->st->connect_errors, 1);
            sl_err_set(err, "cannot connect: %s", why);
            return RETRY;
        default:
            break;
        }
        atomic_fetch_add(&s->st->other_errors, 1);
        sl_err_set(err, "%s", why);
        return RETRY;
    }
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200)
        return parse_body(s, root, results, err);
    /* Keep the API's own explanation (its {"error": ...} body) in the message. */
    char detail[256] = "";
    if (s->body.len > 0)
        snprintf(detail, sizeof(detail), ": %.*s", (int)(s->body.len < 200 ? s->body.len : 200),
                 (const char *)s->body.data);
    if (status == 429 || status >= 500) {
        atomic_fetch_add(status == 429 ? &s->st->http_429 : &s->st->http_5xx, 1);
        curl_off_t ra = 0;
        if (curl_easy_getinfo(s->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            *retry_after_ms = (int64_t)ra * 1000;
        sl_err_set(err, "HTTP %ld%s", status, detail);
        return RETRY;
    }
    sl_err_set(err, "HTTP %ld from %s%s", status, s->label, detail);
    return FATAL;
}

/* Sleeps ms in slices, returning early (true) when asked to stop. */
static bool nap(const struct source *s, int64_t ms)
{
    while (ms > 0) {
        if (s->o.stop && atomic_load(s->o.stop))
            return true;
        int64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {step / 1000, (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return s->o.stop && atomic_load(s->o.stop);
}

int source_fetch(struct source *s, int n, cJSON **root, const cJSON **results, struct sl_err *err)
{
    /* One page per call: a retried request asks for the same page, so with a seed every page
     * is delivered once whatever failed on the way. */
    int64_t page = s->o.next_page ? atomic_fetch_add(s->o.next_page, 1) : s->page++;
    for (int attempt = 0;; attempt++) {
        if (s->o.stop && atomic_load(s->o.stop))
            return 1;
        int64_t retry_after = 0;
        enum outcome oc = s->url ? fetch_http(s, n, page, root, results, &retry_after, err)
                                 : fetch_generated(s, n, page, root, results, err);
        if (oc == OK) {
            atomic_fetch_add(&s->st->users, (uint_fast64_t)cJSON_GetArraySize(*results));
            return 0;
        }
        if (oc == FATAL)
            return -1;
        if (oc == STOPPED)
            return 1;
        if (s->o.max_attempts > 0 && attempt + 1 >= s->o.max_attempts)
            return 1;
        uint64_t failures = source_failures(s->st);
        if (failures <= 5 || failures % 100 == 0)
            log_warn(MOD, "fetch from %s failed (%llu so far), retrying: %s", s->label,
                     (unsigned long long)failures, err->msg);
        /* Capped exponential backoff with "equal jitter": half fixed, half random, so many
         * clients retrying together spread out but none retries immediately. */
        int shift = attempt < 20 ? attempt : 20;
        int64_t d = s->o.backoff_base_ms << shift;
        if (d > s->o.backoff_max_ms || d <= 0)
            d = s->o.backoff_max_ms;
        s->jitter ^= s->jitter << 13;
        s->jitter ^= s->jitter >> 7;
        s->jitter ^= s->jitter << 17;
        d = d / 2 + (int64_t)(s->jitter % (uint64_t)(d / 2 + 1));
        if (retry_after > d)
            d = retry_after < s->o.backoff_max_ms ? retry_after : s->o.backoff_max_ms;
        if (nap(s, d))
            return 1;
    }
}
