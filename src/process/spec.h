/* The job spec: what `sluice process` expects on its topic and where each field goes, kept as
 * data in one table (spec.c) rather than in code. spec_decode checks one message value against
 * it and yields a row for the store, or the reason the record goes to the dead-letter topic. */
#ifndef SLUICE_PROCESS_SPEC_H
#define SLUICE_PROCESS_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

enum spec_type {
    SPEC_UUID,          /* a string holding a canonical 8-4-4-4-12 UUID */
    SPEC_STRING,        /* a string */
    SPEC_STRING_OR_INT, /* a string, or an integral JSON number stored as its decimal text */
};

struct spec_field {
    const char *name; /* JSON member name (matched exactly, case-sensitive) */
    enum spec_type type;
    bool required; /* must be present and not null */
    const char *column;
    int max_len; /* longest accepted value in bytes */
};

struct job_spec {
    const char *name;
    const char *keyspace;
    const char *table;
    const struct spec_field *fields;
    int nfields;
    int key_field;             /* index of the primary key */
    size_t max_value_bytes;    /* larger values are dead-lettered unparsed */
    struct store_table layout; /* derived from fields; handed to the store */
    const size_t *name_lens;   /* strlen of each field's name, derived too */
};

/* The users_created -> spark_streams.created_users job (DESIGN.md contracts). */
const struct job_spec *spec_users(void);

/* Scratch space where decoded strings are copied; rows point into it until it is reset.
 * Memory is a list of fixed chunks, so earlier pointers stay valid as it grows; `max` bounds
 * the total. */
struct spec_arena {
    struct spec_chunk *head;
    size_t used; /* bytes handed out since the last reset */
    size_t max;
};

void spec_arena_init(struct spec_arena *a, size_t max);
void spec_arena_reset(struct spec_arena *a); /* keeps the first chunk */
void spec_arena_free(struct spec_arena *a);

/* Decodes value[0..len) against spec into row (strings copied into arena). Returns 0, or -1
 * with reason (cap bytes, e.g. "missing field 'email'") when the record is bad, or -2 when
 * the arena is full (the caller flushes its batch and tries again). */
int spec_decode(const struct job_spec *spec, const char *value, size_t len,
                struct spec_arena *arena, struct store_row *row, char *reason, size_t cap);

/* The same through cJSON alone. spec_decode parses the records producers send (an object whose
 * spec fields are strings, escapes included, or integers, and whose other members are any JSON
 * within limits) directly and gives cJSON the rest; this is the reference that tests and the
 * fuzz_record target compare it with. */
int spec_decode_cjson(const struct job_spec *spec, const char *value, size_t len,
                      struct spec_arena *arena, struct store_row *row, char *reason, size_t cap);

/* Installs spec_decode's allocator in cJSON (process-wide; malloc and free outside it). Done by
 * the first spec_decode; main calls it before any thread starts. */
void spec_json_init(void);

#endif
