/* Per-nationality data for the randomuser-compatible generator: names, places and the shapes
 * of postcodes, phone numbers and national ids, for the 21 nationalities randomuser.me 1.4
 * serves. Patterns: '#' a digit, 'N' a digit 1-9, 'A' an uppercase letter, else literal. */
#ifndef SLUICE_MOCKAPI_NATDATA_H
#define SLUICE_MOCKAPI_NATDATA_H

#include <stdbool.h>

#define MOCKAPI_NNAT 21

struct mockapi_city {
    const char *city;
    const char *state;
};

struct mockapi_nat {
    const char *code;
    const char *country;
    const char *const *male;
    int nmale;
    const char *const *female;
    int nfemale;
    const char *const *last;
    int nlast;
    const char *const *streets;
    int nstreets;
    const struct mockapi_city *cities;
    int ncities;
    const char *postcode; /* pattern */
    bool postcode_num;    /* randomuser sends a JSON number for this nationality */
    const char *phone;    /* pattern */
    const char *cell;     /* pattern */
    const char *id_name;  /* "" where randomuser has none */
    const char *id_value; /* pattern; NULL where randomuser sends null (IR, NZ, TR, UA) */
};

/* Indexed in alphabetical code order: AU BR CA CH DE DK ES FI FR GB IE IN IR MX NL NO NZ RS TR
 * UA US. */
extern const struct mockapi_nat mockapi_nats[MOCKAPI_NNAT];

struct mockapi_tz {
    const char *offset;
    const char *description;
};
extern const struct mockapi_tz mockapi_tzs[];
extern const int mockapi_ntzs;

extern const char *const mockapi_adjectives[];
extern const int mockapi_nadjectives;
extern const char *const mockapi_animals[];
extern const int mockapi_nanimals;
extern const char *const mockapi_passwords[];
extern const int mockapi_npasswords;

#endif
