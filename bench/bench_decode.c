/* bench_decode: the stream job's record decoder on users records shaped like usergen's
 * (post_code an integer in half of them; a fifth with \u escapes, as Python's json.dumps writes
 * non-ASCII names; a seventh with an unknown nested member), through spec_decode (its direct
 * path) and through cJSON alone (spec_decode_cjson, the path every record took before), in
 * alternating rounds; prints ns per record for each and the ratio.
 *   bench_decode [-n RECORDS_PER_ROUND] [-r ROUNDS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "process/spec.h"

#define NREC 1024

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int make_record(char *out, size_t cap, unsigned i)
{
    char post[32];
    if (i & 1)
        snprintf(post, sizeof(post), "%u", 10000 + i % 89999);
    else
        snprintf(post, sizeof(post), "\"%c%c%u %u\"", 'A' + i % 26, 'A' + (i / 26) % 26, i % 90,
                 i % 9);
    const char *first = i % 5 == 0 ? "Jos\\u00e9 Zo\\u00eb " : "Name";
    const char *extra = i % 7 == 0 ? ",\"nat\":\"XX\",\"extra\":{\"a\":[1,2]}" : "";
    return snprintf(out, cap,
                    "{\"id\":\"%08x-%04x-4%03x-a%03x-%012x\",\"first_name\":\"%s%u\","
                    "\"last_name\":\"Family%u\",\"gender\":\"%s\",\"address\":\"%u Main Street, "
                    "City%u, State%u, Country%u\",\"post_code\":%s,\"email\":"
                    "\"user%u.v%u@example.com\",\"username\":\"user%u_%x\",\"dob\":"
                    "\"1985-%02u-%02uT10:11:12.345Z\",\"registered_date\":"
                    "\"2015-%02u-%02uT10:00:00.000Z\",\"phone\":\"(0%02u) %03u-%04u\","
                    "\"picture\":\"https://randomuser.me/api/portraits/med/%s/%u.jpg\"%s}",
                    i * 2654435761u, i & 0xffff, i & 0xfff, (i >> 4) & 0xfff, i * 40503u, first, i,
                    i, i & 2 ? "female" : "male", i % 9999, i % 700, i % 50, i % 30, post, i, i, i,
                    i, 1 + i % 12, 1 + i % 28, 1 + i % 12, 1 + i % 28, i % 100, i % 1000, i % 10000,
                    i & 2 ? "women" : "men", i % 100, extra);
}

int main(int argc, char **argv)
{
    long n = 1000000, rounds = 3;
    int c;
    while ((c = getopt(argc, argv, "n:r:")) != -1) {
        if (c == 'n')
            n = atol(optarg);
        else if (c == 'r')
            rounds = atol(optarg);
        else {
            fprintf(stderr, "usage: bench_decode [-n RECORDS_PER_ROUND] [-r ROUNDS]\n");
            return 2;
        }
    }
    if (n < 1 || rounds < 1) {
        fprintf(stderr, "bench_decode: -n and -r must be positive\n");
        return 2;
    }
    static char recs[NREC][1024];
    static size_t lens[NREC];
    for (unsigned i = 0; i < NREC; i++)
        lens[i] = (size_t)make_record(recs[i], sizeof(recs[i]), i + 1);
    spec_json_init();
    const struct job_spec *spec = spec_users();
    struct spec_arena a;
    spec_arena_init(&a, 64u << 20);
    struct store_row row;
    char why[256];
    double best[2] = {1e9, 1e9};
    const char *names[2] = {"spec_decode (direct path)",
                            "spec_decode_cjson (cJSON for every record)"};
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            double t0 = now_s();
            for (long i = 0; i < n; i++) {
                if (i % NREC == 0)
                    spec_arena_reset(&a);
                int rc = k == 0 ? spec_decode(spec, recs[i % NREC], lens[i % NREC], &a, &row, why,
                                              sizeof(why))
                                : spec_decode_cjson(spec, recs[i % NREC], lens[i % NREC], &a, &row,
                                                    why, sizeof(why));
                if (rc != 0) {
                    fprintf(stderr, "bench_decode: record %ld refused: %s\n", i % NREC, why);
                    return 1;
                }
            }
            double ns = (now_s() - t0) * 1e9 / (double)n;
            printf("round %ld  %-46s %7.1f ns/record\n", r + 1, names[k], ns);
            if (ns < best[k])
                best[k] = ns;
        }
    }
    printf("best of %ld rounds of %ld records (%zu-byte records): %.1f vs %.1f ns/record: the "
           "direct path takes %.2fx cJSON's time\n",
           rounds, n, lens[0], best[0], best[1], best[0] / best[1]);
    spec_arena_free(&a);
    return 0;
}
