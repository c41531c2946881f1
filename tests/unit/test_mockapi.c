/* The randomuser-compatible generator: query parsing (clamps and rejections), determinism per
 * seed and page, the field shapes per nationality, inc/exc/noinfo, and that its output goes
 * through format_data cleanly for every nationality. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "check.h"
#include "core/jsonw.h"
#include "ingest/format.h"
#include "mockapi/gen.h"

static cJSON *generate(const struct mockapi_req *req, char **text)
{
    struct buf b;
    struct sl_err err;
    buf_init(&b, mockapi_response_max(req->results));
    CHECK(mockapi_generate(req, &b, &err) == 0);
    CHECK_EQ_INT(utf8_valid_prefix((const char *)b.data, b.len), b.len);
    cJSON *doc = cJSON_ParseWithLength((const char *)b.data, b.len);
    CHECK(doc != NULL);
    buf_append(&b, "", 1);
    if (text)
        *text = (char *)buf_detach(&b, NULL);
    buf_free(&b);
    return doc;
}

static void test_parse(void)
{
    struct mockapi_req req;
    struct sl_err err;
    struct mockapi_query q = {.results = "9000", .page = "3", .nat = "de, NO,ir", .seed = "abc"};
    CHECK(mockapi_req_parse(&q, &req, &err) == 0);
    CHECK_EQ_INT(req.results, MOCKAPI_MAX_RESULTS); /* clamped */
    CHECK_EQ_INT(req.page, 3);
    CHECK_EQ_STR(req.seed, "abc");
    CHECK_EQ_INT(__builtin_popcount(req.nat_mask), 3);
    q = (struct mockapi_query){.results = "0"};
    CHECK(mockapi_req_parse(&q, &req, &err) == 0 && req.results == 1);
    q = (struct mockapi_query){.results = "ten"};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1 && strstr(err.msg, "results"));
    q = (struct mockapi_query){.page = "0"};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1 && strstr(err.msg, "page"));
    q = (struct mockapi_query){.nat = "us,xx"};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1 && strstr(err.msg, "'xx'"));
    q = (struct mockapi_query){.nat = ","};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1);
    q = (struct mockapi_query){.inc = "name,bogus"};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1 && strstr(err.msg, "bogus"));
    q = (struct mockapi_query){.format = "csv"};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1 && strstr(err.msg, "json only"));
    q = (struct mockapi_query){.format = "json", .gender = "female", .exc = "login,id"};
    CHECK(mockapi_req_parse(&q, &req, &err) == 0);
    CHECK(req.gender == MG_FEMALE && !(req.fields & MF_LOGIN) && (req.fields & MF_NAME));
    q = (struct mockapi_query){.gender = "other"};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1);
    q = (struct mockapi_query){.seed = "has space"};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1);
    char longseed[100];
    memset(longseed, 'x', 99);
    longseed[99] = '\0';
    q = (struct mockapi_query){.seed = longseed};
    CHECK(mockapi_req_parse(&q, &req, &err) == -1);
}

static void test_determinism(void)
{
    struct mockapi_req a, b;
    mockapi_req_init(&a);
    a.results = 50;
    a.page = 2;
    strcpy(a.seed, "sluice");
    b = a;
    char *ta, *tb;
    cJSON_Delete(generate(&a, &ta));
    cJSON_Delete(generate(&b, &tb));
    CHECK(strcmp(ta, tb) == 0);
    /* A page's users do not depend on how many were asked for. */
    b.results = 10;
    cJSON *da = cJSON_Parse(ta), *db = generate(&b, NULL);
    cJSON *ua = cJSON_GetObjectItem(da, "results"), *ub = cJSON_GetObjectItem(db, "results");
    for (int i = 0; i < 10; i++) {
        char *x = cJSON_PrintUnformatted(cJSON_GetArrayItem(ua, i));
        char *y = cJSON_PrintUnformatted(cJSON_GetArrayItem(ub, i));
        CHECK(strcmp(x, y) == 0);
        free(x);
        free(y);
    }
    cJSON_Delete(da);
    cJSON_Delete(db);
    free(tb);
    /* Another page or seed gives other users. */
    b = a;
    b.page = 3;
    cJSON_Delete(generate(&b, &tb));
    CHECK(strcmp(ta, tb) != 0);
    free(tb);
    free(ta);
}

