#!/usr/bin/env bash
# kafka-tool.sh NAME [ARGS...]: runs one of Apache Kafka's CLI tools with Java 17 and the jars
# cached by kafka-jars.sh (fetched on first use), -Xmx512m, log4j WARN to stderr.
#
#   NAME (a leading "kafka-" and a trailing ".sh" are ignored, so kafka-topics.sh works too):
#     topics               org.apache.kafka.tools.TopicCommand
#     console-producer     org.apache.kafka.tools.ConsoleProducer
#     console-consumer     org.apache.kafka.tools.consumer.ConsoleConsumer
#     consumer-groups      org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
#     producer-perf-test   org.apache.kafka.tools.ProducerPerformance
#     consumer-perf-test   org.apache.kafka.tools.ConsumerPerformance
#     get-offsets          org.apache.kafka.tools.GetOffsetShell
#     storage              kafka.tools.StorageTool
#     class:FQCN           any other main class on the classpath
#
#   KAFKA_TOOL_HEAP   heap (default 512m); KAFKA_TOOL_OPTS extra JVM options.
# Exit 77 (skip) when java is absent, or mvn is absent with no cached jars.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
name=${1#kafka-}
name=${name%.sh}
shift
case "$name" in
    topics) cls=org.apache.kafka.tools.TopicCommand ;;
    console-producer) cls=org.apache.kafka.tools.ConsoleProducer ;;
    console-consumer) cls=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    consumer-groups) cls=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    producer-perf-test) cls=org.apache.kafka.tools.ProducerPerformance ;;
    consumer-perf-test) cls=org.apache.kafka.tools.ConsumerPerformance ;;
    get-offsets | get-offsets-shell) cls=org.apache.kafka.tools.GetOffsetShell ;;
    storage) cls=kafka.tools.StorageTool ;;
    class:*) cls=${name#class:} ;;
    -h | --help | help) usage ;;
    *) echo "kafka-tool.sh: unknown tool '$name'" >&2; usage ;;
esac

libs=$("$HERE/kafka-jars.sh")   # exits 77 itself when java/mvn are missing

# shellcheck disable=SC2086
exec java -Xmx"${KAFKA_TOOL_HEAP:-512m}" -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="file:$HERE/log4j2-tools.properties" \
    ${KAFKA_TOOL_OPTS:-} -cp "$libs/*" "$cls" "$@"
