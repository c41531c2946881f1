/* What `sluice up` does once its parts are running: find the UI's login, and (with --trigger)
 * switch a DAG on and trigger it through the scheduler's REST API, as a user would. */
#ifndef SLUICE_UP_READY_H
#define SLUICE_UP_READY_H

#include <stddef.h>

#include "core/err.h"

/* The admin's password: SLUICE_SCHEDULER_ADMIN_PASSWORD, else the one the scheduler wrote to
 * DATA_DIR/scheduler/admin-password. Copies it into out; -1 when neither exists yet. */
int up_admin_password(const char *data_dir, char *out, size_t cap);

/* Logs in at http://addr, unpauses dag_id and triggers one run (conf {}). Retries for up to
 * wait_ms while the scheduler has not registered the DAG yet. 0 ok, -1 with err. */
int up_trigger_dag(const char *addr, const char *user, const char *password, const char *dag_id,
                   long wait_ms, struct sl_err *err);

#endif