static void test_shapes(void)
{
    /* Every nationality alone: shapes match randomuser's, and format_data accepts all. */
    for (int i = 0; i < MOCKAPI_NNAT; i++) {
        const struct mockapi_nat *nat = &mockapi_nats[i];
        struct mockapi_req req;
        mockapi_req_init(&req);
        req.results = 40;
        req.nat_mask = 1u << i;
        snprintf(req.seed, sizeof(req.seed), "shape-%s", nat->code);
        cJSON *doc = generate(&req, NULL);
        if (!doc)
            continue;
        const cJSON *info = cJSON_GetObjectItem(doc, "info");
        CHECK_EQ_STR(cJSON_GetObjectItem(info, "version")->valuestring, "1.4");
        CHECK_EQ_INT(cJSON_GetObjectItem(info, "results")->valueint, 40);
        const cJSON *u;
        cJSON_ArrayForEach(u, cJSON_GetObjectItem(doc, "results"))
        {
            CHECK_EQ_STR(cJSON_GetObjectItem(u, "nat")->valuestring, nat->code);
            const cJSON *loc = cJSON_GetObjectItem(u, "location");
            const cJSON *pc = cJSON_GetObjectItem(loc, "postcode");
            CHECK(nat->postcode_num ? cJSON_IsNumber(pc) : cJSON_IsString(pc));
            CHECK(
                cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(loc, "street"), "number")));
            const cJSON *coords = cJSON_GetObjectItem(loc, "coordinates");
            CHECK(cJSON_IsString(cJSON_GetObjectItem(coords, "latitude")));
            const cJSON *idv = cJSON_GetObjectItem(cJSON_GetObjectItem(u, "id"), "value");
            CHECK(nat->id_value ? cJSON_IsString(idv) : cJSON_IsNull(idv));
            const cJSON *login = cJSON_GetObjectItem(u, "login");
            const char *uuid = cJSON_GetObjectItem(login, "uuid")->valuestring;
            CHECK(fmt_uuid_valid(uuid) && uuid[14] == '4');
            CHECK_EQ_INT(strlen(cJSON_GetObjectItem(login, "sha256")->valuestring), 64);
            const char *dob =
                cJSON_GetObjectItem(cJSON_GetObjectItem(u, "dob"), "date")->valuestring;
            CHECK(strlen(dob) == 24 && dob[10] == 'T' && dob[23] == 'Z');
            const char *med =
                cJSON_GetObjectItem(cJSON_GetObjectItem(u, "picture"), "medium")->valuestring;
            CHECK(strncmp(med, "https://randomuser.me/api/portraits/med/", 40) == 0);
            struct buf out;
            buf_init(&out, FMT_VALUE_MAX);
            char key[FMT_UUID_LEN + 1];
            struct sl_err err;
            CHECK(fmt_user(u, &out, key, NULL, &err) == 0);
            CHECK_EQ_STR(key, uuid); /* the id is the API's uuid: replays are idempotent */
            buf_free(&out);
        }
        cJSON_Delete(doc);
    }
}

static void test_inc_exc(void)
{
    struct mockapi_req req;
    struct sl_err err;
    struct mockapi_query q = {.results = "3", .inc = "name,nat", .seed = "x"};
    CHECK(mockapi_req_parse(&q, &req, &err) == 0);
    req.noinfo = true;
    cJSON *doc = generate(&req, NULL);
    CHECK(cJSON_GetObjectItem(doc, "info") == NULL);
    const cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "results"), 0);
    CHECK_EQ_INT(cJSON_GetArraySize(u), 2);
    CHECK(cJSON_GetObjectItem(u, "name") && cJSON_GetObjectItem(u, "nat"));
    /* format_data rejects a user without the fields it needs, with the field's name. */
    struct buf out;
    buf_init(&out, FMT_VALUE_MAX);
    char key[FMT_UUID_LEN + 1];
    CHECK(fmt_user(u, &out, key, NULL, &err) == -1 && strstr(err.msg, "gender"));
    buf_free(&out);
    cJSON_Delete(doc);
}

static void test_bounds(void)
{
    /* A buffer too small for the response fails cleanly instead of growing. */
    struct mockapi_req req;
    mockapi_req_init(&req);
    req.results = 100;
    strcpy(req.seed, "s");
    struct buf b;
    struct sl_err err;
    buf_init(&b, 10000);
    CHECK(mockapi_generate(&req, &b, &err) == -1);
    CHECK(b.len <= 10000);
    buf_free(&b);
    /* The largest response fits its advertised bound. */
    req.results = MOCKAPI_MAX_RESULTS;
    buf_init(&b, mockapi_response_max(req.results));
    CHECK(mockapi_generate(&req, &b, &err) == 0);
    buf_free(&b);
}

int main(void)
{
    test_parse();
    test_determinism();
    test_shapes();
    test_inc_exc();
    test_bounds();
    return check_summary();
}
