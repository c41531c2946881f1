/* logcheck: verifies a stopped sluice broker's partition logs from the outside, for the chaos
 * and crash tests: every batch in every segment parses, passes its CRC-32C, and offsets run
 * on without a gap or an overlap, within a segment and from one segment to the next.
 *   logcheck DATA_DIR [TOPIC]
 * Prints one line per partition and a summary "logcheck: P partitions, B batches, R records,
 * E errors, G gaps". Exit 0 when there are no errors and no gaps, 1 otherwise, 2 on usage. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/batch.h"

struct totals {
    long partitions, batches, errors, gaps;
    int64_t records;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lists the names in dir ending in suffix (all entries when suffix is NULL), sorted. */
static char **list_dir(const char *dir, const char *suffix, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    size_t cap = 16;
    char **v = malloc(cap * sizeof(*v));
    struct dirent *e;
    while (v && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t l = strlen(e->d_name), sl = suffix ? strlen(suffix) : 0;
        if (suffix && (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0))
            continue;
        if (*n == cap) {
            cap *= 2;
            char **nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (v)
        qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return NULL;
    }
    uint8_t *p = malloc((size_t)st.st_size + 1);
    *len = p ? fread(p, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    return p;
}

/* Checks one partition directory; *next carries the expected offset between segments. */
static void check_partition(const char *pdir, const char *label, struct totals *t)
{
    size_t nseg;
    char **segs = list_dir(pdir, ".log", &nseg);
    int64_t expect = -1, first = -1;
    long batches = 0, errors = 0, gaps = 0;
    int64_t records = 0;
    for (size_t s = 0; s < nseg; s++) {
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/%s", pdir, segs[s]) >= (int)sizeof(path))
            continue;
        int64_t base = strtoll(segs[s], NULL, 10);
        size_t len;
        uint8_t *data = read_file(path, &len);
        if (!data) {
            fprintf(stderr, "logcheck: %s: %s\n", path, strerror(errno));
            errors++;
            continue;
        }
        if (expect >= 0 && base != expect) {
            fprintf(stderr,
                    "logcheck: %s: segment starts at %" PRId64 ", previous ended at %" PRId64 "\n",
                    path, base, expect);
            if (base > expect)
                gaps++;
            else
                errors++;
        }
        if (first < 0)
            first = base;
        expect = base;
        size_t pos = 0;
        while (pos < len) {
            struct batch_header h;
            struct sl_err err;
            if (len - pos < BATCH_HEADER_SIZE ||
                batch_parse_header(data + pos, len - pos, &h, &err) != 0) {
                fprintf(stderr, "logcheck: %s at byte %zu: bad or torn batch header\n", path, pos);
                errors++;
                break;
            }
            size_t blen = (size_t)h.length + BATCH_LOG_OVERHEAD;
            if (blen > len - pos) {
                fprintf(stderr, "logcheck: %s at byte %zu: batch runs past the end\n", path, pos);
                errors++;
                break;
            }
            if (!batch_crc_ok(data + pos, blen, &h)) {
                fprintf(stderr, "logcheck: %s at byte %zu: CRC mismatch (offset %" PRId64 ")\n",
                        path, pos, h.base_offset);
                errors++;
            }
            if (h.base_offset != expect) {
                fprintf(stderr,
                        "logcheck: %s at byte %zu: base offset %" PRId64 ", expected %" PRId64 "\n",
                        path, pos, h.base_offset, expect);
                if (h.base_offset > expect)
                    gaps++;
                else
                    errors++;
            }
            expect = h.base_offset + h.last_offset_delta + 1;
            records += h.last_offset_delta + 1;
            batches++;
            pos += blen;
        }
        free(data);
    }
    printf("%s: segments %zu, offsets %" PRId64 "..%" PRId64 ", batches %ld, records %" PRId64
           ", errors %ld, gaps %ld\n",
           label, nseg, first < 0 ? 0 : first, expect < 0 ? 0 : expect, batches, records, errors,
           gaps);
    free_list(segs, nseg);
    t->partitions++;
    t->batches += batches;
    t->records += records;
    t->errors += errors;
    t->gaps += gaps;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: logcheck DATA_DIR [TOPIC]\n");
        return 2;
    }
    char tdir[4096];
    if (snprintf(tdir, sizeof(tdir), "%s/topics", argv[1]) >= (int)sizeof(tdir))
        return 2;
    size_t ntopics;
    char **topics = list_dir(tdir, NULL, &ntopics);
    if (!topics) {
        fprintf(stderr, "logcheck: %s: %s\n", tdir, strerror(errno));
        return 1;
    }
    struct totals t = {0};
    for (size_t i = 0; i < ntopics; i++) {
        if (argc == 3 && strcmp(topics[i], argv[2]) != 0)
            continue;
        char pd[4096];
        if (snprintf(pd, sizeof(pd), "%s/%s", tdir, topics[i]) >= (int)sizeof(pd))
            continue;
        size_t nparts;
        char **parts = list_dir(pd, NULL, &nparts);
        for (size_t p = 0; parts && p < nparts; p++) {
            char full[4096], label[512];
            if (snprintf(full, sizeof(full), "%s/%s", pd, parts[p]) >= (int)sizeof(full))
                continue;
            struct stat st;
            if (stat(full, &st) != 0 || !S_ISDIR(st.st_mode))
                continue;
            if (snprintf(label, sizeof(label), "%s/%s", topics[i], parts[p]) >= (int)sizeof(label))
                continue;
            check_partition(full, label, &t);
        }
        if (parts)
            free_list(parts, nparts);
    }
    free_list(topics, ntopics);
    printf("logcheck: %ld partitions, %ld batches, %" PRId64 " records, %ld errors, %ld gaps\n",
           t.partitions, t.batches, t.records, t.errors, t.gaps);
    return t.errors == 0 && t.gaps == 0 ? 0 : 1;
}
