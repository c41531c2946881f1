/* The topic registry's name index: topics created, deleted and re-opened are found by name
 * (and deleted ones are not), whatever the order of creations and deletions. */
#include <stdio.h>
#include <stdlib.h>

#include "broker/broker_config.h"
#include "broker/registry.h"
#include "check.h"
#include "core/fsutil.h"
#include "core/log.h"

static int found(struct registry *reg, int n, int gone_mod)
{
    int ok = 0;
    char name[64];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "topic-%d", i);
        struct topic *t = registry_find(reg, name);
        bool gone = gone_mod && i % gone_mod == 0;
        ok += gone ? t == NULL : t != NULL && strcmp(t->name, name) == 0;
    }
    return ok;
}

int main(void)
{
    log_set_level(LOG_LVL_ERROR);
    char dir[] = "/tmp/sluice-test-registry-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct broker_config bc = {0};
    bc.log.segment_bytes = 1 << 20;
    bc.log.retention_ms = -1;
    bc.log.retention_bytes = -1;
    bc.log.index_interval_bytes = 4096;
    bc.max_message_bytes = 1 << 20;
    struct topic_config tc;
    topic_config_defaults(&tc, &bc);
    struct registry reg = {0};
    struct sl_err err;
    CHECK(registry_open(&reg, dir, &err) == 0);
    char name[64];
    const int n = 150;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "topic-%d", i);
        CHECK_EQ_INT(registry_create(&reg, name, 1, &tc, NULL, &err), 0);
    }
    CHECK(registry_find(&reg, "missing") == NULL);
    CHECK_EQ_INT(found(&reg, n, 0), n);
    for (int i = 0; i < n; i += 3) {
        snprintf(name, sizeof(name), "topic-%d", i);
        CHECK_EQ_INT(registry_delete(&reg, name, &err), 0);
    }
    CHECK_EQ_INT(found(&reg, n, 3), n);
    CHECK_EQ_INT(registry_create(&reg, "topic-1", 1, &tc, NULL, &err), 36); /* exists */
    registry_close(&reg);
    struct registry again = {0};
    CHECK(registry_open(&again, dir, &err) == 0);
    CHECK_EQ_INT(again.ntopics, n - n / 3);
    CHECK_EQ_INT(found(&again, n, 3), n);
    registry_close(&again);
    fs_remove_tree(dir, NULL);
    return check_summary();
}
