/* The Cassandra sink (placeholder while the CQL client is written). */
#include <string.h>

#include "store/store.h"

static int cass_open(struct store **out, const char *location, const struct store_table *t,
                     const char *group, unsigned flags, struct sl_err *err)
{
    (void)out, (void)t, (void)group, (void)flags;
    const char *at = strrchr(location, '@');
    const char *hosts = at ? at + 1 : location + 2;
    const char *slash = strchr(hosts, '/');
    if (strncmp(location, "//", 2) != 0 || !slash || !slash[1])
        return sl_err_set(err, "cassandra: the URI needs a keyspace: "
                               "cassandra://[USER:PASS@]HOST[:PORT][,HOST...]/KEYSPACE");
    return sl_err_set(err, "cassandra: not yet");
}

const struct store_ops cassandra_store_ops = {
    .name = "cassandra",
    .open = cass_open,
};
