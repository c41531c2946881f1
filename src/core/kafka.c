/* librdkafka helpers. */
#include "core/kafka.h"

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, struct sl_err *err)
{
    char msg[256];
    if (rd_kafka_conf_set(conf, key, value, msg, sizeof(msg)) != RD_KAFKA_CONF_OK)
        return sl_err_set(err, "Kafka setting %s=%s: %s", key, value, msg);
    return 0;
}
