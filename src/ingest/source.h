/* Where ingest gets users: a randomuser-compatible HTTP API (libcurl, batches of up to 5000,
 * timeouts, retries with capped exponential backoff and jitter) or the built-in generator
 * (the mock API's code, in-process). Either way the result is a parsed response body, so both
 * paths go through the same format_data. Not thread-safe: one fetching thread owns a source. */
#ifndef SLUICE_INGEST_SOURCE_H
#define SLUICE_INGEST_SOURCE_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

#define SOURCE_RANDOMUSER_URL "https://randomuser.me/api/"

struct source_opts {
    const char *url;            /* NULL: the built-in generator */
    const char *nat;            /* comma list or NULL */
    const char *seed;           /* NULL/empty: random users every request */
    int64_t connect_timeout_ms; /* TCP+TLS connect */
    int64_t timeout_ms;         /* whole request */
    int64_t backoff_base_ms;    /* first retry delay (before jitter) */
    int64_t backoff_max_ms;     /* cap */
    int max_attempts;           /* per batch; 0 = until stopped */
    const atomic_bool *stop;    /* set by another thread to abort transfers and backoffs */
    /* Optional, shared by several sources (one per fetch thread): */
    struct source_stats *stats;     /* counters to add to (NULL: the source's own) */
    atomic_int_fast64_t *next_page; /* page numbers to take (NULL: the source's own, from 1) */
};

/* Counters per kind; atomics, so fetch threads can share them and others read them. */
struct source_stats {
    atomic_uint_fast64_t requests, users;
    atomic_uint_fast64_t timeouts, connect_errors, http_429, http_5xx, malformed, api_errors,
        other_errors;
};

struct source;

/* Creates a source; copies what it needs from o. Caller destroys. */
int source_create(struct source **out, const struct source_opts *o, struct sl_err *err);
void source_destroy(struct source *s);

/* Fetches the next page of n users (1..5000); retries ask for the same page again. Returns 0 with
 * *root (caller cJSON_Deletes) and *results (its "results" array); 1 when stopped (or max_attempts
 * used up, with err set to the last failure); -1 on a failure that retrying cannot fix (e.g. HTTP
 * 404), with err. */
int source_fetch(struct source *s, int n, cJSON **root, const cJSON **results, struct sl_err *err);

/* Changes the per-batch attempt limit and the connect timeout (used after auto's quick first
 * try succeeds, to go back to the normal, patient settings). */
void source_set_patience(struct source *s, int max_attempts, int64_t connect_timeout_ms);

struct source_stats *source_stats(const struct source *s);
/* Sum of the failure counters. */
uint64_t source_failures(const struct source_stats *st);
/* "generator", "randomuser.me", or the URL: the value of each record's source header. */
const char *source_label(const struct source *s);

#endif
