/* Small helpers around librdkafka shared by every Kafka client in sluice. */
#ifndef SLUICE_CORE_KAFKA_H
#define SLUICE_CORE_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "core/err.h"

/* Sets one librdkafka property; -1 with a message naming the property when it is refused. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, struct sl_err *err);

#endif
