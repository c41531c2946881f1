/* Store selection by URI. The scheme picks the callbacks; the rest of the URI is the store's
 * own business. Cassandra plugs in here once its CQL client exists. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

int store_open(const char *uri, const struct store_table *t, const char *group, unsigned flags,
               struct store **out, struct sl_err *err)
{
    *out = NULL;
    if (t->ncols < 1 || t->ncols > STORE_MAX_COLS || t->key_col < 0 || t->key_col >= t->ncols)
        return sl_err_set(err, "store: bad table layout");
    if (strncmp(uri, "sqlite:", 7) == 0) {
        if (uri[7] == '\0')
            return sl_err_set(err, "--store sqlite:DIR needs a directory");
        return sqlite_store_ops.open(out, uri + 7, t, group, flags, err);
    }
    if (strncmp(uri, "cassandra://", 12) == 0)
        return sl_err_set(err,
                          "--store %s: the Cassandra sink is not supported yet (it is a "
                          "later issue: sluice's own CQL client); use sqlite:DIR",
                          uri);
    return sl_err_set(err, "--store '%s': expected sqlite:DIR or cassandra://HOST[:PORT]", uri);
}

void store_close(struct store *st)
{
    if (st)
        st->ops->close(st);
}

int store_default_uri(const char *data_dir, char *out, size_t cap)
{
    int n = snprintf(out, cap, "sqlite:%s/store", data_dir);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}
